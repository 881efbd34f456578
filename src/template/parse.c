/* The parser of Go's text/template/parse: recursive descent over lexer items with Go's
 * three-token lookahead, producing the same tree (positions included, since execution errors
 * print "name:line:col" and the offending node). Errors unwind with longjmp; every allocation
 * is in the template's arena, so nothing leaks. {{define}}/{{block}} trees share the lexer. */
#include "template/internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARSE_MAX_DEPTH 200

struct pvar {
    const char *name;
    size_t len;
};

struct parser {
    struct tmpl *t;
    struct lexer lx;
    jmp_buf jb;
    struct ol_err *err;
    int code;
    int depth;
};

/* Go's parse.Tree while parsing one template. */
struct ptree {
    struct parser *p;
    const char *name;
    size_t name_len;
    struct node *root;
    struct item token[3];
    int peek_count;
    struct pvar *vars;
    size_t n_vars, cap_vars;
    int action_line;
    int range_depth;
};

static _Noreturn void p_fail(struct parser *p, int code, const char *msg) {
    p->code = ol_err_set(p->err, code, "%s", msg);
    longjmp(p->jb, 1);
}

static _Noreturn void p_nomem(struct parser *p) { p_fail(p, OL_ENOMEM, "template: out of memory"); }

/* errorf: "template: <name>:<line>: <msg>", line of the last lexed item. */
static _Noreturn void p_errorf(struct ptree *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static _Noreturn void p_errorf(struct ptree *t, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char full[600];
    snprintf(full, sizeof(full), "template: :%d: %s", t->token[0].line, msg);
    p_fail(t->p, OL_EINVAL, full);
}

/* Copies the text built in b into the tree's arena and frees b (out of memory is recorded). */
static const char *p_take_text(struct ptree *t, struct ol_buf *b) {
    const char *r = arena_strndup(t->p->t->arena, b->data ? b->data : "", b->len);
    ol_buf_free(b);
    if (!r) p_nomem(t->p);
    return r;
}

/* Formats with the %q/%s helpers into a C string kept in the arena. */
static const char *p_quote(struct ptree *t, const char *s, size_t len) {
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, 300);
    gofmt_quote(&sb, s, len);
    return p_take_text(t, &b);
}

static const char *p_item_str(struct ptree *t, const struct item *it) {
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, 300);
    item_string(&sb, it);
    return p_take_text(t, &b);
}

static const char *p_node_str(struct ptree *t, const struct node *n) {
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, 300);
    node_string(&sb, n);
    return p_take_text(t, &b);
}

/* ---- token lookahead ---- */

static struct item t_next(struct ptree *t) {
    if (t->peek_count > 0) {
        t->peek_count--;
    } else {
        t->token[0] = lex_next(&t->p->lx);
    }
    return t->token[t->peek_count];
}

static void t_backup(struct ptree *t) { t->peek_count++; }

static void t_backup2(struct ptree *t, struct item t1) {
    t->token[1] = t1;
    t->peek_count = 2;
}

static void t_backup3(struct ptree *t, struct item t2, struct item t1) {
    t->token[1] = t1;
    t->token[2] = t2;
    t->peek_count = 3;
}

static struct item t_peek(struct ptree *t) {
    if (t->peek_count > 0) return t->token[t->peek_count - 1];
    t->peek_count = 1;
    t->token[0] = lex_next(&t->p->lx);
    return t->token[0];
}

static struct item t_next_non_space(struct ptree *t) {
    struct item it;
    do {
        it = t_next(t);
    } while (it.type == ITEM_SPACE);
    return it;
}

static struct item t_peek_non_space(struct ptree *t) {
    struct item it = t_next_non_space(t);
    t_backup(t);
    return it;
}

static _Noreturn void t_unexpected(struct ptree *t, const struct item *tok, const char *context) {
    if (tok->type == ITEM_ERROR) {
        char extra[80] = "";
        if (t->action_line != 0 && t->action_line != tok->line) {
            bool action_suffix =
                tok->len >= 7 && memcmp(tok->val + tok->len - 7, " action", 7) == 0;
            snprintf(extra, sizeof(extra), "%s started at :%d", action_suffix ? "" : " in action",
                     t->action_line);
        }
        p_errorf(t, "%.*s%s", (int)tok->len, tok->val, extra);
    }
    p_errorf(t, "unexpected %s in %s", p_item_str(t, tok), context);
}

static struct item t_expect(struct ptree *t, enum item_type expected, const char *context) {
    struct item tok = t_next_non_space(t);
    if (tok.type != expected) t_unexpected(t, &tok, context);
    return tok;
}

/* ---- nodes ---- */

static struct node *new_node(struct ptree *t, enum node_type type, int pos) {
    struct node *n = arena_alloc(t->p->t->arena, sizeof(*n));
    if (!n) p_nomem(t->p);
    n->type = (uint8_t)type;
    n->pos = pos;
    return n;
}

static void node_append(struct parser *p, struct node *list, struct node *n) {
    void *items = list->items;
    size_t cap = (size_t)list->cap_items;
    if (arena_grow(p->t->arena, &items, &cap, (size_t)list->n_items + 1, sizeof(*list->items)) < 0)
        p_nomem(p);
    list->items = items;
    list->cap_items = (int)cap;
    list->items[list->n_items++] = n;
}

