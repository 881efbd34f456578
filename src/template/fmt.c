/* Go's fmt, strconv quoting/float formatting and encoding/json, as far as templates reach
 * them: what {{ x }}, print, printf, println and json write. The structure follows Go's fmt
 * (printArg at depth 0, printValue below it, badVerb for mismatches) so outputs such as
 * "%!d(string=x)" and "map[a:1 b:[2 3]]" come out byte-identical.
 * Known gaps: %#v is approximate, %x/%b of floats and %p are not Go's. */
#include "template/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- sbuf ---- */

void sb_init(struct sbuf *sb, struct ol_buf *b, size_t limit) {
    sb->b = b;
    sb->limit = limit;
    sb->err = 0;
}

void sb_put(struct sbuf *sb, const void *p, size_t len) {
    if (sb->err || len == 0) return;
    if (len > sb->limit || sb->b->len > sb->limit - len) {
        sb->err = OL_EINVAL;
        return;
    }
    if (ol_buf_append(sb->b, p, len) < 0) sb->err = OL_ENOMEM;
}

void sb_puts(struct sbuf *sb, const char *s) { sb_put(sb, s, strlen(s)); }

void sb_putc(struct sbuf *sb, char c) { sb_put(sb, &c, 1); }

void sb_printf(struct sbuf *sb, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof(tmp)) {
        sb_put(sb, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        sb->err = OL_ENOMEM;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_put(sb, big, (size_t)n);
    free(big);
}

/* ---- unicode ---- */

int32_t uc_decode(const char *str, size_t len, int *width) {
    const unsigned char *s = (const unsigned char *)str;
    if (len == 0) {
        *width = 0;
        return 0xFFFD;
    }
    unsigned c = s[0];
    *width = 1;
    if (c < 0x80) return (int32_t)c;
    unsigned lo = 0x80, hi = 0xBF;
    int n;
    int32_t r;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        r = (int32_t)(c & 0x1F);
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        r = (int32_t)(c & 0x0F);
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        r = (int32_t)(c & 0x07);
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0xFFFD;
    }
    if (len < (size_t)n) return 0xFFFD;
    for (int i = 1; i < n; i++) {
        unsigned cc = s[i];
        if (i == 1 ? (cc < lo || cc > hi) : (cc < 0x80 || cc > 0xBF)) return 0xFFFD;
        r = (r << 6) | (int32_t)(cc & 0x3F);
    }
    *width = n;
    return r;
}

void uc_encode(struct sbuf *sb, int32_t r) {
    char b[4];
    if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) r = 0xFFFD;
    if (r < 0x80) {
        b[0] = (char)r;
        sb_put(sb, b, 1);
    } else if (r < 0x800) {
        b[0] = (char)(0xC0 | (r >> 6));
        b[1] = (char)(0x80 | (r & 0x3F));
        sb_put(sb, b, 2);
    } else if (r < 0x10000) {
        b[0] = (char)(0xE0 | (r >> 12));
        b[1] = (char)(0x80 | ((r >> 6) & 0x3F));
        b[2] = (char)(0x80 | (r & 0x3F));
        sb_put(sb, b, 3);
    } else {
        b[0] = (char)(0xF0 | (r >> 18));
        b[1] = (char)(0x80 | ((r >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((r >> 6) & 0x3F));
        b[3] = (char)(0x80 | (r & 0x3F));
        sb_put(sb, b, 4);
    }
}

struct range32 {
    int32_t lo, hi;
};

static bool in_ranges(int32_t r, const struct range32 *t, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (r >= t[i].lo && r <= t[i].hi) return true;
    return false;
}

/* Decimal digits (Nd) outside ASCII. */
static const struct range32 digit_ranges[] = {
    {0x660, 0x669},   {0x6F0, 0x6F9},     {0x7C0, 0x7C9},   {0x966, 0x96F},   {0x9E6, 0x9EF},
    {0xA66, 0xA6F},   {0xAE6, 0xAEF},     {0xB66, 0xB6F},   {0xBE6, 0xBEF},   {0xC66, 0xC6F},
    {0xCE6, 0xCEF},   {0xD66, 0xD6F},     {0xDE6, 0xDEF},   {0xE50, 0xE59},   {0xED0, 0xED9},
    {0xF20, 0xF29},   {0x1040, 0x1049},   {0x1090, 0x1099}, {0x17E0, 0x17E9}, {0x1810, 0x1819},
    {0xFF10, 0xFF19}, {0x1D7CE, 0x1D7FF},
};

/* Non-letters outside ASCII: punctuation, symbols, marks, spaces, controls, private use. */
static const struct range32 nonletter_ranges[] = {
    {0x80, 0xA9},       {0xAB, 0xB4},        {0xB6, 0xB9},     {0xBB, 0xBF},     {0xD7, 0xD7},
    {0xF7, 0xF7},       {0x2C2, 0x2C5},      {0x2D2, 0x2DF},   {0x2E5, 0x2EB},   {0x2ED, 0x2ED},
    {0x2EF, 0x36F},     {0x375, 0x375},      {0x37E, 0x37E},   {0x384, 0x385},   {0x387, 0x387},
    {0x3F6, 0x3F6},     {0x482, 0x489},      {0x55A, 0x55F},   {0x589, 0x5CF},   {0x5F3, 0x61F},
    {0x64B, 0x66D},     {0x670, 0x670},      {0x6D4, 0x6D4},   {0x6D6, 0x6E4},   {0x6E7, 0x6ED},
    {0x900, 0x903},     {0x93A, 0x93C},      {0x93E, 0x94F},   {0x951, 0x957},   {0x962, 0x965},
    {0x970, 0x970},     {0x1680, 0x1680},    {0x2000, 0x2070}, {0x2072, 0x207E}, {0x2080, 0x208F},
    {0x209D, 0x2101},   {0x2103, 0x2106},    {0x2108, 0x2109}, {0x2114, 0x2114}, {0x2116, 0x2118},
    {0x211E, 0x2123},   {0x2125, 0x2125},    {0x2127, 0x2127}, {0x2129, 0x2129}, {0x212E, 0x212E},
    {0x213A, 0x213B},   {0x2140, 0x2144},    {0x214A, 0x214D}, {0x214F, 0x2182}, {0x2185, 0x2BFF},
    {0x2CE5, 0x2CEA},   {0x2CEF, 0x2CF1},    {0x2CF9, 0x2CFF}, {0x2E00, 0x2E2E}, {0x2E30, 0x3004},
    {0x3007, 0x3030},   {0x3036, 0x303A},    {0x303D, 0x3040}, {0x3099, 0x309C}, {0x30A0, 0x30A0},
    {0x30FB, 0x30FB},   {0x3190, 0x319F},    {0x31C0, 0x31EF}, {0x3200, 0x33FF}, {0x4DC0, 0x4DFF},
    {0xA490, 0xA4CF},   {0xD800, 0xF8FF},    {0xFB29, 0xFB29}, {0xFD3E, 0xFD4F}, {0xFDFC, 0xFE6F},
    {0xFEFF, 0xFF20},   {0xFF3B, 0xFF40},    {0xFF5B, 0xFF65}, {0xFFE0, 0xFFFF}, {0x1D000, 0x1D3FF},
    {0x1F000, 0x1FBFF}, {0xE0000, 0x10FFFF},
};

/* Non-printable runes outside ASCII (controls, format characters, non-ASCII spaces, private
 * use, surrogates, noncharacters). */
static const struct range32 nonprint_ranges[] = {
    {0x7F, 0xA0},       {0xAD, 0xAD},        {0x600, 0x605},     {0x61C, 0x61C},
    {0x6DD, 0x6DD},     {0x70F, 0x70F},      {0x890, 0x891},     {0x8E2, 0x8E2},
    {0x1680, 0x1680},   {0x180E, 0x180E},    {0x2000, 0x200F},   {0x2028, 0x202F},
    {0x205F, 0x206F},   {0x3000, 0x3000},    {0xD800, 0xF8FF},   {0xFDD0, 0xFDEF},
    {0xFEFF, 0xFEFF},   {0xFFF0, 0xFFFB},    {0xFFFE, 0xFFFF},   {0x110BD, 0x110BD},
    {0x110CD, 0x110CD}, {0x13430, 0x1343F},  {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A},
    {0xE0000, 0xE00FF}, {0xE01F0, 0x10FFFF},
};

bool uc_is_digit(int32_t r) {
    if (r < 0x80) return r >= '0' && r <= '9';
    return in_ranges(r, digit_ranges, OL_ARRAY_LEN(digit_ranges));
}

bool uc_is_letter(int32_t r) {
    if (r < 0x80) return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
    if (r > 0x10FFFF) return false;
    if (uc_is_digit(r)) return false;
    return !in_ranges(r, nonletter_ranges, OL_ARRAY_LEN(nonletter_ranges));
}

bool uc_is_print(int32_t r) {
    if (r < 0x80) return r >= 0x20 && r < 0x7F;
    if (r > 0x10FFFF) return false;
    if ((r & 0xFFFE) == 0xFFFE) return false;
    return !in_ranges(r, nonprint_ranges, OL_ARRAY_LEN(nonprint_ranges));
}

bool uc_is_space(int32_t r) {
    switch (r) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
        return true;
    default:
        return r >= 0x2000 && r <= 0x200A;
    }
}

