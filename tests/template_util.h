/* Helpers for the template tests: reading files, a small JSON reader that builds template
 * value trees (with the typed extensions the Go reference tests/gotmpl/main.go understands),
 * the test-corpus format, and turning a chat request JSON into tmpl_render_params.
 *
 * Extensions in value data (mirrored by gotmpl's convert()):
 *   {"$rec": {...}}       struct main.Rec (fields Name Role Content Num List Map Sub Flag,
 *                         all of type any); {"$ptr": {...}} a *main.Rec
 *   {"$stringer": x}      a map/list that prints as its JSON (main.JMap / main.JList)
 *   {"$nil_list": true}   a nil []any;  {"$strings": [...]} a []string
 * Numbers with '.', 'e' or 'E' are floats, others ints (floats when numbers_float is set). */
#ifndef OL_TESTS_TEMPLATE_UTIL_H
#define OL_TESTS_TEMPLATE_UTIL_H

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/internal.h"

/* Reads a whole file; NULL (and a message naming it) when missing. */
static inline char *tu_read_file(const char *path, size_t *len) {
    char *data = NULL;
    size_t n = 0;
    struct ol_err err = {0};
    if (ol_file_read(path, 256u << 20, &data, &n, &err) < 0) {
        fprintf(stderr, "cannot read %s: %s\n", path, err.msg);
        return NULL;
    }
    if (len) *len = n;
    return data;
}

/* ---- JSON ---- */

struct tu_json {
    const char *s;
    size_t len, pos;
    struct tmpl_arena *a;
    bool numbers_float;
    bool extensions;
    const char *error;
    int depth;
};

static inline void tu_ws(struct tu_json *j) {
    while (j->pos < j->len && isspace((unsigned char)j->s[j->pos]))
        j->pos++;
}

static inline struct tmpl_value *tu_value(struct tu_json *j);

static inline bool tu_hex4(struct tu_json *j, unsigned *out) {
    if (j->pos + 4 > j->len) return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = j->s[j->pos + (size_t)i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return false;
    }
    j->pos += 4;
    *out = v;
    return true;
}

/* A JSON string into buf (malloc'd); false on a syntax error. */
static inline bool tu_string(struct tu_json *j, struct ol_buf *b) {
    if (j->pos >= j->len || j->s[j->pos] != '"') return false;
    j->pos++;
    struct sbuf sb;
    sb_init(&sb, b, SIZE_MAX);
    while (j->pos < j->len) {
        char c = j->s[j->pos++];
        if (c == '"') return !sb.err;
        if (c != '\\') {
            sb_putc(&sb, c);
            continue;
        }
        if (j->pos >= j->len) return false;
        c = j->s[j->pos++];
        switch (c) {
        case 'n':
            sb_putc(&sb, '\n');
            break;
        case 't':
            sb_putc(&sb, '\t');
            break;
        case 'r':
            sb_putc(&sb, '\r');
            break;
        case 'b':
            sb_putc(&sb, '\b');
            break;
        case 'f':
            sb_putc(&sb, '\f');
            break;
        case '/':
            sb_putc(&sb, '/');
            break;
        case '\\':
            sb_putc(&sb, '\\');
            break;
        case '"':
            sb_putc(&sb, '"');
            break;
        case 'u': {
            unsigned u;
            if (!tu_hex4(j, &u)) return false;
            if (u >= 0xD800 && u < 0xDC00 && j->pos + 6 <= j->len && j->s[j->pos] == '\\' &&
                j->s[j->pos + 1] == 'u') {
                j->pos += 2;
                unsigned lo;
                if (!tu_hex4(j, &lo)) return false;
                if (lo >= 0xDC00 && lo < 0xE000) {
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                } else {
                    uc_encode(&sb, 0xFFFD);
                    u = lo;
                }
            }
            uc_encode(&sb, (int32_t)u);
            break;
        }
        default:
            return false;
        }
    }
    return false;
}

static inline struct tmpl_value *tu_fail(struct tu_json *j, const char *msg) {
    if (!j->error) j->error = msg;
    return NULL;
}

static const char *const tu_rec_fields[] = {"Name", "Role", "Content", "Num",
                                            "List", "Map",  "Sub",     "Flag"};

