/* ollama: entry point, command table, flag parsing and help text. Parsing follows the cobra /
 * pflag conventions Ollama's users see: interspersed flags, `--flag=value`, `-x value`, bare
 * `--think`, argument-count errors worded like cobra (spec: cli.md §2). */
#include "cli/cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cmd.h"

static const struct cli_flag_def create_flags[] = {
    {"draft-quantize", 0, 's', NULL, "Quantize draft model to this level"},
    {"experimental", 0, 'b', NULL, "Enable experimental safetensors model creation"},
    {"file", 'f', 's', NULL, "Name of the Modelfile (default \"Modelfile\")"},
    {"quantize", 'q', 's', NULL, "Quantize model to this level (e.g. q4_K_M)"},
};
static const struct cli_flag_def show_flags[] = {
    {"license", 0, 'b', NULL, "Show license of a model"},
    {"modelfile", 0, 'b', NULL, "Show Modelfile of a model"},
    {"parameters", 0, 'b', NULL, "Show parameters of a model"},
    {"system", 0, 'b', NULL, "Show system message of a model"},
    {"template", 0, 'b', NULL, "Show template of a model"},
    {"verbose", 'v', 'b', NULL, "Show detailed model information"},
};
static const struct cli_flag_def run_flags[] = {
    {"dimensions", 0, 'i', NULL,
     "Truncate output embeddings to specified dimension (embedding models only)"},
    {"format", 0, 's', NULL, "Response format (e.g. json)"},
    {"hidethinking", 0, 'b', NULL, "Hide thinking output (if provided)"},
    {"insecure", 0, 'b', NULL, "Use an insecure registry"},
    {"keepalive", 0, 's', NULL, "Duration to keep a model loaded (e.g. 5m)"},
    {"nowordwrap", 0, 'b', NULL, "Don't wrap words to the next line automatically"},
    {"think", 0, 's', "true",
     "Enable thinking mode: true/false or high/medium/low for supported models"},
    {"truncate", 0, 'b', NULL,
     "For embedding models: truncate inputs exceeding context length (default: true). Set "
     "--truncate=false to error instead"},
    {"verbose", 0, 'b', NULL, "Show timings for response"},
};
static const struct cli_flag_def insecure_flags[] = {
    {"insecure", 0, 'b', NULL, "Use an insecure registry"},
};

static int cmd_serve(struct cli_args *a, struct ol_err *err) {
    (void)err;
    char *argv[] = {"ollama", NULL};
    (void)a;
    return cli_serve(1, argv) == 0 ? 0 : OL_EIO;
}

static int cmd_unsupported(struct cli_args *a, struct ol_err *err) {
    return ol_err_set(err, OL_EUNSUPPORTED, "'%s' is not supported by this build", a->cmd->name);
}

#define FLAGS(x) x, (int)OL_ARRAY_LEN(x)
static const struct cli_cmd_def commands[] = {
    {"serve", "start", "serve", "Start Ollama", cmd_serve, NULL, 0, 'e', 0, 2, false},
    {"create", NULL, "create MODEL", "Create a model", cli_cmd_create, FLAGS(create_flags), 'e', 1,
     0, true},
    {"show", NULL, "show MODEL", "Show information for a model", cli_cmd_show, FLAGS(show_flags),
     'e', 1, 0, true},
    {"run", NULL, "run MODEL [PROMPT]", "Run a model", cli_cmd_run, FLAGS(run_flags), 'm', 1, 1,
     true},
    {"stop", NULL, "stop MODEL", "Stop a running model", cli_cmd_stop, NULL, 0, 'e', 1, 0, true},
    {"pull", NULL, "pull MODEL", "Pull a model from a registry", cli_cmd_pull,
     FLAGS(insecure_flags), 'e', 1, 0, true},
    {"push", NULL, "push MODEL", "Push a model to a registry", cli_cmd_push, FLAGS(insecure_flags),
     'e', 1, 0, true},
    {"signin", NULL, "signin", "Sign in to ollama.com", cmd_unsupported, NULL, 0, 'e', 0, -1, true},
    {"signout", NULL, "signout", "Sign out from ollama.com", cmd_unsupported, NULL, 0, 'e', 0, -1,
     true},
    {"list", "ls", "list", "List models", cli_cmd_list, NULL, 0, 'a', 0, 0, true},
    {"ps", NULL, "ps", "List running models", cli_cmd_ps, NULL, 0, 'a', 0, 0, true},
    {"cp", NULL, "cp SOURCE DESTINATION", "Copy a model", cli_cmd_cp, NULL, 0, 'e', 2, 0, true},
    {"rm", NULL, "rm MODEL [MODEL...]", "Remove a model", cli_cmd_rm, NULL, 0, 'm', 1, 0, true},
};