void uc_trim_space(const char *s, size_t len, size_t *start, size_t *end) {
    size_t i = 0;
    while (i < len) {
        int w;
        int32_t r = uc_decode(s + i, len - i, &w);
        if (!uc_is_space(r)) break;
        i += (size_t)w;
    }
    size_t j = len;
    while (j > i) {
        /* Step back one rune: find its lead byte. */
        size_t k = j - 1;
        while (k > i && j - k < 4 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        int w;
        int32_t r = uc_decode(s + k, j - k, &w);
        if ((size_t)w != j - k) { /* not one whole rune: treat the last byte alone */
            k = j - 1;
            r = uc_decode(s + k, 1, &w);
        }
        if (!uc_is_space(r)) break;
        j = k;
    }
    *start = i;
    *end = j;
}

static size_t rune_count(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        int w;
        uc_decode(s + i, len - i, &w);
        i += (size_t)w;
        n++;
    }
    return n;
}

/* ---- strconv ---- */

static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

static void quote_rune_into(struct sbuf *sb, int32_t r, char quote, bool ascii_only) {
    char buf[16];
    if (r == quote || r == '\\') {
        buf[0] = '\\';
        buf[1] = (char)r;
        sb_put(sb, buf, 2);
        return;
    }
    if (ascii_only ? (r < 0x80 && uc_is_print(r)) : uc_is_print(r)) {
        uc_encode(sb, r);
        return;
    }
    switch (r) {
    case '\a':
        sb_puts(sb, "\\a");
        return;
    case '\b':
        sb_puts(sb, "\\b");
        return;
    case '\f':
        sb_puts(sb, "\\f");
        return;
    case '\n':
        sb_puts(sb, "\\n");
        return;
    case '\r':
        sb_puts(sb, "\\r");
        return;
    case '\t':
        sb_puts(sb, "\\t");
        return;
    case '\v':
        sb_puts(sb, "\\v");
        return;
    default:
        break;
    }
    if (r < ' ' || r == 0x7F) {
        buf[0] = '\\';
        buf[1] = 'x';
        buf[2] = hex_lower[(r >> 4) & 0xF];
        buf[3] = hex_lower[r & 0xF];
        sb_put(sb, buf, 4);
        return;
    }
    if (r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) r = 0xFFFD;
    if (r < 0x10000) {
        snprintf(buf, sizeof(buf), "\\u%04x", (unsigned)r);
    } else {
        snprintf(buf, sizeof(buf), "\\U%08x", (unsigned)r);
    }
    sb_puts(sb, buf);
}

