/* `ollama run`: one-shot generation (prompt args and/or piped stdin), embeddings, and the
 * setup for the interactive REPL; also the streaming display shared with the REPL (spinner
 * until the first output, thinking block, word wrap, --verbose statistics). Ctrl+C during a
 * request raises cli_interrupted; the transfer aborts and the command ends quietly. */
#include "cli/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <jansson.h>

#define COLOR_GREY "\x1b[38;5;245m"
#define COLOR_BOLD "\x1b[1m"
#define COLOR_DEFAULT "\x1b[0m"

static int term_width(void) {
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

static char *dump(json_t *j) { return json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)); }

/* State of one streamed response on screen. */
struct display {
    struct cli_run *r;
    struct cli_progress *p;
    struct cli_wrap wrap;
    struct ol_buf thinking;
    struct ol_buf content;
    bool think_open, think_closed;
    bool plain; /* no ANSI colors */
    json_t *last;
    bool chat;
};

static void show_text(struct display *d, const char *s, size_t len) {
    struct ol_buf out = {0};
    cli_wrap_feed(&d->wrap, s, len, d->r->wordwrap, term_width(), &out);
    if (out.len) fwrite(out.data, 1, out.len, stdout);
    fflush(stdout);
    ol_buf_free(&out);
}

static int on_chunk(const char *line, size_t len, void *ud) {
    struct display *d = ud;
    json_t *j = json_loadb(line, len, 0, NULL);
    if (!j) return 0;
    json_t *src = d->chat ? json_object_get(j, "message") : j;
    const char *content = json_string_value(json_object_get(src, d->chat ? "content" : "response"));
    const char *thinking = json_string_value(json_object_get(src, "thinking"));
    json_t *tool_calls = json_object_get(src, "tool_calls");
    if (!content) content = "";
    if (!thinking) thinking = "";
    if (content[0] || !d->r->hide_thinking) cli_progress_stop_clear(d->p);
    if (thinking[0] && !d->r->hide_thinking) {
        if (!d->think_open) {
            if (d->plain)
                fputs("Thinking...\n", stdout);
            else
                fputs(COLOR_GREY COLOR_BOLD "Thinking...\n" COLOR_DEFAULT COLOR_GREY, stdout);
            d->think_open = true;
            d->think_closed = false;
        }
        ol_buf_puts(&d->thinking, thinking);
        show_text(d, thinking, strlen(thinking));
    }
    if (d->think_open && !d->think_closed && (content[0] || json_array_size(tool_calls))) {
        if (!d->thinking.len || d->thinking.data[d->thinking.len - 1] != '\n') fputs("\n", stdout);
        if (d->plain)
            fputs("...done thinking.\n\n", stdout);
        else
            fputs(COLOR_GREY COLOR_BOLD "...done thinking.\n\n" COLOR_DEFAULT, stdout);
        d->think_open = false;
        d->think_closed = true;
        cli_wrap_reset(&d->wrap);
    }
    ol_buf_puts(&d->content, content);
    show_text(d, content, strlen(content));
    for (size_t i = 0; i < json_array_size(tool_calls); i++) {
        json_t *fn = json_object_get(json_array_get(tool_calls, i), "function");
        char *args = json_dumps(json_object_get(fn, "arguments"), JSON_COMPACT | JSON_ENCODE_ANY);
        const char *name = json_string_value(json_object_get(fn, "name"));
        printf("Tool call: %s(%s)\n", name ? name : "", args ? args : "{}");
        free(args);
    }
    fflush(stdout);
    json_decref(d->last);
    d->last = j;
    return 0;
}

/* --verbose statistics (cli.md §4.4) from the final chunk. */
static void summary(json_t *last) {
    char b[64];
    int64_t total = json_integer_value(json_object_get(last, "total_duration"));
    int64_t load = json_integer_value(json_object_get(last, "load_duration"));
    int64_t pec = json_integer_value(json_object_get(last, "prompt_eval_count"));
    int64_t ped = json_integer_value(json_object_get(last, "prompt_eval_duration"));
    int64_t ec = json_integer_value(json_object_get(last, "eval_count"));
    int64_t ed = json_integer_value(json_object_get(last, "eval_duration"));
    if (total > 0)
        cli_duration_str(total, b, sizeof(b)), fprintf(stderr, "total duration:       %s\n", b);
    if (load > 0)
        cli_duration_str(load, b, sizeof(b)), fprintf(stderr, "load duration:        %s\n", b);
    if (pec > 0) fprintf(stderr, "prompt eval count:    %lld token(s)\n", (long long)pec);
    if (ped > 0) {
        cli_duration_str(ped, b, sizeof(b));
        fprintf(stderr, "prompt eval duration: %s\n", b);
        fprintf(stderr, "prompt eval rate:     %.2f tokens/s\n", (double)pec / ((double)ped / 1e9));
    }
    if (ec > 0) fprintf(stderr, "eval count:           %lld token(s)\n", (long long)ec);
    if (ed > 0) {
        cli_duration_str(ed, b, sizeof(b));
        fprintf(stderr, "eval duration:        %s\n", b);
        fprintf(stderr, "eval rate:            %.2f tokens/s\n", (double)ec / ((double)ed / 1e9));
    }
}