static void decl_append(struct parser *p, struct node *pipe, struct node *v) {
    void *items = pipe->decl;
    size_t cap = (size_t)pipe->cap_decl;
    if (arena_grow(p->t->arena, &items, &cap, (size_t)pipe->n_decl + 1, sizeof(*pipe->decl)) < 0)
        p_nomem(p);
    pipe->decl = items;
    pipe->cap_decl = (int)cap;
    pipe->decl[pipe->n_decl++] = v;
}

/* Splits s on '.' into n->ident (Go's strings.Split). */
static void set_idents(struct ptree *t, struct node *n, const char *s, size_t len) {
    int count = 1;
    for (size_t i = 0; i < len; i++)
        count += s[i] == '.';
    n->ident = arena_alloc(t->p->t->arena, (size_t)count * sizeof(*n->ident));
    if (!n->ident) p_nomem(t->p);
    size_t start = 0;
    int k = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            n->ident[k] = arena_strndup(t->p->t->arena, s + start, i - start);
            if (!n->ident[k]) p_nomem(t->p);
            k++;
            start = i + 1;
        }
    }
    n->n_ident = count;
}

static struct node *new_variable(struct ptree *t, int pos, const char *name, size_t len) {
    struct node *n = new_node(t, NODE_VARIABLE, pos);
    set_idents(t, n, name, len);
    return n;
}

static struct node *new_field(struct ptree *t, int pos, const char *ident, size_t len) {
    struct node *n = new_node(t, NODE_FIELD, pos);
    set_idents(t, n, ident + 1, len - 1); /* drop the leading '.' */
    return n;
}

static struct node *new_pipeline(struct ptree *t, int pos, int line) {
    struct node *n = new_node(t, NODE_PIPE, pos);
    n->line = line;
    return n;
}

static void t_push_var(struct ptree *t, const char *name, size_t len) {
    void *v = t->vars;
    if (arena_grow(t->p->t->arena, &v, &t->cap_vars, t->n_vars + 1, sizeof(*t->vars)) < 0)
        p_nomem(t->p);
    t->vars = v;
    t->vars[t->n_vars].name = name;
    t->vars[t->n_vars].len = len;
    t->n_vars++;
}

static void p_enter(struct ptree *t) {
    if (++t->p->depth > PARSE_MAX_DEPTH) p_errorf(t, "max expression depth exceeded");
}

static void p_leave(struct ptree *t) { t->p->depth--; }

/* ---- numbers: Go's newNumber + strconv parsing ---- */

static bool underscore_ok(const char *s, size_t len) {
    char saw = '^';
    size_t i = 0;
    if (len >= 1 && (s[0] == '-' || s[0] == '+')) {
        s++;
        len--;
    }
    bool hex = false;
    if (len >= 2 && s[0] == '0' &&
        ((s[1] | 0x20) == 'b' || (s[1] | 0x20) == 'o' || (s[1] | 0x20) == 'x')) {
        i = 2;
        saw = '0';
        hex = (s[1] | 0x20) == 'x';
    }
    for (; i < len; i++) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || (hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')) {
            saw = '0';
            continue;
        }
        if (c == '_') {
            if (saw != '0') return false;
            saw = '_';
            continue;
        }
        if (saw == '_') return false;
        saw = '!';
    }
    return saw != '_';
}

/* strconv.ParseUint(s, 0, 64) (signed: ParseInt). */
static bool parse_go_int(const char *s, size_t len, bool is_signed, uint64_t *mag, bool *neg) {
    *neg = false;
    *mag = 0;
    if (len == 0) return false;
    const char *orig = s;
    size_t orig_len = len;
    if (is_signed && (s[0] == '+' || s[0] == '-')) {
        *neg = s[0] == '-';
        s++;
        len--;
    }
    if (len == 0) return false;
    unsigned base = 10;
    bool prefixed = false;
    if (s[0] == '0') {
        if (len >= 3 && (s[1] | 0x20) == 'x') {
            base = 16;
            s += 2;
            len -= 2;
            prefixed = true;
        } else if (len >= 3 && (s[1] | 0x20) == 'o') {
            base = 8;
            s += 2;
            len -= 2;
            prefixed = true;
        } else if (len >= 3 && (s[1] | 0x20) == 'b') {
            base = 2;
            s += 2;
            len -= 2;
            prefixed = true;
        } else if (len > 1) {
            base = 8;
            s++;
            len--;
            prefixed = true;
        }
    }
    (void)prefixed;
    bool underscores = false;
    uint64_t v = 0;
    bool any = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        unsigned d;
        if (c == '_') {
            underscores = true;
            continue;
        }
        if (c >= '0' && c <= '9') {
            d = (unsigned)(c - '0');
        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
            d = (unsigned)((c | 0x20) - 'a' + 10);
        } else {
            return false;
        }
        if (d >= base) return false;
        if (v > (UINT64_MAX - d) / base) return false; /* overflow */
        v = v * base + d;
        any = true;
    }
    if (!any && base != 8) return false;
    if (underscores && !underscore_ok(orig, orig_len)) return false;
    if (is_signed) {
        if (*neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return false;
    }
    *mag = v;
    return true;
}

