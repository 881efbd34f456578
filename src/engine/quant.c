/* quant: the scalar reference of every tensor type: half/bfloat16 conversions, dequantization
 * (bit-exact to ggml's definition of each block format), quantization and row dot products.
 * These functions define correct; arch/<isa>.c must agree with them (bit for bit for the
 * activation quantizers, within float rounding for vec_dot).
 *
 * Value order inside the blocks, as ggml stores them:
 *   Q4_x/Q5_x  byte j holds value j (low nibble) and value j+16 (high nibble).
 *   Q2_K/Q3_K  value 128c+32k+l is bits 2k..2k+1 of qs[32c+l]; Q3_K's high bit is bit v/32 of
 *              hmask[v%32]; one scale per 16 values.
 *   Q4_K/Q5_K  value 64c+l is the low nibble of qs[32c+l], value 64c+32+l the high one; Q5_K's
 *              5th bits are bits 2c and 2c+1 of qh[l]; one 6-bit scale and min per 32 values.
 *   Q6_K       value 128h+32k+l: nibble k/2 of ql[64h+32(k%2)+l], bits 2k..2k+1 of qh[32h+l].
 * Activations are quantized to Q8_0/Q8_1/Q8_K with qs in [-127, 127]; SIMD kernels rely on it. */
#include "engine/quant.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/* ---- type table ---- */

static const struct q_type_info q_types[Q_TYPE_COUNT] = {
    [Q_TYPE_F32] = {"F32", 1, 4, true, Q_TYPE_F32},
    [Q_TYPE_F16] = {"F16", 1, 2, true, Q_TYPE_F32},
    [Q_TYPE_Q4_0] = {"Q4_0", QK4_0, sizeof(struct q4_0_block), true, Q_TYPE_Q8_SP},
    [Q_TYPE_Q4_1] = {"Q4_1", QK4_1, sizeof(struct q4_1_block), true, Q_TYPE_Q8_1},
    [Q_TYPE_Q5_0] = {"Q5_0", QK5_0, sizeof(struct q5_0_block), true, Q_TYPE_Q8_SP},
    [Q_TYPE_Q5_1] = {"Q5_1", QK5_1, sizeof(struct q5_1_block), true, Q_TYPE_Q8_1},
    [Q_TYPE_Q8_0] = {"Q8_0", QK8_0, sizeof(struct q8_0_block), true, Q_TYPE_Q8_S},
    [Q_TYPE_Q8_1] = {"Q8_1", QK8_1, sizeof(struct q8_1_block), false, Q_TYPE_Q8_1},
    [Q_TYPE_Q2_K] = {"Q2_K", QK_K, sizeof(struct q2_k_block), true, Q_TYPE_Q8_K},
    [Q_TYPE_Q3_K] = {"Q3_K", QK_K, sizeof(struct q3_k_block), true, Q_TYPE_Q8_K},
    [Q_TYPE_Q4_K] = {"Q4_K", QK_K, sizeof(struct q4_k_block), true, Q_TYPE_Q8_K},
    [Q_TYPE_Q5_K] = {"Q5_K", QK_K, sizeof(struct q5_k_block), true, Q_TYPE_Q8_K},
    [Q_TYPE_Q6_K] = {"Q6_K", QK_K, sizeof(struct q6_k_block), true, Q_TYPE_Q8_K},
    [Q_TYPE_Q8_K] = {"Q8_K", QK_K, sizeof(struct q8_k_block), false, Q_TYPE_Q8_K},
    [Q_TYPE_BF16] = {"BF16", 1, 2, true, Q_TYPE_F32},
    [Q_TYPE_Q8_S] = {"Q8_S", QK8_0, Q8_S_BLOCK_SIZE, false, Q_TYPE_Q8_S},
    [Q_TYPE_Q8_SP] = {"Q8_SP", QK8_0, Q8_S_BLOCK_SIZE, false, Q_TYPE_Q8_SP},
};

const struct q_type_info *q_type_info(int type) {
    if (type < 0 || type >= Q_TYPE_COUNT || !q_types[type].name) return NULL;
    return &q_types[type];
}

size_t q_row_size(enum q_type type, int64_t n) {
    const struct q_type_info *ti = q_type_info((int)type);
    if (!ti || n < 0 || n % ti->blck) return 0;
    return (size_t)(n / ti->blck) * ti->type_size;
}

/* ---- half and bfloat16 ---- */

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

float q_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000 | (mant << 13)); /* inf, nan */
    if (exp != 0) return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0) return f32_from_bits(sign);
    /* denormal: mant * 2^-24, made normal by shifting the leading one into bit 10 */
    exp = 113;
    while (!(mant & 0x400)) {
        mant <<= 1;
        exp--;
    }
    return f32_from_bits(sign | (exp << 23) | ((mant & 0x3ff) << 13));
}

uint16_t q_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7fffffff;
    if (x > 0x7f800000) return sign | 0x7e00 | (uint16_t)((x >> 13) & 0x3ff); /* quiet nan */
    if (x >= 0x477ff000) return sign | 0x7c00; /* >= 65520 rounds to inf */
    if (x >= 0x38800000) {                     /* normal half: round the mantissa to 10 bits */
        x += 0xfff + ((x >> 13) & 1);
        return sign | (uint16_t)((x >> 13) - (112 << 10));
    }
    if (x <= 0x33000000) return sign; /* <= 2^-25: ties to even give zero */
    /* denormal half: the 24-bit significand shifted right by 126 - exp, rounded to even */
    uint32_t exp = x >> 23;
    uint32_t mant = (x & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - exp;
    uint32_t q = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return sign | (uint16_t)q;
}

float q_bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

uint16_t q_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

static float fp16(uint16_t h) { return q_f16_to_f32(h); }

/* ---- rounding helpers ---- */

/* a * b + c with two roundings, as ggml's dequantizers compute it: separate statements, so that
 * no compiler contracts them into one fma (clang does so within an expression when FMA is on). */
static float mul_add(float a, float b, float c) {
    float p = a * b;
    return p + c;
}

