/* GGUF reader. One cursor walks the file; every read goes through cur_take(), which checks the
 * bytes are there, so a truncated or hostile file can only produce an error. Counts read from
 * the file are checked against the bytes left before anything is allocated for them. */
#include "engine/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/quant.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_MAX_NESTING 8
#define GGUF_MAX_NAME 256 /* tensor names (ggml allows 64; be lenient, still bounded) */

struct cur {
    const uint8_t *p;
    uint64_t left;
    uint64_t off; /* for messages */
};

static const uint8_t *cur_take(struct cur *c, uint64_t n) {
    if (n > c->left) return NULL;
    const uint8_t *p = c->p;
    c->p += n;
    c->left -= n;
    c->off += n;
    return p;
}

static int trunc_err(struct ol_err *err, const struct cur *c, const char *what) {
    return ol_err_set(err, OL_EFORMAT, "invalid GGUF file: truncated at byte %llu reading %s",
                      (unsigned long long)c->off, what);
}

static int cur_u32(struct cur *c, uint32_t *v, const char *what, struct ol_err *err) {
    const uint8_t *p = cur_take(c, 4);
    *v = 0;
    if (!p) return trunc_err(err, c, what);
    memcpy(v, p, 4);
    return 0;
}

static int cur_u64(struct cur *c, uint64_t *v, const char *what, struct ol_err *err) {
    const uint8_t *p = cur_take(c, 8);
    *v = 0;
    if (!p) return trunc_err(err, c, what);
    memcpy(v, p, 8);
    return 0;
}

static int cur_str(struct cur *c, struct gguf_str *s, const char *what, struct ol_err *err) {
    uint64_t len;
    if (cur_u64(c, &len, what, err) < 0) return OL_EFORMAT;
    const uint8_t *p = cur_take(c, len);
    if (!p)
        return ol_err_set(err, OL_EFORMAT,
                          "invalid GGUF file: %s of %llu bytes runs past the end of the file", what,
                          (unsigned long long)len);
    s->ptr = (const char *)p;
    s->len = len;
    return 0;
}