static void quote_with(struct sbuf *sb, const char *s, size_t len, char quote, bool ascii_only) {
    sb_putc(sb, quote);
    for (size_t i = 0; i < len;) {
        int w;
        int32_t r = uc_decode(s + i, len - i, &w);
        if (w == 1 && r == 0xFFFD && (unsigned char)s[i] >= 0x80) {
            char b[4] = {'\\', 'x', hex_lower[((unsigned char)s[i]) >> 4], hex_lower[s[i] & 0xF]};
            sb_put(sb, b, 4);
            i++;
            continue;
        }
        quote_rune_into(sb, r, quote, ascii_only);
        i += (size_t)w;
    }
    sb_putc(sb, quote);
}

void gofmt_quote(struct sbuf *sb, const char *s, size_t len) { quote_with(sb, s, len, '"', false); }

void gofmt_rune_u(struct sbuf *sb, int32_t r) {
    sb_printf(sb, "U+%04X", (unsigned)r);
    if (uc_is_print(r)) {
        sb_puts(sb, " '");
        uc_encode(sb, r);
        sb_putc(sb, '\'');
    }
}

/* Shortest decimal digits of a finite v > 0 that read back as v: digits in d (no dot),
 * returns their count; *dp is the decimal point position (value = 0.d * 10^dp). */
static int float_shortest(double v, char *d, int *dp) {
    char buf[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof(buf), "%.*e", p - 1, v);
        if (strtod(buf, NULL) == v || p == 17) break;
    }
    int n = 0;
    const char *q = buf;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') d[n++] = *q;
    int exp = *q == 'e' ? atoi(q + 1) : 0;
    while (n > 1 && d[n - 1] == '0')
        n--;
    d[n] = 0;
    *dp = exp + 1;
    return n;
}

/* Digits of v > 0 rounded to `prec` significant digits, trailing zeros trimmed. */
static int float_digits_prec(double v, int prec, char *d, int *dp) {
    char buf[400];
    if (prec < 1) prec = 1;
    if (prec > 300) prec = 300;
    snprintf(buf, sizeof(buf), "%.*e", prec - 1, v);
    int n = 0;
    const char *q = buf;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9' && n < 340) d[n++] = *q;
    int exp = *q == 'e' ? atoi(q + 1) : 0;
    while (n > 1 && d[n - 1] == '0')
        n--;
    d[n] = 0;
    *dp = exp + 1;
    return n;
}