/* Round to nearest, ties to even, for |v| < 2^22: adding 1.5 * 2^23 makes the float's own
 * rounding drop the fraction. Same result as the SIMD cvtps in the default rounding mode. */
static int nearest_int(float v) {
    uint32_t u = f32_bits(v + 12582912.0f);
    return (int)(u & 0x007fffff) - 0x00400000;
}

/* Clamp to [-127, 127]; a NaN (from inf or nan input, or 0 * inf when the scale underflows)
 * becomes 0. The SIMD version does the same with an ordered-compare mask, then max and min. */
static float clamp127(float v) {
    if (isnan(v)) return 0.0f;
    v = v > -127.0f ? v : -127.0f;
    return v < 127.0f ? v : 127.0f;
}

/* Largest |x[i]|, ignoring NaN; 0 when all are zero or NaN. */
static float absmax(const float *x, int n) {
    float amax = 0.0f;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > amax) amax = a;
    }
    return amax;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- F32, F16, BF16 ---- */

static void to_float_f32(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void from_float_f32(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void to_float_f16(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = q_f16_to_f32(h[i]);
}

static void from_float_f16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = q_f32_to_f16(src[i]);
}

static void to_float_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = q_bf16_to_f32(h[i]);
}

static void from_float_bf16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = q_f32_to_bf16(src[i]);
}

static void dot_f32(int n, float *s, const void *w, const void *x) {
    const float *a = w;
    const float *b = x;
    float sum = 0.0f;
    for (int i = 0; i < n; i++)
        sum += a[i] * b[i];
    *s = sum;
}

static void dot_f16(int n, float *s, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    float sum = 0.0f;
    for (int i = 0; i < n; i++)
        sum += q_f16_to_f32(a[i]) * b[i];
    *s = sum;
}

static void dot_bf16(int n, float *s, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    float sum = 0.0f;
    for (int i = 0; i < n; i++)
        sum += q_bf16_to_f32(a[i]) * b[i];
    *s = sum;
}

/* ---- 32-value blocks: unpack to integers ---- */

/* q[j] = stored 4-bit value j (0..15) */
static void unpack_nibbles(const uint8_t qs[16], int q[32]) {
    for (int j = 0; j < 16; j++) {
        q[j] = qs[j] & 15;
        q[j + 16] = qs[j] >> 4;
    }
}

/* q[j] = stored 5-bit value j (0..31) */
static void unpack_q5(const uint8_t qs[16], const uint8_t qh[4], int q[32]) {
    uint32_t h =
        (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    unpack_nibbles(qs, q);
    for (int j = 0; j < 32; j++)
        q[j] |= (int)((h >> j) & 1) << 4;
}

static int dot_i32_i8(const int q[32], const int8_t y[32]) {
    int sum = 0;
    for (int j = 0; j < 32; j++)
        sum += q[j] * y[j];
    return sum;
}

/* ---- Q4_0 ---- */

static void to_float_q4_0(const void *src, float *dst, int64_t n) {
    const struct q4_0_block *b = src;
    int q[32];
    for (int64_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        float d = fp16(b[i].d);
        unpack_nibbles(b[i].qs, q);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)(q[j] - 8) * d;
    }
}

