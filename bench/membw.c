/* ollama-membw: the machine's read memory bandwidth with T threads, the ceiling that token
 * generation (which reads every weight once per token) is measured against. Each thread first
 * writes its own contiguous slice of one large buffer (so its pages exist and sit near it),
 * then every pass all threads sum their slices at once; a pass takes from the moment they are
 * released together until the last one finishes. stdout gets exactly "membw <GB/s>" (median of
 * the passes, 1e9 bytes); everything else goes to stderr. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

/* 16-byte vectors: SSE2 or NEON registers on any 64-bit target, no ISA flags needed. */
typedef uint64_t u64x2 __attribute__((vector_size(16)));

struct membw_opts {
    int n_threads; /* 0 = physical cores */
    int size_mib;
    int passes;
};

struct membw_shared {
    pthread_barrier_t start; /* every thread (workers and main) meets here before a pass */
    pthread_barrier_t done;  /* and here after it */
    int passes;              /* timed passes, after one untimed warm-up pass */
};

struct membw_worker {
    pthread_t thread;
    struct membw_shared *sh;
    int id;
    u64x2 *slice; /* [n_vec], this worker's part of the buffer */
    size_t n_vec;
    uint64_t sink; /* the sum, kept so the loads cannot be dropped */
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: ollama-membw [-t THREADS (physical cores)] [-s MIB (1024)] [-r PASSES (7)]\n");
}

static bool parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || end == s || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

static bool parse_args(int argc, char **argv, struct membw_opts *o) {
    *o = (struct membw_opts){0, 1024, 7};
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            ok = parse_int(v, 0, 1024, &o->n_threads);
        } else if (strcmp(a, "-s") == 0 || strcmp(a, "--size") == 0) {
            ok = parse_int(v, 64, 1 << 20, &o->size_mib);
        } else if (strcmp(a, "-r") == 0 || strcmp(a, "--passes") == 0) {
            ok = parse_int(v, 1, 1000, &o->passes);
        } else {
            fprintf(stderr, "ollama-membw: unknown option %s\n", a);
            return false;
        }
        if (!ok) {
            fprintf(stderr, "ollama-membw: bad or missing value for %s\n", a);
            return false;
        }
    }
    return true;
}

/* Independent accumulators keep several loads in flight; 128 bytes (two cache lines) a step.
 * Written out by hand: at -O2 an array of accumulators would live on the stack. */
static uint64_t sum_slice(const u64x2 *p, size_t n_vec) {
    u64x2 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
    size_t i = 0;
    for (; i + 8 <= n_vec; i += 8) {
        a0 += p[i];
        a1 += p[i + 1];
        a2 += p[i + 2];
        a3 += p[i + 3];
        a4 += p[i + 4];
        a5 += p[i + 5];
        a6 += p[i + 6];
        a7 += p[i + 7];
    }
    for (; i < n_vec; i++)
        a0 += p[i];
    u64x2 s = (a0 + a1) + (a2 + a3) + (a4 + a5) + (a6 + a7);
    return s[0] + s[1];
}

static void *worker_main(void *arg) {
    struct membw_worker *w = arg;
    /* First touch: this thread's writes fault its pages in. */
    for (size_t i = 0; i < w->n_vec; i++)
        w->slice[i] = (u64x2){i, (uint64_t)w->id};
    for (int p = 0; p <= w->sh->passes; p++) {
        pthread_barrier_wait(&w->sh->start);
        w->sink += sum_slice(w->slice, w->n_vec);
        pthread_barrier_wait(&w->sh->done);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    struct membw_opts o;
    if (!parse_args(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    int nt = o.n_threads > 0 ? o.n_threads : ol_cpu_physical_cores();
    size_t n_vec_all = ((size_t)o.size_mib << 20) / sizeof(u64x2);
    size_t per = n_vec_all / (size_t)nt;
    size_t bytes = per * (size_t)nt * sizeof(u64x2); /* what one pass reads */
    /* ol_aligned_calloc would zero (and so touch) the pages on this thread: allocate plainly. */
    u64x2 *buf = NULL;
    if (posix_memalign((void **)&buf, 4096, n_vec_all * sizeof(u64x2)) != 0) {
        fprintf(stderr, "ollama-membw: cannot allocate %d MiB\n", o.size_mib);
        return 1;
    }
    struct membw_shared sh = {.passes = o.passes};
    struct membw_worker *w = ol_calloc_array((size_t)nt, sizeof(*w));
    double *gbs = ol_calloc_array((size_t)o.passes, sizeof(*gbs));
    if (!w || !gbs) {
        fprintf(stderr, "ollama-membw: out of memory\n");
        free(buf);
        return 1;
    }
    pthread_barrier_init(&sh.start, NULL, (unsigned)nt + 1);
    pthread_barrier_init(&sh.done, NULL, (unsigned)nt + 1);
    int started = 0;
    for (; started < nt; started++) {
        w[started] = (struct membw_worker){.sh = &sh, .id = started};
        w[started].slice = buf + (size_t)started * per;
        w[started].n_vec = per;
        if (pthread_create(&w[started].thread, NULL, worker_main, &w[started]) != 0) break;
    }
    if (started < nt) { /* the barriers count every thread: nothing can run */
        fprintf(stderr, "ollama-membw: cannot start %d threads\n", nt);
        exit(1);
    }
    for (int p = -1; p < o.passes; p++) { /* pass -1 warms up */
        pthread_barrier_wait(&sh.start);
        int64_t t0 = ol_time_ns();
        pthread_barrier_wait(&sh.done);
        int64_t ns = ol_time_ns() - t0;
        if (p < 0) continue;
        gbs[p] = (double)bytes / (double)ns;
        fprintf(stderr, "ollama-membw: pass %d: %.2f GB/s\n", p + 1, gbs[p]);
    }
    uint64_t sink = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(w[i].thread, NULL);
        sink += w[i].sink;
    }
    qsort(gbs, (size_t)o.passes, sizeof(*gbs), cmp_double);
    double median =
        o.passes % 2 ? gbs[o.passes / 2] : (gbs[o.passes / 2 - 1] + gbs[o.passes / 2]) / 2;
    fprintf(stderr,
            "ollama-membw: %d threads, %.0f MiB read per pass: median %.2f GB/s (min %.2f, max "
            "%.2f; checksum %llx)\n",
            nt, (double)bytes / (1 << 20), median, gbs[0], gbs[o.passes - 1],
            (unsigned long long)(sink & 0xffff));
    printf("membw %.2f\n", median);
    pthread_barrier_destroy(&sh.start);
    pthread_barrier_destroy(&sh.done);
    free(gbs);
    free(w);
    free(buf);
    return 0;
}