/* strconv.ParseFloat(s, 64) for the syntax the lexer lets through. */
static bool parse_go_float(const char *s, size_t len, double *out) {
    char buf[128];
    if (len >= sizeof(buf)) return false;
    size_t n = 0;
    bool underscores = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '_') {
            underscores = true;
            continue;
        }
        buf[n++] = s[i];
    }
    buf[n] = 0;
    if (underscores && !underscore_ok(s, len)) return false;
    /* Validate: [sign] (digits [. digits] | . digits) [e [sign] digits], or hex with p. */
    size_t i = 0;
    if (buf[i] == '+' || buf[i] == '-') i++;
    bool hex = buf[i] == '0' && (buf[i + 1] | 0x20) == 'x';
    if (hex) i += 2;
    size_t mant = 0;
    while ((buf[i] >= '0' && buf[i] <= '9') ||
           (hex && (buf[i] | 0x20) >= 'a' && (buf[i] | 0x20) <= 'f')) {
        i++;
        mant++;
    }
    if (buf[i] == '.') {
        i++;
        while ((buf[i] >= '0' && buf[i] <= '9') ||
               (hex && (buf[i] | 0x20) >= 'a' && (buf[i] | 0x20) <= 'f')) {
            i++;
            mant++;
        }
    }
    if (mant == 0) return false;
    char ec = hex ? 'p' : 'e';
    if ((buf[i] | 0x20) == ec) {
        i++;
        if (buf[i] == '+' || buf[i] == '-') i++;
        size_t ed = 0;
        while (buf[i] >= '0' && buf[i] <= '9') {
            i++;
            ed++;
        }
        if (ed == 0) return false;
    } else if (hex) {
        return false; /* a hex mantissa needs a p exponent */
    }
    if (i != n) return false;
    errno = 0;
    char *end;
    double f = strtod(buf, &end);
    if (end != buf + n) return false;
    if (isinf(f)) return false;
    *out = f;
    return true;
}

static bool contains_any(const char *s, size_t len, const char *set) {
    for (size_t i = 0; i < len; i++)
        if (strchr(set, s[i]) && s[i]) return true;
    return false;
}

static struct node *new_number(struct ptree *t, const struct item *tok) {
    struct node *n = new_node(t, NODE_NUMBER, tok->pos);
    n->text = tok->val;
    n->text_len = tok->len;
    const char *s = tok->val;
    size_t len = tok->len;
    struct tmpl_arena *a = t->p->t->arena;
    if (tok->type == ITEM_COMPLEX || (len > 0 && s[len - 1] == 'i')) {
        p_errorf(t, "complex constant %s is not supported", p_quote(t, s, len));
    }
    if (tok->type == ITEM_CHAR_CONSTANT) {
        int32_t r = 0;
        int rc = go_unquote_char_lit(s, len, &r);
        if (rc < 0) p_errorf(t, "malformed character constant: %.*s", (int)len, s);
        if (rc == 0) p_errorf(t, "invalid syntax");
        n->num = NUM_INT;
        n->lit = tmpl_value_int(a, r);
        if (!n->lit) p_nomem(t->p);
        return n;
    }
    bool is_int = false, is_uint = false, is_float = false;
    int64_t iv = 0;
    double fv = 0;
    uint64_t mag;
    bool neg;
    if (parse_go_int(s, len, false, &mag, &neg)) is_uint = true;
    uint64_t imag;
    if (parse_go_int(s, len, true, &imag, &neg)) {
        is_int = true;
        iv = neg ? (int64_t)(0 - imag) : (int64_t)imag;
        if (iv == 0) is_uint = true;
    }
    if (is_int) {
        is_float = true;
        fv = (double)iv;
    } else if (is_uint) {
        is_float = true;
        fv = (double)mag;
    } else {
        double f;
        if (parse_go_float(s, len, &f)) {
            if (!contains_any(s, len, ".eEpP"))
                p_errorf(t, "integer overflow: %s", p_quote(t, s, len));
            is_float = true;
            fv = f;
            if (f >= -9223372036854775808.0 && f < 9223372036854775808.0 &&
                (double)(int64_t)f == f) {
                is_int = true;
                iv = (int64_t)f;
            }
            if (f >= 0 && f < 18446744073709551616.0 && (double)(uint64_t)f == f) is_uint = true;
        }
    }
    if (!is_int && !is_uint && !is_float)
        p_errorf(t, "illegal number syntax: %s", p_quote(t, s, len));
    bool hex_int = len > 2 && s[0] == '0' && (s[1] | 0x20) == 'x' && !contains_any(s, len, "pP");
    if (is_float && !hex_int && contains_any(s, len, ".eEpP")) {
        n->num = NUM_FLOAT;
        n->lit = tmpl_value_float(a, fv);
    } else if (is_int) {
        n->num = NUM_INT;
        n->lit = tmpl_value_int(a, iv);
    } else {
        n->num = NUM_OVERFLOW;
        n->lit = tmpl_value_int(a, 0);
    }
    if (!n->lit) p_nomem(t->p);
    return n;
}

static struct node *new_string(struct ptree *t, const struct item *tok) {
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, SIZE_MAX);
    bool ok = go_unquote(&sb, tok->val, tok->len);
    if (sb.err) {
        ol_buf_free(&b);
        p_nomem(t->p);
    }
    if (!ok) {
        ol_buf_free(&b);
        p_errorf(t, "invalid syntax");
    }
    struct node *n = new_node(t, NODE_STRING, tok->pos);
    n->text = tok->val;
    n->text_len = tok->len;
    n->lit = tmpl_value_strn(t->p->t->arena, b.data ? b.data : "", b.len);
    ol_buf_free(&b);
    if (!n->lit) p_nomem(t->p);
    return n;
}

