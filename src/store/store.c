/* The store on disk: opening, name resolution, manifests, model lookup and listing, copy,
 * delete and pruning.
 *
 * Design note (crash safety): every manifest is written to a hidden temp file in its target
 * folder, fsynced, renamed over the final name and the folder fsynced; blobs are renamed into
 * place only after fsync, and a manifest is written only after all its blobs exist. A killed
 * process therefore leaves at worst temp files and unreferenced blobs, which the startup prune
 * removes; a listed model is always complete. Hidden files (".tmp-*") never parse as names
 * because no name part may start with '.'. */
#include "store/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define MANIFEST_MAX (16u << 20)               /* bytes; real ones are < 10 KB */
#define TEXT_MAX (64u << 20)                   /* template/system/params/messages/license layers */
#define PRUNE_GRACE_NS (3600LL * 1000000000LL) /* spare recently written blobs (spec §5) */

/* ---- small helpers ---- */

static char *path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

static int64_t stat_mtime_ns(const struct stat *st) {
    return (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* env.md: values are trimmed of spaces and of surrounding quotes. Returns a pointer into buf. */
static const char *env_value(const char *name, char *buf, size_t cap) {
    const char *v = getenv(name);
    if (!v) return NULL;
    snprintf(buf, cap, "%s", v);
    char *p = buf;
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        p[--n] = 0;
    while (*p == ' ' || *p == '\t')
        p++, n--;
    if (n >= 2 && (p[0] == '"' || p[0] == '\'') && p[n - 1] == p[0]) {
        p[n - 1] = 0;
        p++;
    }
    return p;
}

bool store_env_noprune(void) {
    char buf[64];
    const char *v = env_value("OLLAMA_NOPRUNE", buf, sizeof(buf));
    if (!v || !*v) return false;
    static const char *const falses[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < OL_ARRAY_LEN(falses); i++)
        if (strcmp(v, falses[i]) == 0) return false;
    return true; /* any other non-empty value is true */
}

void store_digest_hex(const char *digest, char hex[65]) {
    for (int i = 0; i < 64; i++) {
        char c = digest[7 + i];
        hex[i] = (c >= 'A' && c <= 'F') ? (char)(c + 32) : c;
    }
    hex[64] = 0;
}

int store_mkdirs(const char *path, struct ol_err *err) {
    char *p = ol_strdup(path);
    if (!p) return ol_err_set(err, OL_ENOMEM, "out of memory");
    int rc = 0;
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != 0) continue;
        char saved = *q;
        *q = 0;
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            rc = ol_err_sys(err, OL_EIO, "mkdir %s", p);
            break;
        }
        *q = saved;
        if (!saved) break;
    }
    free(p);
    if (rc == 0) {
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            rc = ol_err_set(err, OL_EIO, "%s is not a directory", path);
    }
    return rc;
}

/* ---- open / close ---- */

/* Renames legacy "sha256:<hex>" blob files to "sha256-<hex>" (spec §2). */
static void rename_legacy_blobs(const struct store *s) {
    DIR *d = opendir(s->blobs);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "sha256:", 7) != 0 || !store_digest_is_valid(e->d_name)) continue;
        char from[PATH_MAX], to[PATH_MAX];
        snprintf(from, sizeof(from), "%s/%s", s->blobs, e->d_name);
        store_blob_path(s, e->d_name, to, sizeof(to));
        if (access(to, F_OK) == 0) continue;
        if (rename(from, to) < 0)
            ol_log(OL_LOG_WARN, "store: rename %s: %s", from, strerror(errno));
    }
    closedir(d);
}

struct store *store_open(const char *root, struct ol_err *err) {
    char envbuf[PATH_MAX];
    char def[PATH_MAX];
    if (!root) root = env_value("OLLAMA_MODELS", envbuf, sizeof(envbuf));
    if (!root || !*root) {
        const char *home = getenv("HOME");
        if (!home || !*home) {
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home) {
            ol_err_set(err, OL_EIO, "cannot find the home directory for the model store");
            return NULL;
        }
        snprintf(def, sizeof(def), "%s/.ollama/models", home);
        root = def;
    }
    if (store_mkdirs(root, err) < 0) return NULL;

