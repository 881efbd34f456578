/* libFuzzer target for the template engine. The input is template text: it is parsed as plain
 * Go and with Ollama's flags, executed on a fixed data tree (maps, lists, structs, nils, a
 * JSON-printing map), rendered as a chat in messages and legacy modes, analysed (references,
 * thinking and tool-call tags) and run through chat_template detection. Limits keep each run
 * small; any crash, sanitizer report or leak is a bug. Errors are expected and ignored. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tmpl_value *fuzz_data(struct tmpl_arena *a) {
    struct tmpl_value *root = tmpl_value_map(a);
    struct tmpl_value *list = tmpl_value_list(a);
    tmpl_list_append(list, tmpl_value_int(a, 1));
    tmpl_list_append(list, tmpl_value_str(a, "two"));
    tmpl_list_append(list, tmpl_value_nil(a));
    tmpl_list_append(list, tmpl_value_float(a, 2.5));
    tmpl_map_set(root, "L", 1, list);
    struct tmpl_value *m = tmpl_value_map(a);
    tmpl_map_set(m, "b", 1, tmpl_value_bool(a, true));
    tmpl_map_set(m, "a", 1, list);
    tmpl_value_set_text(m, "{\"a\":1}", 7);
    tmpl_map_set(root, "M", 1, m);
    struct tmpl_value *msg = tmpl_value_struct(a, "*template.templateMessage");
    tmpl_struct_add(msg, "Role", tmpl_value_str(a, "user"), false);
    tmpl_struct_add(msg, "Content", tmpl_value_str(a, "hi <b>"), false);
    tmpl_struct_add(msg, "Any", tmpl_value_nil(a), true);
    struct tmpl_value *msgs = tmpl_value_list(a);
    tmpl_list_append(msgs, msg);
    tmpl_list_append(msgs, msg);
    tmpl_value_set_type(msgs, "[]*template.templateMessage", TMPL_VF_TYPED_ELEMS);
    tmpl_map_set(root, "Messages", 8, msgs);
    tmpl_map_set(root, "S", 1, tmpl_value_str(a, "str\xff\xfe"));
    tmpl_map_set(root, "N", 1, tmpl_value_int(a, 3));
    tmpl_map_set(root, "Big", 3, tmpl_value_int(a, INT64_MIN));
    return root;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    struct ol_err err = {0};
    struct tmpl_exec_params ep = tmpl_exec_default_params();
    ep.max_output = 1 << 20;
    ep.max_steps = 200000;
    struct tmpl_arena *a = tmpl_arena_new();
    if (!a) return 0;
    struct tmpl_value *root = fuzz_data(a);

    struct tmpl *t = tmpl_parse(text, size, 0, &err);
    if (t) {
        struct ol_buf out = {0};
        tmpl_exec(t, root, &ep, &out, &err);
        ol_buf_free(&out);
        tmpl_exec(t, NULL, &ep, &out, &err);
        ol_buf_free(&out);
        tmpl_free(t);
    }

    t = tmpl_parse(text, size, TMPL_PARSE_OLLAMA, &err);
    if (t) {
        struct tmpl_tool_call call = {"call_1", 0, "f", tmpl_value_get(root, "M")};
        struct tmpl_message msgs[] = {
            {.role = "system", .content = "sys"},
            {.role = "user", .content = "q [img]", .n_images = 2},
            {.role = "assistant", .content = "", .tool_calls = &call, .n_tool_calls = 1},
            {.role = "tool", .content = "r", .tool_name = "f"},
            {.role = "user", .content = "q2"},
        };
        struct tmpl_render_params p = tmpl_render_default_params();
        p.messages = msgs;
        p.n_messages = 5;
        p.system = "model system";
        p.exec = ep;
        struct ol_buf out = {0};
        tmpl_render(t, &p, &out, NULL, &err);
        ol_buf_free(&out);
        p.prompt = "pre";
        p.suffix = "suf";
        tmpl_render(t, &p, &out, NULL, &err);
        ol_buf_free(&out);
        struct ol_buf o = {0}, c = {0};
        tmpl_thinking_tags(t, &o, &c);
        tmpl_tool_call_tag(t, &o);
        tmpl_references(t, "tools");
        ol_buf_free(&o);
        ol_buf_free(&c);
        tmpl_free(t);
    }
    tmpl_family_detect(text, size);
    tmpl_arena_free(a);
    return 0;
}
