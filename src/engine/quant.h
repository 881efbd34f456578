/* quant: tensor element types (GGML numbering), block layouts, conversions and dot products.
 * Each type has a scalar reference (quant.c) that defines correct; faster versions live in
 * arch/<isa>.c and are chosen once at startup into a table by CPU feature checks.
 * A matmul row product is vec_dot(weight row of type T, activations converted to
 * q_type_info(T)->vec_dot_type). Internal to the engine. */
#ifndef OL_ENGINE_QUANT_H
#define OL_ENGINE_QUANT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Values are the GGUF/ggml type ids and must not change. */
enum q_type {
    Q_TYPE_F32 = 0,
    Q_TYPE_F16 = 1,
    Q_TYPE_Q4_0 = 2,
    Q_TYPE_Q4_1 = 3,
    Q_TYPE_Q5_0 = 6,
    Q_TYPE_Q5_1 = 7,
    Q_TYPE_Q8_0 = 8,
    Q_TYPE_Q8_1 = 9,
    Q_TYPE_Q2_K = 10,
    Q_TYPE_Q3_K = 11,
    Q_TYPE_Q4_K = 12,
    Q_TYPE_Q5_K = 13,
    Q_TYPE_Q6_K = 14,
    Q_TYPE_Q8_K = 15,
    Q_TYPE_BF16 = 30,
    Q_TYPE_INTERNAL = 40, /* ids from here on are ours, never in a GGUF file */
    Q_TYPE_Q8_S = 40,     /* activations of Q8_0 weights (q8_s_* below) */
    Q_TYPE_Q8_SP = 41,    /* activations of Q4_0 and Q5_0 weights: Q8_S, values paired */
    Q_TYPE_COUNT = 42,    /* table size; ids >= this are unknown */
};

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

struct q4_0_block {        /* 18 bytes */
    uint16_t d;            /* scale, IEEE half */
    uint8_t qs[QK4_0 / 2]; /* value j: (qs[j] & 15) - 8, value j+16: (qs[j] >> 4) - 8 */
};
static_assert(sizeof(struct q4_0_block) == 18, "q4_0 layout");

struct q4_1_block { /* 20 bytes */
    uint16_t d, m;  /* value = d * q + m */
    uint8_t qs[QK4_1 / 2];
};
static_assert(sizeof(struct q4_1_block) == 20, "q4_1 layout");

struct q5_0_block { /* 22 bytes */
    uint16_t d;
    uint8_t qh[4]; /* 5th bit of each value, bit j of the little-endian uint32 for value j */
    uint8_t qs[QK5_0 / 2];
};
static_assert(sizeof(struct q5_0_block) == 22, "q5_0 layout");

struct q5_1_block { /* 24 bytes */
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
};
static_assert(sizeof(struct q5_1_block) == 24, "q5_1 layout");

struct q8_0_block { /* 34 bytes */
    uint16_t d;
    int8_t qs[QK8_0];
};
static_assert(sizeof(struct q8_0_block) == 34, "q8_0 layout");

struct q8_1_block { /* 36 bytes: activations for Q4_1/Q5_1 */
    uint16_t d;     /* scale */
    uint16_t s;     /* d * sum(qs) */
    int8_t qs[QK8_1];
};
static_assert(sizeof(struct q8_1_block) == 36, "q8_1 layout");

/* Q8_S: the Q8_0 quantization of an activation row, laid out for the kernels as three arrays
 * instead of blocks. For a row of nb blocks of 32 values:
 *     float   d[nb];       each block's scale, rounded to fp16 as Q8_0 stores it
 *     int32_t sum[nb];     the sum of each block's 32 values
 *     int8_t  qs[nb][32];  the values, as in Q8_0
 * The scales of 8 blocks are one vector load, and the sums let 4- and 5-bit weights multiply as
 * unsigned values: dot(q - c, y) = dot(q, y) - c * sum(y), exactly, in integers. A block is
 * 40 bytes of the row, but not a contiguous record: use the accessors. */
#define Q8_S_BLOCK_SIZE 40
static inline const float *q8_s_d(const void *row) { return (const float *)row; }
static inline const int32_t *q8_s_sum(const void *row, int nb) {
    return (const int32_t *)((const char *)row + 4 * (size_t)nb);
}
static inline const int8_t *q8_s_qs(const void *row, int nb) {
    return (const int8_t *)row + 8 * (size_t)nb;
}

/* Q8_SP: Q8_S with the values of each pair of blocks (2p, 2p + 1) interleaved by halves:
 *     qs[64p .. 64p + 64) = block 2p values 0..15, block 2p+1 values 0..15,
 *                           block 2p values 16..31, block 2p+1 values 16..31
 * and a last, unpaired block (nb odd) as in Q8_S. A vector of 32 values then holds the same
 * half of two blocks, the half that 16 bytes of 4-bit weights unpack to, so two blocks' products
 * can be added as int16 before any horizontal step. d and sum are Q8_S's (q8_s_d, q8_s_sum). */
static inline size_t q8_sp_index(int nb, int i, int j) {
    if ((i | 1) >= nb) return 32 * (size_t)i + (size_t)j; /* the unpaired last block */
    return 64 * (size_t)(i >> 1) + 32 * (size_t)(j >> 4) + 16 * (size_t)(i & 1) + (size_t)(j & 15);
}

struct q2_k_block {            /* 84 bytes */
    uint8_t scales[QK_K / 16]; /* low 4 bits scale, high 4 bits min, per 16 values */
    uint8_t qs[QK_K / 4];
    uint16_t d, dmin;
};
static_assert(sizeof(struct q2_k_block) == 84, "q2_k layout");

struct q3_k_block { /* 110 bytes */
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12]; /* 16 6-bit scales */
    uint16_t d;
};
static_assert(sizeof(struct q3_k_block) == 110, "q3_k layout");

