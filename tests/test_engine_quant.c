/* Quant kernels: block layouts, half/bfloat16 conversions, hand-made known-answer blocks for every
 * type (these catch a wrong nibble or bit order), quantize -> dequantize error bounds, the
 * reference vec_dot against the dot of the dequantized rows, and every AVX2 kernel against its
 * scalar reference on random and edge-case blocks. */
#include "engine/quant.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float rng_uniform(void) { /* [0, 1) */
    return (float)(rng_next() >> 40) / 16777216.0f;
}

static float rng_gauss(void) {
    float u = rng_uniform() + 1e-7f;
    float v = rng_uniform();
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

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

static const enum q_type weight_types[] = {
    Q_TYPE_F32,  Q_TYPE_F16,  Q_TYPE_BF16, Q_TYPE_Q4_0, Q_TYPE_Q4_1, Q_TYPE_Q5_0, Q_TYPE_Q5_1,
    Q_TYPE_Q8_0, Q_TYPE_Q2_K, Q_TYPE_Q3_K, Q_TYPE_Q4_K, Q_TYPE_Q5_K, Q_TYPE_Q6_K,
};
#define N_WEIGHT_TYPES (int)(sizeof(weight_types) / sizeof(weight_types[0]))

static const char *tname(enum q_type t) { return q_type_info((int)t)->name; }

static void *xmalloc(size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* ---- layout and table ---- */

static void test_layout(void) {
    static const struct {
        enum q_type t;
        const char *name;
        int blck;
        size_t size;
        bool weight;
        enum q_type dot;
    } want[] = {
        {Q_TYPE_F32, "F32", 1, 4, true, Q_TYPE_F32},
        {Q_TYPE_F16, "F16", 1, 2, true, Q_TYPE_F32},
        {Q_TYPE_Q4_0, "Q4_0", 32, 18, true, Q_TYPE_Q8_SP},
        {Q_TYPE_Q4_1, "Q4_1", 32, 20, true, Q_TYPE_Q8_1},
        {Q_TYPE_Q5_0, "Q5_0", 32, 22, true, Q_TYPE_Q8_SP},
        {Q_TYPE_Q5_1, "Q5_1", 32, 24, true, Q_TYPE_Q8_1},
        {Q_TYPE_Q8_0, "Q8_0", 32, 34, true, Q_TYPE_Q8_S},
        {Q_TYPE_Q8_1, "Q8_1", 32, 36, false, Q_TYPE_Q8_1},
        {Q_TYPE_Q2_K, "Q2_K", 256, 84, true, Q_TYPE_Q8_K},
        {Q_TYPE_Q3_K, "Q3_K", 256, 110, true, Q_TYPE_Q8_K},
        {Q_TYPE_Q4_K, "Q4_K", 256, 144, true, Q_TYPE_Q8_K},
        {Q_TYPE_Q5_K, "Q5_K", 256, 176, true, Q_TYPE_Q8_K},
        {Q_TYPE_Q6_K, "Q6_K", 256, 210, true, Q_TYPE_Q8_K},
        {Q_TYPE_Q8_K, "Q8_K", 256, 292, false, Q_TYPE_Q8_K},
        {Q_TYPE_BF16, "BF16", 1, 2, true, Q_TYPE_F32},
        {Q_TYPE_Q8_S, "Q8_S", 32, 40, false, Q_TYPE_Q8_S},
        {Q_TYPE_Q8_SP, "Q8_SP", 32, 40, false, Q_TYPE_Q8_SP},
    };
    int n_known = 0;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct q_type_info *ti = q_type_info((int)want[i].t);
        CHECK(ti != NULL);
        if (!ti) continue;
        CHECK(strcmp(ti->name, want[i].name) == 0);
        CHECK_EQ(ti->blck, want[i].blck);
        CHECK_EQ(ti->type_size, want[i].size);
        CHECK_EQ(ti->is_weight, want[i].weight);
        CHECK_EQ(ti->vec_dot_type, want[i].dot);
    }
    for (int t = -3; t < Q_TYPE_COUNT + 3; t++)
        if (q_type_info(t)) n_known++;
    CHECK_EQ(n_known, 17);
    CHECK(q_type_info(4) == NULL); /* removed Q4_2 */
    CHECK(q_type_info(Q_TYPE_COUNT) == NULL);
    CHECK(q_type_info(-1) == NULL);

    CHECK_EQ(sizeof(struct q4_0_block), 18);
    CHECK_EQ(sizeof(struct q8_k_block), 292);
    CHECK_EQ(q_row_size(Q_TYPE_Q4_K, 4096), 16 * 144);
    CHECK_EQ(q_row_size(Q_TYPE_Q4_K, 100), 0);
    CHECK_EQ(q_row_size(Q_TYPE_Q8_0, 64), 68);
    CHECK_EQ(q_row_size(Q_TYPE_Q8_S, 64), 80);
    CHECK_EQ(q_row_size(Q_TYPE_F16, 7), 14);
    CHECK_EQ(q_row_size(Q_TYPE_F32, -1), 0);
    CHECK_EQ(q_row_size((enum q_type)5, 32), 0);

    /* the reference table is complete */
    const struct q_kernels *ref = q_kernels_ref();
    CHECK(strcmp(ref->isa, "scalar") == 0);
    for (int t = 0; t < Q_TYPE_COUNT; t++) {
        const struct q_type_info *ti = q_type_info(t);
        if (!ti) continue;
        CHECK(ref->to_float[t] != NULL);
        CHECK(ref->from_float[t] != NULL);
        CHECK(ti->is_weight == (ref->vec_dot[t] != NULL));
    }
}

/* ---- half and bfloat16 ---- */

static bool f16_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff); }

/* distance of half h's value from x, in double; inf for inf/nan */
static double f16_dist(uint16_t h, float x) {
    float v = q_f16_to_f32(h);
    if (isinf(v) || isnan(v)) return (double)INFINITY;
    return fabs((double)v - (double)x);
}

