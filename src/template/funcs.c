/* Template functions: Go's builtins (funcs.go) and Ollama's FuncMap (json, currentDate,
 * yesterdayDate, toTypeScriptType). Each gets its arguments already converted to its Go
 * parameter type by the executor; failures read "error calling <fn>: <Go's message>". */
#include "template/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAIL(...) exec_fail_call(s, __VA_ARGS__)

/* indirectInterface */
static struct xval ind(struct xval v) {
    if (v.v && v.v->kind == TMPL_NIL) return (struct xval){NULL, false};
    v.iface = false;
    return v;
}

/* Formats v with one fmt verb into buf (for messages). */
static const char *fmt1(char *buf, size_t cap, const char *verb, const struct tmpl_value *v) {
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, cap - 1);
    const struct tmpl_value *args[1] = {v};
    gofmt_sprintf(&sb, verb, strlen(verb), args, 1);
    snprintf(buf, cap, "%.*s", (int)b.len, b.data ? b.data : "");
    ol_buf_free(&b);
    return buf;
}

/* Type after reflect's indirect(): a pointer-to-struct names the struct. */
static const char *elem_type(const struct tmpl_value *v) {
    return value_is_ptr_struct(v) ? value_go_type(v) + 1 : value_go_type(v);
}

static struct xval fn_not(struct exec_state *s, const struct xval *a, int n) {
    (void)n;
    return exec_new_bool(s, !value_truth(ind(a[0]).v));
}

static struct xval fn_len(struct exec_state *s, const struct xval *a, int n) {
    (void)n;
    const struct tmpl_value *v = a[0].v;
    if (!v) FAIL("reflect: call of reflect.Value.Type on zero Value");
    switch (v->kind) {
    case TMPL_NIL:
        FAIL("len of nil pointer");
    case TMPL_STRING:
    case TMPL_LIST:
    case TMPL_MAP:
        return exec_new_int(s, (int64_t)tmpl_value_len(v));
    default:
        FAIL("len of type %s", elem_type(v));
    }
}

static size_t index_arg(struct exec_state *s, struct xval index, size_t cap) {
    const struct tmpl_value *v = index.v;
    if (!v) FAIL("cannot index slice/array with nil");
    if (v->kind != TMPL_INT) FAIL("cannot index slice/array with type %s", value_go_type(v));
    if (v->u.i < 0 || (uint64_t)v->u.i > cap) FAIL("index out of range: %lld", (long long)v->u.i);
    return (size_t)v->u.i;
}

static struct xval fn_index(struct exec_state *s, const struct xval *a, int n) {
    struct xval item = ind(a[0]);
    if (!item.v) FAIL("index of untyped nil");
    for (int k = 1; k < n; k++) {
        struct xval index = ind(a[k]);
        if (item.v->kind == TMPL_NIL) FAIL("index of nil pointer");
        const struct tmpl_value *v = item.v;
        switch (v->kind) {
        case TMPL_LIST: {
            size_t x = index_arg(s, index, v->u.list.n);
            if (x == v->u.list.n) FAIL("reflect: slice index out of range");
            item = (struct xval){v->u.list.items[x], value_elems_any(v)};
            break;
        }
        case TMPL_STRING: {
            size_t x = index_arg(s, index, v->u.s.len);
            if (x == v->u.s.len) FAIL("reflect: string index out of range");
            struct xval b = exec_new_int(s, (unsigned char)v->u.s.p[x]);
            if (tmpl_value_set_type((struct tmpl_value *)b.v, "uint8", 0) < 0)
                FAIL("out of memory");
            item = b;
            break;
        }
        case TMPL_MAP: {
            const struct tmpl_value *key = index.v;
            if (!key) FAIL("value is nil; should be of type string");
            if (key->kind != TMPL_STRING)
                FAIL("value has type %s; should be string", value_go_type(key));
            const struct tmpl_entry *e = value_find(v, key->u.s.p, key->u.s.len);
            if (e) {
                item = (struct xval){e->v, value_elems_any(v)};
            } else {
                struct tmpl_value *z = tmpl_value_nil(exec_arena(s));
                if (!z) FAIL("out of memory");
                item = (struct xval){z, true};
            }
            break;
        }
        default:
            FAIL("can't index item of type %s", elem_type(v));
        }
    }
    return item;
}