/* ---- grammar ---- */

static struct node *t_pipeline(struct ptree *t, const char *context, enum item_type end);
static struct node *t_item_list(struct ptree *t, struct node **next);

static struct node *t_use_var(struct ptree *t, int pos, const char *name, size_t len) {
    struct node *v = new_variable(t, pos, name, len);
    const char *first = v->ident[0];
    size_t flen = strlen(first);
    for (size_t i = 0; i < t->n_vars; i++)
        if (t->vars[i].len == flen && memcmp(t->vars[i].name, first, flen) == 0) return v;
    p_errorf(t, "undefined variable %s", p_quote(t, first, flen));
}

static struct node *t_term(struct ptree *t) {
    struct item tok = t_next_non_space(t);
    switch (tok.type) {
    case ITEM_IDENTIFIER: {
        const struct builtin *fn = builtin_find(tok.val, tok.len);
        if (!fn) p_errorf(t, "function %s not defined", p_quote(t, tok.val, tok.len));
        struct node *n = new_node(t, NODE_IDENTIFIER, tok.pos);
        n->fn = fn;
        n->ident = arena_alloc(t->p->t->arena, sizeof(*n->ident));
        if (!n->ident) p_nomem(t->p);
        n->ident[0] = fn->name;
        n->n_ident = 1;
        return n;
    }
    case ITEM_DOT:
        return new_node(t, NODE_DOT, tok.pos);
    case ITEM_NIL:
        return new_node(t, NODE_NIL, tok.pos);
    case ITEM_VARIABLE:
        return t_use_var(t, tok.pos, tok.val, tok.len);
    case ITEM_FIELD:
        return new_field(t, tok.pos, tok.val, tok.len);
    case ITEM_BOOL: {
        struct node *n = new_node(t, NODE_BOOL, tok.pos);
        n->lit = tmpl_value_bool(t->p->t->arena, tok.len == 4);
        if (!n->lit) p_nomem(t->p);
        return n;
    }
    case ITEM_CHAR_CONSTANT:
    case ITEM_COMPLEX:
    case ITEM_NUMBER:
        return new_number(t, &tok);
    case ITEM_LEFT_PAREN: {
        p_enter(t);
        struct node *n = t_pipeline(t, "parenthesized pipeline", ITEM_RIGHT_PAREN);
        p_leave(t);
        return n;
    }
    case ITEM_STRING:
    case ITEM_RAW_STRING:
        return new_string(t, &tok);
    default:
        t_backup(t);
        return NULL;
    }
}

static struct node *t_operand(struct ptree *t) {
    struct node *node = t_term(t);
    if (!node) return NULL;
    if (t_peek(t).type == ITEM_FIELD) {
        struct node *chain = new_node(t, NODE_CHAIN, t_peek(t).pos);
        chain->pipe = node;
        /* Collect the fields. */
        const char **fields = NULL;
        size_t nf = 0, cap = 0;
        while (t_peek(t).type == ITEM_FIELD) {
            struct item f = t_next(t);
            void *fv = fields;
            if (arena_grow(t->p->t->arena, &fv, &cap, nf + 1, sizeof(*fields)) < 0) p_nomem(t->p);
            fields = fv;
            fields[nf] = arena_strndup(t->p->t->arena, f.val + 1, f.len - 1);
            if (!fields[nf]) p_nomem(t->p);
            nf++;
        }
        chain->ident = fields;
        chain->n_ident = (int)nf;
        switch (node->type) {
        case NODE_FIELD:
        case NODE_VARIABLE: {
            /* Re-make the node with the whole chain as its identifier list. */
            struct node *n = new_node(t, node->type, chain->pos);
            int total = node->n_ident + (int)nf;
            n->ident = arena_alloc(t->p->t->arena, (size_t)total * sizeof(*n->ident));
            if (!n->ident) p_nomem(t->p);
            for (int i = 0; i < node->n_ident; i++)
                n->ident[i] = node->ident[i];
            for (size_t i = 0; i < nf; i++)
                n->ident[node->n_ident + (int)i] = fields[i];
            n->n_ident = total;
            return n;
        }
        case NODE_BOOL:
        case NODE_STRING:
        case NODE_NUMBER:
        case NODE_NIL:
        case NODE_DOT: {
            const char *s = p_node_str(t, node);
            p_errorf(t, "unexpected . after term %s", p_quote(t, s, strlen(s)));
        }
        default:
            return chain;
        }
    }
    return node;
}

static struct node *t_command(struct ptree *t) {
    struct node *cmd = new_node(t, NODE_COMMAND, t_peek_non_space(t).pos);
    for (;;) {
        t_peek_non_space(t); /* skip leading spaces */
        struct node *op = t_operand(t);
        if (op) node_append(t->p, cmd, op);
        struct item tok = t_next(t);
        if (tok.type == ITEM_SPACE) continue;
        if (tok.type == ITEM_RIGHT_DELIM || tok.type == ITEM_RIGHT_PAREN) {
            t_backup(t);
        } else if (tok.type != ITEM_PIPE) {
            t_unexpected(t, &tok, "operand");
        }
        break;
    }
    if (cmd->n_items == 0) p_errorf(t, "empty command");
    return cmd;
}

