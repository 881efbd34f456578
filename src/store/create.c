/* Model creation (spec: api.md §5.3): from GGUF blobs or from another model, plus template,
 * system, license, params and messages layers and a fresh config blob.
 *
 * The layers are assembled in memory exactly as Ollama orders them (base layers, detected
 * template, then the request's template, system, licenses, params, messages, each replacing
 * layers of its type by appending at the end), every new text is stored as a blob, and only then
 * is the manifest written (atomically). Blobs replaced or orphaned by an overwrite are pruned
 * afterwards, under the store lock. */
#include "store/internal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "engine/engine.h"

struct layer_entry {
    struct store_layer l;
    char *status; /* progress line reported before "writing manifest", or NULL */
};

struct create_state {
    struct store *s;
    struct layer_entry *v;
    int n, cap;
    const char **removed; /* digests of layers dropped by a replacement (owned strings) */
    int n_removed;
    /* config blob fields */
    char *format, *family, *model_type, *file_type;
    char **families;
    int n_families;
    json_t *extra;       /* newer optional config fields kept from a base model, or NULL */
    char *chat_template; /* tokenizer.chat_template of the model GGUF */
    bool from_files;
    bool quantize_pending;
};

static void state_free(struct create_state *c) {
    for (int i = 0; i < c->n; i++) {
        store_layer_clear(&c->v[i].l);
        free(c->v[i].status);
    }
    free(c->v);
    for (int i = 0; i < c->n_removed; i++)
        free((char *)c->removed[i]);
    free(c->removed);
    free(c->format);
    free(c->family);
    free(c->model_type);
    free(c->file_type);
    for (int i = 0; i < c->n_families; i++)
        free(c->families[i]);
    free(c->families);
    json_decref(c->extra);
    free(c->chat_template);
}

static int oom(struct ol_err *err) { return ol_err_set(err, OL_ENOMEM, "out of memory"); }

/* Appends a layer (takes ownership of l's strings and of status, also on failure). */
static int push_layer(struct create_state *c, struct store_layer *l, char *status) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 8;
        void *p = ol_realloc_array(c->v, (size_t)cap, sizeof(*c->v));
        if (!p) {
            store_layer_clear(l);
            free(status);
            return OL_ENOMEM;
        }
        c->v = p;
        c->cap = cap;
    }
    c->v[c->n].l = *l;
    c->v[c->n].status = status;
    c->n++;
    memset(l, 0, sizeof(*l));
    return 0;
}

/* Drops every layer of the given media types, remembering their digests for pruning. */
static int remove_layers(struct create_state *c, const char *mt1, const char *mt2) {
    int k = 0;
    for (int i = 0; i < c->n; i++) {
        const char *mt = c->v[i].l.media_type;
        if (strcmp(mt, mt1) != 0 && !(mt2 && strcmp(mt, mt2) == 0)) {
            c->v[k++] = c->v[i];
            continue;
        }
        void *p = ol_realloc_array(c->removed, (size_t)c->n_removed + 1, sizeof(*c->removed));
        char *d = ol_strdup(c->v[i].l.digest);
        if (!p || !d) {
            free(d);
            if (p) c->removed = p;
            for (int j = i; j < c->n; j++) /* keep the array consistent for state_free */
                c->v[k++] = c->v[j];
            c->n = k;
            return OL_ENOMEM;
        }
        c->removed = p;
        c->removed[c->n_removed++] = d;
        store_layer_clear(&c->v[i].l);
        free(c->v[i].status);
    }
    c->n = k;
    return 0;
}

static char *status_for(int existed, const char *digest) {
    char buf[128];
    snprintf(buf, sizeof(buf), "%s %s", existed ? "using existing layer" : "creating new layer",
             digest);
    return ol_strdup(buf);
}

/* Stores text as a blob and appends a layer for it. status_override replaces the usual
 * "creating new layer"/"using existing layer" line. */
