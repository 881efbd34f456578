/* Conformance against Go itself: every case of tests/data/templates/NAME.txt (data + template)
 * and every chat-template x conversation pair is rendered by our engine and by Go's
 * text/template (tests/gotmpl/main.go, built here with the golang-go package), and the
 * outputs must be identical; where Go fails, we must fail too. Error texts are compared
 * loosely (Go 1.19 words a few messages more briefly than current Go, which we follow);
 * TMPL_GO_STRICT=1 makes a different error text a failure. */
#include "check.h"
#include "template_util.h"

#include <dirent.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>

static char out_dir[4096];
static int n_cases;
static int n_msg_diffs;

struct go_result {
    bool ok;
    char *text;
    size_t len;
};

static bool have_go(void) { return system("command -v go >/dev/null 2>&1") == 0; }

static long long mtime(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) return -1;
    return (long long)st.st_mtime;
}

/* Builds build/gotmpl from tests/gotmpl/main.go when missing or stale. */
static bool build_gotmpl(void) {
    long long bin = mtime("build/gotmpl");
    long long src = mtime("tests/gotmpl/main.go");
    if (src < 0) {
        fprintf(stderr, "missing tests/gotmpl/main.go\n");
        return false;
    }
    if (bin >= src) return true;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "mkdir -p build && GOCACHE=\"$PWD/build/gotmpl-cache\" GOPATH=\"$PWD/build/gopath\" "
             "GOFLAGS= GO111MODULE=auto GOTOOLCHAIN=local go build -o build/gotmpl.tmp.%d "
             "tests/gotmpl/main.go && mv -f build/gotmpl.tmp.%d build/gotmpl",
             (int)getpid(), (int)getpid());
    if (system(cmd) != 0) {
        fprintf(stderr, "building tests/gotmpl/main.go with go failed\n");
        return false;
    }
    return true;
}

/* Runs gotmpl on a corpus; results[n] in case order. */
static struct go_result *run_go(const char *mode, const char *corpus, const char *tag, int n) {
    char out[4200];
    snprintf(out, sizeof(out), "%s/gotmpl-%s.out", out_dir, tag);
    char cmd[9000];
    snprintf(cmd, sizeof(cmd), "build/gotmpl %s '%s' > '%s'", mode, corpus, out);
    if (system(cmd) != 0) {
        fprintf(stderr, "gotmpl failed on %s\n", corpus);
        return NULL;
    }
    size_t len;
    char *text = tu_read_file(out, &len);
    if (!text) return NULL;
    struct go_result *r = calloc((size_t)(n ? n : 1), sizeof(*r));
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl || strncmp(text + pos, "=== ", 4) != 0) goto bad;
        pos = (size_t)(nl - text) + 1;
        char status[8];
        size_t blen;
        if (sscanf(text + pos, "%7s %zu", status, &blen) != 2) goto bad;
        nl = memchr(text + pos, '\n', len - pos);
        if (!nl) goto bad;
        pos = (size_t)(nl - text) + 1;
        if (pos + blen + 1 > len) goto bad;
        r[i].ok = strcmp(status, "ok") == 0;
        r[i].text = ol_strndup(text + pos, blen);
        r[i].len = blen;
        pos += blen + 1;
    }
    free(text);
    return r;
bad:
    fprintf(stderr, "cannot parse gotmpl output for %s\n", corpus);
    free(text);
    free(r);
    return NULL;
}

static void free_results(struct go_result *r, int n) {
    for (int i = 0; r && i < n; i++)
        free(r[i].text);
    free(r);
}

/* Compares one case: ours (rc, out or err) against Go's. */
static void compare(const char *name, const struct go_result *go, int rc, const struct ol_buf *out,
                    const struct ol_err *err) {
    n_cases++;
    if (go->ok) {
        bool same = rc == 0 && out->len == go->len &&
                    memcmp(out->data ? out->data : "", go->text, go->len) == 0;
        CHECK(same);
        if (!same) {
            fprintf(stderr, "case %s:\n  go:   [%.*s]\n  ours: ", name, (int)go->len, go->text);
            if (rc == 0) {
                fprintf(stderr, "[%.*s]\n", (int)out->len, out->data ? out->data : "");
            } else {
                fprintf(stderr, "error %s\n", err->msg);
            }
        }
        return;
    }
    CHECK(rc < 0);
    if (rc == 0) {
        fprintf(stderr, "case %s: go fails with [%.*s] but ours rendered [%.*s]\n", name,
                (int)go->len, go->text, (int)out->len, out->data ? out->data : "");
        return;
    }
    /* ours may add detail after Go 1.19's text (e.g. the types in "incompatible types...") */
    size_t glen = go->len;
    bool similar = strncmp(err->msg, go->text, glen) == 0 ||
                   (strlen(err->msg) == sizeof(err->msg) - 1 &&
                    strncmp(err->msg, go->text, strlen(err->msg)) == 0);
    if (!similar) {
        n_msg_diffs++;
        fprintf(stderr, "note: case %s error text differs\n  go:   %.*s\n  ours: %s\n", name,
                (int)go->len, go->text, err->msg);
        const char *strict = getenv("TMPL_GO_STRICT");
        if (strict && *strict == '1') CHECK(similar);
    }
}