    struct store *s = calloc(1, sizeof(*s));
    if (!s) {
        ol_err_set(err, OL_ENOMEM, "out of memory");
        return NULL;
    }
    s->root = realpath(root, NULL);
    if (!s->root) {
        ol_err_sys(err, OL_EIO, "realpath %s", root);
        free(s);
        return NULL;
    }
    s->manifests = path_join(s->root, "manifests");
    s->blobs = path_join(s->root, "blobs");
    if (!s->manifests || !s->blobs) {
        ol_err_set(err, OL_ENOMEM, "out of memory");
        goto fail;
    }
    if (store_mkdirs(s->manifests, err) < 0 || store_mkdirs(s->blobs, err) < 0) goto fail;
    pthread_mutex_init(&s->lock, NULL);
    rename_legacy_blobs(s);
    return s;
fail:
    free(s->manifests);
    free(s->blobs);
    free(s->root);
    free(s);
    return NULL;
}

void store_close(struct store *s) {
    if (!s) return;
    pthread_mutex_destroy(&s->lock);
    free(s->manifests);
    free(s->blobs);
    free(s->root);
    free(s);
}

const char *store_root(const struct store *s) { return s->root; }

/* ---- names on disk ---- */

/* Replaces part with the spelling of a case-insensitively equal entry of dir (exact wins). */
static void resolve_part(const char *dir, char *part, size_t cap) {
    DIR *d = opendir(dir);
    if (!d) return;
    char found[352] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, part) == 0) {
            found[0] = 0;
            break;
        }
        if (!found[0] && strcasecmp(e->d_name, part) == 0 && strlen(e->d_name) < cap &&
            strlen(e->d_name) < sizeof(found))
            snprintf(found, sizeof(found), "%s", e->d_name);
    }
    closedir(d);
    if (found[0]) snprintf(part, cap, "%s", found);
}

void store_name_resolve(const struct store *s, struct store_name *n) {
    char dir[PATH_MAX];
    resolve_part(s->manifests, n->host, sizeof(n->host));
    snprintf(dir, sizeof(dir), "%s/%s", s->manifests, n->host);
    resolve_part(dir, n->ns, sizeof(n->ns));
    snprintf(dir, sizeof(dir), "%s/%s/%s", s->manifests, n->host, n->ns);
    resolve_part(dir, n->model, sizeof(n->model));
    snprintf(dir, sizeof(dir), "%s/%s/%s/%s", s->manifests, n->host, n->ns, n->model);
    resolve_part(dir, n->tag, sizeof(n->tag));
}

int store_manifest_path(const struct store *s, const struct store_name *n, char *buf, size_t cap) {
    return snprintf(buf, cap, "%s/%s/%s/%s/%s", s->manifests, n->host, n->ns, n->model, n->tag);
}

/* ---- layers and manifests ---- */

void store_layer_clear(struct store_layer *l) {
    free(l->from);
    free(l->name);
    memset(l, 0, sizeof(*l));
}

int store_layer_copy(struct store_layer *dst, const struct store_layer *src) {
    *dst = *src;
    dst->from = src->from ? ol_strdup(src->from) : NULL;
    dst->name = src->name ? ol_strdup(src->name) : NULL;
    if ((src->from && !dst->from) || (src->name && !dst->name)) {
        store_layer_clear(dst);
        return OL_ENOMEM;
    }
    return 0;
}

static int parse_layer(json_t *o, struct store_layer *l, struct ol_err *err) {
    memset(l, 0, sizeof(*l));
    if (!json_is_object(o)) return ol_err_set(err, OL_EFORMAT, "manifest: layer is not an object");
    const char *mt = json_string_value(json_object_get(o, "mediaType"));
    const char *dg = json_string_value(json_object_get(o, "digest"));
    json_t *size = json_object_get(o, "size");
    if (!mt || strlen(mt) >= sizeof(l->media_type))
        return ol_err_set(err, OL_EFORMAT, "manifest: bad mediaType");
    if (!store_digest_is_valid(dg)) return ol_err_set(err, OL_EFORMAT, "manifest: bad digest");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return ol_err_set(err, OL_EFORMAT, "manifest: bad size");
    snprintf(l->media_type, sizeof(l->media_type), "%s", mt);
    snprintf(l->digest, sizeof(l->digest), "sha256:%s", dg + 7);
    l->size = (uint64_t)json_integer_value(size);
    const char *from = json_string_value(json_object_get(o, "from"));
    const char *name = json_string_value(json_object_get(o, "name"));
    if (from && *from && !(l->from = ol_strdup(from))) return ol_err_set(err, OL_ENOMEM, "oom");
    if (name && *name && !(l->name = ol_strdup(name))) {
        store_layer_clear(l);
        return ol_err_set(err, OL_ENOMEM, "out of memory");
    }
    return 0;
}

