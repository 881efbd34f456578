/* store internals shared by the store's .c files; never included outside src/store/ (tests may,
 * for white-box checks). */
#ifndef OL_STORE_INTERNAL_H
#define OL_STORE_INTERNAL_H

#include "store/store.h"

#include <pthread.h>

struct reg_download;
struct json_t; /* jansson's value type; only the .c files include jansson.h */

struct store {
    char *root;      /* absolute */
    char *manifests; /* <root>/manifests */
    char *blobs;     /* <root>/blobs */
    /* Serialises writers: manifest writes, deletes and blob pruning. Readers never take it. */
    pthread_mutex_t lock;
    struct reg_download *downloads; /* blob downloads in progress (pull.c); guarded by lock */
};

/* ---- JSON written the way Go's encoding/json writes it (byte-exact manifests and layers) ---- */

/* A JSON string literal of s[0..len) with Go's escaping (<, >, & and U+2028/9 as \u escapes,
 * invalid UTF-8 as \ufffd). */
int store_json_put_str(struct ol_buf *b, const char *s, size_t len);
/* A float64 as Go's encoder writes it (shortest round-trip, 'e' form below 1e-6 or from 1e21). */
int store_json_put_float(struct ol_buf *b, double f);
/* Any jansson value; objects with keys sorted (Go map order). Integers are written as float64
 * (Go decodes JSON numbers of map[string]any into float64). */
int store_json_put_value(struct ol_buf *b, const struct json_t *v);
/* A float64 as Go's fmt %v writes it (shortest; %e form for exponents < -4 or >= 6: 1e+06). */
int store_go_put_float_v(struct ol_buf *b, double f);
/* A string as Go's %#v / strconv.Quote writes it. */
int store_go_put_quoted(struct ol_buf *b, const char *s, size_t len);

/* ---- files ---- */

/* mkdir -p with mode 0755. */
int store_mkdirs(const char *path, struct ol_err *err);
/* OLLAMA_NOPRUNE as an env.md bool. */
bool store_env_noprune(void);
/* 64 lower-case hex digits of a valid digest into hex (NUL-terminated). */
void store_digest_hex(const char *digest, char hex[65]);

/* ---- manifests ---- */

struct store_manifest {
    struct store_layer config;
    struct store_layer *layers; /* [n_layers] */
    int n_layers;
    char *bytes; /* the file as read (NUL-terminated) */
    size_t len;
    char digest[65]; /* sha256 hex of bytes */
    int64_t mtime_ns;
};
/* Parses and checks (every digest valid) a manifest. OL_EFORMAT when malformed. */
int store_manifest_parse(const char *data, size_t len, struct store_manifest *m,
                         struct ol_err *err);
/* Reads the manifest of n (parts used as given: resolve first). OL_ENOTFOUND if absent. */
int store_manifest_read(const struct store *s, const struct store_name *n, struct store_manifest *m,
                        struct ol_err *err);
void store_manifest_clear(struct store_manifest *m);
/* Go-encoded manifest JSON + "\n". */
int store_manifest_encode(const struct store_layer *config, const struct store_layer *layers,
                          int n_layers, struct ol_buf *out);
/* <root>/manifests/<host>/<ns>/<model>/<tag>; like snprintf. */
int store_manifest_path(const struct store *s, const struct store_name *n, char *buf, size_t cap);
/* mkdir -p + atomic write of a manifest. Caller holds s->lock. */
int store_manifest_write(struct store *s, const struct store_name *n, const void *data, size_t len,
                         struct ol_err *err);
void store_layer_clear(struct store_layer *l);
/* Deep copy (from/name duplicated). */
int store_layer_copy(struct store_layer *dst, const struct store_layer *src);

/* Deletes the blobs among digests[0..n) that no manifest references (unless OLLAMA_NOPRUNE or a
 * manifest is unreadable). Caller holds s->lock. Returns the number deleted. */
int store_blobs_remove_unused(struct store *s, const char *const *digests, int n);
/* Reads a text layer blob (NUL-terminated, free()). */
int store_blob_read(const struct store *s, const char *digest, char **out, size_t *len,
                    struct ol_err *err);
/* Sets the blob's mtime to now (create reuses a blob: spec §2). */
void store_blob_touch(const struct store *s, const char *digest);

#endif
