/* /api/generate and /api/chat: validation in the order of api.md §4.1/§4.2, prompt rendering
 * with the model's template, then a job on the model's runner that streams NDJSON chunks
 * (or one object when stream is false). Embeddings are answered with a clear 501 until the
 * engine computes them. */
#include "server/api.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/outparse.h"
#include "template/template.h"

/* Everything one generation needs, owned by the job (freed by the runner at the end). */
struct gen_job {
    struct srv_job job;
    struct srv *s;
    struct srv_inst *inst;
    struct srv_stream *st;
    bool chat;
    bool stream;
    bool raw;
    char *model; /* as the client sent it */
    eng_token *tokens;
    int n_tokens;
    struct srv_opts opts;
    int64_t keep_alive_ns;
    int64_t t_start, load_ns;
    bool logprobs;
    int top_logprobs;
    struct outp *op; /* thinking split and tool calls; NULL = text passes through */
    /* non-streaming accumulation */
    struct ol_buf text;
    struct ol_buf thinking;
    json_t *calls_all;
    json_t *lp_all;
    json_t *lp_chunk;
    struct ol_buf chunk; /* the streamed text chunk, reused */
    /* the server's own work per token on the runner (JSON and stream write), for the bench */
    bool timed; /* debug logging on: measure token_ns */
    int64_t token_ns;
    int n_token_calls;
};

static void gen_job_free(struct gen_job *g) {
    free(g->model);
    free(g->tokens);
    srv_opts_free(&g->opts);
    ol_buf_free(&g->text);
    ol_buf_free(&g->thinking);
    ol_buf_free(&g->chunk);
    outp_free(g->op);
    json_decref(g->calls_all);
    json_decref(g->lp_all);
    json_decref(g->lp_chunk);
    free(g);
}

static json_t *chunk_base(const struct gen_job *g) {
    char ts[64];
    srv_time_format(srv_now_ns(), true, ts, sizeof(ts));
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(g->model));
    json_object_set_new(o, "created_at", json_string(ts));
    return o;
}

/* Puts the output fields into a chunk: response/thinking for generate, message for chat. */
static void set_output(json_t *o, const struct gen_job *g, const char *text, size_t len,
                       const char *thinking, size_t thinking_len, json_t *calls) {
    json_t *t = json_stringn(text, len);
    if (!t) t = json_string(""); /* invalid UTF-8 cannot happen: the stop matcher holds it */
    json_t *th = thinking_len ? json_stringn(thinking, thinking_len) : NULL;
    if (g->chat) {
        json_t *m = json_object();
        json_object_set_new(m, "role", json_string("assistant"));
        json_object_set_new(m, "content", t);
        if (th) json_object_set_new(m, "thinking", th);
        if (calls && json_array_size(calls)) json_object_set(m, "tool_calls", calls);
        json_object_set_new(o, "message", m);
    } else {
        json_object_set_new(o, "response", t);
        if (th) json_object_set_new(o, "thinking", th);
    }
}

static bool emit(struct gen_job *g, json_t *o) {
    char *txt = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(o);
    if (!txt) return false;
    size_t n = strlen(txt);
    txt[n] = '\n';
    bool ok = srv_stream_write(g->st, txt, n + 1);
    free(txt);
    return ok;
}

static json_t *logprob_entry(const struct eng_model *m, eng_token t, float lp) {
    char piece[256];
    int n = eng_token_piece(m, t, piece, sizeof(piece));
    n = OL_MAX(OL_MIN(n, (int)sizeof(piece) - 1), 0);
    json_t *o = json_object();
    json_t *tok = json_stringn(piece, (size_t)n);
    json_object_set_new(o, "token", tok ? tok : json_string(""));
    json_object_set_new(o, "logprob", json_real(lp));
    json_t *bytes = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(bytes, json_integer((unsigned char)piece[i]));
    json_object_set_new(o, "bytes", bytes);
    return o;
}

/* The streamed chunk of text and thinking without tool calls or logprobs, that is, of nearly
 * every token, written by hand into a buffer the job keeps: no allocation per token, and the
 * bytes Ollama's Go encoder sends (jansson would not escape <, > and &). */
static bool emit_text(struct gen_job *g, const char *text, size_t len, const char *thinking,
                      size_t thinking_len) {
    char ts[64];
    srv_time_format(srv_now_ns(), true, ts, sizeof(ts));
    struct ol_buf *b = &g->chunk;
    b->len = 0;
    bool ok = ol_buf_puts(b, "{\"model\":") == 0 &&
              srv_json_quote(b, g->model, strlen(g->model)) == 0 &&
              ol_buf_puts(b, ",\"created_at\":\"") == 0 && ol_buf_puts(b, ts) == 0 &&
              ol_buf_puts(b, g->chat ? "\",\"message\":{\"role\":\"assistant\",\"content\":"
                                     : "\",\"response\":") == 0 &&
              srv_json_quote(b, text, len) == 0;
    if (ok && thinking_len)
        ok =
            ol_buf_puts(b, ",\"thinking\":") == 0 && srv_json_quote(b, thinking, thinking_len) == 0;
    if (ok) ok = ol_buf_puts(b, g->chat ? "},\"done\":false}\n" : ",\"done\":false}\n") == 0;
    return ok && srv_stream_write(g->st, b->data, b->len);
}

