/* eng_seq and context behaviour on the real stories260K model: greedy generation equals the
 * reference, seeded sampling is reproducible across runs and thread counts, a prompt sharing a
 * prefix reuses the cache (and gives the same result as a fresh context), truncation keeps
 * num_keep tokens, the context shift keeps generating and re-rotates keys exactly, stop strings
 * end generation without being emitted, and cancel stops a decode. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/ctx.h"
#include "engine/engine.h"

#define STORIES "../shared/models/stories260K/stories260K.gguf"

struct out {
    eng_token ids[4096];
    int n;
    struct ol_buf text;
};

static bool collect(void *user, eng_token t, const char *text, size_t len,
                    const struct eng_logprob *lp) {
    (void)lp;
    struct out *o = user;
    if (t >= 0 && o->n < 4096) o->ids[o->n++] = t;
    ol_buf_append(&o->text, text, len);
    return true;
}

static struct eng_ctx *ctx_new(const struct eng_model *m, int n_ctx, int threads) {
    struct ol_err err = {0};
    struct eng_ctx_params cp = eng_ctx_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = threads;
    cp.n_batch = 64;
    struct eng_ctx *c = eng_ctx_new(m, &cp, &err);
    if (!c) fprintf(stderr, "ctx: %s\n", err.msg);
    CHECK(c != NULL);
    return c;
}

/* Generates from prompt with params on a fresh context; returns stats. */
static struct eng_gen_stats run(const struct eng_model *m, int n_ctx, int threads,
                                const eng_token *prompt, int n_prompt,
                                const struct eng_seq_params *p, struct out *o) {
    struct ol_err err = {0};
    struct eng_gen_stats st = {0};
    struct eng_ctx *c = ctx_new(m, n_ctx, threads);
    struct eng_seq *s = c ? eng_seq_new(c, 0, &err) : NULL;
    memset(o->ids, 0, sizeof(o->ids));
    o->n = 0;
    o->text.len = 0;
    if (s) {
        int rc = eng_seq_generate(s, prompt, n_prompt, p, collect, o, &st, &err);
        if (rc) fprintf(stderr, "generate: %s\n", err.msg);
        CHECK_EQ(rc, 0);
    }
    eng_seq_free(s);
    eng_ctx_free(c);
    return st;
}

static struct eng_seq_params greedy(int n) {
    struct eng_seq_params p = eng_seq_default_params();
    p.sample.temperature = 0;
    p.sample.repeat_penalty = 1.0f;
    p.num_predict = n;
    return p;
}

static void test_greedy_matches_reference(const struct eng_model *m) {
    char *text = NULL;
    struct ol_err err = {0};
    CHECK_EQ(ol_file_read("../shared/models/stories260K/expected-greedy.txt", 1 << 20, &text, NULL,
                          &err),
             0);
    if (!text) return;
    const char *p = strstr(text, "token_ids:");
    CHECK(p != NULL);
    int want[300], n_want = 0;
    if (p) {
        p += strlen("token_ids:");
        char *end;
        for (long v; n_want < 300 && (v = strtol(p, &end, 10), end != p); p = end)
            want[n_want++] = (int)v;
    }
    free(text);
    CHECK_EQ(n_want, 257);
    static struct out o;
    eng_token bos = 1;
    struct eng_seq_params gp = greedy(256);
    struct eng_gen_stats st = run(m, 512, 2, &bos, 1, &gp, &o);
    CHECK_EQ(st.gen_tokens, 256);
    CHECK_EQ(st.done, ENG_DONE_LENGTH);
    int mism = 0;
    for (int i = 0; i < 256 && i + 1 < n_want; i++)
        mism += o.ids[i] != want[i + 1];
    CHECK_EQ(mism, 0);
    CHECK(o.text.data &&
          strstr(o.text.data, "Once upon a time, there was a little girl named Lily"));
    ol_buf_free(&o.text);
}

