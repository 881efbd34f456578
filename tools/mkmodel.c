/* ollama-mkmodel: writes a synthetic llama or qwen2 GGUF with random weights, for benchmarks
 * and load tests at real model shapes without downloading a model.
 *
 * Tensor names, shapes, metadata keys and the choice of type per tensor follow llama.cpp's
 * converter and llama-quantize (non-pure mode: e.g. Q4_K_M puts Q6_K on output.weight and on
 * attn_v/ffn_down of about half the layers; rows not a multiple of 256 fall back to Q5_0/Q8_0).
 * The tokenizer metadata is copied from another GGUF and padded with "[PAD<id>]" tokens up to
 * --n-vocab. Weights come from a counter-based generator seeded per (tensor, row), so the file
 * is the same for a given seed whatever the thread count. Rows are generated and quantized by
 * all cores; the whole model is held in memory until the one write at the end. */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "engine/gguf.h"
#include "engine/quant.h"

#define MK_MAX_THREADS 64
#define MK_CHUNK_ELEMS (1 << 20) /* elements per work item */

/* ---- llama.cpp file types and per-tensor type rules ---- */

enum mk_role { /* what llama-quantize's rules look at */
               ROLE_EMBD,
               ROLE_OUTPUT,
               ROLE_ATTN_Q,
               ROLE_ATTN_K,
               ROLE_ATTN_V,
               ROLE_ATTN_OUT,
               ROLE_FFN_GATE,
               ROLE_FFN_UP,
               ROLE_FFN_DOWN,
               ROLE_NORM,
               ROLE_BIAS,
};

struct mk_ftype {
    const char *name;
    uint32_t ftype;   /* general.file_type: llama.cpp's LLAMA_FTYPE_* value */
    enum q_type base; /* the type of most 2-D weights */
    bool pure;        /* every 2-D weight is `base` (no mix rules) */
};

/* LLAMA_FTYPE numbers as in llama.h. Q3_K/Q4_K/Q5_K are the pure forms, labelled as the _S mix
 * (what `llama-quantize --pure` writes). */
static const struct mk_ftype mk_ftypes[] = {
    {"F32", 0, Q_TYPE_F32, true},       {"F16", 1, Q_TYPE_F16, true},
    {"Q4_0", 2, Q_TYPE_Q4_0, false},    {"Q4_1", 3, Q_TYPE_Q4_1, false},
    {"Q8_0", 7, Q_TYPE_Q8_0, false},    {"Q5_0", 8, Q_TYPE_Q5_0, false},
    {"Q5_1", 9, Q_TYPE_Q5_1, false},    {"Q2_K", 10, Q_TYPE_Q2_K, false},
    {"Q3_K_S", 11, Q_TYPE_Q3_K, false}, {"Q3_K_M", 12, Q_TYPE_Q3_K, false},
    {"Q3_K_L", 13, Q_TYPE_Q3_K, false}, {"Q4_K_S", 14, Q_TYPE_Q4_K, false},
    {"Q4_K_M", 15, Q_TYPE_Q4_K, false}, {"Q5_K_S", 16, Q_TYPE_Q5_K, false},
    {"Q5_K_M", 17, Q_TYPE_Q5_K, false}, {"Q6_K", 18, Q_TYPE_Q6_K, false},
    {"BF16", 32, Q_TYPE_BF16, true},    {"Q3_K", 11, Q_TYPE_Q3_K, true},
    {"Q4_K", 14, Q_TYPE_Q4_K, true},    {"Q5_K", 16, Q_TYPE_Q5_K, true},
};

enum {
    FT_Q2_K = 10,
    FT_Q3_K_M = 12,
    FT_Q3_K_L = 13,
    FT_Q4_K_S = 14,
    FT_Q4_K_M = 15,
    FT_Q5_K_M = 17
};

static bool is_quantized(enum q_type t) {
    return t != Q_TYPE_F32 && t != Q_TYPE_F16 && t != Q_TYPE_BF16;
}

static int blck(enum q_type t) { return q_type_info((int)t)->blck; }

/* llama.cpp: the first and last eighth of the layers, and every third one between. */
static bool use_more_bits(int il, int n_layer) {
    return il < n_layer / 8 || il >= 7 * n_layer / 8 || (il - n_layer / 8) % 3 == 2;
}

