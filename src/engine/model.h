/* model: hyperparameters and tensor views of a loaded architecture. Internal to the engine. */
#ifndef OL_ENGINE_MODEL_H
#define OL_ENGINE_MODEL_H

#include "engine/engine.h"
#include "engine/gguf.h"

struct tok_vocab;

enum rope_kind {
    ROPE_NORM, /* adjacent pairs (2i, 2i+1): llama */
    ROPE_NEOX, /* halves (i, i + n_rot/2): qwen2 */
};

/* A view of a tensor in the mapping: [ne1 rows][ne0 elements], rows of row_size bytes. */
struct tensor {
    int type;
    int64_t ne0, ne1;
    size_t row_size;
    const uint8_t *data;
};

struct hparams {
    int n_vocab;
    int n_ctx_train;
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim; /* key/value length per head */
    int n_rot;    /* dims rotated by rope (<= head_dim) */
    int n_ff;
    float rms_eps;
    float rope_base;
    float rope_freq_scale; /* linear scaling: 1/factor */
    enum rope_kind rope;
};

struct layer {
    struct tensor attn_norm, wq, wk, wv, wo;
    struct tensor bq, bk, bv; /* data == NULL when absent */
    struct tensor ffn_norm, w_gate, w_up, w_down;
};

struct eng_model {
    struct gguf gguf;
    char arch[32];
    char file_type[16];
    struct hparams hp;
    struct tensor tok_embd, output_norm, output;
    struct layer *layers;     /* [n_layer] */
    float *rope_freq_factors; /* [n_rot/2] or NULL */
    struct tok_vocab *vocab;
    uint64_t n_params;
    bool vocab_only;
};

#endif
