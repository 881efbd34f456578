/* Push (store-and-registry.md §7): for each blob of the local manifest, HEAD it on the
 * registry; when missing, start an upload (a cross-repository mount when the layer came from
 * another model of the same registry), send it in PATCH parts, finish with PUT ?digest=;
 * then PUT the manifest. Parts go one after the other because each PATCH answers with the URL
 * of the next. */
#include "store/registry.h"

#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct push_blob {
    const struct store_xfer_params *p;
    const struct store_layer *l;
    char status[32];
    _Atomic int64_t sent;
    int64_t last_report_ns;
    bool gone;
};

static bool push_report(struct push_blob *b, int64_t completed) {
    if (!b->p->progress) return true;
    if (!b->p->progress(b->p->user, b->status, b->l->digest, (int64_t)b->l->size, completed))
        b->gone = true;
    return !b->gone;
}

/* Called by curl while a part uploads: reports about every 60 ms. */
static bool push_tick(void *ud) {
    struct push_blob *b = ud;
    int64_t now = ol_time_ns();
    if (now - b->last_report_ns < 60LL * 1000000) return !b->gone;
    b->last_report_ns = now;
    return push_report(b, atomic_load(&b->sent));
}

/* Hex MD5 of fd[off, off+len). */
static int part_md5(int fd, uint64_t off, uint64_t len, unsigned char out[16]) {
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char *buf = malloc(1 << 20);
    int rc = md && buf && EVP_DigestInit_ex(md, EVP_md5(), NULL) == 1 ? 0 : OL_ENOMEM;
    while (!rc && len) {
        ssize_t k = pread(fd, buf, (size_t)OL_MIN(len, (uint64_t)(1 << 20)), (off_t)off);
        if (k <= 0) {
            rc = OL_EIO;
            break;
        }
        EVP_DigestUpdate(md, buf, (size_t)k);
        off += (uint64_t)k;
        len -= (uint64_t)k;
    }
    unsigned int n = 16;
    if (!rc) EVP_DigestFinal_ex(md, out, &n);
    free(buf);
    EVP_MD_CTX_free(md);
    return rc;
}

static int http_fail(const struct reg_resp *r, struct ol_err *err) {
    return ol_err_set(err, OL_EIO, "http status %ld: %.200s", r->status,
                      r->body.data ? r->body.data : "");
}

static int blob_push(struct store *s, struct reg_client *c, const struct store_layer *l,
                     const struct store_xfer_params *p, struct ol_err *err) {
    struct push_blob b = {.p = p, .l = l};
    snprintf(b.status, sizeof(b.status), "pushing %.12s", l->digest + 7);
    char path[PATH_MAX], url[4096], loc[4096];
    struct reg_resp r = {0};
    snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", c->base, c->repo, l->digest);
    int rc = reg_do(c, "HEAD", url, NULL, NULL, true, &r, err);
    if (rc == 0 && r.status == 200) {
        reg_resp_free(&r);
        return push_report(&b, (int64_t)l->size) ? 0 : ol_err_set(err, OL_ECANCELED, "canceled");
    }
    if (rc < 0) goto out;
    if (!push_report(&b, -1)) goto canceled;
    /* start an upload, mounting from the source repository when there is one */
    snprintf(url, sizeof(url), "%s/v2/%s/blobs/uploads/", c->base, c->repo);
    struct store_name from;
    if (l->from && store_name_parse(l->from, &from) == 0 &&
        strcasecmp(from.host, c->name.host) == 0 &&
        (strcasecmp(from.ns, c->name.ns) != 0 || strcasecmp(from.model, c->name.model) != 0)) {
        size_t n = strlen(url);
        snprintf(url + n, sizeof(url) - n, "?mount=%s&from=%s/%s", l->digest, from.ns, from.model);
    }
    rc = reg_do(c, "POST", url, NULL, NULL, true, &r, err);
    if (rc < 0) goto out;
    if (r.status == 201) { /* mounted */
        reg_resp_free(&r);
        return push_report(&b, (int64_t)l->size) ? 0 : ol_err_set(err, OL_ECANCELED, "canceled");
    }
    if (r.status != 202 || !r.location[0] || reg_url_resolve(url, r.location, loc, sizeof(loc))) {
        rc = http_fail(&r, err);
        goto out;
    }
    if (store_blob_path(s, l->digest, path, sizeof(path)) < 0) {
        rc = ol_err_set(err, OL_EINVAL, "invalid digest format");
        goto out;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = ol_err_sys(err, OL_EIO, "open %s", path);
        goto out;
    }
    uint64_t ps = reg_part_size(l->size);
    int n_parts = 0;
    EVP_MD_CTX *etag = EVP_MD_CTX_new();
    if (!etag || EVP_DigestInit_ex(etag, EVP_md5(), NULL) != 1) rc = OL_ENOMEM;
    c->tick = push_tick;
    c->tick_user = &b;
    for (uint64_t off = 0; rc == 0 && off < l->size; off += ps, n_parts++) {
        uint64_t len = OL_MIN(ps, l->size - off);
        unsigned char md5[16];
        if (part_md5(fd, off, len, md5) < 0) {
            rc = ol_err_sys(err, OL_EIO, "read %s", path);
            break;
        }
        EVP_DigestUpdate(etag, md5, sizeof(md5));
        char range[80], clen[64];
        snprintf(range, sizeof(range), "Content-Range: %llu-%llu", (unsigned long long)off,
                 (unsigned long long)(off + len - 1));
        snprintf(clen, sizeof(clen), "Content-Length: %llu", (unsigned long long)len);
        const char *hdrs[] = {"Content-Type: application/octet-stream", range, clen,
                              "X-Redirect-Uploads: 1", NULL};
        int64_t before = atomic_load(&b.sent);
        for (int attempt = 0;; attempt++) {
            atomic_store(&b.sent, before);
            struct reg_body body = {.fd = fd, .off = off, .len = len, .progress = &b.sent};
            rc = reg_do(c, "PATCH", loc, hdrs, &body, false, &r, err);
            if (rc == 0 && r.status == 307 && r.location[0]) { /* presigned storage URL */
                char target[4096];
                reg_url_resolve(loc, r.location, target, sizeof(target));
                struct reg_client plain = *c;
                plain.auth[0] = 0;
                atomic_store(&b.sent, before);
                rc = reg_do(&plain, "PUT", target, hdrs, &body, false, &r, err);
                if (rc == 0 && r.status < 400) break;
            } else if (rc == 0 && r.status < 400) {
                if (r.location[0]) {
                    char next[4096];
                    if (reg_url_resolve(loc, r.location, next, sizeof(next)) == 0)
                        memcpy(loc, next, sizeof(loc));
                }
                break;
            }
            if (rc == OL_ECANCELED || (rc == 0 && r.status < 500) || attempt >= 5) {
                if (rc == 0) rc = http_fail(&r, err);
                break;
            }
            ol_log(OL_LOG_INFO, "push: %s part at %llu: retry %d", l->digest,
                   (unsigned long long)off, attempt + 1);
            rc = 0;
            struct timespec ts = {1 << attempt, 0};
            nanosleep(&ts, NULL);
        }
    }
    c->tick = NULL;
    close(fd);
    if (rc == 0) {
        unsigned char e[16];
        unsigned int en = 16;
        char ehex[33];
        EVP_DigestFinal_ex(etag, e, &en);
        for (int i = 0; i < 16; i++)
            snprintf(ehex + 2 * i, 3, "%02x", e[i]);
        size_t n = strlen(loc);
        snprintf(loc + n, sizeof(loc) - n, "%cdigest=%s&etag=%s-%d", strchr(loc, '?') ? '&' : '?',
                 l->digest, ehex, n_parts);
        const char *hdrs[] = {"Content-Type: application/octet-stream", NULL};
        rc = reg_do(c, "PUT", loc, hdrs, NULL, false, &r, err);
        if (rc == 0 && r.status >= 400) rc = http_fail(&r, err);
    }
    EVP_MD_CTX_free(etag);
    if (rc == 0 && !push_report(&b, (int64_t)l->size)) goto canceled;
out:
    reg_resp_free(&r);
    return rc;
canceled:
    reg_resp_free(&r);
    return ol_err_set(err, OL_ECANCELED, "canceled");
}