static const char *const env_host[][2] = {
    {"OLLAMA_HOST", "IP Address for the ollama server (default 127.0.0.1:11434)"}};
static const char *const env_run[][2] = {
    {"OLLAMA_EDITOR", "Path to editor for interactive prompt editing (Ctrl+G)"},
    {"OLLAMA_HOST", "IP Address for the ollama server (default 127.0.0.1:11434)"},
    {"OLLAMA_NOHISTORY", "Do not preserve readline history"}};
static const char *const env_serve[][2] = {
    {"OLLAMA_DEBUG", "Show additional debug information (e.g. OLLAMA_DEBUG=1)"},
    {"OLLAMA_HOST", "IP Address for the ollama server (default 127.0.0.1:11434)"},
    {"OLLAMA_CONTEXT_LENGTH",
     "Context length to use unless otherwise specified (default: 4k/32k/256k based on VRAM)"},
    {"OLLAMA_KEEP_ALIVE", "The duration that models stay loaded in memory (default \"5m\")"},
    {"OLLAMA_MAX_LOADED_MODELS", "Maximum number of loaded models per GPU"},
    {"OLLAMA_MAX_QUEUE", "Maximum number of queued requests"},
    {"OLLAMA_MODELS", "The path to the models directory"},
    {"OLLAMA_NUM_PARALLEL", "Maximum number of parallel requests"},
    {"OLLAMA_NOPRUNE", "Do not prune model blobs on startup"},
    {"OLLAMA_ORIGINS", "A comma separated list of allowed origins"},
    {"OLLAMA_SCHED_SPREAD", "Always schedule model across all GPUs"},
    {"OLLAMA_FLASH_ATTENTION", "Enabled flash attention"},
    {"OLLAMA_KV_CACHE_TYPE", "Quantization type for the K/V cache (default: f16)"},
    {"OLLAMA_LLM_LIBRARY", "Set LLM library to bypass autodetection"},
    {"OLLAMA_GPU_OVERHEAD", "Reserve a portion of VRAM per GPU (bytes)"},
    {"OLLAMA_LOAD_TIMEOUT",
     "How long to allow model loads to stall before giving up (default \"5m\")"}};

static int flag_index(const struct cli_cmd_def *c, const char *name) {
    for (int i = 0; i < c->n_flags; i++)
        if (strcmp(c->flags[i].name, name) == 0) return i;
    return -1;
}

bool cli_flag_changed(const struct cli_args *a, const char *name) {
    int i = flag_index(a->cmd, name);
    return i >= 0 && a->set[i];
}

const char *cli_flag_str(const struct cli_args *a, const char *name) {
    int i = flag_index(a->cmd, name);
    return i >= 0 && a->set[i] ? a->val[i] : NULL;
}

bool cli_flag_bool(const struct cli_args *a, const char *name) {
    const char *v = cli_flag_str(a, name);
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "t") == 0 ||
                 strcmp(v, "T") == 0 || strcmp(v, "TRUE") == 0 || strcmp(v, "True") == 0);
}