static void put_exp(struct sbuf *sb, char e, int exp) {
    char buf[16];
    snprintf(buf, sizeof(buf), "%c%c%02d", e, exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    sb_puts(sb, buf);
}

/* strconv's fmtE / fmtF on decimal digits d[0..nd) with point dp. */
static void digits_e(struct sbuf *sb, const char *d, int nd, int dp, int prec, char e, bool zero) {
    sb_putc(sb, nd > 0 ? d[0] : '0');
    if (prec > 0) {
        sb_putc(sb, '.');
        for (int i = 1; i <= prec; i++)
            sb_putc(sb, i < nd ? d[i] : '0');
    }
    put_exp(sb, e, zero ? 0 : dp - 1);
}

static void digits_f(struct sbuf *sb, const char *d, int nd, int dp, int prec) {
    if (dp > 0) {
        for (int i = 0; i < dp; i++)
            sb_putc(sb, i < nd ? d[i] : '0');
    } else {
        sb_putc(sb, '0');
    }
    if (prec > 0) {
        sb_putc(sb, '.');
        for (int i = 1; i <= prec; i++) {
            int j = dp + i - 1;
            sb_putc(sb, j >= 0 && j < nd ? d[j] : '0');
        }
    }
}

/* strconv.AppendFloat(v, fmt, prec, 64) for fmt in e E f F g G (prec -1: shortest). Writes
 * the sign when negative. */
static void strconv_float(struct sbuf *sb, double v, char fmt, int prec) {
    if (isnan(v)) {
        sb_puts(sb, "NaN");
        return;
    }
    if (isinf(v)) {
        sb_puts(sb, v < 0 ? "-Inf" : "+Inf");
        return;
    }
    if (signbit(v)) sb_putc(sb, '-');
    v = fabs(v);
    char d[400];
    int dp = 0;
    int nd;
    bool zero = v == 0;
    bool shortest = prec < 0;
    char lower = (char)(fmt | 0x20);
    if (zero) {
        nd = 0;
        d[0] = 0;
        dp = 0;
    } else if (shortest) {
        nd = float_shortest(v, d, &dp);
    } else if (lower == 'e') {
        nd = float_digits_prec(v, prec + 1, d, &dp);
    } else if (lower == 'f') {
        /* Round to prec decimals: dp + prec significant digits. */
        char buf[400];
        snprintf(buf, sizeof(buf), "%.*f", prec > 300 ? 300 : prec, v);
        sb_puts(sb, buf);
        return;
    } else {
        nd = float_digits_prec(v, prec == 0 ? 1 : prec, d, &dp);
    }
    if (shortest) {
        if (lower == 'e') prec = nd > 0 ? nd - 1 : 0;
        if (lower == 'f') prec = nd - dp > 0 ? nd - dp : 0;
        if (lower == 'g') prec = nd;
    }
    switch (lower) {
    case 'e':
        digits_e(sb, d, nd, dp, prec, fmt == 'E' ? 'E' : 'e', zero);
        return;
    case 'f':
        digits_f(sb, d, nd, dp, prec);
        return;
    default: {
        if (prec == 0) prec = 1;
        int eprec = prec;
        if (eprec > nd && nd >= dp) eprec = nd;
        if (shortest) eprec = 6;
        int exp = dp - 1;
        if (zero) exp = 0;
        if (!zero && (exp < -4 || exp >= eprec)) {
            if (prec > nd) prec = nd;
            digits_e(sb, d, nd, dp, prec - 1, fmt == 'G' ? 'E' : 'e', zero);
            return;
        }
        if (prec > dp) prec = nd;
        digits_f(sb, d, nd, dp, prec - dp > 0 ? prec - dp : 0);
        return;
    }
    }
}

void gofmt_float_v(struct sbuf *sb, double f) { strconv_float(sb, f, 'g', -1); }

/* ---- fmt ---- */

struct fspec {
    bool minus, plus, sharp, space, zero;
    bool plus_v, sharp_v;
    bool wid_present, prec_present;
    int wid, prec;
};

#define FMT_MAX_DEPTH 1000

struct printer {
    struct sbuf *sb;
    struct fspec f;
    bool erroring;
};

static void pad_write(struct printer *p, const char *s, size_t len, bool numeric) {
    struct sbuf *sb = p->sb;
    if (!p->f.wid_present || p->f.wid == 0) {
        sb_put(sb, s, len);
        return;
    }
    size_t n = rune_count(s, len);
    if ((size_t)p->f.wid <= n) {
        sb_put(sb, s, len);
        return;
    }
    size_t padn = (size_t)p->f.wid - n;
    char padc = p->f.zero ? '0' : ' '; /* Go 1.19 pads strings with zeros too */
    (void)numeric;
    if (!p->f.minus) {
        for (size_t i = 0; i < padn; i++)
            sb_putc(sb, padc);
        sb_put(sb, s, len);
    } else {
        sb_put(sb, s, len);
        for (size_t i = 0; i < padn; i++)
            sb_putc(sb, ' ');
    }
}

static void pad_str(struct printer *p, const char *s, size_t len) { pad_write(p, s, len, false); }

/* Formats into a temporary buffer, then pads it as one piece. */
struct tmpbuf {
    struct ol_buf b;
    struct sbuf sb;
};

static void tmp_init(struct tmpbuf *t) {
    memset(&t->b, 0, sizeof(t->b));
    sb_init(&t->sb, &t->b, SIZE_MAX);
}

static void tmp_done(struct printer *p, struct tmpbuf *t, bool numeric) {
    if (t->sb.err) p->sb->err = p->sb->err ? p->sb->err : t->sb.err;
    pad_write(p, t->b.data ? t->b.data : "", t->b.len, numeric);
    ol_buf_free(&t->b);
}

static void print_value(struct printer *p, const struct tmpl_value *v, int verb, int depth);

static void bad_verb(struct printer *p, const struct tmpl_value *v, int verb) {
    p->erroring = true;
    sb_puts(p->sb, "%!");
    uc_encode(p->sb, verb);
    sb_putc(p->sb, '(');
    if (v && v->kind != TMPL_NIL) {
        sb_puts(p->sb, value_go_type(v));
        sb_putc(p->sb, '=');
        print_value(p, v, 'v', 0);
    } else {
        sb_puts(p->sb, "<nil>");
    }
    sb_putc(p->sb, ')');
    p->erroring = false;
}

static void fmt_bool(struct printer *p, const struct tmpl_value *v, int verb) {
    if (verb == 't' || verb == 'v') {
        pad_str(p, v->u.b ? "true" : "false", v->u.b ? 4 : 5);
    } else {
        bad_verb(p, v, verb);
    }
}

static void fmt_q_string(struct printer *p, const char *s, size_t len);

static void fmt_int(struct printer *p, const struct tmpl_value *v, int verb) {
    int64_t x = v->u.i;
    int base = 10;
    const char *digits = hex_lower;
    switch (verb) {
    case 'v':
    case 'd':
        break;
    case 'b':
        base = 2;
        break;
    case 'o':
    case 'O':
        base = 8;
        break;
    case 'x':
        base = 16;
        break;
    case 'X':
        base = 16;
        digits = hex_upper;
        break;
    case 'c': {
        struct tmpbuf t;
        tmp_init(&t);
        uc_encode(&t.sb, x < 0 || x > 0x10FFFF ? 0xFFFD : (int32_t)x);
        tmp_done(p, &t, false);
        return;
    }
    case 'q': {
        struct tmpbuf t;
        tmp_init(&t);
        int32_t r = x < 0 || x > 0x10FFFF ? 0xFFFD : (int32_t)x;
        sb_putc(&t.sb, '\'');
        quote_rune_into(&t.sb, r, '\'', p->f.plus);
        sb_putc(&t.sb, '\'');
        tmp_done(p, &t, false);
        return;
    }
    case 'U': {
        struct tmpbuf t;
        tmp_init(&t);
        sb_printf(&t.sb, "U+%04llX", (unsigned long long)x);
        if (p->f.sharp && x >= 0 && x <= 0x10FFFF && uc_is_print((int32_t)x)) {
            sb_puts(&t.sb, " '");
            uc_encode(&t.sb, (int32_t)x);
            sb_putc(&t.sb, '\'');
        }
        tmp_done(p, &t, false);
        return;
    }
    default:
        bad_verb(p, v, verb);
        return;
    }
    /* Digits of |x|. */
    char buf[80];
    int n = 0;
    uint64_t u = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    do {
        buf[n++] = digits[u % (uint64_t)base];
        u /= (uint64_t)base;
    } while (u);
    int prec = p->f.prec_present ? p->f.prec : 0;
    if (p->f.prec_present && prec == 0 && x == 0) n = 0; /* %.0d of 0 prints nothing */
    /* Zero padding to the width when no precision is given. */
    int want = prec;
    bool neg = x < 0;
    bool sign = neg || p->f.plus || p->f.space;
    const char *prefix = "";
    if (p->f.sharp) {
        if (base == 2) prefix = "0b";
        if (base == 8 && !(n > 0 && buf[n - 1] == '0')) prefix = "0";
        if (base == 16) prefix = digits == hex_upper ? "0X" : "0x";
    }
    if (verb == 'O') prefix = "0o";
    if (p->f.zero && p->f.wid_present && !p->f.minus && !p->f.prec_present) {
        want = p->f.wid - (sign ? 1 : 0);
    }
    struct tmpbuf t;
    tmp_init(&t);
    if (neg) {
        sb_putc(&t.sb, '-');
    } else if (p->f.plus) {
        sb_putc(&t.sb, '+');
    } else if (p->f.space) {
        sb_putc(&t.sb, ' ');
    }
    sb_puts(&t.sb, prefix);
    for (int i = n; i < want; i++)
        sb_putc(&t.sb, '0');
    for (int i = n - 1; i >= 0; i--)
        sb_putc(&t.sb, buf[i]);
    /* Zero padding is done; pad the rest with spaces. */
    bool saved_zero = p->f.zero;
    p->f.zero = false;
    tmp_done(p, &t, true);
    p->f.zero = saved_zero;
}

static void fmt_float(struct printer *p, const struct tmpl_value *v, int verb) {
    double x = v->u.f;
    char fmt;
    int prec;
    switch (verb) {
    case 'v':
        fmt = 'g';
        prec = -1;
        break;
    case 'g':
    case 'G':
        fmt = (char)verb;
        prec = -1;
        break;
    case 'e':
    case 'E':
    case 'f':
    case 'F':
        fmt = (char)(verb == 'F' ? 'f' : verb);
        prec = 6;
        break;
    case 'b':
    case 'x':
    case 'X': {
        /* Rarely used: C's hex float / Go's %b are not reproduced; print %g instead. */
        fmt = 'g';
        prec = -1;
        break;
    }
    default:
        bad_verb(p, v, verb);
        return;
    }
    if (p->f.prec_present) prec = p->f.prec;
    struct tmpbuf t;
    tmp_init(&t);
    strconv_float(&t.sb, x, fmt, prec);
    const char *num = t.b.data ? t.b.data : "";
    size_t len = t.b.len;
    bool neg = len > 0 && num[0] == '-';
    bool special = isinf(x) || isnan(x);
    bool has_sign = len > 0 && (num[0] == '-' || num[0] == '+');
    struct tmpbuf o;
    tmp_init(&o);
    const char *body = has_sign ? num + 1 : num;
    size_t blen = has_sign ? len - 1 : len;
    char signc = 0;
    if (neg) {
        signc = '-';
    } else if (p->f.plus || (isinf(x) && !p->f.space)) {
        signc = '+'; /* Go prints +Inf even without the flag */
    } else if (p->f.space) {
        signc = ' ';
    }
    if (signc) sb_putc(&o.sb, signc);
    if (p->f.zero && p->f.wid_present && !p->f.minus && !special) {
        int fill = p->f.wid - (int)blen - (signc ? 1 : 0);
        for (int i = 0; i < fill; i++)
            sb_putc(&o.sb, '0');
    }
    sb_put(&o.sb, body, blen);
    ol_buf_free(&t.b);
    bool saved_zero = p->f.zero;
    p->f.zero = false;
    tmp_done(p, &o, true);
    p->f.zero = saved_zero;
}

/* Truncates s to the precision (in runes) when one is given. */
static size_t trunc_prec(const struct printer *p, const char *s, size_t len) {
    if (!p->f.prec_present) return len;
    size_t i = 0;
    int n = 0;
    while (i < len && n < p->f.prec) {
        int w;
        uc_decode(s + i, len - i, &w);
        i += (size_t)w;
        n++;
    }
    return i;
}

static void fmt_q_string(struct printer *p, const char *s, size_t len) {
    len = trunc_prec(p, s, len);
    struct tmpbuf t;
    tmp_init(&t);
    bool backquote = p->f.sharp;
    if (backquote) {
        for (size_t i = 0; i < len;) {
            int w;
            int32_t r = uc_decode(s + i, len - i, &w);
            if ((w == 1 && r == 0xFFFD) || r == '`' || r == 0xFEFF || (r < ' ' && r != '\t') ||
                r == 0x7F) {
                backquote = false;
                break;
            }
            i += (size_t)w;
        }
    }
    if (backquote) {
        sb_putc(&t.sb, '`');
        sb_put(&t.sb, s, len);
        sb_putc(&t.sb, '`');
    } else {
        quote_with(&t.sb, s, len, '"', p->f.plus);
    }
    tmp_done(p, &t, false);
}

static void fmt_hex_bytes(struct printer *p, const char *s, size_t len, bool upper) {
    const char *digits = upper ? hex_upper : hex_lower;
    if (p->f.prec_present && (size_t)p->f.prec < len) len = (size_t)p->f.prec;
    struct tmpbuf t;
    tmp_init(&t);
    for (size_t i = 0; i < len; i++) {
        if (p->f.space && i > 0) sb_putc(&t.sb, ' ');
        if (p->f.sharp && (p->f.space || i == 0)) sb_puts(&t.sb, upper ? "0X" : "0x");
        sb_putc(&t.sb, digits[((unsigned char)s[i]) >> 4]);
        sb_putc(&t.sb, digits[s[i] & 0xF]);
    }
    tmp_done(p, &t, false);
}

static void fmt_string(struct printer *p, const struct tmpl_value *v, const char *s, size_t len,
                       int verb) {
    switch (verb) {
    case 'v':
        if (p->f.sharp_v) {
            fmt_q_string(p, s, len);
            return;
        }
        pad_str(p, s, trunc_prec(p, s, len));
        return;
    case 's':
        pad_str(p, s, trunc_prec(p, s, len));
        return;
    case 'x':
    case 'X':
        fmt_hex_bytes(p, s, len, verb == 'X');
        return;
    case 'q':
        fmt_q_string(p, s, len);
        return;
    default:
        bad_verb(p, v, verb);
        return;
    }
}

/* handleMethods: a value with a String() text prints that text for v s x X q. */
static bool handle_methods(struct printer *p, const struct tmpl_value *v, int verb) {
    if (p->erroring || !v || !v->has_text || p->f.sharp_v) return false;
    switch (verb) {
    case 'v':
    case 's':
    case 'x':
    case 'X':
    case 'q':
        fmt_string(p, NULL, v->text, v->text_len, verb);
        return true;
    default:
        return false;
    }
}

static void put_type_prefix(struct printer *p, const struct tmpl_value *v) {
    sb_puts(p->sb, value_go_type(v));
}

static void print_value(struct printer *p, const struct tmpl_value *v, int verb, int depth) {
    if (depth > FMT_MAX_DEPTH) return; /* absurdly deep data: stop rather than exhaust the stack */
    if (depth > 0 && v && v->kind != TMPL_NIL && handle_methods(p, v, verb)) return;
    if (!v || v->kind == TMPL_NIL) {
        /* A nil interface inside a container. */
        if (p->f.sharp_v) {
            sb_puts(p->sb, "interface {}(nil)");
        } else {
            pad_str(p, "<nil>", 5);
        }
        return;
    }
    switch (v->kind) {
    case TMPL_BOOL:
        fmt_bool(p, v, verb);
        return;
    case TMPL_INT:
        fmt_int(p, v, verb);
        return;
    case TMPL_FLOAT:
        fmt_float(p, v, verb);
        return;
    case TMPL_STRING:
        fmt_string(p, v, v->u.s.p, v->u.s.len, verb);
        return;
    case TMPL_MAP: {
        if (p->f.sharp_v) {
            put_type_prefix(p, v);
            if (v->flags & TMPL_VF_NIL) {
                sb_puts(p->sb, "(nil)");
                return;
            }
            sb_putc(p->sb, '{');
        } else {
            sb_puts(p->sb, "map[");
        }
        size_t n = v->u.map.n;
        struct tmpl_arena *tmp = n > 1 ? tmpl_arena_new() : NULL;
        size_t *idx = n > 1 ? (tmp ? value_sorted_keys(tmp, v) : NULL) : NULL;
        if (n > 1 && !idx) {
            p->sb->err = OL_ENOMEM;
            tmpl_arena_free(tmp);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            const struct tmpl_entry *e = &v->u.map.e[idx ? idx[i] : i];
            if (i > 0) sb_puts(p->sb, p->f.sharp_v ? ", " : " ");
            struct tmpl_value key;
            memset(&key, 0, sizeof(key));
            key.kind = TMPL_STRING;
            key.u.s.p = e->key;
            key.u.s.len = e->key_len;
            print_value(p, &key, verb, depth + 1);
            sb_putc(p->sb, ':');
            print_value(p, e->v, verb, depth + 1);
        }
        tmpl_arena_free(tmp);
        sb_putc(p->sb, p->f.sharp_v ? '}' : ']');
        return;
    }
    case TMPL_STRUCT: {
        bool ptr = value_is_ptr_struct(v);
        if (ptr) sb_putc(p->sb, '&');
        if (p->f.sharp_v) sb_puts(p->sb, value_go_type(v) + (ptr ? 1 : 0));
        sb_putc(p->sb, '{');
        for (size_t i = 0; i < v->u.map.n; i++) {
            const struct tmpl_entry *e = &v->u.map.e[i];
            if (i > 0) sb_puts(p->sb, p->f.sharp_v ? ", " : " ");
            if (p->f.plus_v || p->f.sharp_v) {
                sb_put(p->sb, e->key, e->key_len);
                sb_putc(p->sb, ':');
            }
            print_value(p, e->v, verb, depth + 1);
        }
        sb_putc(p->sb, '}');
        return;
    }
    case TMPL_LIST: {
        if (p->f.sharp_v) {
            put_type_prefix(p, v);
            if (v->flags & TMPL_VF_NIL) {
                sb_puts(p->sb, "(nil)");
                return;
            }
            sb_putc(p->sb, '{');
        } else {
            sb_putc(p->sb, '[');
        }
        for (size_t i = 0; i < v->u.list.n; i++) {
            if (i > 0) sb_puts(p->sb, p->f.sharp_v ? ", " : " ");
            print_value(p, v->u.list.items[i], verb, depth + 1);
        }
        sb_putc(p->sb, p->f.sharp_v ? '}' : ']');
        return;
    }
    default:
        return;
    }
}

/* printArg: one operand at depth 0. */
static void print_arg(struct printer *p, const struct tmpl_value *v, int verb) {
    if (!v || v->kind == TMPL_NIL) {
        if (verb == 'T' || verb == 'v') {
            pad_str(p, "<nil>", 5);
        } else {
            bad_verb(p, NULL, verb);
        }
        return;
    }
    if (verb == 'T') {
        const char *t = value_go_type(v);
        fmt_string(p, NULL, t, strlen(t), 's');
        return;
    }
    if (verb == 'p') {
        bad_verb(p, v, verb);
        return;
    }
    if (handle_methods(p, v, verb)) return;
    print_value(p, v, verb, 0);
}

void gofmt_print1(struct sbuf *sb, const struct tmpl_value *v) {
    struct printer p;
    memset(&p, 0, sizeof(p));
    p.sb = sb;
    /* The template's printableValue dereferences a pointer before printing. */
    if (value_is_ptr_struct(v) && !v->has_text) {
        struct tmpl_value copy = *v;
        copy.go_type = v->go_type + 1;
        print_arg(&p, &copy, 'v');
        return;
    }
    print_arg(&p, v, 'v');
}

void gofmt_value_v(struct sbuf *sb, const struct tmpl_value *v) {
    struct printer p;
    memset(&p, 0, sizeof(p));
    p.sb = sb;
    print_arg(&p, v, 'v');
}

static bool is_string_arg(const struct tmpl_value *v) { return v && v->kind == TMPL_STRING; }

void gofmt_sprint(struct sbuf *sb, const struct tmpl_value *const *args, int n, bool ln) {
    struct printer p;
    memset(&p, 0, sizeof(p));
    p.sb = sb;
    bool prev_string = false;
    for (int i = 0; i < n; i++) {
        bool is_string = is_string_arg(args[i]);
        if (i > 0 && (ln || (!is_string && !prev_string))) sb_putc(sb, ' ');
        memset(&p.f, 0, sizeof(p.f));
        print_arg(&p, args[i], 'v');
        prev_string = is_string;
    }
    if (ln) sb_putc(sb, '\n');
}

static bool too_large(int x) { return x > 1000000 || x < -1000000; }

/* parsenum: digits at s[start..end); returns the index after them. */
static int parse_num(const char *s, int start, int end, int *num, bool *is_num) {
    *num = 0;
    *is_num = false;
    if (start >= end) return end;
    int i = start;
    for (; i < end && s[i] >= '0' && s[i] <= '9'; i++) {
        if (too_large(*num)) {
            *num = 0;
            *is_num = false;
            return end;
        }
        *num = *num * 10 + (s[i] - '0');
        *is_num = true;
    }
    return i;
}

struct printf_state {
    int arg_num;
    bool reordered;
    bool good_arg_num;
};

/* argNumber: an explicit [n] index at format[i]. */
static int arg_number(struct printf_state *st, const char *format, int i, int end, int n_args,
                      bool *found) {
    *found = false;
    if (i >= end || format[i] != '[') return i;
    st->reordered = true;
    /* parseArgNumber */
    int wid = 1;
    bool ok = false;
    int index = 0;
    if (end - i >= 3) {
        for (int j = i + 1; j < end; j++) {
            if (format[j] == ']') {
                int num;
                bool is_num;
                int newi = parse_num(format, i + 1, j, &num, &is_num);
                if (!is_num || newi != j) {
                    wid = j - i + 1;
                    ok = false;
                } else {
                    index = num - 1;
                    wid = j - i + 1;
                    ok = true;
                }
                break;
            }
        }
    }
    if (ok && index >= 0 && index < n_args) {
        st->arg_num = index;
        *found = true;
        return i + wid;
    }
    st->good_arg_num = false;
    *found = ok;
    return i + wid;
}

static bool int_from_arg(const struct tmpl_value *const *args, int n, int *arg_num, int *out) {
    *out = 0;
    if (*arg_num >= n) return false;
    const struct tmpl_value *v = args[*arg_num];
    (*arg_num)++;
    if (!v || v->kind != TMPL_INT) return false;
    if (v->u.i > 1000000 || v->u.i < -1000000) return false;
    *out = (int)v->u.i;
    return true;
}

void gofmt_sprintf(struct sbuf *sb, const char *format, size_t flen,
                   const struct tmpl_value *const *args, int n) {
    struct printer p;
    memset(&p, 0, sizeof(p));
    p.sb = sb;
    struct printf_state st = {0, false, true};
    int end = flen > (size_t)INT32_MAX ? INT32_MAX : (int)flen;
    bool after_index = false;
    int i = 0;
    while (i < end) {
        st.good_arg_num = true;
        int lasti = i;
        while (i < end && format[i] != '%')
            i++;
        if (i > lasti) sb_put(sb, format + lasti, (size_t)(i - lasti));
        if (i >= end) break;
        i++;
        memset(&p.f, 0, sizeof(p.f));
        bool simple_done = false;
        for (; i < end; i++) {
            char c = format[i];
            if (c == '#') {
                p.f.sharp = true;
            } else if (c == '0') {
                p.f.zero = !p.f.minus;
            } else if (c == '+') {
                p.f.plus = true;
            } else if (c == '-') {
                p.f.minus = true;
                p.f.zero = false;
            } else if (c == ' ') {
                p.f.space = true;
            } else {
                if (c >= 'a' && c <= 'z' && st.arg_num < n) {
                    if (c == 'v') {
                        p.f.sharp_v = p.f.sharp;
                        p.f.sharp = false;
                        p.f.plus_v = p.f.plus;
                        p.f.plus = false;
                    }
                    print_arg(&p, args[st.arg_num], c);
                    st.arg_num++;
                    i++;
                    simple_done = true;
                }
                break;
            }
        }
        if (simple_done) continue;

        bool found;
        i = arg_number(&st, format, i, end, n, &found);
        after_index = found;

        if (i < end && format[i] == '*') {
            i++;
            p.f.wid_present = int_from_arg(args, n, &st.arg_num, &p.f.wid);
            if (!p.f.wid_present) sb_puts(sb, "%!(BADWIDTH)");
            if (p.f.wid < 0) {
                p.f.wid = -p.f.wid;
                p.f.minus = true;
                p.f.zero = false;
            }
            after_index = false;
        } else {
            i = parse_num(format, i, end, &p.f.wid, &p.f.wid_present);
            if (after_index && p.f.wid_present) st.good_arg_num = false;
        }

        if (i + 1 < end && format[i] == '.') {
            i++;
            if (after_index) st.good_arg_num = false;
            i = arg_number(&st, format, i, end, n, &found);
            after_index = found;
            if (i < end && format[i] == '*') {
                i++;
                p.f.prec_present = int_from_arg(args, n, &st.arg_num, &p.f.prec);
                if (p.f.prec < 0) {
                    p.f.prec = 0;
                    p.f.prec_present = false;
                }
                if (!p.f.prec_present) sb_puts(sb, "%!(BADPREC)");
                after_index = false;
            } else {
                i = parse_num(format, i, end, &p.f.prec, &p.f.prec_present);
                if (!p.f.prec_present) {
                    p.f.prec = 0;
                    p.f.prec_present = true;
                }
            }
        }

        if (!after_index) {
            i = arg_number(&st, format, i, end, n, &found);
            after_index = found;
        }

        if (i >= end) {
            sb_puts(sb, "%!(NOVERB)");
            break;
        }
        int w = 1;
        int32_t verb = (unsigned char)format[i];
        if (verb >= 0x80) verb = uc_decode(format + i, (size_t)(end - i), &w);
        i += w;

        if (verb == '%') {
            sb_putc(sb, '%');
        } else if (!st.good_arg_num) {
            sb_puts(sb, "%!");
            uc_encode(sb, verb);
            sb_puts(sb, "(BADINDEX)");
        } else if (st.arg_num >= n) {
            sb_puts(sb, "%!");
            uc_encode(sb, verb);
            sb_puts(sb, "(MISSING)");
        } else {
            if (verb == 'v') {
                p.f.sharp_v = p.f.sharp;
                p.f.sharp = false;
                p.f.plus_v = p.f.plus;
                p.f.plus = false;
            }
            print_arg(&p, args[st.arg_num], verb);
            st.arg_num++;
        }
    }
    if (!st.reordered && st.arg_num < n) {
        memset(&p.f, 0, sizeof(p.f));
        sb_puts(sb, "%!(EXTRA ");
        for (int k = st.arg_num; k < n; k++) {
            if (k > st.arg_num) sb_puts(sb, ", ");
            const struct tmpl_value *v = args[k];
            if (!v || v->kind == TMPL_NIL) {
                sb_puts(sb, "<nil>");
            } else {
                sb_puts(sb, value_go_type(v));
                sb_putc(sb, '=');
                print_arg(&p, v, 'v');
            }
        }
        sb_putc(sb, ')');
    }
}

/* ---- encoding/json ---- */

void gojson_string(struct sbuf *sb, const char *s, size_t len) {
    sb_putc(sb, '"');
    size_t start = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x80) {
            if (b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&') {
                i++;
                continue;
            }
            sb_put(sb, s + start, i - start);
            switch (b) {
            case '\\':
            case '"': {
                char e[2] = {'\\', (char)b};
                sb_put(sb, e, 2);
                break;
            }
            case '\b':
                sb_puts(sb, "\\b");
                break;
            case '\f':
                sb_puts(sb, "\\f");
                break;
            case '\n':
                sb_puts(sb, "\\n");
                break;
            case '\r':
                sb_puts(sb, "\\r");
                break;
            case '\t':
                sb_puts(sb, "\\t");
                break;
            default: {
                char e[6] = {'\\', 'u', '0', '0', hex_lower[b >> 4], hex_lower[b & 0xF]};
                sb_put(sb, e, 6);
                break;
            }
            }
            i++;
            start = i;
            continue;
        }
        int w;
        int32_t r = uc_decode(s + i, len - i, &w);
        if (r == 0xFFFD && w == 1) {
            sb_put(sb, s + start, i - start);
            sb_puts(sb, "\\ufffd");
            i++;
            start = i;
            continue;
        }
        if (r == 0x2028 || r == 0x2029) {
            sb_put(sb, s + start, i - start);
            sb_puts(sb, r == 0x2028 ? "\\u2028" : "\\u2029");
            i += (size_t)w;
            start = i;
            continue;
        }
        i += (size_t)w;
    }
    sb_put(sb, s + start, len - start);
    sb_putc(sb, '"');
}

