/* JSON string literals written the way Go's encoding/json writes them, for the replies the
 * server builds by hand (the streamed token chunks, error objects). */
#include "server/srv.h"

#include <stdint.h>
#include <string.h>

int srv_json_quote(struct ol_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    /* worst case 6 bytes per input byte (\u00XX) and the quotes */
    if (n > (SIZE_MAX - 2) / 6 || ol_buf_reserve(b, n * 6 + 2) < 0) return OL_ENOMEM;
    char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        uint8_t c = (uint8_t)s[i];
        if (c < 0x80) {
            i++;
            if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
                *o++ = (char)c;
                continue;
            }
            *o++ = '\\';
            switch (c) {
            case '"':
                *o++ = '"';
                break;
            case '\\':
                *o++ = '\\';
                break;
            case '\b':
                *o++ = 'b';
                break;
            case '\f':
                *o++ = 'f';
                break;
            case '\n':
                *o++ = 'n';
                break;
            case '\r':
                *o++ = 'r';
                break;
            case '\t':
                *o++ = 't';
                break;
            default: /* other control bytes and the HTML-sensitive <, >, & */
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
            continue;
        }
        uint32_t cp;
        int len = ol_utf8_decode(s + i, n - i, &cp);
        if (len == 0) { /* each invalid byte becomes U+FFFD */
            memcpy(o, "\\ufffd", 6);
            o += 6;
            i++;
        } else if (cp == 0x2028 || cp == 0x2029) { /* valid JSON, but not JavaScript */
            memcpy(o, "\\u202", 5);
            o[5] = hex[cp & 15];
            o += 6;
            i += 3;
        } else {
            memcpy(o, s + i, (size_t)len);
            o += len;
            i += (size_t)len;
        }
    }
    *o++ = '"';
    *o = 0;
    b->len = (size_t)(o - b->data);
    return 0;
}
