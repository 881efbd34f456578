/* base: errors, logging, checked allocation, growable buffers, files and small OS helpers.
 * Everything above depends on this module; it depends only on libc. */
#ifndef OL_BASE_BASE_H
#define OL_BASE_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors (STYLE.md §3) ---- */

enum ol_code {
    OL_OK = 0,
    OL_EINVAL = -1,    /* bad argument or request: 400 */
    OL_ENOTFOUND = -2, /* model, blob or key missing: 404 */
    OL_EFORMAT = -3,   /* corrupt or unsupported file */
    OL_ENOMEM = -4,
    OL_EIO = -5,
    OL_ECANCELED = -6,    /* the client went away */
    OL_EUNSUPPORTED = -7, /* a known feature we do not do yet: 501 */
    OL_EINTERNAL = -8,    /* a bug: 500 */
};

struct ol_err {
    int code;
    char msg[256]; /* fixed size: still reportable when memory is gone */
};

/* Formats msg into err (when not NULL) and returns code: `return ol_err_set(err, ...);` */
int ol_err_set(struct ol_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As ol_err_set, then appends ": " and strerror(errno) (errno read on entry). */
int ol_err_sys(struct ol_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Short name of a code ("invalid argument", ...); never NULL. */
const char *ol_code_str(int code);

/* ---- logging: stderr, OLLAMA_DEBUG enables OL_LOG_DEBUG ---- */

enum ol_log_level { OL_LOG_DEBUG, OL_LOG_INFO, OL_LOG_WARN, OL_LOG_ERROR };
void ol_log(enum ol_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool ol_log_debug_enabled(void);

/* Our own invariants only; never for bad input. Always on. */
#define OL_ASSERT(x)                                                                               \
    do {                                                                                           \
        if (!(x)) ol_assert_fail(#x, __FILE__, __LINE__);                                          \
    } while (0)
_Noreturn void ol_assert_fail(const char *expr, const char *file, int line);

#define OL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define OL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define OL_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- memory ---- */

/* calloc(n, size) that fails (NULL) instead of wrapping when n * size overflows. */
void *ol_calloc_array(size_t n, size_t size);
/* realloc of n * size bytes with the same overflow check; on failure `p` is untouched. */
void *ol_realloc_array(void *p, size_t n, size_t size);
/* 64-byte aligned, zeroed allocation of n * size bytes (overflow-checked); release with
 * ol_aligned_free. Large blocks take RAM page by page as they are first written. */
void *ol_aligned_calloc(size_t n, size_t size);
void ol_aligned_free(void *p);
/* true and *out = a * b when it fits in size_t. */
bool ol_mul_ok(size_t a, size_t b, size_t *out);
/* strdup/strndup that return NULL on failure. */
char *ol_strdup(const char *s);
char *ol_strndup(const char *s, size_t len);

/* A growable byte buffer, always NUL-terminated when data != NULL. */
struct ol_buf {
    char *data;
    size_t len;
    size_t cap;
};
int ol_buf_reserve(struct ol_buf *b, size_t extra); /* 0 or OL_ENOMEM */
int ol_buf_append(struct ol_buf *b, const void *p, size_t len);
int ol_buf_puts(struct ol_buf *b, const char *s);
int ol_buf_printf(struct ol_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ol_buf_free(struct ol_buf *b); /* leaves an empty buffer */

/* ---- files ---- */

/* Size of an open file. */
int ol_fd_size(int fd, uint64_t *size, struct ol_err *err);
/* Reads a whole file into *out (NUL-terminated; free with free()). Refuses files over max_len. */
int ol_file_read(const char *path, size_t max_len, char **out, size_t *len, struct ol_err *err);
/* Writes data to path atomically: unique temp file ".tmp-*" in the same folder (mode 0644),
 * fsync, rename, fsync of the folder. */
int ol_file_write_atomic(const char *path, const void *data, size_t len, struct ol_err *err);
/* The same in two steps, for writers that stream: begin creates the temp file beside path and
 * returns its fd (>= 0, *tmp gets its name) or a negative code; end takes the fd and the name
 * and, when ok, fsyncs, renames over path and fsyncs the folder, else removes the temp file.
 * end returns 0 or a negative code (OL_EIO also when !ok) and frees *tmp. */
int ol_file_atomic_begin(const char *path, char **tmp, struct ol_err *err);
int ol_file_atomic_end(int fd, char *tmp, const char *path, bool ok, struct ol_err *err);
/* write() until all len bytes are out (retrying EINTR and short writes); 0, or -1 with errno. */
int ol_write_all(int fd, const void *data, size_t len);
/* fsync of the folder holding path (makes a rename or create in it durable). */
void ol_fsync_dir_of(const char *path);

/* ---- OS ---- */

/* Monotonic clock in nanoseconds. */
int64_t ol_time_ns(void);
/* Physical CPU cores available to this process (>= 1). */
int ol_cpu_physical_cores(void);

/* ---- UTF-8 ---- */

/* Length of the UTF-8 sequence that starts with byte c (1..4), or 1 for an invalid lead byte. */
int ol_utf8_len(uint8_t c);
/* Number of bytes at the end of s[0..len) that form an incomplete (but so far valid) UTF-8
 * sequence, 0..3. Used to hold back partial characters when streaming text. */
size_t ol_utf8_incomplete_tail(const char *s, size_t len);
/* Decodes the sequence at s[0..len): its length (1..4) with *cp set, or 0 when it is not a
 * valid sequence (bad lead or continuation byte, overlong form, surrogate, past U+10FFFF, or
 * cut off by len). */
int ol_utf8_decode(const char *s, size_t len, uint32_t *cp);
/* true when s[0..len) is valid UTF-8. */
bool ol_utf8_is_valid(const char *s, size_t len);

/* ---- SHA-256 (libcrypto) ---- */

struct ol_sha256; /* incremental hash state */
/* NULL when out of memory. */
struct ol_sha256 *ol_sha256_new(void);
void ol_sha256_update(struct ol_sha256 *h, const void *p, size_t len);
/* Writes the 32-byte digest; the state is then reset for reuse. */
void ol_sha256_final(struct ol_sha256 *h, uint8_t out[32]);
void ol_sha256_free(struct ol_sha256 *h); /* NULL ok */
/* One-shot hash of p[0..len) as 64 lower-case hex digits + NUL. 0 or OL_ENOMEM. */
int ol_sha256_hex(const void *p, size_t len, char out[65]);
/* 32 bytes to 64 lower-case hex digits + NUL. */
void ol_sha256_to_hex(const uint8_t digest[32], char out[65]);

#endif
