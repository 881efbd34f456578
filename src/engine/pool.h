/* pool: the compute pool of a context. pool_run() runs fn(ith, nth, arg) on every worker (the
 * caller is worker 0) and returns when all are done. Between runs of one decode the workers
 * spin (with a pause instruction), so an op costs no sleep/wake; after a while idle they park
 * on a condition variable. Internal to the engine. */
#ifndef OL_ENGINE_POOL_H
#define OL_ENGINE_POOL_H

typedef void (*pool_fn)(int ith, int nth, void *arg);

struct pool;
/* n_threads >= 1 (1 = no extra threads). NULL on failure. */
struct pool *pool_new(int n_threads);
void pool_free(struct pool *p);
int pool_n_threads(const struct pool *p);
/* Runs fn on all workers; call from one thread at a time. */
void pool_run(struct pool *p, pool_fn fn, void *arg);

/* Splits n items into nth contiguous ranges: worker ith gets [*lo, *hi). */
static inline void pool_range(long n, int ith, int nth, long *lo, long *hi) {
    long per = (n + nth - 1) / nth;
    *lo = per * ith < n ? per * ith : n;
    *hi = *lo + per < n ? *lo + per : n;
}

#endif
