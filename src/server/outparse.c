/* Output parsing for Go-template models. Text flows through two stages, each a small state
 * machine over its own hold buffer:
 *   think stage: leading whitespace, then "<think>" ... "</think>" goes to `thinking`, the rest
 *                to the tool stage (templates.md §6);
 *   tool stage:  before the tag, text is content; after it, each known tool name plus the first
 *                balanced JSON object that parses and holds arguments becomes a call
 *                (templates.md §7).
 * A stage only ever holds back text that could still change meaning (a tag prefix, whitespace
 * before a close tag, an unfinished call); everything else is emitted at once. */
#include "server/outparse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

enum think_state {
    THINK_PASS,       /* no (more) thinking: everything is content */
    THINK_START,      /* before the first non-space: waiting for the open tag */
    THINK_OPEN_SPACE, /* after the open tag: dropping whitespace */
    THINK_IN,         /* thinking until the close tag */
    THINK_CLOSE_SPACE /* after the close tag: dropping whitespace */
};

enum tool_state {
    TOOL_PASS,  /* no (more) tool parsing: everything is content */
    TOOL_LOOK,  /* before the tag */
    TOOL_PARSE, /* after the tag: extracting calls */
};

enum call_result { CALL_NONE, CALL_WAIT, CALL_FOUND };

struct outp {
    enum think_state think;
    char *think_open;
    char *think_close;
    struct ol_buf think_hold;

    enum tool_state tool;
    char *tag;
    char *tag_close;   /* "</x>" for "<x>", "]" for "...[", else NULL */
    bool tag_is_brace; /* "{" or "[": only output starting with it can be a call */
    bool tag_dropped;  /* the tag was cut from tool_hold (re-added if no call comes) */
    char **names;      /* [n_names] */
    int n_names;
    size_t max_name_len;
    struct ol_buf tool_hold;
    int n_calls;

    struct ol_buf mid; /* think stage output feeding the tool stage; reused per push */
    uint64_t rng;      /* for call ids */
};

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static size_t skip_space(const char *s, size_t len) {
    size_t i = 0;
    while (i < len && is_space(s[i]))
        i++;
    return i;
}

static size_t trim_space_end(const char *s, size_t len) {
    while (len > 0 && is_space(s[len - 1]))
        len--;
    return len;
}

/* Drops the first n bytes of b. */
static void buf_consume(struct ol_buf *b, size_t n) {
    OL_ASSERT(n <= b->len);
    if (n == 0) return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = 0;
}

