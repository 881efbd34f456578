/* libFuzzer target for the chat/generate output parsers (server/outparse.h). Byte 0 picks the
 * tool tag and thinking flags, byte 1 the piece size; the rest is model output, fed whole and
 * in pieces. Checks: the thinking split gives the same text however the output is cut; with
 * everything off, output passes through unchanged; tool calls are always well-formed and the
 * parsers never emit more bytes than they were given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "server/outparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const NAMES[] = {"get_weather", "get", "call"};
static const char *const TAGS[] = {"<tool_call>", "[TOOL_CALLS]", "{", "functools["};

struct out {
    struct ol_buf content;
    struct ol_buf thinking;
    json_t *calls;
};

/* Feeds text in pieces of `step` bytes (0 = whole). */
static void feed(const struct outp_params *p, const char *text, size_t len, size_t step,
                 struct out *r) {
    memset(r, 0, sizeof(*r));
    r->calls = json_array();
    struct outp *o = outp_new(p, NULL);
    OL_ASSERT(o && r->calls);
    for (size_t at = 0; at < len;) {
        size_t n = step ? OL_MIN(step, len - at) : len - at;
        OL_ASSERT(outp_push(o, text + at, n, &r->content, &r->thinking, r->calls, NULL) >= 0);
        at += n;
    }
    OL_ASSERT(outp_finish(o, &r->content, &r->thinking, r->calls, NULL) >= 0);
    OL_ASSERT((size_t)outp_n_calls(o) == json_array_size(r->calls));
    outp_free(o);
}

static void out_free(struct out *r) {
    ol_buf_free(&r->content);
    ol_buf_free(&r->thinking);
    json_decref(r->calls);
}

static bool buf_eq(const struct ol_buf *a, const struct ol_buf *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void check_calls(json_t *calls) {
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        OL_ASSERT(id && strlen(id) == 13 && strncmp(id, "call_", 5) == 0);
        json_t *fn = json_object_get(c, "function");
        OL_ASSERT(json_integer_value(json_object_get(fn, "index")) == (json_int_t)i);
        const char *name = json_string_value(json_object_get(fn, "name"));
        bool known = false;
        for (size_t k = 0; name && k < OL_ARRAY_LEN(NAMES); k++)
            known |= strcmp(name, NAMES[k]) == 0;
        OL_ASSERT(known);
        OL_ASSERT(json_is_object(json_object_get(fn, "arguments")));
        char *s = json_dumps(c, JSON_COMPACT);
        OL_ASSERT(s);
        free(s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    uint8_t cfg = data[0];
    size_t step = (size_t)data[1] % 17; /* 0 = whole */
    const char *text = (const char *)data + 2;
    size_t len = size - 2;

    /* Everything off: a plain copy. */
    struct outp_params off = {0};
    struct out a;
    feed(&off, text, len, step, &a);
    OL_ASSERT(a.content.len == len && a.thinking.len == 0);
    OL_ASSERT(len == 0 || memcmp(a.content.data, text, len) == 0);
    out_free(&a);

    /* Thinking only: the same split however the text is cut. */
    struct outp_params think = {0};
    think.think_open = "<think>";
    think.think_close = "</think>";
    think.think_enabled = true;
    think.prompt_ends_with_open = cfg & 4;
    struct out b;
    feed(&think, text, len, 0, &a);
    feed(&think, text, len, step ? step : 1, &b);
    OL_ASSERT(buf_eq(&a.content, &b.content) && buf_eq(&a.thinking, &b.thinking));
    OL_ASSERT(a.content.len + a.thinking.len <= len);
    out_free(&a);
    out_free(&b);

    /* Both parsers. */
    struct outp_params all = think;
    all.think_enabled = cfg & 8;
    all.tool_tag = TAGS[cfg & 3];
    all.tool_names = NAMES;
    all.n_tools = (cfg & 16) ? 1 : (int)OL_ARRAY_LEN(NAMES);
    feed(&all, text, len, step, &a);
    check_calls(a.calls);
    OL_ASSERT(a.content.len + a.thinking.len <= len);
    out_free(&a);
    return 0;
}
