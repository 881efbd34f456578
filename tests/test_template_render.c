/* Ollama's prompt rendering (templates.md §4-5): the legacy-mode examples of the spec, the
 * model SYSTEM, [img-N] tags, the truncation loop with a token counter, suffix mode and error
 * paths. The byte-exact comparison with Go on many conversations is test_template_go. */
#include "check.h"
#include "template_util.h"

static struct tmpl *parse(const char *src) {
    struct ol_err err = {0};
    struct tmpl *t = tmpl_parse(src, strlen(src), TMPL_PARSE_OLLAMA, &err);
    if (!t) fprintf(stderr, "parse: %s\n", err.msg);
    CHECK(t != NULL);
    return t;
}

/* Renders with p; returns a static copy of the prompt or "ERR: ...". */
static const char *render(const struct tmpl *t, const struct tmpl_render_params *p,
                          struct tmpl_render_info *info) {
    static char result[16384];
    struct ol_err err = {0};
    struct ol_buf out = {0};
    int rc = tmpl_render(t, p, &out, info, &err);
    if (rc < 0) {
        snprintf(result, sizeof(result), "ERR: %s", err.msg);
    } else {
        snprintf(result, sizeof(result), "%.*s", (int)out.len, out.data ? out.data : "");
    }
    ol_buf_free(&out);
    return result;
}

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *g_ = (got);                                                                    \
        CHECK(strcmp(g_, want) == 0);                                                              \
        if (strcmp(g_, want) != 0) fprintf(stderr, "  want [%s]\n  got  [%s]\n", want, g_);        \
    } while (0)

#define MSG(r, c) ((struct tmpl_message){.role = (r), .content = (c)})

static const char legacy_llama3[] =
    "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end "
    "}}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end "
    "}}<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>";

