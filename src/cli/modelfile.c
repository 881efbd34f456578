/* The Modelfile parser and the /api/create request built from it (spec: modelfile.md). The
 * parser is a small state machine over characters, mirroring Ollama's so that error messages,
 * line numbers and quoting match: a value ends at a newline unless it opened a quote that is
 * still unclosed, in which case the newline becomes part of the value. */
#include "cli/cli.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "store/store.h"

#define ERR_COMMAND                                                                                \
    "command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", "        \
    "\"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\""
#define ERR_ROLE "message role must be one of \"system\", \"user\", or \"assistant\""

enum st { ST_NIL, ST_NAME, ST_VALUE, ST_PARAMETER, ST_MESSAGE, ST_COMMENT };

static bool is_alpha(uint32_t r) { return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'); }
static bool is_space(uint32_t r) { return r == ' ' || r == '\t'; }
static bool is_newline(uint32_t r) { return r == '\r' || r == '\n'; }

/* Go's strconv.IsPrint, approximated: controls, non-ASCII spaces and format characters are
 * not printable. Tab is kept (spec: modelfile.md §1). */
static bool is_print(uint32_t r) {
    if (r == '\t') return true;
    if (r < 0x20 || r == 0x7f) return false;
    if (r >= 0x80 && r <= 0xa0) return false;
    if (r == 0xad || r == 0x1680 || (r >= 0x2000 && r <= 0x200f) || (r >= 0x2028 && r <= 0x202f) ||
        r == 0x205f || r == 0x3000 || r == 0xfeff)
        return false;
    return true;
}

static int buf_put_rune(struct ol_buf *b, uint32_t r) {
    char s[4];
    size_t n;
    if (r < 0x80) {
        s[0] = (char)r;
        n = 1;
    } else if (r < 0x800) {
        s[0] = (char)(0xc0 | (r >> 6));
        s[1] = (char)(0x80 | (r & 0x3f));
        n = 2;
    } else if (r < 0x10000) {
        s[0] = (char)(0xe0 | (r >> 12));
        s[1] = (char)(0x80 | ((r >> 6) & 0x3f));
        s[2] = (char)(0x80 | (r & 0x3f));
        n = 3;
    } else {
        s[0] = (char)(0xf0 | (r >> 18));
        s[1] = (char)(0x80 | ((r >> 12) & 0x3f));
        s[2] = (char)(0x80 | ((r >> 6) & 0x3f));
        s[3] = (char)(0x80 | (r & 0x3f));
        n = 4;
    }
    return ol_buf_append(b, s, n);
}

/* Decodes one rune at s[*i]; invalid bytes become U+FFFD as in Go. */
static uint32_t next_rune(const unsigned char *s, size_t len, size_t *i) {
    unsigned char c = s[*i];
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    size_t n = (size_t)ol_utf8_len(c);
    if (n == 1 || *i + n > len || !ol_utf8_is_valid((const char *)s + *i, n)) {
        (*i)++;
        return 0xfffd;
    }
    uint32_t r = n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (size_t k = 1; k < n; k++)
        r = (r << 6) | (s[*i + k] & 0x3f);
    *i += n;
    return r;
}

/* UTF-16 with BOM → UTF-8 (owned); NULL when out of memory. */
static char *utf16_to_utf8(const unsigned char *s, size_t len, bool be, size_t *out_len) {
    struct ol_buf b = {0};
    for (size_t i = 0; i + 1 < len; i += 2) {
        uint32_t u = be ? (uint32_t)(s[i] << 8 | s[i + 1]) : (uint32_t)(s[i + 1] << 8 | s[i]);
        if (u >= 0xd800 && u < 0xdc00 && i + 3 < len) {
            uint32_t lo =
                be ? (uint32_t)(s[i + 2] << 8 | s[i + 3]) : (uint32_t)(s[i + 3] << 8 | s[i + 2]);
            if (lo >= 0xdc00 && lo < 0xe000) {
                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                i += 2;
            }
        }
        if (buf_put_rune(&b, u) < 0) {
            ol_buf_free(&b);
            return NULL;
        }
    }
    if (!b.data && ol_buf_puts(&b, "") < 0) return NULL;
    *out_len = b.len;
    return b.data;
}

static const char *const commands[] = {"from",      "license", "template", "system",
                                       "adapter",   "draft",   "renderer", "parser",
                                       "parameter", "message", "requires"};

static int command_kind(const char *s) {
    static const enum cli_mf_kind kinds[] = {CLI_MF_FROM,     CLI_MF_LICENSE, CLI_MF_TEMPLATE,
                                             CLI_MF_SYSTEM,   CLI_MF_ADAPTER, CLI_MF_DRAFT,
                                             CLI_MF_RENDERER, CLI_MF_PARSER,  CLI_MF_PARAMETER,
                                             CLI_MF_MESSAGE,  CLI_MF_REQUIRES};
    for (size_t i = 0; i < OL_ARRAY_LEN(commands); i++)
        if (strcasecmp(s, commands[i]) == 0) return (int)kinds[i];
    return -1;
}

/* Removes one level of quotes; false when a quote is opened but not closed. */
static bool unquote(const char *s, size_t len, const char **out, size_t *out_len) {
    if (len >= 3 && memcmp(s, "\"\"\"", 3) == 0) {
        if (len >= 6 && memcmp(s + len - 3, "\"\"\"", 3) == 0) {
            *out = s + 3;
            *out_len = len - 6;
            return true;
        }
        return false;
    }
    if (len >= 1 && s[0] == '"') {
        if (len >= 2 && s[len - 1] == '"') {
            *out = s + 1;
            *out_len = len - 2;
            return true;
        }
        return false;
    }
    *out = s;
    *out_len = len;
    return true;
}

static void trim(const char **s, size_t *len) {
    while (*len && isspace((unsigned char)**s))
        (*s)++, (*len)--;
    while (*len && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

void cli_modelfile_free(struct cli_modelfile *mf) {
    if (!mf) return;
    for (size_t i = 0; i < mf->n_cmds; i++) {
        free(mf->cmds[i].name);
        free(mf->cmds[i].args);
    }
    free(mf->cmds);
    mf->cmds = NULL;
    mf->n_cmds = 0;
}

static int add_cmd(struct cli_modelfile *mf, enum cli_mf_kind kind, const char *name,
                   const char *args, size_t args_len) {
    struct cli_mf_cmd *c = ol_realloc_array(mf->cmds, mf->n_cmds + 1, sizeof(*c));
    if (!c) return OL_ENOMEM;
    mf->cmds = c;
    c = &mf->cmds[mf->n_cmds];
    c->kind = kind;
    c->name = name ? ol_strdup(name) : NULL;
    c->args = ol_strndup(args, args_len);
    mf->n_cmds++;
    if ((name && !c->name) || !c->args) return OL_ENOMEM;
    return 0;
}

/* Parser state shared by the per-rune step and the final flush. */
struct parser {
    enum st st;
    int line;
    struct ol_buf b;
    int kind;   /* enum cli_mf_kind of the current command */
    char *name; /* parameter name / message role (owned) */
    struct cli_modelfile *mf;
};

/* Finishes a value: false when its quote is still open (the caller keeps reading). */
static int finish_value(struct parser *p, bool *done) {
    const char *s = p->b.data ? p->b.data : "";
    size_t len = p->b.len;
    const char *v;
    size_t vl;
    trim(&s, &len);
    *done = unquote(s, len, &v, &vl);
    if (!*done) return 0;
    int rc = add_cmd(p->mf, (enum cli_mf_kind)p->kind, p->name, v, vl);
    free(p->name);
    p->name = NULL;
    return rc;
}

/* The transition for rune r in state cs: returns the next state and whether r is kept
 * (*keep); errors fill err. */
static int next_state(enum st cs, uint32_t r, enum st *next, bool *keep, struct parser *p,
                      struct ol_err *err) {
    *keep = true;
    switch (cs) {
    case ST_NIL:
        if (r == '#')
            *next = ST_COMMENT, *keep = false;
        else if (is_space(r) || is_newline(r))
            *next = ST_NIL, *keep = false;
        else
            *next = ST_NAME;
        return 0;
    case ST_NAME:
        if (is_alpha(r))
            *next = ST_NAME;
        else if (is_space(r))
            *next = ST_VALUE, *keep = false;
        else
            return ol_err_set(err, OL_EINVAL, "(line %d): %s", p->line, ERR_COMMAND);
        return 0;
    case ST_VALUE:
        *next = is_newline(r) ? ST_NIL : ST_VALUE;
        return 0;
    case ST_PARAMETER:
    case ST_MESSAGE:
        if (is_alpha(r) || (cs == ST_PARAMETER && ((r >= '0' && r <= '9') || r == '_')))
            *next = cs;
        else if (is_space(r))
            *next = ST_VALUE, *keep = false;
        else
            return ol_err_set(err, OL_EINVAL, "unexpected EOF: %s", p->b.data ? p->b.data : "");
        return 0;
    case ST_COMMENT:
        *next = is_newline(r) ? ST_NIL : ST_COMMENT;
        *keep = false;
        return 0;
    }
    return ol_err_set(err, OL_EINTERNAL, "modelfile: bad state");
}

static int parse_runes(struct parser *p, const unsigned char *s, size_t len, struct ol_err *err) {
    size_t i = 0;
    while (i < len) {
        uint32_t r = next_rune(s, len, &i);
        if (is_newline(r)) p->line++;
        enum st next = ST_NIL;
        bool keep = false;
        int rc = next_state(p->st, r, &next, &keep, p, err);
        if (rc < 0) return rc;
        if (next != p->st) {
            const char *bs = p->b.data ? p->b.data : "";
            switch (p->st) {
            case ST_NAME: {
                int k = command_kind(bs);
                if (k < 0) return ol_err_set(err, OL_EINVAL, "(line %d): %s", p->line, ERR_COMMAND);
                p->kind = k;
                if (k == CLI_MF_PARAMETER) next = ST_PARAMETER;
                if (k == CLI_MF_MESSAGE) next = ST_MESSAGE;
                break;
            }
            case ST_PARAMETER:
                free(p->name);
                p->name = ol_strdup(bs);
                if (!p->name) return OL_ENOMEM;
                break;
            case ST_MESSAGE:
                if (strcmp(bs, "system") && strcmp(bs, "user") && strcmp(bs, "assistant"))
                    return ol_err_set(err, OL_EINVAL, "(line %d): %s", p->line, ERR_ROLE);
                free(p->name);
                p->name = ol_strdup(bs);
                if (!p->name) return OL_ENOMEM;
                break;
            case ST_VALUE: {
                bool done;
                rc = finish_value(p, &done);
                if (rc < 0) return rc;
                if (!done) {
                    /* still inside quotes: the newline is part of the value */
                    rc = buf_put_rune(&p->b, r);
                    if (rc < 0) return rc;
                    continue;
                }
                break;
            }
            case ST_NIL:
            case ST_COMMENT:
                break;
            }
            p->b.len = 0;
            if (p->b.data) p->b.data[0] = '\0';
            p->st = next;
        }
        if (keep && is_print(r)) {
            rc = buf_put_rune(&p->b, r);
            if (rc < 0) return rc;
        }
    }
    return 0;
}

int cli_modelfile_parse(const char *text, size_t len, struct cli_modelfile *mf,
                        struct ol_err *err) {
    const unsigned char *s = (const unsigned char *)text;
    char *conv = NULL;
    memset(mf, 0, sizeof(*mf));
    if (len >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf) {
        s += 3;
        len -= 3;
    } else if (len >= 2 && ((s[0] == 0xff && s[1] == 0xfe) || (s[0] == 0xfe && s[1] == 0xff))) {
        conv = utf16_to_utf8(s + 2, len - 2, s[0] == 0xfe, &len);
        if (!conv) return ol_err_set(err, OL_ENOMEM, "out of memory");
        s = (const unsigned char *)conv;
    }
    struct parser p = {.st = ST_NIL, .line = 1, .mf = mf};
    int rc = parse_runes(&p, s, len, err);
    if (rc == 0) {
        switch (p.st) {
        case ST_NIL:
        case ST_COMMENT:
            break;
        case ST_VALUE: {
            bool done;
            rc = finish_value(&p, &done);
            if (rc == 0 && !done) rc = ol_err_set(err, OL_EINVAL, "unexpected EOF");
            break;
        }
        default:
            rc = ol_err_set(err, OL_EINVAL, "unexpected EOF");
        }
    }
    if (rc == OL_ENOMEM) ol_err_set(err, OL_ENOMEM, "out of memory");
    if (rc == 0) {
        rc = ol_err_set(err, OL_EINVAL, "no FROM line");
        for (size_t i = 0; i < mf->n_cmds; i++)
            if (mf->cmds[i].kind == CLI_MF_FROM) rc = 0;
    }
    free(p.name);
    ol_buf_free(&p.b);
    free(conv);
    if (rc < 0) cli_modelfile_free(mf);
    return rc;
}

/* ---- PARAMETER values ---- */

static bool parse_bool(const char *s, bool *v) {
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < OL_ARRAY_LEN(t); i++) {
        if (strcmp(s, t[i]) == 0) return *v = true, true;
        if (strcmp(s, f[i]) == 0) return *v = false, true;
    }
    return false;
}

/* Go's strconv.ParseInt(s, 10, 64). */
static bool parse_int(const char *s, long long *v) {
    const char *p = s + (*s == '+' || *s == '-');
    if (!*p) return false;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p)) return false;
    errno = 0;
    *v = strtoll(s, NULL, 10);
    return errno == 0;
}