static int add_text_layer(struct create_state *c, const char *mt, const char *text, size_t len,
                          const char *status_override, struct ol_err *err) {
    struct store_layer l = {0};
    int existed = store_blob_put(c->s, text, len, l.digest, err);
    if (existed < 0) return existed;
    snprintf(l.media_type, sizeof(l.media_type), "%s", mt);
    l.size = len;
    char *status = status_override ? ol_strdup(status_override) : status_for(existed, l.digest);
    if (!status || push_layer(c, &l, status) < 0) return oom(err);
    return 0;
}

/* ---- request checks ---- */

/* Go's fs.ValidPath plus Ollama's extra refusals ('\\', ':', "."). */
static bool file_name_ok(const char *p) {
    if (!p || !*p || strcmp(p, ".") == 0 || strpbrk(p, "\\:")) return false;
    for (const char *e = p;;) {
        const char *slash = strchr(e, '/');
        size_t n = slash ? (size_t)(slash - e) : strlen(e);
        if (n == 0 || (n == 1 && e[0] == '.') || (n == 2 && e[0] == '.' && e[1] == '.'))
            return false;
        if (!slash) return true;
        e = slash + 1;
    }
}

static int check_files(const char *const *names, const char *const *digests, int n,
                       struct ol_err *err) {
    for (int i = 0; i < n; i++) {
        if (!file_name_ok(names[i]))
            return ol_err_set(err, OL_EINVAL, "file path must be relative");
        if (!store_digest_is_valid(digests[i]))
            return ol_err_set(err, OL_EINVAL, "invalid digest format");
    }
    return 0;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Reads the first 4 bytes of a blob: true when they are a GGUF magic. */
static bool blob_has_gguf_magic(const char *path) {
    char magic[4];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok =
        read(fd, magic, 4) == 4 && (memcmp(magic, "GGUF", 4) == 0 || memcmp(magic, "FUGG", 4) == 0);
    close(fd);
    return ok;
}

/* ---- GGUF metadata through the engine ---- */

static bool meta_str(const struct eng_model *m, const char *key, const char **s, size_t *len) {
    struct eng_meta_value v;
    int i = eng_model_meta_find(m, key);
    if (i < 0 || !eng_model_meta_at(m, i, &v) || v.type != ENG_META_STRING) return false;
    *s = v.str;
    *len = v.str_len;
    return true;
}

static uint64_t meta_uint(const struct eng_model *m, const char *key) {
    struct eng_meta_value v;
    int i = eng_model_meta_find(m, key);
    if (i < 0 || !eng_model_meta_at(m, i, &v)) return 0;
    if (v.type == ENG_META_UINT) return v.u;
    if (v.type == ENG_META_INT) return v.i > 0 ? (uint64_t)v.i : 0;
    if (v.type == ENG_META_BOOL) return v.b;
    return 0;
}

static bool meta_str_is(const struct eng_model *m, const char *key, const char *want) {
    const char *s;
    size_t len;
    return meta_str(m, key, &s, &len) && len == strlen(want) && memcmp(s, want, len) == 0;
}

/* The layer type a GGUF file becomes (modelfile.md §3, server side). */
static const char *gguf_media_type(const struct eng_model *m, const char *arch) {
    if (meta_str_is(m, "general.type", "adapter")) return STORE_MT_ADAPTER;
    if (meta_str_is(m, "general.type", "projector") || meta_str_is(m, "general.type", "mmproj"))
        return STORE_MT_PROJECTOR;
    char key[160];
    snprintf(key, sizeof(key), "%s.block_count", arch);
    uint64_t blocks = meta_uint(m, key);
    if (blocks == 0 && meta_uint(m, "vision.block_count") > 0) return STORE_MT_PROJECTOR;
    if (strcmp(arch, "clip") == 0 && blocks == 0 &&
        (meta_uint(m, "has_vision_encoder") || meta_uint(m, "has_audio_encoder")))
        return STORE_MT_PROJECTOR;
    return STORE_MT_MODEL;
}

/* cli.md §4.1 HumanNumber. */
static void human_number(uint64_t b, char *buf, size_t cap) {
    double x = (double)b;
    if (b >= 1000000000ull) {
        double v = x / 1e9;
        snprintf(buf, cap, v == (double)(uint64_t)v ? "%.0fB" : "%.1fB", v);
    } else if (b >= 1000000ull) {
        double v = x / 1e6;
        snprintf(buf, cap, v == (double)(uint64_t)v ? "%.0fM" : "%.2fM", v);
    } else if (b >= 1000ull) {
        snprintf(buf, cap, "%.0fK", x / 1e3);
    } else {
        snprintf(buf, cap, "%llu", (unsigned long long)b);
    }
}

static int add_family(struct create_state *c, const char *arch) {
    for (int i = 0; i < c->n_families; i++)
        if (strcmp(c->families[i], arch) == 0) return 0;
    char *d = ol_strdup(arch);
    void *p = d ? ol_realloc_array(c->families, (size_t)c->n_families + 1, sizeof(char *)) : NULL;
    if (!p) {
        free(d);
        return OL_ENOMEM;
    }
    c->families = p;
    c->families[c->n_families++] = d;
    return 0;
}

static int set_str(char **dst, const char *s) {
    free(*dst);
    *dst = ol_strdup(s);
    return *dst ? 0 : OL_ENOMEM;
}

/* One GGUF blob -> one layer with from = its file name. forced_mt: adapters. */
static int add_gguf_layer(struct create_state *c, const char *file_name, const char *digest,
                          const char *forced_mt, store_status_fn cb, void *user,
                          struct ol_err *err) {
    char path[PATH_MAX];
    store_blob_path(c->s, digest, path, sizeof(path));
    if (access(path, F_OK) != 0)
        return ol_err_set(err, OL_ENOTFOUND, "blob \"sha256:%s\" not found", digest + 7);
    if (!blob_has_gguf_magic(path))
        return ol_err_set(err, OL_EINVAL, "supplied file was not in GGUF format");
    if (cb) cb(user, "parsing GGUF");
    struct eng_model_params mp = eng_model_default_params();
    mp.vocab_only = true;
    struct ol_err e = {0};
    struct eng_model *m = eng_model_load(path, &mp, &e);
    if (!m) {
        return ol_err_set(err, e.code == OL_EFORMAT ? OL_EINVAL : e.code, "%s: %s", file_name,
                          e.msg);
    }
    struct eng_model_info info;
    eng_model_get_info(m, &info);
    const char *mt = forced_mt ? forced_mt : gguf_media_type(m, info.arch);
    int rc = 0;
    if (strcmp(mt, STORE_MT_MODEL) == 0 && !c->format) {
        char num[32];
        human_number(info.n_params, num, sizeof(num));
        const char *tmpl;
        size_t tlen;
        rc = set_str(&c->format, "gguf");
        if (!rc) rc = set_str(&c->family, info.arch);
        if (!rc) rc = set_str(&c->model_type, num);
        if (!rc) rc = set_str(&c->file_type, info.file_type ? info.file_type : "unknown");
        if (!rc && meta_str(m, "tokenizer.chat_template", &tmpl, &tlen) && tlen &&
            !(c->chat_template = ol_strndup(tmpl, tlen)))
            rc = OL_ENOMEM;
    }
    if (!rc && (strcmp(mt, STORE_MT_MODEL) == 0 || strcmp(mt, STORE_MT_PROJECTOR) == 0))
        rc = add_family(c, info.arch);
    eng_model_free(m);
    if (rc < 0) return oom(err);

    struct store_layer l = {0};
    snprintf(l.media_type, sizeof(l.media_type), "%s", mt);
    snprintf(l.digest, sizeof(l.digest), "sha256:%s", digest + 7);
    for (char *p = l.digest + 7; *p; p++)
        if (*p >= 'A' && *p <= 'F') *p = (char)(*p + 32);
    uint64_t size = 0;
    struct ol_err se;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ol_fd_size(fd, &size, &se) < 0) {
        if (fd >= 0) close(fd);
        return ol_err_sys(err, OL_EIO, "open %s", path);
    }
    close(fd);
    l.size = size;
    l.from = ol_strdup(file_name);
    char *status = status_for(1, l.digest);
    store_blob_touch(c->s, l.digest);
    if (!l.from || !status || push_layer(c, &l, status) < 0) {
        store_layer_clear(&l);
        free(status);
        return oom(err);
    }
    return 0;
}

