/* libFuzzer target for the GGUF reader: parse the input as a file image, then read every view
 * the reader hands out (keys, scalars, strings, array elements, tensor data) through the public
 * getters, so any view that points outside the input shows up under AddressSanitizer. */
#include <stdint.h>
#include <string.h>

#include "engine/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t fuzz_sink; /* keeps the reads from being optimised away */

static uint64_t touch(const void *p, uint64_t len) {
    if (len == 0) return 0;
    const uint8_t *b = p;
    return (uint64_t)b[0] + (uint64_t)b[len - 1] * 3;
}

/* Lookups are linear: only the first entries go through them, to keep huge inputs fast. */
#define FUZZ_MAX_LOOKUPS 64

static uint64_t walk_getters(const struct gguf *g, const struct gguf_kv *kv) {
    uint64_t acc = 0;
    /* Keys may hold NUL bytes or be long: those lookups just miss. */
    char key[128];
    size_t n = kv->key.len < sizeof(key) - 1 ? (size_t)kv->key.len : sizeof(key) - 1;
    memcpy(key, kv->key.ptr, n);
    key[n] = 0;
    const struct gguf_kv *found = gguf_find(g, key);
    if (found) acc += found->type;
    uint32_t u32;
    int64_t i64;
    float f;
    bool b;
    struct gguf_str s;
    if (gguf_get_u32(g, key, &u32)) acc += u32;
    if (gguf_get_i64(g, key, &i64)) acc += (uint64_t)i64;
    if (gguf_get_f32(g, key, &f)) acc += f > 0.0f;
    if (gguf_get_bool(g, key, &b)) acc += b;
    if (gguf_get_str(g, key, &s)) acc += touch(s.ptr, s.len);
    if (gguf_get_arr(g, key, GGUF_TYPE_INT64)) acc++;
    if (gguf_get_arr(g, key, GGUF_TYPE_FLOAT32)) acc++;
    return acc;
}

static uint64_t walk_kv(const struct gguf_kv *kv) {
    uint64_t acc = touch(kv->key.ptr, kv->key.len) + touch(kv->raw, kv->raw_len);
    acc += (uint64_t)gguf_vtype_name(kv->type)[0];
    switch (kv->type) {
    case GGUF_TYPE_STRING:
        acc += touch(kv->v.str.ptr, kv->v.str.len);
        break;
    case GGUF_TYPE_FLOAT32:
    case GGUF_TYPE_FLOAT64:
        acc += kv->v.f64 > 0.0;
        break;
    case GGUF_TYPE_BOOL:
        acc += kv->v.b;
        break;
    case GGUF_TYPE_ARRAY:
        acc += kv->arr_n;
        if (kv->arr_type == GGUF_TYPE_STRING) {
            for (uint64_t i = 0; i < kv->arr_n; i++)
                acc += touch(kv->arr_strs[i].ptr, kv->arr_strs[i].len);
        } else if (kv->arr_type == GGUF_TYPE_FLOAT32 || kv->arr_type == GGUF_TYPE_FLOAT64) {
            for (uint64_t i = 0; i < kv->arr_n; i++)
                acc += gguf_arr_f32(kv, i) > 0.0f;
        } else if (gguf_vtype_size(kv->arr_type) > 0) {
            for (uint64_t i = 0; i < kv->arr_n; i++)
                acc += (uint64_t)gguf_arr_int(kv, i) + (gguf_arr_f32(kv, i) > 0.0f);
        }
        /* arrays of arrays: only raw (above) describes them */
        break;
    default:
        acc += kv->v.u64;
        break;
    }
    return acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct gguf g;
    struct ol_err err;
    err.msg[0] = 0;
    if (gguf_parse_memory(&g, data, size, &err) < 0) {
        if (err.msg[0] == 0) __builtin_trap(); /* a failure must always carry a message */
        return 0;
    }
    uint64_t acc = g.version + g.alignment + g.data_offset;
    for (uint64_t i = 0; i < g.n_kv; i++) {
        acc += walk_kv(&g.kv[i]);
        if (i < FUZZ_MAX_LOOKUPS) acc += walk_getters(&g, &g.kv[i]);
    }
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const struct gguf_tensor *t = &g.tensors[i];
        acc += touch(t->name.ptr, t->name.len) + touch(t->data, t->size) + (uint64_t)t->type;
        for (int d = 0; d < GGUF_MAX_DIMS; d++)
            acc += (uint64_t)t->ne[d];
        if (i >= FUZZ_MAX_LOOKUPS) continue;
        char name[300];
        size_t n = t->name.len < sizeof(name) - 1 ? (size_t)t->name.len : sizeof(name) - 1;
        memcpy(name, t->name.ptr, n);
        name[n] = 0;
        if (gguf_find_tensor(&g, name)) acc++;
    }
    fuzz_sink += acc;
    gguf_close(&g);
    return 0;
}
