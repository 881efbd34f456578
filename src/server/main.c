/* `ollama serve`: configuration from the environment (env.md), store open and prune, the
 * scheduler and the HTTP listener, then wait for SIGINT/SIGTERM and shut down cleanly. */
#include "server/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "server/http.h"
#include "server/srv.h"

/* Value of an environment variable with surrounding spaces and quotes removed (env.md);
 * "" when unset. */
static const char *env_clean(const char *name, char *buf, size_t cap) {
    const char *v = getenv(name);
    if (!v) v = "";
    while (*v == ' ' || *v == '\t')
        v++;
    snprintf(buf, cap, "%s", v);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = 0;
    if (n >= 2 && (buf[0] == '"' || buf[0] == '\'') && buf[n - 1] == buf[0]) {
        memmove(buf, buf + 1, n - 2);
        buf[n - 2] = 0;
    }
    return buf;
}

static bool env_bool(const char *name) {
    char b[64];
    const char *v = env_clean(name, b, sizeof(b));
    if (!*v) return false;
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < OL_ARRAY_LEN(f); i++)
        if (strcmp(v, f[i]) == 0) return false;
    return true;
}

static int env_uint(const char *name, int def) {
    char b[64];
    const char *v = env_clean(name, b, sizeof(b));
    if (!*v) return def;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < 0 || x > 1 << 30) {
        ol_log(OL_LOG_WARN, "invalid %s=%s, using %d", name, v, def);
        return def;
    }
    return (int)x;
}

/* OLLAMA_HOST -> bind host and port (cli.md §1; scheme and path ignored by the server). */
void srv_parse_host(const char *value, char *host, size_t cap, int *port) {
    char v[512];
    snprintf(v, sizeof(v), "%s", value ? value : "");
    int def_port = 11434;
    char *p = v;
    char *scheme = strstr(p, "://");
    if (scheme) {
        def_port = strncasecmp(p, "https", 5) == 0 ? 443 : 80;
        p = scheme + 3;
    }
    char *slash = strchr(p, '/');
    if (slash) *slash = 0;
    *port = def_port;
    char *colon = NULL;
    if (*p == '[') { /* [v6]:port */
        char *e = strchr(p, ']');
        if (e) {
            *e = 0;
            colon = e[1] == ':' ? e + 1 : NULL;
            p++;
        }
    } else if (strchr(p, ':') == strrchr(p, ':')) {
        colon = strchr(p, ':');
        if (colon) *colon = 0;
    }
    if (colon) {
        char *end;
        long x = strtol(colon + 1, &end, 10);
        if (*end == 0 && x >= 0 && x <= 65535 && end != colon + 1) *port = (int)x;
    }
    snprintf(host, cap, "%s", *p ? p : (value && *value ? "0.0.0.0" : "127.0.0.1"));
}

static const char *const builtin_origins[] = {
    "http://localhost", "https://localhost", "http://localhost:*", "https://localhost:*",
    "http://127.0.0.1", "https://127.0.0.1", "http://127.0.0.1:*", "https://127.0.0.1:*",
    "http://0.0.0.0",   "https://0.0.0.0",   "http://0.0.0.0:*",   "https://0.0.0.0:*",
    "app://*",          "file://*",          "tauri://*",          "vscode-webview://*",
    "vscode-file://*"};

static int load_config(struct srv_config *c, struct ol_err *err) {
    char b[1024];
    memset(c, 0, sizeof(*c));
    srv_parse_host(env_clean("OLLAMA_HOST", b, sizeof(b)), c->host, sizeof(c->host), &c->port);
    c->loopback = strncmp(c->host, "127.", 4) == 0 || strcmp(c->host, "::1") == 0 ||
                  strcmp(c->host, "localhost") == 0;
    c->keep_alive_ns = 5LL * 60 * 1000000000LL;
    const char *ka = env_clean("OLLAMA_KEEP_ALIVE", b, sizeof(b));
    if (*ka) {
        int64_t ns;
        if (srv_duration_parse(ka, true, &ns) == 0)
            c->keep_alive_ns = ns < 0 ? -1 : ns;
        else
            ol_log(OL_LOG_WARN, "invalid OLLAMA_KEEP_ALIVE=%s, using 5m", ka);
    }
    c->max_loaded = env_uint("OLLAMA_MAX_LOADED_MODELS", 0);
    c->max_queue = env_uint("OLLAMA_MAX_QUEUE", 512);
    c->num_parallel = env_uint("OLLAMA_NUM_PARALLEL", 1);
    c->context_length = env_uint("OLLAMA_CONTEXT_LENGTH", 0);
    c->num_thread = env_uint("OLLAMA_NUM_THREAD", 0);
    c->noprune = env_bool("OLLAMA_NOPRUNE");
    const char *orig = env_clean("OLLAMA_ORIGINS", b, sizeof(b));
    int n_extra = 0;
    for (const char *q = orig; *q; q++)
        n_extra += *q == ',';
    c->origins =
        ol_calloc_array(OL_ARRAY_LEN(builtin_origins) + (size_t)n_extra + 2, sizeof(char *));
    if (!c->origins) return ol_err_set(err, OL_ENOMEM, "out of memory");
    char *dup = ol_strdup(orig), *save = NULL;
    for (char *t = dup ? strtok_r(dup, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (*t) c->origins[c->n_origins++] = ol_strdup(t);
    }
    free(dup);
    for (size_t i = 0; i < OL_ARRAY_LEN(builtin_origins); i++)
        c->origins[c->n_origins++] = ol_strdup(builtin_origins[i]);
    return 0;
}

static void free_config(struct srv_config *c) {
    for (int i = 0; i < c->n_origins; i++)
        free(c->origins[i]);
    free(c->origins);
}

int srv_main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    struct srv s;
    memset(&s, 0, sizeof(s));
    struct ol_err err = {0};
    if (load_config(&s.cfg, &err) < 0) {
        fprintf(stderr, "Error: %s\n", err.msg);
        return 1;
    }
    gethostname(s.hostname, sizeof(s.hostname) - 1);
    s.store = store_open(NULL, &err);
    if (!s.store) {
        fprintf(stderr, "Error: %s\n", err.msg);
        free_config(&s.cfg);
        return 1;
    }
    if (!s.cfg.noprune && store_prune(s.store, &err) < 0) ol_log(OL_LOG_WARN, "prune: %s", err.msg);
    s.sched = sched_new(&s.cfg);
    /* Block the shutdown signals in every thread; this one waits for them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct http_server *hs = s.sched ? http_start(&s, &err) : NULL;
    if (!hs) {
        fprintf(stderr, "Error: %s\n", s.sched ? err.msg : "cannot start the scheduler");
        sched_free(s.sched);
        store_close(s.store);
        free_config(&s.cfg);
        return 1;
    }
    ol_log(OL_LOG_INFO, "Listening on %s:%d (version %s)", s.cfg.host, s.cfg.port, SRV_VERSION);
    int sig = 0;
    sigwait(&set, &sig);
    ol_log(OL_LOG_INFO, "shutting down (signal %d)", sig);
    http_stop(hs);
    sched_free(s.sched);
    store_close(s.store);
    free_config(&s.cfg);
    return 0;
}