static void test_f16(void) {
    CHECK_EQ(f32_bits(q_f16_to_f32(0x0000)), 0x00000000);
    CHECK_EQ(f32_bits(q_f16_to_f32(0x8000)), 0x80000000);
    CHECK(q_f16_to_f32(0x3c00) == 1.0f);
    CHECK(q_f16_to_f32(0xc000) == -2.0f);
    CHECK(q_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(q_f16_to_f32(0x0400) == ldexpf(1.0f, -14));
    CHECK(q_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    CHECK(q_f16_to_f32(0x8001) == -ldexpf(1.0f, -24));
    CHECK(q_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24));
    CHECK(q_f16_to_f32(0x3555) == 0x155 / 1024.0f * 0.25f + 0.25f);
    CHECK(isinf(q_f16_to_f32(0x7c00)) && q_f16_to_f32(0x7c00) > 0);
    CHECK(isinf(q_f16_to_f32(0xfc00)) && q_f16_to_f32(0xfc00) < 0);
    CHECK(isnan(q_f16_to_f32(0x7e00)));
    CHECK(isnan(q_f16_to_f32(0x7c01))); /* signaling stays nan */
    CHECK(isnan(q_f16_to_f32(0xfe00)) && signbit(q_f16_to_f32(0xfe00)));

    CHECK_EQ(q_f32_to_f16(0.0f), 0x0000);
    CHECK_EQ(q_f32_to_f16(-0.0f), 0x8000);
    CHECK_EQ(q_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ(q_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ(q_f32_to_f16(65519.99f), 0x7bff);
    CHECK_EQ(q_f32_to_f16(65520.0f), 0x7c00); /* tie between 65504 and 65536: even is inf */
    CHECK_EQ(q_f32_to_f16(-1e10f), 0xfc00);
    CHECK_EQ(q_f32_to_f16(INFINITY), 0x7c00);
    CHECK_EQ(q_f32_to_f16(-INFINITY), 0xfc00);
    CHECK_EQ(q_f32_to_f16(ldexpf(1.0f, -24)), 0x0001);
    CHECK_EQ(q_f32_to_f16(ldexpf(1.0f, -25)), 0x0000);    /* tie: even is 0 */
    CHECK_EQ(q_f32_to_f16(-ldexpf(1.0f, -25)), 0x8000);   /* tie: -0 */
    CHECK_EQ(q_f32_to_f16(ldexpf(1.0001f, -25)), 0x0001); /* just above the tie */
    CHECK_EQ(q_f32_to_f16(ldexpf(3.0f, -25)), 0x0002);    /* 1.5 ulp: even is 2 */
    CHECK_EQ(q_f32_to_f16(ldexpf(5.0f, -25)), 0x0002);    /* 2.5 ulp: even is 2 */
    CHECK_EQ(q_f32_to_f16(ldexpf(1023.5f, -24)), 0x0400); /* rounds up into normals */
    CHECK_EQ(q_f32_to_f16(ldexpf(1.0f, -14)), 0x0400);
    CHECK_EQ(q_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00);  /* tie: even */
    CHECK_EQ(q_f32_to_f16(1.0f + ldexpf(3.0f, -11)), 0x3c02);  /* tie: even */
    CHECK_EQ(q_f32_to_f16(1.0f + ldexpf(1.01f, -11)), 0x3c01); /* above the tie */
    CHECK_EQ(q_f32_to_f16(2047.5f), 0x6800); /* 2047.5 is halfway from 2047 to 2048: even */
    CHECK_EQ(q_f32_to_f16(1e-30f), 0x0000);
    CHECK_EQ(q_f32_to_f16(f32_from_bits(0x00000001)), 0x0000); /* f32 denormal */
    CHECK(f16_is_nan(q_f32_to_f16(NAN)));
    CHECK(f16_is_nan(q_f32_to_f16(f32_from_bits(0x7f800001)))); /* signaling nan stays nan */
    CHECK(f16_is_nan(q_f32_to_f16(f32_from_bits(0xffc00000))));
    CHECK((q_f32_to_f16(f32_from_bits(0xffc00000)) & 0x8000) != 0);

    /* every half survives a round trip; nan stays nan */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t r = q_f32_to_f16(q_f16_to_f32((uint16_t)h));
        if (f16_is_nan((uint16_t)h) ? !f16_is_nan(r) : r != h) bad++;
    }
    CHECK_EQ(bad, 0);

    /* random floats round to the nearest half, ties to even */
    bad = 0;
    for (int i = 0; i < 1000000; i++) {
        /* exponents around the half range: 2^-27 .. 2^17 */
        uint32_t u = (uint32_t)rng_next();
        uint32_t e = 100 + (u >> 23) % 45;
        float x = f32_from_bits((u & 0x807fffff) | e << 23);
        uint16_t h = q_f32_to_f16(x);
        if (fabsf(x) >= 65520.0f) {
            if ((h & 0x7fff) != 0x7c00) bad++;
            continue;
        }
        double dh = f16_dist(h, x);
        uint16_t mag = h & 0x7fff;
        uint16_t sign = h & 0x8000;
        double dn = mag < 0x7bff ? f16_dist((uint16_t)(sign | (mag + 1)), x) : (double)INFINITY;
        double dp = mag > 0 ? f16_dist((uint16_t)(sign | (mag - 1)), x) : (double)INFINITY;
        if (dh > dn || dh > dp) bad++;
        if ((dh == dn || dh == dp) && (h & 1)) bad++; /* tie not to even */
        if ((signbit(x) != 0) != ((h & 0x8000) != 0)) bad++;
    }
    CHECK_EQ(bad, 0);
}

static void test_bf16(void) {
    CHECK(q_bf16_to_f32(0x3f80) == 1.0f);
    CHECK_EQ(f32_bits(q_bf16_to_f32(0x8000)), 0x80000000);
    CHECK(isinf(q_bf16_to_f32(0xff80)));
    CHECK(isnan(q_bf16_to_f32(0x7fc0)));
    CHECK(q_bf16_to_f32(0x0001) == f32_from_bits(0x00010000)); /* denormal */

    CHECK_EQ(q_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ(q_f32_to_bf16(-0.0f), 0x8000);
    CHECK_EQ(q_f32_to_bf16(f32_from_bits(0x3f808000)), 0x3f80); /* tie: even */
    CHECK_EQ(q_f32_to_bf16(f32_from_bits(0x3f818000)), 0x3f82); /* tie: even */
    CHECK_EQ(q_f32_to_bf16(f32_from_bits(0x3f808001)), 0x3f81);
    CHECK_EQ(q_f32_to_bf16(f32_from_bits(0x00018000)), 0x0002); /* denormal tie */
    CHECK_EQ(q_f32_to_bf16(f32_from_bits(0x00008000)), 0x0000);
    CHECK_EQ(q_f32_to_bf16(INFINITY), 0x7f80);
    CHECK_EQ(q_f32_to_bf16(-INFINITY), 0xff80);
    CHECK_EQ(q_f32_to_bf16(FLT_MAX), 0x7f80); /* above the last halfway point */
    CHECK_EQ(q_f32_to_bf16(f32_from_bits(0x7f7f7fff)), 0x7f7f);
    uint16_t n1 = q_f32_to_bf16(f32_from_bits(0x7f800001)); /* signaling: must stay nan */
    CHECK((n1 & 0x7f80) == 0x7f80 && (n1 & 0x7f) != 0);
    CHECK(isnan(q_bf16_to_f32(q_f32_to_bf16(NAN))));
    CHECK_EQ(q_f32_to_bf16(f32_from_bits(0xffc00000)), 0xffc0);

    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t r = q_f32_to_bf16(q_bf16_to_f32((uint16_t)h));
        bool nan = (h & 0x7f80) == 0x7f80 && (h & 0x7f);
        if (nan ? !isnan(q_bf16_to_f32(r)) : r != h) bad++;
    }
    CHECK_EQ(bad, 0);
}

/* ---- known answers: blocks made by hand from the format definitions ---- */

static void dequant(enum q_type t, const void *src, float *dst, int n) {
    q_kernels_ref()->to_float[t](src, dst, n);
}

static void check_values(const char *what, const float *got, const float *want, int n) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (got[i] != want[i]) {
            if (bad < 5)
                fprintf(stderr, "%s: value %d is %g, want %g\n", what, i, (double)got[i],
                        (double)want[i]);
            bad++;
        }
    }
    CHECK_EQ(bad, 0);
}

