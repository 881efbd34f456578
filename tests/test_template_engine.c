/* The template engine's API and what the Go comparison cannot cover: value builders and
 * readers, limits against hostile templates, error codes, current-Go features missing from
 * Go 1.19 (range over an int, else with), Ollama's parse flags and template analyses
 * (references, thinking tags, tool-call tag). Expected outputs follow current Go. */
#include "check.h"
#include "template_util.h"

/* Renders src on data; returns the output (static buffer) or "ERR: <msg>". */
static const char *render(const char *src, const struct tmpl_value *data, unsigned flags) {
    static char result[8192];
    struct ol_err err = {0};
    struct tmpl *t = tmpl_parse(src, strlen(src), flags, &err);
    if (!t) {
        snprintf(result, sizeof(result), "ERR: %s", err.msg);
        return result;
    }
    struct ol_buf out = {0};
    int rc = tmpl_exec(t, data, NULL, &out, &err);
    if (rc < 0) {
        snprintf(result, sizeof(result), "ERR: %s", err.msg);
    } else {
        snprintf(result, sizeof(result), "%.*s", (int)out.len, out.data ? out.data : "");
    }
    ol_buf_free(&out);
    tmpl_free(t);
    return result;
}

#define CHECK_RENDER(src, data, want)                                                              \
    do {                                                                                           \
        const char *got_ = render(src, data, 0);                                                   \
        CHECK(strcmp(got_, want) == 0);                                                            \
        if (strcmp(got_, want) != 0)                                                               \
            fprintf(stderr, "  template %s\n  want [%s]\n  got  [%s]\n", src, want, got_);         \
    } while (0)

static void test_values(void) {
    struct tmpl_arena *a = tmpl_arena_new();
    CHECK(a != NULL);
    struct tmpl_value *m = tmpl_value_map(a);
    CHECK_EQ(tmpl_map_set(m, "b", 1, tmpl_value_int(a, 2)), 0);
    CHECK_EQ(tmpl_map_set(m, "a", 1, tmpl_value_str(a, "x")), 0);
    CHECK_EQ(tmpl_map_set(m, "b", 1, tmpl_value_int(a, 3)), 0); /* replaces */
    CHECK_EQ(tmpl_value_len(m), 2);
    CHECK_EQ(tmpl_value_as_int(tmpl_value_get(m, "b")), 3);
    CHECK(strcmp(tmpl_value_key_at(m, 0), "b") == 0); /* insertion order kept */
    CHECK(tmpl_value_get(m, "zz") == NULL);
    struct tmpl_value *l = tmpl_value_list(a);
    CHECK_EQ(tmpl_list_append(l, tmpl_value_float(a, 1.5)), 0);
    CHECK_EQ(tmpl_list_append(l, tmpl_value_bool(a, true)), 0);
    CHECK_EQ(tmpl_list_append(l, NULL), OL_ENOMEM); /* a failed constructor propagates */
    CHECK(tmpl_arena_failed(a));
    CHECK_EQ(tmpl_list_append(m, tmpl_value_nil(a)), OL_EINVAL);
    CHECK_EQ(tmpl_value_len(l), 2);
    CHECK_NEAR(tmpl_value_as_float(tmpl_value_at(l, 0)), 1.5, 0);
    CHECK(tmpl_value_as_bool(tmpl_value_at(l, 1)));
    CHECK(tmpl_value_at(l, 2) == NULL);
    CHECK_EQ(tmpl_value_kind(NULL), TMPL_NIL);
    size_t len;
    const char *s = tmpl_value_as_str(tmpl_value_strn(a, "a\0b", 3), &len);
    CHECK_EQ(len, 3);
    CHECK(memcmp(s, "a\0b", 3) == 0);
    struct tmpl_value *st = tmpl_value_struct(a, "api.Thing");
    CHECK_EQ(tmpl_struct_add(st, "Name", tmpl_value_str(a, "n"), false), 0);
    CHECK_EQ(tmpl_struct_add(st, "Any", tmpl_value_nil(a), true), 0);
    CHECK_EQ(tmpl_struct_add(m, "X", tmpl_value_nil(a), false), OL_EINVAL);
    tmpl_map_set(m, "S", 1, st);
    tmpl_map_set(m, "L", 1, l);
    CHECK_RENDER("{{ .S }} {{ .S.Name }} {{ .L }}", m, "{n <nil>} n [1.5 true]");
    /* Through the map the field's static type is any; as dot it is the struct's own. */
    CHECK_RENDER("{{ .S.Nope }}", m,
                 "ERR: template: :1:5: executing \"\" at <.S.Nope>: can't evaluate field Nope in "
                 "type interface {}");
    CHECK_RENDER("{{ with .S }}{{ .Nope }}{{ end }}", m,
                 "ERR: template: :1:16: executing \"\" at <.Nope>: can't evaluate field Nope in "
                 "type api.Thing");
    /* Text and JSON overrides, a Go type name and nil-ness. */
    struct tmpl_value *args = tmpl_value_map(a);
    tmpl_map_set(args, "k", 1, tmpl_value_str(a, "v"));
    CHECK_EQ(tmpl_value_set_type(args, "api.Args", 0), 0);
    CHECK_EQ(tmpl_value_set_text(args, "{\"k\":\"v\"}", 9), 0);
    tmpl_map_set(m, "Args", 4, args);
    struct tmpl_value *nl = tmpl_value_list(a);
    tmpl_value_set_type(nl, "[]string", TMPL_VF_NIL | TMPL_VF_TYPED_ELEMS);
    tmpl_map_set(m, "Nil", 3, nl);
    struct tmpl_value *j = tmpl_value_struct(a, "T");
    tmpl_value_set_json(j, "{\"x\":1}", 7);
    tmpl_map_set(m, "J", 1, j);
    CHECK_RENDER("{{ .Args }} {{ .Args.k }} {{ printf \"%T\" .Args }} {{ .Args.String }}", m,
                 "{\"k\":\"v\"} v api.Args {\"k\":\"v\"}");
    CHECK_RENDER("[{{ .Nil }}] {{ json .Nil }} {{ eq .Nil nil }} {{ json .J }}", m,
                 "[[]] null true {\"x\":1}");
    tmpl_arena_free(a);
    tmpl_arena_free(NULL);
}

