/* Context: allocation of the KV cache and scratch, batch validation, and cache edits
 * (truncate, remove with re-rotation). */
#include "engine/ctx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct eng_ctx_params eng_ctx_default_params(void) {
    struct eng_ctx_params p = {
        .n_ctx = 0, .n_threads = 0, .n_batch = 512, .n_seq = 1, .kv_type = ENG_KV_F32};
    return p;
}

static void ctx_free_buffers(struct eng_ctx *c) {
    ol_aligned_free(c->k_cache);
    ol_aligned_free(c->v_cache);
    free(c->seq_len);
    free(c->inv_freq);
    ol_aligned_free(c->x);
    ol_aligned_free(c->xn);
    ol_aligned_free(c->q);
    ol_aligned_free(c->kb);
    ol_aligned_free(c->vb);
    ol_aligned_free(c->attn);
    ol_aligned_free(c->ffn_g);
    ol_aligned_free(c->ffn_u);
    for (int i = 0; i < Q_TYPE_COUNT; i++)
        ol_aligned_free(c->xq[i]);
    ol_aligned_free(c->scores);
    free(c->pos);
    free(c->seq);
    free(c->logits);
    free(c->logits_row);
    free(c->out_rows);
}

struct eng_ctx *eng_ctx_new(const struct eng_model *m, const struct eng_ctx_params *params,
                            struct ol_err *err) {
    if (m->vocab_only) {
        ol_err_set(err, OL_EINVAL, "model was loaded for its vocabulary only");
        return NULL;
    }
    struct eng_ctx_params p = params ? *params : eng_ctx_default_params();
    const struct hparams *hp = &m->hp;
    if (p.n_ctx <= 0) p.n_ctx = hp->n_ctx_train;
    if (p.n_threads <= 0) p.n_threads = ol_cpu_physical_cores();
    if (p.n_batch <= 0) p.n_batch = 512;
    if (p.n_seq <= 0) p.n_seq = 1;
    if (p.n_ctx > (1 << 24) || p.n_batch > (1 << 16) || p.n_seq > 256 || p.n_threads > 512) {
        ol_err_set(err, OL_EINVAL, "context parameters out of range");
        return NULL;
    }
    if (p.kv_type != ENG_KV_F32) {
        ol_err_set(err, OL_EUNSUPPORTED, "only an F32 KV cache is supported");
        return NULL;
    }
    struct eng_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        ol_err_set(err, OL_ENOMEM, "out of memory");
        return NULL;
    }
    c->m = m;
    c->k = q_kernels_best();
    c->n_ctx = p.n_ctx;
    c->n_batch = p.n_batch;
    c->n_seq = p.n_seq;
    c->kv_dim = hp->n_head_kv * hp->head_dim;

    /* n_layer * n_seq * n_ctx * kv_dim floats, twice: check before allocating */
    size_t cells, cache_elems;
    if (!ol_mul_ok((size_t)hp->n_layer * (size_t)p.n_seq, (size_t)p.n_ctx, &cells) ||
        !ol_mul_ok(cells, (size_t)c->kv_dim, &cache_elems) ||
        cache_elems > SIZE_MAX / 2 / sizeof(float)) {
        ol_err_set(err, OL_ENOMEM, "KV cache for %d tokens is too large", p.n_ctx);
        goto fail;
    }
    c->k_cache = ol_aligned_calloc(cache_elems, sizeof(float));
    c->v_cache = ol_aligned_calloc(cache_elems, sizeof(float));
    if (!c->k_cache || !c->v_cache) {
        ol_err_set(err, OL_ENOMEM, "cannot allocate a KV cache of %zu MiB for %d tokens",
                   cache_elems * 2 * sizeof(float) >> 20, p.n_ctx);
        goto fail;
    }
    size_t nb = (size_t)p.n_batch;
    size_t qdim = (size_t)hp->n_head * (size_t)hp->head_dim;
    size_t widest = OL_MAX(OL_MAX((size_t)hp->n_embd, qdim), (size_t)hp->n_ff);
    c->seq_len = ol_calloc_array((size_t)p.n_seq, sizeof(int));
    c->inv_freq = ol_calloc_array((size_t)hp->n_rot / 2 + 1, sizeof(float));
    c->x = ol_aligned_calloc(nb * (size_t)hp->n_embd, sizeof(float));
    c->xn = ol_aligned_calloc(nb * widest, sizeof(float));
    c->q = ol_aligned_calloc(nb * qdim, sizeof(float));
    c->kb = ol_aligned_calloc(nb * (size_t)c->kv_dim, sizeof(float));
    c->vb = ol_aligned_calloc(nb * (size_t)c->kv_dim, sizeof(float));
    c->attn = ol_aligned_calloc(nb * qdim, sizeof(float));
    c->ffn_g = ol_aligned_calloc(nb * (size_t)hp->n_ff, sizeof(float));
    c->ffn_u = ol_aligned_calloc(nb * (size_t)hp->n_ff, sizeof(float));
    c->pos = ol_calloc_array(nb, sizeof(int32_t));
    c->seq = ol_calloc_array(nb, sizeof(int32_t));
    c->logits_row = ol_calloc_array(nb, sizeof(int));
    c->out_rows = ol_calloc_array(nb, sizeof(int));
    c->n_threads = p.n_threads;
    /* attention scores: per worker, one row per query head of a KV group */
    size_t group = (size_t)(hp->n_head / hp->n_head_kv);
    c->scores = ol_aligned_calloc((size_t)p.n_threads * (size_t)p.n_ctx * group, sizeof(float));
    c->cap_logits = p.n_seq;
    c->logits = ol_calloc_array((size_t)c->cap_logits * (size_t)hp->n_vocab, sizeof(float));
    /* The widest quantized activation row: every vec_dot_type over the widest input. */
    c->xq_stride = widest * sizeof(float) + 64;
    bool ok = c->seq_len && c->inv_freq && c->x && c->xn && c->q && c->kb && c->vb && c->attn &&
              c->ffn_g && c->ffn_u && c->pos && c->seq && c->logits_row && c->out_rows &&
              c->scores && c->logits;
    for (int t = 0; t < Q_TYPE_COUNT && ok; t++) {
        const struct q_type_info *ti = q_type_info(t);
        if (!ti || t == Q_TYPE_F32) continue;
        bool used = false;
        for (int w = 0; w < Q_TYPE_COUNT; w++) {
            const struct q_type_info *wi = q_type_info(w);
            used = used || (wi && wi->is_weight && (int)wi->vec_dot_type == t);
        }
        if (!used) continue;
        c->xq[t] = ol_aligned_calloc(nb, c->xq_stride);
        ok = c->xq[t] != NULL;
    }
    if (!ok) {
        ol_err_set(err, OL_ENOMEM, "out of memory allocating the context");
        goto fail;
    }
    for (int i = 0; i < hp->n_rot / 2; i++) {
        float f = powf(hp->rope_base, -2.0f * (float)i / (float)hp->n_rot) * hp->rope_freq_scale;
        if (m->rope_freq_factors) f /= m->rope_freq_factors[i];
        c->inv_freq[i] = f;
    }
    c->pool = pool_new(p.n_threads);
    if (!c->pool) {
        ol_err_set(err, OL_ENOMEM, "cannot start %d compute threads", p.n_threads);
        goto fail;
    }
    atomic_init(&c->cancel, false);
    return c;
