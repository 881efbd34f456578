/* GGUF reader and writer: (a) every shared model opens and known facts hold; (b) truncated and
 * byte-flipped files give an error with a message, never a crash (this matters most under
 * `make MODE=asan test`: each prefix sits at the very end of its heap block, so any read past
 * the prefix is caught); (c) the writer round-trips every value type and tensors at alignments
 * 32 and 64, in memory and on disk, and copying stories260K's metadata reproduces it. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "engine/gguf.h"
#include "engine/quant.h"

#define MAX_MODELS 256

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void) { /* splitmix64: fixed seed, same sequence every run */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t n) { return n ? rng_next() % n : 0; }

/* ---- helpers ---- */

static char *model_paths[MAX_MODELS];
static int n_model_paths;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void find_models(const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) < 0) continue;
        size_t n = strlen(e->d_name);
        if (S_ISDIR(st.st_mode) && depth < 4) {
            find_models(path, depth + 1);
        } else if (S_ISREG(st.st_mode) && n > 5 && strcmp(e->d_name + n - 5, ".gguf") == 0 &&
                   n_model_paths < MAX_MODELS) {
            model_paths[n_model_paths++] = ol_strdup(path);
        }
    }
    closedir(d);
}

static uint8_t *read_file(const char *path, size_t *len) {
    char *data = NULL;
    struct ol_err err = {0};
    if (ol_file_read(path, (size_t)1 << 30, &data, len, &err) < 0) {
        fprintf(stderr, "cannot read %s: %s\n", path, err.msg);
        return NULL;
    }
    return (uint8_t *)data;
}

static volatile uint64_t sink;

static uint64_t touch(const void *p, uint64_t len) {
    if (!len) return 0;
    const uint8_t *b = p;
    return (uint64_t)b[0] + b[len - 1];
}

/* Reads every view a parsed file hands out, as the fuzz target does. */
static void walk(const struct gguf *g) {
    uint64_t acc = 0;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const struct gguf_kv *kv = &g->kv[i];
        acc += touch(kv->key.ptr, kv->key.len) + touch(kv->raw, kv->raw_len);
        if (kv->type == GGUF_TYPE_STRING) acc += touch(kv->v.str.ptr, kv->v.str.len);
        if (kv->type != GGUF_TYPE_ARRAY) continue;
        if (kv->arr_type == GGUF_TYPE_STRING) {
            for (uint64_t j = 0; j < kv->arr_n; j++)
                acc += touch(kv->arr_strs[j].ptr, kv->arr_strs[j].len);
        } else if (gguf_vtype_size(kv->arr_type)) {
            for (uint64_t j = 0; j < kv->arr_n; j++)
                acc += (uint64_t)gguf_arr_int(kv, j) + (gguf_arr_f32(kv, j) > 0.0f);
        }
    }
    for (uint64_t i = 0; i < g->n_tensors; i++)
        acc += touch(g->tensors[i].name.ptr, g->tensors[i].name.len) +
               touch(g->tensors[i].data, g->tensors[i].size);
    sink += acc;
}

/* Bytes a parser must see for the file to be complete: the end of the last tensor's data, or
 * for a file without tensors the end of its metadata. */
static uint64_t needed_len(const struct gguf *g) {
    uint64_t end = 24;
    for (uint64_t i = 0; i < g->n_kv; i++)
        end = OL_MAX(end, (uint64_t)(g->kv[i].raw - g->base) + g->kv[i].raw_len);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        end = OL_MAX(end, g->data_offset + g->tensors[i].offset + g->tensors[i].size);
    return end;
}

