/* Borderless tables (list, ps, show) and word wrap of streamed model output. Tables follow the
 * layout Ollama gets from its table writer: width = widest cell, cells wider than a limit are
 * re-flowed with minimum raggedness, and each cell is followed by four spaces (cli.md §4.2). */
#include "cli/cli.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

struct cell {
    char **lines;
    size_t n_lines;
};
struct row {
    struct cell *cells;
    size_t n_cells;
};
struct cli_table {
    int max_width;
    struct row header;
    bool has_header;
    struct row *rows;
    size_t n_rows;
    size_t cap_rows;
};

struct cli_table *cli_table_new(int max_col_width) {
    struct cli_table *t = calloc(1, sizeof(*t));
    if (t) t->max_width = max_col_width;
    return t;
}

static void row_free(struct row *r) {
    for (size_t i = 0; i < r->n_cells; i++) {
        for (size_t j = 0; j < r->cells[i].n_lines; j++)
            free(r->cells[i].lines[j]);
        free(r->cells[i].lines);
    }
    free(r->cells);
    r->cells = NULL;
    r->n_cells = 0;
}

void cli_table_free(struct cli_table *t) {
    if (!t) return;
    row_free(&t->header);
    for (size_t i = 0; i < t->n_rows; i++)
        row_free(&t->rows[i]);
    free(t->rows);
    free(t);
}

static int str_width(const char *s) { return cli_text_width(s, strlen(s)); }

static int cell_add_line(struct cell *c, const char *s, size_t len) {
    char **l = ol_realloc_array(c->lines, c->n_lines + 1, sizeof(*l));
    if (!l) return OL_ENOMEM;
    c->lines = l;
    l[c->n_lines] = ol_strndup(s, len);
    if (!l[c->n_lines]) return OL_ENOMEM;
    c->n_lines++;
    return 0;
}

/* Minimum-raggedness word wrap (the table writer's WrapWords): breaks words[] into lines of
 * at most lim columns, fills brk[i] = index after the last word of the line starting at i. */