void store_manifest_clear(struct store_manifest *m) {
    store_layer_clear(&m->config);
    for (int i = 0; i < m->n_layers; i++)
        store_layer_clear(&m->layers[i]);
    free(m->layers);
    free(m->bytes);
    memset(m, 0, sizeof(*m));
}

int store_manifest_parse(const char *data, size_t len, struct store_manifest *m,
                         struct ol_err *err) {
    memset(m, 0, sizeof(*m));
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    if (!root) return ol_err_set(err, OL_EFORMAT, "manifest: %s", jerr.text);
    int rc = 0;
    json_t *layers = json_object_get(root, "layers");
    if (!json_is_object(root) || !(json_is_array(layers) || json_is_null(layers) || !layers)) {
        rc = ol_err_set(err, OL_EFORMAT, "manifest: not a manifest object");
        goto out;
    }
    rc = parse_layer(json_object_get(root, "config"), &m->config, err);
    if (rc < 0) goto out;
    size_t n = json_is_array(layers) ? json_array_size(layers) : 0;
    if (n > 100000) {
        rc = ol_err_set(err, OL_EFORMAT, "manifest: too many layers");
        goto out;
    }
    m->layers = ol_calloc_array(n ? n : 1, sizeof(*m->layers));
    if (!m->layers) {
        rc = ol_err_set(err, OL_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rc = parse_layer(json_array_get(layers, i), &m->layers[i], err);
        if (rc < 0) goto out;
        m->n_layers++;
    }
out:
    json_decref(root);
    if (rc < 0) store_manifest_clear(m);
    return rc;
}

int store_manifest_read(const struct store *s, const struct store_name *n, struct store_manifest *m,
                        struct ol_err *err) {
    memset(m, 0, sizeof(*m));
    char path[PATH_MAX];
    store_manifest_path(s, n, path, sizeof(path));
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return ol_err_set(err, OL_ENOTFOUND, "manifest not found");
    char *data;
    size_t len;
    int rc = ol_file_read(path, MANIFEST_MAX, &data, &len, err);
    if (rc < 0) return rc;
    rc = store_manifest_parse(data, len, m, err);
    if (rc < 0) {
        free(data);
        return rc;
    }
    m->bytes = data;
    m->len = len;
    m->mtime_ns = stat_mtime_ns(&st);
    if (ol_sha256_hex(data, len, m->digest) < 0) {
        store_manifest_clear(m);
        return ol_err_set(err, OL_ENOMEM, "out of memory");
    }
    return 0;
}

static int put_layer(struct ol_buf *b, const struct store_layer *l) {
    int rc = ol_buf_puts(b, "{\"mediaType\":");
    if (!rc) rc = store_json_put_str(b, l->media_type, strlen(l->media_type));
    if (!rc) rc = ol_buf_puts(b, ",\"digest\":");
    if (!rc) rc = store_json_put_str(b, l->digest, strlen(l->digest));
    if (!rc) rc = ol_buf_printf(b, ",\"size\":%llu", (unsigned long long)l->size);
    if (!rc && l->from && *l->from) {
        rc = ol_buf_puts(b, ",\"from\":");
        if (!rc) rc = store_json_put_str(b, l->from, strlen(l->from));
    }
    if (!rc && l->name && *l->name) {
        rc = ol_buf_puts(b, ",\"name\":");
        if (!rc) rc = store_json_put_str(b, l->name, strlen(l->name));
    }
    return rc ? rc : ol_buf_puts(b, "}");
}

int store_manifest_encode(const struct store_layer *config, const struct store_layer *layers,
                          int n_layers, struct ol_buf *out) {
    int rc = ol_buf_puts(out, "{\"schemaVersion\":2,\"mediaType\":\"" STORE_MT_MANIFEST
                              "\",\"config\":");
    if (!rc) rc = put_layer(out, config);
    if (!rc) rc = ol_buf_puts(out, ",\"layers\":[");
    for (int i = 0; !rc && i < n_layers; i++) {
        if (i) rc = ol_buf_puts(out, ",");
        if (!rc) rc = put_layer(out, &layers[i]);
    }
    return rc ? rc : ol_buf_puts(out, "]}\n");
}

int store_manifest_write(struct store *s, const struct store_name *n, const void *data, size_t len,
                         struct ol_err *err) {
    char path[PATH_MAX];
    if (store_manifest_path(s, n, path, sizeof(path)) >= (int)sizeof(path))
        return ol_err_set(err, OL_EINVAL, "model name too long");
    char *slash = strrchr(path, '/');
    *slash = 0;
    int rc = store_mkdirs(path, err);
    *slash = '/';
    return rc < 0 ? rc : ol_file_write_atomic(path, data, len, err);
}

/* ---- walking all manifests ---- */

typedef int (*manifest_visit_fn)(void *user, const struct store_name *n, const char *path);

static bool name_from_parts(struct store_name *n, const char *h, const char *ns, const char *m,
                            const char *t) {
    memset(n, 0, sizeof(*n));
    if (strlen(h) >= sizeof(n->host) || strlen(ns) >= sizeof(n->ns) ||
        strlen(m) >= sizeof(n->model) || strlen(t) >= sizeof(n->tag))
        return false;
    strcpy(n->scheme, "https");
    strcpy(n->host, h);
    strcpy(n->ns, ns);
    strcpy(n->model, m);
    strcpy(n->tag, t);
    return store_name_is_valid(n);
}

/* Calls fn for every regular file at manifests/<a>/<b>/<c>/<d> whose name is not hidden. n is
 * filled with the path's parts; n_invalid counts those that are not a valid name (fn then gets
 * a name with host ""). Stops at fn's first negative return. */
static int walk_manifests(const struct store *s, manifest_visit_fn fn, void *user) {
    char path[PATH_MAX];
    const char *parts[4];
    DIR *dirs[4] = {0};
    int depth = 0;
    int rc = 0;
    dirs[0] = opendir(s->manifests);
    if (!dirs[0]) return 0;
    while (depth >= 0) {
        struct dirent *e = readdir(dirs[depth]);
        if (!e) {
            closedir(dirs[depth]);
            dirs[depth--] = NULL;
            continue;
        }
        if (e->d_name[0] == '.') continue;
        parts[depth] = e->d_name;
        int len = snprintf(path, sizeof(path), "%s", s->manifests);
        for (int i = 0; i <= depth; i++)
            len += snprintf(path + len, sizeof(path) - (size_t)len, "/%s", parts[i]);
        if (len >= (int)sizeof(path)) continue;
        struct stat st;
        if (stat(path, &st) < 0) continue;
        if (depth < 3) {
            if (!S_ISDIR(st.st_mode)) continue;
            dirs[depth + 1] = opendir(path);
            if (dirs[depth + 1]) depth++;
            continue;
        }
        if (!S_ISREG(st.st_mode)) continue;
        struct store_name n;
        if (!name_from_parts(&n, parts[0], parts[1], parts[2], parts[3])) n.host[0] = 0;
        rc = fn(user, &n, path);
        if (rc < 0) break;
    }
    for (int i = 0; i < 4; i++)
        if (dirs[i]) closedir(dirs[i]);
    return rc < 0 ? rc : 0;
}

/* ---- referenced digests ---- */

struct digest_set {
    char (*hex)[65];
    size_t n, cap;
    bool corrupt; /* some manifest did not parse: references unknown */
};

static int digest_set_add(struct digest_set *d, const char *digest) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 64;
        void *p = ol_realloc_array(d->hex, cap, sizeof(*d->hex));
        if (!p) return OL_ENOMEM;
        d->hex = p;
        d->cap = cap;
    }
    store_digest_hex(digest, d->hex[d->n++]);
    return 0;
}

