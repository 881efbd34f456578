/* Model management routes: tags, show, ps, copy, delete, create, blobs (api.md §5, §6). */
#include "server/api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/template.h"

static json_t *details_of(const struct store_model *m) {
    json_t *d = json_object();
    json_object_set_new(d, "parent_model", json_string(m->parent_model ? m->parent_model : ""));
    json_object_set_new(d, "format", json_string(m->format ? m->format : ""));
    json_object_set_new(d, "family", json_string(m->family ? m->family : ""));
    if (m->families_null) {
        json_object_set_new(d, "families", json_null());
    } else {
        json_t *f = json_array();
        for (int i = 0; i < m->n_families; i++)
            json_array_append_new(f, json_string(m->families[i]));
        json_object_set_new(d, "families", f);
    }
    json_object_set_new(d, "parameter_size",
                        json_string(m->parameter_size ? m->parameter_size : ""));
    json_object_set_new(d, "quantization_level",
                        json_string(m->quantization_level ? m->quantization_level : ""));
    return d;
}

void api_tags(struct srv *s, struct srv_http *h) {
    struct store_model *list = NULL;
    int n = 0;
    struct ol_err err = {0};
    if (store_model_list(s->store, &list, &n, &err) < 0) {
        http_reply_error(h, 500, err.msg);
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        char name[600], ts[64];
        store_name_short(&list[i].name, name, sizeof(name));
        srv_time_format(list[i].modified_ns, false, ts, sizeof(ts));
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(name));
        json_object_set_new(o, "model", json_string(name));
        json_object_set_new(o, "modified_at", json_string(ts));
        json_object_set_new(o, "size", json_integer((json_int_t)list[i].size));
        json_object_set_new(o, "digest", json_string(list[i].digest));
        json_t *d = details_of(&list[i]);
        json_object_set_new(d, "parent_model", json_string(""));
        json_object_set_new(o, "details", d);
        json_array_append_new(arr, o);
    }
    store_model_list_free(list, n);
    json_t *o = json_object();
    json_object_set_new(o, "models", arr);
    api_reply_obj(h, 200, o);
}

void api_ps(struct srv *s, struct srv_http *h) {
    struct ol_buf b = {0};
    ol_buf_puts(&b, "{\"models\":");
    sched_ps_json(s->sched, &b);
    ol_buf_puts(&b, "}");
    http_reply_json(h, 200, b.data);
    ol_buf_free(&b);
}

static json_t *meta_value(const struct eng_model *m, int i, const struct eng_meta_value *v,
                          bool verbose);

static json_t *meta_scalar(const struct eng_meta_value *v) {
    switch (v->type) {
    case ENG_META_UINT:
        return json_integer((json_int_t)v->u);
    case ENG_META_INT:
        return json_integer(v->i);
    case ENG_META_FLOAT:
        return json_real(v->f);
    case ENG_META_BOOL:
        return json_boolean(v->b);
    case ENG_META_STRING: {
        json_t *s = json_stringn(v->str, v->str_len);
        return s ? s : json_string("");
    }
    default:
        return json_null();
    }
}

static json_t *meta_value(const struct eng_model *m, int i, const struct eng_meta_value *v,
                          bool verbose) {
    if (v->type != ENG_META_ARRAY) return meta_scalar(v);
    json_t *arr = json_array();
    if (v->n_elems > 5 && !verbose) return arr; /* spec: long arrays shown as [] */
    for (uint64_t j = 0; j < v->n_elems; j++) {
        struct eng_meta_value e;
        if (eng_model_meta_elem(m, i, j, &e)) json_array_append_new(arr, meta_scalar(&e));
    }
    return arr;
}