size_t gguf_vtype_size(enum gguf_vtype t) {
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_BOOL:
        return 1;
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_INT16:
        return 2;
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_FLOAT32:
        return 4;
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_INT64:
    case GGUF_TYPE_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

const char *gguf_vtype_name(enum gguf_vtype t) {
    static const char *const names[] = {"u8",   "i8",  "u16", "i16", "u32", "i32", "f32",
                                        "bool", "str", "arr", "u64", "i64", "f64"};
    return (unsigned)t < OL_ARRAY_LEN(names) ? names[t] : "?";
}

/* Skips (validating) one value of type t; `depth` bounds nested arrays. */
static int skip_value(struct cur *c, uint32_t t, int depth, struct ol_err *err) {
    if (t >= GGUF_TYPE_COUNT)
        return ol_err_set(err, OL_EFORMAT, "invalid GGUF file: unknown value type %u", t);
    if (t == GGUF_TYPE_STRING) {
        struct gguf_str s;
        return cur_str(c, &s, "string", err);
    }
    if (t != GGUF_TYPE_ARRAY) {
        if (!cur_take(c, gguf_vtype_size(t))) return trunc_err(err, c, "value");
        return 0;
    }
    if (depth >= GGUF_MAX_NESTING)
        return ol_err_set(err, OL_EFORMAT, "invalid GGUF file: arrays nested too deeply");
    uint32_t et;
    uint64_t n;
    if (cur_u32(c, &et, "array type", err) < 0 || cur_u64(c, &n, "array length", err) < 0)
        return OL_EFORMAT;
    if (et >= GGUF_TYPE_COUNT)
        return ol_err_set(err, OL_EFORMAT, "invalid GGUF file: unknown array element type %u", et);
    size_t es = gguf_vtype_size(et);
    if (es) {
        if (n > c->left / es) return trunc_err(err, c, "array");
        cur_take(c, n * es);
        return 0;
    }
    for (uint64_t i = 0; i < n; i++) {
        int rc = skip_value(c, et, depth + 1, err);
        if (rc < 0) return rc;
    }
    return 0;
}

static int read_kv(struct cur *c, struct gguf_kv *kv, struct ol_err *err) {
    if (cur_str(c, &kv->key, "metadata key", err) < 0) return OL_EFORMAT;
    uint32_t t;
    if (cur_u32(c, &t, "metadata type", err) < 0) return OL_EFORMAT;
    if (t >= GGUF_TYPE_COUNT)
        return ol_err_set(err, OL_EFORMAT, "invalid GGUF file: key %.*s has unknown type %u",
                          (int)OL_MIN(kv->key.len, 64), kv->key.ptr, t);
    kv->type = (enum gguf_vtype)t;
    kv->raw = c->p;
    const uint8_t *p;
    switch (kv->type) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64: {
        size_t n = gguf_vtype_size(kv->type);
        if (!(p = cur_take(c, n))) return trunc_err(err, c, "value");
        uint64_t v = 0;
        memcpy(&v, p, n); /* little-endian host */
        kv->v.u64 = v;
        break;
    }
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64: {
        size_t n = gguf_vtype_size(kv->type);
        if (!(p = cur_take(c, n))) return trunc_err(err, c, "value");
        if (n == 1) kv->v.i64 = (int8_t)p[0];
        if (n == 2) {
            int16_t v;
            memcpy(&v, p, 2);
            kv->v.i64 = v;
        }
        if (n == 4) {
            int32_t v;
            memcpy(&v, p, 4);
            kv->v.i64 = v;
        }
        if (n == 8) memcpy(&kv->v.i64, p, 8);
        break;
    }
    case GGUF_TYPE_FLOAT32: {
        float f;
        if (!(p = cur_take(c, 4))) return trunc_err(err, c, "value");
        memcpy(&f, p, 4);
        kv->v.f64 = (double)f;
        break;
    }
    case GGUF_TYPE_FLOAT64:
        if (!(p = cur_take(c, 8))) return trunc_err(err, c, "value");
        memcpy(&kv->v.f64, p, 8);
        break;
    case GGUF_TYPE_BOOL:
        if (!(p = cur_take(c, 1))) return trunc_err(err, c, "value");
        kv->v.b = p[0] != 0;
        break;
    case GGUF_TYPE_STRING:
        if (cur_str(c, &kv->v.str, "string value", err) < 0) return OL_EFORMAT;
        break;
    case GGUF_TYPE_ARRAY: {
        uint32_t et;
        if (cur_u32(c, &et, "array type", err) < 0 ||
            cur_u64(c, &kv->arr_n, "array length", err) < 0)
            return OL_EFORMAT;
        if (et >= GGUF_TYPE_COUNT)
            return ol_err_set(err, OL_EFORMAT, "invalid GGUF file: unknown array element type %u",
                              et);
        kv->arr_type = (enum gguf_vtype)et;
        kv->arr_data = c->p;
        size_t es = gguf_vtype_size(kv->arr_type);
        if (es) {
            if (kv->arr_n > c->left / es) return trunc_err(err, c, "array");
            cur_take(c, kv->arr_n * es);
        } else if (kv->arr_type == GGUF_TYPE_STRING) {
            if (kv->arr_n > c->left / 8) return trunc_err(err, c, "string array");
            kv->arr_strs = ol_calloc_array(kv->arr_n, sizeof(*kv->arr_strs));
            if (!kv->arr_strs) return ol_err_set(err, OL_ENOMEM, "out of memory reading GGUF");
            for (uint64_t i = 0; i < kv->arr_n; i++)
                if (cur_str(c, &kv->arr_strs[i], "array string", err) < 0) return OL_EFORMAT;
        } else {
            for (uint64_t i = 0; i < kv->arr_n; i++)
                if (skip_value(c, et, 1, err) < 0) return OL_EFORMAT;
        }
        break;
    }
    default:
        return ol_err_set(err, OL_EFORMAT, "invalid GGUF file: bad type");
    }
    kv->raw_len = (uint64_t)(c->p - kv->raw);
    return 0;
}

