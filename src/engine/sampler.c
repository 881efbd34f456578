/* sampler: token sampling (penalties, filters, seeded draw) and stop-string matching.
 *
 * Sampling works on a candidate array (id, logit, p) filled from the logits for each call. The
 * filters shrink it from the end: the survivors are always cand[0..n_cand). Sorting the whole
 * 152k vocabulary every token would dominate, so nothing does: top_k finds the k best with a
 * k-entry heap in one scan and sorts only those; top_p and typical_p on unsorted candidates use a
 * quickselect steered by probability mass, which finds the kept set in expected O(n) without
 * ordering it. "Best" is a total order (higher logit, then lower id), so every result is
 * independent of the input order and of the platform's qsort. */
#include "engine/sampler.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct smp {
    struct smp_params p;
    int n_vocab;
    int n_window;          /* capacity of the penalty history; 0 = penalties off */
    int32_t *hist;         /* [n_window] last accepted tokens, ring (order does not matter) */
    int n_hist;            /* filled entries of hist */
    int hist_head;         /* next slot to overwrite */
    uint32_t *counts;      /* [n_vocab] occurrences, all zero between calls */
    int32_t *distinct;     /* [n_window] tokens seen while counting */
    uint64_t *pen_bits;    /* [n_vocab / 64 + 1] tokens of the window, all zero between calls */
    float *pen_logit;      /* [n_vocab] their penalized logits, valid where pen_bits is set */
    struct smp_cand *cand; /* [n_vocab] candidates */
    struct smp_cand *tmp;  /* [n_vocab] typical_p's ordering */
    struct smp_cand *heap; /* [n_vocab] scratch of cand_top */
    int n_cand;            /* surviving candidates */
    bool sorted;           /* cand[0..n_cand) are in best-first order */
    uint64_t rng[4];       /* xoshiro256** state */
};

/* ---- generator: xoshiro256** seeded through splitmix64 (Vigna's reference code) ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t s[4]) {
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

static void smp_seed(struct smp *s) {
    uint64_t x = (uint64_t)s->p.seed;
    if (s->p.seed == -1) /* no need for crypto quality: only to differ between requests */
        x = (uint64_t)ol_time_ns() ^ ((uint64_t)time(NULL) << 32) ^ (uint64_t)(uintptr_t)s;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
}

/* ---- parameters and lifetime ---- */

struct smp_params smp_default_params(void) {
    return (struct smp_params){
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.9f,
        .min_p = 0.0f,
        .typical_p = 1.0f,
        .repeat_last_n = 64,
        .repeat_penalty = 1.0f,
        .presence_penalty = 0.0f,
        .frequency_penalty = 0.0f,
        .seed = -1,
        .n_logprobs = 0,
    };
}

static int smp_params_check(const struct smp_params *p, int n_vocab, int n_ctx,
                            struct ol_err *err) {
    const float vals[] = {p->temperature,      p->top_p,          p->min_p,
                          p->typical_p,        p->repeat_penalty, p->presence_penalty,
                          p->frequency_penalty};
    static const char *const names[] = {"temperature",      "top_p",          "min_p",
                                        "typical_p",        "repeat_penalty", "presence_penalty",
                                        "frequency_penalty"};
    if (n_vocab < 1 || n_ctx < 1)
        return ol_err_set(err, OL_EINVAL, "sampler: bad vocabulary size %d or context %d", n_vocab,
                          n_ctx);
    for (size_t i = 0; i < OL_ARRAY_LEN(vals); i++)
        if (!isfinite(vals[i]))
            return ol_err_set(err, OL_EINVAL, "option \"%s\" must be a finite number", names[i]);
    if (p->repeat_penalty <= 0.0f)
        return ol_err_set(err, OL_EINVAL, "option \"repeat_penalty\" must be greater than 0");
    if (p->repeat_last_n < -1)
        return ol_err_set(err, OL_EINVAL, "option \"repeat_last_n\" must be -1 or more");
    if (p->n_logprobs < 0 || p->n_logprobs > SMP_MAX_LOGPROBS)
        return ol_err_set(err, OL_EINVAL, "top_logprobs must be between 0 and %d",
                          SMP_MAX_LOGPROBS);
    return 0;
}