static void test_modern_go(void) {
    struct tmpl_arena *a = tmpl_arena_new();
    struct tmpl_value *m = tmpl_value_map(a);
    tmpl_map_set(m, "N", 1, tmpl_value_int(a, 3));
    tmpl_map_set(m, "A", 1, tmpl_value_str(a, ""));
    tmpl_map_set(m, "B", 1, tmpl_value_str(a, "b"));
    /* range over an int (Go 1.22) */
    CHECK_RENDER("{{ range .N }}{{ . }}{{ end }}|{{ range $i := 2 }}{{ $i }}{{ end }}|"
                 "{{ range 0 }}x{{ else }}none{{ end }}",
                 m, "012|01|none");
    CHECK_RENDER("{{ range $i, $e := 2 }}{{ end }}", m,
                 "ERR: template: :1:19: executing \"\" at <2>: can't use 2 to iterate over more "
                 "than one variable");
    /* else with (Go 1.23) */
    CHECK_RENDER("{{ with .A }}a{{ else with .B }}[{{ . }}]{{ else }}none{{ end }}", m, "[b]");
    /* comparison errors name both types, as current Go does */
    CHECK_RENDER("{{ eq 1 \"1\" }}", m,
                 "ERR: template: :1:3: executing \"\" at <eq 1 \"1\">: error calling eq: "
                 "incompatible types for comparison: int and string");
    tmpl_arena_free(a);
}

