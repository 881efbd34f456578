/* http: the request/response layer over libmicrohttpd used by the route handlers.
 * Internal to the server module. */
#ifndef OL_SERVER_HTTP_H
#define OL_SERVER_HTTP_H

#include "server/srv.h"

struct srv_http; /* one request being handled */

const char *http_method(const struct srv_http *h);
const char *http_url(const struct srv_http *h);
const char *http_header(const struct srv_http *h, const char *name); /* NULL if absent */
/* The request body (NUL-terminated); len 0 when empty. */
const char *http_body(const struct srv_http *h, size_t *len);
/* The blob upload state of POST /api/blobs/:digest (set while the body streamed in). */
int http_blob_result(const struct srv_http *h, struct ol_err *err, bool *existed);

/* Replies (exactly one per request). `json` is a compact JSON text. */
void http_reply_json(struct srv_http *h, int status, const char *json);
void http_reply_error(struct srv_http *h, int status, const char *msg);
void http_reply_text(struct srv_http *h, int status, const char *ctype, const char *text);
void http_reply_empty(struct srv_http *h, int status);
/* Streams NDJSON from `st` (takes the HTTP side's reference). */
void http_reply_stream(struct srv_http *h, struct srv_stream *st);

/* Waits for the producer of `st` to finish and replies with everything it wrote as one JSON
 * body, with the status it set (takes the HTTP side's reference). For stream:false. */
void http_reply_collected(struct srv_http *h, struct srv_stream *st);

/* Starts the HTTP server; routes dispatch to srv_route(). */
struct http_server;
struct http_server *http_start(struct srv *s, struct ol_err *err);
void http_stop(struct http_server *hs);

/* routes.c: dispatches one complete request. */
void srv_route(struct srv *s, struct srv_http *h);
/* routes.c: true when this request is a blob upload whose body should stream to the store. */
bool srv_route_is_blob_upload(const char *method, const char *url);

#endif
