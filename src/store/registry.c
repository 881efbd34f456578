/* One HTTP exchange with an OCI registry over libcurl, with the credential retry of
 * store-and-registry.md §9: send as is (or with the last token), and on 401 fetch a bearer
 * token or use Basic credentials, then retry once. Pull and push build on reg_do(). */
#include "store/registry.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define BODY_KEEP (64u << 10)

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

void reg_global_init(void) { pthread_once(&global_once, global_init); }

const char *reg_user_agent(void) {
#if defined(__x86_64__)
    return "ollama/0.12.0 (amd64 linux) Go/go1.24.0";
#else
    return "ollama/0.12.0 (arm64 linux) Go/go1.24.0";
#endif
}

uint64_t reg_part_size(uint64_t total) {
    const uint64_t lo = 100ull * 1000 * 1000, hi = 1000ull * 1000 * 1000;
    uint64_t p = total / 16;
    return p < lo ? lo : p > hi ? hi : p;
}

void reg_client_init(struct reg_client *c, const struct store_name *name, const char *username,
                     const char *password, atomic_bool *cancel) {
    memset(c, 0, sizeof(*c));
    c->name = *name;
    snprintf(c->base, sizeof(c->base), "%s://%s", name->scheme, name->host);
    snprintf(c->repo, sizeof(c->repo), "%s/%s", name->ns, name->model);
    snprintf(c->username, sizeof(c->username), "%s", username ? username : "");
    snprintf(c->password, sizeof(c->password), "%s", password ? password : "");
    c->cancel = cancel;
}

void reg_resp_free(struct reg_resp *r) { ol_buf_free(&r->body); }

int reg_url_resolve(const char *base, const char *ref, char *out, size_t cap) {
    CURLU *u = curl_url();
    if (!u) return OL_ENOMEM;
    int rc = OL_EINVAL;
    char *s = NULL;
    if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
        rc = snprintf(out, cap, "%s", s) < (int)cap ? 0 : OL_EINVAL;
    }
    curl_free(s);
    curl_url_cleanup(u);
    return rc;
}

/* ---- one attempt ---- */

struct xfer {
    struct reg_resp *r;
    const struct reg_body *body;
    uint64_t sent;
    atomic_bool *cancel;
    struct reg_client *c;
    char upload_location[4096]; /* Docker-Upload-Location, preferred over Location (§7) */
};

/* Copies the value of header line p[0..len) into dst when its name is `name` (lower case,
 * with the colon). */
static bool header_take(const char *p, size_t len, const char *name, char *dst, size_t cap) {
    size_t k = strlen(name);
    if (len <= k || strncasecmp(p, name, k) != 0) return false;
    const char *v = p + k;
    size_t vl = len - k;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    snprintf(dst, cap, "%.*s", (int)vl, v);
    return true;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    struct xfer *x = ud;
    size_t len = size * n;
    char num[32];
    if (len > 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (redirect, 100) */
        x->r->location[0] = x->r->www_auth[0] = x->upload_location[0] = 0;
        x->r->content_length = -1;
    }
    if (header_take(p, len, "location:", x->r->location, sizeof(x->r->location)) ||
        header_take(p, len, "docker-upload-location:", x->upload_location,
                    sizeof(x->upload_location)) ||
        header_take(p, len, "www-authenticate:", x->r->www_auth, sizeof(x->r->www_auth)))
        return len;
    if (header_take(p, len, "content-length:", num, sizeof(num)))
        x->r->content_length = strtoll(num, NULL, 10);
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    struct xfer *x = ud;
    size_t len = size * n;
    if (!x->r->body_all && x->r->body.len + len > BODY_KEEP) return len; /* drop the rest */
    if (ol_buf_append(&x->r->body, p, len) < 0) return 0;
    return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *ud) {
    struct xfer *x = ud;
    const struct reg_body *b = x->body;
    size_t want = size * n;
    uint64_t left = b->len - x->sent;
    if (want > left) want = (size_t)left;
    if (!want) return 0;
    if (b->data) {
        memcpy(p, (const char *)b->data + x->sent, want);
    } else {
        ssize_t k = pread(b->fd, p, want, (off_t)(b->off + x->sent));
        if (k <= 0) return CURL_READFUNC_ABORT;
        want = (size_t)k;
    }
    x->sent += want;
    if (b->progress) atomic_fetch_add(b->progress, (int64_t)want);
    return want;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt, (void)dn, (void)ut, (void)un;
    struct xfer *x = ud;
    if (x->c->tick && !x->c->tick(x->c->tick_user)) return 1;
    return x->cancel && atomic_load(x->cancel) ? 1 : 0;
}

static int attempt(struct reg_client *c, const char *method, const char *url,
                   const char *const *headers, const struct reg_body *body, bool follow,
                   struct reg_resp *r, struct ol_err *err) {
    reg_global_init();
    CURL *h = curl_easy_init();
    if (!h) return ol_err_set(err, OL_ENOMEM, "out of memory");
    struct curl_slist *hl = NULL;
    char auth[8300];
    int rc = 0;
    bool has_body = body != NULL;
    struct xfer x = {.r = r, .body = body, .cancel = c->cancel, .c = c};

    ol_buf_free(&r->body);
    r->status = 0;
    r->location[0] = r->www_auth[0] = 0;
    r->content_length = -1;
    for (int i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    if (c->auth[0]) {
        snprintf(auth, sizeof(auth), "Authorization: %s", c->auth);
        hl = curl_slist_append(hl, auth);
    }
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_USERAGENT, reg_user_agent());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
    if (follow) {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    }
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (has_body) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &x);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body->len);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
        }
    }
    CURLcode cc = curl_easy_perform(h);
    if (cc == CURLE_ABORTED_BY_CALLBACK) {
        rc = ol_err_set(err, OL_ECANCELED, "canceled");
    } else if (cc != CURLE_OK) {
        rc = ol_err_set(err, OL_EIO, "%s %s: %s", method, url, curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
        if (x.upload_location[0]) memcpy(r->location, x.upload_location, sizeof(r->location));
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return rc;
}

int reg_do(struct reg_client *c, const char *method, const char *url, const char *const *headers,
           const struct reg_body *body, bool follow, struct reg_resp *r, struct ol_err *err) {
    char full[4600];
    if (strstr(url, "://") == NULL) {
        snprintf(full, sizeof(full), "%s%s", c->base, url);
        url = full;
    }
    int rc = attempt(c, method, url, headers, body, follow, r, err);
    if (rc < 0 || r->status != 401 || c->no_auth_retry) return rc;
    if (strncasecmp(r->www_auth, "basic", 5) == 0) {
        if (!c->username[0] || c->auth[0])
            return ol_err_set(err, OL_EINVAL, "unauthorized: access denied");
        char up[600], b64[900];
        snprintf(up, sizeof(up), "%s:%s", c->username, c->password);
        reg_base64(up, strlen(up), false, b64, sizeof(b64));
        snprintf(c->auth, sizeof(c->auth), "Basic %s", b64);
    } else if (strncasecmp(r->www_auth, "bearer", 6) == 0) {
        char www[sizeof(r->www_auth)];
        memcpy(www, r->www_auth, sizeof(www));
        rc = reg_token_fetch(c, www, err);
        if (rc < 0) return rc;
    } else {
        return ol_err_set(err, OL_EINVAL, "unauthorized: access denied");
    }
    rc = attempt(c, method, url, headers, body, follow, r, err);
    if (rc < 0) return rc;
    if (r->status == 401) {
        c->auth[0] = 0;
        return ol_err_set(err, OL_EINVAL, "unauthorized: access denied");
    }
    return 0;
}
