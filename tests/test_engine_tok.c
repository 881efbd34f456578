/* Tokenizer tests: llama.cpp's test vectors (ggml-vocab-*.gguf + .inp/.out, read as
 * test-tokenizer-0 does: no BOS/EOS, no special parsing), round trips, Llama 3 from HF
 * encoder.json + vocab.bpe, special tokens, BOS/EOS/EOG, streaming, vocab-only files, hostile
 * metadata, and the time to tokenize war-and-peace.txt. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "engine/gguf.h"
#include "engine/tok.h"

#include "check.h"

#define VOCAB_DIR "../shared/models/ggml-vocab/" /* as SHARED(), for string pasting */
#define SEP "\n__ggml_vocab_test__\n"

static char *read_all(const char *path, size_t *len) {
    struct ol_err err = {0};
    char *data = NULL;
    if (ol_file_read(path, (size_t)64 << 20, &data, len, &err) < 0) {
        fprintf(stderr, "FAIL: cannot read %s: %s\n", path, err.msg);
        CHECK(!"missing test file");
        return NULL;
    }
    return data;
}

static struct tok_vocab *load_vocab(const char *path) {
    struct gguf g = {0};
    struct ol_err err = {0};
    if (gguf_open(&g, path, &err) < 0) {
        fprintf(stderr, "FAIL: cannot open %s: %s\n", path, err.msg);
        CHECK(!"missing vocab file");
        return NULL;
    }
    int64_t t0 = ol_time_ns();
    struct tok_vocab *v = tok_vocab_from_gguf(&g, &err);
    int64_t t1 = ol_time_ns();
    gguf_close(&g); /* the vocab must not depend on the mapping */
    if (!v) {
        fprintf(stderr, "FAIL: %s: %s\n", path, err.msg);
        CHECK(!"vocab failed to load");
        return NULL;
    }
    fprintf(stderr, "  loaded %s: %d tokens in %.1f ms\n", path, tok_n_vocab(v),
            (double)(t1 - t0) / 1e6);
    return v;
}

static void print_ids(const char *what, const int32_t *ids, size_t n) {
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

/* Parses one .out line of space-separated ids. */
static size_t parse_ids(const char *s, size_t len, int32_t *out, size_t cap) {
    size_t n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && s[i] == ' ')
            i++;
        if (i >= len) break;
        long x = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            x = x * 10 + (s[i++] - '0');
        if (n < cap) out[n] = (int32_t)x;
        n++;
        while (i < len && s[i] != ' ')
            i++;
    }
    return n;
}

/* Runs the .inp/.out vectors against v; `lossless`: decoding must give the input back. */
static void run_vectors(const char *name, const struct tok_vocab *v, const char *inp_path,
                        const char *out_path, bool lossless) {
    size_t inp_len, out_len;
    char *inp = read_all(inp_path, &inp_len);
    char *outs = read_all(out_path, &out_len);
    if (!v || !inp || !outs) goto done;
    int n_tests = 0, n_fail = 0, n_rt_fail = 0;
    const char *p = inp, *end = inp + inp_len;
    const char *line = outs, *oend = outs + out_len;
    int32_t expect[4096];
    while (p < end) {
        const char *sep = memmem(p, (size_t)(end - p), SEP, strlen(SEP));
        const char *tend = sep ? sep : end;
        size_t tlen = (size_t)(tend - p);
        const char *nl = memchr(line, '\n', (size_t)(oend - line));
        const char *lend = nl ? nl : oend;
        if (line >= oend) {
            fprintf(stderr, "  %s: fewer expected lines than inputs\n", name);
            CHECK(!"vector count mismatch");
            break;
        }
        size_t n_exp = parse_ids(line, (size_t)(lend - line), expect, OL_ARRAY_LEN(expect));
        CHECK(n_exp <= OL_ARRAY_LEN(expect));

        struct tok_ids ids = {0};
        struct ol_err err = {0};
        int rc = tok_encode(v, p, tlen, false, false, &ids, &err);
        CHECK(rc >= 0);
        bool ok = rc >= 0 && ids.n == n_exp &&
                  (n_exp == 0 || !memcmp(ids.data, expect, n_exp * sizeof(*expect)));
        if (!ok) {
            n_fail++;
            fprintf(stderr, "  %s: test %d '%.*s' differs\n", name, n_tests, (int)tlen, p);
            print_ids("expected", expect, n_exp);
            print_ids("got     ", ids.data, ids.n);
        }
        CHECK(ok);
        if (lossless && rc >= 0) {
            struct ol_buf dec = {0};
            CHECK(tok_decode(v, ids.data, ids.n, false, &dec) >= 0);
            bool same = dec.len == tlen && (tlen == 0 || !memcmp(dec.data, p, tlen));
            if (!same) {
                n_rt_fail++;
                fprintf(stderr, "  %s: test %d round trip '%.*s' -> '%.*s'\n", name, n_tests,
                        (int)tlen, p, (int)dec.len, dec.data ? dec.data : "");
            }
            CHECK(same);
            ol_buf_free(&dec);
        }
        tok_ids_free(&ids);
        n_tests++;
        line = nl ? nl + 1 : oend;
        p = sep ? sep + strlen(SEP) : end;
    }
    if (line < oend) {
        fprintf(stderr, "  %s: more expected lines than inputs\n", name);
        CHECK(!"vector count mismatch");
    }
    fprintf(stderr, "  %s: %d vectors, %d differ, %d round trips differ\n", name, n_tests, n_fail,
            n_rt_fail);
    CHECK(n_tests >= 40);
done:
    free(inp);
    free(outs);
}