static int read_tensor_info(struct cur *c, struct gguf_tensor *t, struct ol_err *err) {
    if (cur_str(c, &t->name, "tensor name", err) < 0) return OL_EFORMAT;
    if (t->name.len == 0 || t->name.len > GGUF_MAX_NAME)
        return ol_err_set(err, OL_EFORMAT, "invalid GGUF file: tensor name of %llu bytes",
                          (unsigned long long)t->name.len);
    int nm = (int)t->name.len;
    if (cur_u32(c, &t->n_dims, "tensor dims", err) < 0) return OL_EFORMAT;
    if (t->n_dims > GGUF_MAX_DIMS)
        return ol_err_set(err, OL_EFORMAT, "invalid GGUF file: tensor %.*s has %u dimensions", nm,
                          t->name.ptr, t->n_dims);
    for (int i = 0; i < GGUF_MAX_DIMS; i++)
        t->ne[i] = 1;
    for (uint32_t i = 0; i < t->n_dims; i++) {
        uint64_t ne;
        if (cur_u64(c, &ne, "tensor shape", err) < 0) return OL_EFORMAT;
        if (ne > (uint64_t)INT64_MAX / 2)
            return ol_err_set(err, OL_EFORMAT, "invalid GGUF file: tensor %.*s has a bad shape", nm,
                              t->name.ptr);
        t->ne[i] = (int64_t)ne;
    }
    uint32_t type;
    if (cur_u32(c, &type, "tensor type", err) < 0 ||
        cur_u64(c, &t->offset, "tensor offset", err) < 0)
        return OL_EFORMAT;
    const struct q_type_info *ti = type < Q_TYPE_INTERNAL ? q_type_info((int)type) : NULL;
    if (!ti)
        return ol_err_set(err, OL_EFORMAT, "tensor %.*s has unknown type %u", nm, t->name.ptr,
                          type);
    t->type = (int)type;
    if (t->ne[0] % ti->blck != 0)
        return ol_err_set(err, OL_EFORMAT,
                          "invalid GGUF file: tensor %.*s: row of %lld is not a multiple of the "
                          "%s block size %d",
                          nm, t->name.ptr, (long long)t->ne[0], ti->name, ti->blck);
    /* size = ne0/blck * type_size * ne1 * ne2 * ne3, overflow-checked */
    uint64_t size = (uint64_t)(t->ne[0] / ti->blck) * ti->type_size;
    if (ti->type_size && (uint64_t)(t->ne[0] / ti->blck) > UINT64_MAX / ti->type_size)
        size = UINT64_MAX;
    for (int i = 1; i < GGUF_MAX_DIMS && size != UINT64_MAX; i++) {
        uint64_t ne = (uint64_t)t->ne[i];
        if (ne && size > UINT64_MAX / ne)
            size = UINT64_MAX;
        else
            size *= ne;
    }
    if (size == UINT64_MAX)
        return ol_err_set(err, OL_EFORMAT, "invalid GGUF file: tensor %.*s is too large", nm,
                          t->name.ptr);
    t->size = size;
    return 0;
}

static void gguf_free_index(struct gguf *g) {
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++)
            free(g->kv[i].arr_strs);
    free(g->kv);
    free(g->tensors);
    g->kv = NULL;
    g->tensors = NULL;
}

/* qsort order of two `struct gguf_str *`: by length, then bytes. */
static int cmp_str_ptr(const void *a, const void *b) {
    const struct gguf_str *x = *(const struct gguf_str *const *)a;
    const struct gguf_str *y = *(const struct gguf_str *const *)b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->len ? memcmp(x->ptr, y->ptr, (size_t)x->len) : 0;
}