/* Go's strconv.ParseFloat(s, 32): decimal or special forms, no trailing junk. */
static bool parse_float(const char *s, double *v) {
    char *end;
    if (!*s || isspace((unsigned char)*s)) return false;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) return false;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || errno == ERANGE) return false;
    float f = (float)d;
    /* shortest decimal that round-trips the float32, as Go prints it */
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
    }
    *v = strtod(buf, NULL);
    return true;
}

/* Builds the JSON value; *deprecated when the option is to be skipped with a warning. */
static json_t *param_value(const char *name, const char *const *vals, size_t n, bool *deprecated,
                           struct ol_err *err) {
    const struct store_option *o = store_option_find(name);
    *deprecated = false;
    if (!o) return ol_err_set(err, OL_EINVAL, "unknown parameter '%s'", name), NULL;
    if (o->deprecated) {
        *deprecated = true;
        return NULL;
    }
    /* Go prints the value list with %s: "[a b]" */
    char shown[200] = "[";
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(shown);
        snprintf(shown + l, sizeof(shown) - l, "%s%s", i ? " " : "", vals[i]);
    }
    strncat(shown, "]", sizeof(shown) - strlen(shown) - 1);
    const char *v0 = n ? vals[0] : "";
    switch (o->type) {
    case STORE_OPT_INT: {
        long long v;
        if (!parse_int(v0, &v))
            return ol_err_set(err, OL_EINVAL, "invalid int value %s", shown), NULL;
        return json_integer(v);
    }
    case STORE_OPT_FLOAT: {
        double v;
        if (!parse_float(v0, &v))
            return ol_err_set(err, OL_EINVAL, "invalid float value %s", shown), NULL;
        return json_real(v);
    }
    case STORE_OPT_BOOL: {
        bool v;
        if (!parse_bool(v0, &v))
            return ol_err_set(err, OL_EINVAL, "invalid bool value %s", shown), NULL;
        return json_boolean(v);
    }
    case STORE_OPT_STRINGS: {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
            json_array_append_new(a, json_string(vals[i]));
        return a;
    }
    }
    return NULL;
}