static void run_values_corpus(const char *path, const char *base) {
    size_t len;
    char *text = tu_read_file(path, &len);
    CHECK(text != NULL);
    if (!text) return;
    struct tu_corpus c;
    CHECK(tu_corpus_parse(text, len, &c));
    free(text);
    struct go_result *go = run_go("values", path, base, c.n);
    CHECK(go != NULL);
    for (int i = 0; go && i < c.n; i++) {
        struct tu_case *tc = &c.cases[i];
        struct tmpl_arena *a = tmpl_arena_new();
        struct tmpl_value *data = NULL;
        bool blank = true;
        for (size_t k = 0; k < tc->data_len; k++)
            if (!isspace((unsigned char)tc->data[k])) blank = false;
        if (!blank) {
            data = tu_json_parse(a, tc->data, tc->data_len, false, true);
            if (!data) fprintf(stderr, "case %s: bad JSON data\n", tc->name);
            CHECK(data != NULL);
        }
        struct ol_err err = {0};
        struct ol_buf out = {0};
        int rc;
        struct tmpl *t = tmpl_parse(tc->tmpl, tc->tmpl_len, 0, &err);
        if (!t) {
            rc = err.code;
        } else {
            rc = tmpl_exec(t, data, NULL, &out, &err);
        }
        char name[512];
        snprintf(name, sizeof(name), "%s/%s", base, tc->name);
        compare(name, &go[i], rc, &out, &err);
        ol_buf_free(&out);
        tmpl_free(t);
        tmpl_arena_free(a);
    }
    free_results(go, c.n);
    tu_corpus_free(&c);
}

static void run_values(void) {
    DIR *d = opendir("tests/data/templates");
    CHECK(d != NULL);
    if (!d) {
        fprintf(stderr, "missing tests/data/templates\n");
        return;
    }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".txt") == 0) names[n++] = ol_strdup(e->d_name);
    }
    closedir(d);
    CHECK(n > 0);
    for (int i = 0; i < n; i++) {
        char path[600];
        snprintf(path, sizeof(path), "tests/data/templates/%s", names[i]);
        char base[300];
        snprintf(base, sizeof(base), "%.*s", (int)strlen(names[i]) - 4, names[i]);
        run_values_corpus(path, base);
        free(names[i]);
    }
}

/* ---- chat templates x conversations ---- */

struct named_text {
    char *name;
    char *text;
    size_t len;
};

static int load_chats(struct named_text *chats, int cap) {
    size_t len;
    char *text = tu_read_file("tests/data/templates/chats.jsonl", &len);
    CHECK(text != NULL);
    if (!text) return 0;
    int n = 0;
    char *line = text;
    while (line < text + len && n < cap) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        size_t l = nl ? (size_t)(nl - line) : (size_t)(text + len - line);
        if (l > 0 && line[0] == '{') {
            struct tmpl_arena *a = tmpl_arena_new();
            struct tmpl_value *v = tu_json_parse(a, line, l, true, false);
            CHECK(v != NULL);
            const char *name = v ? tu_str(v, "name") : NULL;
            CHECK(name != NULL);
            if (name) {
                chats[n].name = ol_strdup(name);
                chats[n].text = ol_strndup(line, l);
                chats[n].len = l;
                n++;
            }
            tmpl_arena_free(a);
        }
        line += l + 1;
    }
    free(text);
    return n;
}

static int load_templates(struct named_text *t, int cap) {
    int n = 0;
    for (int i = 0; i < tmpl_family_count() && n + 2 <= cap; i++) {
        const struct tmpl_family *f = tmpl_family_at(i);
        char name[200];
        snprintf(name, sizeof(name), "ours/%s", f->name);
        t[n].name = ol_strdup(name);
        t[n].text = ol_strdup(f->template);
        t[n].len = strlen(f->template);
        n++;
        char path[300];
        snprintf(path, sizeof(path), "../shared/ollama-templates/%s.gotmpl", f->name);
        size_t len;
        char *text = tu_read_file(path, &len);
        CHECK(text != NULL);
        if (text) {
            snprintf(name, sizeof(name), "ollama/%s", f->name);
            t[n].name = ol_strdup(name);
            t[n].text = text;
            t[n].len = len;
            n++;
        }
    }
    DIR *d = opendir("tests/data/templates/chat");
    CHECK(d != NULL);
    struct dirent *e;
    while (d && (e = readdir(d)) && n < cap) {
        size_t l = strlen(e->d_name);
        if (l < 8 || strcmp(e->d_name + l - 7, ".gotmpl") != 0) continue;
        char path[600];
        snprintf(path, sizeof(path), "tests/data/templates/chat/%s", e->d_name);
        size_t len;
        char *text = tu_read_file(path, &len);
        CHECK(text != NULL);
        if (!text) continue;
        char name[400];
        snprintf(name, sizeof(name), "extra/%s", e->d_name);
        t[n].name = ol_strdup(name);
        t[n].text = text;
        t[n].len = len;
        n++;
    }
    if (d) closedir(d);
    return n;
}