static void kat_small(void) {
    float y[32];
    float want[32];

    uint8_t f16[4] = {0x00, 0x3c, 0x01, 0x80}; /* 1.0, -2^-24 */
    dequant(Q_TYPE_F16, f16, y, 2);
    CHECK(y[0] == 1.0f && y[1] == -ldexpf(1.0f, -24));
    uint8_t bf16[4] = {0x80, 0x3f, 0x40, 0xc0}; /* 1.0, -3.0 */
    dequant(Q_TYPE_BF16, bf16, y, 2);
    CHECK(y[0] == 1.0f && y[1] == -3.0f);

    /* Q4_0: d = 2; value j = (low nibble of qs[j] - 8) * d, value j+16 from the high nibble */
    struct q4_0_block b40;
    b40.d = 0x4000;
    memset(b40.qs, 0x88, sizeof(b40.qs));
    b40.qs[0] = 0x3a;
    b40.qs[15] = 0xf0;
    for (int i = 0; i < 32; i++)
        want[i] = 0.0f;
    want[0] = 4.0f;
    want[16] = -10.0f;
    want[15] = -16.0f;
    want[31] = 14.0f;
    dequant(Q_TYPE_Q4_0, &b40, y, 32);
    check_values("Q4_0", y, want, 32);

    /* Q4_1: d = 0.5, m = -1 */
    struct q4_1_block b41;
    b41.d = 0x3800;
    b41.m = 0xbc00;
    memset(b41.qs, 0, sizeof(b41.qs));
    b41.qs[1] = 0x5c;
    for (int i = 0; i < 32; i++)
        want[i] = -1.0f;
    want[1] = 5.0f;
    want[17] = 1.5f;
    dequant(Q_TYPE_Q4_1, &b41, y, 32);
    check_values("Q4_1", y, want, 32);

    /* Q5_0: d = 1; 5th bit of value j is bit j of qh (little-endian): bits 0 and 17 set */
    struct q5_0_block b50;
    b50.d = 0x3c00;
    memset(b50.qs, 0, sizeof(b50.qs));
    memcpy(b50.qh, (uint8_t[4]){0x01, 0x00, 0x02, 0x00}, 4);
    b50.qs[0] = 0x21;
    for (int i = 0; i < 32; i++)
        want[i] = -16.0f;
    want[0] = 1.0f;    /* 1 | 16 */
    want[16] = -14.0f; /* 2, bit 16 clear */
    want[17] = 0.0f;   /* 0 | 16 */
    dequant(Q_TYPE_Q5_0, &b50, y, 32);
    check_values("Q5_0", y, want, 32);

    /* Q5_1: d = 0.5, m = 1; bits 15 and 31 */
    struct q5_1_block b51;
    b51.d = 0x3800;
    b51.m = 0x3c00;
    memset(b51.qs, 0, sizeof(b51.qs));
    memcpy(b51.qh, (uint8_t[4]){0x00, 0x80, 0x00, 0x80}, 4);
    b51.qs[15] = 0x3f;
    for (int i = 0; i < 32; i++)
        want[i] = 1.0f;
    want[15] = 16.5f; /* 31 * 0.5 + 1 */
    want[31] = 10.5f; /* 19 * 0.5 + 1 */
    dequant(Q_TYPE_Q5_1, &b51, y, 32);
    check_values("Q5_1", y, want, 32);

    /* Q8_0 and Q8_1 */
    struct q8_0_block b80;
    b80.d = 0x3800;
    memset(b80.qs, 0, sizeof(b80.qs));
    b80.qs[0] = -128;
    b80.qs[31] = 127;
    for (int i = 0; i < 32; i++)
        want[i] = 0.0f;
    want[0] = -64.0f;
    want[31] = 63.5f;
    dequant(Q_TYPE_Q8_0, &b80, y, 32);
    check_values("Q8_0", y, want, 32);
    struct q8_1_block b81;
    b81.d = 0x4000;
    b81.s = 0;
    memset(b81.qs, 0, sizeof(b81.qs));
    b81.qs[5] = -3;
    want[0] = want[31] = 0.0f;
    want[5] = -6.0f;
    dequant(Q_TYPE_Q8_1, &b81, y, 32);
    check_values("Q8_1", y, want, 32);
}

static void kat_q2_k(void) {
    struct q2_k_block b;
    float y[256];
    float want[256];
    memset(&b, 0, sizeof(b));
    b.d = 0x3c00;    /* 1 */
    b.dmin = 0x3800; /* 0.5 */
    for (int k = 0; k < 16; k++)
        b.scales[k] = (uint8_t)k; /* scale k, min 0 */
    b.scales[0] = 0x21;           /* scale 1, min 2 */
    b.qs[0] = 0xe4;               /* values 0, 32, 64, 96 = 0, 1, 2, 3 */
    b.qs[16] = 0x03;              /* value 16 = 3 */
    b.qs[32] = 0x80;              /* value 128 + 96 = 2 */
    for (int v = 0; v < 256; v++)
        want[v] = 0.0f;
    for (int v = 0; v < 16; v++)
        want[v] = -1.0f; /* 1 * 0 - 0.5 * 2 */
    want[16] = 3.0f;     /* scale 1 * 3 */
    want[32] = 2.0f;     /* scale 2 * 1 */
    want[64] = 8.0f;     /* scale 4 * 2 */
    want[96] = 18.0f;    /* scale 6 * 3 */
    want[224] = 28.0f;   /* scale 14 * 2 */
    dequant(Q_TYPE_Q2_K, &b, y, 256);
    check_values("Q2_K", y, want, 256);
}

static void kat_q3_k(void) {
    struct q3_k_block b;
    float y[256];
    float want[256];
    memset(&b, 0, sizeof(b));
    b.d = 0x3c00;
    /* scales (stored = value + 32): s0 = 1 (33), s1 = -2 (30), s8 = 5 (37), s15 = -32 (0),
     * all others 0 (32). Low 4 bits: byte k (k < 8) low nibble, byte k-8 high nibble;
     * high 2 bits: bits 2*(k/4) of byte 8 + k%4. */
    b.scales[0] = 0x51; /* low(s0) = 1, low(s8) = 5 */
    b.scales[1] = 0x0e; /* low(s1) = 14, low(s9) = 0 */
    b.scales[8] = 0xaa; /* s0, s4, s8, s12 high bits = 2 */
    b.scales[9] = 0xa9; /* s1 high = 1, s5, s9, s13 = 2 */
    b.scales[10] = 0xaa;
    b.scales[11] = 0x2a; /* s15 high = 0 */
    /* value v: 2 bits at 2*((v%128)/32) of qs[32*(v/128) + v%32]; high bit v/32 of hmask[v%32];
     * value = q - 4 when the high bit is clear */
    b.qs[0] = 0x03;     /* value 0: q = 3 */
    b.qs[16] = 0x01;    /* value 16: q = 1 */
    b.qs[32] = 0x02;    /* value 128: q = 2 */
    b.qs[63] = 0xc0;    /* value 255: q = 3 */
    b.hmask[0] = 0x11;  /* values 0 and 128 */
    b.hmask[16] = 0x01; /* value 16 */
    for (int v = 0; v < 256; v++)
        want[v] = 0.0f;
    for (int v = 1; v < 16; v++)
        want[v] = -4.0f; /* 1 * -4 */
    for (int v = 17; v < 32; v++)
        want[v] = 8.0f; /* -2 * -4 */
    for (int v = 129; v < 144; v++)
        want[v] = -20.0f; /* 5 * -4 */
    for (int v = 240; v < 255; v++)
        want[v] = 128.0f; /* -32 * -4 */
    want[0] = 3.0f;
    want[16] = -2.0f;
    want[128] = 10.0f;
    want[255] = 32.0f; /* -32 * (3 - 4) */
    dequant(Q_TYPE_Q3_K, &b, y, 256);
    check_values("Q3_K", y, want, 256);
}

/* Q4_K/Q5_K scales: group 0 scale 1 min 2; group 1 scale 3 min 0; group 5 scale 40 min 33. */
static void k4_kat_scales(uint8_t s[12]) {
    memset(s, 0, 12);
    s[0] = 1;    /* scale 0 */
    s[1] = 0x83; /* scale 1 = 3; top bits of scale 5 (40 >> 4 = 2) */
    s[4] = 2;    /* min 0 */
    s[5] = 0x80; /* min 1 = 0; top bits of min 5 (33 >> 4 = 2) */
    s[9] = 0x18; /* low 4 bits of scale 5 (8) and min 5 (1) */
}

static void kat_q4_k(void) {
    struct q4_k_block b;
    float y[256];
    float want[256];
    memset(&b, 0, sizeof(b));
    b.d = 0x3c00;
    b.dmin = 0x3c00;
    k4_kat_scales(b.scales);
    b.qs[0] = 0x5a;  /* value 0 = 10, value 32 = 5 */
    b.qs[64] = 0x70; /* value 128 = 0, value 160 = 7 */
    for (int v = 0; v < 256; v++)
        want[v] = 0.0f;
    for (int v = 0; v < 32; v++)
        want[v] = -2.0f;
    for (int v = 160; v < 192; v++)
        want[v] = -33.0f;
    want[0] = 8.0f;     /* 1 * 10 - 2 */
    want[32] = 15.0f;   /* 3 * 5 */
    want[160] = 247.0f; /* 40 * 7 - 33 */
    dequant(Q_TYPE_Q4_K, &b, y, 256);
    check_values("Q4_K", y, want, 256);
}