/* Streams (or accumulates) decided output; true while the client is there. */
static bool deliver(struct gen_job *g, const struct ol_buf *content, const struct ol_buf *thinking,
                    json_t *calls, bool force) {
    if (!g->stream) {
        ol_buf_append(&g->text, content->data, content->len);
        ol_buf_append(&g->thinking, thinking->data, thinking->len);
        json_array_extend(g->calls_all, calls);
        return !srv_stream_is_abandoned(g->st);
    }
    bool plain = json_array_size(calls) == 0 && json_array_size(g->lp_chunk) == 0;
    if (!force && content->len == 0 && thinking->len == 0 && plain)
        return !srv_stream_is_abandoned(g->st);
    if (plain)
        return emit_text(g, content->data ? content->data : "", content->len, thinking->data,
                         thinking->len);
    json_t *o = chunk_base(g);
    set_output(o, g, content->data ? content->data : "", content->len, thinking->data,
               thinking->len, calls);
    json_object_set_new(o, "done", json_false());
    if (json_array_size(g->lp_chunk)) {
        json_object_set(o, "logprobs", g->lp_chunk);
        json_decref(g->lp_chunk);
        g->lp_chunk = json_array();
    }
    return emit(g, o);
}

static bool token_deliver(struct gen_job *g, eng_token t, const char *text, size_t len,
                          const struct eng_logprob *lp) {
    if (g->stream && !g->op && !g->logprobs) /* text passes through */
        return len ? emit_text(g, text, len, NULL, 0) : !srv_stream_is_abandoned(g->st);
    const struct eng_model *m = sched_inst_model(g->inst);
    if (lp && g->logprobs && t >= 0) {
        json_t *e = logprob_entry(m, t, lp->logprob);
        if (g->top_logprobs > 0) {
            json_t *tops = json_array();
            for (int i = 0; i < lp->n_top && i < g->top_logprobs; i++)
                json_array_append_new(tops,
                                      logprob_entry(m, lp->top_tokens[i], lp->top_logprobs[i]));
            json_object_set_new(e, "top_logprobs", tops);
        }
        json_array_append_new(g->stream ? g->lp_chunk : g->lp_all, e);
    }
    struct ol_buf content = {0}, thinking = {0};
    json_t *calls = json_array();
    struct ol_err err = {0};
    bool ok = true;
    if (g->op) {
        if (outp_push(g->op, text, len, &content, &thinking, calls, &err) < 0) ok = false;
    } else {
        ok = ol_buf_append(&content, text, len) == 0;
    }
    if (ok) ok = deliver(g, &content, &thinking, calls, false);
    ol_buf_free(&content);
    ol_buf_free(&thinking);
    json_decref(calls);
    return ok;
}

/* The engine's token callback: delivers the token and, when debug logging is on, adds the
 * time it took. Wall time on the monotonic clock (no system call): it is what delays the next
 * token, and a CPU-time clock read is a system call, whose return lets a woken thread preempt
 * the runner right there. */
static bool on_token(void *user, eng_token t, const char *text, size_t len,
                     const struct eng_logprob *lp) {
    struct gen_job *g = user;
    g->n_token_calls++;
    if (!g->timed) return token_deliver(g, t, text, len, lp);
    int64_t t0 = ol_time_ns();
    bool ok = token_deliver(g, t, text, len, lp);
    g->token_ns += ol_time_ns() - t0;
    return ok;
}

static void put_metric(json_t *o, const char *k, int64_t v) {
    if (v) json_object_set_new(o, k, json_integer(v));
}

static void gen_run(struct srv_job *job, struct srv_inst *inst, struct eng_seq *seq) {
    struct gen_job *g = (struct gen_job *)job;
    (void)inst;
    struct ol_err err = {0};
    struct eng_gen_stats stats = {0};
    g->opts.seq.logprobs = g->logprobs;
    g->opts.seq.n_logprobs = g->top_logprobs;
    g->timed = ol_log_debug_enabled();
    int rc = eng_seq_generate(seq, g->tokens, g->n_tokens, &g->opts.seq, on_token, g, &stats, &err);
    if (rc < 0) {
        if (!g->stream) srv_stream_set_status(g->st, err.code == OL_EINVAL ? 400 : 500);
        json_t *o = json_object();
        json_object_set_new(o, "error", json_string(err.msg));
        emit(g, o);
    } else if (stats.done != ENG_DONE_CANCELED || !srv_stream_is_abandoned(g->st)) {
        if (g->op) { /* held text: the end of thinking or an unfinished tool call */
            struct ol_buf content = {0}, thinking = {0};
            json_t *calls = json_array();
            if (outp_finish(g->op, &content, &thinking, calls, &err) >= 0)
                deliver(g, &content, &thinking, calls, false);
            ol_buf_free(&content);
            ol_buf_free(&thinking);
            json_decref(calls);
        }
        json_t *o = chunk_base(g);
        if (g->stream)
            set_output(o, g, "", 0, NULL, 0, NULL);
        else
            set_output(o, g, g->text.data ? g->text.data : "", g->text.len, g->thinking.data,
                       g->thinking.len, g->calls_all);
        json_object_set_new(o, "done", json_true());
        json_object_set_new(o, "done_reason",
                            json_string(stats.done == ENG_DONE_LENGTH ? "length" : "stop"));
        if (!g->chat && !g->raw) {
            int n;
            const eng_token *all = eng_seq_tokens(seq, &n);
            json_t *ctx = json_array();
            for (int i = 0; i < n; i++)
                json_array_append_new(ctx, json_integer(all[i]));
            json_object_set_new(o, "context", ctx);
        }
        put_metric(o, "total_duration", srv_now_ns() - g->t_start);
        put_metric(o, "load_duration", g->load_ns);
        put_metric(o, "prompt_eval_count", stats.prompt_evaluated);
        put_metric(o, "prompt_eval_duration", stats.prompt_ns);
        put_metric(o, "eval_count", stats.gen_tokens);
        put_metric(o, "eval_duration", stats.gen_ns);
        json_t *lps = g->stream ? g->lp_chunk : g->lp_all;
        if (g->logprobs && json_array_size(lps)) json_object_set(o, "logprobs", lps);
        emit(g, o);
    }
    /* bench/serve reads this line (and the connection's "stream:" line after it) */
    ol_log(OL_LOG_DEBUG, "generate: eval_count=%d token_calls=%d token_ns=%lld", stats.gen_tokens,
           g->n_token_calls, (long long)g->token_ns);
    srv_stream_close(g->st);
    sched_release(g->s->sched, g->inst, g->keep_alive_ns);
    gen_job_free(g);
}

