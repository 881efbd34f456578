/* Pure formatting for the CLI: OLLAMA_HOST parsing, human sizes and times, Go durations and
 * display widths. No I/O here, so tests check every rule directly (spec: cli.md §1, §4.1). */
#include "cli/cli.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utf8proc.h>

/* ---- OLLAMA_HOST ---- */

static void copy_str(char *dst, size_t cap, const char *s, size_t len) {
    if (len >= cap) len = cap - 1;
    memcpy(dst, s, len);
    dst[len] = '\0';
}

/* Go's net.SplitHostPort: "host:port" or "[v6]:port"; false when malformed. */
static bool split_host_port(const char *s, char *host, size_t hcap, char *port, size_t pcap) {
    const char *colon = strrchr(s, ':');
    if (!colon) return false; /* missing port */
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end + 1 != colon) return false;
        copy_str(host, hcap, s + 1, (size_t)(end - s - 1));
    } else {
        const char *first = strchr(s, ':');
        if (first != colon) return false; /* too many colons */
        if (strchr(s, '[') || strchr(s, ']')) return false;
        copy_str(host, hcap, s, (size_t)(colon - s));
    }
    copy_str(port, pcap, colon + 1, strlen(colon + 1));
    return true;
}

/* Normalizes an IP literal like Go's net.ParseIP(..).String(); false if not an IP. */
static bool normalize_ip(const char *s, char *out, size_t cap) {
    unsigned char buf[16];
    char tmp[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, s, buf) == 1) {
        if (!inet_ntop(AF_INET, buf, tmp, sizeof(tmp))) return false;
    } else if (inet_pton(AF_INET6, s, buf) == 1) {
        if (!inet_ntop(AF_INET6, buf, tmp, sizeof(tmp))) return false;
        /* Go prints v4-mapped addresses as plain IPv4 */
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(buf, v4mapped, 12) == 0 && !inet_ntop(AF_INET, buf + 12, tmp, sizeof(tmp)))
            return false;
    } else {
        return false;
    }
    copy_str(out, cap, tmp, strlen(tmp));
    return true;
}

/* Go strconv.ParseInt(s, 10, 32) success and range 0..65535. */
static bool port_ok(const char *s) {
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (!*p) return false;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q)) return false;
    errno = 0;
    long long n = strtoll(s, NULL, 10);
    if (errno || n > INT32_MAX || n < INT32_MIN) return false;
    return n >= 0 && n <= 65535;
}

void cli_host_parse(const char *value, struct cli_host *h, bool *bad_port) {
    char buf[512];
    const char *default_port = "11434";
    if (bad_port) *bad_port = false;
    memset(h, 0, sizeof(*h));
    if (!value) value = "";
    /* trim spaces, then surrounding quotes (env.md) */
    size_t len = strlen(value);
    while (len && isspace((unsigned char)*value))
        value++, len--;
    while (len && isspace((unsigned char)value[len - 1]))
        len--;
    while (len >= 1 && (value[0] == '"' || value[0] == '\''))
        value++, len--;
    while (len >= 1 && (value[len - 1] == '"' || value[len - 1] == '\''))
        len--;
    copy_str(buf, sizeof(buf), value, len);

    const char *hostport = buf;
    char *sep = strstr(buf, "://");
    if (!sep) {
        strcpy(h->scheme, "http");
        if (strcmp(buf, "ollama.com") == 0) {
            strcpy(h->scheme, "https");
            strcpy(buf, "ollama.com:443");
        }
    } else {
        *sep = '\0';
        copy_str(h->scheme, sizeof(h->scheme), buf, strlen(buf));
        hostport = sep + 3;
        if (strcmp(h->scheme, "http") == 0) default_port = "80";
        if (strcmp(h->scheme, "https") == 0) default_port = "443";
    }
    char hp[512];
    copy_str(hp, sizeof(hp), hostport, strlen(hostport));
    char *slash = strchr(hp, '/');
    if (slash) {
        *slash = '\0';
        copy_str(h->path, sizeof(h->path), slash + 1, strlen(slash + 1));
    }
    if (!split_host_port(hp, h->host, sizeof(h->host), h->port, sizeof(h->port))) {
        strcpy(h->host, "127.0.0.1");
        strcpy(h->port, default_port);
        char trimmed[512];
        const char *t = hp;
        size_t tl = strlen(hp);
        while (tl && (*t == '[' || *t == ']'))
            t++, tl--;
        while (tl && (t[tl - 1] == '[' || t[tl - 1] == ']'))
            tl--;
        copy_str(trimmed, sizeof(trimmed), t, tl);
        if (!normalize_ip(trimmed, h->host, sizeof(h->host)) && hp[0])
            copy_str(h->host, sizeof(h->host), hp, strlen(hp));
    }
    if (!port_ok(h->port)) {
        if (bad_port) *bad_port = true;
        copy_str(h->port, sizeof(h->port), default_port, strlen(default_port));
    }
}

