/* eng_seq: one conversation on a context slot. It remembers which tokens the slot's cache
 * holds, so a new prompt that starts with them only decodes the rest (prefix reuse); it
 * truncates over-long prompts and shifts the context when generation fills it, keeping the
 * first num_keep tokens (both as Ollama's runner does); and it runs the sample → stop-string
 * → stream loop. */
#include "engine/engine.h"

#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "engine/sampler.h"

struct eng_seq {
    struct eng_ctx *c;
    int seq;
    eng_token *tokens; /* [n_ctx + 1]: cached tokens, then at most one sampled, not decoded */
    int n_tokens;
    int n_cached;        /* tokens[0..n_cached) are in the cache */
    int32_t *pos, *seqv; /* [n_batch] batch scratch */
};

struct eng_sample_params eng_sample_default_params(void) {
    struct smp_params d = smp_default_params();
    struct eng_sample_params p = {
        .temperature = d.temperature,
        .top_k = d.top_k,
        .top_p = d.top_p,
        .min_p = d.min_p,
        .typical_p = d.typical_p,
        .repeat_last_n = d.repeat_last_n,
        .repeat_penalty = d.repeat_penalty,
        .presence_penalty = d.presence_penalty,
        .frequency_penalty = d.frequency_penalty,
        .seed = d.seed,
    };
    return p;
}

struct eng_seq_params eng_seq_default_params(void) {
    struct eng_seq_params p = {
        .sample = eng_sample_default_params(),
        .num_predict = -1,
        .num_keep = 4,
        .truncate = true,
        .shift = true,
    };
    return p;
}

struct eng_seq *eng_seq_new(struct eng_ctx *c, int seq, struct ol_err *err) {
    if (seq < 0 || seq >= c->n_seq) {
        ol_err_set(err, OL_EINVAL, "sequence %d out of range", seq);
        return NULL;
    }
    struct eng_seq *s = calloc(1, sizeof(*s));
    if (s) {
        s->tokens = ol_calloc_array((size_t)c->n_ctx + 1, sizeof(eng_token));
        s->pos = ol_calloc_array((size_t)c->n_batch, sizeof(int32_t));
        s->seqv = ol_calloc_array((size_t)c->n_batch, sizeof(int32_t));
    }
    if (!s || !s->tokens || !s->pos || !s->seqv) {
        eng_seq_free(s);
        ol_err_set(err, OL_ENOMEM, "out of memory");
        return NULL;
    }
    s->c = c;
    s->seq = seq;
    eng_ctx_seq_truncate(c, seq, 0);
    return s;
}

void eng_seq_free(struct eng_seq *s) {
    if (!s) return;
    free(s->tokens);
    free(s->pos);
    free(s->seqv);
    free(s);
}

const eng_token *eng_seq_tokens(const struct eng_seq *s, int *n) {
    *n = s->n_tokens;
    return s->tokens;
}

/* Decodes tokens[from..to) (already in s->tokens) in batches; logits for the last one. */
static int seq_decode_range(struct eng_seq *s, int from, int to, struct ol_err *err) {
    struct eng_ctx *c = s->c;
    while (from < to) {
        int n = OL_MIN(to - from, c->n_batch);
        for (int i = 0; i < n; i++) {
            s->pos[i] = from + i;
            s->seqv[i] = s->seq;
        }
        struct eng_batch b = {
            .n_tokens = n, .tokens = s->tokens + from, .pos = s->pos, .seq = s->seqv};
        int rc = eng_ctx_decode(c, &b, err);
        s->n_cached = eng_ctx_seq_len(c, s->seq);
        if (rc < 0) return rc;
        from += n;
    }
    return 0;
}

/* Keeps num_keep tokens, drops half of the rest (Ollama's shift), moving the cache down. */
static int seq_shift(struct eng_seq *s, int num_keep, struct ol_err *err) {
    int discard = (s->n_cached - num_keep) / 2;
    if (discard <= 0) return ol_err_set(err, OL_EINVAL, "context too small to shift");
    int rc = eng_ctx_seq_remove(s->c, s->seq, num_keep, num_keep + discard);
    if (rc < 0) return ol_err_set(err, rc, "context shift failed");
    memmove(s->tokens + num_keep, s->tokens + num_keep + discard,
            (size_t)(s->n_tokens - num_keep - discard) * sizeof(eng_token));
    s->n_tokens -= discard;
    s->n_cached -= discard;
    return 0;
}

