/* ctx: the decoding state of a context (KV cache, scratch, pool) shared by ctx.c and
 * forward.c. Internal to the engine. */
#ifndef OL_ENGINE_CTX_H
#define OL_ENGINE_CTX_H

#include <stdatomic.h>

#include "engine/model.h"
#include "engine/pool.h"
#include "engine/quant.h"

struct eng_ctx {
    const struct eng_model *m;
    const struct q_kernels *k;
    struct pool *pool;
    int n_ctx, n_batch, n_seq, n_threads;
    int kv_dim;               /* n_head_kv * head_dim */
    float *k_cache, *v_cache; /* [n_layer][n_seq][n_ctx][kv_dim] */
    int *seq_len;             /* [n_seq] cached positions 0..len-1 */
    float *inv_freq;          /* [n_rot/2] rope frequency of each pair, scaling applied */

    /* scratch for one batch, [n_batch][...] */
    float *x, *xn, *q, *kb, *vb, *attn, *ffn_g, *ffn_u;
    uint8_t *xq[Q_TYPE_COUNT]; /* activations converted for vec_dot, by vec_dot_type */
    size_t xq_stride;          /* bytes per row in xq buffers */
    float *scores;             /* [n_threads][n_head / n_head_kv][n_ctx] attention scratch */
    int32_t *pos, *seq;        /* [n_batch] copies of the batch */

    float *logits; /* [cap_logits][n_vocab] */
    int cap_logits;
    int *logits_row;  /* [n_batch] row in logits or -1 */
    int *out_rows;    /* [n_batch] batch rows that want logits, in order */
    int n_batch_last; /* rows of the last batch */
    atomic_bool cancel;
};

/* forward.c: runs the model on a validated batch (positions/seqs already copied to c->pos,
 * c->seq; logits_row filled). Returns 0 or OL_ECANCELED. */
int fwd_decode(struct eng_ctx *c, const eng_token *tokens, int n_tokens);
/* Rotates n_heads rows of head_dim by `delta` positions (rope of the model's kind). */
void fwd_rope_rows(const struct eng_ctx *c, float *x, int n_heads, int pos);

#endif