/* ---- request parsing helpers ---- */

/* Reads keep_alive (api.md §3); returns 0, or replies 400 and returns < 0. */
int api_keep_alive(struct srv *s, struct srv_http *h, const json_t *req, int64_t *out) {
    const json_t *v = json_object_get(req, "keep_alive");
    *out = s->cfg.keep_alive_ns;
    if (!v || json_is_null(v)) return 0;
    if (json_is_number(v)) {
        double sec = json_number_value(v);
        *out = sec < 0 ? -1 : (int64_t)(sec * 1e9);
        return 0;
    }
    if (json_is_string(v)) {
        int64_t ns;
        if (srv_duration_parse(json_string_value(v), false, &ns) < 0) {
            char msg[300];
            snprintf(msg, sizeof(msg), "time: missing unit in duration \"%.200s\"",
                     json_string_value(v));
            http_reply_error(h, 400, msg);
            return -1;
        }
        *out = ns < 0 ? -1 : ns;
        return 0;
    }
    const char *t = json_is_boolean(v) ? "bool"
                    : json_is_array(v) ? "[]interface {}"
                                       : "map[string]interface {}";
    char msg[128];
    snprintf(msg, sizeof(msg), "Unsupported type: '%s'", t);
    http_reply_error(h, 400, msg);
    return -1;
}

/* Options: model params, then request options. Replies on error. */
static int load_opts(struct srv *s, struct srv_http *h, const struct store_model *sm,
                     const json_t *req, struct srv_opts *o) {
    struct ol_err err = {0};
    srv_opts_init(o, &s->cfg);
    if (sm->params_json) {
        json_t *p = json_loads(sm->params_json, 0, NULL);
        int rc = srv_opts_apply(o, p, &err);
        json_decref(p);
        if (rc < 0) {
            http_reply_error(h, 500, err.msg);
            return -1;
        }
    }
    if (srv_opts_apply(o, json_object_get(req, "options"), &err) < 0) {
        http_reply_error(h, 500, err.msg);
        return -1;
    }
    return 0;
}

static bool format_is_set(const json_t *req) {
    const json_t *f = json_object_get(req, "format");
    if (!f || json_is_null(f)) return false;
    if (json_is_string(f) && json_string_length(f) == 0) return false;
    return true;
}

struct count_ctx {
    const struct eng_model *m;
};

static int count_tokens(void *ctx, const char *text, size_t len) {
    struct count_ctx *c = ctx;
    return eng_tokenize(c->m, text, len, true, true, NULL, 0, NULL);
}

/* Converts a JSON value into a template value (maps keep insertion order for printing). */
static struct tmpl_value *to_tmpl(struct tmpl_arena *a, const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        struct tmpl_value *m = tmpl_value_map(a);
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) tmpl_map_set(m, k, strlen(k), to_tmpl(a, e));
        return m;
    }
    case JSON_ARRAY: {
        struct tmpl_value *l = tmpl_value_list(a);
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) tmpl_list_append(l, to_tmpl(a, e));
        return l;
    }
    case JSON_STRING:
        return tmpl_value_strn(a, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return tmpl_value_float(a, (double)json_integer_value(v));
    case JSON_REAL:
        return tmpl_value_float(a, json_real_value(v));
    case JSON_TRUE:
        return tmpl_value_bool(a, true);
    case JSON_FALSE:
        return tmpl_value_bool(a, false);
    default:
        return tmpl_value_nil(a);
    }
}