static void test_gguf_vectors(void) {
    static const struct {
        const char *name;
        bool lossless;
    } vocabs[] = {
        {"bert-bge", false},    {"dbrx", true},   {"deepseek-coder", true},
        {"deepseek-llm", true}, {"falcon", true}, {"gpt-2", true},
        {"llama-spm", true},    {"qwen2", true},  {"refact", true},
    };
    for (size_t i = 0; i < OL_ARRAY_LEN(vocabs); i++) {
        char path[256], inp[280], out[280];
        snprintf(path, sizeof(path), VOCAB_DIR "ggml-vocab-%s.gguf", vocabs[i].name);
        snprintf(inp, sizeof(inp), "%s.inp", path);
        snprintf(out, sizeof(out), "%s.out", path);
        struct tok_vocab *v = load_vocab(path);
        run_vectors(vocabs[i].name, v, inp, out, vocabs[i].lossless);
        tok_vocab_free(v);
    }
}

/* ---- Llama 3 from encoder.json + vocab.bpe ---- */

struct strs {
    struct gguf_str *a;
    size_t n, cap;
};

static void strs_push(struct strs *s, const char *p, size_t len) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->a = realloc(s->a, s->cap * sizeof(*s->a));
        OL_ASSERT(s->a);
    }
    s->a[s->n].ptr = p;
    s->a[s->n].len = len;
    s->n++;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static uint32_t hex4(const char *s) {
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        x = x * 16 + (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return x;
}

/* Parses {"token": id, ...} in place (strings are unescaped into the same buffer). Returns
 * the tokens indexed by id in *out, or false on a syntax error. */
static bool parse_encoder(char *s, size_t len, struct strs *out) {
    size_t i = 0, n_pairs = 0;
    struct strs toks = {0};
    int64_t *ids = NULL;
    size_t cap_ids = 0;
    bool ok = false;
#define WS()                                                                                       \
    while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))               \
    i++
    WS();
    if (i >= len || s[i++] != '{') goto out;
    for (;;) {
        WS();
        if (i < len && s[i] == '}') break;
        if (i >= len || s[i++] != '"') goto out;
        char *o = s + i, *start = o;
        while (i < len && s[i] != '"') {
            if (s[i] != '\\') {
                *o++ = s[i++];
                continue;
            }
            if (++i >= len) goto out;
            char e = s[i++];
            switch (e) {
            case 'n':
                *o++ = '\n';
                break;
            case 't':
                *o++ = '\t';
                break;
            case 'r':
                *o++ = '\r';
                break;
            case 'b':
                *o++ = '\b';
                break;
            case 'f':
                *o++ = '\f';
                break;
            case 'u': {
                if (i + 4 > len) goto out;
                uint32_t cp = hex4(s + i);
                i += 4;
                if (cp >= 0xd800 && cp < 0xdc00 && i + 6 <= len && s[i] == '\\' &&
                    s[i + 1] == 'u') {
                    uint32_t lo = hex4(s + i + 2);
                    i += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                o += put_utf8(o, cp);
                break;
            }
            default:
                *o++ = e;
                break;
            }
        }
        if (i >= len) goto out;
        i++; /* closing quote */
        size_t tlen = (size_t)(o - start);
        WS();
        if (i >= len || s[i++] != ':') goto out;
        WS();
        int64_t id = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            id = id * 10 + (s[i++] - '0');
        strs_push(&toks, start, tlen);
        if (n_pairs == cap_ids) {
            cap_ids = cap_ids ? cap_ids * 2 : 1024;
            ids = realloc(ids, cap_ids * sizeof(*ids));
            OL_ASSERT(ids);
        }
        ids[n_pairs++] = id;
        WS();
        if (i < len && s[i] == ',') {
            i++;
            continue;
        }
        WS();
        if (i < len && s[i] == '}') break;
        goto out;
    }
#undef WS
    out->a = calloc(n_pairs ? n_pairs : 1, sizeof(*out->a));
    out->n = n_pairs;
    for (size_t k = 0; k < n_pairs; k++) {
        if (ids[k] < 0 || (size_t)ids[k] >= n_pairs || out->a[ids[k]].ptr) goto out;
        out->a[ids[k]] = toks.a[k];
    }
    ok = true;
out:
    free(toks.a);
    free(ids);
    return ok;
}

