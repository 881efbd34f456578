/* Model management commands: create, show, stop, pull, push, list, ps, cp, rm. Each is a thin
 * client of one or two API calls plus Ollama's output layout (spec: cli.md §3). */
#include "cli/cmd.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "store/store.h"

static double now_unix(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *parse_json(const char *s, struct ol_err *err) {
    json_error_t je;
    json_t *j = json_loads(s ? s : "", 0, &je);
    if (!j) ol_err_set(err, OL_EFORMAT, "invalid response: %s", je.text);
    return j;
}

static char *dump(json_t *j) { return json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)); }

static const char *jstr(json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int print_buf(struct ol_buf *b, FILE *f) {
    if (b->len) fwrite(b->data, 1, b->len, f);
    ol_buf_free(b);
    return 0;
}

/* ---- progress of pull / push / create streams ---- */

struct prog_ctx {
    struct cli_progress *p;
    int spinner;
    char status[512];
    json_t *bars; /* digest -> index */
    bool pull;    /* pull: skip completed==0 events, label "pulling <12hex>:" */
    bool push;
};

static int on_progress_line(const char *line, size_t len, void *ud) {
    struct prog_ctx *c = ud;
    json_t *j = json_loadb(line, len, 0, NULL);
    if (!j) return 0;
    const char *status = jstr(j, "status");
    const char *digest = jstr(j, "digest");
    int64_t total = json_integer_value(json_object_get(j, "total"));
    int64_t completed = json_integer_value(json_object_get(j, "completed"));
    if (digest[0]) {
        if (c->pull && completed == 0) goto out;
        if (c->pull || c->push) cli_progress_stop_one(c->p, c->spinner);
        json_t *idx = json_object_get(c->bars, digest);
        int bi;
        if (!idx) {
            char msg[600];
            const char *hex = strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : digest;
            if (c->pull)
                snprintf(msg, sizeof(msg), "pulling %.12s:", hex);
            else if (status[0])
                snprintf(msg, sizeof(msg), "%s", status);
            else
                snprintf(msg, sizeof(msg), "pulling %.12s...", hex);
            bi = cli_progress_bar(c->p, msg, total, completed);
            json_object_set_new(c->bars, digest, json_integer(bi));
        } else {
            bi = (int)json_integer_value(idx);
        }
        cli_progress_set(c->p, bi, completed);
    } else if (strcmp(c->status, status) != 0) {
        cli_progress_stop_one(c->p, c->spinner);
        snprintf(c->status, sizeof(c->status), "%s", status);
        c->spinner = cli_progress_spinner(c->p, status);
    }
out:
    json_decref(j);
    return 0;
}

int cli_pull(struct cli_client *cl, const char *model, bool insecure, struct ol_err *err) {
    struct prog_ctx c = {
        .p = cli_progress_new(), .spinner = -1, .bars = json_object(), .pull = true};
    json_t *req = json_pack("{s:s}", "model", model);
    if (insecure) json_object_set_new(req, "insecure", json_true());
    char *body = dump(req);
    int rc = c.p && body ? cli_client_stream(cl, "/api/pull", body, on_progress_line, &c, err)
                         : ol_err_set(err, OL_ENOMEM, "out of memory");
    cli_progress_stop(c.p);
    cli_progress_free(c.p);
    free(body);
    json_decref(req);
    json_decref(c.bars);
    return rc;
}

/* ---- create ---- */

struct upload_ctx {
    struct cli_progress *p;
    int spinner;
    const char *digest;
    int64_t size;
    volatile int64_t sent;
    volatile bool done;
};

static void *upload_ticker(void *ud) {
    struct upload_ctx *u = ud;
    while (!u->done) {
        struct timespec ts = {0, 60 * 1000 * 1000};
        nanosleep(&ts, NULL);
        char msg[160];
        int pct = u->size > 0 ? (int)(100 * u->sent / u->size) : 0;
        snprintf(msg, sizeof(msg), "copying file %s %d%%", u->digest, pct);
        if (!u->done) cli_progress_set_msg(u->p, u->spinner, msg);
    }
    return NULL;
}

static int upload_file(struct cli_client *cl, struct cli_progress *p, const struct cli_mf_file *f,
                       struct ol_err *err) {
    char msg[160];
    snprintf(msg, sizeof(msg), "copying file %s 0%%", f->digest);
    struct upload_ctx u = {.p = p, .digest = f->digest};
    u.spinner = cli_progress_spinner(p, msg);
    struct stat st;
    if (stat(f->path, &st) == 0) u.size = st.st_size;
    pthread_t th;
    bool ticking = pthread_create(&th, NULL, upload_ticker, &u) == 0;
    int rc = cli_client_blob_upload(cl, f->digest, f->path, &u.sent, err);
    u.done = true;
    if (ticking) pthread_join(th, NULL);
    snprintf(msg, sizeof(msg), "copying file %s 100%%", f->digest);
    cli_progress_set_msg(p, u.spinner, msg);
    cli_progress_stop_one(p, u.spinner);
    return rc;
}

int cli_cmd_create(struct cli_args *a, struct ol_err *err) {
    const char *model = a->pos[0];
    struct store_name n;
    if (store_name_parse(model, &n) < 0)
        return ol_err_set(err, OL_EINVAL, "invalid model name: %s", model);
    const char *file = cli_flag_str(a, "file");
    char *text = NULL;
    size_t len = 0;
    char dir[PATH_MAX] = ".";
    const char *fname = file && file[0] ? file : "Modelfile";
    struct stat st;
    if (stat(fname, &st) != 0) {
        if (file && file[0])
            return ol_err_set(err, OL_ENOTFOUND, "specified Modelfile wasn't found");
        text = ol_strdup("FROM .\n");
        if (!text) return ol_err_set(err, OL_ENOMEM, "out of memory");
        len = strlen(text);
        if (!getcwd(dir, sizeof(dir))) strcpy(dir, ".");
    } else {
        int rc = ol_file_read(fname, (size_t)1 << 30, &text, &len, err);
        if (rc < 0) return rc;
        char *abs = realpath(fname, NULL);
        if (abs) {
            char *slash = strrchr(abs, '/');
            if (slash) *slash = '\0';
            snprintf(dir, sizeof(dir), "%s", abs[0] ? abs : "/");
            free(abs);
        }
    }
    struct cli_progress *p = cli_progress_new();
    struct cli_client *cl = cli_client_new();
    struct cli_modelfile mf;
    struct cli_create_req req = {0};
    struct prog_ctx c = {.p = p, .spinner = -1, .bars = json_object()};
    int rc = cli_modelfile_parse(text, len, &mf, err);
    free(text);
    if (rc < 0) goto out;
    snprintf(c.status, sizeof(c.status), "gathering model components");
    c.spinner = cli_progress_spinner(p, c.status);
    rc = cli_modelfile_request(&mf, dir, model, cli_flag_str(a, "quantize"), &req, err);
    cli_progress_stop_one(p, c.spinner);
    cli_modelfile_free(&mf);
    if (rc < 0) goto out;
    for (size_t i = 0; rc == 0 && i < req.n_files; i++)
        rc = upload_file(cl, p, &req.files[i], err);
    if (rc < 0) goto out;
    rc = cli_client_stream(cl, "/api/create", req.json, on_progress_line, &c, err);
    if (rc < 0 && strstr(err->msg, "path or Modelfile are required"))
        rc = ol_err_set(err, OL_EINVAL,
                        "the ollama server must be updated to use `ollama create` with this "
                        "client");
out:
    cli_progress_stop(p);
    cli_progress_free(p);
    cli_create_req_free(&req);
    cli_client_free(cl);
    json_decref(c.bars);
    return rc;
}

/* ---- show ---- */

int cli_show_fetch(struct cli_client *c, const char *model, bool verbose, const char *system,
                   json_t *options, json_t **resp, struct ol_err *err) {
    json_t *req = json_pack("{s:s}", "model", model);
    if (verbose) json_object_set_new(req, "verbose", json_true());
    if (system && system[0]) json_object_set_new(req, "system", json_string(system));
    if (options && json_object_size(options)) json_object_set(req, "options", options);
    char *body = dump(req);
    json_decref(req);
    char *out = NULL;
    int rc = cli_client_do(c, "POST", "/api/show", body, &out, err);
    free(body);
    *resp = NULL;
    if (rc == 0) {
        *resp = parse_json(out, err);
        if (!*resp) rc = OL_EFORMAT;
    }
    free(out);
    return rc;
}

static void row2(struct cli_table *t, const char *k, const char *v) {
    const char *cells[3] = {"", k, v};
    cli_table_row(t, v ? 3 : 2, cells);
}

static void section(FILE *f, const char *title, struct cli_table *t) {
    struct ol_buf b = {0};
    fprintf(f, "  %s\n", title);
    cli_table_render(t, &b);
    print_buf(&b, f);
    fprintf(f, "\n");
    cli_table_free(t);
}

/* %v of a JSON value as Go prints the decoded `any`. */
static void go_value(json_t *v, struct ol_buf *b) {
    char num[64];
    if (json_is_string(v)) {
        ol_buf_puts(b, json_string_value(v));
    } else if (json_is_number(v)) {
        cli_go_float(json_number_value(v), true, num, sizeof(num));
        ol_buf_puts(b, num);
    } else if (json_is_boolean(v)) {
        ol_buf_puts(b, json_is_true(v) ? "true" : "false");
    } else if (json_is_array(v)) {
        ol_buf_puts(b, "[");
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) ol_buf_puts(b, " ");
            go_value(json_array_get(v, i), b);
        }
        ol_buf_puts(b, "]");
    } else if (json_is_null(v)) {
        ol_buf_puts(b, "<nil>");
    } else {
        ol_buf_puts(b, "map[]");
    }
}

