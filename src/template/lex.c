/* The lexer of Go's text/template/parse, as a pull state machine: lex_next() runs states until
 * one emits an item. Positions, line numbers, trim markers and error texts follow Go 1.19+,
 * since parse errors quote them ("template: :3: unexpected ..."). Also strconv.Unquote. */
#include "template/internal.h"

#include <stdio.h>
#include <string.h>

enum lex_state {
    S_TEXT,
    S_LEFT_DELIM,
    S_COMMENT,
    S_RIGHT_DELIM,
    S_INSIDE,
    S_SPACE,
    S_QUOTE,
    S_RAW_QUOTE,
    S_VARIABLE,
    S_FIELD,
    S_CHAR,
    S_NUMBER,
    S_IDENT,
    S_DONE,
};

#define LEX_EOF (-1)

void lex_init(struct lexer *l, const char *input, size_t len) {
    memset(l, 0, sizeof(*l));
    l->input = input;
    l->len = len;
    l->line = 1;
    l->start_line = 1;
    l->state = S_TEXT;
}

static int32_t lx_next(struct lexer *l) {
    if (l->pos >= l->len) {
        l->at_eof = true;
        l->width = 0;
        return LEX_EOF;
    }
    int w;
    int32_t r = uc_decode(l->input + l->pos, l->len - l->pos, &w);
    l->width = w;
    l->pos += (size_t)w;
    if (r == '\n') l->line++;
    return r;
}

static void lx_backup(struct lexer *l) {
    if (l->width == 0) return;
    l->pos -= (size_t)l->width;
    if (l->width == 1 && l->input[l->pos] == '\n') l->line--;
    l->width = 0;
}

static int32_t lx_peek(struct lexer *l) {
    int32_t r = lx_next(l);
    lx_backup(l);
    return r;
}

static int count_nl(const char *s, size_t len) {
    int n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == '\n';
    return n;
}

static void lx_push(struct lexer *l, struct item it) {
    if (l->q_n == (int)OL_ARRAY_LEN(l->queue)) return; /* cannot happen: states emit <= 2 */
    l->queue[(l->q_head + l->q_n) % (int)OL_ARRAY_LEN(l->queue)] = it;
    l->q_n++;
}

static void lx_emit(struct lexer *l, enum item_type t) {
    struct item it = {t, (int)l->start, l->input + l->start, l->pos - l->start, l->start_line};
    lx_push(l, it);
    l->start = l->pos;
    l->start_line = l->line;
}

static void lx_ignore(struct lexer *l) {
    l->line += count_nl(l->input + l->start, l->pos - l->start);
    l->start = l->pos;
    l->start_line = l->line;
}

static int lx_errorf(struct lexer *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int lx_errorf(struct lexer *l, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->errmsg, sizeof(l->errmsg), fmt, ap);
    va_end(ap);
    struct item it = {ITEM_ERROR, (int)l->start, l->errmsg, strlen(l->errmsg), l->start_line};
    lx_push(l, it);
    return S_DONE;
}

/* Error with a %#U rune or %q text argument, formatted the Go way. */
static int lx_error_rune(struct lexer *l, const char *prefix, int32_t r) {
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, sizeof(l->errmsg) - 1);
    sb_puts(&sb, prefix);
    gofmt_rune_u(&sb, r);
    int st = lx_errorf(l, "%s", b.data ? b.data : prefix);
    ol_buf_free(&b);
    return st;
}

static int lx_error_number(struct lexer *l) {
    struct ol_buf b = {0};
    struct sbuf sb;
    sb_init(&sb, &b, sizeof(l->errmsg) - 1);
    sb_puts(&sb, "bad number syntax: ");
    gofmt_quote(&sb, l->input + l->start, l->pos - l->start);
    int st = lx_errorf(l, "%s", b.data ? b.data : "bad number syntax");
    ol_buf_free(&b);
    return st;
}

static bool is_space(int32_t r) { return r == ' ' || r == '\t' || r == '\r' || r == '\n'; }

static bool is_alnum(int32_t r) { return r == '_' || uc_is_letter(r) || uc_is_digit(r); }

static bool has_prefix(const struct lexer *l, size_t at, const char *p) {
    size_t n = strlen(p);
    return at <= l->len && l->len - at >= n && memcmp(l->input + at, p, n) == 0;
}

static bool has_left_trim(const struct lexer *l, size_t at) {
    return at + 2 <= l->len && l->input[at] == '-' && is_space((unsigned char)l->input[at + 1]);
}

