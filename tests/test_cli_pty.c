/* End-to-end test of the `ollama` command line against the real server: starts
 * `build/<mode>/ollama serve` on a free port with a temporary OLLAMA_MODELS and HOME, creates a
 * model from stories260K.gguf, checks the output of list, show (each flag), ps, cp, rm, stop
 * and one-shot / piped `run`, then drives the interactive REPL in a pseudo-terminal. Every step
 * prints its name; a failure names the step and shows what the command printed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static char g_bin[PATH_MAX];
static char g_tmp[PATH_MAX];
static char g_host[64];
static pid_t g_server = -1;
static const char *g_step = "";

#define STEP(name) (g_step = (name), fprintf(stderr, "step: %s\n", g_step))
#define EXPECT(cond, out)                                                                          \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(cond)) {                                                                             \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: step '%s': CHECK(%s) failed; output was:\n---\n%s\n---\n",     \
                    __FILE__, __LINE__, g_step, #cond, (out) ? (out) : "(none)");                  \
        }                                                                                          \
    } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) < 0)
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

static void set_env(void) {
    char p[PATH_MAX + 32];
    setenv("OLLAMA_HOST", g_host, 1);
    snprintf(p, sizeof(p), "%s/models", g_tmp);
    setenv("OLLAMA_MODELS", p, 1);
    snprintf(p, sizeof(p), "%s/home", g_tmp);
    setenv("HOME", p, 1);
    setenv("TERM", "xterm-256color", 1);
    unsetenv("OLLAMA_NOHISTORY");
}

struct result {
    int status; /* exit status, or -1 when killed / timed out */
    char *out;
    char *err;
};

static void result_free(struct result *r) {
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

static char *slurp_fd(int fd) {
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    ssize_t n;
    while (b && (n = read(fd, b + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len < 1024) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) break;
            b = nb;
        }
    }
    if (b) b[len] = '\0';
    return b;
}

/* Runs the binary with args (NULL-terminated); stdin gets `in` (NULL = /dev/null). Outputs
 * are read from temp files so neither pipe can block. */
