/* Golden checks of the forward pass: greedy decoding of the two real models reproduces their
 * reference ids (and stories260K's logits at positions 0-4 within 1e-3), and every synthetic
 * model's logits match the reference within the tolerances of ../shared/golden/README.md, both
 * as one batch and one token per decode call. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/engine.h"

static struct eng_model *load_model(const char *path) {
    struct ol_err err = {0};
    struct eng_model *m = eng_model_load(path, NULL, &err);
    if (!m) fprintf(stderr, "cannot load %s: %s\n", path, err.msg);
    CHECK(m != NULL);
    return m;
}

static struct eng_ctx *new_ctx(struct eng_model *m, int n_ctx, int n_batch, int threads) {
    struct ol_err err = {0};
    struct eng_ctx_params cp = eng_ctx_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.n_threads = threads;
    struct eng_ctx *c = eng_ctx_new(m, &cp, &err);
    if (!c) fprintf(stderr, "context: %s\n", err.msg);
    CHECK(c != NULL);
    return c;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Reads "key: id id id ..." from an expected-greedy.txt; returns the count. */
static int read_ids_line(const char *text, const char *key, int *ids, int cap) {
    const char *p = strstr(text, key);
    if (!p) return -1;
    p += strlen(key);
    int n = 0;
    while (*p && *p != '\n' && n < cap) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        ids[n++] = (int)v;
        p = end;
    }
    return n;
}

/* Greedy from BOS, one decode per token, checking ids (and logits rows when given). */
static void check_greedy(const char *model_path, const char *expected_path, int check_logits) {
    char *text = NULL;
    struct ol_err err = {0};
    if (ol_file_read(expected_path, 1 << 20, &text, NULL, &err) < 0) {
        fprintf(stderr, "missing %s: %s\n", expected_path, err.msg);
        CHECK(0);
        return;
    }
    int want[512];
    int n_want = read_ids_line(text, "token_ids:", want, 512);
    CHECK(n_want > 8);
    struct eng_model *m = load_model(model_path);
    if (!m || n_want <= 8) {
        free(text);
        eng_model_free(m);
        return;
    }
    struct eng_ctx *c = new_ctx(m, 512, 8, 2);
    int n_vocab = eng_n_vocab(m);
    eng_token tok = want[0];
    int mismatches = 0;
    for (int i = 0; i + 1 < n_want && c; i++) {
        int32_t pos = i;
        struct eng_batch b = {.n_tokens = 1, .tokens = &tok, .pos = &pos};
        CHECK_EQ(eng_ctx_decode(c, &b, &err), 0);
        const float *lg = eng_ctx_logits(c, 0);
        if (i < check_logits) {
            char key[64];
            snprintf(key, sizeof(key), "logits_pos%d", i);
            const char *p = strstr(text, key);
            CHECK(p != NULL);
            if (p) p = strchr(p, '\n');
            double max_diff = 0;
            for (int j = 0; p && j < n_vocab; j++) {
                char *end;
                double v = strtod(p, &end);
                if (end == p) break;
                p = end;
                max_diff = fmax(max_diff, fabs(v - (double)lg[j]));
            }
            CHECK_NEAR(max_diff, 0, 1e-3);
        }
        tok = argmax(lg, n_vocab);
        if (tok != want[i + 1] && mismatches++ < 3)
            fprintf(stderr, "%s: step %d: got %d want %d\n", model_path, i, tok, want[i + 1]);
    }
    CHECK_EQ(mismatches, 0);
    fprintf(stderr, "%s: %d greedy steps, %d mismatches\n", model_path, n_want - 1, mismatches);
    eng_ctx_free(c);
    eng_model_free(m);
    free(text);
}

struct tol {
    char name[64];
    char type[16];
    double nrmse_tol, margin, min_frac;
    int n_tokens, n_vocab;
};

/* Compares logits L with golden G per ../shared/golden/README.md; returns nrmse/tol. */
static double compare(const struct tol *t, const float *L, const float *G, const char *mode) {
    size_t n = (size_t)t->n_tokens * (size_t)t->n_vocab;
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += (double)G[i];
    mean /= (double)n;
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)L[i] - (double)G[i], e = (double)G[i] - mean;
        num += d * d;
        den += e * e;
    }
    double nrmse = sqrt(num / den);
    int agree = 0, clear_bad = 0;
    for (int r = 0; r < t->n_tokens; r++) {
        const float *g = G + (size_t)r * (size_t)t->n_vocab,
                    *l = L + (size_t)r * (size_t)t->n_vocab;
        int bg = argmax(g, t->n_vocab), bl = argmax(l, t->n_vocab);
        float second = -INFINITY;
        for (int j = 0; j < t->n_vocab; j++)
            if (j != bg && g[j] > second) second = g[j];
        agree += bg == bl;
        if ((double)(g[bg] - second) > t->margin && bg != bl) clear_bad++;
    }
    bool ok = nrmse <= t->nrmse_tol && clear_bad == 0 &&
              (t->min_frac <= 0 || agree >= t->min_frac * t->n_tokens - 1e-9);
    fprintf(stderr, "%-24s %-10s nrmse %.3g (%.2f of tol) top1 %d/%d clear-margin misses %d %s\n",
            t->name, mode, nrmse, nrmse / t->nrmse_tol, agree, t->n_tokens, clear_bad,
            ok ? "ok" : "FAIL");
    CHECK(ok);
    return nrmse / t->nrmse_tol;
}