static int cmp_index_by_name(const void *a, const void *b, void *names) {
    const char *const *n = names;
    return strcmp(n[*(const int *)a], n[*(const int *)b]);
}

static int layers_from_files(struct create_state *c, const struct store_create_req *r,
                             store_status_fn cb, void *user, struct ol_err *err) {
    int *order = ol_calloc_array((size_t)r->n_files, sizeof(*order));
    if (!order) return oom(err);
    for (int i = 0; i < r->n_files; i++)
        order[i] = i;
    qsort_r(order, (size_t)r->n_files, sizeof(*order), cmp_index_by_name, (void *)r->file_names);

    /* Classify first, as Ollama does, so a bad mix fails before anything is parsed. */
    int n_gguf = 0, rc = 0;
    for (int k = 0; k < r->n_files && rc == 0; k++) {
        const char *name = r->file_names[order[k]], *digest = r->file_digests[order[k]];
        char path[PATH_MAX];
        store_blob_path(c->s, digest, path, sizeof(path));
        if (ends_with(name, ".safetensors")) {
            rc = ol_err_set(err, OL_EINVAL, "unknown type"); /* conversion: not supported */
        } else if (ends_with(name, ".gguf")) {
            n_gguf++;
        } else if (access(path, F_OK) != 0) {
            rc = ol_err_set(err, OL_ENOTFOUND, "blob \"sha256:%s\" not found", digest + 7);
        } else if (blob_has_gguf_magic(path)) {
            n_gguf++;
        }
    }
    if (rc == 0 && n_gguf == 0) rc = ol_err_set(err, OL_EINVAL, "unknown type");
    for (int k = 0; k < r->n_files && rc == 0; k++) {
        const char *name = r->file_names[order[k]], *digest = r->file_digests[order[k]];
        char path[PATH_MAX];
        store_blob_path(c->s, digest, path, sizeof(path));
        if (!ends_with(name, ".gguf") && !blob_has_gguf_magic(path)) continue; /* e.g. json */
        rc = add_gguf_layer(c, name, digest, NULL, cb, user, err);
    }
    free(order);
    return rc;
}