/* Max-abs scale with the sign of the extreme value, so that it maps to -8 (ggml's choice). */
static void from_float_q4_0(const float *src, void *dst, int64_t n) {
    struct q4_0_block *b = dst;
    for (int64_t i = 0; i < n / QK4_0; i++, src += QK4_0) {
        float amax = 0.0f;
        float max = 0.0f;
        for (int j = 0; j < 32; j++) {
            if (fabsf(src[j]) > amax) {
                amax = fabsf(src[j]);
                max = src[j];
            }
        }
        b[i].d = q_f32_to_f16(max / -8.0f);
        float d = fp16(b[i].d);
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int j = 0; j < 16; j++) {
            int q0 = clampi(nearest_int(clamp127(src[j] * id)) + 8, 0, 15);
            int q1 = clampi(nearest_int(clamp127(src[j + 16] * id)) + 8, 0, 15);
            b[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* Block i's 32 values of a Q8_SP row, in order. */
static void q8_sp_block(const void *x, int nb, int i, int8_t y[32]) {
    const int8_t *qs = q8_s_qs(x, nb);
    for (int j = 0; j < 32; j++)
        y[j] = qs[q8_sp_index(nb, i, j)];
}

static void dot_q4_0(int n, float *s, const void *w, const void *x) {
    const struct q4_0_block *a = w;
    int nb = n / QK4_0;
    const float *yd = q8_s_d(x);
    int q[32];
    int8_t y[32];
    float sum = 0.0f;
    for (int i = 0; i < nb; i++) {
        unpack_nibbles(a[i].qs, q);
        for (int j = 0; j < 32; j++)
            q[j] -= 8;
        q8_sp_block(x, nb, i, y);
        sum += (float)dot_i32_i8(q, y) * (fp16(a[i].d) * yd[i]);
    }
    *s = sum;
}

/* ---- Q4_1 and Q5_1: value = d * q + m ---- */

/* Min/max quantizer shared by Q4_1 (nmax 15) and Q5_1 (nmax 31); q[j] in 0..nmax. */
static void quantize_min_max(const float *x, int nmax, uint16_t *d, uint16_t *m, int q[32]) {
    float min = x[0];
    float max = x[0];
    for (int j = 1; j < 32; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    *d = q_f32_to_f16((max - min) / (float)nmax);
    *m = q_f32_to_f16(min);
    float df = fp16(*d);
    float mf = fp16(*m);
    float id = df != 0.0f ? 1.0f / df : 0.0f;
    for (int j = 0; j < 32; j++) {
        float v = (x[j] - mf) * id;
        q[j] = clampi(nearest_int(v > 0.0f ? (v < 64.0f ? v : 64.0f) : 0.0f), 0, nmax);
    }
}

static void to_float_q4_1(const void *src, float *dst, int64_t n) {
    const struct q4_1_block *b = src;
    int q[32];
    for (int64_t i = 0; i < n / QK4_1; i++, dst += QK4_1) {
        float d = fp16(b[i].d);
        float m = fp16(b[i].m);
        unpack_nibbles(b[i].qs, q);
        for (int j = 0; j < 32; j++)
            dst[j] = mul_add(d, (float)q[j], m);
    }
}

static void from_float_q4_1(const float *src, void *dst, int64_t n) {
    struct q4_1_block *b = dst;
    int q[32];
    for (int64_t i = 0; i < n / QK4_1; i++, src += QK4_1) {
        quantize_min_max(src, 15, &b[i].d, &b[i].m, q);
        for (int j = 0; j < 16; j++)
            b[i].qs[j] = (uint8_t)(q[j] | q[j + 16] << 4);
    }
}

static void dot_q4_1(int n, float *s, const void *w, const void *x) {
    const struct q4_1_block *a = w;
    const struct q8_1_block *y = x;
    int q[32];
    float sum = 0.0f;
    for (int i = 0; i < n / QK4_1; i++) {
        unpack_nibbles(a[i].qs, q);
        sum += (float)dot_i32_i8(q, y[i].qs) * (fp16(a[i].d) * fp16(y[i].d)) +
               fp16(a[i].m) * fp16(y[i].s);
    }
    *s = sum;
}

/* ---- Q5_0 ---- */

static void pack_q5(const int q[32], uint8_t qs[16], uint8_t qh[4]) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
    for (int j = 0; j < 32; j++)
        h |= (uint32_t)(q[j] >> 4) << j;
    for (int j = 0; j < 4; j++)
        qh[j] = (uint8_t)(h >> (8 * j));
}

static void to_float_q5_0(const void *src, float *dst, int64_t n) {
    const struct q5_0_block *b = src;
    int q[32];
    for (int64_t i = 0; i < n / QK5_0; i++, dst += QK5_0) {
        float d = fp16(b[i].d);
        unpack_q5(b[i].qs, b[i].qh, q);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)(q[j] - 16) * d;
    }
}

static void from_float_q5_0(const float *src, void *dst, int64_t n) {
    struct q5_0_block *b = dst;
    int q[32];
    for (int64_t i = 0; i < n / QK5_0; i++, src += QK5_0) {
        float amax = 0.0f;
        float max = 0.0f;
        for (int j = 0; j < 32; j++) {
            if (fabsf(src[j]) > amax) {
                amax = fabsf(src[j]);
                max = src[j];
            }
        }
        b[i].d = q_f32_to_f16(max / -16.0f);
        float d = fp16(b[i].d);
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int j = 0; j < 32; j++)
            q[j] = clampi(nearest_int(clamp127(src[j] * id)) + 16, 0, 31);
        pack_q5(q, b[i].qs, b[i].qh);
    }
}

static void dot_q5_0(int n, float *s, const void *w, const void *x) {
    const struct q5_0_block *a = w;
    int nb = n / QK5_0;
    const float *yd = q8_s_d(x);
    int q[32];
    int8_t y[32];
    float sum = 0.0f;
    for (int i = 0; i < nb; i++) {
        unpack_q5(a[i].qs, a[i].qh, q);
        for (int j = 0; j < 32; j++)
            q[j] -= 16;
        q8_sp_block(x, nb, i, y);
        sum += (float)dot_i32_i8(q, y) * (fp16(a[i].d) * yd[i]);
    }
    *s = sum;
}

/* ---- Q5_1 ---- */

static void to_float_q5_1(const void *src, float *dst, int64_t n) {
    const struct q5_1_block *b = src;
    int q[32];
    for (int64_t i = 0; i < n / QK5_1; i++, dst += QK5_1) {
        float d = fp16(b[i].d);
        float m = fp16(b[i].m);
        unpack_q5(b[i].qs, b[i].qh, q);
        for (int j = 0; j < 32; j++)
            dst[j] = mul_add(d, (float)q[j], m);
    }
}

static void from_float_q5_1(const float *src, void *dst, int64_t n) {
    struct q5_1_block *b = dst;
    int q[32];
    for (int64_t i = 0; i < n / QK5_1; i++, src += QK5_1) {
        quantize_min_max(src, 31, &b[i].d, &b[i].m, q);
        pack_q5(q, b[i].qs, b[i].qh);
    }
}

static void dot_q5_1(int n, float *s, const void *w, const void *x) {
    const struct q5_1_block *a = w;
    const struct q8_1_block *y = x;
    int q[32];
    float sum = 0.0f;
    for (int i = 0; i < n / QK5_1; i++) {
        unpack_q5(a[i].qs, a[i].qh, q);
        sum += (float)dot_i32_i8(q, y[i].qs) * (fp16(a[i].d) * fp16(y[i].d)) +
               fp16(a[i].m) * fp16(y[i].s);
    }
    *s = sum;
}

/* ---- Q8_0 and Q8_1 (also the activation formats) ---- */

static void to_float_q8_0(const void *src, float *dst, int64_t n) {
    const struct q8_0_block *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        float d = fp16(b[i].d);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)b[i].qs[j] * d;
    }
}

/* d = amax / 127, qs = roundf(x / d) (ties away from zero), as ggml's quantize_row_q8_0_ref.
 * Returns the sum of qs. */
static int quantize_q8_32(const float *x, uint16_t *dh, int8_t qs[32], float *d_out) {
    float d = absmax(x, 32) / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    *dh = q_f32_to_f16(d);
    for (int j = 0; j < 32; j++) {
        qs[j] = (int8_t)roundf(clamp127(x[j] * id));
        sum += qs[j];
    }
    *d_out = d;
    return sum;
}

static void from_float_q8_0(const float *src, void *dst, int64_t n) {
    struct q8_0_block *b = dst;
    float d;
    for (int64_t i = 0; i < n / QK8_0; i++, src += QK8_0)
        quantize_q8_32(src, &b[i].d, b[i].qs, &d);
}