/* A row length the type cannot hold falls back as llama-quantize does, F16 as a last resort. */
static enum q_type fallback(enum q_type t, int64_t ne0) {
    if (ne0 % blck(t) == 0) return t;
    enum q_type f = Q_TYPE_F16;
    switch (t) {
    case Q_TYPE_Q2_K:
    case Q_TYPE_Q3_K:
        f = Q_TYPE_Q4_0;
        break;
    case Q_TYPE_Q4_K:
        f = Q_TYPE_Q5_0;
        break;
    case Q_TYPE_Q5_K:
        f = Q_TYPE_Q5_1;
        break;
    case Q_TYPE_Q6_K:
        f = Q_TYPE_Q8_0;
        break;
    default:
        break;
    }
    return ne0 % blck(f) == 0 ? f : Q_TYPE_F16;
}

/* The type llama-quantize picks for one tensor (dense llama-like models; no imatrix). */
static enum q_type pick_type(const struct mk_ftype *ft, enum mk_role role, int il, int n_layer,
                             bool tied, int n_gqa, int64_t ne0) {
    if (role == ROLE_NORM || role == ROLE_BIAS) return Q_TYPE_F32;
    enum q_type t = ft->base;
    if (!is_quantized(t)) return t;
    if (!ft->pure) {
        uint32_t f = ft->ftype;
        if (role == ROLE_OUTPUT || (tied && role == ROLE_EMBD)) {
            if (ne0 % blck(t) != 0)
                t = Q_TYPE_Q8_0;
            else if (t != Q_TYPE_Q8_0)
                t = Q_TYPE_Q6_K;
        } else if (role == ROLE_ATTN_V) {
            if (f == FT_Q2_K)
                t = n_gqa >= 4 ? Q_TYPE_Q4_K : Q_TYPE_Q3_K;
            else if (f == FT_Q3_K_M)
                t = il < 2 ? Q_TYPE_Q5_K : Q_TYPE_Q4_K;
            else if (f == FT_Q3_K_L)
                t = Q_TYPE_Q5_K;
            else if ((f == FT_Q4_K_M || f == FT_Q5_K_M) && use_more_bits(il, n_layer))
                t = Q_TYPE_Q6_K;
            else if (f == FT_Q4_K_S && il < 4)
                t = Q_TYPE_Q5_K;
        } else if (role == ROLE_FFN_DOWN) {
            if (f == FT_Q2_K)
                t = Q_TYPE_Q3_K;
            else if (f == FT_Q3_K_M)
                t = il < n_layer / 16 ? Q_TYPE_Q5_K : Q_TYPE_Q4_K;
            else if (f == FT_Q3_K_L)
                t = Q_TYPE_Q5_K;
            else if ((f == FT_Q4_K_M || f == FT_Q5_K_M) && use_more_bits(il, n_layer))
                t = Q_TYPE_Q6_K;
            else if (f == FT_Q4_K_S && il < n_layer / 8)
                t = Q_TYPE_Q5_K;
        } else if (role == ROLE_ATTN_OUT) {
            if (f == FT_Q2_K)
                t = Q_TYPE_Q3_K;
            else if (f == FT_Q3_K_M)
                t = Q_TYPE_Q4_K;
            else if (f == FT_Q3_K_L)
                t = Q_TYPE_Q5_K;
        }
    }
    return fallback(t, ne0);
}

/* ---- options ---- */

struct mk_opts {
    const char *out;
    const char *vocab_from;
    const char *arch; /* "llama" or "qwen2" */
    const char *name;
    const struct mk_ftype *ftype;
    bool pure;
    bool tied;
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    uint64_t seed;
    float rope_base;
    float rms_eps;
    float std; /* weight scale */
    int n_threads;
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: ollama-mkmodel -o OUT.gguf --vocab-from VOCAB.gguf [options]\n"
            "  --arch llama|qwen2     architecture (llama)\n"
            "  --type T               F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K_S Q3_K_M\n"
            "                         Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K, or Q3_K Q4_K Q5_K\n"
            "                         (pure); default F16\n"
            "  --pure                 every 2-D weight of --type (no llama.cpp mix rules)\n"
            "  --n-embd N --n-layer N --n-head N --n-head-kv N --n-ff N   (256 2 4 4 768)\n"
            "  --n-vocab N            tokens (default: the vocab file's; larger pads)\n"
            "  --ctx N                context_length (2048)\n"
            "  --tied                 no output.weight: the output reuses token_embd\n"
            "  --seed N (1)  --rope-base F  --rms-eps F  --std F (0.02)  --name S\n"
            "  --threads N            workers (default: physical cores)\n");
}

