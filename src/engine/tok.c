/* tok: vocab loading from GGUF, the text -> id index, special-token splitting, the
 * end-of-generation set, and decoding (pieces, whole sequences, streams). The per-model
 * algorithms live in tok_spm.c, tok_bpe.c and tok_wpm.c.
 *
 * Loading follows llama.cpp's llama_vocab::load (src/llama-vocab.cpp) for defaults and
 * overrides, so that token ids match what Ollama's llama.cpp runner produces. Every token's
 * decoded bytes are computed once at load (the piece cache), so decoding is a copy. */
#include "engine/tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOK_MAX_TOKENS 0x7ffffffe
#define TOK_MAX_TEXT ((size_t)1 << 29) /* bytes tok_encode accepts; symbol indices are int */

/* ---- small helpers ---- */

uint64_t tok_hash(const void *p, size_t len) {
    const uint8_t *s = p;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (len * 0xff51afd7ed558ccdull);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 31;
        s += 8;
        len -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < len; i++)
        w |= (uint64_t)s[i] << (8 * i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    return h;
}

size_t tok_utf8_len(uint8_t c, size_t left) {
    static const uint8_t by_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    size_t n = by_nibble[c >> 4];
    return n < left ? n : left;
}

int tok_ids_push(struct tok_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *p = ol_realloc_array(ids->data, cap, sizeof(*p));
        if (!p) return OL_ENOMEM;
        ids->data = p;
        ids->cap = cap;
    }
    ids->data[ids->n++] = id;
    return 0;
}

void tok_ids_free(struct tok_ids *ids) {
    if (!ids) return;
    free(ids->data);
    ids->data = NULL;
    ids->n = ids->cap = 0;
}

static const char *tok_text(const struct tok_vocab *v, int32_t id, size_t *len) {
    *len = v->text_off[id + 1] - v->text_off[id];
    return v->text + v->text_off[id];
}

/* ---- the text -> id index ---- */

int32_t tok_find(const struct tok_vocab *v, const char *s, size_t len) {
    uint64_t h = tok_hash(s, len);
    for (size_t i = (size_t)h & v->slot_mask;; i = (i + 1) & v->slot_mask) {
        const struct tok_slot *sl = &v->slots[i];
        if (!sl->id1) return -1;
        if (sl->hash != (uint32_t)h) continue;
        size_t tl;
        const char *t = tok_text(v, (int32_t)(sl->id1 - 1), &tl);
        if (tl == len && memcmp(t, s, len) == 0) return (int32_t)(sl->id1 - 1);
    }
}

static int index_build(struct tok_vocab *v, struct ol_err *err) {
    size_t cap = 16;
    while (cap < (size_t)v->n_tokens * 2)
        cap *= 2;
    v->slots = ol_calloc_array(cap, sizeof(*v->slots));
    if (!v->slots) return ol_err_set(err, OL_ENOMEM, "out of memory indexing the vocab");
    v->slot_mask = cap - 1;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        size_t len;
        const char *t = tok_text(v, id, &len);
        uint64_t h = tok_hash(t, len);
        size_t i = (size_t)h & v->slot_mask;
        for (;; i = (i + 1) & v->slot_mask) {
            struct tok_slot *sl = &v->slots[i];
            if (!sl->id1) break;
            size_t ol;
            const char *o = tok_text(v, (int32_t)(sl->id1 - 1), &ol);
            if (sl->hash == (uint32_t)h && ol == len && memcmp(o, t, len) == 0) break;
        }
        if (v->slots[i].id1)
            ol_log(OL_LOG_DEBUG, "tok: token %d repeats the text of token %u", id,
                   v->slots[i].id1 - 1);
        v->slots[i].id1 = (uint32_t)id + 1; /* the last duplicate wins, as in llama.cpp */
        v->slots[i].hash = (uint32_t)h;
    }
    return 0;
}

/* ---- construction ---- */

