/* HTTP client of the server (libcurl). Requests are synchronous; a stream delivers one NDJSON
 * object at a time to a callback. Ctrl+C raises cli_interrupted, which the transfer's progress
 * callback turns into an abort so the server sees the client go away (spec: cli.md §1-2). */
#include "cli/cli.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <curl/curl.h>
#include <jansson.h>

volatile sig_atomic_t cli_interrupted;

struct cli_client {
    char base[600]; /* scheme://host:port[/path] without trailing slash */
    char user_agent[128];
};

struct cli_client *cli_client_new(void) {
    static bool inited;
    if (!inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        inited = true;
    }
    struct cli_client *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    struct cli_host h;
    bool bad_port;
    cli_host_parse(getenv("OLLAMA_HOST"), &h, &bad_port);
    if (bad_port) ol_log(OL_LOG_WARN, "invalid port, using default port=%s", h.port);
    cli_host_url(&h, true, c->base, sizeof(c->base));
    struct utsname u;
    const char *arch = "amd64";
    if (uname(&u) == 0 && strcmp(u.machine, "aarch64") == 0) arch = "arm64";
    snprintf(c->user_agent, sizeof(c->user_agent), "ollama/%s (%s linux) Go/go1.24.0", CLI_VERSION,
             arch);
    return c;
}

void cli_client_free(struct cli_client *c) { free(c); }

struct xfer {
    struct ol_buf body;    /* non-stream: whole body; stream: unparsed tail */
    char status_line[128]; /* "500 Internal Server Error" */
    long status;
    cli_stream_fn fn;
    void *ctx;
    int cb_rc; /* first error returned by fn, or a stream {"error"} */
    struct ol_err *err;
    bool stream_error; /* err filled from a stream line */
};

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    struct xfer *x = ud;
    size_t len = size * n;
    if (len > 9 && strncmp(p, "HTTP/", 5) == 0) {
        const char *sp = memchr(p, ' ', len);
        if (sp) {
            size_t l = len - (size_t)(sp + 1 - p);
            while (l && (sp[1 + l - 1] == '\r' || sp[1 + l - 1] == '\n'))
                l--;
            if (l >= sizeof(x->status_line)) l = sizeof(x->status_line) - 1;
            memcpy(x->status_line, sp + 1, l);
            x->status_line[l] = '\0';
            x->status = atol(x->status_line);
        }
    }
    return len;
}

/* Reads `error` from a JSON object text; NULL when absent. Owned. */
static char *json_error_of(const char *s, size_t len, bool *is_json) {
    json_error_t je;
    json_t *j = json_loadb(s, len, 0, &je);
    *is_json = j != NULL;
    if (!j) return NULL;
    const char *e = json_string_value(json_object_get(j, "error"));
    char *r = e && e[0] ? ol_strdup(e) : NULL;
    json_decref(j);
    return r;
}

/* Completes a status line lacking a reason phrase (HTTP/2 or a terse server). */
static void status_text(struct xfer *x, char *out, size_t cap) {
    if (strchr(x->status_line, ' ')) {
        snprintf(out, cap, "%s", x->status_line);
        return;
    }
    const char *t = "";
    switch (x->status) {
    case 400:
        t = "Bad Request";
        break;
    case 401:
        t = "Unauthorized";
        break;
    case 403:
        t = "Forbidden";
        break;
    case 404:
        t = "Not Found";
        break;
    case 405:
        t = "Method Not Allowed";
        break;
    case 499:
        t = "";
        break;
    case 500:
        t = "Internal Server Error";
        break;
    case 501:
        t = "Not Implemented";
        break;
    case 502:
        t = "Bad Gateway";
        break;
    case 503:
        t = "Service Unavailable";
        break;
    }
    snprintf(out, cap, "%ld %s", x->status, t);
}

static int code_of_status(long status) {
    if (status == 404) return OL_ENOTFOUND;
    if (status == 400) return OL_EINVAL;
    return OL_EIO;
}

/* Handles one complete NDJSON line of a stream. */
static int stream_line(struct xfer *x, const char *s, size_t len) {
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (!len) return 0;
    bool is_json;
    char *e = json_error_of(s, len, &is_json);
    if (x->status >= 400) {
        char st[160];
        status_text(x, st, sizeof(st));
        if (!is_json)
            ol_err_set(x->err, code_of_status(x->status), "%s: %.*s", st, (int)len, s);
        else if (e)
            ol_err_set(x->err, code_of_status(x->status), "%s: %s", st, e);
        else
            ol_err_set(x->err, code_of_status(x->status), "%s", st);
        free(e);
        x->stream_error = true;
        return code_of_status(x->status);
    }
    if (!is_json) {
        ol_err_set(x->err, OL_EIO, "%.*s", (int)len, s);
        x->stream_error = true;
        return OL_EIO;
    }
    if (e) {
        ol_err_set(x->err, OL_EIO, "%s", e);
        free(e);
        x->stream_error = true;
        return OL_EIO;
    }
    return x->fn(s, len, x->ctx);
}

static size_t on_write(char *p, size_t size, size_t n, void *ud) {
    struct xfer *x = ud;
    size_t len = size * n;
    if (ol_buf_append(&x->body, p, len) < 0) return 0;
    if (!x->fn) return len;
    /* deliver every complete line */
    size_t start = 0;
    for (size_t i = 0; i < x->body.len; i++) {
        if (x->body.data[i] != '\n') continue;
        if (x->cb_rc == 0) x->cb_rc = stream_line(x, x->body.data + start, i - start);
        start = i + 1;
        if (x->cb_rc < 0) return 0;
    }
    memmove(x->body.data, x->body.data + start, x->body.len - start);
    x->body.len -= start;
    x->body.data[x->body.len] = '\0';
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)ud, (void)dt, (void)dn, (void)ut, (void)un;
    return cli_interrupted ? 1 : 0;
}

