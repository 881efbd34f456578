/* The forward pass of the llama family (llama, qwen2), written out explicitly:
 *   x = embd[tokens]; per layer: x += Wo·attn(rope(Wq·n(x)+bq), rope(Wk·n(x)+bk), Wv·n(x)+bv)
 *                                x += Wdown·(silu(Wgate·n(x)) * Wup·n(x))
 *   logits = Wout·n(x) for the rows that asked for them.
 * Each parallel step is one pool_run() over contiguous ranges (rows of a matrix, tokens, or
 * (token, head) pairs); matrix products convert the activations once to the weight type's
 * dot-product partner and share them across threads. */
#include "engine/ctx.h"

#include <math.h>
#include <stdatomic.h>
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
    long chunk_rows[MM_MAX]; /* rows of w[m] per chunk of work */
    long n_chunks;           /* over all matrices, in order */
    atomic_long next_chunk;  /* workers take chunks from here */
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

/* Work is handed out in chunks of rows of one weight matrix. A batch's chunk is MM_ROW_TILES
 * tiles of rows (64 rows for 4-row tiles), kept hot in L2 while every token passes over them
 * (chunks of up to 384 KiB of weights measured the same: F16 pp512 72-76 vs 71-74); one token's
 * chunk is MM_GEN_CHUNK_ROWS rows. The tile the kernels compute at once is MM_TILE_ROWS x
 * MM_TILE_TOKENS unless they ask for another shape (Q_TILE_MAX at most). */
#define MM_ROW_TILES 16
#define MM_TILE_ROWS 4
#define MM_TILE_TOKENS 4
#define MM_GEN_CHUNK_ROWS 64

/* Rows per tile call for w[m] in this job. One token streams the weights from memory row by
 * row: interleaving the streams of several rows measured slower (tg 7 vs 12 tok/s on one
 * thread; F16: 12.5 vs 21 GB/s for two rows). Several tokens find a block of rows in cache,
 * where the wider tile wins. */
static int mm_tile_rows(const struct mm_job *j, int m) {
    const struct q_kernels *k = j->c->k;
    enum q_type type = j->w[m]->type;
    if (j->T == 1) return 1;
    return k->tile_rows[type] ? k->tile_rows[type] : MM_TILE_ROWS;
}

/* Rows [r0, r1) of w[m] (one chunk) against every token of the job: rows outer, tokens inner,
 * so a batch reads this block of weights from memory once. */
static void mm_dot_rows(const struct mm_job *j, int m, long r0, long r1) {
    const struct tensor *w = j->w[m];
    int vt = (int)q_type_info(w->type)->vec_dot_type;
    const struct q_kernels *k = j->c->k;
    q_vec_dot_tile_fn tile = k->vec_dot_tile[w->type];
    size_t ne1 = (size_t)w->ne1;
    int nr_max = mm_tile_rows(j, m);
    int nt_max = k->tile_tokens[w->type] ? k->tile_tokens[w->type] : MM_TILE_TOKENS;
    for (int t0 = 0; t0 < j->T; t0 += nt_max) {
        int nt = OL_MIN(nt_max, j->T - t0);
        const void *xs[Q_TILE_MAX];
        for (int t = 0; t < nt; t++)
            xs[t] = mm_xrow(j, vt, t0 + t);
        float *y = j->y[m] + (size_t)t0 * ne1;
        for (long r = r0; r < r1; r += nr_max) {
            int nr = (int)OL_MIN(nr_max, r1 - r);
            const uint8_t *wr = w->data + (size_t)r * w->row_size;
            if (tile)
                tile(j->n_in, nr, nt, y + r, ne1, wr, w->row_size, xs);
            else
                q_vec_dot_tile_ref(k, w->type, j->n_in, nr, nt, y + r, ne1, wr, w->row_size, xs);
        }
    }
    if (!j->bias[m]) return;
    for (int t = 0; t < j->T; t++)
        for (long r = r0; r < r1; r++)
            j->y[m][(size_t)t * ne1 + (size_t)r] += j->bias[m][r];
}

/* Workers take chunks of rows from a shared counter rather than fixed shares, so that a worker
 * slowed down (another process on its core) holds the others up by one chunk at most. */