static struct xval fn_slice(struct exec_state *s, const struct xval *a, int n) {
    struct xval item = ind(a[0]);
    if (!item.v) FAIL("slice of untyped nil");
    if (n - 1 > 3) FAIL("too many slice indexes: %d", n - 1);
    const struct tmpl_value *v = item.v;
    size_t cap;
    if (v->kind == TMPL_STRING) {
        if (n - 1 == 3) FAIL("cannot 3-index slice a string");
        cap = v->u.s.len;
    } else if (v->kind == TMPL_LIST) {
        cap = v->u.list.n;
    } else {
        FAIL("can't slice item of type %s", elem_type(v));
    }
    size_t idx[3] = {0, tmpl_value_len(v), 0};
    for (int k = 1; k < n; k++)
        idx[k - 1] = index_arg(s, ind(a[k]), cap);
    if (idx[0] > idx[1]) FAIL("invalid slice index: %zu > %zu", idx[0], idx[1]);
    if (n - 1 == 3 && idx[1] > idx[2]) FAIL("invalid slice index: %zu > %zu", idx[1], idx[2]);
    if (v->kind == TMPL_STRING) return exec_new_str(s, v->u.s.p + idx[0], idx[1] - idx[0]);
    struct tmpl_value *r = arena_alloc(exec_arena(s), sizeof(*r));
    if (!r) FAIL("out of memory");
    *r = *v;
    r->flags &= (uint8_t)~TMPL_VF_NIL;
    r->u.list.items = v->u.list.items + idx[0];
    r->u.list.n = idx[1] - idx[0];
    r->u.list.cap = r->u.list.n;
    return (struct xval){r, false};
}

/* ---- comparison ---- */

enum basic_kind { K_INVALID, K_BOOL, K_INT, K_FLOAT, K_STRING };

static enum basic_kind basic_kind(const struct tmpl_value *v) {
    if (!v) return K_INVALID;
    switch (v->kind) {
    case TMPL_BOOL:
        return K_BOOL;
    case TMPL_INT:
        return K_INT;
    case TMPL_FLOAT:
        return K_FLOAT;
    case TMPL_STRING:
        return K_STRING;
    default:
        return K_INVALID;
    }
}

/* reflect.Kind, for canCompare: 0 invalid, else a distinct code per kind. */
static int rkind(const struct tmpl_value *v) {
    if (!v) return 0;
    if (value_is_ptr_struct(v)) return 100;
    return 1 + v->kind;
}

static bool is_nil_value(const struct tmpl_value *v) {
    if (!v) return true;
    if (v->kind == TMPL_LIST || v->kind == TMPL_MAP) return (v->flags & TMPL_VF_NIL) != 0;
    return v->kind == TMPL_NIL;
}

static bool type_comparable(const struct tmpl_value *v) {
    if (!v) return true;
    switch (v->kind) {
    case TMPL_LIST:
    case TMPL_MAP:
        return false;
    case TMPL_STRUCT:
        if (value_is_ptr_struct(v)) return true;
        for (size_t i = 0; i < v->u.map.n; i++)
            if (!v->u.map.e[i].is_any && !type_comparable(v->u.map.e[i].v)) return false;
        return true;
    default:
        return true;
    }
}

