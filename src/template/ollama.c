/* Ollama's prompt rendering on top of the engine (templates.md §3-5; server/prompt.go and
 * template.Execute): the data tree a template sees (.Messages of *templateMessage, .Tools
 * printing as JSON, .System, .Think...), the three modes (suffix, messages, legacy turns with
 * the last one cut at .Response), collation of consecutive messages, [img-N] tags and the
 * truncation loop that drops the oldest messages until the prompt fits num_ctx. */
#include "template/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tmpl_render_params tmpl_render_default_params(void) {
    struct tmpl_render_params p;
    memset(&p, 0, sizeof(p));
    p.truncate = true;
    p.image_tags = true;
    p.exec = tmpl_exec_default_params();
    return p;
}

static const char *nz(const char *s) { return s ? s : ""; }

/* Builder helpers: a NULL from any constructor marks the arena failed; checked once. */
static struct tmpl_value *str(struct tmpl_arena *a, const char *s) { return tmpl_value_str(a, s); }

static void add(struct tmpl_value *st, const char *field, struct tmpl_value *v) {
    tmpl_struct_add(st, field, v, false);
}

static void add_any(struct tmpl_value *st, const char *field, struct tmpl_value *v) {
    tmpl_struct_add(st, field, v, true);
}

static void set(struct tmpl_value *m, const char *key, struct tmpl_value *v) {
    tmpl_map_set(m, key, strlen(key), v);
}

static struct tmpl_value *typed(struct tmpl_value *v, const char *type, unsigned flags) {
    if (v) tmpl_value_set_type(v, type, flags);
    return v;
}

/* ---- JSON of tools, in Go's struct field order (api.Tool & co, as Ollama marshals them) ---- */

static const struct tmpl_value *get(const struct tmpl_value *m, const char *key) {
    if (!m || m->kind != TMPL_MAP) return NULL;
    const struct tmpl_entry *e = value_find(m, key, strlen(key));
    return e ? e->v : NULL;
}

static bool is_nil(const struct tmpl_value *v) { return !v || v->kind == TMPL_NIL; }

static const char *get_str(const struct tmpl_value *m, const char *key, size_t *len) {
    const struct tmpl_value *v = get(m, key);
    if (v && v->kind == TMPL_STRING) {
        *len = v->u.s.len;
        return v->u.s.p;
    }
    *len = 0;
    return "";
}

static size_t list_len(const struct tmpl_value *v) {
    return v && v->kind == TMPL_LIST ? v->u.list.n : 0;
}

static void json_key(struct sbuf *sb, bool *first, const char *key) {
    if (!*first) sb_putc(sb, ',');
    *first = false;
    gojson_string(sb, key, strlen(key));
    sb_putc(sb, ':');
}

static void json_any(struct sbuf *sb, const struct tmpl_value *v) {
    struct ol_buf b = {0};
    struct sbuf tmp;
    sb_init(&tmp, &b, SIZE_MAX);
    if (gojson_marshal(&tmp, v) && !tmp.err) {
        sb_put(sb, b.data, b.len);
    } else {
        if (tmp.err) sb->err = tmp.err;
        sb_puts(sb, "null"); /* NaN, Inf or nesting beyond 1000 levels */
    }
    ol_buf_free(&b);
}

static void json_str_list(struct sbuf *sb, const struct tmpl_value *l) {
    sb_putc(sb, '[');
    for (size_t i = 0; i < list_len(l); i++) {
        if (i) sb_putc(sb, ',');
        size_t len;
        const char *s = tmpl_value_as_str(l->u.list.items[i], &len);
        gojson_string(sb, s, len);
    }
    sb_putc(sb, ']');
}

/* PropertyType: one name marshals as a string, several as an array. */
static void json_property_type(struct sbuf *sb, const struct tmpl_value *t) {
    if (t && t->kind == TMPL_STRING) {
        gojson_string(sb, t->u.s.p, t->u.s.len);
    } else if (list_len(t) == 1) {
        size_t len;
        const char *s = tmpl_value_as_str(t->u.list.items[0], &len);
        gojson_string(sb, s, len);
    } else {
        json_str_list(sb, t);
    }
}