/* Installs the prompt: truncation, then reuse of the cached prefix. */
static int seq_set_prompt(struct eng_seq *s, const eng_token *prompt, int n, int num_keep,
                          bool truncate, struct ol_err *err) {
    int n_ctx = s->c->n_ctx;
    int skip_from = n, skip = 0; /* tokens [skip_from, skip_from + skip) are dropped */
    if (n > n_ctx) {
        if (!truncate)
            return ol_err_set(err, OL_EINVAL, "the input length exceeds the context length");
        skip = n - n_ctx;
        skip_from = num_keep;
    }
    int n_new = n - skip;
    int common = 0;
    for (int i = 0; i < n_new && i < s->n_cached; i++) {
        eng_token t = prompt[i < skip_from ? i : i + skip];
        if (t != s->tokens[i]) break;
        common++;
    }
    if (common == n_new && n_new > 0) common--; /* re-decode the last token for its logits */
    for (int i = common; i < n_new; i++)
        s->tokens[i] = prompt[i < skip_from ? i : i + skip];
    s->n_tokens = n_new;
    s->n_cached = common;
    eng_ctx_seq_truncate(s->c, s->seq, common);
    return 0;
}

static struct smp *seq_sampler(const struct eng_seq_params *p, int n_vocab, int n_ctx,
                               struct ol_err *err) {
    struct smp_params sp = smp_default_params();
    sp.temperature = p->sample.temperature;
    sp.top_k = p->sample.top_k;
    sp.top_p = p->sample.top_p;
    sp.min_p = p->sample.min_p;
    sp.typical_p = p->sample.typical_p;
    sp.repeat_last_n = p->sample.repeat_last_n;
    sp.repeat_penalty = p->sample.repeat_penalty;
    sp.presence_penalty = p->sample.presence_penalty;
    sp.frequency_penalty = p->sample.frequency_penalty;
    sp.seed = p->sample.seed;
    sp.n_logprobs = p->logprobs || p->n_logprobs > 0 ? OL_MIN(OL_MAX(p->n_logprobs, 0), 20) : 0;
    return smp_new(&sp, n_vocab, n_ctx, err);
}