static void kat_q5_k(void) {
    struct q5_k_block b;
    float y[256];
    float want[256];
    memset(&b, 0, sizeof(b));
    b.d = 0x3c00;
    b.dmin = 0x3c00;
    k4_kat_scales(b.scales);
    b.qs[0] = 0x5a;
    b.qs[64] = 0x70;
    b.qh[0] = 0x21; /* bit 0: value 0; bit 5 (2*2+1): value 160 */
    b.qh[1] = 0x02; /* bit 1: value 32 + 1 */
    for (int v = 0; v < 256; v++)
        want[v] = 0.0f;
    for (int v = 0; v < 32; v++)
        want[v] = -2.0f;
    for (int v = 160; v < 192; v++)
        want[v] = -33.0f;
    want[0] = 24.0f;    /* 1 * 26 - 2 */
    want[32] = 15.0f;   /* 3 * 5 */
    want[33] = 48.0f;   /* 3 * 16 */
    want[160] = 887.0f; /* 40 * 23 - 33 */
    dequant(Q_TYPE_Q5_K, &b, y, 256);
    check_values("Q5_K", y, want, 256);
}

static void kat_q6_k(void) {
    struct q6_k_block b;
    float y[256];
    float want[256];
    static const int8_t sc[16] = {2, -1, 3, 0, 4, 0, -2, 0, 127, 0, 0, 0, 0, 0, 0, -128};
    memset(&b, 0, sizeof(b));
    b.d = 0x3800; /* 0.5 */
    memcpy(b.scales, sc, 16);
    /* value 128h + 32k + l: nibble k/2 of ql[64h + 32(k%2) + l], bits 2k of qh[32h + l] */
    b.ql[0] = 0x3f;   /* value 0 low = 15, value 64 low = 3 */
    b.qh[0] = 0xd2;   /* value 0: 2, value 32: 0, value 64: 1, value 96: 3 */
    b.ql[64] = 0x01;  /* value 128 low = 1 */
    b.qh[32] = 0x03;  /* value 128 high = 3 */
    b.ql[127] = 0xf0; /* value 255 low = 15 */
    b.qh[63] = 0xc0;  /* value 255 high = 3 */
    for (int v = 0; v < 256; v++)
        want[v] = 0.5f * (float)sc[v / 16] * -32.0f;
    want[0] = 15.0f;      /* 0.5 * 2 * (47 - 32) */
    want[64] = -26.0f;    /* 0.5 * 4 * (19 - 32) */
    want[96] = -16.0f;    /* 0.5 * -2 * (48 - 32) */
    want[128] = 1079.5f;  /* 0.5 * 127 * (49 - 32) */
    want[255] = -1984.0f; /* 0.5 * -128 * (63 - 32) */
    dequant(Q_TYPE_Q6_K, &b, y, 256);
    check_values("Q6_K", y, want, 256);
}

static void kat_q8_k(void) {
    struct q8_k_block b;
    float y[256];
    float want[256];
    memset(&b, 0, sizeof(b));
    b.d = 0.25f;
    b.qs[3] = -8;
    b.qs[255] = 127;
    for (int v = 0; v < 256; v++)
        want[v] = 0.0f;
    want[3] = -2.0f;
    want[255] = 31.75f;
    dequant(Q_TYPE_Q8_K, &b, y, 256);
    check_values("Q8_K", y, want, 256);
}

/* Activation quantizers on hand-made rows: ties and the sign convention. */
static void kat_activations(void) {
    const struct q_kernels *ref = q_kernels_ref();
    float x[256];
    struct q8_0_block b0;
    struct q8_1_block b1;
    struct q8_k_block bk;
    for (int j = 0; j < 32; j++)
        x[j] = 0.0f;
    x[0] = 127.0f; /* d = 1 exactly */
    x[1] = 2.5f;   /* roundf: away from zero */
    x[2] = -2.5f;
    x[3] = 0.5f;
    x[4] = -126.5f;
    ref->from_float[Q_TYPE_Q8_0](x, &b0, 32);
    CHECK_EQ(b0.d, 0x3c00);
    CHECK_EQ(b0.qs[0], 127);
    CHECK_EQ(b0.qs[1], 3);
    CHECK_EQ(b0.qs[2], -3);
    CHECK_EQ(b0.qs[3], 1);
    CHECK_EQ(b0.qs[4], -127);
    CHECK_EQ(b0.qs[5], 0);
    ref->from_float[Q_TYPE_Q8_1](x, &b1, 32);
    CHECK_EQ(b1.d, 0x3c00);
    CHECK_EQ(b1.s, q_f32_to_f16(1.0f)); /* 127 + 3 - 3 + 1 - 127 */
    CHECK(memcmp(b1.qs, b0.qs, 32) == 0);

    for (int j = 0; j < 256; j++)
        x[j] = 0.0f;
    x[10] = -127.0f; /* largest magnitude, negative: iscale = 1, d = 1 */
    x[11] = 127.0f;  /* same magnitude later: the first one decides the sign */
    x[20] = 2.5f;    /* nearest, ties to even */
    x[21] = 3.5f;
    x[22] = -2.5f;
    x[40] = 1.0f;
    ref->from_float[Q_TYPE_Q8_K](x, &bk, 256);
    CHECK(bk.d == 1.0f);
    CHECK_EQ(bk.qs[10], -127);
    CHECK_EQ(bk.qs[11], 127);
    CHECK_EQ(bk.qs[20], 2);
    CHECK_EQ(bk.qs[21], 4);
    CHECK_EQ(bk.qs[22], -2);
    CHECK_EQ(bk.bsums[0], 0);
    CHECK_EQ(bk.bsums[1], 4);
    CHECK_EQ(bk.bsums[2], 1);
    x[10] = 127.0f; /* now positive first: qs = -127 at the max, d = -1 */
    ref->from_float[Q_TYPE_Q8_K](x, &bk, 256);
    CHECK(bk.d == -1.0f);
    CHECK_EQ(bk.qs[10], -127);
    CHECK_EQ(bk.qs[20], -2);
    CHECK_EQ(bk.qs[40], -1);
}

/* ---- round trips ---- */

/* Fills a row with Gaussian data of scale s, optionally shifted (offsets exercise the mins). */
static void fill_row(float *x, int n, float s, float shift) {
    for (int i = 0; i < n; i++)
        x[i] = s * rng_gauss() + shift;
}

struct rt_bound {
    enum q_type t;
    float rms;    /* rms error / rms of the data */
    float maxrel; /* max error / largest |x| of the super-block (or 32-block) */
};

