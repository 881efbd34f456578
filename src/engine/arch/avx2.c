/* arch/avx2: AVX2 + FMA + F16C kernels, built with -mavx2 -mfma -mf16c (this file only).
 * Integer blocks multiply with _mm256_maddubs_epi16 (unsigned weight bytes x signed activation
 * bytes, pairs summed to int16) then _mm256_madd_epi16 (to int32), and turn into float once per
 * block. Signed weights use the sign trick: |w| x (y with w's sign). Offsets that ggml stores
 * as "value - c" are applied once per block through the activation sums (Q8_K bsums), so the
 * inner loops only multiply small unsigned values.
 * Saturation: maddubs adds two u8*s8 products in int16; the largest here is 128 * 127 * 2 =
 * 32512 (Q8_0 with a -128 weight), which fits because activations stay in [-127, 127].
 * The activation quantizers repeat the reference's arithmetic step by step (same products,
 * same rounding), so their output is bit-identical to quant.c; the tests check it.
 * Tiles (vec_dot_tile) compute up to 4 rows x 4 tokens at once for prompt processing; each
 * product in a tile runs exactly the float operations of the single vec_dot of its type, which
 * is what keeps batch and one-token decoding bit-identical. */
#include "engine/quant.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* ---- helpers ---- */

#define ALWAYS_INLINE static inline __attribute__((always_inline))

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax_ps(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static inline float fp16(uint16_t h) { return _cvtsh_ss(h); }

static inline __m256i loadu256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

static inline __m128i loadu128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

/* 16 bytes of nibbles -> 32 bytes: low nibbles (values 0..15) then high nibbles (16..31).
 * The broadcast load is a plain load; one variable shift moves the high lane's nibbles down. */
static inline __m256i nibbles32(const uint8_t *p) {
    __m256i v = _mm256_broadcastsi128_si256(loadu128(p));
    v = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4));
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* 32 bits -> 32 bytes, 0xff where bit j is set. */
static inline __m256i bits_to_bytes(const uint8_t *p) {
    uint32_t bits;
    memcpy(&bits, p, sizeof(bits));
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                          2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ULL); /* byte k: 1 << k */
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, sel), sel);
}

/* Sum of x*y over pairs with x unsigned (small enough not to saturate), as 8 int32. */
static inline __m256i dot_u8(__m256i x, __m256i y) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}

/* Software prefetch for generation (one row at a time, rows consecutive in memory): the next
 * bytes are requested this far ahead, in blocks of the weight type (2-4 KiB). On the 2-core VM
 * this was measured on, the hardware prefetcher alone left the one-token kernels waiting on
 * memory: 112 blocks ahead gave tg128 +3-12% on the Q4_0, Q4_K_M and Q8_0 bench models while
 * its memory was fast, and no change while it was slow; 8 or 16 KiB ahead gained less or lost. */
#define PREFETCH_BLOCKS 112

/* Prefetches the cache lines of p[0..n) (steps of 64 bytes: consecutive spans leave no line
 * out). Past the end of the weights it only wastes a request; a prefetch never faults. */
ALWAYS_INLINE void prefetch_span(const uint8_t *p, size_t n) {
    for (size_t l = 0; l < n; l += 64)
        _mm_prefetch((const char *)p + l, _MM_HINT_T0);
}

/* vpshufb masks that broadcast one int16 word of a 128-bit lane (the scales are in both lanes):
 * shuf_same[w] picks word w in both lanes, shuf_pair[k] word 2k in the low lane and 2k+1 in the
 * high one (the low lane of a maddubs result holds values 0..15 of a group of 32). */
#define W8(w) 2 * (w), 2 * (w) + 1, 2 * (w), 2 * (w) + 1, 2 * (w), 2 * (w) + 1, 2 * (w), 2 * (w) + 1
#define W16(w) W8(w), W8(w)
static const uint8_t shuf_same[8][32] __attribute__((aligned(32))) = {
    {W16(0), W16(0)}, {W16(1), W16(1)}, {W16(2), W16(2)}, {W16(3), W16(3)},
    {W16(4), W16(4)}, {W16(5), W16(5)}, {W16(6), W16(6)}, {W16(7), W16(7)},
};
static const uint8_t shuf_pair[4][32] __attribute__((aligned(32))) = {
    {W16(0), W16(1)},
    {W16(2), W16(3)},
    {W16(4), W16(5)},
    {W16(6), W16(7)},
};
#undef W16
#undef W8

static inline __m256i scale_same(__m256i scales, int w) {
    return _mm256_shuffle_epi8(scales, _mm256_load_si256((const __m256i *)shuf_same[w]));
}

static inline __m256i scale_pair(__m256i scales, int k) {
    return _mm256_shuffle_epi8(scales, _mm256_load_si256((const __m256i *)shuf_pair[k]));
}

/* ---- F32, F16, BF16 ---- */

static void dot_f32(int n, float *s, const void *w, const void *x) {
    const float *a = w;
    const float *b = x;
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps();
    __m256 acc3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++)
        sum += a[i] * b[i];
    *s = sum;
}

static inline __m256 load_f16(const uint16_t *p) { return _mm256_cvtph_ps(loadu128(p)); }

/* F16 rows against float activations. A row is cut into blocks of F16_BLOCK values; per product
 * two accumulators, one for the even blocks and one for the odd blocks, each taking its blocks'
 * groups of 8 values in order; they are added, then the n % 8 leftover products in order. A
 * single product (generation) runs an even and the following odd block side by side: two FMA
 * chains (one would wait on the FMA latency) over what the prefetcher still sees as one stream
 * (one thread read 21 GB/s with blocks of 128 values, 7 GB/s with 256: streams 512 bytes apart).
 * A tile runs the blocks one after another with one accumulator per product, kept in memory
 * between blocks: up to 3 rows x 4 tokens, so 12 accumulators, 3 converted weight vectors and
 * one activation vector fill the 16 registers and each step does 12 FMAs for 3 conversions and
 * 4 loads (measured 1.8x the old 2 x 3 tile with an accumulator pair per product). Both do the
 * same float operations per product, so every tile shape and the single product agree bit for
 * bit. */
#define F16_BLOCK 128

static inline float f16_finish(__m256 even, __m256 odd, int n, const uint16_t *a, const float *y) {
    float sum = hsum_ps(_mm256_add_ps(even, odd));
    for (int k = n / 8 * 8; k < n; k++)
        sum += fp16(a[k]) * y[k];
    return sum;
}

static void dot_f16(int n, float *s, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *y = x;
    int n8 = n / 8 * 8;
    __m256 even = _mm256_setzero_ps();
    __m256 odd = _mm256_setzero_ps();
    for (int e0 = 0; e0 < n8; e0 += 2 * F16_BLOCK) {
        int le = n8 - e0 < F16_BLOCK ? n8 - e0 : F16_BLOCK;
        int o0 = e0 + le;
        int lo = n8 - o0 < F16_BLOCK ? n8 - o0 : F16_BLOCK;
        int j = 0;
        for (; j < lo; j += 8) {
            even = _mm256_fmadd_ps(load_f16(a + e0 + j), _mm256_loadu_ps(y + e0 + j), even);
            odd = _mm256_fmadd_ps(load_f16(a + o0 + j), _mm256_loadu_ps(y + o0 + j), odd);
        }
        for (; j < le; j += 8)
            even = _mm256_fmadd_ps(load_f16(a + e0 + j), _mm256_loadu_ps(y + e0 + j), even);
    }
    *s = f16_finish(even, odd, n, a, y);
}

ALWAYS_INLINE void tile_f16_n(int n, int nr, int nt, float *s, size_t ss, const void *w, size_t wst,
                              const void *const *x) {
    const uint16_t *a[3];
    const float *y[4];
    __m256 part[2][3][4];
#pragma GCC unroll 3
    for (int r = 0; r < nr; r++) {
        a[r] = (const uint16_t *)((const uint8_t *)w + (size_t)r * wst);
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++)
            part[0][r][t] = part[1][r][t] = _mm256_setzero_ps();
    }
#pragma GCC unroll 4
    for (int t = 0; t < nt; t++)
        y[t] = x[t];
    int n8 = n / 8 * 8;
    for (int b = 0; b * F16_BLOCK < n8; b++) {
        int i0 = b * F16_BLOCK;
        int i1 = n8 - i0 < F16_BLOCK ? n8 : i0 + F16_BLOCK;
        __m256 acc[3][4];
#pragma GCC unroll 3
        for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++)
                acc[r][t] = part[b & 1][r][t];
        for (int i = i0; i < i1; i += 8) {
            __m256 wv[3];
#pragma GCC unroll 3
            for (int r = 0; r < nr; r++)
                wv[r] = load_f16(a[r] + i);
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++) {
                __m256 yv = _mm256_loadu_ps(y[t] + i);
#pragma GCC unroll 3
                for (int r = 0; r < nr; r++)
                    acc[r][t] = _mm256_fmadd_ps(wv[r], yv, acc[r][t]);
            }
        }
