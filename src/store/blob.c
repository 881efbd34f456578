/* Content-addressed blobs: <root>/blobs/sha256-<hex>. A blob is written to a temp file in the
 * same folder while being hashed, fsynced, then renamed to its digest's name, so a blob file
 * under its final name is always complete and correct. */
#include "store/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEXT_MAX (64u << 20)

int store_blob_path(const struct store *s, const char *digest, char *buf, size_t cap) {
    if (!store_digest_is_valid(digest)) return OL_EINVAL;
    char hex[65];
    store_digest_hex(digest, hex);
    return snprintf(buf, cap, "%s/sha256-%s", s->blobs, hex);
}

bool store_blob_exists(const struct store *s, const char *digest) {
    char path[PATH_MAX];
    int n = store_blob_path(s, digest, path, sizeof(path));
    if (n < 0 || n >= (int)sizeof(path)) return false;
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int store_blob_read(const struct store *s, const char *digest, char **out, size_t *len,
                    struct ol_err *err) {
    char path[PATH_MAX];
    *out = NULL;
    if (store_blob_path(s, digest, path, sizeof(path)) < 0)
        return ol_err_set(err, OL_EINVAL, "invalid digest format");
    int rc = ol_file_read(path, TEXT_MAX, out, len, err);
    if (rc == OL_ENOTFOUND) return ol_err_set(err, OL_ENOTFOUND, "blob \"%s\" not found", digest);
    return rc;
}

void store_blob_touch(const struct store *s, const char *digest) {
    char path[PATH_MAX];
    if (store_blob_path(s, digest, path, sizeof(path)) < 0) return;
    utimensat(AT_FDCWD, path, NULL, 0);
}

struct store_blob_writer {
    struct store *s;
    int fd;
    char tmp[PATH_MAX];
    struct ol_sha256 *hash;
    uint64_t size;
};

struct store_blob_writer *store_blob_writer_new(struct store *s, struct ol_err *err) {
    struct store_blob_writer *w = calloc(1, sizeof(*w));
    if (!w || !(w->hash = ol_sha256_new())) {
        free(w);
        ol_err_set(err, OL_ENOMEM, "out of memory");
        return NULL;
    }
    w->s = s;
    snprintf(w->tmp, sizeof(w->tmp), "%s/sha256-tmp-XXXXXX", s->blobs);
    w->fd = mkostemp(w->tmp, O_CLOEXEC);
    if (w->fd < 0 || fchmod(w->fd, 0644) < 0) {
        ol_err_sys(err, OL_EIO, "create %s", w->tmp);
        if (w->fd >= 0) {
            close(w->fd);
            unlink(w->tmp);
        }
        ol_sha256_free(w->hash);
        free(w);
        return NULL;
    }
    return w;
}

int store_blob_writer_write(struct store_blob_writer *w, const void *p, size_t n,
                            struct ol_err *err) {
    const char *c = p;
    ol_sha256_update(w->hash, p, n);
    w->size += n;
    while (n) {
        ssize_t k = write(w->fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return ol_err_sys(err, OL_EIO, "write blob");
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

void store_blob_writer_abort(struct store_blob_writer *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    unlink(w->tmp);
    ol_sha256_free(w->hash);
    free(w);
}

int store_blob_writer_commit(struct store_blob_writer *w, const char *expected, char digest_out[72],
                             struct ol_err *err) {
    int rc = 0;
    uint8_t d[32];
    char hex[65], path[PATH_MAX];
    if (expected && !store_digest_is_valid(expected)) {
        rc = ol_err_set(err, OL_EINVAL, "invalid digest format");
        goto out_abort;
    }
    ol_sha256_final(w->hash, d);
    ol_sha256_to_hex(d, hex);
    if (expected && strncasecmp(expected + 7, hex, 64) != 0) {
        rc = ol_err_set(err, OL_EINVAL, "digest mismatch, expected \"%s\", got \"sha256:%s\"",
                        expected, hex);
        goto out_abort;
    }
    if (fsync(w->fd) < 0) {
        rc = ol_err_sys(err, OL_EIO, "write blob");
        goto out_abort;
    }
    close(w->fd);
    w->fd = -1;
    snprintf(path, sizeof(path), "%s/sha256-%s", w->s->blobs, hex);
    if (rename(w->tmp, path) < 0) {
        rc = ol_err_sys(err, OL_EIO, "rename %s", path);
        goto out_abort;
    }
    {
        char *dir = w->s->blobs;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    if (digest_out) snprintf(digest_out, 72, "sha256:%s", hex);
    ol_sha256_free(w->hash);
    free(w);
    return 0;
out_abort:
    store_blob_writer_abort(w);
    return rc;
}

int store_blob_put(struct store *s, const void *data, size_t len, char digest_out[72],
                   struct ol_err *err) {
    char hex[65];
    if (ol_sha256_hex(data, len, hex) < 0) return ol_err_set(err, OL_ENOMEM, "out of memory");
    snprintf(digest_out, 72, "sha256:%s", hex);
    if (store_blob_exists(s, digest_out)) {
        store_blob_touch(s, digest_out);
        return 1;
    }
    struct store_blob_writer *w = store_blob_writer_new(s, err);
    if (!w) return err ? err->code : OL_EIO;
    int rc = store_blob_writer_write(w, data, len, err);
    if (rc < 0) {
        store_blob_writer_abort(w);
        return rc;
    }
    rc = store_blob_writer_commit(w, digest_out, NULL, err);
    return rc < 0 ? rc : 0;
}