static bool property_type_empty(const struct tmpl_value *t) {
    if (t && t->kind == TMPL_STRING) return false;
    return list_len(t) == 0;
}

static void json_property(struct sbuf *sb, const struct tmpl_value *p, int depth);

/* Properties map: sorted keys (a Go map) when sorted, else insertion order (orderedmap). */
static void json_properties(struct sbuf *sb, const struct tmpl_value *props, bool sorted,
                            int depth) {
    if (!props || props->kind != TMPL_MAP) {
        sb_puts(sb, "null");
        return;
    }
    struct tmpl_arena *tmp = NULL;
    size_t *idx = NULL;
    if (sorted && props->u.map.n > 1) {
        tmp = tmpl_arena_new();
        idx = tmp ? value_sorted_keys(tmp, props) : NULL;
        if (!idx) sb->err = OL_ENOMEM;
    }
    sb_putc(sb, '{');
    for (size_t i = 0; i < props->u.map.n; i++) {
        const struct tmpl_entry *e = &props->u.map.e[idx ? idx[i] : i];
        if (i) sb_putc(sb, ',');
        gojson_string(sb, e->key, e->key_len);
        sb_putc(sb, ':');
        json_property(sb, e->v, depth + 1);
    }
    sb_putc(sb, '}');
    tmpl_arena_free(tmp);
}

static void json_property(struct sbuf *sb, const struct tmpl_value *p, int depth) {
    if (depth > 64) {
        sb_puts(sb, "{}");
        return;
    }
    bool first = true;
    sb_putc(sb, '{');
    const struct tmpl_value *any_of = get(p, "anyOf");
    if (list_len(any_of) > 0) {
        json_key(sb, &first, "anyOf");
        sb_putc(sb, '[');
        for (size_t i = 0; i < any_of->u.list.n; i++) {
            if (i) sb_putc(sb, ',');
            json_property(sb, any_of->u.list.items[i], depth + 1);
        }
        sb_putc(sb, ']');
    }
    const struct tmpl_value *type = get(p, "type");
    if (!property_type_empty(type)) {
        json_key(sb, &first, "type");
        json_property_type(sb, type);
    }
    const struct tmpl_value *items = get(p, "items");
    if (!is_nil(items)) {
        json_key(sb, &first, "items");
        json_any(sb, items);
    }
    size_t dlen;
    const char *desc = get_str(p, "description", &dlen);
    if (dlen) {
        json_key(sb, &first, "description");
        gojson_string(sb, desc, dlen);
    }
    const struct tmpl_value *en = get(p, "enum");
    if (list_len(en) > 0) {
        json_key(sb, &first, "enum");
        json_any(sb, en);
    }
    const struct tmpl_value *props = get(p, "properties");
    if (props && props->kind == TMPL_MAP) {
        json_key(sb, &first, "properties");
        json_properties(sb, props, false, depth);
    }
    const struct tmpl_value *req = get(p, "required");
    if (list_len(req) > 0) {
        json_key(sb, &first, "required");
        json_str_list(sb, req);
    }
    sb_putc(sb, '}');
}

static void json_parameters(struct sbuf *sb, const struct tmpl_value *params) {
    bool first = true;
    size_t len;
    sb_putc(sb, '{');
    json_key(sb, &first, "type");
    const char *type = get_str(params, "type", &len);
    gojson_string(sb, type, len);
    const struct tmpl_value *defs = get(params, "$defs");
    if (!is_nil(defs)) {
        json_key(sb, &first, "$defs");
        json_any(sb, defs);
    }
    const struct tmpl_value *items = get(params, "items");
    if (!is_nil(items)) {
        json_key(sb, &first, "items");
        json_any(sb, items);
    }
    const struct tmpl_value *req = get(params, "required");
    if (list_len(req) > 0) {
        json_key(sb, &first, "required");
        json_str_list(sb, req);
    }
    json_key(sb, &first, "properties");
    json_properties(sb, get(params, "properties"), true, 0);
    sb_putc(sb, '}');
}