#pragma GCC unroll 3
        for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++)
                part[b & 1][r][t] = acc[r][t];
    }
#pragma GCC unroll 3
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++)
            s[(size_t)t * ss + (size_t)r] = f16_finish(part[0][r][t], part[1][r][t], n, a[r], y[t]);
}

#define CALL_TILE_F16(R, T) tile_f16_n(n, R, T, st, ss, wr, wst, x + t)

static void tile_f16(int n, int nr, int nt, float *s, size_t ss, const void *w, size_t wst,
                     const void *const *x) {
    for (int r0 = 0; r0 < nr; r0 += 3) {
        const void *wr = (const uint8_t *)w + (size_t)r0 * wst;
        int mr = nr - r0 < 3 ? nr - r0 : 3;
        for (int t = 0; t < nt; t += 4) {
            float *st = s + (size_t)t * ss + (size_t)r0;
            int mt = nt - t < 4 ? nt - t : 4;
            switch ((mr - 1) * 4 + mt - 1) {
            case 0:
                dot_f16(n, st, wr, x[t]);
                break;
            case 1:
                CALL_TILE_F16(1, 2);
                break;
            case 2:
                CALL_TILE_F16(1, 3);
                break;
            case 3:
                CALL_TILE_F16(1, 4);
                break;
            case 4:
                CALL_TILE_F16(2, 1);
                break;
            case 5:
                CALL_TILE_F16(2, 2);
                break;
            case 6:
                CALL_TILE_F16(2, 3);
                break;
            case 7:
                CALL_TILE_F16(2, 4);
                break;
            case 8:
                CALL_TILE_F16(3, 1);
                break;
            case 9:
                CALL_TILE_F16(3, 2);
                break;
            case 10:
                CALL_TILE_F16(3, 3);
                break;
            default:
                CALL_TILE_F16(3, 4);
                break;
            }
        }
    }
}

static inline __m256 load_bf16(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(loadu128(p)), 16));
}

static void dot_bf16(int n, float *s, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps();
    __m256 acc3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load_bf16(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(load_bf16(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(load_bf16(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(load_bf16(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(load_bf16(a + i), _mm256_loadu_ps(b + i), acc0);
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++)
        sum += q_bf16_to_f32(a[i]) * b[i];
    *s = sum;
}

static void to_float_f16(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, load_f16(h + i));
    for (; i < n; i++)
        dst[i] = fp16(h[i]);
}

static void to_float_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, load_bf16(h + i));
    for (; i < n; i++)
        dst[i] = q_bf16_to_f32(h[i]);
}

/* ---- 32-value blocks ---- */

/* The 32-value blocks share one driver: an integer dot per block (8 int32 partial sums), scaled
 * by d_w * d_y. The fp16 scales of 4 blocks are converted together (one vcvtph2ps instead of
 * 8 scalar ones), which matters because these kernels are instruction-bound. Every weight block
 * starts with d (and m) and every activation block with d (and s), so one stride describes both. */
typedef __m256i (*block_dot_fn)(const void *w, const void *y);

static inline uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* a_k * b_k for the halves at a + k*as and b + k*bs, k = 0..3 */
static inline __m128 half_products4(const uint8_t *a, size_t as, const uint8_t *b, size_t bs) {
    __m128i h = _mm_cvtsi32_si128(load_u16(a));
    h = _mm_insert_epi16(h, load_u16(a + as), 1);
    h = _mm_insert_epi16(h, load_u16(a + 2 * as), 2);
    h = _mm_insert_epi16(h, load_u16(a + 3 * as), 3);
    h = _mm_insert_epi16(h, load_u16(b), 4);
    h = _mm_insert_epi16(h, load_u16(b + bs), 5);
    h = _mm_insert_epi16(h, load_u16(b + 2 * bs), 6);
    h = _mm_insert_epi16(h, load_u16(b + 3 * bs), 7);
    __m256 f = _mm256_cvtph_ps(h);
    return _mm_mul_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
}

/* sum over nb blocks of d_w d_y dot(w, y) (+ m_w s_y when has_min); always inlined so that the
 * block_dot_fn is a known function and inlined too. Four accumulators: one FMA chain would
 * bound the loop by the FMA latency. */
static inline __attribute__((always_inline)) float dot_blocks32(int nb, const void *w, size_t ws,
                                                                const void *y, size_t ys,
                                                                block_dot_fn dot, bool has_min) {
    const uint8_t *pw = w;
    const uint8_t *py = y;
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps();
    __m256 acc3 = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    float d[4] __attribute__((aligned(16)));
    int i = 0;
    for (; i + 4 <= nb; i += 4, pw += 4 * ws, py += 4 * ys) {
        _mm_store_ps(d, half_products4(pw, ws, py, ys));
        if (has_min) accm = _mm_add_ps(accm, half_products4(pw + 2, ws, py + 2, ys));
        __m256i p0 = dot(pw, py);
        __m256i p1 = dot(pw + ws, py + ys);
        __m256i p2 = dot(pw + 2 * ws, py + 2 * ys);
        __m256i p3 = dot(pw + 3 * ws, py + 3 * ys);
        acc0 = _mm256_fmadd_ps(_mm256_broadcast_ss(&d[0]), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_broadcast_ss(&d[1]), _mm256_cvtepi32_ps(p1), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_broadcast_ss(&d[2]), _mm256_cvtepi32_ps(p2), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_broadcast_ss(&d[3]), _mm256_cvtepi32_ps(p3), acc3);
    }
    float summ = 0.0f;
    for (; i < nb; i++, pw += ws, py += ys) {
        float dd = fp16(load_u16(pw)) * fp16(load_u16(py));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(dot(pw, py)), acc0);
        if (has_min) summ += fp16(load_u16(pw + 2)) * fp16(load_u16(py + 2));
    }
    __m128 m = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    __m256 acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
    return hsum_ps(acc) + (_mm_cvtss_f32(m) + summ);
}

/* ---- 32-value blocks against Q8_S activations (Q8_0 here; Q4_0 and Q5_0 below, Q8_SP) ----
 * A product is summed in groups of 8 blocks. A block's dot product is an exact integer: the
 * 4- and 5-bit weights multiply as unsigned values q (maddubs needs one unsigned operand), and
 * their stored offset c comes off once per block as c * sum(y), from the activation's sums;
 * Q8_0's signed weights use the sign trick, |w| x (y with w's sign). The 8 block sums reduce
 * to one vector (block k in lane k), turn into float once, and meet the 8 scales d_w * d_y in
 * one FMA: the activation scales are a plain load from the Q8_S scale array, and the weight
 * scales 8 half loads. Lane k of the float accumulator collects blocks k, k+8, ...; the product
 * is its horizontal sum. A tile runs exactly these operations for each of its products, so a
 * batch and one token at a time agree bit for bit; it shares each row's unpacked blocks and
 * scales across tokens. */

/* One Q8_0 block's products as 8 int32 (their sum is the block's dot product): the sign
 * trick, |w| x (y with w's sign). */
ALWAYS_INLINE __m256i block_q8_0_dot(const uint8_t *b, const int8_t *y) {
    __m256i q = loadu256(b + offsetof(struct q8_0_block, qs));
    return dot_u8(_mm256_sign_epi8(q, q), _mm256_sign_epi8(loadu256(y), q));
}

/* A tile's float accumulators: zeroed, and at the end each product's horizontal sum stored at
 * s[t * ss + r]. */
ALWAYS_INLINE void tile_acc_zero(int nr, int nt, __m256 acc[Q_TILE_MAX][Q_TILE_MAX]) {
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++)
            acc[r][t] = _mm256_setzero_ps();
}

ALWAYS_INLINE void tile_acc_store(int nr, int nt, __m256 acc[Q_TILE_MAX][Q_TILE_MAX], float *s,
                                  size_t ss) {
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++)
            s[(size_t)t * ss + (size_t)r] = hsum_ps(acc[r][t]);
}

/* p[k] -> lane k holds the sum of p[k]'s 8 lanes. */
ALWAYS_INLINE __m256i reduce8_epi32(const __m256i p[8]) {
    __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20),
                            _mm256_permute2x128_si256(a, b, 0x31));
}

/* The scales of blocks 0..nv-1 at w, w + bs, ... as floats; lanes from nv on are 0. The halves
 * are put together in two 64-bit general registers: scalar loads, shifts and ors run on the
 * integer units, which these loops leave idle, where 16-bit vector inserts would take 2 vector
 * uops each. */
