/* Library templates: our family templates and Ollama's originals (rendered by our engine)
 * must give the exact bytes of Ollama's testdata renderings; every Jinja template of Ollama's
 * index.json and testdata/templates.jsonl must be detected as its family; stop strings match
 * the <name>.json files. Reads ../shared/ollama-templates. */
#include "check.h"
#include "template_util.h"

#define OT "../shared/ollama-templates/" /* as SHARED(), usable in concatenation */

static const char *const case_names[] = {"user", "user-assistant-user",
                                         "system-user-assistant-user"};

/* The three conversations of Ollama's template tests. */
static int make_chat(int which, struct tmpl_message *m) {
    static const char *const sys = "You are a helpful assistant.";
    static const char *const u1 = "Hello, how are you?";
    static const char *const a1 = "I'm doing great. How can I help you today?";
    static const char *const u2 = "I'd like to show off how chat templating works!";
    int n = 0;
    memset(m, 0, 4 * sizeof(*m));
    if (which == 2) m[n++] = (struct tmpl_message){.role = "system", .content = sys};
    m[n++] = (struct tmpl_message){.role = "user", .content = u1};
    if (which >= 1) {
        m[n++] = (struct tmpl_message){.role = "assistant", .content = a1};
        m[n++] = (struct tmpl_message){.role = "user", .content = u2};
    }
    return n;
}

static bool trims_one_space(const char *name) {
    static const char *const names[] = {"chatqa", "llama2-chat", "mistral-instruct", "openchat",
                                        "vicuna"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i], name) == 0) return true;
    return false;
}

static void check_rendering(const char *family, const char *label, const char *text, size_t len) {
    struct ol_err err = {0};
    struct tmpl *t = tmpl_parse(text, len, TMPL_PARSE_OLLAMA, &err);
    CHECK(t != NULL);
    if (!t) {
        fprintf(stderr, "%s (%s): %s\n", family, label, err.msg);
        return;
    }
    for (int c = 0; c < 3; c++) {
        char path[512];
        snprintf(path, sizeof(path), OT "testdata/%s.gotmpl/%s", family, case_names[c]);
        size_t want_len;
        char *want = tu_read_file(path, &want_len);
        CHECK(want != NULL);
        if (!want) continue;
        struct tmpl_message msgs[4];
        struct tmpl_render_params p = tmpl_render_default_params();
        p.messages = msgs;
        p.n_messages = make_chat(c, msgs);
        struct ol_buf out = {0};
        int rc = tmpl_render(t, &p, &out, NULL, &err);
        CHECK_EQ(rc, 0);
        size_t got_len = out.len;
        if (trims_one_space(family) && got_len > 0 && out.data[got_len - 1] == ' ') got_len--;
        bool same =
            rc == 0 && got_len == want_len && memcmp(out.data ? out.data : "", want, want_len) == 0;
        CHECK(same);
        if (!same)
            fprintf(stderr, "%s (%s) %s:\n  want [%.*s]\n  got  [%.*s] %s\n", family, label,
                    case_names[c], (int)want_len, want, (int)got_len, out.data ? out.data : "",
                    rc ? err.msg : "");
        ol_buf_free(&out);
        free(want);
    }
    tmpl_free(t);
}

static void test_renderings(void) {
    CHECK_EQ(tmpl_family_count(), 20);
    for (int i = 0; i < tmpl_family_count(); i++) {
        const struct tmpl_family *f = tmpl_family_at(i);
        CHECK(tmpl_family_find(f->name) == f);
        check_rendering(f->name, "ours", f->template, strlen(f->template));
        char path[512];
        snprintf(path, sizeof(path), OT "%s.gotmpl", f->name);
        size_t len;
        char *orig = tu_read_file(path, &len);
        CHECK(orig != NULL);
        if (orig) {
            check_rendering(f->name, "ollama's", orig, len);
            free(orig);
        }
    }
    CHECK(tmpl_family_find("nope") == NULL);
    CHECK(tmpl_family_at(-1) == NULL);
    CHECK(tmpl_family_at(tmpl_family_count()) == NULL);
}