static int wrap_words(char **words, size_t n, int lim, size_t *brk) {
    const long long pen = 100000;
    long long *cost = ol_calloc_array(n + 1, sizeof(*cost));
    int *wid = ol_calloc_array(n + 1, sizeof(*wid));
    if (!cost || !wid) {
        free(cost);
        free(wid);
        return OL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        wid[i] = str_width(words[i]);
    for (size_t ii = n; ii-- > 0;) {
        long long len_all = wid[ii];
        for (size_t j = ii + 1; j < n; j++)
            len_all += 1 + wid[j];
        cost[ii] = INT_MAX;
        if (len_all <= lim) {
            cost[ii] = 0;
            brk[ii] = n;
            continue;
        }
        long long len = wid[ii]; /* length of words ii..j-1 */
        for (size_t j = ii + 1; j < n; j++) {
            long long d = lim - len;
            long long c = d * d + cost[j];
            if (len > lim) c += pen;
            if (c < cost[ii]) {
                cost[ii] = c;
                brk[ii] = j;
            }
            len += 1 + wid[j];
        }
    }
    free(cost);
    free(wid);
    return 0;
}

/* Splits s into the lines of one cell, re-flowing when wider than max. */
static int cell_parse(struct cell *c, const char *s, int max) {
    int width = 0;
    for (const char *p = s;;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        int w = cli_text_width(p, l);
        if (w > width) width = w;
        if (!nl) break;
        p = nl + 1;
    }
    if (width <= max && !strchr(s, '\n')) return cell_add_line(c, s, strlen(s));
    if (width > max) width = max;
    /* reflow: the whole cell is one paragraph, words split on single spaces */
    char *para = ol_strdup(s);
    if (!para) return OL_ENOMEM;
    for (char *p = para; *p; p++)
        if (*p == '\n') *p = ' ';
    size_t n = 1;
    for (char *p = para; *p; p++)
        n += *p == ' ';
    char **words = ol_calloc_array(n, sizeof(*words));
    size_t *brk = ol_calloc_array(n, sizeof(*brk));
    int rc = OL_ENOMEM;
    if (!words || !brk) goto out;
    size_t k = 0;
    for (char *p = para, *w = para;; p++) {
        if (*p == ' ' || !*p) {
            bool end = !*p;
            *p = '\0';
            words[k++] = w;
            w = p + 1;
            if (end) break;
        }
    }
    int lim = width;
    for (size_t i = 0; i < n; i++) {
        int ww = str_width(words[i]);
        if (ww > lim) lim = ww;
    }
    rc = wrap_words(words, n, lim, brk);
    if (rc < 0) goto out;
    for (size_t i = 0; i < n;) {
        struct ol_buf line = {0};
        for (size_t j = i; j < brk[i]; j++) {
            if (j > i) rc = ol_buf_puts(&line, " ");
            if (rc == 0) rc = ol_buf_puts(&line, words[j]);
        }
        if (rc == 0) rc = cell_add_line(c, line.data ? line.data : "", line.len);
        ol_buf_free(&line);
        if (rc < 0) goto out;
        i = brk[i] > i ? brk[i] : i + 1;
    }
    rc = 0;
out:
    free(words);
    free(brk);
    free(para);
    return rc;
}

static int row_set(struct row *r, size_t n, const char *const *cells, int max) {
    r->cells = ol_calloc_array(n ? n : 1, sizeof(*r->cells));
    if (!r->cells) return OL_ENOMEM;
    r->n_cells = n;
    for (size_t i = 0; i < n; i++) {
        int rc = cell_parse(&r->cells[i], cells[i] ? cells[i] : "", max);
        if (rc < 0) return rc;
    }
    return 0;
}

int cli_table_header(struct cli_table *t, size_t n, const char *const *cells) {
    row_free(&t->header);
    t->has_header = true;
    return row_set(&t->header, n, cells, t->max_width);
}

int cli_table_row(struct cli_table *t, size_t n, const char *const *cells) {
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 8;
        struct row *r = ol_realloc_array(t->rows, cap, sizeof(*r));
        if (!r) return OL_ENOMEM;
        t->rows = r;
        t->cap_rows = cap;
    }
    struct row *r = &t->rows[t->n_rows++];
    memset(r, 0, sizeof(*r));
    return row_set(r, n, cells, t->max_width);
}

static int pad_right(struct ol_buf *out, const char *s, int width) {
    int rc = ol_buf_puts(out, s);
    for (int w = str_width(s); rc == 0 && w < width; w++)
        rc = ol_buf_puts(out, " ");
    return rc;
}

int cli_table_render(const struct cli_table *t, struct ol_buf *out) {
    size_t n_cols = t->header.n_cells;
    for (size_t i = 0; i < t->n_rows; i++)
        n_cols = OL_MAX(n_cols, t->rows[i].n_cells);
    int *w = ol_calloc_array(n_cols ? n_cols : 1, sizeof(*w));
    if (!w) return OL_ENOMEM;
    for (size_t r = 0; r <= t->n_rows; r++) {
        const struct row *row = r == t->n_rows ? &t->header : &t->rows[r];
        for (size_t c = 0; c < row->n_cells; c++)
            for (size_t l = 0; l < row->cells[c].n_lines; l++)
                w[c] = OL_MAX(w[c], str_width(row->cells[c].lines[l]));
    }
    int rc = 0;
    if (t->has_header) {
        for (size_t c = 0; rc == 0 && c < n_cols; c++) {
            const char *h = c < t->header.n_cells && t->header.cells[c].n_lines
                                ? t->header.cells[c].lines[0]
                                : "";
            rc = pad_right(out, h, w[c]);
            if (rc == 0) rc = ol_buf_puts(out, c + 1 == n_cols ? " " : "    ");
        }
        if (rc == 0) rc = ol_buf_puts(out, "\n");
    }
    for (size_t r = 0; rc == 0 && r < t->n_rows; r++) {
        const struct row *row = &t->rows[r];
        size_t n_lines = 1;
        for (size_t c = 0; c < row->n_cells; c++)
            n_lines = OL_MAX(n_lines, row->cells[c].n_lines);
        for (size_t l = 0; rc == 0 && l < n_lines; l++) {
            for (size_t c = 0; rc == 0 && c < row->n_cells; c++) {
                const struct cell *cell = &row->cells[c];
                rc = pad_right(out, l < cell->n_lines ? cell->lines[l] : "", w[c]);
                if (rc == 0) rc = ol_buf_puts(out, "    ");
            }
            if (rc == 0) rc = ol_buf_puts(out, "\n");
        }
    }
    free(w);
    return rc;
}

