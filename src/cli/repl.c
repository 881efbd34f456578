/* The interactive REPL of `ollama run` (spec: cli.md §5): line editing and history through
 * libedit, `"""` multi-line input, slash commands, and chat turns. Ctrl+C is caught as a
 * signal (handler without SA_RESTART): at the prompt it interrupts libedit's read, and the
 * line is discarded; during a reply the transfer sees the flag and cancels the request. */
#include "cli/cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <histedit.h>
#include <jansson.h>

#define HISTORY_MAX 100

struct repl {
    struct cli_run *r;
    EditLine *el;
    History *hist;
    bool alt_prompt;
    bool history_on;
    char hist_path[4096];
};

static bool g_alt_prompt;

static char *prompt_fn(EditLine *el) {
    (void)el;
    return g_alt_prompt ? "... " : ">>> ";
}

static void history_save(struct repl *s) {
    if (!s->history_on || !s->hist_path[0]) return;
    HistEvent ev;
    struct ol_buf b = {0};
    /* oldest first */
    if (history(s->hist, &ev, H_LAST) == 0) {
        do {
            ol_buf_puts(&b, ev.str);
            if (!b.len || b.data[b.len - 1] != '\n') ol_buf_puts(&b, "\n");
        } while (history(s->hist, &ev, H_PREV) == 0);
    }
    ol_file_write_atomic(s->hist_path, b.data ? b.data : "", b.len, NULL);
    ol_buf_free(&b);
}

static void history_load(struct repl *s) {
    const char *home = getenv("HOME");
    if (!home) return;
    char dir[3000];
    snprintf(dir, sizeof(dir), "%.2900s/.ollama", home);
    mkdir(dir, 0755);
    snprintf(s->hist_path, sizeof(s->hist_path), "%s/history", dir);
    char *text = NULL;
    size_t len = 0;
    if (ol_file_read(s->hist_path, (size_t)1 << 24, &text, &len, NULL) < 0) return;
    HistEvent ev;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        history(s->hist, &ev, H_ENTER, line);
    free(text);
}

static void usage(const struct cli_run *r) {
    fputs("Available Commands:\n"
          "  /set            Set session variables\n"
          "  /show           Show model information\n"
          "  /load <model>   Load a session or model\n"
          "  /save <model>   Save your current session\n"
          "  /clear          Clear session context\n"
          "  /bye            Exit\n"
          "  /?, /help       Help for a command\n"
          "  /? shortcuts    Help for keyboard shortcuts\n"
          "\n"
          "Use \"\"\" to begin a multi-line message.\n",
          stderr);
    if (r->multimodal)
        fputs("Use /path/to/file to include .jpg, .png, .webp images, or .wav audio files.\n",
              stderr);
    fputs("\n", stderr);
}

static void usage_set(void) {
    fputs("Available Commands:\n"
          "  /set parameter ...     Set a parameter\n"
          "  /set system <string>   Set system message\n"
          "  /set history           Enable history\n"
          "  /set nohistory         Disable history\n"
          "  /set wordwrap          Enable wordwrap\n"
          "  /set nowordwrap        Disable wordwrap\n"
          "  /set format json       Enable JSON mode\n"
          "  /set noformat          Disable formatting\n"
          "  /set verbose           Show LLM stats\n"
          "  /set quiet             Disable LLM stats\n"
          "  /set think             Enable thinking\n"
          "  /set nothink           Disable thinking\n"
          "\n",
          stderr);
}

static void usage_shortcuts(void) {
    fputs("Available keyboard shortcuts:\n"
          "  Ctrl + a            Move to the beginning of the line (Home)\n"
          "  Ctrl + e            Move to the end of the line (End)\n"
          "   Alt + b            Move back (left) one word\n"
          "   Alt + f            Move forward (right) one word\n"
          "  Ctrl + k            Delete the sentence after the cursor\n"
          "  Ctrl + u            Delete the sentence before the cursor\n"
          "  Ctrl + w            Delete the word before the cursor\n"
          "\n"
          "  Ctrl + l            Clear the screen\n"
          "  Ctrl + g            Open default editor to compose a prompt\n"
          "  Ctrl + c            Stop the model from responding\n"
          "  Ctrl + d            Exit ollama (/bye)\n"
          "\n",
          stderr);
}