static void test_round_trip(void) {
    /* Measured on Gaussian rows (the worst of plain, offset and tiny-scale rows) plus about
     * 25%. The max error is about half a step, or a whole step at the far end of the sign-max
     * types (Q4_0: amax / 8); tiny data (1e-3) makes the half scales denormal and coarser. */
    static const struct rt_bound bounds[] = {
        {Q_TYPE_F32, 0.0f, 0.0f},       {Q_TYPE_F16, 0.0003f, 0.0006f},
        {Q_TYPE_BF16, 0.0025f, 0.005f}, {Q_TYPE_Q8_0, 0.007f, 0.007f},
        {Q_TYPE_Q4_0, 0.11f, 0.14f},    {Q_TYPE_Q4_1, 0.10f, 0.085f},
        {Q_TYPE_Q5_0, 0.055f, 0.075f},  {Q_TYPE_Q5_1, 0.048f, 0.042f},
        {Q_TYPE_Q2_K, 0.42f, 0.40f},    {Q_TYPE_Q3_K, 0.20f, 0.30f},
        {Q_TYPE_Q4_K, 0.10f, 0.085f},   {Q_TYPE_Q5_K, 0.05f, 0.042f},
        {Q_TYPE_Q6_K, 0.025f, 0.048f},
    };
    const struct q_kernels *ref = q_kernels_ref();
    enum { N = 4096 };
    float *x = xmalloc(N * sizeof(float));
    float *y = xmalloc(N * sizeof(float));
    void *q = xmalloc(q_row_size(Q_TYPE_F32, N));
    for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++) {
        enum q_type t = bounds[b].t;
        int blck = q_type_info(t)->blck;
        int grp = blck > 1 ? blck : 32;
        for (int pass = 0; pass < 4; pass++) {
            float shift = pass == 1 ? 3.0f : pass == 2 ? -2.0f : 0.0f;
            float s = pass == 3 ? 1e-3f : 1.0f;
            fill_row(x, N, s, shift);
            ref->from_float[t](x, q, N);
            ref->to_float[t](q, y, N);
            double se = 0;
            double sx = 0;
            double worst = 0;
            for (int g = 0; g < N; g += grp) {
                float amax = 0;
                for (int i = g; i < g + grp; i++)
                    amax = fmaxf(amax, fabsf(x[i]));
                for (int i = g; i < g + grp; i++) {
                    double e = fabs((double)y[i] - (double)x[i]);
                    se += e * e;
                    sx += (double)x[i] * (double)x[i];
                    if (e / (double)amax > worst) worst = e / (double)amax;
                }
            }
            double rms = sqrt(se / sx);
            /* with an offset, the relative rms error is naturally smaller; use the same bound */
            if (rms > (double)bounds[b].rms || worst > (double)bounds[b].maxrel) {
                fprintf(
                    stderr, "round trip %s pass %d: rms %.4g (max %.4g), worst %.4g (max %.4g)\n",
                    tname(t), pass, rms, (double)bounds[b].rms, worst, (double)bounds[b].maxrel);
            }
            CHECK(rms <= (double)bounds[b].rms);
            CHECK(worst <= (double)bounds[b].maxrel);
        }
        /* zeros decode to zeros; a constant row decodes close to the constant */
        memset(x, 0, N * sizeof(float));
        ref->from_float[t](x, q, N);
        ref->to_float[t](q, y, N);
        int bad = 0;
        for (int i = 0; i < N; i++)
            if (y[i] != 0.0f) bad++;
        CHECK_EQ(bad, 0);
        for (int i = 0; i < N; i++)
            x[i] = 0.75f;
        ref->from_float[t](x, q, N);
        ref->to_float[t](q, y, N);
        bad = 0;
        for (int i = 0; i < N; i++)
            if (fabsf(y[i] - 0.75f) > 0.75f * fmaxf(bounds[b].maxrel, 1e-3f)) bad++;
        if (bad)
            fprintf(stderr, "constant row %s: %d bad, y[0] = %g\n", tname(t), bad, (double)y[0]);
        CHECK_EQ(bad, 0);
    }
    /* the activation formats too: Q8_1 and Q8_K */
    fill_row(x, N, 1.0f, 0.0f);
    ref->from_float[Q_TYPE_Q8_K](x, q, N);
    ref->to_float[Q_TYPE_Q8_K](q, y, N);
    for (int g = 0; g < N; g += QK_K) {
        float amax = 0;
        for (int i = g; i < g + QK_K; i++)
            amax = fmaxf(amax, fabsf(x[i]));
        int bad = 0;
        for (int i = g; i < g + QK_K; i++)
            if (fabsf(y[i] - x[i]) > amax * (0.5f / 127 + 1e-6f)) bad++;
        CHECK_EQ(bad, 0);
    }
    ref->from_float[Q_TYPE_Q8_1](x, q, N);
    ref->to_float[Q_TYPE_Q8_1](q, y, N);
    int bad = 0;
    for (int i = 0; i < N; i++)
        if (fabsf(y[i] - x[i]) > 5.0f * (0.51f / 127)) bad++;
    CHECK_EQ(bad, 0);
    free(x);
    free(y);
    free(q);
}

/* ---- dot products ---- */

/* Weight bytes: random bytes with sane half scales, or quantized from Gaussian data. */
static void set_scales(enum q_type t, void *blocks, int nb, uint16_t d, uint16_t dmin) {
    const struct q_type_info *ti = q_type_info((int)t);
    for (int i = 0; i < nb; i++) {
        uint8_t *b = (uint8_t *)blocks + (size_t)i * ti->type_size;
        switch (t) {
        case Q_TYPE_Q4_0:
        case Q_TYPE_Q5_0:
        case Q_TYPE_Q8_0:
            memcpy(b, &d, 2);
            break;
        case Q_TYPE_Q4_1:
        case Q_TYPE_Q5_1:
        case Q_TYPE_Q4_K:
        case Q_TYPE_Q5_K:
            memcpy(b, &d, 2);
            memcpy(b + 2, &dmin, 2);
            break;
        case Q_TYPE_Q2_K:
            memcpy(b + 80, &d, 2);
            memcpy(b + 82, &dmin, 2);
            break;
        case Q_TYPE_Q3_K:
            memcpy(b + 108, &d, 2);
            break;
        case Q_TYPE_Q6_K:
            memcpy(b + 208, &d, 2);
            break;
        default:
            break;
        }
    }
}

static uint16_t random_half_scale(void) {
    float v = (0.001f + rng_uniform()) * (rng_next() & 1 ? 1.0f : -1.0f) * 0.05f;
    return q_f32_to_f16(v);
}

enum wkind { W_QUANTIZED, W_RANDOM_BYTES, W_ZERO, W_MAX, W_MIN_BYTES, W_NEG_ZERO, W_DENORMAL };

static void make_weights(enum q_type t, void *w, int n, enum wkind kind) {
    const struct q_type_info *ti = q_type_info((int)t);
    int nb = n / ti->blck;
    size_t size = q_row_size(t, n);
    uint8_t *p = w;
    float *tmp;
    switch (kind) {
    case W_QUANTIZED:
        tmp = xmalloc((size_t)n * sizeof(float));
        fill_row(tmp, n, 0.05f, (rng_next() & 3) == 0 ? 0.02f : 0.0f);
        q_kernels_ref()->from_float[t](tmp, w, n);
        free(tmp);
        return;
    case W_RANDOM_BYTES:
        for (size_t i = 0; i < size; i++)
            p[i] = (uint8_t)rng_next();
        if (t == Q_TYPE_F32) {
            for (int i = 0; i < n; i++)
                ((float *)w)[i] = 0.05f * rng_gauss();
        } else if (t == Q_TYPE_F16 || t == Q_TYPE_BF16) {
            for (int i = 0; i < n; i++) {
                float v = 0.05f * rng_gauss();
                ((uint16_t *)w)[i] = t == Q_TYPE_F16 ? q_f32_to_f16(v) : q_f32_to_bf16(v);
            }
        } else {
            for (int i = 0; i < nb; i++)
                set_scales(t, p + (size_t)i * ti->type_size, 1, random_half_scale(),
                           random_half_scale());
        }
        return;
    case W_ZERO:
        memset(w, 0, size);
        return;
    case W_MAX: /* every stored bit set, largest finite scales */
        memset(w, 0xff, size);
        if (t == Q_TYPE_F32) {
            for (int i = 0; i < n; i++)
                ((float *)w)[i] = (i & 1) ? -65504.0f : 65504.0f;
        } else if (t == Q_TYPE_F16) {
            for (int i = 0; i < n; i++)
                ((uint16_t *)w)[i] = (i & 1) ? 0xfbff : 0x7bff;
        } else if (t == Q_TYPE_BF16) {
            for (int i = 0; i < n; i++)
                ((uint16_t *)w)[i] = (i & 1) ? 0xc77f : 0x477f;
        } else {
            set_scales(t, w, nb, 0x7bff, 0x7bff);
        }
        return;
    case W_MIN_BYTES: /* every stored value bit clear (most negative values), max scales */
        memset(w, 0x00, size);
        if (t == Q_TYPE_Q8_0) {
            for (int i = 0; i < nb; i++)
                memset(p + (size_t)i * ti->type_size + 2, 0x80, 32); /* -128 */
        }
        if (t == Q_TYPE_Q6_K) {
            for (int i = 0; i < nb; i++)
                memset(p + (size_t)i * ti->type_size + 192, 0x80, 16); /* scales -128 */
        }
        if (t == Q_TYPE_Q2_K) {
            for (int i = 0; i < nb; i++)
                memset(p + (size_t)i * ti->type_size, 0xff, 16);
        }
        if (t == Q_TYPE_Q4_K || t == Q_TYPE_Q5_K) {
            for (int i = 0; i < nb; i++)
                memset(p + (size_t)i * ti->type_size + 4, 0xff, 12);
        }
        if (t == Q_TYPE_F32 || t == Q_TYPE_F16 || t == Q_TYPE_BF16) {
            make_weights(t, w, n, W_MAX);
            return;
        }
        set_scales(t, w, nb, 0x7bff, 0x7bff);
        return;
    case W_NEG_ZERO:
        make_weights(t, w, n, W_RANDOM_BYTES);
        if (t == Q_TYPE_F16 || t == Q_TYPE_BF16) {
            for (int i = 0; i < n; i += 2)
                ((uint16_t *)w)[i] = 0x8000;
        } else if (t == Q_TYPE_F32) {
            for (int i = 0; i < n; i += 2)
                ((float *)w)[i] = -0.0f;
        } else {
            set_scales(t, w, nb, 0x8000, 0x8000);
        }
        return;
    case W_DENORMAL:
        make_weights(t, w, n, W_RANDOM_BYTES);
        if (t == Q_TYPE_F16) {
            for (int i = 0; i < n; i++)
                ((uint16_t *)w)[i] = (uint16_t)(rng_next() & 0x83ff);
        } else if (t == Q_TYPE_BF16) {
            for (int i = 0; i < n; i++)
                ((uint16_t *)w)[i] = (uint16_t)(rng_next() & 0x807f);
        } else if (t != Q_TYPE_F32) {
            for (int i = 0; i < nb; i++)
                set_scales(t, p + (size_t)i * ti->type_size, 1, (uint16_t)(rng_next() & 0x83ff),
                           (uint16_t)(rng_next() & 0x03ff));
        }
        return;
    }
}