static struct tok_vocab *vocab_alloc(enum tok_model model, size_t n_tokens, struct ol_err *err) {
    if (n_tokens == 0) {
        ol_err_set(err, OL_EFORMAT, "tokenizer has an empty vocabulary");
        return NULL;
    }
    if (n_tokens > TOK_MAX_TOKENS) {
        ol_err_set(err, OL_EFORMAT, "tokenizer vocabulary too large (%zu tokens)", n_tokens);
        return NULL;
    }
    struct tok_vocab *v = calloc(1, sizeof(*v));
    if (!v) goto oom;
    v->model = model;
    v->n_tokens = (int32_t)n_tokens;
    v->bos = v->eos = v->eot = v->eom = v->unk = v->sep = v->pad = v->mask = -1;
    v->fim_pre = v->fim_suf = v->fim_mid = v->fim_pad = v->fim_rep = v->fim_sep = -1;
    for (int i = 0; i < 256; i++)
        v->byte_tok[i] = -1;
    v->text_off = ol_calloc_array(n_tokens + 1, sizeof(*v->text_off));
    v->scores = ol_calloc_array(n_tokens, sizeof(*v->scores));
    v->types = ol_calloc_array(n_tokens, sizeof(*v->types));
    v->piece_off = ol_calloc_array(n_tokens + 1, sizeof(*v->piece_off));
    v->eog = ol_calloc_array(n_tokens / 8 + 1, 1);
    if (!v->text_off || !v->scores || !v->types || !v->piece_off || !v->eog) goto oom;
    return v;
oom:
    tok_vocab_free(v);
    ol_err_set(err, OL_ENOMEM, "out of memory loading the tokenizer");
    return NULL;
}

/* Copies the token texts; an empty text becomes "[EMPTY_<id>]" as in llama.cpp. */
static int vocab_set_texts(struct tok_vocab *v, const struct gguf_str *tokens, struct ol_err *err) {
    size_t total = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if (tokens[i].len > TOK_MAX_TEXT)
            return ol_err_set(err, OL_EFORMAT, "token %d is too long", i);
        total += tokens[i].len ? (size_t)tokens[i].len : 24;
    }
    v->text = malloc(total + 1);
    if (!v->text) return ol_err_set(err, OL_ENOMEM, "out of memory loading the tokenizer");
    size_t off = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        v->text_off[i] = off;
        if (tokens[i].len) {
            memcpy(v->text + off, tokens[i].ptr, tokens[i].len);
            off += tokens[i].len;
        } else {
            off += (size_t)snprintf(v->text + off, 24, "[EMPTY_%d]", (int)i);
        }
        size_t len = off - v->text_off[i];
        if (len > v->max_token_len) v->max_token_len = len;
    }
    v->text_off[v->n_tokens] = off;
    v->text[off] = '\0';
    return 0;
}

static void eog_add(struct tok_vocab *v, int32_t id) {
    if (id >= 0 && id < v->n_tokens) v->eog[id >> 3] |= (uint8_t)(1u << (id & 7));
}

/* llama.cpp finds some special tokens by their text and forces them to CONTROL. */
static int32_t find_by_texts(struct tok_vocab *v, const char *const *texts, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int32_t id = tok_find(v, texts[i], strlen(texts[i]));
        if (id >= 0) {
            v->types[id] = TOK_TYPE_CONTROL;
            return id;
        }
    }
    return -1;
}

static void vocab_detect_specials(struct tok_vocab *v) {
    /* The texts and their order are llama.cpp's (llama_vocab::impl::load). */
    static const char *const eot[] = {"<|eot_id|>",           "<|im_end|>",    "<|end|>",
                                      "<end_of_turn>",        "<|endoftext|>", "<EOT>",
                                      "<｜end▁of▁sentence｜>"};
    static const char *const eom[] = {"<|eom_id|>"};
    static const char *const fim_pre[] = {"<|fim_prefix|>", "<fim-prefix>", "<｜fim▁begin｜>",
                                          "<PRE>"};
    static const char *const fim_suf[] = {"<|fim_suffix|>", "<fim-suffix>", "<｜fim▁hole｜>",
                                          "<SUF>"};
    static const char *const fim_mid[] = {"<|fim_middle|>", "<fim-middle>", "<｜fim▁end｜>",
                                          "<MID>"};
    static const char *const fim_pad[] = {"<|fim_pad|>", "<fim-pad>", "<PAD>"};
    static const char *const fim_rep[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"};
    static const char *const fim_sep[] = {"<|file_sep|>"};
    static const char *const eog[] = {"<|eot_id|>",    "<|im_end|>", "<|end|>", "<end_of_turn>",
                                      "<|endoftext|>", "<|eom_id|>", "<EOT>"};
    if (v->eot < 0) v->eot = find_by_texts(v, eot, OL_ARRAY_LEN(eot));
    if (v->eom < 0) v->eom = find_by_texts(v, eom, OL_ARRAY_LEN(eom));
    if (v->fim_pre < 0) v->fim_pre = find_by_texts(v, fim_pre, OL_ARRAY_LEN(fim_pre));
    if (v->fim_suf < 0) v->fim_suf = find_by_texts(v, fim_suf, OL_ARRAY_LEN(fim_suf));
    if (v->fim_mid < 0) v->fim_mid = find_by_texts(v, fim_mid, OL_ARRAY_LEN(fim_mid));
    if (v->fim_pad < 0) v->fim_pad = find_by_texts(v, fim_pad, OL_ARRAY_LEN(fim_pad));
    if (v->fim_rep < 0) v->fim_rep = find_by_texts(v, fim_rep, OL_ARRAY_LEN(fim_rep));
    if (v->fim_sep < 0) v->fim_sep = find_by_texts(v, fim_sep, OL_ARRAY_LEN(fim_sep));

    eog_add(v, v->fim_pad);
    eog_add(v, v->fim_rep);
    eog_add(v, v->fim_sep);
    for (size_t i = 0; i < OL_ARRAY_LEN(eog); i++) {
        int32_t id = tok_find(v, eog[i], strlen(eog[i]));
        if (id < 0) continue;
        v->types[id] = TOK_TYPE_CONTROL;
        eog_add(v, id);
    }
    eog_add(v, v->eos);
    eog_add(v, v->eot);
    eog_add(v, v->eom);
}

static bool is_special_type(uint8_t t) {
    return t == TOK_TYPE_CONTROL || t == TOK_TYPE_USER_DEFINED || t == TOK_TYPE_UNKNOWN;
}

/* Longest text first; ties by id so the order does not depend on the sort. */
static int cmp_special(const void *a, const void *b, void *arg) {
    const struct tok_vocab *v = arg;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    size_t lx = v->text_off[x + 1] - v->text_off[x], ly = v->text_off[y + 1] - v->text_off[y];
    if (lx != ly) return lx > ly ? -1 : 1;
    return (x > y) - (x < y);
}

static int cmp_size_desc(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x < y) - (x > y);
}

