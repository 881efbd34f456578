/* Error values and logging. Messages are formatted once, where the problem is known. */
#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int err_vset(struct ol_err *err, int code, const char *fmt, va_list ap) {
    if (!err) return code;
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    return code;
}

int ol_err_set(struct ol_err *err, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int ol_err_sys(struct ol_err *err, int code, const char *fmt, ...) {
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, fmt, ap);
    va_end(ap);
    if (err) {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(saved));
    }
    return code;
}

const char *ol_code_str(int code) {
    switch (code) {
    case OL_OK:
        return "ok";
    case OL_EINVAL:
        return "invalid argument";
    case OL_ENOTFOUND:
        return "not found";
    case OL_EFORMAT:
        return "bad format";
    case OL_ENOMEM:
        return "out of memory";
    case OL_EIO:
        return "i/o error";
    case OL_ECANCELED:
        return "canceled";
    case OL_EUNSUPPORTED:
        return "not supported";
    case OL_EINTERNAL:
        return "internal error";
    default:
        return "error";
    }
}

bool ol_log_debug_enabled(void) {
    const char *v = getenv("OLLAMA_DEBUG");
    return v && *v && strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
}

void ol_log(enum ol_log_level level, const char *fmt, ...) {
    static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level == OL_LOG_DEBUG && !ol_log_debug_enabled()) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "level=%s msg=\"%s\"\n", names[level], line);
}

void ol_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
