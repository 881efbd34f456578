/* tok: the engine's tokenizers, read from GGUF metadata the way llama.cpp reads them.
 *
 *   SPM  (tokenizer.ggml.model = "llama"): SentencePiece BPE, bigrams merged by score, byte
 *        fallback <0xNN>, spaces written as U+2581.                                 tok_spm.c
 *   BPE  ("gpt2"): byte-level BPE, text split first by the pre-tokenizer regexes chosen by
 *        tokenizer.ggml.pre, then merges applied by rank.                           tok_bpe.c
 *   WPM  ("bert"): WordPiece, greedy longest match; the GGUF stores word starts with a
 *        U+2581 prefix and continuations bare (the converter's "phantom space").     tok_wpm.c
 *
 * The one idea: before any of these runs, tok_encode() cuts the text on special tokens
 * (control, user-defined and unknown types), longest token first, exactly like llama.cpp's
 * tokenizer_st_partition; only the raw pieces between them reach the model's algorithm.
 * A vocab is immutable after construction and may be used from any number of threads.
 * Internal to the engine. */
#ifndef OL_ENGINE_TOK_H
#define OL_ENGINE_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "engine/gguf.h"

enum tok_model {
    TOK_MODEL_SPM, /* "llama" */
    TOK_MODEL_BPE, /* "gpt2" */
    TOK_MODEL_WPM, /* "bert" */
};

/* File format values of tokenizer.ggml.token_type. */
enum tok_type {
    TOK_TYPE_UNDEFINED = 0,
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER_DEFINED = 4,
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6,
};

struct tok_vocab; /* immutable after construction; safe to share between threads */

/* Builds a tokenizer from the tokenizer.ggml.* keys of `g` (borrowed: everything needed is
 * copied, so g may be closed afterwards). Hostile metadata (missing or mistyped arrays, token,
 * score and type counts that differ, an empty vocab, bos/eos/unk/eot/eom ids out of range, an
 * unknown model or pre-tokenizer) gives NULL and a message in err; out-of-range pad, sep, mask
 * and fim ids, and any id written as -1 / 0xFFFFFFFF, leave llama.cpp's default. Duplicate
 * token texts are allowed (the last id wins for text lookup). Returns an owned vocab:
 * tok_vocab_free(). */
struct tok_vocab *tok_vocab_from_gguf(const struct gguf *g, struct ol_err *err);

/* Builds a byte-level BPE tokenizer from a token list (id = index) and merges ("left right",
 * rank = index), as found in HF encoder.json + vocab.bpe. `pre` names the pre-tokenizer like
 * tokenizer.ggml.pre (NULL = "default"). All tokens are NORMAL; there is no BOS/EOS. Arguments
 * are borrowed (copied). Returns NULL and fills err on bad input. */
struct tok_vocab *tok_vocab_new_bpe(const char *pre, const struct gguf_str *tokens, size_t n_tokens,
                                    const struct gguf_str *merges, size_t n_merges,
                                    struct ol_err *err);

void tok_vocab_free(struct tok_vocab *v);

enum tok_model tok_vocab_model(const struct tok_vocab *v);
int tok_n_vocab(const struct tok_vocab *v);

/* Special token ids; -1 when the vocab has none. */
int32_t tok_bos(const struct tok_vocab *v);
int32_t tok_eos(const struct tok_vocab *v);
int32_t tok_eot(const struct tok_vocab *v);
int32_t tok_unk(const struct tok_vocab *v);
int32_t tok_pad(const struct tok_vocab *v);
int32_t tok_sep(const struct tok_vocab *v);
/* Whether tok_encode(add_special) prepends BOS / appends EOS (metadata, else llama.cpp's
 * defaults: SPM and WPM add BOS, Llama 3 style BPE adds BOS, other BPE adds neither). WPM
 * additionally appends SEP. */