static int vocab_build_specials(struct tok_vocab *v, struct ol_err *err) {
    size_t n = 0;
    for (int32_t id = 0; id < v->n_tokens; id++)
        n += is_special_type(v->types[id]);
    if (n == 0) return 0;
    v->special = ol_calloc_array(n, sizeof(*v->special));
    v->special_lens = ol_calloc_array(n, sizeof(*v->special_lens));
    if (!v->special || !v->special_lens)
        return ol_err_set(err, OL_ENOMEM, "out of memory loading the tokenizer");
    for (int32_t id = 0; id < v->n_tokens; id++) {
        if (!is_special_type(v->types[id])) continue;
        size_t len;
        const char *t = tok_text(v, id, &len);
        v->special[v->n_special++] = id;
        v->special_lens[v->n_special_lens++] = len;
        v->special_first[(uint8_t)t[0] >> 3] |= (uint8_t)(1u << (t[0] & 7));
    }
    qsort_r(v->special, v->n_special, sizeof(*v->special), cmp_special, v);
    qsort(v->special_lens, v->n_special_lens, sizeof(*v->special_lens), cmp_size_desc);
    size_t k = 0;
    for (size_t i = 0; i < v->n_special_lens; i++)
        if (k == 0 || v->special_lens[k - 1] != v->special_lens[i])
            v->special_lens[k++] = v->special_lens[i];
    v->n_special_lens = k;
    return 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "<0xNN>" -> NN, else -1. */
static int byte_token_value(const char *t, size_t len) {
    if (len != 6 || memcmp(t, "<0x", 3) != 0 || t[5] != '>') return -1;
    int hi = hexval(t[3]), lo = hexval(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* Writes the bytes token `id` decodes to (special tokens rendered) into out (room for its text
 * length) and returns the count. SPM and WPM: U+2581 -> space, <0xNN> -> the byte. BPE: the
 * GPT-2 byte map undone. Unused and undefined tokens are empty, as in llama.cpp. */
static size_t piece_render(const struct tok_vocab *v, int32_t id, char *out) {
    size_t len;
    const char *t = tok_text(v, id, &len);
    uint8_t type = v->types[id];
    if (is_special_type(type)) {
        memcpy(out, t, len);
        return len;
    }
    if (v->model == TOK_MODEL_BPE) return type == TOK_TYPE_NORMAL ? tok_bpe_unmap(t, len, out) : 0;
    if (type == TOK_TYPE_BYTE) {
        int b = byte_token_value(t, len);
        if (b >= 0) {
            out[0] = (char)b;
            return 1;
        }
        memcpy(out, t, len);
        return len;
    }
    if (type != TOK_TYPE_NORMAL) return 0;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (i + 3 <= len && memcmp(t + i, "\xe2\x96\x81", 3) == 0) {
            out[n++] = ' ';
            i += 3;
        } else {
            out[n++] = t[i++];
        }
    }
    return n;
}

/* True when no token has U+2581 after its leading run of U+2581 (see tok_spm.c). */
static bool spm_cut_ok(const struct tok_vocab *v) {
    for (int32_t id = 0; id < v->n_tokens; id++) {
        size_t len;
        const char *t = tok_text(v, id, &len);
        size_t i = 0;
        while (i + 3 <= len && memcmp(t + i, "\xe2\x96\x81", 3) == 0)
            i += 3;
        if (i < len && memmem(t + i, len - i, "\xe2\x96\x81", 3)) return false;
    }
    return true;
}

static int vocab_finish(struct tok_vocab *v, struct ol_err *err) {
    int rc = index_build(v, err);
    if (rc < 0) return rc;
    if (v->model == TOK_MODEL_SPM) v->spm_cut_ok = spm_cut_ok(v);
    if (v->model != TOK_MODEL_BPE) {
        for (int b = 0; b < 256; b++) {
            char hex[8];
            snprintf(hex, sizeof(hex), "<0x%02X>", b);
            int32_t id = tok_find(v, hex, 6);
            if (id < 0) {
                char c = (char)b;
                id = tok_find(v, &c, 1);
            }
            v->byte_tok[b] = id;
        }
    }
    vocab_detect_specials(v);
    rc = vocab_build_specials(v, err);
    if (rc < 0) return rc;

    /* A piece is never longer than its text. */
    v->piece = malloc(v->text_off[v->n_tokens] + 1);
    if (!v->piece) return ol_err_set(err, OL_ENOMEM, "out of memory loading the tokenizer");
    size_t off = 0;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        v->piece_off[id] = off;
        off += piece_render(v, id, v->piece + off);
    }
    v->piece_off[v->n_tokens] = off;
    if (v->bos < 0) v->add_bos = false;
    if (v->eos < 0) v->add_eos = false;
    return 0;
}

void tok_vocab_free(struct tok_vocab *v) {
    if (!v) return;
    tok_bpe_free(v->bpe);
    free(v->text);
    free(v->text_off);
    free(v->scores);
    free(v->types);
    free(v->piece);
    free(v->piece_off);
    free(v->slots);
    free(v->eog);
    free(v->special);
    free(v->special_lens);
    free(v);
}

/* ---- from GGUF ---- */

/* Reads an optional special-token id. -1 and 0xFFFFFFFF (what converters write for "none")
 * leave the default, as llama.cpp does; other values out of range are an error when `strict`,
 * else ignored too. */
static int read_special(const struct gguf *g, const char *key, int32_t n_tokens, bool strict,
                        int32_t *id, struct ol_err *err) {
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv) return 0;
    int64_t x;
    if (!gguf_get_i64(g, key, &x)) {
        if (kv->type == GGUF_TYPE_UINT64 && kv->v.u64 == UINT64_MAX)
            x = -1;
        else
            return ol_err_set(err, OL_EFORMAT, "%s: not an integer", key);
    }
    if (x == -1 || x == (int64_t)UINT32_MAX) return 0;
    if (x < 0 || x >= n_tokens) {
        if (strict)
            return ol_err_set(err, OL_EFORMAT, "%s = %lld is outside the vocabulary (%d tokens)",
                              key, (long long)x, (int)n_tokens);
        ol_log(OL_LOG_DEBUG, "tok: ignoring %s = %lld (vocab has %d tokens)", key, (long long)x,
               (int)n_tokens);
        return 0;
    }
    *id = (int32_t)x;
    return 0;
}