int cli_param_format(const char *name, const char *const *vals, size_t n_vals, char **json,
                     struct ol_err *err) {
    bool deprecated;
    *json = NULL;
    json_t *v = param_value(name, vals, n_vals, &deprecated, err);
    if (deprecated) return 1;
    if (!v) return err ? err->code : OL_EINVAL;
    *json = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(v);
    return *json ? 0 : ol_err_set(err, OL_ENOMEM, "out of memory");
}

/* ---- files ---- */

int cli_file_digest(const char *path, char out[80], struct ol_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ol_err_sys(err, OL_EIO, "open %s", path);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = 0;
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = ol_err_set(err, OL_ENOMEM, "sha256 init failed");
        goto out;
    }
    static unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    if (ferror(f)) {
        rc = ol_err_sys(err, OL_EIO, "read %s", path);
        goto out;
    }
    unsigned char md[32];
    unsigned int md_len = 0;
    EVP_DigestFinal_ex(ctx, md, &md_len);
    strcpy(out, "sha256:");
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
out:
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return rc;
}

/* Expands ~ and ~user and resolves relative paths against dir (modelfile.md §2). */
static char *expand_path(const char *arg, const char *dir) {
    char buf[PATH_MAX * 2];
    if (arg[0] == '~') {
        const char *rest = strchr(arg, '/');
        const char *home = NULL;
        if (arg[1] == '/' || arg[1] == '\0') {
            home = getenv("HOME");
        } else {
            char user[256];
            size_t l = rest ? (size_t)(rest - arg - 1) : strlen(arg + 1);
            if (l >= sizeof(user)) l = sizeof(user) - 1;
            memcpy(user, arg + 1, l);
            user[l] = '\0';
            struct passwd *pw = getpwnam(user);
            if (pw) home = pw->pw_dir;
        }
        if (home) {
            snprintf(buf, sizeof(buf), "%s%s", home, rest ? rest : "");
            return ol_strdup(buf);
        }
    }
    if (arg[0] == '/') return ol_strdup(arg);
    snprintf(buf, sizeof(buf), "%s/%s", dir && dir[0] ? dir : ".", arg);
    char *abs = realpath(buf, NULL);
    return abs ? abs : ol_strdup(buf);
}