static bool parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_float(const char *s, float *out) {
    char *end;
    float v = strtof(s, &end);
    if (end == s || *end) return false;
    *out = v;
    return true;
}

/* Fills o from argv; prints the problem and returns false on a bad command line. */
static bool parse_args(int argc, char **argv, struct mk_opts *o) {
    memset(o, 0, sizeof(*o));
    o->arch = "llama";
    o->ftype = &mk_ftypes[1]; /* F16 */
    o->n_embd = 256;
    o->n_layer = 2;
    o->n_head = 4;
    o->n_ff = 768;
    o->n_ctx = 2048;
    o->seed = 1;
    o->std = 0.02f;
    o->rope_base = -1;
    o->rms_eps = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--tied") == 0) {
            o->tied = true;
            continue;
        } else if (strcmp(a, "--pure") == 0) {
            o->pure = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "ollama-mkmodel: %s needs a value (or is unknown)\n", a);
            return false;
        }
        i++;
        bool ok = true;
        int *dim = NULL;
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            o->out = v;
        } else if (strcmp(a, "--vocab-from") == 0) {
            o->vocab_from = v;
        } else if (strcmp(a, "--arch") == 0) {
            o->arch = v;
            ok = strcmp(v, "llama") == 0 || strcmp(v, "qwen2") == 0;
        } else if (strcmp(a, "--name") == 0) {
            o->name = v;
        } else if (strcmp(a, "--type") == 0) {
            o->ftype = NULL;
            for (size_t k = 0; k < OL_ARRAY_LEN(mk_ftypes); k++)
                if (strcasecmp(v, mk_ftypes[k].name) == 0) o->ftype = &mk_ftypes[k];
            ok = o->ftype != NULL;
        } else if (strcmp(a, "--n-embd") == 0) {
            dim = &o->n_embd;
        } else if (strcmp(a, "--n-layer") == 0) {
            dim = &o->n_layer;
        } else if (strcmp(a, "--n-head") == 0) {
            dim = &o->n_head;
        } else if (strcmp(a, "--n-head-kv") == 0) {
            dim = &o->n_head_kv;
        } else if (strcmp(a, "--n-ff") == 0) {
            dim = &o->n_ff;
        } else if (strcmp(a, "--n-vocab") == 0) {
            dim = &o->n_vocab;
        } else if (strcmp(a, "--ctx") == 0) {
            dim = &o->n_ctx;
        } else if (strcmp(a, "--threads") == 0) {
            ok = parse_long(v, 1, MK_MAX_THREADS, &n);
            o->n_threads = (int)n;
        } else if (strcmp(a, "--seed") == 0) {
            ok = parse_long(v, 0, LONG_MAX, &n);
            o->seed = (uint64_t)n;
        } else if (strcmp(a, "--rope-base") == 0) {
            ok = parse_float(v, &o->rope_base) && o->rope_base > 0;
        } else if (strcmp(a, "--rms-eps") == 0) {
            ok = parse_float(v, &o->rms_eps) && o->rms_eps > 0;
        } else if (strcmp(a, "--std") == 0) {
            ok = parse_float(v, &o->std) && o->std > 0;
        } else {
            fprintf(stderr, "ollama-mkmodel: unknown option %s\n", a);
            return false;
        }
        if (dim) {
            ok = parse_long(v, 1, 1 << 24, &n);
            *dim = (int)n;
        }
        if (!ok) {
            fprintf(stderr, "ollama-mkmodel: bad value for %s: %s\n", a, v);
            return false;
        }
    }
    if (!o->out || !o->vocab_from) {
        fprintf(stderr, "ollama-mkmodel: -o and --vocab-from are required\n");
        return false;
    }
    if (o->n_head_kv == 0) o->n_head_kv = o->n_head;
    bool qwen2 = strcmp(o->arch, "qwen2") == 0;
    if (o->rope_base < 0) o->rope_base = qwen2 ? 1000000.0f : 10000.0f;
    if (o->rms_eps < 0) o->rms_eps = qwen2 ? 1e-6f : 1e-5f;
    if (o->n_embd % o->n_head || o->n_head % o->n_head_kv || (o->n_embd / o->n_head) % 2) {
        fprintf(stderr,
                "ollama-mkmodel: n_embd (%d) must be a multiple of n_head (%d) with an even head "
                "size, and n_head a multiple of n_head_kv (%d)\n",
                o->n_embd, o->n_head, o->n_head_kv);
        return false;
    }
    if (o->pure && is_quantized(o->ftype->base)) {
        static struct mk_ftype pure_ft;
        pure_ft = *o->ftype;
        pure_ft.pure = true;
        o->ftype = &pure_ft;
    }
    return true;
}