static bool has_right_trim(const struct lexer *l, size_t at) {
    return at + 2 <= l->len && is_space((unsigned char)l->input[at]) && l->input[at + 1] == '-';
}

static size_t right_trim_len(const char *s, size_t len) {
    size_t n = 0;
    while (n < len && is_space((unsigned char)s[len - 1 - n]))
        n++;
    return n;
}

static size_t left_trim_len(const char *s, size_t len) {
    size_t n = 0;
    while (n < len && is_space((unsigned char)s[n]))
        n++;
    return n;
}

static int lex_text(struct lexer *l) {
    const char *p = NULL;
    if (l->pos < l->len) p = memmem(l->input + l->pos, l->len - l->pos, "{{", 2);
    if (p) {
        l->pos = (size_t)(p - l->input);
        size_t trim = 0;
        if (has_left_trim(l, l->pos + 2))
            trim = right_trim_len(l->input + l->start, l->pos - l->start);
        l->pos -= trim;
        if (l->pos > l->start) {
            l->line += count_nl(l->input + l->start, l->pos - l->start);
            lx_emit(l, ITEM_TEXT);
        }
        l->pos += trim;
        lx_ignore(l);
        return S_LEFT_DELIM;
    }
    l->pos = l->len;
    if (l->pos > l->start) {
        l->line += count_nl(l->input + l->start, l->pos - l->start);
        lx_emit(l, ITEM_TEXT);
    }
    lx_emit(l, ITEM_EOF);
    return S_DONE;
}

/* atRightDelim: at "}}" or " -}}". */
static bool at_right_delim(const struct lexer *l, bool *trim) {
    if (has_right_trim(l, l->pos) && has_prefix(l, l->pos + 2, "}}")) {
        *trim = true;
        return true;
    }
    *trim = false;
    return has_prefix(l, l->pos, "}}");
}

static int lex_left_delim(struct lexer *l) {
    l->pos += 2;
    bool trim = has_left_trim(l, l->pos);
    size_t after = trim ? 2 : 0;
    if (has_prefix(l, l->pos + after, "/*")) {
        l->pos += after;
        lx_ignore(l);
        return S_COMMENT;
    }
    lx_emit(l, ITEM_LEFT_DELIM);
    l->pos += after;
    lx_ignore(l);
    l->paren_depth = 0;
    return S_INSIDE;
}

static int lex_comment(struct lexer *l) {
    l->pos += 2;
    const char *p = memmem(l->input + l->pos, l->len - l->pos, "*/", 2);
    if (!p) return lx_errorf(l, "unclosed comment");
    l->pos = (size_t)(p - l->input) + 2;
    bool trim;
    if (!at_right_delim(l, &trim)) return lx_errorf(l, "comment ends before closing delimiter");
    if (trim) l->pos += 2;
    l->pos += 2;
    if (trim) l->pos += left_trim_len(l->input + l->pos, l->len - l->pos);
    lx_ignore(l);
    return S_TEXT;
}

static int lex_right_delim(struct lexer *l) {
    bool trim = has_right_trim(l, l->pos);
    if (trim) {
        l->pos += 2;
        lx_ignore(l);
    }
    l->pos += 2;
    lx_emit(l, ITEM_RIGHT_DELIM);
    if (trim) {
        l->pos += left_trim_len(l->input + l->pos, l->len - l->pos);
        lx_ignore(l);
    }
    return S_TEXT;
}