static void render_chat(const struct named_text *tmpl, const struct named_text *chat,
                        struct ol_buf *out, int *rc, struct ol_err *err) {
    struct tu_chat c;
    bool ok = tu_chat_parse(&c, chat->text, chat->len);
    CHECK(ok);
    struct tmpl *t = tmpl_parse(tmpl->text, tmpl->len, TMPL_PARSE_OLLAMA, err);
    if (!t) {
        *rc = err->code;
    } else {
        *rc = tmpl_render(t, &c.p, out, NULL, err);
    }
    tmpl_free(t);
    tu_chat_free(&c);
}

static void run_chats(void) {
    static struct named_text chats[128], tmpls[128];
    int n_chats = load_chats(chats, 128);
    int n_tmpls = load_templates(tmpls, 128);
    CHECK(n_chats > 0);
    CHECK(n_tmpls > 40);

    char corpus[4200];
    snprintf(corpus, sizeof(corpus), "%s/gotmpl-chats.txt", out_dir);
    FILE *f = fopen(corpus, "wb");
    CHECK(f != NULL);
    if (!f) return;
    for (int i = 0; i < n_tmpls; i++) {
        CHECK(memmem(tmpls[i].text, tmpls[i].len, "\n=== ", 5) == NULL);
        for (int j = 0; j < n_chats; j++) {
            fprintf(f, "=== %s|%s\n%.*s\n---\n", tmpls[i].name, chats[j].name, (int)chats[j].len,
                    chats[j].text);
            fwrite(tmpls[i].text, 1, tmpls[i].len, f);
            fputc('\n', f);
        }
    }
    fclose(f);

    int n = n_tmpls * n_chats;
    struct go_result *go = run_go("chat", corpus, "chats", n);
    CHECK(go != NULL);
    for (int i = 0; go && i < n_tmpls; i++) {
        for (int j = 0; j < n_chats; j++) {
            struct ol_buf out = {0};
            struct ol_err err = {0};
            int rc;
            render_chat(&tmpls[i], &chats[j], &out, &rc, &err);
            char name[600];
            snprintf(name, sizeof(name), "%s|%s", tmpls[i].name, chats[j].name);
            compare(name, &go[i * n_chats + j], rc, &out, &err);
            ol_buf_free(&out);
        }
    }
    free_results(go, n);

    /* Our family templates render exactly what Ollama's do, on every conversation. */
    for (int i = 0; i + 1 < n_tmpls; i++) {
        if (strncmp(tmpls[i].name, "ours/", 5) != 0 ||
            strncmp(tmpls[i + 1].name, "ollama/", 7) != 0)
            continue;
        for (int j = 0; j < n_chats; j++) {
            struct ol_buf a = {0}, b = {0};
            struct ol_err ea = {0}, eb = {0};
            int ra, rb;
            render_chat(&tmpls[i], &chats[j], &a, &ra, &ea);
            render_chat(&tmpls[i + 1], &chats[j], &b, &rb, &eb);
            bool same = ra == rb && a.len == b.len &&
                        memcmp(a.data ? a.data : "", b.data ? b.data : "", a.len) == 0;
            CHECK(same);
            if (!same)
                fprintf(stderr,
                        "%s differs from Ollama's on %s:\n  ours:   [%.*s]\n  ollama: [%.*s]\n",
                        tmpls[i].name, chats[j].name, (int)a.len, a.data ? a.data : "", (int)b.len,
                        b.data ? b.data : "");
            ol_buf_free(&a);
            ol_buf_free(&b);
        }
    }
    for (int i = 0; i < n_chats; i++) {
        free(chats[i].name);
        free(chats[i].text);
    }
    for (int i = 0; i < n_tmpls; i++) {
        free(tmpls[i].name);
        free(tmpls[i].text);
    }
}

int main(int argc, char **argv) {
    (void)argc;
    char self[4096];
    snprintf(self, sizeof(self), "%s", argv[0]);
    snprintf(out_dir, sizeof(out_dir), "%s", dirname(self));
    if (!have_go()) {
        fprintf(stderr, "FAIL: the Go toolchain is missing: the conformance test needs `go` "
                        "(Debian: apt-get install -y golang-go)\n");
        CHECK(0);
        return check_exit("test_template_go");
    }
    if (!build_gotmpl()) {
        CHECK(0);
        return check_exit("test_template_go");
    }
    run_values();
    run_chats();
    fprintf(stderr, "%d cases compared with Go, %d error texts worded differently\n", n_cases,
            n_msg_diffs);
    return check_exit("test_template_go");
}