bool tok_add_bos(const struct tok_vocab *v);
bool tok_add_eos(const struct tok_vocab *v);
/* End of generation: eos, eot, eom, fim pad/repo/sep and tokens whose text is one of
 * <|eot_id|> <|im_end|> <|end|> <end_of_turn> <|endoftext|> <|eom_id|> <EOT>. */
bool tok_is_eog(const struct tok_vocab *v, int32_t id);
/* CONTROL or UNKNOWN type: rendered only on request. False for ids out of range. */
bool tok_is_control(const struct tok_vocab *v, int32_t id);
/* Token type (after llama.cpp's overrides); TOK_TYPE_UNDEFINED for ids out of range. */
enum tok_type tok_token_type(const struct tok_vocab *v, int32_t id);
float tok_token_score(const struct tok_vocab *v, int32_t id);
/* Token text as stored in the vocab (for /api/show and debugging); a view valid while v
 * lives; {NULL, 0} for ids out of range. */
struct gguf_str tok_token_text(const struct tok_vocab *v, int32_t id);

/* A growable id list; zero-initialise, free with tok_ids_free(). */
struct tok_ids {
    int32_t *data;
    size_t n;
    size_t cap;
};
int tok_ids_push(struct tok_ids *ids, int32_t id); /* 0 or OL_ENOMEM */
void tok_ids_free(struct tok_ids *ids);            /* leaves an empty list */

/* Appends the ids of text[0..len) (borrowed; any bytes, not assumed valid UTF-8) to out.
 * add_special adds BOS/EOS as the metadata asks; parse_special recognises the text of control
 * tokens such as "<|im_start|>" (user-defined tokens are always recognised, as in llama.cpp).
 * Returns the number of ids appended, or a negative OL_E code with out unchanged. Ids equal
 * llama.cpp's (llama_tokenize) for valid UTF-8. Invalid UTF-8 is never replaced: byte-level BPE
 * keeps the bytes (llama.cpp would substitute U+FFFD), SPM uses byte tokens like llama.cpp.
 * Thread-safe: allocates its scratch per call. */
int tok_encode(const struct tok_vocab *v, const char *text, size_t len, bool add_special,
               bool parse_special, struct tok_ids *out, struct ol_err *err);

/* The bytes token `id` stands for, into buf (like snprintf: writes at most cap bytes, no NUL,
 * and returns the full length). Control and unknown tokens give 0 bytes unless
 * render_special. OL_EINVAL for ids out of range. */
int tok_piece(const struct tok_vocab *v, int32_t id, bool render_special, char *buf, size_t cap);

/* Appends the text of a whole sequence to out. When the vocab adds a space prefix (SPM), the
 * leading space of the first non-empty piece is dropped, so decode(encode(s)) == s for valid
 * UTF-8 without special tokens (and without a literal U+2581 for SPM). Returns the number of
 * bytes appended, OL_EINVAL for an id out of range (out unchanged), or OL_ENOMEM. */
int tok_decode(const struct tok_vocab *v, const int32_t *ids, size_t n, bool render_special,
               struct ol_buf *out);

/* Streaming decode of generated tokens: never emits part of a UTF-8 character; the bytes of
 * an incomplete character are held until it completes (or until tok_stream_flush). Pieces are
 * emitted as they are (no leading-space removal). Embed it by value; it keeps v. */
struct tok_stream {
    const struct tok_vocab *v;
    bool render_special;
    size_t n_held;
    char held[4];
};
void tok_stream_init(struct tok_stream *s, const struct tok_vocab *v, bool render_special);
/* Appends to out what token `id` completes; returns the bytes appended (maybe 0) or a
 * negative code (OL_EINVAL for a bad id, OL_ENOMEM). */
int tok_stream_push(struct tok_stream *s, int32_t id, struct ol_buf *out);
/* Appends the held bytes (an unfinished character) as they are; returns the bytes appended. */
int tok_stream_flush(struct tok_stream *s, struct ol_buf *out);

