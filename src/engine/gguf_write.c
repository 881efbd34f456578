/* GGUF writer (version 3). Metadata values are kept already encoded; tensors keep a borrowed
 * pointer to their data. The file is produced in one pass into a temp file and renamed. */
#include "engine/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/quant.h"

struct wkv {
    char *key;
    uint32_t type;
    struct ol_buf val; /* encoded value */
};

struct wtensor {
    char *name;
    int type;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    const void *data;
    uint64_t size;
};

struct gguf_writer {
    struct wkv *kv;
    size_t n_kv, cap_kv;
    struct wtensor *t;
    size_t n_t, cap_t;
};

struct gguf_writer *gguf_writer_new(void) {
    return calloc(1, sizeof(struct gguf_writer));
}

void gguf_writer_free(struct gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        ol_buf_free(&w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* Returns the entry for key (new or reset), or NULL on ENOMEM. */
static struct wkv *kv_slot(struct gguf_writer *w, const char *key, uint32_t type) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            w->kv[i].type = type;
            w->kv[i].val.len = 0;
            return &w->kv[i];
        }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        struct wkv *p = ol_realloc_array(w->kv, cap, sizeof(*p));
        if (!p) return NULL;
        w->kv = p;
        w->cap_kv = cap;
    }
    struct wkv *e = &w->kv[w->n_kv];
    memset(e, 0, sizeof(*e));
    e->key = ol_strdup(key);
    if (!e->key) return NULL;
    e->type = type;
    w->n_kv++;
    return e;
}

static int put_scalar(struct gguf_writer *w, const char *key, uint32_t type, const void *v,
                      size_t n) {
    struct wkv *e = kv_slot(w, key, type);
    if (!e) return OL_ENOMEM;
    return ol_buf_append(&e->val, v, n);
}

int gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v) {
    return put_scalar(w, key, GGUF_TYPE_UINT32, &v, 4);
}
int gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v) {
    return put_scalar(w, key, GGUF_TYPE_INT32, &v, 4);
}
int gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v) {
    return put_scalar(w, key, GGUF_TYPE_FLOAT32, &v, 4);
}
int gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v) {
    uint8_t b = v;
    return put_scalar(w, key, GGUF_TYPE_BOOL, &b, 1);
}

static int put_str(struct ol_buf *b, const char *s, uint64_t len) {
    if (ol_buf_append(b, &len, 8) < 0) return OL_ENOMEM;
    return ol_buf_append(b, s, (size_t)len);
}

int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v) {
    struct wkv *e = kv_slot(w, key, GGUF_TYPE_STRING);
    if (!e) return OL_ENOMEM;
    return put_str(&e->val, v, strlen(v));
}

int gguf_writer_set_arr(struct gguf_writer *w, const char *key, enum gguf_vtype elem,
                        const void *data, uint64_t n) {
    size_t es = gguf_vtype_size(elem);
    size_t total;
    if (!es || !ol_mul_ok(es, (size_t)n, &total)) return OL_EINVAL;
    struct wkv *e = kv_slot(w, key, GGUF_TYPE_ARRAY);
    if (!e) return OL_ENOMEM;
    uint32_t t = elem;
    if (ol_buf_append(&e->val, &t, 4) < 0 || ol_buf_append(&e->val, &n, 8) < 0 ||
        ol_buf_append(&e->val, data, total) < 0)
        return OL_ENOMEM;
    return 0;
}

int gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const struct gguf_str *strs,
                            uint64_t n) {
    struct wkv *e = kv_slot(w, key, GGUF_TYPE_ARRAY);
    if (!e) return OL_ENOMEM;
    uint32_t t = GGUF_TYPE_STRING;
    if (ol_buf_append(&e->val, &t, 4) < 0 || ol_buf_append(&e->val, &n, 8) < 0) return OL_ENOMEM;
    for (uint64_t i = 0; i < n; i++)
        if (put_str(&e->val, strs[i].ptr, strs[i].len) < 0) return OL_ENOMEM;
    return 0;
}

int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf *src, const struct gguf_kv *kv) {
    (void)src;
    char *key = ol_strndup(kv->key.ptr, (size_t)kv->key.len);
    if (!key) return OL_ENOMEM;
    struct wkv *e = kv_slot(w, key, kv->type);
    free(key);
    if (!e) return OL_ENOMEM;
    return ol_buf_append(&e->val, kv->raw, (size_t)kv->raw_len);
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, int type, uint32_t n_dims,
                           const int64_t *ne, const void *data, uint64_t size) {
    if (n_dims == 0 || n_dims > GGUF_MAX_DIMS || type >= Q_TYPE_INTERNAL || !q_type_info(type))
        return OL_EINVAL;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        struct wtensor *p = ol_realloc_array(w->t, cap, sizeof(*p));
        if (!p) return OL_ENOMEM;
        w->t = p;
        w->cap_t = cap;
    }
    struct wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof(*t));
    t->name = ol_strdup(name);
    if (!t->name) return OL_ENOMEM;
    t->type = type;
    t->n_dims = n_dims;
    for (int i = 0; i < GGUF_MAX_DIMS; i++)
        t->ne[i] = i < (int)n_dims ? ne[i] : 1;
    t->data = data;
    t->size = size;
    w->n_t++;
    return 0;
}

