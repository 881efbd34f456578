/* Route handlers of the native API. Internal to the server module. */
#ifndef OL_SERVER_API_H
#define OL_SERVER_API_H

#include "server/http.h"

struct json_t;

/* Parses the request body as a JSON object; on failure replies 400 (`missing request body`
 * or the decoder's message) and returns NULL. The caller frees with json_decref. */
struct json_t *api_parse_body(struct srv_http *h);
/* A request field and its JSON kind: 's' string, 'b' bool, 'n' number, 'a' array, 'o'
 * object. Lists end with {NULL, 0}. */
struct api_field {
    const char *name;
    char kind;
};
/* Replies 400 with Go's decoder message and returns false when a listed field has the wrong
 * JSON type (null and absent are fine). */
bool api_check_fields(struct srv_http *h, const struct json_t *req, const char *go_struct,
                      const struct api_field *fields);
/* The string value of key k in object o, or NULL when absent or not a string. */
const char *api_jstr(const struct json_t *o, const char *k);
/* Replies with o as compact JSON and drops the reference to o. */
void api_reply_obj(struct srv_http *h, int status, struct json_t *o);
int api_keep_alive(struct srv *s, struct srv_http *h, const struct json_t *req, int64_t *out);

void api_generate(struct srv *s, struct srv_http *h);
void api_chat(struct srv *s, struct srv_http *h);
void api_embed(struct srv *s, struct srv_http *h);
void api_embeddings(struct srv *s, struct srv_http *h);
void api_tags(struct srv *s, struct srv_http *h);
void api_show(struct srv *s, struct srv_http *h);
void api_ps(struct srv *s, struct srv_http *h);
void api_copy(struct srv *s, struct srv_http *h);
void api_delete(struct srv *s, struct srv_http *h);
void api_create(struct srv *s, struct srv_http *h);
void api_blob_head(struct srv *s, struct srv_http *h);
void api_blob_post(struct srv *s, struct srv_http *h);
/* api_registry.c: /api/pull and /api/push */
void api_pull(struct srv *s, struct srv_http *h);
void api_push(struct srv *s, struct srv_http *h);

#endif