static int cmp_hex(const void *a, const void *b) { return strcmp(a, b); }

static bool digest_set_has(const struct digest_set *d, const char *hex) {
    return d->n && bsearch(hex, d->hex, d->n, sizeof(*d->hex), cmp_hex) != NULL;
}

static int collect_refs(void *user, const struct store_name *n, const char *path) {
    (void)n;
    struct digest_set *d = user;
    char *data;
    size_t len;
    struct ol_err e;
    struct store_manifest m;
    data = NULL;
    if (ol_file_read(path, MANIFEST_MAX, &data, &len, &e) < 0 ||
        store_manifest_parse(data, len, &m, &e) < 0) {
        free(data);
        if (e.code == OL_ENOMEM) return OL_ENOMEM;
        ol_log(OL_LOG_WARN, "store: bad manifest %s: %s", path, e.msg);
        d->corrupt = true;
        return 0;
    }
    free(data);
    int rc = digest_set_add(d, m.config.digest);
    for (int i = 0; rc == 0 && i < m.n_layers; i++)
        rc = digest_set_add(d, m.layers[i].digest);
    store_manifest_clear(&m);
    return rc;
}

static int refs_load(const struct store *s, struct digest_set *d) {
    memset(d, 0, sizeof(*d));
    int rc = walk_manifests(s, collect_refs, d);
    if (rc == 0 && d->n) qsort(d->hex, d->n, sizeof(*d->hex), cmp_hex);
    return rc;
}

