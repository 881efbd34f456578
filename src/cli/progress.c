/* Progress display on stderr (spinners and bars) for pull, push, create and run (cli.md §4.3).
 * On a terminal a thread redraws all lines every 100 ms, moving the cursor back up over the
 * previous drawing; elsewhere each line is printed once, plainly, when it finishes. One mutex
 * guards the state list; rendering happens under it so lines never interleave. */
#include "cli/cli.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define N_BUCKETS 10

static const char *const frames[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};

struct state {
    bool bar;
    char msg[512];
    int frame;
    bool stopped;
    bool printed; /* non-tty: already written */
    int64_t max, initial, cur;
    double started, stopped_at; /* seconds, monotonic */
    double bucket_t[N_BUCKETS];
    int64_t bucket_v[N_BUCKETS];
    int n_buckets;
};

struct cli_progress {
    pthread_mutex_t mu; /* guards everything below */
    pthread_t thread;
    bool has_thread;
    bool tty;
    atomic_bool quit;
    bool finished; /* stop or stop_clear done */
    struct state *states;
    size_t n, cap;
    int pos; /* lines drawn last time */
};

static double now_s(void) { return (double)ol_time_ns() / 1e9; }

static void term_size(int *w, int *h) {
    struct winsize ws;
    *w = 80;
    *h = 24;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        *w = ws.ws_col;
        *h = ws.ws_row ? ws.ws_row : 24;
    }
}

static void put_spaces(struct ol_buf *b, int n) {
    for (int i = 0; i < n; i++)
        ol_buf_puts(b, " ");
}

/* Go's Duration.Round(time.Second).String(), limited to two units (bar ETA). */
static void fmt_eta(double secs, char *out, size_t cap) {
    if (secs >= 100 * 3600)
        snprintf(out, cap, "99h+");
    else if (secs >= 3600)
        snprintf(out, cap, "%dh%dm", (int)(secs / 3600), (int)(secs / 60) % 60);
    else
        cli_duration_str((int64_t)llround(secs) * 1000000000LL, out, cap);
}

void cli_bar_format(const char *msg, int64_t cur, int64_t max, bool stopped, double rate,
                    int term_width, struct ol_buf *out) {
    struct ol_buf pre = {0}, suf = {0};
    double pct = max > 0 ? (double)cur / (double)max * 100 : 0;
    if (msg && msg[0]) {
        const char *s = msg;
        size_t l = strlen(s);
        while (l && (*s == ' ' || *s == '\t' || *s == '\n'))
            s++, l--;
        while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\n'))
            l--;
        ol_buf_append(&pre, s, l);
        ol_buf_puts(&pre, " ");
    }
    ol_buf_printf(&pre, "%3.0f%%", pct);
    char a[32], b[32];
    cli_human_bytes(max, b, sizeof(b));
    if (!stopped) {
        cli_human_bytes(cur, a, sizeof(a));
        put_spaces(&suf, 6 - (int)strlen(a));
        ol_buf_printf(&suf, "%s/", a);
        put_spaces(&suf, 6 - (int)strlen(b));
        ol_buf_puts(&suf, b);
    } else {
        put_spaces(&suf, 6 - (int)strlen(b));
        ol_buf_puts(&suf, b);
        put_spaces(&suf, 7);
    }
    if (!stopped && rate > 0) {
        char r[32];
        cli_human_bytes((int64_t)rate, r, sizeof(r));
        ol_buf_puts(&suf, "  ");
        put_spaces(&suf, 6 - (int)strlen(r));
        ol_buf_printf(&suf, "%s/s", r);
        char e[32];
        fmt_eta((double)(int64_t)((double)(max - cur) / rate), e, sizeof(e));
        ol_buf_puts(&suf, "  ");
        put_spaces(&suf, 6 - (int)strlen(e));
        ol_buf_puts(&suf, e);
    } else {
        put_spaces(&suf, 10 + 8);
    }
    int f = term_width - (int)pre.len - (int)suf.len - 5;
    int n = (int)((double)f * pct / 100);
    ol_buf_append(out, pre.data, pre.len);
    ol_buf_puts(out, " ▕");
    for (int i = 0; i < n; i++)
        ol_buf_puts(out, "█");
    put_spaces(out, f - n);
    ol_buf_puts(out, "▏ ");
    ol_buf_append(out, suf.data, suf.len);
    ol_buf_free(&pre);
    ol_buf_free(&suf);
}