static void buf_clear(struct ol_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

/* Appends the first n bytes of `from` to `to` and drops them from `from`. */
static int buf_move(struct ol_buf *to, struct ol_buf *from, size_t n) {
    if (n && ol_buf_append(to, from->data, n) < 0) return OL_ENOMEM;
    buf_consume(from, n);
    return 0;
}

/* Length of the longest suffix of s[0..len) that is a proper prefix of tag. */
static size_t tag_partial_suffix(const char *s, size_t len, const char *tag) {
    size_t tag_len = strlen(tag);
    size_t max = tag_len ? OL_MIN(len, tag_len - 1) : 0;
    for (size_t n = max; n > 0; n--)
        if (memcmp(s + len - n, tag, n) == 0) return n;
    return 0;
}

static bool has_prefix(const char *s, size_t len, const char *p) {
    size_t n = strlen(p);
    return len >= n && memcmp(s, p, n) == 0;
}

static bool has_suffix(const char *s, size_t len, const char *p) {
    size_t n = strlen(p);
    return len >= n && memcmp(s + len - n, p, n) == 0;
}

/* ---- call ids ---- */

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* "call_" + 8 of [a-z0-9]; only unique-ish within a conversation, not a secret. */
static void call_id(struct outp *o, char out[14]) {
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint64_t r = splitmix64(&o->rng);
    memcpy(out, "call_", 5);
    for (int i = 0; i < 8; i++) {
        out[5 + i] = alphabet[r % 36];
        r /= 36;
    }
    out[13] = 0;
}

/* ---- think stage ---- */

/* Runs the think state machine over think_hold; content goes to `content` (the tool stage's
 * input). `final` decides whatever is still ambiguous. */
static int think_run(struct outp *o, struct ol_buf *content, struct ol_buf *thinking, bool final) {
    struct ol_buf *b = &o->think_hold;
    for (;;) {
        switch (o->think) {
        case THINK_PASS:
            return buf_move(content, b, b->len);
        case THINK_START: {
            size_t ws = skip_space(b->data, b->len);
            const char *rest = b->data ? b->data + ws : "";
            size_t n = b->len - ws;
            size_t open_len = strlen(o->think_open);
            if (n == 0 && !final) return 0;
            if (n >= open_len && memcmp(rest, o->think_open, open_len) == 0) {
                buf_consume(b, ws + open_len);
                o->think = THINK_OPEN_SPACE;
                continue;
            }
            if (n > 0 && n < open_len && memcmp(rest, o->think_open, n) == 0 && !final) return 0;
            o->think = THINK_PASS; /* leading whitespace stays content */
            continue;
        }
        case THINK_OPEN_SPACE:
        case THINK_CLOSE_SPACE: {
            size_t ws = skip_space(b->data, b->len);
            buf_consume(b, ws);
            if (b->len == 0) return 0;
            o->think = o->think == THINK_OPEN_SPACE ? THINK_IN : THINK_PASS;
            continue;
        }
        case THINK_IN: {
            const char *end =
                b->len ? memmem(b->data, b->len, o->think_close, strlen(o->think_close)) : NULL;
            if (end) {
                size_t n = (size_t)(end - b->data);
                if (ol_buf_append(thinking, b->data, trim_space_end(b->data, n)) < 0)
                    return OL_ENOMEM;
                buf_consume(b, n + strlen(o->think_close));
                o->think = THINK_CLOSE_SPACE;
                continue;
            }
            if (final) {
                if (ol_buf_append(thinking, b->data, trim_space_end(b->data, b->len)) < 0)
                    return OL_ENOMEM;
                buf_clear(b);
                return 0;
            }
            /* Hold a possible start of the close tag and the whitespace before it: whitespace
             * right before the close tag is dropped. */
            size_t keep = tag_partial_suffix(b->data, b->len, o->think_close);
            size_t emit = trim_space_end(b->data, b->len - keep);
            return buf_move(thinking, b, emit);
        }
        }
        OL_ASSERT(0);
    }
}

/* ---- tool stage: finding a call in tool_hold ---- */

/* True when the end of s[0..len) could be the start of a longer tool name. */
static bool ends_in_name_prefix(const struct outp *o, const char *s, size_t len) {
    size_t max = OL_MIN(len, o->max_name_len);
    for (size_t n = 1; n <= max; n++) {
        const char *tail = s + len - n;
        for (int i = 0; i < o->n_names; i++) {
            size_t name_len = strlen(o->names[i]);
            if (n < name_len && memcmp(o->names[i], tail, n) == 0) return true;
        }
    }
    return false;
}

/* Earliest tool name in s[0..len) (the longest one on a tie); its index or -1, and where its
 * match ends in *end. */
static int find_name(const struct outp *o, const char *s, size_t len, size_t *end) {
    int best = -1;
    size_t best_at = 0;
    size_t best_len = 0;
    for (int i = 0; i < o->n_names; i++) {
        size_t name_len = strlen(o->names[i]);
        if (name_len == 0 || name_len > len) continue;
        const char *p = memmem(s, len, o->names[i], name_len);
        if (!p) continue;
        size_t at = (size_t)(p - s);
        if (best < 0 || at < best_at || (at == best_at && name_len > best_len)) {
            best = i;
            best_at = at;
            best_len = name_len;
        }
    }
    if (best >= 0) *end = best_at + best_len;
    return best;
}

/* Finds the next balanced {...} in s[from..len), counting braces outside JSON strings only.
 * Returns 1 with [*start, *end), 0 when there is no '{', -1 when one is still open. */
static int find_object(const char *s, size_t len, size_t from, size_t *start, size_t *end) {
    int depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (size_t i = from; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"' && depth > 0) {
            in_string = true;
        } else if (c == '{') {
            if (depth == 0) *start = i;
            depth++;
        } else if (c == '}' && depth > 0) {
            if (--depth == 0) {
                *end = i + 1;
                return 1;
            }
        }
    }
    return depth > 0 ? -1 : 0;
}

/* An arguments value as a new reference to an object: the object itself, or a string holding
 * a JSON object. NULL otherwise. */
static json_t *args_object(json_t *v) {
    if (json_is_object(v)) return json_incref(v);
    if (!json_is_string(v)) return NULL;
    json_t *parsed = json_loadb(json_string_value(v), json_string_length(v), 0, NULL);
    if (json_is_object(parsed)) return parsed;
    json_decref(parsed);
    return NULL;
}

