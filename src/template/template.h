/* template: Go text/template, as Ollama uses it to turn a conversation into a prompt.
 *
 * Three layers, each usable alone:
 *   1. A value tree (the template's data) built with constructors in an arena.
 *   2. A text/template engine: tmpl_parse() once, tmpl_exec() many times, from any thread.
 *      Output, truthiness, comparisons and error messages follow Go (spec: templates.md §1-2).
 *   3. Ollama on top: tmpl_render() builds .Messages/.Tools/.System... from a conversation,
 *      picks the rendering mode and truncates the history to num_ctx (templates.md §3-5);
 *      tmpl_family_*() map a GGUF's Jinja chat_template to one of our own templates (§9). */
#ifndef OL_TEMPLATE_TEMPLATE_H
#define OL_TEMPLATE_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* ---- arena: everything built for one request, freed at once ---- */

struct tmpl_arena;
/* A new, empty arena; NULL when out of memory. */
struct tmpl_arena *tmpl_arena_new(void);
/* Frees the arena and every value built in it. Accepts NULL. */
void tmpl_arena_free(struct tmpl_arena *a);

/* ---- values: the data a template sees ----
 * The kinds mirror what Go code hands to text/template: NIL is a nil interface, LIST a slice,
 * MAP a map[string]any (ranged in sorted key order; a missing key reads as nil), STRUCT a Go
 * struct (a missing field is an execution error "can't evaluate field X in type T").
 * Values live in an arena and are immutable once a template executes on them; a tree may be
 * shared by several concurrent tmpl_exec() calls. Constructors return NULL when out of memory;
 * adders accept a NULL item and then return OL_ENOMEM, so a builder can check once at the end
 * (tmpl_arena_failed()). Strings are copied (any bytes, need not be NUL-free or UTF-8). */

enum tmpl_kind {
    TMPL_NIL,
    TMPL_BOOL,
    TMPL_INT,   /* Go int (64-bit) */
    TMPL_FLOAT, /* Go float64 */
    TMPL_STRING,
    TMPL_LIST,
    TMPL_MAP,
    TMPL_STRUCT,
};

struct tmpl_value;

struct tmpl_value *tmpl_value_nil(struct tmpl_arena *a);
struct tmpl_value *tmpl_value_bool(struct tmpl_arena *a, bool b);
struct tmpl_value *tmpl_value_int(struct tmpl_arena *a, int64_t i);
struct tmpl_value *tmpl_value_float(struct tmpl_arena *a, double f);
/* A copy of the NUL-terminated s; NULL reads as "". */
struct tmpl_value *tmpl_value_str(struct tmpl_arena *a, const char *s);
struct tmpl_value *tmpl_value_strn(struct tmpl_arena *a, const char *s, size_t len);
struct tmpl_value *tmpl_value_list(struct tmpl_arena *a);
struct tmpl_value *tmpl_value_map(struct tmpl_arena *a);
/* An empty struct of Go type `go_type` (e.g. "api.ToolCall", or "*api.Message" for a pointer),
 * used in error messages; fields are added in declaration order with tmpl_struct_add(). */
struct tmpl_value *tmpl_value_struct(struct tmpl_arena *a, const char *go_type);

/* Appends item to a LIST. OL_EINVAL when list is not a list, OL_ENOMEM when item is NULL. */
int tmpl_list_append(struct tmpl_value *list, struct tmpl_value *item);
/* Sets key (key_len bytes) in a MAP, replacing an existing entry (as decoding JSON does). */
int tmpl_map_set(struct tmpl_value *map, const char *key, size_t key_len, struct tmpl_value *v);
/* Adds a field to a STRUCT. is_any: the Go field has type `any` (only visible in error
 * messages and nil handling); otherwise its type is the value's own. */
int tmpl_struct_add(struct tmpl_value *st, const char *field, struct tmpl_value *v, bool is_any);

/* Go details that only show in printing, JSON and error messages (all optional). */
enum tmpl_value_flags {
    TMPL_VF_TYPED_ELEMS = 1, /* LIST/MAP elements have a concrete Go type rather than `any` */
    TMPL_VF_NIL = 2,         /* a nil slice or map: prints as [] / map[], JSON null, eq nil */
};
/* Names v's Go type (e.g. "[]string", "api.ToolCallFunctionArguments") and sets flags. */
int tmpl_value_set_type(struct tmpl_value *v, const char *go_type, unsigned flags);
/* v prints as this text wherever Go would call its String() method (a fmt.Stringer). */
int tmpl_value_set_text(struct tmpl_value *v, const char *text, size_t len);
/* The `json` template function emits this text for v (a json.Marshaler); it must be compact
 * JSON with <, > and & escaped as Go does. */