static void usage_show(void) {
    fputs("Available Commands:\n"
          "  /show info         Show details for this model\n"
          "  /show license      Show model license\n"
          "  /show modelfile    Show Modelfile for this model\n"
          "  /show parameters   Show parameters for this model\n"
          "  /show system       Show system message\n"
          "  /show template     Show prompt template\n"
          "\n",
          stderr);
}

static void usage_parameters(void) {
    fputs("Available Parameters:\n"
          "  /set parameter seed <int>             Random number seed\n"
          "  /set parameter num_predict <int>      Max number of tokens to predict\n"
          "  /set parameter top_k <int>            Pick from top k num of tokens\n"
          "  /set parameter top_p <float>          Pick token based on sum of probabilities\n"
          "  /set parameter min_p <float>          Pick token based on top token probability * "
          "min_p\n"
          "  /set parameter num_ctx <int>          Set the context size\n"
          "  /set parameter temperature <float>    Set creativity level\n"
          "  /set parameter repeat_penalty <float> How strongly to penalize repetitions\n"
          "  /set parameter repeat_last_n <int>    Set how far back to look for repetitions\n"
          "  /set parameter num_gpu <int>          The number of layers to send to the GPU\n"
          "  /set parameter stop <string> <string> ...   Set the stop parameters\n"
          "\n",
          stderr);
}

/* Splits s on whitespace into at most cap fields (modifies s). */
static int fields(char *s, char **out, int cap) {
    int n = 0;
    for (char *save = NULL, *t = strtok_r(s, " \t", &save); t && n < cap;
         t = strtok_r(NULL, " \t", &save))
        out[n++] = t;
    return n;
}

static bool starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static bool ends_with(const char *s, const char *suf) {
    size_t l = strlen(s), sl = strlen(suf);
    return l >= sl && strcmp(s + l - sl, suf) == 0;
}

static void set_system(struct cli_run *r, const char *text) {
    free(r->system);
    r->system = ol_strdup(text);
    json_t *m = json_pack("{s:s,s:s}", "role", "system", "content", text);
    size_t n = json_array_size(r->messages);
    json_t *last = n ? json_array_get(r->messages, n - 1) : NULL;
    const char *role = last ? json_string_value(json_object_get(last, "role")) : NULL;
    if (role && strcmp(role, "system") == 0)
        json_array_set_new(r->messages, n - 1, m);
    else
        json_array_append_new(r->messages, m);
    printf("Set system message.\n");
}

static void ensure_thinking(struct cli_run *r) {
    json_t *info = NULL;
    struct ol_err e = {0};
    if (cli_show_fetch(r->client, r->model, false, NULL, NULL, &info, &e) < 0) return;
    json_t *caps = json_object_get(info, "capabilities");
    bool ok = false;
    for (size_t i = 0; i < json_array_size(caps); i++) {
        const char *c = json_string_value(json_array_get(caps, i));
        if (c && strcmp(c, "thinking") == 0) ok = true;
    }
    if (!ok) fprintf(stderr, "warning: model \"%s\" does not support thinking output\n", r->model);
    json_decref(info);
}