static bool num_field(json_t *obj, const char *key, char *out, size_t cap) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_number(v)) return false;
    double d = json_number_value(v);
    if (d == (double)(long long)d)
        snprintf(out, cap, "%lld", (long long)d);
    else
        cli_go_float(d, false, out, cap);
    return true;
}

static void head_rows(struct cli_table *t, const char *s, int n) {
    int count = 0;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t l = nl ? (size_t)(nl - s) : strlen(s);
        const char *p = s;
        size_t pl = l;
        while (pl && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++, pl--;
        while (pl && (p[pl - 1] == ' ' || p[pl - 1] == '\t' || p[pl - 1] == '\r'))
            pl--;
        if (pl) {
            count++;
            if (count <= n) {
                char *line = ol_strndup(p, pl);
                row2(t, line ? line : "", NULL);
                free(line);
            }
        }
        s += l + (nl ? 1 : 0);
    }
    if (count > n) row2(t, "...", NULL);
}

int cli_show_info(json_t *resp, bool verbose, FILE *f) {
    json_t *mi = json_object_get(resp, "model_info");
    json_t *details = json_object_get(resp, "details");
    struct cli_table *t = cli_table_new(30);
    char buf[128], key[300];
    if (!t) return OL_ENOMEM;
    if (json_is_object(mi)) {
        const char *arch = jstr(mi, "general.architecture");
        if (arch[0]) row2(t, "architecture", arch);
        const char *ps = jstr(details, "parameter_size");
        if (ps[0]) {
            row2(t, "parameters", ps);
        } else if (json_is_number(json_object_get(mi, "general.parameter_count"))) {
            cli_human_number(
                (uint64_t)json_number_value(json_object_get(mi, "general.parameter_count")), buf,
                sizeof(buf));
            row2(t, "parameters", buf);
        }
        snprintf(key, sizeof(key), "%s.context_length", arch);
        if (num_field(mi, key, buf, sizeof(buf))) row2(t, "context length", buf);
        snprintf(key, sizeof(key), "%s.embedding_length", arch);
        if (num_field(mi, key, buf, sizeof(buf))) row2(t, "embedding length", buf);
    } else {
        row2(t, "architecture", jstr(details, "family"));
        row2(t, "parameters", jstr(details, "parameter_size"));
    }
    row2(t, "quantization", jstr(details, "quantization_level"));
    if (jstr(resp, "requires")[0]) row2(t, "requires", jstr(resp, "requires"));
    section(f, "Model", t);

    json_t *caps = json_object_get(resp, "capabilities");
    if (json_array_size(caps)) {
        t = cli_table_new(30);
        for (size_t i = 0; t && i < json_array_size(caps); i++)
            row2(t, json_string_value(json_array_get(caps, i)), NULL);
        if (t) section(f, "Capabilities", t);
    }
    json_t *pi = json_object_get(resp, "projector_info");
    if (json_is_object(pi)) {
        t = cli_table_new(30);
        const char *arch = jstr(pi, "general.architecture");
        if (arch[0]) row2(t, "architecture", arch);
        if (json_is_number(json_object_get(pi, "general.parameter_count"))) {
            cli_human_number(
                (uint64_t)json_number_value(json_object_get(pi, "general.parameter_count")), buf,
                sizeof(buf));
            row2(t, "parameters", buf);
        }
        static const char *const mods[] = {"vision", "audio"};
        for (size_t m = 0; m < 2; m++) {
            snprintf(key, sizeof(key), "%s.%s.embedding_length", arch, mods[m]);
            if (num_field(pi, key, buf, sizeof(buf))) {
                row2(t, "embedding length", buf);
                break;
            }
        }
        for (size_t m = 0; m < 2; m++) {
            snprintf(key, sizeof(key), "%s.%s.projection_dim", arch, mods[m]);
            if (num_field(pi, key, buf, sizeof(buf))) {
                row2(t, "dimensions", buf);
                break;
            }
        }
        section(f, "Projector", t);
    }
    const char *params = jstr(resp, "parameters");
    if (params[0]) {
        t = cli_table_new(30);
        char *copy = ol_strdup(params);
        for (char *save = NULL, *line = copy ? strtok_r(copy, "\n", &save) : NULL; line;
             line = strtok_r(NULL, "\n", &save)) {
            const char *cells[16] = {""};
            size_t n = 1;
            for (char *s2 = NULL, *w = strtok_r(line, " \t\r", &s2); w && n < 16;
                 w = strtok_r(NULL, " \t\r", &s2))
                cells[n++] = w;
            if (n > 1) cli_table_row(t, n, cells);
        }
        free(copy);
        section(f, "Parameters", t);
    }
    if (json_is_object(mi) && verbose) {
        t = cli_table_new(30);
        const char **keys = calloc(json_object_size(mi) + 1, sizeof(*keys));
        size_t nk = 0;
        const char *k;
        json_t *v;
        json_object_foreach(mi, k, v) { keys[nk++] = k; }
        for (size_t i = 1; i < nk; i++)
            for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
                const char *tmp = keys[j];
                keys[j] = keys[j - 1];
                keys[j - 1] = tmp;
            }
        for (size_t i = 0; i < nk; i++) {
            v = json_object_get(mi, keys[i]);
            struct ol_buf b = {0};
            if (json_is_array(v)) {
                size_t shown = 0;
                int total = 1;
                for (size_t e = 0; e < json_array_size(v); e++) {
                    struct ol_buf ib = {0};
                    go_value(json_array_get(v, e), &ib);
                    int w = cli_text_width(ib.data ? ib.data : "", ib.len) + (e > 0 ? 2 : 0);
                    ol_buf_free(&ib);
                    if (total + w > 10 && e > 0) break;
                    total += w;
                    shown++;
                }
                ol_buf_puts(&b, "[");
                for (size_t e = 0; e < shown; e++) {
                    if (e) ol_buf_puts(&b, " ");
                    go_value(json_array_get(v, e), &b);
                }
                if (shown < json_array_size(v))
                    ol_buf_printf(&b, " ...+%zu more]", json_array_size(v) - shown);
                else
                    ol_buf_puts(&b, "]");
            } else {
                go_value(v, &b);
            }
            row2(t, keys[i], b.data ? b.data : "");
            ol_buf_free(&b);
        }
        free(keys);
        section(f, "Metadata", t);
    }
    json_t *tensors = json_object_get(resp, "tensors");
    if (json_array_size(tensors) && verbose) {
        t = cli_table_new(30);
        for (size_t i = 0; i < json_array_size(tensors); i++) {
            json_t *te = json_array_get(tensors, i);
            struct ol_buf b = {0};
            go_value(json_object_get(te, "shape"), &b);
            const char *cells[4] = {"", jstr(te, "name"), jstr(te, "type"), b.data ? b.data : "[]"};
            cli_table_row(t, 4, cells);
            ol_buf_free(&b);
        }
        section(f, "Tensors", t);
    }
    if (jstr(resp, "system")[0]) {
        t = cli_table_new(100);
        head_rows(t, jstr(resp, "system"), 2);
        section(f, "System", t);
    }
    if (jstr(resp, "license")[0]) {
        t = cli_table_new(100);
        head_rows(t, jstr(resp, "license"), 2);
        section(f, "License", t);
    }
    return 0;
}

