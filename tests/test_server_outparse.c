/* Output parsers (server/outparse.h): thinking split and tool-call extraction. Every case is
 * run whole, one byte at a time and cut in two at every position; all runs must agree. */
#include <jansson.h>
#include <string.h>

#include "check.h"
#include "server/outparse.h"

static const char *const TOOLS[] = {"get_weather", "get_time"};

struct result {
    struct ol_buf content;
    struct ol_buf thinking;
    json_t *calls;
    int rc;
};

static void result_free(struct result *r) {
    ol_buf_free(&r->content);
    ol_buf_free(&r->thinking);
    json_decref(r->calls);
}

/* Feeds text[0..len) in pieces of `step` bytes (0 = whole), the first piece `first` bytes
 * long when first > 0. */
static void run(const struct outp_params *p, const char *text, size_t first, size_t step,
                struct result *r) {
    memset(r, 0, sizeof(*r));
    r->calls = json_array();
    struct outp *o = outp_new(p, NULL);
    CHECK(o != NULL);
    if (!o) return;
    size_t len = strlen(text);
    size_t at = 0;
    while (at < len) {
        size_t n = len - at;
        if (at == 0 && first)
            n = OL_MIN(first, n);
        else if (step)
            n = OL_MIN(step, n);
        int rc = outp_push(o, text + at, n, &r->content, &r->thinking, r->calls, NULL);
        if (rc < 0) r->rc = rc;
        at += n;
    }
    int rc = outp_finish(o, &r->content, &r->thinking, r->calls, NULL);
    if (rc < 0) r->rc = rc;
    outp_free(o);
}

static const char *str(const struct ol_buf *b) { return b->data ? b->data : ""; }

/* The calls without their random ids: [{"index":..,"name":..,"arguments":..}, ...]. */
static char *calls_text(json_t *calls) {
    json_t *fns = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) json_array_append(fns, json_object_get(c, "function"));
    char *s = json_dumps(fns, JSON_COMPACT);
    json_decref(fns);
    return s;
}

static bool str_eq(const char *what, const char *got, const char *want, const char *text,
                   size_t first, size_t step) {
    if (strcmp(got, want) == 0) return true;
    fprintf(stderr, "  %s mismatch for %s (first %zu, step %zu)\n    got  [%s]\n    want [%s]\n",
            what, text, first, step, got, want);
    return false;
}

/* Runs `text` every way and checks content, thinking and calls (NULL calls = "[]"). */
static void expect(const struct outp_params *p, const char *text, const char *content,
                   const char *thinking, const char *calls) {
    size_t len = strlen(text);
    for (size_t mode = 0; mode <= len + 1; mode++) {
        size_t first = mode <= len ? mode : 0; /* mode 0: whole; len + 1: byte by byte */
        size_t step = mode == len + 1 ? 1 : 0;
        struct result r;
        run(p, text, first, step, &r);
        CHECK_EQ(r.rc, 0);
        char *got_calls = calls_text(r.calls);
        bool ok = str_eq("content", str(&r.content), content, text, first, step) &&
                  str_eq("thinking", str(&r.thinking), thinking, text, first, step) &&
                  str_eq("calls", got_calls, calls ? calls : "[]", text, first, step);
        CHECK(ok);
        free(got_calls);
        result_free(&r);
        if (!ok) break;
    }
}

static struct outp_params think_params(void) {
    struct outp_params p = {0};
    p.think_open = "<think>";
    p.think_close = "</think>";
    p.think_enabled = true;
    return p;
}

static struct outp_params tool_params(const char *tag) {
    struct outp_params p = {0};
    p.tool_tag = tag;
    p.tool_names = TOOLS;
    p.n_tools = (int)OL_ARRAY_LEN(TOOLS);
    return p;
}

static void test_thinking(void) {
    struct outp_params p = think_params();
    expect(&p, "<think>\nI think.\n</think>\n\nHello!", "Hello!", "I think.", NULL);
    expect(&p, "\n \t<think>a b</think>c", "c", "a b", NULL);
    expect(&p, "Hello <think>x</think>", "Hello <think>x</think>", "", NULL);
    expect(&p, "  Hello", "  Hello", "", NULL);
    expect(&p, "<the end", "<the end", "", NULL);
    expect(&p, "<think>unfinished </th", "", "unfinished </th", NULL);
    expect(&p, "<think>a </b> c\n</think>d\n", "d\n", "a </b> c", NULL);
    expect(&p, "<think></think>", "", "", NULL);
    expect(&p, "<thi", "<thi", "", NULL);
    expect(&p, "", "", "", NULL);

    p.prompt_ends_with_open = true; /* the template pre-filled <think> */
    expect(&p, "\nreasoning\n</think>\n\nanswer", "answer", "reasoning", NULL);

    p = think_params();
    p.think_enabled = false;
    expect(&p, "<think>x</think>y", "<think>x</think>y", "", NULL);
    p = think_params();
    p.think_open = NULL;
    expect(&p, "<think>x</think>y", "<think>x</think>y", "", NULL);
}