/* /set ...; returns 1 when a multi-line system prompt was opened. */
static int cmd_set(struct repl *s, const char *line, struct ol_buf *sb, int *multiline) {
    struct cli_run *r = s->r;
    char *copy = ol_strdup(line);
    char *args[64];
    int n = copy ? fields(copy, args, 64) : 0;
    int ret = 0;
    if (n < 2) {
        usage_set();
        goto out;
    }
    const char *a1 = args[1];
    if (strcmp(a1, "history") == 0)
        s->history_on = true;
    else if (strcmp(a1, "nohistory") == 0)
        s->history_on = false;
    else if (strcmp(a1, "wordwrap") == 0)
        r->wordwrap = true, printf("Set 'wordwrap' mode.\n");
    else if (strcmp(a1, "nowordwrap") == 0)
        r->wordwrap = false, printf("Set 'nowordwrap' mode.\n");
    else if (strcmp(a1, "verbose") == 0)
        r->verbose = true, printf("Set 'verbose' mode.\n");
    else if (strcmp(a1, "quiet") == 0)
        r->verbose = false, printf("Set 'quiet' mode.\n");
    else if (strcmp(a1, "think") == 0) {
        json_decref(r->think);
        r->think = n > 2 ? json_string(args[2]) : json_true();
        r->think_explicit = true;
        ensure_thinking(r);
        if (n > 2)
            printf("Set 'think' mode to '%s'.\n", args[2]);
        else
            printf("Set 'think' mode.\n");
    } else if (strcmp(a1, "nothink") == 0) {
        json_decref(r->think);
        r->think = json_false();
        r->think_explicit = true;
        ensure_thinking(r);
        printf("Set 'nothink' mode.\n");
    } else if (strcmp(a1, "format") == 0) {
        if (n < 3 || strcmp(args[2], "json") != 0) {
            printf("Invalid or missing format. For 'json' mode use '/set format json'\n");
        } else {
            free(r->format);
            r->format = ol_strdup("json");
            printf("Set format to '%s' mode.\n", args[2]);
        }
    } else if (strcmp(a1, "noformat") == 0) {
        free(r->format);
        r->format = ol_strdup("");
        printf("Disabled format.\n");
    } else if (strcmp(a1, "parameter") == 0) {
        if (n < 4) {
            usage_parameters();
            goto out;
        }
        char *json = NULL;
        struct ol_err e = {0};
        int rc =
            cli_param_format(args[2], (const char *const *)args + 3, (size_t)(n - 3), &json, &e);
        if (rc == 1) rc = ol_err_set(&e, OL_EINVAL, "unknown parameter '%s'", args[2]);
        if (rc < 0) {
            printf("Couldn't set parameter: \"%s\"\n", e.msg);
            goto out;
        }
        printf("Set parameter '%s' to '", args[2]);
        for (int i = 3; i < n; i++)
            printf("%s%s", i > 3 ? ", " : "", args[i]);
        printf("'\n");
        json_object_set_new(r->options, args[2], json_loads(json, JSON_DECODE_ANY, NULL));
        free(json);
    } else if (strcmp(a1, "system") == 0) {
        if (n < 3) {
            usage_set();
            goto out;
        }
        /* the text after "/set system", words re-joined by single spaces */
        struct ol_buf t = {0};
        for (int i = 2; i < n; i++) {
            if (i > 2) ol_buf_puts(&t, " ");
            ol_buf_puts(&t, args[i]);
        }
        const char *text = t.data ? t.data : "";
        *multiline = 0;
        if (starts(text, "\"\"\"")) {
            text += 3;
            *multiline = 2;
            if (ends_with(text, "\"\"\"")) {
                t.data[t.len - 3] = '\0';
                *multiline = 0;
            }
        }
        ol_buf_puts(sb, text);
        ol_buf_free(&t);
        if (*multiline) {
            s->alt_prompt = true;
            ret = 1;
            goto out;
        }
        set_system(r, sb->data ? sb->data : "");
        sb->len = 0;
        if (sb->data) sb->data[0] = '\0';
    } else {
        printf("Unknown command '/set %s'. Type /? for help\n", a1);
    }
out:
    free(copy);
    return ret;
}