/* pflag's flag usage block; lines sorted by name (the tables above are sorted). */
static void print_flags(const struct cli_cmd_def *c, const char *help_for) {
    char lines[CLI_MAX_FLAGS + 2][128];
    const char *usage[CLI_MAX_FLAGS + 2];
    int n = 0;
    bool help_done = false;
    for (int i = 0; i <= c->n_flags; i++) {
        const struct cli_flag_def *f = i < c->n_flags ? &c->flags[i] : NULL;
        if (!help_done && (!f || strcmp(f->name, "help") > 0)) {
            snprintf(lines[n], sizeof(lines[n]), "  -h, --help");
            static char hu[64];
            snprintf(hu, sizeof(hu), "help for %s", help_for);
            usage[n++] = hu;
            help_done = true;
        }
        if (!f) break;
        char head[8] = "     ";
        if (f->shorthand) snprintf(head, sizeof(head), "  -%c,", f->shorthand);
        snprintf(lines[n], sizeof(lines[n]), "%s --%s%s%s%s%s", head, f->name,
                 f->type == 's'   ? " string"
                 : f->type == 'i' ? " int"
                                  : "",
                 f->noopt ? "[=\"" : "", f->noopt ? f->noopt : "", f->noopt ? "\"]" : "");
        usage[n++] = f->usage;
    }
    size_t max = 0;
    for (int i = 0; i < n; i++)
        max = OL_MAX(max, strlen(lines[i]));
    for (int i = 0; i < n; i++)
        printf("%s%*s%s\n", lines[i], (int)(max - strlen(lines[i]) + 3), "", usage[i]);
}

static void print_root_help(void) {
    printf("Large language model runner\n\nUsage:\n  ollama [flags]\n  ollama [command]\n\n"
           "Available Commands:\n");
    for (size_t i = 0; i < OL_ARRAY_LEN(commands); i++)
        printf("  %-11s %s\n", commands[i].name, commands[i].short_desc);
    printf("  %-11s %s\n", "help", "Help about any command");
    printf("\nFlags:\n  -h, --help      help for ollama\n"
           "  -v, --version   Show version information\n\n"
           "Use \"ollama [command] --help\" for more information about a command.\n");
}

static void print_cmd_help(const struct cli_cmd_def *c) {
    printf("%s\n\nUsage:\n  ollama %s [flags]\n", c->short_desc, c->use);
    if (c->alias) printf("\nAliases:\n  %s, %s\n", c->name, c->alias);
    printf("\nFlags:\n");
    print_flags(c, c->name);
    if (c->env_kind < 0) return;
    const char *const(*env)[2] = env_host;
    size_t n = OL_ARRAY_LEN(env_host);
    if (c->env_kind == 1) env = env_run, n = OL_ARRAY_LEN(env_run);
    if (c->env_kind == 2) env = env_serve, n = OL_ARRAY_LEN(env_serve);
    printf("\nEnvironment Variables:\n");
    for (size_t i = 0; i < n; i++)
        printf("      %-27s   %s\n", env[i][0], env[i][1]);
}

static int version(void) {
    struct cli_client *c = cli_client_new();
    char *resp = NULL;
    struct ol_err err = {0};
    const char *v = NULL;
    json_t *j = NULL;
    if (c && cli_client_do(c, "GET", "/api/version", NULL, &resp, &err) == 0) {
        j = json_loads(resp, 0, NULL);
        v = json_string_value(json_object_get(j, "version"));
    }
    if (v) {
        printf("ollama version is %s\n", v);
        if (strcmp(v, CLI_VERSION) != 0)
            fprintf(stderr, "Warning: client version is %s\n", CLI_VERSION);
    } else {
        printf("Warning: could not connect to a running Ollama instance\n");
        printf("Warning: client version is %s\n", CLI_VERSION);
    }
    json_decref(j);
    free(resp);
    cli_client_free(c);
    return 0;
}