int cli_cmd_show(struct cli_args *a, struct ol_err *err) {
    static const char *const kinds[] = {"license", "modelfile", "parameters", "system", "template"};
    int n_set = 0;
    const char *kind = NULL;
    for (size_t i = 0; i < OL_ARRAY_LEN(kinds); i++)
        if (cli_flag_bool(a, kinds[i])) n_set++, kind = kinds[i];
    if (n_set > 1)
        return ol_err_set(err, OL_EINVAL,
                          "only one of '--license', '--modelfile', '--parameters', '--system', "
                          "or '--template' can be specified");
    struct cli_client *c = cli_client_new();
    json_t *resp = NULL;
    bool verbose = cli_flag_bool(a, "verbose");
    int rc = cli_show_fetch(c, a->pos[0], verbose, NULL, NULL, &resp, err);
    cli_client_free(c);
    if (rc < 0) return rc;
    if (kind) {
        const char *v = jstr(resp, kind);
        bool nl = strcmp(kind, "system") != 0 && strcmp(kind, "template") != 0;
        printf("%s%s", v, nl ? "\n" : "");
    } else {
        cli_show_info(resp, verbose, stdout);
    }
    json_decref(resp);
    return 0;
}

/* ---- stop, rm, cp ---- */

static int unload(struct cli_client *c, const char *model, struct ol_err *err) {
    struct cli_run r = {.client = c, .model = (char *)model, .keep_alive = "0s"};
    return cli_run_load(&r, err);
}