static int cmd_show(struct repl *s, const char *line, struct ol_err *err) {
    struct cli_run *r = s->r;
    char *copy = ol_strdup(line);
    char *args[8];
    int n = copy ? fields(copy, args, 8) : 0;
    if (n < 2) {
        usage_show();
        free(copy);
        return 0;
    }
    json_t *resp = NULL;
    int rc = cli_show_fetch(r->client, r->model, false, r->system, r->options, &resp, err);
    if (rc < 0) {
        printf("error: couldn't get model\n");
        free(copy);
        return rc;
    }
    const char *a1 = args[1];
    const char *v;
#define FIELD(k)                                                                                   \
    (json_string_value(json_object_get(resp, k)) ? json_string_value(json_object_get(resp, k)) : "")
    if (strcmp(a1, "info") == 0) {
        cli_show_info(resp, false, stderr);
    } else if (strcmp(a1, "license") == 0) {
        v = FIELD("license");
        printf("%s\n", v[0] ? v : "No license was specified for this model.");
    } else if (strcmp(a1, "modelfile") == 0) {
        printf("%s\n", FIELD("modelfile"));
    } else if (strcmp(a1, "parameters") == 0) {
        v = FIELD("parameters");
        printf("Model defined parameters:\n");
        if (!v[0]) {
            printf("  No additional parameters were specified for this model.\n");
        } else {
            for (const char *p = v;;) {
                const char *nl = strchr(p, '\n');
                printf("  %.*s\n", (int)(nl ? (size_t)(nl - p) : strlen(p)), p);
                if (!nl) break;
                p = nl + 1;
            }
        }
        printf("\n");
        if (json_object_size(r->options)) {
            printf("User defined parameters:\n");
            const char *k;
            json_t *jv;
            json_object_foreach(r->options, k, jv) {
                char num[64];
                struct ol_buf b = {0};
                if (json_is_number(jv)) {
                    cli_go_float(json_number_value(jv), true, num, sizeof(num));
                    ol_buf_puts(&b, num);
                } else if (json_is_boolean(jv)) {
                    ol_buf_puts(&b, json_is_true(jv) ? "true" : "false");
                } else if (json_is_array(jv)) {
                    ol_buf_puts(&b, "[");
                    for (size_t i = 0; i < json_array_size(jv); i++)
                        ol_buf_printf(&b, "%s%s", i ? " " : "",
                                      json_string_value(json_array_get(jv, i)));
                    ol_buf_puts(&b, "]");
                } else if (json_is_string(jv)) {
                    ol_buf_puts(&b, json_string_value(jv));
                }
                printf("  %-30s %s\n", k, b.data ? b.data : "");
                ol_buf_free(&b);
            }
            printf("\n");
        }
    } else if (strcmp(a1, "system") == 0) {
        if (r->system && r->system[0])
            printf("%s\n\n", r->system);
        else if (FIELD("system")[0])
            printf("%s\n\n", FIELD("system"));
        else
            printf("No system message was specified for this model.\n");
    } else if (strcmp(a1, "template") == 0) {
        v = FIELD("template");
        printf("%s\n", v[0] ? v : "No prompt template was specified for this model.");
    } else {
        printf("Unknown command '/show %s'. Type /? for help\n", a1);
    }
#undef FIELD
    json_decref(resp);
    free(copy);
    return 0;
}

static int cmd_load(struct repl *s, const char *name, struct ol_err *err) {
    struct cli_run *r = s->r;
    char *old = r->model;
    r->model = ol_strdup(name);
    json_t *old_msgs = r->messages;
    r->messages = json_array();
    printf("Loading model '%s'\n", r->model);
    json_t *info = NULL;
    struct ol_err e = {0};
    int rc = cli_show_fetch(r->client, r->model, false, NULL, NULL, &info, &e);
    if (rc == 0) {
        cli_run_apply_show(r, info);
        json_decref(info);
        rc = cli_run_load(r, &e);
    }
    if (rc < 0 && strstr(e.msg, "not found")) {
        printf("Couldn't find model '%s'\n", r->model);
        free(r->model);
        r->model = old;
        json_decref(r->messages);
        r->messages = old_msgs;
        return 0;
    }
    if (rc < 0 && strstr(e.msg, "does not support thinking")) {
        printf("error: %s\n", e.msg);
        free(old);
        json_decref(old_msgs);
        return 0;
    }
    free(old);
    json_decref(old_msgs);
    if (rc < 0) *err = e;
    return rc;
}