static int lex_inside(struct lexer *l) {
    bool trim;
    if (at_right_delim(l, &trim)) {
        if (l->paren_depth == 0) return S_RIGHT_DELIM;
        return lx_errorf(l, "unclosed left paren");
    }
    int32_t r = lx_next(l);
    if (r == LEX_EOF) return lx_errorf(l, "unclosed action");
    if (is_space(r)) {
        lx_backup(l);
        return S_SPACE;
    }
    switch (r) {
    case '=':
        lx_emit(l, ITEM_ASSIGN);
        return S_INSIDE;
    case ':':
        if (lx_next(l) != '=') return lx_errorf(l, "expected :=");
        lx_emit(l, ITEM_DECLARE);
        return S_INSIDE;
    case '|':
        lx_emit(l, ITEM_PIPE);
        return S_INSIDE;
    case '"':
        return S_QUOTE;
    case '`':
        return S_RAW_QUOTE;
    case '$':
        return S_VARIABLE;
    case '\'':
        return S_CHAR;
    case '.':
        if (l->pos < l->len) {
            char c = l->input[l->pos];
            if (c < '0' || c > '9') return S_FIELD;
        }
        lx_backup(l);
        return S_NUMBER;
    case '(':
        lx_emit(l, ITEM_LEFT_PAREN);
        l->paren_depth++;
        return S_INSIDE;
    case ')':
        lx_emit(l, ITEM_RIGHT_PAREN);
        l->paren_depth--;
        if (l->paren_depth < 0) return lx_error_rune(l, "unexpected right paren ", r);
        return S_INSIDE;
    default:
        break;
    }
    if (r == '+' || r == '-' || (r >= '0' && r <= '9')) {
        lx_backup(l);
        return S_NUMBER;
    }
    if (is_alnum(r)) {
        lx_backup(l);
        return S_IDENT;
    }
    if (r < 0x80 && r >= 0x20 && r < 0x7F) {
        lx_emit(l, ITEM_CHAR);
        return S_INSIDE;
    }
    return lx_error_rune(l, "unrecognized character in action: ", r);
}

static int lex_space(struct lexer *l) {
    int n = 0;
    while (is_space(lx_peek(l))) {
        lx_next(l);
        n++;
    }
    /* Be careful about a trim-marked closing delimiter, which has a space before it. */
    if (l->pos > 0 && has_right_trim(l, l->pos - 1) && has_prefix(l, l->pos + 1, "}}")) {
        l->width = 1;
        lx_backup(l);
        if (n == 1) return S_RIGHT_DELIM;
    }
    lx_emit(l, ITEM_SPACE);
    return S_INSIDE;
}

static bool at_terminator(struct lexer *l) {
    int32_t r = lx_peek(l);
    if (is_space(r)) return true;
    switch (r) {
    case LEX_EOF:
    case '.':
    case ',':
    case '|':
    case ':':
    case ')':
    case '(':
        return true;
    default:
        return has_prefix(l, l->pos, "}}");
    }
}

static const struct {
    const char *word;
    enum item_type type;
} keywords[] = {
    {"block", ITEM_BLOCK},
    {"break", ITEM_BREAK},
    {"continue", ITEM_CONTINUE},
    {"define", ITEM_DEFINE},
    {"else", ITEM_ELSE},
    {"end", ITEM_END},
    {"if", ITEM_IF},
    {"range", ITEM_RANGE},
    {"nil", ITEM_NIL},
    {"template", ITEM_TEMPLATE},
    {"with", ITEM_WITH},
};

static int lex_ident(struct lexer *l) {
    int32_t r;
    for (;;) {
        r = lx_next(l);
        if (!is_alnum(r)) break;
    }
    lx_backup(l);
    if (!at_terminator(l)) return lx_error_rune(l, "bad character ", r);
    const char *w = l->input + l->start;
    size_t n = l->pos - l->start;
    for (size_t i = 0; i < OL_ARRAY_LEN(keywords); i++) {
        if (strlen(keywords[i].word) == n && memcmp(keywords[i].word, w, n) == 0) {
            lx_emit(l, keywords[i].type);
            return S_INSIDE;
        }
    }
    if ((n == 4 && memcmp(w, "true", 4) == 0) || (n == 5 && memcmp(w, "false", 5) == 0)) {
        lx_emit(l, ITEM_BOOL);
    } else {
        lx_emit(l, ITEM_IDENTIFIER);
    }
    return S_INSIDE;
}

static int lex_field_or_variable(struct lexer *l, enum item_type typ) {
    if (at_terminator(l)) {
        lx_emit(l, typ == ITEM_VARIABLE ? ITEM_VARIABLE : ITEM_DOT);
        return S_INSIDE;
    }
    int32_t r;
    for (;;) {
        r = lx_next(l);
        if (!is_alnum(r)) {
            lx_backup(l);
            break;
        }
    }
    if (!at_terminator(l)) return lx_error_rune(l, "bad character ", r);
    lx_emit(l, typ);
    return S_INSIDE;
}

static int lex_char(struct lexer *l) {
    for (;;) {
        int32_t r = lx_next(l);
        if (r == '\\') {
            r = lx_next(l);
            if (r != LEX_EOF && r != '\n') continue;
            return lx_errorf(l, "unterminated character constant");
        }
        if (r == LEX_EOF || r == '\n') return lx_errorf(l, "unterminated character constant");
        if (r == '\'') break;
    }
    lx_emit(l, ITEM_CHAR_CONSTANT);
    return S_INSIDE;
}