static void json_function(struct sbuf *sb, const struct tmpl_value *fn) {
    bool first = true;
    size_t len;
    sb_putc(sb, '{');
    json_key(sb, &first, "name");
    const char *name = get_str(fn, "name", &len);
    gojson_string(sb, name, len);
    json_key(sb, &first, "description");
    const char *desc = get_str(fn, "description", &len);
    gojson_string(sb, desc, len);
    json_key(sb, &first, "parameters");
    json_parameters(sb, get(fn, "parameters"));
    sb_putc(sb, '}');
}

static void json_tool(struct sbuf *sb, const struct tmpl_value *tool) {
    bool first = true;
    size_t len;
    sb_putc(sb, '{');
    json_key(sb, &first, "type");
    const char *type = get_str(tool, "type", &len);
    gojson_string(sb, type, len);
    const struct tmpl_value *items = get(tool, "items");
    if (!is_nil(items)) {
        json_key(sb, &first, "items");
        json_any(sb, items);
    }
    json_key(sb, &first, "function");
    json_function(sb, get(tool, "function"));
    sb_putc(sb, '}');
}

/* Sets v's print text and JSON to what fn writes. */
static void set_json_text(struct tmpl_value *v,
                          void (*fn)(struct sbuf *, const struct tmpl_value *),
                          const struct tmpl_value *src) {
    if (!v) return;
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, SIZE_MAX);
    fn(&sb, src);
    if (sb.err || tmpl_value_set_text(v, b.data ? b.data : "", b.len) < 0 ||
        tmpl_value_set_json(v, b.data ? b.data : "", b.len) < 0)
        arena_set_failed(v->arena);
    ol_buf_free(&b);
}

/* ---- the data tree ---- */

static struct tmpl_value *string_list(struct tmpl_arena *a, const struct tmpl_value *src) {
    struct tmpl_value *l = typed(tmpl_value_list(a), "[]string", TMPL_VF_TYPED_ELEMS | TMPL_VF_NIL);
    for (size_t i = 0; i < list_len(src); i++) {
        size_t len;
        const char *s = tmpl_value_as_str(src->u.list.items[i], &len);
        tmpl_list_append(l, tmpl_value_strn(a, s, len));
    }
    return l;
}

static struct tmpl_value *property_value(struct tmpl_arena *a, const struct tmpl_value *p,
                                         int depth);

static struct tmpl_value *properties_value(struct tmpl_arena *a, const struct tmpl_value *props,
                                           const char *type, bool sorted, int depth) {
    struct tmpl_value *m = typed(tmpl_value_map(a), type, TMPL_VF_TYPED_ELEMS | TMPL_VF_NIL);
    if (!m) return NULL;
    if (props && props->kind == TMPL_MAP) {
        for (size_t i = 0; i < props->u.map.n; i++) {
            const struct tmpl_entry *e = &props->u.map.e[i];
            tmpl_map_set(m, e->key, e->key_len, property_value(a, e->v, depth + 1));
        }
    }
    /* templateProperties prints as JSON ("{}" when nil). */
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, SIZE_MAX);
    if (props && props->kind == TMPL_MAP) {
        json_properties(&sb, props, sorted, depth);
    } else {
        sb_puts(&sb, sorted ? "{}" : "null");
    }
    if (sb.err || tmpl_value_set_text(m, b.data, b.len) < 0) arena_set_failed(a);
    if (!(props && props->kind == TMPL_MAP) && tmpl_value_set_json(m, "null", 4) < 0)
        arena_set_failed(a);
    ol_buf_free(&b);
    return m;
}

static void property_type_text(struct sbuf *sb, const struct tmpl_value *t) {
    /* PropertyType.String(): "" / "name" / "[a b]" */
    if (t && t->kind == TMPL_STRING) {
        sb_put(sb, t->u.s.p, t->u.s.len);
        return;
    }
    size_t n = list_len(t);
    if (n == 0) return;
    if (n > 1) sb_putc(sb, '[');
    for (size_t i = 0; i < n; i++) {
        if (i) sb_putc(sb, ' ');
        size_t len;
        const char *s = tmpl_value_as_str(t->u.list.items[i], &len);
        sb_put(sb, s, len);
    }
    if (n > 1) sb_putc(sb, ']');
}