/* Reads the base model's config blob into the state (Ollama: *config = baseConfig). */
static int config_from_base(struct create_state *c, const struct store_manifest *mf,
                            struct ol_err *err) {
    char *data;
    size_t len;
    int rc = store_blob_read(c->s, mf->config.digest, &data, &len, err);
    if (rc < 0) return rc;
    json_error_t jerr;
    json_t *o = json_loadb(data, len, 0, &jerr);
    free(data);
    if (!json_is_object(o)) {
        json_decref(o);
        return ol_err_set(err, OL_EFORMAT, "config blob %s is not a JSON object",
                          mf->config.digest);
    }
    static const char *const strs[][2] = {
        {"model_format", NULL}, {"model_family", NULL}, {"model_type", NULL}, {"file_type", NULL}};
    char **dst[] = {&c->format, &c->family, &c->model_type, &c->file_type};
    for (size_t i = 0; rc == 0 && i < OL_ARRAY_LEN(strs); i++) {
        const char *v = json_string_value(json_object_get(o, strs[i][0]));
        if (v && *v) rc = set_str(dst[i], v);
    }
    json_t *fam = json_object_get(o, "model_families");
    for (size_t i = 0; rc == 0 && json_is_array(fam) && i < json_array_size(fam); i++) {
        const char *f = json_string_value(json_array_get(fam, i));
        if (f) rc = add_family(c, f);
    }
    static const char *const extras[] = {"renderer",       "parser",           "requires",
                                         "remote_host",    "remote_model",     "capabilities",
                                         "context_length", "embedding_length", "base_name"};
    c->extra = json_object();
    if (!c->extra) rc = OL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < OL_ARRAY_LEN(extras); i++) {
        json_t *v = json_object_get(o, extras[i]);
        if (v && json_object_set(c->extra, extras[i], v) < 0) rc = OL_ENOMEM;
    }
    json_decref(o);
    return rc < 0 ? oom(err) : 0;
}

