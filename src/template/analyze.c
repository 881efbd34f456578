/* Ollama's static analyses of a parsed template: Vars() (which fields a template mentions,
 * deciding the rendering mode and capabilities), the implicit {{ .Response }}, the legacy-mode
 * cut at .Response (deleteNode), and the inferred thinking and tool-call tags. Each mirrors
 * the Go code in Ollama's template/, thinking/ and tools/ packages, quirks included. */
#include "template/internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Vars() / Identifiers() ---- */

struct ident_visit {
    const char *want; /* match this (case-insensitive) ... */
    bool found;
    bool bad_template; /* {{ template "x" }} without a pipeline: Identifiers() fails */
};

static void idents_visit(struct ident_visit *iv, const struct node *n) {
    if (!n) return;
    switch (n->type) {
    case NODE_LIST:
        for (int i = 0; i < n->n_items; i++)
            idents_visit(iv, n->items[i]);
        return;
    case NODE_TEMPLATE:
        if (!n->pipe) {
            iv->bad_template = true;
            return;
        }
        idents_visit(iv, n->pipe);
        return;
    case NODE_ACTION:
        idents_visit(iv, n->pipe);
        return;
    case NODE_IF:
    case NODE_RANGE:
    case NODE_WITH:
        idents_visit(iv, n->pipe);
        idents_visit(iv, n->list);
        idents_visit(iv, n->else_list);
        return;
    case NODE_PIPE:
        for (int i = 0; i < n->n_items; i++) {
            const struct node *cmd = n->items[i];
            for (int j = 0; j < cmd->n_items; j++)
                idents_visit(iv, cmd->items[j]);
        }
        return;
    case NODE_FIELD:
    case NODE_VARIABLE:
        if (iv->want)
            for (int i = 0; i < n->n_ident; i++)
                if (strcasecmp(n->ident[i], iv->want) == 0) iv->found = true;
        return;
    default:
        return;
    }
}

static void vars_visit(const struct tmpl *t, struct ident_visit *iv) {
    for (int i = 0; i < t->n_trees; i++) {
        const struct node *root = t->trees[i].root;
        if (!root) continue;
        for (int j = 0; j < root->n_items; j++)
            idents_visit(iv, root->items[j]);
    }
}

bool tmpl_references(const struct tmpl *t, const char *name) {
    if (!t || !name) return false;
    struct ident_visit iv = {name, false, false};
    vars_visit(t, &iv);
    return iv.found;
}

/* ---- deleteNode: the legacy-mode cut ---- */

struct cut_state {
    bool cut;
};

static bool cut_pred(struct cut_state *c, const struct node *n) {
    if (n->type == NODE_FIELD) {
        for (int i = 0; i < n->n_ident; i++) {
            if (strcmp(n->ident[i], "Response") == 0) {
                c->cut = true;
                return false;
            }
        }
    }
    return c->cut;
}

/* Returns n (possibly pruned in place) or NULL when it is deleted. */
static struct node *cut_walk(struct cut_state *c, struct node *n) {
    if (cut_pred(c, n)) return NULL;
    switch (n->type) {
    case NODE_LIST: {
        int k = 0;
        for (int i = 0; i < n->n_items; i++) {
            struct node *child = cut_walk(c, n->items[i]);
            if (child) n->items[k++] = child;
        }
        n->n_items = k;
        return n;
    }
    case NODE_IF:
    case NODE_WITH:
    case NODE_RANGE:
        /* The branch itself is asked again (as Go's BranchNode) before its lists; the
         * condition pipeline is not walked. */
        if (c->cut) return NULL;
        n->list = cut_walk(c, n->list);
        if (n->else_list) {
            /* Go panics here when the cut started inside List; we drop the else instead. */
            n->else_list = c->cut ? NULL : cut_walk(c, n->else_list);
        }
        if (!n->list) return NULL;
        return n;
    case NODE_ACTION: {
        struct node *p = cut_walk(c, n->pipe);
        if (!p) return NULL;
        n->pipe = p;
        return n;
    }
    case NODE_PIPE: {
        int kc = 0;
        for (int i = 0; i < n->n_items; i++) {
            struct node *cmd = n->items[i];
            int ka = 0;
            for (int j = 0; j < cmd->n_items; j++) {
                struct node *a = cut_walk(c, cmd->items[j]);
                if (a) cmd->items[ka++] = a;
            }
            if (ka == 0) return NULL;
            cmd->n_items = ka;
            n->items[kc++] = cmd;
        }
        if (kc == 0) return NULL;
        n->n_items = kc;
        return n;
    }
    default:
        return n;
    }
}

