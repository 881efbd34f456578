/* ollama-bench: prompt-processing and generation speed of the engine on one model, measured
 * the way llama-bench does: pp = one decode call of N_PROMPT tokens; tg = N_GEN decode calls of
 * one token each, greedy, from an empty cache. stdout gets exactly "pp<N> <tokens/s>" and
 * "tg<N> <tokens/s>" (means over the repetitions); everything else goes to stderr. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "engine/engine.h"

struct bench_opts {
    const char *model;
    int n_threads; /* 0 = physical cores */
    int n_prompt;
    int n_gen;
    int reps;
    int kv_type; /* enum eng_kv_type, or -1 for the engine's default */
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: ollama-bench -m MODEL.gguf [-t THREADS] [-p N_PROMPT (512)] [-n N_GEN (128)]\n"
            "                    [-r REPS (3)] [--kv f16|f32 (engine default)]\n");
}

static bool parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || end == s || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

static bool parse_args(int argc, char **argv, struct bench_opts *o) {
    *o = (struct bench_opts){NULL, 0, 512, 128, 3, -1};
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            o->model = v;
            ok = v != NULL;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            ok = parse_int(v, 0, 1024, &o->n_threads);
        } else if (strcmp(a, "-p") == 0 || strcmp(a, "--n-prompt") == 0) {
            ok = parse_int(v, 0, 1 << 20, &o->n_prompt);
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--n-gen") == 0) {
            ok = parse_int(v, 0, 1 << 20, &o->n_gen);
        } else if (strcmp(a, "-r") == 0 || strcmp(a, "--reps") == 0) {
            ok = parse_int(v, 1, 1000, &o->reps);
        } else if (strcmp(a, "--kv") == 0) {
            ok = v && (strcmp(v, "f16") == 0 || strcmp(v, "f32") == 0);
            if (ok) o->kv_type = strcmp(v, "f16") == 0 ? ENG_KV_F16 : ENG_KV_F32;
        } else {
            fprintf(stderr, "ollama-bench: unknown option %s\n", a);
            return false;
        }
        if (!ok) {
            fprintf(stderr, "ollama-bench: bad or missing value for %s\n", a);
            return false;
        }
    }
    if (!o->model) {
        fprintf(stderr, "ollama-bench: -m MODEL is required\n");
        return false;
    }
    return true;
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint32_t rng_next(void) { /* xorshift64*: fixed seed, same prompt every run */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* One batch of tokens[0..n) at positions 0..n-1 from an empty cache; returns seconds or < 0. */
static double run_pp(struct eng_ctx *c, const eng_token *tokens, int32_t *pos, int n) {
    struct ol_err err = {0};
    for (int i = 0; i < n; i++)
        pos[i] = i;
    struct eng_batch b = {.n_tokens = n, .tokens = tokens, .pos = pos};
    eng_ctx_seq_truncate(c, 0, 0);
    int64_t t0 = ol_time_ns();
    if (eng_ctx_decode(c, &b, &err) < 0) {
        fprintf(stderr, "ollama-bench: decode of %d tokens: %s\n", n, err.msg);
        return -1;
    }
    return (double)(ol_time_ns() - t0) / 1e9;
}

/* n greedy steps of one token each from an empty cache; returns seconds or < 0. */
static double run_tg(struct eng_ctx *c, eng_token first, int n, int n_vocab) {
    struct ol_err err = {0};
    eng_token tok = first;
    eng_ctx_seq_truncate(c, 0, 0);
    int64_t t0 = ol_time_ns();
    for (int i = 0; i < n; i++) {
        int32_t pos = i;
        struct eng_batch b = {.n_tokens = 1, .tokens = &tok, .pos = &pos};
        if (eng_ctx_decode(c, &b, &err) < 0) {
            fprintf(stderr, "ollama-bench: decode at position %d: %s\n", i, err.msg);
            return -1;
        }
        const float *logits = eng_ctx_logits(c, 0);
        if (!logits) {
            fprintf(stderr, "ollama-bench: no logits at position %d\n", i);
            return -1;
        }
        tok = argmax(logits, n_vocab);
    }
    return (double)(ol_time_ns() - t0) / 1e9;
}

static void stats(const double *v, int n, double *mean, double *sd) {
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    *mean = s / n;
    for (int i = 0; i < n; i++)
        s2 += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(s2 / (n - 1)) : 0.0;
}

int main(int argc, char **argv) {
    struct bench_opts o;
    if (!parse_args(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    struct ol_err err = {0};
    int64_t t_load = ol_time_ns();
    struct eng_model_params mp = eng_model_default_params();
    struct eng_model *m = eng_model_load(o.model, &mp, &err);
    if (!m) {
        fprintf(stderr, "ollama-bench: %s: %s\n", o.model, err.msg);
        return 1;
    }
    struct eng_model_info info;
    eng_model_get_info(m, &info);
    int n_vocab = eng_n_vocab(m);
    fprintf(
        stderr,
        "ollama-bench: %s: %s %s, %.3f B params, %.1f MiB, n_embd %d, n_layer %d, n_head %d/%d, "
        "n_vocab %d; loaded in %.2f s\n",
        o.model, info.arch, info.file_type, (double)info.n_params / 1e9,
        (double)info.file_size / (1 << 20), info.n_embd, info.n_layer, info.n_head, info.n_head_kv,
        n_vocab, (double)(ol_time_ns() - t_load) / 1e9);

    struct eng_ctx_params cp = eng_ctx_default_params();
    cp.n_ctx = o.n_prompt + o.n_gen + 16;
    cp.n_batch = OL_MAX(o.n_prompt, 1);
    cp.n_threads = o.n_threads;
    if (o.kv_type >= 0) cp.kv_type = (enum eng_kv_type)o.kv_type;
    struct eng_ctx *c = eng_ctx_new(m, &cp, &err);
    if (!c) {
        fprintf(stderr, "ollama-bench: context: %s\n", err.msg);
        eng_model_free(m);
        return 1;
    }
    int rc = 1;
    int n_tok = OL_MAX(o.n_prompt, 1);
    eng_token *tokens = ol_calloc_array((size_t)n_tok, sizeof(*tokens));
    int32_t *pos = ol_calloc_array((size_t)n_tok, sizeof(*pos));
    double *pp = ol_calloc_array((size_t)o.reps, sizeof(*pp));
    double *tg = ol_calloc_array((size_t)o.reps, sizeof(*tg));
    if (!tokens || !pos || !pp || !tg) {
        fprintf(stderr, "ollama-bench: out of memory\n");
        goto out;
    }
    for (int i = 0; i < n_tok; i++)
        tokens[i] = (eng_token)(rng_next() % (uint32_t)n_vocab);

    /* Warm-up: page the weights in, spin up the workers. */
    if (o.n_prompt > 0 && run_pp(c, tokens, pos, o.n_prompt) < 0) goto out;
    if (o.n_gen > 0 && run_tg(c, tokens[0], 1, n_vocab) < 0) goto out;

    for (int r = 0; r < o.reps; r++) {
        if (o.n_prompt > 0) {
            double s = run_pp(c, tokens, pos, o.n_prompt);
            if (s < 0) goto out;
            pp[r] = o.n_prompt / s;
        }
        if (o.n_gen > 0) {
            double s = run_tg(c, tokens[0], o.n_gen, n_vocab);
            if (s < 0) goto out;
            tg[r] = o.n_gen / s;
        }
        fprintf(stderr, "ollama-bench: rep %d: pp%d %.2f t/s, tg%d %.2f t/s\n", r + 1, o.n_prompt,
                pp[r], o.n_gen, tg[r]);
    }
    double mean, sd;
    if (o.n_prompt > 0) {
        stats(pp, o.reps, &mean, &sd);
        fprintf(stderr, "ollama-bench: pp%d %.2f +- %.2f t/s\n", o.n_prompt, mean, sd);
        printf("pp%d %.2f\n", o.n_prompt, mean);
    }
    if (o.n_gen > 0) {
        stats(tg, o.reps, &mean, &sd);
        fprintf(stderr, "ollama-bench: tg%d %.2f +- %.2f t/s\n", o.n_gen, mean, sd);
        printf("tg%d %.2f\n", o.n_gen, mean);
    }
    rc = 0;
out:
    free(tokens);
    free(pos);
    free(pp);
    free(tg);
    eng_ctx_free(c);
    eng_model_free(m);
    return rc;
}