static int layers_from_model(struct create_state *c, const char *from, struct ol_err *err) {
    struct store_name n;
    if (store_name_parse(from, &n) < 0) return ol_err_set(err, OL_EINVAL, "invalid model name");
    store_name_resolve(c->s, &n);
    struct store_manifest mf;
    int rc = store_manifest_read(c->s, &n, &mf, err);
    /* TODO(#4): pull the base model from its registry when it is not local. */
    if (rc == OL_ENOTFOUND)
        return ol_err_set(err, OL_ENOTFOUND, "pull model manifest: file does not exist");
    if (rc < 0) return rc;
    char short_name[700];
    store_name_short(&n, short_name, sizeof(short_name));
    for (int i = 0; i < mf.n_layers && rc == 0; i++) {
        struct store_layer l;
        if (!store_blob_exists(c->s, mf.layers[i].digest)) {
            rc = ol_err_set(err, OL_ENOTFOUND, "blob \"%s\" not found", mf.layers[i].digest);
            break;
        }
        if (store_layer_copy(&l, &mf.layers[i]) < 0) {
            rc = oom(err);
            break;
        }
        free(l.from);
        l.from = ol_strdup(short_name);
        char *status = status_for(1, l.digest);
        store_blob_touch(c->s, l.digest);
        if (!l.from || !status) {
            store_layer_clear(&l);
            free(status);
            rc = oom(err);
        } else if (push_layer(c, &l, status) < 0) {
            rc = oom(err);
        }
    }
    if (rc == 0) rc = config_from_base(c, &mf, err);
    store_manifest_clear(&mf);
    return rc;
}

/* ---- template detection and the request's layers ---- */

static int add_detected_template(struct create_state *c, const struct store_create_req *r,
                                 struct ol_err *err) {
    if (!r->detect_template || !c->chat_template) return 0;
    const char *params = NULL, *family = NULL;
    const char *text = r->detect_template(r->detect_user, c->chat_template, &params, &family);
    if (!text) return 0;
    char status[160];
    snprintf(status, sizeof(status), "using autodetected template %s", family ? family : "");
    int rc = add_text_layer(c, STORE_MT_TEMPLATE, text, strlen(text), status, err);
    if (rc < 0 || !params || !*params) return rc;
    json_error_t jerr;
    json_t *o = json_loads(params, JSON_DECODE_INT_AS_REAL, &jerr);
    struct ol_buf b = {0};
    if (!json_is_object(o)) {
        json_decref(o);
        return ol_err_set(err, OL_EINTERNAL, "detected template params are not a JSON object");
    }
    rc = store_json_put_value(&b, o);
    if (!rc) rc = ol_buf_puts(&b, "\n");
    json_decref(o);
    if (rc < 0) {
        ol_buf_free(&b);
        return oom(err);
    }
    rc = add_text_layer(c, STORE_MT_PARAMS, b.data, b.len, NULL, err);
    ol_buf_free(&b);
    return rc;
}

/* setParameters: request keys win over the existing params layer's keys. */
static int apply_params(struct create_state *c, const char *params_json, struct ol_err *err) {
    json_error_t jerr;
    json_t *p = json_loads(params_json, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!json_is_object(p)) {
        json_decref(p);
        return ol_err_set(err, OL_EINVAL, "parameters must be a JSON object");
    }
    int rc = 0;
    for (int i = 0; i < c->n && rc == 0; i++) {
        if (strcmp(c->v[i].l.media_type, STORE_MT_PARAMS) != 0) continue;
        char *data;
        rc = store_blob_read(c->s, c->v[i].l.digest, &data, NULL, err);
        if (rc < 0) break;
        json_t *old = json_loads(data, JSON_DECODE_INT_AS_REAL, &jerr);
        free(data);
        if (json_is_object(old) && json_object_update_missing(p, old) < 0) rc = oom(err);
        json_decref(old);
    }
    if (rc == 0 && json_object_size(p) > 0) {
        struct ol_buf b = {0};
        rc = store_json_put_value(&b, p);
        if (!rc) rc = ol_buf_puts(&b, "\n");
        if (!rc) rc = remove_layers(c, STORE_MT_PARAMS, NULL);
        rc = rc < 0 ? oom(err) : add_text_layer(c, STORE_MT_PARAMS, b.data, b.len, NULL, err);
        ol_buf_free(&b);
    }
    json_decref(p);
    return rc;
}