/* model_info of the model file, and its tensor list into *tensors when not NULL. */
static json_t *model_info(const char *path, bool verbose, json_t **tensors) {
    json_t *info = json_object();
    if (!path) return info;
    struct ol_err err = {0};
    struct eng_model_params mp = eng_model_default_params();
    mp.vocab_only = true;
    struct eng_model *m = eng_model_load(path, &mp, &err);
    if (!m) return info;
    int n = eng_model_meta_count(m);
    for (int i = 0; i < n; i++) {
        struct eng_meta_value v;
        if (!eng_model_meta_at(m, i, &v)) continue;
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)OL_MIN(v.key_len, 255), v.key);
        if (strcmp(key, "general.name") == 0 || strcmp(key, "tokenizer.chat_template") == 0)
            continue;
        json_object_set_new(info, key, meta_value(m, i, &v, verbose));
    }
    struct eng_model_info mi;
    eng_model_get_info(m, &mi);
    json_object_set_new(info, "general.parameter_count", json_integer((json_int_t)mi.n_params));
    if (tensors) {
        *tensors = json_array();
        int nt = eng_model_tensor_count(m);
        for (int i = 0; i < nt; i++) {
            struct eng_tensor_info ti;
            if (!eng_model_tensor_at(m, i, &ti)) continue;
            json_t *t = json_object();
            json_object_set_new(t, "name", json_stringn(ti.name, ti.name_len));
            json_object_set_new(t, "type", json_string(ti.type));
            json_t *shape = json_array();
            for (int d = 0; d < ti.n_dims; d++)
                json_array_append_new(shape, json_integer(ti.ne[d]));
            json_object_set_new(t, "shape", shape);
            json_array_append_new(*tensors, t);
        }
    }
    eng_model_free(m);
    return info;
}

static json_t *capabilities(const struct store_model *m) {
    json_t *caps = json_array();
    json_array_append_new(caps, json_string("completion"));
    const char *t = m->template_text;
    if (t) {
        struct tmpl *tp = tmpl_parse(t, strlen(t), TMPL_PARSE_OLLAMA, NULL);
        if (tp) {
            if (tmpl_references(tp, "Tools")) json_array_append_new(caps, json_string("tools"));
            if (tmpl_references(tp, "Suffix")) json_array_append_new(caps, json_string("insert"));
            struct ol_buf open = {0}, close = {0};
            if (tmpl_thinking_tags(tp, &open, &close) == 1)
                json_array_append_new(caps, json_string("thinking"));
            ol_buf_free(&open);
            ol_buf_free(&close);
        }
        tmpl_free(tp);
    }
    return caps;
}

void api_show(struct srv *s, struct srv_http *h) {
    json_t *req = api_parse_body(h);
    if (!req) return;
    const char *name = api_jstr(req, "model");
    if (!name || !*name) name = api_jstr(req, "name");
    struct store_model m = {0};
    struct ol_err err = {0};
    if (!name || !*name) {
        http_reply_error(h, 400, "model is required");
        goto out;
    }
    if (store_model_get(s->store, name, &m, &err) < 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "model '%s' not found", name);
        http_reply_error(h, 404, msg);
        goto out;
    }
    const char *sys_override = api_jstr(req, "system");
    char *opt_override = NULL;
    const json_t *opts = json_object_get(req, "options");
    if (json_is_object(opts)) opt_override = json_dumps(opts, JSON_COMPACT);
    json_t *o = json_object();
    struct ol_buf b = {0};
    for (int i = 0; i < m.n_licenses; i++) {
        if (i) ol_buf_puts(&b, "\n");
        ol_buf_puts(&b, m.licenses[i]);
    }
    if (b.len) json_object_set_new(o, "license", json_string(b.data));
    b.len = 0;
    if (store_modelfile_render(s->store, &m, sys_override, opt_override, &b) == 0 && b.data)
        json_object_set_new(o, "modelfile", json_string(b.data));
    b.len = 0;
    if (m.params_json && store_params_render(m.params_json, &b) == 0 && b.len)
        json_object_set_new(o, "parameters", json_string(b.data));
    json_object_set_new(o, "template",
                        json_string(m.template_text ? m.template_text : "{{ .Prompt }}"));
    const char *sys = sys_override ? sys_override : m.system_text;
    if (sys && *sys) json_object_set_new(o, "system", json_string(sys));
    json_object_set_new(o, "details", details_of(&m));
    if (m.messages_json) {
        json_t *msgs = json_loads(m.messages_json, 0, NULL);
        if (msgs) json_object_set_new(o, "messages", msgs);
    }
    bool verbose = json_is_true(json_object_get(req, "verbose"));
    json_t *tensors = NULL;
    json_object_set_new(o, "model_info",
                        model_info(m.model_path, verbose, verbose ? &tensors : NULL));
    if (tensors) json_object_set_new(o, "tensors", tensors);
    json_object_set_new(o, "capabilities", capabilities(&m));
    char ts[64];
    srv_time_format(m.modified_ns, false, ts, sizeof(ts));
    json_object_set_new(o, "modified_at", json_string(ts));
    ol_buf_free(&b);
    free(opt_override);
    api_reply_obj(h, 200, o);