static int read_bool(const struct gguf *g, const char *key, bool *out, struct ol_err *err) {
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv) return 0;
    if (gguf_get_bool(g, key, out)) return 0;
    int64_t x;
    if (gguf_get_i64(g, key, &x)) { /* tolerate integers written for booleans */
        *out = x != 0;
        return 0;
    }
    return ol_err_set(err, OL_EFORMAT, "%s: not a boolean", key);
}

static int read_specials(struct tok_vocab *v, const struct gguf *g, struct ol_err *err) {
    struct {
        const char *key;
        int32_t *id;
        bool strict;
    } keys[] = {
        {"tokenizer.ggml.bos_token_id", &v->bos, true},
        {"tokenizer.ggml.eos_token_id", &v->eos, true},
        {"tokenizer.ggml.eot_token_id", &v->eot, true},
        {"tokenizer.ggml.eom_token_id", &v->eom, true},
        {"tokenizer.ggml.unknown_token_id", &v->unk, true},
        {"tokenizer.ggml.seperator_token_id", &v->sep, false},
        {"tokenizer.ggml.padding_token_id", &v->pad, false},
        {"tokenizer.ggml.mask_token_id", &v->mask, false},
        {"tokenizer.ggml.fim_pre_token_id", &v->fim_pre, false},
        {"tokenizer.ggml.fim_suf_token_id", &v->fim_suf, false},
        {"tokenizer.ggml.fim_mid_token_id", &v->fim_mid, false},
        {"tokenizer.ggml.fim_pad_token_id", &v->fim_pad, false},
        {"tokenizer.ggml.fim_rep_token_id", &v->fim_rep, false},
        {"tokenizer.ggml.fim_sep_token_id", &v->fim_sep, false},
        {"tokenizer.ggml.prefix_token_id", &v->fim_pre, false}, /* deprecated names */
        {"tokenizer.ggml.suffix_token_id", &v->fim_suf, false},
        {"tokenizer.ggml.middle_token_id", &v->fim_mid, false},
    };
    if (v->model == TOK_MODEL_WPM) { /* BERT's [CLS] plays the part of BOS */
        int rc = read_special(g, "tokenizer.ggml.cls_token_id", v->n_tokens, false, &v->bos, err);
        if (rc < 0) return rc;
    }
    for (size_t i = 0; i < OL_ARRAY_LEN(keys); i++) {
        int rc = read_special(g, keys[i].key, v->n_tokens, keys[i].strict, keys[i].id, err);
        if (rc < 0) return rc;
    }
    return 0;
}