/* setMessages: Go encodes []api.Message (role, content, then the optional fields). */
static int apply_messages(struct create_state *c, const char *messages_json, struct ol_err *err) {
    json_error_t jerr;
    json_t *a = json_loads(messages_json, 0, &jerr);
    if (!json_is_array(a)) {
        json_decref(a);
        return ol_err_set(err, OL_EINVAL, "messages must be a JSON array");
    }
    if (json_array_size(a) == 0) { /* Ollama keeps the old messages then */
        json_decref(a);
        return 0;
    }
    struct ol_buf b = {0};
    int rc = ol_buf_puts(&b, "[");
    for (size_t i = 0; rc == 0 && i < json_array_size(a); i++) {
        json_t *m = json_array_get(a, i);
        json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
        if (!json_is_object(m) || (role && !json_is_string(role)) ||
            (content && !json_is_string(content))) {
            rc = ol_err_set(err, OL_EINVAL, "messages: each message needs string role and content");
            break;
        }
        rc = ol_buf_puts(&b, i ? ",{\"role\":" : "{\"role\":");
        if (!rc)
            rc = store_json_put_str(&b, role ? json_string_value(role) : "",
                                    role ? json_string_length(role) : 0);
        if (!rc) rc = ol_buf_puts(&b, ",\"content\":");
        if (!rc)
            rc = store_json_put_str(&b, content ? json_string_value(content) : "",
                                    content ? json_string_length(content) : 0);
        static const char *const optional[] = {"thinking", "images", "tool_calls", "tool_name"};
        for (size_t k = 0; rc == 0 && k < OL_ARRAY_LEN(optional); k++) {
            json_t *v = json_object_get(m, optional[k]);
            if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0) ||
                (json_is_array(v) && json_array_size(v) == 0))
                continue;
            rc = ol_buf_printf(&b, ",\"%s\":", optional[k]);
            if (!rc) rc = store_json_put_value(&b, v);
        }
        if (!rc) rc = ol_buf_puts(&b, "}");
    }
    if (!rc) rc = ol_buf_puts(&b, "]\n");
    json_decref(a);
    if (rc == OL_ENOMEM) rc = oom(err);
    if (rc == 0) rc = remove_layers(c, STORE_MT_MESSAGES, NULL) < 0 ? oom(err) : 0;
    if (rc == 0) rc = add_text_layer(c, STORE_MT_MESSAGES, b.data, b.len, NULL, err);
    ol_buf_free(&b);
    return rc;
}

static int apply_request(struct create_state *c, const struct store_create_req *r,
                         struct ol_err *err) {
    int rc = 0;
    if (r->template_text && *r->template_text) {
        if (remove_layers(c, STORE_MT_TEMPLATE, STORE_MT_PROMPT) < 0) return oom(err);
        rc = add_text_layer(c, STORE_MT_TEMPLATE, r->template_text, strlen(r->template_text), NULL,
                            err);
    }
    if (rc == 0 && r->system_text && *r->system_text) {
        if (remove_layers(c, STORE_MT_SYSTEM, NULL) < 0) return oom(err);
        rc = add_text_layer(c, STORE_MT_SYSTEM, r->system_text, strlen(r->system_text), NULL, err);
    }
    for (int i = 0; rc == 0 && i < r->n_licenses; i++)
        rc = add_text_layer(c, STORE_MT_LICENSE, r->licenses[i], strlen(r->licenses[i]), NULL, err);
    if (rc == 0 && r->params_json) rc = apply_params(c, r->params_json, err);
    if (rc == 0 && r->messages_json) rc = apply_messages(c, r->messages_json, err);
    return rc;
}