static uint64_t writer_alignment(const struct gguf_writer *w) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, "general.alignment") == 0 && w->kv[i].type == GGUF_TYPE_UINT32) {
            uint32_t a;
            memcpy(&a, w->kv[i].val.data, 4);
            if (a && !(a & (a - 1))) return a;
        }
    return GGUF_DEFAULT_ALIGNMENT;
}

/* Encodes everything before the tensor data, padded to the alignment, and the data offsets. */
static int writer_header(struct gguf_writer *w, struct ol_buf *h, uint64_t *offsets,
                         uint64_t *total) {
    uint64_t align = writer_alignment(w);
    uint32_t version = 3;
    uint64_t n_t = w->n_t, n_kv = w->n_kv;
    if (ol_buf_append(h, "GGUF", 4) < 0 || ol_buf_append(h, &version, 4) < 0 ||
        ol_buf_append(h, &n_t, 8) < 0 || ol_buf_append(h, &n_kv, 8) < 0)
        return OL_ENOMEM;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (put_str(h, w->kv[i].key, strlen(w->kv[i].key)) < 0 ||
            ol_buf_append(h, &w->kv[i].type, 4) < 0 ||
            ol_buf_append(h, w->kv[i].val.data, w->kv[i].val.len) < 0)
            return OL_ENOMEM;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        struct wtensor *t = &w->t[i];
        uint32_t type = (uint32_t)t->type;
        offsets[i] = off;
        if (put_str(h, t->name, strlen(t->name)) < 0 || ol_buf_append(h, &t->n_dims, 4) < 0)
            return OL_ENOMEM;
        for (uint32_t d = 0; d < t->n_dims; d++)
            if (ol_buf_append(h, &t->ne[d], 8) < 0) return OL_ENOMEM;
        if (ol_buf_append(h, &type, 4) < 0 || ol_buf_append(h, &off, 8) < 0) return OL_ENOMEM;
        off += (t->size + align - 1) / align * align;
    }
    static const uint8_t zeros[64];
    while (h->len % align)
        if (ol_buf_append(h, zeros, OL_MIN(align - h->len % align, sizeof(zeros))) < 0)
            return OL_ENOMEM;
    *total = h->len + off;
    return 0;
}

int gguf_writer_to_memory(struct gguf_writer *w, uint8_t **out, size_t *len, struct ol_err *err) {
    struct ol_buf h = {0};
    uint64_t *offsets = ol_calloc_array(w->n_t ? w->n_t : 1, sizeof(*offsets));
    uint64_t total;
    if (!offsets || writer_header(w, &h, offsets, &total) < 0 ||
        ol_buf_reserve(&h, (size_t)(total - h.len)) < 0) {
        free(offsets);
        ol_buf_free(&h);
        return ol_err_set(err, OL_ENOMEM, "out of memory writing GGUF");
    }
    size_t data_start = h.len;
    memset(h.data + data_start, 0, (size_t)(total - data_start));
    for (size_t i = 0; i < w->n_t; i++)
        if (w->t[i].size) memcpy(h.data + data_start + offsets[i], w->t[i].data, w->t[i].size);
    free(offsets);
    *out = (uint8_t *)h.data;
    *len = (size_t)total;
    return 0;
}

int gguf_writer_write(struct gguf_writer *w, const char *path, struct ol_err *err) {
    struct ol_buf h = {0};
    uint64_t *offsets = ol_calloc_array(w->n_t ? w->n_t : 1, sizeof(*offsets));
    uint64_t total;
    if (!offsets || writer_header(w, &h, offsets, &total) < 0) {
        free(offsets);
        ol_buf_free(&h);
        return ol_err_set(err, OL_ENOMEM, "out of memory writing GGUF");
    }
    char *tmp;
    int rc = 0;
    int fd = ol_file_atomic_begin(path, &tmp, err);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    uint64_t pos = h.len;
    bool ok = ol_write_all(fd, h.data, h.len) == 0;
    static const uint8_t zeros[64];
    for (size_t i = 0; i < w->n_t && ok; i++) {
        uint64_t at = h.len + offsets[i];
        while (ok && pos < at) {
            uint64_t n = OL_MIN(at - pos, (uint64_t)sizeof(zeros));
            ok = ol_write_all(fd, zeros, (size_t)n) == 0;
            pos += n;
        }
        ok = ok && ol_write_all(fd, w->t[i].data, (size_t)w->t[i].size) == 0;
        pos += w->t[i].size;
    }
    while (ok && pos < total) {
        uint64_t n = OL_MIN(total - pos, (uint64_t)sizeof(zeros));
        ok = ol_write_all(fd, zeros, (size_t)n) == 0;
        pos += n;
    }
    rc = ol_file_atomic_end(fd, tmp, path, ok, err);
out:
    free(offsets);
    ol_buf_free(&h);
    return rc;
}
