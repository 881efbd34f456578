/* HTTP over libmicrohttpd, one thread per connection (so a handler and a streaming reader
 * may block). Bodies are collected up to SRV_MAX_BODY, except blob uploads, which stream to
 * the store while being hashed. CORS and the Host (DNS-rebinding) checks run before routing
 * (spec: api.md §1.6). */
#include "server/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_server {
    struct MHD_Daemon *d;
    struct srv *s;
};

struct srv_http {
    struct MHD_Connection *conn;
    struct srv *s;
    const char *method, *url;
    struct ol_buf body;
    bool too_large;
    bool replied;
    enum MHD_Result result;
    /* blob upload */
    bool is_blob;
    struct store_blob_writer *blob;
    bool blob_existed;
    int blob_rc;
    struct ol_err blob_err;
    char origin_allow[512]; /* Access-Control-Allow-Origin value, "" = none */
};

const char *http_method(const struct srv_http *h) { return h->method; }
const char *http_url(const struct srv_http *h) { return h->url; }
const char *http_header(const struct srv_http *h, const char *name) {
    return MHD_lookup_connection_value(h->conn, MHD_HEADER_KIND, name);
}
const char *http_body(const struct srv_http *h, size_t *len) {
    *len = h->body.len;
    return h->body.data ? h->body.data : "";
}

int http_blob_result(const struct srv_http *h, struct ol_err *err, bool *existed) {
    *existed = h->blob_existed;
    if (h->blob_rc < 0 && err) *err = h->blob_err;
    return h->blob_rc;
}

static void add_common_headers(struct srv_http *h, struct MHD_Response *r) {
    if (h->origin_allow[0]) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", h->origin_allow);
        MHD_add_response_header(r, "Vary", "Origin");
    }
}

static void queue(struct srv_http *h, int status, struct MHD_Response *r) {
    if (!r) {
        h->result = MHD_NO;
        h->replied = true;
        return;
    }
    add_common_headers(h, r);
    h->result = MHD_queue_response(h->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    h->replied = true;
}

void http_reply_text(struct srv_http *h, int status, const char *ctype, const char *text) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (r && ctype) MHD_add_response_header(r, "Content-Type", ctype);
    queue(h, status, r);
}

void http_reply_json(struct srv_http *h, int status, const char *json) {
    http_reply_text(h, status, "application/json; charset=utf-8", json);
}

void http_reply_error(struct srv_http *h, int status, const char *msg) {
    struct ol_buf b = {0};
    ol_buf_puts(&b, "{\"error\":");
    srv_json_quote(&b, msg, strlen(msg));
    ol_buf_puts(&b, "}");
    http_reply_json(h, status, b.data ? b.data : "{\"error\":\"out of memory\"}");
    ol_buf_free(&b);
}

void http_reply_empty(struct srv_http *h, int status) {
    queue(h, status, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

/* A streamed response: its stream and what sending it cost the connection thread. */
struct stream_reply {
    struct srv_stream *st;
    int64_t cpu0_ns; /* the thread's CPU clock at the first read */
    uint64_t bytes;
    int n_reads;
};

/* Runs on the connection's thread, which then sends what it returns. The CPU time from the
 * first read to the end (waiting costs none) is the server's sending work, logged at debug
 * level for bench/serve. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    struct stream_reply *r = cls;
    if (r->n_reads++ == 0) {
        r->cpu0_ns = srv_thread_cpu_ns();
        /* Woken for each token, this thread used to preempt the model runner on its core (the
         * other core's compute worker was busy waiting): the runner's token callback took a
         * median 218 µs of wall time instead of 40. A batch thread does not preempt on wake-up. */
        struct sched_param sp = {0};
        sched_setscheduler(0, SCHED_BATCH, &sp);
    }
    size_t n = srv_stream_read(r->st, buf, max);
    r->bytes += n;
    if (n) return (ssize_t)n;
    ol_log(OL_LOG_DEBUG, "stream: bytes=%llu reads=%d send_cpu_ns=%lld",
           (unsigned long long)r->bytes, r->n_reads, (long long)(srv_thread_cpu_ns() - r->cpu0_ns));
    return MHD_CONTENT_READER_END_OF_STREAM;
}

static void stream_free(void *cls) {
    struct stream_reply *r = cls;
    srv_stream_abandon(r->st);
    free(r);
}