/* Go's == on two values of the same comparable type (interface fields compare dynamically). */
static bool values_equal(struct exec_state *s, const struct tmpl_value *a,
                         const struct tmpl_value *b) {
    if (!a || a->kind == TMPL_NIL || !b || b->kind == TMPL_NIL)
        return (!a || a->kind == TMPL_NIL) && (!b || b->kind == TMPL_NIL);
    if (a->kind != b->kind || strcmp(value_go_type(a), value_go_type(b)) != 0) return false;
    switch (a->kind) {
    case TMPL_BOOL:
        return a->u.b == b->u.b;
    case TMPL_INT:
        return a->u.i == b->u.i;
    case TMPL_FLOAT:
        return a->u.f == b->u.f;
    case TMPL_STRING:
        return a->u.s.len == b->u.s.len && memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0;
    case TMPL_LIST:
    case TMPL_MAP:
        FAIL("runtime error: comparing uncomparable type %s", value_go_type(a));
    case TMPL_STRUCT:
        if (value_is_ptr_struct(a)) return a == b;
        if (a->u.map.n != b->u.map.n) return false;
        for (size_t i = 0; i < a->u.map.n; i++)
            if (!values_equal(s, a->u.map.e[i].v, b->u.map.e[i].v)) return false;
        return true;
    default:
        return false;
    }
}

static bool eq2(struct exec_state *s, struct xval x1, struct xval x2) {
    const struct tmpl_value *a1 = ind(x1).v;
    const struct tmpl_value *a2 = ind(x2).v;
    enum basic_kind k1 = basic_kind(a1), k2 = basic_kind(a2);
    if (k1 != k2) {
        if (a1 && a2)
            FAIL("incompatible types for comparison: %s and %s", value_go_type(a1),
                 value_go_type(a2));
        return false;
    }
    switch (k1) {
    case K_BOOL:
        return a1->u.b == a2->u.b;
    case K_INT:
        return a1->u.i == a2->u.i;
    case K_FLOAT:
        return a1->u.f == a2->u.f;
    case K_STRING:
        return a1->u.s.len == a2->u.s.len && memcmp(a1->u.s.p, a2->u.s.p, a1->u.s.len) == 0;
    default:
        break;
    }
    if (rkind(a1) != rkind(a2) && a1 && a2) {
        char b1[120], b2[120];
        FAIL("non-comparable types %s: %s, %s: %s", fmt1(b1, sizeof(b1), "%s", a1),
             value_go_type(a1), value_go_type(a2), fmt1(b2, sizeof(b2), "%v", a2));
    }
    if (is_nil_value(a1) || is_nil_value(a2)) return is_nil_value(a1) == is_nil_value(a2);
    if (!type_comparable(a2)) {
        char b1[120];
        FAIL("non-comparable type %s: %s", fmt1(b1, sizeof(b1), "%s", a2), value_go_type(a2));
    }
    return values_equal(s, a1, a2);
}

static struct xval fn_eq(struct exec_state *s, const struct xval *a, int n) {
    if (n < 2) FAIL("missing argument for comparison");
    for (int i = 1; i < n; i++)
        if (eq2(s, a[0], a[i])) return exec_new_bool(s, true);
    return exec_new_bool(s, false);
}

static struct xval fn_ne(struct exec_state *s, const struct xval *a, int n) {
    (void)n;
    return exec_new_bool(s, !eq2(s, a[0], a[1]));
}

static bool lt2(struct exec_state *s, struct xval x1, struct xval x2) {
    const struct tmpl_value *a1 = ind(x1).v;
    enum basic_kind k1 = basic_kind(a1);
    if (k1 == K_INVALID) FAIL("invalid type for comparison");
    const struct tmpl_value *a2 = ind(x2).v;
    enum basic_kind k2 = basic_kind(a2);
    if (k2 == K_INVALID) FAIL("invalid type for comparison");
    if (k1 != k2)
        FAIL("incompatible types for comparison: %s and %s", value_go_type(a1), value_go_type(a2));
    switch (k1) {
    case K_INT:
        return a1->u.i < a2->u.i;
    case K_FLOAT:
        return a1->u.f < a2->u.f;
    case K_STRING: {
        size_t m = a1->u.s.len < a2->u.s.len ? a1->u.s.len : a2->u.s.len;
        int c = memcmp(a1->u.s.p, a2->u.s.p, m);
        return c < 0 || (c == 0 && a1->u.s.len < a2->u.s.len);
    }
    default:
        FAIL("invalid type for comparison");
    }
}

static bool le2(struct exec_state *s, struct xval a, struct xval b) {
    return lt2(s, a, b) || eq2(s, a, b);
}