ALWAYS_INLINE uint64_t halves4(const uint8_t *w, size_t bs, int nv) {
    uint64_t v = nv > 0 ? load_u16(w) : 0;
    if (nv > 1) v |= (uint64_t)load_u16(w + bs) << 16;
    if (nv > 2) v |= (uint64_t)load_u16(w + 2 * bs) << 32;
    if (nv > 3) v |= (uint64_t)load_u16(w + 3 * bs) << 48;
    __asm__("" : "+r"(v)); /* keeps the compiler from moving this work into vector registers */
    return v;
}

ALWAYS_INLINE __m256 scales8(const uint8_t *w, size_t bs, int nv) {
    uint64_t lo = halves4(w, bs, nv);
    uint64_t hi = nv > 4 ? halves4(w + 4 * bs, bs, nv - 4) : 0;
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)hi, (long long)lo));
}

/* A group's activation side: scales, and sums times the weights' offset (shift: log2 c). Lanes
 * from nv on are 0, and nothing past block nv - 1 is read. */
struct act8 {
    __m256 d;
    __m256i off;
};

ALWAYS_INLINE struct act8 act8_load(const float *yd, const int32_t *ys, int nv, int shift) {
    struct act8 a;
    if (nv == 8) {
        a.d = _mm256_loadu_ps(yd);
        a.off = shift < 0 ? _mm256_setzero_si256() : loadu256(ys);
    } else {
        __m256i m =
            _mm256_cmpgt_epi32(_mm256_set1_epi32(nv), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        a.d = _mm256_maskload_ps(yd, m);
        a.off = shift < 0 ? _mm256_setzero_si256() : _mm256_maskload_epi32(ys, m);
    }
    if (shift >= 0) a.off = _mm256_slli_epi32(a.off, shift);
    return a;
}

/* acc + (d_w * d_y) x (block sums - offsets), for one product and one group (block k's
 * sum in lane k). */
ALWAYS_INLINE __m256 group32_fma(__m256 acc, __m256i sums, __m256 dw, struct act8 a) {
    __m256i s = _mm256_sub_epi32(sums, a.off);
    return _mm256_fmadd_ps(_mm256_mul_ps(dw, a.d), _mm256_cvtepi32_ps(s), acc);
}

/* Q8_0: one group of nv (1..8) blocks starting at block i, for every product of the tile. */
ALWAYS_INLINE void tile32_group(int i, int nv, int nb, int nr, int nt,
                                __m256 acc[Q_TILE_MAX][Q_TILE_MAX], const uint8_t *w, size_t wst,
                                size_t bs, const void *const *x) {
    struct act8 a[Q_TILE_MAX];
    const int8_t *yq[Q_TILE_MAX];
#pragma GCC unroll 4
    for (int t = 0; t < nt; t++) {
        a[t] = act8_load(q8_s_d(x[t]) + i, q8_s_sum(x[t], nb) + i, nv, -1);
        yq[t] = q8_s_qs(x[t], nb) + 32 * (size_t)i;
    }
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) {
        const uint8_t *b = w + (size_t)r * wst + (size_t)i * bs;
        __m256 dw = scales8(b, bs, nv);
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) {
            __m256i p[8];
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++)
                p[k] = k < nv ? block_q8_0_dot(b + k * bs, yq[t] + 32 * k) : _mm256_setzero_si256();
            acc[r][t] = group32_fma(acc[r][t], reduce8_epi32(p), dw, a[t]);
        }
    }
}

/* Calls TILE(R, T) with constants equal to nr and nt (1..4 each). */
#define TILE_CASES(TILE)                                                                           \
    switch ((nr - 1) * Q_TILE_MAX + (nt - 1)) {                                                    \
    case 0:                                                                                        \
        TILE(1, 1);                                                                                \
        break;                                                                                     \
    case 1:                                                                                        \
        TILE(1, 2);                                                                                \
        break;                                                                                     \
    case 2:                                                                                        \
        TILE(1, 3);                                                                                \
        break;                                                                                     \
    case 3:                                                                                        \
        TILE(1, 4);                                                                                \
        break;                                                                                     \
    case 4:                                                                                        \
        TILE(2, 1);                                                                                \
        break;                                                                                     \
    case 5:                                                                                        \
        TILE(2, 2);                                                                                \
        break;                                                                                     \
    case 6:                                                                                        \
        TILE(2, 3);                                                                                \
        break;                                                                                     \
    case 7:                                                                                        \
        TILE(2, 4);                                                                                \
        break;                                                                                     \
    case 8:                                                                                        \
        TILE(3, 1);                                                                                \
        break;                                                                                     \
    case 9:                                                                                        \
        TILE(3, 2);                                                                                \
        break;                                                                                     \
    case 10:                                                                                       \
        TILE(3, 3);                                                                                \
        break;                                                                                     \
    case 11:                                                                                       \
        TILE(3, 4);                                                                                \
        break;                                                                                     \
    case 12:                                                                                       \
        TILE(4, 1);                                                                                \
        break;                                                                                     \
    case 13:                                                                                       \
        TILE(4, 2);                                                                                \
        break;                                                                                     \
    case 14:                                                                                       \
        TILE(4, 3);                                                                                \
        break;                                                                                     \
    default:                                                                                       \
        TILE(4, 4);                                                                                \
        break;                                                                                     \
    }

/* ---- Q4_0 and Q5_0 against Q8_SP activations ----
 * The same sums as above, reached with fewer steps. Q8_SP pairs the halves of two blocks A, B
 * in one vector ([A 0..15 | B 0..15], then [A 16..31 | B 16..31]), and 16 bytes of nibbles from
 * each block unpack to the same two vectors. One maddubs per vector and one int16 add give
 * [A | B] as 8 int16 sums of 4 products each; the 4 pairs of a group then reduce with int16
 * horizontal adds while the sums fit: |sum| <= n * 31 * 127 (Q8_S values are within +-127) is
 * under 32768 for n = 8 products of 5-bit and n = 16 of 4-bit weights. The group's 8 block
 * sums come out in the lane order A C E G B D F H and are put back in order with one vpermd,
 * so the scales, offsets and float steps are Q8_0's (group32_fma) and the results are those of
 * the earlier per-block reduction, bit for bit. */
typedef void (*unpack_pair_fn)(const uint8_t *a, const uint8_t *b, __m256i *lo, __m256i *hi);

/* 16 bytes of nibbles of block a (and of b, or zeros when b is NULL) -> [a | b] values 0..15 in
 * *lo and values 16..31 in *hi. */
ALWAYS_INLINE void nibble_pair(const uint8_t *a, const uint8_t *b, __m256i *lo, __m256i *hi) {
    __m256i v = _mm256_castsi128_si256(loadu128(a));
    v = b ? _mm256_inserti128_si256(v, loadu128(b), 1) : _mm256_zextsi128_si256(loadu128(a));
    const __m256i m = _mm256_set1_epi8(0x0f);
    *lo = _mm256_and_si256(v, m);
    *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
}

ALWAYS_INLINE void unpack_pair_q4_0(const uint8_t *a, const uint8_t *b, __m256i *lo, __m256i *hi) {
    size_t o = offsetof(struct q4_0_block, qs);
    nibble_pair(a + o, b ? b + o : NULL, lo, hi);
}

/* Q5_0: the 5th bits of values 0..15 and 16..31 of both blocks, from qh_a | qh_b << 32, as
 * 0x10 in the bytes where they are set, or-ed into the nibbles. */
ALWAYS_INLINE void unpack_pair_q5_0(const uint8_t *a, const uint8_t *b, __m256i *lo, __m256i *hi) {
    size_t o = offsetof(struct q5_0_block, qs);
    size_t oh = offsetof(struct q5_0_block, qh);
    nibble_pair(a + o, b ? b + o : NULL, lo, hi);
    uint32_t ha;
    uint32_t hb = 0;
    memcpy(&ha, a + oh, sizeof(ha));
    if (b) memcpy(&hb, b + oh, sizeof(hb));
    __m256i h = _mm256_set1_epi64x((long long)((uint64_t)ha | (uint64_t)hb << 32));
    const __m256i shuf_lo = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 4, 4,
                                             4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5);
    const __m256i shuf_hi = _mm256_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 6, 6,
                                             6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7);
    const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    __m256i l = _mm256_shuffle_epi8(h, shuf_lo);
    __m256i u = _mm256_shuffle_epi8(h, shuf_hi);
    l = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(l, sel), sel), bit4);
    u = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(u, sel), sel), bit4);
    *lo = _mm256_or_si256(*lo, l);
    *hi = _mm256_or_si256(*hi, u);
}

/* A pair's products: [A | B], 8 int16 sums of 4 products each. The y of an unpaired last block
 * is its 32 values in order; its lane of B is then the weights' zeros times values 16..31. */
