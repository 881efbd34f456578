/* Tests of the sampler (engine/sampler.h): greedy and seeded draws, each filter on hand-made
 * distributions, penalties, logprobs, and the stop-string matcher. */
#include "engine/sampler.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Every filter and penalty off, temperature 1: the draw follows softmax(logits). */
static struct smp_params params_plain(void) {
    struct smp_params p = smp_default_params();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.typical_p = 1.0f;
    p.seed = 1234;
    return p;
}

static struct smp *new_or_die(const struct smp_params *p, int n_vocab, int n_ctx) {
    struct ol_err err = {0};
    struct smp *s = smp_new(p, n_vocab, n_ctx, &err);
    if (!s) {
        fprintf(stderr, "smp_new: %s\n", err.msg);
        exit(1);
    }
    return s;
}

/* Deterministic test data, independent of libc rand. */
static uint64_t test_rng = 88172645463325252u;
static float rand_unit(void) {
    test_rng ^= test_rng << 13;
    test_rng ^= test_rng >> 7;
    test_rng ^= test_rng << 17;
    return (float)(test_rng >> 40) / (float)(1u << 24);
}

static void fill_random(float *x, int n, float scale) {
    for (int i = 0; i < n; i++)
        x[i] = (rand_unit() - 0.5f) * scale;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Probability of `id` among the candidates, or -1 when it was filtered out. */
static float cand_p(const struct smp_cand *c, int n, int32_t id) {
    for (int i = 0; i < n; i++)
        if (c[i].id == id) return c[i].p;
    return -1.0f;
}

static void softmax(const float *x, double *p, int n) {
    double max = -HUGE_VAL, sum = 0.0;
    for (int i = 0; i < n; i++)
        max = fmax(max, (double)x[i]);
    for (int i = 0; i < n; i++)
        sum += (p[i] = exp((double)x[i] - max));
    for (int i = 0; i < n; i++)
        p[i] /= sum;
}

/* logits = log(probs) listed in a shuffled id order, so no filter can rely on id order. */
static const int shuffled_ids[5] = {3, 0, 4, 1, 2};
static void logits_from_probs(const double *probs, float *logits) {
    for (int i = 0; i < 5; i++)
        logits[shuffled_ids[i]] = (float)log(probs[i]);
}

static void test_params(void) {
    struct smp_params d = smp_default_params();
    CHECK_NEAR(d.temperature, 0.8, 1e-7);
    CHECK_EQ(d.top_k, 40);
    CHECK_NEAR(d.top_p, 0.9, 1e-7);
    CHECK_NEAR(d.min_p, 0.0, 0);
    CHECK_NEAR(d.typical_p, 1.0, 0);
    CHECK_EQ(d.repeat_last_n, 64);
    CHECK_NEAR(d.repeat_penalty, 1.0, 0);
    CHECK_EQ(d.seed, -1);
    CHECK_EQ(d.n_logprobs, 0);

    struct ol_err err = {0};
    struct smp_params p = d;
    p.temperature = NAN;
    CHECK(smp_new(&p, 10, 10, &err) == NULL);
    CHECK_EQ(err.code, OL_EINVAL);
    p = d;
    p.repeat_penalty = 0.0f;
    CHECK(smp_new(&p, 10, 10, &err) == NULL);
    p = d;
    p.repeat_last_n = -2;
    CHECK(smp_new(&p, 10, 10, &err) == NULL);
    p = d;
    p.n_logprobs = SMP_MAX_LOGPROBS + 1;
    CHECK(smp_new(&p, 10, 10, &err) == NULL);
    CHECK(smp_new(&d, 0, 10, &err) == NULL);
    CHECK(smp_new(&d, 10, 0, NULL) == NULL);
    smp_free(NULL);

    /* default parameters with a random seed work */
    struct smp *s = new_or_die(&d, 10, 10);
    float logits[10] = {0, 0, 9, 0, 0, 0, 0, 0, 0, 0};
    int32_t t = smp_sample(s, logits, NULL);
    CHECK(t >= 0 && t < 10);
    smp_free(s);
}

static void test_greedy(void) {
    enum { N = 1000 };
    static float logits[N];
    struct smp_params p = params_plain();
    p.temperature = 0.0f;
    struct smp *s = new_or_die(&p, N, 64);
    for (int round = 0; round < 20; round++) {
        fill_random(logits, N, 20.0f);
        CHECK_EQ(smp_sample(s, logits, NULL), argmax(logits, N));
    }
    /* ties go to the lowest id; NaN never wins */
    for (int i = 0; i < N; i++)
        logits[i] = 1.0f;
    logits[0] = NAN;
    logits[700] = 5.0f;
    logits[300] = 5.0f;
    CHECK_EQ(smp_sample(s, logits, NULL), 300);
    smp_free(s);

    /* negative temperature: greedy too (llama.cpp) */
    p.temperature = -1.0f;
    s = new_or_die(&p, N, 64);
    fill_random(logits, N, 20.0f);
    CHECK_EQ(smp_sample(s, logits, NULL), argmax(logits, N));
    smp_free(s);
}

static void test_top_k_one_is_greedy(void) {
    enum { N = 500 };
    static float logits[N];
    struct smp_params p = params_plain();
    p.top_k = 1;
    p.temperature = 1.5f;
    struct smp *s = new_or_die(&p, N, 64);
    for (int round = 0; round < 200; round++) {
        fill_random(logits, N, 2.0f);
        CHECK_EQ(smp_sample(s, logits, NULL), argmax(logits, N));
    }
    smp_free(s);
}

static void test_seed(void) {
    enum { N = 50, T = 200 };
    float logits[N];
    int32_t a[T], b[T], c[T];
    fill_random(logits, N, 1.0f);
    struct smp_params p = params_plain();
    p.seed = 42;
    struct smp *s1 = new_or_die(&p, N, 64);
    struct smp *s2 = new_or_die(&p, N, 64);
    p.seed = 43;
    struct smp *s3 = new_or_die(&p, N, 64);
    int n_same_ab = 0, n_same_ac = 0;
    for (int i = 0; i < T; i++) {
        a[i] = smp_sample(s1, logits, NULL);
        b[i] = smp_sample(s2, logits, NULL);
        c[i] = smp_sample(s3, logits, NULL);
        n_same_ab += a[i] == b[i];
        n_same_ac += a[i] == c[i];
    }
    CHECK_EQ(n_same_ab, T);
    CHECK(n_same_ac < T / 4); /* about T / N by chance */
    smp_reset(s1);
    int n_replayed = 0;
    for (int i = 0; i < T; i++)
        n_replayed += smp_sample(s1, logits, NULL) == a[i];
    CHECK_EQ(n_replayed, T);
    smp_free(s1);
    smp_free(s2);
    smp_free(s3);

    /* seed -1: two samplers almost surely differ */
    p.seed = -1;
    s1 = new_or_die(&p, N, 64);
    s2 = new_or_die(&p, N, 64);
    int n_same = 0;
    for (int i = 0; i < T; i++)
        n_same += smp_sample(s1, logits, NULL) == smp_sample(s2, logits, NULL);
    CHECK(n_same < T / 4);
    smp_free(s1);
    smp_free(s2);
}

/* Draws n times and checks each token's frequency against `want` within 5 sigma. */
static void check_frequencies(struct smp *s, const float *logits, const double *want, int n_vocab,
                              int n) {
    int counts[16] = {0};
    for (int i = 0; i < n; i++) {
        int32_t t = smp_sample(s, logits, NULL);
        CHECK(t >= 0 && t < n_vocab);
        if (t >= 0 && t < n_vocab) counts[t]++;
    }
    for (int i = 0; i < n_vocab; i++) {
        double sigma = sqrt(want[i] * (1.0 - want[i]) / n);
        CHECK_NEAR((double)counts[i] / n, want[i], 5.0 * sigma + 1e-9);
    }
}

static void test_distribution(void) {
    enum { N = 8, DRAWS = 20000 };
    const float logits[N] = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.0f, 2.5f, -3.0f};
    double want[N];
    struct smp_params p = params_plain();
    p.seed = 7;

    struct smp *s = new_or_die(&p, N, 64);
    softmax(logits, want, N);
    check_frequencies(s, logits, want, N, DRAWS);
    smp_free(s);

    /* temperature 0.5 sharpens: softmax(logits / 0.5) */
    p.temperature = 0.5f;
    s = new_or_die(&p, N, 64);
    float scaled[N];
    for (int i = 0; i < N; i++)
        scaled[i] = logits[i] / 0.5f;
    softmax(scaled, want, N);
    check_frequencies(s, logits, want, N, DRAWS);
    smp_free(s);

    /* top_k 3 renormalises over tokens 4, 6, 1 */
    p.temperature = 1.0f;
    p.top_k = 3;
    s = new_or_die(&p, N, 64);
    float top3[N];
    for (int i = 0; i < N; i++)
        top3[i] = (i == 4 || i == 6 || i == 1) ? logits[i] : -INFINITY;
    softmax(top3, want, N);
    check_frequencies(s, logits, want, N, DRAWS);
    smp_free(s);
}

