/* tok_wpm: BERT WordPiece ("bert" vocabs), as llama.cpp's llm_tokenizer_wpm does it.
 *
 * Normalise (each character replaced by the first code point of its NFD decomposition, which
 * strips the accents of precomposed letters; lowercase; control characters removed), cut into
 * words at whitespace, and make every punctuation character, ASCII symbol and CJK ideograph a
 * word of its own. Matching llama.cpp (and so Ollama) rather than HF BERT: a combining mark
 * that comes as its own character is kept (it usually makes its word unknown), and a Hangul
 * syllable keeps only its leading consonant. Each word, prefixed with U+2581 (the GGUF
 * converter stores word-initial pieces that way and "##" continuations bare), is covered by
 * greedy longest matches; a word with any uncovered position becomes the unknown token.
 * Unicode properties come from utf8proc. */
#include "engine/tok.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

struct wpm_words {
    char *s; /* normalised text, words back to back */
    size_t len, cap;
    size_t *ends; /* word i is s[ends[i-1] .. ends[i]) */
    size_t n, cap_ends;
};

/* llama.cpp's whitespace set (Unicode White_Space). */
static bool is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

/* The CJK ranges BERT treats as characters of their own (llama.cpp and HF use 0x2B920 where
 * the Unicode block starts at 0x2B820; kept for identical ids). */
static bool is_chinese(uint32_t c) {
    return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) ||
           (c >= 0x20000 && c <= 0x2a6df) || (c >= 0x2a700 && c <= 0x2b73f) ||
           (c >= 0x2b740 && c <= 0x2b81f) || (c >= 0x2b920 && c <= 0x2ceaf) ||
           (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f);
}

static bool is_control(utf8proc_category_t cat) {
    return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
           cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS;
}

static bool is_punct(utf8proc_category_t cat) {
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

static bool is_symbol(utf8proc_category_t cat) {
    return cat >= UTF8PROC_CATEGORY_SM && cat <= UTF8PROC_CATEGORY_SO;
}

/* Decodes like llama.cpp's unicode_cpts_from_utf8: a bad sequence is U+FFFD, one byte long. */
static uint32_t next_cp(const uint8_t *s, size_t len, size_t *i) {
    uint8_t c = s[*i];
    int n = c < 0x80             ? 1
            : (c & 0xe0) == 0xc0 ? 2
            : (c & 0xf0) == 0xe0 ? 3
            : (c & 0xf8) == 0xf0 ? 4
                                 : 0;
    if (n == 0 || *i + (size_t)n > len) {
        (*i)++;
        return 0xfffd;
    }
    uint32_t cp = n == 1 ? c : c & (0x7fu >> n);
    for (int k = 1; k < n; k++) {
        if ((s[*i + (size_t)k] & 0xc0) != 0x80) {
            (*i)++;
            return 0xfffd;
        }
        cp = (cp << 6) | (s[*i + (size_t)k] & 0x3f);
    }
    *i += (size_t)n;
    return cp > 0x10ffff ? 0xfffd : cp;
}

static int word_end(struct wpm_words *w) {
    if (w->len == (w->n ? w->ends[w->n - 1] : 0)) return 0; /* nothing since the last end */
    if (w->n == w->cap_ends) {
        size_t cap = w->cap_ends ? w->cap_ends * 2 : 64;
        size_t *p = ol_realloc_array(w->ends, cap, sizeof(*p));
        if (!p) return OL_ENOMEM;
        w->ends = p;
        w->cap_ends = cap;
    }
    w->ends[w->n++] = w->len;
    return 0;
}

static void put_cp(struct wpm_words *w, uint32_t cp) {
    uint8_t buf[4];
    utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)cp, buf);
    memcpy(w->s + w->len, buf, (size_t)n);
    w->len += (size_t)n;
}

/* One code point of the normalised text into the word list. */
static int add_cp(struct wpm_words *w, uint32_t cp) {
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
    uint32_t lower = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    if (is_punct(cat) || (cp < 0x7f && is_symbol(cat)) || is_chinese(cp)) {
        int rc = word_end(w);
        put_cp(w, lower);
        return rc < 0 ? rc : word_end(w);
    }
    put_cp(w, lower);
    return 0;
}

static int normalize(const char *text, size_t len, struct wpm_words *w) {
    /* Each input byte yields at most one code point of at most 4 bytes. */
    w->cap = len * 4 + 1;
    w->s = malloc(w->cap);
    if (!w->s) return OL_ENOMEM;
    const uint8_t *s = (const uint8_t *)text;
    for (size_t i = 0; i < len;) {
        uint32_t cp = next_cp(s, len, &i);
        utf8proc_int32_t d[8];
        int last = 0;
        utf8proc_ssize_t nd =
            utf8proc_decompose_char((utf8proc_int32_t)cp, d, 8, UTF8PROC_DECOMPOSE, &last);
        if (nd >= 1 && nd <= 8) cp = (uint32_t)d[0];
        int rc = 0;
        if (is_space(cp))
            rc = word_end(w);
        else if (cp != 0 && cp != 0xfffd && !is_control(utf8proc_category((utf8proc_int32_t)cp)))
            rc = add_cp(w, cp);
        if (rc < 0) return rc;
    }
    return word_end(w);
}

/* Greedy longest-match-first over U+2581 + word into out; when some position matches no
 * token, what the word appended is dropped and it becomes the unknown token. buf has room for
 * len + 3 bytes. */
static int encode_word(const struct tok_vocab *v, const char *word, size_t len, char *buf,
                       struct tok_ids *out) {
    memcpy(buf, "\xe2\x96\x81", 3);
    memcpy(buf + 3, word, len);
    size_t n = len + 3, n0 = out->n;
    for (size_t i = 0; i < n;) {
        size_t j = OL_MIN(n, i + v->max_token_len);
        int32_t id = -1;
        for (; j > i; j--)
            if ((id = tok_find(v, buf + i, j - i)) >= 0) break;
        if (id < 0) {
            out->n = n0;
            break;
        }
        if (tok_ids_push(out, id) < 0) return OL_ENOMEM;
        i = j;
    }
    if (out->n == n0 && v->unk >= 0) return tok_ids_push(out, v->unk);
    return 0;
}

int tok_wpm_encode(const struct tok_vocab *v, const char *text, size_t len, struct tok_ids *out,
                   struct ol_err *err) {
    struct wpm_words w = {0};
    char *buf = NULL;
    int rc = normalize(text, len, &w);
    size_t longest = 0;
    for (size_t i = 0, start = 0; rc == 0 && i < w.n; start = w.ends[i++])
        longest = OL_MAX(longest, w.ends[i] - start);
    if (rc == 0 && w.n) {
        buf = malloc(longest + 3);
        if (!buf) rc = OL_ENOMEM;
    }
    for (size_t i = 0, start = 0; rc == 0 && i < w.n; start = w.ends[i++])
        rc = encode_word(v, w.s + start, w.ends[i] - start, buf, out);
    free(buf);
    free(w.s);
    free(w.ends);
    return rc < 0 ? ol_err_set(err, rc, "out of memory tokenizing") : 0;
}