static struct xval fn_lt(struct exec_state *s, const struct xval *a, int n) {
    (void)n;
    return exec_new_bool(s, lt2(s, a[0], a[1]));
}

static struct xval fn_le(struct exec_state *s, const struct xval *a, int n) {
    (void)n;
    return exec_new_bool(s, le2(s, a[0], a[1]));
}

static struct xval fn_gt(struct exec_state *s, const struct xval *a, int n) {
    (void)n;
    return exec_new_bool(s, !le2(s, a[0], a[1]));
}

static struct xval fn_ge(struct exec_state *s, const struct xval *a, int n) {
    (void)n;
    return exec_new_bool(s, !lt2(s, a[0], a[1]));
}

/* ---- printing ---- */

static const struct tmpl_value **plain_args(struct exec_state *s, const struct xval *a, int n) {
    const struct tmpl_value **args =
        arena_alloc(exec_arena(s), (size_t)(n ? n : 1) * sizeof(*args));
    if (!args) FAIL("out of memory");
    for (int i = 0; i < n; i++)
        args[i] = a[i].v;
    return args;
}

static struct xval finish_str(struct exec_state *s, struct ol_buf *b, struct sbuf *sb) {
    if (sb->err) {
        ol_buf_free(b);
        FAIL("out of memory");
    }
    struct xval r = exec_new_str(s, b->data ? b->data : "", b->len);
    ol_buf_free(b);
    return r;
}

static struct xval do_print(struct exec_state *s, const struct xval *a, int n, bool ln) {
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, SIZE_MAX);
    gofmt_sprint(&sb, plain_args(s, a, n), n, ln);
    return finish_str(s, &b, &sb);
}

static struct xval fn_print(struct exec_state *s, const struct xval *a, int n) {
    return do_print(s, a, n, false);
}

static struct xval fn_println(struct exec_state *s, const struct xval *a, int n) {
    return do_print(s, a, n, true);
}

static struct xval fn_printf(struct exec_state *s, const struct xval *a, int n) {
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, SIZE_MAX);
    const struct tmpl_value *f = a[0].v;
    gofmt_sprintf(&sb, f->u.s.p, f->u.s.len, plain_args(s, a + 1, n - 1), n - 1);
    return finish_str(s, &b, &sb);
}

/* evalArgs of html/js/urlquery: fmt.Sprint with nils as "<no value>" and pointers followed. */
static void eval_args(struct exec_state *s, const struct xval *a, int n, struct ol_buf *b) {
    struct sbuf sb;
    sb_init(&sb, b, SIZE_MAX);
    if (n == 1 && a[0].v && a[0].v->kind == TMPL_STRING) {
        sb_put(&sb, a[0].v->u.s.p, a[0].v->u.s.len);
    } else {
        const struct tmpl_value **args = plain_args(s, a, n);
        for (int i = 0; i < n; i++) {
            const struct tmpl_value *v = args[i];
            if (!v || v->kind == TMPL_NIL) {
                struct xval nv = exec_new_str(s, "<no value>", 10);
                args[i] = nv.v;
            } else if (value_is_ptr_struct(v) && !v->has_text) {
                struct tmpl_value *c = arena_alloc(exec_arena(s), sizeof(*c));
                if (!c) FAIL("out of memory");
                *c = *v;
                c->go_type = v->go_type + 1;
                args[i] = c;
            }
        }
        gofmt_sprint(&sb, args, n, false);
    }
    if (sb.err) FAIL("out of memory");
}

static struct xval fn_html(struct exec_state *s, const struct xval *a, int n) {
    struct ol_buf in = {0};
    eval_args(s, a, n, &in);
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, SIZE_MAX);
    for (size_t i = 0; i < in.len; i++) {
        char c = in.data[i];
        switch (c) {
        case 0:
            sb_puts(&sb, "\xEF\xBF\xBD");
            break;
        case '"':
            sb_puts(&sb, "&#34;");
            break;
        case '\'':
            sb_puts(&sb, "&#39;");
            break;
        case '&':
            sb_puts(&sb, "&amp;");
            break;
        case '<':
            sb_puts(&sb, "&lt;");
            break;
        case '>':
            sb_puts(&sb, "&gt;");
            break;
        default:
            sb_putc(&sb, c);
        }
    }
    ol_buf_free(&in);
    return finish_str(s, &b, &sb);
}