int tmpl_parse_ollama_fixup(struct tmpl *t, struct ol_err *err) {
    struct ident_visit iv = {NULL, false, false};
    vars_visit(t, &iv);
    if (iv.bad_template) return ol_err_set(err, OL_EINVAL, "undefined template specified");
    struct node *root = t->trees[0].root;
    if (!tmpl_references(t, "messages") && !tmpl_references(t, "response")) {
        /* Ollama appends a synthetic {{ .Response }} (positions 0). */
        struct tmpl_arena *a = t->arena;
        struct node *field = arena_alloc(a, sizeof(*field));
        struct node *cmd = arena_alloc(a, sizeof(*cmd));
        struct node *pipe = arena_alloc(a, sizeof(*pipe));
        struct node *action = arena_alloc(a, sizeof(*action));
        const char **ident = arena_alloc(a, sizeof(*ident));
        struct node **cmd_items = arena_alloc(a, sizeof(*cmd_items));
        struct node **pipe_items = arena_alloc(a, sizeof(*pipe_items));
        if (!field || !cmd || !pipe || !action || !ident || !cmd_items || !pipe_items) goto nomem;
        ident[0] = "Response";
        field->type = NODE_FIELD;
        field->ident = ident;
        field->n_ident = 1;
        cmd->type = NODE_COMMAND;
        cmd_items[0] = field;
        cmd->items = cmd_items;
        cmd->n_items = cmd->cap_items = 1;
        pipe->type = NODE_PIPE;
        pipe_items[0] = cmd;
        pipe->items = pipe_items;
        pipe->n_items = pipe->cap_items = 1;
        action->type = NODE_ACTION;
        action->pipe = pipe;
        void *items = root->items;
        size_t cap = (size_t)root->cap_items;
        if (arena_grow(a, &items, &cap, (size_t)root->n_items + 1, sizeof(*root->items)) < 0)
            goto nomem;
        root->items = items;
        root->cap_items = (int)cap;
        root->items[root->n_items++] = action;
    }
    t->cut_root = node_copy(t->arena, root);
    if (!t->cut_root) goto nomem;
    struct cut_state c = {false};
    cut_walk(&c, t->cut_root);
    return 0;
nomem:
    return ol_err_set(err, OL_ENOMEM, "template: out of memory");
}

/* ---- thinking tags (thinking.InferTags) ---- */

struct think_visit {
    const struct node **anc; /* ancestors, innermost last */
    size_t n, cap;
    bool oom;
    struct ol_buf *open, *close;
};

static bool range_uses_field(const struct node *n, const char *field) {
    if (!n) return false;
    switch (n->type) {
    case NODE_FIELD:
        return n->n_ident > 0 && strcmp(n->ident[0], field) == 0;
    case NODE_PIPE:
    case NODE_COMMAND:
        for (int i = 0; i < n->n_items; i++)
            if (range_uses_field(n->items[i], field)) return true;
        return false;
    default:
        return false;
    }
}

static void set_trimmed(struct think_visit *tv, struct ol_buf *b, const struct node *text) {
    size_t a, e;
    uc_trim_space(text->text, text->text_len, &a, &e);
    b->len = 0;
    if (b->data) b->data[0] = 0;
    if (e > a && ol_buf_append(b, text->text + a, e - a) < 0) tv->oom = true;
}

static void think_visit(struct think_visit *tv, const struct node *n) {
    if (!n) return;
    if (tv->n == tv->cap) {
        size_t cap = tv->cap ? tv->cap * 2 : 64;
        const struct node **a = ol_realloc_array(tv->anc, cap, sizeof(*a));
        if (!a) {
            tv->oom = true;
            return;
        }
        tv->anc = a;
        tv->cap = cap;
    }
    tv->anc[tv->n++] = n;
    if (n->type == NODE_FIELD && n->n_ident > 0 && strcmp(n->ident[0], "Thinking") == 0) {
        const struct node *range = NULL;
        for (size_t i = tv->n; i-- > 0;) {
            if (tv->anc[i]->type == NODE_RANGE) {
                range = tv->anc[i];
                break;
            }
        }
        if (range && range_uses_field(range->pipe, "Messages")) {
            for (size_t i = tv->n; i-- > 0;) {
                const struct node *l = tv->anc[i];
                if (l->type != NODE_LIST || l->n_items == 0) continue;
                if (l->items[0]->type == NODE_TEXT) set_trimmed(tv, tv->open, l->items[0]);
                if (l->items[l->n_items - 1]->type == NODE_TEXT)
                    set_trimmed(tv, tv->close, l->items[l->n_items - 1]);
                break;
            }
        }
    }
    switch (n->type) {
    case NODE_LIST:
    case NODE_PIPE:
    case NODE_COMMAND:
        for (int i = 0; i < n->n_items; i++)
            think_visit(tv, n->items[i]);
        break;
    case NODE_IF:
    case NODE_RANGE:
    case NODE_WITH:
        think_visit(tv, n->pipe);
        think_visit(tv, n->list);
        think_visit(tv, n->else_list);
        break;
    case NODE_ACTION:
    case NODE_TEMPLATE:
        think_visit(tv, n->pipe);
        break;
    default:
        break;
    }
    tv->n--;
}

