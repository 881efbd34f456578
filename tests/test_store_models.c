/* The store on disk: blob uploads, create (from GGUF files and from a model) with the exact
 * manifest, config and layer bytes, lookup by any case, list, copy, delete with pruning of
 * unshared blobs, OLLAMA_NOPRUNE, the startup prune, create's validation errors, hostile names,
 * and that no temp file is ever left behind. Uses a fresh folder under /tmp. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "store/internal.h"

#define GGUF_PATH SHARED("models/stories260K/stories260K.gguf")
#define GGUF_TMPL_PATH SHARED("models/ggml-vocab/ggml-vocab-dbrx.gguf")

static char root[256];
static struct store *st;

static const char *or_null(const char *s) { return s ? s : "(null)"; }

#define CHECK_TEXT(got, want)                                                                      \
    do {                                                                                           \
        const char *g_ = or_null(got), *w_ = (want);                                               \
        CHECK(strcmp(g_, w_) == 0);                                                                \
        if (strcmp(g_, w_) != 0) fprintf(stderr, "  got:  [%s]\n  want: [%s]\n", g_, w_);          \
    } while (0)

static char *read_all(const char *path, size_t *len) {
    char *data = NULL;
    struct ol_err err;
    if (ol_file_read(path, 1u << 30, &data, len, &err) < 0) {
        fprintf(stderr, "read %s: %s\n", path, err.msg);
        return NULL;
    }
    return data;
}

/* Number of regular files under dir (recursive); counts temp files in *n_tmp. */
static int count_files(const char *dir, int *n_tmp) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[1024];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) < 0) continue;
        if (S_ISDIR(sb.st_mode)) {
            n += count_files(p, n_tmp);
        } else {
            n++;
            if (n_tmp && (strstr(e->d_name, ".tmp-") || strstr(e->d_name, "tmp-"))) (*n_tmp)++;
        }
    }
    closedir(d);
    return n;
}

static int n_blobs(void) {
    char p[512];
    snprintf(p, sizeof(p), "%s/blobs", root);
    return count_files(p, NULL);
}

static void check_no_temp_files(void) {
    int n_tmp = 0;
    count_files(root, &n_tmp);
    CHECK_EQ(n_tmp, 0);
}

static void blob_path(const char *digest, char *buf, size_t cap) {
    CHECK(store_blob_path(st, digest, buf, cap) > 0);
}