static struct tok_vocab *load_llama3(char **keep1, char **keep2) {
    size_t elen, mlen;
    char *enc = read_all(SHARED("models/ollama-tokenizer-testdata/llama3.2/encoder.json"), &elen);
    char *mer = read_all(SHARED("models/ollama-tokenizer-testdata/llama3.2/vocab.bpe"), &mlen);
    *keep1 = enc;
    *keep2 = mer;
    if (!enc || !mer) return NULL;
    struct strs toks = {0}, merges = {0};
    bool ok = parse_encoder(enc, elen, &toks);
    CHECK(ok);
    CHECK_EQ(toks.n, 128000);
    for (char *p = mer, *end = mer + mlen; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        size_t l = (size_t)(e - p);
        if (l && p[l - 1] == '\r') l--;
        if (l && !(l >= 8 && !memcmp(p, "#version", 8))) strs_push(&merges, p, l);
        p = nl ? nl + 1 : end;
    }
    CHECK_EQ(merges.n, 280147);
    struct ol_err err = {0};
    int64_t t0 = ol_time_ns();
    struct tok_vocab *v =
        ok ? tok_vocab_new_bpe("llama-bpe", toks.a, toks.n, merges.a, merges.n, &err) : NULL;
    fprintf(stderr, "  built llama3 vocab in %.1f ms\n", (double)(ol_time_ns() - t0) / 1e6);
    if (!v) fprintf(stderr, "FAIL: llama3 vocab: %s\n", err.msg);
    CHECK(v != NULL);
    free(toks.a);
    free(merges.a);
    return v;
}

/* ---- targeted checks ---- */

static int32_t encode1(const struct tok_vocab *v, const char *s) {
    struct tok_ids ids = {0};
    int rc = tok_encode(v, s, strlen(s), false, false, &ids, NULL);
    int32_t id = rc == 1 ? ids.data[0] : -1;
    tok_ids_free(&ids);
    return id;
}

static void check_encode(const struct tok_vocab *v, const char *s, bool add_special,
                         bool parse_special, const int32_t *expect, size_t n) {
    struct tok_ids ids = {0};
    int rc = tok_encode(v, s, strlen(s), add_special, parse_special, &ids, NULL);
    bool ok =
        rc == (int)n && ids.n == n && (n == 0 || !memcmp(ids.data, expect, n * sizeof(*expect)));
    if (!ok) {
        fprintf(stderr, "  encode '%s' (add_special %d, parse_special %d):\n", s, add_special,
                parse_special);
        print_ids("expected", expect, n);
        print_ids("got     ", ids.data, ids.n);
    }
    CHECK(ok);
    tok_ids_free(&ids);
}

struct encode_job {
    const struct tok_vocab *v;
    const char *text;
    struct tok_ids ids;
    int rc;
};

static void *encode_thread(void *arg) {
    struct encode_job *j = arg;
    for (int k = 0; k < 20 && j->rc >= 0; k++) {
        j->ids.n = 0;
        j->rc = tok_encode(j->v, j->text, strlen(j->text), true, true, &j->ids, NULL);
    }
    return NULL;
}

