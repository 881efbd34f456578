/* Internal to src/cli: the parsed command line and the command handlers shared between files.
 * JSON values cross files as jansson's `struct json_t` (declared, never included here). */
#ifndef OL_CLI_CMD_H
#define OL_CLI_CMD_H

#include "cli/cli.h"

struct json_t;

#define CLI_MAX_FLAGS 16

struct cli_flag_def {
    const char *name;  /* long name */
    char shorthand;    /* 0 when none */
    char type;         /* 'b' bool, 's' string, 'i' int */
    const char *noopt; /* value when given without one (string flags), or NULL */
    const char *usage;
};

struct cli_args {
    const struct cli_cmd_def *cmd;
    int n_pos;
    char **pos; /* positional arguments (borrowed from argv) */
    bool set[CLI_MAX_FLAGS];
    const char *val[CLI_MAX_FLAGS];
};

struct cli_cmd_def {
    const char *name;
    const char *alias;
    const char *use;
    const char *short_desc;
    int (*run)(struct cli_args *a, struct ol_err *err);
    const struct cli_flag_def *flags;
    int n_flags;
    char nargs_kind; /* 'e' exactly, 'm' minimum, 'a' any */
    int nargs;
    int env_kind; /* 0 host only, 1 run, 2 serve, -1 none */
    bool heartbeat;
};

/* Flag accessors by long name; a flag that is not set reads as false / NULL / 0. */
bool cli_flag_bool(const struct cli_args *a, const char *name);
const char *cli_flag_str(const struct cli_args *a, const char *name);
bool cli_flag_changed(const struct cli_args *a, const char *name);

/* Command handlers (cmd_models.c, cmd_run.c). Each returns 0 or fills err. */
int cli_cmd_create(struct cli_args *a, struct ol_err *err);
int cli_cmd_show(struct cli_args *a, struct ol_err *err);
int cli_cmd_stop(struct cli_args *a, struct ol_err *err);
int cli_cmd_pull(struct cli_args *a, struct ol_err *err);
int cli_cmd_push(struct cli_args *a, struct ol_err *err);
int cli_cmd_list(struct cli_args *a, struct ol_err *err);
int cli_cmd_ps(struct cli_args *a, struct ol_err *err);
int cli_cmd_cp(struct cli_args *a, struct ol_err *err);
int cli_cmd_rm(struct cli_args *a, struct ol_err *err);
int cli_cmd_run(struct cli_args *a, struct ol_err *err);

/* Prints the `ollama list` table for models whose name starts with prefix (may be NULL). */
int cli_list_print(struct cli_client *c, const char *prefix, struct ol_err *err);
/* POST /api/show; *resp returns owned (json_decref). system/options may be NULL. */
int cli_show_fetch(struct cli_client *c, const char *model, bool verbose, const char *system,
                   struct json_t *options, struct json_t **resp, struct ol_err *err);
/* The `ollama show` layout of a /api/show response, written to f. */
int cli_show_info(struct json_t *resp, bool verbose, FILE *f);
/* Pulls `model` with progress on stderr (as `ollama pull`). */
int cli_pull(struct cli_client *c, const char *model, bool insecure, struct ol_err *err);

/* State of an `ollama run` session, shared by one-shot generation and the REPL. */
struct cli_run {
    struct cli_client *client;
    char *model;
    char *parent_model;
    struct json_t *loaded_messages; /* array: the model's MESSAGE history */
    struct json_t *messages;        /* array: this session */
    struct json_t *options;         /* object: /set parameter values */
    char *system;
    char *format;         /* "" = none */
    char *keep_alive;     /* Go duration string for the request, or NULL */
    struct json_t *think; /* true/false/"high"..., or NULL when unset */
    bool think_explicit;
    bool hide_thinking;
    bool wordwrap;
    bool verbose;
    bool multimodal;
    bool history;
};

/* /api/generate with no prompt: loads (or with keep_alive 0 unloads) the model behind a
 * spinner. */
int cli_run_load(struct cli_run *r, struct ol_err *err);
/* One /api/chat turn with r->messages; on success *reply (owned, may be NULL when the user
 * cancelled with Ctrl+C) holds the assistant text. */
int cli_run_chat(struct cli_run *r, char **reply, struct ol_err *err);
/* Applies a /api/show response: parent model, MESSAGE history, thinking default. */
void cli_run_apply_show(struct cli_run *r, struct json_t *info);
/* The interactive loop (repl.c). */
int cli_repl(struct cli_run *r, struct ol_err *err);

/* Installs / removes the SIGINT handler that raises cli_interrupted. */
void cli_sigint_catch(void);
void cli_sigint_default(void);

#endif