static void t_check_pipeline(struct ptree *t, struct node *pipe, const char *context) {
    if (pipe->n_items == 0) p_errorf(t, "missing value for %s", context);
    for (int i = 1; i < pipe->n_items; i++) {
        switch (pipe->items[i]->items[0]->type) {
        case NODE_BOOL:
        case NODE_DOT:
        case NODE_NIL:
        case NODE_NUMBER:
        case NODE_STRING:
            p_errorf(t, "non executable command in pipeline stage %d", i + 1);
        default:
            break;
        }
    }
}

static struct node *t_pipeline(struct ptree *t, const char *context, enum item_type end) {
    struct item tok = t_peek_non_space(t);
    struct node *pipe = new_pipeline(t, tok.pos, tok.line);
decls:;
    struct item v = t_peek_non_space(t);
    if (v.type == ITEM_VARIABLE) {
        t_next(t);
        struct item after = t_peek(t);
        struct item next = t_peek_non_space(t);
        if (next.type == ITEM_ASSIGN || next.type == ITEM_DECLARE) {
            pipe->is_assign = next.type == ITEM_ASSIGN;
            t_next_non_space(t);
            decl_append(t->p, pipe, new_variable(t, v.pos, v.val, v.len));
            t_push_var(t, v.val, v.len);
        } else if (next.type == ITEM_CHAR && next.len == 1 && next.val[0] == ',') {
            t_next_non_space(t);
            decl_append(t->p, pipe, new_variable(t, v.pos, v.val, v.len));
            t_push_var(t, v.val, v.len);
            if (strcmp(context, "range") == 0 && pipe->n_decl < 2) {
                enum item_type nt = t_peek_non_space(t).type;
                if (nt == ITEM_VARIABLE || nt == ITEM_RIGHT_DELIM || nt == ITEM_RIGHT_PAREN)
                    goto decls;
                p_errorf(t, "range can only initialize variables");
            }
            p_errorf(t, "too many declarations in %s", context);
        } else if (after.type == ITEM_SPACE) {
            t_backup3(t, v, after);
        } else {
            t_backup2(t, v);
        }
    }
    for (;;) {
        struct item it = t_next_non_space(t);
        if (it.type == end) {
            t_check_pipeline(t, pipe, context);
            return pipe;
        }
        switch (it.type) {
        case ITEM_BOOL:
        case ITEM_CHAR_CONSTANT:
        case ITEM_COMPLEX:
        case ITEM_DOT:
        case ITEM_FIELD:
        case ITEM_IDENTIFIER:
        case ITEM_NUMBER:
        case ITEM_NIL:
        case ITEM_RAW_STRING:
        case ITEM_STRING:
        case ITEM_VARIABLE:
        case ITEM_LEFT_PAREN:
            t_backup(t);
            node_append(t->p, pipe, t_command(t));
            break;
        default:
            t_unexpected(t, &it, context);
        }
    }
}

static struct node *t_if_control(struct ptree *t);
static struct node *t_with_control(struct ptree *t);

/* parseControl: pipeline, list, optional else (or else if / else with), end. */
static struct node *t_parse_control(struct ptree *t, enum node_type type, const char *context) {
    size_t saved_vars = t->n_vars;
    p_enter(t);
    struct node *pipe = t_pipeline(t, context, ITEM_RIGHT_DELIM);
    if (type == NODE_RANGE) t->range_depth++;
    struct node *next;
    struct node *list = t_item_list(t, &next);
    if (type == NODE_RANGE) t->range_depth--;
    struct node *else_list = NULL;
    if (next->type == NODE_ELSE) {
        enum item_type pk = t_peek(t).type;
        if (type == NODE_IF && pk == ITEM_IF) {
            t_next(t);
            else_list = new_node(t, NODE_LIST, next->pos);
            node_append(t->p, else_list, t_if_control(t));
        } else if (type == NODE_WITH && pk == ITEM_WITH) {
            t_next(t);
            else_list = new_node(t, NODE_LIST, next->pos);
            node_append(t->p, else_list, t_with_control(t));
        } else {
            else_list = t_item_list(t, &next);
            if (next->type != NODE_END) p_errorf(t, "expected end; found %s", p_node_str(t, next));
        }
    }
    p_leave(t);
    t->n_vars = saved_vars;
    struct node *n = new_node(t, type, pipe->pos);
    n->line = pipe->line;
    n->pipe = pipe;
    n->list = list;
    n->else_list = else_list;
    return n;
}

static struct node *t_if_control(struct ptree *t) { return t_parse_control(t, NODE_IF, "if"); }

static struct node *t_with_control(struct ptree *t) {
    return t_parse_control(t, NODE_WITH, "with");
}

static const char *t_template_name(struct ptree *t, const struct item *tok, const char *context,
                                   size_t *len) {
    if (tok->type != ITEM_STRING && tok->type != ITEM_RAW_STRING) t_unexpected(t, tok, context);
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, SIZE_MAX);
    bool ok = go_unquote(&sb, tok->val, tok->len);
    if (!ok || sb.err) {
        ol_buf_free(&b);
        if (sb.err) p_nomem(t->p);
        p_errorf(t, "invalid syntax");
    }
    const char *name = arena_strndup(t->p->t->arena, b.data ? b.data : "", b.len);
    *len = b.len;
    ol_buf_free(&b);
    if (!name) p_nomem(t->p);
    return name;
}