static void dot_q8_0(int n, float *s, const void *w, const void *x) {
    const struct q8_0_block *a = w;
    int nb = n / QK8_0;
    const float *yd = q8_s_d(x);
    const int8_t *yq = q8_s_qs(x, nb);
    float sum = 0.0f;
    for (int i = 0; i < nb; i++) {
        int isum = 0;
        for (int j = 0; j < 32; j++)
            isum += a[i].qs[j] * yq[32 * i + j];
        sum += (float)isum * (fp16(a[i].d) * yd[i]);
    }
    *s = sum;
}

/* Q8_0's quantization of each block, stored as Q8_S (the layout in quant.h). */
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

static void to_float_q8_s(const void *src, float *dst, int64_t n) {
    int nb = (int)(n / QK8_0);
    const float *d = q8_s_d(src);
    const int8_t *qs = q8_s_qs(src, nb);
    for (int i = 0; i < nb; i++, dst += QK8_0)
        for (int j = 0; j < 32; j++)
            dst[j] = (float)qs[32 * i + j] * d[i];
}

/* Q8_S, then each pair of blocks' values interleaved by halves (quant.h). */
static void from_float_q8_sp(const float *src, void *dst, int64_t n) {
    int nb = (int)(n / QK8_0);
    from_float_q8_s(src, dst, n);
    int8_t *qs = (int8_t *)q8_s_qs(dst, nb);
    for (int i = 0; i + 1 < nb; i += 2) {
        int8_t pair[64];
        memcpy(pair, qs + 32 * i, sizeof(pair));
        for (int b = 0; b < 2; b++)
            for (int j = 0; j < 32; j++)
                qs[q8_sp_index(nb, i + b, j)] = pair[32 * b + j];
    }
}

static void to_float_q8_sp(const void *src, float *dst, int64_t n) {
    int nb = (int)(n / QK8_0);
    const float *d = q8_s_d(src);
    int8_t y[32];
    for (int i = 0; i < nb; i++, dst += QK8_0) {
        q8_sp_block(src, nb, i, y);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)y[j] * d[i];
    }
}

static void to_float_q8_1(const void *src, float *dst, int64_t n) {
    const struct q8_1_block *b = src;
    for (int64_t i = 0; i < n / QK8_1; i++, dst += QK8_1) {
        float d = fp16(b[i].d);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)b[i].qs[j] * d;
    }
}

/* As Q8_0, plus s = fp16(sum(qs) * d) with the unrounded d (ggml's quantize_row_q8_1_ref). */
static void from_float_q8_1(const float *src, void *dst, int64_t n) {
    struct q8_1_block *b = dst;
    float d;
    for (int64_t i = 0; i < n / QK8_1; i++, src += QK8_1) {
        int sum = quantize_q8_32(src, &b[i].d, b[i].qs, &d);
        b[i].s = q_f32_to_f16((float)sum * d);
    }
}

/* ---- Q8_K (activations of the K-quants) ---- */

static void to_float_q8_k(const void *src, float *dst, int64_t n) {
    const struct q8_k_block *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K)
        for (int j = 0; j < QK_K; j++)
            dst[j] = b[i].d * (float)b[i].qs[j];
}

/* ggml's quantize_row_q8_K_ref: the first element of largest magnitude maps to -127 exactly,
 * qs = nearest (ties to even), d = 1 / iscale (so d has the opposite sign of that element). */
static void from_float_q8_k(const float *src, void *dst, int64_t n) {
    struct q8_k_block *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float amax = 0.0f;
        float max = 0.0f;
        for (int j = 0; j < QK_K; j++) {
            if (fabsf(src[j]) > amax) {
                amax = fabsf(src[j]);
                max = src[j];
            }
        }
        if (amax == 0.0f) {
            memset(&b[i], 0, sizeof(b[i]));
            continue;
        }
        float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++)
            b[i].qs[j] = (int8_t)nearest_int(clamp127(iscale * src[j]));
        for (int k = 0; k < QK_K / 16; k++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += b[i].qs[16 * k + l];
            b[i].bsums[k] = (int16_t)sum;
        }
        b[i].d = 1.0f / iscale;
    }
}

/* Sum over 16 groups of 16 of g[k] * dot(q, y) for one super-block. */
static int dot16_scaled(const int8_t q[QK_K], const int8_t y[QK_K], const int g[16]) {
    int sum = 0;
    for (int k = 0; k < 16; k++) {
        int s = 0;
        for (int l = 0; l < 16; l++)
            s += q[16 * k + l] * y[16 * k + l];
        sum += g[k] * s;
    }
    return sum;
}

/* ---- Q2_K ---- */

/* q[v] = the 2-bit value v (0..3), shared by Q2_K and Q3_K. */
static void unpack_2bit(const uint8_t qs[QK_K / 4], int8_t q[QK_K]) {
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++)
                q[128 * c + 32 * k + l] = (int8_t)((qs[32 * c + l] >> (2 * k)) & 3);
}

static void pack_2bit(const int8_t q[QK_K], uint8_t qs[QK_K / 4]) {
    for (int c = 0; c < 2; c++)
        for (int l = 0; l < 32; l++)
            qs[32 * c + l] = (uint8_t)(q[128 * c + l] | q[128 * c + 32 + l] << 2 |
                                       q[128 * c + 64 + l] << 4 | q[128 * c + 96 + l] << 6);
}

static void to_float_q2_k(const void *src, float *dst, int64_t n) {
    const struct q2_k_block *b = src;
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        float d = fp16(b[i].d);
        float dmin = fp16(b[i].dmin);
        unpack_2bit(b[i].qs, q);
        for (int k = 0; k < 16; k++) {
            float dl = d * (float)(b[i].scales[k] & 15);
            float ml = dmin * (float)(b[i].scales[k] >> 4);
            for (int l = 0; l < 16; l++)
                dst[16 * k + l] = mul_add(dl, (float)q[16 * k + l], -ml);
        }
    }
}

/* Per 16 values: offset min (<= 0) and step (max - min) / 3; 4-bit scales and mins relative
 * to the largest of each, then the values re-quantized against the decoded scales. */