fail:
    ctx_free_buffers(c);
    free(c);
    return NULL;
}

void eng_ctx_free(struct eng_ctx *c) {
    if (!c) return;
    pool_free(c->pool);
    ctx_free_buffers(c);
    free(c);
}

int eng_ctx_n_ctx(const struct eng_ctx *c) { return c->n_ctx; }

size_t eng_ctx_kv_bytes(const struct eng_ctx *c) {
    /* the sizes were checked for overflow when the caches were allocated */
    return 2 * (size_t)c->m->hp.n_layer * (size_t)c->n_seq * (size_t)c->n_ctx * (size_t)c->kv_dim *
           sizeof(float);
}

const struct eng_model *eng_ctx_model(const struct eng_ctx *c) { return c->m; }

void eng_ctx_cancel(struct eng_ctx *c) { atomic_store(&c->cancel, true); }

int eng_ctx_decode(struct eng_ctx *c, const struct eng_batch *b, struct ol_err *err) {
    atomic_store(&c->cancel, false);
    int n = b->n_tokens;
    if (n <= 0 || n > c->n_batch)
        return ol_err_set(err, OL_EINVAL, "batch of %d tokens (limit %d)", n, c->n_batch);
    int n_vocab = c->m->hp.n_vocab;
    int n_out = 0;
    for (int i = 0; i < n; i++) {
        int s = b->seq ? b->seq[i] : 0;
        if (b->tokens[i] < 0 || b->tokens[i] >= n_vocab)
            return ol_err_set(err, OL_EINVAL, "token id %d out of range [0, %d)", b->tokens[i],
                              n_vocab);
        if (s < 0 || s >= c->n_seq)
            return ol_err_set(err, OL_EINVAL, "sequence id %d out of range", s);
        if (b->pos[i] < 0 || b->pos[i] >= c->n_ctx)
            return ol_err_set(err, OL_EINVAL, "position %d outside the context of %d", b->pos[i],
                              c->n_ctx);
        c->pos[i] = b->pos[i];
        c->seq[i] = s;
    }
    /* Each sequence's positions must continue its cache without gaps. */
    for (int s = 0; s < c->n_seq; s++) {
        int next = c->seq_len[s];
        bool first = true;
        for (int i = 0; i < n; i++) {
            if (c->seq[i] != s) continue;
            if (first ? c->pos[i] > next : c->pos[i] != next)
                return ol_err_set(err, OL_EINVAL,
                                  "position %d of sequence %d does not follow its cache (%d)",
                                  c->pos[i], s, next);
            first = false;
            next = c->pos[i] + 1;
        }
    }
    for (int i = 0; i < n; i++) {
        bool want = b->logits ? b->logits[i] : i == n - 1;
        c->logits_row[i] = want ? n_out++ : -1;
    }
    if (n_out > c->cap_logits) {
        float *p = ol_realloc_array(c->logits, (size_t)n_out * (size_t)n_vocab, sizeof(float));
        if (!p) return ol_err_set(err, OL_ENOMEM, "out of memory for %d rows of logits", n_out);
        c->logits = p;
        c->cap_logits = n_out;
    }
    c->n_batch_last = n;
    int rc = fwd_decode(c, b->tokens, n);
    for (int s = 0; s < c->n_seq; s++)
        for (int i = 0; i < n; i++)
            if (c->seq[i] == s) c->seq_len[s] = c->pos[i] + 1;
    if (rc == OL_ECANCELED) {
        /* The cache holds partial layers for these positions: forget them. */
        for (int i = 0; i < n; i++)
            if (c->seq_len[c->seq[i]] > c->pos[i]) c->seq_len[c->seq[i]] = c->pos[i];
        return ol_err_set(err, OL_ECANCELED, "canceled");
    }
    return rc;
}