struct upload {
    FILE *f;
    volatile int64_t *sent;
};

static size_t on_read(char *p, size_t size, size_t n, void *ud) {
    struct upload *u = ud;
    size_t got = fread(p, 1, size * n, u->f);
    if (u->sent) *u->sent += (int64_t)got;
    return got;
}

/* Performs a request; *x collects status and body. upload may be NULL. */
static int perform(struct cli_client *c, const char *method, const char *path, const char *body,
                   bool streaming, struct upload *up, int64_t up_size, struct xfer *x,
                   struct ol_err *err) {
    CURL *h = curl_easy_init();
    if (!h) return ol_err_set(err, OL_ENOMEM, "curl init failed");
    char url[1200];
    snprintf(url, sizeof(url), "%s%s", c->base, path);
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, streaming ? "Accept: application/x-ndjson"
                                           : "Accept: application/json");
    hdr = curl_slist_append(hdr, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (up) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, up);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)up_size);
    } else {
        if (strcmp(method, "POST") != 0) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        if (body)
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        else if (strcmp(method, "POST") == 0)
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    x->err = err;
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
    int rc = 0;
    if (cc == CURLE_ABORTED_BY_CALLBACK && cli_interrupted) {
        rc = ol_err_set(err, OL_ECANCELED, "context canceled");
    } else if (x->cb_rc < 0) {
        rc = x->cb_rc;
    } else if (cc == CURLE_COULDNT_CONNECT) {
        rc = ol_err_set(err, OL_EIO, "dial tcp: connect: connection refused");
    } else if (cc != CURLE_OK) {
        rc = ol_err_set(err, OL_EIO, "%s", curl_easy_strerror(cc));
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return rc;
}

int cli_client_do(struct cli_client *c, const char *method, const char *path, const char *body,
                  char **resp, struct ol_err *err) {
    struct xfer x = {0};
    if (resp) *resp = NULL;
    int rc = perform(c, method, path, body, false, NULL, 0, &x, err);
    if (rc == 0 && x.status >= 400) {
        bool is_json;
        char *e = x.body.data ? json_error_of(x.body.data, x.body.len, &is_json) : NULL;
        if (e)
            rc = ol_err_set(err, code_of_status(x.status), "%s", e);
        else if (x.body.len)
            rc = ol_err_set(err, code_of_status(x.status), "%s", x.body.data);
        else {
            char st[160];
            status_text(&x, st, sizeof(st));
            rc = ol_err_set(err, code_of_status(x.status), "%s", st);
        }
        free(e);
    }
    if (rc == 0 && resp) {
        if (!x.body.data && ol_buf_puts(&x.body, "") < 0)
            return ol_err_set(err, OL_ENOMEM, "out of memory");
        *resp = x.body.data;
        return 0;
    }
    ol_buf_free(&x.body);
    return rc;
}

int cli_client_stream(struct cli_client *c, const char *path, const char *body, cli_stream_fn fn,
                      void *ctx, struct ol_err *err) {
    struct xfer x = {.fn = fn, .ctx = ctx};
    int rc = perform(c, "POST", path, body, true, NULL, 0, &x, err);
    if (rc == 0 && x.body.len) rc = stream_line(&x, x.body.data, x.body.len);
    if (rc == 0 && x.status >= 400) {
        char st[160];
        status_text(&x, st, sizeof(st));
        rc = ol_err_set(err, code_of_status(x.status), "%s", st);
    }
    ol_buf_free(&x.body);
    return rc;
}

int cli_client_heartbeat(struct cli_client *c, struct ol_err *err) {
    struct xfer x = {0};
    int rc = perform(c, "HEAD", "/", NULL, false, NULL, 0, &x, err);
    ol_buf_free(&x.body);
    if (rc < 0 && strstr(err ? err->msg : "refused", " refused"))
        return ol_err_set(err, OL_EIO,
                          "could not connect to ollama server, run 'ollama serve' to start it");
    return rc;
}

int cli_client_blob_upload(struct cli_client *c, const char *digest, const char *path,
                           volatile int64_t *sent, struct ol_err *err) {
    char url[200];
    snprintf(url, sizeof(url), "/api/blobs/%s", digest);
    struct xfer x = {0};
    int rc = perform(c, "HEAD", url, NULL, false, NULL, 0, &x, err);
    ol_buf_free(&x.body);
    if (rc < 0) return rc;
    if (x.status == 200) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ol_err_sys(err, OL_EIO, "open %s", path);
    fseeko(f, 0, SEEK_END);
    int64_t size = (int64_t)ftello(f);
    fseeko(f, 0, SEEK_SET);
    struct upload up = {f, sent};
    struct xfer y = {0};
    rc = perform(c, "POST", url, NULL, false, &up, size, &y, err);
    fclose(f);
    if (rc == 0 && y.status >= 400) {
        bool is_json;
        char *e = y.body.data ? json_error_of(y.body.data, y.body.len, &is_json) : NULL;
        rc = ol_err_set(err, code_of_status(y.status), "%s", e ? e : "blob upload failed");
        free(e);
    }
    ol_buf_free(&y.body);
    return rc;
}