void http_reply_stream(struct srv_http *h, struct srv_stream *st) {
    struct stream_reply *sr = calloc(1, sizeof(*sr));
    struct MHD_Response *r = NULL;
    if (sr) {
        sr->st = st;
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_reader, sr,
                                              stream_free);
    }
    if (!r) {
        free(sr);
        srv_stream_abandon(st);
        h->result = MHD_NO;
        h->replied = true;
        return;
    }
    MHD_add_response_header(r, "Content-Type", "application/x-ndjson");
    queue(h, 200, r);
}

void http_reply_collected(struct srv_http *h, struct srv_stream *st) {
    struct ol_buf all = {0};
    char buf[65536];
    size_t n;
    while ((n = srv_stream_read(st, buf, sizeof(buf))) > 0)
        ol_buf_append(&all, buf, n);
    int status = srv_stream_status(st);
    srv_stream_abandon(st);
    if (all.len && all.data[all.len - 1] == '\n') all.data[--all.len] = 0;
    http_reply_json(h, status, all.data ? all.data : "{}");
    ol_buf_free(&all);
}

/* ---- CORS and Host checks ---- */

static bool origin_allowed(const struct srv *s, const char *origin, bool *wildcard) {
    *wildcard = false;
    for (int i = 0; i < s->cfg.n_origins; i++) {
        const char *pat = s->cfg.origins[i];
        if (strcmp(pat, "*") == 0) {
            *wildcard = true;
            return true;
        }
        if (strcasecmp(pat, origin) == 0) return true;
        if (strchr(pat, '*') && fnmatch(pat, origin, FNM_CASEFOLD) == 0) return true;
    }
    return false;
}

static bool ip_is_local(const char *host) {
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        uint32_t ip = ntohl(a4.s_addr);
        return (ip >> 24) == 127 || (ip >> 24) == 10 || (ip >> 20) == (172 << 4 | 1) ||
               (ip >> 16) == (192 << 8 | 168) || ip == 0 || (ip >> 16) == (169 << 8 | 254);
    }
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || IN6_IS_ADDR_UNSPECIFIED(&a6) ||
               IN6_IS_ADDR_LINKLOCAL(&a6) || (a6.s6_addr[0] & 0xfe) == 0xfc;
    return false;
}

static bool host_allowed(const struct srv *s, const char *host_hdr) {
    if (!host_hdr || !*host_hdr) return true;
    char host[256];
    snprintf(host, sizeof(host), "%s", host_hdr);
    /* strip the port: [v6]:port, v4:port, name:port */
    if (host[0] == '[') {
        char *e = strchr(host, ']');
        if (e) {
            *e = 0;
            memmove(host, host + 1, strlen(host));
        }
    } else {
        char *c = strrchr(host, ':');
        if (c && strchr(host, ':') == c) *c = 0;
    }
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    size_t n = strlen(host);
    if (n == 0 || strcmp(host, "localhost") == 0 || strcasecmp(host, s->hostname) == 0) return true;
    static const char *const suffixes[] = {".localhost", ".local", ".internal"};
    for (size_t i = 0; i < OL_ARRAY_LEN(suffixes); i++) {
        size_t m = strlen(suffixes[i]);
        if (n > m && strcmp(host + n - m, suffixes[i]) == 0) return true;
    }
    return ip_is_local(host);
}

/* Returns false when the request was answered (403 or a preflight 204). */
static bool check_cors_and_host(struct srv_http *h) {
    const struct srv *s = h->s;
    const char *host = http_header(h, "Host");
    bool is_options = strcmp(h->method, "OPTIONS") == 0;
    if (s->cfg.loopback && !host_allowed(s, host)) {
        http_reply_empty(h, 403);
        return false;
    }
    const char *origin = http_header(h, "Origin");
    if (origin && *origin) {
        char self[300];
        snprintf(self, sizeof(self), "http://%s", host ? host : "");
        char self_s[300];
        snprintf(self_s, sizeof(self_s), "https://%s", host ? host : "");
        if (strcasecmp(origin, self) != 0 && strcasecmp(origin, self_s) != 0) {
            bool wildcard;
            if (!origin_allowed(s, origin, &wildcard)) {
                http_reply_empty(h, 403);
                return false;
            }
            snprintf(h->origin_allow, sizeof(h->origin_allow), "%s", wildcard ? "*" : origin);
        }
        if (is_options) {
            struct MHD_Response *r =
                MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
            if (r) {
                MHD_add_response_header(r, "Access-Control-Allow-Methods",
                                        "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS");
                MHD_add_response_header(
                    r, "Access-Control-Allow-Headers",
                    "Authorization, Content-Type, User-Agent, Accept, X-Requested-With, "
                    "OpenAI-Beta, x-stainless-arch, x-stainless-async, "
                    "x-stainless-custom-poll-interval, x-stainless-helper-method, "
                    "x-stainless-lang, x-stainless-os, x-stainless-package-version, "
                    "x-stainless-poll-helper, x-stainless-retry-count, x-stainless-runtime, "
                    "x-stainless-runtime-version, x-stainless-timeout");
                MHD_add_response_header(r, "Access-Control-Max-Age", "43200");
            }
            queue(h, 204, r);
            return false;
        }
    } else if (is_options) {
        http_reply_empty(h, 204);
        return false;
    }
    return true;
}