/* api.ToolProperty from its JSON object. */
static struct tmpl_value *property_value(struct tmpl_arena *a, const struct tmpl_value *p,
                                         int depth) {
    struct tmpl_value *st = tmpl_value_struct(a, "api.ToolProperty");
    if (!st) return NULL;
    struct tmpl_value *any_of =
        typed(tmpl_value_list(a), "[]api.ToolProperty", TMPL_VF_TYPED_ELEMS | TMPL_VF_NIL);
    const struct tmpl_value *src_any = get(p, "anyOf");
    if (depth < 64)
        for (size_t i = 0; i < list_len(src_any); i++)
            tmpl_list_append(any_of, property_value(a, src_any->u.list.items[i], depth + 1));
    add(st, "AnyOf", any_of);
    const struct tmpl_value *src_type = get(p, "type");
    struct tmpl_value *type =
        typed(tmpl_value_list(a), "api.PropertyType", TMPL_VF_TYPED_ELEMS | TMPL_VF_NIL);
    if (src_type && src_type->kind == TMPL_STRING) {
        tmpl_list_append(type, tmpl_value_strn(a, src_type->u.s.p, src_type->u.s.len));
    } else {
        for (size_t i = 0; i < list_len(src_type); i++) {
            size_t len;
            const char *s = tmpl_value_as_str(src_type->u.list.items[i], &len);
            tmpl_list_append(type, tmpl_value_strn(a, s, len));
        }
    }
    if (type) {
        struct ol_buf b = {0};
        struct sbuf sb;
        sb_init(&sb, &b, SIZE_MAX);
        property_type_text(&sb, src_type);
        if (sb.err || tmpl_value_set_text(type, b.data ? b.data : "", b.len) < 0)
            arena_set_failed(a);
        b.len = 0;
        json_property_type(&sb, src_type);
        if (sb.err || tmpl_value_set_json(type, b.data ? b.data : "", b.len) < 0)
            arena_set_failed(a);
        ol_buf_free(&b);
    }
    add(st, "Type", type);
    const struct tmpl_value *items = get(p, "items");
    add_any(st, "Items", items ? (struct tmpl_value *)items : tmpl_value_nil(a));
    size_t dlen;
    const char *desc = get_str(p, "description", &dlen);
    add(st, "Description", tmpl_value_strn(a, desc, dlen));
    const struct tmpl_value *en = get(p, "enum");
    struct tmpl_value *enum_list = typed(tmpl_value_list(a), NULL, TMPL_VF_NIL);
    for (size_t i = 0; i < list_len(en); i++)
        tmpl_list_append(enum_list, en->u.list.items[i]);
    add(st, "Enum", enum_list);
    const struct tmpl_value *props = get(p, "properties");
    add(st, "Properties", properties_value(a, props, "*api.ToolPropertiesMap", false, depth));
    add(st, "Required", string_list(a, get(p, "required")));
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, SIZE_MAX);
    json_property(&sb, p, depth);
    if (sb.err || tmpl_value_set_json(st, b.data ? b.data : "", b.len) < 0) arena_set_failed(a);
    ol_buf_free(&b);
    return st;
}

/* templateTool (prints as its JSON). */
static struct tmpl_value *tool_value(struct tmpl_arena *a, const struct tmpl_value *tool) {
    const struct tmpl_value *fn = get(tool, "function");
    const struct tmpl_value *params = get(fn, "parameters");
    size_t len;
    const char *s;

    struct tmpl_value *p = tmpl_value_struct(a, "template.templateToolFunctionParameters");
    s = get_str(params, "type", &len);
    add(p, "Type", tmpl_value_strn(a, s, len));
    const struct tmpl_value *defs = get(params, "$defs");
    add_any(p, "Defs", defs ? (struct tmpl_value *)defs : tmpl_value_nil(a));
    const struct tmpl_value *items = get(params, "items");
    add_any(p, "Items", items ? (struct tmpl_value *)items : tmpl_value_nil(a));
    add(p, "Required", string_list(a, get(params, "required")));
    add(p, "Properties",
        properties_value(a, get(params, "properties"), "template.templateProperties", true, 0));
    set_json_text(p, json_parameters, params);