int store_blobs_remove_unused(struct store *s, const char *const *digests, int n) {
    if (n == 0 || store_env_noprune()) return 0;
    struct digest_set refs;
    int rc = refs_load(s, &refs);
    if (rc < 0 || refs.corrupt) {
        if (refs.corrupt) ol_log(OL_LOG_WARN, "store: a manifest is corrupt; blobs not pruned");
        free(refs.hex);
        return 0;
    }
    int removed = 0;
    for (int i = 0; i < n; i++) {
        char hex[65], path[PATH_MAX];
        if (!store_digest_is_valid(digests[i])) continue;
        store_digest_hex(digests[i], hex);
        if (digest_set_has(&refs, hex)) continue;
        snprintf(path, sizeof(path), "%s/sha256-%s", s->blobs, hex);
        if (unlink(path) == 0)
            removed++;
        else if (errno != ENOENT)
            ol_log(OL_LOG_WARN, "store: remove %s: %s", path, strerror(errno));
    }
    free(refs.hex);
    return removed;
}

/* Removes the empty folders above a deleted manifest, up to (not including) manifests/. */
static void remove_empty_parents(const struct store *s, const char *manifest_path) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", manifest_path);
    size_t root_len = strlen(s->manifests);
    for (int i = 0; i < 3; i++) {
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) <= root_len) return;
        *slash = 0;
        if (rmdir(dir) < 0) return;
    }
}

/* ---- models ---- */