int cli_cmd_stop(struct cli_args *a, struct ol_err *err) {
    struct cli_client *c = cli_client_new();
    int rc = unload(c, a->pos[0], err);
    cli_client_free(c);
    if (rc < 0 && strstr(err->msg, "not found"))
        return ol_err_set(err, OL_ENOTFOUND, "couldn't find model \"%s\" to stop", a->pos[0]);
    return rc;
}

int cli_cmd_rm(struct cli_args *a, struct ol_err *err) {
    struct cli_client *c = cli_client_new();
    int rc = 0;
    for (int i = 0; rc == 0 && i < a->n_pos; i++) {
        struct ol_err e2 = {0};
        if (unload(c, a->pos[i], &e2) < 0 && !strcasestr(e2.msg, "not found"))
            fprintf(stderr, "Warning: unable to stop model '%s'\n", a->pos[i]);
        json_t *req = json_pack("{s:s}", "model", a->pos[i]);
        char *body = dump(req);
        json_decref(req);
        rc = cli_client_do(c, "DELETE", "/api/delete", body, NULL, err);
        free(body);
        if (rc == 0) printf("deleted '%s'\n", a->pos[i]);
    }
    cli_client_free(c);
    return rc;
}

int cli_cmd_cp(struct cli_args *a, struct ol_err *err) {
    struct cli_client *c = cli_client_new();
    json_t *req = json_pack("{s:s,s:s}", "source", a->pos[0], "destination", a->pos[1]);
    char *body = dump(req);
    json_decref(req);
    int rc = cli_client_do(c, "POST", "/api/copy", body, NULL, err);
    free(body);
    cli_client_free(c);
    if (rc == 0) printf("copied '%s' to '%s'\n", a->pos[0], a->pos[1]);
    return rc;
}