static inline struct tmpl_value *tu_make_rec(struct tu_json *j, struct tmpl_value *src, bool ptr) {
    struct tmpl_value *st = tmpl_value_struct(j->a, ptr ? "*main.Rec" : "main.Rec");
    for (size_t i = 0; i < sizeof(tu_rec_fields) / sizeof(tu_rec_fields[0]); i++) {
        const struct tmpl_value *v = tmpl_value_get(src, tu_rec_fields[i]);
        tmpl_struct_add(st, tu_rec_fields[i], v ? (struct tmpl_value *)v : tmpl_value_nil(j->a),
                        true);
    }
    return st;
}

static inline struct tmpl_value *tu_extend(struct tu_json *j, struct tmpl_value *obj) {
    if (!j->extensions || tmpl_value_len(obj) != 1) return obj;
    const char *k = tmpl_value_key_at(obj, 0);
    struct tmpl_value *v = (struct tmpl_value *)tmpl_value_at(obj, 0);
    if (strcmp(k, "$rec") == 0) return tu_make_rec(j, v, false);
    if (strcmp(k, "$ptr") == 0) return tu_make_rec(j, v, true);
    if (strcmp(k, "$nil_list") == 0) {
        struct tmpl_value *l = tmpl_value_list(j->a);
        tmpl_value_set_type(l, NULL, TMPL_VF_NIL);
        return l;
    }
    if (strcmp(k, "$strings") == 0) {
        tmpl_value_set_type(v, "[]string", TMPL_VF_TYPED_ELEMS);
        return v;
    }
    if (strcmp(k, "$stringer") == 0) {
        struct ol_buf b = {0};
        struct sbuf sb;
        sb_init(&sb, &b, SIZE_MAX);
        gojson_marshal(&sb, v);
        tmpl_value_set_text(v, b.data ? b.data : "", b.len);
        ol_buf_free(&b);
        tmpl_value_set_type(v, tmpl_value_kind(v) == TMPL_MAP ? "main.JMap" : "main.JList", 0);
        return v;
    }
    return obj;
}

static inline struct tmpl_value *tu_value(struct tu_json *j) {
    tu_ws(j);
    if (j->pos >= j->len) return tu_fail(j, "unexpected end");
    if (++j->depth > 200) return tu_fail(j, "too deep");
    char c = j->s[j->pos];
    struct tmpl_value *r = NULL;
    if (c == '{') {
        j->pos++;
        r = tmpl_value_map(j->a);
        tu_ws(j);
        if (j->pos < j->len && j->s[j->pos] == '}') {
            j->pos++;
        } else {
            for (;;) {
                tu_ws(j);
                struct ol_buf key = {0};
                if (!tu_string(j, &key)) {
                    ol_buf_free(&key);
                    return tu_fail(j, "bad key");
                }
                tu_ws(j);
                if (j->pos >= j->len || j->s[j->pos] != ':') {
                    ol_buf_free(&key);
                    return tu_fail(j, "expected :");
                }
                j->pos++;
                struct tmpl_value *v = tu_value(j);
                if (!v) {
                    ol_buf_free(&key);
                    return NULL;
                }
                tmpl_map_set(r, key.data ? key.data : "", key.len, v);
                ol_buf_free(&key);
                tu_ws(j);
                if (j->pos < j->len && j->s[j->pos] == ',') {
                    j->pos++;
                    continue;
                }
                if (j->pos < j->len && j->s[j->pos] == '}') {
                    j->pos++;
                    break;
                }
                return tu_fail(j, "expected , or }");
            }
        }
        r = tu_extend(j, r);
    } else if (c == '[') {
        j->pos++;
        r = tmpl_value_list(j->a);
        tu_ws(j);
        if (j->pos < j->len && j->s[j->pos] == ']') {
            j->pos++;
        } else {
            for (;;) {
                struct tmpl_value *v = tu_value(j);
                if (!v) return NULL;
                tmpl_list_append(r, v);
                tu_ws(j);
                if (j->pos < j->len && j->s[j->pos] == ',') {
                    j->pos++;
                    continue;
                }
                if (j->pos < j->len && j->s[j->pos] == ']') {
                    j->pos++;
                    break;
                }
                return tu_fail(j, "expected , or ]");
            }
        }
    } else if (c == '"') {
        struct ol_buf b = {0};
        if (!tu_string(j, &b)) {
            ol_buf_free(&b);
            return tu_fail(j, "bad string");
        }
        r = tmpl_value_strn(j->a, b.data ? b.data : "", b.len);
        ol_buf_free(&b);
    } else if (strncmp(j->s + j->pos, "true", 4) == 0) {
        j->pos += 4;
        r = tmpl_value_bool(j->a, true);
    } else if (strncmp(j->s + j->pos, "false", 5) == 0) {
        j->pos += 5;
        r = tmpl_value_bool(j->a, false);
    } else if (strncmp(j->s + j->pos, "null", 4) == 0) {
        j->pos += 4;
        r = tmpl_value_nil(j->a);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        size_t start = j->pos;
        bool is_float = false;
        while (j->pos < j->len && strchr("+-0123456789.eE", j->s[j->pos])) {
            if (strchr(".eE", j->s[j->pos])) is_float = true;
            j->pos++;
        }
        char num[64];
        size_t n = j->pos - start;
        if (n >= sizeof(num)) return tu_fail(j, "long number");
        memcpy(num, j->s + start, n);
        num[n] = 0;
        errno = 0;
        long long i = is_float || j->numbers_float ? 0 : strtoll(num, NULL, 10);
        if (is_float || j->numbers_float || errno == ERANGE) {
            r = tmpl_value_float(j->a, strtod(num, NULL));
        } else {
            r = tmpl_value_int(j->a, i);
        }
    } else {
        return tu_fail(j, "unexpected character");
    }
    j->depth--;
    return r;
}