    struct tmpl_value *f = tmpl_value_struct(a, "template.templateToolFunction");
    s = get_str(fn, "name", &len);
    add(f, "Name", tmpl_value_strn(a, s, len));
    s = get_str(fn, "description", &len);
    add(f, "Description", tmpl_value_strn(a, s, len));
    add(f, "Parameters", p);
    set_json_text(f, json_function, fn);

    struct tmpl_value *t = tmpl_value_struct(a, "template.templateTool");
    s = get_str(tool, "type", &len);
    add(t, "Type", tmpl_value_strn(a, s, len));
    const struct tmpl_value *titems = get(tool, "items");
    add_any(t, "Items", titems ? (struct tmpl_value *)titems : tmpl_value_nil(a));
    add(t, "Function", f);
    set_json_text(t, json_tool, tool);
    return t;
}

static void json_tools(struct sbuf *sb, const struct tmpl_value *tools) {
    if (list_len(tools) == 0) {
        sb_puts(sb, "null");
        return;
    }
    sb_putc(sb, '[');
    for (size_t i = 0; i < tools->u.list.n; i++) {
        if (i) sb_putc(sb, ',');
        json_tool(sb, tools->u.list.items[i]);
    }
    sb_putc(sb, ']');
}

static struct tmpl_value *tools_value(struct tmpl_arena *a, const struct tmpl_value *tools) {
    struct tmpl_value *l =
        typed(tmpl_value_list(a), "template.templateTools", TMPL_VF_TYPED_ELEMS | TMPL_VF_NIL);
    for (size_t i = 0; i < list_len(tools); i++)
        tmpl_list_append(l, tool_value(a, tools->u.list.items[i]));
    set_json_text(l, json_tools, tools);
    return l;
}

static void json_args(struct sbuf *sb, const struct tmpl_value *args) {
    if (!args || args->kind != TMPL_MAP) {
        sb_puts(sb, "{}");
        return;
    }
    json_any(sb, args);
}

/* *templateMessage */
static struct tmpl_value *message_value(struct tmpl_arena *a, const struct tmpl_message *m,
                                        const char *content) {
    struct tmpl_value *st = tmpl_value_struct(a, "*template.templateMessage");
    add(st, "Role", str(a, nz(m->role)));
    add(st, "Content", str(a, content));
    add(st, "Thinking", str(a, nz(m->thinking)));
    struct tmpl_value *images =
        typed(tmpl_value_list(a), "[]api.ImageData", TMPL_VF_TYPED_ELEMS | TMPL_VF_NIL);
    for (int i = 0; i < m->n_images; i++) {
        struct tmpl_value *img = typed(tmpl_value_list(a), "api.ImageData", TMPL_VF_TYPED_ELEMS);
        if (img) tmpl_value_set_json(img, "\"\"", 2);
        tmpl_list_append(images, img);
    }
    add(st, "Images", images);
    struct tmpl_value *calls =
        typed(tmpl_value_list(a), "[]template.templateToolCall", TMPL_VF_TYPED_ELEMS | TMPL_VF_NIL);
    for (int i = 0; i < m->n_tool_calls; i++) {
        const struct tmpl_tool_call *tc = &m->tool_calls[i];
        struct tmpl_value *args = typed(tmpl_value_map(a), "template.templateArgs", 0);
        const struct tmpl_value *src = tc->arguments;
        if (src && src->kind == TMPL_MAP) {
            for (size_t k = 0; k < src->u.map.n; k++)
                tmpl_map_set(args, src->u.map.e[k].key, src->u.map.e[k].key_len, src->u.map.e[k].v);
        } else if (args) {
            args->flags |= TMPL_VF_NIL;
        }
        set_json_text(args, json_args, src);
        if (args && !(src && src->kind == TMPL_MAP)) tmpl_value_set_json(args, "null", 4);
        struct tmpl_value *fn = tmpl_value_struct(a, "template.templateToolCallFunction");
        add(fn, "Index", tmpl_value_int(a, tc->index));
        add(fn, "Name", str(a, nz(tc->name)));
        add(fn, "Arguments", args);
        struct tmpl_value *call = tmpl_value_struct(a, "template.templateToolCall");
        add(call, "ID", str(a, nz(tc->id)));
        add(call, "Function", fn);
        tmpl_list_append(calls, call);
    }
    add(st, "ToolCalls", calls);
    add(st, "ToolName", str(a, nz(m->tool_name)));
    add(st, "ToolCallID", str(a, nz(m->tool_call_id)));
    return st;
}

