/* Internals of the registry client (pull.c, push.c, registry.c, auth.c): one HTTP exchange
 * with a registry, with the 401 -> token / Basic retry of store-and-registry.md §9. Never
 * included outside src/store/ (tests may, for white-box checks). */
#ifndef OL_STORE_REGISTRY_H
#define OL_STORE_REGISTRY_H

#include <stdatomic.h>

#include "store/internal.h"

/* One registry repository and the credentials used with it. Used by one thread at a time. */
struct reg_client {
    struct store_name name;
    char base[400];     /* scheme://host */
    char repo[170];     /* ns/model */
    char username[256]; /* Basic auth (private registries); "" = none */
    char password[256];
    char auth[8192];          /* Authorization header value of the last success, "" = none */
    atomic_bool *cancel;      /* NULL or a flag that aborts transfers (borrowed) */
    bool (*tick)(void *user); /* NULL, or called during transfers; false aborts them */
    void *tick_user;
    bool no_auth_retry; /* a 401 is returned as a status (token requests) */
};

struct reg_resp {
    long status;
    struct ol_buf body;     /* at most 64 KiB kept unless body_all */
    char location[4096];    /* Location (Docker-Upload-Location wins), "" when absent */
    char www_auth[2048];    /* WWW-Authenticate */
    int64_t content_length; /* -1 when absent */
    bool body_all;          /* keep the whole body (manifests) */
};

/* Body of a request: memory (data/len) or a file region (fd/off/len); NULL data and fd < 0
 * means none. */
struct reg_body {
    const void *data;
    int fd;
    uint64_t off, len;
    _Atomic int64_t *progress; /* when not NULL, bytes sent are added here */
};

/* Parses a pull/push name and decides its scheme (insecure: http; an http:// name without
 * insecure: OL_EINVAL `insecure protocol http`; bad name: `invalid model name`). */
int reg_name_parse(const char *name, const struct store_xfer_params *p, struct store_name *n,
                   struct ol_err *err);
/* Fills c for `name` (scheme already decided by the caller: insecure forces http). */
void reg_client_init(struct reg_client *c, const struct store_name *name, const char *username,
                     const char *password, atomic_bool *cancel);
/* One request to url (absolute, or a path below c->base). headers: NULL-terminated extra
 * headers ("K: v"). On 401 it gets credentials per §9 and retries once; a second 401 gives
 * OL_EINVAL `unauthorized: access denied`. follow: follow redirects. Other HTTP statuses are
 * returned in r->status (the caller words them). Transport errors: OL_EIO with curl's text;
 * cancel: OL_ECANCELED. r is owned by the caller (reg_resp_free). */
int reg_do(struct reg_client *c, const char *method, const char *url, const char *const *headers,
           const struct reg_body *body, bool follow, struct reg_resp *r, struct ol_err *err);
void reg_resp_free(struct reg_resp *r);
/* Resolves a Location value against the URL it came from into out (absolute). */
int reg_url_resolve(const char *base, const char *ref, char *out, size_t cap);
/* "ollama/<ver> (<arch> <os>) Go/<gover>"-style User-Agent. */
const char *reg_user_agent(void);
/* curl_global_init once per process. */
void reg_global_init(void);

/* ---- auth.c ---- */

/* Base64 of p[0..len) (url: the unpadded URL alphabet) into out; returns the length or
 * OL_EINVAL when cap is too small. */
int reg_base64(const void *p, size_t len, bool url, char *out, size_t cap);

/* Parses `Bearer realm="..",service="..",scope=".."` (or Basic) into its parts; *scheme gets
 * "bearer" or "basic". Missing values are "". Returns false when the header is not usable. */
bool reg_auth_parse(const char *hdr, char *scheme, size_t scheme_cap, char *realm, size_t realm_cap,
                    char *service, size_t service_cap, char *scope, size_t scope_cap);
/* The token URL of §9 step 2: realm?nonce=..&scope=..&service=..&ts=.. (keys sorted; each
 * space-separated scope its own parameter). nonce NULL = random. */
int reg_token_url(const char *realm, const char *service, const char *scope, int64_t ts,
                  const char *nonce, char *out, size_t cap);
/* Signs `GET,<url>,<base64(hex(sha256("")))>` with the ed25519 key at key_path (OpenSSH
 * format; created with its .pub when missing and create is true) and writes the Authorization
 * value `<pub blob base64>:<sig base64>`. Errors: OL_EIO (key unreadable), OL_EFORMAT. */
int reg_sign_request(const char *key_path, bool create, const char *method, const char *url,
                     char *out, size_t cap, struct ol_err *err);
/* Fetches a bearer token for the challenge in www_auth into c->auth ("Bearer <tok>"). */
int reg_token_fetch(struct reg_client *c, const char *www_auth, struct ol_err *err);

/* ---- part layout shared by pull and push (§6 step 2a) ---- */

/* Part size: total/16 clamped to [100 MB, 1000 MB] (decimal). */
uint64_t reg_part_size(uint64_t total);

#endif