/* ---- random weights ---- */

static uint64_t mix64(uint64_t z) { /* splitmix64 finaliser */
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* x[i] = mean + std * (triangular noise of unit variance), from a xorshift stream seeded by
 * (seed, row): the same numbers whoever generates the row. */
static void fill_row(float *x, int64_t n, uint64_t seed, uint64_t row, float mean, float std) {
    uint64_t s = mix64(seed ^ mix64(row)) | 1;
    const float scale = std * 2.4494897f / 16777216.0f; /* sqrt(6): (u1+u2)/2^24-1 has var 1/6 */
    for (int64_t i = 0; i < n; i++) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        uint64_t r = s * 0x2545f4914f6cdd1dull;
        int32_t u = (int32_t)(r >> 40) + (int32_t)((r >> 16) & 0xffffff) - 16777216;
        x[i] = mean + (float)u * scale;
    }
}

/* ---- the tensor list ---- */

struct mk_tensor {
    char name[64];
    enum mk_role role;
    enum q_type type;
    uint32_t n_dims;
    int64_t ne[2];
    float mean, std;
    uint64_t seed;
    size_t row_size; /* bytes */
    uint8_t *data;   /* [ne[1]][row_size], owned */
};

struct mk_model {
    struct mk_tensor *t;
    int n_tensors;
    int cap;
};

static struct mk_tensor *mk_add(struct mk_model *m, const struct mk_opts *o, const char *name,
                                enum mk_role role, int il, int64_t ne0, int64_t ne1) {
    if (m->n_tensors == m->cap) {
        int cap = m->cap ? m->cap * 2 : 64;
        struct mk_tensor *p = ol_realloc_array(m->t, (size_t)cap, sizeof(*p));
        if (!p) return NULL;
        m->t = p;
        m->cap = cap;
    }
    struct mk_tensor *t = &m->t[m->n_tensors];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->role = role;
    t->n_dims = ne1 > 0 ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = ne1 > 0 ? ne1 : 1;
    t->type = pick_type(o->ftype, role, il, o->n_layer, o->tied, o->n_head / o->n_head_kv, ne0);
    t->mean = role == ROLE_NORM ? 1.0f : 0.0f;
    t->std = role == ROLE_NORM ? 0.05f : o->std;
    t->seed = mix64(o->seed * 0x100000001b3ull + (uint64_t)m->n_tensors);
    t->row_size = q_row_size(t->type, ne0);
    m->n_tensors++;
    return t;
}

/* Lists every tensor of the model, in llama.cpp's order; false on out of memory. */
static bool mk_build(struct mk_model *m, const struct mk_opts *o) {
    int64_t hd = o->n_embd / o->n_head;
    int64_t nq = hd * o->n_head, nkv = hd * o->n_head_kv;
    bool qwen2 = strcmp(o->arch, "qwen2") == 0;
    bool ok = mk_add(m, o, "token_embd.weight", ROLE_EMBD, 0, o->n_embd, o->n_vocab) != NULL;
    for (int il = 0; il < o->n_layer && ok; il++) {
        char n[64];
#define ADD(suffix, role, ne0, ne1)                                                                \
    (snprintf(n, sizeof(n), "blk.%d.%s", il, suffix), mk_add(m, o, n, role, il, ne0, ne1) != NULL)
        ok = ADD("attn_norm.weight", ROLE_NORM, o->n_embd, 0) &&
             ADD("attn_q.weight", ROLE_ATTN_Q, o->n_embd, nq) &&
             ADD("attn_k.weight", ROLE_ATTN_K, o->n_embd, nkv) &&
             ADD("attn_v.weight", ROLE_ATTN_V, o->n_embd, nkv) &&
             (!qwen2 ||
              (ADD("attn_q.bias", ROLE_BIAS, nq, 0) && ADD("attn_k.bias", ROLE_BIAS, nkv, 0) &&
               ADD("attn_v.bias", ROLE_BIAS, nkv, 0))) &&
             ADD("attn_output.weight", ROLE_ATTN_OUT, nq, o->n_embd) &&
             ADD("ffn_norm.weight", ROLE_NORM, o->n_embd, 0) &&
             ADD("ffn_gate.weight", ROLE_FFN_GATE, o->n_embd, o->n_ff) &&
             ADD("ffn_up.weight", ROLE_FFN_UP, o->n_embd, o->n_ff) &&
             ADD("ffn_down.weight", ROLE_FFN_DOWN, o->n_ff, o->n_embd);
#undef ADD
    }
    ok = ok && mk_add(m, o, "output_norm.weight", ROLE_NORM, 0, o->n_embd, 0) != NULL;
    if (!o->tied) ok = ok && mk_add(m, o, "output.weight", ROLE_OUTPUT, 0, o->n_embd, o->n_vocab);
    return ok;
}