/* Depth-first search of `v` for a call: an object with "name" and "arguments"/"parameters",
 * or an object keyed by the tool name. Returns 1 with a new reference in *args (and the
 * object's own "name" in *name when it has one), 0 when not here, -1 when an object with
 * "name" has no usable arguments (then the call is not recognised). */
static int find_args(json_t *v, const char *tool, json_t **args, const char **name, int depth) {
    if (depth > 64) return 0; /* the parser allows deeper nesting; calls are never that deep */
    if (json_is_object(v)) {
        json_t *n = json_object_get(v, "name");
        if (n) {
            *args = args_object(json_object_get(v, "arguments"));
            if (!*args) *args = args_object(json_object_get(v, "parameters"));
            if (!*args) return -1;
            *name = json_string_value(n);
            return 1;
        }
        json_t *keyed = json_object_get(v, tool);
        if (keyed && (*args = args_object(keyed)) != NULL) return 1;
        const char *key;
        json_t *child;
        json_object_foreach(v, key, child) {
            int rc = find_args(child, tool, args, name, depth + 1);
            if (rc) return rc;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) {
            int rc = find_args(child, tool, args, name, depth + 1);
            if (rc) return rc;
        }
    }
    return 0;
}

static int name_index(const struct outp *o, const char *name) {
    for (int i = 0; name && i < o->n_names; i++)
        if (strcmp(o->names[i], name) == 0) return i;
    return -1;
}

/* Appends {"id","function":{"index","name","arguments"}} to calls; steals `args` (also on
 * failure; jansson's *_set_new steal their value even when they fail). */
static int call_append(struct outp *o, json_t *calls, const char *name, json_t *args) {
    char id[14];
    call_id(o, id);
    json_t *fn = json_object();
    if (!fn || json_object_set_new(fn, "index", json_integer(o->n_calls)) < 0 ||
        json_object_set_new(fn, "name", json_string(name)) < 0) {
        json_decref(args);
        json_decref(fn);
        return OL_ENOMEM;
    }
    if (json_object_set_new(fn, "arguments", args) < 0) goto out_fn;
    json_t *call = json_object();
    if (!call || json_object_set_new(call, "id", json_string(id)) < 0) {
        json_decref(call);
        goto out_fn;
    }
    if (json_object_set_new(call, "function", fn) < 0) {
        json_decref(call);
        return OL_ENOMEM;
    }
    if (json_array_append_new(calls, call) < 0) return OL_ENOMEM;
    o->n_calls++;
    return 0;

out_fn:
    json_decref(fn);
    return OL_ENOMEM;
}

/* Tries to take one call off the front of tool_hold. Returns a call_result or OL_ENOMEM. */
static int call_take(struct outp *o, json_t *calls, bool final) {
    struct ol_buf *b = &o->tool_hold;
    if (b->len == 0) return CALL_NONE;
    if (!final && ends_in_name_prefix(o, b->data, b->len)) return CALL_WAIT;
    size_t name_end;
    int tool = find_name(o, b->data, b->len, &name_end);
    if (tool < 0) return CALL_NONE;

    size_t from = 0;
    for (;;) {
        size_t start = 0;
        size_t end = 0;
        int found = find_object(b->data, b->len, from, &start, &end);
        if (found == 0) return CALL_NONE;
        if (found < 0) return final ? CALL_NONE : CALL_WAIT;
        json_t *obj = json_loadb(b->data + start, end - start, 0, NULL);
        if (!obj) { /* not JSON after all: look at the next one */
            from = end;
            continue;
        }
        json_t *args = NULL;
        const char *own_name = NULL;
        int rc = find_args(obj, o->names[tool], &args, &own_name, 0);
        if (rc <= 0) {
            json_decref(obj);
            return CALL_NONE;
        }
        /* The object's own "name" wins when it is a known tool: the text match may have hit
         * a name inside a tag or earlier prose. */
        int own = name_index(o, own_name);
        rc = call_append(o, calls, o->names[own >= 0 ? own : tool], args);
        json_decref(obj);
        if (rc < 0) return rc;
        buf_consume(b, OL_MAX(end, name_end));
        return CALL_FOUND;
    }
}

/* For "{"/"[" tags: the first bracket group of tool_hold is complete (it was not a call). */
static bool brace_group_closed(const struct outp *o) {
    const struct ol_buf *b = &o->tool_hold;
    char open = o->tag[0];
    char close = open == '{' ? '}' : ']';
    int depth = 0;
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] == open) {
            depth++;
        } else if (b->data[i] == close && depth > 0) {
            if (--depth == 0) return true;
        }
    }
    return false;
}