static struct xval fn_js(struct exec_state *s, const struct xval *a, int n) {
    static const char hex[] = "0123456789ABCDEF";
    struct ol_buf in = {0};
    eval_args(s, a, n, &in);
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, SIZE_MAX);
    for (size_t i = 0; i < in.len;) {
        unsigned char c = (unsigned char)in.data[i];
        if (c < 0x80) {
            switch (c) {
            case '\\':
                sb_puts(&sb, "\\\\");
                break;
            case '\'':
                sb_puts(&sb, "\\'");
                break;
            case '"':
                sb_puts(&sb, "\\\"");
                break;
            case '<':
                sb_puts(&sb, "\\u003C");
                break;
            case '>':
                sb_puts(&sb, "\\u003E");
                break;
            case '&':
                sb_puts(&sb, "\\u0026");
                break;
            case '=':
                sb_puts(&sb, "\\u003D");
                break;
            default:
                if (c < ' ') {
                    char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
                    sb_put(&sb, e, 6);
                } else {
                    sb_putc(&sb, (char)c);
                }
            }
            i++;
            continue;
        }
        int w;
        int32_t r = uc_decode(in.data + i, in.len - i, &w);
        if (uc_is_print(r)) {
            sb_put(&sb, in.data + i, (size_t)w);
        } else {
            sb_printf(&sb, "\\u%04X", (unsigned)r);
        }
        i += (size_t)w;
    }
    ol_buf_free(&in);
    return finish_str(s, &b, &sb);
}

static struct xval fn_urlquery(struct exec_state *s, const struct xval *a, int n) {
    static const char hex[] = "0123456789ABCDEF";
    struct ol_buf in = {0};
    eval_args(s, a, n, &in);
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, SIZE_MAX);
    for (size_t i = 0; i < in.len; i++) {
        unsigned char c = (unsigned char)in.data[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            sb_putc(&sb, (char)c);
        } else if (c == ' ') {
            sb_putc(&sb, '+');
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 0xF]};
            sb_put(&sb, e, 3);
        }
    }
    ol_buf_free(&in);
    return finish_str(s, &b, &sb);
}

static struct xval fn_call(struct exec_state *s, const struct xval *a, int n) {
    (void)n;
    const struct tmpl_value *f = ind(a[0]).v;
    if (!f) FAIL("call of nil");
    FAIL("non-function of type %s", value_go_type(f));
}

static struct xval fn_and_or(struct exec_state *s, const struct xval *a, int n) {
    (void)a;
    (void)n;
    FAIL("unreachable"); /* evaluated by the executor: they short-circuit */
}

/* ---- Ollama's FuncMap ---- */

static struct xval fn_json(struct exec_state *s, const struct xval *a, int n) {
    (void)n;
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, SIZE_MAX);
    const struct tmpl_value *v = a[0].v;
    if (!gojson_marshal(&sb, v)) {
        ol_buf_free(&b); /* json.Marshal failed; Ollama ignores the error and prints "" */
        return exec_new_str(s, "", 0);
    }
    return finish_str(s, &b, &sb);
}

static struct xval date_str(struct exec_state *s, int days_back) {
    time_t now = time(NULL);
    struct tm tm;
    if (!localtime_r(&now, &tm)) FAIL("no local time");
    if (days_back) {
        tm.tm_mday -= days_back;
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        if (t == (time_t)-1 || !localtime_r(&t, &tm)) FAIL("no local time");
    }
    char buf[32];
    size_t len = strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
    return exec_new_str(s, buf, len);
}

static struct xval fn_current_date(struct exec_state *s, const struct xval *a, int n) {
    (void)a;
    (void)n;
    return date_str(s, 0);
}

static struct xval fn_yesterday_date(struct exec_state *s, const struct xval *a, int n) {
    (void)a;
    (void)n;
    return date_str(s, 1);
}

