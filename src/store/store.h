/* store: model names, the on-disk model store (manifests + content-addressed blobs), model
 * creation from GGUF blobs or another model, and the texts `show` prints.
 *
 * Layout (spec: store-and-registry.md §2): <root>/manifests/<host>/<ns>/<model>/<tag> holds a
 * manifest JSON; <root>/blobs/sha256-<hex> holds content. A model exists iff its manifest file
 * exists; manifests are always written last and atomically, so a killed process leaves at worst
 * unreferenced blobs or temp files (removed by the startup prune), never a broken model.
 *
 * Threads: a struct store may be used from several threads; operations that change manifests
 * or delete blobs take an internal lock. Reads (get, list) need no lock: they only see whole
 * manifest files thanks to rename. */
#ifndef OL_STORE_STORE_H
#define OL_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* ---- names (spec: store-and-registry.md §1) ---- */

#define STORE_DEFAULT_HOST "registry.ollama.ai"
#define STORE_DEFAULT_NS "library"
#define STORE_DEFAULT_TAG "latest"

struct store_name {
    char scheme[8]; /* "https" (default) or "http" */
    char host[352]; /* 1..350 chars */
    char ns[81];    /* 1..80 */
    char model[81]; /* 1..80 */
    char tag[81];   /* 1..80 */
};

/* Parses `s` right to left (§1.1), fills defaults for absent parts and checks every part
 * (§1.2). Returns 0, or OL_EINVAL (no message) when the name is invalid; *out is then
 * unspecified. A trailing "@digest" is ignored. `s` may be NULL (invalid). */
int store_name_parse(const char *s, struct store_name *out);
/* true when every part of n satisfies §1.2. */
bool store_name_is_valid(const struct store_name *n);
/* "host/ns/model:tag" (scheme not included). Truncates to cap like snprintf. */
void store_name_full(const struct store_name *n, char *buf, size_t cap);
/* Shortest display form (§1.3): "model:tag", "ns/model:tag" or "host/ns/model:tag". */
void store_name_short(const struct store_name *n, char *buf, size_t cap);
/* true when both names are the same model (parts compared case-insensitively, §1.4). */
bool store_name_equal(const struct store_name *a, const struct store_name *b);

/* ---- the store ---- */

struct store;

/* Opens (creating with mode 0755 when missing) the store at `root`; root NULL means
 * $OLLAMA_MODELS, else $HOME/.ollama/models. Renames legacy "sha256:<hex>" blob files to the
 * dash form. Does not prune (call store_prune at server startup). Returns NULL and fills err
 * (OL_EIO, OL_ENOMEM) on failure. Free with store_close. */
struct store *store_open(const char *root, struct ol_err *err);
void store_close(struct store *s);
/* Absolute path of the root (borrowed from s). */
const char *store_root(const struct store *s);

/* Replaces each part of n with the spelling already on disk when one matches it
 * case-insensitively (§1.4); parts with no match are left as typed. Never fails. */
void store_name_resolve(const struct store *s, struct store_name *n);

struct store_layer {
    char media_type[96];
    char digest[72]; /* "sha256:<64 hex>" */
    uint64_t size;
    char *from; /* owned, NULL when absent */
    char *name; /* owned, NULL when absent */
};

#define STORE_MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define STORE_MT_CONFIG "application/vnd.docker.container.image.v1+json"
#define STORE_MT_PREFIX "application/vnd.ollama.image."
#define STORE_MT_MODEL "application/vnd.ollama.image.model"
#define STORE_MT_ADAPTER "application/vnd.ollama.image.adapter"
#define STORE_MT_PROJECTOR "application/vnd.ollama.image.projector"
#define STORE_MT_TEMPLATE "application/vnd.ollama.image.template"
#define STORE_MT_PROMPT "application/vnd.ollama.image.prompt"
#define STORE_MT_SYSTEM "application/vnd.ollama.image.system"
#define STORE_MT_PARAMS "application/vnd.ollama.image.params"
#define STORE_MT_MESSAGES "application/vnd.ollama.image.messages"
#define STORE_MT_LICENSE "application/vnd.ollama.image.license"

struct store_model {
    struct store_name name; /* as stored on disk (case-insensitive lookup, §1.4) */
    char digest[65];        /* hex sha256 of the manifest bytes = model ID */
    int64_t modified_ns;    /* manifest mtime, ns since the epoch */
    uint64_t size;          /* sum of layer sizes + config size */
    struct store_layer config;
    struct store_layer *layers; /* [n_layers] in manifest order */
    int n_layers;
    char *model_path;    /* absolute path of the model layer's blob, NULL if none */
    char *parent_model;  /* `from` of the model layer or NULL */
    char *template_text; /* NULL when the layer is absent ("prompt" legacy = template) */
    char *system_text;
    char *params_json;   /* raw params layer JSON object text, or NULL */
    char *messages_json; /* raw messages layer JSON array text, or NULL */
    char **licenses;     /* [n_licenses] texts in manifest order */
    int n_licenses;
    char **adapter_paths; /* [n_adapters] absolute blob paths */
    int n_adapters;
    char **projector_paths; /* [n_projectors] absolute blob paths */
    int n_projectors;
    /* from the config blob; "" when absent */
    char *format, *family, *parameter_size, *quantization_level;
    char **families; /* [n_families]; families_null when the blob says null or lacks it */
    int n_families;
    bool families_null;
};