static void check_golden_file(const struct tol *t, const int *tokens) {
    char path[256];
    snprintf(path, sizeof(path), "../shared/models/synthetic/%s.gguf", t->name);
    struct eng_model *m = load_model(path);
    if (!m) return;
    CHECK_EQ(eng_n_vocab(m), t->n_vocab);
    char gpath[256];
    snprintf(gpath, sizeof(gpath), "../shared/golden/%s.logits.f32", t->name);
    char *g = NULL;
    size_t glen = 0;
    struct ol_err err = {0};
    size_t n = (size_t)t->n_tokens * (size_t)t->n_vocab;
    if (ol_file_read(gpath, 1 << 26, &g, &glen, &err) < 0 || glen != n * sizeof(float)) {
        fprintf(stderr, "bad golden file %s: %s\n", gpath, err.msg);
        CHECK(0);
        free(g);
        eng_model_free(m);
        return;
    }
    float *L = calloc(n, sizeof(float));
    int32_t pos[64];
    bool want[64];
    for (int i = 0; i < t->n_tokens; i++) {
        pos[i] = i;
        want[i] = true;
    }
    /* one batch, 2 threads */
    struct eng_ctx *c = new_ctx(m, 512, t->n_tokens, 2);
    struct eng_batch b = {.n_tokens = t->n_tokens, .tokens = tokens, .pos = pos, .logits = want};
    if (c && eng_ctx_decode(c, &b, &err) == 0) {
        for (int i = 0; i < t->n_tokens; i++)
            memcpy(L + (size_t)i * (size_t)t->n_vocab, eng_ctx_logits(c, i),
                   (size_t)t->n_vocab * sizeof(float));
        compare(t, L, (const float *)g, "batch");
    } else {
        fprintf(stderr, "%s: decode: %s\n", t->name, err.msg);
        CHECK(0);
    }
    eng_ctx_free(c);
    /* one token per call, 1 thread */
    c = new_ctx(m, 512, 1, 1);
    bool ok = c != NULL;
    for (int i = 0; i < t->n_tokens && ok; i++) {
        struct eng_batch b1 = {.n_tokens = 1, .tokens = tokens + i, .pos = pos + i};
        ok = eng_ctx_decode(c, &b1, &err) == 0;
        if (ok)
            memcpy(L + (size_t)i * (size_t)t->n_vocab, eng_ctx_logits(c, 0),
                   (size_t)t->n_vocab * sizeof(float));
    }
    CHECK(ok);
    if (ok) compare(t, L, (const float *)g, "one-by-one");
    eng_ctx_free(c);
    free(L);
    free(g);
    eng_model_free(m);
}

static void test_golden_synthetic(void) {
    char *text = NULL;
    struct ol_err err = {0};
    int tokens[64];
    int n_tok = -1;
    if (ol_file_read("../shared/golden/tokens.txt", 1 << 16, &text, NULL, &err) == 0) {
        n_tok = 0;
        char *p = text, *end;
        for (long v; n_tok < 64 && (v = strtol(p, &end, 10), end != p); p = end)
            tokens[n_tok++] = (int)v;
        free(text);
    }
    CHECK_EQ(n_tok, 48);
    text = NULL;
    if (ol_file_read("../shared/golden/tolerances.tsv", 1 << 20, &text, NULL, &err) < 0) {
        fprintf(stderr, "missing tolerances.tsv: %s\n", err.msg);
        CHECK(0);
        return;
    }
    int n_files = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        struct tol t;
        if (sscanf(line, "%63s %15s %lf %lf %lf %d %d", t.name, t.type, &t.nrmse_tol, &t.margin,
                   &t.min_frac, &t.n_tokens, &t.n_vocab) != 7) {
            fprintf(stderr, "bad tolerance line: %s\n", line);
            CHECK(0);
            continue;
        }
        CHECK_EQ(t.n_tokens, n_tok);
        if (t.n_tokens != n_tok) continue;
        check_golden_file(&t, tokens);
        n_files++;
    }
    CHECK_EQ(n_files, 40);
    free(text);
}

int main(void) {
    check_greedy("../shared/models/stories260K/stories260K.gguf",
                 "../shared/models/stories260K/expected-greedy.txt", 5);
    check_greedy("../shared/models/llama-2-tiny-random/llama-2-tiny-random.gguf",
                 "../shared/models/llama-2-tiny-random/expected-greedy.txt", 0);
    test_golden_synthetic();
    return check_exit("test_engine_golden");
}