static void test_errors_and_limits(void) {
    struct ol_err err = {0};
    CHECK(tmpl_parse("{{ .A", 5, 0, &err) == NULL);
    CHECK_EQ(err.code, OL_EINVAL);
    CHECK(strcmp(err.msg, "template: :1: unclosed action") == 0);
    CHECK(tmpl_parse("{{ } }}", 7, 0, &err) == NULL);
    CHECK(strcmp(err.msg, "template: :1: unexpected \"}\" in command") == 0);
    CHECK(tmpl_parse(NULL, 3, 0, &err) == NULL);

    /* Deep nesting is refused, not a stack overflow. */
    struct ol_buf deep = {0};
    ol_buf_puts(&deep, "{{ ");
    for (int i = 0; i < 500; i++)
        ol_buf_puts(&deep, "(");
    ol_buf_puts(&deep, "1");
    for (int i = 0; i < 500; i++)
        ol_buf_puts(&deep, ")");
    ol_buf_puts(&deep, " }}");
    CHECK(tmpl_parse(deep.data, deep.len, 0, &err) == NULL);
    CHECK(strstr(err.msg, "max expression depth exceeded") != NULL);
    deep.len = 0;
    for (int i = 0; i < 500; i++)
        ol_buf_puts(&deep, "{{ if true }}");
    for (int i = 0; i < 500; i++)
        ol_buf_puts(&deep, "{{ end }}");
    CHECK(tmpl_parse(deep.data, deep.len, 0, &err) == NULL);
    ol_buf_free(&deep);

    /* Output and step limits. */
    struct tmpl_arena *a = tmpl_arena_new();
    struct tmpl_value *m = tmpl_value_map(a);
    struct tmpl_value *l = tmpl_value_list(a);
    for (int i = 0; i < 100; i++)
        tmpl_list_append(l, tmpl_value_int(a, i));
    tmpl_map_set(m, "L", 1, l);
    const char *src = "{{ range .L }}{{ range $.L }}{{ range $.L }}{{ range $.L }}"
                      "{{ end }}{{ end }}{{ end }}{{ end }}";
    struct tmpl *t = tmpl_parse(src, strlen(src), 0, &err);
    CHECK(t != NULL);
    struct tmpl_exec_params p = tmpl_exec_default_params();
    p.max_steps = 100000;
    struct ol_buf out = {0};
    CHECK_EQ(tmpl_exec(t, m, &p, &out, &err), OL_EINVAL);
    CHECK(strstr(err.msg, "steps") != NULL);
    tmpl_free(t);
    src = "{{ range .L }}{{ range $.L }}{{ $.L }}{{ end }}{{ end }}";
    t = tmpl_parse(src, strlen(src), 0, &err);
    p = tmpl_exec_default_params();
    p.max_output = 1000;
    ol_buf_puts(&out, "prefix");
    CHECK_EQ(tmpl_exec(t, m, &p, &out, &err), OL_EINVAL);
    CHECK(out.len <= 1006);
    CHECK(strncmp(out.data, "prefix", 6) == 0);
    ol_buf_free(&out);
    tmpl_free(t);

    /* Absurdly deep data prints (cut off) without exhausting the stack. */
    struct tmpl_value *deepv = tmpl_value_int(a, 1);
    for (int i = 0; i < 20000; i++) {
        struct tmpl_value *w = tmpl_value_list(a);
        tmpl_list_append(w, deepv);
        deepv = w;
    }
    tmpl_map_set(m, "D", 1, deepv);
    src = "{{ .D }}{{ json .D }}{{ printf \"%v\" .D }}";
    t = tmpl_parse(src, strlen(src), 0, &err);
    CHECK_EQ(tmpl_exec(t, m, NULL, &out, &err), 0);
    ol_buf_free(&out);
    tmpl_free(t);

    /* Recursive templates stop at a depth limit. */
    src = "{{ define \"r\" }}x{{ template \"r\" . }}{{ end }}{{ template \"r\" }}";
    t = tmpl_parse(src, strlen(src), 0, &err);
    CHECK(t != NULL);
    CHECK_EQ(tmpl_exec(t, NULL, NULL, &out, &err), OL_EINTERNAL);
    CHECK(strstr(err.msg, "exceeded maximum template depth") != NULL);
    ol_buf_free(&out);
    tmpl_free(t);

    /* Execution errors: code and Go's message; NULL data is Go's nil. */
    CHECK_RENDER("{{ .A.B }}", NULL, "<no value>");
    t = tmpl_parse("{{ len 3 }}", 11, 0, &err);
    CHECK_EQ(tmpl_exec(t, NULL, NULL, &out, &err), OL_EINTERNAL);
    CHECK(strcmp(err.msg, "template: :1:3: executing \"\" at <len 3>: error calling len: len of "
                          "type int") == 0);
    tmpl_free(t);
    ol_buf_free(&out);
    tmpl_arena_free(a);
    tmpl_free(NULL);
}