static void test_stops(void) {
    for (int i = 0; i < tmpl_family_count(); i++) {
        const struct tmpl_family *f = tmpl_family_at(i);
        char path[512];
        snprintf(path, sizeof(path), OT "%s.json", f->name);
        size_t len;
        char *json = tu_read_file(path, &len);
        CHECK(json != NULL);
        if (!json) continue;
        struct tmpl_arena *a = tmpl_arena_new();
        struct tmpl_value *v = tu_json_parse(a, json, len, false, false);
        const struct tmpl_value *stop = tmpl_value_get(v, "stop");
        CHECK_EQ(tmpl_value_len(stop), f->n_stop);
        for (int k = 0; k < f->n_stop && (size_t)k < tmpl_value_len(stop); k++) {
            const char *want = tmpl_value_as_str(tmpl_value_at(stop, (size_t)k), NULL);
            CHECK(strcmp(want, f->stop[k]) == 0);
        }
        tmpl_arena_free(a);
        free(json);
    }
}

static void check_detect(const char *jinja, size_t len, const char *want, const char *where) {
    const struct tmpl_family *f = tmpl_family_detect(jinja, len);
    bool ok = f && strcmp(f->name, want) == 0;
    CHECK(ok);
    if (!ok) fprintf(stderr, "%s: detected %s, want %s\n", where, f ? f->name : "(none)", want);
}

static void test_detect_index(void) {
    size_t len;
    char *json = tu_read_file(OT "index.json", &len);
    CHECK(json != NULL);
    if (!json) return;
    struct tmpl_arena *a = tmpl_arena_new();
    struct tmpl_value *v = tu_json_parse(a, json, len, false, false);
    CHECK(v != NULL);
    CHECK(tmpl_value_len(v) >= 30);
    for (size_t i = 0; i < tmpl_value_len(v); i++) {
        const struct tmpl_value *e = tmpl_value_at(v, i);
        size_t tl;
        const char *t = tmpl_value_as_str(tmpl_value_get(e, "template"), &tl);
        const char *name = tmpl_value_as_str(tmpl_value_get(e, "name"), NULL);
        check_detect(t, tl, name, "index.json");
    }
    tmpl_arena_free(a);
    free(json);
}

static void test_detect_jsonl(void) {
    size_t len;
    char *text = tu_read_file(OT "testdata/templates.jsonl", &len);
    CHECK(text != NULL);
    if (!text) return;
    int n = 0;
    for (char *line = text; line < text + len;) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        size_t l = nl ? (size_t)(nl - line) : (size_t)(text + len - line);
        if (l > 0) {
            struct tmpl_arena *a = tmpl_arena_new();
            struct tmpl_value *v = tu_json_parse(a, line, l, false, false);
            CHECK(v != NULL && tmpl_value_len(v) == 1);
            if (v && tmpl_value_len(v) == 1) {
                size_t tl;
                const char *t = tmpl_value_as_str(tmpl_value_at(v, 0), &tl);
                check_detect(t, tl, tmpl_value_key_at(v, 0), "templates.jsonl");
                n++;
            }
            tmpl_arena_free(a);
        }
        line += l + 1;
    }
    CHECK(n >= 30);
    free(text);
}

static void test_detect_misc(void) {
    CHECK(tmpl_family_detect(NULL, 0) == NULL);
    CHECK(tmpl_family_detect("", 0) == NULL);
    const char *plain = "{{ messages[0]['content'] }}";
    CHECK(tmpl_family_detect(plain, strlen(plain)) == NULL);
    /* A tool-enabled Qwen-style template is still ChatML. */
    const char *qwen = "{%- if tools %}{{- '<|im_start|>system\\n' }}{% for tool in tools %}"
                       "{{ tool | tojson }}{% endfor %}{%- endif %}";
    check_detect(qwen, strlen(qwen), "chatml", "qwen");
    /* Every family's own template parses with Ollama's rules. */
    for (int i = 0; i < tmpl_family_count(); i++) {
        const struct tmpl_family *f = tmpl_family_at(i);
        struct ol_err err = {0};
        struct tmpl *t = tmpl_parse(f->template, strlen(f->template), TMPL_PARSE_OLLAMA, &err);
        CHECK(t != NULL);
        CHECK(tmpl_references(t, "messages"));
        tmpl_free(t);
    }
}

int main(void) {
    test_renderings();
    test_stops();
    test_detect_index();
    test_detect_jsonl();
    test_detect_misc();
    return check_exit("test_template_families");
}
