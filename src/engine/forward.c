/* The forward pass of the llama family (llama, qwen2), written out explicitly:
 *   x = embd[tokens]; per layer: x += Wo·attn(rope(Wq·n(x)+bq), rope(Wk·n(x)+bk), Wv·n(x)+bv)
 *                                x += Wdown·(silu(Wgate·n(x)) * Wup·n(x))
 *   logits = Wout·n(x) for the rows that asked for them.
 * Each parallel step is one pool_run() over contiguous ranges (rows of a matrix, tokens, or
 * (token, head) pairs); matrix products convert the activations once to the weight type's
 * dot-product partner and share them across threads. */
#include "engine/ctx.h"

#include <math.h>
#include <string.h>

/* ---- elementwise steps ---- */

static void rmsnorm_row(float *out, const float *x, const float *w, int n, float eps) {
    float ss = 0.0f;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    float scale = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

void fwd_rope_rows(const struct eng_ctx *c, float *x, int n_heads, int pos) {
    const struct hparams *hp = &c->m->hp;
    int half = hp->n_rot / 2;
    for (int i = 0; i < half; i++) {
        float theta = (float)pos * c->inv_freq[i];
        float cs = cosf(theta), sn = sinf(theta);
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)h * (size_t)hp->head_dim;
            int a = hp->rope == ROPE_NORM ? 2 * i : i;
            int b = hp->rope == ROPE_NORM ? 2 * i + 1 : i + half;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * cs - x1 * sn;
            v[b] = x0 * sn + x1 * cs;
        }
    }
}

/* ---- matrix products: y[t][r] = W[r] · x[t] (+ b[r]) ---- */

#define MM_MAX 3

struct mm_job {
    struct eng_ctx *c;
    int n_mats;
    const struct tensor *w[MM_MAX];
    float *y[MM_MAX]; /* [T][w->ne1] */
    const float *bias[MM_MAX];
    const float *x;  /* [T][n_in] */
    size_t x_stride; /* floats between rows of x */
    const int *rows; /* which x rows (NULL = 0..T-1); y is dense over these */
    int T;
    int n_in;
};

static const uint8_t *mm_xrow(const struct mm_job *j, int vt, int t) {
    if (vt == Q_TYPE_F32) {
        int r = j->rows ? j->rows[t] : t;
        return (const uint8_t *)(j->x + (size_t)r * j->x_stride);
    }
    return j->c->xq[vt] + (size_t)t * j->c->xq_stride;
}

static void mm_quantize(int ith, int nth, void *arg) {
    struct mm_job *j = arg;
    bool done[Q_TYPE_COUNT] = {false};
    for (int m = 0; m < j->n_mats; m++) {
        int vt = (int)q_type_info(j->w[m]->type)->vec_dot_type;
        if (vt == Q_TYPE_F32 || done[vt]) continue;
        done[vt] = true;
        long lo, hi;
        pool_range(j->T, ith, nth, &lo, &hi);
        for (long t = lo; t < hi; t++) {
            int r = j->rows ? j->rows[t] : (int)t;
            j->c->k->from_float[vt](j->x + (size_t)r * j->x_stride,
                                    j->c->xq[vt] + (size_t)t * j->c->xq_stride, j->n_in);
        }
    }
}

static void mm_dot(int ith, int nth, void *arg) {
    struct mm_job *j = arg;
    long total = 0;
    for (int m = 0; m < j->n_mats; m++)
        total += j->w[m]->ne1;
    long lo, hi;
    pool_range(total, ith, nth, &lo, &hi);
    long base = 0;
    for (int m = 0; m < j->n_mats; m++) {
        const struct tensor *w = j->w[m];
        long r0 = OL_MAX(lo - base, 0), r1 = OL_MIN(hi - base, w->ne1);
        base += w->ne1;
        if (r0 >= r1) continue;
        int vt = (int)q_type_info(w->type)->vec_dot_type;
        q_vec_dot_fn dot = j->c->k->vec_dot[w->type];
        /* Blocks of rows, tokens inner: each weight row is reused from cache for all tokens. */
        for (long rb = r0; rb < r1; rb += 16) {
            long re = OL_MIN(rb + 16, r1);
            for (int t = 0; t < j->T; t++) {
                const uint8_t *xr = mm_xrow(j, vt, t);
                float *yr = j->y[m] + (size_t)t * (size_t)w->ne1;
                for (long r = rb; r < re; r++) {
                    dot(j->n_in, &yr[r], w->data + (size_t)r * w->row_size, xr);
                    if (j->bias[m]) yr[r] += j->bias[m][r];
                }
            }
        }
    }
}