/* Parses s[0..len) into arena a; NULL when malformed. */
static inline struct tmpl_value *tu_json_parse(struct tmpl_arena *a, const char *s, size_t len,
                                               bool numbers_float, bool extensions) {
    struct tu_json j = {s, len, 0, a, numbers_float, extensions, NULL, 0};
    tu_ws(&j);
    if (j.pos >= j.len) return NULL;
    struct tmpl_value *v = tu_value(&j);
    if (!v || j.error) return NULL;
    tu_ws(&j);
    return j.pos == j.len ? v : NULL;
}

/* ---- corpus: "=== name\n<data>\n---\n<template>\n=== ..." ---- */

struct tu_case {
    char *name;
    char *data;
    size_t data_len;
    char *tmpl;
    size_t tmpl_len;
};

struct tu_corpus {
    struct tu_case *cases;
    int n;
};

static inline void tu_corpus_free(struct tu_corpus *c) {
    for (int i = 0; i < c->n; i++) {
        free(c->cases[i].name);
        free(c->cases[i].data);
        free(c->cases[i].tmpl);
    }
    free(c->cases);
    c->cases = NULL;
    c->n = 0;
}

/* Splits text into cases; false on a format error (message printed). */
static inline bool tu_corpus_parse(const char *text, size_t len, struct tu_corpus *out) {
    memset(out, 0, sizeof(*out));
    if (len > 0 && text[len - 1] == '\n') len--;
    struct ol_buf b = {0};
    ol_buf_puts(&b, "\n");
    ol_buf_append(&b, text, len);
    const char *s = b.data;
    size_t n = b.len;
    size_t i = 0;
    const char *first = memmem(s, n, "\n=== ", 5);
    if (!first) {
        ol_buf_free(&b);
        return true;
    }
    i = (size_t)(first - s);
    int cap = 0;
    while (i < n) {
        size_t start = i + 5;
        const char *next = memmem(s + start, n - start, "\n=== ", 5);
        size_t end = next ? (size_t)(next - s) : n;
        const char *nl = memchr(s + start, '\n', end - start);
        if (!nl) {
            fprintf(stderr, "corpus: case without body\n");
            ol_buf_free(&b);
            return false;
        }
        size_t body = (size_t)(nl - s); /* body starts with the '\n' */
        const char *sep = memmem(s + body, end - body, "\n---\n", 5);
        if (!sep) {
            fprintf(stderr, "corpus: case %.*s has no --- line\n", (int)(nl - s - start),
                    s + start);
            ol_buf_free(&b);
            return false;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            out->cases = realloc(out->cases, (size_t)cap * sizeof(*out->cases));
        }
        struct tu_case *c = &out->cases[out->n++];
        c->name = ol_strndup(s + start, (size_t)(nl - s) - start);
        c->data_len = (size_t)(sep - s) - body;
        c->data = ol_strndup(s + body, c->data_len);
        size_t t0 = (size_t)(sep - s) + 5;
        c->tmpl_len = end - t0;
        c->tmpl = ol_strndup(s + t0, c->tmpl_len);
        i = end;
    }
    ol_buf_free(&b);
    return true;
}