static int add_file(struct cli_create_req *req, const char *path, bool adapter,
                    struct ol_err *err) {
    struct cli_mf_file *f = ol_realloc_array(req->files, req->n_files + 1, sizeof(*f));
    if (!f) return ol_err_set(err, OL_ENOMEM, "out of memory");
    req->files = f;
    f = &req->files[req->n_files];
    memset(f, 0, sizeof(*f));
    f->adapter = adapter;
    f->path = ol_strdup(path);
    const char *base = strrchr(path, '/');
    f->name = ol_strdup(base ? base + 1 : path);
    req->n_files++;
    if (!f->path || !f->name) return ol_err_set(err, OL_ENOMEM, "out of memory");
    return cli_file_digest(path, f->digest, err);
}

static bool name_matches(const char *n, const char *pat_prefix, const char *suffix) {
    size_t pl = strlen(pat_prefix), sl = strlen(suffix), nl = strlen(n);
    return nl >= pl + sl && strncmp(n, pat_prefix, pl) == 0 && strcmp(n + nl - sl, suffix) == 0;
}

/* A directory FROM: collects the first matching group of model files (modelfile.md §3). */
static int add_dir(struct cli_create_req *req, const char *dir, bool adapter, struct ol_err *err) {
    static const char *const groups[][2] = {{"model", ".safetensors"},
                                            {"consolidated", ".safetensors"},
                                            {"pytorch_model", ".bin"},
                                            {"consolidated", ".pth"},
                                            {"", ".gguf"},
                                            {"", ".bin"}};
    int found = 0;
    for (size_t g = 0; g < OL_ARRAY_LEN(groups) && !found; g++) {
        DIR *d = opendir(dir);
        if (!d) return ol_err_sys(err, OL_EIO, "open %s", dir);
        struct dirent *e;
        int rc = 0;
        while (rc == 0 && (e = readdir(d))) {
            if (!name_matches(e->d_name, groups[g][0], groups[g][1])) continue;
            char p[PATH_MAX * 2];
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            rc = add_file(req, p, adapter, err);
            found++;
        }
        closedir(d);
        if (rc < 0) return rc;
    }
    if (!found) return ol_err_set(err, OL_EINVAL, "no Modelfile or safetensors files found");
    DIR *d = opendir(dir);
    if (!d) return ol_err_sys(err, OL_EIO, "open %s", dir);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (!name_matches(e->d_name, "", ".json") && strcmp(e->d_name, "tokenizer.model") &&
            strcmp(e->d_name, "chat_template.jinja"))
            continue;
        char p[PATH_MAX * 2];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        rc = add_file(req, p, adapter, err);
    }
    closedir(d);
    return rc;
}