ALWAYS_INLINE __m256i pair_dot(__m256i lo, __m256i hi, const int8_t *y, bool paired) {
    __m256i yl = paired ? loadu256(y) : _mm256_zextsi128_si256(loadu128(y));
    __m256i yh = paired ? loadu256(y + 32) : _mm256_zextsi128_si256(loadu128(y + 16));
    return _mm256_add_epi16(_mm256_maddubs_epi16(lo, yl), _mm256_maddubs_epi16(hi, yh));
}

/* The 4 pairs' products of a group -> 8 int32 block sums, blocks in order. bits: 4 or 5. */
ALWAYS_INLINE __m256i reduce_pairs(const __m256i m[4], int bits) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i ac = _mm256_hadd_epi16(m[0], m[1]); /* [A C | B D], 8 products per int16 */
    __m256i eg = _mm256_hadd_epi16(m[2], m[3]); /* [E G | F H] */
    __m256i r;
    if (bits == 4) {
        r = _mm256_madd_epi16(_mm256_hadd_epi16(ac, eg), ones); /* 16 products, then int32 */
    } else {
        r = _mm256_hadd_epi32(_mm256_madd_epi16(ac, ones), _mm256_madd_epi16(eg, ones));
    }
    return _mm256_permutevar8x32_epi32(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* One group of nv (1..8) blocks starting at block i (even), for every product of the tile. */
ALWAYS_INLINE void tile32p_group(int i, int nv, int nb, int nr, int nt,
                                 __m256 acc[Q_TILE_MAX][Q_TILE_MAX], const uint8_t *w, size_t wst,
                                 size_t bs, const void *const *x, unpack_pair_fn unpack, int bits) {
    struct act8 a[Q_TILE_MAX];
    const int8_t *yq[Q_TILE_MAX];
    int shift = bits - 1; /* the offset 2^(bits - 1) times sum(y) is sum(y) << shift */
#pragma GCC unroll 4
    for (int t = 0; t < nt; t++) {
        a[t] = act8_load(q8_s_d(x[t]) + i, q8_s_sum(x[t], nb) + i, nv, shift);
        yq[t] = q8_s_qs(x[t], nb) + 32 * (size_t)i;
    }
    int np = (nv + 1) / 2;
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) {
        const uint8_t *b = w + (size_t)r * wst + (size_t)i * bs;
        __m256 dw = scales8(b, bs, nv);
        __m256i lo[4];
        __m256i hi[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            if (k < np) {
                unpack(b + 2 * k * bs, 2 * k + 1 < nv ? b + (2 * k + 1) * bs : NULL, &lo[k],
                       &hi[k]);
            } else {
                lo[k] = hi[k] = _mm256_setzero_si256();
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) {
            __m256i m[4];
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                m[k] = k < np ? pair_dot(lo[k], hi[k], yq[t] + 64 * k, 2 * k + 1 < nv)
                              : _mm256_setzero_si256();
            acc[r][t] = group32_fma(acc[r][t], reduce_pairs(m, bits), dw, a[t]);
        }
    }
}

/* The nr x nt products of nb blocks, in groups of 8: tile32p_group's when unpack_pair is given
 * (Q4_0 and Q5_0 against Q8_SP), tile32_group's otherwise (Q8_0 against Q8_S). The last group,
 * when nb is not a multiple of 8, is a short one with its missing lanes zero (d_w = d_y = 0,
 * sum 0): fma(0, 0, acc) = acc, so a short group adds exactly what its blocks add. */
ALWAYS_INLINE void tile32(int nb, int nr, int nt, float *s, size_t ss, const void *w, size_t wst,
                          size_t bs, const void *const *x, unpack_pair_fn unpack_pair, int bits) {
    __m256 acc[Q_TILE_MAX][Q_TILE_MAX];
    tile_acc_zero(nr, nt, acc);
    int i = 0;
    for (; i + 8 <= nb; i += 8) { /* nv a constant 8: the group's lane tests fold away */
        if (nr == 1) prefetch_span((const uint8_t *)w + (size_t)(i + PREFETCH_BLOCKS) * bs, 8 * bs);
        if (unpack_pair)
            tile32p_group(i, 8, nb, nr, nt, acc, w, wst, bs, x, unpack_pair, bits);
        else
            tile32_group(i, 8, nb, nr, nt, acc, w, wst, bs, x);
    }
    if (i < nb && unpack_pair)
        tile32p_group(i, nb - i, nb, nr, nt, acc, w, wst, bs, x, unpack_pair, bits);
    else if (i < nb)
        tile32_group(i, nb - i, nb, nr, nt, acc, w, wst, bs, x);
    tile_acc_store(nr, nt, acc, s, ss);
}

#define DEFINE_TILE32(name, block)                                                                 \
    static void tile_##name(int n, int nr, int nt, float *s, size_t ss, const void *w, size_t wst, \
                            const void *const *x) {                                                \
        int nb = n / 32;                                                                           \
        size_t bs = sizeof(struct block);                                                          \
        TILE_CASES(CALL_TILE32)                                                                    \
    }                                                                                              \
    static void dot_##name(int n, float *s, const void *w, const void *x) {                        \
        const void *xs[1] = {x};                                                                   \
        tile32(n / 32, 1, 1, s, 0, w, 0, sizeof(struct block), xs, TILE32_PAIR, TILE32_BITS);      \
    }
#define CALL_TILE32(R, T) tile32(nb, R, T, s, ss, w, wst, bs, x, TILE32_PAIR, TILE32_BITS)

#define TILE32_PAIR unpack_pair_q4_0
#define TILE32_BITS 4
DEFINE_TILE32(q4_0, q4_0_block)
#undef TILE32_PAIR
#undef TILE32_BITS
#define TILE32_PAIR unpack_pair_q5_0
#define TILE32_BITS 5
DEFINE_TILE32(q5_0, q5_0_block)
#undef TILE32_PAIR
#undef TILE32_BITS
#define TILE32_PAIR NULL
#define TILE32_BITS 8
DEFINE_TILE32(q8_0, q8_0_block)
#undef TILE32_PAIR
#undef TILE32_BITS

static inline __m256i block_q4_1(const void *w, const void *y) {
    const struct q4_1_block *a = w;
    const struct q8_1_block *b = y;
    return dot_u8(nibbles32(a->qs), loadu256(b->qs));
}

static void dot_q4_1(int n, float *s, const void *w, const void *x) {
    *s = dot_blocks32(n / QK4_1, w, sizeof(struct q4_1_block), x, sizeof(struct q8_1_block),
                      block_q4_1, true);
}

static inline __m256i block_q5_1(const void *w, const void *y) {
    const struct q5_1_block *a = w;
    const struct q8_1_block *b = y;
    __m256i hi = _mm256_and_si256(bits_to_bytes(a->qh), _mm256_set1_epi8(0x10));
    return dot_u8(_mm256_or_si256(nibbles32(a->qs), hi), loadu256(b->qs));
}

static void dot_q5_1(int n, float *s, const void *w, const void *x) {
    *s = dot_blocks32(n / QK5_1, w, sizeof(struct q5_1_block), x, sizeof(struct q8_1_block),
                      block_q5_1, true);
}

static void to_float_q4_0(const void *src, float *dst, int64_t n) {
    const struct q4_0_block *b = src;
    int8_t q[32];
    for (int64_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        __m256 d = _mm256_set1_ps(fp16(b[i].d));
        _mm256_storeu_si256((__m256i *)q, _mm256_sub_epi8(nibbles32(b[i].qs), _mm256_set1_epi8(8)));
        for (int j = 0; j < 32; j += 8) {
            __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + j)));
            _mm256_storeu_ps(dst + j, _mm256_mul_ps(_mm256_cvtepi32_ps(v), d));
        }
    }
}

static void to_float_q8_0(const void *src, float *dst, int64_t n) {
    const struct q8_0_block *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        __m256 d = _mm256_set1_ps(fp16(b[i].d));
        for (int j = 0; j < 32; j += 8) {
            __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b[i].qs + j)));
            _mm256_storeu_ps(dst + j, _mm256_mul_ps(_mm256_cvtepi32_ps(v), d));
        }
    }
}

/* ---- activation quantizers (bit-identical to the reference) ---- */

/* Largest |x| over 8k floats, NaN ignored: max_ps returns its second operand on NaN. */
static inline float absmax_ps(const float *x, int n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8)
        m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), m);
    return hmax_ps(m);
}

/* The reference's clamp127: NaN -> 0, then clamp to [-127, 127]. */
static inline __m256 clamp127_ps(__m256 v) {
    v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
    v = _mm256_max_ps(v, _mm256_set1_ps(-127.0f));
    return _mm256_min_ps(v, _mm256_set1_ps(127.0f));
}