static void test_ollama_parse(void) {
    struct ol_err err = {0};
    /* No .Messages/.Response: an implicit {{ .Response }} is appended. */
    const char *src = "{{ .Prompt }}";
    struct tmpl *t = tmpl_parse(src, strlen(src), TMPL_PARSE_OLLAMA, &err);
    CHECK(t != NULL);
    struct tmpl_arena *a = tmpl_arena_new();
    struct tmpl_value *m = tmpl_value_map(a);
    tmpl_map_set(m, "Prompt", 6, tmpl_value_str(a, "P"));
    tmpl_map_set(m, "Response", 8, tmpl_value_str(a, "R"));
    struct ol_buf out = {0};
    CHECK_EQ(tmpl_exec(t, m, NULL, &out, &err), 0);
    CHECK(out.len == 2 && memcmp(out.data, "PR", 2) == 0);
    CHECK(strcmp(tmpl_source(t), src) == 0);
    CHECK(tmpl_references(t, "prompt"));
    CHECK(tmpl_references(t, "Response"));
    CHECK(!tmpl_references(t, "messages"));
    ol_buf_free(&out);
    tmpl_free(t);
    tmpl_arena_free(a);

    src = "{{ define \"x\" }}{{ $.Tools }}{{ end }}{{ template \"x\" . }}{{ (.A).Suffix }}";
    t = tmpl_parse(src, strlen(src), TMPL_PARSE_OLLAMA, &err);
    CHECK(t != NULL);
    CHECK(tmpl_references(t, "tools"));   /* inside a define, through $ */
    CHECK(!tmpl_references(t, "suffix")); /* Ollama does not look into (pipe).Field chains */
    tmpl_free(t);

    src = "{{ define \"x\" }}x{{ end }}{{ template \"x\" }}";
    CHECK(tmpl_parse(src, strlen(src), TMPL_PARSE_OLLAMA, &err) == NULL);
    CHECK(strcmp(err.msg, "undefined template specified") == 0);
    t = tmpl_parse(src, strlen(src), 0, &err); /* fine for plain Go */
    CHECK(t != NULL);
    tmpl_free(t);
}

static void check_tags(const char *src, const char *open, const char *close, int want_rc,
                       const char *tool_tag) {
    struct ol_err err = {0};
    struct tmpl *t = tmpl_parse(src, strlen(src), TMPL_PARSE_OLLAMA, &err);
    CHECK(t != NULL);
    if (!t) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    struct ol_buf o = {0}, c = {0}, tag = {0};
    CHECK_EQ(tmpl_thinking_tags(t, &o, &c), want_rc);
    CHECK(strcmp(o.data ? o.data : "", open) == 0);
    CHECK(strcmp(c.data ? c.data : "", close) == 0);
    CHECK_EQ(tmpl_tool_call_tag(t, &tag), 0);
    CHECK(strcmp(tag.data ? tag.data : "", tool_tag) == 0);
    if (strcmp(tag.data ? tag.data : "", tool_tag) != 0)
        fprintf(stderr, "tool tag [%s], want [%s]\n", tag.data, tool_tag);
    ol_buf_free(&o);
    ol_buf_free(&c);
    ol_buf_free(&tag);
    tmpl_free(t);
}

static void test_analyses(void) {
    size_t len;
    char *qwen = tu_read_file("tests/data/templates/chat/qwen-style.gotmpl", &len);
    CHECK(qwen != NULL);
    if (qwen) {
        check_tags(qwen, "<think>", "</think>", 1, "<tool_call>");
        free(qwen);
    }
    check_tags("{{ range .Messages }}{{ .Content }}{{ end }}", "", "", 0, "{");
    /* .Thinking outside a range over .Messages does not count. */
    check_tags("{{ if .Messages }}<t>{{ .Thinking }}</t>{{ end }}", "", "", 0, "{");
    check_tags(
        "{{ range $m := .Messages }}{{ if .ToolCalls }}\r\n [TOOL_CALLS] { "
        "{{ end }}{{ if .Thinking }}\n  <reason>{{ .Thinking }}</reason>  {{ end }}{{ end }}",
        "<reason>", "</reason>", 1, "[TOOL_CALLS]");
    /* As in Ollama: $m.ToolCalls (a variable) is not looked at, nor a with's body. */
    check_tags("{{ range $m := .Messages }}{{ if $m.ToolCalls }}<tc>{{ end }}"
               "{{ with .Thinking }}<r>{{ . }}</r>{{ end }}{{ end }}",
               "", "", 0, "{");
    check_tags("{{ range .Messages }}{{ if .ToolCalls }}{{ .Content }}functools[{{ end }}{{ end }}",
               "", "", 0, "{");
    check_tags("{{ range .Messages }}{{ if .ToolCalls }}  {{ if .X }}functools[{{ end }}{{ end }}"
               "{{ end }}",
               "", "", 0, "functools[");
}

int main(void) {
    test_values();
    test_modern_go();
    test_errors_and_limits();
    test_ollama_parse();
    test_analyses();
    return check_exit("test_template_engine");
}