void cli_host_url(const struct cli_host *h, bool for_client, char *out, size_t cap) {
    const char *host = h->host;
    if (for_client) {
        if (!host[0] || strcmp(host, "0.0.0.0") == 0)
            host = "127.0.0.1";
        else if (strcmp(host, "::") == 0)
            host = "::1";
    }
    bool v6 = strchr(host, ':') != NULL;
    snprintf(out, cap, "%s://%s%s%s:%s%s%s", h->scheme, v6 ? "[" : "", host, v6 ? "]" : "", h->port,
             h->path[0] ? "/" : "", h->path);
}

/* ---- sizes and numbers ---- */

void cli_human_bytes(int64_t b, char *out, size_t cap) {
    double v;
    const char *unit;
    if (b >= 1000000000000LL) {
        v = (double)b / 1e12;
        unit = "TB";
    } else if (b >= 1000000000LL) {
        v = (double)b / 1e9;
        unit = "GB";
    } else if (b >= 1000000LL) {
        v = (double)b / 1e6;
        unit = "MB";
    } else if (b >= 1000LL) {
        v = (double)b / 1e3;
        unit = "KB";
    } else {
        snprintf(out, cap, "%" PRId64 " B", b);
        return;
    }
    if (v >= 10 || v == trunc(v))
        snprintf(out, cap, "%d %s", (int)v, unit);
    else
        snprintf(out, cap, "%.1f %s", v, unit);
}

void cli_human_number(uint64_t n, char *out, size_t cap) {
    if (n >= 1000000000ULL) {
        double v = (double)n / 1e9;
        snprintf(out, cap, v == floor(v) ? "%.0fB" : "%.1fB", v);
    } else if (n >= 1000000ULL) {
        double v = (double)n / 1e6;
        snprintf(out, cap, v == floor(v) ? "%.0fM" : "%.2fM", v);
    } else if (n >= 1000ULL) {
        snprintf(out, cap, "%.0fK", (double)n / 1e3);
    } else {
        snprintf(out, cap, "%" PRIu64, n);
    }
}

/* ---- times ---- */

/* humanDuration of d seconds (d >= 0). */
static void human_duration(double d, char *out, size_t cap) {
    long long seconds = (long long)d;
    if (seconds < 1) {
        snprintf(out, cap, "Less than a second");
        return;
    }
    if (seconds == 1) {
        snprintf(out, cap, "1 second");
        return;
    }
    if (seconds < 60) {
        snprintf(out, cap, "%lld seconds", seconds);
        return;
    }
    long long minutes = (long long)(d / 60);
    if (minutes == 1) {
        snprintf(out, cap, "About a minute");
        return;
    }
    if (minutes < 60) {
        snprintf(out, cap, "%lld minutes", minutes);
        return;
    }
    long long hours = llround(d / 3600);
    if (hours == 1)
        snprintf(out, cap, "About an hour");
    else if (hours < 48)
        snprintf(out, cap, "%lld hours", hours);
    else if (hours < 24 * 7 * 2)
        snprintf(out, cap, "%lld days", hours / 24);
    else if (hours < 24 * 30 * 2)
        snprintf(out, cap, "%lld weeks", hours / 24 / 7);
    else if (hours < 24 * 365 * 2)
        snprintf(out, cap, "%lld months", hours / 24 / 30);
    else
        snprintf(out, cap, "%lld years", (long long)(d / 3600) / 24 / 365);
}

void cli_human_time(double t, double now, bool is_zero, const char *zero, char *out, size_t cap) {
    char d[64];
    if (is_zero) {
        snprintf(out, cap, "%s", zero);
        return;
    }
    double delta = now - t;
    /* Go's time.Duration saturates at about 292 years */
    const double max_d = 9223372036.854775807;
    if (delta < -max_d) delta = -max_d;
    if (delta > max_d) delta = max_d;
    if ((long long)(delta / 3600) / 24 / 365 < -20) {
        snprintf(out, cap, "Forever");
    } else if (delta < 0) {
        human_duration(-delta, d, sizeof(d));
        snprintf(out, cap, "%s from now", d);
    } else {
        human_duration(delta, d, sizeof(d));
        snprintf(out, cap, "%s ago", d);
    }
}

