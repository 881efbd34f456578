/* Compute pool. Design: a generation counter announces work; each worker spins on it (pause),
 * then spins with sched_yield, then after PARK_AFTER_NS parks on a condvar. The caller bumps the
 * counter, wakes parked workers only when there are some (seq_cst on both sides makes the check
 * safe: a worker publishes n_parked before re-reading the counter under the mutex), runs its own
 * share, then waits the same way until every worker has checked in.
 * The yield matters when another process takes a core: a waiting thread that only spins holds
 * the core the thread it waits for needs, and 2-thread generation fell from 37 to 2 tok/s. */
#include "engine/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/base.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define SPIN_BEFORE_YIELD 1024 /* pause loops (~ tens of µs), then sched_yield per loop */
#define PARK_AFTER_NS 5000000  /* idle this long: sleep on the condvar */

/* One step of a wait loop that has run `spins` times (counting from 0). */
static inline void wait_step(long spins) {
    if (spins < SPIN_BEFORE_YIELD)
        CPU_RELAX();
    else
        sched_yield();
}

struct worker {
    struct pool *pool;
    int ith;
    pthread_t thread;
};

struct pool {
    int n;
    struct worker *workers; /* [n - 1]: threads 1..n-1 */
    pool_fn fn;             /* set before gen is bumped */
    void *arg;
    atomic_uint gen;   /* bumped once per run */
    atomic_int n_done; /* workers finished with this run */
    atomic_int n_parked;
    atomic_bool stop;
    pthread_mutex_t mu; /* guards parking only */
    pthread_cond_t cv;
};

static void *worker_main(void *arg) {
    struct worker *w = arg;
    struct pool *p = w->pool;
    unsigned seen = 0; /* gen is 0 when the pool is made; a late start must not miss run 1 */
    for (;;) {
        unsigned g;
        long spins = 0;
        int64_t t_idle = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_relaxed)) {
            wait_step(spins++);
            if (spins < SPIN_BEFORE_YIELD || (spins & 63) != 0) continue;
            if (!t_idle) t_idle = ol_time_ns();
            if (ol_time_ns() - t_idle < PARK_AFTER_NS) continue;
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->n_parked, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->n_parked, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
            t_idle = 0;
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        p->fn(w->ith, p->n, p->arg);
        atomic_fetch_add_explicit(&p->n_done, 1, memory_order_acq_rel);
    }
}

struct pool *pool_new(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    struct pool *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (n_threads > 1) {
        p->workers = ol_calloc_array((size_t)n_threads - 1, sizeof(*p->workers));
        if (!p->workers) {
            pool_free(p);
            return NULL;
        }
        for (int i = 1; i < n_threads; i++) {
            struct worker *w = &p->workers[i - 1];
            w->pool = p;
            w->ith = i;
            if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
                p->n = i; /* threads 1..i-1 exist */
                pool_free(p);
                return NULL;
            }
        }
    }
    return p;
}

void pool_free(struct pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n && p->workers; i++)
        pthread_join(p->workers[i - 1].thread, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->workers);
    free(p);
}

int pool_n_threads(const struct pool *p) { return p->n; }

void pool_run(struct pool *p, pool_fn fn, void *arg) {
    if (p->n == 1) {
        fn(0, 1, arg);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->n_done, 0, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: publishes fn/arg and orders the parked check */
    if (atomic_load(&p->n_parked) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(0, p->n, arg);
    for (long spins = 0; atomic_load_explicit(&p->n_done, memory_order_acquire) < p->n - 1;)
        wait_step(spins++);
}