static void from_float_q2_k(const float *src, void *dst, int64_t n) {
    struct q2_k_block *b = dst;
    float scale[16];
    float min[16];
    float hi[16];
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        memset(hi, 0, sizeof(hi));
        float max_scale = 0.0f;
        float max_min = 0.0f;
        for (int k = 0; k < 16; k++) {
            float lo = 0.0f;
            for (int l = 0; l < 16; l++) {
                if (src[16 * k + l] < lo) lo = src[16 * k + l];
                if (src[16 * k + l] > hi[k]) hi[k] = src[16 * k + l];
            }
            scale[k] = (hi[k] - lo) / 3.0f;
            min[k] = -lo;
            if (scale[k] > max_scale) max_scale = scale[k];
            if (min[k] > max_min) max_min = min[k];
        }
        b[i].d = q_f32_to_f16(max_scale / 15.0f);
        b[i].dmin = q_f32_to_f16(max_min / 15.0f);
        float d = fp16(b[i].d);
        float dmin = fp16(b[i].dmin);
        float id = d > 0.0f ? 1.0f / d : 0.0f;
        float idmin = dmin > 0.0f ? 1.0f / dmin : 0.0f;
        for (int k = 0; k < 16; k++) {
            /* the min rounds up so that the offset covers the smallest value; the step then
             * spans from there to the largest */
            int lm = clampi((int)ceilf(fminf(min[k] * idmin, 15.0f)), 0, 15);
            float ml = dmin * (float)lm;
            int ls = clampi(nearest_int(fminf((hi[k] + ml) / 3.0f * id, 15.0f)), 0, 15);
            b[i].scales[k] = (uint8_t)(ls | lm << 4);
            float dl = d * (float)ls;
            float il = dl > 0.0f ? 1.0f / dl : 0.0f;
            for (int l = 0; l < 16; l++) {
                float v = (src[16 * k + l] + ml) * il;
                q[16 * k + l] = (int8_t)clampi(nearest_int(fminf(fmaxf(v, 0.0f), 3.0f)), 0, 3);
            }
        }
        pack_2bit(q, b[i].qs);
    }
}

static void dot_q2_k(int n, float *s, const void *w, const void *x) {
    const struct q2_k_block *a = w;
    const struct q8_k_block *y = x;
    int8_t q[QK_K];
    int sc[16];
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        int summ = 0;
        unpack_2bit(a[i].qs, q);
        for (int k = 0; k < 16; k++) {
            sc[k] = a[i].scales[k] & 15;
            summ += (a[i].scales[k] >> 4) * y[i].bsums[k];
        }
        int isum = dot16_scaled(q, y[i].qs, sc);
        sum += y[i].d * (fp16(a[i].d) * (float)isum - fp16(a[i].dmin) * (float)summ);
    }
    *s = sum;
}

/* ---- Q3_K ---- */

/* The 16 signed scales (-32..31) from their 12-byte packing: low 4 bits in scales[k % 8]
 * (low nibble for k < 8, high for k >= 8), high 2 bits at bit 2*(k/4) of scales[8 + k%4]. */
static void q3_k_scales(const uint8_t s[12], int sc[16]) {
    for (int k = 0; k < 16; k++) {
        int lo = k < 8 ? s[k] & 15 : s[k - 8] >> 4;
        int hi = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
        sc[k] = (lo | hi << 4) - 32;
    }
}

/* q[v] = value v in -4..3 */
static void q3_k_unpack(const struct q3_k_block *b, int8_t q[QK_K]) {
    unpack_2bit(b->qs, q);
    for (int v = 0; v < QK_K; v++)
        if (!((b->hmask[v % 32] >> (v / 32)) & 1)) q[v] -= 4;
}

static void to_float_q3_k(const void *src, float *dst, int64_t n) {
    const struct q3_k_block *b = src;
    int8_t q[QK_K];
    int sc[16];
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        float d = fp16(b[i].d);
        q3_k_unpack(&b[i], q);
        q3_k_scales(b[i].scales, sc);
        for (int k = 0; k < 16; k++) {
            float dl = d * (float)sc[k];
            for (int l = 0; l < 16; l++)
                dst[16 * k + l] = dl * (float)q[16 * k + l];
        }
    }
}

/* Signed max-abs per 16 values (the extreme value maps to -4), 6-bit signed scales relative to
 * the largest (which maps to -32), values re-quantized against the decoded scales. */
static void from_float_q3_k(const float *src, void *dst, int64_t n) {
    struct q3_k_block *b = dst;
    float scale[16];
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float max_scale = 0.0f;
        for (int k = 0; k < 16; k++) {
            float amax = 0.0f;
            float max = 0.0f;
            for (int l = 0; l < 16; l++) {
                if (fabsf(src[16 * k + l]) > amax) {
                    amax = fabsf(src[16 * k + l]);
                    max = src[16 * k + l];
                }
            }
            scale[k] = max / -4.0f;
            if (fabsf(scale[k]) > fabsf(max_scale)) max_scale = scale[k];
        }
        memset(b[i].scales, 0, sizeof(b[i].scales));
        b[i].d = q_f32_to_f16(max_scale / -32.0f);
        float d = fp16(b[i].d);
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int k = 0; k < 16; k++) {
            int ls = clampi(nearest_int(clamp127(scale[k] * id)), -32, 31);
            int u = ls + 32;
            if (k < 8)
                b[i].scales[k] |= (uint8_t)(u & 15);
            else
                b[i].scales[k - 8] |= (uint8_t)((u & 15) << 4);
            b[i].scales[8 + k % 4] |= (uint8_t)((u >> 4) << (2 * (k / 4)));
            float dl = d * (float)ls;
            float il = dl != 0.0f ? 1.0f / dl : 0.0f;
            for (int l = 0; l < 16; l++)
                q[16 * k + l] = (int8_t)clampi(nearest_int(clamp127(src[16 * k + l] * il)), -4, 3);
        }
        memset(b[i].hmask, 0, sizeof(b[i].hmask));
        for (int v = 0; v < QK_K; v++) {
            q[v] = (int8_t)(q[v] + 4);
            if (q[v] > 3) {
                b[i].hmask[v % 32] |= (uint8_t)(1 << (v / 32));
                q[v] = (int8_t)(q[v] - 4);
            }
        }
        pack_2bit(q, b[i].qs);
    }
}