/* ---- config blob ---- */

static int put_field(struct ol_buf *b, const char *key, const char *v) {
    int rc = ol_buf_printf(b, "\"%s\":", key);
    return rc ? rc : store_json_put_str(b, v ? v : "", v ? strlen(v) : 0);
}

/* ConfigV2 in Go field order, compact + "\n" (spec §3.1; rootfs omitted like current create). */
static int encode_config(const struct create_state *c, struct ol_buf *b) {
    int rc = ol_buf_puts(b, "{");
    if (!rc) rc = put_field(b, "model_format", c->format);
    if (!rc) rc = ol_buf_puts(b, ",");
    if (!rc) rc = put_field(b, "model_family", c->family);
    if (!rc) rc = ol_buf_puts(b, ",\"model_families\":");
    if (!rc && c->n_families == 0) rc = ol_buf_puts(b, "null");
    for (int i = 0; rc == 0 && i < c->n_families; i++) {
        rc = ol_buf_puts(b, i ? "," : "[");
        if (!rc) rc = store_json_put_str(b, c->families[i], strlen(c->families[i]));
        if (!rc && i == c->n_families - 1) rc = ol_buf_puts(b, "]");
    }
    if (!rc) rc = ol_buf_puts(b, ",");
    if (!rc) rc = put_field(b, "model_type", c->model_type);
    if (!rc) rc = ol_buf_puts(b, ",");
    if (!rc) rc = put_field(b, "file_type", c->file_type);
    static const char *const extras[] = {"renderer",       "parser",           "requires",
                                         "remote_host",    "remote_model",     "capabilities",
                                         "context_length", "embedding_length", "base_name"};
    for (size_t i = 0; rc == 0 && c->extra && i < OL_ARRAY_LEN(extras); i++) {
        json_t *v = json_object_get(c->extra, extras[i]);
        bool empty = !v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)) ||
                     (json_is_array(v) && !json_array_size(v)) ||
                     (json_is_integer(v) && !json_integer_value(v)) ||
                     (json_is_real(v) && json_real_value(v) == 0);
        if (empty) continue;
        rc = ol_buf_printf(b, ",\"%s\":", extras[i]);
        if (!rc && json_is_integer(v))
            rc = ol_buf_printf(b, "%lld", (long long)json_integer_value(v));
        else if (!rc)
            rc = store_json_put_value(b, v);
    }
    if (!rc) rc = ol_buf_puts(b, ",\"architecture\":\"amd64\",\"os\":\"linux\"}\n");
    return rc;
}

/* ---- quantize ---- */

static int check_quantize(const char *q, struct ol_err *err) {
    static const char *const known[] = {"Q4_K_M", "Q4_K", "Q4_K_S", "Q8_0", "F16", "F32"};
    char up[32];
    size_t n = strlen(q);
    if (n >= sizeof(up)) n = sizeof(up) - 1;
    for (size_t i = 0; i < n; i++)
        up[i] = (q[i] >= 'a' && q[i] <= 'z') ? (char)(q[i] - 32) : q[i];
    up[n] = 0;
    for (size_t i = 0; i < OL_ARRAY_LEN(known); i++)
        if (strcmp(up, known[i]) == 0) return 0;
    return ol_err_set(err, OL_EINVAL,
                      "unsupported quantization type %s - supported types are F32, F16, Q4_K_S, "
                      "Q4_K_M, Q8_0",
                      up);
}

/* ---- the whole create ---- */

static void report(store_status_fn cb, void *user, const char *status) {
    if (cb) cb(user, status);
}