static void mm_run(struct mm_job *j) {
    bool need_q = false;
    for (int m = 0; m < j->n_mats; m++)
        need_q = need_q || q_type_info(j->w[m]->type)->vec_dot_type != Q_TYPE_F32;
    if (need_q) pool_run(j->c->pool, mm_quantize, j);
    pool_run(j->c->pool, mm_dot, j);
}

/* ---- per-token steps ---- */

struct tok_job {
    struct eng_ctx *c;
    int T;
    int il;
    const eng_token *tokens;
    const float *norm_w;
};

static void embed_step(int ith, int nth, void *arg) {
    struct tok_job *j = arg;
    struct eng_ctx *c = j->c;
    const struct tensor *e = &c->m->tok_embd;
    long lo, hi;
    pool_range(j->T, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++)
        c->k->to_float[e->type](e->data + (size_t)j->tokens[t] * e->row_size,
                                c->x + (size_t)t * (size_t)c->m->hp.n_embd, e->ne0);
}

static void norm_step(int ith, int nth, void *arg) {
    struct tok_job *j = arg;
    struct eng_ctx *c = j->c;
    int n = c->m->hp.n_embd;
    long lo, hi;
    pool_range(j->T, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++)
        rmsnorm_row(c->xn + (size_t)t * (size_t)n, c->x + (size_t)t * (size_t)n, j->norm_w, n,
                    c->m->hp.rms_eps);
}

static float *cache_row(const struct eng_ctx *c, float *cache, int il, int seq, int pos) {
    size_t cell = ((size_t)il * (size_t)c->n_seq + (size_t)seq) * (size_t)c->n_ctx + (size_t)pos;
    return cache + cell * (size_t)c->kv_dim;
}

/* Rope on q and k, then k and v into the cache. */
static void rope_store_step(int ith, int nth, void *arg) {
    struct tok_job *j = arg;
    struct eng_ctx *c = j->c;
    const struct hparams *hp = &c->m->hp;
    size_t qdim = (size_t)hp->n_head * (size_t)hp->head_dim;
    long lo, hi;
    pool_range(j->T, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++) {
        float *k = c->kb + (size_t)t * (size_t)c->kv_dim;
        fwd_rope_rows(c, c->q + (size_t)t * qdim, hp->n_head, c->pos[t]);
        fwd_rope_rows(c, k, hp->n_head_kv, c->pos[t]);
        memcpy(cache_row(c, c->k_cache, j->il, c->seq[t], c->pos[t]), k,
               (size_t)c->kv_dim * sizeof(float));
        memcpy(cache_row(c, c->v_cache, j->il, c->seq[t], c->pos[t]),
               c->vb + (size_t)t * (size_t)c->kv_dim, (size_t)c->kv_dim * sizeof(float));
    }
}

/* Causal attention of each (token, head) over its sequence's cache, stable softmax. */
static void attn_step(int ith, int nth, void *arg) {
    struct tok_job *j = arg;
    struct eng_ctx *c = j->c;
    const struct hparams *hp = &c->m->hp;
    int hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    size_t qdim = (size_t)hp->n_head * (size_t)hd;
    float scale = 1.0f / sqrtf((float)hd);
    float *sc = c->scores + (size_t)ith * (size_t)c->n_ctx;
    long lo, hi;
    pool_range((long)j->T * hp->n_head, ith, nth, &lo, &hi);
    for (long th = lo; th < hi; th++) {
        int t = (int)(th / hp->n_head), h = (int)(th % hp->n_head);
        int kvh = h / group, n_pos = c->pos[t] + 1;
        const float *q = c->q + (size_t)t * qdim + (size_t)h * (size_t)hd;
        const float *kc = cache_row(c, c->k_cache, j->il, c->seq[t], 0) + (size_t)kvh * (size_t)hd;
        const float *vc = cache_row(c, c->v_cache, j->il, c->seq[t], 0) + (size_t)kvh * (size_t)hd;
        float mx = -INFINITY;
        for (int p = 0; p < n_pos; p++) {
            const float *kr = kc + (size_t)p * (size_t)c->kv_dim;
            float s = 0.0f;
            for (int d = 0; d < hd; d++)
                s += q[d] * kr[d];
            s *= scale;
            sc[p] = s;
            mx = s > mx ? s : mx;
        }
        float sum = 0.0f;
        for (int p = 0; p < n_pos; p++) {
            sc[p] = expf(sc[p] - mx);
            sum += sc[p];
        }
        float inv = 1.0f / sum;
        float *out = c->attn + (size_t)t * qdim + (size_t)h * (size_t)hd;
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int p = 0; p < n_pos; p++) {
            const float *vr = vc + (size_t)p * (size_t)c->kv_dim;
            float a = sc[p] * inv;
            for (int d = 0; d < hd; d++)
                out[d] += a * vr[d];
        }
    }
}