out:
    store_model_clear(&m);
    json_decref(req);
}

void api_copy(struct srv *s, struct srv_http *h) {
    json_t *req = api_parse_body(h);
    if (!req) return;
    struct ol_err err = {0};
    const char *src = api_jstr(req, "source"), *dst = api_jstr(req, "destination");
    int rc = store_model_copy(s->store, src ? src : "", dst ? dst : "", &err);
    if (rc == 0)
        http_reply_empty(h, 200);
    else
        http_reply_error(h, rc == OL_ENOTFOUND ? 404 : rc == OL_EINVAL ? 400 : 500, err.msg);
    json_decref(req);
}

void api_delete(struct srv *s, struct srv_http *h) {
    json_t *req = api_parse_body(h);
    if (!req) return;
    struct ol_err err = {0};
    const char *name = api_jstr(req, "model");
    if (!name || !*name) name = api_jstr(req, "name");
    int rc = store_model_delete(s->store, name ? name : "", &err);
    if (rc == 0)
        http_reply_empty(h, 200);
    else
        http_reply_error(h, rc == OL_ENOTFOUND ? 404 : rc == OL_EINVAL ? 400 : 500, err.msg);
    json_decref(req);
}

void api_blob_head(struct srv *s, struct srv_http *h) {
    const char *digest = http_url(h) + strlen("/api/blobs/");
    if (!store_digest_is_valid(digest)) {
        http_reply_error(h, 400, "invalid digest format");
        return;
    }
    if (store_blob_exists(s->store, digest)) {
        http_reply_empty(h, 200);
        return;
    }
    char msg[200];
    snprintf(msg, sizeof(msg), "blob \"%s\" not found", digest);
    http_reply_error(h, 404, msg);
}

void api_blob_post(struct srv *s, struct srv_http *h) {
    (void)s;
    struct ol_err err = {0};
    bool existed;
    int rc = http_blob_result(h, &err, &existed);
    if (rc < 0)
        http_reply_error(h, rc == OL_EINVAL ? 400 : 500, err.msg);
    else
        http_reply_empty(h, existed ? 200 : 201);
}

/* ---- create ---- */

struct create_ctx {
    struct srv_stream *st;
    bool stream;
    const struct tmpl_family *fam;
    char *params;
};

static void create_status(void *user, const char *status) {
    struct create_ctx *c = user;
    if (!c->stream) return;
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(status));
    char *txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!txt) return;
    size_t n = strlen(txt);
    txt[n] = '\n';
    srv_stream_write(c->st, txt, n + 1);
    free(txt);
}

static bool create_pull_progress(void *user, const char *status, const char *digest, int64_t total,
                                 int64_t completed) {
    if (*digest && completed != total) return true; /* one line per blob, when done */
    create_status(user, status);
    return true;
}

static const char *detect(void *user, const char *chat_template, const char **params_json,
                          const char **family_name) {
    struct create_ctx *c = user;
    c->fam = tmpl_family_detect(chat_template, strlen(chat_template));
    if (!c->fam) return NULL;
    json_t *p = json_object();
    if (c->fam->n_stop) {
        json_t *stop = json_array();
        for (int i = 0; i < c->fam->n_stop; i++)
            json_array_append_new(stop, json_string(c->fam->stop[i]));
        json_object_set_new(p, "stop", stop);
    }
    free(c->params);
    c->params = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    *params_json = c->params;
    *family_name = c->fam->name;
    return c->fam->template;
}

/* Collects {"name": "digest"} pairs of a files/adapters object; false on a bad entry. */
static bool file_map(const json_t *obj, const char ***names, const char ***digests, int *n) {
    *n = 0;
    *names = *digests = NULL;
    if (!obj || json_is_null(obj)) return true;
    if (!json_is_object(obj)) return false;
    size_t cnt = json_object_size(obj);
    *names = ol_calloc_array(cnt + 1, sizeof(char *));
    *digests = ol_calloc_array(cnt + 1, sizeof(char *));
    if (!*names || !*digests) return false;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        (*names)[*n] = k;
        (*digests)[*n] = json_is_string(v) ? json_string_value(v) : "";
        (*n)++;
    }
    return true;
}