/* A vocab is shared read-only by threads (run under MODE=tsan too). */
static void test_threads(const struct tok_vocab *v) {
    const char *text = "<|im_start|>user\nHello, y'all! \xe6\x88\x91\xe6\x83\xb3 \xf0\x9f\xa6\x99 "
                       "3333    x\n<|im_end|>";
    struct encode_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct encode_job){v, text, {0}, 0};
        CHECK(pthread_create(&th[i], NULL, encode_thread, &jobs[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].rc > 0);
        CHECK(jobs[i].ids.n == jobs[0].ids.n &&
              !memcmp(jobs[i].ids.data, jobs[0].ids.data, jobs[0].ids.n * sizeof(int32_t)));
    }
    for (int i = 0; i < 4; i++)
        tok_ids_free(&jobs[i].ids);
}

static void test_qwen2_specials(void) {
    struct tok_vocab *v = load_vocab(VOCAB_DIR "ggml-vocab-qwen2.gguf");
    if (!v) return;
    int32_t im_start = 151644, im_end = 151645, user = encode1(v, "user");
    CHECK(user >= 0);
    int32_t nl = encode1(v, "\n");
    CHECK(nl >= 0);
    check_encode(v, "<|im_start|>user", false, true, (int32_t[]){im_start, user}, 2);
    check_encode(v, "<|im_start|>user\n<|im_end|>", false, true,
                 (int32_t[]){im_start, user, nl, im_end}, 4);
    /* Without parse_special the text is ordinary text. */
    struct tok_ids ids = {0};
    CHECK(tok_encode(v, "<|im_start|>user", 16, false, false, &ids, NULL) > 2);
    for (size_t i = 0; i < ids.n; i++)
        CHECK(ids.data[i] != im_start);
    /* ... and decodes back to the same text. */
    struct ol_buf dec = {0};
    CHECK(tok_decode(v, ids.data, ids.n, false, &dec) == 16);
    CHECK(dec.data && !memcmp(dec.data, "<|im_start|>user", 16));
    ol_buf_free(&dec);
    tok_ids_free(&ids);
    /* User-defined tokens are split even without parse_special. */
    check_encode(v, "<tool_call>", false, false, (int32_t[]){151657}, 1);
    /* Control tokens render only on request. */
    char buf[32];
    CHECK_EQ(tok_piece(v, im_end, false, buf, sizeof(buf)), 0);
    CHECK_EQ(tok_piece(v, im_end, true, buf, sizeof(buf)), 10);
    CHECK(!memcmp(buf, "<|im_end|>", 10));
    CHECK_EQ(tok_piece(v, -1, true, buf, sizeof(buf)), OL_EINVAL);
    CHECK_EQ(tok_piece(v, tok_n_vocab(v), true, buf, sizeof(buf)), OL_EINVAL);
    /* EOG: eos (<|im_end|>) and <|endoftext|>; BOS not added for qwen2. */
    CHECK_EQ(tok_eos(v), im_end);
    CHECK(tok_is_eog(v, im_end));
    CHECK(tok_is_eog(v, 151643));
    CHECK(!tok_is_eog(v, im_start));
    CHECK(!tok_is_eog(v, user));
    CHECK(!tok_add_bos(v));
    check_encode(v, "user", true, false, (int32_t[]){user}, 1);
    struct gguf_str t = tok_token_text(v, im_start);
    CHECK(t.len == 12 && !memcmp(t.ptr, "<|im_start|>", 12));
    test_threads(v);
    tok_vocab_free(v);
}