static void dot_q3_k(int n, float *s, const void *w, const void *x) {
    const struct q3_k_block *a = w;
    const struct q8_k_block *y = x;
    int8_t q[QK_K];
    int sc[16];
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        q3_k_unpack(&a[i], q);
        q3_k_scales(a[i].scales, sc);
        int isum = dot16_scaled(q, y[i].qs, sc);
        sum += (fp16(a[i].d) * y[i].d) * (float)isum;
    }
    *s = sum;
}

/* ---- Q4_K and Q5_K: 8 groups of 32, 6-bit scales and mins ---- */

/* Scale and min of group k (0..7) from the 12-byte packing (ggml's get_scale_min_k4). */
static void k4_scale_min(const uint8_t s[K_SCALE_SIZE], int k, int *sc, int *m) {
    if (k < 4) {
        *sc = s[k] & 63;
        *m = s[k + 4] & 63;
    } else {
        *sc = (s[k + 4] & 15) | (s[k - 4] >> 6) << 4;
        *m = (s[k + 4] >> 4) | (s[k] >> 6) << 4;
    }
}

static void k4_pack_scale_min(uint8_t s[K_SCALE_SIZE], int k, int sc, int m) {
    if (k < 4) {
        s[k] |= (uint8_t)sc;
        s[k + 4] |= (uint8_t)m;
    } else {
        s[k + 4] = (uint8_t)((sc & 15) | (m & 15) << 4);
        s[k - 4] |= (uint8_t)((sc >> 4) << 6);
        s[k] |= (uint8_t)((m >> 4) << 6);
    }
}

/* q[v] = the 4-bit value v (0..15) */
static void unpack_k4(const uint8_t qs[QK_K / 2], int8_t q[QK_K]) {
    for (int c = 0; c < 4; c++) {
        for (int l = 0; l < 32; l++) {
            q[64 * c + l] = (int8_t)(qs[32 * c + l] & 15);
            q[64 * c + 32 + l] = (int8_t)(qs[32 * c + l] >> 4);
        }
    }
}

static void pack_k4(const int8_t q[QK_K], uint8_t qs[QK_K / 2]) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            qs[32 * c + l] = (uint8_t)((q[64 * c + l] & 15) | (q[64 * c + 32 + l] & 15) << 4);
}

static void q5_k_unpack(const struct q5_k_block *b, int8_t q[QK_K]) {
    unpack_k4(b->qs, q);
    for (int c = 0; c < 4; c++) {
        for (int l = 0; l < 32; l++) {
            q[64 * c + l] = (int8_t)(q[64 * c + l] | ((b->qh[l] >> (2 * c)) & 1) << 4);
            q[64 * c + 32 + l] =
                (int8_t)(q[64 * c + 32 + l] | ((b->qh[l] >> (2 * c + 1)) & 1) << 4);
        }
    }
}

/* Per 32 values: offset min (<= 0) and step (max - min) / nmax; 6-bit scales and mins relative
 * to the largest of each; values re-quantized against the decoded scales (q in 0..nmax). */
static void quantize_k_min_max(const float *x, int nmax, uint16_t *dh, uint16_t *dminh,
                               uint8_t s[K_SCALE_SIZE], int8_t q[QK_K]) {
    float scale[8];
    float min[8];
    float hi[8];
    float max_scale = 0.0f;
    float max_min = 0.0f;
    for (int k = 0; k < 8; k++) {
        float lo = 0.0f;
        hi[k] = 0.0f;
        for (int l = 0; l < 32; l++) {
            if (x[32 * k + l] < lo) lo = x[32 * k + l];
            if (x[32 * k + l] > hi[k]) hi[k] = x[32 * k + l];
        }
        scale[k] = (hi[k] - lo) / (float)nmax;
        min[k] = -lo;
        if (scale[k] > max_scale) max_scale = scale[k];
        if (min[k] > max_min) max_min = min[k];
    }
    *dh = q_f32_to_f16(max_scale / 63.0f);
    *dminh = q_f32_to_f16(max_min / 63.0f);
    float d = fp16(*dh);
    float dmin = fp16(*dminh);
    float id = d > 0.0f ? 1.0f / d : 0.0f;
    float idmin = dmin > 0.0f ? 1.0f / dmin : 0.0f;
    memset(s, 0, K_SCALE_SIZE);
    for (int k = 0; k < 8; k++) {
        int lm = clampi((int)ceilf(fminf(min[k] * idmin, 63.0f)), 0, 63);
        float ml = dmin * (float)lm;
        int ls = clampi(nearest_int(fminf((hi[k] + ml) / (float)nmax * id, 63.0f)), 0, 63);
        k4_pack_scale_min(s, k, ls, lm);
        float dl = d * (float)ls;
        float il = dl > 0.0f ? 1.0f / dl : 0.0f;
        for (int l = 0; l < 32; l++) {
            float v = (x[32 * k + l] + ml) * il;
            int lq = nearest_int(fminf(fmaxf(v, 0.0f), (float)nmax));
            q[32 * k + l] = (int8_t)clampi(lq, 0, nmax);
        }
    }
}

static void to_float_q4_k(const void *src, float *dst, int64_t n) {
    const struct q4_k_block *b = src;
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        float d = fp16(b[i].d);
        float dmin = fp16(b[i].dmin);
        unpack_k4(b[i].qs, q);
        for (int k = 0; k < 8; k++) {
            int sc;
            int m;
            k4_scale_min(b[i].scales, k, &sc, &m);
            float dl = d * (float)sc;
            float ml = dmin * (float)m;
            for (int l = 0; l < 32; l++)
                dst[32 * k + l] = mul_add(dl, (float)q[32 * k + l], -ml);
        }
    }
}

static void from_float_q4_k(const float *src, void *dst, int64_t n) {
    struct q4_k_block *b = dst;
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        quantize_k_min_max(src, 15, &b[i].d, &b[i].dmin, b[i].scales, q);
        pack_k4(q, b[i].qs);
    }
}

