/* Request and model options (spec: api.md §2): defaults, coercion with Ollama's messages. */
#include "server/srv.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void srv_opts_init(struct srv_opts *o, const struct srv_config *cfg) {
    memset(o, 0, sizeof(*o));
    o->seq = eng_seq_default_params();
    o->num_ctx = cfg && cfg->context_length > 0 ? cfg->context_length : 4096;
    o->num_batch = 512;
    o->num_thread = cfg ? cfg->num_thread : 0;
}

void srv_opts_free(struct srv_opts *o) {
    for (int i = 0; i < o->n_stops; i++)
        free(o->stops[i]);
    o->n_stops = 0;
    o->seq.stop = NULL;
    o->seq.n_stop = 0;
}

static int want_int(const char *k, const json_t *v, int *out, struct ol_err *err) {
    if (!json_is_number(v))
        return ol_err_set(err, OL_EINVAL, "option \"%s\" must be of type integer", k);
    double d = json_number_value(v);
    if (!(d > -2147483648.0 && d < 2147483648.0))
        return ol_err_set(err, OL_EINVAL, "option \"%s\" must be of type integer", k);
    *out = (int)d; /* fraction truncated */
    return 0;
}

static int want_float(const char *k, const json_t *v, float *out, struct ol_err *err) {
    if (!json_is_number(v))
        return ol_err_set(err, OL_EINVAL, "option \"%s\" must be of type float32", k);
    *out = (float)json_number_value(v);
    return 0;
}

int srv_opts_apply(struct srv_opts *o, const json_t *obj, struct ol_err *err) {
    if (!obj || json_is_null(obj)) return 0;
    if (!json_is_object(obj)) return ol_err_set(err, OL_EINVAL, "options must be an object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        if (json_is_null(v)) continue;
        const struct store_option *opt = store_option_find(k);
        if (!opt || opt->deprecated) continue;
        int rc = 0;
        struct eng_sample_params *sp = &o->seq.sample;
        if (opt->type == STORE_OPT_BOOL && !json_is_boolean(v))
            return ol_err_set(err, OL_EINVAL, "option \"%s\" must be of type boolean", k);
        if (strcmp(k, "stop") == 0) {
            if (!json_is_array(v))
                return ol_err_set(err, OL_EINVAL, "option \"stop\" must be of type array");
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) {
                if (!json_is_string(e))
                    return ol_err_set(err, OL_EINVAL,
                                      "option \"stop\" must be of an array of strings");
            }
            for (int j = 0; j < o->n_stops; j++)
                free(o->stops[j]);
            o->n_stops = 0;
            json_array_foreach(v, i, e) {
                if (o->n_stops >= SRV_MAX_STOPS) break;
                char *dup = ol_strdup(json_string_value(e));
                if (!dup) return ol_err_set(err, OL_ENOMEM, "out of memory");
                o->stops[o->n_stops++] = dup;
            }
            o->seq.stop = (const char *const *)o->stops;
            o->seq.n_stop = o->n_stops;
        } else if (strcmp(k, "num_ctx") == 0)
            rc = want_int(k, v, &o->num_ctx, err);
        else if (strcmp(k, "num_batch") == 0)
            rc = want_int(k, v, &o->num_batch, err);
        else if (strcmp(k, "num_thread") == 0)
            rc = want_int(k, v, &o->num_thread, err);
        else if (strcmp(k, "num_keep") == 0)
            rc = want_int(k, v, &o->seq.num_keep, err);
        else if (strcmp(k, "num_predict") == 0)
            rc = want_int(k, v, &o->seq.num_predict, err);
        else if (strcmp(k, "seed") == 0) {
            int seed;
            rc = want_int(k, v, &seed, err);
            sp->seed = seed;
        } else if (strcmp(k, "top_k") == 0)
            rc = want_int(k, v, &sp->top_k, err);
        else if (strcmp(k, "repeat_last_n") == 0)
            rc = want_int(k, v, &sp->repeat_last_n, err);
        else if (strcmp(k, "top_p") == 0)
            rc = want_float(k, v, &sp->top_p, err);
        else if (strcmp(k, "min_p") == 0)
            rc = want_float(k, v, &sp->min_p, err);
        else if (strcmp(k, "typical_p") == 0)
            rc = want_float(k, v, &sp->typical_p, err);
        else if (strcmp(k, "temperature") == 0)
            rc = want_float(k, v, &sp->temperature, err);
        else if (strcmp(k, "repeat_penalty") == 0)
            rc = want_float(k, v, &sp->repeat_penalty, err);
        else if (strcmp(k, "presence_penalty") == 0)
            rc = want_float(k, v, &sp->presence_penalty, err);
        else if (strcmp(k, "frequency_penalty") == 0)
            rc = want_float(k, v, &sp->frequency_penalty, err);
        else if (opt->type == STORE_OPT_INT) {
            int ignored;
            rc = want_int(k, v, &ignored, err); /* known, type-checked, not used on a CPU */
        } else if (opt->type == STORE_OPT_FLOAT) {
            float ignored;
            rc = want_float(k, v, &ignored, err);
        }
        if (rc < 0) return rc;
    }
    if (o->num_ctx < 4) o->num_ctx = 4; /* spec: clamped to >= 4 */
    if (o->num_batch < 1) o->num_batch = 512;
    return 0;
}
