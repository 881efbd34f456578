/* Streaming output parsers of /api/chat and /api/generate for Go-template models: the thinking
 * splitter (templates.md §6) followed by tool-call extraction (templates.md §7). Generated text
 * goes in piece by piece (one token at a time is fine); what is decided comes out as content,
 * thinking and finished tool calls, and what might still be a tag stays held inside. */
#ifndef OL_SERVER_OUTPARSE_H
#define OL_SERVER_OUTPARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"

struct json_t; /* jansson's json_t; only the .c files that use it include <jansson.h> */

struct outp; /* the parse state of one response; one thread at a time */

struct outp_params {
    const char *think_open;     /* "<think>"; NULL or "" = no thinking split */
    const char *think_close;    /* "</think>"; NULL or "" = no thinking split */
    bool think_enabled;         /* the request enabled thinking (think absent counts as on) */
    bool prompt_ends_with_open; /* the rendered prompt (trimmed) ends with think_open */
    /* tmpl_tool_call_tag(); NULL = no tool parsing; "" means "{" */
    const char *tool_tag;
    const char *const *tool_names; /* [n_tools] the request's tool names */
    int n_tools;
};

/* New parser. Copies everything it needs from `p` (nothing is kept). Without tool names (or
 * tool_tag NULL) tool parsing is off; without both tags or think_enabled false, text passes
 * through the thinking stage unchanged. Returns NULL and fills `err` (OL_ENOMEM, or OL_EINVAL
 * for a NULL or non-UTF-8 name or a negative count). */
struct outp *outp_new(const struct outp_params *p, struct ol_err *err);
void outp_free(struct outp *o); /* NULL ok */

/* Feeds text[0..len) (any bytes, not NUL-terminated, may split tags and names anywhere).
 * Appends newly decided text to `content` (the response / message.content) and `thinking`,
 * and appends each completed tool call to `calls`, a jansson array owned by the caller (may be
 * NULL only when tool parsing is off), as an object
 *   {"id":"call_xxxxxxxx","function":{"index":n,"name":"f","arguments":{...}}}
 * with argument keys in model output order. Returns the number of calls appended (>= 0) or
 * OL_ENOMEM / OL_EINVAL; after an error the parser should only be freed. */
int outp_push(struct outp *o, const char *text, size_t len, struct ol_buf *content,
              struct ol_buf *thinking, struct json_t *calls, struct ol_err *err);

/* End of output: decides everything still held (a partial tag becomes text, a tool-call
 * buffer that yielded calls is parsed one last time, and text left after the calls becomes
 * content, minus the tag's own wrapping such as "</tool_call>"). Same outputs and returns as
 * outp_push; call it once, then only outp_free. */
int outp_finish(struct outp *o, struct ol_buf *content, struct ol_buf *thinking,
                struct json_t *calls, struct ol_err *err);

/* Calls found so far in this response (the next call's index). */
int outp_n_calls(const struct outp *o);

#endif