static double bar_rate(const struct state *s) {
    double num = 0, den = 0;
    if (s->stopped) {
        num = (double)(s->cur - s->initial);
        den = round(s->stopped_at - s->started);
    } else if (s->n_buckets == 1) {
        num = (double)(s->bucket_v[0] - s->initial);
        den = round(s->bucket_t[0] - s->started);
    } else if (s->n_buckets > 1) {
        num = (double)(s->bucket_v[s->n_buckets - 1] - s->bucket_v[0]);
        den = round(s->bucket_t[s->n_buckets - 1] - s->bucket_t[0]);
    }
    return den != 0 ? num / den : 0;
}

static void state_string(const struct state *s, int tw, struct ol_buf *out) {
    if (s->bar) {
        cli_bar_format(s->msg, s->cur, s->max, s->stopped, bar_rate(s), tw, out);
        return;
    }
    const char *m = s->msg;
    size_t l = strlen(m);
    while (l && (*m == ' ' || *m == '\n'))
        m++, l--;
    while (l && (m[l - 1] == ' ' || m[l - 1] == '\n'))
        l--;
    if (l) {
        ol_buf_append(out, m, l);
        ol_buf_puts(out, " ");
    }
    if (!s->stopped) ol_buf_printf(out, "%s ", frames[s->frame]);
}

static void write_all(const char *p, size_t len) {
    while (len) {
        ssize_t w = write(STDERR_FILENO, p, len);
        if (w <= 0) return;
        p += w;
        len -= (size_t)w;
    }
}

/* Draws all lines (tty) or prints newly finished ones (non-tty). Called with mu held. */
static void render_locked(struct cli_progress *p, bool final) {
    struct ol_buf b = {0};
    int tw, th;
    term_size(&tw, &th);
    if (!p->tty) {
        for (size_t i = 0; i < p->n; i++) {
            struct state *s = &p->states[i];
            if (s->printed || !(s->stopped || final)) continue;
            if (!s->bar && !s->msg[0]) {
                s->printed = true;
                continue;
            }
            bool was = s->stopped;
            s->stopped = true;
            state_string(s, tw, &b);
            s->stopped = was;
            ol_buf_puts(&b, "\n");
            s->printed = true;
        }
    } else {
        ol_buf_puts(&b, "\x1b[?2026h\x1b[?25l");
        for (int i = 0; i < p->pos - 1; i++)
            ol_buf_puts(&b, "\x1b[A");
        ol_buf_puts(&b, "\x1b[1G");
        size_t first = p->n > (size_t)th ? p->n - (size_t)th : 0;
        for (size_t i = first; i < p->n; i++) {
            state_string(&p->states[i], tw, &b);
            ol_buf_puts(&b, "\x1b[K");
            if (i + 1 < p->n) ol_buf_puts(&b, "\n");
        }
        p->pos = (int)p->n;
        ol_buf_puts(&b, "\x1b[?25h\x1b[?2026l");
    }
    if (b.len) write_all(b.data, b.len);
    ol_buf_free(&b);
}

static void *render_thread(void *arg) {
    struct cli_progress *p = arg;
    while (!atomic_load(&p->quit)) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&p->mu);
        if (!p->finished && !atomic_load(&p->quit)) {
            for (size_t i = 0; i < p->n; i++)
                if (!p->states[i].bar && !p->states[i].stopped)
                    p->states[i].frame = (p->states[i].frame + 1) % 10;
            render_locked(p, false);
        }
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

struct cli_progress *cli_progress_new(void) {
    struct cli_progress *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    pthread_mutex_init(&p->mu, NULL);
    p->tty = isatty(STDERR_FILENO);
    atomic_init(&p->quit, false);
    if (p->tty && pthread_create(&p->thread, NULL, render_thread, p) == 0) p->has_thread = true;
    return p;
}

static int add_state(struct cli_progress *p, const struct state *s) {
    pthread_mutex_lock(&p->mu);
    int idx = OL_ENOMEM;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        struct state *ns = ol_realloc_array(p->states, cap, sizeof(*ns));
        if (!ns) goto out;
        p->states = ns;
        p->cap = cap;
    }
    p->states[p->n] = *s;
    idx = (int)p->n++;
    if (!p->tty) render_locked(p, false);