static void mm_dot(int ith, int nth, void *arg) {
    (void)ith;
    (void)nth;
    struct mm_job *j = arg;
    for (;;) {
        long ch = atomic_fetch_add_explicit(&j->next_chunk, 1, memory_order_relaxed);
        if (ch >= j->n_chunks) return;
        int m = 0;
        long r0 = 0;
        for (;; m++) {
            long n = (j->w[m]->ne1 + j->chunk_rows[m] - 1) / j->chunk_rows[m];
            if (ch < n) {
                r0 = ch * j->chunk_rows[m];
                break;
            }
            ch -= n;
        }
        mm_dot_rows(j, m, r0, OL_MIN(r0 + j->chunk_rows[m], j->w[m]->ne1));
    }
}

static void mm_run(struct mm_job *j) {
    bool need_q = false;
    j->n_chunks = 0;
    for (int m = 0; m < j->n_mats; m++) {
        need_q = need_q || q_type_info(j->w[m]->type)->vec_dot_type != Q_TYPE_F32;
        j->chunk_rows[m] = j->T == 1 ? MM_GEN_CHUNK_ROWS : (long)mm_tile_rows(j, m) * MM_ROW_TILES;
        j->n_chunks += (j->w[m]->ne1 + j->chunk_rows[m] - 1) / j->chunk_rows[m];
    }
    atomic_store_explicit(&j->next_chunk, 0, memory_order_relaxed);
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

/* Causal attention over each sequence's cache, stable softmax. The unit of work is a (token, KV
 * head) pair with the query heads that share it (grouped-query attention), so every cached K and
 * V row is loaded once for the whole group. Units are dealt out round-robin: with a causal mask
 * later tokens cost more, and contiguous ranges would leave one worker with most of the work. */
static void attn_step(int ith, int nth, void *arg) {
    struct tok_job *j = arg;
    struct eng_ctx *c = j->c;
    const struct hparams *hp = &c->m->hp;
    int hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    size_t qdim = (size_t)hp->n_head * (size_t)hd;
    size_t n_ctx = (size_t)c->n_ctx;
    float scale = 1.0f / sqrtf((float)hd);
    float *sc = c->scores + (size_t)ith * (size_t)group * n_ctx; /* [group][n_ctx] */
    long n_units = (long)j->T * hp->n_head_kv;
    for (long u = ith; u < n_units; u += nth) {
        int t = (int)(u / hp->n_head_kv), kvh = (int)(u % hp->n_head_kv);
        int n_pos = c->pos[t] + 1;
        size_t h0 = (size_t)kvh * (size_t)group * (size_t)hd; /* first query head of the group */
        const float *q = c->q + (size_t)t * qdim + h0;
        float *out = c->attn + (size_t)t * qdim + h0;
        const float *kc = cache_row(c, c->k_cache, j->il, c->seq[t], 0) + (size_t)kvh * (size_t)hd;
        const float *vc = cache_row(c, c->v_cache, j->il, c->seq[t], 0) + (size_t)kvh * (size_t)hd;
        /* per query head of the group: scores, softmax, weighted sum of the values (the
         * group's keys and values stay in cache from one head to the next) */
        for (int g = 0; g < group; g++) {
            float *sg = sc + (size_t)g * n_ctx;
            c->k->dot_rows(hd, n_pos, sg, kc, c->kv_dim, q + (size_t)g * (size_t)hd, scale);
            float mx = -INFINITY;
            for (int p = 0; p < n_pos; p++)
                mx = sg[p] > mx ? sg[p] : mx;
            float inv = 1.0f / c->k->exp_sum(n_pos, sg, mx);
            for (int p = 0; p < n_pos; p++)
                sg[p] *= inv;
            c->k->sum_rows(hd, n_pos, out + (size_t)g * (size_t)hd, vc, c->kv_dim, sg);
        }
    }
}

static void swiglu_step(int ith, int nth, void *arg) {
    struct tok_job *j = arg;
    struct eng_ctx *c = j->c;
    long n = (long)j->T * c->m->hp.n_ff;
    long lo, hi;
    pool_range(n, ith, nth, &lo, &hi);
    c->k->swiglu((int)(hi - lo), c->ffn_g + lo, c->ffn_u + lo);
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