/* ---- generation on all cores ---- */

struct mk_job {
    int tensor;
    int64_t row0, row1;
};

struct mk_work {
    struct mk_model *m;
    struct mk_job *jobs;
    size_t n_jobs;
    atomic_size_t next;
    int64_t max_row; /* longest row, for the scratch buffer */
    atomic_bool failed;
};

static void *mk_worker(void *arg) {
    struct mk_work *w = arg;
    const struct q_kernels *k = q_kernels_ref();
    float *row = ol_calloc_array((size_t)w->max_row, sizeof(*row));
    if (!row) {
        atomic_store(&w->failed, true);
        return NULL;
    }
    for (;;) {
        size_t j = atomic_fetch_add(&w->next, 1);
        if (j >= w->n_jobs) break;
        struct mk_tensor *t = &w->m->t[w->jobs[j].tensor];
        for (int64_t r = w->jobs[j].row0; r < w->jobs[j].row1; r++) {
            fill_row(row, t->ne[0], t->seed, (uint64_t)r, t->mean, t->std);
            k->from_float[t->type](row, t->data + (size_t)r * t->row_size, t->ne[0]);
        }
    }
    free(row);
    return NULL;
}

/* Allocates every tensor and fills it; false (message printed) on failure. */
static bool mk_generate(struct mk_model *m, int n_threads) {
    size_t n_jobs = 0;
    int64_t max_row = 1;
    for (int i = 0; i < m->n_tensors; i++) {
        struct mk_tensor *t = &m->t[i];
        size_t size;
        if (!t->row_size || !ol_mul_ok(t->row_size, (size_t)t->ne[1], &size) ||
            !(t->data = malloc(size))) {
            fprintf(stderr, "ollama-mkmodel: cannot allocate %s\n", t->name);
            return false;
        }
        int64_t rows_per_job = OL_MAX(1, MK_CHUNK_ELEMS / t->ne[0]);
        n_jobs += (size_t)((t->ne[1] + rows_per_job - 1) / rows_per_job);
        max_row = OL_MAX(max_row, t->ne[0]);
    }
    struct mk_job *jobs = ol_calloc_array(n_jobs, sizeof(*jobs));
    if (!jobs) return false;
    size_t nj = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        int64_t rows_per_job = OL_MAX(1, MK_CHUNK_ELEMS / m->t[i].ne[0]);
        for (int64_t r = 0; r < m->t[i].ne[1]; r += rows_per_job)
            jobs[nj++] = (struct mk_job){i, r, OL_MIN(r + rows_per_job, m->t[i].ne[1])};
    }
    struct mk_work w = {.m = m, .jobs = jobs, .n_jobs = n_jobs, .max_row = max_row};
    atomic_init(&w.next, 0);
    atomic_init(&w.failed, false);
    pthread_t th[MK_MAX_THREADS];
    int n_started = 0;
    for (int i = 1; i < n_threads; i++)
        if (pthread_create(&th[n_started], NULL, mk_worker, &w) == 0) n_started++;
    mk_worker(&w);
    for (int i = 0; i < n_started; i++)
        pthread_join(th[i], NULL);
    free(jobs);
    if (atomic_load(&w.failed)) fprintf(stderr, "ollama-mkmodel: out of memory\n");
    return !atomic_load(&w.failed);
}