/* llama.cpp's defaults per model, dropped when the vocab is too small for them. */
static void set_defaults(struct tok_vocab *v) {
    switch (v->model) {
    case TOK_MODEL_SPM:
        v->bos = 1;
        v->eos = 2;
        v->unk = 0;
        v->add_bos = true;
        v->add_space_prefix = true;
        break;
    case TOK_MODEL_WPM:
        v->bos = 101;
        v->unk = 100;
        v->sep = 102;
        v->pad = 0;
        v->mask = 103;
        v->add_bos = true;
        break;
    case TOK_MODEL_BPE: /* llama.cpp's 11 is Falcon's; without metadata we claim none */
        break;
    }
    int32_t *ids[] = {&v->bos, &v->eos, &v->unk, &v->sep, &v->pad, &v->mask};
    for (size_t i = 0; i < OL_ARRAY_LEN(ids); i++)
        if (*ids[i] >= v->n_tokens) *ids[i] = -1;
}

struct tok_vocab *tok_vocab_from_gguf(const struct gguf *g, struct ol_err *err) {
    struct gguf_str model, pre = {NULL, 0};
    enum tok_model m;
    if (!gguf_get_str(g, "tokenizer.ggml.model", &model)) {
        ol_err_set(err, OL_EFORMAT, "tokenizer.ggml.model is missing or not a string");
        return NULL;
    }
    if (gguf_str_eq(model, "llama")) {
        m = TOK_MODEL_SPM;
    } else if (gguf_str_eq(model, "gpt2")) {
        m = TOK_MODEL_BPE;
    } else if (gguf_str_eq(model, "bert")) {
        m = TOK_MODEL_WPM;
    } else {
        ol_err_set(err, OL_EUNSUPPORTED, "unsupported tokenizer model '%.*s'",
                   (int)OL_MIN(model.len, 64), model.ptr);
        return NULL;
    }
    if (gguf_find(g, "tokenizer.ggml.pre") && !gguf_get_str(g, "tokenizer.ggml.pre", &pre)) {
        ol_err_set(err, OL_EFORMAT, "tokenizer.ggml.pre is not a string");
        return NULL;
    }