struct smp *smp_new(const struct smp_params *p, int n_vocab, int n_ctx, struct ol_err *err) {
    if (smp_params_check(p, n_vocab, n_ctx, err) < 0) return NULL;
    struct smp *s = calloc(1, sizeof(*s));
    if (!s) goto out_nomem;
    s->p = *p;
    s->n_vocab = n_vocab;
    /* tokens older than the context cannot matter, and the cap bounds what a request allocates */
    s->n_window = p->repeat_last_n == -1 ? n_ctx : OL_MIN(p->repeat_last_n, n_ctx);
    if (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f)
        s->n_window = 0; /* nothing to apply: keep no history */
    s->cand = ol_calloc_array((size_t)n_vocab, sizeof(*s->cand));
    s->tmp = ol_calloc_array((size_t)n_vocab, sizeof(*s->tmp));
    s->heap = ol_calloc_array((size_t)n_vocab, sizeof(*s->heap));
    if (!s->cand || !s->tmp || !s->heap) goto out_free;
    if (s->n_window > 0) {
        s->hist = ol_calloc_array((size_t)s->n_window, sizeof(*s->hist));
        s->distinct = ol_calloc_array((size_t)s->n_window, sizeof(*s->distinct));
        s->counts = ol_calloc_array((size_t)n_vocab, sizeof(*s->counts));
        s->pen_bits = ol_calloc_array((size_t)n_vocab / 64 + 1, sizeof(*s->pen_bits));
        s->pen_logit = ol_calloc_array((size_t)n_vocab, sizeof(*s->pen_logit));
        if (!s->hist || !s->distinct || !s->counts || !s->pen_bits || !s->pen_logit) goto out_free;
    }
    smp_seed(s);
    return s;

out_free:
    smp_free(s);
out_nomem:
    ol_err_set(err, OL_ENOMEM, "sampler: out of memory for a vocabulary of %d", n_vocab);
    return NULL;
}

void smp_free(struct smp *s) {
    if (!s) return;
    free(s->hist);
    free(s->distinct);
    free(s->counts);
    free(s->pen_bits);
    free(s->pen_logit);
    free(s->cand);
    free(s->tmp);
    free(s->heap);
    free(s);
}

void smp_reset(struct smp *s) {
    s->n_hist = 0;
    s->hist_head = 0;
    smp_seed(s);
}

void smp_accept(struct smp *s, int32_t tok) {
    if (s->n_window == 0 || tok < 0 || tok >= s->n_vocab) return;
    s->hist[s->hist_head] = tok;
    s->hist_head = (s->hist_head + 1) % s->n_window;
    if (s->n_hist < s->n_window) s->n_hist++;
}

/* ---- candidates ---- */

/* NaN counts as -inf and +inf as the largest float, so no softmax below ever sees inf - inf. */
static float logit_clean(float l) {
    if (isnan(l)) return -INFINITY;
    return l > FLT_MAX ? FLT_MAX : l;
}

/* exp(l - max) with exp(0) exact, which also covers max = +-inf. */
static double logit_weight(float l, float max) { return l == max ? 1.0 : (double)expf(l - max); }