/* ---- metadata ---- */

static bool key_is(const struct gguf_kv *kv, const char *key) { return gguf_str_eq(kv->key, key); }

/* Copies every tokenizer.* key of the vocab file, padding the token arrays to n_vocab. */
static int mk_copy_vocab(struct gguf_writer *w, const struct gguf *v, int n_vocab,
                         struct ol_err *err) {
    const struct gguf_kv *tokens = gguf_get_arr(v, "tokenizer.ggml.tokens", GGUF_TYPE_STRING);
    if (!tokens) return ol_err_set(err, OL_EINVAL, "the vocab file has no tokenizer.ggml.tokens");
    uint64_t n_tok = tokens->arr_n;
    if ((uint64_t)n_vocab < n_tok)
        return ol_err_set(err, OL_EINVAL, "--n-vocab %d is smaller than the vocab's %llu tokens",
                          n_vocab, (unsigned long long)n_tok);
    bool pad = (uint64_t)n_vocab > n_tok;
    for (uint64_t i = 0; i < v->n_kv; i++) {
        const struct gguf_kv *kv = &v->kv[i];
        if (kv->key.len < 10 || memcmp(kv->key.ptr, "tokenizer.", 10) != 0) continue;
        bool rebuilt =
            pad && (key_is(kv, "tokenizer.ggml.tokens") || key_is(kv, "tokenizer.ggml.scores") ||
                    key_is(kv, "tokenizer.ggml.token_type"));
        if (!rebuilt && gguf_writer_copy_kv(w, v, kv) < 0)
            return ol_err_set(err, OL_ENOMEM, "out of memory");
    }
    if (!pad) return 0;

    int rc = OL_ENOMEM;
    struct gguf_str *strs = ol_calloc_array((size_t)n_vocab, sizeof(*strs));
    char *names = ol_calloc_array((size_t)n_vocab, 24);
    float *scores = ol_calloc_array((size_t)n_vocab, sizeof(*scores));
    int32_t *types = ol_calloc_array((size_t)n_vocab, sizeof(*types));
    if (!strs || !names || !scores || !types) goto out;
    const struct gguf_kv *sc = gguf_get_arr(v, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32);
    const struct gguf_kv *ty = gguf_get_arr(v, "tokenizer.ggml.token_type", GGUF_TYPE_INT64);
    for (uint64_t i = 0; i < (uint64_t)n_vocab; i++) {
        if (i < n_tok) {
            strs[i] = tokens->arr_strs[i];
            scores[i] = sc && i < sc->arr_n ? gguf_arr_f32(sc, i) : 0.0f;
            types[i] = ty && i < ty->arr_n ? (int32_t)gguf_arr_int(ty, i) : 1;
        } else { /* as llama.cpp's converter pads: unused tokens, score -1000 */
            char *s = names + i * 24;
            strs[i].ptr = s;
            strs[i].len = (uint64_t)snprintf(s, 24, "[PAD%llu]", (unsigned long long)i);
            scores[i] = -1000.0f;
            types[i] = 5; /* LLAMA_TOKEN_TYPE_UNUSED */
        }
    }
    if (gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", strs, (uint64_t)n_vocab) < 0 ||
        (sc && gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores,
                                   (uint64_t)n_vocab) < 0) ||
        gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types,
                            (uint64_t)n_vocab) < 0)
        goto out;
    rc = 0;
out:
    free(strs);
    free(names);
    free(scores);
    free(types);
    return rc < 0 ? ol_err_set(err, rc, "out of memory") : 0;
}