static void test_spm_bos_and_stream(void) {
    struct tok_vocab *v = load_vocab(VOCAB_DIR "ggml-vocab-llama-spm.gguf");
    if (!v) return;
    CHECK_EQ(tok_bos(v), 1);
    CHECK_EQ(tok_eos(v), 2);
    CHECK_EQ(tok_unk(v), 0);
    CHECK(tok_add_bos(v));
    CHECK(!tok_add_eos(v));
    CHECK(tok_is_eog(v, 2));
    CHECK(!tok_is_eog(v, 1));
    CHECK(tok_is_control(v, 1));
    check_encode(v, "Hello world", true, false, (int32_t[]){1, 15043, 3186}, 3);
    check_encode(v, "", true, false, (int32_t[]){1}, 1);
    check_encode(v, "", false, false, NULL, 0);
    /* parse_special: "<s>" is BOS; the text after a special token gets a space prefix. */
    check_encode(v, "<s>Hello", false, true, (int32_t[]){1, 15043}, 2);
    check_encode(v, "Hi<s>Hello</s>", false, true, (int32_t[]){6324, 1, 15043, 2}, 4);

    /* Whole-sequence decode drops the prefix space; with BOS too. */
    struct ol_buf dec = {0};
    CHECK(tok_decode(v, (int32_t[]){1, 15043, 3186}, 3, false, &dec) == 11);
    CHECK(dec.data && !strcmp(dec.data, "Hello world"));
    ol_buf_free(&dec);
    CHECK(tok_decode(v, (int32_t[]){1, 15043}, 2, true, &dec) == 9); /* as llama.cpp */
    CHECK(dec.data && !strcmp(dec.data, "<s> Hello"));
    ol_buf_free(&dec);
    CHECK_EQ(tok_decode(v, (int32_t[]){15043, 99999}, 2, false, &dec), OL_EINVAL);
    CHECK_EQ(dec.len, 0);
    ol_buf_free(&dec);

    /* Streaming: "🦙" is four byte tokens; nothing comes out until the last. */
    struct tok_stream s;
    struct ol_buf out = {0};
    tok_stream_init(&s, v, false);
    CHECK_EQ(tok_stream_push(&s, 15043, &out), 6); /* " Hello": no space removal */
    CHECK_EQ(tok_stream_push(&s, 29871, &out), 1); /* " " */
    CHECK_EQ(tok_stream_push(&s, 243, &out), 0);   /* <0xF0> */
    CHECK_EQ(tok_stream_push(&s, 162, &out), 0);
    CHECK_EQ(tok_stream_push(&s, 169, &out), 0);
    CHECK_EQ(out.len, 7);
    CHECK_EQ(tok_stream_push(&s, 156, &out), 4);
    CHECK(out.data && !strcmp(out.data, " Hello \xf0\x9f\xa6\x99"));
    CHECK_EQ(tok_stream_push(&s, 2, &out), 0); /* </s> renders empty */
    CHECK_EQ(tok_stream_push(&s, 243, &out), 0);
    CHECK_EQ(tok_stream_flush(&s, &out), 1); /* an unfinished character at the end */
    CHECK_EQ(out.len, 12);
    CHECK_EQ(tok_stream_push(&s, -3, &out), OL_EINVAL);
    ol_buf_free(&out);
    tok_vocab_free(v);
}

static void test_bpe_stream(const struct tok_vocab *v) {
    /* "é" as a byte-level BPE pair split over two tokens: 0xC3 then 0xA9 */
    int32_t c3 = encode1(v, "\xc3"), a9 = encode1(v, "\xa9");
    CHECK(c3 >= 0 && a9 >= 0);
    struct tok_stream s;
    struct ol_buf out = {0};
    tok_stream_init(&s, v, false);
    CHECK_EQ(tok_stream_push(&s, c3, &out), 0);
    CHECK_EQ(tok_stream_push(&s, a9, &out), 2);
    CHECK(out.data && !strcmp(out.data, "\xc3\xa9"));
    ol_buf_free(&out);
    /* Invalid UTF-8 is lossless in byte-level BPE. */
    const char bad[] = "a\xff\xfe b\xc3(";
    struct tok_ids ids = {0};
    CHECK(tok_encode(v, bad, sizeof(bad) - 1, false, false, &ids, NULL) > 0);
    CHECK(tok_decode(v, ids.data, ids.n, false, &out) == (int)sizeof(bad) - 1);
    CHECK(out.data && !memcmp(out.data, bad, sizeof(bad) - 1));
    ol_buf_free(&out);
    tok_ids_free(&ids);
}