/* ---- word wrap ---- */

void cli_wrap_reset(struct cli_wrap *w) {
    ol_buf_free(&w->word);
    w->line_len = 0;
    w->n_pend = 0;
}

static int wrap_char(struct cli_wrap *w, const char *ch, size_t n, int cw, int tw,
                     struct ol_buf *out) {
    int rc = 0;
    const char *word = w->word.data ? w->word.data : "";
    if (w->line_len + 1 > tw - 5) {
        int ww = cli_text_width(word, w->word.len);
        if (ww > tw - 10) {
            /* a word longer than the line: let the terminal break it */
            rc = ol_buf_append(out, word, w->word.len);
            if (rc == 0) rc = ol_buf_append(out, ch, n);
            w->word.len = 0;
            if (w->word.data) w->word.data[0] = '\0';
            w->line_len = 0;
            return rc;
        }
        if (ww > 0) rc = ol_buf_printf(out, "\x1b[%dD", ww);
        if (rc == 0) rc = ol_buf_puts(out, "\x1b[K\n");
        if (rc == 0) rc = ol_buf_append(out, word, w->word.len);
        if (rc == 0) rc = ol_buf_append(out, ch, n);
        w->line_len = ww + cw;
        /* the word buffer keeps the moved word (as Ollama does) */
        return rc;
    }
    rc = ol_buf_append(out, ch, n);
    w->line_len += cw;
    if (cw >= 2) {
        w->word.len = 0;
        if (w->word.data) w->word.data[0] = '\0';
        return rc;
    }
    if (n == 1 && (ch[0] == ' ' || ch[0] == '\t' || ch[0] == '\n' || ch[0] == '\r')) {
        if (ch[0] == '\n' || ch[0] == '\r') w->line_len = 0;
        w->word.len = 0;
        if (w->word.data) w->word.data[0] = '\0';
    } else if (rc == 0) {
        rc = ol_buf_append(&w->word, ch, n);
    }
    return rc;
}

int cli_wrap_feed(struct cli_wrap *w, const char *s, size_t len, bool wrap, int term_width,
                  struct ol_buf *out) {
    int rc = 0;
    if (!wrap || term_width < 10) {
        if (w->word.len) rc = ol_buf_append(out, w->word.data, w->word.len);
        w->word.len = 0;
        if (rc == 0 && w->n_pend) rc = ol_buf_append(out, w->pend, w->n_pend);
        w->n_pend = 0;
        if (rc == 0) rc = ol_buf_append(out, s, len);
        return rc;
    }
    size_t i = 0;
    while (rc == 0 && i < len) {
        char ch[4];
        size_t n;
        if (w->n_pend) {
            size_t need = (size_t)ol_utf8_len((uint8_t)w->pend[0]);
            while (w->n_pend < need && i < len)
                w->pend[w->n_pend++] = s[i++];
            if (w->n_pend < need) return 0;
            memcpy(ch, w->pend, need);
            n = need;
            w->n_pend = 0;
        } else {
            n = (size_t)ol_utf8_len((uint8_t)s[i]);
            if (i + n > len) {
                memcpy(w->pend, s + i, len - i);
                w->n_pend = len - i;
                return 0;
            }
            memcpy(ch, s + i, n);
            i += n;
        }
        utf8proc_int32_t cp;
        int cw = 1;
        if (utf8proc_iterate((const utf8proc_uint8_t *)ch, (utf8proc_ssize_t)n, &cp) > 0)
            cw = utf8proc_charwidth(cp);
        rc = wrap_char(w, ch, n, cw, term_width, out);
    }
    return rc;
}