    const struct gguf_kv *tokens = gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING);
    if (!tokens) {
        ol_err_set(err, OL_EFORMAT, "tokenizer.ggml.tokens is missing or not a string array");
        return NULL;
    }
    const struct gguf_kv *scores = NULL, *types = NULL, *merges = NULL;
    if (gguf_find(g, "tokenizer.ggml.scores")) {
        scores = gguf_get_arr(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32);
        if (!scores) {
            ol_err_set(err, OL_EFORMAT, "tokenizer.ggml.scores is not a float array");
            return NULL;
        }
    }
    if (gguf_find(g, "tokenizer.ggml.token_type")) {
        types = gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT64);
        if (!types) {
            ol_err_set(err, OL_EFORMAT, "tokenizer.ggml.token_type is not an integer array");
            return NULL;
        }
    }
    if (m == TOK_MODEL_BPE) {
        merges = gguf_get_arr(g, "tokenizer.ggml.merges", GGUF_TYPE_STRING);
        if (!merges) {
            ol_err_set(err, OL_EFORMAT, "tokenizer.ggml.merges is missing or not a string array");
            return NULL;
        }
    }
    uint64_t n = tokens->arr_n;
    if ((scores && scores->arr_n != n) || (types && types->arr_n != n)) {
        ol_err_set(err, OL_EFORMAT,
                   "tokenizer arrays disagree: %llu tokens, %llu scores, %llu token types",
                   (unsigned long long)n, (unsigned long long)(scores ? scores->arr_n : n),
                   (unsigned long long)(types ? types->arr_n : n));
        return NULL;
    }
    if (n > TOK_MAX_TOKENS) n = (uint64_t)TOK_MAX_TOKENS + 1; /* vocab_alloc refuses it */

    struct tok_vocab *v = vocab_alloc(m, (size_t)n, err);
    if (!v) return NULL;
    if (vocab_set_texts(v, tokens->arr_strs, err) < 0) goto fail;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        v->scores[i] = scores ? gguf_arr_f32(scores, (uint64_t)i) : 0.0f;
        int64_t t = types ? gguf_arr_int(types, (uint64_t)i) : TOK_TYPE_NORMAL;
        v->types[i] = (uint8_t)(t >= 0 && t <= TOK_TYPE_BYTE ? t : TOK_TYPE_UNDEFINED);
    }
    set_defaults(v);
    if (m == TOK_MODEL_BPE) {
        bool no_bos = false;
        v->bpe = tok_bpe_new(v, pre.ptr, (size_t)pre.len, merges->arr_strs, (size_t)merges->arr_n,
                             &no_bos, err);
        if (!v->bpe) goto fail;
        if (no_bos) v->bos = -1;
    }
    if (read_bool(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix, err) < 0) goto fail;
    if (read_specials(v, g, err) < 0) goto fail;
    if (read_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos, err) < 0) goto fail;
    if (read_bool(g, "tokenizer.ggml.add_eos_token", &v->add_eos, err) < 0) goto fail;
    if (vocab_finish(v, err) < 0) goto fail;
    return v;
fail:
    tok_vocab_free(v);
    return NULL;
}

struct tok_vocab *tok_vocab_new_bpe(const char *pre, const struct gguf_str *tokens, size_t n_tokens,
                                    const struct gguf_str *merges, size_t n_merges,
                                    struct ol_err *err) {
    if ((!tokens && n_tokens) || (!merges && n_merges)) {
        ol_err_set(err, OL_EINVAL, "tok_vocab_new_bpe: NULL array");
        return NULL;
    }
    struct tok_vocab *v = vocab_alloc(TOK_MODEL_BPE, n_tokens, err);
    if (!v) return NULL;
    if (vocab_set_texts(v, tokens, err) < 0) goto fail;
    for (int32_t i = 0; i < v->n_tokens; i++)
        v->types[i] = TOK_TYPE_NORMAL;
    bool no_bos = false;
    v->bpe = tok_bpe_new(v, pre, pre ? strlen(pre) : 0, merges, n_merges, &no_bos, err);
    if (!v->bpe) goto fail;
    if (vocab_finish(v, err) < 0) goto fail;
    return v;
fail:
    tok_vocab_free(v);
    return NULL;
}

/* ---- accessors ---- */

enum tok_model tok_vocab_model(const struct tok_vocab *v) { return v->model; }
int tok_n_vocab(const struct tok_vocab *v) { return v->n_tokens; }
int32_t tok_bos(const struct tok_vocab *v) { return v->bos; }
int32_t tok_eos(const struct tok_vocab *v) { return v->eos; }
int32_t tok_eot(const struct tok_vocab *v) { return v->eot; }
int32_t tok_unk(const struct tok_vocab *v) { return v->unk; }
int32_t tok_pad(const struct tok_vocab *v) { return v->pad; }
int32_t tok_sep(const struct tok_vocab *v) { return v->sep; }
bool tok_add_bos(const struct tok_vocab *v) { return v->add_bos; }
bool tok_add_eos(const struct tok_vocab *v) { return v->add_eos; }

bool tok_is_eog(const struct tok_vocab *v, int32_t id) {
    return id >= 0 && id < v->n_tokens && (v->eog[id >> 3] >> (id & 7)) & 1;
}

bool tok_is_control(const struct tok_vocab *v, int32_t id) {
    return id >= 0 && id < v->n_tokens &&
           (v->types[id] == TOK_TYPE_CONTROL || v->types[id] == TOK_TYPE_UNKNOWN);
}

enum tok_type tok_token_type(const struct tok_vocab *v, int32_t id) {
    return id >= 0 && id < v->n_tokens ? (enum tok_type)v->types[id] : TOK_TYPE_UNDEFINED;
}