static void test_top_p(void) {
    const double probs[5] = {0.5, 0.2, 0.15, 0.1, 0.05}; /* ids 3, 0, 4, 1, 2 */
    float logits[5];
    logits_from_probs(probs, logits);
    const struct smp_cand *c;
    struct smp_params p = params_plain();

    p.top_p = 0.75f; /* 0.5, 0.7, 0.85: the token that crosses 0.75 stays */
    struct smp *s = new_or_die(&p, 5, 64);
    int n = smp_candidates(s, logits, &c);
    CHECK_EQ(n, 3);
    CHECK_NEAR(cand_p(c, n, 3), 0.5 / 0.85, 1e-5);
    CHECK_NEAR(cand_p(c, n, 0), 0.2 / 0.85, 1e-5);
    CHECK_NEAR(cand_p(c, n, 4), 0.15 / 0.85, 1e-5);
    smp_free(s);

    p.top_p = 0.4f;
    s = new_or_die(&p, 5, 64);
    n = smp_candidates(s, logits, &c);
    CHECK_EQ(n, 1);
    CHECK_EQ(c[0].id, 3);
    smp_free(s);

    p.top_p = 0.0f; /* keeps the best token */
    s = new_or_die(&p, 5, 64);
    CHECK_EQ(smp_candidates(s, logits, &c), 1);
    smp_free(s);

    /* top_k 4 first, then top_p over the renormalised four (0.5/0.95 = 0.526...) */
    p.top_k = 4;
    p.top_p = 0.55f;
    s = new_or_die(&p, 5, 64);
    n = smp_candidates(s, logits, &c);
    CHECK_EQ(n, 2);
    CHECK(cand_p(c, n, 3) > 0 && cand_p(c, n, 0) > 0);
    smp_free(s);
}

