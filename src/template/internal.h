/* Internals shared by the template module's files: the arena, the value layout, the parse
 * tree, Go's fmt and the executor's entry points. Nothing here is visible outside
 * src/template/. Names follow Go's text/template so the port can be read side by side. */
#ifndef OL_TEMPLATE_INTERNAL_H
#define OL_TEMPLATE_INTERNAL_H

#include "template/template.h"

#include <setjmp.h>

/* ---- arena (arena.c) ---- */

/* Zeroed, 16-byte aligned memory that lives until tmpl_arena_free(); NULL on failure (and
 * the arena remembers the failure). */
void *arena_alloc(struct tmpl_arena *a, size_t size);
/* Copy of s[0..len) plus a NUL. */
char *arena_strndup(struct tmpl_arena *a, const char *s, size_t len);
/* Grows *items (elements of elem_size, *cap of them) to hold need; old storage stays in the
 * arena. Returns 0 or OL_ENOMEM. */
int arena_grow(struct tmpl_arena *a, void **items, size_t *cap, size_t need, size_t elem_size);
void arena_set_failed(struct tmpl_arena *a);

/* ---- values (value.c) ---- */

struct tmpl_entry {
    const char *key; /* NUL-terminated copy */
    size_t key_len;
    struct tmpl_value *v;
    bool is_any; /* STRUCT field of Go type any */
};

struct tmpl_value {
    uint8_t kind;  /* enum tmpl_kind */
    uint8_t flags; /* enum tmpl_value_flags */
    bool has_text;
    bool has_json;
    struct tmpl_arena *arena;
    const char *go_type; /* NULL: the kind's default (value_go_type()) */
    const char *text;
    size_t text_len;
    const char *json;
    size_t json_len;
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *p;
            size_t len;
        } s;
        struct {
            struct tmpl_value **items;
            size_t n, cap;
        } list;
        struct {
            struct tmpl_entry *e; /* insertion order */
            size_t n, cap;
        } map; /* MAP and STRUCT */
    } u;
};

/* Go's name of v's type: "int", "[]interface {}", "map[string]interface {}", a struct's name. */
const char *value_go_type(const struct tmpl_value *v);
/* Entry of key in a MAP or STRUCT, NULL when absent. */
const struct tmpl_entry *value_find(const struct tmpl_value *v, const char *key, size_t len);
/* Indexes of a MAP's entries in sorted key order (bytewise, as Go sorts strings), allocated in
 * arena a; NULL when out of memory (or empty map). */
size_t *value_sorted_keys(struct tmpl_arena *a, const struct tmpl_value *m);
bool value_is_ptr_struct(const struct tmpl_value *v);
/* Element static type of a LIST/MAP is `any` (the default). */
static inline bool value_elems_any(const struct tmpl_value *v) {
    return !(v->flags & TMPL_VF_TYPED_ELEMS);
}

/* ---- output buffer with a size limit and sticky failure (fmt.c) ---- */

struct sbuf {
    struct ol_buf *b;
    size_t limit; /* b->len may not exceed this */
    int err;      /* 0, OL_ENOMEM or OL_EINVAL (limit) */
};
void sb_init(struct sbuf *sb, struct ol_buf *b, size_t limit);
void sb_put(struct sbuf *sb, const void *p, size_t len);
void sb_puts(struct sbuf *sb, const char *s);
void sb_putc(struct sbuf *sb, char c);
void sb_printf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- unicode helpers (fmt.c): Go's rules, approximated outside ASCII where Go uses its
 * full Unicode tables (letters and printable runes of rare scripts may differ) ---- */

/* Decodes one rune of s[0..len) as Go's utf8.DecodeRune: invalid → 0xFFFD with width 1. */
int32_t uc_decode(const char *s, size_t len, int *width);
void uc_encode(struct sbuf *sb, int32_t r);
bool uc_is_letter(int32_t r);
bool uc_is_digit(int32_t r);
bool uc_is_print(int32_t r);
bool uc_is_space(int32_t r); /* unicode.IsSpace */
/* strings.TrimSpace bounds: *start and *end index into s. */
void uc_trim_space(const char *s, size_t len, size_t *start, size_t *end);

/* ---- Go's fmt and encoding/json (fmt.c) ----
 * An argument is an xval: a value plus whether its static type is `any` (only used to name
 * types in messages). v == NULL is Go's invalid reflect.Value; a TMPL_NIL value a nil any. */

struct xval {
    const struct tmpl_value *v;
    bool iface;
};

