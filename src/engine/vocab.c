/* The engine API's tokenizer calls: thin wrappers over tok.h on the model's vocabulary. */
#include "engine/engine.h"

#include <string.h>

#include "engine/model.h"
#include "engine/tok.h"

int eng_n_vocab(const struct eng_model *m) { return tok_n_vocab(m->vocab); }

eng_token eng_token_bos(const struct eng_model *m) { return tok_bos(m->vocab); }

eng_token eng_token_eos(const struct eng_model *m) { return tok_eos(m->vocab); }

bool eng_token_is_eog(const struct eng_model *m, eng_token t) { return tok_is_eog(m->vocab, t); }

int eng_tokenize(const struct eng_model *m, const char *text, size_t len, bool add_special,
                 bool parse_special, eng_token *out, int cap, struct ol_err *err) {
    struct tok_ids ids = {0};
    int rc = tok_encode(m->vocab, text, len, add_special, parse_special, &ids, err);
    if (rc < 0) {
        tok_ids_free(&ids);
        return rc;
    }
    if (ids.n > (size_t)INT32_MAX) {
        tok_ids_free(&ids);
        return ol_err_set(err, OL_EINVAL, "text too long to tokenize");
    }
    if (out && cap > 0) memcpy(out, ids.data, OL_MIN(ids.n, (size_t)cap) * sizeof(*out));
    int n = (int)ids.n;
    tok_ids_free(&ids);
    return n;
}

int eng_detokenize(const struct eng_model *m, const eng_token *ids, int n, bool render_special,
                   struct ol_buf *out) {
    if (n < 0) return OL_EINVAL;
    return tok_decode(m->vocab, ids, (size_t)n, render_special, out);
}

int eng_token_piece(const struct eng_model *m, eng_token t, char *buf, size_t cap) {
    return tok_piece(m->vocab, t, false, buf, cap);
}