void api_create(struct srv *s, struct srv_http *h) {
    json_t *req = api_parse_body(h);
    if (!req) return;
    struct store_create_req r = {0};
    struct create_ctx cc = {0};
    struct ol_err err = {0};
    const char **fn = NULL, **fd = NULL, **an = NULL, **ad = NULL, **lic = NULL;
    char *params = NULL, *messages = NULL;
    r.model = api_jstr(req, "model");
    if (!r.model || !*r.model) r.model = api_jstr(req, "name");
    if (!r.model || !*r.model) {
        http_reply_error(h, 400, "model is required");
        goto out;
    }
    r.from = api_jstr(req, "from");
    if (!file_map(json_object_get(req, "files"), &fn, &fd, &r.n_files) ||
        !file_map(json_object_get(req, "adapters"), &an, &ad, &r.n_adapters)) {
        http_reply_error(h, 400, "invalid files: expected an object of file names and digests");
        goto out;
    }
    r.file_names = fn;
    r.file_digests = fd;
    r.adapter_names = an;
    r.adapter_digests = ad;
    r.template_text = api_jstr(req, "template");
    if (r.template_text && *r.template_text) {
        struct tmpl *t =
            tmpl_parse(r.template_text, strlen(r.template_text), TMPL_PARSE_OLLAMA, &err);
        if (!t) {
            char msg[400];
            snprintf(msg, sizeof(msg), "template error: %s", err.msg);
            http_reply_error(h, 400, msg);
            goto out;
        }
        tmpl_free(t);
    }
    r.system_text = api_jstr(req, "system");
    const json_t *l = json_object_get(req, "license");
    if (json_is_string(l)) {
        lic = ol_calloc_array(1, sizeof(char *));
        if (lic) lic[r.n_licenses++] = json_string_value(l);
    } else if (json_is_array(l)) {
        lic = ol_calloc_array(json_array_size(l) + 1, sizeof(char *));
        size_t i;
        json_t *e;
        json_array_foreach(l, i, e) if (lic && json_is_string(e)) lic[r.n_licenses++] =
            json_string_value(e);
    }
    r.licenses = lic;
    const json_t *p = json_object_get(req, "parameters");
    if (json_is_object(p)) r.params_json = params = json_dumps(p, JSON_COMPACT);
    const json_t *msgs = json_object_get(req, "messages");
    if (json_is_array(msgs)) r.messages_json = messages = json_dumps(msgs, JSON_COMPACT);
    r.quantize = api_jstr(req, "quantize");
    if (!r.quantize) r.quantize = api_jstr(req, "quantization");
    r.detect_template = detect;
    r.detect_user = &cc;
    cc.stream = !json_is_false(json_object_get(req, "stream"));
    if (cc.stream) {
        /* Create runs in this thread; the statuses are buffered into the stream and sent
         * when it ends (create of a local GGUF takes a moment). */
        cc.st = srv_stream_new();
    }
    int rc = 0;
    if (r.from && *r.from && r.n_files == 0) {
        /* a base model that is not here is pulled first (statuses go to the same stream) */
        struct store_model base;
        rc = store_model_get(s->store, r.from, &base, &err);
        store_model_clear(&base);
        if (rc == OL_ENOTFOUND) {
            struct store_xfer_params xp = {.progress = create_pull_progress, .user = &cc};
            rc = store_pull(s->store, r.from, &xp, &err);
        } else {
            rc = 0; /* store_create words any other problem */
        }
    }
    if (rc == 0) rc = store_create(s->store, &r, create_status, &cc, &err);
    int status = rc == 0                                    ? 200
                 : rc == OL_EINVAL || rc == OL_EUNSUPPORTED ? 400
                 : rc == OL_ENOTFOUND                       ? 404
                                                            : 500;
    if (cc.stream) {
        if (rc < 0) {
            json_t *o = json_object();
            json_object_set_new(o, "error", json_string(err.msg));
            char *txt = json_dumps(o, JSON_COMPACT);
            json_decref(o);
            if (txt) {
                srv_stream_write(cc.st, txt, strlen(txt));
                srv_stream_write(cc.st, "\n", 1);
            }
            free(txt);
        }
        srv_stream_close(cc.st);
        http_reply_stream(h, cc.st);
    } else if (rc < 0) {
        http_reply_error(h, status, err.msg);
    } else {
        http_reply_json(h, 200, "{\"status\":\"success\"}");
    }
out:
    free(fn);
    free(fd);
    free(an);
    free(ad);
    free(lic);
    free(params);
    free(messages);
    free(cc.params);
    json_decref(req);
}