/* fmt.Fprint of one operand (what {{ x }} writes for a valid x). */
void gofmt_print1(struct sbuf *sb, const struct tmpl_value *v);
/* fmt.Sprint / Sprintln of args (NULL or NIL = nil). */
void gofmt_sprint(struct sbuf *sb, const struct tmpl_value *const *args, int n, bool ln);
/* fmt.Sprintf. */
void gofmt_sprintf(struct sbuf *sb, const char *format, size_t flen,
                   const struct tmpl_value *const *args, int n);
/* fmt's %v of a value into sb (used for messages such as "range can't iterate over %v"). */
void gofmt_value_v(struct sbuf *sb, const struct tmpl_value *v);
/* strconv.Quote. */
void gofmt_quote(struct sbuf *sb, const char *s, size_t len);
/* %#U of a rune: "U+0041 'A'". */
void gofmt_rune_u(struct sbuf *sb, int32_t r);
/* json.Marshal (HTML-safe, sorted map keys); false when Go would fail (NaN/Inf). */
bool gojson_marshal(struct sbuf *sb, const struct tmpl_value *v);
/* A JSON string literal of s as encoding/json writes it. */
void gojson_string(struct sbuf *sb, const char *s, size_t len);
/* strconv.FormatFloat(f, 'g', -1, 64) as %v prints it. */
void gofmt_float_v(struct sbuf *sb, double f);

/* ---- lexer (lex.c): Go's text/template/parse lexer, one item per call ---- */

enum item_type {
    ITEM_ERROR,
    ITEM_BOOL,
    ITEM_CHAR,
    ITEM_CHAR_CONSTANT,
    ITEM_COMPLEX,
    ITEM_ASSIGN,
    ITEM_DECLARE,
    ITEM_EOF,
    ITEM_FIELD,
    ITEM_IDENTIFIER,
    ITEM_LEFT_DELIM,
    ITEM_LEFT_PAREN,
    ITEM_NUMBER,
    ITEM_PIPE,
    ITEM_RAW_STRING,
    ITEM_RIGHT_DELIM,
    ITEM_RIGHT_PAREN,
    ITEM_SPACE,
    ITEM_STRING,
    ITEM_TEXT,
    ITEM_VARIABLE,
    ITEM_KEYWORD, /* keywords follow */
    ITEM_BLOCK,
    ITEM_BREAK,
    ITEM_CONTINUE,
    ITEM_DOT,
    ITEM_DEFINE,
    ITEM_ELSE,
    ITEM_END,
    ITEM_IF,
    ITEM_NIL,
    ITEM_RANGE,
    ITEM_TEMPLATE,
    ITEM_WITH,
};

struct item {
    enum item_type type;
    int pos;         /* byte offset of the item */
    const char *val; /* into the input, or the error message */
    size_t len;
    int line; /* 1-based line where the item starts */
};

struct lexer {
    const char *input;
    size_t len;
    size_t pos, start;
    int line, start_line;
    int paren_depth;
    int width; /* of the last rune read, for backup */
    bool at_eof;
    int state;
    struct item queue[4];
    int q_head, q_n;
    char errmsg[160];
};

void lex_init(struct lexer *l, const char *input, size_t len);
/* The next item; after EOF or an error, further calls return EOF. */
struct item lex_next(struct lexer *l);
/* Go's item.String(), used in "unexpected %s" messages. */
void item_string(struct sbuf *sb, const struct item *it);
/* Go's strconv.Unquote of a "..." or `...` literal into sb; false on a syntax error. */
bool go_unquote(struct sbuf *sb, const char *s, size_t len);
/* strconv.UnquoteChar on a '...' literal: 1 and the rune, 0 on a syntax error, -1 when
 * characters follow the first one ("malformed character constant"). */
int go_unquote_char_lit(const char *s, size_t len, int32_t *r);

/* ---- parse tree (parse.c) ---- */

enum node_type {
    NODE_TEXT,
    NODE_ACTION,
    NODE_BOOL,
    NODE_CHAIN,
    NODE_COMMAND,
    NODE_DOT,
    NODE_FIELD,
    NODE_IDENTIFIER,
    NODE_IF,
    NODE_LIST,
    NODE_NIL,
    NODE_NUMBER,
    NODE_PIPE,
    NODE_RANGE,
    NODE_STRING,
    NODE_TEMPLATE,
    NODE_VARIABLE,
    NODE_WITH,
    NODE_COMMENT,
    NODE_BREAK,
    NODE_CONTINUE,
    NODE_ELSE, /* parser-internal */
    NODE_END,  /* parser-internal */
};