static void t_add(struct ptree *t);
static void tree_init(struct ptree *t, struct parser *p, const char *name, size_t len);

static bool is_empty_tree(const struct node *n) {
    if (!n) return true;
    switch (n->type) {
    case NODE_COMMENT:
        return true;
    case NODE_LIST:
        for (int i = 0; i < n->n_items; i++)
            if (!is_empty_tree(n->items[i])) return false;
        return true;
    case NODE_TEXT: {
        size_t a, b;
        uc_trim_space(n->text, n->text_len, &a, &b);
        return a == b;
    }
    default:
        return false;
    }
}

static struct node *t_block_control(struct ptree *t) {
    const char *context = "block clause";
    struct item tok = t_next_non_space(t);
    size_t name_len;
    const char *name = t_template_name(t, &tok, context, &name_len);
    struct node *pipe = t_pipeline(t, context, ITEM_RIGHT_DELIM);
    struct ptree block;
    tree_init(&block, t->p, name, name_len);
    struct node *end;
    p_enter(t);
    block.root = t_item_list(&block, &end);
    p_leave(t);
    if (end->type != NODE_END) p_errorf(t, "unexpected %s in %s", p_node_str(t, end), context);
    t_add(&block);
    struct node *n = new_node(t, NODE_TEMPLATE, tok.pos);
    n->line = tok.line;
    n->text = name;
    n->text_len = name_len;
    n->pipe = pipe;
    return n;
}

static struct node *t_template_control(struct ptree *t) {
    const char *context = "template clause";
    struct item tok = t_next_non_space(t);
    size_t name_len;
    const char *name = t_template_name(t, &tok, context, &name_len);
    struct node *pipe = NULL;
    if (t_next_non_space(t).type != ITEM_RIGHT_DELIM) {
        t_backup(t);
        pipe = t_pipeline(t, context, ITEM_RIGHT_DELIM);
    }
    struct node *n = new_node(t, NODE_TEMPLATE, tok.pos);
    n->line = tok.line;
    n->text = name;
    n->text_len = name_len;
    n->pipe = pipe;
    return n;
}

static struct node *t_action(struct ptree *t) {
    struct item tok = t_next_non_space(t);
    switch (tok.type) {
    case ITEM_BLOCK:
        return t_block_control(t);
    case ITEM_BREAK:
    case ITEM_CONTINUE: {
        bool is_break = tok.type == ITEM_BREAK;
        struct item end = t_next_non_space(t);
        if (end.type != ITEM_RIGHT_DELIM)
            t_unexpected(t, &end, is_break ? "{{break}}" : "{{continue}}");
        if (t->range_depth == 0)
            p_errorf(t, "%s outside {{range}}", is_break ? "{{break}}" : "{{continue}}");
        struct node *n = new_node(t, is_break ? NODE_BREAK : NODE_CONTINUE, tok.pos);
        n->line = tok.line;
        return n;
    }
    case ITEM_ELSE: {
        struct item pk = t_peek_non_space(t);
        if (pk.type == ITEM_IF || pk.type == ITEM_WITH) {
            struct node *n = new_node(t, NODE_ELSE, pk.pos);
            n->line = pk.line;
            return n;
        }
        struct item end = t_expect(t, ITEM_RIGHT_DELIM, "else");
        struct node *n = new_node(t, NODE_ELSE, end.pos);
        n->line = end.line;
        return n;
    }
    case ITEM_END: {
        struct item end = t_expect(t, ITEM_RIGHT_DELIM, "end");
        return new_node(t, NODE_END, end.pos);
    }
    case ITEM_IF:
        return t_if_control(t);
    case ITEM_RANGE:
        return t_parse_control(t, NODE_RANGE, "range");
    case ITEM_TEMPLATE:
        return t_template_control(t);
    case ITEM_WITH:
        return t_with_control(t);
    default:
        break;
    }
    t_backup(t);
    struct item first = t_peek(t);
    struct node *n = new_node(t, NODE_ACTION, first.pos);
    n->line = first.line;
    n->pipe = t_pipeline(t, "command", ITEM_RIGHT_DELIM);
    return n;
}

static struct node *t_text_or_action(struct ptree *t) {
    struct item tok = t_next_non_space(t);
    switch (tok.type) {
    case ITEM_TEXT: {
        struct node *n = new_node(t, NODE_TEXT, tok.pos);
        n->text = tok.val;
        n->text_len = tok.len;
        return n;
    }
    case ITEM_LEFT_DELIM: {
        t->action_line = tok.line;
        struct node *n = t_action(t);
        t->action_line = 0;
        return n;
    }
    default:
        t_unexpected(t, &tok, "input");
    }
}

static struct node *t_item_list(struct ptree *t, struct node **next) {
    struct node *list = new_node(t, NODE_LIST, t_peek_non_space(t).pos);
    while (t_peek_non_space(t).type != ITEM_EOF) {
        struct node *n = t_text_or_action(t);
        if (n->type == NODE_END || n->type == NODE_ELSE) {
            *next = n;
            return list;
        }
        node_append(t->p, list, n);
    }
    p_errorf(t, "unexpected EOF");
}