static void set_mtime(const char *path, time_t sec) {
    struct timespec ts[2] = {{sec, 0}, {sec, 0}};
    CHECK_EQ(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* Uploads a file through the blob writer in uneven chunks; returns its digest. */
static void upload(const char *path, char digest[72]) {
    size_t len;
    char *data = read_all(path, &len);
    CHECK(data != NULL);
    if (!data) return;
    struct ol_err err;
    struct store_blob_writer *w = store_blob_writer_new(st, &err);
    CHECK(w != NULL);
    for (size_t off = 0; off < len;) {
        size_t n = OL_MIN(len - off, (size_t)7919);
        CHECK_EQ(store_blob_writer_write(w, data + off, n, &err), 0);
        off += n;
    }
    char hex[65], want[72];
    ol_sha256_hex(data, len, hex);
    snprintf(want, sizeof(want), "sha256-%s", hex); /* the dash form is accepted too */
    CHECK_EQ(store_blob_writer_commit(w, want, digest, &err), 0);
    CHECK(strncmp(digest, "sha256:", 7) == 0 && strcmp(digest + 7, hex) == 0);
    CHECK(store_blob_exists(st, digest));
    free(data);
}

static void test_blob_writer(void) {
    struct ol_err err;
    int before = n_blobs();
    struct store_blob_writer *w = store_blob_writer_new(st, &err);
    CHECK_EQ(store_blob_writer_write(w, "hello", 5, &err), 0);
    const char *wrong = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    CHECK_EQ(store_blob_writer_commit(w, wrong, NULL, &err), OL_EINVAL);
    CHECK_TEXT(err.msg, "digest mismatch, expected \"sha256:0000000000000000000000000000000000000"
                        "000000000000000000000000000\", got \"sha256:2cf24dba5fb0a30e26e83b2ac5b9e"
                        "29e1b161e5c1fa7425e73043362938b9824\"");
    CHECK_EQ(n_blobs(), before);
    w = store_blob_writer_new(st, &err);
    CHECK_EQ(store_blob_writer_write(w, "x", 1, &err), 0);
    store_blob_writer_abort(w);
    CHECK_EQ(n_blobs(), before);
    w = store_blob_writer_new(st, &err);
    CHECK_EQ(store_blob_writer_commit(w, "sha256:nothex", NULL, &err), OL_EINVAL);
    CHECK_TEXT(err.msg, "invalid digest format");
    CHECK_EQ(n_blobs(), before);
    store_blob_writer_abort(NULL);

    char d[72], p[512];
    CHECK_EQ(store_blob_put(st, "hello", 5, d, &err), 0);
    CHECK_TEXT(d, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    CHECK_EQ(store_blob_put(st, "hello", 5, d, &err), 1);
    CHECK(store_blob_exists(
        st, "sha256-2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824"));
    CHECK(!store_blob_exists(
        st, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9825"));
    CHECK(!store_blob_exists(st, "../../etc/passwd"));
    CHECK_EQ(store_blob_path(st, "sha256:../x", p, sizeof(p)), OL_EINVAL);
    blob_path(d, p, sizeof(p));
    struct stat sb;
    CHECK_EQ(stat(p, &sb), 0);
    CHECK_EQ(sb.st_mode & 0777, 0644);
    unlink(p);
    check_no_temp_files();
}

struct statuses {
    char lines[32][160];
    int n;
};

static void on_status(void *user, const char *s) {
    struct statuses *ss = user;
    if (ss->n < 32) snprintf(ss->lines[ss->n++], sizeof(ss->lines[0]), "%s", s);
}

static void text_digest(const char *text, char out[72]) {
    char hex[65];
    ol_sha256_hex(text, strlen(text), hex);
    snprintf(out, 72, "sha256:%s", hex);
}

static char model_digest[72];
static uint64_t model_size;

static void test_create_from_files(void) {
    upload(GGUF_PATH, model_digest);
    struct stat sb;
    stat(GGUF_PATH, &sb);
    model_size = (uint64_t)sb.st_size;

    const char *names[] = {"stories260K.gguf"};
    const char *digests[] = {model_digest};
    const char *lic[] = {"MIT <license>", "second"};
    struct store_create_req r = {
        .model = "Test/Stories:v1",
        .file_names = names,
        .file_digests = digests,
        .n_files = 1,
        .template_text = "{{ .System }} {{ .Prompt }}",
        .system_text = "sys",
        .licenses = lic,
        .n_licenses = 2,
        .params_json = "{\"temperature\":0.7,\"stop\":[\"<|eot_id|>\"],\"num_ctx\":4096}",
        .messages_json = "[{\"role\":\"user\",\"content\":\"hi <there>\"}]",
    };
    struct statuses ss = {0};
    struct ol_err err = {0};
    CHECK_EQ(store_create(st, &r, on_status, &ss, &err), 0);
    if (err.msg[0]) fprintf(stderr, "create: %s\n", err.msg);

    /* layer blobs hold exactly the Go encoder's bytes */
    const char *params =
        "{\"num_ctx\":4096,\"stop\":[\"\\u003c|eot_id|\\u003e\"],\"temperature\":0.7}\n";
    const char *messages = "[{\"role\":\"user\",\"content\":\"hi \\u003cthere\\u003e\"}]\n";
    const char *config = "{\"model_format\":\"gguf\",\"model_family\":\"llama\",\"model_families\":"
                         "[\"llama\"],\"model_type\":\"293K\",\"file_type\":\"unknown\","
                         "\"architecture\":\"amd64\",\"os\":\"linux\"}\n";
    char dt[72], ds[72], dl1[72], dl2[72], dp[72], dm[72], dc[72], p[512];
    text_digest(r.template_text, dt);
    text_digest("sys", ds);
    text_digest(lic[0], dl1);
    text_digest(lic[1], dl2);
    text_digest(params, dp);
    text_digest(messages, dm);
    text_digest(config, dc);
    size_t len;
    char *got;
    blob_path(dp, p, sizeof(p));
    got = read_all(p, &len);
    CHECK_TEXT(got, params);
    free(got);
    blob_path(dm, p, sizeof(p));
    got = read_all(p, &len);
    CHECK_TEXT(got, messages);
    free(got);
    blob_path(dc, p, sizeof(p));
    got = read_all(p, &len);
    CHECK_TEXT(got, config);
    free(got);

    char want[4096];
    snprintf(
        want, sizeof(want),
        "{\"schemaVersion\":2,\"mediaType\":\"application/"
        "vnd.docker.distribution.manifest.v2+json\","
        "\"config\":{\"mediaType\":\"application/"
        "vnd.docker.container.image.v1+json\",\"digest\":\"%s\",\"size\":%zu},"
        "\"layers\":["
        "{\"mediaType\":\"application/"
        "vnd.ollama.image.model\",\"digest\":\"%s\",\"size\":%llu,\"from\":\"stories260K.gguf\"},"
        "{\"mediaType\":\"application/vnd.ollama.image.template\",\"digest\":\"%s\",\"size\":%zu},"
        "{\"mediaType\":\"application/vnd.ollama.image.system\",\"digest\":\"%s\",\"size\":3},"
        "{\"mediaType\":\"application/vnd.ollama.image.license\",\"digest\":\"%s\",\"size\":%zu},"
        "{\"mediaType\":\"application/vnd.ollama.image.license\",\"digest\":\"%s\",\"size\":6},"
        "{\"mediaType\":\"application/vnd.ollama.image.params\",\"digest\":\"%s\",\"size\":%zu},"
        "{\"mediaType\":\"application/"
        "vnd.ollama.image.messages\",\"digest\":\"%s\",\"size\":%zu}]}\n",
        dc, strlen(config), model_digest, (unsigned long long)model_size, dt,
        strlen(r.template_text), ds, dl1, strlen(lic[0]), dl2, dp, strlen(params), dm,
        strlen(messages));
    snprintf(p, sizeof(p), "%s/manifests/registry.ollama.ai/Test/Stories/v1", root);
    char *man = read_all(p, &len);
    CHECK_TEXT(man, want);
    CHECK_EQ(stat(p, &sb), 0);
    CHECK_EQ(sb.st_mode & 0777, 0644);

    /* statuses, in order */
    CHECK_EQ(ss.n, 10);
    CHECK_TEXT(ss.lines[0], "parsing GGUF");
    char line[160];
    snprintf(line, sizeof(line), "using existing layer %s", model_digest);
    CHECK_TEXT(ss.lines[1], line);
    snprintf(line, sizeof(line), "creating new layer %s", dt);
    CHECK_TEXT(ss.lines[2], line);
    snprintf(line, sizeof(line), "creating new layer %s", dm);
    CHECK_TEXT(ss.lines[7], line);
    CHECK_TEXT(ss.lines[8], "writing manifest");
    CHECK_TEXT(ss.lines[9], "success");

    /* lookup in any case gives the stored spelling; ID = sha256 of the manifest bytes */
    struct store_model m;
    CHECK_EQ(store_model_get(st, "test/STORIES:V1", &m, &err), 0);
    char hex[65];
    ol_sha256_hex(man, len, hex);
    CHECK_TEXT(m.digest, hex);
    CHECK_TEXT(m.name.ns, "Test");
    CHECK_TEXT(m.name.model, "Stories");
    CHECK_TEXT(m.name.tag, "v1");
    CHECK_EQ(m.size, strlen(config) + model_size + strlen(r.template_text) + 3 + strlen(lic[0]) +
                         6 + strlen(params) + strlen(messages));
    blob_path(model_digest, p, sizeof(p));
    CHECK_TEXT(m.model_path, p);
    CHECK_TEXT(m.parent_model, "stories260K.gguf");
    CHECK_TEXT(m.template_text, r.template_text);
    CHECK_TEXT(m.system_text, "sys");
    CHECK_TEXT(m.params_json, params);
    CHECK_TEXT(m.messages_json, messages);
    CHECK_EQ(m.n_licenses, 2);
    CHECK_TEXT(m.licenses[0], lic[0]);
    CHECK_TEXT(m.format, "gguf");
    CHECK_TEXT(m.family, "llama");
    CHECK_TEXT(m.parameter_size, "293K");
    CHECK_TEXT(m.quantization_level, "unknown");
    CHECK(m.n_families == 1 && !m.families_null && !strcmp(m.families[0], "llama"));
    CHECK_EQ(m.n_layers, 7);
    CHECK_TEXT(m.config.media_type, STORE_MT_CONFIG);
    store_model_clear(&m);
    free(man);

    CHECK_EQ(store_model_get(st, "test/stories:v2", &m, &err), OL_ENOTFOUND);
    CHECK_TEXT(err.msg, "model 'test/stories:v2' not found");
    store_model_clear(&m);
    CHECK_EQ(store_model_get(st, "../../etc/passwd", &m, &err), OL_EINVAL);
    CHECK_TEXT(err.msg, "invalid model name");
    store_model_clear(&m);
    check_no_temp_files();
}

static void test_create_from_model(void) {
    struct statuses ss = {0};
    struct ol_err err;
    struct store_create_req r = {
        .model = "derived",
        .from = "TEST/stories:v1",
        .system_text = "new system",
        .params_json = "{\"temperature\":1,\"seed\":42}",
    };
    CHECK_EQ(store_create(st, &r, on_status, &ss, &err), 0);
    struct store_model m;
    CHECK_EQ(store_model_get(st, "derived", &m, &err), 0);
    /* base layers re-referenced with from = the base's short name, replaced ones appended */
    CHECK_EQ(m.n_layers, 7);
    for (int i = 0; i < m.n_layers - 2; i++)
        CHECK_TEXT(m.layers[i].from, "Test/Stories:v1");
    CHECK_TEXT(m.layers[m.n_layers - 2].media_type, STORE_MT_SYSTEM);
    CHECK(m.layers[m.n_layers - 2].from == NULL);
    CHECK_TEXT(m.layers[m.n_layers - 1].media_type, STORE_MT_PARAMS);
    CHECK_TEXT(m.system_text, "new system");
    CHECK_TEXT(m.params_json, "{\"num_ctx\":4096,\"seed\":42,\"stop\":[\"\\u003c|eot_id|\\u003e\"],"
                              "\"temperature\":1}\n");
    CHECK_TEXT(m.parent_model, "Test/Stories:v1");
    CHECK_TEXT(m.family, "llama");
    CHECK_TEXT(m.parameter_size, "293K");
    CHECK_TEXT(ss.lines[ss.n - 1], "success");
    store_model_clear(&m);

    /* from a model that is not local (pull is a later issue) */
    r.from = "not-here";
    CHECK_EQ(store_create(st, &r, NULL, NULL, &err), OL_ENOTFOUND);
    CHECK_TEXT(err.msg, "pull model manifest: file does not exist");
    check_no_temp_files();
}

static void test_detect_template(void) {
    char d[72];
    upload(GGUF_TMPL_PATH, d);
    const char *names[] = {"dbrx.gguf"};
    const char *digests[] = {d};
    struct store_create_req r = {
        .model = "detected", .file_names = names, .file_digests = digests, .n_files = 1};
    r.detect_template = NULL;
    struct statuses ss = {0};
    struct ol_err err;
    int calls = 0;
    (void)calls;
    CHECK_EQ(store_create(st, &r, on_status, &ss, &err), 0);
    struct store_model m;
    CHECK_EQ(store_model_get(st, "detected", &m, &err), 0);
    CHECK(m.template_text == NULL && m.params_json == NULL);
    store_model_clear(&m);
    CHECK_EQ(store_model_delete(st, "detected", &err), 0);
    CHECK(!store_blob_exists(st, d));
}

static const char *detect_chatml(void *user, const char *chat_template, const char **params,
                                 const char **family) {
    int *calls = user;
    (*calls)++;
    CHECK(strstr(chat_template, "im_start") != NULL);
    *params = "{\"stop\":[\"<|im_start|>\",\"<|im_end|>\"]}";
    *family = "chatml";
    return "{{ .Prompt }}";
}

static void test_detect_template_cb(void) {
    char d[72];
    upload(GGUF_TMPL_PATH, d);
    const char *names[] = {"dbrx.gguf"};
    const char *digests[] = {d};
    int calls = 0;
    struct store_create_req r = {.model = "detected",
                                 .file_names = names,
                                 .file_digests = digests,
                                 .n_files = 1,
                                 .detect_template = detect_chatml,
                                 .detect_user = &calls};
    struct statuses ss = {0};
    struct ol_err err;
    CHECK_EQ(store_create(st, &r, on_status, &ss, &err), 0);
    CHECK_EQ(calls, 1);
    CHECK_TEXT(ss.lines[2], "using autodetected template chatml");
    struct store_model m;
    CHECK_EQ(store_model_get(st, "detected", &m, &err), 0);
    CHECK_TEXT(m.template_text, "{{ .Prompt }}");
    CHECK_TEXT(m.params_json,
               "{\"stop\":[\"\\u003c|im_start|\\u003e\",\"\\u003c|im_end|\\u003e\"]}\n");
    store_model_clear(&m);

    /* a request template replaces the detected one; request params merge over its stop list */
    r.template_text = "T2";
    r.params_json = "{\"temperature\":0.5}";
    CHECK_EQ(store_create(st, &r, NULL, NULL, &err), 0);
    CHECK_EQ(store_model_get(st, "detected", &m, &err), 0);
    CHECK_TEXT(m.template_text, "T2");
    CHECK_TEXT(m.params_json, "{\"stop\":[\"\\u003c|im_start|\\u003e\",\"\\u003c|im_end|\\u003e\"],"
                              "\"temperature\":0.5}\n");
    store_model_clear(&m);
    /* the overwritten manifest's own blobs that nothing uses any more are gone */
    char dt[72];
    text_digest("{{ .Prompt }}", dt);
    CHECK(!store_blob_exists(st, dt));
    CHECK_EQ(store_model_delete(st, "detected", &err), 0);
    CHECK(!store_blob_exists(st, d));
    check_no_temp_files();
}

static void test_list(void) {
    char p1[512], p2[512];
    snprintf(p1, sizeof(p1), "%s/manifests/registry.ollama.ai/Test/Stories/v1", root);
    snprintf(p2, sizeof(p2), "%s/manifests/registry.ollama.ai/library/derived/latest", root);
    set_mtime(p1, 2000000000);
    set_mtime(p2, 1900000000);
    /* junk that listing must skip */
    char junk[512];
    snprintf(junk, sizeof(junk), "%s/manifests/registry.ollama.ai/library/junk", root);
    store_mkdirs(junk, NULL);
    strcat(junk, "/latest");
    ol_file_write_atomic(junk, "{not json", 9, NULL);
    snprintf(junk, sizeof(junk), "%s/manifests/registry.ollama.ai/library/.bad", root);
    store_mkdirs(junk, NULL);
    strcat(junk, "/latest");
    ol_file_write_atomic(junk, "{}", 2, NULL);

    struct store_model *list;
    int n;
    struct ol_err err;
    CHECK_EQ(store_model_list(st, &list, &n, &err), 0);
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_TEXT(list[0].name.model, "Stories");
        CHECK_TEXT(list[1].name.model, "derived");
        CHECK_EQ(list[0].modified_ns, 2000000000LL * 1000000000LL);
        char full[700];
        store_name_short(&list[1].name, full, sizeof(full));
        CHECK_TEXT(full, "derived:latest");
        CHECK(list[0].size > model_size);
        CHECK_TEXT(list[0].quantization_level, "unknown");
    }
    store_model_list_free(list, n);
    set_mtime(p1, 1800000000);
    CHECK_EQ(store_model_list(st, &list, &n, &err), 0);
    CHECK(n == 2 && !strcmp(list[0].name.model, "derived"));
    store_model_list_free(list, n);

    /* corrupt manifest: startup prune is skipped entirely */
    CHECK_EQ(store_prune(st, &err), 0);
    snprintf(junk, sizeof(junk), "%s/manifests/registry.ollama.ai/library/junk/latest", root);
    unlink(junk);
    rmdir(strrchr(junk, '/') ? (*strrchr(junk, '/') = 0, junk) : junk);
    snprintf(junk, sizeof(junk), "%s/manifests/registry.ollama.ai/library/.bad/latest", root);
    unlink(junk);
    *strrchr(junk, '/') = 0;
    rmdir(junk);
}

static void test_copy(void) {
    struct ol_err err;
    CHECK_EQ(store_model_copy(st, "DERIVED", "copy1", &err), 0);
    char a[512], b[512];
    snprintf(a, sizeof(a), "%s/manifests/registry.ollama.ai/library/derived/latest", root);
    snprintf(b, sizeof(b), "%s/manifests/registry.ollama.ai/library/copy1/latest", root);
    size_t la, lb;
    char *da = read_all(a, &la), *db = read_all(b, &lb);
    CHECK(da && db && la == lb && memcmp(da, db, la) == 0);
    free(da);
    free(db);
    CHECK_EQ(store_model_copy(st, "derived", "Derived:latest", &err), 0); /* same model: no-op */
    CHECK_EQ(store_model_copy(st, "a/b/c/d", "x", &err), OL_EINVAL);
    CHECK_TEXT(err.msg, "source \"a/b/c/d\" is invalid");
    CHECK_EQ(store_model_copy(st, "derived", "../x", &err), OL_EINVAL);
    CHECK_TEXT(err.msg, "destination \"../x\" is invalid");
    CHECK_EQ(store_model_copy(st, "missing", "x", &err), OL_ENOTFOUND);
    CHECK_TEXT(err.msg, "model \"missing\" not found");
    check_no_temp_files();
}

static void test_delete(void) {
    struct ol_err err;
    char ds[72], dnew[72];
    text_digest("sys", ds);
    text_digest("new system", dnew);
    CHECK(store_blob_exists(st, ds));
    CHECK_EQ(store_model_delete(st, "x/../y", &err), OL_EINVAL);
    CHECK_TEXT(err.msg, "name \"x/../y\" is invalid");
    CHECK_EQ(store_model_delete(st, "nope", &err), OL_ENOTFOUND);
    CHECK_TEXT(err.msg, "model 'nope' not found");

    /* base deleted: shared blobs stay, the old system prompt only it used goes */
    CHECK_EQ(store_model_delete(st, "test/stories:v1", &err), 0);
    CHECK(store_blob_exists(st, model_digest));
    CHECK(!store_blob_exists(st, ds));
    char p[512];
    snprintf(p, sizeof(p), "%s/manifests/registry.ollama.ai/Test", root);
    CHECK(access(p, F_OK) != 0); /* empty folders pruned */

    CHECK_EQ(store_model_delete(st, "derived", &err), 0);
    CHECK(store_blob_exists(st, model_digest)); /* copy1 still uses it */
    CHECK(store_blob_exists(st, dnew));

    /* OLLAMA_NOPRUNE keeps unreferenced blobs */
    setenv("OLLAMA_NOPRUNE", "\"true\"", 1);
    CHECK(store_env_noprune());
    CHECK_EQ(store_model_copy(st, "copy1", "copy2", &err), 0);
    CHECK_EQ(store_model_delete(st, "copy1", &err), 0);
    CHECK_EQ(store_model_delete(st, "copy2", &err), 0);
    CHECK(store_blob_exists(st, model_digest));
    CHECK_EQ(store_prune(st, &err), 0);
    setenv("OLLAMA_NOPRUNE", "false", 1);
    CHECK(!store_env_noprune());
    unsetenv("OLLAMA_NOPRUNE");

    /* startup prune: recent files are spared, old unreferenced ones and temps go */
    int before = n_blobs();
    CHECK(before >= 3);
    CHECK_EQ(store_prune(st, &err), 0);
    CHECK_EQ(n_blobs(), before);
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s/blobs/sha256-tmp-abcdef", root);
    ol_file_write_atomic(tmp, "x", 1, NULL);
    snprintf(p, sizeof(p), "%s/blobs", root);
    DIR *d = opendir(p);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char f[1024];
        snprintf(f, sizeof(f), "%s/%s", p, e->d_name);
        set_mtime(f, 1000000000);
    }
    closedir(d);
    CHECK_EQ(store_prune(st, &err), before + 1);
    CHECK_EQ(n_blobs(), 0);
    snprintf(p, sizeof(p), "%s/manifests", root);
    CHECK_EQ(count_files(p, NULL), 0);
}

static void test_create_errors(void) {
    char d[72];
    struct ol_err err;
    CHECK_EQ(store_blob_put(st, "not a gguf file", 15, d, &err), 0);
    const char *digests[] = {d, d};
    struct {
        const char *model, *from, *name, *digest, *quantize;
        int n_adapters;
        int code;
        const char *msg;
    } cases[] = {
        {"bad name!", NULL, "m.gguf", d, NULL, 0, OL_EINVAL, "invalid model name"},
        {"m", NULL, "../m.gguf", d, NULL, 0, OL_EINVAL, "file path must be relative"},
        {"m", NULL, "/abs/m.gguf", d, NULL, 0, OL_EINVAL, "file path must be relative"},
        {"m", NULL, "a/./m.gguf", d, NULL, 0, OL_EINVAL, "file path must be relative"},
        {"m", NULL, "a\\m.gguf", d, NULL, 0, OL_EINVAL, "file path must be relative"},
        {"m", NULL, "C:m.gguf", d, NULL, 0, OL_EINVAL, "file path must be relative"},
        {"m", NULL, ".", d, NULL, 0, OL_EINVAL, "file path must be relative"},
        {"m", NULL, "m.gguf", "", NULL, 0, OL_EINVAL, "invalid digest format"},
        {"m", NULL, "m.gguf", "sha256:12", NULL, 0, OL_EINVAL, "invalid digest format"},
        {"m", NULL, NULL, NULL, NULL, 0, OL_EINVAL, "neither 'from' or 'files' was specified"},
        {"m", NULL, "m.gguf", d, NULL, 2, OL_EINVAL, "only one adapter is currently supported"},
        {"m", NULL, "m.gguf", d, NULL, 0, OL_EINVAL, "supplied file was not in GGUF format"},
        {"m", NULL, "notes.txt", d, NULL, 0, OL_EINVAL, "unknown type"},
        {"m", NULL, "model.safetensors", d, NULL, 0, OL_EINVAL, "unknown type"},
        {"m", NULL, "m.gguf",
         "sha256:1111111111111111111111111111111111111111111111111111111111111111", NULL, 0,
         OL_ENOTFOUND,
         "blob \"sha256:1111111111111111111111111111111111111111111111111111111111111111\" not "
         "found"},
        {"m", NULL, "m.gguf", model_digest, "q9_9", 0, OL_EINVAL,
         "unsupported quantization type Q9_9 - supported types are F32, F16, Q4_K_S, Q4_K_M, Q8_0"},
        {"m", NULL, "m.gguf", model_digest, "q4_K_M", 0, OL_EINVAL,
         "quantization is only supported for F16, BF16 and F32 models"},
        {"m", "bad name!", NULL, NULL, NULL, 0, OL_EINVAL, "invalid model name"},
    };
    upload(GGUF_PATH, model_digest);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *names[] = {cases[i].name, "adapter2.gguf"};
        const char *dg[] = {cases[i].digest, d};
        struct store_create_req r = {.model = cases[i].model,
                                     .from = cases[i].from,
                                     .file_names = names,
                                     .file_digests = dg,
                                     .n_files = cases[i].name ? 1 : 0,
                                     .adapter_names = names,
                                     .adapter_digests = digests,
                                     .n_adapters = cases[i].n_adapters,
                                     .quantize = cases[i].quantize};
        memset(&err, 0, sizeof(err));
        CHECK_EQ(store_create(st, &r, NULL, NULL, &err), cases[i].code);
        CHECK_TEXT(err.msg, cases[i].msg);
    }
    /* bad JSON in params/messages fails before any manifest is written */
    const char *names[] = {"m.gguf"};
    const char *dg[] = {model_digest};
    struct store_create_req r = {.model = "m",
                                 .file_names = names,
                                 .file_digests = dg,
                                 .n_files = 1,
                                 .system_text = "s",
                                 .params_json = "[1]"};
    CHECK_EQ(store_create(st, &r, NULL, NULL, &err), OL_EINVAL);
    r.params_json = NULL;
    r.messages_json = "{}";
    CHECK_EQ(store_create(st, &r, NULL, NULL, &err), OL_EINVAL);
    struct store_model m;
    CHECK_EQ(store_model_get(st, "m", &m, &err), OL_ENOTFOUND);
    store_model_clear(&m);
    check_no_temp_files();
}

static void test_hostile_names(void) {
    const char *bad[] = {"../../etc/passwd", "..",    "a/../../b", "x:../../y", "/etc/passwd",
                         "h/ns/m/extra",     "m:t/u", "\xff\xfe",  ""};
    struct ol_err err;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct store_model m;
        CHECK_EQ(store_model_get(st, bad[i], &m, &err), OL_EINVAL);
        store_model_clear(&m);
        CHECK_EQ(store_model_delete(st, bad[i], &err), OL_EINVAL);
        CHECK_EQ(store_model_copy(st, bad[i], "ok", &err), OL_EINVAL);
        const char *names[] = {"m.gguf"};
        const char *dg[] = {model_digest};
        struct store_create_req r = {
            .model = bad[i], .file_names = names, .file_digests = dg, .n_files = 1};
        CHECK_EQ(store_create(st, &r, NULL, NULL, &err), OL_EINVAL);
    }
}

static void test_case_overwrite_and_legacy(void) {
    const char *names[] = {"m.gguf"};
    const char *dg[] = {model_digest};
    struct ol_err err;
    struct store_create_req r = {.model = "MyModel:Tag",
                                 .file_names = names,
                                 .file_digests = dg,
                                 .n_files = 1,
                                 .system_text = "one"};
    CHECK_EQ(store_create(st, &r, NULL, NULL, &err), 0);
    r.model = "mymodel:tag";
    r.system_text = "two";
    CHECK_EQ(store_create(st, &r, NULL, NULL, &err), 0);
    struct store_model *list;
    int n;
    CHECK_EQ(store_model_list(st, &list, &n, &err), 0);
    CHECK_EQ(n, 1);
    if (n == 1) {
        CHECK_TEXT(list[0].name.model, "MyModel");
        CHECK_TEXT(list[0].name.tag, "Tag");
    }
    store_model_list_free(list, n);
    char d1[72];
    text_digest("one", d1);
    CHECK(!store_blob_exists(st, d1)); /* the overwritten manifest's system blob was pruned */

    /* legacy "sha256:<hex>" blob names are renamed at open */
    char legacy[512], dash[512];
    const char *hex = "abababababababababababababababababababababababababababababababab";
    snprintf(legacy, sizeof(legacy), "%s/blobs/sha256:%s", root, hex);
    snprintf(dash, sizeof(dash), "%s/blobs/sha256-%s", root, hex);
    ol_file_write_atomic(legacy, "z", 1, NULL);
    store_close(st);
    st = store_open(root, &err);
    CHECK(st != NULL);
    CHECK(access(dash, F_OK) == 0 && access(legacy, F_OK) != 0);
    CHECK_EQ(store_model_delete(st, "MYMODEL:TAG", &err), 0);
    check_no_temp_files();
}

static void test_open_env(void) {
    char p[512];
    snprintf(p, sizeof(p), "%s/envroot", root);
    char quoted[600];
    snprintf(quoted, sizeof(quoted), " '%s' ", p);
    setenv("OLLAMA_MODELS", quoted, 1);
    struct ol_err err;
    struct store *s2 = store_open(NULL, &err);
    CHECK(s2 != NULL);
    if (s2) CHECK_TEXT(store_root(s2), p);
    store_close(s2);
    unsetenv("OLLAMA_MODELS");
    snprintf(p, sizeof(p), "%s/envroot/manifests", root);
    CHECK(access(p, F_OK) == 0);
}

int main(void) {
    unsetenv("OLLAMA_NOPRUNE");
    snprintf(root, sizeof(root), "/tmp/ollama-store-test-XXXXXX");
    if (!mkdtemp(root)) return 1;
    struct ol_err err;
    st = store_open(root, &err);
    CHECK(st != NULL);
    if (!st) return check_exit("test_store_models");
    test_blob_writer();
    test_create_from_files();
    test_create_from_model();
    test_detect_template();
    test_detect_template_cb();
    test_list();
    test_copy();
    test_delete();
    test_create_errors();
    test_hostile_names();
    test_case_overwrite_and_legacy();
    test_open_env();
    store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    return check_exit("test_store_models");
}
