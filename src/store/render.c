/* Texts `show` prints: the generated Modelfile (modelfile.md §6) and the `parameters` block of
 * /api/show (api.md §5.2). Values print as Go's %v / %#v would print the float64, string and
 * bool values Ollama decodes params into, except that integral values of integer options print
 * as integers (Go would print num_ctx 1000000 as 1e+06, which does not parse back). */
#include "store/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Numbers: integral values of int options as integers, the rest in Go %v form. */
static int put_number(struct ol_buf *b, const char *key, double v) {
    const struct store_option *o = store_option_find(key);
    if (o && o->type == STORE_OPT_INT && v == floor(v) && fabs(v) < 9.2e18)
        return ol_buf_printf(b, "%lld", (long long)v);
    return store_go_put_float_v(b, v);
}

/* A scalar as Go's %v (quoted: %#v). Objects and nested arrays print as compact JSON. */
static int put_value(struct ol_buf *b, const char *key, json_t *v, bool quoted) {
    switch (json_typeof(v)) {
    case JSON_STRING:
        if (quoted) return store_go_put_quoted(b, json_string_value(v), json_string_length(v));
        return ol_buf_append(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return put_number(b, key, (double)json_integer_value(v));
    case JSON_REAL:
        return put_number(b, key, json_real_value(v));
    case JSON_TRUE:
        return ol_buf_puts(b, "true");
    case JSON_FALSE:
        return ol_buf_puts(b, "false");
    case JSON_NULL:
        return ol_buf_puts(b, "<nil>");
    default:
        return store_json_put_value(b, v);
    }
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted keys of an object (borrowed from it); *n set. NULL when out of memory. */
static const char **sorted_keys(json_t *o, size_t *n) {
    *n = json_object_size(o);
    const char **keys = ol_calloc_array(*n ? *n : 1, sizeof(*keys));
    if (!keys) return NULL;
    size_t k = 0;
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val) keys[k++] = key;
    qsort(keys, k, sizeof(*keys), cmp_str);
    return keys;
}

/* Parses params text into an object; "" or NULL gives an empty object. */
static json_t *params_parse(const char *text) {
    if (!text || !*text) return json_object();
    json_error_t jerr;
    json_t *o = json_loads(text, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int store_params_render(const char *params_json, struct ol_buf *out) {
    json_t *o = params_parse(params_json);
    if (!o) return OL_EINVAL;
    size_t n;
    const char **keys = sorted_keys(o, &n);
    int rc = keys ? 0 : OL_ENOMEM;
    bool first = true;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *v = json_object_get(o, keys[i]);
        size_t m = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t j = 0; rc == 0 && j < m; j++) {
            if (!first) rc = ol_buf_puts(out, "\n");
            first = false;
            if (!rc) rc = ol_buf_printf(out, "%-30s ", keys[i]);
            if (!rc)
                rc = put_value(out, keys[i], json_is_array(v) ? json_array_get(v, j) : v, true);
        }
    }
    free(keys);
    json_decref(o);
    return rc;
}

/* modelfile.md §6: wrap values with a newline or a leading/trailing space in quotes. */
static int put_quoted_arg(struct ol_buf *b, const char *s, size_t len) {
    bool wrap = memchr(s, '\n', len) || (len && (s[0] == ' ' || s[len - 1] == ' '));
    if (!wrap) return ol_buf_append(b, s, len);
    const char *q = memchr(s, '"', len) ? "\"\"\"" : "\"";
    int rc = ol_buf_puts(b, q);
    if (!rc) rc = ol_buf_append(b, s, len);
    return rc ? rc : ol_buf_puts(b, q);
}

static int put_line(struct ol_buf *b, const char *kw, const char *s) {
    int rc = ol_buf_printf(b, "%s ", kw);
    if (!rc) rc = put_quoted_arg(b, s, strlen(s));
    return rc ? rc : ol_buf_puts(b, "\n");
}

static int put_params(struct ol_buf *b, json_t *params) {
    size_t n;
    const char **keys = sorted_keys(params, &n);
    if (!keys) return OL_ENOMEM;
    int rc = 0;
    struct ol_buf v = {0};
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *val = json_object_get(params, keys[i]);
        size_t m = json_is_array(val) ? json_array_size(val) : 1;
        for (size_t j = 0; rc == 0 && j < m; j++) {
            v.len = 0;
            rc = put_value(&v, keys[i], json_is_array(val) ? json_array_get(val, j) : val, false);
            if (!rc) rc = ol_buf_printf(b, "PARAMETER %s ", keys[i]);
            if (!rc) rc = put_quoted_arg(b, v.data ? v.data : "", v.len);
            if (!rc) rc = ol_buf_puts(b, "\n");
        }
    }
    ol_buf_free(&v);
    free(keys);
    return rc;
}

static int put_messages(struct ol_buf *b, const char *messages_json) {
    if (!messages_json || !*messages_json) return 0;
    json_error_t jerr;
    json_t *a = json_loads(messages_json, 0, &jerr);
    if (!json_is_array(a)) {
        json_decref(a);
        return 0; /* a broken messages layer is not worth failing show over */
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(a); i++) {
        json_t *msg = json_array_get(a, i);
        const char *role = json_string_value(json_object_get(msg, "role"));
        json_t *content = json_object_get(msg, "content");
        if (!role) continue;
        rc = ol_buf_printf(b, "MESSAGE %s ", role);
        if (!rc && json_is_string(content))
            rc = put_quoted_arg(b, json_string_value(content), json_string_length(content));
        if (!rc) rc = ol_buf_puts(b, "\n");
    }
    json_decref(a);
    return rc;
}

int store_modelfile_render(const struct store *s, const struct store_model *m,
                           const char *system_override, const char *params_override_json,
                           struct ol_buf *out) {
    (void)s;
    json_t *params = params_parse(m->params_json);
    if (!params) params = json_object(); /* unreadable stored params: print none */
    json_t *over = params_parse(params_override_json);
    if (!params || !over) {
        json_decref(params);
        json_decref(over);
        return params ? OL_EINVAL : OL_ENOMEM;
    }
    json_object_update(params, over);
    json_decref(over);

    char short_name[700];
    store_name_short(&m->name, short_name, sizeof(short_name));
    int rc = ol_buf_printf(out,
                           "# Modelfile generated by \"ollama show\"\n"
                           "# To build a new Modelfile based on this, replace FROM with:\n"
                           "# FROM %s\n\n",
                           short_name);
    if (!rc) rc = ol_buf_printf(out, "FROM %s\n", m->model_path ? m->model_path : short_name);
    for (int i = 0; rc == 0 && i < m->n_adapters; i++)
        rc = ol_buf_printf(out, "ADAPTER %s\n", m->adapter_paths[i]);
    for (int i = 0; rc == 0 && i < m->n_projectors; i++)
        rc = ol_buf_printf(out, "FROM %s\n", m->projector_paths[i]);
    if (!rc && m->template_text) rc = put_line(out, "TEMPLATE", m->template_text);
    const char *system = system_override && *system_override ? system_override : m->system_text;
    if (!rc && system && *system) rc = put_line(out, "SYSTEM", system);
    if (!rc) rc = put_params(out, params);
    for (int i = 0; rc == 0 && i < m->n_licenses; i++)
        rc = put_line(out, "LICENSE", m->licenses[i]);
    if (!rc) rc = put_messages(out, m->messages_json);
    json_decref(params);
    return rc;
}