static bool role_is(const struct tmpl_message *m, const char *role) {
    return strcmp(nz(m->role), role) == 0;
}

/* collate: merge consecutive same-role messages (not tool ones); System joins all system
 * contents. contents[i] receives the merged content of collated message i. */
static int collate(const struct tmpl_message *msgs, int n, const char **contents,
                   const struct tmpl_message **out, struct ol_buf *system, struct tmpl_arena *a) {
    int k = 0;
    bool any_system = false;
    for (int i = 0; i < n; i++) {
        const struct tmpl_message *m = &msgs[i];
        if (role_is(m, "system")) {
            if (any_system && ol_buf_puts(system, "\n\n") < 0) return OL_ENOMEM;
            if (ol_buf_puts(system, nz(m->content)) < 0) return OL_ENOMEM;
            any_system = true;
        }
        if (k > 0 && strcmp(nz(out[k - 1]->role), nz(m->role)) == 0 && !role_is(m, "tool")) {
            size_t l1 = strlen(contents[k - 1]), l2 = strlen(nz(m->content));
            char *c = arena_alloc(a, l1 + l2 + 3);
            if (!c) return OL_ENOMEM;
            memcpy(c, contents[k - 1], l1);
            memcpy(c + l1, "\n\n", 2);
            memcpy(c + l1 + 2, nz(m->content), l2 + 1);
            contents[k - 1] = c;
        } else {
            out[k] = m;
            contents[k] = nz(m->content);
            k++;
        }
    }
    return k;
}

struct think {
    bool think;
    const char *level;
    bool is_set;
};

static void add_think(struct tmpl_value *data, const struct think *th) {
    struct tmpl_arena *a = data->arena;
    set(data, "Think", tmpl_value_bool(a, th->think));
    set(data, "ThinkLevel", str(a, nz(th->level)));
    set(data, "IsThinkSet", tmpl_value_bool(a, th->is_set));
}

static int exec_data(const struct tmpl *t, const struct node *root, bool cut,
                     const struct tmpl_value *data, const struct tmpl_exec_params *ep,
                     struct ol_buf *out, struct ol_err *err) {
    if (tmpl_arena_failed(data->arena))
        return ol_err_set(err, OL_ENOMEM, "template: out of memory");
    struct exec_opts o = {.missingkey_zero = !cut, .no_custom_funcs = cut};
    return exec_tree(t, 0, root, data, ep, &o, out, err);
}