/* Reads the manifest named `name` (case-insensitive per part), the config blob and the text
 * layers (template, system, params, messages, licenses) into *out (zeroed first; free with
 * store_model_clear, also after failure). Errors: OL_EINVAL "invalid model name";
 * OL_ENOTFOUND "model '<name>' not found" (name as given); OL_EFORMAT corrupt manifest or
 * a referenced text blob missing; OL_EIO. */
int store_model_get(struct store *s, const char *name, struct store_model *out, struct ol_err *err);
void store_model_clear(struct store_model *m);
/* All installed models, newest manifest first; manifests that are invalid (bad path, corrupt
 * JSON, unreadable config) are skipped with a warning. *out is owned (free with
 * store_model_list_free); *n may be 0 (then *out is NULL). Errors: OL_ENOMEM, OL_EIO. */
int store_model_list(struct store *s, struct store_model **out, int *n, struct ol_err *err);
void store_model_list_free(struct store_model *list, int n);
/* Removes the manifest of `name`, prunes empty manifest folders, then deletes its blobs that no
 * other manifest references (unless OLLAMA_NOPRUNE). Errors (spec: api.md §5.6):
 * OL_EINVAL `name "x" is invalid`; OL_ENOTFOUND `model 'x' not found`; OL_EIO. */
int store_model_delete(struct store *s, const char *name, struct ol_err *err);
/* Copies the manifest bytes of src to dst (blobs are shared; an existing dst is overwritten,
 * the same model is a no-op). Errors (api.md §5.5): OL_EINVAL `source "x" is invalid` /
 * `destination "x" is invalid`; OL_ENOTFOUND `model "x" not found`; OL_EIO. */
int store_model_copy(struct store *s, const char *src, const char *dst, struct ol_err *err);
/* Startup prune (§5): unless OLLAMA_NOPRUNE, and only when every manifest parses, deletes every
 * file in blobs/ not referenced by a manifest (including temp and -partial files), then removes
 * empty manifest folders. Returns the number of files deleted (>= 0) or a negative code. A
 * corrupt manifest is not an error: pruning is skipped with a warning and 0 returned. */
int store_prune(struct store *s, struct ol_err *err);

/* ---- blobs ---- */

/* true for ^sha256[:-][0-9a-fA-F]{64}$ (NULL is invalid). */
bool store_digest_is_valid(const char *digest);
/* <root>/blobs/sha256-<hex lower-cased>. Returns the full length (like snprintf), or OL_EINVAL
 * "invalid digest format" (no err: the server words it) when the digest is invalid. */
int store_blob_path(const struct store *s, const char *digest, char *buf, size_t cap);
/* true when the blob file exists (invalid digest: false). */
bool store_blob_exists(const struct store *s, const char *digest);

/* Streams an upload to a temp file in blobs/ while hashing. One thread at a time. */
struct store_blob_writer;
/* Creates the temp file. NULL and err (OL_EIO, OL_ENOMEM) on failure. s is kept. */
struct store_blob_writer *store_blob_writer_new(struct store *s, struct ol_err *err);
/* Appends n bytes. On failure the writer stays valid and must still be aborted. */
int store_blob_writer_write(struct store_blob_writer *w, const void *p, size_t n,
                            struct ol_err *err);
/* fsync + rename to the content address; expected NULL = any (else a valid digest, either
 * separator); mismatch -> OL_EINVAL `digest mismatch, expected "sha256:A", got "sha256:B"` and
 * nothing kept. Writes "sha256:<hex>" to digest_out (may be NULL). Frees w in every case. */
int store_blob_writer_commit(struct store_blob_writer *w, const char *expected, char digest_out[72],
                             struct ol_err *err);
/* Deletes the temp file and frees w (NULL ok). */
void store_blob_writer_abort(struct store_blob_writer *w);
/* Stores data[0..len) as a blob and writes its "sha256:<hex>" digest (used for text layers).
 * Returns 0 when the blob was created, 1 when it already existed (its mtime is then bumped). */
int store_blob_put(struct store *s, const void *data, size_t len, char digest_out[72],
                   struct ol_err *err);

/* ---- options (spec: api.md §2, modelfile.md §4) ---- */

enum store_opt_type { STORE_OPT_INT, STORE_OPT_FLOAT, STORE_OPT_BOOL, STORE_OPT_STRINGS };
struct store_option {
    const char *name;
    enum store_opt_type type;
    bool deprecated; /* accepted and ignored (api.md §2.3) */
};
/* The option called `name` (case-sensitive), or NULL when unknown. */
const struct store_option *store_option_find(const char *name);
/* The whole table (for iteration); *n receives its length. */
const struct store_option *store_option_table(int *n);

/* ---- create (spec: api.md §5.3) ---- */

/* The server validates the template text and detects the family template before calling
 * (store must not depend on the template module); everything else is here. */
