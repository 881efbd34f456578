/* ollama-engine: a developer command line for checking the engine from outside, independent
 * of the server. See README.md ("Engine tool"). Errors go to stderr with exit status 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

static void usage(void) {
    fputs("usage:\n"
          "  ollama-engine tokenize MODEL.gguf [--bos]          < text\n"
          "  ollama-engine detokenize MODEL.gguf                < ids\n"
          "  ollama-engine logits MODEL.gguf IDS.txt OUT.f32 [--threads N] [--one-by-one]\n"
          "  ollama-engine generate MODEL.gguf IDS.txt -n N [--temperature T] [--top-k K]\n"
          "      [--top-p P] [--min-p M] [--typical-p P] [--repeat-penalty R]\n"
          "      [--repeat-last-n N] [--presence-penalty P] [--frequency-penalty F]\n"
          "      [--seed S] [--stop STR]... [--ctx N] [--keep N] [--threads N]\n",
          stderr);
}

static int fail(const struct ol_err *err) {
    fprintf(stderr, "error: %s\n", err->msg);
    return 1;
}

static char *read_stream(FILE *f, size_t *len) {
    struct ol_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (ol_buf_append(&b, chunk, n) < 0) {
            ol_buf_free(&b);
            return NULL;
        }
    if (!b.data && ol_buf_append(&b, "", 0) < 0) return NULL;
    *len = b.len;
    return b.data;
}

/* Parses whitespace-separated ids; returns the count or -1 (message printed). */
static int parse_ids(const char *text, eng_token **out) {
    int cap = 64, n = 0;
    eng_token *ids = malloc((size_t)cap * sizeof(*ids));
    const char *p = text;
    while (ids) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "error: bad token id near \"%.20s\"\n", p);
            free(ids);
            return -1;
        }
        if (n == cap) {
            cap *= 2;
            eng_token *q = realloc(ids, (size_t)cap * sizeof(*ids));
            if (!q) break;
            ids = q;
        }
        ids[n++] = (eng_token)v;
        p = end;
    }
    if (!ids) {
        fputs("error: out of memory\n", stderr);
        return -1;
    }
    *out = ids;
    return n;
}

static int read_ids_file(const char *path, eng_token **ids) {
    struct ol_err err = {0};
    char *text;
    if (ol_file_read(path, 1 << 28, &text, NULL, &err) < 0) {
        fail(&err);
        return -1;
    }
    int n = parse_ids(text, ids);
    free(text);
    return n;
}

static struct eng_model *load(const char *path, bool vocab_only) {
    struct ol_err err = {0};
    struct eng_model_params mp = eng_model_default_params();
    mp.vocab_only = vocab_only;
    struct eng_model *m = eng_model_load(path, &mp, &err);
    if (!m) fail(&err);
    return m;
}

static int cmd_tokenize(int argc, char **argv) {
    if (argc < 1) return usage(), 2;
    bool bos = argc > 1 && strcmp(argv[1], "--bos") == 0;
    struct eng_model *m = load(argv[0], true);
    if (!m) return 1;
    size_t len;
    char *text = read_stream(stdin, &len);
    struct ol_err err = {0};
    int n = text ? eng_tokenize(m, text, len, bos, true, NULL, 0, &err) : -1;
    eng_token *ids = n >= 0 ? malloc(((size_t)n + 1) * sizeof(*ids)) : NULL;
    int rc = 1;
    if (ids && eng_tokenize(m, text, len, bos, true, ids, n, &err) == n) {
        for (int i = 0; i < n; i++)
            printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        rc = 0;
    } else {
        fail(&err);
    }
    free(ids);
    free(text);
    eng_model_free(m);
    return rc;
}

