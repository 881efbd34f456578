/* Checked allocation and the growable byte buffer. */
#include "base/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

bool ol_mul_ok(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

void *ol_calloc_array(size_t n, size_t size) {
    size_t total;
    if (!ol_mul_ok(n, size, &total)) return NULL;
    return calloc(total ? n : 1, total ? size : 1);
}

void *ol_realloc_array(void *p, size_t n, size_t size) {
    size_t total;
    if (!ol_mul_ok(n, size, &total)) return NULL;
    return realloc(p, total ? total : 1);
}

/* Every aligned block starts OL_ALIGNED_HEAD bytes before the pointer handed out, with its
 * mapping length there (0: it came from posix_memalign). Large blocks are anonymous mappings:
 * the kernel hands them out zeroed and gives a page RAM only when it is first touched, so a
 * context sized for 512-token batches costs only what its batches use. */
#define OL_ALIGNED_HEAD 64
#define OL_ALIGNED_MAP_MIN (256u << 10)

void *ol_aligned_calloc(size_t n, size_t size) {
    size_t total;
    if (!ol_mul_ok(n, size, &total) || total > SIZE_MAX - 2 * OL_ALIGNED_HEAD) return NULL;
    total = ((total + 63) & ~(size_t)63) + OL_ALIGNED_HEAD;
    uint8_t *base;
    size_t map_len = 0;
    if (total >= OL_ALIGNED_MAP_MIN) {
        void *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return NULL;
        base = m;
        map_len = total;
    } else {
        void *m = NULL;
        if (posix_memalign(&m, 64, total) != 0) return NULL;
        memset(m, 0, total);
        base = m;
    }
    memcpy(base, &map_len, sizeof(map_len));
    return base + OL_ALIGNED_HEAD;
}

void ol_aligned_free(void *p) {
    if (!p) return;
    uint8_t *base = (uint8_t *)p - OL_ALIGNED_HEAD;
    size_t map_len;
    memcpy(&map_len, base, sizeof(map_len));
    if (map_len)
        munmap(base, map_len);
    else
        free(base);
}

char *ol_strdup(const char *s) { return ol_strndup(s, strlen(s)); }

char *ol_strndup(const char *s, size_t len) {
    if (len == SIZE_MAX) return NULL;
    char *p = malloc(len + 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = 0;
    return p;
}

int ol_buf_reserve(struct ol_buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->len - 1) return OL_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p) return OL_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int ol_buf_append(struct ol_buf *b, const void *p, size_t len) {
    if (ol_buf_reserve(b, len) < 0) return OL_ENOMEM;
    if (len) memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = 0;
    return 0;
}

int ol_buf_puts(struct ol_buf *b, const char *s) { return ol_buf_append(b, s, strlen(s)); }

int ol_buf_printf(struct ol_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return OL_EINVAL;
    if (ol_buf_reserve(b, (size_t)n) < 0) return OL_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void ol_buf_free(struct ol_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
