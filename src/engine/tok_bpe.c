/* tok_bpe: byte-level BPE ("gpt2" vocabs), as llama.cpp's llm_tokenizer_bpe does it.
 *
 * Text is first cut into words by the pre-tokenizer: a list of regexes chosen by
 * tokenizer.ggml.pre, applied one after the other, each cutting every piece the previous one
 * left into its matches and the gaps between them (llama.cpp's unicode_regex_split). Each
 * word's bytes are then written in the GPT-2 byte alphabet (printable bytes stand for
 * themselves, the other 68 map to U+0100..U+0143) and the adjacent pair with the lowest merge
 * rank is merged until none is left.
 *
 * The regexes run on PCRE2 in UTF + UCP mode with the patterns' own \p{..} classes, where
 * llama.cpp uses std::regex on a text "collapsed" to one byte per category; both give the same
 * words except where the Unicode tables differ. Two llama.cpp details are kept on purpose:
 * every non-ASCII whitespace character is seen by the regexes as \v (so U+3000 matches \s but
 * not an explicit class like deepseek's [\u3000-\u3002], and U+0085 counts as space), done on a
 * copy of the text with an offset map; and where llama.cpp would turn invalid UTF-8 into U+FFFD,
 * here it never matches (PCRE2_MATCH_INVALID_UTF), so such bytes become words of their own and
 * stay lossless. */
#include "engine/tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define BPE_MAX_RE 8

/* ---- pre-tokenizers (regex lists from llama.cpp src/llama-vocab.cpp) ---- */

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_LLAMA3                                                                                  \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"     \
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                   \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"     \
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_CJK "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
#define RE_PORO " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"

enum bpe_pre {
    PRE_DEFAULT,
    PRE_LLAMA3,
    PRE_DBRX, /* Llama 3's regex, but merges are not ignored and no BOS is implied */
    PRE_DEEPSEEK_LLM,
    PRE_DEEPSEEK3,
    PRE_DEEPSEEK_CODER,
    PRE_FALCON,
    PRE_STARCODER, /* also refact, command-r, smollm, codeshell, exaone, minerva */
    PRE_GPT2,      /* also mpt, olmo, jais, phi-2, roberta, jina */
    PRE_QWEN2,
    PRE_PORO,
    PRE_CHATGLM4,
    PRE_VIKING,
    PRE_TEKKEN,
    PRE_CHAMELEON,
    PRE_COUNT
};

static const char *const pre_regex[PRE_COUNT][BPE_MAX_RE] = {
    [PRE_DEFAULT] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"},
    [PRE_LLAMA3] = {RE_LLAMA3},
    [PRE_DBRX] = {RE_LLAMA3},
    [PRE_DEEPSEEK_LLM] =
        {
            "[\r\n]",
            "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
            "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-"
            "\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-"
            "\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}"
            "\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
            "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}"
            "\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}"
            "\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-"
            "\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}"
            "\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}"
            "\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}"
            "\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-"
            "\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}"
            "\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"
            "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}"
            "\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}"
            "\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}"
            "\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-"
            "\\x{1E943}]+",
            "\\s?[!-/"
            ":-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
            "\\s+$",
            RE_CJK,
            "\\p{N}+",
        },
    [PRE_DEEPSEEK3] =
        {
            "\\p{N}{1,3}",
            "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
            "[!\"#$%&'()*+,\\-./"
            ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}"
            "\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
        },
    [PRE_DEEPSEEK_CODER] = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}"},
    [PRE_FALCON] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"},
    [PRE_STARCODER] = {"\\p{N}", RE_GPT2},
    [PRE_GPT2] = {RE_GPT2},
    [PRE_QWEN2] = {RE_QWEN2},
    [PRE_PORO] = {RE_PORO},
    [PRE_CHATGLM4] = {RE_LLAMA3},
    [PRE_VIKING] = {RE_PORO, "\\p{N}"},
    [PRE_TEKKEN] = {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n"
                    "\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s"
                    "\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    [PRE_CHAMELEON] = {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
                       "([\\t\\n]|    |  )", "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]", RE_GPT2},
};