int eng_seq_generate(struct eng_seq *s, const eng_token *prompt, int n_prompt,
                     const struct eng_seq_params *p, eng_token_cb cb, void *user,
                     struct eng_gen_stats *stats, struct ol_err *err) {
    struct eng_ctx *c = s->c;
    const struct eng_model *m = c->m;
    int n_ctx = c->n_ctx;
    struct eng_gen_stats st = {0};
    if (n_prompt <= 0) return ol_err_set(err, OL_EINVAL, "empty prompt");
    int num_keep = p->num_keep < 0 || p->num_keep > n_prompt ? n_prompt : p->num_keep;
    num_keep = OL_MIN(num_keep, n_ctx - 1);
    long limit = p->num_predict > 0 ? p->num_predict : 10L * n_ctx;
    if (limit > 10L * n_ctx) limit = 10L * n_ctx;
    bool fill_ctx = p->num_predict == -2;

    int64_t t0 = ol_time_ns();
    int rc = seq_set_prompt(s, prompt, n_prompt, num_keep, p->truncate, err);
    if (rc < 0) return rc;
    st.prompt_tokens = s->n_tokens;
    st.prompt_evaluated = s->n_tokens - s->n_cached;
    rc = seq_decode_range(s, s->n_cached, s->n_tokens, err);
    if (rc < 0) goto out_canceled_or_err;
    st.prompt_ns = ol_time_ns() - t0;

    struct smp *smp = seq_sampler(p, m->hp.n_vocab, n_ctx, err);
    struct smp_stop *stop = smp_stop_new(p->stop, p->n_stop);
    struct ol_buf text = {0};
    if (!smp || !stop) {
        rc = smp ? ol_err_set(err, OL_ENOMEM, "out of memory") : OL_EINVAL;
        goto out_free;
    }
    for (int i = 0; i < s->n_tokens; i++)
        smp_accept(smp, s->tokens[i]);
    int64_t t1 = ol_time_ns();
    enum eng_done_reason done = ENG_DONE_NONE;
    while (done == ENG_DONE_NONE) {
        const float *logits = eng_ctx_logits(c, c->n_batch_last - 1);
        struct smp_logprob slp;
        bool want_lp = p->logprobs || p->n_logprobs > 0;
        eng_token tok = smp_sample(smp, logits, want_lp ? &slp : NULL);
        smp_accept(smp, tok);
        if (eng_token_is_eog(m, tok)) {
            done = ENG_DONE_STOP;
            break;
        }
        st.gen_tokens++;
        s->tokens[s->n_tokens++] = tok;
        char small[256];
        char *piece = small;
        int len = eng_token_piece(m, tok, small, sizeof(small));
        if (len >= (int)sizeof(small) && (piece = malloc((size_t)len + 1)) != NULL)
            eng_token_piece(m, tok, piece, (size_t)len + 1);
        text.len = 0;
        int matched = piece ? smp_stop_push(stop, piece, (size_t)OL_MAX(len, 0), &text) : OL_ENOMEM;
        if (piece != small) free(piece);
        if (matched < 0) {
            rc = ol_err_set(err, OL_ENOMEM, "out of memory");
            goto out_free;
        }
        if (cb) {
            struct eng_logprob lp = {0};
            if (want_lp) {
                lp.token = slp.token;
                lp.logprob = slp.logprob;
                lp.n_top = slp.n_top;
                memcpy(lp.top_tokens, slp.top_tokens, sizeof(lp.top_tokens));
                memcpy(lp.top_logprobs, slp.top_logprobs, sizeof(lp.top_logprobs));
            }
            if (!cb(user, tok, text.data ? text.data : "", text.len, want_lp ? &lp : NULL)) {
                done = ENG_DONE_CANCELED;
                break;
            }
        }
        if (matched) {
            done = ENG_DONE_STOP;
            break;
        }
        if (st.gen_tokens >= limit) {
            done = ENG_DONE_LENGTH;
            break;
        }
        if (s->n_cached >= n_ctx) {
            if (!p->shift || fill_ctx) {
                done = ENG_DONE_LENGTH;
                break;
            }
            if ((rc = seq_shift(s, num_keep, err)) < 0) goto out_free;
        }
        rc = seq_decode_range(s, s->n_cached, s->n_tokens, err);
        if (rc == OL_ECANCELED) {
            done = ENG_DONE_CANCELED;
            rc = 0;
            break;
        }
        if (rc < 0) goto out_free;
    }
    text.len = 0;
    if (done != ENG_DONE_CANCELED && smp_stop_flush(stop, &text) == 0 && text.len && cb)
        cb(user, -1, text.data, text.len, NULL);
    st.gen_ns = ol_time_ns() - t1;
    st.done = done;
    rc = 0;
out_free:
    ol_buf_free(&text);
    smp_stop_free(stop);
    smp_free(smp);
    if (stats) *stats = st;
    return rc;
out_canceled_or_err:
    if (rc == OL_ECANCELED) {
        st.done = ENG_DONE_CANCELED;
        rc = 0;
    }
    if (stats) *stats = st;
    return rc;
}

int eng_seq_embed(struct eng_seq *s, const eng_token *tokens, int n, float *out,
                  struct ol_err *err) {
    if (n <= 0) return ol_err_set(err, OL_EINVAL, "empty input");
    if (n > s->c->n_ctx)
        return ol_err_set(err, OL_EINVAL, "the input length exceeds the context length");
    eng_ctx_seq_truncate(s->c, s->seq, 0);
    memcpy(s->tokens, tokens, (size_t)n * sizeof(eng_token));
    s->n_tokens = n;
    s->n_cached = 0;
    int rc = seq_decode_range(s, 0, n, err);
    if (rc < 0) return rc;
    const float *e = eng_ctx_embedding(s->c, s->c->n_batch_last - 1);
    if (!e) return ol_err_set(err, OL_EINTERNAL, "no hidden state");
    memcpy(out, e, (size_t)s->c->m->hp.n_embd * sizeof(float));
    return 0;
}