static void test_vocab_only_files(void) {
    static const char *const names[] = {"baichuan", "gpt-neox"};
    for (size_t i = 0; i < OL_ARRAY_LEN(names); i++) {
        char path[256];
        snprintf(path, sizeof(path), VOCAB_DIR "ggml-vocab-%s.gguf", names[i]);
        struct tok_vocab *v = load_vocab(path);
        if (!v) continue;
        const char *text = "Hello world, this is a   test.\n\t<s> 🦙 <|endoftext|>";
        struct tok_ids ids = {0};
        CHECK(tok_encode(v, text, strlen(text), true, true, &ids, NULL) > 0);
        struct ol_buf dec = {0};
        CHECK(tok_decode(v, ids.data, ids.n, true, &dec) >= 0);
        ol_buf_free(&dec);
        tok_ids_free(&ids);
        CHECK(tok_eos(v) >= 0 && tok_is_eog(v, tok_eos(v)));
        tok_vocab_free(v);
    }
    /* gpt-neox has no tokenizer.ggml.pre (the default pre-tokenizer) and user-defined
     * tokens for runs of spaces, split even without parse_special. */
    struct tok_vocab *v = load_vocab(VOCAB_DIR "ggml-vocab-gpt-neox.gguf");
    if (v) {
        check_encode(v, "a    b", false, false,
                     (int32_t[]){encode1(v, "a"), 50274, encode1(v, "b")}, 3);
        tok_vocab_free(v);
    }
}

/* ---- hostile metadata ---- */

enum hostile {
    H_EMPTY,
    H_NO_TOKENS,
    H_TOKENS_NOT_STRINGS,
    H_SCORES_SHORT,
    H_TYPES_LONG,
    H_TYPES_FLOAT,
    H_BOS_RANGE,
    H_EOS_NEGATIVE,
    H_UNKNOWN_MODEL,
    H_NO_MERGES,
    H_UNKNOWN_PRE,
    H_MODEL_NOT_STRING,
    H_COUNT
};

static struct gguf_writer *tiny_writer(const char *model, int n, bool scores, bool types) {
    struct gguf_writer *w = gguf_writer_new();
    OL_ASSERT(w);
    static const char *const texts[] = {"<unk>", "<s>", "</s>", "a", "b", "ab", "\xe2\x96\x81"};
    struct gguf_str t[7];
    float sc[7];
    int32_t ty[7];
    for (int i = 0; i < n && i < 7; i++) {
        t[i] = (struct gguf_str){texts[i], strlen(texts[i])};
        sc[i] = (float)-i;
        ty[i] = i == 0 ? TOK_TYPE_UNKNOWN : i < 3 ? TOK_TYPE_CONTROL : TOK_TYPE_NORMAL;
    }
    if (model) gguf_writer_set_str(w, "tokenizer.ggml.model", model);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", t, (uint64_t)n);
    if (scores) gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, sc, (uint64_t)n);
    if (types)
        gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, ty, (uint64_t)n);
    return w;
}

static struct tok_vocab *vocab_from_writer(struct gguf_writer *w, struct ol_err *err) {
    uint8_t *mem = NULL;
    size_t len = 0;
    struct gguf g = {0};
    struct tok_vocab *v = NULL;
    if (gguf_writer_to_memory(w, &mem, &len, err) == 0 &&
        gguf_parse_memory(&g, mem, len, err) == 0) {
        v = tok_vocab_from_gguf(&g, err);
        gguf_close(&g);
    } else {
        CHECK(!"could not build the test GGUF");
    }
    free(mem);
    gguf_writer_free(w);
    return v;
}

static struct gguf_writer *hostile_writer(enum hostile h) {
    struct gguf_writer *w;
    switch (h) {
    case H_EMPTY:
        return tiny_writer("llama", 0, true, true);
    case H_NO_TOKENS:
        w = gguf_writer_new();
        gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
        return w;
    case H_TOKENS_NOT_STRINGS:
        w = gguf_writer_new();
        gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
        gguf_writer_set_arr(w, "tokenizer.ggml.tokens", GGUF_TYPE_INT32, (int32_t[]){1, 2}, 2);
        return w;
    case H_SCORES_SHORT:
        w = tiny_writer("llama", 6, false, true);
        gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, (float[]){0, 1}, 2);
        return w;
    case H_TYPES_LONG:
        w = tiny_writer("llama", 6, true, false);
        gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32,
                            (int32_t[]){1, 1, 1, 1, 1, 1, 1, 1}, 8);
        return w;
    case H_TYPES_FLOAT:
        w = tiny_writer("llama", 6, true, false);
        gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_FLOAT32,
                            (float[]){1, 1, 1, 1, 1, 1}, 6);
        return w;
    case H_BOS_RANGE:
        w = tiny_writer("llama", 6, true, true);
        gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 6);
        return w;
    case H_EOS_NEGATIVE:
        w = tiny_writer("llama", 6, true, true);
        gguf_writer_set_i32(w, "tokenizer.ggml.eos_token_id", -5);
        return w;
    case H_UNKNOWN_MODEL:
        return tiny_writer("t9", 6, true, true);
    case H_NO_MERGES:
        return tiny_writer("gpt2", 6, false, true);
    case H_UNKNOWN_PRE:
        w = tiny_writer("gpt2", 6, false, true);
        gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (struct gguf_str[]){{"a b", 3}}, 1);
        gguf_writer_set_str(w, "tokenizer.ggml.pre", "no-such-pre");
        return w;
    case H_MODEL_NOT_STRING:
        w = tiny_writer(NULL, 6, true, true);
        gguf_writer_set_u32(w, "tokenizer.ggml.model", 1);
        return w;
    case H_COUNT:
        break;
    }
    return NULL;
}