static const struct {
    const char *name;
    enum bpe_pre pre;
} pre_names[] = {
    {"default", PRE_DEFAULT},
    {"llama3", PRE_LLAMA3},
    {"llama-v3", PRE_LLAMA3},
    {"llama-bpe", PRE_LLAMA3},
    {"falcon3", PRE_LLAMA3},
    {"deepseek-llm", PRE_DEEPSEEK_LLM},
    {"deepseek-coder", PRE_DEEPSEEK_CODER},
    {"deepseek-v3", PRE_DEEPSEEK3},
    {"falcon", PRE_FALCON},
    {"mpt", PRE_GPT2},
    {"starcoder", PRE_STARCODER},
    {"gpt-2", PRE_GPT2},
    {"phi-2", PRE_GPT2},
    {"jina-es", PRE_GPT2},
    {"jina-de", PRE_GPT2},
    {"gigachat", PRE_GPT2},
    {"jina-v1-en", PRE_GPT2},
    {"jina-v2-es", PRE_GPT2},
    {"jina-v2-de", PRE_GPT2},
    {"jina-v2-code", PRE_GPT2},
    {"roberta-bpe", PRE_GPT2},
    {"refact", PRE_STARCODER},
    {"command-r", PRE_STARCODER},
    {"qwen2", PRE_QWEN2},
    {"deepseek-r1-qwen", PRE_QWEN2},
    {"megrez", PRE_QWEN2},
    {"stablelm2", PRE_QWEN2},
    {"olmo", PRE_GPT2},
    {"dbrx", PRE_DBRX},
    {"smaug-bpe", PRE_DBRX},
    {"poro-chat", PRE_PORO},
    {"bloom", PRE_PORO},
    {"gpt3-finnish", PRE_PORO},
    {"chatglm-bpe", PRE_CHATGLM4},
    {"viking", PRE_VIKING},
    {"jais", PRE_GPT2},
    {"tekken", PRE_TEKKEN},
    {"smollm", PRE_STARCODER},
    {"codeshell", PRE_STARCODER},
    {"exaone", PRE_STARCODER},
    {"chameleon", PRE_CHAMELEON},
    {"minerva-7b", PRE_STARCODER},
};

/* ---- state ---- */

struct bpe_merge {
    size_t off;            /* into tok_bpe.mtext */
    uint32_t a_len, b_len; /* "a b": a = text[off..off+a_len), b after the space */
    uint32_t hash;
};

struct tok_bpe {
    pcre2_code *re[BPE_MAX_RE];
    int n_re;
    char *mtext;
    struct bpe_merge *merges; /* rank = index */
    uint32_t n_merges;
    uint32_t *mslots; /* merge index + 1; 0 = empty */
    size_t mmask;
    uint8_t map[256][2]; /* GPT-2 byte alphabet, UTF-8 */
    uint8_t map_len[256];
};

void tok_bpe_free(struct tok_bpe *b) {
    if (!b) return;
    for (int i = 0; i < b->n_re; i++)
        pcre2_code_free(b->re[i]);
    free(b->mtext);
    free(b->merges);
    free(b->mslots);
    free(b);
}

/* ---- the GPT-2 byte alphabet ---- */

static bool byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

static uint32_t byte_to_cp(unsigned b) {
    if (byte_is_printable(b)) return b;
    if (b <= 0x20) return 0x100 + b;               /* 33 control bytes and space */
    if (b <= 0xa0) return 0x100 + 33 + (b - 0x7f); /* DEL, C1 controls, NBSP */
    return 0x100 + 67;                             /* soft hyphen */
}

static int cp_to_byte(uint32_t cp) {
    if (cp < 0x100) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp < 0x100 + 33) return (int)(cp - 0x100);
    if (cp < 0x100 + 67) return (int)(cp - 0x100 - 33 + 0x7f);
    return cp == 0x100 + 67 ? 0xad : -1;
}

/* Decodes one UTF-8 character; returns its length, or 0 when s does not start with a valid
 * one. */
static size_t utf8_decode(const uint8_t *s, size_t len, uint32_t *cp) {
    int n = ol_utf8_len(s[0]);
    if (n == 1) {
        *cp = s[0];
        return s[0] < 0x80;
    }
    if ((size_t)n > len || !ol_utf8_is_valid((const char *)s, (size_t)n)) return 0;
    uint32_t c = s[0] & (0x7f >> n);
    for (int i = 1; i < n; i++)
        c = (c << 6) | (s[i] & 0x3f);
    *cp = c;
    return (size_t)n;
}