/* Semver check for REQUIRES (v optional): MAJOR[.MINOR[.PATCH]][-pre][+build]. */
static bool semver_ok(const char *s) {
    if (*s == 'v') s++;
    for (int part = 0; part < 3; part++) {
        if (!isdigit((unsigned char)*s)) return false;
        if (*s == '0' && isdigit((unsigned char)s[1])) return false;
        while (isdigit((unsigned char)*s))
            s++;
        if (part < 2) {
            if (*s == '\0') return true;
            if (*s != '.') return false;
            s++;
        }
    }
    if (*s == '-' || *s == '+') {
        s++;
        if (!*s) return false;
        for (; *s; s++)
            if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-' && *s != '+') return false;
    }
    return *s == '\0';
}

void cli_create_req_free(struct cli_create_req *req) {
    if (!req) return;
    free(req->json);
    for (size_t i = 0; i < req->n_files; i++) {
        free(req->files[i].path);
        free(req->files[i].name);
    }
    free(req->files);
    memset(req, 0, sizeof(*req));
}

static int handle_path(struct cli_create_req *req, json_t *body, const struct cli_mf_cmd *c,
                       const char *dir, struct ol_err *err) {
    char *path = expand_path(c->args, dir);
    if (!path) return ol_err_set(err, OL_ENOMEM, "out of memory");
    struct stat st;
    int rc = 0;
    bool adapter = c->kind == CLI_MF_ADAPTER;
    if (stat(path, &st) != 0) {
        if (c->kind == CLI_MF_FROM)
            json_object_set_new(body, "from", json_string(c->args));
        else
            rc = ol_err_sys(err, OL_ENOTFOUND, "stat %s", path);
    } else if (c->kind == CLI_MF_DRAFT) {
        rc = ol_err_set(err, OL_EUNSUPPORTED, "DRAFT models are not supported");
    } else if (S_ISDIR(st.st_mode)) {
        rc = add_dir(req, path, adapter, err);
    } else {
        rc = add_file(req, path, adapter, err);
    }
    free(path);
    return rc;
}