static void tree_init(struct ptree *t, struct parser *p, const char *name, size_t len) {
    memset(t, 0, sizeof(*t));
    t->p = p;
    t->name = name;
    t->name_len = len;
    t_push_var(t, "$", 1);
}

/* add: register the tree, unless a non-empty one of that name exists. */
static void t_add(struct ptree *t) {
    struct tmpl *tm = t->p->t;
    int i = tmpl_tree_find(tm, t->name, t->name_len);
    if (i >= 0) {
        if (is_empty_tree(tm->trees[i].root)) {
            tm->trees[i].root = t->root;
            return;
        }
        if (!is_empty_tree(t->root))
            p_errorf(t, "template: multiple definition of template %s",
                     p_quote(t, t->name, t->name_len));
        return;
    }
    void *trees = tm->trees;
    size_t cap = (size_t)tm->cap_trees;
    if (arena_grow(tm->arena, &trees, &cap, (size_t)tm->n_trees + 1, sizeof(*tm->trees)) < 0)
        p_nomem(t->p);
    tm->trees = trees;
    tm->cap_trees = (int)cap;
    tm->trees[tm->n_trees].name = t->name;
    tm->trees[tm->n_trees].name_len = t->name_len;
    tm->trees[tm->n_trees].root = t->root;
    tm->n_trees++;
}

static void t_parse_definition(struct ptree *t) {
    const char *context = "define clause";
    struct item name = t_next_non_space(t);
    if (name.type != ITEM_STRING && name.type != ITEM_RAW_STRING) t_unexpected(t, &name, context);
    t->name = t_template_name(t, &name, context, &t->name_len);
    t_expect(t, ITEM_RIGHT_DELIM, context);
    struct node *end;
    t->root = t_item_list(t, &end);
    if (end->type != NODE_END) p_errorf(t, "unexpected %s in %s", p_node_str(t, end), context);
    t_add(t);
}

static void t_parse(struct ptree *t) {
    t->root = new_node(t, NODE_LIST, t_peek(t).pos);
    while (t_peek(t).type != ITEM_EOF) {
        if (t_peek(t).type == ITEM_LEFT_DELIM) {
            struct item delim = t_next(t);
            if (t_next_non_space(t).type == ITEM_DEFINE) {
                struct ptree def;
                tree_init(&def, t->p, "definition", 10);
                p_enter(t);
                t_parse_definition(&def);
                p_leave(t);
                continue;
            }
            t_backup2(t, delim);
        }
        struct node *n = t_text_or_action(t);
        if (n->type == NODE_END || n->type == NODE_ELSE)
            p_errorf(t, "unexpected %s", p_node_str(t, n));
        node_append(t->p, t->root, n);
    }
}

int tmpl_tree_find(const struct tmpl *t, const char *name, size_t len) {
    for (int i = 0; i < t->n_trees; i++)
        if (t->trees[i].name_len == len && memcmp(t->trees[i].name, name, len) == 0) return i;
    return -1;
}

/* Runs the parse; returns 0 or the error code (err filled). Separate from tmpl_parse so no
 * local of the caller is live across setjmp. */
static int run_parse(struct parser *p) {
    if (setjmp(p->jb)) return p->code;
    struct ptree main_tree;
    tree_init(&main_tree, p, "", 0);
    t_parse(&main_tree);
    t_add(&main_tree);
    /* The main template is trees[0] when it exists; make sure it does and comes first. */
    int i = tmpl_tree_find(p->t, "", 0);
    if (i > 0) {
        struct tree tmp = p->t->trees[0];
        p->t->trees[0] = p->t->trees[i];
        p->t->trees[i] = tmp;
    }
    return 0;
}

struct tmpl *tmpl_parse(const char *text, size_t len, unsigned flags, struct ol_err *err) {
    if (!text && len) {
        ol_err_set(err, OL_EINVAL, "template: no text");
        return NULL;
    }
    if (len > (size_t)INT32_MAX) {
        ol_err_set(err, OL_EINVAL, "template: too large");
        return NULL;
    }
    struct tmpl *t = calloc(1, sizeof(*t));
    if (!t) {
        ol_err_set(err, OL_ENOMEM, "template: out of memory");
        return NULL;
    }
    t->flags = flags;
    t->arena = tmpl_arena_new();
    if (!t->arena) goto nomem;
    t->src = arena_strndup(t->arena, text ? text : "", len);
    if (!t->src) goto nomem;
    t->src_len = len;
    struct parser *p = calloc(1, sizeof(*p));
    if (!p) goto nomem;
    p->t = t;
    p->err = err;
    lex_init(&p->lx, t->src, len);
    int rc = run_parse(p);
    free(p);
    if (rc < 0) {
        tmpl_free(t);
        return NULL;
    }
    if ((flags & TMPL_PARSE_OLLAMA) && tmpl_parse_ollama_fixup(t, err) < 0) {
        tmpl_free(t);
        return NULL;
    }
    return t;
nomem:
    tmpl_free(t);
    ol_err_set(err, OL_ENOMEM, "template: out of memory");
    return NULL;
}

void tmpl_free(struct tmpl *t) {
    if (!t) return;
    tmpl_arena_free(t->arena);
    free(t);
}