static void test_seed_reproducible(const struct eng_model *m) {
    static struct out a, b, c;
    eng_token prompt[] = {1, 403, 407};
    struct eng_seq_params p = eng_seq_default_params();
    p.sample.temperature = 1.0f;
    p.sample.seed = 42;
    p.num_predict = 100;
    run(m, 512, 1, prompt, 3, &p, &a);
    run(m, 512, 2, prompt, 3, &p, &b);
    CHECK_EQ(a.n, b.n);
    CHECK(a.n > 0 && memcmp(a.ids, b.ids, (size_t)a.n * sizeof(eng_token)) == 0);
    CHECK(a.text.len == b.text.len && memcmp(a.text.data, b.text.data, a.text.len) == 0);
    p.sample.seed = 43;
    run(m, 512, 2, prompt, 3, &p, &c);
    CHECK(c.n != a.n || memcmp(a.ids, c.ids, (size_t)a.n * sizeof(eng_token)) != 0);
    ol_buf_free(&a.text);
    ol_buf_free(&b.text);
    ol_buf_free(&c.text);
}

/* A second generation whose prompt extends the first conversation decodes only the new part,
 * and its output equals the same prompt on a fresh context. */
static void test_prefix_reuse(const struct eng_model *m) {
    struct ol_err err = {0};
    static struct out o1, o2, fresh;
    struct eng_ctx *c = ctx_new(m, 512, 2);
    struct eng_seq *s = c ? eng_seq_new(c, 0, &err) : NULL;
    if (!s) return;
    eng_token prompt[600];
    prompt[0] = 1;
    prompt[1] = 403;
    struct eng_seq_params p = greedy(40);
    struct eng_gen_stats st;
    CHECK_EQ(eng_seq_generate(s, prompt, 2, &p, collect, &o1, &st, &err), 0);
    CHECK_EQ(st.prompt_evaluated, 2);
    int n_ctx_toks;
    const eng_token *ctx_toks = eng_seq_tokens(s, &n_ctx_toks);
    CHECK_EQ(n_ctx_toks, 42);
    memcpy(prompt, ctx_toks, (size_t)n_ctx_toks * sizeof(eng_token));
    int n2 = n_ctx_toks;
    prompt[n2++] = 432; /* a follow-up "user turn" */
    prompt[n2++] = 383;
    CHECK_EQ(eng_seq_generate(s, prompt, n2, &p, collect, &o2, &st, &err), 0);
    /* 41 of the 42 tokens were in the cache (the last sampled one never was decoded) */
    CHECK_EQ(st.prompt_evaluated, 3);
    run(m, 512, 2, prompt, n2, &p, &fresh);
    CHECK_EQ(o2.n, fresh.n);
    CHECK(memcmp(o2.ids, fresh.ids, (size_t)fresh.n * sizeof(eng_token)) == 0);
    /* Same prompt again: everything but the last token comes from the cache. */
    CHECK_EQ(eng_seq_generate(s, prompt, n2, &p, collect, &o2, &st, &err), 0);
    CHECK_EQ(st.prompt_evaluated, 1);
    eng_seq_free(s);
    eng_ctx_free(c);
    ol_buf_free(&o1.text);
    ol_buf_free(&o2.text);
    ol_buf_free(&fresh.text);
}

/* Context of 64: generating 300 tokens shifts several times and keeps going. */
static void test_context_shift(const struct eng_model *m) {
    static struct out o;
    eng_token prompt[] = {1, 403, 407, 261};
    struct eng_seq_params p = greedy(300);
    p.num_keep = 4;
    struct eng_gen_stats st = run(m, 64, 2, prompt, 4, &p, &o);
    CHECK_EQ(st.gen_tokens, 300);
    CHECK_EQ(st.done, ENG_DONE_LENGTH);
    /* shift:false stops with "length" when the context fills */
    p.shift = false;
    st = run(m, 64, 2, prompt, 4, &p, &o);
    CHECK_EQ(st.done, ENG_DONE_LENGTH);
    CHECK_EQ(st.gen_tokens, 64 - 4 + 1);
    /* num_predict -2: fill the context */
    p.shift = true;
    p.num_predict = -2;
    st = run(m, 64, 2, prompt, 4, &p, &o);
    CHECK_EQ(st.gen_tokens, 64 - 4 + 1);
    ol_buf_free(&o.text);
}

/* After removing positions [2, 10), layer 0 keys (which depend only on token and position)
 * equal those of a fresh decode of the shortened sequence: the re-rotation is exact. */
