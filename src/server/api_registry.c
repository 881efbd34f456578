/* /api/pull and /api/push (api.md §5.7-§5.8): the transfer runs on its own thread and writes
 * NDJSON progress objects into a srv_stream that the HTTP thread sends; when the client goes
 * away the next write fails, which cancels the transfer (a download shared with another pull
 * goes on). Non-stream requests get only the last object (or the error with status 500). */
#include "server/api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct xfer_job {
    struct srv *srv;
    struct srv_stream *st;
    bool stream;
    bool push;
    char *model;
    char *username;
    char *password;
    bool insecure;
};

static bool write_obj(struct srv_stream *st, json_t *o) {
    char *txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!txt) return true;
    size_t n = strlen(txt);
    txt[n] = '\n'; /* the NUL becomes the line end; n + 1 bytes are sent */
    bool ok = srv_stream_write(st, txt, n + 1);
    free(txt);
    return ok;
}

static bool on_progress(void *user, const char *status, const char *digest, int64_t total,
                        int64_t completed) {
    struct xfer_job *j = user;
    if (!j->stream) return !srv_stream_is_abandoned(j->st);
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(status));
    if (digest && *digest) json_object_set_new(o, "digest", json_string(digest));
    if (total > 0) json_object_set_new(o, "total", json_integer(total));
    if (completed > 0) json_object_set_new(o, "completed", json_integer(completed));
    return write_obj(j->st, o);
}

static void job_free(struct xfer_job *j) {
    free(j->model);
    free(j->username);
    free(j->password);
    free(j);
}

static void *xfer_thread(void *arg) {
    struct xfer_job *j = arg;
    struct ol_err err = {0};
    struct store_xfer_params p = {.insecure = j->insecure,
                                  .username = j->username,
                                  .password = j->password,
                                  .progress = on_progress,
                                  .user = j};
    int rc = j->push ? store_push(j->srv->store, j->model, &p, &err)
                     : store_pull(j->srv->store, j->model, &p, &err);
    if (rc < 0) {
        if (rc != OL_ECANCELED)
            ol_log(OL_LOG_WARN, "%s %s: %s", j->push ? "push" : "pull", j->model, err.msg);
        if (!j->stream) srv_stream_set_status(j->st, 500);
        write_obj(j->st, json_pack("{s:s}", "error", err.msg));
    } else if (!j->stream) {
        write_obj(j->st, json_pack("{s:s}", "status", "success"));
    }
    srv_stream_close(j->st);
    job_free(j);
    return NULL;
}

static char *dup_opt(const json_t *req, const char *k) {
    const char *v = api_jstr(req, k);
    return v && *v ? ol_strdup(v) : NULL;
}

static void xfer(struct srv *s, struct srv_http *h, bool push) {
    static const struct api_field fields[] = {{"model", 's'},  {"name", 's'},     {"insecure", 'b'},
                                              {"stream", 'b'}, {"username", 's'}, {"password", 's'},
                                              {NULL, 0}};
    json_t *req = api_parse_body(h);
    if (!req) return;
    if (!api_check_fields(h, req, push ? "PushRequest" : "PullRequest", fields)) goto out;
    const char *model = api_jstr(req, "model");
    if (!model || !*model) model = api_jstr(req, "name");
    if (!model || !*model) {
        http_reply_error(h, 400, "model is required");
        goto out;
    }
    struct xfer_job *j = calloc(1, sizeof(*j));
    if (!j || !(j->model = ol_strdup(model)) || !(j->st = srv_stream_new())) {
        if (j) job_free(j);
        http_reply_error(h, 500, "out of memory");
        goto out;
    }
    j->srv = s;
    j->push = push;
    j->stream = !json_is_false(json_object_get(req, "stream"));
    j->insecure = json_is_true(json_object_get(req, "insecure"));
    j->username = dup_opt(req, "username");
    j->password = dup_opt(req, "password");
    struct srv_stream *st = j->st;
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &a, xfer_thread, j) != 0) {
        pthread_attr_destroy(&a);
        srv_stream_close(st);
        srv_stream_abandon(st);
        job_free(j);
        http_reply_error(h, 500, "cannot start a transfer thread");
        goto out;
    }
    pthread_attr_destroy(&a);
    if (j->stream)
        http_reply_stream(h, st);
    else
        http_reply_collected(h, st);
out:
    json_decref(req);
}

void api_pull(struct srv *s, struct srv_http *h) { xfer(s, h, false); }

void api_push(struct srv *s, struct srv_http *h) { xfer(s, h, true); }