size_t tok_bpe_unmap(const char *s, size_t len, char *out) {
    const uint8_t *p = (const uint8_t *)s;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t cl = utf8_decode(p + i, len - i, &cp);
        int b = cl ? cp_to_byte(cp) : -1;
        if (b >= 0) {
            out[n++] = (char)b;
            i += cl;
            continue;
        }
        if (!cl) cl = 1;
        memcpy(out + n, s + i, cl);
        n += cl;
        i += cl;
    }
    return n;
}

/* ---- regexes ---- */

static int compile_regexes(struct tok_bpe *b, enum bpe_pre pre, struct ol_err *err) {
    for (int i = 0; i < BPE_MAX_RE && pre_regex[pre][i]; i++) {
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile(
            (PCRE2_SPTR)pre_regex[pre][i], PCRE2_ZERO_TERMINATED,
            PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
        if (!re) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(ec, msg, sizeof(msg));
            return ol_err_set(err, OL_EINTERNAL, "pre-tokenizer regex %d: %s at %zu", i,
                              (const char *)msg, (size_t)eo);
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter on failure */
        b->re[b->n_re++] = re;
    }
    return 0;
}

/* ---- merges ---- */

static uint32_t pair_hash(const char *a, size_t a_len, const char *b, size_t b_len) {
    uint64_t h = tok_hash(a, a_len) * 0x9e3779b97f4a7c15ull ^ tok_hash(b, b_len);
    return (uint32_t)(h ^ (h >> 32));
}

/* Rank of merging a and b, or -1. */
static int merge_rank(const struct tok_bpe *bp, const char *a, size_t a_len, const char *b,
                      size_t b_len) {
    if (!bp->n_merges) return -1;
    uint32_t h = pair_hash(a, a_len, b, b_len);
    for (size_t i = h & bp->mmask;; i = (i + 1) & bp->mmask) {
        uint32_t m1 = bp->mslots[i];
        if (!m1) return -1;
        const struct bpe_merge *m = &bp->merges[m1 - 1];
        if (m->hash == h && m->a_len == a_len && m->b_len == b_len &&
            memcmp(bp->mtext + m->off, a, a_len) == 0 &&
            memcmp(bp->mtext + m->off + a_len + 1, b, b_len) == 0)
            return (int)(m1 - 1);
    }
}

/* Indexes "left right" lines as llama.cpp does: split at the first space after the first
 * byte; lines without one are skipped; the first of duplicate pairs keeps its rank. */
static int index_merges(struct tok_bpe *b, const struct gguf_str *merges, size_t n,
                        struct ol_err *err) {
    if (n > 0x7ffffffe) return ol_err_set(err, OL_EFORMAT, "too many merges (%zu)", n);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (merges[i].len > 0x7fffffff)
            return ol_err_set(err, OL_EFORMAT, "merge %zu is too long", i);
        total += (size_t)merges[i].len;
    }
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    b->mtext = malloc(total + 1);
    b->merges = ol_calloc_array(n + 1, sizeof(*b->merges));
    b->mslots = ol_calloc_array(cap, sizeof(*b->mslots));
    if (!b->mtext || !b->merges || !b->mslots)
        return ol_err_set(err, OL_ENOMEM, "out of memory loading merges");
    b->mmask = cap - 1;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = merges[i].ptr;
        size_t len = (size_t)merges[i].len;
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp) continue;
        size_t a_len = (size_t)(sp - s);
        if (merge_rank(b, s, a_len, sp + 1, len - a_len - 1) >= 0) continue;
        memcpy(b->mtext + off, s, len);
        struct bpe_merge *m = &b->merges[b->n_merges];
        *m = (struct bpe_merge){off, (uint32_t)a_len, (uint32_t)(len - a_len - 1),
                                pair_hash(s, a_len, sp + 1, len - a_len - 1)};
        off += len;
        size_t j = m->hash & b->mmask;
        while (b->mslots[j])
            j = (j + 1) & b->mmask;
        b->mslots[j] = ++b->n_merges;
    }
    return 0;
}

