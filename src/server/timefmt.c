/* Timestamps (Go RFC3339Nano) and Go-style durations. */
#include "server/srv.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t srv_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t srv_thread_cpu_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void srv_time_format(int64_t ns, bool utc, char *buf, size_t cap) {
    int64_t sec = ns / 1000000000LL;
    long frac = (long)(ns % 1000000000LL);
    if (frac < 0) {
        frac += 1000000000L;
        sec -= 1;
    }
    srv_time_format_s(sec, frac, utc, buf, cap);
}

/* Appends s to buf[*n..cap), always leaving it NUL-terminated. */
static void put(char *buf, size_t cap, size_t *n, const char *s, size_t len) {
    if (*n >= cap) return;
    size_t room = cap - 1 - *n;
    if (len > room) len = room;
    memcpy(buf + *n, s, len);
    *n += len;
    buf[*n] = 0;
}

void srv_time_format_s(int64_t secs, long frac, bool utc, char *buf, size_t cap) {
    /* Date and zone change once a second, and each streamed token is stamped: a thread keeps
     * the last second's text, so a token costs only its fraction. */
    static _Thread_local struct {
        bool valid, utc;
        int64_t sec;
        char date[32], zone[16];
    } c;
    if (!c.valid || c.sec != secs || c.utc != utc) {
        time_t sec = (time_t)secs;
        struct tm tm;
        if (utc)
            gmtime_r(&sec, &tm);
        else
            localtime_r(&sec, &tm);
        strftime(c.date, sizeof(c.date), "%Y-%m-%dT%H:%M:%S", &tm);
        if (utc || tm.tm_gmtoff == 0) {
            strcpy(c.zone, "Z");
        } else {
            long off = tm.tm_gmtoff;
            char sign = off < 0 ? '-' : '+';
            off = off < 0 ? -off : off;
            snprintf(c.zone, sizeof(c.zone), "%c%02ld:%02ld", sign, off / 3600 % 100,
                     off / 60 % 60);
        }
        c.valid = true;
        c.utc = utc;
        c.sec = secs;
    }
    char fs[10];
    size_t k = 0;
    if (frac > 0 && frac < 1000000000L) { /* ".123456789" with trailing zeros trimmed */
        fs[0] = '.';
        for (int d = 9; d >= 1; d--, frac /= 10)
            fs[d] = (char)('0' + frac % 10);
        k = 10;
        while (fs[k - 1] == '0')
            k--;
    }
    size_t n = 0;
    if (cap) buf[0] = 0;
    put(buf, cap, &n, c.date, strlen(c.date));
    put(buf, cap, &n, fs, k);
    put(buf, cap, &n, c.zone, strlen(c.zone));
}

int srv_duration_parse(const char *s, bool allow_bare_seconds, int64_t *ns) {
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (!*p) return OL_EINVAL;
    char *end;
    if (allow_bare_seconds) {
        long long v = strtoll(p, &end, 10);
        if (end != p && *end == 0) {
            *ns = (neg ? -1 : 1) * v * 1000000000LL;
            return 0;
        }
    }
    double total = 0;
    while (*p) {
        if (!isdigit((unsigned char)*p) && *p != '.') return OL_EINVAL;
        double v = strtod(p, &end);
        if (end == p) return OL_EINVAL;
        p = end;
        double unit;
        if (strncmp(p, "ns", 2) == 0)
            unit = 1, p += 2;
        else if (strncmp(p, "us", 2) == 0)
            unit = 1e3, p += 2;
        else if (strncmp(p, "\xc2\xb5s", 3) == 0)
            unit = 1e3, p += 3;
        else if (strncmp(p, "ms", 2) == 0)
            unit = 1e6, p += 2;
        else if (*p == 's')
            unit = 1e9, p += 1;
        else if (*p == 'm')
            unit = 60e9, p += 1;
        else if (*p == 'h')
            unit = 3600e9, p += 1;
        else
            return OL_EINVAL; /* missing unit */
        total += v * unit;
    }
    if (total > 9.2e18) total = 9.2e18;
    *ns = (int64_t)(neg ? -total : total);
    return 0;
}