/* Renders messages with the model's (or the request's) template; appends to out. */
static int render_prompt(const char *tmpl_text, const char *system, const json_t *msgs,
                         const json_t *tools, const char *prompt, const char *suffix,
                         const json_t *think, bool truncate, int num_ctx, const struct eng_model *m,
                         struct ol_buf *out, struct ol_err *err) {
    struct tmpl *t = tmpl_parse(tmpl_text, strlen(tmpl_text), TMPL_PARSE_OLLAMA, err);
    if (!t) return err->code ? err->code : OL_EINVAL;
    struct tmpl_arena *a = tmpl_arena_new();
    size_t n = json_array_size(msgs);
    struct tmpl_message *tm = ol_calloc_array(n ? n : 1, sizeof(*tm));
    int rc = 0;
    if (!a || !tm) {
        rc = ol_err_set(err, OL_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *jm = json_array_get(msgs, i);
        tm[i].role = api_jstr(jm, "role");
        tm[i].content = api_jstr(jm, "content");
        tm[i].thinking = api_jstr(jm, "thinking");
        tm[i].n_images = (int)json_array_size(json_object_get(jm, "images"));
        tm[i].tool_name = api_jstr(jm, "tool_name");
        tm[i].tool_call_id = api_jstr(jm, "tool_call_id");
        const json_t *calls = json_object_get(jm, "tool_calls");
        size_t nc = json_array_size(calls);
        if (nc) {
            struct tmpl_tool_call *tc = ol_calloc_array(nc, sizeof(*tc));
            if (!tc) {
                rc = ol_err_set(err, OL_ENOMEM, "out of memory");
                goto out;
            }
            for (size_t j = 0; j < nc; j++) {
                const json_t *c = json_array_get(calls, j);
                const json_t *f = json_object_get(c, "function");
                tc[j].id = api_jstr(c, "id");
                tc[j].index = (int)json_integer_value(json_object_get(f, "index"));
                tc[j].name = api_jstr(f, "name");
                const json_t *args = json_object_get(f, "arguments");
                tc[j].arguments = args ? to_tmpl(a, args) : NULL;
            }
            tm[i].tool_calls = tc;
            tm[i].n_tool_calls = (int)nc;
        }
    }
    struct tmpl_render_params p = tmpl_render_default_params();
    p.system = system;
    p.messages = tm;
    p.n_messages = (int)n;
    p.tools = tools && json_array_size(tools) ? to_tmpl(a, tools) : NULL;
    p.is_think_set = think && !json_is_null(think);
    p.think = think && (json_is_true(think) || json_is_string(think));
    p.think_level = json_is_string(think) ? json_string_value(think) : NULL;
    p.prompt = prompt;
    p.suffix = suffix;
    struct count_ctx cc = {m};
    p.truncate = truncate;
    p.num_ctx = num_ctx;
    p.count_tokens = count_tokens;
    p.count_ctx = &cc;
    p.image_tags = true;
    rc = tmpl_render(t, &p, out, NULL, err);
out:
    for (size_t i = 0; tm && i < n; i++)
        free((void *)tm[i].tool_calls);
    free(tm);
    tmpl_arena_free(a);
    tmpl_free(t);
    return rc;
}

/* Thinking split (when the request or the model's default turns thinking on and the template
 * yields tags) and tool-call parsing (when the request has tools): templates.md §6, §7. */
static int setup_parsers(struct gen_job *g, const char *tmpl_text, const json_t *think,
                         const json_t *tools, const struct ol_buf *prompt, struct ol_err *err) {
    struct tmpl *t = tmpl_parse(tmpl_text, strlen(tmpl_text), TMPL_PARSE_OLLAMA, NULL);
    if (!t) return 0;
    struct ol_buf open = {0}, close = {0}, tag = {0};
    struct outp_params p = {0};
    const char *names[64];
    int rc = 0;
    bool think_on = !think || json_is_null(think) || json_is_true(think) || json_is_string(think);
    if (think_on && tmpl_thinking_tags(t, &open, &close) == 1) {
        p.think_open = open.data;
        p.think_close = close.data;
        p.think_enabled = true;
        size_t n = prompt->len;
        while (n && (prompt->data[n - 1] == ' ' || prompt->data[n - 1] == '\n' ||
                     prompt->data[n - 1] == '\t' || prompt->data[n - 1] == '\r'))
            n--;
        p.prompt_ends_with_open =
            n >= open.len && memcmp(prompt->data + n - open.len, open.data, open.len) == 0;
    }
    if (json_array_size(tools) && tmpl_tool_call_tag(t, &tag) == 0) {
        p.tool_tag = tag.data ? tag.data : "{";
        size_t i;
        json_t *tool;
        json_array_foreach(tools, i, tool) {
            const char *name = api_jstr(json_object_get(tool, "function"), "name");
            if (name && p.n_tools < (int)OL_ARRAY_LEN(names)) names[p.n_tools++] = name;
        }
        p.tool_names = names;
    }
    if (p.think_enabled || p.tool_tag) {
        g->op = outp_new(&p, err);
        if (!g->op) rc = err->code ? err->code : OL_ENOMEM;
    }
    ol_buf_free(&open);
    ol_buf_free(&close);
    ol_buf_free(&tag);
    tmpl_free(t);
    return rc;
}

static json_t *load_reply(const char *model, bool chat, const char *reason) {
    char ts[64];
    srv_time_format(srv_now_ns(), true, ts, sizeof(ts));
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(model));
    json_object_set_new(o, "created_at", json_string(ts));
    if (chat) {
        json_t *m = json_object();
        json_object_set_new(m, "role", json_string("assistant"));
        json_object_set_new(m, "content", json_string(""));
        json_object_set_new(o, "message", m);
    } else {
        json_object_set_new(o, "response", json_string(""));
    }
    json_object_set_new(o, "done", json_true());
    json_object_set_new(o, "done_reason", json_string(reason));
    return o;
}