/* roundf: ties away from zero. The fraction v - trunc(v) is exact. */
static inline __m256 round_away_ps(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 one = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

/* Four vectors of 8 int32 in [-127, 127] -> 32 int8 in order. */
static inline __m256i pack_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i ab = _mm256_packs_epi32(a, b);
    __m256i cd = _mm256_packs_epi32(c, d);
    __m256i v = _mm256_packs_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* One Q8_0/Q8_1 block: returns the sum of qs and the unrounded d. */
static inline int quantize_q8_32(const float *x, uint16_t *dh, int8_t *qs, float *d_out) {
    float d = absmax_ps(x, 32) / 127.0f;
    float idf = d != 0.0f ? 1.0f / d : 0.0f;
    __m256 id = _mm256_set1_ps(idf);
    __m256i v[4];
    for (int k = 0; k < 4; k++) {
        __m256 f = clamp127_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), id));
        v[k] = _mm256_cvttps_epi32(round_away_ps(f));
    }
    _mm256_storeu_si256((__m256i *)qs, pack_i8(v[0], v[1], v[2], v[3]));
    *dh = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    *d_out = d;
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3]));
    return hsum_epi32(sum);
}

static void from_float_q8_0(const float *src, void *dst, int64_t n) {
    struct q8_0_block *b = dst;
    float d;
    for (int64_t i = 0; i < n / QK8_0; i++, src += QK8_0)
        quantize_q8_32(src, &b[i].d, b[i].qs, &d);
}

static void from_float_q8_s(const float *src, void *dst, int64_t n) {
    int nb = (int)(n / QK8_0);
    float *d = (float *)q8_s_d(dst); /* the layout's accessors, on memory we may write */
    int32_t *sum = (int32_t *)q8_s_sum(dst, nb);
    int8_t *qs = (int8_t *)q8_s_qs(dst, nb);
    for (int i = 0; i < nb; i++, src += QK8_0) {
        uint16_t dh;
        float unused;
        sum[i] = quantize_q8_32(src, &dh, qs + 32 * i, &unused);
        d[i] = fp16(dh);
    }
}

/* Q8_S with each pair of blocks' values interleaved by halves (quant.h). */
static void from_float_q8_sp(const float *src, void *dst, int64_t n) {
    int nb = (int)(n / QK8_0);
    float *d = (float *)q8_s_d(dst);
    int32_t *sum = (int32_t *)q8_s_sum(dst, nb);
    int8_t *qs = (int8_t *)q8_s_qs(dst, nb);
    for (int i = 0; i < nb; i += 2) {
        int nv = nb - i < 2 ? 1 : 2;
        int8_t v[2][32];
        for (int b = 0; b < nv; b++) {
            uint16_t dh;
            float unused;
            sum[i + b] = quantize_q8_32(src + 32 * (size_t)(i + b), &dh, v[b], &unused);
            d[i + b] = fp16(dh);
        }
        if (nv == 1) {
            memcpy(qs + 32 * (size_t)i, v[0], 32);
            break;
        }
        int8_t *o = qs + 32 * (size_t)i;
        memcpy(o, v[0], 16);
        memcpy(o + 16, v[1], 16);
        memcpy(o + 32, v[0] + 16, 16);
        memcpy(o + 48, v[1] + 16, 16);
    }
}

static void from_float_q8_1(const float *src, void *dst, int64_t n) {
    struct q8_1_block *b = dst;
    float d;
    for (int64_t i = 0; i < n / QK8_1; i++, src += QK8_1) {
        int sum = quantize_q8_32(src, &b[i].d, b[i].qs, &d);
        b[i].s = _cvtss_sh((float)sum * d, _MM_FROUND_TO_NEAREST_INT);
    }
}

static void from_float_q8_k(const float *src, void *dst, int64_t n) {
    struct q8_k_block *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float amax = absmax_ps(src, QK_K);
        if (amax == 0.0f) {
            memset(&b[i], 0, sizeof(b[i]));
            continue;
        }
        float max = 0.0f;
        for (int j = 0; j < QK_K; j++) { /* the first element of that magnitude, as the ref */
            if (fabsf(src[j]) == amax) {
                max = src[j];
                break;
            }
        }
        float iscale = -127.0f / max;
        __m256 is = _mm256_set1_ps(iscale);
        for (int j = 0; j < QK_K; j += 32) {
            __m256i v[4];
            for (int k = 0; k < 4; k++) {
                __m256 f = clamp127_ps(_mm256_mul_ps(is, _mm256_loadu_ps(src + j + 8 * k)));
                v[k] = _mm256_cvtps_epi32(f); /* round to nearest even, as the reference */
            }
            __m256i q = pack_i8(v[0], v[1], v[2], v[3]);
            _mm256_storeu_si256((__m256i *)(b[i].qs + j), q);
            /* sums of 16: bytes -> int16 pairs -> int32 quads -> two sums of 16 per lane */
            __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q),
                                          _mm256_set1_epi16(1));
            p = _mm256_hadd_epi32(p, p);
            p = _mm256_hadd_epi32(p, p);
            b[i].bsums[j / 16] = (int16_t)_mm256_extract_epi32(p, 0);
            b[i].bsums[j / 16 + 1] = (int16_t)_mm256_extract_epi32(p, 4);
        }
        b[i].d = 1.0f / iscale;
    }
}

/* ---- K-quants ---- */

/* The 8 scales (bytes 0..7) and 8 mins (bytes 8..15) of Q4_K/Q5_K, 6 bits each, decoded in
 * a vector register. s is the scales field of a block: the 16-byte load also reads the first
 * 4 bytes after it (the block goes on), which are not used. With u0..u2 its 32-bit words:
 *   scales 0..3 = u0 & 0x3f..,  4..7 = (u2 & 0x0f..) | (bits 6-7 of u0's bytes) << 4
 *   mins   0..3 = u1 & 0x3f..,  4..7 = (u2 >> 4 & 0x0f..) | (bits 6-7 of u1's bytes) << 4 */
static inline __m128i k4_scales_mins(const uint8_t *s) {
    __m128i v = loadu128(s);
    __m128i b = _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0)); /* u0 u0 u1 u1 */
    __m128i c = _mm_srlv_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(2, 2, 2, 2)),
                               _mm_setr_epi32(0, 0, 0, 4)); /* u2 u2 u2 u2>>4 */
    __m128i lo = _mm_and_si128(b, _mm_set1_epi8(0x3f));
    __m128i hi = _mm_or_si128(_mm_and_si128(c, _mm_set1_epi8(0x0f)),
                              _mm_and_si128(_mm_srli_epi32(b, 2), _mm_set1_epi8(0x30)));
    return _mm_blend_epi32(lo, hi, 0x0a);
}

/* Per super-block: the minimum term and the 8 scales as int16 in both 128-bit lanes. */
static inline __m256i k4_prepare(const uint8_t s[K_SCALE_SIZE], const struct q8_k_block *y,
                                 __m256i *scales) {
    __m256i sm = _mm256_cvtepu8_epi16(k4_scales_mins(s));
    __m128i bs = _mm_hadd_epi16(loadu128(y->bsums), loadu128(y->bsums + 8));
    __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(sm, 1), bs);
    *scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm));
    return _mm256_castsi128_si256(prod); /* 4 int32 in the low lane */
}

/* scale(32 values) * dot(q, y) as 8 int32, q unsigned */
static inline __m256i k4_group(__m256i q, const int8_t *q8, __m256i scales, int w) {
    return _mm256_madd_epi16(scale_same(scales, w), _mm256_maddubs_epi16(q, loadu256(q8)));
}

/* Q4_K as a tile (see tile32): per product, an int32 sum over the super-block, then one float
 * FMA for the scales and one for the minimums; the single product is the 1 x 1 tile. These
 * loops are bound by how many instructions the core can issue, so the per-super-block work is
 * vector code: the scales decode in registers, and d and dmin convert and scale together. */