/* ---- internal: shared by tok.c, tok_spm.c, tok_bpe.c and tok_wpm.c only ---- */

struct tok_bpe; /* merges and pre-tokenizer regexes, tok_bpe.c */

struct tok_slot {  /* open-addressing hash slot */
    uint32_t id1;  /* token id + 1; 0 = empty */
    uint32_t hash; /* low bits of the key's hash */
};

struct tok_vocab {
    enum tok_model model;
    int32_t n_tokens;
    char *text;        /* all token texts back to back */
    size_t *text_off;  /* [n_tokens + 1] */
    float *scores;     /* [n_tokens] */
    uint8_t *types;    /* [n_tokens] enum tok_type */
    char *piece;       /* [piece_off[n_tokens]] decoded bytes of every token (special rendered) */
    size_t *piece_off; /* [n_tokens + 1] */
    struct tok_slot *slots; /* text -> id; the last token wins on duplicate texts */
    size_t slot_mask;
    size_t max_token_len; /* bytes */

    int32_t bos, eos, eot, eom, unk, sep, pad, mask;
    int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
    bool add_bos, add_eos;
    bool add_space_prefix; /* SPM: a space before the text and after each special token */
    bool ignore_merges;    /* BPE: a word that is a token is used whole (Llama 3) */
    bool spm_cut_ok;       /* SPM: no token has U+2581 after a non-U+2581 byte (tok_spm.c) */

    uint8_t *eog;     /* bitset [n_tokens / 8 + 1] */
    int32_t *special; /* [n_special] CONTROL/USER_DEFINED/UNKNOWN ids, longest text first */
    size_t n_special;
    size_t *special_lens; /* [n_special_lens] distinct text lengths, longest first */
    size_t n_special_lens;
    uint8_t special_first[32]; /* bitset of the first bytes of special texts */
    int32_t byte_tok[256];     /* SPM/WPM byte fallback: <0xNN> or the 1-byte token, else -1 */

    struct tok_bpe *bpe; /* BPE only */
};

/* Hash of a byte string (not cryptographic). */
uint64_t tok_hash(const void *p, size_t len);
/* Id of the token whose text is s[0..len), or -1. */
int32_t tok_find(const struct tok_vocab *v, const char *s, size_t len);
/* Length of the UTF-8 sequence by its lead byte as llama.cpp counts it (by the high nibble:
 * continuation bytes count 1), clamped to `left`. */
size_t tok_utf8_len(uint8_t c, size_t left);

/* The model algorithms on one raw fragment (no special tokens inside). Append to out; return
 * 0 or a negative code. */
int tok_spm_encode(const struct tok_vocab *v, const char *text, size_t len, bool space_prefix,
                   struct tok_ids *out, struct ol_err *err);
int tok_bpe_encode(const struct tok_vocab *v, const char *text, size_t len, struct tok_ids *out,
                   struct ol_err *err);
int tok_wpm_encode(const struct tok_vocab *v, const char *text, size_t len, struct tok_ids *out,
                   struct ol_err *err);

/* Byte-level BPE setup: compiles the regexes of pre-tokenizer `pre` (NULL or "" = default)
 * and indexes the merges. Sets v->ignore_merges and, for pre-tokenizers that ask for it,
 * v->add_bos (*no_bos set when the pre-tokenizer has no BOS at all). Merges are borrowed. */
struct tok_bpe *tok_bpe_new(struct tok_vocab *v, const char *pre, size_t pre_len,
                            const struct gguf_str *merges, size_t n_merges, bool *no_bos,
                            struct ol_err *err);
void tok_bpe_free(struct tok_bpe *b);
/* Writes the bytes a byte-level token text stands for into out (room for len bytes) and
 * returns their count; code points outside the GPT-2 byte map are copied as they are. */
size_t tok_bpe_unmap(const char *s, size_t len, char *out);

#endif
