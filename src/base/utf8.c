/* Minimal UTF-8 helpers: sequence lengths, validation, and the held-back tail of a stream. */
#include "base/base.h"

int ol_utf8_len(uint8_t c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1;
}

size_t ol_utf8_incomplete_tail(const char *s, size_t len) {
    /* Look back at most 3 bytes for a lead byte whose sequence runs past the end. */
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        uint8_t c = (uint8_t)s[len - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte: keep looking */
        if (c < 0x80) return 0;
        int need = ol_utf8_len(c);
        if (need == 1) return 0; /* invalid lead: nothing to wait for */
        return (size_t)need > back ? back : 0;
    }
    return 0;
}

int ol_utf8_decode(const char *s, size_t len, uint32_t *cp) {
    const uint8_t *p = (const uint8_t *)s;
    if (len == 0) return 0;
    uint8_t c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int n = ol_utf8_len(c);
    if (n == 1 || (size_t)n > len) return 0;
    uint32_t v = c & (0x7F >> n);
    for (int k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (p[k] & 0x3F);
    }
    if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

bool ol_utf8_is_valid(const char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        int n = ol_utf8_decode(s + i, len - i, &cp);
        if (n == 0) return false;
        i += (size_t)n;
    }
    return true;
}