/* template.Execute for a message list (modes B and C). */
static int render_messages(const struct tmpl *t, const struct tmpl_message *msgs, int n,
                           const struct tmpl_value *tools, const struct think *th,
                           const struct tmpl_exec_params *ep, struct ol_buf *out,
                           struct ol_err *err) {
    int rc;
    struct tmpl_arena *a = tmpl_arena_new();
    const struct tmpl_message **coll = calloc((size_t)(n ? n : 1), sizeof(*coll));
    const char **contents = calloc((size_t)(n ? n : 1), sizeof(*contents));
    struct ol_buf system = {0};
    if (!a || !coll || !contents) {
        rc = ol_err_set(err, OL_ENOMEM, "template: out of memory");
        goto out;
    }
    int k = collate(msgs, n, contents, coll, &system, a);
    if (k < 0) {
        rc = ol_err_set(err, OL_ENOMEM, "template: out of memory");
        goto out;
    }
    if (tmpl_references(t, "messages")) {
        struct tmpl_value *data = tmpl_value_map(a);
        struct tmpl_value *list =
            typed(tmpl_value_list(a), "[]*template.templateMessage", TMPL_VF_TYPED_ELEMS);
        for (int i = 0; i < k; i++)
            tmpl_list_append(list, message_value(a, coll[i], contents[i]));
        set(data, "System", tmpl_value_strn(a, system.data ? system.data : "", system.len));
        set(data, "Messages", list);
        set(data, "Tools", tools_value(a, tools));
        set(data, "Response", str(a, ""));
        add_think(data, th);
        rc = data ? exec_data(t, t->trees[0].root, false, data, ep, out, err)
                  : ol_err_set(err, OL_ENOMEM, "template: out of memory");
        goto out;
    }
    /* Legacy: one execution per system/prompt/response turn. */
    const char *sys = "", *prompt = "", *response = "";
    rc = 0;
    for (int i = 0; i <= k && rc == 0; i++) {
        bool last = i == k;
        bool run = last;
        const struct tmpl_message *m = last ? NULL : coll[i];
        if (m && role_is(m, "system") && (*prompt || *response)) run = true;
        if (m && role_is(m, "user") && *response) run = true;
        if (run) {
            struct tmpl_value *data = tmpl_value_map(a);
            set(data, "System", str(a, sys));
            set(data, "Prompt", str(a, prompt));
            set(data, "Response", str(a, response));
            add_think(data, th);
            if (!data) {
                rc = ol_err_set(err, OL_ENOMEM, "template: out of memory");
                break;
            }
            rc = exec_data(t, last ? t->cut_root : t->trees[0].root, last, data, ep, out, err);
            sys = prompt = response = "";
        }
        if (!m) break;
        if (role_is(m, "system")) {
            sys = contents[i];
        } else if (role_is(m, "user")) {
            prompt = contents[i];
        } else if (role_is(m, "assistant")) {
            response = contents[i];
        }
    }
out:
    ol_buf_free(&system);
    free(coll);
    free(contents);
    tmpl_arena_free(a);
    return rc;
}

/* Contents with [img-N] tags: "[img]" placeholders replaced in order, the rest prepended. */
static int tag_images(const struct tmpl_message *m, int *next_id, struct tmpl_arena *a,
                      const char **content) {
    const char *c = nz(m->content);
    struct ol_buf prefix = {0};
    struct ol_buf body = {0};
    int rc = ol_buf_puts(&body, c);
    for (int i = 0; i < m->n_images && rc == 0; i++) {
        char tag[32];
        snprintf(tag, sizeof(tag), "[img-%d]", (*next_id)++);
        char *at = body.data ? strstr(body.data, "[img]") : NULL;
        if (!at) {
            rc = ol_buf_puts(&prefix, tag);
        } else {
            struct ol_buf nb = {0};
            size_t off = (size_t)(at - body.data);
            rc = ol_buf_append(&nb, body.data, off);
            if (rc == 0) rc = ol_buf_puts(&nb, tag);
            if (rc == 0) rc = ol_buf_puts(&nb, at + 5);
            ol_buf_free(&body);
            body = nb;
        }
    }
    if (rc == 0) {
        char *s = arena_alloc(a, prefix.len + body.len + 1);
        if (!s) {
            rc = OL_ENOMEM;
        } else {
            if (prefix.len) memcpy(s, prefix.data, prefix.len);
            if (body.len) memcpy(s + prefix.len, body.data, body.len);
            s[prefix.len + body.len] = 0;
            *content = s;
        }
    }
    ol_buf_free(&prefix);
    ol_buf_free(&body);
    return rc;
}