static struct result run(const char *in, const char *const *args) {
    struct result r = {.status = -1};
    char fo[PATH_MAX + 16], fe[PATH_MAX + 16], fi[PATH_MAX + 16];
    snprintf(fo, sizeof(fo), "%s/out", g_tmp);
    snprintf(fe, sizeof(fe), "%s/err", g_tmp);
    snprintf(fi, sizeof(fi), "%s/in", g_tmp);
    FILE *f = fopen(fi, "w");
    if (f) {
        if (in) fputs(in, f);
        fclose(f);
    }
    pid_t pid = fork();
    if (pid == 0) {
        int i = open(in ? fi : "/dev/null", O_RDONLY);
        int o = open(fo, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(fe, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(i, 0);
        dup2(o, 1);
        dup2(e, 2);
        const char *argv[32] = {g_bin};
        for (int k = 0; args[k] && k < 30; k++)
            argv[k + 1] = args[k];
        execv(g_bin, (char **)argv);
        _exit(127);
    }
    double deadline = now_s() + 120;
    int st;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (now_s() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fprintf(stderr, "step '%s': command timed out\n", g_step);
            st = -1;
            break;
        }
        usleep(10000);
    }
    if (st != -1 && WIFEXITED(st)) r.status = WEXITSTATUS(st);
    int fd = open(fo, O_RDONLY);
    r.out = slurp_fd(fd);
    close(fd);
    fd = open(fe, O_RDONLY);
    r.err = slurp_fd(fd);
    close(fd);
    return r;
}

#define RUN(in, ...) run(in, (const char *const[]){__VA_ARGS__, NULL})

static bool has_ansi(const char *s) { return s && strchr(s, '\x1b') != NULL; }

static bool start_server(void) {
    char log[PATH_MAX + 16];
    snprintf(log, sizeof(log), "%s/server.log", g_tmp);
    g_server = fork();
    if (g_server == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(g_bin, g_bin, "serve", (char *)NULL);
        _exit(127);
    }
    double deadline = now_s() + 30;
    while (now_s() < deadline) {
        int st;
        if (waitpid(g_server, &st, WNOHANG) == g_server) {
            g_server = -1;
            break;
        }
        struct result r = RUN(NULL, "list");
        int ok = r.status == 0;
        result_free(&r);
        if (ok) return true;
        usleep(100000);
    }
    int fd = open(log, O_RDONLY);
    char *s = fd >= 0 ? slurp_fd(fd) : NULL;
    fprintf(stderr, "server did not start; its log:\n%s\n", s ? s : "(none)");
    free(s);
    if (fd >= 0) close(fd);
    return false;
}

static void stop_server(void) {
    if (g_server <= 0) return;
    kill(g_server, SIGTERM);
    double deadline = now_s() + 10;
    int st;
    while (waitpid(g_server, &st, WNOHANG) == 0) {
        if (now_s() > deadline) {
            kill(g_server, SIGKILL);
            waitpid(g_server, &st, 0);
            break;
        }
        usleep(20000);
    }
    g_server = -1;
}

/* ---- pty session ---- */

struct pty {
    int fd;
    pid_t pid;
    char buf[1 << 16];
    size_t len;
};

static bool pty_spawn(struct pty *p, const char *const *args) {
    memset(p, 0, sizeof(*p));
    struct winsize ws = {.ws_row = 40, .ws_col = 100};
    p->pid = forkpty(&p->fd, NULL, NULL, &ws);
    if (p->pid < 0) return false;
    if (p->pid == 0) {
        const char *argv[16] = {g_bin};
        for (int k = 0; args[k] && k < 14; k++)
            argv[k + 1] = args[k];
        execv(g_bin, (char **)argv);
        _exit(127);
    }
    return true;
}

/* Reads until `pat` appears after position *from (then *from moves past it) or timeout. */
static bool pty_expect(struct pty *p, size_t *from, const char *pat, double timeout) {
    double deadline = now_s() + timeout;
    for (;;) {
        p->buf[p->len] = '\0';
        char *hit = strstr(p->buf + *from, pat);
        if (hit) {
            *from = (size_t)(hit - p->buf) + strlen(pat);
            return true;
        }
        double left = deadline - now_s();
        if (left <= 0) return false;
        struct pollfd pf = {.fd = p->fd, .events = POLLIN};
        if (poll(&pf, 1, (int)(left * 1000) + 1) <= 0) continue;
        if (p->len + 1 >= sizeof(p->buf)) {
            /* keep the tail */
            size_t keep = sizeof(p->buf) / 2;
            memmove(p->buf, p->buf + p->len - keep, keep);
            *from = *from > p->len - keep ? *from - (p->len - keep) : 0;
            p->len = keep;
        }
        ssize_t n = read(p->fd, p->buf + p->len, sizeof(p->buf) - p->len - 1);
        if (n <= 0) return false;
        p->len += (size_t)n;
    }
}

static void pty_send(struct pty *p, const char *s) {
    size_t l = strlen(s);
    while (l) {
        ssize_t n = write(p->fd, s, l);
        if (n <= 0) return;
        s += n;
        l -= (size_t)n;
    }
    usleep(50000);
}

static int pty_wait(struct pty *p, double timeout) {
    double deadline = now_s() + timeout;
    int st;
    for (;;) {
        char tmp[4096];
        struct pollfd pf = {.fd = p->fd, .events = POLLIN};
        if (poll(&pf, 1, 20) > 0 && read(p->fd, tmp, sizeof(tmp)) <= 0) { /* drained */
        }
        pid_t w = waitpid(p->pid, &st, WNOHANG);
        if (w == p->pid) break;
        if (now_s() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            close(p->fd);
            return -1;
        }
    }
    close(p->fd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define PTY_EXPECT(p, from, pat, t) EXPECT(pty_expect(p, from, pat, t), (p)->buf + *(from))

/* ---- the steps ---- */

static void test_commands(const char *model_path) {
    struct result r;
    char mf[PATH_MAX + 32];

    STEP("create from a Modelfile");
    snprintf(mf, sizeof(mf), "%s/Modelfile", g_tmp);
    FILE *f = fopen(mf, "w");
    fprintf(f, "FROM %s\nPARAMETER num_predict 24\nPARAMETER seed 42\nSYSTEM Tell stories.\n",
            model_path);
    fclose(f);
    r = RUN(NULL, "create", "stories", "-f", mf);
    EXPECT(r.status == 0, r.err);
    EXPECT(strstr(r.err, "gathering model components \n"), r.err);
    EXPECT(strstr(r.err, "copying file sha256:") && strstr(r.err, " 100% \n"), r.err);
    EXPECT(strstr(r.err, "success \n"), r.err);
    result_free(&r);

    STEP("create errors");
    r = RUN(NULL, "create", "stories", "-f", "/nonexistent/Modelfile");
    EXPECT(r.status == 1 && strcmp(r.err, "Error: specified Modelfile wasn't found\n") == 0, r.err);
    result_free(&r);
    f = fopen(mf, "w");
    fprintf(f, "FROM %s\nBOGUS x\n", model_path);
    fclose(f);
    r = RUN(NULL, "create", "bad", "-f", mf);
    EXPECT(r.status == 1 && strstr(r.err, "Error: (line 2): command must be one of"), r.err);
    result_free(&r);

    STEP("list");
    r = RUN(NULL, "list");
    EXPECT(r.status == 0, r.err);
    EXPECT(strncmp(r.out, "NAME              ID              SIZE      MODIFIED", 52) == 0, r.out);
    EXPECT(strstr(r.out, "\nstories:latest    ") && strstr(r.out, "1.2 MB    ") &&
               strstr(r.out, " ago    \n"),
           r.out);
    result_free(&r);
    r = RUN(NULL, "ls", "STO");
    EXPECT(r.status == 0 && strstr(r.out, "stories:latest"), r.out);
    result_free(&r);
    r = RUN(NULL, "ls", "zzz");
    EXPECT(r.status == 0 && strchr(r.out, '\n') == r.out + strlen(r.out) - 1, r.out);
    result_free(&r);

    STEP("show");
    r = RUN(NULL, "show", "stories");
    EXPECT(r.status == 0, r.err);
    EXPECT(strncmp(r.out, "  Model\n    architecture    ", 28) == 0, r.out);
    EXPECT(strstr(r.out, "    quantization    ") && strstr(r.out, "\n  Parameters\n") &&
               strstr(r.out, "    num_predict    24") &&
               strstr(r.out, "\n  System\n    Tell stories."),
           r.out);
    result_free(&r);
    r = RUN(NULL, "show", "stories", "--modelfile");
    EXPECT(r.status == 0 && strncmp(r.out, "# Modelfile generated by \"ollama show\"", 38) == 0 &&
               strstr(r.out, "\nFROM ") && strstr(r.out, "PARAMETER num_predict 24"),
           r.out);
    result_free(&r);
    r = RUN(NULL, "show", "stories", "--parameters");
    EXPECT(r.status == 0 && strstr(r.out, "num_predict") && strstr(r.out, "seed"), r.out);
    result_free(&r);
    r = RUN(NULL, "show", "stories", "--system");
    EXPECT(r.status == 0 && strcmp(r.out, "Tell stories.") == 0, r.out);
    result_free(&r);
    r = RUN(NULL, "show", "stories", "--template");
    EXPECT(r.status == 0 && strstr(r.out, "{{"), r.out);
    result_free(&r);
    r = RUN(NULL, "show", "stories", "--license");
    EXPECT(r.status == 0 && strcmp(r.out, "\n") == 0, r.out);
    result_free(&r);
    r = RUN(NULL, "show", "stories", "-v");
    EXPECT(r.status == 0 && strstr(r.out, "\n  Metadata\n") && strstr(r.out, "\n  Tensors\n") &&
               strstr(r.out, "general.architecture"),
           r.out);
    result_free(&r);
    r = RUN(NULL, "show", "stories", "--system", "--template");
    EXPECT(r.status == 1 && strcmp(r.err, "Error: only one of '--license', '--modelfile', "
                                          "'--parameters', '--system', or '--template' can be "
                                          "specified\n") == 0,
           r.err);
    result_free(&r);
    r = RUN(NULL, "show", "nonexistent");
    EXPECT(r.status == 1 && strcmp(r.err, "Error: model 'nonexistent' not found\n") == 0, r.err);
    result_free(&r);

    STEP("run one-shot");
    r = RUN(NULL, "run", "stories", "Once upon a time");
    EXPECT(r.status == 0, r.err);
    EXPECT(strlen(r.out) > 4 && strcmp(r.out + strlen(r.out) - 2, "\n\n") == 0, r.out);
    EXPECT(!has_ansi(r.out), r.out);
    result_free(&r);

    STEP("run with piped stdin and --verbose");
    r = RUN("Once upon", "run", "stories", "--verbose", "a time");
    EXPECT(r.status == 0 && strlen(r.out) > 4, r.err);
    EXPECT(strstr(r.err, "total duration:       ") && strstr(r.err, "eval count:           ") &&
               strstr(r.err, " token(s)\n") && strstr(r.err, "eval rate:            "),
           r.err);
    result_free(&r);

    STEP("run --keepalive and --think errors");
    r = RUN(NULL, "run", "stories", "--keepalive", "10m", "--nowordwrap", "hi");
    EXPECT(r.status == 0, r.err);
    result_free(&r);
    r = RUN(NULL, "run", "stories", "--think=maybe", "hi");
    EXPECT(r.status == 1 && strcmp(r.err, "Error: invalid value for --think: \"maybe\" (must be "
                                          "true, false, high, medium, low, or max)\n") == 0,
           r.err);
    result_free(&r);

    STEP("ps");
    r = RUN(NULL, "ps");
    EXPECT(r.status == 0 &&
               strncmp(r.out,
                       "NAME              ID              SIZE      PROCESSOR    CONTEXT    "
                       "UNTIL",
                       71) == 0 &&
               strstr(r.out, "stories:latest    ") && strstr(r.out, "100% CPU    ") &&
               strstr(r.out, " from now    \n"),
           r.out);
    result_free(&r);

    STEP("stop");
    r = RUN(NULL, "stop", "stories");
    EXPECT(r.status == 0 && r.out[0] == '\0', r.err);
    result_free(&r);
    r = RUN(NULL, "ps");
    EXPECT(r.status == 0 && !strstr(r.out, "stories"), r.out);
    result_free(&r);
    r = RUN(NULL, "stop", "nonexistent");
    EXPECT(r.status == 1 &&
               strcmp(r.err, "Error: couldn't find model \"nonexistent\" to stop\n") == 0,
           r.err);
    result_free(&r);

    STEP("cp and rm");
    r = RUN(NULL, "cp", "stories", "stories2");
    EXPECT(r.status == 0 && strcmp(r.out, "copied 'stories' to 'stories2'\n") == 0, r.err);
    result_free(&r);
    r = RUN(NULL, "list");
    EXPECT(strstr(r.out, "stories2:latest") && strstr(r.out, "stories:latest"), r.out);
    result_free(&r);
    r = RUN(NULL, "rm", "stories2");
    EXPECT(r.status == 0 && strcmp(r.out, "deleted 'stories2'\n") == 0, r.err);
    result_free(&r);
    r = RUN(NULL, "rm", "stories2");
    EXPECT(r.status == 1 && strstr(r.err, "Error: ") && strstr(r.err, "not found"), r.err);
    result_free(&r);

    STEP("argument errors");
    r = RUN(NULL, "cp", "stories");
    EXPECT(r.status == 1 && strcmp(r.err, "Error: accepts 2 arg(s), received 1\n") == 0, r.err);
    result_free(&r);
    r = RUN(NULL, "run");
    EXPECT(r.status == 1 &&
               strcmp(r.err, "Error: requires at least 1 arg(s), only received 0\n") == 0,
           r.err);
    result_free(&r);
    r = RUN(NULL, "frobnicate");
    EXPECT(r.status == 1 && strstr(r.err, "Error: unknown command \"frobnicate\" for \"ollama\""),
           r.err);
    result_free(&r);

    STEP("run of a model that is not local tries to pull");
    r = RUN(NULL, "run", "nonexistent-model-xyz", "hi");
    EXPECT(r.status == 1 && strstr(r.err, "Error: "), r.err);
    result_free(&r);
}

static void test_repl(void) {
    struct pty p;
    size_t at = 0;
    STEP("repl: start");
    if (!pty_spawn(&p, (const char *const[]){"run", "stories", NULL})) {
        EXPECT(false, "forkpty failed");
        return;
    }
    PTY_EXPECT(&p, &at, ">>> ", 60);

    STEP("repl: /show info");
    pty_send(&p, "/show info\r");
    PTY_EXPECT(&p, &at, "architecture", 10);
    PTY_EXPECT(&p, &at, ">>> ", 10);

    STEP("repl: /set parameter");
    pty_send(&p, "/set parameter temperature 0\r");
    PTY_EXPECT(&p, &at, "Set parameter 'temperature' to '0'", 10);
    PTY_EXPECT(&p, &at, ">>> ", 10);
    pty_send(&p, "/set parameter num_ctx abc\r");
    PTY_EXPECT(&p, &at, "Couldn't set parameter: \"invalid int value [abc]\"", 10);
    PTY_EXPECT(&p, &at, ">>> ", 10);

    STEP("repl: /set system and /show system");
    pty_send(&p, "/set system You are a storyteller.\r");
    PTY_EXPECT(&p, &at, "Set system message.", 10);
    pty_send(&p, "/show system\r");
    PTY_EXPECT(&p, &at, "You are a storyteller.", 10);
    PTY_EXPECT(&p, &at, ">>> ", 10);

    STEP("repl: unknown command and help");
    pty_send(&p, "/bogus\r");
    PTY_EXPECT(&p, &at, "Unknown command '/bogus'. Type /? for help", 10);
    pty_send(&p, "/?\r");
    PTY_EXPECT(&p, &at, "Use \"\"\" to begin a multi-line message.", 10);
    PTY_EXPECT(&p, &at, ">>> ", 10);

    STEP("repl: multi-line message");
    pty_send(&p, "\"\"\"Once upon\r");
    PTY_EXPECT(&p, &at, "... ", 10);
    pty_send(&p, "a time\"\"\"\r");
    PTY_EXPECT(&p, &at, ">>> ", 60);

    STEP("repl: Ctrl+C during a reply");
    pty_send(&p, "/set parameter num_predict 4000\r");
    PTY_EXPECT(&p, &at, ">>> ", 10);
    pty_send(&p, "Tell me a long story\r");
    usleep(30000);
    pty_send(&p, "\x03");
    PTY_EXPECT(&p, &at, ">>> ", 60);

    STEP("repl: Ctrl+C at the prompt");
    pty_send(&p, "half typed\x03");
    PTY_EXPECT(&p, &at, "Use Ctrl + d or /bye to exit.", 10);
    PTY_EXPECT(&p, &at, ">>> ", 10);

    STEP("repl: still answers after the interrupt");
    pty_send(&p, "/set parameter num_predict 8\r");
    PTY_EXPECT(&p, &at, ">>> ", 10);
    pty_send(&p, "Once\r");
    PTY_EXPECT(&p, &at, ">>> ", 60);

    STEP("repl: Ctrl+D exits");
    pty_send(&p, "\x04");
    EXPECT(pty_wait(&p, 10) == 0, p.buf);

    STEP("repl: history file");
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/home/.ollama/history", g_tmp);
    int fd = open(path, O_RDONLY);
    char *h = fd >= 0 ? slurp_fd(fd) : NULL;
    if (fd >= 0) close(fd);
    EXPECT(h && strstr(h, "/show info\n") && strstr(h, "Once\n"), h);
    free(h);

    STEP("repl: /bye");
    at = 0;
    if (!pty_spawn(&p, (const char *const[]){"run", "stories", NULL})) return;
    PTY_EXPECT(&p, &at, ">>> ", 60);
    pty_send(&p, "/bye\r");
    EXPECT(pty_wait(&p, 10) == 0, p.buf);
}

int main(int argc, char **argv) {
    (void)argc;
    /* argv[0] is build/<mode>/tests/test_cli_pty: the binary is build/<mode>/ollama */
    char self[PATH_MAX];
    snprintf(self, sizeof(self), "%s", argv[0]);
    char *slash = strrchr(self, '/');
    if (slash) *slash = '\0';
    slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(self, sizeof(self), "build/release");
    char rel[PATH_MAX + 16];
    snprintf(rel, sizeof(rel), "%s/ollama", self);
    if (!realpath(rel, g_bin)) {
        fprintf(stderr, "missing binary %s\n", rel);
        return 1;
    }
    char model[PATH_MAX];
    if (!realpath(SHARED("models/stories260K/stories260K.gguf"), model)) {
        fprintf(stderr, "missing %s\n", SHARED("models/stories260K/stories260K.gguf"));
        return 1;
    }
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/test_cli_pty_XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    char home[PATH_MAX + 16];
    snprintf(home, sizeof(home), "%s/home", g_tmp);
    mkdir(home, 0700);
    int port = free_port();
    snprintf(g_host, sizeof(g_host), "127.0.0.1:%d", port);
    set_env();

    STEP("server starts");
    bool up = start_server();
    EXPECT(up, "(see server log above)");
    if (up) {
        test_commands(model);
        test_repl();
    }
    stop_server();
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_tmp);
    if (check_failures == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    return check_exit("test_cli_pty");
}
