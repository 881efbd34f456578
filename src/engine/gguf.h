/* gguf: reader (versions 2 and 3) and writer of the GGUF file format. The reader maps the file
 * and checks every offset, size, count and string length against it before use; views it hands
 * out (strings, arrays, tensor data) point into the mapping and live until gguf_close().
 * Duplicate metadata keys: the last occurrence wins (documented policy; a debug log notes it).
 * Internal to the engine. */
#ifndef OL_ENGINE_GGUF_H
#define OL_ENGINE_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

enum gguf_vtype { /* file format values */
                  GGUF_TYPE_UINT8 = 0,
                  GGUF_TYPE_INT8 = 1,
                  GGUF_TYPE_UINT16 = 2,
                  GGUF_TYPE_INT16 = 3,
                  GGUF_TYPE_UINT32 = 4,
                  GGUF_TYPE_INT32 = 5,
                  GGUF_TYPE_FLOAT32 = 6,
                  GGUF_TYPE_BOOL = 7,
                  GGUF_TYPE_STRING = 8,
                  GGUF_TYPE_ARRAY = 9,
                  GGUF_TYPE_UINT64 = 10,
                  GGUF_TYPE_INT64 = 11,
                  GGUF_TYPE_FLOAT64 = 12,
                  GGUF_TYPE_COUNT,
};

struct gguf_str { /* a view; not NUL-terminated */
    const char *ptr;
    uint64_t len;
};

struct gguf_kv {
    struct gguf_str key;
    enum gguf_vtype type;
    union {
        uint64_t u64; /* every unsigned integer type */
        int64_t i64;  /* every signed integer type */
        double f64;   /* FLOAT32 and FLOAT64 */
        bool b;
        struct gguf_str str;
    } v;
    /* type == GGUF_TYPE_ARRAY: */
    enum gguf_vtype arr_type;
    uint64_t arr_n;
    const uint8_t *arr_data;   /* first element in the file (fixed-size element types) */
    struct gguf_str *arr_strs; /* [arr_n] when arr_type == STRING; owned by struct gguf */
    const uint8_t *raw;        /* the encoded value (after the type field) in the file */
    uint64_t raw_len;
};

struct gguf_tensor {
    struct gguf_str name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the fastest-moving dimension; unused dims are 1 */
    int type;                  /* enum q_type value (checked to be known) */
    uint64_t offset;           /* relative to the data section */
    uint64_t size;             /* bytes */
    const void *data;          /* into the mapping */
};

struct gguf {
    const uint8_t *base; /* the whole file */
    uint64_t size;
    bool mapped; /* base is our mmap (else borrowed memory) */
    uint32_t version;
    uint64_t n_kv;
    struct gguf_kv *kv;
    uint64_t n_tensors;
    struct gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset;
};

/* Maps `path` read-only and parses it. On failure g is left closed and err names the problem. */
int gguf_open(struct gguf *g, const char *path, struct ol_err *err);
/* Parses a file image in memory; `data` is borrowed and must outlive g. */
int gguf_parse_memory(struct gguf *g, const void *data, size_t size, struct ol_err *err);
/* Frees the index and unmaps. Accepts a zeroed or closed struct. */
void gguf_close(struct gguf *g);

/* Lookup: the last kv with that key, or NULL. */
const struct gguf_kv *gguf_find(const struct gguf *g, const char *key);
const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name);

/* Typed getters: true and *out set when the key exists with a compatible type and the value
 * fits; false otherwise (*out untouched). Integers convert between widths when in range. */
bool gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out);
bool gguf_get_i64(const struct gguf *g, const char *key, int64_t *out);
bool gguf_get_f32(const struct gguf *g, const char *key, float *out);
bool gguf_get_bool(const struct gguf *g, const char *key, bool *out);
bool gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out);
/* The array under `key` when its element type is `elem` (any integer type matches
 * GGUF_TYPE_INT64 when elem is given as that), else NULL. */
const struct gguf_kv *gguf_get_arr(const struct gguf *g, const char *key, enum gguf_vtype elem);
/* Element i of an integer array as int64 (i < arr_n). */
int64_t gguf_arr_int(const struct gguf_kv *kv, uint64_t i);
/* Element i of a FLOAT32/FLOAT64 array. */
float gguf_arr_f32(const struct gguf_kv *kv, uint64_t i);
bool gguf_str_eq(struct gguf_str s, const char *c);
/* Size in bytes of one element of a fixed-size type (0 for STRING and ARRAY). */
size_t gguf_vtype_size(enum gguf_vtype t);
const char *gguf_vtype_name(enum gguf_vtype t);

/* ---- writer ---- */

struct gguf_writer;
struct gguf_writer *gguf_writer_new(void);
void gguf_writer_free(struct gguf_writer *w);
/* Setters replace an existing key of the same name. Strings are copied. */
int gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v);
int gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v);
int gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v);
int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v);
/* Array of fixed-size elements (copied). */
int gguf_writer_set_arr(struct gguf_writer *w, const char *key, enum gguf_vtype elem,
                        const void *data, uint64_t n);
int gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const struct gguf_str *strs,
                            uint64_t n);
/* Copies a kv read by the reader (any type, nested arrays included). */
int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf *src, const struct gguf_kv *kv);
/* Adds a tensor; `data` (size bytes) is kept, not copied: it must live until the write.
 * ne[] has n_dims entries, fastest first. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, int type, uint32_t n_dims,
                           const int64_t *ne, const void *data, uint64_t size);
/* Writes version 3 with the given alignment (key general.alignment written when not 32) to
 * `path` atomically (temp + fsync + rename). */
int gguf_writer_write(struct gguf_writer *w, const char *path, struct ol_err *err);
/* Serialises into a heap buffer (for tests and fuzz seeds); *out freed with free(). */
int gguf_writer_to_memory(struct gguf_writer *w, uint8_t **out, size_t *len, struct ol_err *err);

#endif