float tok_token_score(const struct tok_vocab *v, int32_t id) {
    return id >= 0 && id < v->n_tokens ? v->scores[id] : 0.0f;
}

struct gguf_str tok_token_text(const struct tok_vocab *v, int32_t id) {
    struct gguf_str s = {NULL, 0};
    if (id < 0 || id >= v->n_tokens) return s;
    size_t len;
    s.ptr = tok_text(v, id, &len);
    s.len = len;
    return s;
}

/* ---- special-token splitting ---- */

struct frag {
    int32_t id; /* -1: raw text */
    size_t off, len;
};

struct frags {
    struct frag *a;
    size_t n, cap;
};

static int frags_push(struct frags *f, int32_t id, size_t off, size_t len) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct frag *p = ol_realloc_array(f->a, cap, sizeof(*p));
        if (!p) return OL_ENOMEM;
        f->a = p;
        f->cap = cap;
    }
    f->a[f->n++] = (struct frag){id, off, len};
    return 0;
}

static bool special_usable(const struct tok_vocab *v, int32_t id, bool parse_special) {
    /* User-defined tokens are split even without parse_special (HF does the same). */
    uint8_t t = v->types[id];
    return t == TOK_TYPE_USER_DEFINED || (parse_special && is_special_type(t));
}

/* The special tokens whose text occurs in text, in processing order (longest first). */
static int specials_present(const struct tok_vocab *v, const char *text, size_t len,
                            bool parse_special, struct tok_ids *found) {
    for (size_t p = 0; p < len; p++) {
        uint8_t c = (uint8_t)text[p];
        if (!((v->special_first[c >> 3] >> (c & 7)) & 1)) continue;
        for (size_t k = 0; k < v->n_special_lens; k++) {
            size_t l = v->special_lens[k];
            if (l > len - p) continue;
            int32_t id = tok_find(v, text + p, l);
            if (id < 0 || !special_usable(v, id, parse_special)) continue;
            if (tok_ids_push(found, id) < 0) return OL_ENOMEM;
        }
    }
    if (found->n > 1) {
        qsort_r(found->data, found->n, sizeof(*found->data), cmp_special, (void *)v);
        size_t k = 0;
        for (size_t i = 0; i < found->n; i++)
            if (k == 0 || found->data[k - 1] != found->data[i]) found->data[k++] = found->data[i];
        found->n = k;
    }
    return 0;
}

/* Cuts text into raw fragments and special tokens like llama.cpp's tokenizer_st_partition:
 * each special token in turn (longest first) is cut out of every raw fragment, leftmost
 * occurrences first. */
static int partition(const struct tok_vocab *v, const char *text, size_t len, bool parse_special,
                     struct frags *out) {
    struct tok_ids found = {0};
    struct frags tmp = {0};
    int rc = frags_push(out, -1, 0, len);
    if (rc == 0 && v->n_special) rc = specials_present(v, text, len, parse_special, &found);
    for (size_t s = 0; rc == 0 && s < found.n; s++) {
        int32_t id = found.data[s];
        size_t tl;
        const char *t = tok_text(v, id, &tl);
        tmp.n = 0;
        for (size_t i = 0; rc == 0 && i < out->n; i++) {
            struct frag f = out->a[i];
            if (f.id >= 0) {
                rc = frags_push(&tmp, f.id, f.off, f.len);
                continue;
            }
            size_t off = f.off, end = f.off + f.len;
            while (rc == 0 && off < end) {
                const char *m = memmem(text + off, end - off, t, tl);
                if (!m) break;
                size_t at = (size_t)(m - text);
                if (at > off) rc = frags_push(&tmp, -1, off, at - off);
                if (rc == 0) rc = frags_push(&tmp, id, at, tl);
                off = at + tl;
            }
            if (rc == 0 && off < end) rc = frags_push(&tmp, -1, off, end - off);
        }
        struct frags swap = *out;
        *out = tmp;
        tmp = swap;
    }
    free(tmp.a);
    tok_ids_free(&found);
    return rc;
}

/* ---- encode ---- */