static int gguf_parse(struct gguf *g, struct ol_err *err) {
    struct cur c = {g->base, g->size, 0};
    const uint8_t *magic = cur_take(&c, 4);
    if (!magic || memcmp(magic, GGUF_MAGIC, 4) != 0)
        return ol_err_set(err, OL_EFORMAT, "not a GGUF file (bad magic)");
    if (cur_u32(&c, &g->version, "version", err) < 0) return OL_EFORMAT;
    if (g->version != 2 && g->version != 3)
        return ol_err_set(err, OL_EFORMAT, "unsupported GGUF version %u (want 2 or 3)", g->version);
    uint64_t n_tensors, n_kv;
    if (cur_u64(&c, &n_tensors, "tensor count", err) < 0 ||
        cur_u64(&c, &n_kv, "metadata count", err) < 0)
        return OL_EFORMAT;
    /* Each kv takes >= 12 bytes and each tensor info >= 24: bound the counts by the file. */
    if (n_kv > c.left / 12 || n_tensors > c.left / 24)
        return ol_err_set(err, OL_EFORMAT,
                          "invalid GGUF file: %llu metadata entries and %llu tensors cannot fit "
                          "in %llu bytes",
                          (unsigned long long)n_kv, (unsigned long long)n_tensors,
                          (unsigned long long)g->size);
    g->kv = ol_calloc_array(n_kv ? n_kv : 1, sizeof(*g->kv));
    g->tensors = ol_calloc_array(n_tensors ? n_tensors : 1, sizeof(*g->tensors));
    if (!g->kv || !g->tensors) return ol_err_set(err, OL_ENOMEM, "out of memory reading GGUF");
    int rc;
    for (uint64_t i = 0; i < n_kv; i++) {
        g->n_kv = i + 1; /* so gguf_free_index frees what was read */
        if ((rc = read_kv(&c, &g->kv[i], err)) < 0) return rc;
    }
    if (ol_log_debug_enabled()) {
        struct gguf_str **keys = ol_calloc_array(n_kv ? n_kv : 1, sizeof(*keys));
        if (!keys) return ol_err_set(err, OL_ENOMEM, "out of memory reading GGUF");
        for (uint64_t i = 0; i < n_kv; i++)
            keys[i] = &g->kv[i].key;
        qsort(keys, n_kv, sizeof(*keys), cmp_str_ptr);
        for (uint64_t i = 1; i < n_kv; i++)
            if (cmp_str_ptr(&keys[i - 1], &keys[i]) == 0 &&
                (i + 1 == n_kv || cmp_str_ptr(&keys[i], &keys[i + 1]) != 0))
                ol_log(OL_LOG_DEBUG, "GGUF key %.*s appears more than once; the last one wins",
                       (int)OL_MIN(keys[i]->len, 64), keys[i]->ptr);
        free(keys);
    }
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const struct gguf_kv *akv = gguf_find(g, "general.alignment");
    if (akv) {
        if (akv->type != GGUF_TYPE_UINT32 || akv->v.u64 == 0 || (akv->v.u64 & (akv->v.u64 - 1)))
            return ol_err_set(err, OL_EFORMAT,
                              "invalid GGUF file: general.alignment must be a power of two u32");
        g->alignment = akv->v.u64;
    }
    g->n_tensors = n_tensors;
    for (uint64_t i = 0; i < n_tensors; i++)
        if ((rc = read_tensor_info(&c, &g->tensors[i], err)) < 0) return rc;
    uint64_t pos = c.off;
    uint64_t data_off = (pos + g->alignment - 1) / g->alignment * g->alignment;
    if (n_tensors && data_off > g->size)
        return ol_err_set(err, OL_EFORMAT, "invalid GGUF file: truncated before tensor data");
    g->data_offset = data_off;
    uint64_t data_size = data_off <= g->size ? g->size - data_off : 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        struct gguf_tensor *t = &g->tensors[i];
        int nm = (int)t->name.len;
        if (t->offset % g->alignment)
            return ol_err_set(err, OL_EFORMAT,
                              "invalid GGUF file: tensor %.*s data offset is not aligned", nm,
                              t->name.ptr);
        if (t->offset > data_size || t->size > data_size - t->offset)
            return ol_err_set(err, OL_EFORMAT,
                              "invalid GGUF file: tensor %.*s data (%llu bytes at %llu) runs past "
                              "the end of the file (truncated?)",
                              nm, t->name.ptr, (unsigned long long)t->size,
                              (unsigned long long)t->offset);
        t->data = g->base + data_off + t->offset;
    }
    /* Duplicate names by sorting, not pairwise: a hostile file may list a million tensors. */
    struct gguf_str **names = ol_calloc_array(n_tensors ? n_tensors : 1, sizeof(*names));
    if (!names) return ol_err_set(err, OL_ENOMEM, "out of memory reading GGUF");
    for (uint64_t i = 0; i < n_tensors; i++)
        names[i] = &g->tensors[i].name;
    qsort(names, n_tensors, sizeof(*names), cmp_str_ptr);
    for (uint64_t i = 1; i < n_tensors; i++)
        if (cmp_str_ptr(&names[i - 1], &names[i]) == 0) {
            rc = ol_err_set(err, OL_EFORMAT, "invalid GGUF file: duplicate tensor %.*s",
                            (int)names[i]->len, names[i]->ptr);
            free(names);
            return rc;
        }
    free(names);
    return 0;
}

int gguf_parse_memory(struct gguf *g, const void *data, size_t size, struct ol_err *err) {
    memset(g, 0, sizeof(*g));
    g->base = data;
    g->size = size;
    int rc = gguf_parse(g, err);
    if (rc < 0) {
        gguf_free_index(g);
        memset(g, 0, sizeof(*g));
    }
    return rc;
}