struct builtin; /* funcs.c */

struct node {
    uint8_t type;
    bool is_assign;   /* PIPE: declarations use = */
    int pos;          /* byte offset in the source (Go's Pos) */
    int line;         /* PIPE, ACTION, branches, TEMPLATE, BREAK, CONTINUE, ELSE */
    const char *text; /* TEXT: bytes; NUMBER: source; STRING: source (quoted); TEMPLATE: name */
    size_t text_len;
    const char **ident; /* FIELD, VARIABLE: identifiers; CHAIN: fields; IDENTIFIER: [name] */
    int n_ident;
    struct node **items; /* LIST: nodes; PIPE: commands; COMMAND: args */
    int n_items;
    int cap_items;
    struct node **decl; /* PIPE: declared variables */
    int n_decl;
    int cap_decl;
    struct node *pipe; /* ACTION, IF, RANGE, WITH, TEMPLATE; CHAIN: the term */
    struct node *list; /* IF, RANGE, WITH */
    struct node *else_list;
    const struct tmpl_value *lit; /* BOOL, STRING, NUMBER (int or float constant) */
    uint8_t num;                  /* NUMBER: enum num_kind */
    const struct builtin *fn;     /* IDENTIFIER */
};

enum num_kind {
    NUM_INT,      /* evaluates to an int */
    NUM_FLOAT,    /* evaluates to a float64 */
    NUM_OVERFLOW, /* a uint beyond int64: "%s overflows int" at execution */
};

struct tree {
    const char *name;
    size_t name_len;
    struct node *root;
};

struct tmpl {
    struct tmpl_arena *arena;
    char *src; /* NUL-terminated copy of the source */
    size_t src_len;
    struct tree *trees; /* trees[0] is the main template (named "") */
    int n_trees;
    int cap_trees;
    unsigned flags;
    struct node *cut_root; /* TMPL_PARSE_OLLAMA: main tree cut at .Response (legacy mode) */
};

/* Go's Node.String() of a parse node, appended to sb. */
void node_string(struct sbuf *sb, const struct node *n);
/* Deep copy of a subtree into arena a (for Ollama's legacy cut). */
struct node *node_copy(struct tmpl_arena *a, const struct node *n);
/* Index of the tree named name, or -1. */
int tmpl_tree_find(const struct tmpl *t, const char *name, size_t len);

/* ---- execution (exec.c, funcs.c) ---- */

struct exec_opts {
    bool missingkey_zero; /* Option("missingkey=zero"), as Ollama parses */
    bool no_custom_funcs; /* Ollama's cut template has no FuncMap (json & co fail at exec) */
};

/* Executes tree index `tree` of t. */
int exec_tree(const struct tmpl *t, int tree, const struct node *root,
              const struct tmpl_value *data, const struct tmpl_exec_params *p,
              const struct exec_opts *o, struct ol_buf *out, struct ol_err *err);

struct exec_state; /* exec.c */

enum fn_arg {
    FN_ARG_VALUE,  /* reflect.Value */
    FN_ARG_ANY,    /* any */
    FN_ARG_STRING, /* string */
};

struct builtin {
    const char *name;
    int n_fixed;    /* parameters before the variadic one */
    bool variadic;  /* a last `...` parameter */
    uint8_t arg[2]; /* enum fn_arg: [0] fixed params, [1] variadic elements */
    bool custom;    /* Ollama's FuncMap rather than a Go builtin */
    /* Returns the result or calls exec_fail; args are already converted to their types. */
    struct xval (*call)(struct exec_state *s, const struct xval *args, int n);
};

/* The function named name[0..len), NULL when undefined. */
const struct builtin *builtin_find(const char *name, size_t len);

/* For funcs.c: fail the current execution with "error calling <fn>: <msg>". */
_Noreturn void exec_fail_call(struct exec_state *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
struct tmpl_arena *exec_arena(struct exec_state *s);
struct xval exec_new_bool(struct exec_state *s, bool b);
struct xval exec_new_int(struct exec_state *s, int64_t i);
struct xval exec_new_str(struct exec_state *s, const char *p, size_t len);
/* Go's truth(): isTrue(indirectInterface(v)). */
bool value_truth(const struct tmpl_value *v);

/* ---- Ollama helpers (analyze.c) ---- */

/* After parsing with TMPL_PARSE_OLLAMA: Ollama's Vars() check, the implicit {{ .Response }}
 * and the legacy-mode cut tree. */
int tmpl_parse_ollama_fixup(struct tmpl *t, struct ol_err *err);

#endif
