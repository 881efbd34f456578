/* Model names (spec: store-and-registry.md §1): parsing right to left, validity, display forms.
 * Validity is what keeps names safe as paths: every part starts with [A-Za-z0-9_] and holds no
 * '/', so no part can be "", "." or "..", and a name always maps to exactly four path levels. */
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_first_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* extra: the punctuation allowed after the first character. */
static bool part_is_valid(const char *p, size_t len, size_t max_len, const char *extra) {
    if (len == 0 || len > max_len || !is_first_char(p[0])) return false;
    for (size_t i = 1; i < len; i++) {
        char c = p[i];
        if (is_first_char(c)) continue;
        if (c == 0 || !strchr(extra, c)) return false;
    }
    return true;
}

static bool host_ok(const char *p, size_t len) { return part_is_valid(p, len, 350, ".:-"); }
static bool ns_ok(const char *p, size_t len) { return part_is_valid(p, len, 80, "-"); }
static bool model_ok(const char *p, size_t len) { return part_is_valid(p, len, 80, ".-"); }
static bool tag_ok(const char *p, size_t len) { return part_is_valid(p, len, 80, ".-"); }

bool store_name_is_valid(const struct store_name *n) {
    return n && host_ok(n->host, strnlen(n->host, sizeof(n->host))) &&
           ns_ok(n->ns, strnlen(n->ns, sizeof(n->ns))) &&
           model_ok(n->model, strnlen(n->model, sizeof(n->model))) &&
           tag_ok(n->tag, strnlen(n->tag, sizeof(n->tag)));
}

/* Last occurrence of c in s[0..len), or NULL. */
static const char *last_of(const char *s, size_t len, char c) {
    for (size_t i = len; i > 0; i--)
        if (s[i - 1] == c) return s + i - 1;
    return NULL;
}

/* Copies a checked part; the caller validated len against the buffer. */
static void set_part(char *dst, size_t cap, const char *p, size_t len) {
    OL_ASSERT(len < cap);
    memcpy(dst, p, len);
    dst[len] = 0;
}

int store_name_parse(const char *s, struct store_name *out) {
    memset(out, 0, sizeof(*out));
    if (!s) return OL_EINVAL;
    size_t len = strlen(s);
    const char *at = memchr(s, '@', len); /* "@digest" is tolerated and ignored */
    if (at) len = (size_t)(at - s);

    const char *colon = last_of(s, len, ':');
    const char *slash = last_of(s, len, '/');
    const char *tag = STORE_DEFAULT_TAG;
    size_t tag_len = strlen(tag);
    if (colon && (!slash || colon > slash)) {
        tag = colon + 1;
        tag_len = len - (size_t)(tag - s);
        len = (size_t)(colon - s);
        if (tag_len == 0 || len == 0) return OL_EINVAL; /* "m:" or ":t" */
    }
    if (!tag_ok(tag, tag_len)) return OL_EINVAL;
    set_part(out->tag, sizeof(out->tag), tag, tag_len);

    const char *model = s, *ns = STORE_DEFAULT_NS, *host = STORE_DEFAULT_HOST;
    size_t model_len = len, ns_len = strlen(ns), host_len = strlen(host);
    const char *scheme = "https";
    size_t scheme_len = 5;
    slash = last_of(s, len, '/');
    if (slash) {
        model = slash + 1;
        model_len = len - (size_t)(model - s);
        len = (size_t)(slash - s);
        if (len == 0) return OL_EINVAL; /* "/m" */
        const char *slash2 = last_of(s, len, '/');
        ns = slash2 ? slash2 + 1 : s;
        ns_len = len - (size_t)(ns - s);
        if (slash2) {
            len = (size_t)(slash2 - s);
            if (len == 0) return OL_EINVAL;
            host = s;
            host_len = len;
            for (size_t i = 0; i + 3 <= len; i++) {
                if (memcmp(s + i, "://", 3) != 0) continue;
                scheme = s;
                scheme_len = i;
                host = s + i + 3;
                host_len = len - i - 3;
                break;
            }
            if (!((scheme_len == 4 && strncasecmp(scheme, "http", 4) == 0) ||
                  (scheme_len == 5 && strncasecmp(scheme, "https", 5) == 0)))
                return OL_EINVAL;
        }
    }
    if (!model_ok(model, model_len) || !ns_ok(ns, ns_len) || !host_ok(host, host_len))
        return OL_EINVAL;
    set_part(out->model, sizeof(out->model), model, model_len);
    set_part(out->ns, sizeof(out->ns), ns, ns_len);
    set_part(out->host, sizeof(out->host), host, host_len);
    for (size_t i = 0; i < scheme_len; i++)
        out->scheme[i] = (char)(scheme[i] | 0x20); /* ASCII letters: lower-case */
    out->scheme[scheme_len] = 0;
    return 0;
}

void store_name_full(const struct store_name *n, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s/%s:%s", n->host, n->ns, n->model, n->tag);
}

void store_name_short(const struct store_name *n, char *buf, size_t cap) {
    if (strcasecmp(n->host, STORE_DEFAULT_HOST) != 0)
        snprintf(buf, cap, "%s/%s/%s:%s", n->host, n->ns, n->model, n->tag);
    else if (strcasecmp(n->ns, STORE_DEFAULT_NS) != 0)
        snprintf(buf, cap, "%s/%s:%s", n->ns, n->model, n->tag);
    else
        snprintf(buf, cap, "%s:%s", n->model, n->tag);
}

bool store_name_equal(const struct store_name *a, const struct store_name *b) {
    return strcasecmp(a->host, b->host) == 0 && strcasecmp(a->ns, b->ns) == 0 &&
           strcasecmp(a->model, b->model) == 0 && strcasecmp(a->tag, b->tag) == 0;
}

bool store_digest_is_valid(const char *d) {
    if (!d || strncmp(d, "sha256", 6) != 0 || (d[6] != ':' && d[6] != '-')) return false;
    for (int i = 0; i < 64; i++) {
        char c = d[7 + i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!hex) return false;
    }
    return d[71] == 0;
}