static bool cand_better(const struct smp_cand *a, const struct smp_cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cand_cmp_best(const void *pa, const void *pb) {
    const struct smp_cand *a = pa, *b = pb;
    return cand_better(a, b) ? -1 : cand_better(b, a) ? 1 : 0;
}

static void cand_swap(struct smp_cand *a, size_t i, size_t j) {
    struct smp_cand t = a[i];
    a[i] = a[j];
    a[j] = t;
}

/* Partitions a[lo..hi) (hi - lo >= 2) around the median of three: returns `store` with
 * a[lo..store) better than the pivot a[store], which beats a[store+1..hi). lo < store, since the
 * median of three always loses to a[lo]. Adds the weight (p) of a[lo..store) to *mass. */
static size_t cand_partition(struct smp_cand *a, size_t lo, size_t hi, double *mass) {
    size_t mid = lo + (hi - lo) / 2;
    if (cand_better(&a[mid], &a[lo])) cand_swap(a, mid, lo);
    if (cand_better(&a[hi - 1], &a[lo])) cand_swap(a, hi - 1, lo);
    if (cand_better(&a[hi - 1], &a[mid])) cand_swap(a, hi - 1, mid);
    cand_swap(a, mid, hi - 1); /* the median is the pivot, parked at the end */
    struct smp_cand piv = a[hi - 1];
    size_t store = lo;
    double m = 0.0;
    for (size_t i = lo; i < hi - 1; i++)
        if (cand_better(&a[i], &piv)) {
            m += (double)a[i].p;
            cand_swap(a, i, store++);
        }
    cand_swap(a, store, hi - 1);
    *mass += m;
    return store;
}

/* Moves the k best of a[0..n) to a[0..k), in no particular order (quickselect; keys are unique
 * thanks to the id tie-break). 0 < k < n. */
static void cand_select(struct smp_cand *a, size_t n, size_t k) {
    size_t lo = 0, hi = n; /* invariant: a[0..lo) beat a[lo..n), a[0..hi) beat a[hi..n) */
    while (hi - lo > 1) {
        double unused = 0.0;
        size_t store = cand_partition(a, lo, hi, &unused);
        if (store == k || store + 1 == k) return;
        if (store < k)
            lo = store + 1;
        else
            hi = store;
    }
}

/* Moves to a[0..k) the shortest best-first run of a[0..n) whose weight (p) reaches `target`
 * (exceeds it when `strict`), in no particular order, and returns k (n when the total falls
 * short). A quickselect that steers by weight instead of count: expected O(n), no sorting. */
static size_t cand_select_mass(struct smp_cand *a, size_t n, double target, bool strict) {
    size_t lo = 0, hi = n; /* the answer k satisfies lo < k <= hi */
    double below = 0.0;    /* weight of a[0..lo); short of the target unless lo == 0 */
    while (hi - lo > 1) {
        double m = below;
        size_t store = cand_partition(a, lo, hi, &m);
        if (strict ? m > target : m >= target) {
            hi = store; /* store > lo, so k <= hi still leaves room for k > lo */
            continue;
        }
        m += (double)a[store].p;
        if (strict ? m > target : m >= target) return store + 1;
        below = m;
        lo = store + 1;
    }
    return hi;
}

/* Restores the heap below h[i]; the heap keeps its worst candidate at the root. */
static void heap_sift_down(struct smp_cand *h, size_t n, size_t i) {
    for (;;) {
        size_t w = 2 * i + 1;
        if (w >= n) return;
        if (w + 1 < n && cand_better(&h[w], &h[w + 1])) w++; /* the worse child */
        if (!cand_better(&h[i], &h[w])) return;
        cand_swap(h, i, w);
        i = w;
    }
}

/* Puts the k best of a[0..n) in a[0..k), best first, and leaves a[k..n) in an unspecified state
 * (entries may be lost or repeated); 0 < k <= n. For a small k one scan keeps the k best copies in
 * a heap (usually a single failed comparison per element); a large k uses quickselect, whose
 * passes cost about the same for any k. `heap` is scratch for k entries. */
static void cand_top(struct smp_cand *a, size_t n, size_t k, struct smp_cand *heap) {
    if (k < n && k > n / 16) {
        cand_select(a, n, k);
    } else if (k < n) {
        memcpy(heap, a, k * sizeof(*heap));
        for (size_t i = k / 2; i-- > 0;)
            heap_sift_down(heap, k, i);
        for (size_t i = k; i < n; i++)
            if (cand_better(&a[i], &heap[0])) {
                heap[0] = a[i];
                heap_sift_down(heap, k, 0);
            }
        memcpy(a, heap, k * sizeof(*a));
    }
    qsort(a, k, sizeof(*a), cand_cmp_best);
}

static float cand_max(const struct smp *s) {
    if (s->sorted) return s->cand[0].logit;
    float max = -INFINITY;
    for (int i = 0; i < s->n_cand; i++)
        if (s->cand[i].logit > max) max = s->cand[i].logit;
    return max;
}

/* Sets p of every candidate to the softmax of the logits. */
static void cand_softmax(struct smp *s) {
    float max = cand_max(s);
    double sum = 0.0;
    for (int i = 0; i < s->n_cand; i++) {
        double w = logit_weight(s->cand[i].logit, max);
        s->cand[i].p = (float)w;
        sum += w;
    }
    for (int i = 0; i < s->n_cand; i++)
        s->cand[i].p = (float)((double)s->cand[i].p / sum);
}

static void cand_fill(struct smp *s, const float *logits) {
    for (int i = 0; i < s->n_vocab; i++) {
        s->cand[i].id = i;
        s->cand[i].logit = logit_clean(logits[i]);
        s->cand[i].p = 0.0f;
    }
    s->n_cand = s->n_vocab;
    s->sorted = false;
}

/* ---- the chain ---- */

/* Counts the window's tokens into counts[] and lists each once in distinct[]; returns how many. */
static int pen_count(struct smp *s) {
    int n_distinct = 0;
    for (int i = 0; i < s->n_hist; i++) {
        int32_t t = s->hist[i];
        if (s->counts[t]++ == 0) s->distinct[n_distinct++] = t;
    }
    return n_distinct;
}

/* llama.cpp's penalty of a (clean) logit seen `count` times: repeat (divide a positive logit,
 * multiply a negative one), then subtract count * frequency + presence. */
static float pen_apply(const struct smp_params *p, float l, uint32_t count) {
    l = l <= 0.0f ? l * p->repeat_penalty : l / p->repeat_penalty;
    return l - ((float)count * p->frequency_penalty + p->presence_penalty);
}

/* The penalties on the candidates. Needs cand[i].id == i. */
static void smp_penalties(struct smp *s) {
    int n_distinct = pen_count(s);
    for (int i = 0; i < n_distinct; i++) {
        int32_t t = s->distinct[i];
        s->cand[t].logit = pen_apply(&s->p, s->cand[t].logit, s->counts[t]);
        s->counts[t] = 0;
    }
}

/* Offers candidate (id, l) to the heap h of the k best so far (full: k entries, worst at the
 * root). */
static void heap_offer(struct smp_cand *h, int *n, int k, int32_t id, float l) {
    struct smp_cand c = {.id = id, .logit = l};
    if (*n < k) {
        h[(*n)++] = c;
        if (*n == k)
            for (int i = k / 2; i-- > 0;)
                heap_sift_down(h, (size_t)k, (size_t)i);
    } else if (cand_better(&c, &h[0])) {
        h[0] = c;
        heap_sift_down(h, (size_t)k, 0);
    }
}

/* What cand_fill, smp_penalties and smp_top_k(k) leave (the k best, penalties applied, best
 * first), computed from the logits without a candidate per vocabulary entry: for a vocabulary
 * of 152k that array is 1.8 MB written and read again per token, 1.3 ms on a 2-core VM (about
 * 5% of a token of a 0.5B model). The window's tokens are marked in pen_bits, so a run of 64
 * tokens without any costs one comparison each. */
static void cand_fill_top(struct smp *s, const float *logits, int k) {
    int n_distinct = s->n_window > 0 ? pen_count(s) : 0;
    for (int i = 0; i < n_distinct; i++) {
        int32_t t = s->distinct[i];
        s->pen_logit[t] = pen_apply(&s->p, logit_clean(logits[t]), s->counts[t]);
        s->pen_bits[t >> 6] |= 1ull << (t & 63);
        s->counts[t] = 0;
    }
    struct smp_cand *h = s->heap;
    int n = 0;
    for (int base = 0; base < s->n_vocab; base += 64) {
        int end = OL_MIN(base + 64, s->n_vocab);
        int i = base;
        if (n == k && end - base == 64 && (n_distinct == 0 || s->pen_bits[base >> 6] == 0)) {
            /* ids only grow, so an equal logit never beats the root; NaN compares false, as
             * its clean value -inf would. Whether any of the run beats the root first (a loop
             * the compiler vectorizes): most runs end there. */
            float root = h[0].logit;
            int any = 0;
            for (int j = 0; j < 64; j++)
                any |= logits[base + j] > root;
            if (!any) continue;
            for (; i < end; i++)
                if (logits[i] > h[0].logit) heap_offer(h, &n, k, i, logit_clean(logits[i]));
            continue;
        }
        for (; i < end; i++) {
            bool pen = n_distinct > 0 && (s->pen_bits[i >> 6] >> (i & 63) & 1);
            heap_offer(h, &n, k, i, pen ? s->pen_logit[i] : logit_clean(logits[i]));
        }
    }
    for (int i = 0; i < n_distinct; i++)
        s->pen_bits[s->distinct[i] >> 6] = 0;
    memcpy(s->cand, h, (size_t)n * sizeof(*h));
    qsort(s->cand, (size_t)n, sizeof(*s->cand), cand_cmp_best);
    s->n_cand = n;
    s->sorted = true;
}

static void smp_greedy(struct smp *s) {
    int best = 0; /* strict > keeps the lowest id on ties */
    for (int i = 1; i < s->n_cand; i++)
        if (s->cand[i].logit > s->cand[best].logit) best = i;
    s->cand[0] = s->cand[best];
    s->cand[0].p = 1.0f;
    s->n_cand = 1;
    s->sorted = true;
}

static void smp_top_k(struct smp *s, int k) {
    if (k <= 0 || k >= s->n_cand) return;
    cand_top(s->cand, (size_t)s->n_cand, (size_t)k, s->heap);
    s->n_cand = k;
    s->sorted = true;
}

/* Locally typical sampling (llama.cpp): order by |-log p - entropy| and keep the shortest prefix
 * whose probability exceeds typical_p. Leaves the candidates unsorted. */
static void smp_typical(struct smp *s, float typical_p) {
    if (typical_p >= 1.0f || s->n_cand <= 1) return;
    cand_softmax(s);
    double ent = 0.0;
    for (int i = 0; i < s->n_cand; i++)
        if (s->cand[i].p > 0.0f) ent -= (double)s->cand[i].p * log((double)s->cand[i].p);
    /* tmp: id = index into cand, logit = minus the score, so "best" is the lowest score */
    for (int i = 0; i < s->n_cand; i++) {
        s->tmp[i].id = i;
        s->tmp[i].logit = -(float)fabs(-log((double)s->cand[i].p) - ent);
        s->tmp[i].p = s->cand[i].p;
    }
    size_t kept = cand_select_mass(s->tmp, (size_t)s->n_cand, (double)typical_p, true);
    for (size_t j = 0; j < kept; j++)
        s->tmp[j] = s->cand[s->tmp[j].id];
    memcpy(s->cand, s->tmp, kept * sizeof(*s->cand));
    s->n_cand = (int)kept;
    s->sorted = false;
}

/* Keeps the best candidates until their probability reaches top_p (llama.cpp: the token that
 * crosses the threshold stays). */
static void smp_top_p(struct smp *s, float top_p) {
    if (top_p >= 1.0f || s->n_cand <= 1) return;
    float max = cand_max(s);
    double sum = 0.0;
    for (int i = 0; i < s->n_cand; i++) {
        double w = logit_weight(s->cand[i].logit, max);
        s->cand[i].p = (float)w; /* unnormalised weight; cand_softmax rewrites it */
        sum += w;
    }
    double target = (double)top_p * sum;
    if (!s->sorted) {
        s->n_cand = (int)cand_select_mass(s->cand, (size_t)s->n_cand, target, false);
        return;
    }
    double cum = 0.0;
    for (int i = 0; i < s->n_cand; i++) {
        cum += (double)s->cand[i].p;
        if (cum >= target) {
            s->n_cand = i + 1;
            return;
        }
    }
}

/* Keeps tokens with p >= min_p * p_max, i.e. logit >= max + log(min_p), and always the best.
 * Keeps the order, so sorted candidates stay sorted. */
static void smp_min_p(struct smp *s, float min_p) {
    if (min_p <= 0.0f || s->n_cand <= 1) return;
    float max = cand_max(s);
    float floor_logit = max + logf(min_p);
    int n = 0;
    for (int i = 0; i < s->n_cand; i++) {
        float l = s->cand[i].logit;
        if (l < floor_logit && l != max) continue;
        s->cand[n++] = s->cand[i];
    }
    s->n_cand = n;
}

/* Up to this k, top_k (and greedy, k = 1) takes the k best straight from the logits. */
#define SMP_DIRECT_TOP_K 1024

static void smp_chain(struct smp *s, const float *logits) {
    const struct smp_params *p = &s->p;
    int k = p->temperature <= 0.0f ? 1 : p->top_k;
    if (k > 0 && k < s->n_vocab && k <= SMP_DIRECT_TOP_K) {
        cand_fill_top(s, logits, k);
        if (p->temperature <= 0.0f) {
            s->cand[0].p = 1.0f;
            return;
        }
    } else {
        cand_fill(s, logits);
        if (s->n_hist > 0) smp_penalties(s);
        if (p->temperature <= 0.0f) {
            smp_greedy(s);
            return;
        }
        smp_top_k(s, p->top_k);
    }
    smp_typical(s, p->typical_p);
    smp_top_p(s, p->top_p);
    smp_min_p(s, p->min_p);
    if (p->temperature != 1.0f)
        for (int i = 0; i < s->n_cand; i++)
            s->cand[i].logit /= p->temperature;
    cand_softmax(s);
}

int smp_candidates(struct smp *s, const float *logits, const struct smp_cand **out) {
    smp_chain(s, logits);
    *out = s->cand;
    return s->n_cand;
}

/* ---- log-probabilities of the raw logits ---- */

static void smp_logprobs(const struct smp *s, const float *logits, int32_t tok,
                         struct smp_logprob *lp) {
    int n_top = OL_MIN(s->p.n_logprobs, s->n_vocab);
    float top_logit[SMP_MAX_LOGPROBS];
    int filled = 0;
    float max = -INFINITY;
    for (int i = 0; i < s->n_vocab; i++) {
        float l = logit_clean(logits[i]);
        if (l > max) max = l;
        if (n_top == 0 || (filled == n_top && !(l > top_logit[filled - 1]))) continue;
        int j = filled < n_top ? filled++ : n_top - 1; /* insertion; ties keep the lower id */
        for (; j > 0 && l > top_logit[j - 1]; j--) {
            top_logit[j] = top_logit[j - 1];
            lp->top_tokens[j] = lp->top_tokens[j - 1];
        }
        top_logit[j] = l;
        lp->top_tokens[j] = i;
    }
    double sum = 0.0;
    for (int i = 0; i < s->n_vocab; i++)
        sum += logit_weight(logit_clean(logits[i]), max);
    /* all -inf: every token is equally (im)probable */
    double lse = max == -INFINITY ? 0.0 : (double)max + log(sum);
    double flat = -log((double)s->n_vocab);
    lp->token = tok;
    lp->logprob = (float)(max == -INFINITY ? flat : (double)logit_clean(logits[tok]) - lse);
    lp->n_top = n_top;
    for (int j = 0; j < n_top; j++)
        lp->top_logprobs[j] = (float)(max == -INFINITY ? flat : (double)top_logit[j] - lse);
}

int32_t smp_sample(struct smp *s, const float *logits, struct smp_logprob *lp) {
    smp_chain(s, logits);
    int32_t tok = s->cand[s->n_cand - 1].id; /* if rounding leaves u past the last sum */
    if (s->n_cand > 1) {
        double total = 0.0;
        for (int i = 0; i < s->n_cand; i++)
            total += (double)s->cand[i].p;
        double u = rng_uniform(s->rng) * total;
        double cum = 0.0;
        for (int i = 0; i < s->n_cand; i++) {
            cum += (double)s->cand[i].p;
            if (u < cum) {
                tok = s->cand[i].id;
                break;
            }
        }
    }
    if (lp) smp_logprobs(s, logits, tok, lp);
    return tok;
}

/* ---- stop strings ----
 * The pending buffer holds text pushed but not emitted yet: at most a proper prefix of a stop
 * string plus an incomplete UTF-8 character, plus the piece being pushed. */

struct smp_stop {
    char **stops; /* [n_stops] owned copies, non-empty */
    size_t *lens; /* [n_stops] */
    int n_stops;
    struct ol_buf pending;
    bool stopped;
};

struct smp_stop *smp_stop_new(const char *const *stops, int n_stops) {
    if (n_stops < 0) return NULL;
    struct smp_stop *st = calloc(1, sizeof(*st));
    if (!st) return NULL;
    st->stops = ol_calloc_array((size_t)n_stops, sizeof(*st->stops));
    st->lens = ol_calloc_array((size_t)n_stops, sizeof(*st->lens));
    if (!st->stops || !st->lens) goto out_free;
    for (int i = 0; i < n_stops; i++) {
        size_t len = strlen(stops[i]);
        if (len == 0) continue;
        st->stops[st->n_stops] = ol_strndup(stops[i], len);
        if (!st->stops[st->n_stops]) goto out_free;
        st->lens[st->n_stops++] = len;
    }
    return st;

out_free:
    smp_stop_free(st);
    return NULL;
}

void smp_stop_free(struct smp_stop *st) {
    if (!st) return;
    for (int i = 0; i < st->n_stops; i++)
        free(st->stops[i]);
    free(st->stops);
    free(st->lens);
    ol_buf_free(&st->pending);
    free(st);
}

/* Earliest position in t[0..n) where any stop string occurs, or SIZE_MAX. */
static size_t stop_find(const struct smp_stop *st, const char *t, size_t n) {
    size_t best = SIZE_MAX;
    for (int k = 0; k < st->n_stops; k++) {
        size_t m = st->lens[k];
        for (size_t i = 0; i + m <= n && i < best; i++)
            if (t[i] == st->stops[k][0] && memcmp(t + i, st->stops[k], m) == 0) {
                best = i;
                break;
            }
    }
    return best;
}

/* Length of the longest suffix of t[0..n) that is a proper prefix of some stop string. */
static size_t stop_partial_len(const struct smp_stop *st, const char *t, size_t n) {
    size_t best = 0;
    for (int k = 0; k < st->n_stops; k++)
        for (size_t j = OL_MIN(st->lens[k] - 1, n); j > best; j--)
            if (memcmp(t + n - j, st->stops[k], j) == 0) {
                best = j;
                break;
            }
    return best;
}

int smp_stop_push(struct smp_stop *st, const char *piece, size_t len, struct ol_buf *out) {
    if (st->stopped) return 1;
    int rc = ol_buf_append(&st->pending, piece, len);
    if (rc < 0) return rc;
    char *t = st->pending.data;
    size_t n = st->pending.len;

    size_t at = stop_find(st, t, n);
    if (at != SIZE_MAX) {
        st->stopped = true;
        st->pending.len = 0;
        rc = ol_buf_append(out, t, at - ol_utf8_incomplete_tail(t, at));
        return rc < 0 ? rc : 1;
    }
    size_t cut = n - stop_partial_len(st, t, n);
    cut -= ol_utf8_incomplete_tail(t, cut);
    rc = ol_buf_append(out, t, cut);
    if (rc < 0) return rc;
    memmove(t, t + cut, n - cut);
    st->pending.len = n - cut;
    t[st->pending.len] = 0;
    return 0;
}

int smp_stop_flush(struct smp_stop *st, struct ol_buf *out) {
    if (st->stopped || st->pending.len == 0) return 0;
    const char *t = st->pending.data;
    size_t n = st->pending.len;
    int rc = ol_buf_append(out, t, n - ol_utf8_incomplete_tail(t, n));
    st->pending.len = 0;
    return rc;
}