static int cmd_detokenize(int argc, char **argv) {
    if (argc < 1) return usage(), 2;
    struct eng_model *m = load(argv[0], true);
    if (!m) return 1;
    size_t len;
    char *text = read_stream(stdin, &len);
    eng_token *ids = NULL;
    int n = text ? parse_ids(text, &ids) : -1;
    int rc = 1;
    if (n >= 0) {
        int bad = -1;
        for (int i = 0; i < n && bad < 0; i++)
            if (ids[i] >= eng_n_vocab(m)) bad = ids[i];
        struct ol_buf out = {0};
        if (bad >= 0)
            fprintf(stderr, "error: token id %d out of range (vocabulary of %d)\n", bad,
                    eng_n_vocab(m));
        else if (eng_detokenize(m, ids, n, true, &out) >= 0) {
            fwrite(out.data ? out.data : "", 1, out.len, stdout);
            rc = 0;
        }
        ol_buf_free(&out);
    }
    free(ids);
    free(text);
    eng_model_free(m);
    return rc;
}

static int cmd_logits(int argc, char **argv) {
    if (argc < 3) return usage(), 2;
    int threads = 0;
    bool one_by_one = false;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--one-by-one") == 0)
            one_by_one = true;
        else
            return usage(), 2;
    }
    eng_token *ids;
    int n = read_ids_file(argv[1], &ids);
    if (n < 0) return 1;
    if (n == 0) {
        fputs("error: no token ids\n", stderr);
        free(ids);
        return 1;
    }
    struct eng_model *m = load(argv[0], false);
    if (!m) {
        free(ids);
        return 1;
    }
    struct ol_err err = {0};
    struct eng_ctx_params cp = eng_ctx_default_params();
    cp.n_ctx = n < 512 ? 512 : n;
    cp.n_batch = one_by_one ? 1 : n;
    cp.n_threads = threads;
    struct eng_ctx *c = eng_ctx_new(m, &cp, &err);
    FILE *f = NULL;
    int rc = 1;
    if (!c) goto out;
    f = fopen(argv[2], "wb");
    if (!f) {
        ol_err_sys(&err, OL_EIO, "create %s", argv[2]);
        goto out;
    }
    int n_vocab = eng_n_vocab(m);
    int step = one_by_one ? 1 : n;
    bool *want = malloc((size_t)n * sizeof(*want));
    int32_t *pos = malloc((size_t)n * sizeof(*pos));
    if (!want || !pos) {
        free(want);
        free(pos);
        ol_err_set(&err, OL_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        want[i] = true;
        pos[i] = i;
    }
    bool ok = true;
    for (int i = 0; i < n && ok; i += step) {
        struct eng_batch b = {.n_tokens = step, .tokens = ids + i, .pos = pos + i, .logits = want};
        ok = eng_ctx_decode(c, &b, &err) == 0;
        for (int j = 0; j < step && ok; j++)
            ok = fwrite(eng_ctx_logits(c, j), sizeof(float), (size_t)n_vocab, f) == (size_t)n_vocab;
    }
    free(want);
    free(pos);
    if (ok && fclose(f) == 0)
        rc = 0;
    else if (ok)
        ol_err_sys(&err, OL_EIO, "write %s", argv[2]);
    f = NULL;
out:
    if (f) fclose(f);
    if (rc) fail(&err);
    eng_ctx_free(c);
    eng_model_free(m);
    free(ids);
    return rc;
}

struct gen_out {
    struct ol_buf ids;  /* "id id ..." */
    struct ol_buf text; /* the streamed text */
};

static bool collect_token(void *user, eng_token t, const char *text, size_t len,
                          const struct eng_logprob *lp) {
    (void)lp;
    struct gen_out *o = user;
    if (t >= 0) ol_buf_printf(&o->ids, o->ids.len ? " %d" : "%d", t);
    ol_buf_append(&o->text, text, len);
    return true;
}