ALWAYS_INLINE void tile_q4_k_n(int nb, int nr, int nt, float *s, size_t ss, const void *w,
                               size_t wst, const void *const *x) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc[Q_TILE_MAX][Q_TILE_MAX];
    __m128 accm[Q_TILE_MAX][Q_TILE_MAX];
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) {
            acc[r][t] = _mm256_setzero_ps();
            accm[r][t] = _mm_setzero_ps();
        }
    for (int i = 0; i < nb; i++) {
        if (nr == 1)
            prefetch_span((const uint8_t *)w +
                              (size_t)(i + PREFETCH_BLOCKS / 8) * sizeof(struct q4_k_block),
                          sizeof(struct q4_k_block));
        const struct q8_k_block *y[Q_TILE_MAX];
        __m128i bs[Q_TILE_MAX];
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) {
            y[t] = (const struct q8_k_block *)x[t] + i;
            bs[t] = _mm_hadd_epi16(loadu128(y[t]->bsums), loadu128(y[t]->bsums + 8));
        }
        const struct q4_k_block *a[Q_TILE_MAX];
        __m256i sc[Q_TILE_MAX];
        __m128i mn[Q_TILE_MAX];
        __m128 dd[Q_TILE_MAX]; /* d, dmin of the row's block */
        __m256i sumi[Q_TILE_MAX][Q_TILE_MAX][2];
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++) {
            a[r] = (const struct q4_k_block *)((const uint8_t *)w + (size_t)r * wst) + i;
            __m256i sm = _mm256_cvtepu8_epi16(k4_scales_mins(a[r]->scales));
            sc[r] = _mm256_permute4x64_epi64(sm, _MM_SHUFFLE(1, 0, 1, 0));
            mn[r] = _mm256_extracti128_si256(sm, 1);
            uint32_t h;
            memcpy(&h, &a[r]->d, sizeof(h)); /* d and dmin, adjacent */
            dd[r] = _mm_cvtph_ps(_mm_cvtsi32_si128((int)h));
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++)
                sumi[r][t][0] = sumi[r][t][1] = _mm256_setzero_si256();
        }
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
#pragma GCC unroll 4
            for (int r = 0; r < nr; r++) {
                __m256i qb = loadu256(a[r]->qs + 32 * c);
                __m256i lo = _mm256_and_si256(qb, m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
                __m256i slo = scale_same(sc[r], 2 * c);
                __m256i shi = scale_same(sc[r], 2 * c + 1);
#pragma GCC unroll 4
                for (int t = 0; t < nt; t++) {
                    const int8_t *q8 = y[t]->qs + 64 * c;
                    __m256i plo = _mm256_madd_epi16(slo, _mm256_maddubs_epi16(lo, loadu256(q8)));
                    __m256i phi =
                        _mm256_madd_epi16(shi, _mm256_maddubs_epi16(hi, loadu256(q8 + 32)));
                    sumi[r][t][c & 1] =
                        _mm256_add_epi32(sumi[r][t][c & 1], _mm256_add_epi32(plo, phi));
                }
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++) {
                __m128 f = _mm_mul_ps(dd[r], _mm_set1_ps(y[t]->d)); /* y.d * d, y.d * dmin */
                __m128 mins = _mm_cvtepi32_ps(_mm_madd_epi16(mn[r], bs[t]));
                __m256i si = _mm256_add_epi32(sumi[r][t][0], sumi[r][t][1]);
                acc[r][t] =
                    _mm256_fmadd_ps(_mm256_broadcastss_ps(f), _mm256_cvtepi32_ps(si), acc[r][t]);
                accm[r][t] = _mm_fmadd_ps(_mm_shuffle_ps(f, f, 0x55), mins, accm[r][t]);
            }
    }
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) {
            __m128 m = _mm_add_ps(accm[r][t], _mm_movehl_ps(accm[r][t], accm[r][t]));
            m = _mm_add_ss(m, _mm_movehdup_ps(m));
            s[(size_t)t * ss + (size_t)r] = hsum_ps(acc[r][t]) - _mm_cvtss_f32(m);
        }
}

static void tile_q4_k(int n, int nr, int nt, float *s, size_t ss, const void *w, size_t wst,
                      const void *const *x) {
    int nb = n / QK_K;
#define CALL(R, T) tile_q4_k_n(nb, R, T, s, ss, w, wst, x)
    TILE_CASES(CALL)
#undef CALL
}

static void dot_q4_k(int n, float *s, const void *w, const void *x) {
    const void *xs[1] = {x};
    tile_q4_k_n(n / QK_K, 1, 1, s, 1, w, 0, xs);
}

static void dot_q5_k(int n, float *s, const void *w, const void *x) {
    const struct q5_k_block *a = w;
    const struct q8_k_block *y = x;
    const int nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int i = 0; i < nb; i++) {
        __m256i scales;
        __m256i mins = k4_prepare(a[i].scales, &y[i], &scales);
        const uint8_t *q = a[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i hb = loadu256(a[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i qb = loadu256(q + 32 * c);
            /* bits 2c and 2c+1 of qh become bit 4 of the low and high values */
            __m256i lo = _mm256_or_si256(_mm256_and_si256(qb, m4),
                                         _mm256_and_si256(_mm256_slli_epi16(hb, 4), bit4));
            __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4),
                                         _mm256_and_si256(_mm256_slli_epi16(hb, 3), bit4));
            hb = _mm256_srli_epi16(hb, 2);
            sumi = _mm256_add_epi32(sumi, k4_group(lo, q8 + 64 * c, scales, 2 * c));
            sumi = _mm256_add_epi32(sumi, k4_group(hi, q8 + 64 * c + 32, scales, 2 * c + 1));
        }
        float d = y[i].d * fp16(a[i].d);
        float dmin = y[i].d * fp16(a[i].dmin);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(_mm256_castsi256_si128(mins)), accm);
    }
    __m128 m = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    *s = hsum_ps(acc) - _mm_cvtss_f32(m);
}

/* The 16-scale types (Q2_K, Q3_K, Q6_K) work on halves of 128 values: group k (0..3) of a half
 * is 32 values, scaled per 16 by scale_pair(k) of that half's 8 scales (int16, in both lanes).
 * The helpers are always inlined with constant k and shifts, so nothing stays in memory. */
static inline void scales16(__m128i sc8, __m256i *lo, __m256i *hi) {
    __m256i s = _mm256_cvtepi8_epi16(sc8);
    *lo = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(s));
    *hi = _mm256_broadcastsi128_si256(_mm256_extracti128_si256(s, 1));
}

/* sum over 16 groups of scale * bsum, as 8 int32 */
static inline __m256i scaled_bsums(__m128i sc8, const struct q8_k_block *y) {
    return _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), loadu256(y->bsums));
}

ALWAYS_INLINE __m256i group16(__m256i q, const int8_t *q8, __m256i sc, int k) {
    __m256i p = _mm256_maddubs_epi16(q, loadu256(q8 + 32 * k));
    return _mm256_madd_epi16(scale_pair(sc, k), p);
}

/* bits 2k..2k+1 of each byte */
ALWAYS_INLINE __m256i crumbs(__m256i qb, int k) {
    __m256i v = k == 0 ? qb : _mm256_srli_epi16(qb, 2 * k);
    return _mm256_and_si256(v, _mm256_set1_epi8(3));
}

/* sum over the 4 groups of a half of 2-bit values (plus hk[k], the Q3_K high bits) */
ALWAYS_INLINE __m256i half_2bit(__m256i qb, const __m256i *hk, const int8_t *q8, __m256i sc) {
    __m256i v0 = hk ? _mm256_or_si256(crumbs(qb, 0), hk[0]) : crumbs(qb, 0);
    __m256i v1 = hk ? _mm256_or_si256(crumbs(qb, 1), hk[1]) : crumbs(qb, 1);
    __m256i v2 = hk ? _mm256_or_si256(crumbs(qb, 2), hk[2]) : crumbs(qb, 2);
    __m256i v3 = hk ? _mm256_or_si256(crumbs(qb, 3), hk[3]) : crumbs(qb, 3);
    __m256i s01 = _mm256_add_epi32(group16(v0, q8, sc, 0), group16(v1, q8, sc, 1));
    __m256i s23 = _mm256_add_epi32(group16(v2, q8, sc, 2), group16(v3, q8, sc, 3));
    return _mm256_add_epi32(s01, s23);
}

static void dot_q2_k(int n, float *s, const void *w, const void *x) {
    const struct q2_k_block *a = w;
    const struct q8_k_block *y = x;
    const int nb = n / QK_K;
    const __m128i m4 = _mm_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        __m128i sb = loadu128(a[i].scales);
        __m128i sc8 = _mm_and_si128(sb, m4);
        __m128i mn8 = _mm_and_si128(_mm_srli_epi16(sb, 4), m4);
        __m256i mins = scaled_bsums(mn8, &y[i]);
        __m256i lo;
        __m256i hi;
        scales16(sc8, &lo, &hi);
        __m256i sumi = half_2bit(loadu256(a[i].qs), NULL, y[i].qs, lo);
        sumi = _mm256_add_epi32(sumi, half_2bit(loadu256(a[i].qs + 32), NULL, y[i].qs + 128, hi));
        float d = y[i].d * fp16(a[i].d);
        float dmin = y[i].d * fp16(a[i].dmin);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(mins), accm);
    }
    *s = hsum_ps(acc) - hsum_ps(accm);
}

/* The 16 Q3_K scales as signed bytes (-32..31). */
static inline __m128i q3_k_scales(const uint8_t s[12]) {
    uint32_t u[3];
    memcpy(u, s, sizeof(u));
    uint32_t s0 = (u[0] & 0x0f0f0f0f) | ((u[2] & 0x03030303) << 4);
    uint32_t s1 = (u[1] & 0x0f0f0f0f) | (((u[2] >> 2) & 0x03030303) << 4);
    uint32_t s2 = ((u[0] >> 4) & 0x0f0f0f0f) | (((u[2] >> 4) & 0x03030303) << 4);
    uint32_t s3 = ((u[1] >> 4) & 0x0f0f0f0f) | (((u[2] >> 6) & 0x03030303) << 4);
    return _mm_sub_epi8(_mm_setr_epi32((int)s0, (int)s1, (int)s2, (int)s3), _mm_set1_epi8(32));
}