static const char *ts_type(const char *t, size_t len) {
#define IS(x) (len == strlen(x) && memcmp(t, x, len) == 0)
    if (IS("string")) return "string";
    if (IS("number") || IS("integer")) return "number";
    if (IS("boolean")) return "boolean";
    if (IS("array")) return "any[]";
    if (IS("object")) return "Record<string, any>";
    if (IS("null")) return "null";
    return "any";
#undef IS
}

static bool is_tool_property(const struct tmpl_value *v) {
    return v && v->kind == TMPL_STRUCT && v->go_type &&
           (strcmp(v->go_type, "api.ToolProperty") == 0 ||
            strcmp(v->go_type, "*api.ToolProperty") == 0);
}

/* api.ToolProperty.ToTypeScriptType */
static void to_ts(struct sbuf *sb, const struct tmpl_value *prop, int depth) {
    const struct tmpl_value *any_of = tmpl_value_get(prop, "AnyOf");
    if (depth < 32 && any_of && any_of->kind == TMPL_LIST && any_of->u.list.n > 0) {
        for (size_t i = 0; i < any_of->u.list.n; i++) {
            if (i) sb_puts(sb, " | ");
            const struct tmpl_value *p = any_of->u.list.items[i];
            if (is_tool_property(p)) {
                to_ts(sb, p, depth + 1);
            } else {
                sb_puts(sb, "any");
            }
        }
        return;
    }
    const struct tmpl_value *type = tmpl_value_get(prop, "Type");
    size_t n = type && type->kind == TMPL_LIST ? type->u.list.n : 0;
    if (n == 0) {
        sb_puts(sb, "any");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i) sb_puts(sb, " | ");
        size_t len;
        const char *t = tmpl_value_as_str(type->u.list.items[i], &len);
        sb_puts(sb, ts_type(t, len));
    }
}

static struct xval fn_to_typescript_type(struct exec_state *s, const struct xval *a, int n) {
    (void)n;
    if (!is_tool_property(a[0].v)) return exec_new_str(s, "any", 3);
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, SIZE_MAX);
    to_ts(&sb, a[0].v, 0);
    return finish_str(s, &b, &sb);
}

#define V FN_ARG_VALUE
#define A FN_ARG_ANY
#define S FN_ARG_STRING

static const struct builtin builtins[] = {
    {"and", 1, true, {V, V}, false, fn_and_or},
    {"call", 1, true, {V, V}, false, fn_call},
    {"eq", 1, true, {V, V}, false, fn_eq},
    {"ge", 2, false, {V, V}, false, fn_ge},
    {"gt", 2, false, {V, V}, false, fn_gt},
    {"html", 0, true, {A, A}, false, fn_html},
    {"index", 1, true, {V, V}, false, fn_index},
    {"js", 0, true, {A, A}, false, fn_js},
    {"le", 2, false, {V, V}, false, fn_le},
    {"len", 1, false, {V, V}, false, fn_len},
    {"lt", 2, false, {V, V}, false, fn_lt},
    {"ne", 2, false, {V, V}, false, fn_ne},
    {"not", 1, false, {V, V}, false, fn_not},
    {"or", 1, true, {V, V}, false, fn_and_or},
    {"print", 0, true, {A, A}, false, fn_print},
    {"printf", 1, true, {S, A}, false, fn_printf},
    {"println", 0, true, {A, A}, false, fn_println},
    {"slice", 1, true, {V, V}, false, fn_slice},
    {"urlquery", 0, true, {A, A}, false, fn_urlquery},
    /* Ollama's template.funcs */
    {"json", 1, false, {A, A}, true, fn_json},
    {"currentDate", 0, true, {S, S}, true, fn_current_date},
    {"yesterdayDate", 0, true, {S, S}, true, fn_yesterday_date},
    {"toTypeScriptType", 1, false, {A, A}, true, fn_to_typescript_type},
};

const struct builtin *builtin_find(const char *name, size_t len) {
    for (size_t i = 0; i < OL_ARRAY_LEN(builtins); i++)
        if (strlen(builtins[i].name) == len && memcmp(builtins[i].name, name, len) == 0)
            return &builtins[i];
    return NULL;
}