static void test_shift_rerotates_keys(const struct eng_model *m) {
    struct ol_err err = {0};
    eng_token toks[32];
    int32_t pos[32];
    for (int i = 0; i < 32; i++) {
        toks[i] = 300 + i;
        pos[i] = i;
    }
    struct eng_ctx *a = ctx_new(m, 64, 1), *b = ctx_new(m, 64, 1);
    if (!a || !b) return;
    struct eng_batch ba = {.n_tokens = 32, .tokens = toks, .pos = pos};
    CHECK_EQ(eng_ctx_decode(a, &ba, &err), 0);
    CHECK_EQ(eng_ctx_seq_remove(a, 0, 2, 10), 0);
    CHECK_EQ(eng_ctx_seq_len(a, 0), 24);
    eng_token short_toks[24];
    memcpy(short_toks, toks, 2 * sizeof(eng_token));
    memcpy(short_toks + 2, toks + 10, 22 * sizeof(eng_token));
    struct eng_batch bb = {.n_tokens = 24, .tokens = short_toks, .pos = pos};
    CHECK_EQ(eng_ctx_decode(b, &bb, &err), 0);
    double max_diff = 0;
    for (int i = 0; i < 24 * a->kv_dim; i++)
        max_diff = fmax(max_diff, fabs((double)a->k_cache[i] - (double)b->k_cache[i]));
    CHECK_NEAR(max_diff, 0, 1e-4);
    eng_ctx_free(a);
    eng_ctx_free(b);
}

static void test_truncation(const struct eng_model *m) {
    static struct out o;
    struct ol_err err = {0};
    eng_token prompt[100];
    for (int i = 0; i < 100; i++)
        prompt[i] = i == 0 ? 1 : 300 + i % 100;
    struct eng_seq_params p = greedy(5);
    p.num_keep = 4;
    struct eng_gen_stats st = run(m, 64, 2, prompt, 100, &p, &o);
    CHECK_EQ(st.prompt_tokens, 64);
    CHECK_EQ(st.gen_tokens, 5);
    /* truncate:false refuses with Ollama's message */
    p.truncate = false;
    struct eng_ctx *c = ctx_new(m, 64, 1);
    struct eng_seq *s = c ? eng_seq_new(c, 0, &err) : NULL;
    if (s) {
        CHECK_EQ(eng_seq_generate(s, prompt, 100, &p, NULL, NULL, NULL, &err), OL_EINVAL);
        CHECK(strcmp(err.msg, "the input length exceeds the context length") == 0);
    }
    eng_seq_free(s);
    eng_ctx_free(c);
    ol_buf_free(&o.text);
}

static void test_stop_string(const struct eng_model *m) {
    static struct out o;
    eng_token bos = 1;
    struct eng_seq_params p = greedy(256);
    const char *stops[] = {"Lily"};
    p.stop = stops;
    p.n_stop = 1;
    struct eng_gen_stats st = run(m, 512, 2, &bos, 1, &p, &o);
    CHECK_EQ(st.done, ENG_DONE_STOP);
    CHECK(st.gen_tokens < 30);
    CHECK(o.text.data != NULL && strstr(o.text.data, "Lily") == NULL);
    CHECK(o.text.data && strstr(o.text.data, "little girl named") != NULL);
    ol_buf_free(&o.text);
}

static bool stop_after_3(void *user, eng_token t, const char *text, size_t len,
                         const struct eng_logprob *lp) {
    (void)t;
    (void)text;
    (void)len;
    (void)lp;
    int *n = user;
    return ++*n < 3;
}