static int cmd_save(struct repl *s, const char *name, struct ol_err *err) {
    struct cli_run *r = s->r;
    struct ol_err e = {0};
    json_t *req = json_pack("{s:s}", "model", name);
    const char *from = r->parent_model && r->parent_model[0] ? r->parent_model : r->model;
    json_object_set_new(req, "from", json_string(from));
    if (r->system && r->system[0]) json_object_set_new(req, "system", json_string(r->system));
    if (json_object_size(r->options)) json_object_set(req, "parameters", r->options);
    json_t *msgs = json_deep_copy(r->loaded_messages ? r->loaded_messages : json_array());
    json_array_extend(msgs, r->messages);
    if (json_array_size(msgs)) json_object_set(req, "messages", msgs);
    json_decref(msgs);
    json_object_set_new(req, "stream", json_false());
    char *body = json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(req);
    int rc = cli_client_do(r->client, "POST", "/api/create", body, NULL, &e);
    free(body);
    if (rc < 0) {
        if (strstr(e.msg, "invalid model name")) {
            printf("error: The model name '%s' is invalid\n", name);
            return 0;
        }
        *err = e;
        return rc;
    }
    printf("Created new model '%s'\n", name);
    return 0;
}

/* Sends sb as a user message and appends the reply to the session. */
static int chat_turn(struct repl *s, const char *text, struct ol_err *err) {
    struct cli_run *r = s->r;
    json_array_append_new(r->messages, json_pack("{s:s,s:s}", "role", "user", "content", text));
    char *reply = NULL;
    struct ol_err e = {0};
    int rc = cli_run_chat(r, &reply, &e);
    if (rc < 0) {
        if (strstr(e.msg, "does not support thinking") || strstr(e.msg, "invalid think value")) {
            printf("error: %s\n", e.msg);
            return 0;
        }
        *err = e;
        return rc;
    }
    if (reply)
        json_array_append_new(r->messages,
                              json_pack("{s:s,s:s}", "role", "assistant", "content", reply));
    free(reply);
    return 0;
}

/* Handles one submitted line; returns 1 to exit, 0 to go on, < 0 on error. */
static int handle_line(struct repl *s, const char *line, struct ol_buf *sb, int *multiline,
                       struct ol_err *err) {
    struct cli_run *r = s->r;
    int rc = 0;
    if (*multiline) {
        size_t l = strlen(line);
        bool closed = ends_with(line, "\"\"\"");
        ol_buf_append(sb, line, closed ? l - 3 : l);
        if (!closed) {
            ol_buf_puts(sb, "\n");
            s->alt_prompt = true;
            return 0;
        }
        if (*multiline == 2) {
            set_system(r, sb->data ? sb->data : "");
            sb->len = 0;
            if (sb->data) sb->data[0] = '\0';
        }
        *multiline = 0;
        s->alt_prompt = false;
    } else if (starts(line, "\"\"\"")) {
        const char *t = line + 3;
        size_t l = strlen(t);
        bool closed = ends_with(t, "\"\"\"");
        ol_buf_append(sb, t, closed ? l - 3 : l);
        if (!closed) {
            ol_buf_puts(sb, "\n");
            *multiline = 1;
            s->alt_prompt = true;
        }
    } else if (starts(line, "/list")) {
        char *copy = ol_strdup(line);
        char *args[4];
        int n = copy ? fields(copy, args, 4) : 0;
        rc = cli_list_print(r->client, n > 1 ? args[1] : NULL, err);
        free(copy);
        return rc;
    } else if (starts(line, "/load") || starts(line, "/save")) {
        char *copy = ol_strdup(line);
        char *args[4];
        int n = copy ? fields(copy, args, 4) : 0;
        bool load = starts(line, "/load");
        if (n != 2)
            printf("Usage:\n  /%s <modelname>\n", load ? "load" : "save");
        else
            rc = load ? cmd_load(s, args[1], err) : cmd_save(s, args[1], err);
        free(copy);
        return rc;
    } else if (starts(line, "/clear")) {
        json_array_clear(r->messages);
        if (r->system && r->system[0])
            json_array_append_new(r->messages,
                                  json_pack("{s:s,s:s}", "role", "system", "content", r->system));
        printf("Cleared session context\n");
        return 0;
    } else if (starts(line, "/set")) {
        cmd_set(s, line, sb, multiline);
        return 0;
    } else if (starts(line, "/show")) {
        return cmd_show(s, line, err);
    } else if (starts(line, "/help") || starts(line, "/?")) {
        char *copy = ol_strdup(line);
        char *args[4];
        int n = copy ? fields(copy, args, 4) : 0;
        if (n > 1) {
            if (!strcmp(args[1], "set") || !strcmp(args[1], "/set"))
                usage_set();
            else if (!strcmp(args[1], "show") || !strcmp(args[1], "/show"))
                usage_show();
            else if (!strcmp(args[1], "shortcut") || !strcmp(args[1], "shortcuts"))
                usage_shortcuts();
        } else {
            usage(r);
        }
        free(copy);
        return 0;
    } else if (starts(line, "/exit") || starts(line, "/bye")) {
        return 1;
    } else if (line[0] == '/') {
        char *copy = ol_strdup(line);
        char *args[2];
        int n = copy ? fields(copy, args, 2) : 0;
        printf("Unknown command '%s'. Type /? for help\n", n ? args[0] : "/");
        free(copy);
        return 0;
    } else {
        ol_buf_puts(sb, line);
    }
    if (sb->len && !*multiline) {
        char *text = ol_strdup(sb->data);
        sb->len = 0;
        sb->data[0] = '\0';
        rc = text ? chat_turn(s, text, err) : ol_err_set(err, OL_ENOMEM, "out of memory");
        free(text);
    }
    return rc;
}