int tok_encode(const struct tok_vocab *v, const char *text, size_t len, bool add_special,
               bool parse_special, struct tok_ids *out, struct ol_err *err) {
    if (!v || !out || (!text && len)) return ol_err_set(err, OL_EINVAL, "tok_encode: bad argument");
    if (len > TOK_MAX_TEXT)
        return ol_err_set(err, OL_EINVAL, "text too long to tokenize (%zu bytes)", len);
    size_t n0 = out->n;
    struct frags frags = {0};
    int rc = 0;
    if (len) rc = partition(v, text, len, parse_special, &frags);
    if (rc < 0) {
        rc = ol_err_set(err, rc, "out of memory tokenizing");
        goto out;
    }
    if (add_special && v->add_bos && v->bos >= 0) rc = tok_ids_push(out, v->bos);
    bool prev_special = true; /* SPM: the first fragment gets a space prefix too */
    for (size_t i = 0; rc == 0 && i < frags.n; i++) {
        const struct frag *f = &frags.a[i];
        if (f->id >= 0) {
            rc = tok_ids_push(out, f->id);
            prev_special = true;
            continue;
        }
        switch (v->model) {
        case TOK_MODEL_SPM:
            rc = tok_spm_encode(v, text + f->off, f->len, v->add_space_prefix && prev_special, out,
                                err);
            break;
        case TOK_MODEL_BPE:
            rc = tok_bpe_encode(v, text + f->off, f->len, out, err);
            break;
        case TOK_MODEL_WPM:
            rc = tok_wpm_encode(v, text + f->off, f->len, out, err);
            break;
        }
        prev_special = false;
    }
    if (rc == 0 && add_special) {
        if (v->model == TOK_MODEL_WPM) {
            if (v->sep >= 0) rc = tok_ids_push(out, v->sep);
        } else if (v->add_eos && v->eos >= 0) {
            rc = tok_ids_push(out, v->eos);
        }
    }
    if (rc == 0 && out->n - n0 > (size_t)INT32_MAX) rc = OL_EINVAL;
    if (rc == OL_ENOMEM) ol_err_set(err, rc, "out of memory tokenizing");
out:
    free(frags.a);
    if (rc < 0) {
        out->n = n0;
        return rc;
    }
    return (int)(out->n - n0);
}

/* ---- decode ---- */

static const char *piece_of(const struct tok_vocab *v, int32_t id, bool render_special,
                            size_t *len) {
    if (!render_special && tok_is_control(v, id)) {
        *len = 0;
        return "";
    }
    *len = v->piece_off[id + 1] - v->piece_off[id];
    return v->piece + v->piece_off[id];
}

int tok_piece(const struct tok_vocab *v, int32_t id, bool render_special, char *buf, size_t cap) {
    if (!v || id < 0 || id >= v->n_tokens) return OL_EINVAL;
    size_t len;
    const char *p = piece_of(v, id, render_special, &len);
    if (buf && cap) memcpy(buf, p, OL_MIN(len, cap));
    return (int)len;
}

int tok_decode(const struct tok_vocab *v, const int32_t *ids, size_t n, bool render_special,
               struct ol_buf *out) {
    size_t len0 = out->len;
    bool strip = v->add_space_prefix;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= v->n_tokens) {
            out->len = len0;
            if (out->data) out->data[len0] = '\0';
            return OL_EINVAL;
        }
        size_t len;
        const char *p = piece_of(v, ids[i], render_special, &len);
        if (!len) continue;
        if (strip && p[0] == ' ') {
            p++;
            len--;
        }
        strip = false;
        if (ol_buf_append(out, p, len) < 0) {
            out->len = len0;
            if (out->data) out->data[len0] = '\0';
            return OL_ENOMEM;
        }
    }
    if (out->len - len0 > (size_t)INT32_MAX) return OL_EINVAL;
    return (int)(out->len - len0);
}

void tok_stream_init(struct tok_stream *s, const struct tok_vocab *v, bool render_special) {
    memset(s, 0, sizeof(*s));
    s->v = v;
    s->render_special = render_special;
}

int tok_stream_push(struct tok_stream *s, int32_t id, struct ol_buf *out) {
    if (id < 0 || id >= s->v->n_tokens) return OL_EINVAL;
    size_t len;
    const char *p = piece_of(s->v, id, s->render_special, &len);
    size_t start = out->len;
    if (ol_buf_append(out, s->held, s->n_held) < 0 || ol_buf_append(out, p, len) < 0) {
        out->len = start;
        if (out->data) out->data[start] = '\0';
        return OL_ENOMEM;
    }
    size_t tail = ol_utf8_incomplete_tail(out->data + start, out->len - start);
    memcpy(s->held, out->data + out->len - tail, tail);
    s->n_held = tail;
    out->len -= tail;
    out->data[out->len] = '\0';
    return (int)(out->len - start);
}

int tok_stream_flush(struct tok_stream *s, struct ol_buf *out) {
    size_t n = s->n_held;
    if (n && ol_buf_append(out, s->held, n) < 0) return OL_ENOMEM;
    s->n_held = 0;
    return (int)n;
}