static void test_hostile(void) {
    for (int h = 0; h < H_COUNT; h++) {
        struct ol_err err = {0};
        struct tok_vocab *v = vocab_from_writer(hostile_writer((enum hostile)h), &err);
        if (v) fprintf(stderr, "  hostile case %d loaded\n", h);
        CHECK(v == NULL);
        CHECK(err.code < 0 && err.msg[0]);
        tok_vocab_free(v);
    }

    /* Odd but legal vocabs must load and never crash on any input. */
    struct ol_err err = {0};
    struct gguf_writer *w = tiny_writer("llama", 7, true, true);            /* no byte tokens */
    gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 4294967295u); /* "none" */
    gguf_writer_set_u32(w, "tokenizer.ggml.seperator_token_id", 99);        /* ignored */
    struct tok_vocab *v = vocab_from_writer(w, &err);
    CHECK(v != NULL);
    if (v) {
        CHECK_EQ(tok_pad(v), -1);
        /* "ab" merges; "c" and the bad byte have no byte tokens: unknown. */
        check_encode(v, "ab c\xff", false, false, (int32_t[]){6, 5, 6, 0, 0}, 5);
        check_encode(v, "<s>a", true, true, (int32_t[]){1, 1, 6, 3}, 4);
        check_encode(v, "\xe2\x96\x81", false, false, (int32_t[]){6, 6}, 2);
        tok_vocab_free(v);
    }

    /* BPE with a merge line without a space, duplicate and empty tokens. */
    w = tiny_writer("gpt2", 7, false, false);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges",
                            (struct gguf_str[]){{"ab", 2}, {"a b", 3}, {"a b", 3}, {"", 0}}, 4);
    v = vocab_from_writer(w, &err);
    CHECK(v != NULL);
    if (v) {
        check_encode(v, "ab", false, false, (int32_t[]){5}, 1);
        const char junk[] = "\x00\xff zz \xe2\x96\x81\xe2\x96";
        struct tok_ids ids = {0};
        CHECK(tok_encode(v, junk, sizeof(junk) - 1, true, true, &ids, NULL) >= 0);
        tok_ids_free(&ids);
        CHECK_EQ(tok_bos(v), -1);
        tok_vocab_free(v);
    }

    /* Builder: bad arguments and an empty vocab. */
    CHECK(tok_vocab_new_bpe(NULL, NULL, 0, NULL, 0, &err) == NULL);
    CHECK(tok_vocab_new_bpe("no-such-pre", (struct gguf_str[]){{"a", 1}}, 1, NULL, 0, &err) ==
          NULL);
}

