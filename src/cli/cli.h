/* cli: the `ollama` command line. Every command except `serve` is an HTTP client of the server
 * (spec: cli.md); this header holds what the commands share and what tests check directly:
 * OLLAMA_HOST parsing, human formatting, tables, word wrap, the Modelfile parser, the HTTP
 * client and the progress display. Library types (curl, jansson, libedit) never appear here. */
#ifndef OL_CLI_CLI_H
#define OL_CLI_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/base.h"

#define CLI_VERSION "0.12.0"

/* ---- OLLAMA_HOST (cli.md §1) ---- */

struct cli_host {
    char scheme[16]; /* "http" or "https" (or whatever scheme was given) */
    char host[256];  /* without brackets; may be empty (":1234" = all interfaces) */
    char port[16];
    char path[256]; /* without the leading '/', may be empty */
};

/* Parses an OLLAMA_HOST value (NULL or "" = default). Never fails: a bad port falls back to
 * the scheme's default port and sets *bad_port (may be NULL) so the caller can warn. */
void cli_host_parse(const char *value, struct cli_host *h, bool *bad_port);
/* Writes the URL "scheme://host:port[/path]" into out (cap bytes, truncated). With for_client,
 * an empty or unspecified host (0.0.0.0, ::) is replaced by loopback, as a client dials it. */
void cli_host_url(const struct cli_host *h, bool for_client, char *out, size_t cap);

/* ---- human formatting (cli.md §4.1, §4.4) ---- */

/* HumanBytes: "512 B", "2.0 GB", "13 GB". Writes at most cap bytes. */
void cli_human_bytes(int64_t b, char *out, size_t cap);
/* HumanNumber for parameter counts: "8.0B", "22.57M", "15K", "999". */
void cli_human_number(uint64_t n, char *out, size_t cap);
/* HumanTime of t relative to now (both Unix seconds): "2 weeks ago", "4 minutes from now",
 * "Forever"; `zero` is printed when is_zero. */
void cli_human_time(double t, double now, bool is_zero, const char *zero, char *out, size_t cap);
/* Go's time.Duration.String(): "1h2m3.5s", "130.079ms", "512µs", "0s". */
void cli_duration_str(int64_t ns, char *out, size_t cap);
/* Parses an RFC 3339 timestamp into Unix seconds; Go's zero time sets *is_zero. Returns 0 or
 * OL_EINVAL. */
int cli_time_parse(const char *s, double *t, bool *is_zero);
/* Parses a Go duration ("5m", "1h30m", "-1s", "0") into nanoseconds; OL_EINVAL with Go's
 * message in err on failure. */
int cli_duration_parse(const char *s, int64_t *ns, struct ol_err *err);
/* A float64 as Go prints it: shortest round-trip digits, exponent form when the
 * exponent is < -4 or >= 6 (fmt %v and %g: exp_g) or >= 21 (JSON style). */
void cli_go_float(double v, bool exp_g, char *out, size_t cap);
/* Display width of UTF-8 text (East Asian wide = 2). */
int cli_text_width(const char *s, size_t len);

/* ---- tables (cli.md §4.2) ---- */

struct cli_table;
/* A borderless table; cells wider than max_col_width (30, or 100 for show's System/License)
 * that contain spaces are word-wrapped. Returns NULL when out of memory. */
struct cli_table *cli_table_new(int max_col_width);
void cli_table_free(struct cli_table *t);
/* Sets the header (list/ps) or appends a row; cells are copied. 0 or OL_ENOMEM. */
int cli_table_header(struct cli_table *t, size_t n, const char *const *cells);
int cli_table_row(struct cli_table *t, size_t n, const char *const *cells);
/* Renders into out (appends). 0 or OL_ENOMEM. */
int cli_table_render(const struct cli_table *t, struct ol_buf *out);

/* ---- word wrap of streamed output (cli.md §3 run) ---- */

struct cli_wrap {
    int line_len;       /* display columns on the current line */
    struct ol_buf word; /* the partial word at the end of the line */
    char pend[4];       /* bytes of an incomplete UTF-8 character from the last chunk */
    size_t n_pend;
};
/* Appends s[0..len) to out, wrapping at term_width - 5 when `wrap` (moving a partial word to
 * the next line with cursor-back and clear-to-EOL). Without wrap, text passes through. */
int cli_wrap_feed(struct cli_wrap *w, const char *s, size_t len, bool wrap, int term_width,
                  struct ol_buf *out);
void cli_wrap_reset(struct cli_wrap *w);

/* ---- Modelfile (modelfile.md) ---- */

enum cli_mf_kind {
    CLI_MF_FROM,
    CLI_MF_PARAMETER,
    CLI_MF_TEMPLATE,
    CLI_MF_SYSTEM,
    CLI_MF_ADAPTER,
    CLI_MF_LICENSE,
    CLI_MF_MESSAGE,
    CLI_MF_REQUIRES,
    CLI_MF_DRAFT,
    CLI_MF_RENDERER,
    CLI_MF_PARSER,
};
struct cli_mf_cmd {
    enum cli_mf_kind kind;
    char *name; /* PARAMETER name or MESSAGE role; NULL otherwise */
    char *args; /* the unquoted value */
};
struct cli_modelfile {
    struct cli_mf_cmd *cmds;
    size_t n_cmds;
};
/* Parses Modelfile text (BOM honoured). On error returns OL_EINVAL with Ollama's message:
 * "(line N): command must be one of ...", "unexpected EOF", "no FROM line", ... The result is
 * owned by mf and freed with cli_modelfile_free() (also on error). */