/* Shared body of generate (chat = false) and chat. */
static void infer(struct srv *s, struct srv_http *h, bool chat) {
    int64_t t_start = srv_now_ns();
    struct ol_err err = {0};
    json_t *req = api_parse_body(h);
    if (!req) return;
    struct store_model sm = {0};
    struct srv_opts opts;
    bool have_opts = false;
    struct ol_buf prompt = {0};
    struct srv_inst *inst = NULL;
    static const struct api_field gen_fields[] = {
        {"model", 's'},    {"prompt", 's'},       {"suffix", 's'},   {"system", 's'},
        {"template", 's'}, {"context", 'a'},      {"stream", 'b'},   {"raw", 'b'},
        {"images", 'a'},   {"options", 'o'},      {"truncate", 'b'}, {"shift", 'b'},
        {"logprobs", 'b'}, {"top_logprobs", 'n'}, {NULL, 0}};
    static const struct api_field chat_fields[] = {
        {"model", 's'},        {"messages", 'a'}, {"tools", 'a'}, {"stream", 'b'},
        {"options", 'o'},      {"truncate", 'b'}, {"shift", 'b'}, {"logprobs", 'b'},
        {"top_logprobs", 'n'}, {NULL, 0}};
    if (!api_check_fields(h, req, chat ? "api.ChatRequest" : "api.GenerateRequest",
                          chat ? chat_fields : gen_fields))
        goto out;
    const char *model = api_jstr(req, "model");
    if (!model || !*model) {
        http_reply_error(h, 400, "model is required");
        goto out;
    }
    const json_t *tl = json_object_get(req, "top_logprobs");
    int top_logprobs = 0;
    if (tl && !json_is_null(tl)) {
        top_logprobs = (int)json_number_value(tl);
        if (!json_is_number(tl) || top_logprobs < 0 || top_logprobs > 20) {
            http_reply_error(h, 400, "top_logprobs must be between 0 and 20");
            goto out;
        }
    }
    int rc = store_model_get(s->store, model, &sm, &err);
    if (rc < 0 || !sm.model_path) {
        char msg[600];
        snprintf(msg, sizeof(msg), "model '%s' not found", model);
        http_reply_error(h, 404, msg);
        goto out;
    }
    if (sm.n_adapters > 0) {
        /* the engine does not apply LoRA adapters yet: say so rather than ignore them */
        http_reply_error(h, 501, "LoRA adapters are not supported yet");
        goto out;
    }
    int64_t keep_alive;
    if (api_keep_alive(s, h, req, &keep_alive) < 0) goto out;
    const char *prompt_in = api_jstr(req, "prompt");
    const json_t *msgs = json_object_get(req, "messages");
    if (chat && msgs && !json_is_null(msgs) && !json_is_array(msgs)) {
        http_reply_error(h, 400, "json: cannot unmarshal messages: expected an array");
        goto out;
    }
    bool empty = chat ? json_array_size(msgs) == 0 : (!prompt_in || !*prompt_in);
    if (empty && keep_alive == 0) {
        sched_unload(s->sched, sm.model_path);
        api_reply_obj(h, 200, load_reply(model, chat, "unload"));
        goto out;
    }
    bool raw = json_is_true(json_object_get(req, "raw"));
    const char *req_template = api_jstr(req, "template"), *req_system = api_jstr(req, "system");
    const json_t *context = json_object_get(req, "context");
    if (!chat && raw && (req_template || req_system || json_array_size(context))) {
        http_reply_error(h, 400, "raw mode does not support template, system, or context");
        goto out;
    }
    const char *tmpl_text = req_template && *req_template ? req_template
                            : sm.template_text            ? sm.template_text
                                                          : "{{ .Prompt }}";
    const json_t *think = json_object_get(req, "think");
    if (think && !json_is_null(think) && !json_is_boolean(think)) {
        const char *tv = json_is_string(think) ? json_string_value(think) : "";
        if (strcmp(tv, "high") && strcmp(tv, "medium") && strcmp(tv, "low") && strcmp(tv, "max")) {
            char msg[200];
            snprintf(msg, sizeof(msg),
                     "invalid think value: \"%.60s\" (must be \"high\", \"medium\", \"low\", "
                     "\"max\", true, or false)",
                     tv);
            http_reply_error(h, 400, msg);
            goto out;
        }
    }
    if (think && (json_is_true(think) || json_is_string(think))) {
        struct tmpl *t = tmpl_parse(tmpl_text, strlen(tmpl_text), TMPL_PARSE_OLLAMA, NULL);
        struct ol_buf open = {0}, close = {0};
        bool can_think = t && tmpl_thinking_tags(t, &open, &close) == 1;
        ol_buf_free(&open);
        ol_buf_free(&close);
        tmpl_free(t);
        if (!can_think) {
            char msg[600];
            snprintf(msg, sizeof(msg), "\"%s\" does not support thinking", model);
            http_reply_error(h, 400, msg);
            goto out;
        }
    }
    const json_t *tools = json_object_get(req, "tools");
    if (chat && json_array_size(tools)) {
        struct tmpl *t = tmpl_parse(tmpl_text, strlen(tmpl_text), TMPL_PARSE_OLLAMA, NULL);
        bool can = t && tmpl_references(t, "Tools");
        tmpl_free(t);
        if (!can) {
            char full[600], msg[700];
            store_name_full(&sm.name, full, sizeof(full));
            snprintf(msg, sizeof(msg), "%s does not support tools", full);
            http_reply_error(h, 400, msg);
            goto out;
        }
    }
    if (format_is_set(req)) {
        http_reply_error(h, 501, "structured outputs (\"format\") are not supported yet");
        goto out;
    }
    if (load_opts(s, h, &sm, req, &opts) < 0) goto out;
    have_opts = true;
    bool busy;
    struct srv_load_req lr = {.sm = &sm,
                              .num_ctx = opts.num_ctx,
                              .num_batch = opts.num_batch,
                              .num_thread = opts.num_thread,
                              .keep_alive_ns = keep_alive};
    if (sched_acquire(s->sched, &lr, &inst, &busy, &err) < 0) {
        http_reply_error(h, busy ? 503 : 500, err.msg);
        goto out;
    }
    int64_t load_ns = srv_now_ns() - t_start;
    if (empty) {
        sched_release(s->sched, inst, keep_alive);
        inst = NULL;
        api_reply_obj(h, 200, load_reply(model, chat, "load"));
        goto out;
    }
    const struct eng_model *m = sched_inst_model(inst);
    bool truncate = !json_is_false(json_object_get(req, "truncate"));
    if (!chat && raw) {
        ol_buf_puts(&prompt, prompt_in);
    } else {
        json_t *list = json_array();
        const char *system = sm.system_text;
        if (!chat) {
            if (req_system) system = req_system;
            if (sm.messages_json && !json_array_size(context)) {
                json_t *hist = json_loads(sm.messages_json, 0, NULL);
                json_array_extend(list, hist);
                json_decref(hist);
            }
            json_t *u = json_object();
            json_object_set_new(u, "role", json_string("user"));
            json_object_set_new(u, "content", json_string(prompt_in));
            json_object_set(u, "images", json_object_get(req, "images"));
            json_array_append_new(list, u);
        } else {
            if (sm.messages_json) {
                json_t *hist = json_loads(sm.messages_json, 0, NULL);
                json_array_extend(list, hist);
                json_decref(hist);
            }
            json_array_extend(list, (json_t *)msgs);
        }
        if (json_array_size(context)) { /* previous conversation text in front */
            size_t nc = json_array_size(context);
            eng_token *ids = ol_calloc_array(nc, sizeof(*ids));
            for (size_t i = 0; ids && i < nc; i++)
                ids[i] = (eng_token)json_integer_value(json_array_get(context, i));
            bool ok = ids != NULL;
            for (size_t i = 0; ok && i < nc; i++)
                ok = ids[i] >= 0 && ids[i] < eng_n_vocab(m);
            if (ok) eng_detokenize(m, ids, (int)nc, false, &prompt);
            free(ids);
        }
        const char *suffix = api_jstr(req, "suffix");
        rc = render_prompt(tmpl_text, system, list, tools, chat ? NULL : prompt_in,
                           chat ? NULL : suffix, think, chat && truncate, sched_inst_n_ctx(inst), m,
                           &prompt, &err);
        json_decref(list);
        if (rc < 0) {
            sched_release(s->sched, inst, keep_alive);
            inst = NULL;
            http_reply_error(h, 500, err.msg);
            goto out;
        }
    }
    if (json_is_true(json_object_get(req, "_debug_render_only"))) {
        json_t *o = load_reply(model, chat, "");
        json_object_set_new(o, "done", json_false());
        json_object_del(o, "done_reason");
        json_t *dbg = json_object();
        json_object_set_new(dbg, "rendered_template", json_string(prompt.data ? prompt.data : ""));
        json_object_set_new(dbg, "image_count", json_integer(0));
        json_object_set_new(o, "_debug_info", dbg);
        sched_release(s->sched, inst, keep_alive);
        inst = NULL;
        api_reply_obj(h, 200, o);
        goto out;
    }
    int n_tok =
        eng_tokenize(m, prompt.data ? prompt.data : "", prompt.len, true, true, NULL, 0, &err);
    if (n_tok > sched_inst_n_ctx(inst) && !truncate) { /* before any chunk: a real 400 */
        sched_release(s->sched, inst, keep_alive);
        inst = NULL;
        http_reply_error(h, 400, "the input length exceeds the context length");
        goto out;
    }
    struct gen_job *g = calloc(1, sizeof(*g));
    if (n_tok < 0 || !g) {
        free(g);
        sched_release(s->sched, inst, keep_alive);
        inst = NULL;
        http_reply_error(h, 500, n_tok < 0 ? err.msg : "out of memory");
        goto out;
    }
    g->tokens = ol_calloc_array((size_t)n_tok + 1, sizeof(eng_token));
    g->model = ol_strdup(model);
    g->st = srv_stream_new();
    g->lp_all = json_array();
    g->lp_chunk = json_array();
    if (!g->tokens || !g->model || !g->st) {
        if (g->st) {
            srv_stream_close(g->st);
            srv_stream_abandon(g->st);
        }
        gen_job_free(g);
        sched_release(s->sched, inst, keep_alive);
        inst = NULL;
        http_reply_error(h, 500, "out of memory");
        goto out;
    }
    g->n_tokens = eng_tokenize(m, prompt.data ? prompt.data : "", prompt.len, true, true, g->tokens,
                               n_tok, &err);
    g->job.run = gen_run;
    g->s = s;
    g->inst = inst;
    g->chat = chat;
    g->raw = raw;
    g->stream = !json_is_false(json_object_get(req, "stream"));
    g->opts = opts; /* moves the stop strings */
    have_opts = false;
    g->opts.seq.stop = (const char *const *)g->opts.stops;
    g->opts.seq.truncate = truncate;
    g->opts.seq.shift = !json_is_false(json_object_get(req, "shift"));
    g->keep_alive_ns = keep_alive;
    g->t_start = t_start;
    g->load_ns = load_ns;
    g->logprobs = json_is_true(json_object_get(req, "logprobs"));
    g->top_logprobs = top_logprobs;
    g->calls_all = json_array();
    if (!raw && setup_parsers(g, tmpl_text, think, chat ? tools : NULL, &prompt, &err) < 0) {
        srv_stream_close(g->st);
        srv_stream_abandon(g->st);
        gen_job_free(g);
        sched_release(s->sched, inst, keep_alive);
        inst = NULL;
        http_reply_error(h, 500, err.msg);
        goto out;
    }
    struct srv_stream *st = g->st;
    bool stream = g->stream;
    inst = NULL; /* the job releases it */
    sched_submit(s->sched, g->inst, &g->job);
    if (stream) {
        http_reply_stream(h, st);
    } else {
        http_reply_collected(h, st);
    }
out:
    if (inst) sched_release(s->sched, inst, s->cfg.keep_alive_ns);
    if (have_opts) srv_opts_free(&opts);
    ol_buf_free(&prompt);
    store_model_clear(&sm);
    json_decref(req);
}