static void test_cancel(const struct eng_model *m) {
    {
        /* the token callback stops generation (a client that went away) */
        struct ol_err err = {0};
        struct eng_ctx *c = ctx_new(m, 64, 2);
        struct eng_seq *s = c ? eng_seq_new(c, 0, &err) : NULL;
        eng_token bos = 1;
        int n = 0;
        struct eng_seq_params p = greedy(50);
        struct eng_gen_stats st = {0};
        if (s) CHECK_EQ(eng_seq_generate(s, &bos, 1, &p, stop_after_3, &n, &st, &err), 0);
        CHECK_EQ(st.done, ENG_DONE_CANCELED);
        CHECK_EQ(st.gen_tokens, 3);
        eng_seq_free(s);
        eng_ctx_free(c);
    }
    struct ol_err err = {0};
    struct eng_ctx *c = ctx_new(m, 64, 2);
    if (!c) return;
    eng_token t = 1;
    int32_t pos = 0;
    struct eng_batch b = {.n_tokens = 1, .tokens = &t, .pos = &pos};
    CHECK_EQ(eng_ctx_decode(c, &b, &err), 0);
    /* a bad batch is refused with a message, and the cache is untouched */
    int32_t bad_pos = 5;
    struct eng_batch gap = {.n_tokens = 1, .tokens = &t, .pos = &bad_pos};
    CHECK_EQ(eng_ctx_decode(c, &gap, &err), OL_EINVAL);
    eng_token bad_tok = 100000;
    pos = 1;
    struct eng_batch bt = {.n_tokens = 1, .tokens = &bad_tok, .pos = &pos};
    CHECK_EQ(eng_ctx_decode(c, &bt, &err), OL_EINVAL);
    CHECK_EQ(eng_ctx_seq_len(c, 0), 1);
    eng_ctx_free(c);
}

/* Two sequences decoded in one batch (interleaved) give the logits each gets alone. */
static void test_two_sequences_one_batch(const struct eng_model *m) {
    struct ol_err err = {0};
    struct eng_ctx_params cp = eng_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_seq = 2;
    cp.n_threads = 2;
    struct eng_ctx *both = eng_ctx_new(m, &cp, &err);
    struct eng_ctx *one = ctx_new(m, 64, 2);
    CHECK(both != NULL);
    if (!both || !one) return;
    eng_token a[] = {1, 403, 407, 261, 378}, b[] = {1, 300, 301};
    eng_token toks[8];
    int32_t pos[8], seq[8];
    bool want[8];
    int n = 0, ia = 0, ib = 0;
    while (ia < 5 || ib < 3) { /* a0 b0 a1 b1 a2 b2 a3 a4 */
        if (ia < 5) toks[n] = a[ia], pos[n] = ia, seq[n] = 0, want[n++] = true, ia++;
        if (ib < 3) toks[n] = b[ib], pos[n] = ib, seq[n] = 1, want[n++] = true, ib++;
    }
    struct eng_batch bb = {.n_tokens = 8, .tokens = toks, .pos = pos, .seq = seq, .logits = want};
    CHECK_EQ(eng_ctx_decode(both, &bb, &err), 0);
    CHECK_EQ(eng_ctx_seq_len(both, 0), 5);
    CHECK_EQ(eng_ctx_seq_len(both, 1), 3);
    const eng_token *src[2] = {a, b};
    int len[2] = {5, 3};
    int n_vocab = eng_n_vocab(m);
    for (int s = 0; s < 2; s++) {
        eng_ctx_seq_truncate(one, 0, 0);
        int32_t p[5] = {0, 1, 2, 3, 4};
        bool w[5] = {true, true, true, true, true};
        struct eng_batch b1 = {.n_tokens = len[s], .tokens = src[s], .pos = p, .logits = w};
        CHECK_EQ(eng_ctx_decode(one, &b1, &err), 0);
        for (int i = 0; i < n; i++) {
            if (seq[i] != s) continue;
            CHECK(memcmp(eng_ctx_logits(both, i), eng_ctx_logits(one, pos[i]),
                         (size_t)n_vocab * sizeof(float)) == 0);
        }
    }
    eng_ctx_free(both);
    eng_ctx_free(one);
}

int main(void) {
    struct ol_err err = {0};
    struct eng_model *m = eng_model_load(STORIES, NULL, &err);
    if (!m) {
        fprintf(stderr, "cannot load %s: %s\n", STORIES, err.msg);
        return 1;
    }
    test_greedy_matches_reference(m);
    test_seed_reproducible(m);
    test_prefix_reuse(m);
    test_context_shift(m);
    test_shift_rerotates_keys(m);
    test_truncation(m);
    test_stop_string(m);
    test_cancel(m);
    test_two_sequences_one_batch(m);
    eng_model_free(m);
    return check_exit("test_engine_generate");
}