/* Emits what is left after the calls, without whitespace, the tag's own wrapping and the
 * brackets closing a list of calls. */
static int tool_leftover(struct outp *o, struct ol_buf *content) {
    struct ol_buf *b = &o->tool_hold;
    if (o->n_calls == 0) {
        if (o->tag_dropped && ol_buf_puts(content, o->tag) < 0) return OL_ENOMEM;
        return buf_move(content, b, b->len);
    }
    if (b->len == 0) return 0;
    const char *s = b->data;
    size_t len = b->len;
    const char *wrap[2] = {o->tag_is_brace ? NULL : o->tag, o->tag_close};
    for (bool changed = true; changed && len > 0;) {
        changed = false;
        size_t ws = skip_space(s, len);
        s += ws;
        len = trim_space_end(s, len - ws);
        while (len > 0 && (*s == ']' || *s == ',' || *s == '}')) { /* rest of a call list */
            s++;
            len--;
            changed = true;
        }
        for (int i = 0; i < 2; i++) {
            if (!wrap[i] || !wrap[i][0]) continue;
            size_t n = strlen(wrap[i]);
            if (has_prefix(s, len, wrap[i])) {
                s += n;
                len -= n;
                changed = true;
            } else if (has_suffix(s, len, wrap[i])) {
                len -= n;
                changed = true;
            }
        }
    }
    if (len && ol_buf_append(content, s, len) < 0) return OL_ENOMEM;
    buf_clear(b);
    return 0;
}

/* Runs the tool state machine over tool_hold. Returns calls appended or OL_ENOMEM. */
static int tool_run(struct outp *o, struct ol_buf *content, json_t *calls, bool final) {
    struct ol_buf *b = &o->tool_hold;
    if (o->tool == TOOL_PASS) return buf_move(content, b, b->len);

    if (o->tool == TOOL_LOOK && o->tag_is_brace) {
        size_t ws = skip_space(b->data, b->len);
        if (ws == b->len) return final ? buf_move(content, b, b->len) : 0;
        if (b->data[ws] != o->tag[0]) {
            o->tool = TOOL_PASS;
            return buf_move(content, b, b->len);
        }
        o->tool = TOOL_PARSE; /* the leading whitespace goes with the calls */
    } else if (o->tool == TOOL_LOOK) {
        size_t tag_len = strlen(o->tag);
        const char *at = b->len ? memmem(b->data, b->len, o->tag, tag_len) : NULL;
        if (!at) {
            size_t keep = final ? 0 : tag_partial_suffix(b->data, b->len, o->tag);
            return buf_move(content, b, b->len - keep);
        }
        int rc = buf_move(content, b, (size_t)(at - b->data));
        if (rc < 0) return rc;
        buf_consume(b, tag_len); /* so a tool named like part of the tag cannot match it */
        o->tag_dropped = true;
        o->tool = TOOL_PARSE;
    }

    int n_found = 0;
    int r;
    while ((r = call_take(o, calls, final)) == CALL_FOUND)
        n_found++;
    if (r < 0) return r;
    if (final) {
        r = tool_leftover(o, content);
        return r < 0 ? r : n_found;
    }
    if (r == CALL_NONE && o->tag_is_brace && brace_group_closed(o)) {
        /* A complete {...} that is no call: ordinary text, and no more tool parsing. */
        o->tool = TOOL_PASS;
        r = buf_move(content, b, b->len);
        if (r < 0) return r;
    }
    return n_found;
}

/* ---- public ---- */

static char *dup_or_null(const char *s, bool *oom) {
    if (!s || !s[0]) return NULL;
    char *d = ol_strdup(s);
    if (!d) *oom = true;
    return d;
}

/* The closing counterpart of a tool tag: "</x>" for "<x>", "]" for a tag ending in '['. */
static char *tag_close_of(const char *tag, bool *oom) {
    size_t len = strlen(tag);
    if (len >= 3 && tag[0] == '<' && tag[1] != '/' && tag[len - 1] == '>') {
        char *c = malloc(len + 2);
        if (!c) {
            *oom = true;
            return NULL;
        }
        c[0] = '<';
        c[1] = '/';
        memcpy(c + 2, tag + 1, len); /* includes the NUL */
        return c;
    }
    if (len >= 2 && tag[len - 1] == '[') return dup_or_null("]", oom);
    return NULL;
}