void api_generate(struct srv *s, struct srv_http *h) { infer(s, h, false); }

void api_chat(struct srv *s, struct srv_http *h) { infer(s, h, true); }

/* ---- embeddings (api.md §4.5, §4.6): last-token hidden state of the model ---- */

struct embed_job {
    struct srv_job job;
    struct srv *s;
    struct srv_stream *st; /* carries the reply JSON back to the HTTP thread */
    eng_token **inputs;
    int *lens;
    int n_inputs;
    bool normalize;
    int dimensions;
    bool legacy; /* /api/embeddings: one vector, not normalised */
    const char *model;
    int64_t t_start, load_ns;
    int64_t keep_alive_ns;
    int total_tokens;
};

static void embed_run(struct srv_job *job, struct srv_inst *inst, struct eng_seq *seq) {
    struct embed_job *e = (struct embed_job *)job;
    const struct eng_model *m = sched_inst_model(inst);
    int dim = eng_n_embd(m);
    float *v = ol_calloc_array((size_t)dim, sizeof(float));
    json_t *arr = json_array();
    struct ol_err err = {0};
    int rc = v ? 0 : ol_err_set(&err, OL_ENOMEM, "out of memory");
    for (int i = 0; i < e->n_inputs && rc == 0; i++) {
        rc = eng_seq_embed(seq, e->inputs[i], e->lens[i], v, &err);
        if (rc < 0) break;
        int n = e->dimensions > 0 && e->dimensions < dim ? e->dimensions : dim;
        double norm = 0;
        for (int j = 0; j < n; j++)
            norm += (double)v[j] * (double)v[j];
        norm = sqrt(norm);
        json_t *vec = json_array();
        bool finite = true;
        for (int j = 0; j < n; j++) {
            double x = e->normalize && norm > 0 ? (double)v[j] / norm : (double)v[j];
            finite = finite && isfinite(x);
            json_array_append_new(vec, json_real(x));
        }
        if (!finite) {
            json_decref(vec);
            rc = ol_err_set(&err, OL_EINTERNAL, "embedding contains NaN or Inf values");
            break;
        }
        json_array_append_new(arr, vec);
    }
    json_t *o = json_object();
    if (rc < 0) {
        srv_stream_set_status(e->st, err.code == OL_EINVAL ? 400 : 500);
        json_object_set_new(o, "error", json_string(err.msg));
        json_decref(arr);
    } else if (e->legacy) {
        json_object_set(o, "embedding",
                        json_array_size(arr) ? json_array_get(arr, 0) : json_array());
        json_decref(arr);
    } else {
        json_object_set_new(o, "model", json_string(e->model));
        json_object_set_new(o, "embeddings", arr);
        json_object_set_new(o, "total_duration", json_integer(srv_now_ns() - e->t_start));
        json_object_set_new(o, "load_duration", json_integer(e->load_ns));
        json_object_set_new(o, "prompt_eval_count", json_integer(e->total_tokens));
    }
    char *txt = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(o);
    if (txt) srv_stream_write(e->st, txt, strlen(txt));
    free(txt);
    free(v);
    srv_stream_close(e->st);
    sched_release(e->s->sched, inst, e->keep_alive_ns);
    for (int i = 0; i < e->n_inputs; i++)
        free(e->inputs[i]);
    free(e->inputs);
    free(e->lens);
    free(e);
}