/* ---- pull, push ---- */

int cli_cmd_pull(struct cli_args *a, struct ol_err *err) {
    struct cli_client *c = cli_client_new();
    int rc = cli_pull(c, a->pos[0], cli_flag_bool(a, "insecure"), err);
    cli_client_free(c);
    return rc;
}

int cli_cmd_push(struct cli_args *a, struct ol_err *err) {
    struct cli_client *c = cli_client_new();
    struct prog_ctx pc = {
        .p = cli_progress_new(), .spinner = -1, .bars = json_object(), .push = true};
    json_t *req = json_pack("{s:s}", "model", a->pos[0]);
    if (cli_flag_bool(a, "insecure")) json_object_set_new(req, "insecure", json_true());
    char *body = dump(req);
    json_decref(req);
    int rc = cli_client_stream(c, "/api/push", body, on_progress_line, &pc, err);
    free(body);
    cli_progress_stop(pc.p);
    cli_progress_free(pc.p);
    json_decref(pc.bars);
    cli_client_free(c);
    if (rc < 0) {
        if (strcasestr(err->msg, "access denied") || strcasestr(err->msg, "unauthorized"))
            return ol_err_set(err, OL_EINVAL,
                              "you are not authorized to push to this namespace, create the "
                              "model under a namespace you own");
        return rc;
    }
    struct store_name n;
    char dest[600];
    if (store_name_parse(a->pos[0], &n) < 0) return 0;
    size_t hl = strlen(n.host);
    if ((hl >= 10 && strcmp(n.host + hl - 10, ".ollama.ai") == 0) ||
        (hl >= 11 && strcmp(n.host + hl - 11, ".ollama.com") == 0)) {
        char s[500];
        store_name_short(&n, s, sizeof(s));
        size_t sl = strlen(s);
        if (sl > 7 && strcmp(s + sl - 7, ":latest") == 0) s[sl - 7] = '\0';
        snprintf(dest, sizeof(dest), "https://ollama.com/%s", s);
    } else {
        store_name_full(&n, dest, sizeof(dest));
    }
    printf("\nYou can find your model at:\n\n\t%s\n", dest);
    return 0;
}