static void swiglu_step(int ith, int nth, void *arg) {
    struct tok_job *j = arg;
    struct eng_ctx *c = j->c;
    long n = (long)j->T * c->m->hp.n_ff;
    long lo, hi;
    pool_range(n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) {
        float g = c->ffn_g[i];
        c->ffn_g[i] = g / (1.0f + expf(-g)) * c->ffn_u[i];
    }
}

/* x += y over [T][n_embd], y in c->xn (the output of Wo or Wdown). */
static void residual_step(int ith, int nth, void *arg) {
    struct tok_job *j = arg;
    struct eng_ctx *c = j->c;
    long n = (long)j->T * c->m->hp.n_embd;
    long lo, hi;
    pool_range(n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++)
        c->x[i] += c->xn[i];
}

static struct mm_job mm1(struct eng_ctx *c, const struct tensor *w, float *y, const float *bias,
                         const float *x, int T) {
    struct mm_job j = {.c = c, .n_mats = 1, .x = x, .x_stride = (size_t)w->ne0, .T = T};
    j.w[0] = w;
    j.y[0] = y;
    j.bias[0] = bias;
    j.n_in = (int)w->ne0;
    return j;
}

int fwd_decode(struct eng_ctx *c, const eng_token *tokens, int T) {
    const struct eng_model *m = c->m;
    const struct hparams *hp = &m->hp;
    struct tok_job tj = {.c = c, .T = T, .tokens = tokens};
    pool_run(c->pool, embed_step, &tj);
    for (int il = 0; il < hp->n_layer; il++) {
        if (atomic_load_explicit(&c->cancel, memory_order_relaxed)) return OL_ECANCELED;
        const struct layer *l = &m->layers[il];
        tj.il = il;
        tj.norm_w = (const float *)l->attn_norm.data;
        pool_run(c->pool, norm_step, &tj);

        struct mm_job qkv = mm1(c, &l->wq, c->q, (const float *)l->bq.data, c->xn, T);
        qkv.n_mats = 3;
        qkv.w[1] = &l->wk;
        qkv.y[1] = c->kb;
        qkv.bias[1] = (const float *)l->bk.data;
        qkv.w[2] = &l->wv;
        qkv.y[2] = c->vb;
        qkv.bias[2] = (const float *)l->bv.data;
        mm_run(&qkv);
        pool_run(c->pool, rope_store_step, &tj);
        pool_run(c->pool, attn_step, &tj);
        struct mm_job o = mm1(c, &l->wo, c->xn, NULL, c->attn, T);
        mm_run(&o);
        pool_run(c->pool, residual_step, &tj);

        tj.norm_w = (const float *)l->ffn_norm.data;
        pool_run(c->pool, norm_step, &tj);
        struct mm_job gu = mm1(c, &l->w_gate, c->ffn_g, NULL, c->xn, T);
        gu.n_mats = 2;
        gu.w[1] = &l->w_up;
        gu.y[1] = c->ffn_u;
        mm_run(&gu);
        pool_run(c->pool, swiglu_step, &tj);
        struct mm_job d = mm1(c, &l->w_down, c->xn, NULL, c->ffn_g, T);
        mm_run(&d);
        pool_run(c->pool, residual_step, &tj);
    }
    /* Final norm and output only for rows that want logits. */
    int n_out = 0;
    for (int t = 0; t < T; t++)
        if (c->logits_row[t] >= 0) c->out_rows[n_out++] = t;
    if (n_out == 0) return 0;
    tj.norm_w = (const float *)m->output_norm.data;
    pool_run(c->pool, norm_step, &tj);
    struct mm_job out = mm1(c, &m->output, c->logits, NULL, c->xn, n_out);
    out.rows = c->out_rows;
    mm_run(&out);
    return 0;
}
