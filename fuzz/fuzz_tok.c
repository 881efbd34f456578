/* libFuzzer target for the tokenizers. The first input byte picks the vocab (llama SPM, qwen2
 * byte-level BPE, BERT WordPiece, deepseek-llm BPE) and the flags; the rest is the text. Each
 * input is tokenized (ids must be in range), decoded whole and streamed. Byte-level BPE must
 * give the text back exactly (qwen2 for any bytes; deepseek has no byte tokens for the bytes
 * that never occur in UTF-8, so only for valid UTF-8), and so must SPM without special tokens
 * on valid UTF-8 (a literal U+2581 reads back as a space, and an invalid lead byte can swallow
 * part of an escaped space, exactly as in llama.cpp). The vocabs load once, from ../shared as
 * the tests do; a missing file aborts, so a replay without them fails loudly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "engine/gguf.h"
#include "engine/tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_VOCAB_DIR "../shared/models/ggml-vocab/"

static const char *const fuzz_vocab_files[] = {
    FUZZ_VOCAB_DIR "ggml-vocab-llama-spm.gguf",
    FUZZ_VOCAB_DIR "ggml-vocab-qwen2.gguf",
    FUZZ_VOCAB_DIR "ggml-vocab-bert-bge.gguf",
    FUZZ_VOCAB_DIR "ggml-vocab-deepseek-llm.gguf",
};
#define FUZZ_N_VOCABS (sizeof(fuzz_vocab_files) / sizeof(fuzz_vocab_files[0]))

static struct tok_vocab *fuzz_load(const char *path) {
    struct gguf g = {0};
    struct ol_err err = {0};
    if (gguf_open(&g, path, &err) < 0) {
        fprintf(stderr, "fuzz_tok: %s\n", err.msg);
        abort();
    }
    struct tok_vocab *v = tok_vocab_from_gguf(&g, &err);
    gguf_close(&g);
    if (!v) {
        fprintf(stderr, "fuzz_tok: %s: %s\n", path, err.msg);
        abort();
    }
    return v;
}

static void fuzz_check(bool ok, const char *what) {
    if (ok) return;
    fprintf(stderr, "fuzz_tok: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct tok_vocab *vocabs[FUZZ_N_VOCABS]; /* loaded once, never freed */
    if (size < 1 || size > (1u << 20)) return 0;
    uint8_t sel = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    size_t which = sel % FUZZ_N_VOCABS;
    if (!vocabs[which]) vocabs[which] = fuzz_load(fuzz_vocab_files[which]);
    const struct tok_vocab *v = vocabs[which];
    bool add_special = sel & 0x10, parse_special = sel & 0x20;

    struct tok_ids ids = {0};
    int n = tok_encode(v, text, len, add_special, parse_special, &ids, NULL);
    fuzz_check(n >= 0 && (size_t)n == ids.n, "encode failed");
    for (size_t i = 0; i < ids.n; i++)
        fuzz_check(ids.data[i] >= 0 && ids.data[i] < tok_n_vocab(v), "id out of range");

    struct ol_buf whole = {0}, streamed = {0};
    fuzz_check(tok_decode(v, ids.data, ids.n, true, &whole) >= 0, "decode failed");
    struct tok_stream st;
    tok_stream_init(&st, v, true);
    for (size_t i = 0; i < ids.n; i++)
        fuzz_check(tok_stream_push(&st, ids.data[i], &streamed) >= 0, "stream failed");
    fuzz_check(tok_stream_flush(&st, &streamed) >= 0, "flush failed");

    enum tok_model m = tok_vocab_model(v);
    bool valid = ol_utf8_is_valid(text, len);
    bool spm_ok = valid && !memmem(text, len, "\xe2\x96\x81", 3);
    bool bpe_ok = valid || which == 1; /* deepseek has no byte tokens for C0, C1, F5..FF */
    bool lossless = (m == TOK_MODEL_BPE && bpe_ok && !(add_special && tok_add_bos(v))) ||
                    (m == TOK_MODEL_SPM && !add_special && !parse_special && spm_ok);
    if (lossless)
        fuzz_check(whole.len == len && (len == 0 || memcmp(whole.data, text, len) == 0),
                   "round trip differs");
    if (m == TOK_MODEL_BPE)
        fuzz_check(streamed.len == whole.len &&
                       (whole.len == 0 || memcmp(streamed.data, whole.data, whole.len) == 0),
                   "stream differs from whole decode");
    ol_buf_free(&whole);
    ol_buf_free(&streamed);
    tok_ids_free(&ids);
    return 0;
}