/* ---- list, ps ---- */

int cli_list_print(struct cli_client *c, const char *prefix, struct ol_err *err) {
    char *out = NULL;
    int rc = cli_client_do(c, "GET", "/api/tags", NULL, &out, err);
    if (rc < 0) return rc;
    json_t *j = parse_json(out, err);
    free(out);
    if (!j) return OL_EFORMAT;
    struct cli_table *t = cli_table_new(30);
    const char *hdr[] = {"NAME", "ID", "SIZE", "MODIFIED"};
    cli_table_header(t, 4, hdr);
    json_t *models = json_object_get(j, "models");
    double now = now_unix();
    for (size_t i = 0; i < json_array_size(models); i++) {
        json_t *m = json_array_get(models, i);
        const char *name = jstr(m, "name");
        if (prefix && strncasecmp(name, prefix, strlen(prefix)) != 0) continue;
        char id[13], size[32], mod[64];
        snprintf(id, sizeof(id), "%.12s", jstr(m, "digest"));
        if (jstr(m, "remote_model")[0])
            snprintf(size, sizeof(size), "-");
        else
            cli_human_bytes(json_integer_value(json_object_get(m, "size")), size, sizeof(size));
        double t0;
        bool zero;
        if (cli_time_parse(jstr(m, "modified_at"), &t0, &zero) < 0) zero = true;
        cli_human_time(t0, now, zero, "Never", mod, sizeof(mod));
        const char *cells[] = {name, id, size, mod};
        cli_table_row(t, 4, cells);
    }
    struct ol_buf b = {0};
    cli_table_render(t, &b);
    print_buf(&b, stdout);
    cli_table_free(t);
    json_decref(j);
    return 0;
}