int tmpl_value_set_json(struct tmpl_value *v, const char *json, size_t len);
/* true when some constructor or adder of this arena ran out of memory. */
bool tmpl_arena_failed(const struct tmpl_arena *a);

/* Readers, for code that converts or inspects trees. */
enum tmpl_kind tmpl_value_kind(const struct tmpl_value *v); /* NULL reads as TMPL_NIL */
bool tmpl_value_as_bool(const struct tmpl_value *v);
int64_t tmpl_value_as_int(const struct tmpl_value *v);
double tmpl_value_as_float(const struct tmpl_value *v);
/* String bytes (not NUL-terminated in general) and length; "" for non-strings. */
const char *tmpl_value_as_str(const struct tmpl_value *v, size_t *len);
/* Number of items, entries or fields; 0 for scalars. */
size_t tmpl_value_len(const struct tmpl_value *v);
/* Item i of a LIST, value i of a MAP (insertion order) or STRUCT; NULL when out of range. */
const struct tmpl_value *tmpl_value_at(const struct tmpl_value *v, size_t i);
/* Key i of a MAP or field name i of a STRUCT (NUL-terminated); NULL when out of range. */
const char *tmpl_value_key_at(const struct tmpl_value *v, size_t i);
/* The value under key in a MAP or STRUCT, NULL when absent. */
const struct tmpl_value *tmpl_value_get(const struct tmpl_value *v, const char *key);

/* ---- the text/template engine ---- */

struct tmpl; /* a parsed template set; immutable, safe to share between threads */

enum tmpl_parse_flags {
    /* Ollama's template.Parse: when the template references neither .Messages nor .Response,
     * append an implicit {{ .Response }}; reject {{ template "x" }} without a pipeline. */
    TMPL_PARSE_OLLAMA = 1,
};

/* Parses text[0..len) (any bytes). The functions available are Go's builtins plus Ollama's
 * json, currentDate, yesterdayDate and toTypeScriptType. Returns NULL and fills err on failure:
 * OL_EINVAL with Go's message ("template: :1: unexpected \"}\" in operand"), OL_ENOMEM.
 * Nesting deeper than 1000 levels is rejected ("max expression depth exceeded"). */
struct tmpl *tmpl_parse(const char *text, size_t len, unsigned flags, struct ol_err *err);
void tmpl_free(struct tmpl *t); /* accepts NULL */
/* The source text given to tmpl_parse (NUL-terminated copy). */
const char *tmpl_source(const struct tmpl *t);

struct tmpl_exec_params {
    size_t max_output;  /* bytes appended to `out` at most; default 64 MiB */
    uint64_t max_steps; /* nodes evaluated at most (nested ranges can explode); default 1e8 */
};
struct tmpl_exec_params tmpl_exec_default_params(void);

/* Executes t with `data` as dot (NULL data is Go's nil) and appends the output to out (the
 * partial output stays there on error, as with Go). p may be NULL for the defaults. Like
 * Ollama's templates, execution uses Option("missingkey=zero"): a missing map key is nil.
 * Errors: OL_EINTERNAL with Go's message ("template: :1:3: executing \"\" at <.X>: ...") for
 * execution errors (Ollama answers those with 500), OL_EINVAL when a limit is hit, OL_ENOMEM.
 * Thread-safe for a shared t and data. */
int tmpl_exec(const struct tmpl *t, const struct tmpl_value *data, const struct tmpl_exec_params *p,
              struct ol_buf *out, struct ol_err *err);

/* Ollama's Template.Vars check: true when a field or variable named `name` (case-insensitive)
 * appears anywhere in the template (".Tools", "$.Tools" and "$tools" all count for "tools").
 * Used for the rendering mode and capabilities (templates.md §4, §8). */
bool tmpl_references(const struct tmpl *t, const char *name);
/* Thinking tags inferred from the template (templates.md §6), appended to open and close.
 * Returns 1 when both are non-empty, 0 when not, OL_ENOMEM. */
int tmpl_thinking_tags(const struct tmpl *t, struct ol_buf *open, struct ol_buf *close);
/* The tool-call tag inferred from the template (templates.md §7; "{" when none), appended to
 * tag. Returns 0 or OL_ENOMEM. */