int cli_modelfile_parse(const char *text, size_t len, struct cli_modelfile *mf, struct ol_err *err);
void cli_modelfile_free(struct cli_modelfile *mf);

/* Converts PARAMETER values by the option table (modelfile.md §4) into JSON text (*json owned,
 * free()). Returns 0, 1 when the option is deprecated (nothing produced), or OL_EINVAL with
 * "unknown parameter 'x'" / "invalid int value [v]" / ... */
int cli_param_format(const char *name, const char *const *vals, size_t n_vals, char **json,
                     struct ol_err *err);

/* A local file referenced by FROM/ADAPTER, hashed for upload. */
struct cli_mf_file {
    char *path;      /* absolute path */
    char *name;      /* key in files/adapters: the base name */
    char digest[80]; /* "sha256:<hex>" */
    bool adapter;
};
struct cli_create_req {
    char *json;                /* /api/create body */
    struct cli_mf_file *files; /* to upload before the request */
    size_t n_files;
};
/* Builds the create request for `model` from a parsed Modelfile; relative paths resolve
 * against dir. Hashes local files (SHA-256). quantize may be NULL. Prints deprecation warnings
 * to stdout. Fills *req (free with cli_create_req_free, also on error). */
int cli_modelfile_request(const struct cli_modelfile *mf, const char *dir, const char *model,
                          const char *quantize, struct cli_create_req *req, struct ol_err *err);
void cli_create_req_free(struct cli_create_req *req);
/* SHA-256 of a file as "sha256:<hex>" into out[80]. */
int cli_file_digest(const char *path, char out[80], struct ol_err *err);

/* ---- HTTP client (client.c) ---- */

struct cli_client;
/* A client for OLLAMA_HOST. NULL when out of memory. */
struct cli_client *cli_client_new(void);
void cli_client_free(struct cli_client *c);
/* One request; body may be NULL. On HTTP >= 400 returns an error whose msg is the server's
 * `error` text (code OL_ENOTFOUND for 404, OL_EINVAL for 400, else OL_EIO); *resp (may be
 * NULL) receives the body, owned. Connection failures: OL_EIO with curl's text. */
int cli_client_do(struct cli_client *c, const char *method, const char *path, const char *body,
                  char **resp, struct ol_err *err);
/* Callback per NDJSON object of a stream; returning < 0 stops the stream with that code. */
typedef int (*cli_stream_fn)(const char *line, size_t len, void *ctx);
/* POSTs body and calls fn for each streamed object. Errors as Ollama reports them: an HTTP
 * error status gives "<status line>: <message>", an {"error"} line inside a 200 stream gives
 * the message. Returns OL_ECANCELED when cli_interrupted was raised (Ctrl+C). */
int cli_client_stream(struct cli_client *c, const char *path, const char *body, cli_stream_fn fn,
                      void *ctx, struct ol_err *err);
/* HEAD / : 0 when the server answers; the Linux "could not connect" message otherwise. */
int cli_client_heartbeat(struct cli_client *c, struct ol_err *err);
/* HEAD then (if absent) POST /api/blobs/<digest> with the file's bytes; *sent (may be NULL)
 * is updated as bytes go out so a progress thread can read it. */
int cli_client_blob_upload(struct cli_client *c, const char *digest, const char *path,
                           volatile int64_t *sent, struct ol_err *err);

/* Set by the SIGINT handler while a request runs; requests poll it and cancel. */
extern volatile sig_atomic_t cli_interrupted;

/* ---- progress display (progress.c, cli.md §4.3) ---- */

struct cli_progress;
/* Starts a display on stderr, redrawn every 100 ms by a thread when stderr is a terminal;
 * otherwise finished lines are printed plainly. NULL when out of memory. */
struct cli_progress *cli_progress_new(void);
/* Adds a spinner / bar line; returns its index (>= 0) or OL_ENOMEM. Thread-safe. */
int cli_progress_spinner(struct cli_progress *p, const char *msg);
int cli_progress_bar(struct cli_progress *p, const char *msg, int64_t total, int64_t initial);
void cli_progress_set_msg(struct cli_progress *p, int idx, const char *msg);
void cli_progress_set(struct cli_progress *p, int idx, int64_t value);
void cli_progress_stop_one(struct cli_progress *p, int idx);
/* Stops everything, draws the final state and a newline (Stop), or erases it (StopAndClear).
 * Both may be called more than once; free() stops-and-clears if neither was called. */
void cli_progress_stop(struct cli_progress *p);
void cli_progress_stop_clear(struct cli_progress *p);
void cli_progress_free(struct cli_progress *p);
/* One bar line as Ollama draws it, for tests: pre + bar + suffix for term_width columns. */
void cli_bar_format(const char *msg, int64_t cur, int64_t max, bool stopped, double rate,
                    int term_width, struct ol_buf *out);

/* ---- commands ---- */

/* Runs `ollama <args>`; returns the exit status. */
int cli_main(int argc, char **argv);
/* `ollama serve`: hands over to the server module (serve.c). */
int cli_serve(int argc, char **argv);

#endif