/* Parses argv[0..argc) for command c; returns -1 for --help, 1 on error (printed), 0 ok. */
static int parse_args(const struct cli_cmd_def *c, int argc, char **argv, struct cli_args *a) {
    bool only_pos = false;
    for (int i = 0; i < argc; i++) {
        char *s = argv[i];
        if (only_pos || s[0] != '-' || s[1] == '\0') {
            a->pos[a->n_pos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            only_pos = true;
            continue;
        }
        int fi = -1;
        const char *val = NULL;
        char name[64];
        if (s[1] == '-') {
            const char *eq = strchr(s + 2, '=');
            size_t l = eq ? (size_t)(eq - s - 2) : strlen(s + 2);
            snprintf(name, sizeof(name), "%.*s", (int)l, s + 2);
            if (eq) val = eq + 1;
            if (strcmp(name, "help") == 0) return -1;
            fi = flag_index(c, name);
            if (fi < 0) {
                fprintf(stderr, "Error: unknown flag: --%s\n", name);
                return 1;
            }
        } else {
            if (s[1] == 'h' && s[2] == '\0') return -1;
            for (int k = 0; k < c->n_flags; k++)
                if (c->flags[k].shorthand == s[1]) fi = k;
            if (fi < 0) {
                fprintf(stderr, "Error: unknown shorthand flag: '%c' in %s\n", s[1], s);
                return 1;
            }
            if (s[2]) val = s[2] == '=' ? s + 3 : s + 2;
        }
        const struct cli_flag_def *f = &c->flags[fi];
        if (!val) {
            if (f->type == 'b')
                val = "true";
            else if (f->noopt)
                val = f->noopt;
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                if (s[1] == '-')
                    fprintf(stderr, "Error: flag needs an argument: --%s\n", f->name);
                else
                    fprintf(stderr, "Error: flag needs an argument: '%c' in -%c\n", s[1], s[1]);
                return 1;
            }
        }
        a->set[fi] = true;
        a->val[fi] = val;
    }
    return 0;
}

static void sigint_handler(int sig) {
    (void)sig;
    cli_interrupted = 1;
}

void cli_sigint_catch(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sigint_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    cli_interrupted = 0;
}

void cli_sigint_default(void) {
    signal(SIGINT, SIG_DFL);
    cli_interrupted = 0;
}

int cli_main(int argc, char **argv) {
    if (argc < 2) {
        print_root_help();
        return 0;
    }
    const char *name = argv[1];
    if (strcmp(name, "-v") == 0 || strcmp(name, "--version") == 0) return version();
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
        print_root_help();
        return 0;
    }
    if (strcmp(name, "help") == 0) {
        for (size_t i = 0; argc > 2 && i < OL_ARRAY_LEN(commands); i++)
            if (strcmp(argv[2], commands[i].name) == 0 ||
                (commands[i].alias && strcmp(argv[2], commands[i].alias) == 0)) {
                print_cmd_help(&commands[i]);
                return 0;
            }
        print_root_help();
        return 0;
    }
    const struct cli_cmd_def *c = NULL;
    for (size_t i = 0; i < OL_ARRAY_LEN(commands); i++)
        if (strcmp(name, commands[i].name) == 0 ||
            (commands[i].alias && strcmp(name, commands[i].alias) == 0))
            c = &commands[i];
    if (!c) {
        if (name[0] == '-') {
            fprintf(stderr, "Error: unknown %s: %s\n", name[1] == '-' ? "flag" : "shorthand flag",
                    name);
            return 1;
        }
        fprintf(stderr, "Error: unknown command \"%s\" for \"ollama\"\n", name);
        fprintf(stderr, "Run 'ollama --help' for usage.\n");
        return 1;
    }
    struct cli_args a = {.cmd = c};
    a.pos = calloc((size_t)argc, sizeof(*a.pos));
    if (!a.pos) return 1;
    int rc = parse_args(c, argc - 2, argv + 2, &a);
    if (rc) {
        free(a.pos);
        if (rc < 0) {
            print_cmd_help(c);
            return 0;
        }
        return 1;
    }
    if (c->nargs_kind == 'e' && a.n_pos != c->nargs) {
        free(a.pos);
        fprintf(stderr, "Error: accepts %d arg(s), received %d\n", c->nargs, a.n_pos);
        return 1;
    }
    if (c->nargs_kind == 'm' && a.n_pos < c->nargs) {
        free(a.pos);
        fprintf(stderr, "Error: requires at least %d arg(s), only received %d\n", c->nargs,
                a.n_pos);
        return 1;
    }
    struct ol_err err = {0};
    if (c->heartbeat) {
        struct cli_client *cl = cli_client_new();
        rc = cl ? cli_client_heartbeat(cl, &err) : ol_err_set(&err, OL_ENOMEM, "out of memory");
        cli_client_free(cl);
        if (rc < 0) {
            fprintf(stderr, "Error: %s\n", err.msg);
            free(a.pos);
            return 1;
        }
    }
    rc = c->run(&a, &err);
    free(a.pos);
    if (rc < 0) {
        fprintf(stderr, "Error: %s\n", err.msg[0] ? err.msg : ol_code_str(rc));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) { return cli_main(argc, argv); }