enum xkind { X_GAUSS, X_MAX_POS, X_ALTERNATING, X_ZERO, X_SPIKY };

static void make_activations(float *x, int n, enum xkind kind) {
    for (int i = 0; i < n; i++) {
        switch (kind) {
        case X_GAUSS:
            x[i] = rng_gauss();
            break;
        case X_MAX_POS:
            x[i] = 1.0f;
            break;
        case X_ALTERNATING:
            x[i] = (i & 1) ? -3.0f : 3.0f;
            break;
        case X_ZERO:
            x[i] = 0.0f;
            break;
        case X_SPIKY:
            x[i] = (rng_next() % 17 == 0) ? 50.0f * rng_gauss() : 0.01f * rng_gauss();
            break;
        }
    }
}

/* Expected dot from the dequantized rows (double), and sum |w| |x| for the tolerance. For
 * Q4_1/Q5_1 the offset term uses Q8_1's stored s, as the format defines. */
static double dequant_dot(enum q_type t, const void *w, const void *xq, const float *x, int n,
                          double *abs_sum) {
    const struct q_kernels *ref = q_kernels_ref();
    enum q_type vt = q_type_info((int)t)->vec_dot_type;
    float *wd = xmalloc((size_t)n * sizeof(float));
    float *xd = xmalloc((size_t)n * sizeof(float));
    ref->to_float[t](w, wd, n);
    if (vt == Q_TYPE_F32)
        memcpy(xd, x, (size_t)n * sizeof(float));
    else
        ref->to_float[vt](xq, xd, n);
    double sum = 0;
    double abs = 0;
    for (int i = 0; i < n; i++) {
        sum += (double)wd[i] * (double)xd[i];
        abs += fabs((double)wd[i] * (double)xd[i]);
    }
    if (t == Q_TYPE_Q4_1 || t == Q_TYPE_Q5_1) {
        const struct q8_1_block *y = xq;
        for (int b = 0; b < n / 32; b++) {
            uint16_t mh;
            memcpy(&mh, (const uint8_t *)w + (size_t)b * q_type_info((int)t)->type_size + 2, 2);
            double m = (double)q_f16_to_f32(mh);
            double sx = 0;
            for (int j = 0; j < 32; j++)
                sx += (double)xd[32 * b + j];
            sum += m * ((double)q_f16_to_f32(y[b].s) - sx);
            abs += fabs(m * (double)q_f16_to_f32(y[b].s));
        }
    }
    free(wd);
    free(xd);
    *abs_sum = abs;
    return sum;
}

static void test_ref_dot(void) {
    const struct q_kernels *ref = q_kernels_ref();
    static const int n_blocks[] = {1, 3, 16};
    for (int ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        enum q_type t = weight_types[ti];
        enum q_type vt = q_type_info((int)t)->vec_dot_type;
        int blck = q_type_info((int)t)->blck == 1 ? 256 : q_type_info((int)t)->blck;
        int bad = 0;
        for (int nbi = 0; nbi < 3; nbi++) {
            int n = blck * n_blocks[nbi];
            void *w = xmalloc(q_row_size(t, n));
            void *xq = xmalloc(q_row_size(vt, n));
            float *x = xmalloc((size_t)n * sizeof(float));
            for (int kind = W_QUANTIZED; kind <= W_RANDOM_BYTES; kind++) {
                for (int rep = 0; rep < 20; rep++) {
                    make_weights(t, w, n, (enum wkind)kind);
                    make_activations(x, n, rep % 5 == 4 ? X_SPIKY : X_GAUSS);
                    ref->from_float[vt](x, xq, n);
                    double abs_sum;
                    double want = dequant_dot(t, w, xq, x, n, &abs_sum);
                    float got;
                    ref->vec_dot[t](n, &got, w, xq);
                    if (!(fabs((double)got - want) <= 1e-5 * abs_sum + 1e-30)) {
                        if (bad < 3)
                            fprintf(stderr, "ref dot %s n=%d: %.9g vs %.9g (sum|wx| %.3g)\n",
                                    tname(t), n, (double)got, want, abs_sum);
                        bad++;
                    }
                }
            }
            free(w);
            free(xq);
            free(x);
        }
        CHECK_EQ(bad, 0);
    }
}

/* ---- AVX2 against the reference ---- */

static void test_simd_dot(const struct q_kernels *k) {
    const struct q_kernels *ref = q_kernels_ref();
    static const int blocks_k[] = {1, 2, 3, 5, 16};
    static const int lens_f[] = {1, 7, 8, 31, 32, 33, 100, 256, 1024, 4101};
    for (int ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        enum q_type t = weight_types[ti];
        enum q_type vt = q_type_info((int)t)->vec_dot_type;
        int blck = q_type_info((int)t)->blck;
        int bad = 0;
        int n_cases = blck == 1 ? 10 : 5;
        CHECK(k->vec_dot[t] != ref->vec_dot[t]); /* AVX2 provides every weight type */
        for (int c = 0; c < n_cases; c++) {
            int n = blck == 1 ? lens_f[c] : blck * blocks_k[c] * (blck == 32 ? 3 : 1);
            void *w = xmalloc(q_row_size(t, n));
            void *xq = xmalloc(q_row_size(vt, n));
            float *x = xmalloc((size_t)n * sizeof(float));
            for (int kind = W_QUANTIZED; kind <= W_DENORMAL; kind++) {
                for (int xk = X_GAUSS; xk <= X_SPIKY; xk++) {
                    for (int rep = 0; rep < (kind <= W_RANDOM_BYTES ? 8 : 1); rep++) {
                        make_weights(t, w, n, (enum wkind)kind);
                        make_activations(x, n, (enum xkind)xk);
                        ref->from_float[vt](x, xq, n);
                        double abs_sum;
                        dequant_dot(t, w, xq, x, n, &abs_sum);
                        float want;
                        float got;
                        ref->vec_dot[t](n, &want, w, xq);
                        k->vec_dot[t](n, &got, w, xq);
                        /* float rows sum n products in different orders; quant rows differ
                         * only in how the per-block floats are added */
                        double rel = blck == 1 ? 3e-8 * n + 1e-6 : 2e-6;
                        bool ok = fabs((double)got - (double)want) <= rel * abs_sum + 1e-37;
                        if (!ok || isnan(got) != isnan(want)) {
                            if (bad < 3)
                                fprintf(stderr, "%s dot %s n=%d kind %d x %d: %.9g vs ref %.9g\n",
                                        k->isa, tname(t), n, kind, xk, (double)got, (double)want);
                            bad++;
                        }
                    }
                }
            }
            free(w);
            free(xq);
            free(x);
        }
        CHECK_EQ(bad, 0);
    }
}

/* Every tile shape against the same table's vec_dot (bit for bit: batch and single-token decode
 * must agree exactly) and against the scalar reference (within the vec_dot tolerance). Rows and
 * tokens differ in content so a mixed-up index shows. */