/* Bit g of each hmask byte (value 32g + l), moved to bit 2: 4 when set. Shifts of 16-bit lanes
 * by at most 5 never carry another byte's bit into bit 2. */
ALWAYS_INLINE __m256i q3_high(__m256i hb, int g) {
    __m256i v = g < 2 ? _mm256_slli_epi16(hb, 2 - g) : g > 2 ? _mm256_srli_epi16(hb, g - 2) : hb;
    return _mm256_and_si256(v, _mm256_set1_epi8(4));
}

/* Q3_K: values + 4 = q2 | hbit << 2 in 0..7, multiplied unsigned; the -4 * sum(y) per 16
 * values comes back through the bsums. */
static void dot_q3_k(int n, float *s, const void *w, const void *x) {
    const struct q3_k_block *a = w;
    const struct q8_k_block *y = x;
    const int nb = n / QK_K;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        __m128i sc8 = q3_k_scales(a[i].scales);
        __m256i corr = scaled_bsums(sc8, &y[i]);
        __m256i lo;
        __m256i hi;
        scales16(sc8, &lo, &hi);
        __m256i hb = loadu256(a[i].hmask);
        __m256i h0[4] = {q3_high(hb, 0), q3_high(hb, 1), q3_high(hb, 2), q3_high(hb, 3)};
        __m256i h1[4] = {q3_high(hb, 4), q3_high(hb, 5), q3_high(hb, 6), q3_high(hb, 7)};
        __m256i sumi = half_2bit(loadu256(a[i].qs), h0, y[i].qs, lo);
        sumi = _mm256_add_epi32(sumi, half_2bit(loadu256(a[i].qs + 32), h1, y[i].qs + 128, hi));
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(corr, 2));
        float d = y[i].d * fp16(a[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps(acc);
}

/* Q6_K values + 32 (0..63) of group k of a half: nibble k/2 of ql[32(k%2)..], bits 2k of qh */
ALWAYS_INLINE __m256i q6_values(__m256i l0, __m256i l1, __m256i qh, int k) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256i l = k % 2 ? l1 : l0;
    __m256i lo = _mm256_and_si256(k < 2 ? l : _mm256_srli_epi16(l, 4), m4);
    /* bits 2k, 2k+1 of qh to bits 4, 5 */
    __m256i h = k == 0   ? _mm256_slli_epi16(qh, 4)
                : k == 1 ? _mm256_slli_epi16(qh, 2)
                : k == 2 ? qh
                         : _mm256_srli_epi16(qh, 2);
    return _mm256_or_si256(lo, _mm256_and_si256(h, _mm256_set1_epi8(0x30)));
}

/* Q6_K: values + 32 in 0..63 multiplied unsigned; -32 * sum(y) comes back through bsums.
 * A tile as tile_q4_k_n; the single product is the 1 x 1 tile. */
ALWAYS_INLINE void tile_q6_k_n(int nb, int nr, int nt, float *s, size_t ss, const void *w,
                               size_t wst, const void *const *x) {
    __m256 acc[Q_TILE_MAX][Q_TILE_MAX];
    tile_acc_zero(nr, nt, acc);
    for (int i = 0; i < nb; i++) {
        if (nr == 1)
            prefetch_span((const uint8_t *)w +
                              (size_t)(i + PREFETCH_BLOCKS / 8) * sizeof(struct q6_k_block),
                          sizeof(struct q6_k_block));
        const struct q8_k_block *y[Q_TILE_MAX];
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++)
            y[t] = (const struct q8_k_block *)x[t] + i;
        const struct q6_k_block *a[Q_TILE_MAX];
        __m256i sumi[Q_TILE_MAX][Q_TILE_MAX];
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++) {
            a[r] = (const struct q6_k_block *)((const uint8_t *)w + (size_t)r * wst) + i;
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++)
                sumi[r][t] = _mm256_setzero_si256();
        }
        for (int h = 0; h < 2; h++) {
#pragma GCC unroll 4
            for (int r = 0; r < nr; r++) {
                __m256i s16 = _mm256_cvtepi8_epi16(loadu128(a[r]->scales));
                __m256i sch = _mm256_broadcastsi128_si256(h ? _mm256_extracti128_si256(s16, 1)
                                                            : _mm256_castsi256_si128(s16));
                __m256i l0 = loadu256(a[r]->ql + 64 * h);
                __m256i l1 = loadu256(a[r]->ql + 64 * h + 32);
                __m256i qh = loadu256(a[r]->qh + 32 * h);
#pragma GCC unroll 4
                for (int k = 0; k < 4; k++) {
                    __m256i v = q6_values(l0, l1, qh, k);
                    __m256i sk = scale_pair(sch, k);
#pragma GCC unroll 4
                    for (int t = 0; t < nt; t++) {
                        __m256i p = _mm256_maddubs_epi16(v, loadu256(y[t]->qs + 128 * h + 32 * k));
                        sumi[r][t] = _mm256_add_epi32(sumi[r][t], _mm256_madd_epi16(sk, p));
                    }
                }
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++) {
                __m256i corr = scaled_bsums(loadu128(a[r]->scales), y[t]);
                __m256i si = _mm256_sub_epi32(sumi[r][t], _mm256_slli_epi32(corr, 5));
                float d = y[t]->d * fp16(a[r]->d);
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(si), acc[r][t]);
            }
    }
    tile_acc_store(nr, nt, acc, s, ss);
}

static void tile_q6_k(int n, int nr, int nt, float *s, size_t ss, const void *w, size_t wst,
                      const void *const *x) {
    int nb = n / QK_K;
#define CALL(R, T) tile_q6_k_n(nb, R, T, s, ss, w, wst, x)
    TILE_CASES(CALL)
#undef CALL
}

static void dot_q6_k(int n, float *s, const void *w, const void *x) {
    const void *xs[1] = {x};
    tile_q6_k_n(n / QK_K, 1, 1, s, 1, w, 0, xs);
}

/* ---- attention helpers ---- */

/* p[k] -> lane k holds the sum of p[k]'s 8 lanes. */
static inline __m256 reduce8_ps(const __m256 p[8]) {
    __m256 a = _mm256_hadd_ps(_mm256_hadd_ps(p[0], p[1]), _mm256_hadd_ps(p[2], p[3]));
    __m256 b = _mm256_hadd_ps(_mm256_hadd_ps(p[4], p[5]), _mm256_hadd_ps(p[6], p[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
}

/* The scores of one query: 8 rows at a time, one accumulator each, so that the query's vector
 * is loaded once for 8 FMAs and the 8 sums come out as one vector (no call and no horizontal
 * sum per row, which cost more than a 64-value head's 8 FMAs). */
static void dot_rows_f32(int n, int nrows, float *s, const float *rows, size_t stride,
                         const float *x, float scale) {
    int n8 = n / 8 * 8;
    __m256 vs = _mm256_set1_ps(scale);
    int p = 0;
    for (; p + 8 <= nrows; p += 8) {
        const float *r = rows + (size_t)p * stride;
        __m256 acc[8];
        for (int k = 0; k < 8; k++)
            acc[k] = _mm256_setzero_ps();
        for (int i = 0; i < n8; i += 8) {
            __m256 xv = _mm256_loadu_ps(x + i);
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++)
                acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(r + (size_t)k * stride + i), xv, acc[k]);
        }
        __m256 v = reduce8_ps(acc);
        if (n8 < n) {
            float tail[8] __attribute__((aligned(32)));
            for (int k = 0; k < 8; k++) {
                tail[k] = 0.0f;
                for (int i = n8; i < n; i++)
                    tail[k] += r[(size_t)k * stride + (size_t)i] * x[i];
            }
            v = _mm256_add_ps(v, _mm256_load_ps(tail));
        }
        _mm256_storeu_ps(s + p, _mm256_mul_ps(v, vs));
    }
    for (; p < nrows; p++) {
        float d;
        dot_f32(n, &d, rows + (size_t)p * stride, x);
        s[p] = d * scale;
    }
}

/* The weighted sum of rows, 64 columns at a time: the 8 sums stay in registers over all rows. */
static void sum_rows_f32(int n, int nrows, float *y, const float *rows, size_t stride,
                         const float *w) {
    int n8 = n / 8 * 8;
    for (int c = 0; c < n8; c += 64) {
        int m = n8 - c < 64 ? (n8 - c) / 8 : 8;
        __m256 acc[8];
        for (int k = 0; k < 8; k++)
            acc[k] = _mm256_setzero_ps();
        if (m == 8) {
            for (int p = 0; p < nrows; p++) {
                __m256 wv = _mm256_broadcast_ss(w + p);
                const float *r = rows + (size_t)p * stride + c;
#pragma GCC unroll 8
                for (int k = 0; k < 8; k++)
                    acc[k] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(r + 8 * k), acc[k]);
            }
        } else {
            for (int p = 0; p < nrows; p++) {
                __m256 wv = _mm256_broadcast_ss(w + p);
                const float *r = rows + (size_t)p * stride + c;
                for (int k = 0; k < m; k++)
                    acc[k] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(r + 8 * k), acc[k]);
            }
        }
        for (int k = 0; k < m; k++)
            _mm256_storeu_ps(y + c + 8 * k, acc[k]);
    }
    for (int i = n8; i < n; i++) {
        float a = 0.0f;
        for (int p = 0; p < nrows; p++)
            a += w[p] * rows[(size_t)p * stride + (size_t)i];
        y[i] = a;
    }
}

