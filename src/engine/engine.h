/* engine: load a GGUF model and run it on the CPU. The public API the server and tools use.
 *
 * A model (eng_model) is immutable after load and may be shared between threads; it maps the
 * file and never copies weights. A context (eng_ctx) holds the KV cache, scratch buffers and a
 * compute pool; one thread uses it at a time. A batch is a list of (token, position, sequence)
 * so several sequences can later be decoded together; each sequence owns n_ctx cache slots.
 * Above the raw decode call, eng_seq manages one conversation: prompt truncation, prefix reuse
 * of the cache, context shift, sampling and stop strings. */
#ifndef OL_ENGINE_ENGINE_H
#define OL_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

typedef int32_t eng_token;

struct eng_model; /* immutable after load; safe to share between threads */
struct eng_ctx;   /* decoding state; one thread at a time */
struct eng_seq;   /* one conversation in a context */

/* ---- model ---- */

struct eng_model_params {
    bool vocab_only; /* load metadata and tokenizer only (no tensors needed) */
};
struct eng_model_params eng_model_default_params(void);

/* Maps the GGUF file at `path`, checks every tensor against the file and the architecture, and
 * builds the tokenizer. The file stays mapped until eng_model_free(). Returns NULL and fills
 * `err` on failure (unsupported architecture or tensor type names the culprit). */
struct eng_model *eng_model_load(const char *path, const struct eng_model_params *params,
                                 struct ol_err *err);
void eng_model_free(struct eng_model *m);

struct eng_model_info {
    const char *arch;      /* "llama", "qwen2"; borrowed from the model */
    const char *file_type; /* "Q4_0", "Q4_K_M", "F16", ... (from general.file_type) */
    uint64_t n_params;     /* elements of all tensors */
    uint64_t file_size;    /* bytes */
    int n_vocab;
    int n_ctx_train;
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;
};
void eng_model_get_info(const struct eng_model *m, struct eng_model_info *out);

/* Read-only metadata access (for `show`). Values are views into the mapped file. */
enum eng_meta_type {
    ENG_META_UINT,
    ENG_META_INT,
    ENG_META_FLOAT,
    ENG_META_BOOL,
    ENG_META_STRING,
    ENG_META_ARRAY,
};
struct eng_meta_value {
    const char *key; /* not NUL-terminated */
    size_t key_len;
    enum eng_meta_type type;
    uint64_t u;
    int64_t i;
    double f;
    bool b;
    const char *str; /* not NUL-terminated */
    size_t str_len;
    enum eng_meta_type elem_type; /* ENG_META_ARRAY */
    uint64_t n_elems;
};
int eng_model_meta_count(const struct eng_model *m);
/* Entry i in file order; false when out of range. */
bool eng_model_meta_at(const struct eng_model *m, int i, struct eng_meta_value *out);
/* Element j of the array at entry i (nested arrays report type ENG_META_ARRAY only). */
bool eng_model_meta_elem(const struct eng_model *m, int i, uint64_t j, struct eng_meta_value *out);
/* The last entry with that key, or -1. */
int eng_model_meta_find(const struct eng_model *m, const char *key);

/* Tensors of the file (for `show --verbose`). */
struct eng_tensor_info {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    const char *type; /* "Q4_K", ... */
    int n_dims;
    int64_t ne[4]; /* dimension 0 first */
    uint64_t size; /* bytes of its data in the file */
};
int eng_model_tensor_count(const struct eng_model *m);
bool eng_model_tensor_at(const struct eng_model *m, int i, struct eng_tensor_info *out);

/* ---- tokenizer ---- */

int eng_n_vocab(const struct eng_model *m);
eng_token eng_token_bos(const struct eng_model *m); /* -1 when none */
eng_token eng_token_eos(const struct eng_model *m);
bool eng_token_is_eog(const struct eng_model *m, eng_token t);
/* Tokenizes text[0..len). add_special adds BOS/EOS as the model's metadata asks; parse_special
 * recognises control-token text such as "<|im_start|>". Writes up to cap ids to out and returns
 * the number of ids the text needs (call again with a larger buffer when > cap), or < 0. */
int eng_tokenize(const struct eng_model *m, const char *text, size_t len, bool add_special,
                 bool parse_special, eng_token *out, int cap, struct ol_err *err);
/* Appends the text of ids to out (whole-sequence rules: SPM drops the leading space).
 * Control tokens are rendered only when render_special. */
int eng_detokenize(const struct eng_model *m, const eng_token *ids, int n, bool render_special,
                   struct ol_buf *out);
/* The bytes one token stands for, like snprintf (returns the full length). */
int eng_token_piece(const struct eng_model *m, eng_token t, char *buf, size_t cap);

/* ---- context ---- */

enum eng_kv_type { ENG_KV_F32, ENG_KV_F16 };

struct eng_ctx_params {
    int n_ctx;     /* tokens of context per sequence; 0 = the model's training length */
    int n_threads; /* compute workers; 0 = physical cores */
    int n_batch;   /* largest batch one decode call takes; 0 = 512 */
    int n_seq;     /* sequences with their own cache slots; 0 = 1 */
    enum eng_kv_type kv_type;
};
struct eng_ctx_params eng_ctx_default_params(void);

/* Allocates the KV cache, scratch and the compute pool (everything decode needs). Refuses
 * clearly when the cache would not fit in memory. `m` is kept: it must outlive the context. */
struct eng_ctx *eng_ctx_new(const struct eng_model *m, const struct eng_ctx_params *params,
                            struct ol_err *err);