static void test_simd_tile(const struct q_kernels *k) {
    const struct q_kernels *ref = q_kernels_ref();
    enum { R = Q_TILE_MAX, T = Q_TILE_MAX };
    for (int ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        enum q_type t = weight_types[ti];
        if (!k->vec_dot_tile[t]) continue;
        enum q_type vt = q_type_info((int)t)->vec_dot_type;
        int blck = q_type_info((int)t)->blck;
        int bad_exact = 0;
        int bad_ref = 0;
        for (int c = 0; c < 3; c++) {
            int n = blck == 1 ? 40 + 517 * c : blck * (c == 0 ? 1 : c == 1 ? 3 : 8);
            size_t ws = q_row_size(t, n);
            size_t xs = q_row_size(vt, n);
            uint8_t *w = xmalloc(ws * R);
            uint8_t *xq = xmalloc(xs * T);
            float *x = xmalloc((size_t)n * sizeof(float));
            for (int kind = W_QUANTIZED; kind <= W_DENORMAL; kind++) {
                for (int r = 0; r < R; r++)
                    make_weights(t, w + (size_t)r * ws, n, r == 3 ? W_QUANTIZED : (enum wkind)kind);
                const void *xp[T];
                for (int j = 0; j < T; j++) {
                    make_activations(x, n, j == 2 ? X_SPIKY : X_GAUSS);
                    ref->from_float[vt](x, xq + (size_t)j * xs, n);
                    xp[j] = xq + (size_t)j * xs;
                }
                float want[T][R];
                float near[T][R];
                for (int j = 0; j < T; j++)
                    for (int r = 0; r < R; r++) {
                        k->vec_dot[t](n, &want[j][r], w + (size_t)r * ws, xp[j]);
                        ref->vec_dot[t](n, &near[j][r], w + (size_t)r * ws, xp[j]);
                    }
                for (int nr = 1; nr <= R; nr++) {
                    for (int nt = 1; nt <= T; nt++) {
                        float got[T][R + 1];
                        for (int j = 0; j < T; j++)
                            for (int r = 0; r <= R; r++)
                                got[j][r] = -1.0f;
                        /* rows 4 - nr.. and tokens 4 - nt.., so every row and token is used */
                        int r0 = R - nr;
                        int t0 = T - nt;
                        k->vec_dot_tile[t](n, nr, nt, &got[0][0], R + 1, w + (size_t)r0 * ws, ws,
                                           xp + t0);
                        for (int j = 0; j < nt; j++)
                            for (int r = 0; r < nr; r++) {
                                float g = got[j][r];
                                float e = want[t0 + j][r0 + r];
                                float f = near[t0 + j][r0 + r];
                                if (memcmp(&g, &e, sizeof(g)) != 0 && !(isnan(g) && isnan(e))) {
                                    if (bad_exact < 3)
                                        fprintf(stderr, "%s tile %s %dx%d n=%d: %.9g vs dot %.9g\n",
                                                k->isa, tname(t), nr, nt, n, (double)g, (double)e);
                                    bad_exact++;
                                }
                                double tol = 1e-5 * (fabs((double)f) + 1.0);
                                if (kind == W_QUANTIZED && !(fabs((double)g - (double)f) <= tol))
                                    bad_ref++;
                            }
                        for (int r = nr; r <= R; r++) /* nothing outside the tile is written */
                            if (got[0][r] != -1.0f) bad_exact++;
                    }
                }
            }
            free(w);
            free(xq);
            free(x);
        }
        CHECK_EQ(bad_exact, 0);
        CHECK_EQ(bad_ref, 0);
    }
    /* The reference tile is the loop over vec_dot. */
    float s[2];
    struct q4_0_block b = {0};
    struct {
        float d;
        int32_t sum;
        int8_t qs[QK8_0];
    } y = {2.0f, QK8_0, {0}}; /* one Q8_S block */
    const void *yp[1] = {&y};
    b.d = q_f32_to_f16(1.0f);
    for (int i = 0; i < QK8_0; i++)
        y.qs[i] = 1;
    q_vec_dot_tile_ref(ref, Q_TYPE_Q4_0, QK4_0, 1, 1, s, 1, &b, sizeof(b), yp);
    CHECK_NEAR(s[0], -512.0f, 0.0f); /* 32 values of -8, times 2 */
}

/* axpy and exp_sum against the reference on odd lengths and extreme inputs. */
/* dot_rows and sum_rows against the reference: head sizes with and without a tail of < 8,
 * row counts around the kernels' groups of 8, rows with a stride wider than a row. */
static void test_simd_rows(const struct q_kernels *k) {
    const struct q_kernels *ref = q_kernels_ref();
    static const int sizes[] = {64, 128, 8, 5, 70, 200};
    static const int counts[] = {1, 7, 8, 9, 16, 23, 64};
    enum { STRIDE = 211, ROWS = 64 };
    float *rows = xmalloc(sizeof(float) * STRIDE * ROWS);
    float x[STRIDE], w[ROWS], a[STRIDE], b[STRIDE];
    int bad = 0;
    for (int si = 0; si < 6; si++) {
        int n = sizes[si];
        for (int ci = 0; ci < 7; ci++) {
            int nr = counts[ci];
            for (int i = 0; i < STRIDE * ROWS; i++)
                rows[i] = rng_gauss();
            for (int i = 0; i < n; i++)
                x[i] = rng_gauss();
            for (int p = 0; p < nr; p++)
                w[p] = (float)(rng_next() % 1000) / 1000.0f;
            double abs[ROWS] = {0};
            for (int p = 0; p < nr; p++)
                for (int i = 0; i < n; i++)
                    abs[p] += fabs((double)rows[p * STRIDE + i] * (double)x[i]);
            ref->dot_rows(n, nr, a, rows, STRIDE, x, 0.125f);
            k->dot_rows(n, nr, b, rows, STRIDE, x, 0.125f);
            for (int p = 0; p < nr; p++)
                if (!(fabs((double)a[p] - (double)b[p]) <= 1e-6 * 0.125 * abs[p])) {
                    if (bad < 3)
                        fprintf(stderr, "dot_rows n=%d rows=%d p=%d: %.9g vs %.9g\n", n, nr, p,
                                (double)b[p], (double)a[p]);
                    bad++;
                }
            memset(a, 0x7f, sizeof(a)); /* overwritten, not added to */
            memset(b, 0x7f, sizeof(b));
            ref->sum_rows(n, nr, a, rows, STRIDE, w);
            k->sum_rows(n, nr, b, rows, STRIDE, w);
            for (int i = 0; i < n; i++) {
                double sabs = 0;
                for (int p = 0; p < nr; p++)
                    sabs += fabs((double)w[p] * (double)rows[p * STRIDE + i]);
                if (!(fabs((double)a[i] - (double)b[i]) <= 1e-6 * sabs)) {
                    if (bad < 3)
                        fprintf(stderr, "sum_rows n=%d rows=%d i=%d: %.9g vs %.9g\n", n, nr, i,
                                (double)b[i], (double)a[i]);
                    bad++;
                }
            }
        }
    }
    free(rows);
    CHECK_EQ(bad, 0);
    /* one row against the plain product */
    float r[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8] = {1, 1, 1, 1, 1, 1, 1, 1}, s;
    k->dot_rows(8, 1, &s, r, 8, y, 0.5f);
    CHECK_NEAR(s, 18.0f, 0.0f);
}

/* swiglu against the reference, odd lengths and offsets (a thread's share starts anywhere):
 * a value's result must not depend on its position. */