int store_push(struct store *s, const char *name, const struct store_xfer_params *p,
               struct ol_err *err) {
    struct store_name n;
    int rc = reg_name_parse(name, p, &n, err);
    if (rc < 0) return rc;
    store_name_resolve(s, &n);
    bool (*cb)(void *, const char *, const char *, int64_t, int64_t) = p->progress;
    if (cb && !cb(p->user, "retrieving manifest", "", 0, 0))
        return ol_err_set(err, OL_ECANCELED, "canceled");
    struct store_manifest mf = {0};
    rc = store_manifest_read(s, &n, &mf, err);
    if (rc < 0) {
        if (cb) cb(p->user, "couldn't retrieve manifest", "", 0, 0);
        if (rc == OL_ENOTFOUND) rc = ol_err_set(err, OL_ENOTFOUND, "model \"%s\" not found", name);
        return rc;
    }
    struct reg_client c;
    reg_client_init(&c, &n, p->username, p->password, NULL);
    for (int i = 0; i <= mf.n_layers && rc == 0; i++)
        rc = blob_push(s, &c, i < mf.n_layers ? &mf.layers[i] : &mf.config, p, err);
    if (rc == 0 && cb && !cb(p->user, "pushing manifest", "", 0, 0))
        rc = ol_err_set(err, OL_ECANCELED, "canceled");
    struct ol_buf body = {0};
    if (rc == 0 && store_manifest_encode(&mf.config, mf.layers, mf.n_layers, &body) < 0)
        rc = ol_err_set(err, OL_ENOMEM, "out of memory");
    if (rc == 0) {
        if (body.len && body.data[body.len - 1] == '\n') body.data[--body.len] = 0;
        char path[700];
        snprintf(path, sizeof(path), "/v2/%s/manifests/%s", c.repo, n.tag);
        const char *hdrs[] = {"Content-Type: " STORE_MT_MANIFEST, NULL};
        struct reg_body b = {.data = body.data, .fd = -1, .len = body.len};
        struct reg_resp r = {0};
        rc = reg_do(&c, "PUT", path, hdrs, &b, false, &r, err);
        if (rc == 0 && r.status >= 400) rc = http_fail(&r, err);
        reg_resp_free(&r);
    }
    ol_buf_free(&body);
    store_manifest_clear(&mf);
    if (rc == 0 && cb) cb(p->user, "success", "", 0, 0);
    return rc;
}