/* What comes out while streaming, piece by piece. */
static void test_thinking_stream(void) {
    struct outp_params p = think_params();
    struct outp *o = outp_new(&p, NULL);
    struct ol_buf c = {0}, t = {0};
    CHECK_EQ(outp_push(o, "<thi", 4, &c, &t, NULL, NULL), 0);
    CHECK_EQ(c.len + t.len, 0);
    CHECK_EQ(outp_push(o, "nk>abc", 6, &c, &t, NULL, NULL), 0);
    CHECK(strcmp(str(&t), "abc") == 0);
    CHECK_EQ(outp_push(o, " </th", 5, &c, &t, NULL, NULL), 0);
    CHECK(strcmp(str(&t), "abc") == 0);
    CHECK_EQ(outp_push(o, "ink> Hi", 7, &c, &t, NULL, NULL), 0);
    CHECK(strcmp(str(&c), "Hi") == 0);
    CHECK_EQ(outp_finish(o, &c, &t, NULL, NULL), 0);
    CHECK(strcmp(str(&c), "Hi") == 0 && strcmp(str(&t), "abc") == 0);
    outp_free(o);
    ol_buf_free(&c);
    ol_buf_free(&t);
}

static void test_tool_call_tag(void) {
    struct outp_params p = tool_params("<tool_call>");
    expect(&p,
           "Sure.<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"zeta\": \"Tokyo\", "
           "\"alpha\": 1}}\n</tool_call>",
           "Sure.", "",
           "[{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"zeta\":\"Tokyo\","
           "\"alpha\":1}}]");
    expect(&p,
           "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"A\"}}\n</tool_call>\n"
           "<tool_call>\n{\"name\":\"get_time\",\"arguments\":{\"tz\":\"B\"}}\n</tool_call>",
           "", "",
           "[{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"city\":\"A\"}},"
           "{\"index\":1,\"name\":\"get_time\",\"arguments\":{\"tz\":\"B\"}}]");
    /* arguments as a JSON string, "parameters", keyed by the tool name */
    expect(&p,
           "<tool_call>{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Rome\\\"}\"}",
           "", "", "[{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"city\":\"Rome\"}}]");
    expect(&p, "<tool_call>{\"name\":\"get_time\",\"parameters\":{\"tz\":\"UTC\"}}</tool_call>", "",
           "", "[{\"index\":0,\"name\":\"get_time\",\"arguments\":{\"tz\":\"UTC\"}}]");
    expect(&p, "<tool_call>{\"get_weather\": {\"city\": \"Lima\"}}</tool_call>", "", "",
           "[{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"city\":\"Lima\"}}]");
    /* nested: the call object sits inside another object */
    expect(
        &p,
        "<tool_call>{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
        "{\"loc\":{\"city\":\"A\",\"geo\":[1,2]},\"s\":\"}{\\\"\"}}}</tool_call>",
        "", "",
        "[{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"loc\":{\"city\":\"A\",\"geo\":[1,"
        "2]},\"s\":\"}{\\\"\"}}]");
    /* without arguments: not a call, so the whole text is content at the end */
    expect(&p, "<tool_call>{\"name\":\"get_weather\"}</tool_call>",
           "<tool_call>{\"name\":\"get_weather\"}</tool_call>", "", NULL);
    /* text after the calls comes back as content */
    expect(&p, "<tool_call>{\"name\":\"get_time\",\"arguments\":{}}</tool_call>\nDone.", "Done.",
           "", "[{\"index\":0,\"name\":\"get_time\",\"arguments\":{}}]");
    /* invalid JSON: skipped, the next object is tried */
    expect(&p, "<tool_call>{bad get_weather} {\"name\":\"get_weather\",\"arguments\":{\"a\":1}}",
           "", "", "[{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"a\":1}}]");
    expect(&p, "<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":}}</tool_call>",
           "<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":}}</tool_call>", "", NULL);
    expect(&p, "no calls <tool", "no calls <tool", "", NULL);
    expect(&p, "plain text", "plain text", "", NULL);
}

static void test_other_tags(void) {
    struct outp_params p = tool_params("[TOOL_CALLS]");
    expect(&p,
           "[TOOL_CALLS] [{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}},"
           "{\"name\":\"get_time\",\"arguments\":{}}]",
           "", "",
           "[{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}},"
           "{\"index\":1,\"name\":\"get_time\",\"arguments\":{}}]");

    p = tool_params("functools[");
    expect(&p, "functools[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"x\"}}]", "", "",
           "[{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"city\":\"x\"}}]");

    p = tool_params("{");
    expect(&p, " \n{\"name\":\"get_weather\",\"parameters\":{\"city\":\"Oslo\"}}", "", "",
           "[{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}]");
    expect(&p, "Hello {\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}",
           "Hello {\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}", "", NULL);
    expect(&p, "{\"name\":\"get_weather\"}", "{\"name\":\"get_weather\"}", "", NULL);
    expect(&p, "{\"answer\": 42} and more", "{\"answer\": 42} and more", "", NULL);
    expect(&p, "{{{{", "{{{{", "", NULL);
    expect(
        &p,
        "{\"name\":\"get_weather\",\"arguments\":{\"a\":1}}\n{\"name\":\"get_time\",\"arguments\":"
        "{\"b\":2}}",
        "", "",
        "[{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"a\":1}},"
        "{\"index\":1,\"name\":\"get_time\",\"arguments\":{\"b\":2}}]");
    p = tool_params("");
    expect(&p, "{\"name\":\"get_time\",\"arguments\":{}}", "", "",
           "[{\"index\":0,\"name\":\"get_time\",\"arguments\":{}}]");

    /* no tools: passthrough */
    p = tool_params("<tool_call>");
    p.tool_tag = NULL;
    expect(&p, "<tool_call>{\"name\":\"get_time\",\"arguments\":{}}",
           "<tool_call>{\"name\":\"get_time\",\"arguments\":{}}", "", NULL);
}

