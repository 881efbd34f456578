/* The option table (spec: api.md §2, modelfile.md §4): names and value types of everything a
 * PARAMETER line or a request's `options` may set. */
#include "store/store.h"

#include <string.h>

static const struct store_option options[] = {
    /* sampling (api.md §2.1) */
    {"num_keep", STORE_OPT_INT, false},
    {"seed", STORE_OPT_INT, false},
    {"num_predict", STORE_OPT_INT, false},
    {"top_k", STORE_OPT_INT, false},
    {"top_p", STORE_OPT_FLOAT, false},
    {"min_p", STORE_OPT_FLOAT, false},
    {"typical_p", STORE_OPT_FLOAT, false},
    {"repeat_last_n", STORE_OPT_INT, false},
    {"temperature", STORE_OPT_FLOAT, false},
    {"repeat_penalty", STORE_OPT_FLOAT, false},
    {"presence_penalty", STORE_OPT_FLOAT, false},
    {"frequency_penalty", STORE_OPT_FLOAT, false},
    {"stop", STORE_OPT_STRINGS, false},
    /* load time (api.md §2.2) */
    {"num_ctx", STORE_OPT_INT, false},
    {"num_batch", STORE_OPT_INT, false},
    {"num_gpu", STORE_OPT_INT, false},
    {"main_gpu", STORE_OPT_INT, false},
    {"use_mmap", STORE_OPT_BOOL, false},
    {"num_thread", STORE_OPT_INT, false},
    {"draft_num_predict", STORE_OPT_INT, false},
    /* deprecated: a PARAMETER warns and skips them (modelfile.md §4) */
    {"penalize_newline", STORE_OPT_BOOL, true},
    {"low_vram", STORE_OPT_BOOL, true},
    {"f16_kv", STORE_OPT_BOOL, true},
    {"logits_all", STORE_OPT_BOOL, true},
    {"vocab_only", STORE_OPT_BOOL, true},
    {"use_mlock", STORE_OPT_BOOL, true},
    {"mirostat", STORE_OPT_INT, true},
    {"mirostat_tau", STORE_OPT_FLOAT, true},
    {"mirostat_eta", STORE_OPT_FLOAT, true},
};

const struct store_option *store_option_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < OL_ARRAY_LEN(options); i++)
        if (strcmp(options[i].name, name) == 0) return &options[i];
    return NULL;
}

const struct store_option *store_option_table(int *n) {
    *n = (int)OL_ARRAY_LEN(options);
    return options;
}