static bool json_float(struct sbuf *sb, double f) {
    if (isnan(f) || isinf(f)) return false;
    double a = fabs(f);
    char fmt = 'f';
    if (a != 0 && (a < 1e-6 || a >= 1e21)) fmt = 'e';
    struct ol_buf tb = {0};
    struct sbuf t;
    sb_init(&t, &tb, SIZE_MAX);
    strconv_float(&t, f, fmt, -1);
    if (t.err) {
        sb->err = t.err;
        ol_buf_free(&tb);
        return true;
    }
    size_t n = tb.len;
    char *b = tb.data;
    if (fmt == 'e' && n >= 4 && b[n - 4] == 'e' && b[n - 3] == '-' && b[n - 2] == '0') {
        b[n - 2] = b[n - 1];
        n--;
    }
    sb_put(sb, b, n);
    ol_buf_free(&tb);
    return true;
}

static bool json_value(struct sbuf *sb, const struct tmpl_value *v, int depth) {
    if (depth > 1000) return false;
    if (!v || v->kind == TMPL_NIL) {
        sb_puts(sb, "null");
        return true;
    }
    if (v->has_json) {
        sb_put(sb, v->json, v->json_len);
        return true;
    }
    switch (v->kind) {
    case TMPL_BOOL:
        sb_puts(sb, v->u.b ? "true" : "false");
        return true;
    case TMPL_INT:
        sb_printf(sb, "%lld", (long long)v->u.i);
        return true;
    case TMPL_FLOAT:
        return json_float(sb, v->u.f);
    case TMPL_STRING:
        gojson_string(sb, v->u.s.p, v->u.s.len);
        return true;
    case TMPL_LIST:
        if (v->flags & TMPL_VF_NIL) {
            sb_puts(sb, "null");
            return true;
        }
        sb_putc(sb, '[');
        for (size_t i = 0; i < v->u.list.n; i++) {
            if (i) sb_putc(sb, ',');
            if (!json_value(sb, v->u.list.items[i], depth + 1)) return false;
        }
        sb_putc(sb, ']');
        return true;
    case TMPL_MAP: {
        if (v->flags & TMPL_VF_NIL) {
            sb_puts(sb, "null");
            return true;
        }
        struct tmpl_arena *tmp = tmpl_arena_new();
        size_t *idx = tmp ? value_sorted_keys(tmp, v) : NULL;
        if (!idx) {
            tmpl_arena_free(tmp);
            sb->err = OL_ENOMEM;
            return true;
        }
        sb_putc(sb, '{');
        bool ok = true;
        for (size_t i = 0; i < v->u.map.n && ok; i++) {
            const struct tmpl_entry *e = &v->u.map.e[idx[i]];
            if (i) sb_putc(sb, ',');
            gojson_string(sb, e->key, e->key_len);
            sb_putc(sb, ':');
            ok = json_value(sb, e->v, depth + 1);
        }
        tmpl_arena_free(tmp);
        if (!ok) return false;
        sb_putc(sb, '}');
        return true;
    }
    case TMPL_STRUCT:
        sb_putc(sb, '{');
        for (size_t i = 0; i < v->u.map.n; i++) {
            const struct tmpl_entry *e = &v->u.map.e[i];
            if (i) sb_putc(sb, ',');
            gojson_string(sb, e->key, e->key_len);
            sb_putc(sb, ':');
            if (!json_value(sb, e->v, depth + 1)) return false;
        }
        sb_putc(sb, '}');
        return true;
    default:
        sb_puts(sb, "null");
        return true;
    }
}

bool gojson_marshal(struct sbuf *sb, const struct tmpl_value *v) { return json_value(sb, v, 0); }