/* Names that are prefixes of others must not match early. */
static void test_name_prefixes(void) {
    static const char *const names[] = {"get", "get_weather", "call"};
    struct outp_params p = tool_params("<tool_call>");
    p.tool_names = names;
    p.n_tools = 3;
    expect(&p, "<tool_call>{\"get_weather\":{\"a\":1}}", "", "",
           "[{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"a\":1}}]");
    expect(&p,
           "<tool_call>{\"name\":\"get\",\"arguments\":{}}</tool_call><tool_call>{\"name\":\"get_"
           "weather\",\"arguments\":{\"x\":true}}</tool_call>",
           "", "",
           "[{\"index\":0,\"name\":\"get\",\"arguments\":{}},"
           "{\"index\":1,\"name\":\"get_weather\",\"arguments\":{\"x\":true}}]");
}

static void test_think_and_tools(void) {
    struct outp_params p = tool_params("<tool_call>");
    p.think_open = "<think>";
    p.think_close = "</think>";
    p.think_enabled = true;
    expect(&p,
           "<think>\nuse get_weather\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", "
           "\"arguments\": {\"city\": \"Tokyo\"}}\n</tool_call>",
           "", "use get_weather",
           "[{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"city\":\"Tokyo\"}}]");
}

/* Streaming behaviour of the tool stage, ids and the call object's shape. */
static void test_tool_stream(void) {
    struct outp_params p = tool_params("<tool_call>");
    struct outp *o = outp_new(&p, NULL);
    struct ol_buf c = {0}, t = {0};
    json_t *calls = json_array();
    CHECK_EQ(outp_push(o, "Hi <tool", 8, &c, &t, calls, NULL), 0);
    CHECK(strcmp(str(&c), "Hi ") == 0);
    CHECK_EQ(outp_push(o, "box", 3, &c, &t, calls, NULL), 0);
    CHECK(strcmp(str(&c), "Hi <toolbox") == 0);
    const char *call = " <tool_call>{\"name\":\"get_time\",\"arguments\":{}}";
    CHECK_EQ(outp_push(o, call, strlen(call), &c, &t, calls, NULL), 1);
    CHECK(strcmp(str(&c), "Hi <toolbox ") == 0);
    call = "<tool_call>{\"name\":\"get_weather\",\"arguments\":{}}";
    CHECK_EQ(outp_push(o, call, strlen(call), &c, &t, calls, NULL), 1);
    CHECK_EQ(outp_push(o, " bye", 4, &c, &t, calls, NULL), 0);
    CHECK_EQ(outp_finish(o, &c, &t, calls, NULL), 0);
    CHECK(strcmp(str(&c), "Hi <toolbox bye") == 0);
    CHECK_EQ(outp_n_calls(o), 2);
    CHECK_EQ(json_array_size(calls), 2);
    const char *id0 = json_string_value(json_object_get(json_array_get(calls, 0), "id"));
    const char *id1 = json_string_value(json_object_get(json_array_get(calls, 1), "id"));
    CHECK(id0 && id1 && strcmp(id0, id1) != 0);
    for (int k = 0; k < 2; k++) {
        const char *id = k ? id1 : id0;
        CHECK(id && strlen(id) == 13 && strncmp(id, "call_", 5) == 0 &&
              strspn(id + 5, "abcdefghijklmnopqrstuvwxyz0123456789") == 8);
    }
    char *s = json_dumps(json_array_get(calls, 1), JSON_COMPACT);
    CHECK(s && strstr(s, "\"function\":{\"index\":1,\"name\":\"get_weather\",\"arguments\":{}}"));
    free(s);
    json_decref(calls);
    outp_free(o);
    ol_buf_free(&c);
    ol_buf_free(&t);
}

static void test_bad_params(void) {
    static const char *const names[] = {"ok", NULL};
    struct outp_params p = tool_params("{");
    p.tool_names = names;
    p.n_tools = 2;
    struct ol_err err = {0};
    CHECK(outp_new(&p, &err) == NULL);
    CHECK_EQ(err.code, OL_EINVAL);
    p.n_tools = -1;
    CHECK(outp_new(&p, NULL) == NULL);
    outp_free(NULL);
}

int main(void) {
    test_thinking();
    test_thinking_stream();
    test_tool_call_tag();
    test_other_tags();
    test_name_prefixes();
    test_think_and_tools();
    test_tool_stream();
    test_bad_params();
    return check_exit("test_server_outparse");
}