struct store_create_req {
    const char *model;             /* new name */
    const char *from;              /* base model name, or NULL */
    const char *const *file_names; /* [n_files] relative names -> digests */
    const char *const *file_digests;
    int n_files;
    const char *const *adapter_names; /* [n_adapters] */
    const char *const *adapter_digests;
    int n_adapters;
    const char *template_text, *system_text; /* NULL or "" = keep the base's */
    const char *const *licenses;             /* [n_licenses] appended as license layers */
    int n_licenses;
    const char *params_json; /* object merged over the base's params (request wins), NULL = keep */
    const char *messages_json; /* array replacing the base's, NULL = keep */
    const char *quantize;      /* NULL/"" = none; else an error (quantization: later issue) */
    /* Called (when not NULL) with the model GGUF's tokenizer.chat_template when the model comes
     * from GGUF files (as Ollama, even when a template is given: the request's template then
     * replaces the detected one but the detected stop params stay). Returns the family template
     * text (NULL = no match), and sets *params_json (JSON object, may be NULL) and *family_name.
     * The returned strings are borrowed until the callback is called again or create returns. */
    const char *(*detect_template)(void *user, const char *chat_template, const char **params_json,
                                   const char **family_name);
    void *detect_user;
};
/* Progress: "parsing GGUF", "using existing layer sha256:..", "creating new layer sha256:..",
 * "using autodetected template chatml", "writing manifest", "success". */
typedef void (*store_status_fn)(void *user, const char *status);
/* Builds the layers and config blob and writes the manifest of r->model (overwriting: the old
 * manifest's now unreferenced blobs are pruned unless OLLAMA_NOPRUNE). Errors: OL_EINVAL with
 * the spec's messages (`invalid model name`, `file path must be relative`, `invalid digest
 * format`, `neither 'from' or 'files' was specified`, `only one adapter is currently
 * supported`, `supplied file was not in GGUF format`, `unknown type`, bad params/messages JSON);
 * OL_ENOTFOUND for a missing blob or base model (`pull model manifest: file does not exist`);
 * OL_EUNSUPPORTED quantize; OL_EIO. cb may be NULL; it is called from this thread. */
int store_create(struct store *s, const struct store_create_req *r, store_status_fn cb, void *user,
                 struct ol_err *err);

/* ---- registry pull and push (spec: store-and-registry.md §6-§10, api.md §5.7-§5.8) ---- */

/* Progress of a pull or push: status text, digest ("" = none), total and completed bytes
 * (0 = omit the field; completed < 0 = omit it). Returns false when the client went away:
 * the operation then stops (a shared download goes on while another pull waits on it). */
typedef bool (*store_progress_fn)(void *user, const char *status, const char *digest, int64_t total,
                                  int64_t completed);
struct store_xfer_params {
    bool insecure;        /* plain http (and http:// names allowed) */
    const char *username; /* Basic credentials for private registries and token servers */
    const char *password;
    store_progress_fn progress; /* may be NULL */
    void *user;
};
/* Pulls `name` from its registry into the store: every blob is downloaded (in parallel
 * Range parts, resumable from <blob>-partial files), verified against its digest before it
 * takes its final name, and the manifest is written last, atomically. Concurrent pulls of the
 * same blob share one download. Errors (streamed as the spec words them): OL_EINVAL `invalid
 * model name`, `insecure protocol http`, `unauthorized: access denied`, `digest mismatch, file
 * must be downloaded again: want A, got B`; OL_ENOTFOUND `pull model manifest: file does not
 * exist`; OL_EIO `pull model manifest: <code>: <body>`, `max retries exceeded: <cause>`;
 * OL_ECANCELED when progress returned false. Blocks; runs transfers on its own threads. */
int store_pull(struct store *s, const char *name, const struct store_xfer_params *p,
               struct ol_err *err);
/* Pushes the local model `name` to its registry: blobs the registry lacks are mounted from
 * their source repository (layer `from`) or uploaded in PATCH parts, then the manifest is PUT.
 * Errors: OL_ENOTFOUND `model "x" not found`; OL_EINVAL `unauthorized: access denied`; OL_EIO
 * `http status <code>: <body>`; OL_ECANCELED. */
int store_push(struct store *s, const char *name, const struct store_xfer_params *p,
               struct ol_err *err);

/* ---- texts for show ---- */

/* Appends the Modelfile that `show --modelfile` prints (modelfile.md §6) to out. A non-NULL
 * system_override replaces SYSTEM; params_override_json (object) is merged over the model's
 * params. Errors: OL_EINVAL bad override JSON, OL_ENOMEM. */
int store_modelfile_render(const struct store *s, const struct store_model *m,
                           const char *system_override, const char *params_override_json,
                           struct ol_buf *out);
/* Appends the `parameters` text of /api/show (api.md §5.2): "%-30s %s" lines in key order,
 * values as Go %#v, joined by "\n" without a trailing one. NULL/"" params: appends nothing.
 * Errors: OL_EINVAL when params_json is not an object, OL_ENOMEM. */
int store_params_render(const char *params_json, struct ol_buf *out);

#endif