static void test_simd_swiglu(const struct q_kernels *k) {
    const struct q_kernels *ref = q_kernels_ref();
    enum { N = 301 };
    float g[N], u[N], a[N], b[N], c[N];
    int bad = 0;
    for (int i = 0; i < N; i++) {
        g[i] = rng_gauss() * (i % 3 == 0 ? 30.0f : 3.0f);
        u[i] = rng_gauss();
    }
    g[0] = 0.0f;
    g[1] = -0.0f;
    g[2] = 88.0f;
    g[3] = -88.0f;
    g[4] = 1e-30f;
    g[5] = INFINITY;
    g[6] = NAN;
    memcpy(a, g, sizeof(g));
    memcpy(b, g, sizeof(g));
    memcpy(c, g, sizeof(g));
    ref->swiglu(N, a, u);
    k->swiglu(N, b, u);
    k->swiglu(3, c, u); /* shares of 3, 5, ... */
    for (int i = 3, len = 5; i < N; i += len, len = len % 13 + 2)
        k->swiglu(i + len <= N ? len : N - i, c + i, u + i);
    for (int i = 0; i < N; i++) {
        /* exp(-88) is under the SIMD exp's range: 0 instead of about 1e-38 times |g u| */
        bool same = (isnan(a[i]) && isnan(b[i])) || a[i] == b[i];
        if (!same && !(fabsf(a[i] - b[i]) <= 2e-6f * fabsf(a[i]) + 1e-35f)) {
            if (bad < 3)
                fprintf(stderr, "swiglu g=%g: %.9g vs %.9g\n", (double)g[i], (double)b[i],
                        (double)a[i]);
            bad++;
        }
        if (memcmp(&b[i], &c[i], sizeof(float)) != 0) bad++;
    }
    CHECK_EQ(bad, 0);
}

static void test_simd_attn(const struct q_kernels *k) {
    const struct q_kernels *ref = q_kernels_ref();
    enum { N = 203 };
    float a[N], b[N], x[N];
    int bad = 0;
    for (int c = 0; c < 50; c++) {
        int n = 1 + c * 4 % N;
        float mx = -INFINITY;
        for (int i = 0; i < n; i++) {
            x[i] = rng_gauss() * (c % 3 == 0 ? 40.0f : 4.0f);
            if (c % 5 == 1 && i % 7 == 0) x[i] = -INFINITY; /* masked */
            mx = x[i] > mx ? x[i] : mx;
        }
        memcpy(a, x, sizeof(x));
        memcpy(b, x, sizeof(x));
        float sa = ref->exp_sum(n, a, mx);
        float sb = k->exp_sum(n, b, mx);
        if (!(fabsf(sa - sb) <= 1e-6f * sa)) bad++;
        for (int i = 0; i < n; i++)
            if (!(fabsf(a[i] - b[i]) <= 4e-7f * a[i] + 1.2e-38f)) {
                if (bad < 3)
                    fprintf(stderr, "exp_sum n=%d x=%g: %.9g vs %.9g\n", n, (double)(x[i] - mx),
                            (double)b[i], (double)a[i]);
                bad++;
            }
    }
    CHECK_EQ(bad, 0);
}

static void test_simd_from_float(const struct q_kernels *k) {
    const struct q_kernels *ref = q_kernels_ref();
    static const enum q_type types[] = {Q_TYPE_Q8_0, Q_TYPE_Q8_1, Q_TYPE_Q8_K, Q_TYPE_Q8_S,
                                        Q_TYPE_Q8_SP};
    enum { N = 1024 };
    float x[N];
    for (int ti = 0; ti < 5; ti++) {
        enum q_type t = types[ti];
        size_t size = q_row_size(t, N);
        uint8_t *a = xmalloc(size);
        uint8_t *b = xmalloc(size);
        int bad = 0;
        CHECK(k->from_float[t] != ref->from_float[t]);
        for (int c = 0; c < 400; c++) {
            float s = c % 4 == 0 ? 1.0f : c % 4 == 1 ? 1e-3f : c % 4 == 2 ? 1e30f : 1e-38f;
            fill_row(x, N, s, 0.0f);
            if (c % 8 == 5) { /* exact ties after scaling by 1 */
                for (int i = 0; i < N; i++)
                    x[i] = (float)((int)(rng_next() % 254) - 127) + 0.5f;
                for (int i = 0; i < N; i += 32)
                    x[i + (int)(rng_next() % 32)] = (rng_next() & 1) ? 127.0f : -127.0f;
            }
            if (c % 8 == 6) { /* specials */
                x[3] = INFINITY;
                x[40] = NAN;
                x[77] = -INFINITY;
                x[300] = f32_from_bits(0x00000003);
                for (int i = 512; i < 768; i++)
                    x[i] = i % 5 ? 0.0f : f32_from_bits(0x00400000u + (uint32_t)i);
                for (int i = 800; i < 1024; i++)
                    x[i] = (i & 1) ? 2.0f : -2.0f; /* equal magnitudes of both signs */
            }
            if (c % 8 == 7) memset(x, 0, sizeof(x));
            memset(a, 0xaa, size);
            memset(b, 0x55, size);
            ref->from_float[t](x, a, N);
            k->from_float[t](x, b, N);
            if (memcmp(a, b, size) != 0) {
                if (bad < 3)
                    fprintf(stderr, "%s from_float %s case %d differs\n", k->isa, tname(t), c);
                bad++;
            }
        }
        CHECK_EQ(bad, 0);
        free(a);
        free(b);
    }
}

static void test_simd_to_float(const struct q_kernels *k) {
    const struct q_kernels *ref = q_kernels_ref();
    for (int t = 0; t < Q_TYPE_COUNT; t++) {
        if (!q_type_info(t) || k->to_float[t] == ref->to_float[t]) continue;
        int blck = q_type_info(t)->blck;
        int n = blck == 1 ? 1037 : blck * 9;
        void *w = xmalloc(q_row_size((enum q_type)t, n));
        float *a = xmalloc((size_t)n * sizeof(float));
        float *b = xmalloc((size_t)n * sizeof(float));
        int bad = 0;
        for (int kind = W_QUANTIZED; kind <= W_DENORMAL; kind++) {
            for (int rep = 0; rep < 10; rep++) {
                if (q_type_info(t)->is_weight) {
                    make_weights((enum q_type)t, w, n, (enum wkind)kind);
                } else {
                    float *x = xmalloc((size_t)n * sizeof(float));
                    make_activations(x, n, X_GAUSS);
                    ref->from_float[t](x, w, n);
                    free(x);
                }
                ref->to_float[t](w, a, n);
                k->to_float[t](w, b, n);
                if (memcmp(a, b, (size_t)n * sizeof(float)) != 0) bad++;
            }
        }
        if (bad)
            fprintf(stderr, "%s to_float %s differs in %d cases\n", k->isa, q_type_info(t)->name,
                    bad);
        CHECK_EQ(bad, 0);
        free(w);
        free(a);
        free(b);
    }
}

static void test_simd(void) {
    const struct q_kernels *best = q_kernels_best();
    const char *no_simd = getenv("OLLAMA_NO_SIMD");
    bool disabled = no_simd && no_simd[0] && strcmp(no_simd, "0") != 0;
    CHECK(q_kernels_best() == best);
    for (int t = 0; t < Q_TYPE_COUNT; t++) {
        CHECK((best->to_float[t] != NULL) == (q_kernels_ref()->to_float[t] != NULL));
        CHECK((best->vec_dot[t] != NULL) == (q_kernels_ref()->vec_dot[t] != NULL));
    }
    if (!q_cpu_has_avx2()) {
        fprintf(stderr, "test_engine_quant: no AVX2/FMA/F16C, SIMD checks skipped\n");
        CHECK(strcmp(best->isa, "scalar") == 0);
        return;
    }
    CHECK(strcmp(best->isa, disabled ? "scalar" : "avx2") == 0);

    struct q_kernels k = *q_kernels_ref();
    q_kernels_init_avx2(&k);
    CHECK(strcmp(k.isa, "avx2") == 0);
    test_simd_dot(&k);
    test_simd_tile(&k);
    test_simd_attn(&k);
    test_simd_rows(&k);
    test_simd_swiglu(&k);
    test_simd_from_float(&k);
    test_simd_to_float(&k);
}

int main(void) {
    test_layout();
    test_f16();
    test_bf16();
    kat_small();
    kat_q2_k();
    kat_q3_k();
    kat_q4_k();
    kat_q5_k();
    kat_q6_k();
    kat_q8_k();
    kat_activations();
    test_round_trip();
    test_ref_dot();
    test_simd();
    return check_exit("test_engine_quant");
}
