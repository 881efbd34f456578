/* The executor of Go's text/template (exec.go): walks the parse tree with dot and a variable
 * stack, evaluating pipelines, fields, functions and arguments the way reflect-based Go code
 * does. The one idea to keep in mind is Go's two kinds of "nothing": an invalid value (v NULL:
 * a missing key without missingkey=zero, an unset variable's nil) and a nil interface (a
 * TMPL_NIL value: what map[string]any holds for a missing key under missingkey=zero). They
 * print, compare and chain differently, and the error messages depend on it.
 * Errors unwind with longjmp to exec_tree(); temporaries live in a per-execution arena. */
#include "template/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXEC_MAX_TEMPLATE_DEPTH 32
#define EXEC_MAX_RECURSION 4000

struct var {
    const char *name;
    struct xval v;
};

struct exec_state {
    const struct tmpl *t;
    const struct exec_opts *o;
    const struct node *cut_root; /* Ollama's cut template: the only tree there is */
    const char *tree_name;       /* name of the executing template, for messages */
    size_t tree_name_len;
    struct sbuf out;
    const struct node *node; /* current node, for error context */
    struct var *vars;
    size_t n_vars, cap_vars;
    size_t var_base; /* lookups stop here: called templates see only their own variables */
    struct tmpl_arena *arena;
    jmp_buf jb;
    struct ol_err *err;
    int code;
    int tmpl_depth;
    int rec;
    uint64_t steps, max_steps;
    size_t max_output;
    const char *call_name; /* function being called, for "error calling %s" */
    const struct node *call_node;
};

enum walk_result { W_OK, W_BREAK, W_CONTINUE };

/* The "no final argument" marker of evalCall (Go's missingVal). */
static const struct tmpl_value missing_marker;
#define MISSING ((struct xval){&missing_marker, false})
#define INVALID ((struct xval){NULL, false})

static bool is_missing(struct xval v) { return v.v == &missing_marker; }

static _Noreturn void exec_abort(struct exec_state *s, int code, const char *msg) {
    s->code = ol_err_set(s->err, code, "%s", msg);
    longjmp(s->jb, 1);
}

/* errorf: "template: <loc>: executing \"<name>\" at <<node>>: <msg>". */
static _Noreturn void exec_vfail(struct exec_state *s, const char *fmt, va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, 4096);
    sb_puts(&sb, "template: ");
    if (!s->node) {
        gofmt_quote(&sb, s->tree_name, s->tree_name_len);
        sb_printf(&sb, ": %s", msg);
    } else {
        int pos = s->node->pos;
        const char *src = s->t->src;
        int line = 1;
        int last_nl = -1;
        for (int i = 0; i < pos && (size_t)i < s->t->src_len; i++) {
            if (src[i] == '\n') {
                line++;
                last_nl = i;
            }
        }
        int col = last_nl < 0 ? pos : pos - (last_nl + 1);
        sb_printf(&sb, ":%d:%d: executing ", line, col);
        gofmt_quote(&sb, s->tree_name, s->tree_name_len);
        sb_puts(&sb, " at <");
        node_string(&sb, s->node);
        sb_printf(&sb, ">: %s", msg);
    }
    char out[sizeof(((struct ol_err *)0)->msg)];
    snprintf(out, sizeof(out), "%.*s", (int)b.len, b.data ? b.data : "template: error");
    ol_buf_free(&b);
    exec_abort(s, sb.err == OL_ENOMEM ? OL_ENOMEM : OL_EINTERNAL, out);
}