/* Adds format, options, keep_alive and think to a request. */
static int add_common(struct cli_run *r, json_t *req, struct ol_err *err) {
    if (r->format && r->format[0]) {
        if (strcmp(r->format, "json") == 0) {
            json_object_set_new(req, "format", json_string("json"));
        } else {
            json_t *f = json_loads(r->format, JSON_DECODE_ANY, NULL);
            if (!f)
                return ol_err_set(err, OL_EINVAL,
                                  "json: error calling MarshalJSON for type json.RawMessage: "
                                  "invalid character in format");
            json_object_set_new(req, "format", f);
        }
    }
    if (r->options && json_object_size(r->options)) json_object_set(req, "options", r->options);
    if (r->keep_alive) json_object_set_new(req, "keep_alive", json_string(r->keep_alive));
    if (r->think) json_object_set(req, "think", r->think);
    return 0;
}

static int stream_request(struct cli_run *r, const char *path, json_t *req, bool chat,
                          struct display *d, struct ol_err *err) {
    memset(d, 0, sizeof(*d));
    d->r = r;
    d->chat = chat;
    d->plain = chat ? false : !isatty(STDOUT_FILENO);
    char *body = dump(req);
    if (!body) return ol_err_set(err, OL_ENOMEM, "out of memory");
    d->p = cli_progress_new();
    if (d->p) cli_progress_spinner(d->p, "");
    cli_sigint_catch();
    int rc = cli_client_stream(r->client, path, body, on_chunk, d, err);
    cli_progress_stop_clear(d->p);
    cli_progress_free(d->p);
    free(body);
    return rc;
}

static void display_free(struct display *d) {
    ol_buf_free(&d->thinking);
    ol_buf_free(&d->content);
    cli_wrap_reset(&d->wrap);
    json_decref(d->last);
}

int cli_run_load(struct cli_run *r, struct ol_err *err) {
    struct cli_progress *p = cli_progress_new();
    if (p) cli_progress_spinner(p, "");
    json_t *info = NULL;
    int rc = cli_show_fetch(r->client, r->model, false, NULL, NULL, &info, err);
    json_decref(info);
    if (rc == 0) {
        json_t *req = json_pack("{s:s}", "model", r->model);
        if (r->keep_alive) json_object_set_new(req, "keep_alive", json_string(r->keep_alive));
        if (r->think) json_object_set(req, "think", r->think);
        char *body = dump(req);
        json_decref(req);
        char *out = NULL;
        /* streamed like Ollama's client; the chunks carry nothing to show */
        rc = cli_client_do(r->client, "POST", "/api/generate", body, &out, err);
        free(out);
        free(body);
    }
    cli_progress_stop_clear(p);
    cli_progress_free(p);
    return rc;
}

int cli_run_chat(struct cli_run *r, char **reply, struct ol_err *err) {
    *reply = NULL;
    json_t *req = json_pack("{s:s,s:O}", "model", r->model, "messages", r->messages);
    int rc = add_common(r, req, err);
    struct display d;
    if (rc == 0)
        rc = stream_request(r, "/api/chat", req, true, &d, err);
    else
        memset(&d, 0, sizeof(d));
    json_decref(req);
    if (rc == OL_ECANCELED) {
        display_free(&d);
        return 0;
    }
    if (rc == 0) {
        if (json_array_size(r->messages)) fputs("\n\n", stdout);
        fflush(stdout);
        if (r->verbose && d.last) summary(d.last);
        *reply = ol_strdup(d.content.data ? d.content.data : "");
        if (!*reply) rc = ol_err_set(err, OL_ENOMEM, "out of memory");
    }
    display_free(&d);
    return rc;
}