/* ---- chat requests (the JSON gotmpl's chat mode reads) ---- */

struct tu_chat {
    struct tmpl_arena *a;
    struct tmpl_message *msgs;
    struct tmpl_tool_call *calls;
    struct tmpl_render_params p;
};

static inline const char *tu_str(const struct tmpl_value *obj, const char *key) {
    const struct tmpl_value *v = tmpl_value_get(obj, key);
    return tmpl_value_kind(v) == TMPL_STRING ? tmpl_value_as_str(v, NULL) : NULL;
}

static inline void tu_chat_free(struct tu_chat *c) {
    tmpl_arena_free(c->a);
    free(c->msgs);
    free(c->calls);
    memset(c, 0, sizeof(*c));
}

/* Fills c from a request {system, messages, tools, think, think_level, is_think_set, prompt,
 * suffix}; images are counts. Numbers are floats (Go decodes them into any as float64). */
static inline bool tu_chat_parse(struct tu_chat *c, const char *json, size_t len) {
    memset(c, 0, sizeof(*c));
    c->a = tmpl_arena_new();
    struct tmpl_value *req = tu_json_parse(c->a, json, len, true, false);
    if (!req || tmpl_value_kind(req) != TMPL_MAP) return false;
    c->p = tmpl_render_default_params();
    c->p.truncate = false;
    c->p.system = tu_str(req, "system");
    c->p.think = tmpl_value_as_bool(tmpl_value_get(req, "think"));
    c->p.think_level = tu_str(req, "think_level");
    c->p.is_think_set = tmpl_value_as_bool(tmpl_value_get(req, "is_think_set"));
    c->p.prompt = tu_str(req, "prompt");
    c->p.suffix = tu_str(req, "suffix");
    const struct tmpl_value *tools = tmpl_value_get(req, "tools");
    c->p.tools = tmpl_value_kind(tools) == TMPL_LIST ? tools : NULL;
    const struct tmpl_value *msgs = tmpl_value_get(req, "messages");
    size_t n = tmpl_value_len(msgs);
    size_t n_calls = 0;
    for (size_t i = 0; i < n; i++)
        n_calls += tmpl_value_len(tmpl_value_get(tmpl_value_at(msgs, i), "tool_calls"));
    c->msgs = calloc(n ? n : 1, sizeof(*c->msgs));
    c->calls = calloc(n_calls ? n_calls : 1, sizeof(*c->calls));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tmpl_value *m = tmpl_value_at(msgs, i);
        struct tmpl_message *dm = &c->msgs[i];
        dm->role = tu_str(m, "role");
        dm->content = tu_str(m, "content");
        dm->thinking = tu_str(m, "thinking");
        dm->tool_name = tu_str(m, "tool_name");
        dm->tool_call_id = tu_str(m, "tool_call_id");
        dm->n_images = (int)tmpl_value_as_float(tmpl_value_get(m, "images"));
        const struct tmpl_value *tcs = tmpl_value_get(m, "tool_calls");
        dm->tool_calls = &c->calls[k];
        dm->n_tool_calls = (int)tmpl_value_len(tcs);
        for (size_t t = 0; t < tmpl_value_len(tcs); t++) {
            const struct tmpl_value *tc = tmpl_value_at(tcs, t);
            const struct tmpl_value *fn = tmpl_value_get(tc, "function");
            struct tmpl_tool_call *dc = &c->calls[k++];
            dc->id = tu_str(tc, "id");
            dc->name = tu_str(fn, "name");
            dc->index = (int)tmpl_value_as_float(tmpl_value_get(fn, "index"));
            const struct tmpl_value *args = tmpl_value_get(fn, "arguments");
            dc->arguments = tmpl_value_kind(args) == TMPL_MAP ? args : NULL;
        }
    }
    c->p.messages = c->msgs;
    c->p.n_messages = (int)n;
    return true;
}

#endif