int cli_repl(struct cli_run *r, struct ol_err *err) {
    struct repl s = {.r = r, .history_on = true};
    const char *nh = getenv("OLLAMA_NOHISTORY");
    if (nh && nh[0] && strcmp(nh, "0") && strcasecmp(nh, "false") && strcmp(nh, "f") &&
        strcmp(nh, "F"))
        s.history_on = false;
    s.el = el_init("ollama", stdin, stdout, stderr);
    s.hist = history_init();
    if (!s.el || !s.hist) {
        if (s.el) el_end(s.el);
        if (s.hist) history_end(s.hist);
        return ol_err_set(err, OL_ENOMEM, "could not start line editor");
    }
    HistEvent ev;
    history(s.hist, &ev, H_SETSIZE, HISTORY_MAX);
    history(s.hist, &ev, H_SETUNIQUE, 0);
    history_load(&s);
    el_set(s.el, EL_EDITOR, "emacs");
    el_set(s.el, EL_PROMPT, prompt_fn);
    el_set(s.el, EL_HIST, history, s.hist);
    el_source(s.el, NULL);
    cli_sigint_catch();

    struct ol_buf sb = {0};
    int multiline = 0;
    int rc = 0;
    for (;;) {
        int count = 0;
        g_alt_prompt = s.alt_prompt;
        cli_interrupted = 0;
        const char *got = el_gets(s.el, &count);
        if (cli_interrupted) {
            el_reset(s.el);
            printf("\nUse Ctrl + d or /bye to exit.\n");
            s.alt_prompt = false;
            multiline = 0;
            sb.len = 0;
            if (sb.data) sb.data[0] = '\0';
            continue;
        }
        if (!got || count <= 0) {
            printf("\n");
            break;
        }
        char *line = ol_strdup(got);
        if (!line) {
            rc = ol_err_set(err, OL_ENOMEM, "out of memory");
            break;
        }
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
            line[--l] = '\0';
        if (l) {
            history(s.hist, &ev, H_ENTER, line);
            history_save(&s);
        }
        rc = handle_line(&s, line, &sb, &multiline, err);
        free(line);
        if (rc != 0) break;
    }
    ol_buf_free(&sb);
    el_end(s.el);
    history_end(s.hist);
    return rc < 0 ? rc : 0;
}