struct q4_k_block { /* 144 bytes */
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE]; /* 8 6-bit scales and 8 6-bit mins */
    uint8_t qs[QK_K / 2];
};
static_assert(sizeof(struct q4_k_block) == 144, "q4_k layout");

struct q5_k_block { /* 176 bytes */
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
};
static_assert(sizeof(struct q5_k_block) == 176, "q5_k layout");

struct q6_k_block { /* 210 bytes */
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
};
static_assert(sizeof(struct q6_k_block) == 210, "q6_k layout");

struct q8_k_block { /* 292 bytes: activations for the K-quants */
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16]; /* sum of each group of 16 qs */
};
static_assert(sizeof(struct q8_k_block) == 292, "q8_k layout");

struct q_type_info {
    const char *name;         /* "Q4_K", as ggml names it */
    int blck;                 /* elements per block */
    size_t type_size;         /* bytes per block */
    bool is_weight;           /* supported as a weight type by the forward pass */
    enum q_type vec_dot_type; /* what activations are converted to for vec_dot */
};

/* Info for a type id, or NULL when the id is unknown to us. */
const struct q_type_info *q_type_info(int type);
/* Bytes of a row of n elements; 0 when n is not a multiple of the block size. */
size_t q_row_size(enum q_type type, int64_t n);

float q_f16_to_f32(uint16_t h);
uint16_t q_f32_to_f16(float f); /* round to nearest even */
float q_bf16_to_f32(uint16_t h);
uint16_t q_f32_to_bf16(float f); /* round to nearest even, NaN kept quiet */

/* A row conversion or product. n is a multiple of the type's block size. */
typedef void (*q_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*q_from_float_fn)(const float *src, void *dst, int64_t n);
/* *s = dot(w[0..n), x[0..n)) with w of the weight type and x of its vec_dot_type, as written by
 * from_float (quantized activations keep qs in [-127, 127]; the SIMD kernels rely on it). */
typedef void (*q_vec_dot_fn)(int n, float *s, const void *w, const void *x);
/* A tile of products for matrix-matrix work: s[t * s_stride + r] = dot(w + r * w_stride, x[t])
 * for r < nr, t < nt, with 1 <= nr, nt <= Q_TILE_MAX. Each product is bit-identical to the
 * vec_dot of the same table (same operations in the same order), so a batch gives the same
 * numbers as one token at a time; the tile only shares loads and unpacking across rows and
 * tokens. */
#define Q_TILE_MAX 4
typedef void (*q_vec_dot_tile_fn)(int n, int nr, int nt, float *s, size_t s_stride, const void *w,
                                  size_t w_stride, const void *const *x);
/* Attention and FFN helpers on float rows (row p of a matrix at rows + p * stride):
 *   dot_rows: s[p] = scale * dot(row p, x[0..n)) for p < nrows (the scores of one query);
 *   sum_rows: y[i] = sum over p < nrows of w[p] * row p [i], for i < n, the rows added in order
 *             (the attention-weighted values); y is overwritten;
 *   exp_sum:  x[i] = exp(x[i] - max) for i < n, returns the sum of the new x[i] (summed in an
 *             order that depends only on n);
 *   swiglu:   g[i] = silu(g[i]) * u[i], silu(v) = v / (1 + exp(-v)). */
typedef void (*q_dot_rows_fn)(int n, int nrows, float *s, const float *rows, size_t stride,
                              const float *x, float scale);
typedef void (*q_sum_rows_fn)(int n, int nrows, float *y, const float *rows, size_t stride,
                              const float *w);
typedef float (*q_exp_sum_fn)(int n, float *x, float max);
typedef void (*q_swiglu_fn)(int n, float *g, const float *u);

struct q_kernels {
    q_to_float_fn to_float[Q_TYPE_COUNT];         /* every supported type */
    q_from_float_fn from_float[Q_TYPE_COUNT];     /* every supported type incl. Q8_1, Q8_K */
    q_vec_dot_fn vec_dot[Q_TYPE_COUNT];           /* indexed by the weight type */
    q_vec_dot_tile_fn vec_dot_tile[Q_TYPE_COUNT]; /* NULL: call vec_dot per product */
    int tile_tokens[Q_TYPE_COUNT]; /* tokens per tile call the kernel prefers; 0: Q_TILE_MAX */
    int tile_rows[Q_TYPE_COUNT];   /* rows per tile call the kernel prefers; 0: Q_TILE_MAX */
    q_dot_rows_fn dot_rows;
    q_sum_rows_fn sum_rows;
    q_exp_sum_fn exp_sum;
    q_swiglu_fn swiglu;
    const char *isa; /* "scalar", "avx2" */
};

/* What a vec_dot_tile entry computes, as a loop over k->vec_dot (the fallback when a table has
 * no tile for a type, and the reference the tiles are tested against). */
void q_vec_dot_tile_ref(const struct q_kernels *k, enum q_type type, int n, int nr, int nt,
                        float *s, size_t s_stride, const void *w, size_t w_stride,
                        const void *const *x);
/* The scalar reference table; always complete (vec_dot_tile entries are NULL). */
const struct q_kernels *q_kernels_ref(void);
/* The fastest table this CPU supports (chosen once, thread-safe); entries an ISA lacks fall
 * back to the reference. OLLAMA_NO_SIMD=1 forces the reference (for testing). */
const struct q_kernels *q_kernels_best(void);
/* true when the CPU (and OS) can run arch/avx2.c: AVX2, FMA and F16C. */
bool q_cpu_has_avx2(void);
/* Fills in the entries arch/avx2.c provides. Call only when q_cpu_has_avx2(). */
void q_kernels_init_avx2(struct q_kernels *k);

#endif