static void embed(struct srv *s, struct srv_http *h, bool legacy) {
    int64_t t_start = srv_now_ns();
    struct ol_err err = {0};
    json_t *req = api_parse_body(h);
    if (!req) return;
    struct store_model sm = {0};
    struct srv_opts opts;
    bool have_opts = false;
    struct srv_inst *inst = NULL;
    struct embed_job *e = NULL;
    const char *model = api_jstr(req, "model");
    if (!model || !*model) {
        http_reply_error(h, 400, "model is required");
        goto out;
    }
    if (store_model_get(s->store, model, &sm, &err) < 0 || !sm.model_path) {
        char msg[600];
        if (legacy)
            snprintf(msg, sizeof(msg), "model \"%s\" not found, try pulling it first", model);
        else
            snprintf(msg, sizeof(msg), "model '%s' not found", model);
        http_reply_error(h, 404, msg);
        goto out;
    }
    const json_t *input = json_object_get(req, legacy ? "prompt" : "input");
    json_t *texts = json_array();
    if (json_is_string(input)) {
        if (json_string_length(input)) json_array_append(texts, (json_t *)input);
    } else if (json_is_array(input)) {
        size_t i;
        json_t *x;
        json_array_foreach(input, i, x) {
            if (!json_is_string(x)) {
                json_decref(texts);
                http_reply_error(h, 400, "invalid input type");
                goto out;
            }
            json_array_append(texts, x);
        }
    } else if (input && !json_is_null(input)) {
        json_decref(texts);
        http_reply_error(h, 400, "invalid input type");
        goto out;
    }
    int64_t keep_alive;
    if (api_keep_alive(s, h, req, &keep_alive) < 0 || load_opts(s, h, &sm, req, &opts) < 0) {
        json_decref(texts);
        goto out;
    }
    have_opts = true;
    bool busy;
    struct srv_load_req lr = {.sm = &sm,
                              .num_ctx = opts.num_ctx,
                              .num_batch = opts.num_batch,
                              .num_thread = opts.num_thread,
                              .keep_alive_ns = keep_alive};
    if (sched_acquire(s->sched, &lr, &inst, &busy, &err) < 0) {
        json_decref(texts);
        http_reply_error(h, busy ? 503 : 500, err.msg);
        goto out;
    }
    size_t n = json_array_size(texts);
    if (n == 0) {
        json_decref(texts);
        sched_release(s->sched, inst, keep_alive);
        inst = NULL;
        if (legacy) {
            http_reply_json(h, 200, "{\"embedding\":[]}");
        } else {
            json_t *o = json_object();
            json_object_set_new(o, "model", json_string(model));
            json_object_set_new(o, "embeddings", json_array());
            api_reply_obj(h, 200, o);
        }
        goto out;
    }
    const struct eng_model *m = sched_inst_model(inst);
    e = calloc(1, sizeof(*e));
    if (e) {
        e->inputs = ol_calloc_array(n, sizeof(*e->inputs));
        e->lens = ol_calloc_array(n, sizeof(*e->lens));
    }
    bool truncate = !json_is_false(json_object_get(req, "truncate"));
    int limit = sched_inst_n_ctx(inst);
    int rc = e && e->inputs && e->lens ? 0 : ol_err_set(&err, OL_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *t = json_string_value(json_array_get(texts, i));
        size_t len = json_string_length(json_array_get(texts, i));
        int cnt = eng_tokenize(m, t, len, true, true, NULL, 0, &err);
        if (cnt < 0) {
            rc = cnt;
            break;
        }
        e->inputs[i] = ol_calloc_array((size_t)cnt + 1, sizeof(eng_token));
        if (!e->inputs[i]) {
            rc = ol_err_set(&err, OL_ENOMEM, "out of memory");
            break;
        }
        eng_tokenize(m, t, len, true, true, e->inputs[i], cnt, &err);
        e->n_inputs = (int)i + 1;
        if (cnt > limit) {
            if (!truncate) {
                rc = ol_err_set(&err, OL_EINVAL, "the input length exceeds the context length");
                break;
            }
            cnt = limit;
        }
        e->lens[i] = cnt;
        e->total_tokens += cnt;
    }
    json_decref(texts);
    if (rc < 0) {
        sched_release(s->sched, inst, keep_alive);
        inst = NULL;
        http_reply_error(h, rc == OL_EINVAL ? 400 : 500, err.msg);
        goto out;
    }
    e->job.run = embed_run;
    e->s = s;
    e->st = srv_stream_new();
    e->legacy = legacy;
    e->normalize = !legacy;
    e->dimensions = legacy ? 0 : (int)json_integer_value(json_object_get(req, "dimensions"));
    e->model = model;
    e->t_start = t_start;
    e->load_ns = srv_now_ns() - t_start;
    e->keep_alive_ns = keep_alive;
    struct srv_stream *st = e->st;
    if (!st) {
        rc = ol_err_set(&err, OL_ENOMEM, "out of memory");
        sched_release(s->sched, inst, keep_alive);
        inst = NULL;
        http_reply_error(h, 500, err.msg);
        goto out;
    }
    sched_submit(s->sched, inst, &e->job);
    e = NULL; /* the job frees itself */
    inst = NULL;
    http_reply_collected(h, st);
out:
    if (e) {
        for (int i = 0; i < e->n_inputs; i++)
            free(e->inputs[i]);
        free(e->inputs);
        free(e->lens);
        free(e);
    }
    if (inst) sched_release(s->sched, inst, s->cfg.keep_alive_ns);
    if (have_opts) srv_opts_free(&opts);
    store_model_clear(&sm);
    json_decref(req);
}

void api_embed(struct srv *s, struct srv_http *h) { embed(s, h, false); }

void api_embeddings(struct srv *s, struct srv_http *h) { embed(s, h, true); }