static bool lx_accept(struct lexer *l, const char *valid) {
    int32_t r = lx_next(l);
    if (r != LEX_EOF && r < 0x80 && r != 0 && strchr(valid, (int)r)) return true;
    lx_backup(l);
    return false;
}

static void lx_accept_run(struct lexer *l, const char *valid) {
    for (;;) {
        int32_t r = lx_next(l);
        if (r == LEX_EOF || r >= 0x80 || r == 0 || !strchr(valid, (int)r)) break;
    }
    lx_backup(l);
}

static bool scan_number(struct lexer *l) {
    lx_accept(l, "+-");
    const char *digits = "0123456789_";
    if (lx_accept(l, "0")) {
        if (lx_accept(l, "xX")) {
            digits = "0123456789abcdefABCDEF_";
        } else if (lx_accept(l, "oO")) {
            digits = "01234567_";
        } else if (lx_accept(l, "bB")) {
            digits = "01_";
        }
    }
    lx_accept_run(l, digits);
    if (lx_accept(l, ".")) lx_accept_run(l, digits);
    size_t nd = strlen(digits);
    if (nd == 11 && lx_accept(l, "eE")) {
        lx_accept(l, "+-");
        lx_accept_run(l, "0123456789_");
    }
    if (nd == 23 && lx_accept(l, "pP")) {
        lx_accept(l, "+-");
        lx_accept_run(l, "0123456789_");
    }
    lx_accept(l, "i");
    if (is_alnum(lx_peek(l))) {
        lx_next(l);
        return false;
    }
    return true;
}

static int lex_number(struct lexer *l) {
    if (!scan_number(l)) return lx_error_number(l);
    int32_t sign = lx_peek(l);
    if (sign == '+' || sign == '-') {
        if (!scan_number(l) || l->input[l->pos - 1] != 'i') return lx_error_number(l);
        lx_emit(l, ITEM_COMPLEX);
    } else {
        lx_emit(l, ITEM_NUMBER);
    }
    return S_INSIDE;
}

static int lex_quote(struct lexer *l) {
    for (;;) {
        int32_t r = lx_next(l);
        if (r == '\\') {
            r = lx_next(l);
            if (r != LEX_EOF && r != '\n') continue;
            return lx_errorf(l, "unterminated quoted string");
        }
        if (r == LEX_EOF || r == '\n') return lx_errorf(l, "unterminated quoted string");
        if (r == '"') break;
    }
    lx_emit(l, ITEM_STRING);
    return S_INSIDE;
}

static int lex_raw_quote(struct lexer *l) {
    for (;;) {
        int32_t r = lx_next(l);
        if (r == LEX_EOF) return lx_errorf(l, "unterminated raw quoted string");
        if (r == '`') break;
    }
    lx_emit(l, ITEM_RAW_STRING);
    return S_INSIDE;
}

struct item lex_next(struct lexer *l) {
    while (l->q_n == 0) {
        switch (l->state) {
        case S_TEXT:
            l->state = lex_text(l);
            break;
        case S_LEFT_DELIM:
            l->state = lex_left_delim(l);
            break;
        case S_COMMENT:
            l->state = lex_comment(l);
            break;
        case S_RIGHT_DELIM:
            l->state = lex_right_delim(l);
            break;
        case S_INSIDE:
            l->state = lex_inside(l);
            break;
        case S_SPACE:
            l->state = lex_space(l);
            break;
        case S_QUOTE:
            l->state = lex_quote(l);
            break;
        case S_RAW_QUOTE:
            l->state = lex_raw_quote(l);
            break;
        case S_VARIABLE:
            l->state = at_terminator(l) ? (lx_emit(l, ITEM_VARIABLE), S_INSIDE)
                                        : lex_field_or_variable(l, ITEM_VARIABLE);
            break;
        case S_FIELD:
            l->state = lex_field_or_variable(l, ITEM_FIELD);
            break;
        case S_CHAR:
            l->state = lex_char(l);
            break;
        case S_NUMBER:
            l->state = lex_number(l);
            break;
        case S_IDENT:
            l->state = lex_ident(l);
            break;
        default: {
            struct item eof = {ITEM_EOF, (int)l->len, l->input + l->len, 0, l->line};
            return eof;
        }
        }
    }
    struct item it = l->queue[l->q_head];
    l->q_head = (l->q_head + 1) % (int)OL_ARRAY_LEN(l->queue);
    l->q_n--;
    return it;
}

