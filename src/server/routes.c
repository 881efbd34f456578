/* Routing of the native API (api.md): exact paths, 404 `404 page not found` for unknown paths
 * and 405 `405 method not allowed` for a known path with another method. */
#include "server/api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *api_parse_body(struct srv_http *h) {
    size_t len;
    const char *body = http_body(h, &len);
    if (len == 0) {
        http_reply_error(h, 400, "missing request body");
        return NULL;
    }
    json_error_t je;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES & 0, &je);
    if (!v) {
        char msg[300];
        snprintf(msg, sizeof(msg), "invalid JSON: %s", je.text);
        http_reply_error(h, 400, msg);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        http_reply_error(h, 400, "json: cannot unmarshal request: expected an object");
        return NULL;
    }
    return v;
}

const char *api_jstr(const json_t *o, const char *k) {
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

void api_reply_obj(struct srv_http *h, int status, json_t *o) {
    char *txt = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    if (txt)
        http_reply_json(h, status, txt);
    else
        http_reply_error(h, 500, "out of memory");
    free(txt);
}

/* Go's decoder message for a field of the wrong JSON type. */
static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "bool";
    default:
        return "null";
    }
}

bool api_check_fields(struct srv_http *h, const json_t *req, const char *go_struct,
                      const struct api_field *fields) {
    for (const struct api_field *f = fields; f->name; f++) {
        const json_t *v = json_object_get(req, f->name);
        if (!v || json_is_null(v)) continue;
        bool ok = true;
        switch (f->kind) {
        case 's':
            ok = json_is_string(v);
            break;
        case 'b':
            ok = json_is_boolean(v);
            break;
        case 'n':
            ok = json_is_number(v);
            break;
        case 'a':
            ok = json_is_array(v);
            break;
        case 'o':
            ok = json_is_object(v);
            break;
        default:
            break;
        }
        if (!ok) {
            static const char *const go_types[] = {['s'] = "string",
                                                   ['b'] = "bool",
                                                   ['n'] = "int",
                                                   ['a'] = "[]",
                                                   ['o'] = "map[string]interface {}"};
            char msg[256];
            snprintf(msg, sizeof(msg),
                     "json: cannot unmarshal %s into Go struct field %s.%s of type %s",
                     json_kind(v), go_struct, f->name, go_types[(unsigned char)f->kind]);
            http_reply_error(h, 400, msg);
            return false;
        }
    }
    return true;
}

static void api_root(struct srv *s, struct srv_http *h) {
    (void)s;
    http_reply_text(h, 200, "text/plain; charset=utf-8", "Ollama is running");
}

static void api_version(struct srv *s, struct srv_http *h) {
    (void)s;
    http_reply_json(h, 200, "{\"version\":\"" SRV_VERSION "\"}");
}

struct route {
    const char *method;
    const char *path; /* a trailing '*' matches any rest */
    void (*fn)(struct srv *, struct srv_http *);
};

static const struct route routes[] = {
    {"GET", "/", api_root},
    {"HEAD", "/", api_root},
    {"GET", "/api/version", api_version},
    {"HEAD", "/api/version", api_version},
    {"GET", "/api/tags", api_tags},
    {"HEAD", "/api/tags", api_tags},
    {"GET", "/api/ps", api_ps},
    {"POST", "/api/show", api_show},
    {"POST", "/api/copy", api_copy},
    {"DELETE", "/api/delete", api_delete},
    {"POST", "/api/create", api_create},
    {"HEAD", "/api/blobs/*", api_blob_head},
    {"POST", "/api/blobs/*", api_blob_post},
    {"POST", "/api/generate", api_generate},
    {"POST", "/api/chat", api_chat},
    {"POST", "/api/embed", api_embed},
    {"POST", "/api/embeddings", api_embeddings},
    {"POST", "/api/pull", api_pull},
    {"POST", "/api/push", api_push},
};

static bool path_matches(const char *pattern, const char *url) {
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '*') return strncmp(pattern, url, n - 1) == 0;
    return strcmp(pattern, url) == 0;
}

bool srv_route_is_blob_upload(const char *method, const char *url) {
    return strcmp(method, "POST") == 0 && strncmp(url, "/api/blobs/", 11) == 0;
}

void srv_route(struct srv *s, struct srv_http *h) {
    bool path_known = false;
    for (size_t i = 0; i < OL_ARRAY_LEN(routes); i++) {
        if (!path_matches(routes[i].path, http_url(h))) continue;
        path_known = true;
        if (strcmp(routes[i].method, http_method(h)) == 0) {
            routes[i].fn(s, h);
            return;
        }
    }
    if (path_known)
        http_reply_text(h, 405, "text/plain", "405 method not allowed");
    else
        http_reply_text(h, 404, "text/plain", "404 page not found");
}
