/* JSON and value text written byte-for-byte as Ollama's Go code writes it. Model IDs are hashes
 * of manifest bytes and layer digests are hashes of layer bytes, so a created model only gets
 * Ollama's ID when every escape and every float is spelled as Go's encoding/json spells it. */
#include "store/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static const char hex_digits[] = "0123456789abcdef";

/* Decodes one UTF-8 rune like Go's utf8.DecodeRune: returns its length and sets *r, or returns
 * 1 with *r = -1 for an invalid or truncated sequence (overlong, surrogate, > U+10FFFF). */
static int utf8_decode(const unsigned char *p, size_t len, int32_t *r) {
    unsigned char c = p[0];
    int n;
    int32_t v, min;
    if (c < 0x80) {
        *r = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        *r = -1;
        return 1;
    }
    if ((size_t)n > len) {
        *r = -1;
        return 1;
    }
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *r = -1;
            return 1;
        }
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *r = -1;
        return 1;
    }
    *r = v;
    return n;
}

int store_json_put_str(struct ol_buf *b, const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    int rc = ol_buf_puts(b, "\"");
    size_t i = 0;
    while (rc == 0 && i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            char esc[8];
            const char *out = NULL;
            switch (c) {
            case '"':
                out = "\\\"";
                break;
            case '\\':
                out = "\\\\";
                break;
            case '\b':
                out = "\\b";
                break;
            case '\f':
                out = "\\f";
                break;
            case '\n':
                out = "\\n";
                break;
            case '\r':
                out = "\\r";
                break;
            case '\t':
                out = "\\t";
                break;
            default:
                if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                    snprintf(esc, sizeof(esc), "\\u00%c%c", hex_digits[c >> 4], hex_digits[c & 15]);
                    out = esc;
                }
            }
            rc = out ? ol_buf_puts(b, out) : ol_buf_append(b, &c, 1);
            i++;
            continue;
        }
        int32_t r;
        int n = utf8_decode(p + i, len - i, &r);
        if (r < 0)
            rc = ol_buf_puts(b, "\\ufffd");
        else if (r == 0x2028 || r == 0x2029)
            rc = ol_buf_printf(b, "\\u%04x", (unsigned)r);
        else
            rc = ol_buf_append(b, p + i, (size_t)n);
        i += (size_t)n;
    }
    return rc ? rc : ol_buf_puts(b, "\"");
}

/* Shortest decimal digits that read back as f (f finite, > 0): digits[0..*nd), value =
 * 0.d1d2... x 10^dp. */
static void shortest_digits(double f, char digits[24], int *nd, int *dp) {
    char tmp[40];
    for (int prec = 0; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec, f);
        if (strtod(tmp, NULL) == f || prec == 17) break;
    }
    /* tmp is d[.ddd]e[+-]XX */
    int n = 0;
    char *e = strchr(tmp, 'e');
    for (char *q = tmp; q < e; q++)
        if (*q != '.') digits[n++] = *q;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = 0;
    *nd = n;
    *dp = atoi(e + 1) + 1;
}

/* strconv.AppendFloat(f, fmt, -1, 64) for fmt 'f' or 'e' (f finite). */
static int put_float_fmt(struct ol_buf *b, double f, char fmt) {
    char digits[24];
    int nd, dp;
    int rc = 0;
    if (signbit(f)) {
        rc = ol_buf_puts(b, "-");
        f = -f;
    }
    if (rc) return rc;
    if (f == 0) {
        digits[0] = '0', digits[1] = 0;
        nd = 1, dp = 1;
    } else {
        shortest_digits(f, digits, &nd, &dp);
    }
    if (fmt == 'e') {
        rc = ol_buf_append(b, digits, 1);
        if (!rc && nd > 1) rc = ol_buf_printf(b, ".%s", digits + 1);
        int exp = f == 0 ? 0 : dp - 1;
        if (!rc) rc = ol_buf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        return rc;
    }
    if (dp <= 0) {
        rc = ol_buf_puts(b, "0.");
        for (int i = 0; !rc && i < -dp; i++)
            rc = ol_buf_puts(b, "0");
        return rc ? rc : ol_buf_puts(b, digits);
    }
    if (dp >= nd) {
        rc = ol_buf_puts(b, digits);
        for (int i = nd; !rc && i < dp; i++)
            rc = ol_buf_puts(b, "0");
        return rc;
    }
    rc = ol_buf_append(b, digits, (size_t)dp);
    return rc ? rc : ol_buf_printf(b, ".%s", digits + dp);
}