/* End of the tensor-info section (an upper bound: the aligned data offset). */
static uint64_t header_len(const struct gguf *g) {
    return g->n_tensors ? g->data_offset : needed_len(g);
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* ---- (a) every shared model opens; known facts ---- */

static const struct gguf_kv *last_kv_named(const struct gguf *g, const char *key) {
    const struct gguf_kv *last = NULL;
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (gguf_str_eq(g->kv[i].key, key)) last = &g->kv[i];
    return last;
}

static int count_kv_named(const struct gguf *g, const char *key) {
    int n = 0;
    for (uint64_t i = 0; i < g->n_kv; i++)
        n += gguf_str_eq(g->kv[i].key, key);
    return n;
}

static void test_open_all(void) {
    static const char *const required[] = {
        SHARED("models/stories260K/stories260K.gguf"),
        SHARED("models/llama-2-tiny-random/llama-2-tiny-random.gguf"),
        SHARED("models/ggml-vocab/ggml-vocab-dbrx.gguf"),
        SHARED("models/ggml-vocab/ggml-vocab-qwen2.gguf"),
        SHARED("models/synthetic/syn-qwen2-Q4_K_M.gguf"),
    };
    for (size_t i = 0; i < OL_ARRAY_LEN(required); i++) {
        bool found = false;
        for (int j = 0; j < n_model_paths; j++)
            found = found || strcmp(model_paths[j], required[i]) == 0;
        if (!found) fprintf(stderr, "missing model file %s\n", required[i]);
        CHECK(found);
    }
    CHECK(n_model_paths >= 50);

    for (int i = 0; i < n_model_paths; i++) {
        struct gguf g;
        struct ol_err err = {0};
        int rc = gguf_open(&g, model_paths[i], &err);
        if (rc < 0) fprintf(stderr, "%s: %s\n", model_paths[i], err.msg);
        CHECK_EQ(rc, 0);
        if (rc < 0) continue;
        walk(&g);
        CHECK(g.version == 3 || g.version == 2);
        CHECK(gguf_find(&g, "general.architecture") != NULL);
        const char *name = base_name(model_paths[i]);
        if (strncmp(name, "ggml-vocab", 10) == 0) {
            CHECK_EQ(g.n_tensors, 0);
            CHECK(gguf_get_arr(&g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING) != NULL);
        } else {
            CHECK(gguf_find_tensor(&g, "token_embd.weight") != NULL);
            CHECK(gguf_find_tensor(&g, "blk.0.attn_q.weight") != NULL);
        }
        for (uint64_t t = 0; t < g.n_tensors; t++) {
            uint64_t rel = (uint64_t)((const uint8_t *)g.tensors[t].data - g.base);
            CHECK_EQ(rel % g.alignment, 0);
            CHECK(rel + g.tensors[t].size <= g.size);
        }
        gguf_close(&g);
    }

    struct gguf g;
    struct ol_err err = {0};
    if (gguf_open(&g, SHARED("models/stories260K/stories260K.gguf"), &err) == 0) {
        CHECK_EQ(g.version, 3);
        CHECK_EQ(g.n_kv, 19);
        CHECK_EQ(g.n_tensors, 48);
        CHECK_EQ(g.alignment, 32);
        uint32_t u = 0;
        CHECK(gguf_get_u32(&g, "llama.embedding_length", &u));
        CHECK_EQ(u, 64);
        CHECK(gguf_get_u32(&g, "llama.block_count", &u));
        CHECK_EQ(u, 5);
        float eps = 0;
        CHECK(gguf_get_f32(&g, "llama.attention.layer_norm_rms_epsilon", &eps));
        CHECK_NEAR(eps, 1e-5, 1e-9);
        struct gguf_str s = {0};
        CHECK(gguf_get_str(&g, "general.architecture", &s) && gguf_str_eq(s, "llama"));
        const struct gguf_kv *tok = gguf_get_arr(&g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING);
        CHECK(tok && tok->arr_n == 512);
        const struct gguf_kv *scores = gguf_get_arr(&g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32);
        CHECK(scores && scores->arr_n == 512);
        const struct gguf_kv *types =
            gguf_get_arr(&g, "tokenizer.ggml.token_type", GGUF_TYPE_INT64);
        CHECK(types && types->arr_n == 512);
        if (tok && tok->arr_n == 512) CHECK(gguf_str_eq(tok->arr_strs[1], "<s>"));
        if (types && types->arr_n == 512) CHECK_EQ(gguf_arr_int(types, 1), 3); /* control */
        CHECK(gguf_get_u32(&g, "tokenizer.ggml.seperator_token_id", &u) && u == 4294967295u);
        CHECK(!gguf_get_u32(&g, "llama.rope.freq_base", &u));
        const struct gguf_tensor *t = gguf_find_tensor(&g, "token_embd.weight");
        CHECK(t && t->type == Q_TYPE_F32 && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 512);
        CHECK(t && t->size == 64 * 512 * 4);
        CHECK(gguf_find_tensor(&g, "no.such.tensor") == NULL);
        CHECK(gguf_find(&g, "no.such.key") == NULL);
        gguf_close(&g);
    } else {
        fprintf(stderr, "stories260K: %s\n", err.msg);
        CHECK(0);
    }

    if (gguf_open(&g, SHARED("models/llama-2-tiny-random/llama-2-tiny-random.gguf"), &err) == 0) {
        CHECK_EQ(g.n_kv, 18);
        CHECK_EQ(g.n_tensors, 12);
        uint32_t ft = 0;
        CHECK(gguf_get_u32(&g, "general.file_type", &ft) && ft == 1);
        const struct gguf_tensor *t = gguf_find_tensor(&g, "blk.0.attn_q.weight");
        CHECK(t && t->type == Q_TYPE_F16);
        gguf_close(&g);
    } else {
        CHECK(0);
    }

    /* dbrx: general.file_type appears twice; the last one wins. */
    if (gguf_open(&g, SHARED("models/ggml-vocab/ggml-vocab-dbrx.gguf"), &err) == 0) {
        CHECK_EQ(count_kv_named(&g, "general.file_type"), 2);
        const struct gguf_kv *kv = gguf_find(&g, "general.file_type");
        CHECK(kv != NULL && kv == last_kv_named(&g, "general.file_type"));
        CHECK(kv != NULL && kv != &g.kv[0]);
        gguf_close(&g);
    } else {
        fprintf(stderr, "dbrx: %s\n", err.msg);
        CHECK(0);
    }

    /* Not-a-file and missing-file errors. */
    CHECK_EQ(gguf_open(&g, SHARED("models/no-such-model.gguf"), &err), OL_ENOTFOUND);
    CHECK(err.msg[0] != 0);
    CHECK(gguf_open(&g, SHARED("models"), &err) < 0);
    CHECK(gguf_open(&g, SHARED("models/PROVENANCE.md"), &err) == OL_EFORMAT);
}

/* ---- (b) truncation and byte flips ---- */

static char tmp_path[64];

static void write_tmp(const void *data, size_t len) {
    FILE *f = fopen(tmp_path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK_EQ(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Parses prefixes of one file. The prefix is placed at the end of a block of the file's size so
 * the sanitizer traps any read past it; only the header part is copied each time because the
 * parser never reads tensor data. */
static void truncate_one(const char *path, int n_on_disk) {
    size_t size;
    uint8_t *file = read_file(path, &size);
    CHECK(file != NULL);
    if (!file) return;
    struct gguf g;
    struct ol_err err = {0};
    if (gguf_parse_memory(&g, file, size, &err) < 0) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        CHECK(0);
        free(file);
        return;
    }
    uint64_t need = needed_len(&g);
    uint64_t head = header_len(&g);
    gguf_close(&g);
    uint8_t *block = malloc(size);
    CHECK(block != NULL);
    int bad = 0;
    for (int k = 0; k < 100 && block; k++) {
        /* Half the cuts land in the metadata, half anywhere; a few at the edges. */
        size_t cut = k & 1 ? (size_t)rng_below(size) : (size_t)rng_below(head + 1);
        if (k == 0) cut = 0;
        if (k == 2) cut = (size_t)need - 1;
        if (k == 4) cut = (size_t)OL_MIN(head, need - 1);
        uint8_t *prefix = block + (size - cut);
        memcpy(prefix, file, OL_MIN(cut, (size_t)head));
        memset(&err, 0, sizeof(err));
        int rc = gguf_parse_memory(&g, prefix, cut, &err);
        if (rc == 0) {
            walk(&g);
            gguf_close(&g);
        }
        bool ok = cut < need ? rc == OL_EFORMAT && err.msg[0] != 0 : rc == 0;
        if (!ok && bad++ < 3)
            fprintf(stderr, "%s cut at %zu (need %llu): rc %d (%s)\n", base_name(path), cut,
                    (unsigned long long)need, rc, err.msg);
        CHECK(ok);
        if (k < n_on_disk) {
            write_tmp(file, cut);
            memset(&err, 0, sizeof(err));
            rc = gguf_open(&g, tmp_path, &err);
            if (rc == 0) gguf_close(&g);
            CHECK(cut < need ? rc < 0 && err.msg[0] != 0 : rc == 0);
        }
    }
    free(block);
    free(file);
}

/* Flips 1..4 random bytes in the header region, parses, and restores them. */
static void flip_one(const char *path, int rounds) {
    size_t size;
    uint8_t *file = read_file(path, &size);
    CHECK(file != NULL);
    if (!file) return;
    struct gguf g;
    struct ol_err err = {0};
    if (gguf_parse_memory(&g, file, size, &err) < 0) {
        CHECK(0);
        free(file);
        return;
    }
    uint64_t head = header_len(&g);
    gguf_close(&g);
    uint8_t *copy = malloc(size);
    CHECK(copy != NULL);
    if (!copy) {
        free(file);
        return;
    }
    memcpy(copy, file, size);
    int n_ok = 0;
    for (int r = 0; r < rounds; r++) {
        size_t at[4];
        int n = 1 + (int)rng_below(4);
        for (int i = 0; i < n; i++) {
            /* Bias toward the fixed header and the first entries, where counts and types live. */
            at[i] = (size_t)(r & 1 ? rng_below(OL_MIN(head, 512)) : rng_below(head));
            copy[at[i]] ^= (uint8_t)(1 + rng_below(255));
        }
        memset(&err, 0, sizeof(err));
        int rc = gguf_parse_memory(&g, copy, size, &err);
        if (rc == 0) {
            walk(&g);
            gguf_close(&g);
            n_ok++;
        } else {
            CHECK(err.msg[0] != 0);
        }
        for (int i = 0; i < n; i++)
            copy[at[i]] = file[at[i]];
    }
    CHECK(memcmp(copy, file, size) == 0);
    free(copy);
    free(file);
}

static void test_truncate_and_flip(void) {
    for (int i = 0; i < n_model_paths; i++) {
        bool few = strstr(model_paths[i], "stories260K") || strstr(model_paths[i], "tiny-random") ||
                   strstr(model_paths[i], "llama-spm") ||
                   strstr(model_paths[i], "syn-qwen2-Q4_K_M");
        truncate_one(model_paths[i], few ? 3 : 0);
        if (few) flip_one(model_paths[i], 300);
    }
    /* Tiny files: empty, shorter than the magic, magic only, wrong magic, bad version. */
    static const struct {
        const char *data;
        size_t len;
    } tiny[] = {
        {"", 0},
        {"GG", 2},
        {"GGUF", 4},
        {"GGUF\x03\0\0\0", 8},
        {"GGML\x03\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24},
        {"GGUF\x09\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24},
    };
    for (size_t i = 0; i < OL_ARRAY_LEN(tiny); i++) {
        struct gguf g;
        struct ol_err err = {0};
        CHECK_EQ(gguf_parse_memory(&g, tiny[i].data, tiny[i].len, &err), OL_EFORMAT);
        CHECK(err.msg[0] != 0);
        write_tmp(tiny[i].data, tiny[i].len);
        memset(&err, 0, sizeof(err));
        CHECK(gguf_open(&g, tmp_path, &err) < 0);
        CHECK(err.msg[0] != 0);
    }
    /* The smallest valid file: no metadata, no tensors. */
    struct gguf g;
    struct ol_err err = {0};
    CHECK_EQ(gguf_parse_memory(&g, "GGUF\x03\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24, &err), 0);
    gguf_close(&g);
}

/* ---- (c) writer round trip ---- */

/* A hand encoder for the source file: it reaches types the writer's setters do not (8/16/64-bit
 * scalars, float64, nested arrays), which then travel through gguf_writer_copy_kv. */
static void enc(struct ol_buf *b, const void *p, size_t n) { CHECK_EQ(ol_buf_append(b, p, n), 0); }
static void enc_u32(struct ol_buf *b, uint32_t v) { enc(b, &v, 4); }
static void enc_u64(struct ol_buf *b, uint64_t v) { enc(b, &v, 8); }
static void enc_str(struct ol_buf *b, const char *s) {
    enc_u64(b, strlen(s));
    enc(b, s, strlen(s));
}
static void enc_key(struct ol_buf *b, const char *key, enum gguf_vtype t) {
    enc_str(b, key);
    enc_u32(b, t);
}

/* A file image with one kv of every scalar type, an array of every element type, nested
 * arrays (two levels, with strings inside) and empty arrays. Returns the kv count. */
static int build_all_types(struct ol_buf *b) {
    int n = 0;
    enc(b, "GGUF", 4);
    enc_u32(b, 3);
    enc_u64(b, 0);
    size_t n_kv_at = b->len;
    enc_u64(b, 0); /* patched below */
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    uint32_t u32 = 4000000000u;
    int32_t i32 = -2000000000;
    float f32 = 3.25f;
    uint8_t bl = 1;
    uint64_t u64 = 18000000000000000000ull;
    int64_t i64 = -9000000000000000000ll;
    double f64 = -1.0 / 3.0;
    enc_key(b, "t.u8", GGUF_TYPE_UINT8), enc(b, &u8, 1), n++;
    enc_key(b, "t.i8", GGUF_TYPE_INT8), enc(b, &i8, 1), n++;
    enc_key(b, "t.u16", GGUF_TYPE_UINT16), enc(b, &u16, 2), n++;
    enc_key(b, "t.i16", GGUF_TYPE_INT16), enc(b, &i16, 2), n++;
    enc_key(b, "t.u32", GGUF_TYPE_UINT32), enc(b, &u32, 4), n++;
    enc_key(b, "t.i32", GGUF_TYPE_INT32), enc(b, &i32, 4), n++;
    enc_key(b, "t.f32", GGUF_TYPE_FLOAT32), enc(b, &f32, 4), n++;
    enc_key(b, "t.bool", GGUF_TYPE_BOOL), enc(b, &bl, 1), n++;
    enc_key(b, "t.str", GGUF_TYPE_STRING), enc_str(b, "h\xc3\xa9llo\n"), n++;
    enc_key(b, "t.empty_str", GGUF_TYPE_STRING), enc_str(b, ""), n++;
    enc_key(b, "t.u64", GGUF_TYPE_UINT64), enc(b, &u64, 8), n++;
    enc_key(b, "t.i64", GGUF_TYPE_INT64), enc(b, &i64, 8), n++;
    enc_key(b, "t.f64", GGUF_TYPE_FLOAT64), enc(b, &f64, 8), n++;
    /* An array of every fixed-size element type, 5 elements of i*37-70 (as the type allows). */
    static const enum gguf_vtype fixed[] = {
        GGUF_TYPE_UINT8,  GGUF_TYPE_INT8,  GGUF_TYPE_UINT16,  GGUF_TYPE_INT16,
        GGUF_TYPE_UINT32, GGUF_TYPE_INT32, GGUF_TYPE_FLOAT32, GGUF_TYPE_BOOL,
        GGUF_TYPE_UINT64, GGUF_TYPE_INT64, GGUF_TYPE_FLOAT64,
    };
    for (size_t k = 0; k < OL_ARRAY_LEN(fixed); k++) {
        char key[64];
        snprintf(key, sizeof(key), "t.arr.%s", gguf_vtype_name(fixed[k]));
        enc_key(b, key, GGUF_TYPE_ARRAY);
        enc_u32(b, fixed[k]);
        enc_u64(b, 5);
        for (int i = 0; i < 5; i++) {
            int64_t v = i * 37 - 70;
            bool is_unsigned = fixed[k] == GGUF_TYPE_UINT8 || fixed[k] == GGUF_TYPE_UINT16 ||
                               fixed[k] == GGUF_TYPE_UINT32 || fixed[k] == GGUF_TYPE_UINT64;
            if (is_unsigned) v = i * 37;
            if (fixed[k] == GGUF_TYPE_BOOL) v = i & 1;
            if (fixed[k] == GGUF_TYPE_FLOAT32) {
                float f = (float)v * 0.5f;
                enc(b, &f, 4);
            } else if (fixed[k] == GGUF_TYPE_FLOAT64) {
                double d = (double)v * 0.25;
                enc(b, &d, 8);
            } else {
                enc(b, &v, gguf_vtype_size(fixed[k])); /* little-endian truncation */
            }
        }
        n++;
    }
    enc_key(b, "t.arr.str", GGUF_TYPE_ARRAY);
    enc_u32(b, GGUF_TYPE_STRING);
    enc_u64(b, 4);
    enc_str(b, "a"), enc_str(b, ""), enc_str(b, "<|im_start|>"), enc_str(b, "\xe2\x96\x81the");
    n++;
    enc_key(b, "t.arr.empty", GGUF_TYPE_ARRAY);
    enc_u32(b, GGUF_TYPE_INT32);
    enc_u64(b, 0);
    n++;
    /* [[1, 2], [], [["x", "yz"]]]: arrays of arrays, one holding strings. */
    enc_key(b, "t.arr.nested", GGUF_TYPE_ARRAY);
    enc_u32(b, GGUF_TYPE_ARRAY);
    enc_u64(b, 3);
    enc_u32(b, GGUF_TYPE_UINT16), enc_u64(b, 2), enc(b, "\x01\x00\x02\x00", 4);
    enc_u32(b, GGUF_TYPE_FLOAT32), enc_u64(b, 0);
    enc_u32(b, GGUF_TYPE_ARRAY), enc_u64(b, 1);
    enc_u32(b, GGUF_TYPE_STRING), enc_u64(b, 2), enc_str(b, "x"), enc_str(b, "yz");
    n++;
    uint64_t n64 = (uint64_t)n;
    memcpy(b->data + n_kv_at, &n64, 8);
    return n;
}

static void check_all_types(const struct gguf *g) {
    int64_t i;
    uint32_t u;
    float f;
    bool bl;
    struct gguf_str s;
    const struct gguf_kv *kv;
    CHECK(gguf_get_i64(g, "t.u8", &i) && i == 200);
    CHECK(gguf_get_i64(g, "t.i8", &i) && i == -100);
    CHECK(gguf_get_i64(g, "t.u16", &i) && i == 60000);
    CHECK(gguf_get_i64(g, "t.i16", &i) && i == -30000);
    CHECK(gguf_get_u32(g, "t.u32", &u) && u == 4000000000u);
    CHECK(gguf_get_i64(g, "t.i32", &i) && i == -2000000000);
    CHECK(!gguf_get_u32(g, "t.i32", &u));
    CHECK(gguf_get_f32(g, "t.f32", &f) && f == 3.25f);
    CHECK(gguf_get_bool(g, "t.bool", &bl) && bl);
    CHECK(gguf_get_str(g, "t.str", &s) && gguf_str_eq(s, "h\xc3\xa9llo\n"));
    CHECK(gguf_get_str(g, "t.empty_str", &s) && s.len == 0);
    kv = gguf_find(g, "t.u64");
    CHECK(kv && kv->type == GGUF_TYPE_UINT64 && kv->v.u64 == 18000000000000000000ull);
    CHECK(!gguf_get_i64(g, "t.u64", &i)); /* does not fit */
    CHECK(gguf_get_i64(g, "t.i64", &i) && i == -9000000000000000000ll);
    kv = gguf_find(g, "t.f64");
    CHECK(kv && kv->type == GGUF_TYPE_FLOAT64 && kv->v.f64 == -1.0 / 3.0);
    CHECK(gguf_get_f32(g, "t.f64", &f) && f == (float)(-1.0 / 3.0));

    kv = gguf_get_arr(g, "t.arr.i16", GGUF_TYPE_INT64);
    CHECK(kv && kv->arr_n == 5 && gguf_arr_int(kv, 0) == -70 && gguf_arr_int(kv, 4) == 78);
    kv = gguf_get_arr(g, "t.arr.u8", GGUF_TYPE_INT64);
    CHECK(kv && gguf_arr_int(kv, 4) == 148);
    kv = gguf_get_arr(g, "t.arr.i8", GGUF_TYPE_INT64);
    CHECK(kv && gguf_arr_int(kv, 0) == -70);
    kv = gguf_get_arr(g, "t.arr.u64", GGUF_TYPE_INT64);
    CHECK(kv && gguf_arr_int(kv, 3) == 111);
    kv = gguf_get_arr(g, "t.arr.i64", GGUF_TYPE_INT64);
    CHECK(kv && gguf_arr_int(kv, 1) == -33);
    kv = gguf_get_arr(g, "t.arr.u32", GGUF_TYPE_INT64);
    CHECK(kv && gguf_arr_int(kv, 2) == 74);
    kv = gguf_get_arr(g, "t.arr.i32", GGUF_TYPE_INT64);
    CHECK(kv && gguf_arr_int(kv, 2) == 4);
    kv = gguf_get_arr(g, "t.arr.u16", GGUF_TYPE_INT64);
    CHECK(kv && gguf_arr_int(kv, 1) == 37);
    kv = gguf_get_arr(g, "t.arr.bool", GGUF_TYPE_BOOL);
    CHECK(kv && gguf_arr_int(kv, 0) == 0 && gguf_arr_int(kv, 1) == 1);
    kv = gguf_get_arr(g, "t.arr.f32", GGUF_TYPE_FLOAT32);
    CHECK(kv && gguf_arr_f32(kv, 0) == -35.0f && gguf_arr_f32(kv, 4) == 39.0f);
    kv = gguf_get_arr(g, "t.arr.f64", GGUF_TYPE_FLOAT32);
    CHECK(kv && gguf_arr_f32(kv, 0) == -17.5f);
    CHECK(gguf_get_arr(g, "t.arr.f32", GGUF_TYPE_INT64) == NULL);
    kv = gguf_get_arr(g, "t.arr.str", GGUF_TYPE_STRING);
    CHECK(kv && kv->arr_n == 4);
    if (kv && kv->arr_n == 4) {
        CHECK(gguf_str_eq(kv->arr_strs[0], "a"));
        CHECK(kv->arr_strs[1].len == 0);
        CHECK(gguf_str_eq(kv->arr_strs[2], "<|im_start|>"));
        CHECK(gguf_str_eq(kv->arr_strs[3], "\xe2\x96\x81the"));
    }
    kv = gguf_get_arr(g, "t.arr.empty", GGUF_TYPE_INT32);
    CHECK(kv && kv->arr_n == 0);
    kv = gguf_find(g, "t.arr.nested");
    CHECK(kv && kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_ARRAY && kv->arr_n == 3);
    /* type(4) n(8) + [u16 n 2 elems](16) + [f32 n](12) + [arr n [str n "x" "yz"]](12+12+9+10) */
    CHECK(kv && kv->raw_len == 12 + 16 + 12 + 12 + 12 + 9 + 10);
}

/* The same file through the setters for what they cover. */
static void set_via_setters(struct gguf_writer *w) {
    CHECK_EQ(gguf_writer_set_u32(w, "s.u32", 7), 0);
    CHECK_EQ(gguf_writer_set_i32(w, "s.i32", -7), 0);
    CHECK_EQ(gguf_writer_set_f32(w, "s.f32", 0.1f), 0);
    CHECK_EQ(gguf_writer_set_bool(w, "s.bool", false), 0);
    CHECK_EQ(gguf_writer_set_str(w, "s.str", "replace me"), 0);
    CHECK_EQ(gguf_writer_set_str(w, "s.str", "value"), 0); /* replaces in place */
    int32_t ints[3] = {1, -2, 3};
    CHECK_EQ(gguf_writer_set_arr(w, "s.arr.i32", GGUF_TYPE_INT32, ints, 3), 0);
    float fl[2] = {0.5f, -0.25f};
    CHECK_EQ(gguf_writer_set_arr(w, "s.arr.f32", GGUF_TYPE_FLOAT32, fl, 2), 0);
    CHECK_EQ(gguf_writer_set_arr(w, "s.arr.none", GGUF_TYPE_UINT8, NULL, 0), 0);
    struct gguf_str strs[3] = {{"x", 1}, {"", 0}, {"long string", 11}};
    CHECK_EQ(gguf_writer_set_arr_str(w, "s.arr.str", strs, 3), 0);
    CHECK(gguf_writer_set_arr(w, "s.bad", GGUF_TYPE_STRING, strs, 1) < 0);
}

static void check_setters(const struct gguf *g) {
    uint32_t u;
    int64_t i;
    float f;
    bool bl = true;
    struct gguf_str s;
    CHECK(gguf_get_u32(g, "s.u32", &u) && u == 7);
    CHECK(gguf_get_i64(g, "s.i32", &i) && i == -7);
    CHECK(gguf_get_f32(g, "s.f32", &f) && f == 0.1f);
    CHECK(gguf_get_bool(g, "s.bool", &bl) && !bl);
    CHECK(gguf_get_str(g, "s.str", &s) && gguf_str_eq(s, "value"));
    CHECK(gguf_find(g, "s.bad") == NULL);
    const struct gguf_kv *kv = gguf_get_arr(g, "s.arr.i32", GGUF_TYPE_INT32);
    CHECK(kv && kv->arr_n == 3 && gguf_arr_int(kv, 1) == -2);
    kv = gguf_get_arr(g, "s.arr.f32", GGUF_TYPE_FLOAT32);
    CHECK(kv && kv->arr_n == 2 && gguf_arr_f32(kv, 1) == -0.25f);
    kv = gguf_get_arr(g, "s.arr.none", GGUF_TYPE_UINT8);
    CHECK(kv && kv->arr_n == 0);
    kv = gguf_get_arr(g, "s.arr.str", GGUF_TYPE_STRING);
    CHECK(kv && kv->arr_n == 3);
    if (kv && kv->arr_n == 3) CHECK(gguf_str_eq(kv->arr_strs[2], "long string"));
}

struct test_tensor {
    const char *name;
    enum q_type type;
    uint32_t n_dims;
    int64_t ne[4];
    uint8_t *data;
    uint64_t size;
};

static void round_trip(uint32_t alignment) {
    struct ol_buf src = {0};
    int n_src = build_all_types(&src);
    struct gguf gs;
    struct ol_err err = {0};
    CHECK_EQ(gguf_parse_memory(&gs, src.data, src.len, &err), 0);
    CHECK_EQ(gs.n_kv, n_src);
    check_all_types(&gs);

    struct gguf_writer *w = gguf_writer_new();
    CHECK(w != NULL);
    if (!w) return;
    CHECK_EQ(gguf_writer_set_str(w, "general.architecture", "test"), 0);
    if (alignment != GGUF_DEFAULT_ALIGNMENT)
        CHECK_EQ(gguf_writer_set_u32(w, "general.alignment", alignment), 0);
    for (uint64_t i = 0; i < gs.n_kv; i++)
        CHECK_EQ(gguf_writer_copy_kv(w, &gs, &gs.kv[i]), 0);
    set_via_setters(w);

    struct test_tensor ts[] = {
        {"t.f32", Q_TYPE_F32, 1, {7, 1, 1, 1}, NULL, 0},
        {"t.f16", Q_TYPE_F16, 2, {5, 3, 1, 1}, NULL, 0},
        {"t.q4_0", Q_TYPE_Q4_0, 2, {64, 3, 1, 1}, NULL, 0},
        {"t.q8_0", Q_TYPE_Q8_0, 3, {32, 2, 2, 1}, NULL, 0},
        {"t.q4_k", Q_TYPE_Q4_K, 2, {256, 2, 1, 1}, NULL, 0},
        {"t.q6_k", Q_TYPE_Q6_K, 4, {512, 1, 1, 2}, NULL, 0},
        {"t.bf16", Q_TYPE_BF16, 2, {3, 3, 1, 1}, NULL, 0},
        {"t.q5_1", Q_TYPE_Q5_1, 2, {32, 1, 1, 1}, NULL, 0},
    };
    for (size_t k = 0; k < OL_ARRAY_LEN(ts); k++) {
        const struct q_type_info *ti = q_type_info(ts[k].type);
        CHECK(ti != NULL);
        if (!ti) continue;
        ts[k].size =
            ts[k].ne[0] / ti->blck * ti->type_size * ts[k].ne[1] * ts[k].ne[2] * ts[k].ne[3];
        ts[k].data = malloc(ts[k].size);
        for (uint64_t j = 0; j < ts[k].size; j++)
            ts[k].data[j] = (uint8_t)rng_next();
        CHECK_EQ(gguf_writer_add_tensor(w, ts[k].name, ts[k].type, ts[k].n_dims, ts[k].ne,
                                        ts[k].data, ts[k].size),
                 0);
    }
    int64_t ne1[1] = {32};
    CHECK(gguf_writer_add_tensor(w, "t.bad", 1000, 1, ne1, NULL, 0) < 0);
    CHECK(gguf_writer_add_tensor(w, "t.bad", Q_TYPE_Q8_S, 1, ne1, NULL, 0) < 0); /* ours only */

    uint8_t *mem = NULL;
    size_t mem_len = 0;
    CHECK_EQ(gguf_writer_to_memory(w, &mem, &mem_len, &err), 0);
    CHECK_EQ(gguf_writer_write(w, tmp_path, &err), 0);
    size_t file_len = 0;
    uint8_t *file = read_file(tmp_path, &file_len);
    CHECK(file != NULL && file_len == mem_len && memcmp(file, mem, mem_len) == 0);
    CHECK_EQ(mem_len % alignment, 0);

    struct gguf gm, gf;
    CHECK_EQ(gguf_parse_memory(&gm, mem, mem_len, &err), 0);
    CHECK_EQ(gguf_open(&gf, tmp_path, &err), 0);
    const struct gguf *both[2] = {&gm, &gf};
    for (int b = 0; b < 2; b++) {
        const struct gguf *g = both[b];
        if (!g->base) continue;
        CHECK_EQ(g->version, 3);
        CHECK_EQ(g->alignment, alignment);
        CHECK_EQ(g->data_offset % alignment, 0);
        CHECK_EQ(g->n_kv, (uint64_t)n_src + 10 + (alignment != GGUF_DEFAULT_ALIGNMENT));
        check_all_types(g);
        check_setters(g);
        /* Copied values are byte-identical to the source, in order. */
        uint64_t first = 1 + (alignment != GGUF_DEFAULT_ALIGNMENT);
        for (uint64_t i = 0; i < gs.n_kv && first + i < g->n_kv; i++) {
            const struct gguf_kv *a = &gs.kv[i], *c = &g->kv[first + i];
            CHECK(a->key.len == c->key.len && memcmp(a->key.ptr, c->key.ptr, a->key.len) == 0);
            CHECK_EQ(a->type, c->type);
            CHECK(a->raw_len == c->raw_len && memcmp(a->raw, c->raw, a->raw_len) == 0);
        }
        CHECK_EQ(g->n_tensors, OL_ARRAY_LEN(ts));
        for (size_t k = 0; k < OL_ARRAY_LEN(ts) && k < g->n_tensors; k++) {
            const struct gguf_tensor *t = &g->tensors[k];
            CHECK(gguf_str_eq(t->name, ts[k].name));
            CHECK_EQ(t->type, ts[k].type);
            CHECK_EQ(t->n_dims, ts[k].n_dims);
            for (int d = 0; d < 4; d++)
                CHECK_EQ(t->ne[d], ts[k].ne[d]);
            CHECK_EQ(t->size, ts[k].size);
            CHECK_EQ(t->offset % alignment, 0);
            CHECK_EQ(((const uint8_t *)t->data - g->base) % alignment, 0);
            CHECK(memcmp(t->data, ts[k].data, ts[k].size) == 0);
            CHECK(gguf_find_tensor(g, ts[k].name) == t);
        }
    }
    gguf_close(&gm);
    gguf_close(&gf);
    free(file);
    free(mem);
    for (size_t k = 0; k < OL_ARRAY_LEN(ts); k++)
        free(ts[k].data);
    gguf_writer_free(w);
    gguf_close(&gs);
    ol_buf_free(&src);
}

/* copy_kv of every kv of stories260K, plus its tensors, reproduces the values; the rewritten
 * file is byte-identical to the original (llama.cpp lays files out the same way). */
static void test_copy_stories(void) {
    struct gguf g, h;
    struct ol_err err = {0};
    if (gguf_open(&g, SHARED("models/stories260K/stories260K.gguf"), &err) < 0) {
        CHECK(0);
        return;
    }
    struct gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < g.n_kv; i++)
        CHECK_EQ(gguf_writer_copy_kv(w, &g, &g.kv[i]), 0);
    uint8_t *mem = NULL;
    size_t len = 0;
    CHECK_EQ(gguf_writer_to_memory(w, &mem, &len, &err), 0);
    CHECK_EQ(gguf_parse_memory(&h, mem, len, &err), 0);
    CHECK_EQ(h.n_kv, g.n_kv);
    for (uint64_t i = 0; i < g.n_kv && i < h.n_kv; i++) {
        const struct gguf_kv *a = &g.kv[i], *b = &h.kv[i];
        CHECK(a->key.len == b->key.len && memcmp(a->key.ptr, b->key.ptr, a->key.len) == 0);
        CHECK_EQ(a->type, b->type);
        CHECK_EQ(a->arr_type, b->arr_type);
        CHECK_EQ(a->arr_n, b->arr_n);
        CHECK(a->raw_len == b->raw_len && memcmp(a->raw, b->raw, a->raw_len) == 0);
        if (a->type == GGUF_TYPE_ARRAY && a->arr_type == GGUF_TYPE_STRING)
            for (uint64_t j = 0; j < a->arr_n && j < b->arr_n; j++)
                CHECK(a->arr_strs[j].len == b->arr_strs[j].len &&
                      memcmp(a->arr_strs[j].ptr, b->arr_strs[j].ptr, a->arr_strs[j].len) == 0);
    }
    gguf_close(&h);
    free(mem);

    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const struct gguf_tensor *t = &g.tensors[i];
        char name[512];
        snprintf(name, sizeof(name), "%.*s", (int)t->name.len, t->name.ptr);
        CHECK_EQ(gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data, t->size), 0);
    }
    CHECK_EQ(gguf_writer_to_memory(w, &mem, &len, &err), 0);
    CHECK_EQ(len, g.size);
    CHECK(len == g.size && memcmp(mem, g.base, len) == 0);
    free(mem);
    gguf_writer_free(w);
    gguf_close(&g);
}

/* Many entries parse in about linear time (duplicate checks sort instead of comparing pairs),
 * and a duplicate tensor name among them is still refused. */
static void test_many_entries(void) {
    enum { N = 40000 };
    struct gguf_writer *w = gguf_writer_new();
    static const float zero[1];
    static char names[N + 1][16];
    int64_t ne[1] = {1};
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "t%07d", i);
        if (i % 16 == 0) /* the writer's setters search linearly: keep this part small */
            CHECK_EQ(gguf_writer_set_u32(w, names[i], (uint32_t)i), 0);
        CHECK_EQ(gguf_writer_add_tensor(w, names[i], Q_TYPE_F32, 1, ne, zero, 4), 0);
    }
    uint8_t *mem = NULL;
    size_t len = 0;
    struct gguf g;
    struct ol_err err = {0};
    CHECK_EQ(gguf_writer_to_memory(w, &mem, &len, &err), 0);
    int64_t t0 = ol_time_ns();
    CHECK_EQ(gguf_parse_memory(&g, mem, len, &err), 0);
    double s = (double)(ol_time_ns() - t0) / 1e9;
    CHECK_EQ(g.n_tensors, N);
    CHECK_EQ(g.n_kv, N / 16);
    gguf_close(&g);
    if (s > 2.0) fprintf(stderr, "parsing %d tensors took %.2f s\n", N, s);
    CHECK(s < 2.0); /* pairwise checks took tens of seconds here */
    free(mem);

    CHECK_EQ(gguf_writer_add_tensor(w, names[N / 2], Q_TYPE_F32, 1, ne, zero, 4), 0);
    CHECK_EQ(gguf_writer_to_memory(w, &mem, &len, &err), 0);
    CHECK_EQ(gguf_parse_memory(&g, mem, len, &err), OL_EFORMAT);
    CHECK(strstr(err.msg, "duplicate tensor t0020000") != NULL);
    free(mem);
    gguf_writer_free(w);
}

/* A file naming one of our internal type ids (the engine's activation formats) is refused as
 * an unknown type, like any id beyond the table. */
static void test_internal_type(void) {
    struct gguf_writer *w = gguf_writer_new();
    static const float zero[8];
    int64_t ne[1] = {8};
    CHECK_EQ(gguf_writer_add_tensor(w, "only", Q_TYPE_F32, 1, ne, zero, sizeof(zero)), 0);
    uint8_t *mem = NULL;
    size_t len = 0;
    struct ol_err err = {0};
    CHECK_EQ(gguf_writer_to_memory(w, &mem, &len, &err), 0);
    /* tensor info: name (u64 length, "only"), n_dims u32, ne u64, type u32 */
    uint8_t *name = mem ? memmem(mem, len, "only", 4) : NULL;
    CHECK(name != NULL);
    if (name) {
        uint8_t *type = name + 4 + 4 + 8;
        uint32_t t = Q_TYPE_Q8_S;
        memcpy(type, &t, 4);
        struct gguf g;
        CHECK_EQ(gguf_parse_memory(&g, mem, len, &err), OL_EFORMAT);
        CHECK(strstr(err.msg, "unknown type 40") != NULL);
    }
    free(mem);
    gguf_writer_free(w);
}

int main(void) {
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/test_engine_gguf.%ld.gguf", (long)getpid());
    find_models(SHARED("models"), 0);
    qsort(model_paths, (size_t)n_model_paths, sizeof(model_paths[0]), cmp_str);
    fprintf(stderr, "%d GGUF files under %s\n", n_model_paths, SHARED("models"));

    test_open_all();
    test_truncate_and_flip();
    round_trip(32);
    round_trip(64);
    test_copy_stories();
    test_many_entries();
    test_internal_type();

    unlink(tmp_path);
    for (int i = 0; i < n_model_paths; i++)
        free(model_paths[i]);
    return check_exit("test_engine_gguf");
}