static void free_strv(char **v, int n) {
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void store_model_clear(struct store_model *m) {
    if (!m) return;
    store_layer_clear(&m->config);
    for (int i = 0; i < m->n_layers; i++)
        store_layer_clear(&m->layers[i]);
    free(m->layers);
    free(m->model_path);
    free(m->parent_model);
    free(m->template_text);
    free(m->system_text);
    free(m->params_json);
    free(m->messages_json);
    free_strv(m->licenses, m->n_licenses);
    free_strv(m->adapter_paths, m->n_adapters);
    free_strv(m->projector_paths, m->n_projectors);
    free(m->format);
    free(m->family);
    free(m->parameter_size);
    free(m->quantization_level);
    free_strv(m->families, m->n_families);
    memset(m, 0, sizeof(*m));
}

static int strv_push(char ***v, int *n, char *s) {
    if (!s) return OL_ENOMEM;
    char **p = ol_realloc_array(*v, (size_t)*n + 1, sizeof(**v));
    if (!p) {
        free(s);
        return OL_ENOMEM;
    }
    p[(*n)++] = s;
    *v = p;
    return 0;
}

static char *blob_path_dup(const struct store *s, const char *digest) {
    char path[PATH_MAX];
    if (store_blob_path(s, digest, path, sizeof(path)) < 0) return NULL;
    return ol_strdup(path);
}

static char *dup_str_field(json_t *o, const char *key) {
    const char *v = json_string_value(json_object_get(o, key));
    return ol_strdup(v ? v : "");
}

static int load_config(const struct store *s, struct store_model *m, struct ol_err *err) {
    char *data;
    size_t len;
    int rc = store_blob_read(s, m->config.digest, &data, &len, err);
    if (rc < 0) return rc;
    json_error_t jerr;
    json_t *o = json_loadb(data, len, 0, &jerr);
    free(data);
    if (!json_is_object(o)) {
        json_decref(o);
        return ol_err_set(err, OL_EFORMAT, "config blob %s: not a JSON object", m->config.digest);
    }
    m->format = dup_str_field(o, "model_format");
    m->family = dup_str_field(o, "model_family");
    m->parameter_size = dup_str_field(o, "model_type");
    m->quantization_level = dup_str_field(o, "file_type");
    rc = (m->format && m->family && m->parameter_size && m->quantization_level) ? 0 : OL_ENOMEM;
    json_t *fam = json_object_get(o, "model_families");
    m->families_null = !json_is_array(fam);
    for (size_t i = 0; rc == 0 && json_is_array(fam) && i < json_array_size(fam); i++) {
        const char *f = json_string_value(json_array_get(fam, i));
        if (f) rc = strv_push(&m->families, &m->n_families, ol_strdup(f));
    }
    json_decref(o);
    return rc < 0 ? ol_err_set(err, rc, "out of memory") : 0;
}

static int read_text(const struct store *s, const char *digest, char **out, struct ol_err *err) {
    free(*out); /* a later layer of the same type wins */
    *out = NULL;
    return store_blob_read(s, digest, out, NULL, err);
}

/* Fills m from a read manifest (consumed: layers move into m). With texts, reads the text
 * layers too (for show and inference); listing only needs the config. */
static int model_fill(const struct store *s, const struct store_name *n, struct store_manifest *mf,
                      bool texts, struct store_model *m, struct ol_err *err) {
    memset(m, 0, sizeof(*m));
    m->name = *n;
    memcpy(m->digest, mf->digest, sizeof(m->digest));
    m->modified_ns = mf->mtime_ns;
    m->config = mf->config;
    m->layers = mf->layers;
    m->n_layers = mf->n_layers;
    memset(&mf->config, 0, sizeof(mf->config));
    mf->layers = NULL;
    mf->n_layers = 0;
    m->size = m->config.size;
    int rc = 0;
    for (int i = 0; i < m->n_layers && rc == 0; i++) {
        const struct store_layer *l = &m->layers[i];
        const char *mt = l->media_type;
        m->size += l->size;
        if (strcmp(mt, STORE_MT_MODEL) == 0) {
            if (m->model_path) continue;
            if (!(m->model_path = blob_path_dup(s, l->digest))) rc = OL_ENOMEM;
            if (l->from && !(m->parent_model = ol_strdup(l->from))) rc = OL_ENOMEM;
        } else if (strcmp(mt, STORE_MT_ADAPTER) == 0) {
            rc = strv_push(&m->adapter_paths, &m->n_adapters, blob_path_dup(s, l->digest));
        } else if (strcmp(mt, STORE_MT_PROJECTOR) == 0) {
            rc = strv_push(&m->projector_paths, &m->n_projectors, blob_path_dup(s, l->digest));
        } else if (!texts) {
            continue;
        } else if (strcmp(mt, STORE_MT_TEMPLATE) == 0 || strcmp(mt, STORE_MT_PROMPT) == 0) {
            rc = read_text(s, l->digest, &m->template_text, err);
        } else if (strcmp(mt, STORE_MT_SYSTEM) == 0) {
            rc = read_text(s, l->digest, &m->system_text, err);
        } else if (strcmp(mt, STORE_MT_PARAMS) == 0) {
            rc = read_text(s, l->digest, &m->params_json, err);
        } else if (strcmp(mt, STORE_MT_MESSAGES) == 0) {
            rc = read_text(s, l->digest, &m->messages_json, err);
        } else if (strcmp(mt, STORE_MT_LICENSE) == 0) {
            char *t = NULL;
            rc = store_blob_read(s, l->digest, &t, NULL, err);
            if (rc == 0) rc = strv_push(&m->licenses, &m->n_licenses, t);
        } else if (strcmp(mt, STORE_MT_PREFIX "embed") == 0) {
            ol_log(OL_LOG_INFO, "store: ignoring deprecated embed layer %s", l->digest);
        }
    }
    if (rc == OL_ENOMEM) return ol_err_set(err, OL_ENOMEM, "out of memory");
    if (rc < 0) return rc;
    return load_config(s, m, err);
}

int store_model_get(struct store *s, const char *name, struct store_model *out,
                    struct ol_err *err) {
    memset(out, 0, sizeof(*out));
    struct store_name n;
    if (store_name_parse(name, &n) < 0) return ol_err_set(err, OL_EINVAL, "invalid model name");
    store_name_resolve(s, &n);
    struct store_manifest mf;
    int rc = store_manifest_read(s, &n, &mf, err);
    if (rc == OL_ENOTFOUND) return ol_err_set(err, OL_ENOTFOUND, "model '%s' not found", name);
    if (rc < 0) return rc;
    rc = model_fill(s, &n, &mf, true, out, err);
    store_manifest_clear(&mf);
    if (rc == OL_ENOTFOUND) { /* a layer blob is missing: the model is broken, not absent */
        char msg[sizeof(err->msg)];
        snprintf(msg, sizeof(msg), "%s", err ? err->msg : "");
        rc = ol_err_set(err, OL_EFORMAT, "model '%s': %s", name, msg);
    }
    return rc;
}

struct list_state {
    const struct store *s;
    struct store_model *models;
    int n, cap;
};

static int list_visit(void *user, const struct store_name *n, const char *path) {
    struct list_state *ls = user;
    if (!n->host[0]) {
        ol_log(OL_LOG_WARN, "store: skipping %s: not a valid model name", path);
        return 0;
    }
    struct store_manifest mf;
    struct ol_err e;
    int rc = store_manifest_read(ls->s, n, &mf, &e);
    if (rc == OL_ENOMEM) return rc;
    if (rc < 0) {
        ol_log(OL_LOG_WARN, "store: skipping %s: %s", path, e.msg);
        return 0;
    }
    if (ls->n == ls->cap) {
        int cap = ls->cap ? 2 * ls->cap : 16;
        void *p = ol_realloc_array(ls->models, (size_t)cap, sizeof(*ls->models));
        if (!p) {
            store_manifest_clear(&mf);
            return OL_ENOMEM;
        }
        ls->models = p;
        ls->cap = cap;
    }
    rc = model_fill(ls->s, n, &mf, false, &ls->models[ls->n], &e);
    store_manifest_clear(&mf);
    if (rc < 0) {
        store_model_clear(&ls->models[ls->n]);
        if (rc == OL_ENOMEM) return rc;
        ol_log(OL_LOG_WARN, "store: skipping %s: %s", path, e.msg);
        return 0;
    }
    ls->n++;
    return 0;
}

static int cmp_newest(const void *a, const void *b) {
    const struct store_model *x = a, *y = b;
    if (x->modified_ns != y->modified_ns) return x->modified_ns > y->modified_ns ? -1 : 1;
    char fx[700], fy[700];
    store_name_full(&x->name, fx, sizeof(fx));
    store_name_full(&y->name, fy, sizeof(fy));
    return strcmp(fx, fy);
}

int store_model_list(struct store *s, struct store_model **out, int *n, struct ol_err *err) {
    struct list_state ls = {.s = s};
    *out = NULL;
    *n = 0;
    int rc = walk_manifests(s, list_visit, &ls);
    if (rc < 0) {
        store_model_list_free(ls.models, ls.n);
        return ol_err_set(err, rc, "listing models: %s", ol_code_str(rc));
    }
    if (ls.n) qsort(ls.models, (size_t)ls.n, sizeof(*ls.models), cmp_newest);
    *out = ls.models;
    *n = ls.n;
    return 0;
}

void store_model_list_free(struct store_model *list, int n) {
    for (int i = 0; i < n; i++)
        store_model_clear(&list[i]);
    free(list);
}

int store_model_delete(struct store *s, const char *name, struct ol_err *err) {
    struct store_name n;
    if (store_name_parse(name, &n) < 0)
        return ol_err_set(err, OL_EINVAL, "name \"%s\" is invalid", name ? name : "");
    pthread_mutex_lock(&s->lock);
    store_name_resolve(s, &n);
    struct store_manifest mf;
    int rc = store_manifest_read(s, &n, &mf, err);
    if (rc == OL_ENOTFOUND) {
        rc = ol_err_set(err, OL_ENOTFOUND, "model '%s' not found", name);
        goto out_unlock;
    }
    if (rc == OL_EFORMAT) { /* a corrupt manifest can still be deleted; no blobs known */
        memset(&mf, 0, sizeof(mf));
    } else if (rc < 0) {
        goto out_unlock;
    }
    char path[PATH_MAX];
    store_manifest_path(s, &n, path, sizeof(path));
    if (unlink(path) < 0) {
        rc = ol_err_sys(err, OL_EIO, "remove %s", path);
        store_manifest_clear(&mf);
        goto out_unlock;
    }
    ol_fsync_dir_of(path);
    remove_empty_parents(s, path);
    const char **digests = ol_calloc_array((size_t)mf.n_layers + 1, sizeof(*digests));
    if (digests) {
        int k = 0;
        if (mf.config.digest[0]) digests[k++] = mf.config.digest;
        for (int i = 0; i < mf.n_layers; i++)
            digests[k++] = mf.layers[i].digest;
        store_blobs_remove_unused(s, digests, k);
        free(digests);
    }
    store_manifest_clear(&mf);
    rc = 0;
out_unlock:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_model_copy(struct store *s, const char *src, const char *dst, struct ol_err *err) {
    struct store_name ns, nd;
    if (store_name_parse(src, &ns) < 0)
        return ol_err_set(err, OL_EINVAL, "source \"%s\" is invalid", src ? src : "");
    if (store_name_parse(dst, &nd) < 0)
        return ol_err_set(err, OL_EINVAL, "destination \"%s\" is invalid", dst ? dst : "");
    pthread_mutex_lock(&s->lock);
    store_name_resolve(s, &ns);
    store_name_resolve(s, &nd);
    char ps[PATH_MAX], pd[PATH_MAX];
    store_manifest_path(s, &ns, ps, sizeof(ps));
    store_manifest_path(s, &nd, pd, sizeof(pd));
    struct stat st;
    char *data = NULL;
    size_t len = 0;
    int rc;
    if (stat(ps, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = ol_err_set(err, OL_ENOTFOUND, "model \"%s\" not found", src);
        goto out;
    }
    if (strcmp(ps, pd) == 0) {
        rc = 0;
        goto out;
    }
    rc = ol_file_read(ps, MANIFEST_MAX, &data, &len, err);
    if (rc == OL_ENOTFOUND) rc = ol_err_set(err, OL_ENOTFOUND, "model \"%s\" not found", src);
    if (rc < 0) goto out;
    rc = store_manifest_write(s, &nd, data, len, err);
out:
    free(data);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- startup prune ---- */

/* Removes stale hidden temp files and empty folders below manifests/ (depth 1..3). */
static void prune_manifest_dirs(const char *dir, int depth, int64_t cutoff) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path)) continue;
        struct stat st;
        if (lstat(path, &st) < 0) continue;
        if (S_ISDIR(st.st_mode) && depth < 4) {
            prune_manifest_dirs(path, depth + 1, cutoff);
            rmdir(path); /* fails (harmlessly) unless empty */
        } else if (S_ISREG(st.st_mode) && strncmp(e->d_name, ".tmp-", 5) == 0 &&
                   stat_mtime_ns(&st) < cutoff) {
            unlink(path);
        }
    }
    closedir(d);
}