static int cmd_generate(int argc, char **argv) {
    if (argc < 2) return usage(), 2;
    struct eng_seq_params sp = eng_seq_default_params();
    int threads = 0, n_ctx = 0;
    const char *stops[16];
    int n_stop = 0;
    sp.num_predict = 128;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return usage(), 2;
        i++;
        if (strcmp(a, "-n") == 0)
            sp.num_predict = atoi(v);
        else if (strcmp(a, "--temperature") == 0)
            sp.sample.temperature = strtof(v, NULL);
        else if (strcmp(a, "--top-k") == 0)
            sp.sample.top_k = atoi(v);
        else if (strcmp(a, "--top-p") == 0)
            sp.sample.top_p = strtof(v, NULL);
        else if (strcmp(a, "--min-p") == 0)
            sp.sample.min_p = strtof(v, NULL);
        else if (strcmp(a, "--typical-p") == 0)
            sp.sample.typical_p = strtof(v, NULL);
        else if (strcmp(a, "--repeat-penalty") == 0)
            sp.sample.repeat_penalty = strtof(v, NULL);
        else if (strcmp(a, "--repeat-last-n") == 0)
            sp.sample.repeat_last_n = atoi(v);
        else if (strcmp(a, "--presence-penalty") == 0)
            sp.sample.presence_penalty = strtof(v, NULL);
        else if (strcmp(a, "--frequency-penalty") == 0)
            sp.sample.frequency_penalty = strtof(v, NULL);
        else if (strcmp(a, "--seed") == 0)
            sp.sample.seed = strtoll(v, NULL, 10);
        else if (strcmp(a, "--ctx") == 0)
            n_ctx = atoi(v);
        else if (strcmp(a, "--keep") == 0)
            sp.num_keep = atoi(v);
        else if (strcmp(a, "--threads") == 0)
            threads = atoi(v);
        else if (strcmp(a, "--stop") == 0 && n_stop < 16)
            stops[n_stop++] = v;
        else
            return usage(), 2;
    }
    sp.stop = stops;
    sp.n_stop = n_stop;
    eng_token *ids;
    int n = read_ids_file(argv[1], &ids);
    if (n < 0) return 1;
    struct eng_model *m = load(argv[0], false);
    if (!m) {
        free(ids);
        return 1;
    }
    struct ol_err err = {0};
    struct eng_ctx_params cp = eng_ctx_default_params();
    cp.n_ctx = n_ctx > 0 ? n_ctx : 2048;
    cp.n_threads = threads;
    struct eng_ctx *c = eng_ctx_new(m, &cp, &err);
    struct eng_seq *s = c ? eng_seq_new(c, 0, &err) : NULL;
    struct gen_out out = {0};
    struct eng_gen_stats st;
    int rc = 1;
    if (s && eng_seq_generate(s, ids, n, &sp, collect_token, &out, &st, &err) == 0) {
        printf("%s\n%s\n", out.ids.data ? out.ids.data : "", out.text.data ? out.text.data : "");
        fprintf(stderr,
                "prompt: %d tokens (%d evaluated) in %.3f s; generated %d tokens in %.3f s\n",
                st.prompt_tokens, st.prompt_evaluated, (double)st.prompt_ns / 1e9, st.gen_tokens,
                (double)st.gen_ns / 1e9);
        rc = 0;
    } else {
        fail(&err);
    }
    ol_buf_free(&out.ids);
    ol_buf_free(&out.text);
    eng_seq_free(s);
    eng_ctx_free(c);
    eng_model_free(m);
    free(ids);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage(), 2;
    const char *cmd = argv[1];
    if (strcmp(cmd, "tokenize") == 0) return cmd_tokenize(argc - 2, argv + 2);
    if (strcmp(cmd, "detokenize") == 0) return cmd_detokenize(argc - 2, argv + 2);
    if (strcmp(cmd, "logits") == 0) return cmd_logits(argc - 2, argv + 2);
    if (strcmp(cmd, "generate") == 0) return cmd_generate(argc - 2, argv + 2);
    usage();
    return 2;
}