struct outp *outp_new(const struct outp_params *p, struct ol_err *err) {
    if (!p || p->n_tools < 0 || (p->n_tools > 0 && !p->tool_names)) {
        ol_err_set(err, OL_EINVAL, "outp_new: bad parameters");
        return NULL;
    }
    for (int i = 0; i < p->n_tools; i++) {
        if (!p->tool_names[i] || !ol_utf8_is_valid(p->tool_names[i], strlen(p->tool_names[i]))) {
            ol_err_set(err, OL_EINVAL, "outp_new: tool name %d is NULL or not UTF-8", i);
            return NULL;
        }
    }
    struct outp *o = calloc(1, sizeof(*o));
    if (!o) goto out_oom;
    bool oom = false;

    bool tags = p->think_open && p->think_open[0] && p->think_close && p->think_close[0];
    if (tags && p->think_enabled) {
        o->think_open = dup_or_null(p->think_open, &oom);
        o->think_close = dup_or_null(p->think_close, &oom);
        o->think = p->prompt_ends_with_open ? THINK_OPEN_SPACE : THINK_START;
    } else {
        o->think = THINK_PASS;
    }

    int n_names = 0;
    for (int i = 0; i < p->n_tools; i++)
        n_names += p->tool_names[i][0] != 0;
    if (p->tool_tag && n_names > 0) {
        o->tag = dup_or_null(p->tool_tag[0] ? p->tool_tag : "{", &oom);
        if (o->tag) {
            o->tag_close = tag_close_of(o->tag, &oom);
            o->tag_is_brace = strcmp(o->tag, "{") == 0 || strcmp(o->tag, "[") == 0;
        }
        o->names = ol_calloc_array((size_t)n_names, sizeof(*o->names));
        if (!o->names) oom = true;
        for (int i = 0; o->names && i < p->n_tools; i++) {
            if (!p->tool_names[i][0]) continue; /* an empty name would match everywhere */
            char *n = ol_strdup(p->tool_names[i]);
            if (!n) {
                oom = true;
                break;
            }
            o->names[o->n_names++] = n;
            o->max_name_len = OL_MAX(o->max_name_len, strlen(n));
        }
        o->tool = TOOL_LOOK;
    } else {
        o->tool = TOOL_PASS;
    }
    o->rng = (uint64_t)ol_time_ns() ^ (uint64_t)(uintptr_t)o;
    if (oom) goto out_free;
    return o;

out_free:
    outp_free(o);
out_oom:
    ol_err_set(err, OL_ENOMEM, "out of memory");
    return NULL;
}

void outp_free(struct outp *o) {
    if (!o) return;
    free(o->think_open);
    free(o->think_close);
    ol_buf_free(&o->think_hold);
    free(o->tag);
    free(o->tag_close);
    for (int i = 0; i < o->n_names; i++)
        free(o->names[i]);
    free(o->names);
    ol_buf_free(&o->tool_hold);
    ol_buf_free(&o->mid);
    free(o);
}

int outp_n_calls(const struct outp *o) { return o ? o->n_calls : 0; }

static int outp_run(struct outp *o, const char *text, size_t len, struct ol_buf *content,
                    struct ol_buf *thinking, json_t *calls, bool final, struct ol_err *err) {
    if (!o || !content || !thinking || (o->tool != TOOL_PASS && !json_is_array(calls)) ||
        (len && !text))
        return ol_err_set(err, OL_EINVAL, "outp: bad arguments");
    buf_clear(&o->mid);
    if (len && ol_buf_append(&o->think_hold, text, len) < 0) goto out_oom;
    if (think_run(o, &o->mid, thinking, final) < 0) goto out_oom;
    if (o->mid.len && ol_buf_append(&o->tool_hold, o->mid.data, o->mid.len) < 0) goto out_oom;
    int n = tool_run(o, content, calls, final);
    if (n < 0) goto out_oom;
    return n;

out_oom:
    return ol_err_set(err, OL_ENOMEM, "out of memory");
}

int outp_push(struct outp *o, const char *text, size_t len, struct ol_buf *content,
              struct ol_buf *thinking, struct json_t *calls, struct ol_err *err) {
    return outp_run(o, text, len, content, thinking, calls, false, err);
}

int outp_finish(struct outp *o, struct ol_buf *content, struct ol_buf *thinking,
                struct json_t *calls, struct ol_err *err) {
    return outp_run(o, NULL, 0, content, thinking, calls, true, err);
}