static int generate(struct cli_run *r, const char *prompt, struct ol_err *err) {
    json_t *req = json_pack("{s:s,s:s}", "model", r->model, "prompt", prompt);
    if (r->system && r->system[0]) json_object_set_new(req, "system", json_string(r->system));
    int rc = add_common(r, req, err);
    struct display d;
    if (rc == 0)
        rc = stream_request(r, "/api/generate", req, false, &d, err);
    else
        memset(&d, 0, sizeof(d));
    json_decref(req);
    if (rc == OL_ECANCELED)
        rc = 0;
    else if (rc == 0) {
        if (prompt[0]) fputs("\n\n", stdout);
        fflush(stdout);
        if (r->verbose && d.last && json_is_true(json_object_get(d.last, "done"))) summary(d.last);
    }
    display_free(&d);
    return rc;
}

/* The shortest decimal that reads back as the same float32, as Go marshals []float32. */
static void float32_str(double v, char *out, size_t cap) {
    float f = (float)v;
    for (int p = 1; p <= 9; p++) {
        snprintf(out, cap, "%.*g", p, (double)f);
        if ((float)strtod(out, NULL) == f) break;
    }
    char tmp[64];
    cli_go_float(strtod(out, NULL), false, tmp, sizeof(tmp));
    snprintf(out, cap, "%s", tmp);
}

static int embed(struct cli_run *r, const char *prompt, struct cli_args *a, struct ol_err *err) {
    json_t *req = json_pack("{s:s,s:s}", "model", r->model, "input", prompt);
    if (r->keep_alive) json_object_set_new(req, "keep_alive", json_string(r->keep_alive));
    if (cli_flag_changed(a, "truncate"))
        json_object_set_new(req, "truncate", json_boolean(cli_flag_bool(a, "truncate")));
    const char *dims = cli_flag_str(a, "dimensions");
    if (dims && atoi(dims) > 0) json_object_set_new(req, "dimensions", json_integer(atoi(dims)));
    char *body = dump(req);
    json_decref(req);
    char *out = NULL;
    int rc = cli_client_do(r->client, "POST", "/api/embed", body, &out, err);
    free(body);
    if (rc < 0) return rc;
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    json_t *vec = json_array_get(json_object_get(j, "embeddings"), 0);
    if (!vec) {
        json_decref(j);
        return ol_err_set(err, OL_EIO, "no embeddings returned");
    }
    struct ol_buf b = {0};
    ol_buf_puts(&b, "[");
    for (size_t i = 0; i < json_array_size(vec); i++) {
        char num[64];
        float32_str(json_number_value(json_array_get(vec, i)), num, sizeof(num));
        ol_buf_printf(&b, "%s%s", i ? "," : "", num);
    }
    ol_buf_puts(&b, "]\n");
    fwrite(b.data, 1, b.len, stdout);
    ol_buf_free(&b);
    json_decref(j);
    return 0;
}

static bool has_cap(json_t *info, const char *cap) {
    json_t *caps = json_object_get(info, "capabilities");
    for (size_t i = 0; i < json_array_size(caps); i++)
        if (strcmp(json_string_value(json_array_get(caps, i))
                       ? json_string_value(json_array_get(caps, i))
                       : "",
                   cap) == 0)
            return true;
    return false;
}

void cli_run_apply_show(struct cli_run *r, json_t *info) {
    free(r->parent_model);
    const char *parent =
        json_string_value(json_object_get(json_object_get(info, "details"), "parent_model"));
    r->parent_model = parent ? ol_strdup(parent) : NULL;
    json_decref(r->loaded_messages);
    json_t *m = json_object_get(info, "messages");
    r->loaded_messages = json_is_array(m) ? json_deep_copy(m) : json_array();
    if (has_cap(info, "thinking") && !r->think_explicit) {
        json_decref(r->think);
        r->think = json_true();
    }
    r->multimodal = has_cap(info, "vision") || has_cap(info, "audio") ||
                    json_is_object(json_object_get(info, "projector_info"));
}

static char *read_stdin(void) {
    struct ol_buf b = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
        if (ol_buf_append(&b, buf, n) < 0) break;
    if (!b.data) ol_buf_puts(&b, "");
    return b.data;
}