/* Shared by Q4_K and Q5_K once the values are unpacked. */
static float dot_k4_block(const int8_t q[QK_K], const uint8_t s[K_SCALE_SIZE], uint16_t dh,
                          uint16_t dminh, const struct q8_k_block *y) {
    int isum = 0;
    int summ = 0;
    for (int k = 0; k < 8; k++) {
        int sc;
        int m;
        int dot = 0;
        k4_scale_min(s, k, &sc, &m);
        for (int l = 0; l < 32; l++)
            dot += q[32 * k + l] * y->qs[32 * k + l];
        isum += sc * dot;
        summ += m * (y->bsums[2 * k] + y->bsums[2 * k + 1]);
    }
    return y->d * (fp16(dh) * (float)isum - fp16(dminh) * (float)summ);
}

static void dot_q4_k(int n, float *s, const void *w, const void *x) {
    const struct q4_k_block *a = w;
    const struct q8_k_block *y = x;
    int8_t q[QK_K];
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        unpack_k4(a[i].qs, q);
        sum += dot_k4_block(q, a[i].scales, a[i].d, a[i].dmin, &y[i]);
    }
    *s = sum;
}

static void to_float_q5_k(const void *src, float *dst, int64_t n) {
    const struct q5_k_block *b = src;
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        float d = fp16(b[i].d);
        float dmin = fp16(b[i].dmin);
        q5_k_unpack(&b[i], q);
        for (int k = 0; k < 8; k++) {
            int sc;
            int m;
            k4_scale_min(b[i].scales, k, &sc, &m);
            float dl = d * (float)sc;
            float ml = dmin * (float)m;
            for (int l = 0; l < 32; l++)
                dst[32 * k + l] = mul_add(dl, (float)q[32 * k + l], -ml);
        }
    }
}

static void from_float_q5_k(const float *src, void *dst, int64_t n) {
    struct q5_k_block *b = dst;
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        quantize_k_min_max(src, 31, &b[i].d, &b[i].dmin, b[i].scales, q);
        pack_k4(q, b[i].qs);
        memset(b[i].qh, 0, sizeof(b[i].qh));
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                b[i].qh[l] |= (uint8_t)((q[64 * c + l] >> 4) << (2 * c));
                b[i].qh[l] |= (uint8_t)((q[64 * c + 32 + l] >> 4) << (2 * c + 1));
            }
        }
    }
}

static void dot_q5_k(int n, float *s, const void *w, const void *x) {
    const struct q5_k_block *a = w;
    const struct q8_k_block *y = x;
    int8_t q[QK_K];
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        q5_k_unpack(&a[i], q);
        sum += dot_k4_block(q, a[i].scales, a[i].d, a[i].dmin, &y[i]);
    }
    *s = sum;
}

/* ---- Q6_K ---- */

/* q[v] = value v in -32..31 */
static void q6_k_unpack(const struct q6_k_block *b, int8_t q[QK_K]) {
    for (int h = 0; h < 2; h++) {
        for (int k = 0; k < 4; k++) {
            for (int l = 0; l < 32; l++) {
                int lo = (b->ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 15;
                int hi = (b->qh[32 * h + l] >> (2 * k)) & 3;
                q[128 * h + 32 * k + l] = (int8_t)((lo | hi << 4) - 32);
            }
        }
    }
}

static void to_float_q6_k(const void *src, float *dst, int64_t n) {
    const struct q6_k_block *b = src;
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        float d = fp16(b[i].d);
        q6_k_unpack(&b[i], q);
        for (int v = 0; v < QK_K; v++)
            dst[v] = d * (float)b[i].scales[v / 16] * (float)q[v];
    }
}

/* Signed max-abs per 16 values (the extreme value maps to -32), 8-bit signed scales relative
 * to the largest (which maps to -128), values re-quantized against the decoded scales. */
static void from_float_q6_k(const float *src, void *dst, int64_t n) {
    struct q6_k_block *b = dst;
    float scale[16];
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float max_scale = 0.0f;
        for (int k = 0; k < 16; k++) {
            float amax = 0.0f;
            float max = 0.0f;
            for (int l = 0; l < 16; l++) {
                if (fabsf(src[16 * k + l]) > amax) {
                    amax = fabsf(src[16 * k + l]);
                    max = src[16 * k + l];
                }
            }
            scale[k] = max / -32.0f;
            if (fabsf(scale[k]) > fabsf(max_scale)) max_scale = scale[k];
        }
        b[i].d = q_f32_to_f16(max_scale / -128.0f);
        float d = fp16(b[i].d);
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int k = 0; k < 16; k++) {
            float v = scale[k] * id;
            int ls = clampi(nearest_int(fminf(fmaxf(v, -128.0f), 127.0f)), -128, 127);
            b[i].scales[k] = (int8_t)ls;
            float dl = d * (float)ls;
            float il = dl != 0.0f ? 1.0f / dl : 0.0f;
            for (int l = 0; l < 16; l++) {
                int lq = nearest_int(clamp127(src[16 * k + l] * il));
                q[16 * k + l] = (int8_t)(clampi(lq, -32, 31) + 32);
            }
        }
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 32; l++) {
                const int8_t *p = q + 128 * h + l;
                b[i].ql[64 * h + l] = (uint8_t)((p[0] & 15) | (p[64] & 15) << 4);
                b[i].ql[64 * h + 32 + l] = (uint8_t)((p[32] & 15) | (p[96] & 15) << 4);
                b[i].qh[32 * h + l] = (uint8_t)(p[0] >> 4 | (p[32] >> 4) << 2 | (p[64] >> 4) << 4 |
                                                (p[96] >> 4) << 6);
            }
        }
    }
}

static void dot_q6_k(int n, float *s, const void *w, const void *x) {
    const struct q6_k_block *a = w;
    const struct q8_k_block *y = x;
    int8_t q[QK_K];
    int sc[16];
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        q6_k_unpack(&a[i], q);
        for (int k = 0; k < 16; k++)
            sc[k] = a[i].scales[k];
        int isum = dot16_scaled(q, y[i].qs, sc);
        sum += (fp16(a[i].d) * y[i].d) * (float)isum;
    }
    *s = sum;
}