const char *tmpl_source(const struct tmpl *t) { return t ? t->src : ""; }

/* ---- Node.String() ---- */

static void pipe_string(struct sbuf *sb, const struct node *p) {
    if (p->n_decl > 0) {
        for (int i = 0; i < p->n_decl; i++) {
            if (i > 0) sb_puts(sb, ", ");
            node_string(sb, p->decl[i]);
        }
        sb_puts(sb, " := ");
    }
    for (int i = 0; i < p->n_items; i++) {
        if (i > 0) sb_puts(sb, " | ");
        node_string(sb, p->items[i]);
    }
}

void node_string(struct sbuf *sb, const struct node *n) {
    if (!n) return;
    switch (n->type) {
    case NODE_TEXT:
    case NODE_COMMENT:
    case NODE_NUMBER:
    case NODE_STRING:
        sb_put(sb, n->text, n->text_len);
        return;
    case NODE_ACTION:
        sb_puts(sb, "{{");
        pipe_string(sb, n->pipe);
        sb_puts(sb, "}}");
        return;
    case NODE_PIPE:
        pipe_string(sb, n);
        return;
    case NODE_COMMAND:
        for (int i = 0; i < n->n_items; i++) {
            if (i > 0) sb_putc(sb, ' ');
            if (n->items[i]->type == NODE_PIPE) {
                sb_putc(sb, '(');
                pipe_string(sb, n->items[i]);
                sb_putc(sb, ')');
            } else {
                node_string(sb, n->items[i]);
            }
        }
        return;
    case NODE_IDENTIFIER:
        sb_puts(sb, n->ident[0]);
        return;
    case NODE_VARIABLE:
        for (int i = 0; i < n->n_ident; i++) {
            if (i > 0) sb_putc(sb, '.');
            sb_puts(sb, n->ident[i]);
        }
        return;
    case NODE_FIELD:
        for (int i = 0; i < n->n_ident; i++) {
            sb_putc(sb, '.');
            sb_puts(sb, n->ident[i]);
        }
        return;
    case NODE_CHAIN:
        if (n->pipe->type == NODE_PIPE) {
            sb_putc(sb, '(');
            pipe_string(sb, n->pipe);
            sb_putc(sb, ')');
        } else {
            node_string(sb, n->pipe);
        }
        for (int i = 0; i < n->n_ident; i++) {
            sb_putc(sb, '.');
            sb_puts(sb, n->ident[i]);
        }
        return;
    case NODE_DOT:
        sb_putc(sb, '.');
        return;
    case NODE_NIL:
        sb_puts(sb, "nil");
        return;
    case NODE_BOOL:
        sb_puts(sb, n->lit && n->lit->u.b ? "true" : "false");
        return;
    case NODE_LIST:
        for (int i = 0; i < n->n_items; i++)
            node_string(sb, n->items[i]);
        return;
    case NODE_IF:
    case NODE_RANGE:
    case NODE_WITH:
        sb_puts(sb, n->type == NODE_IF ? "{{if " : n->type == NODE_RANGE ? "{{range " : "{{with ");
        pipe_string(sb, n->pipe);
        sb_puts(sb, "}}");
        node_string(sb, n->list);
        if (n->else_list) {
            sb_puts(sb, "{{else}}");
            node_string(sb, n->else_list);
        }
        sb_puts(sb, "{{end}}");
        return;
    case NODE_TEMPLATE:
        sb_puts(sb, "{{template ");
        gofmt_quote(sb, n->text, n->text_len);
        if (n->pipe) {
            sb_putc(sb, ' ');
            pipe_string(sb, n->pipe);
        }
        sb_puts(sb, "}}");
        return;
    case NODE_BREAK:
        sb_puts(sb, "{{break}}");
        return;
    case NODE_CONTINUE:
        sb_puts(sb, "{{continue}}");
        return;
    case NODE_ELSE:
        sb_puts(sb, "{{else}}");
        return;
    case NODE_END:
        sb_puts(sb, "{{end}}");
        return;
    default:
        return;
    }
}

struct node *node_copy(struct tmpl_arena *a, const struct node *n) {
    if (!n) return NULL;
    struct node *c = arena_alloc(a, sizeof(*c));
    if (!c) return NULL;
    *c = *n;
    if (n->n_items > 0) {
        c->items = arena_alloc(a, (size_t)n->n_items * sizeof(*c->items));
        if (!c->items) return NULL;
        c->cap_items = n->n_items;
        for (int i = 0; i < n->n_items; i++) {
            c->items[i] = node_copy(a, n->items[i]);
            if (!c->items[i]) return NULL;
        }
    }
    if (n->n_decl > 0) {
        c->decl = arena_alloc(a, (size_t)n->n_decl * sizeof(*c->decl));
        if (!c->decl) return NULL;
        c->cap_decl = n->n_decl;
        for (int i = 0; i < n->n_decl; i++) {
            c->decl[i] = node_copy(a, n->decl[i]);
            if (!c->decl[i]) return NULL;
        }
    }
    if (n->pipe && !(c->pipe = node_copy(a, n->pipe))) return NULL;
    if (n->list && !(c->list = node_copy(a, n->list))) return NULL;
    if (n->else_list && !(c->else_list = node_copy(a, n->else_list))) return NULL;
    return c;
}