static int cmp_float_desc(const void *pa, const void *pb) {
    float a = *(const float *)pa, b = *(const float *)pb;
    return a > b ? -1 : a < b ? 1 : 0;
}

/* A flat distribution over a large vocabulary: top_p must extend its sorted prefix many times. */
static void test_top_p_large(void) {
    enum { N = 5000 };
    static float logits[N], sorted[N];
    static double probs[N];
    fill_random(logits, N, 3.0f);
    memcpy(sorted, logits, sizeof(logits));
    qsort(sorted, N, sizeof(*sorted), cmp_float_desc);
    softmax(sorted, probs, N);
    const float top_ps[3] = {0.3f, 0.9f, 0.999f};
    for (int k = 0; k < 3; k++) {
        double cum = 0.0;
        int want = 0;
        while (cum < (double)top_ps[k])
            cum += probs[want++];
        struct smp_params p = params_plain();
        p.top_p = top_ps[k];
        struct smp *s = new_or_die(&p, N, 64);
        const struct smp_cand *c;
        int n = smp_candidates(s, logits, &c);
        CHECK_EQ(n, want);
        CHECK(want > 64);
        int n_above = 0; /* every kept token is among the `want` best */
        for (int i = 0; i < n; i++)
            n_above += logits[c[i].id] >= sorted[want - 1];
        CHECK_EQ(n_above, n);
        smp_free(s);
    }
    struct smp_params p = params_plain();
    p.top_p = 0.0f; /* keeps only the best, on the unsorted path too */
    struct smp *s = new_or_die(&p, N, 64);
    const struct smp_cand *c;
    CHECK_EQ(smp_candidates(s, logits, &c), 1);
    CHECK_EQ(c[0].id, argmax(logits, N));
    smp_free(s);
}