int cli_modelfile_request(const struct cli_modelfile *mf, const char *dir, const char *model,
                          const char *quantize, struct cli_create_req *req, struct ol_err *err) {
    memset(req, 0, sizeof(*req));
    json_t *body = json_object();
    json_t *params = json_object();
    json_t *messages = json_array();
    json_t *licenses = json_array();
    int rc = 0;
    if (!body || !params || !messages || !licenses) {
        rc = ol_err_set(err, OL_ENOMEM, "out of memory");
        goto out;
    }
    json_object_set_new(body, "model", json_string(model));
    for (size_t i = 0; rc == 0 && i < mf->n_cmds; i++) {
        const struct cli_mf_cmd *c = &mf->cmds[i];
        switch (c->kind) {
        case CLI_MF_FROM:
        case CLI_MF_ADAPTER:
        case CLI_MF_DRAFT:
            rc = handle_path(req, body, c, dir, err);
            break;
        case CLI_MF_TEMPLATE:
            json_object_set_new(body, "template", json_string(c->args));
            break;
        case CLI_MF_SYSTEM:
            json_object_set_new(body, "system", json_string(c->args));
            break;
        case CLI_MF_RENDERER:
            json_object_set_new(body, "renderer", json_string(c->args));
            break;
        case CLI_MF_PARSER:
            json_object_set_new(body, "parser", json_string(c->args));
            break;
        case CLI_MF_LICENSE:
            json_array_append_new(licenses, json_string(c->args));
            break;
        case CLI_MF_REQUIRES:
            if (!semver_ok(c->args)) {
                rc = ol_err_set(err, OL_EINVAL, "requires must be a valid semver (e.g. 0.14.0)");
                break;
            }
            json_object_set_new(body, "requires", json_string(c->args + (c->args[0] == 'v')));
            break;
        case CLI_MF_MESSAGE: {
            json_t *m = json_object();
            json_object_set_new(m, "role", json_string(c->name));
            json_object_set_new(m, "content", json_string(c->args));
            json_array_append_new(messages, m);
            break;
        }
        case CLI_MF_PARAMETER: {
            bool deprecated;
            const char *vals[1] = {c->args};
            json_t *v = param_value(c->name, vals, 1, &deprecated, err);
            if (deprecated) {
                printf("warning: parameter %s is deprecated\n", c->name);
                break;
            }
            if (!v) {
                rc = err ? err->code : OL_EINVAL;
                break;
            }
            json_t *old = json_object_get(params, c->name);
            if (json_is_array(old) && json_is_array(v)) {
                json_array_extend(old, v);
                json_decref(v);
            } else {
                json_object_set_new(params, c->name, v);
            }
            break;
        }
        }
    }
    if (rc < 0) goto out;
    json_t *files = NULL, *adapters = NULL;
    for (size_t i = 0; i < req->n_files; i++) {
        json_t **m = req->files[i].adapter ? &adapters : &files;
        if (!*m) *m = json_object();
        json_object_set_new(*m, req->files[i].name, json_string(req->files[i].digest));
    }
    if (files) json_object_set_new(body, "files", files);
    if (adapters) json_object_set_new(body, "adapters", adapters);
    if (json_array_size(licenses)) json_object_set(body, "license", licenses);
    if (json_object_size(params)) json_object_set(body, "parameters", params);
    if (json_array_size(messages)) json_object_set(body, "messages", messages);
    if (quantize && quantize[0]) json_object_set_new(body, "quantize", json_string(quantize));
    req->json = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!req->json) rc = ol_err_set(err, OL_ENOMEM, "out of memory");
out:
    json_decref(body);
    json_decref(params);
    json_decref(messages);
    json_decref(licenses);
    if (rc < 0) {
        free(req->json);
        req->json = NULL;
    }
    return rc;
}