struct tok_bpe *tok_bpe_new(struct tok_vocab *v, const char *pre, size_t pre_len,
                            const struct gguf_str *merges, size_t n_merges, bool *no_bos,
                            struct ol_err *err) {
    enum bpe_pre p = PRE_COUNT;
    if (!pre || !pre_len) {
        p = PRE_DEFAULT; /* llama.cpp warns: "missing pre-tokenizer type, using: 'default'" */
    } else {
        for (size_t i = 0; i < OL_ARRAY_LEN(pre_names); i++)
            if (strlen(pre_names[i].name) == pre_len && !memcmp(pre_names[i].name, pre, pre_len))
                p = pre_names[i].pre;
    }
    if (p == PRE_COUNT) {
        ol_err_set(err, OL_EUNSUPPORTED, "unknown pre-tokenizer type: '%.*s'",
                   (int)OL_MIN(pre_len, 64), pre);
        return NULL;
    }
    struct tok_bpe *b = calloc(1, sizeof(*b));
    if (!b) {
        ol_err_set(err, OL_ENOMEM, "out of memory loading the tokenizer");
        return NULL;
    }
    for (unsigned c = 0; c < 256; c++) {
        uint32_t cp = byte_to_cp(c);
        if (cp < 0x80) {
            b->map[c][0] = (uint8_t)cp;
            b->map_len[c] = 1;
        } else {
            b->map[c][0] = (uint8_t)(0xc0 | (cp >> 6));
            b->map[c][1] = (uint8_t)(0x80 | (cp & 0x3f));
            b->map_len[c] = 2;
        }
    }
    if (compile_regexes(b, p, err) < 0 || index_merges(b, merges, n_merges, err) < 0) {
        tok_bpe_free(b);
        return NULL;
    }
    v->ignore_merges = p == PRE_LLAMA3 || p == PRE_TEKKEN;
    if (p == PRE_LLAMA3 || p == PRE_TEKKEN || p == PRE_CHAMELEON) v->add_bos = true;
    *no_bos = p == PRE_CHATGLM4;
    return b;
}

/* ---- encode ---- */

struct bpe_sym {
    int prev, next;
    uint32_t off, n; /* bytes in the mapped word; n == 0 once merged away */
};

struct bpe_bigram {
    int left, right;
    int rank;
    uint32_t size;
};

struct bpe_work {
    char *t;      /* the text with non-ASCII whitespace as \v (spaces_to_vt) */
    size_t *tmap; /* [tlen + 1] offset in the original text of each byte of t */
    size_t tlen, cap_t, cap_tmap;
    size_t *cuts, *cuts2; /* word ends */
    size_t n_cuts, n_cuts2, cap_cuts, cap_cuts2;
    char *m; /* mapped word */
    size_t cap_m;
    struct bpe_sym *syms;
    size_t cap_syms;
    struct bpe_bigram *heap;
    size_t n_heap, cap_heap;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jstack;
};

static int grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = ol_realloc_array(*p, c, size);
    if (!q) return OL_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

static int cut_push(struct bpe_work *w, size_t end) {
    if (grow((void **)&w->cuts2, &w->cap_cuts2, w->n_cuts2 + 1, sizeof(size_t)) < 0)
        return OL_ENOMEM;
    w->cuts2[w->n_cuts2++] = end;
    return 0;
}

static int match_at(struct bpe_work *w, const pcre2_code *re, const char *s, size_t len, size_t pos,
                    struct ol_err *err) {
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, pos, 0, w->md, w->mctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !w->jstack) {
        /* A long word needs more than the default 32 KiB JIT stack. */
        w->jstack = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, NULL);
        w->mctx = w->jstack ? pcre2_match_context_create(NULL) : NULL;
        if (!w->mctx) return ol_err_set(err, OL_ENOMEM, "out of memory for the regex stack");
        pcre2_jit_stack_assign(w->mctx, NULL, w->jstack);
        rc = pcre2_match(re, (PCRE2_SPTR)s, len, pos, 0, w->md, w->mctx);
    }
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(rc, msg, sizeof(msg));
        return ol_err_set(err, OL_EINTERNAL, "pre-tokenizer regex failed: %s", (const char *)msg);
    }
    return 1;
}

