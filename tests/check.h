/* Minimal test helpers: each CHECK counts a failure, prints file:line and the values, and goes
 * on; a test program returns check_exit() from main. Shared paths resolve from the repo root. */
#ifndef OL_TESTS_CHECK_H
#define OL_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures;
static int check_count;

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(x)) {                                                                                \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #x);                  \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        check_count++;                                                                             \
        if (check_a_ != check_b_) {                                                                \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld\n", __FILE__, __LINE__,  \
                    #a, #b, check_a_, check_b_);                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double check_a_ = (double)(a), check_b_ = (double)(b);                                     \
        check_count++;                                                                             \
        if (!(fabs(check_a_ - check_b_) <= (double)(tol))) {                                       \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK_NEAR(%s, %s, %s) failed: %.9g vs %.9g\n", __FILE__,      \
                    __LINE__, #a, #b, #tol, check_a_, check_b_);                                   \
        }                                                                                          \
    } while (0)

/* Path of a file under ../shared (tests run from the repository root). */
#define SHARED(p) ("../shared/" p)

static inline int check_exit(const char *name) {
    fprintf(stderr, "%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