int gguf_open(struct gguf *g, const char *path, struct ol_err *err) {
    memset(g, 0, sizeof(*g));
    int rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ol_err_sys(err, errno == ENOENT ? OL_ENOTFOUND : OL_EIO, "open %s", path);
    uint64_t size;
    rc = ol_fd_size(fd, &size, err);
    if (rc < 0) goto out_close;
    if (size < 4 || size > SIZE_MAX) {
        rc = ol_err_set(err, OL_EFORMAT, "%s: not a GGUF file (%llu bytes)", path,
                        (unsigned long long)size);
        goto out_close;
    }
    void *base = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        rc = ol_err_sys(err, OL_EIO, "mmap %s", path);
        goto out_close;
    }
    g->base = base;
    g->size = size;
    g->mapped = true;
    rc = gguf_parse(g, err);
    if (rc < 0) goto out_unmap;
    close(fd); /* the mapping outlives the descriptor */
    return 0;

out_unmap:
    gguf_free_index(g);
    munmap(base, (size_t)size);
    memset(g, 0, sizeof(*g));
out_close:
    close(fd);
    return rc;
}

void gguf_close(struct gguf *g) {
    if (!g) return;
    gguf_free_index(g);
    if (g->mapped && g->base) munmap((void *)g->base, (size_t)g->size);
    memset(g, 0, sizeof(*g));
}

bool gguf_str_eq(struct gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

const struct gguf_kv *gguf_find(const struct gguf *g, const char *key) {
    for (uint64_t i = g->n_kv; i-- > 0;)
        if (gguf_str_eq(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (gguf_str_eq(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

static bool vtype_is_signed(enum gguf_vtype t) {
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 ||
           t == GGUF_TYPE_INT64;
}

static bool vtype_is_unsigned(enum gguf_vtype t) {
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 ||
           t == GGUF_TYPE_UINT64;
}

bool gguf_get_i64(const struct gguf *g, const char *key, int64_t *out) {
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv) return false;
    if (vtype_is_signed(kv->type)) {
        *out = kv->v.i64;
        return true;
    }
    if (vtype_is_unsigned(kv->type) && kv->v.u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)kv->v.u64;
        return true;
    }
    return false;
}

bool gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out) {
    int64_t v;
    if (!gguf_get_i64(g, key, &v) || v < 0 || v > (int64_t)UINT32_MAX) return false;
    *out = (uint32_t)v;
    return true;
}

bool gguf_get_f32(const struct gguf *g, const char *key, float *out) {
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv) return false;
    if (kv->type == GGUF_TYPE_FLOAT32 || kv->type == GGUF_TYPE_FLOAT64) {
        *out = (float)kv->v.f64;
        return true;
    }
    int64_t v;
    if (gguf_get_i64(g, key, &v)) {
        *out = (float)v;
        return true;
    }
    return false;
}

bool gguf_get_bool(const struct gguf *g, const char *key, bool *out) {
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv || kv->type != GGUF_TYPE_BOOL) return false;
    *out = kv->v.b;
    return true;
}

bool gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out) {
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv || kv->type != GGUF_TYPE_STRING) return false;
    *out = kv->v.str;
    return true;
}

const struct gguf_kv *gguf_get_arr(const struct gguf *g, const char *key, enum gguf_vtype elem) {
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv || kv->type != GGUF_TYPE_ARRAY) return NULL;
    if (kv->arr_type == elem) return kv;
    if (elem == GGUF_TYPE_INT64 &&
        (vtype_is_signed(kv->arr_type) || vtype_is_unsigned(kv->arr_type)))
        return kv;
    if (elem == GGUF_TYPE_FLOAT32 && kv->arr_type == GGUF_TYPE_FLOAT64) return kv;
    return NULL;
}

int64_t gguf_arr_int(const struct gguf_kv *kv, uint64_t i) {
    const uint8_t *p = kv->arr_data + i * gguf_vtype_size(kv->arr_type);
    switch (kv->arr_type) {
    case GGUF_TYPE_UINT8:
        return p[0];
    case GGUF_TYPE_INT8:
        return (int8_t)p[0];
    case GGUF_TYPE_UINT16: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case GGUF_TYPE_INT16: {
        int16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case GGUF_TYPE_UINT32: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case GGUF_TYPE_INT32: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_INT64: {
        int64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    case GGUF_TYPE_BOOL:
        return p[0] != 0;
    default:
        return 0;
    }
}

float gguf_arr_f32(const struct gguf_kv *kv, uint64_t i) {
    if (kv->arr_type == GGUF_TYPE_FLOAT64) {
        double d;
        memcpy(&d, kv->arr_data + i * 8, 8);
        return (float)d;
    }
    if (kv->arr_type == GGUF_TYPE_FLOAT32) {
        float f;
        memcpy(&f, kv->arr_data + i * 4, 4);
        return f;
    }
    return (float)gguf_arr_int(kv, i);
}