int store_prune(struct store *s, struct ol_err *err) {
    if (store_env_noprune()) return 0;
    pthread_mutex_lock(&s->lock);
    struct digest_set refs;
    int rc = refs_load(s, &refs);
    if (rc < 0) {
        free(refs.hex);
        pthread_mutex_unlock(&s->lock);
        return ol_err_set(err, rc, "prune: %s", ol_code_str(rc));
    }
    if (refs.corrupt) {
        ol_log(OL_LOG_WARN, "store: a manifest is corrupt; skipping the blob prune");
        free(refs.hex);
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    int64_t cutoff = now_ns() - PRUNE_GRACE_NS;
    int removed = 0;
    DIR *d = opendir(s->blobs);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[PATH_MAX];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (snprintf(path, sizeof(path), "%s/%s", s->blobs, e->d_name) >= (int)sizeof(path))
            continue;
        struct stat st;
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) continue;
        if (strncmp(e->d_name, "sha256-", 7) == 0 && store_digest_is_valid(e->d_name)) {
            char hex[65];
            store_digest_hex(e->d_name, hex);
            if (digest_set_has(&refs, hex)) continue;
        }
        if (stat_mtime_ns(&st) >= cutoff) continue; /* maybe an upload or create in progress */
        if (unlink(path) == 0) {
            removed++;
            ol_log(OL_LOG_DEBUG, "store: pruned %s", path);
        }
    }
    if (d) closedir(d);
    free(refs.hex);
    prune_manifest_dirs(s->manifests, 1, cutoff);
    pthread_mutex_unlock(&s->lock);
    return removed;
}