void eng_ctx_free(struct eng_ctx *c);
int eng_ctx_n_ctx(const struct eng_ctx *c);
size_t eng_ctx_kv_bytes(const struct eng_ctx *c); /* K and V caches of every sequence */
const struct eng_model *eng_ctx_model(const struct eng_ctx *c);

struct eng_batch {
    int n_tokens;
    const eng_token *tokens; /* [n_tokens] */
    const int32_t *pos;      /* [n_tokens] position in its sequence */
    const int32_t *seq;      /* [n_tokens] sequence id, 0..n_seq-1; NULL = all 0 */
    const bool *logits;      /* [n_tokens] rows that need logits; NULL = last only */
};

/* Runs the model on a batch. Each token's position must be the next free one of its sequence
 * (its cache holds positions 0..pos-1) or an earlier one, which overwrites the rest. Returns 0,
 * or OL_ECANCELED when eng_ctx_cancel() was called meanwhile, or another negative code. */
int eng_ctx_decode(struct eng_ctx *c, const struct eng_batch *b, struct ol_err *err);
/* Logits [n_vocab] of batch row i from the last decode, or NULL if not requested. */
const float *eng_ctx_logits(const struct eng_ctx *c, int i);
/* The final (normalised) hidden state [n_embd] of batch row i from the last decode, for rows
 * that asked for logits; NULL otherwise. This is what an LLM returns as its embedding. */
const float *eng_ctx_embedding(const struct eng_ctx *c, int i);
int eng_n_embd(const struct eng_model *m);
/* Tokens cached for a sequence (its next free position). */
int eng_ctx_seq_len(const struct eng_ctx *c, int seq);
/* Drops cached positions >= p of a sequence. */
void eng_ctx_seq_truncate(struct eng_ctx *c, int seq, int p);
/* Removes positions [p0, p1) of a sequence and moves the later ones down, re-rotating their
 * keys (a rope shift is one more rotation), so nothing is recomputed. */
int eng_ctx_seq_remove(struct eng_ctx *c, int seq, int p0, int p1);
/* Asks a running or the next decode to stop; safe from any thread. Cleared by the next
 * eng_ctx_decode that starts. */
void eng_ctx_cancel(struct eng_ctx *c);

/* ---- sampling options (spec: api.md §2) ---- */

struct eng_sample_params {
    float temperature; /* 0 = greedy */
    int top_k;
    float top_p;
    float min_p;
    float typical_p;
    int repeat_last_n; /* -1 = num_ctx */
    float repeat_penalty;
    float presence_penalty;
    float frequency_penalty;
    int64_t seed; /* -1 = random */
};
/* Ollama's defaults. */
struct eng_sample_params eng_sample_default_params(void);

/* ---- a conversation: eng_seq ---- */

struct eng_seq_params {
    struct eng_sample_params sample;
    int num_predict; /* > 0: limit; -1 (any other negative, or 0): until a stop, capped at
                        10 x num_ctx (spec: api.md §2.1); -2: until the context is full */
    int num_keep;    /* tokens kept at the start on truncation and context shift; -1 = all */
    bool truncate;   /* false: a prompt longer than the context is an error */
    bool shift;      /* false: stop with ENG_DONE_LENGTH when the context fills */
    const char *const *stop; /* stop strings (borrowed for the generation) */
    int n_stop;
    int n_logprobs; /* top alternatives reported with each token, 0..20 */
    bool logprobs;  /* report the chosen token's log-probability */
};
struct eng_seq_params eng_seq_default_params(void);

/* A sequence bound to slot `seq` of context c (kept). */
struct eng_seq *eng_seq_new(struct eng_ctx *c, int seq, struct ol_err *err);
void eng_seq_free(struct eng_seq *s);

enum eng_done_reason { ENG_DONE_NONE, ENG_DONE_STOP, ENG_DONE_LENGTH, ENG_DONE_CANCELED };

struct eng_logprob {
    eng_token token;
    float logprob;
    int n_top;
    eng_token top_tokens[20];
    float top_logprobs[20];
};

/* Called for each generated token with the text now safe to emit (may be empty while a stop
 * string or a UTF-8 character is pending). Return false to stop. */
typedef bool (*eng_token_cb)(void *user, eng_token t, const char *text, size_t len,
                             const struct eng_logprob *lp);

struct eng_gen_stats {
    int prompt_tokens;    /* prompt tokens after truncation */
    int prompt_evaluated; /* of which actually decoded (the rest came from the cache) */
    int gen_tokens;
    int64_t prompt_ns;
    int64_t gen_ns;
    enum eng_done_reason done;
};

/* Feeds prompt tokens (the whole conversation so far: cached prefix is reused), then samples
 * until EOG, a stop string, num_predict, or cancel. Prompt longer than the context is truncated
 * keeping num_keep tokens; reaching the context end shifts it (keep num_keep, drop half of the
 * rest). `cb` may be NULL. Returns 0 or a negative code; stats may be NULL. */
int eng_seq_generate(struct eng_seq *s, const eng_token *prompt, int n_prompt,
                     const struct eng_seq_params *p, eng_token_cb cb, void *user,
                     struct eng_gen_stats *stats, struct ol_err *err);
/* Decodes tokens[0..n) from an empty cache and writes the last token's final hidden state
 * (eng_n_embd floats) to out: the embedding of an LLM (last-token pooling). The sequence's
 * cache is reset. n must fit the context. */
int eng_seq_embed(struct eng_seq *s, const eng_token *tokens, int n, float *out,
                  struct ol_err *err);
/* All tokens currently in the sequence's cache (prompt + generated), for `context`. */
const eng_token *eng_seq_tokens(const struct eng_seq *s, int *n);

#endif