/* ---- tables and dispatch ---- */

static void dot_rows_f32(int n, int nrows, float *s, const float *rows, size_t stride,
                         const float *x, float scale) {
    for (int p = 0; p < nrows; p++) {
        float d;
        dot_f32(n, &d, rows + (size_t)p * stride, x);
        s[p] = d * scale;
    }
}

static void sum_rows_f32(int n, int nrows, float *y, const float *rows, size_t stride,
                         const float *w) {
    for (int i = 0; i < n; i++)
        y[i] = 0.0f;
    for (int p = 0; p < nrows; p++)
        for (int i = 0; i < n; i++)
            y[i] += w[p] * rows[(size_t)p * stride + (size_t)i];
}

static void swiglu_f32(int n, float *g, const float *u) {
    for (int i = 0; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static float exp_sum_f32(int n, float *x, float max) {
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    return sum;
}

void q_vec_dot_tile_ref(const struct q_kernels *k, enum q_type type, int n, int nr, int nt,
                        float *s, size_t s_stride, const void *w, size_t w_stride,
                        const void *const *x) {
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++)
            k->vec_dot[type](n, &s[(size_t)t * s_stride + (size_t)r],
                             (const uint8_t *)w + (size_t)r * w_stride, x[t]);
}

static const struct q_kernels q_ref = {
    .to_float =
        {
            [Q_TYPE_F32] = to_float_f32,
            [Q_TYPE_F16] = to_float_f16,
            [Q_TYPE_BF16] = to_float_bf16,
            [Q_TYPE_Q4_0] = to_float_q4_0,
            [Q_TYPE_Q4_1] = to_float_q4_1,
            [Q_TYPE_Q5_0] = to_float_q5_0,
            [Q_TYPE_Q5_1] = to_float_q5_1,
            [Q_TYPE_Q8_0] = to_float_q8_0,
            [Q_TYPE_Q8_1] = to_float_q8_1,
            [Q_TYPE_Q2_K] = to_float_q2_k,
            [Q_TYPE_Q3_K] = to_float_q3_k,
            [Q_TYPE_Q4_K] = to_float_q4_k,
            [Q_TYPE_Q5_K] = to_float_q5_k,
            [Q_TYPE_Q6_K] = to_float_q6_k,
            [Q_TYPE_Q8_K] = to_float_q8_k,
            [Q_TYPE_Q8_S] = to_float_q8_s,
            [Q_TYPE_Q8_SP] = to_float_q8_sp,
        },
    .from_float =
        {
            [Q_TYPE_F32] = from_float_f32,
            [Q_TYPE_F16] = from_float_f16,
            [Q_TYPE_BF16] = from_float_bf16,
            [Q_TYPE_Q4_0] = from_float_q4_0,
            [Q_TYPE_Q4_1] = from_float_q4_1,
            [Q_TYPE_Q5_0] = from_float_q5_0,
            [Q_TYPE_Q5_1] = from_float_q5_1,
            [Q_TYPE_Q8_0] = from_float_q8_0,
            [Q_TYPE_Q8_1] = from_float_q8_1,
            [Q_TYPE_Q2_K] = from_float_q2_k,
            [Q_TYPE_Q3_K] = from_float_q3_k,
            [Q_TYPE_Q4_K] = from_float_q4_k,
            [Q_TYPE_Q5_K] = from_float_q5_k,
            [Q_TYPE_Q6_K] = from_float_q6_k,
            [Q_TYPE_Q8_K] = from_float_q8_k,
            [Q_TYPE_Q8_S] = from_float_q8_s,
            [Q_TYPE_Q8_SP] = from_float_q8_sp,
        },
    .vec_dot =
        {
            [Q_TYPE_F32] = dot_f32,
            [Q_TYPE_F16] = dot_f16,
            [Q_TYPE_BF16] = dot_bf16,
            [Q_TYPE_Q4_0] = dot_q4_0,
            [Q_TYPE_Q4_1] = dot_q4_1,
            [Q_TYPE_Q5_0] = dot_q5_0,
            [Q_TYPE_Q5_1] = dot_q5_1,
            [Q_TYPE_Q8_0] = dot_q8_0,
            [Q_TYPE_Q2_K] = dot_q2_k,
            [Q_TYPE_Q3_K] = dot_q3_k,
            [Q_TYPE_Q4_K] = dot_q4_k,
            [Q_TYPE_Q5_K] = dot_q5_k,
            [Q_TYPE_Q6_K] = dot_q6_k,
        },
    .dot_rows = dot_rows_f32,
    .sum_rows = sum_rows_f32,
    .exp_sum = exp_sum_f32,
    .swiglu = swiglu_f32,
    .isa = "scalar",
};

const struct q_kernels *q_kernels_ref(void) { return &q_ref; }

#if defined(__x86_64__) || defined(__i386__)
/* cpuid, plus xgetbv for the OS saving YMM state; __builtin_cpu_supports("f16c") is not known
 * to every compiler we build with (clang 14). */
bool q_cpu_has_avx2(void) {
    unsigned a, b, c, d;
    unsigned xcr0_lo, xcr0_hi;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    bool fma = c & (1u << 12);
    bool osxsave = c & (1u << 27);
    bool f16c = c & (1u << 29);
    if (!fma || !osxsave || !f16c) return false;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    (void)xcr0_hi;
    if ((xcr0_lo & 6) != 6) return false; /* XMM and YMM state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return b & (1u << 5);
}
#else
bool q_cpu_has_avx2(void) { return false; }
#endif

static struct q_kernels q_best; /* filled once by q_best_init */
static pthread_once_t q_best_once = PTHREAD_ONCE_INIT;

static void q_best_init(void) {
    const char *no_simd = getenv("OLLAMA_NO_SIMD");
    q_best = q_ref;
    if (no_simd && no_simd[0] && strcmp(no_simd, "0") != 0) return;
    if (q_cpu_has_avx2()) q_kernels_init_avx2(&q_best);
}

const struct q_kernels *q_kernels_best(void) {
    pthread_once(&q_best_once, q_best_init);
    return &q_best;
}