int store_json_put_float(struct ol_buf *b, double f) {
    if (!isfinite(f)) return ol_buf_puts(b, "null"); /* Go refuses; never from JSON input */
    double a = fabs(f);
    char fmt = (a != 0 && (a < 1e-6 || a >= 1e21)) ? 'e' : 'f';
    size_t start = b->len;
    int rc = put_float_fmt(b, f, fmt);
    if (rc || fmt != 'e') return rc;
    /* Go cleans "e-09" to "e-9" (only negative exponents) */
    char *s = b->data + start;
    size_t n = b->len - start;
    if (n >= 4 && s[n - 4] == 'e' && s[n - 3] == '-' && s[n - 2] == '0') {
        s[n - 2] = s[n - 1];
        b->len--;
        b->data[b->len] = 0;
    }
    return 0;
}

int store_go_put_float_v(struct ol_buf *b, double f) {
    if (isnan(f)) return ol_buf_puts(b, "NaN");
    if (isinf(f)) return ol_buf_puts(b, f > 0 ? "+Inf" : "-Inf");
    int exp = 0;
    if (f != 0) {
        char digits[24];
        int nd, dp;
        shortest_digits(fabs(f), digits, &nd, &dp);
        exp = dp - 1;
    }
    /* strconv 'g' with shortest precision switches to %e at exponent < -4 or >= 6 */
    return put_float_fmt(b, f, (exp < -4 || exp >= 6) ? 'e' : 'f');
}

static bool rune_is_print(int32_t r) {
    if (r < 0x20 || (r >= 0x7F && r < 0xA0)) return false;
    return r != 0xAD && r != 0x2028 && r != 0x2029 && r != 0xFEFF && !(r >= 0xFFF9 && r <= 0xFFFB);
}

int store_go_put_quoted(struct ol_buf *b, const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    int rc = ol_buf_puts(b, "\"");
    size_t i = 0;
    while (rc == 0 && i < len) {
        int32_t r;
        int n = utf8_decode(p + i, len - i, &r);
        if (r < 0) {
            rc = ol_buf_printf(b, "\\x%02x", p[i]);
        } else if (r == '"' || r == '\\') {
            rc = ol_buf_printf(b, "\\%c", (char)r);
        } else if (rune_is_print(r)) {
            rc = ol_buf_append(b, p + i, (size_t)n);
        } else {
            switch (r) {
            case '\a':
                rc = ol_buf_puts(b, "\\a");
                break;
            case '\b':
                rc = ol_buf_puts(b, "\\b");
                break;
            case '\f':
                rc = ol_buf_puts(b, "\\f");
                break;
            case '\n':
                rc = ol_buf_puts(b, "\\n");
                break;
            case '\r':
                rc = ol_buf_puts(b, "\\r");
                break;
            case '\t':
                rc = ol_buf_puts(b, "\\t");
                break;
            case '\v':
                rc = ol_buf_puts(b, "\\v");
                break;
            default:
                if (r < 0x20 || r == 0x7F)
                    rc = ol_buf_printf(b, "\\x%02x", (unsigned)r);
                else if (r < 0x10000)
                    rc = ol_buf_printf(b, "\\u%04x", (unsigned)r);
                else
                    rc = ol_buf_printf(b, "\\U%08x", (unsigned)r);
            }
        }
        i += (size_t)n;
    }
    return rc ? rc : ol_buf_puts(b, "\"");
}

static int cmp_keys(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int store_json_put_value(struct ol_buf *b, const struct json_t *cv) {
    json_t *v = (json_t *)cv; /* jansson's getters are not const-correct */
    switch (json_typeof(v)) {
    case JSON_NULL:
        return ol_buf_puts(b, "null");
    case JSON_TRUE:
        return ol_buf_puts(b, "true");
    case JSON_FALSE:
        return ol_buf_puts(b, "false");
    case JSON_INTEGER:
        return store_json_put_float(b, (double)json_integer_value(v));
    case JSON_REAL:
        return store_json_put_float(b, json_real_value(v));
    case JSON_STRING:
        return store_json_put_str(b, json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
        int rc = ol_buf_puts(b, "[");
        for (size_t i = 0; rc == 0 && i < json_array_size(v); i++) {
            if (i) rc = ol_buf_puts(b, ",");
            if (!rc) rc = store_json_put_value(b, json_array_get(v, i));
        }
        return rc ? rc : ol_buf_puts(b, "]");
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(v);
        const char **keys = ol_calloc_array(n ? n : 1, sizeof(*keys));
        if (!keys) return OL_ENOMEM;
        size_t k = 0;
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val) keys[k++] = key;
        qsort(keys, k, sizeof(*keys), cmp_keys);
        int rc = ol_buf_puts(b, "{");
        for (size_t i = 0; rc == 0 && i < k; i++) {
            if (i) rc = ol_buf_puts(b, ",");
            if (!rc) rc = store_json_put_str(b, keys[i], strlen(keys[i]));
            if (!rc) rc = ol_buf_puts(b, ":");
            if (!rc) rc = store_json_put_value(b, json_object_get(v, keys[i]));
        }
        free(keys);
        return rc ? rc : ol_buf_puts(b, "}");
    }
    }
    return OL_EINTERNAL;
}