int tmpl_render(const struct tmpl *t, const struct tmpl_render_params *p, struct ol_buf *out,
                struct tmpl_render_info *info, struct ol_err *err) {
    if (!t || !p || !out) return ol_err_set(err, OL_EINVAL, "template: no template");
    if (!(t->flags & TMPL_PARSE_OLLAMA) || !t->cut_root)
        return ol_err_set(err, OL_EINVAL, "template: not parsed with TMPL_PARSE_OLLAMA");
    if (p->n_messages < 0 || (p->n_messages > 0 && !p->messages))
        return ol_err_set(err, OL_EINVAL, "template: bad message list");
    if (info) {
        info->first_message = 0;
        info->n_images = 0;
    }
    struct think th = {p->think, p->think_level, p->is_think_set};
    struct ol_buf b = {0};
    int rc = 0;

    if (p->prompt && *p->prompt && p->suffix && *p->suffix) {
        struct tmpl_arena *a = tmpl_arena_new();
        struct tmpl_value *data = a ? tmpl_value_map(a) : NULL;
        if (!data) {
            tmpl_arena_free(a);
            return ol_err_set(err, OL_ENOMEM, "template: out of memory");
        }
        set(data, "Prompt", str(a, p->prompt));
        set(data, "Suffix", str(a, p->suffix));
        set(data, "Response", str(a, ""));
        add_think(data, &th);
        rc = exec_data(t, t->trees[0].root, false, data, &p->exec, &b, err);
        tmpl_arena_free(a);
        goto done;
    }

    /* The message list: the model's SYSTEM in front unless the first message is a system one. */
    int n = p->n_messages;
    bool prepend = p->system && *p->system && (n == 0 || !role_is(&p->messages[0], "system"));
    int total = n + (prepend ? 1 : 0);
    struct tmpl_message *msgs = calloc((size_t)(total ? total : 1), sizeof(*msgs));
    struct tmpl_message *work = calloc((size_t)(total ? total : 1), sizeof(*work));
    struct tmpl_arena *a = tmpl_arena_new();
    if (!msgs || !work || !a) {
        rc = ol_err_set(err, OL_ENOMEM, "template: out of memory");
        goto free_msgs;
    }
    if (prepend) {
        msgs[0].role = "system";
        msgs[0].content = p->system;
    }
    for (int i = 0; i < n; i++)
        msgs[i + (prepend ? 1 : 0)] = p->messages[i];

    int start = 0;
    if (p->truncate && p->count_tokens && p->num_ctx > 0 && total > 0) {
        for (int i = 0; i < total; i++) {
            int k = 0;
            for (int j = 0; j < i; j++)
                if (role_is(&msgs[j], "system")) work[k++] = msgs[j];
            for (int j = i; j < total; j++)
                work[k++] = msgs[j];
            struct ol_buf tmp = {0};
            rc = render_messages(t, work, k, p->tools, &th, &p->exec, &tmp, err);
            int tokens =
                rc < 0 ? rc : p->count_tokens(p->count_ctx, tmp.data ? tmp.data : "", tmp.len);
            ol_buf_free(&tmp);
            if (rc < 0) goto free_msgs;
            if (tokens < 0) {
                rc = tokens;
                if (err && !err->msg[0]) ol_err_set(err, tokens, "counting prompt tokens failed");
                goto free_msgs;
            }
            int64_t ctx_len = tokens;
            for (int j = i; j < total; j++)
                ctx_len += (int64_t)p->image_tokens * msgs[j].n_images;
            if (ctx_len <= p->num_ctx || i == total - 1) {
                start = i;
                break;
            }
        }
    }

    int k = 0;
    for (int j = 0; j < start; j++)
        if (role_is(&msgs[j], "system")) work[k++] = msgs[j];
    int next_id = 0;
    for (int j = start; j < total; j++) {
        work[k] = msgs[j];
        if (p->image_tags && msgs[j].n_images > 0) {
            rc = tag_images(&msgs[j], &next_id, a, &work[k].content);
            if (rc < 0) {
                rc = ol_err_set(err, OL_ENOMEM, "template: out of memory");
                goto free_msgs;
            }
        } else {
            next_id += msgs[j].n_images;
        }
        k++;
    }
    rc = render_messages(t, work, k, p->tools, &th, &p->exec, &b, err);
    if (rc == 0 && info) {
        /* Report indexes in the caller's list (without the prepended system message). */
        info->first_message = start - (prepend ? 1 : 0) < 0 ? 0 : start - (prepend ? 1 : 0);
        info->n_images = next_id;
    }
free_msgs:
    free(msgs);
    free(work);
    tmpl_arena_free(a);
done:
    if (rc == 0 && b.len && ol_buf_append(out, b.data, b.len) < 0)
        rc = ol_err_set(err, OL_ENOMEM, "template: out of memory");
    ol_buf_free(&b);
    return rc;
}