static int mk_metadata(struct gguf_writer *w, const struct mk_opts *o) {
    char key[128];
    int rc = 0;
    char name[128];
    snprintf(name, sizeof(name), "%s", o->name ? o->name : "synthetic");
    rc |= gguf_writer_set_str(w, "general.architecture", o->arch);
    rc |= gguf_writer_set_str(w, "general.name", name);
    rc |= gguf_writer_set_u32(w, "general.file_type", o->ftype->ftype);
    if (is_quantized(o->ftype->base))
        rc |= gguf_writer_set_u32(w, "general.quantization_version", 2);
#define SET_U32(suffix, v)                                                                         \
    (snprintf(key, sizeof(key), "%s.%s", o->arch, suffix),                                         \
     gguf_writer_set_u32(w, key, (uint32_t)(v)))
#define SET_F32(suffix, v)                                                                         \
    (snprintf(key, sizeof(key), "%s.%s", o->arch, suffix), gguf_writer_set_f32(w, key, v))
    rc |= SET_U32("vocab_size", o->n_vocab);
    rc |= SET_U32("context_length", o->n_ctx);
    rc |= SET_U32("embedding_length", o->n_embd);
    rc |= SET_U32("block_count", o->n_layer);
    rc |= SET_U32("feed_forward_length", o->n_ff);
    rc |= SET_U32("attention.head_count", o->n_head);
    rc |= SET_U32("attention.head_count_kv", o->n_head_kv);
    rc |= SET_F32("rope.freq_base", o->rope_base);
    rc |= SET_F32("attention.layer_norm_rms_epsilon", o->rms_eps);
    rc |= SET_U32("rope.dimension_count", o->n_embd / o->n_head);
#undef SET_U32
#undef SET_F32
    return rc ? OL_ENOMEM : 0;
}

int main(int argc, char **argv) {
    struct mk_opts o;
    if (!parse_args(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    struct ol_err err = {0};
    struct gguf vocab;
    if (gguf_open(&vocab, o.vocab_from, &err) < 0) {
        fprintf(stderr, "ollama-mkmodel: %s: %s\n", o.vocab_from, err.msg);
        return 1;
    }
    const struct gguf_kv *tokens = gguf_get_arr(&vocab, "tokenizer.ggml.tokens", GGUF_TYPE_STRING);
    if (o.n_vocab == 0 && tokens) o.n_vocab = (int)OL_MIN(tokens->arr_n, (uint64_t)(1 << 24));

    int64_t t0 = ol_time_ns();
    int rc = 1;
    struct mk_model m = {0};
    struct gguf_writer *w = gguf_writer_new();
    if (!w || mk_metadata(w, &o) < 0) {
        fprintf(stderr, "ollama-mkmodel: out of memory\n");
        goto out;
    }
    if (mk_copy_vocab(w, &vocab, o.n_vocab, &err) < 0) {
        fprintf(stderr, "ollama-mkmodel: %s: %s\n", o.vocab_from, err.msg);
        goto out;
    }
    if (!mk_build(&m, &o)) {
        fprintf(stderr, "ollama-mkmodel: out of memory\n");
        goto out;
    }
    int n_threads = o.n_threads ? o.n_threads : ol_cpu_physical_cores();
    if (!mk_generate(&m, OL_MIN(n_threads, MK_MAX_THREADS))) goto out;
    uint64_t n_params = 0, n_bytes = 0;
    int per_type[Q_TYPE_COUNT] = {0};
    for (int i = 0; i < m.n_tensors; i++) {
        struct mk_tensor *t = &m.t[i];
        if (gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data,
                                   t->row_size * (uint64_t)t->ne[1]) < 0) {
            fprintf(stderr, "ollama-mkmodel: out of memory\n");
            goto out;
        }
        n_params += (uint64_t)(t->ne[0] * t->ne[1]);
        n_bytes += t->row_size * (uint64_t)t->ne[1];
        per_type[t->type]++;
    }
    int64_t t1 = ol_time_ns();
    if (gguf_writer_write(w, o.out, &err) < 0) {
        fprintf(stderr, "ollama-mkmodel: %s\n", err.msg);
        goto out;
    }
    int64_t t2 = ol_time_ns();
    fprintf(stderr, "ollama-mkmodel: %s: %s %s, %d tensors, %.3f B params, %.1f MiB of weights (",
            o.out, o.arch, o.ftype->name, m.n_tensors, (double)n_params / 1e9,
            (double)n_bytes / (1 << 20));
    const char *sep = "";
    for (int t = 0; t < Q_TYPE_COUNT; t++)
        if (per_type[t]) {
            fprintf(stderr, "%s%s x%d", sep, q_type_info(t)->name, per_type[t]);
            sep = ", ";
        }
    fprintf(stderr, "); generated in %.1f s with %d threads, written in %.1f s\n",
            (double)(t1 - t0) / 1e9, n_threads, (double)(t2 - t1) / 1e9);
    rc = 0;
out:
    for (int i = 0; i < m.n_tensors; i++)
        free(m.t[i].data);
    free(m.t);
    gguf_writer_free(w);
    gguf_close(&vocab);
    return rc;
}
