/* Internals of the server module shared by its files. */
#ifndef OL_SERVER_SRV_H
#define OL_SERVER_SRV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "engine/engine.h"
#include "store/store.h"

#define SRV_VERSION "0.12.0"     /* what /api/version reports; clients gate features on >= 0.6 */
#define SRV_MAX_BODY (64u << 20) /* JSON request bodies; blob uploads stream separately */

struct srv_config {
    char host[256];
    int port;
    bool loopback;         /* bound to a loopback address: Host header check on */
    int64_t keep_alive_ns; /* default keep_alive; < 0 = forever */
    int max_loaded;
    int max_queue;
    int num_parallel;
    int context_length; /* OLLAMA_CONTEXT_LENGTH, 0 = auto */
    int num_thread;     /* default threads; 0 = physical cores */
    bool noprune;
    char **origins; /* OLLAMA_ORIGINS plus the built-in list */
    int n_origins;
};

struct sched;

struct srv {
    struct srv_config cfg;
    struct store *store;
    struct sched *sched;
    char hostname[256];
};

/* ---- streaming: a byte queue between a producer thread and the HTTP writer ---- */

struct srv_stream;
/* New stream with one reference for the producer and one for the HTTP side. */
struct srv_stream *srv_stream_new(void);
/* Producer: appends bytes (a whole NDJSON line). Returns false when the client is gone. */
bool srv_stream_write(struct srv_stream *s, const char *data, size_t len);
/* Producer: no more data. Drops the producer's reference. */
void srv_stream_close(struct srv_stream *s);
/* HTTP side: blocks for data; returns bytes copied, 0 at the end. */
size_t srv_stream_read(struct srv_stream *s, char *buf, size_t cap);
/* HTTP side: the client is gone (or the response was freed). Drops the HTTP reference. */
void srv_stream_abandon(struct srv_stream *s);
bool srv_stream_is_abandoned(struct srv_stream *s);
/* Status of a non-streaming reply, set by the producer before it closes (default 200). */
void srv_stream_set_status(struct srv_stream *s, int status);
int srv_stream_status(struct srv_stream *s);

/* ---- JSON written by hand ---- */

/* Appends s[0..n) as a JSON string literal, byte for byte as Go's encoding/json writes it:
 * \n \r \t \b \f short forms, other control bytes and < > & as \u00XX, U+2028/U+2029
 * escaped, each byte of invalid UTF-8 as \ufffd. 0 or OL_ENOMEM. */
int srv_json_quote(struct ol_buf *b, const char *s, size_t n);

/* ---- time and durations ---- */
int64_t srv_now_ns(void);        /* wall clock, ns since the epoch */
int64_t srv_thread_cpu_ns(void); /* CPU time of the calling thread (for the bench's figures) */
/* RFC 3339 with nanoseconds, trailing zeros trimmed; utc: 'Z', else local offset. */
void srv_time_format(int64_t ns, bool utc, char *buf, size_t cap);
/* The same from seconds and nanoseconds (for times beyond int64 ns, e.g. "forever"). */
void srv_time_format_s(int64_t sec, long nsec, bool utc, char *buf, size_t cap);
/* Go duration ("5m", "1h30m", "-1m", "0") -> ns. allow_bare_seconds: "3600" = 3600 s. */
int srv_duration_parse(const char *s, bool allow_bare_seconds, int64_t *ns);

/* ---- options (spec: api.md §2) ---- */

struct json_t; /* jansson's type; only .c files include jansson.h */

#define SRV_MAX_STOPS 32

struct srv_opts {
    struct eng_seq_params seq; /* sampling, num_predict, num_keep, stop (points into stops) */
    char *stops[SRV_MAX_STOPS];
    int n_stops;
    int num_ctx; /* load-time: a change reloads the model */
    int num_batch;
    int num_thread;
};
/* Defaults: Ollama's, with num_ctx from OLLAMA_CONTEXT_LENGTH (else 4096). */
void srv_opts_init(struct srv_opts *o, const struct srv_config *cfg);
/* Applies a JSON object of options (a model's params layer or a request's `options`) over o.
 * Unknown keys are ignored; null values skipped; wrong types give the spec's messages
 * (`option "k" must be of type integer`, ...) as OL_EINVAL. */
int srv_opts_apply(struct srv_opts *o, const struct json_t *obj, struct ol_err *err);
void srv_opts_free(struct srv_opts *o);

/* ---- scheduler (sched.c) ---- */

struct srv_inst; /* a loaded model: engine model + context + runner thread */

struct srv_load_req {
    const struct store_model *sm; /* the model to load (borrowed) */
    int num_ctx, num_batch, num_thread;
    int64_t keep_alive_ns; /* applies when the last user releases it */
};

struct sched *sched_new(const struct srv_config *cfg);
void sched_free(struct sched *s); /* unloads everything */
/* Finds or loads the model and takes a reference. Blocks while loading or while waiting for
 * room (OLLAMA_MAX_LOADED_MODELS). Errors: OL_EUNSUPPORTED-style load errors with a message,
 * 503 busy as OL_EINVAL with `server busy...` (code OL_EIO marked busy: see *busy). */
int sched_acquire(struct sched *s, const struct srv_load_req *r, struct srv_inst **out, bool *busy,
                  struct ol_err *err);
/* Drops a reference; the idle timer (keep_alive) starts when the last one goes. */
void sched_release(struct sched *s, struct srv_inst *inst, int64_t keep_alive_ns);
/* Unloads the model at `model_path` as soon as it is idle (keep_alive 0, `ollama stop`).
 * Returns true when such a model was loaded. */
bool sched_unload(struct sched *s, const char *model_path);

const struct eng_model *sched_inst_model(const struct srv_inst *inst);
int sched_inst_n_ctx(const struct srv_inst *inst);

/* A unit of work run on the model's runner thread, in submission order. */
struct srv_job {
    void (*run)(struct srv_job *job, struct srv_inst *inst, struct eng_seq *seq);
    void *arg;
    struct srv_job *next;
};
/* Queues job on the runner of inst (the caller keeps its reference until the job ends and
 * calls sched_release from the job). */
void sched_submit(struct sched *s, struct srv_inst *inst, struct srv_job *job);
/* Appends the /api/ps JSON array of loaded models to out. */
void sched_ps_json(struct sched *s, struct ol_buf *out);

/* OLLAMA_HOST -> bind host and port (cli.md §1; the server ignores scheme and path). */
void srv_parse_host(const char *value, char *host, size_t cap, int *port);

#endif