void item_string(struct sbuf *sb, const struct item *it) {
    if (it->type == ITEM_EOF) {
        sb_puts(sb, "EOF");
        return;
    }
    if (it->type == ITEM_ERROR) {
        sb_put(sb, it->val, it->len);
        return;
    }
    if (it->type > ITEM_KEYWORD) {
        sb_putc(sb, '<');
        sb_put(sb, it->val, it->len);
        sb_putc(sb, '>');
        return;
    }
    /* %.10q: at most 10 runes, then "..." when longer than 10 bytes. */
    if (it->len > 10) {
        size_t i = 0;
        int n = 0;
        while (i < it->len && n < 10) {
            int w;
            uc_decode(it->val + i, it->len - i, &w);
            i += (size_t)w;
            n++;
        }
        gofmt_quote(sb, it->val, i);
        sb_puts(sb, "...");
        return;
    }
    gofmt_quote(sb, it->val, it->len);
}

/* ---- strconv.Unquote ---- */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* unquoteChar: one (possibly escaped) character of s at *i; *is_byte when it is a raw byte
 * (\x or octal) to be written unencoded. */
static bool unquote_char(const char *s, size_t len, size_t *i, char quote, int32_t *r,
                         bool *is_byte) {
    *is_byte = false;
    unsigned char c = (unsigned char)s[*i];
    if (c == (unsigned char)quote && (quote == '\'' || quote == '"')) return false;
    if (c >= 0x80) {
        int w;
        *r = uc_decode(s + *i, len - *i, &w);
        *i += (size_t)w;
        return true;
    }
    if (c != '\\') {
        *r = c;
        (*i)++;
        return true;
    }
    if (*i + 1 >= len) return false;
    char e = s[*i + 1];
    *i += 2;
    switch (e) {
    case 'a':
        *r = '\a';
        return true;
    case 'b':
        *r = '\b';
        return true;
    case 'f':
        *r = '\f';
        return true;
    case 'n':
        *r = '\n';
        return true;
    case 'r':
        *r = '\r';
        return true;
    case 't':
        *r = '\t';
        return true;
    case 'v':
        *r = '\v';
        return true;
    case 'x':
    case 'u':
    case 'U': {
        int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        if (*i + (size_t)n > len) return false;
        int32_t v = 0;
        for (int k = 0; k < n; k++) {
            int h = hexval(s[*i + (size_t)k]);
            if (h < 0) return false;
            v = (v << 4) | h;
        }
        *i += (size_t)n;
        if (e == 'x') {
            *r = v;
            *is_byte = true;
            return true;
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return false;
        *r = v;
        return true;
    }
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7': {
        int32_t v = e - '0';
        if (*i + 2 > len) return false;
        for (int k = 0; k < 2; k++) {
            char d = s[*i + (size_t)k];
            if (d < '0' || d > '7') return false;
            v = (v << 3) | (d - '0');
        }
        *i += 2;
        if (v > 255) return false;
        *r = v;
        *is_byte = true;
        return true;
    }
    case '\\':
        *r = '\\';
        return true;
    case '\'':
    case '"':
        if (e != quote) return false;
        *r = e;
        return true;
    default:
        return false;
    }
}

bool go_unquote(struct sbuf *sb, const char *s, size_t len) {
    if (len < 2) return false;
    char q = s[0];
    if (q != s[len - 1]) return false;
    s++;
    len -= 2;
    if (q == '`') {
        if (memchr(s, '`', len)) return false;
        for (size_t i = 0; i < len; i++)
            if (s[i] != '\r') sb_putc(sb, s[i]);
        return true;
    }
    if (q != '"') return false;
    if (memchr(s, '\n', len)) return false;
    size_t i = 0;
    while (i < len) {
        int32_t r;
        bool is_byte;
        if (!unquote_char(s, len, &i, '"', &r, &is_byte)) return false;
        if (is_byte) {
            sb_putc(sb, (char)r);
        } else {
            uc_encode(sb, r);
        }
    }
    return true;
}

int go_unquote_char_lit(const char *s, size_t len, int32_t *r) {
    /* text is 'x' with x one (escaped) character: UnquoteChar(text[1:], '\''), tail "'". */
    if (len < 2 || s[0] != '\'') return 0;
    size_t i = 1;
    bool is_byte;
    if (!unquote_char(s, len, &i, '\'', r, &is_byte)) return 0;
    return i == len - 1 && s[i] == '\'' ? 1 : -1;
}