int tmpl_thinking_tags(const struct tmpl *t, struct ol_buf *open, struct ol_buf *close) {
    struct ol_buf o = {0}, c = {0};
    struct think_visit tv = {NULL, 0, 0, false, &o, &c};
    if (t && t->n_trees > 0) think_visit(&tv, t->trees[0].root);
    free(tv.anc);
    int rc = 0;
    if (tv.oom || (o.len && ol_buf_append(open, o.data, o.len) < 0) ||
        (c.len && ol_buf_append(close, c.data, c.len) < 0)) {
        rc = OL_ENOMEM;
    } else {
        rc = o.len > 0 && c.len > 0;
    }
    ol_buf_free(&o);
    ol_buf_free(&c);
    return rc;
}

/* ---- tool-call tag (tools.parseTag) ---- */

static bool is_tool_calls_if(const struct node *n) {
    for (int i = 0; i < n->pipe->n_items; i++) {
        const struct node *cmd = n->pipe->items[i];
        for (int j = 0; j < cmd->n_items; j++) {
            const struct node *a = cmd->items[j];
            if (a->type != NODE_FIELD) continue;
            for (int k = 0; k < a->n_ident; k++)
                if (strcmp(a->ident[k], "ToolCalls") == 0) return true;
        }
    }
    return false;
}

static const struct node *find_tool_call_node(const struct node *list) {
    if (!list) return NULL;
    for (int i = 0; i < list->n_items; i++) {
        const struct node *n = list->items[i];
        const struct node *r = NULL;
        switch (n->type) {
        case NODE_IF:
            if (is_tool_calls_if(n)) return n;
            if ((r = find_tool_call_node(n->list))) return r;
            if ((r = find_tool_call_node(n->else_list))) return r;
            break;
        case NODE_LIST:
            if ((r = find_tool_call_node(n))) return r;
            break;
        case NODE_RANGE:
        case NODE_WITH:
            if ((r = find_tool_call_node(n->list))) return r;
            if ((r = find_tool_call_node(n->else_list))) return r;
            break;
        default:
            break;
        }
    }
    return NULL;
}

static const struct node *find_text_node(const struct node *list) {
    if (!list) return NULL;
    for (int i = 0; i < list->n_items; i++) {
        const struct node *n = list->items[i];
        const struct node *r;
        switch (n->type) {
        case NODE_TEXT: {
            size_t a, e;
            uc_trim_space(n->text, n->text_len, &a, &e);
            if (a == e) continue;
            return n;
        }
        case NODE_IF:
        case NODE_RANGE:
        case NODE_WITH:
            if ((r = find_text_node(n->list))) return r;
            if ((r = find_text_node(n->else_list))) return r;
            return NULL;
        case NODE_LIST:
            if ((r = find_text_node(n))) return r;
            break;
        case NODE_ACTION:
            return NULL;
        default:
            break;
        }
    }
    return NULL;
}

int tmpl_tool_call_tag(const struct tmpl *t, struct ol_buf *tag) {
    const struct node *tc = t && t->n_trees > 0 ? find_tool_call_node(t->trees[0].root) : NULL;
    const struct node *tn = tc ? find_text_node(tc->list) : NULL;
    if (!tn) return ol_buf_puts(tag, "{");
    /* CRLF → LF, cut at the first '{', trim. */
    struct ol_buf b = {0};
    int rc = 0;
    for (size_t i = 0; i < tn->text_len && rc == 0; i++) {
        char ch = tn->text[i];
        if (ch == '{') break;
        if (ch == '\r' && i + 1 < tn->text_len && tn->text[i + 1] == '\n') continue;
        rc = ol_buf_append(&b, &ch, 1);
    }
    if (rc == 0) {
        size_t a = 0, e = 0;
        if (b.len) uc_trim_space(b.data, b.len, &a, &e);
        rc = e > a ? ol_buf_append(tag, b.data + a, e - a) : ol_buf_puts(tag, "{");
    }
    ol_buf_free(&b);
    return rc;
}