const float *eng_ctx_logits(const struct eng_ctx *c, int i) {
    if (i < 0 || i >= c->n_batch_last || c->logits_row[i] < 0) return NULL;
    return c->logits + (size_t)c->logits_row[i] * (size_t)c->m->hp.n_vocab;
}

int eng_ctx_seq_len(const struct eng_ctx *c, int seq) {
    return seq >= 0 && seq < c->n_seq ? c->seq_len[seq] : 0;
}

void eng_ctx_seq_truncate(struct eng_ctx *c, int seq, int p) {
    if (seq < 0 || seq >= c->n_seq || p < 0) return;
    if (p < c->seq_len[seq]) c->seq_len[seq] = p;
}

int eng_ctx_seq_remove(struct eng_ctx *c, int seq, int p0, int p1) {
    if (seq < 0 || seq >= c->n_seq) return OL_EINVAL;
    int len = c->seq_len[seq];
    if (p0 < 0 || p1 < p0 || p1 > len) return OL_EINVAL;
    int d = p1 - p0;
    if (d == 0) return 0;
    const struct hparams *hp = &c->m->hp;
    size_t row = (size_t)c->kv_dim;
    for (int il = 0; il < hp->n_layer; il++) {
        size_t base = ((size_t)il * (size_t)c->n_seq + (size_t)seq) * (size_t)c->n_ctx * row;
        float *kc = c->k_cache + base, *vc = c->v_cache + base;
        memmove(kc + (size_t)p0 * row, kc + (size_t)p1 * row,
                (size_t)(len - p1) * row * sizeof(float));
        memmove(vc + (size_t)p0 * row, vc + (size_t)p1 * row,
                (size_t)(len - p1) * row * sizeof(float));
        for (int p = p0; p < len - d; p++)
            fwd_rope_rows(c, kc + (size_t)p * row, hp->n_head_kv, -d);
    }
    c->seq_len[seq] = len - d;
    return 0;
}

const float *eng_ctx_embedding(const struct eng_ctx *c, int i) {
    if (i < 0 || i >= c->n_batch_last || c->logits_row[i] < 0) return NULL;
    return c->xn + (size_t)i * (size_t)c->m->hp.n_embd;
}