/* exp(x) for x <= 0 (scores minus their maximum): 2^k * p(r) with x = k ln2 + r, |r| <= ln2/2,
 * p the degree-6 Taylor polynomial (relative error about 1e-7); below -87.33 (where results turn
 * denormal) the result is 0. A NaN stays NaN. */
static inline __m256 exp_neg_ps(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.33f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(lo, x); /* NaN in x passes through */
    __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

/* silu(v) * u with e = exp(-|v|) (never overflows): sigmoid(v) = 1 / (1 + e) for v >= 0 and
 * e / (1 + e) below. Large negative v gives -0 where the reference's quotient is a denormal. */
static inline __m256 swiglu_ps(__m256 v, __m256 u) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 e = exp_neg_ps(_mm256_or_ps(v, _mm256_set1_ps(-0.0f))); /* exp(-|v|) */
    __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 sig = _mm256_div_ps(_mm256_blendv_ps(one, e, neg), _mm256_add_ps(one, e));
    return _mm256_mul_ps(_mm256_mul_ps(v, sig), u);
}

/* The last n % 8 values go through the same vector code, so that a value's result does not
 * depend on where a thread's share of the row begins. */
static void swiglu_f32(int n, float *g, const float *u) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(g + i, swiglu_ps(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    if (i < n) {
        float vg[8] = {0};
        float vu[8] = {0};
        memcpy(vg, g + i, (size_t)(n - i) * sizeof(float));
        memcpy(vu, u + i, (size_t)(n - i) * sizeof(float));
        _mm256_storeu_ps(vg, swiglu_ps(_mm256_loadu_ps(vg), _mm256_loadu_ps(vu)));
        memcpy(g + i, vg, (size_t)(n - i) * sizeof(float));
    }
}

static float exp_sum_f32(int n, float *x, float max) {
    __m256 vm = _mm256_set1_ps(max);
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp_neg_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float sum = hsum_ps(acc);
    for (; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    return sum;
}

/* Q4_K to float: dl * q - ml per 32 values, the same two roundings as the reference. */
static void to_float_q4_k(const void *src, float *dst, int64_t n) {
    const struct q4_k_block *b = src;
    uint8_t sm[16];
    uint8_t q[64];
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = fp16(b[i].d);
        float dmin = fp16(b[i].dmin);
        _mm_storeu_si128((__m128i *)sm, k4_scales_mins(b[i].scales));
        for (int c = 0; c < 4; c++) {
            __m256i qb = loadu256(b[i].qs + 32 * c);
            _mm256_storeu_si256((__m256i *)q, _mm256_and_si256(qb, _mm256_set1_epi8(0x0f)));
            _mm256_storeu_si256((__m256i *)(q + 32),
                                _mm256_and_si256(_mm256_srli_epi16(qb, 4), _mm256_set1_epi8(0x0f)));
            for (int half = 0; half < 2; half++) {
                int k = 2 * c + half;
                __m256 dl = _mm256_set1_ps(d * (float)sm[k]);
                __m256 ml = _mm256_set1_ps(dmin * (float)sm[8 + k]);
                for (int j = 0; j < 32; j += 8) {
                    __m128i b8 = _mm_loadl_epi64((const __m128i *)(q + 32 * half + j));
                    __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b8));
                    _mm256_storeu_ps(dst, _mm256_sub_ps(_mm256_mul_ps(dl, v), ml));
                    dst += 8;
                }
            }
        }
    }
}

/* Q6_K to float: (d * scale) * q per 16 values, as the reference. */
static void to_float_q6_k(const void *src, float *dst, int64_t n) {
    const struct q6_k_block *b = src;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i m30 = _mm256_set1_epi8(0x30);
    int8_t q[128];
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = fp16(b[i].d);
        for (int h = 0; h < 2; h++) {
            __m256i l0 = loadu256(b[i].ql + 64 * h);
            __m256i l1 = loadu256(b[i].ql + 64 * h + 32);
            __m256i qh = loadu256(b[i].qh + 32 * h);
            __m256i off = _mm256_set1_epi8(32);
            __m256i v0 = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                         _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
            __m256i v1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                         _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
            __m256i v2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                         _mm256_and_si256(qh, m30));
            __m256i v3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                         _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
            _mm256_storeu_si256((__m256i *)q, _mm256_sub_epi8(v0, off));
            _mm256_storeu_si256((__m256i *)(q + 32), _mm256_sub_epi8(v1, off));
            _mm256_storeu_si256((__m256i *)(q + 64), _mm256_sub_epi8(v2, off));
            _mm256_storeu_si256((__m256i *)(q + 96), _mm256_sub_epi8(v3, off));
            for (int k = 0; k < 8; k++) {
                __m256 dl = _mm256_set1_ps(d * (float)b[i].scales[8 * h + k]);
                for (int j = 0; j < 16; j += 8) {
                    __m128i b8 = _mm_loadl_epi64((const __m128i *)(q + 16 * k + j));
                    __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b8));
                    _mm256_storeu_ps(dst, _mm256_mul_ps(dl, v));
                    dst += 8;
                }
            }
        }
    }
}

void q_kernels_init_avx2(struct q_kernels *k) {
    k->vec_dot[Q_TYPE_F32] = dot_f32;
    k->vec_dot[Q_TYPE_F16] = dot_f16;
    k->vec_dot[Q_TYPE_BF16] = dot_bf16;
    k->vec_dot[Q_TYPE_Q4_0] = dot_q4_0;
    k->vec_dot[Q_TYPE_Q4_1] = dot_q4_1;
    k->vec_dot[Q_TYPE_Q5_0] = dot_q5_0;
    k->vec_dot[Q_TYPE_Q5_1] = dot_q5_1;
    k->vec_dot[Q_TYPE_Q8_0] = dot_q8_0;
    k->vec_dot[Q_TYPE_Q2_K] = dot_q2_k;
    k->vec_dot[Q_TYPE_Q3_K] = dot_q3_k;
    k->vec_dot[Q_TYPE_Q4_K] = dot_q4_k;
    k->vec_dot[Q_TYPE_Q5_K] = dot_q5_k;
    k->vec_dot[Q_TYPE_Q6_K] = dot_q6_k;
    k->vec_dot_tile[Q_TYPE_F16] = tile_f16;
    k->tile_rows[Q_TYPE_F16] = 3;
    k->vec_dot_tile[Q_TYPE_Q4_0] = tile_q4_0;
    k->vec_dot_tile[Q_TYPE_Q5_0] = tile_q5_0;
    k->vec_dot_tile[Q_TYPE_Q8_0] = tile_q8_0;
    k->vec_dot_tile[Q_TYPE_Q4_K] = tile_q4_k;
    k->vec_dot_tile[Q_TYPE_Q6_K] = tile_q6_k;
    k->dot_rows = dot_rows_f32;
    k->sum_rows = sum_rows_f32;
    k->exp_sum = exp_sum_f32;
    k->swiglu = swiglu_f32;
    k->from_float[Q_TYPE_Q8_0] = from_float_q8_0;
    k->from_float[Q_TYPE_Q8_1] = from_float_q8_1;
    k->from_float[Q_TYPE_Q8_K] = from_float_q8_k;
    k->from_float[Q_TYPE_Q8_S] = from_float_q8_s;
    k->from_float[Q_TYPE_Q8_SP] = from_float_q8_sp;
    k->to_float[Q_TYPE_F16] = to_float_f16;
    k->to_float[Q_TYPE_BF16] = to_float_bf16;
    k->to_float[Q_TYPE_Q4_0] = to_float_q4_0;
    k->to_float[Q_TYPE_Q8_0] = to_float_q8_0;
    k->to_float[Q_TYPE_Q4_K] = to_float_q4_k;
    k->to_float[Q_TYPE_Q6_K] = to_float_q6_k;
    k->isa = "avx2";
}