static int write_model(struct create_state *c, const struct store_name *n, store_status_fn cb,
                       void *user, struct ol_err *err) {
    struct ol_buf cfg = {0}, man = {0};
    struct store_layer config = {0};
    int rc = encode_config(c, &cfg);
    if (rc < 0) goto out_oom;
    int existed = store_blob_put(c->s, cfg.data, cfg.len, config.digest, err);
    if (existed < 0) {
        rc = existed;
        goto out;
    }
    snprintf(config.media_type, sizeof(config.media_type), "%s", STORE_MT_CONFIG);
    config.size = cfg.len;

    struct store_layer *layers = ol_calloc_array((size_t)c->n + 1, sizeof(*layers));
    if (!layers) goto out_oom;
    for (int i = 0; i < c->n; i++) {
        layers[i] = c->v[i].l; /* shallow: c owns the strings */
        if (c->v[i].status) report(cb, user, c->v[i].status);
    }
    rc = store_manifest_encode(&config, layers, c->n, &man);
    free(layers);
    if (rc < 0) goto out_oom;
    report(cb, user, "writing manifest");

    pthread_mutex_lock(&c->s->lock);
    struct store_name name = *n;
    store_name_resolve(c->s, &name); /* an overwrite keeps the stored spelling */
    struct store_manifest old;
    bool have_old = store_manifest_read(c->s, &name, &old, NULL) == 0;
    rc = store_manifest_write(c->s, &name, man.data, man.len, err);
    if (rc == 0) {
        int n_old = have_old ? old.n_layers + 1 : 0;
        const char **cand = ol_calloc_array((size_t)(n_old + c->n_removed) + 1, sizeof(*cand));
        if (cand) {
            int k = 0;
            if (have_old) cand[k++] = old.config.digest;
            for (int i = 0; have_old && i < old.n_layers; i++)
                cand[k++] = old.layers[i].digest;
            for (int i = 0; i < c->n_removed; i++)
                cand[k++] = c->removed[i];
            store_blobs_remove_unused(c->s, cand, k);
            free(cand);
        }
    }
    if (have_old) store_manifest_clear(&old);
    pthread_mutex_unlock(&c->s->lock);
    goto out;
out_oom:
    rc = oom(err);
out:
    ol_buf_free(&cfg);
    ol_buf_free(&man);
    return rc;
}

int store_create(struct store *s, const struct store_create_req *r, store_status_fn cb, void *user,
                 struct ol_err *err) {
    struct store_name name;
    if (store_name_parse(r->model, &name) < 0)
        return ol_err_set(err, OL_EINVAL, "invalid model name");
    int rc = check_files(r->file_names, r->file_digests, r->n_files, err);
    if (rc < 0) return rc;
    rc = check_files(r->adapter_names, r->adapter_digests, r->n_adapters, err);
    if (rc < 0) return rc;
    if (r->n_adapters > 1)
        return ol_err_set(err, OL_EINVAL, "only one adapter is currently supported");
    bool has_from = r->from && *r->from;
    if (!has_from && r->n_files == 0)
        return ol_err_set(err, OL_EINVAL, "neither 'from' or 'files' was specified");
    if (r->quantize && *r->quantize && (rc = check_quantize(r->quantize, err)) < 0) return rc;

    struct create_state c = {.s = s};
    if (has_from) {
        rc = layers_from_model(&c, r->from, err);
    } else {
        c.from_files = true;
        rc = layers_from_files(&c, r, cb, user, err);
    }
    for (int i = 0; rc == 0 && i < r->n_adapters; i++)
        rc = add_gguf_layer(&c, r->adapter_names[i], r->adapter_digests[i], STORE_MT_ADAPTER, cb,
                            user, err);
    if (rc == 0 && r->quantize && *r->quantize) {
        const char *ft = c.file_type ? c.file_type : "";
        if (strcmp(ft, "F16") != 0 && strcmp(ft, "BF16") != 0 && strcmp(ft, "F32") != 0)
            rc = ol_err_set(err, OL_EINVAL,
                            "quantization is only supported for F16, BF16 and F32 models");
        else /* TODO(quantize issue): quantize F16/BF16/F32 models here. */
            rc = ol_err_set(err, OL_EUNSUPPORTED, "quantization is not supported yet");
    }
    if (rc == 0 && c.from_files) rc = add_detected_template(&c, r, err);
    if (rc == 0) rc = apply_request(&c, r, err);
    if (rc == 0) rc = write_model(&c, &name, cb, user, err);
    if (rc == 0) report(cb, user, "success");
    state_free(&c);
    return rc;
}