/* Every pre-tokenizer llama.cpp names compiles and keeps a byte-level vocab lossless. */
static void test_all_pretokenizers(void) {
    static const char *const pres[] = {
        "default",      "llama3",
        "llama-bpe",    "falcon3",
        "dbrx",         "smaug-bpe",
        "deepseek-llm", "deepseek-coder",
        "deepseek-v3",  "falcon",
        "mpt",          "starcoder",
        "gpt-2",        "roberta-bpe",
        "refact",       "command-r",
        "qwen2",        "deepseek-r1-qwen",
        "stablelm2",    "olmo",
        "poro-chat",    "bloom",
        "chatglm-bpe",  "viking",
        "jais",         "tekken",
        "smollm",       "codeshell",
        "exaone",       "chameleon",
        "minerva-7b",   "megrez",
        "gigachat",     "jina-v2-code",
    };
    /* The 256 byte-level characters as tokens: U+0021..U+007E etc. stand for themselves. */
    char texts[256][3];
    struct gguf_str toks[260];
    for (int b = 0, n = 0; b < 256; b++) {
        bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
        unsigned cp = printable ? (unsigned)b : 0x100 + (unsigned)n++;
        size_t l = put_utf8(texts[b], cp);
        toks[b] = (struct gguf_str){texts[b], l};
    }
    struct gguf_str merges[] = {{"h e", 3}, {"l l", 3}, {"he ll", 5}, {"\xc4\xa0 w", 4}};
    static const char *const merged[] = {"he", "ll", "hell", "\xc4\xa0w"}; /* tokens too */
    for (int i = 0; i < 4; i++)
        toks[256 + i] = (struct gguf_str){merged[i], strlen(merged[i])};
    const char *text =
        "Hello  world, y'all!\n\n\t 3333 \xe4\xbd\xa0\xe5\xa5\xbd\xe3\x80\x80\xea\xb0\x80 "
        "<sentinel:1> IMGIMGAZ \xf0\x9f\xa6\x99\xff";
    for (size_t i = 0; i < OL_ARRAY_LEN(pres); i++) {
        struct ol_err err = {0};
        struct tok_vocab *v = tok_vocab_new_bpe(pres[i], toks, 260, merges, 4, &err);
        if (!v) fprintf(stderr, "  pre %s: %s\n", pres[i], err.msg);
        CHECK(v != NULL);
        if (!v) continue;
        struct tok_ids ids = {0};
        struct ol_buf dec = {0};
        CHECK(tok_encode(v, text, strlen(text), false, false, &ids, &err) > 0);
        CHECK(tok_decode(v, ids.data, ids.n, false, &dec) == (int)strlen(text));
        bool same = dec.data && !strcmp(dec.data, text);
        if (!same)
            fprintf(stderr, "  pre %s: round trip differs: %zu ids, '%s'\n", pres[i], ids.n,
                    dec.data ? dec.data : "");
        CHECK(same);
        ol_buf_free(&dec);
        tok_ids_free(&ids);
        tok_vocab_free(v);
    }
}

/* ---- speed ---- */

static void test_war_and_peace(const struct tok_vocab *llama3) {
    size_t len;
    char *text = read_all(SHARED("models/ollama-tokenizer-testdata/war-and-peace.txt"), &len);
    if (!text) return;
    struct tok_vocab *spm = load_vocab(VOCAB_DIR "ggml-vocab-llama-spm.gguf");
    const struct tok_vocab *vs[] = {llama3, spm};
    const char *names[] = {"llama3 BPE", "llama SPM"};
    for (int k = 0; k < 2; k++) {
        if (!vs[k]) continue;
        struct tok_ids ids = {0};
        int64_t t0 = ol_time_ns();
        int n = tok_encode(vs[k], text, len, false, false, &ids, NULL);
        int64_t t1 = ol_time_ns();
        struct ol_buf dec = {0};
        CHECK(n > 0);
        CHECK(tok_decode(vs[k], ids.data, ids.n, false, &dec) == (int)len);
        CHECK(dec.len == len && !memcmp(dec.data, text, len));
        fprintf(stderr, "  war-and-peace, %s: %zu bytes -> %d tokens in %.0f ms\n", names[k], len,
                n, (double)(t1 - t0) / 1e6);
        ol_buf_free(&dec);
        tok_ids_free(&ids);
    }
    tok_vocab_free(spm);
    free(text);
}

int main(void) {
    test_gguf_vectors();

    char *k1 = NULL, *k2 = NULL;
    struct tok_vocab *llama3 = load_llama3(&k1, &k2);
    run_vectors("llama-bpe (encoder.json)", llama3,
                VOCAB_DIR "vectors-only/ggml-vocab-llama-bpe.gguf.inp",
                VOCAB_DIR "vectors-only/ggml-vocab-llama-bpe.gguf.out", true);
    if (llama3) {
        CHECK(!tok_add_bos(llama3)); /* llama-bpe asks for BOS, but this vocab has none */
        test_bpe_stream(llama3);
    }

    test_qwen2_specials();
    test_spm_bos_and_stream();
    test_vocab_only_files();
    test_hostile();
    test_all_pretokenizers();
    test_war_and_peace(llama3);
    tok_vocab_free(llama3);
    free(k1);
    free(k2);
    return check_exit("test_engine_tok");
}