static _Noreturn void exec_fail(struct exec_state *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static _Noreturn void exec_fail(struct exec_state *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    exec_vfail(s, fmt, ap);
}

void exec_fail_call(struct exec_state *s, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    s->node = s->call_node;
    exec_fail(s, "error calling %s: %s", s->call_name, msg);
}

static _Noreturn void exec_nomem(struct exec_state *s) {
    exec_abort(s, OL_ENOMEM, "template: out of memory");
}

struct tmpl_arena *exec_arena(struct exec_state *s) {
    return s->arena;
}

struct xval exec_new_bool(struct exec_state *s, bool b) {
    struct tmpl_value *v = tmpl_value_bool(s->arena, b);
    if (!v) exec_nomem(s);
    return (struct xval){v, false};
}

struct xval exec_new_int(struct exec_state *s, int64_t i) {
    struct tmpl_value *v = tmpl_value_int(s->arena, i);
    if (!v) exec_nomem(s);
    return (struct xval){v, false};
}

struct xval exec_new_str(struct exec_state *s, const char *p, size_t len) {
    struct tmpl_value *v = tmpl_value_strn(s->arena, p, len);
    if (!v) exec_nomem(s);
    return (struct xval){v, false};
}

static struct xval new_nil(struct exec_state *s) {
    struct tmpl_value *v = tmpl_value_nil(s->arena);
    if (!v) exec_nomem(s);
    return (struct xval){v, true};
}

static void check_out(struct exec_state *s) {
    if (!s->out.err) return;
    if (s->out.err == OL_ENOMEM) exec_nomem(s);
    char msg[128];
    snprintf(msg, sizeof(msg), "template: output exceeds %zu bytes", s->max_output);
    exec_abort(s, OL_EINVAL, msg);
}

static void step(struct exec_state *s) {
    if (++s->steps > s->max_steps) {
        char msg[128];
        snprintf(msg, sizeof(msg), "template: execution exceeds %llu steps",
                 (unsigned long long)s->max_steps);
        exec_abort(s, OL_EINVAL, msg);
    }
}

/* ---- variables ---- */

static void push_var(struct exec_state *s, const char *name, struct xval v) {
    if (s->n_vars == s->cap_vars) {
        size_t cap = s->cap_vars ? s->cap_vars * 2 : 16;
        struct var *nv = ol_realloc_array(s->vars, cap, sizeof(*nv));
        if (!nv) exec_nomem(s);
        s->vars = nv;
        s->cap_vars = cap;
    }
    s->vars[s->n_vars].name = name;
    s->vars[s->n_vars].v = v;
    s->n_vars++;
}

static void set_var(struct exec_state *s, const char *name, struct xval v) {
    for (size_t i = s->n_vars; i-- > s->var_base;) {
        if (strcmp(s->vars[i].name, name) == 0) {
            s->vars[i].v = v;
            return;
        }
    }
    exec_fail(s, "undefined variable: %s", name);
}

static struct xval var_value(struct exec_state *s, const char *name) {
    for (size_t i = s->n_vars; i-- > s->var_base;)
        if (strcmp(s->vars[i].name, name) == 0) return s->vars[i].v;
    exec_fail(s, "undefined variable: %s", name);
}

/* ---- truth, indirection ---- */

/* indirectInterface: a nil interface becomes invalid, an interface its content. */
static struct xval indirect_iface(struct xval v) {
    if (v.v && v.v->kind == TMPL_NIL) return INVALID;
    v.iface = false;
    return v;
}

static bool is_true(const struct tmpl_value *v) {
    if (!v) return false;
    switch (v->kind) {
    case TMPL_NIL:
        return false;
    case TMPL_BOOL:
        return v->u.b;
    case TMPL_INT:
        return v->u.i != 0;
    case TMPL_FLOAT:
        return v->u.f != 0;
    case TMPL_STRING:
        return v->u.s.len > 0;
    case TMPL_LIST:
        return v->u.list.n > 0;
    case TMPL_MAP:
        return v->u.map.n > 0;
    case TMPL_STRUCT:
        return true;
    default:
        return false;
    }
}

bool value_truth(const struct tmpl_value *v) { return is_true(v); }

/* ---- evaluation ---- */

static struct xval eval_pipeline(struct exec_state *s, struct xval dot, const struct node *pipe);
static struct xval eval_arg(struct exec_state *s, struct xval dot, int type, const struct node *n);
static enum walk_result walk(struct exec_state *s, struct xval dot, const struct node *n);

#define ARG_NONE 3 /* evalArg with a nil type */

static void not_a_function(struct exec_state *s, const struct node *cmd, struct xval final) {
    if ((cmd && cmd->n_items > 1) || !is_missing(final)) {
        struct ol_buf b = {0};
        struct sbuf sb;
        sb_init(&sb, &b, 300);
        node_string(&sb, cmd ? cmd->items[0] : s->node);
        char name[320];
        snprintf(name, sizeof(name), "%.*s", (int)b.len, b.data ? b.data : "");
        ol_buf_free(&b);
        exec_fail(s, "can't give argument to non-function %s", name);
    }
}

static struct xval ideal_constant(struct exec_state *s, const struct node *n) {
    s->node = n;
    if (n->num == NUM_OVERFLOW) exec_fail(s, "%.*s overflows int", (int)n->text_len, n->text);
    return (struct xval){n->lit, false};
}

/* evalField: .name of receiver. cmd (the command, args = its items) may be NULL. */
static struct xval eval_field(struct exec_state *s, const char *name, const struct node *cmd,
                              struct xval final, struct xval receiver) {
    if (!receiver.v) return INVALID;
    const char *typ = receiver.iface ? "interface {}" : value_go_type(receiver.v);
    const struct tmpl_value *r = receiver.v;
    if (r->kind == TMPL_NIL) exec_fail(s, "nil pointer evaluating %s.%s", typ, name);
    bool has_args = (cmd && cmd->n_items > 1) || !is_missing(final);
    if (r->has_text && strcmp(name, "String") == 0) {
        /* The fmt.Stringer method that a text stands for. */
        if (has_args) {
            exec_fail(s, "wrong number of args for String: want 0 got %d",
                      (cmd ? cmd->n_items - 1 : 0) + (is_missing(final) ? 0 : 1));
        }
        return exec_new_str(s, r->text, r->text_len);
    }
    size_t len = strlen(name);
    if (r->kind == TMPL_STRUCT) {
        const struct tmpl_entry *e = value_find(r, name, len);
        if (e) {
            if (has_args) exec_fail(s, "%s has arguments but cannot be invoked as function", name);
            return (struct xval){e->v, e->is_any};
        }
    } else if (r->kind == TMPL_MAP) {
        if (has_args) exec_fail(s, "%s is not a method but has arguments", name);
        const struct tmpl_entry *e = value_find(r, name, len);
        if (e) return (struct xval){e->v, value_elems_any(r)};
        if (s->o->missingkey_zero) return new_nil(s);
        return INVALID;
    }
    exec_fail(s, "can't evaluate field %s in type %s", name, typ);
}

static struct xval eval_field_chain(struct exec_state *s, struct xval receiver,
                                    const char *const *ident, int n, const struct node *cmd,
                                    struct xval final) {
    for (int i = 0; i < n - 1; i++)
        receiver = eval_field(s, ident[i], NULL, MISSING, receiver);
    return eval_field(s, ident[n - 1], cmd, final, receiver);
}

static struct xval eval_field_node(struct exec_state *s, struct xval dot, const struct node *field,
                                   const struct node *cmd, struct xval final) {
    s->node = field;
    return eval_field_chain(s, dot, field->ident, field->n_ident, cmd, final);
}

static struct xval eval_chain_node(struct exec_state *s, struct xval dot, const struct node *chain,
                                   const struct node *cmd, struct xval final) {
    s->node = chain;
    if (chain->pipe->type == NODE_NIL) {
        struct ol_buf b = {0};
        struct sbuf sb;
        sb_init(&sb, &b, 300);
        node_string(&sb, chain);
        char txt[320];
        snprintf(txt, sizeof(txt), "%.*s", (int)b.len, b.data ? b.data : "");
        ol_buf_free(&b);
        exec_fail(s, "indirection through explicit nil in %s", txt);
    }
    struct xval pipe = eval_arg(s, dot, ARG_NONE, chain->pipe);
    s->node = chain;
    return eval_field_chain(s, pipe, chain->ident, chain->n_ident, cmd, final);
}

static struct xval eval_variable_node(struct exec_state *s, struct xval dot, const struct node *var,
                                      const struct node *cmd, struct xval final) {
    (void)dot;
    s->node = var;
    struct xval value = var_value(s, var->ident[0]);
    if (var->n_ident == 1) {
        not_a_function(s, cmd, final);
        return value;
    }
    return eval_field_chain(s, value, var->ident + 1, var->n_ident - 1, cmd, final);
}

/* validateType for the argument kinds our functions take. */
static struct xval validate_type(struct exec_state *s, struct xval v, int type) {
    if (!v.v) {
        switch (type) {
        case FN_ARG_ANY:
            return new_nil(s);
        case FN_ARG_STRING:
            exec_fail(s, "invalid value; expected string");
        default:
            return INVALID;
        }
    }
    if (type == FN_ARG_STRING) {
        if (v.v->kind == TMPL_STRING && (!v.v->go_type || strcmp(v.v->go_type, "string") == 0))
            return (struct xval){v.v, false};
        const char *got = v.v->kind == TMPL_NIL ? "interface {}" : value_go_type(v.v);
        exec_fail(s, "wrong type for value; expected string; got %s", got);
    }
    return v;
}

static struct xval eval_call(struct exec_state *s, struct xval dot, const struct builtin *fn,
                             const struct node *node, const struct node *cmd, struct xval final);

static struct xval eval_function(struct exec_state *s, struct xval dot, const struct node *ident,
                                 const struct node *node, const struct node *cmd,
                                 struct xval final) {
    s->node = ident;
    const struct builtin *fn = ident->fn;
    if (s->o->no_custom_funcs && fn->custom)
        exec_fail(s, "\"%s\" is not a defined function", fn->name);
    return eval_call(s, dot, fn, node, cmd, final);
}

static struct xval eval_arg(struct exec_state *s, struct xval dot, int type, const struct node *n) {
    s->node = n;
    switch (n->type) {
    case NODE_DOT:
        return validate_type(s, dot, type);
    case NODE_NIL:
        if (type == FN_ARG_STRING) exec_fail(s, "cannot assign nil to string");
        return type == FN_ARG_ANY ? new_nil(s) : INVALID;
    case NODE_FIELD:
        return validate_type(s, eval_field_node(s, dot, n, NULL, MISSING), type);
    case NODE_VARIABLE:
        return validate_type(s, eval_variable_node(s, dot, n, NULL, MISSING), type);
    case NODE_PIPE:
        return validate_type(s, eval_pipeline(s, dot, n), type);
    case NODE_IDENTIFIER:
        return validate_type(s, eval_function(s, dot, n, n, NULL, MISSING), type);
    case NODE_CHAIN:
        return validate_type(s, eval_chain_node(s, dot, n, NULL, MISSING), type);
    default:
        break;
    }
    if (type == FN_ARG_STRING) {
        if (n->type == NODE_STRING) return (struct xval){n->lit, false};
        struct ol_buf b = {0};
        struct sbuf sb;
        sb_init(&sb, &b, 300);
        node_string(&sb, n);
        char txt[320];
        snprintf(txt, sizeof(txt), "%.*s", (int)b.len, b.data ? b.data : "");
        ol_buf_free(&b);
        exec_fail(s, "expected string; found %s", txt);
    }
    /* evalEmptyInterface */
    switch (n->type) {
    case NODE_BOOL:
    case NODE_STRING:
        return (struct xval){n->lit, false};
    case NODE_NUMBER:
        return ideal_constant(s, n);
    default:
        exec_fail(s, "can't handle assignment of node to empty interface argument");
    }
}

static struct xval eval_call(struct exec_state *s, struct xval dot, const struct builtin *fn,
                             const struct node *node, const struct node *cmd, struct xval final) {
    int n_args = cmd ? cmd->n_items - 1 : 0;
    int num_in = n_args + (is_missing(final) ? 0 : 1);
    if (fn->variadic) {
        if (num_in < fn->n_fixed)
            exec_fail(s, "wrong number of args for %s: want at least %d got %d", fn->name,
                      fn->n_fixed, n_args);
    } else if (num_in != fn->n_fixed) {
        exec_fail(s, "wrong number of args for %s: want %d got %d", fn->name, fn->n_fixed, num_in);
    }
    bool is_or = strcmp(fn->name, "or") == 0;
    if (!fn->custom && (is_or || strcmp(fn->name, "and") == 0)) {
        struct xval v = INVALID;
        for (int i = 0; i < n_args; i++) {
            v = eval_arg(s, dot, FN_ARG_VALUE, cmd->items[i + 1]);
            if (is_true(indirect_iface(v).v) == is_or) return v;
        }
        if (!is_missing(final)) v = final;
        return v;
    }
    struct xval stack_args[8];
    struct xval *argv = stack_args;
    if (num_in > (int)OL_ARRAY_LEN(stack_args)) {
        argv = arena_alloc(s->arena, (size_t)num_in * sizeof(*argv));
        if (!argv) exec_nomem(s);
    }
    int i = 0;
    for (; i < fn->n_fixed && i < n_args; i++)
        argv[i] = eval_arg(s, dot, fn->arg[0], cmd->items[i + 1]);
    if (fn->variadic)
        for (; i < n_args; i++)
            argv[i] = eval_arg(s, dot, fn->arg[1], cmd->items[i + 1]);
    if (!is_missing(final)) {
        int type = fn->variadic && num_in - 1 >= fn->n_fixed ? fn->arg[1] : fn->arg[0];
        argv[i] = validate_type(s, final, type);
    }
    const char *saved_name = s->call_name;
    const struct node *saved_node = s->call_node;
    s->call_name = fn->name;
    s->call_node = node;
    struct xval r = fn->call(s, argv, num_in);
    s->call_name = saved_name;
    s->call_node = saved_node;
    return r;
}

static struct xval eval_command(struct exec_state *s, struct xval dot, const struct node *cmd,
                                struct xval final) {
    const struct node *first = cmd->items[0];
    step(s);
    switch (first->type) {
    case NODE_FIELD:
        return eval_field_node(s, dot, first, cmd, final);
    case NODE_CHAIN:
        return eval_chain_node(s, dot, first, cmd, final);
    case NODE_IDENTIFIER:
        return eval_function(s, dot, first, cmd, cmd, final);
    case NODE_PIPE:
        not_a_function(s, cmd, final);
        return eval_pipeline(s, dot, first);
    case NODE_VARIABLE:
        return eval_variable_node(s, dot, first, cmd, final);
    default:
        break;
    }
    s->node = first;
    not_a_function(s, cmd, final);
    switch (first->type) {
    case NODE_BOOL:
    case NODE_STRING:
        return (struct xval){first->lit, false};
    case NODE_DOT:
        return dot;
    case NODE_NIL:
        exec_fail(s, "nil is not a command");
    case NODE_NUMBER:
        return ideal_constant(s, first);
    default:
        exec_fail(s, "can't evaluate command");
    }
}

static struct xval eval_pipeline(struct exec_state *s, struct xval dot, const struct node *pipe) {
    if (!pipe) return INVALID;
    if (++s->rec > EXEC_MAX_RECURSION) exec_fail(s, "exceeded maximum template depth");
    s->node = pipe;
    struct xval value = MISSING;
    for (int i = 0; i < pipe->n_items; i++) {
        value = eval_command(s, dot, pipe->items[i], value);
        /* An interface value becomes what it holds (a nil one, invalid). */
        if (value.iface) value = indirect_iface(value);
    }
    for (int i = 0; i < pipe->n_decl; i++) {
        if (pipe->is_assign) {
            set_var(s, pipe->decl[i]->ident[0], value);
        } else {
            push_var(s, pipe->decl[i]->ident[0], value);
        }
    }
    s->rec--;
    return value;
}

/* ---- walking ---- */

static void print_value(struct exec_state *s, const struct node *n, struct xval v) {
    s->node = n;
    if (!v.v) {
        sb_puts(&s->out, "<no value>");
    } else if (v.v->kind == TMPL_NIL) {
        sb_puts(&s->out, "<nil>");
    } else {
        gofmt_print1(&s->out, v.v);
    }
    check_out(s);
}

static enum walk_result walk_if_or_with(struct exec_state *s, struct xval dot,
                                        const struct node *n) {
    size_t mark = s->n_vars;
    struct xval val = eval_pipeline(s, dot, n->pipe);
    bool truth = is_true(indirect_iface(val).v);
    enum walk_result r = W_OK;
    if (truth) {
        r = walk(s, n->type == NODE_WITH ? val : dot, n->list);
    } else if (n->else_list) {
        r = walk(s, dot, n->else_list);
    }
    s->n_vars = mark;
    return r;
}

struct range_ctx {
    const struct node *r;
    size_t mark;
};

/* One iteration; returns W_BREAK to stop the loop. */
static enum walk_result range_iteration(struct exec_state *s, const struct range_ctx *c,
                                        struct xval index, struct xval elem) {
    const struct node *pipe = c->r->pipe;
    if (pipe->n_decl > 0) {
        if (pipe->is_assign) {
            set_var(s, pipe->decl[0]->ident[0], pipe->n_decl > 1 ? index : elem);
        } else {
            s->vars[s->n_vars - 1].v = elem;
        }
    }
    if (pipe->n_decl > 1) {
        if (pipe->is_assign) {
            set_var(s, pipe->decl[1]->ident[0], elem);
        } else {
            s->vars[s->n_vars - 2].v = index;
        }
    }
    enum walk_result w = walk(s, elem, c->r->list);
    s->n_vars = c->mark;
    return w == W_BREAK ? W_BREAK : W_OK;
}

static enum walk_result walk_range(struct exec_state *s, struct xval dot, const struct node *r) {
    s->node = r;
    size_t mark0 = s->n_vars;
    struct xval val = indirect_iface(eval_pipeline(s, dot, r->pipe));
    struct range_ctx c = {r, s->n_vars};
    bool ran = false;
    const struct tmpl_value *v = val.v;
    if (!v) {
        /* An invalid value acts like an empty map. */
    } else if (v->kind == TMPL_INT) {
        if (r->pipe->n_decl > 1) {
            struct ol_buf b = {0};
            struct sbuf sb;
            sb_init(&sb, &b, 200);
            gofmt_value_v(&sb, v);
            char txt[220];
            snprintf(txt, sizeof(txt), "%.*s", (int)b.len, b.data ? b.data : "");
            ol_buf_free(&b);
            exec_fail(s, "can't use %s to iterate over more than one variable", txt);
        }
        for (int64_t i = 0; i < v->u.i; i++) {
            ran = true;
            if (range_iteration(s, &c, INVALID, exec_new_int(s, i)) == W_BREAK) break;
        }
    } else if (v->kind == TMPL_LIST) {
        bool any = value_elems_any(v);
        for (size_t i = 0; i < v->u.list.n; i++) {
            ran = true;
            struct xval elem = {v->u.list.items[i], any};
            if (range_iteration(s, &c, exec_new_int(s, (int64_t)i), elem) == W_BREAK) break;
        }
    } else if (v->kind == TMPL_MAP) {
        if (v->u.map.n > 0) {
            size_t *idx = value_sorted_keys(s->arena, v);
            if (!idx) exec_nomem(s);
            bool any = value_elems_any(v);
            for (size_t i = 0; i < v->u.map.n; i++) {
                ran = true;
                const struct tmpl_entry *e = &v->u.map.e[idx[i]];
                struct xval key = exec_new_str(s, e->key, e->key_len);
                struct xval elem = {e->v, any};
                if (range_iteration(s, &c, key, elem) == W_BREAK) break;
            }
        }
    } else {
        struct ol_buf b = {0};
        struct sbuf sb;
        sb_init(&sb, &b, 200);
        gofmt_value_v(&sb, v);
        char txt[220];
        snprintf(txt, sizeof(txt), "%.*s", (int)b.len, b.data ? b.data : "");
        ol_buf_free(&b);
        exec_fail(s, "range can't iterate over %s", txt);
    }
    enum walk_result res = W_OK;
    if (!ran && r->else_list) {
        /* A {{break}} here belongs to an outer range, but Go's recover in this range eats it. */
        res = walk(s, dot, r->else_list);
        if (res == W_BREAK) res = W_OK;
    }
    s->n_vars = mark0;
    return res;
}

static enum walk_result walk_template(struct exec_state *s, struct xval dot, const struct node *n) {
    s->node = n;
    const struct node *root = NULL;
    if (s->cut_root) {
        if (n->text_len == 0) root = s->cut_root;
    } else {
        int i = tmpl_tree_find(s->t, n->text, n->text_len);
        if (i >= 0) root = s->t->trees[i].root;
    }
    if (!root) {
        struct ol_buf b = {0};
        struct sbuf sb;
        sb_init(&sb, &b, 300);
        gofmt_quote(&sb, n->text, n->text_len);
        char txt[320];
        snprintf(txt, sizeof(txt), "%.*s", (int)b.len, b.data ? b.data : "");
        ol_buf_free(&b);
        exec_fail(s, "template %s not defined", txt);
    }
    if (s->tmpl_depth >= EXEC_MAX_TEMPLATE_DEPTH)
        exec_fail(s, "exceeded maximum template depth (%d)", EXEC_MAX_TEMPLATE_DEPTH);
    dot = eval_pipeline(s, dot, n->pipe);
    const char *saved_name = s->tree_name;
    size_t saved_name_len = s->tree_name_len;
    size_t saved_base = s->var_base;
    size_t saved_n = s->n_vars;
    s->tmpl_depth++;
    s->tree_name = n->text;
    s->tree_name_len = n->text_len;
    s->var_base = s->n_vars;
    push_var(s, "$", dot);
    walk(s, dot, root);
    s->n_vars = saved_n;
    s->var_base = saved_base;
    s->tree_name = saved_name;
    s->tree_name_len = saved_name_len;
    s->tmpl_depth--;
    return W_OK;
}

static enum walk_result walk(struct exec_state *s, struct xval dot, const struct node *n) {
    s->node = n;
    step(s);
    if (++s->rec > EXEC_MAX_RECURSION) exec_fail(s, "exceeded maximum template depth");
    enum walk_result r = W_OK;
    switch (n->type) {
    case NODE_ACTION: {
        struct xval val = eval_pipeline(s, dot, n->pipe);
        if (n->pipe->n_decl == 0) print_value(s, n, val);
        break;
    }
    case NODE_BREAK:
        r = W_BREAK;
        break;
    case NODE_CONTINUE:
        r = W_CONTINUE;
        break;
    case NODE_COMMENT:
        break;
    case NODE_IF:
    case NODE_WITH:
        r = walk_if_or_with(s, dot, n);
        break;
    case NODE_LIST:
        for (int i = 0; i < n->n_items; i++) {
            r = walk(s, dot, n->items[i]);
            if (r != W_OK) break;
        }
        break;
    case NODE_RANGE:
        r = walk_range(s, dot, n);
        break;
    case NODE_TEMPLATE:
        r = walk_template(s, dot, n);
        break;
    case NODE_TEXT:
        sb_put(&s->out, n->text, n->text_len);
        check_out(s);
        break;
    default:
        exec_fail(s, "unknown node");
    }
    s->rec--;
    return r;
}

static int run_exec(struct exec_state *s, const struct node *root, struct xval dot) {
    if (setjmp(s->jb)) return s->code;
    push_var(s, "$", dot);
    walk(s, dot, root);
    return 0;
}

int exec_tree(const struct tmpl *t, int tree, const struct node *root,
              const struct tmpl_value *data, const struct tmpl_exec_params *p,
              const struct exec_opts *o, struct ol_buf *out, struct ol_err *err) {
    struct tmpl_exec_params def = tmpl_exec_default_params();
    if (!p) p = &def;
    struct exec_state *s = calloc(1, sizeof(*s));
    if (!s) return ol_err_set(err, OL_ENOMEM, "template: out of memory");
    s->t = t;
    s->o = o;
    s->tree_name = t->trees[tree].name;
    s->tree_name_len = t->trees[tree].name_len;
    if (root != t->trees[tree].root) s->cut_root = root;
    s->max_output = p->max_output;
    size_t limit = out->len + p->max_output < out->len ? SIZE_MAX : out->len + p->max_output;
    sb_init(&s->out, out, limit);
    s->max_steps = p->max_steps;
    s->err = err;
    s->arena = tmpl_arena_new();
    int rc;
    if (!s->arena) {
        rc = ol_err_set(err, OL_ENOMEM, "template: out of memory");
    } else {
        /* Go's Execute(w, nil) and a nil interface both start from an invalid dot. */
        struct xval dot = {data && data->kind != TMPL_NIL ? data : NULL, false};
        rc = run_exec(s, root, dot);
    }
    tmpl_arena_free(s->arena);
    free(s->vars);
    free(s);
    return rc;
}

struct tmpl_exec_params tmpl_exec_default_params(void) {
    struct tmpl_exec_params p = {64u << 20, 100000000};
    return p;
}

int tmpl_exec(const struct tmpl *t, const struct tmpl_value *data, const struct tmpl_exec_params *p,
              struct ol_buf *out, struct ol_err *err) {
    if (!t || !out) return ol_err_set(err, OL_EINVAL, "template: no template");
    if (t->n_trees == 0 || !t->trees[0].root)
        return ol_err_set(err, OL_EINTERNAL, "template: \"\" is an incomplete or empty template");
    struct exec_opts o = {.missingkey_zero = true};
    return exec_tree(t, 0, t->trees[0].root, data, p, &o, out, err);
}
