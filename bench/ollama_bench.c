/* ollama-bench: prompt-processing and generation speed of the engine on one model, measured
 * the way llama-bench does: pp = one decode call of N_PROMPT tokens; tg = N_GEN decode calls of
 * one token each, greedy, from an empty cache. stdout gets exactly "pp<N> <tokens/s>" and
 * "tg<N> <tokens/s>" (means over the repetitions, or medians with --median); everything else
 * goes to stderr, including two lines made for scripts:
 *   ollama-bench: weights bytes_per_token=B tied=0|1      (what one generated token reads)
 *   ollama-bench: memory peak_rss_mib=R bound_mib=L file_mib=F kv_mib=K slack_mib=64
 * where the bound is the file (mapped, so every weight page may be resident) plus the F32 KV
 * cache of the context plus 64 MiB for everything else. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/base.h"
#include "engine/engine.h"

struct bench_opts {
    const char *model;
    int n_threads; /* 0 = physical cores */
    int n_prompt;
    int n_gen;
    int reps;
    int n_ctx;   /* 0 = N_PROMPT + N_GEN + 16 */
    int kv_type; /* enum eng_kv_type, or -1 for the engine's default */
    bool median; /* stdout gets medians instead of means */
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: ollama-bench -m MODEL.gguf [-t THREADS] [-p N_PROMPT (512)] [-n N_GEN (128)]\n"
            "                    [-r REPS (3)] [-c N_CTX (N_PROMPT + N_GEN + 16)]\n"
            "                    [--kv f16|f32 (engine default)] [--median]\n");
}

static bool parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || end == s || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

static bool parse_args(int argc, char **argv, struct bench_opts *o) {
    *o = (struct bench_opts){NULL, 0, 512, 128, 3, 0, -1, false};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--median") == 0) {
            o->median = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL; /* the rest take a value */
        bool ok;
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
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
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--ctx") == 0) {
            ok = parse_int(v, 0, 1 << 24, &o->n_ctx);
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

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Mean, sample standard deviation and median of v[0..n); sorts v. */
static void stats(double *v, int n, double *mean, double *sd, double *median) {
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    *mean = s / n;
    for (int i = 0; i < n; i++)
        s2 += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(s2 / (n - 1)) : 0.0;
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Prints the figures of one test: mean +- sd and median on stderr, the chosen one on stdout. */
static void report(const char *test, int n, double *v, int reps, bool median) {
    double mean, sd, med;
    stats(v, reps, &mean, &sd, &med);
    fprintf(stderr, "ollama-bench: %s%d %.2f +- %.2f t/s, median %.2f t/s (%d runs)\n", test, n,
            mean, sd, med, reps);
    printf("%s%d %.2f\n", test, n, median ? med : mean);
}

static bool tensor_is(const struct eng_tensor_info *t, const char *name) {
    return t->name_len == strlen(name) && memcmp(t->name, name, t->name_len) == 0;
}

/* Bytes of weights one generated token reads: every tensor but the token embedding (of which
 * one row is read), unless there is no output.weight and the embedding doubles as the output
 * matrix (tied). */
static void weight_bytes_per_token(const struct eng_model *m, uint64_t *bytes, bool *tied) {
    uint64_t total = 0, embd = 0;
    bool have_output = false;
    int n = eng_model_tensor_count(m);
    for (int i = 0; i < n; i++) {
        struct eng_tensor_info t;
        if (!eng_model_tensor_at(m, i, &t)) continue;
        if (tensor_is(&t, "token_embd.weight"))
            embd = t.size;
        else
            total += t.size;
        have_output = have_output || tensor_is(&t, "output.weight");
    }
    *tied = !have_output;
    *bytes = total + (*tied ? embd : 0);
}

/* Peak resident memory of the process so far against file + KV cache + 64 MiB. */
static void report_memory(const struct eng_model_info *info, const struct eng_ctx *c) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return;
    double mib = 1 << 20;
    double kv = (double)eng_ctx_kv_bytes(c);
    int n_ctx = eng_ctx_n_ctx(c);
    double file = (double)info->file_size;
    double peak = (double)ru.ru_maxrss * 1024; /* Linux reports KiB */
    fprintf(stderr,
            "ollama-bench: memory peak_rss_mib=%.1f bound_mib=%.1f file_mib=%.1f kv_mib=%.1f "
            "slack_mib=64 n_ctx=%d\n",
            peak / mib, (file + kv) / mib + 64, file / mib, kv / mib, n_ctx);
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

    uint64_t bytes_per_token;
    bool tied;
    weight_bytes_per_token(m, &bytes_per_token, &tied);
    fprintf(stderr, "ollama-bench: weights bytes_per_token=%llu tied=%d\n",
            (unsigned long long)bytes_per_token, tied);

    struct eng_ctx_params cp = eng_ctx_default_params();
    cp.n_ctx = o.n_ctx > 0 ? o.n_ctx : o.n_prompt + o.n_gen + 16;
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
    if (o.n_prompt > 0) report("pp", o.n_prompt, pp, o.reps, o.median);
    if (o.n_gen > 0) report("tg", o.n_gen, tg, o.reps, o.median);
    report_memory(&info, c);
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