out:
    pthread_mutex_unlock(&p->mu);
    return idx;
}

int cli_progress_spinner(struct cli_progress *p, const char *msg) {
    struct state s = {0};
    snprintf(s.msg, sizeof(s.msg), "%s", msg);
    s.started = now_s();
    return add_state(p, &s);
}

int cli_progress_bar(struct cli_progress *p, const char *msg, int64_t total, int64_t initial) {
    struct state s = {0};
    s.bar = true;
    snprintf(s.msg, sizeof(s.msg), "%s", msg);
    s.max = total;
    s.initial = s.cur = initial;
    s.started = now_s();
    if (initial >= total) {
        s.stopped = true;
        s.stopped_at = s.started;
    }
    return add_state(p, &s);
}

void cli_progress_set_msg(struct cli_progress *p, int idx, const char *msg) {
    pthread_mutex_lock(&p->mu);
    if (idx >= 0 && (size_t)idx < p->n)
        snprintf(p->states[idx].msg, sizeof(p->states[idx].msg), "%s", msg);
    pthread_mutex_unlock(&p->mu);
}

void cli_progress_set(struct cli_progress *p, int idx, int64_t value) {
    pthread_mutex_lock(&p->mu);
    if (idx >= 0 && (size_t)idx < p->n) {
        struct state *s = &p->states[idx];
        double t = now_s();
        if (value >= s->max) value = s->max;
        s->cur = value;
        if (s->cur >= s->max && !s->stopped) {
            s->stopped = true;
            s->stopped_at = t;
        }
        if (s->n_buckets == 0 || t - s->bucket_t[s->n_buckets - 1] > 1.0) {
            if (s->n_buckets == N_BUCKETS) {
                memmove(s->bucket_t, s->bucket_t + 1, sizeof(double) * (N_BUCKETS - 1));
                memmove(s->bucket_v, s->bucket_v + 1, sizeof(int64_t) * (N_BUCKETS - 1));
                s->n_buckets--;
            }
            s->bucket_t[s->n_buckets] = t;
            s->bucket_v[s->n_buckets++] = value;
        }
        if (!p->tty) render_locked(p, false);
    }
    pthread_mutex_unlock(&p->mu);
}

void cli_progress_stop_one(struct cli_progress *p, int idx) {
    pthread_mutex_lock(&p->mu);
    if (idx >= 0 && (size_t)idx < p->n && !p->states[idx].stopped) {
        p->states[idx].stopped = true;
        p->states[idx].stopped_at = now_s();
        if (!p->tty) render_locked(p, false);
    }
    pthread_mutex_unlock(&p->mu);
}

/* Ends the thread and stops all spinners; false when already finished. */
static bool finish(struct cli_progress *p) {
    atomic_store(&p->quit, true);
    if (p->has_thread) {
        pthread_join(p->thread, NULL);
        p->has_thread = false;
    }
    pthread_mutex_lock(&p->mu);
    bool was = p->finished;
    p->finished = true;
    for (size_t i = 0; i < p->n; i++)
        if (!p->states[i].bar) p->states[i].stopped = true;
    return !was; /* mu stays locked */
}

void cli_progress_stop(struct cli_progress *p) {
    if (!p) return;
    if (finish(p)) {
        render_locked(p, true);
        if (p->tty) write_all("\n", 1);
    }
    pthread_mutex_unlock(&p->mu);
}

void cli_progress_stop_clear(struct cli_progress *p) {
    if (!p) return;
    bool first = finish(p);
    if (first && p->tty) {
        struct ol_buf b = {0};
        ol_buf_puts(&b, "\x1b[?25l");
        for (int i = 0; i < p->pos; i++) {
            if (i > 0) ol_buf_puts(&b, "\x1b[A");
            ol_buf_puts(&b, "\x1b[2K\x1b[1G");
        }
        ol_buf_puts(&b, "\x1b[?25h");
        write_all(b.data, b.len);
        ol_buf_free(&b);
    }
    pthread_mutex_unlock(&p->mu);
}

void cli_progress_free(struct cli_progress *p) {
    if (!p) return;
    cli_progress_stop_clear(p);
    pthread_mutex_destroy(&p->mu);
    free(p->states);
    free(p);
}