int tmpl_tool_call_tag(const struct tmpl *t, struct ol_buf *tag);

/* ---- Ollama's prompt rendering (templates.md §3-5) ---- */

struct tmpl_tool_call {
    const char *id;                     /* may be NULL */
    int index;                          /* Function.Index */
    const char *name;                   /* Function.Name */
    const struct tmpl_value *arguments; /* a MAP (from the request JSON) or NULL */
};

struct tmpl_message {
    const char *role; /* "system", "user", "assistant", "tool"; NULL reads as "" */
    const char *content;
    const char *thinking; /* may be NULL */
    int n_images;         /* images attached to this message (their bytes stay with the caller) */
    const struct tmpl_tool_call *tool_calls;
    int n_tool_calls;
    const char *tool_name;    /* may be NULL */
    const char *tool_call_id; /* may be NULL */
};

/* Returns the number of tokens in text[0..len), or a negative OL_E... code (passed up). */
typedef int (*tmpl_count_tokens_fn)(void *ctx, const char *text, size_t len);

struct tmpl_render_params {
    /* The model's SYSTEM: put in front as a system message when the first message is not a
     * system message (api.md §4.2 step 5). NULL or "" = none. */
    const char *system;
    const struct tmpl_message *messages; /* [n_messages], borrowed */
    int n_messages;
    /* Request tools: a LIST of tool objects as parsed from JSON (MAPs with "type", "function":
     * {"name", "description", "parameters": {...}}); NULL or empty = no tools. */
    const struct tmpl_value *tools;
    bool think;              /* .Think */
    const char *think_level; /* .ThinkLevel; NULL reads as "" */
    bool is_think_set;       /* .IsThinkSet */
    /* Fill-in-the-middle: when both are non-empty, the template gets only .Prompt/.Suffix. */
    const char *prompt;
    const char *suffix;
    /* Truncation (templates.md §5): drop the oldest messages (keeping system messages and the
     * last message) until the rendered prompt's token count, plus image_tokens per image in
     * the kept messages, is <= num_ctx. Needs count_tokens. */
    bool truncate;
    int num_ctx;
    int image_tokens; /* 768 for a model with a projector, else 0 */
    tmpl_count_tokens_fn count_tokens;
    void *count_ctx;
    /* Tag images in the content: "[img]" placeholders become "[img-N]", other images get
     * "[img-N]" prepended (false for models with a built-in renderer). */
    bool image_tags;
    struct tmpl_exec_params exec;
};
struct tmpl_render_params tmpl_render_default_params(void);

struct tmpl_render_info {
    int first_message; /* index (in params.messages) of the first message kept by truncation */
    int n_images;      /* images in the kept messages, numbered [img-0].. in message order */
};

/* Renders the prompt for t (parsed with TMPL_PARSE_OLLAMA) as Ollama's chatPrompt does:
 * suffix mode, messages mode when the template references .Messages, else legacy mode (one
 * execution per turn, the last one cut at .Response). Appends to out; fills info when not
 * NULL. Errors from tmpl_exec() or count_tokens are passed up. Thread-safe for a shared t. */
int tmpl_render(const struct tmpl *t, const struct tmpl_render_params *p, struct ol_buf *out,
                struct tmpl_render_info *info, struct ol_err *err);

/* ---- library templates and chat_template detection (templates.md §9) ---- */

struct tmpl_family {
    const char *name;        /* Ollama's library name, e.g. "chatml", "llama3-instruct" */
    const char *template;    /* our Go template text for it */
    const char *const *stop; /* [n_stop] default stop strings (Ollama's params layer) */
    int n_stop;
};

/* The family whose prompt format the Jinja chat_template (a GGUF's tokenizer.chat_template)
 * follows, or NULL when none is recognised (the model then gets no template, i.e. Ollama's
 * default {{ .Prompt }}). Recognition is by each format's distinctive markers; Ollama instead
 * takes the nearest of its known Jinja texts by edit distance. */
const struct tmpl_family *tmpl_family_detect(const char *jinja, size_t len);
/* The family named `name`, NULL when unknown. */
const struct tmpl_family *tmpl_family_find(const char *name);
/* All families: i in [0, tmpl_family_count()). */
int tmpl_family_count(void);
const struct tmpl_family *tmpl_family_at(int i);

#endif