int cli_cmd_run(struct cli_args *a, struct ol_err *err) {
    struct cli_run r = {0};
    int rc = 0;
    json_t *info = NULL;
    struct ol_buf prompt = {0};
    bool interactive = true;
    r.model = ol_strdup(a->pos[0]);
    r.format = ol_strdup(cli_flag_str(a, "format") ? cli_flag_str(a, "format") : "");
    r.options = json_object();
    r.messages = json_array();
    r.loaded_messages = json_array();
    r.verbose = cli_flag_bool(a, "verbose");
    r.hide_thinking = cli_flag_bool(a, "hidethinking");
    r.history = true;
    if (cli_flag_changed(a, "think")) {
        const char *t = cli_flag_str(a, "think");
        r.think_explicit = true;
        if (!t[0] || strcmp(t, "true") == 0)
            r.think = json_true();
        else if (strcmp(t, "false") == 0)
            r.think = json_false();
        else if (!strcmp(t, "high") || !strcmp(t, "medium") || !strcmp(t, "low") ||
                 !strcmp(t, "max"))
            r.think = json_string(t);
        else {
            rc = ol_err_set(err, OL_EINVAL,
                            "invalid value for --think: \"%s\" (must be true, false, high, medium, "
                            "low, or max)",
                            t);
            goto out;
        }
    }
    const char *ka = cli_flag_str(a, "keepalive");
    if (ka && ka[0]) {
        int64_t ns;
        rc = cli_duration_parse(ka, &ns, err);
        if (rc < 0) goto out;
        char d[64];
        if (ns < 0)
            snprintf(d, sizeof(d), "-1s");
        else
            cli_duration_str(ns, d, sizeof(d));
        r.keep_alive = ol_strdup(d);
    }
    if (!isatty(STDIN_FILENO)) {
        char *in = read_stdin();
        if (in && in[0]) ol_buf_puts(&prompt, in);
        free(in);
        interactive = false;
    }
    for (int i = 1; i < a->n_pos; i++) {
        if (prompt.len || i > 1) ol_buf_puts(&prompt, " ");
        ol_buf_puts(&prompt, a->pos[i]);
    }
    if (a->n_pos > 1) interactive = false;
    if (!isatty(STDOUT_FILENO)) interactive = false;
    r.wordwrap = !cli_flag_bool(a, "nowordwrap") && isatty(STDOUT_FILENO);
    r.client = cli_client_new();
    if (!r.client || !r.model || !r.format) {
        rc = ol_err_set(err, OL_ENOMEM, "out of memory");
        goto out;
    }
    rc = cli_show_fetch(r.client, r.model, false, NULL, NULL, &info, err);
    if (rc == OL_ENOTFOUND) {
        rc = cli_pull(r.client, r.model, cli_flag_bool(a, "insecure"), err);
        if (rc == 0) rc = cli_show_fetch(r.client, r.model, false, NULL, NULL, &info, err);
    }
    if (rc < 0) goto out;
    cli_run_apply_show(&r, info);
    const char *p = prompt.data ? prompt.data : "";
    if (has_cap(info, "embedding")) {
        if (!p[0]) {
            rc = ol_err_set(err, OL_EINVAL,
                            "embedding models require input text. Usage: ollama run %s \"your "
                            "text here\"",
                            r.model);
            goto out;
        }
        rc = embed(&r, p, a, err);
        goto out;
    }
    if (interactive) {
        rc = cli_run_load(&r, err);
        if (rc < 0) goto out;
        for (size_t i = 0; i < json_array_size(r.loaded_messages); i++) {
            json_t *m = json_array_get(r.loaded_messages, i);
            const char *role = json_string_value(json_object_get(m, "role"));
            const char *content = json_string_value(json_object_get(m, "content"));
            if (!role || !content) continue;
            if (strcmp(role, "user") == 0) {
                printf(">>> %s\n", content);
            } else if (strcmp(role, "assistant") == 0) {
                struct cli_wrap w = {0};
                struct ol_buf o = {0};
                cli_wrap_feed(&w, content, strlen(content), r.wordwrap, term_width(), &o);
                if (o.len) fwrite(o.data, 1, o.len, stdout);
                ol_buf_free(&o);
                cli_wrap_reset(&w);
                printf("\n\n");
            }
        }
        fflush(stdout);
        rc = cli_repl(&r, err);
        goto out;
    }
    rc = generate(&r, p, err);
out:
    cli_sigint_default();
    json_decref(info);
    ol_buf_free(&prompt);
    cli_client_free(r.client);
    free(r.model);
    free(r.parent_model);
    free(r.system);
    free(r.format);
    free(r.keep_alive);
    json_decref(r.think);
    json_decref(r.options);
    json_decref(r.messages);
    json_decref(r.loaded_messages);
    return rc;
}