static void test_legacy_spec_examples(void) {
    struct tmpl *t = parse(legacy_llama3);
    if (!t) return;
    CHECK(!tmpl_references(t, "messages"));
    struct tmpl_message m1[] = {MSG("user", "Hi")};
    struct tmpl_render_params p = tmpl_render_default_params();
    p.messages = m1;
    p.n_messages = 1;
    CHECK_STR(render(t, &p, NULL), "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                                   "<|start_header_id|>assistant<|end_header_id|>\n\n");
    struct tmpl_message m2[] = {MSG("system", "S"), MSG("user", "A"), MSG("assistant", "B"),
                                MSG("user", "C")};
    p.messages = m2;
    p.n_messages = 4;
    CHECK_STR(render(t, &p, NULL), "<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
                                   "<|start_header_id|>user<|end_header_id|>\n\nA<|eot_id|>"
                                   "<|start_header_id|>assistant<|end_header_id|>\n\nB<|eot_id|>"
                                   "<|start_header_id|>user<|end_header_id|>\n\nC<|eot_id|>"
                                   "<|start_header_id|>assistant<|end_header_id|>\n\n");
    /* The model SYSTEM goes in front when the first message is not a system message. */
    p.messages = m1;
    p.n_messages = 1;
    p.system = "Sys";
    CHECK_STR(render(t, &p, NULL), "<|start_header_id|>system<|end_header_id|>\n\nSys<|eot_id|>"
                                   "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                                   "<|start_header_id|>assistant<|end_header_id|>\n\n");
    tmpl_free(t);

    /* Default template: {{ .Prompt }} plus the implicit {{ .Response }}. */
    t = parse("{{ .Prompt }}");
    struct tmpl_message m3[] = {MSG("user", "one"), MSG("assistant", "two"), MSG("user", "three")};
    p = tmpl_render_default_params();
    p.messages = m3;
    p.n_messages = 3;
    CHECK_STR(render(t, &p, NULL), "onetwothree");
    tmpl_free(t);
}

static void test_suffix_and_errors(void) {
    struct tmpl *t = parse("{{ if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>{{ else "
                           "}}{{ .Prompt }}{{ end }}");
    struct tmpl_render_params p = tmpl_render_default_params();
    p.prompt = "a";
    p.suffix = "b";
    CHECK_STR(render(t, &p, NULL), "<PRE> a <SUF>b <MID>");
    tmpl_free(t);

    struct ol_err err = {0};
    struct tmpl *plain = tmpl_parse("x", 1, 0, &err);
    struct ol_buf out = {0};
    CHECK_EQ(tmpl_render(plain, &p, &out, NULL, &err), OL_EINVAL);
    tmpl_free(plain);

    t = parse("{{ range .Messages }}{{ .Nope }}{{ end }}");
    struct tmpl_message m[] = {MSG("user", "x")};
    p = tmpl_render_default_params();
    p.messages = m;
    p.n_messages = 1;
    ol_buf_puts(&out, "keep");
    CHECK_EQ(tmpl_render(t, &p, &out, NULL, &err), OL_EINTERNAL);
    CHECK(strstr(err.msg, "can't evaluate field Nope in type *template.templateMessage") != NULL);
    CHECK_EQ(out.len, 4); /* nothing appended on failure */
    ol_buf_free(&out);
    tmpl_free(t);
}

static void test_images(void) {
    struct tmpl *t = parse("{{ range .Messages }}{{ .Role }}:{{ .Content }}|{{ end }}");
    struct tmpl_message m[] = {
        {.role = "user", .content = "What is this?", .n_images = 2},
        {.role = "assistant", .content = "Cats"},
        {.role = "user", .content = "A [img] and [img] and [img]", .n_images = 2},
    };
    struct tmpl_render_params p = tmpl_render_default_params();
    p.messages = m;
    p.n_messages = 3;
    struct tmpl_render_info info;
    CHECK_STR(
        render(t, &p, &info),
        "user:[img-0][img-1]What is this?|assistant:Cats|user:A [img-2] and [img-3] and [img]|");
    CHECK_EQ(info.first_message, 0);
    CHECK_EQ(info.n_images, 4);
    p.image_tags = false;
    CHECK_STR(render(t, &p, &info),
              "user:What is this?|assistant:Cats|user:A [img] and [img] and [img]|");
    CHECK_EQ(info.n_images, 4);
    tmpl_free(t);
}

struct counter {
    int calls;
    int fail_at;
};

static int count_bytes(void *ctx, const char *text, size_t len) {
    struct counter *c = ctx;
    (void)text;
    if (++c->calls == c->fail_at) return OL_EIO;
    return (int)len;
}

static void test_truncation(void) {
    struct tmpl *t = parse("{{ range .Messages }}[{{ .Role }}:{{ .Content }}]{{ end }}");
    struct tmpl_message m[] = {
        MSG("system", "sys"),           MSG("user", "first question"),
        MSG("assistant", "answer one"), {.role = "user", .content = "img", .n_images = 1},
        MSG("assistant", "answer two"), MSG("user", "last"),
    };
    struct counter c = {0, 0};
    struct tmpl_render_params p = tmpl_render_default_params();
    p.messages = m;
    p.n_messages = 6;
    p.count_tokens = count_bytes;
    p.count_ctx = &c;
    struct tmpl_render_info info;

    p.num_ctx = 10000; /* everything fits: one count */
    CHECK_STR(render(t, &p, &info), "[system:sys][user:first question][assistant:answer one]"
                                    "[user:[img-0]img][assistant:answer two][user:last]");
    CHECK_EQ(c.calls, 1);
    CHECK_EQ(info.first_message, 0);
    CHECK_EQ(info.n_images, 1);

    /* Drop from the front, keeping the system message: "[system:sys][user:img]..." is 60
     * bytes without tags; "[system:sys][assistant:answer two][user:last]" is 46. */
    c.calls = 0;
    p.num_ctx = 50;
    CHECK_STR(render(t, &p, &info), "[system:sys][assistant:answer two][user:last]");
    CHECK_EQ(info.first_message, 4);
    CHECK_EQ(info.n_images, 0);
    CHECK_EQ(c.calls, 5);

    /* Image tokens count for the images still in the window. */
    c.calls = 0;
    p.num_ctx = 70;
    p.image_tokens = 768;
    CHECK_STR(render(t, &p, &info), "[system:sys][assistant:answer two][user:last]");
    p.image_tokens = 0;
    CHECK_STR(render(t, &p, &info),
              "[system:sys][user:[img-0]img][assistant:answer two][user:last]");
    CHECK_EQ(info.first_message, 3);
    CHECK_EQ(info.n_images, 1);

    /* Nothing fits: the last message is always kept. */
    p.num_ctx = 1;
    CHECK_STR(render(t, &p, &info), "[system:sys][user:last]");
    CHECK_EQ(info.first_message, 5);

    /* truncate:false or no counter: no truncation. */
    p.truncate = false;
    CHECK_STR(render(t, &p, &info), "[system:sys][user:first question][assistant:answer one]"
                                    "[user:[img-0]img][assistant:answer two][user:last]");
    p.truncate = true;

    /* A counter error is passed up. */
    c.calls = 0;
    c.fail_at = 2;
    struct ol_err err = {0};
    struct ol_buf out = {0};
    CHECK_EQ(tmpl_render(t, &p, &out, NULL, &err), OL_EIO);
    CHECK_EQ(out.len, 0);
    ol_buf_free(&out);

    /* With the model SYSTEM prepended, first_message indexes the caller's list. */
    c.fail_at = 0;
    p.messages = m + 1;
    p.n_messages = 5;
    p.system = "sys";
    p.num_ctx = 50;
    CHECK_STR(render(t, &p, &info), "[system:sys][assistant:answer two][user:last]");
    CHECK_EQ(info.first_message, 3);
    tmpl_free(t);
}

static void test_think_and_tools_data(void) {
    struct tmpl *t = parse("{{ .Think }} {{ .ThinkLevel }} {{ .IsThinkSet }} [{{ .Tools }}] "
                           "{{ if .Tools }}yes{{ else }}no{{ end }}{{ range .Messages }}{{ end }}");
    struct tmpl_render_params p = tmpl_render_default_params();
    p.think = true;
    p.think_level = "high";
    p.is_think_set = true;
    CHECK_STR(render(t, &p, NULL), "true high true [null] no");
    struct tmpl_arena *a = tmpl_arena_new();
    const char *tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"f\","
                             "\"parameters\":{\"type\":\"object\",\"properties\":{}}}}]";
    p.tools = tu_json_parse(a, tools_json, strlen(tools_json), true, false);
    CHECK_STR(
        render(t, &p, NULL),
        "true high true [[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":"
        "\"\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}]] yes");
    tmpl_arena_free(a);
    tmpl_free(t);
}

int main(void) {
    test_legacy_spec_examples();
    test_suffix_and_errors();
    test_images();
    test_truncation();
    test_think_and_tools_data();
    return check_exit("test_template_render");
}