static void test_top_k_large(void) {
    enum { N = 152064 };
    static float logits[N], sorted[N];
    fill_random(logits, N, 30.0f);
    memcpy(sorted, logits, sizeof(logits));
    qsort(sorted, N, sizeof(*sorted), cmp_float_desc);
    const int ks[3] = {40, 1000, 20000}; /* the last one takes the quickselect path */
    for (int t = 0; t < 3; t++) {
        int k = ks[t];
        struct smp_params p = params_plain();
        p.top_k = k;
        struct smp *s = new_or_die(&p, N, 64);
        const struct smp_cand *c;
        int n = smp_candidates(s, logits, &c);
        CHECK_EQ(n, k);
        int n_top = 0;
        for (int i = 0; i < n; i++)
            n_top += logits[c[i].id] >= sorted[k - 1];
        CHECK_EQ(n_top, k);
        double sum = 0.0;
        for (int i = 0; i < n; i++)
            sum += (double)c[i].p;
        CHECK_NEAR(sum, 1.0, 1e-5);
        smp_free(s);
    }
}

static int cmp_cand_best(const void *pa, const void *pb) {
    const struct smp_cand *a = pa, *b = pb;
    if (a->logit != b->logit) return a->logit > b->logit ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* top_k and greedy take the k best straight from the logits; they must keep exactly what the
 * full candidate array gives (penalties, NaN as -inf, +inf as FLT_MAX, ties to the lower id),
 * on a vocabulary that is not a multiple of 64. */
static void test_top_k_direct(void) {
    enum { N = 5003 };
    static float logits[N];
    static struct smp_cand want[N];
    for (int i = 0; i < N; i++) /* quarter steps: many ties */
        logits[i] = roundf((rand_unit() - 0.5f) * 40.0f) / 4.0f;
    logits[7] = NAN;
    logits[4000] = NAN;
    logits[123] = INFINITY;
    logits[2222] = -INFINITY;
    logits[5002] = 20.0f;
    const int32_t hist[] = {123, 7, 5002, 42, 42, 42, 2222, 4999, 64, 63};
    const int ks[] = {1, 2, 3, 40, 1024};
    for (size_t t = 0; t < sizeof(ks) / sizeof(ks[0]); t++) {
        for (int penal = 0; penal < 2; penal++) {
            struct smp_params p = params_plain();
            if (penal) {
                p.repeat_penalty = 1.3f;
                p.frequency_penalty = 0.1f;
                p.presence_penalty = 0.2f;
                p.repeat_last_n = 64;
            }
            struct smp *full = new_or_die(&p, N, 256);
            p.top_k = ks[t];
            if (ks[t] == 1) p.temperature = 0.0f; /* greedy */
            struct smp *direct = new_or_die(&p, N, 256);
            for (size_t i = 0; i < sizeof(hist) / sizeof(hist[0]); i++) {
                smp_accept(full, hist[i]);
                smp_accept(direct, hist[i]);
            }
            const struct smp_cand *c;
            int n = smp_candidates(full, logits, &c);
            CHECK_EQ(n, N);
            memcpy(want, c, sizeof(*c) * (size_t)n);
            qsort(want, (size_t)n, sizeof(*want), cmp_cand_best);
            for (int rep = 0; rep < 2; rep++) { /* twice: the marks of the window are cleared */
                n = smp_candidates(direct, logits, &c);
                CHECK_EQ(n, ks[t]);
                int bad = 0;
                for (int i = 0; i < n; i++)
                    bad += c[i].id != want[i].id || c[i].logit != want[i].logit;
                CHECK_EQ(bad, 0);
            }
            smp_free(full);
            smp_free(direct);
        }
    }
}

static void test_min_p(void) {
    const double probs[5] = {0.5, 0.2, 0.15, 0.1, 0.05}; /* ids 3, 0, 4, 1, 2 */
    float logits[5];
    logits_from_probs(probs, logits);
    const struct smp_cand *c;
    struct smp_params p = params_plain();
    p.min_p = 0.25f; /* floor 0.125: keeps 0.5, 0.2, 0.15 */
    struct smp *s = new_or_die(&p, 5, 64);
    int n = smp_candidates(s, logits, &c);
    CHECK_EQ(n, 3);
    CHECK(cand_p(c, n, 3) > 0 && cand_p(c, n, 0) > 0 && cand_p(c, n, 4) > 0);
    CHECK_NEAR(cand_p(c, n, 4), 0.15 / 0.85, 1e-5);
    smp_free(s);

    p.min_p = 0.35f; /* floor 0.175: keeps 0.5, 0.2 */
    s = new_or_die(&p, 5, 64);
    CHECK_EQ(smp_candidates(s, logits, &c), 2);
    smp_free(s);

    p.min_p = 1.5f; /* above 1: still keeps the best */
    s = new_or_die(&p, 5, 64);
    n = smp_candidates(s, logits, &c);
    CHECK_EQ(n, 1);
    CHECK_EQ(c[0].id, 3);
    smp_free(s);
}

static void test_typical_p(void) {
    /* entropy 1.3332; |-log p - H|: 0.640, 0.276, 0.564, 0.970, 1.663, so the order is
     * 0.2, 0.15, 0.5, 0.1, 0.05: typical sampling can drop the most likely token */
    const double probs[5] = {0.5, 0.2, 0.15, 0.1, 0.05}; /* ids 3, 0, 4, 1, 2 */
    float logits[5];
    logits_from_probs(probs, logits);
    const struct smp_cand *c;
    struct smp_params p = params_plain();
    p.typical_p = 0.3f; /* 0.2, 0.35 > 0.3 */
    struct smp *s = new_or_die(&p, 5, 64);
    int n = smp_candidates(s, logits, &c);
    CHECK_EQ(n, 2);
    CHECK_NEAR(cand_p(c, n, 0), 0.2 / 0.35, 1e-5);
    CHECK_NEAR(cand_p(c, n, 4), 0.15 / 0.35, 1e-5);
    CHECK(cand_p(c, n, 3) < 0);
    smp_free(s);

    p.typical_p = 0.5f; /* 0.2, 0.35, 0.85 > 0.5 */
    s = new_or_die(&p, 5, 64);
    n = smp_candidates(s, logits, &c);
    CHECK_EQ(n, 3);
    CHECK(cand_p(c, n, 3) > 0 && cand_p(c, n, 0) > 0 && cand_p(c, n, 4) > 0);
    smp_free(s);

    /* then top_p on the survivors, renormalised: 0.5/0.85 = 0.59 >= 0.5 keeps one */
    p.top_p = 0.5f;
    s = new_or_die(&p, 5, 64);
    n = smp_candidates(s, logits, &c);
    CHECK_EQ(n, 1);
    CHECK_EQ(c[0].id, 3);
    smp_free(s);
}

struct scored {
    double score;
    int id;
};

static int cmp_scored(const void *pa, const void *pb) {
    const struct scored *a = pa, *b = pb;
    if (a->score != b->score) return a->score < b->score ? -1 : 1;
    return a->id - b->id;
}

/* typical_p on a large vocabulary against a plain full-sort reference */
static void test_typical_p_large(void) {
    enum { N = 3000 };
    static float logits[N];
    static double probs[N];
    static struct scored sc[N];
    static bool want[N];
    fill_random(logits, N, 8.0f);
    softmax(logits, probs, N);
    double ent = 0.0;
    for (int i = 0; i < N; i++)
        ent -= probs[i] * log(probs[i]);
    for (int i = 0; i < N; i++)
        sc[i] = (struct scored){fabs(-log(probs[i]) - ent), i};
    qsort(sc, N, sizeof(*sc), cmp_scored);
    double cum = 0.0;
    int n_want = 0;
    while (cum <= 0.7) {
        cum += probs[sc[n_want].id];
        want[sc[n_want++].id] = true;
    }
    struct smp_params p = params_plain();
    p.typical_p = 0.7f;
    struct smp *s = new_or_die(&p, N, 64);
    const struct smp_cand *c;
    int n = smp_candidates(s, logits, &c);
    CHECK_EQ(n, n_want);
    CHECK(n_want > 64);
    int n_match = 0;
    for (int i = 0; i < n; i++)
        n_match += want[c[i].id];
    CHECK_EQ(n_match, n_want);
    smp_free(s);
}

static float cand_logit(const struct smp_cand *c, int n, int32_t id) {
    for (int i = 0; i < n; i++)
        if (c[i].id == id) return c[i].logit;
    return NAN;
}

static void test_penalties(void) {
    enum { N = 10 };
    float logits[N] = {0.5f, 1.0f, 3.0f, 0.0f, -2.0f, -1.0f, 2.0f, 4.0f, 0.25f, -0.5f};
    const struct smp_cand *c;
    struct smp_params p = params_plain();
    p.repeat_penalty = 1.5f;
    p.presence_penalty = 0.3f;
    p.frequency_penalty = 0.2f;
    p.repeat_last_n = 3;
    struct smp *s = new_or_die(&p, N, 64);
    smp_accept(s, 7); /* falls out of the 3-token window */
    smp_accept(s, 2);
    smp_accept(s, 2);
    smp_accept(s, 5);
    smp_accept(s, 99); /* out of range: ignored */
    smp_accept(s, -1);
    int n = smp_candidates(s, logits, &c);
    CHECK_EQ(n, N);
    CHECK_NEAR(cand_logit(c, n, 2), 3.0 / 1.5 - 2 * 0.2 - 0.3, 1e-6);
    CHECK_NEAR(cand_logit(c, n, 5), -1.0 * 1.5 - 0.2 - 0.3, 1e-6);
    CHECK_NEAR(cand_logit(c, n, 7), 4.0, 0);
    for (int i = 0; i < N; i++)
        if (i != 2 && i != 5) CHECK_NEAR(cand_logit(c, n, i), logits[i], 0);
    /* the caller's logits are untouched */
    CHECK_NEAR(logits[2], 3.0, 0);
    /* a second call gives the same result: the counting scratch was cleared */
    n = smp_candidates(s, logits, &c);
    CHECK_NEAR(cand_logit(c, n, 2), 3.0 / 1.5 - 2 * 0.2 - 0.3, 1e-6);

    smp_reset(s);
    n = smp_candidates(s, logits, &c);
    CHECK_NEAR(cand_logit(c, n, 2), 3.0, 0); /* history cleared */
    smp_free(s);

    /* penalties shape the draw: greedy walks 7 (4.0) -> 2 (3.0) -> 7 -> 6 (2.0) */
    p.temperature = 0.0f;
    s = new_or_die(&p, N, 64);
    CHECK_EQ(smp_sample(s, logits, NULL), 7);
    smp_accept(s, 7);
    CHECK_EQ(smp_sample(s, logits, NULL), 2); /* 7: 4 / 1.5 - 0.5 = 2.17 */
    smp_accept(s, 2);
    CHECK_EQ(smp_sample(s, logits, NULL), 7); /* 2: 3 / 1.5 - 0.5 = 1.5 */
    smp_accept(s, 7);
    CHECK_EQ(smp_sample(s, logits, NULL), 6); /* 7: 2.67 - 0.7 = 1.97 < 2.0 */
    smp_free(s);

    /* repeat_last_n -1: the window is n_ctx */
    p.temperature = 1.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.repeat_last_n = -1;
    s = new_or_die(&p, N, 4);
    smp_accept(s, 1);
    for (int i = 0; i < 4; i++)
        smp_accept(s, 3);
    n = smp_candidates(s, logits, &c);
    CHECK_NEAR(cand_logit(c, n, 1), 1.0, 0);
    smp_free(s);
    s = new_or_die(&p, N, 5);
    smp_accept(s, 1);
    for (int i = 0; i < 4; i++)
        smp_accept(s, 3);
    n = smp_candidates(s, logits, &c);
    CHECK_NEAR(cand_logit(c, n, 1), 1.0 / 1.5, 1e-6);
    smp_free(s);

    /* repeat_last_n 0: off */
    p.repeat_last_n = 0;
    s = new_or_die(&p, N, 64);
    smp_accept(s, 1);
    n = smp_candidates(s, logits, &c);
    CHECK_NEAR(cand_logit(c, n, 1), 1.0, 0);
    smp_free(s);
}

static void test_logprobs(void) {
    enum { N = 1000, TOP = 5 };
    static float logits[N];
    static double probs[N];
    fill_random(logits, N, 10.0f);
    logits[10] = logits[11] = 7.0f; /* a tie at the top: lower id first */
    softmax(logits, probs, N);
    struct smp_params p = params_plain();
    p.n_logprobs = TOP;
    p.repeat_penalty = 2.0f; /* penalties do not change the reported logprobs */
    struct smp *s = new_or_die(&p, N, 64);
    smp_accept(s, 10);
    for (int round = 0; round < 10; round++) {
        struct smp_logprob lp;
        int32_t t = smp_sample(s, logits, &lp);
        CHECK_EQ(lp.token, t);
        CHECK_NEAR(lp.logprob, log(probs[t]), 1e-4);
        CHECK_EQ(lp.n_top, TOP);
        CHECK_EQ(lp.top_tokens[0], 10);
        CHECK_EQ(lp.top_tokens[1], 11);
        for (int j = 0; j < TOP; j++) {
            CHECK_NEAR(lp.top_logprobs[j], log(probs[lp.top_tokens[j]]), 1e-4);
            if (j > 0) CHECK(lp.top_logprobs[j] <= lp.top_logprobs[j - 1]);
        }
        int n_above = 0; /* nothing outside the list beats its last entry */
        for (int i = 0; i < N; i++)
            n_above += logits[i] > logits[lp.top_tokens[TOP - 1]];
        CHECK_EQ(n_above, TOP - 1);
    }
    smp_free(s);

    /* more alternatives asked than tokens exist */
    p.n_logprobs = SMP_MAX_LOGPROBS;
    s = new_or_die(&p, 3, 64);
    float small[3] = {0.0f, 1.0f, 2.0f};
    struct smp_logprob lp;
    smp_sample(s, small, &lp);
    CHECK_EQ(lp.n_top, 3);
    CHECK_EQ(lp.top_tokens[0], 2);
    CHECK_EQ(lp.top_tokens[2], 0);
    double lse = log(exp(0.0) + exp(1.0) + exp(2.0));
    CHECK_NEAR(lp.top_logprobs[0], 2.0 - lse, 1e-5);
    smp_free(s);
}

/* ---- stop strings ---- */

/* Pushes the pieces (NULL-terminated list) and flushes; returns the emitted text in `out`. */
static int stop_run(const char *const *stops, int n_stops, const char *const *pieces,
                    struct ol_buf *out) {
    struct smp_stop *st = smp_stop_new(stops, n_stops);
    CHECK(st != NULL);
    if (!st) return -1;
    int stopped = 0;
    out->len = 0;
    ol_buf_append(out, "", 0);
    for (int i = 0; pieces[i]; i++) {
        int rc = smp_stop_push(st, pieces[i], strlen(pieces[i]), out);
        CHECK(rc >= 0);
        if (rc == 1) stopped = 1;
    }
    CHECK_EQ(smp_stop_flush(st, out), 0);
    smp_stop_free(st);
    return stopped;
}

#define CHECK_STR(buf, want)                                                                       \
    do {                                                                                           \
        CHECK((buf).len == strlen(want) && memcmp((buf).data, (want), (buf).len) == 0);            \
        if ((buf).len != strlen(want) || memcmp((buf).data, (want), (buf).len) != 0)               \
            fprintf(stderr, "  got \"%.*s\", want \"%s\"\n", (int)(buf).len, (buf).data, (want));  \
    } while (0)

static void test_stop(void) {
    struct ol_buf out = {0};
    const char *stops1[] = {"STOP"};

    const char *one[] = {"hello STOP world", NULL};
    CHECK_EQ(stop_run(stops1, 1, one, &out), 1);
    CHECK_STR(out, "hello ");

    const char *two[] = {"hello ST", "OP world", NULL};
    CHECK_EQ(stop_run(stops1, 1, two, &out), 1);
    CHECK_STR(out, "hello ");

    const char *three[] = {"hello S", "TO", "P", " more", NULL};
    CHECK_EQ(stop_run(stops1, 1, three, &out), 1);
    CHECK_STR(out, "hello ");

    const char *diverge[] = {"a ST", "OR", "Y STO", "NE", NULL}; /* prefixes that diverge */
    CHECK_EQ(stop_run(stops1, 1, diverge, &out), 0);
    CHECK_STR(out, "a STORY STONE");

    const char *at_start[] = {"STOP", "anything", NULL};
    CHECK_EQ(stop_run(stops1, 1, at_start, &out), 1);
    CHECK_STR(out, "");

    const char *held_end[] = {"the end ST", NULL}; /* generation ends while holding */
    CHECK_EQ(stop_run(stops1, 1, held_end, &out), 0);
    CHECK_STR(out, "the end ST");

    const char *overlap[] = {"SSTO", "STOP!", NULL}; /* a new candidate starts inside the old */
    CHECK_EQ(stop_run(stops1, 1, overlap, &out), 1);
    CHECK_STR(out, "SSTO");

    const char *stops3[] = {"</s>", "", "\n\nUser:", "<|im_end|>"};
    const char *multi[] = {"Sure.\n", "\nUse", "r: hi", NULL};
    CHECK_EQ(stop_run(stops3, 4, multi, &out), 1);
    CHECK_STR(out, "Sure.");
    const char *multi2[] = {"x</", "s", "> y <|im_end|>", NULL};
    CHECK_EQ(stop_run(stops3, 4, multi2, &out), 1);
    CHECK_STR(out, "x");
    const char *multi3[] = {"a <|im_", "end|> b </s>", NULL}; /* the earliest match wins */
    CHECK_EQ(stop_run(stops3, 4, multi3, &out), 1);
    CHECK_STR(out, "a ");

    /* no stop strings: text flows straight through */
    const char *plain[] = {"abc", "def", NULL};
    CHECK_EQ(stop_run(NULL, 0, plain, &out), 0);
    CHECK_STR(out, "abcdef");

    /* what is emitted when: the held part appears only once it diverges */
    struct smp_stop *st = smp_stop_new(stops1, 1);
    out.len = 0;
    CHECK_EQ(smp_stop_push(st, "abc S", 5, &out), 0);
    CHECK_STR(out, "abc ");
    CHECK_EQ(smp_stop_push(st, "T", 1, &out), 0);
    CHECK_STR(out, "abc ");
    CHECK_EQ(smp_stop_push(st, "x", 1, &out), 0);
    CHECK_STR(out, "abc STx");
    CHECK_EQ(smp_stop_push(st, "STOP", 4, &out), 1);
    CHECK_EQ(smp_stop_push(st, "more", 4, &out), 1);
    CHECK_EQ(smp_stop_flush(st, &out), 0);
    CHECK_STR(out, "abc STx");
    smp_stop_free(st);
    smp_stop_free(NULL);

    /* UTF-8: "é" (c3 a9) and "😀" (f0 9f 98 80) split across pieces are held until complete */
    st = smp_stop_new(NULL, 0);
    out.len = 0;
    CHECK_EQ(smp_stop_push(st, "caf\xc3", 4, &out), 0);
    CHECK_STR(out, "caf");
    CHECK_EQ(smp_stop_push(st, "\xa9 \xf0\x9f", 4, &out), 0);
    CHECK_STR(out, "caf\xc3\xa9 ");
    CHECK_EQ(smp_stop_push(st, "\x98", 1, &out), 0);
    CHECK_STR(out, "caf\xc3\xa9 ");
    CHECK_EQ(smp_stop_push(st, "\x80!", 2, &out), 0);
    CHECK_STR(out, "caf\xc3\xa9 \xf0\x9f\x98\x80!");
    CHECK_EQ(smp_stop_push(st, "\xe2\x82", 2, &out), 0); /* "€" cut off by the end */
    CHECK_EQ(smp_stop_flush(st, &out), 0);
    CHECK_STR(out, "caf\xc3\xa9 \xf0\x9f\x98\x80!");
    CHECK(ol_utf8_is_valid(out.data, out.len));
    smp_stop_free(st);

    /* a multibyte stop string split mid-character, and text before it split too */
    const char *stops_u[] = {"—end"}; /* e2 80 94 */
    const char *upieces[] = {"na\xc3", "\xafve \xe2\x80", "\x94", "en", "d tail", NULL};
    CHECK_EQ(stop_run(stops_u, 1, upieces, &out), 1);
    CHECK_STR(out, "na\xc3\xafve ");
    const char *upieces2[] = {"x \xe2\x80", "\x94", "e!", NULL}; /* diverges: all emitted */
    CHECK_EQ(stop_run(stops_u, 1, upieces2, &out), 0);
    CHECK_STR(out, "x \xe2\x80\x94"
                   "e!");

    ol_buf_free(&out);
}

int main(void) {
    test_params();
    test_greedy();
    test_top_k_one_is_greedy();
    test_seed();
    test_distribution();
    test_top_p();
    test_top_p_large();
    test_top_k_large();
    test_top_k_direct();
    test_min_p();
    test_typical_p();
    test_typical_p_large();
    test_penalties();
    test_logprobs();
    test_stop();
    return check_exit("test_engine_sampler");
}