/* ---- the access handler ---- */

static void blob_upload_chunk(struct srv_http *h, const char *data, size_t len) {
    if (h->blob_rc < 0 || h->blob_existed) return;
    if (!h->blob) {
        const char *digest = h->url + strlen("/api/blobs/");
        if (!store_digest_is_valid(digest)) {
            h->blob_rc = ol_err_set(&h->blob_err, OL_EINVAL, "invalid digest format");
            return;
        }
        if (store_blob_exists(h->s->store, digest)) {
            h->blob_existed = true;
            return;
        }
        h->blob = store_blob_writer_new(h->s->store, &h->blob_err);
        if (!h->blob) {
            h->blob_rc = h->blob_err.code ? h->blob_err.code : OL_EIO;
            return;
        }
    }
    if (store_blob_writer_write(h->blob, data, len, &h->blob_err) < 0) {
        h->blob_rc = h->blob_err.code ? h->blob_err.code : OL_EIO;
        store_blob_writer_abort(h->blob);
        h->blob = NULL;
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls) {
    (void)version;
    struct srv *s = cls;
    struct srv_http *h = *con_cls;
    if (!h) {
        h = calloc(1, sizeof(*h));
        if (!h) return MHD_NO;
        h->conn = conn;
        h->s = s;
        h->method = method;
        h->url = url;
        h->is_blob = srv_route_is_blob_upload(method, url);
        *con_cls = h;
        return MHD_YES;
    }
    if (*upload_size) {
        if (h->is_blob) {
            blob_upload_chunk(h, upload_data, *upload_size);
        } else if (!h->too_large) {
            if (h->body.len + *upload_size > SRV_MAX_BODY)
                h->too_large = true;
            else if (ol_buf_append(&h->body, upload_data, *upload_size) < 0)
                h->too_large = true;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    h->result = MHD_YES;
    if (check_cors_and_host(h)) {
        if (h->too_large)
            http_reply_error(h, 413, "request body too large");
        else {
            if (h->is_blob && h->blob_rc == 0 && !h->blob_existed && !h->blob)
                blob_upload_chunk(h, "", 0); /* empty body: still validate and create */
            if (h->is_blob && h->blob) {
                char digest[72];
                const char *want = h->url + strlen("/api/blobs/");
                h->blob_rc = store_blob_writer_commit(h->blob, want, digest, &h->blob_err);
                h->blob = NULL;
            }
            srv_route(s, h);
        }
    }
    if (!h->replied) http_reply_error(h, 500, "no response");
    return h->result;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code) {
    (void)cls;
    (void)conn;
    (void)code;
    struct srv_http *h = *con_cls;
    if (!h) return;
    if (h->blob) store_blob_writer_abort(h->blob);
    ol_buf_free(&h->body);
    free(h);
    *con_cls = NULL;
}

struct http_server *http_start(struct srv *s, struct ol_err *err) {
    struct http_server *hs = calloc(1, sizeof(*hs));
    if (!hs) {
        ol_err_set(err, OL_ENOMEM, "out of memory");
        return NULL;
    }
    hs->s = s;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned flags =
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    const char *host = s->cfg.host[0] ? s->cfg.host : "0.0.0.0";
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)s->cfg.port);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)s->cfg.port);
        flags |= MHD_USE_IPv6;
    } else if (strcmp(host, "localhost") == 0) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)s->cfg.port);
        inet_pton(AF_INET, "127.0.0.1", &a4->sin_addr);
    } else {
        free(hs);
        ol_err_set(err, OL_EINVAL, "cannot bind to host %s (use an IP address)", host);
        return NULL;
    }
    hs->d = MHD_start_daemon(flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0, MHD_OPTION_END);
    if (!hs->d) {
        free(hs);
        ol_err_set(err, OL_EIO, "listen tcp %s:%d: bind: address already in use or not allowed",
                   host, s->cfg.port);
        return NULL;
    }
    return hs;
}

void http_stop(struct http_server *hs) {
    if (!hs) return;
    MHD_stop_daemon(hs->d);
    free(hs);
}