/* Appends v / 10^prec with trailing fractional zeros removed. */
static size_t fmt_frac(char *b, size_t cap, uint64_t v, int prec) {
    uint64_t p10 = 1;
    for (int i = 0; i < prec; i++)
        p10 *= 10;
    uint64_t ip = v / p10;
    uint64_t fp = v % p10;
    int n = snprintf(b, cap, "%" PRIu64, ip);
    if (n < 0 || (size_t)n >= cap) return cap ? cap - 1 : 0;
    if (fp) {
        char f[32];
        snprintf(f, sizeof(f), "%0*" PRIu64, prec, fp);
        size_t fl = strlen(f);
        while (fl && f[fl - 1] == '0')
            f[--fl] = '\0';
        int m = snprintf(b + n, cap - (size_t)n, ".%s", f);
        if (m > 0) n += m;
    }
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

void cli_duration_str(int64_t ns, char *out, size_t cap) {
    char buf[64];
    size_t n = 0;
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    if (ns < 0) buf[n++] = '-';
    if (u == 0) {
        snprintf(out, cap, "0s");
        return;
    }
    if (u < 1000000000ULL) {
        int prec;
        const char *unit;
        if (u < 1000) {
            prec = 0;
            unit = "ns";
        } else if (u < 1000000) {
            prec = 3;
            unit = "\xc2\xb5s";
        } else {
            prec = 6;
            unit = "ms";
        }
        n += fmt_frac(buf + n, sizeof(buf) - n, u, prec);
        snprintf(buf + n, sizeof(buf) - n, "%s", unit);
    } else {
        uint64_t h = u / 3600000000000ULL;
        uint64_t rem = u % 3600000000000ULL;
        uint64_t m = rem / 60000000000ULL;
        uint64_t s_ns = rem % 60000000000ULL;
        if (h) n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%" PRIu64 "h", h);
        if (h || m) n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%" PRIu64 "m", m);
        n += fmt_frac(buf + n, sizeof(buf) - n, s_ns, 9);
        snprintf(buf + n, sizeof(buf) - n, "s");
    }
    snprintf(out, cap, "%s", buf);
}

int cli_duration_parse(const char *s, int64_t *ns, struct ol_err *err) {
    const char *orig = s;
    bool neg = false;
    double total = 0;
    if (*s == '-' || *s == '+') neg = *s++ == '-';
    if (strcmp(s, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (!*s) return ol_err_set(err, OL_EINVAL, "time: invalid duration \"%s\"", orig);
    while (*s) {
        if (!(isdigit((unsigned char)*s) || *s == '.'))
            return ol_err_set(err, OL_EINVAL, "time: invalid duration \"%s\"", orig);
        char *end;
        double v = strtod(s, &end);
        if (end == s) return ol_err_set(err, OL_EINVAL, "time: invalid duration \"%s\"", orig);
        s = end;
        double mult;
        if (strncmp(s, "ns", 2) == 0)
            mult = 1, s += 2;
        else if (strncmp(s, "us", 2) == 0)
            mult = 1e3, s += 2;
        else if (strncmp(s, "\xc2\xb5s", 3) == 0)
            mult = 1e3, s += 3;
        else if (strncmp(s, "\xce\xbcs", 3) == 0)
            mult = 1e3, s += 3;
        else if (strncmp(s, "ms", 2) == 0)
            mult = 1e6, s += 2;
        else if (*s == 's')
            mult = 1e9, s += 1;
        else if (*s == 'm')
            mult = 60e9, s += 1;
        else if (*s == 'h')
            mult = 3600e9, s += 1;
        else if (!*s)
            return ol_err_set(err, OL_EINVAL, "time: missing unit in duration \"%s\"", orig);
        else
            return ol_err_set(err, OL_EINVAL, "time: unknown unit in duration \"%s\"", orig);
        total += v * mult;
    }
    if (total > 9.2e18) return ol_err_set(err, OL_EINVAL, "time: invalid duration \"%s\"", orig);
    *ns = (int64_t)(neg ? -total : total);
    return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int cli_time_parse(const char *s, double *t, bool *is_zero) {
    int y, mo, d, h, mi, sec;
    int n = 0;
    *is_zero = false;
    *t = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
        return OL_EINVAL;
    const char *p = s + n;
    double frac = 0;
    if (*p == '.') {
        char *end;
        frac = strtod(p, &end);
        p = end;
    }
    int off = 0;
    if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2) return OL_EINVAL;
        off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
    } else if (*p != 'Z') {
        return OL_EINVAL;
    }
    if (y == 1 && mo == 1 && d == 1 && h == 0 && mi == 0 && sec == 0 && off == 0) {
        *is_zero = true;
        return 0;
    }
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    *t = (double)(days * 86400 + h * 3600 + mi * 60 + sec - off) + frac;
    return 0;
}

void cli_go_float(double v, bool exp_g, char *out, size_t cap) {
    char e[40];
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        snprintf(out, cap, signbit(v) ? "-0" : "0");
        return;
    }
    int p = 0;
    for (; p < 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p, v);
        if (strtod(e, NULL) == v) break;
    }
    char *ep = strchr(e, 'e');
    int exp = atoi(ep + 1);
    int nd = p + 1; /* significant digits */
    if (exp < -4 || exp >= (exp_g ? 6 : 21)) {
        /* mantissa as printed, exponent with at least two digits */
        *ep = '\0';
        snprintf(out, cap, "%se%c%02d", e, exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else {
        int dec = nd - 1 - exp;
        snprintf(out, cap, "%.*f", dec > 0 ? dec : 0, v);
    }
}

int cli_text_width(const char *s, size_t len) {
    int w = 0;
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0) {
            i++;
            w++;
            continue;
        }
        i += (size_t)n;
        w += utf8proc_charwidth(cp);
    }
    return w;
}