int cli_cmd_list(struct cli_args *a, struct ol_err *err) {
    struct cli_client *c = cli_client_new();
    int rc = cli_list_print(c, a->n_pos ? a->pos[0] : NULL, err);
    cli_client_free(c);
    return rc;
}

int cli_cmd_ps(struct cli_args *a, struct ol_err *err) {
    struct cli_client *c = cli_client_new();
    char *out = NULL;
    int rc = cli_client_do(c, "GET", "/api/ps", NULL, &out, err);
    cli_client_free(c);
    if (rc < 0) return rc;
    json_t *j = parse_json(out, err);
    free(out);
    if (!j) return OL_EFORMAT;
    struct cli_table *t = cli_table_new(30);
    const char *hdr[] = {"NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"};
    cli_table_header(t, 6, hdr);
    json_t *models = json_object_get(j, "models");
    double now = now_unix();
    for (size_t i = 0; i < json_array_size(models); i++) {
        json_t *m = json_array_get(models, i);
        const char *name = jstr(m, "name");
        if (a->n_pos && strncmp(name, a->pos[0], strlen(a->pos[0])) != 0) continue;
        int64_t size = json_integer_value(json_object_get(m, "size"));
        int64_t vram = json_integer_value(json_object_get(m, "size_vram"));
        char proc[64], id[13], sz[32], ctx[32], until[64];
        if (vram == 0)
            snprintf(proc, sizeof(proc), "100%% CPU");
        else if (vram == size)
            snprintf(proc, sizeof(proc), "100%% GPU");
        else if (vram > size || size == 0)
            snprintf(proc, sizeof(proc), "Unknown");
        else {
            double cpu = round((double)(size - vram) / (double)size * 100);
            snprintf(proc, sizeof(proc), "%d%%/%d%% CPU/GPU", (int)cpu, (int)(100 - cpu));
        }
        snprintf(id, sizeof(id), "%.12s", jstr(m, "digest"));
        cli_human_bytes(size, sz, sizeof(sz));
        snprintf(ctx, sizeof(ctx), "%lld",
                 (long long)json_integer_value(json_object_get(m, "context_length")));
        double exp;
        bool zero;
        if (cli_time_parse(jstr(m, "expires_at"), &exp, &zero) < 0) zero = true;
        if (!zero && now - exp > 0)
            snprintf(until, sizeof(until), "Stopping...");
        else
            cli_human_time(exp, now, zero, "Never", until, sizeof(until));
        const char *cells[] = {name, id, sz, proc, ctx, until};
        cli_table_row(t, 6, cells);
    }
    struct ol_buf b = {0};
    cli_table_render(t, &b);
    print_buf(&b, stdout);
    cli_table_free(t);
    json_decref(j);
    return 0;
}