/* Length of the non-ASCII White_Space character at s (llama.cpp's set), else 0. */
static size_t wide_space_len(const uint8_t *s, size_t left) {
    if (left >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2;
    if (left < 3) return 0;
    if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3; /* U+1680 */
    if (s[0] == 0xe2 && s[1] == 0x80 &&
        (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf) && s[2] >= 0x80)
        return 3;                                               /* U+2000..200A, ... */
    if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3; /* U+205F */
    if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3; /* U+3000 */
    return 0;
}

/* When text has non-ASCII whitespace, writes a copy with each such character as "\v" into
 * w->t and the original offset of every copy byte (and of its end) into w->tmap. Returns
 * 1 when it made a copy, 0 when the text can be used as it is, or OL_ENOMEM. */
static int spaces_to_vt(struct bpe_work *w, const char *text, size_t len) {
    const uint8_t *s = (const uint8_t *)text;
    size_t i = 0;
    while (i < len && !(s[i] >= 0xc2 && s[i] <= 0xe3 && wide_space_len(s + i, len - i)))
        i++;
    if (i == len) return 0;
    if (grow((void **)&w->t, &w->cap_t, len, 1) < 0 ||
        grow((void **)&w->tmap, &w->cap_tmap, len + 1, sizeof(*w->tmap)) < 0)
        return OL_ENOMEM;
    size_t n = 0;
    for (i = 0; i < len;) {
        size_t sl = s[i] >= 0xc2 && s[i] <= 0xe3 ? wide_space_len(s + i, len - i) : 0;
        w->tmap[n] = i;
        w->t[n++] = sl ? '\v' : text[i];
        i += sl ? sl : 1;
    }
    w->tmap[n] = len;
    w->tlen = n;
    return 1;
}

/* Cuts text into words: each regex cuts every current piece into matches and gaps. The ends
 * of the words, as offsets into text, are left in w->cuts[0..n_cuts). */
static int split_words(const struct tok_bpe *b, struct bpe_work *w, const char *text, size_t len,
                       struct ol_err *err) {
    int mapped = spaces_to_vt(w, text, len);
    if (mapped < 0) goto oom;
    if (mapped) {
        text = w->t;
        len = w->tlen;
    }
    w->n_cuts = 0;
    if (grow((void **)&w->cuts, &w->cap_cuts, 1, sizeof(size_t)) < 0) goto oom;
    w->cuts[w->n_cuts++] = len;
    for (int r = 0; r < b->n_re; r++) {
        w->n_cuts2 = 0;
        size_t start = 0;
        for (size_t c = 0; c < w->n_cuts; c++) {
            size_t end = w->cuts[c], pos = 0, n = end - start;
            const char *s = text + start;
            while (pos < n) {
                int m = match_at(w, b->re[r], s, n, pos, err);
                if (m < 0) return m;
                if (m == 0) break;
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
                size_t ms = ov[0], me = ov[1];
                if (me <= ms) { /* no pattern matches empty; guard anyway */
                    pos = ms + 1;
                    continue;
                }
                if (ms > pos && cut_push(w, start + ms) < 0) goto oom;
                if (cut_push(w, start + me) < 0) goto oom;
                pos = me;
            }
            if (pos < n && cut_push(w, end) < 0) goto oom;
            start = end;
        }
        size_t *t = w->cuts, tc = w->cap_cuts;
        w->cuts = w->cuts2;
        w->cap_cuts = w->cap_cuts2;
        w->n_cuts = w->n_cuts2;
        w->cuts2 = t;
        w->cap_cuts2 = tc;
    }
    if (mapped)
        for (size_t c = 0; c < w->n_cuts; c++)
            w->cuts[c] = w->tmap[w->cuts[c]];
    return 0;
oom:
    return ol_err_set(err, OL_ENOMEM, "out of memory tokenizing");
}

static bool bigram_before(const struct bpe_bigram *a, const struct bpe_bigram *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static int heap_push(struct bpe_work *w, struct bpe_bigram b) {
    if (grow((void **)&w->heap, &w->cap_heap, w->n_heap + 1, sizeof(*w->heap)) < 0)
        return OL_ENOMEM;
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bigram_before(&b, &w->heap[parent])) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = b;
    return 0;
}

static struct bpe_bigram heap_pop(struct bpe_work *w) {
    struct bpe_bigram top = w->heap[0], last = w->heap[--w->n_heap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->n_heap) break;
        if (c + 1 < w->n_heap && bigram_before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!bigram_before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->n_heap) w->heap[i] = last;
    return top;
}

static int add_bigram(const struct tok_bpe *b, struct bpe_work *w, int left, int right) {
    if (left < 0 || right < 0) return 0;
    const struct bpe_sym *l = &w->syms[left], *r = &w->syms[right];
    int rank = merge_rank(b, w->m + l->off, l->n, w->m + r->off, r->n);
    if (rank < 0) return 0;
    return heap_push(w, (struct bpe_bigram){left, right, rank, l->n + r->n});
}

static int emit(const struct tok_vocab *v, const char *s, size_t n, struct tok_ids *out) {
    int32_t id = tok_find(v, s, n);
    if (id >= 0) return tok_ids_push(out, id);
    /* llama.cpp's fallback: each byte of the mapped text that is a token by itself. */
    for (size_t i = 0; i < n; i++) {
        id = tok_find(v, s + i, 1);
        if (id >= 0 && tok_ids_push(out, id) < 0) return OL_ENOMEM;
    }
    return 0;
}

static int encode_word(const struct tok_vocab *v, struct bpe_work *w, const uint8_t *word,
                       size_t len, struct tok_ids *out) {
    const struct tok_bpe *b = v->bpe;
    if (grow((void **)&w->m, &w->cap_m, 2 * len, 1) < 0 ||
        grow((void **)&w->syms, &w->cap_syms, len, sizeof(*w->syms)) < 0)
        return OL_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        w->syms[i] = (struct bpe_sym){(int)i - 1, i + 1 == len ? -1 : (int)i + 1, (uint32_t)n,
                                      b->map_len[word[i]]};
        memcpy(w->m + n, b->map[word[i]], b->map_len[word[i]]);
        n += b->map_len[word[i]];
    }
    if (v->ignore_merges) {
        int32_t id = tok_find(v, w->m, n);
        if (id >= 0) return tok_ids_push(out, id);
    }
    w->n_heap = 0;
    for (size_t i = 1; i < len; i++)
        if (add_bigram(b, w, (int)i - 1, (int)i) < 0) return OL_ENOMEM;
    while (w->n_heap) {
        struct bpe_bigram g = heap_pop(w);
        struct bpe_sym *l = &w->syms[g.left], *r = &w->syms[g.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != g.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) w->syms[r->next].prev = g.left;
        if (add_bigram(b, w, l->prev, g.left) < 0 || add_bigram(b, w, g.left, l->next) < 0)
            return OL_ENOMEM;
    }
    for (int i = 0; i >= 0; i = w->syms[i].next)
        if (emit(v, w->m + w->syms[i].off, w->syms[i].n, out) < 0) return OL_ENOMEM;
    return 0;
}

int tok_bpe_encode(const struct tok_vocab *v, const char *text, size_t len, struct tok_ids *out,
                   struct ol_err *err) {
    const struct tok_bpe *b = v->bpe;
    struct bpe_work w = {0};
    int rc = 0;
    if (!len) return 0;
    w.md = pcre2_match_data_create(16, NULL);
    if (!w.md) {
        rc = ol_err_set(err, OL_ENOMEM, "out of memory tokenizing");
        goto out;
    }
    rc = split_words(b, &w, text, len, err);
    size_t start = 0;
    for (size_t c = 0; rc == 0 && c < w.n_cuts; c++) {
        size_t end = w.cuts[c];
        if (end > start) rc = encode_word(v, &w, (const uint8_t *)text + start, end - start, out);
        if (rc < 0) rc = ol_err_set(err, rc, "out of memory tokenizing");
        start = end;
    }
out:
    free(w.t);
    free(w.tmap);
    free(w.cuts);
    free(w.cuts2);
    free(w.m);
    free(w.syms);
    free(w.heap);
    pcre2_match_data_free(w.md);
    pcre2_match_context_free(w.mctx);
    pcre2_jit_stack_free(w.jstack);
    return rc;
}
