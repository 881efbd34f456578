/* Model loading: reads hyperparameters from GGUF metadata only, binds every tensor the
 * architecture needs as a view into the mapping and checks its type and shape. */
#include "engine/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/quant.h"
#include "engine/tok.h"

struct eng_model_params eng_model_default_params(void) {
    struct eng_model_params p = {.vocab_only = false};
    return p;
}

/* Reads "<arch>.<name>" as a u32; missing is an error unless `def` >= 0. */
static int arch_u32(const struct eng_model *m, const char *name, int64_t def, int *out,
                    struct ol_err *err) {
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", m->arch, name);
    uint32_t v;
    if (gguf_get_u32(&m->gguf, key, &v)) {
        if (v > (1u << 30))
            return ol_err_set(err, OL_EFORMAT, "model: %s = %u is too large", key, v);
        *out = (int)v;
        return 0;
    }
    if (gguf_find(&m->gguf, key))
        return ol_err_set(err, OL_EFORMAT, "model: %s has an unsupported type", key);
    if (def < 0) return ol_err_set(err, OL_EFORMAT, "model: missing metadata key %s", key);
    *out = (int)def;
    return 0;
}

static float arch_f32(const struct eng_model *m, const char *name, float def) {
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", m->arch, name);
    float v;
    return gguf_get_f32(&m->gguf, key, &v) ? v : def;
}

static const char *file_type_name(uint32_t ft) {
    /* llama.cpp's LLAMA_FTYPE numbering, as written in general.file_type */
    static const char *const names[] = {
        [0] = "F32",     [1] = "F16",     [2] = "Q4_0",    [3] = "Q4_1",    [7] = "Q8_0",
        [8] = "Q5_0",    [9] = "Q5_1",    [10] = "Q2_K",   [11] = "Q3_K_S", [12] = "Q3_K_M",
        [13] = "Q3_K_L", [14] = "Q4_K_S", [15] = "Q4_K_M", [16] = "Q5_K_S", [17] = "Q5_K_M",
        [18] = "Q6_K",   [32] = "BF16"};
    return ft < OL_ARRAY_LEN(names) && names[ft] ? names[ft] : "unknown";
}

/* Binds tensor `name` with shape [ne0, ne1] (ne1 = 1 for vectors). Missing is an error unless
 * optional. Checks the type is one the kernels support. */
static int bind(struct eng_model *m, const char *name, int64_t ne0, int64_t ne1, bool optional,
                struct tensor *t, struct ol_err *err) {
    memset(t, 0, sizeof(*t));
    const struct gguf_tensor *g = gguf_find_tensor(&m->gguf, name);
    if (!g) {
        if (optional) return 0;
        return ol_err_set(err, OL_EFORMAT, "model: missing tensor %s", name);
    }
    const struct q_type_info *ti = q_type_info(g->type);
    if (!ti || !ti->is_weight)
        return ol_err_set(err, OL_EUNSUPPORTED, "model: tensor %s has unsupported type %s", name,
                          ti ? ti->name : "unknown");
    if (g->ne[0] != ne0 || g->ne[1] != ne1 || g->ne[2] != 1 || g->ne[3] != 1)
        return ol_err_set(err, OL_EFORMAT,
                          "model: tensor %s has shape [%lld, %lld, %lld, %lld], want [%lld, %lld]",
                          name, (long long)g->ne[0], (long long)g->ne[1], (long long)g->ne[2],
                          (long long)g->ne[3], (long long)ne0, (long long)ne1);
    if (ne1 == 1 && g->type != 0 && strstr(name, "norm"))
        return ol_err_set(err, OL_EUNSUPPORTED, "model: norm tensor %s must be F32", name);
    t->type = g->type;
    t->ne0 = ne0;
    t->ne1 = ne1;
    t->row_size = q_row_size(g->type, ne0);
    t->data = g->data;
    return 0;
}

static int bind_vec_f32(struct eng_model *m, const char *name, int64_t n, bool optional,
                        struct tensor *t, struct ol_err *err) {
    int rc = bind(m, name, n, 1, optional, t, err);
    if (rc < 0) return rc;
    if (t->data && t->type != Q_TYPE_F32)
        return ol_err_set(err, OL_EUNSUPPORTED, "model: tensor %s must be F32", name);
    return 0;
}

static int load_hparams(struct eng_model *m, struct ol_err *err) {
    struct hparams *hp = &m->hp;
    int rc;
    if ((rc = arch_u32(m, "embedding_length", -1, &hp->n_embd, err)) < 0 ||
        (rc = arch_u32(m, "block_count", -1, &hp->n_layer, err)) < 0 ||
        (rc = arch_u32(m, "feed_forward_length", -1, &hp->n_ff, err)) < 0 ||
        (rc = arch_u32(m, "attention.head_count", -1, &hp->n_head, err)) < 0 ||
        (rc = arch_u32(m, "context_length", 2048, &hp->n_ctx_train, err)) < 0)
        return rc;
    if (hp->n_head <= 0 || hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_ff <= 0)
        return ol_err_set(err, OL_EFORMAT, "model: zero-sized dimension in metadata");
    if ((rc = arch_u32(m, "attention.head_count_kv", hp->n_head, &hp->n_head_kv, err)) < 0 ||
        (rc = arch_u32(m, "attention.key_length", hp->n_embd / hp->n_head, &hp->head_dim, err)) < 0)
        return rc;
    int vlen;
    if ((rc = arch_u32(m, "attention.value_length", hp->head_dim, &vlen, err)) < 0) return rc;
    if (vlen != hp->head_dim)
        return ol_err_set(err, OL_EUNSUPPORTED, "model: key and value head sizes differ");
    if ((rc = arch_u32(m, "rope.dimension_count", hp->head_dim, &hp->n_rot, err)) < 0) return rc;
    if (hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv != 0 || hp->head_dim <= 0 ||
        hp->head_dim % 2 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return ol_err_set(err, OL_EFORMAT,
                          "model: inconsistent attention shape (heads %d, kv heads %d, head size "
                          "%d, rope dims %d)",
                          hp->n_head, hp->n_head_kv, hp->head_dim, hp->n_rot);
    hp->rms_eps = arch_f32(m, "attention.layer_norm_rms_epsilon", 1e-5f);
    hp->rope_base = arch_f32(m, "rope.freq_base", 10000.0f);
    hp->rope_freq_scale = 1.0f;
    if (!(hp->rms_eps > 0) || !(hp->rope_base > 0))
        return ol_err_set(err, OL_EFORMAT, "model: bad rms epsilon or rope base");

    char key[128];
    struct gguf_str st;
    snprintf(key, sizeof(key), "%s.rope.scaling.type", m->arch);
    const char *scaling = "none";
    if (gguf_get_str(&m->gguf, key, &st)) {
        if (gguf_str_eq(st, "linear"))
            scaling = "linear";
        else if (gguf_str_eq(st, "llama3"))
            scaling = "llama3";
        else if (!gguf_str_eq(st, "none"))
            return ol_err_set(err, OL_EUNSUPPORTED, "model: rope scaling type %.*s",
                              (int)OL_MIN(st.len, 32), st.ptr);
    }
    float factor = arch_f32(m, "rope.scaling.factor", 0.0f);
    if (strcmp(scaling, "linear") == 0 && factor > 0) hp->rope_freq_scale = 1.0f / factor;
    hp->rope = strcmp(m->arch, "qwen2") == 0 ? ROPE_NEOX : ROPE_NORM;
    return 0;
}

/* Llama 3.1 frequency factors: from rope_freqs.weight, or computed from the scaling metadata
 * (rope.scaling.type "llama3") when a file carries the keys but not the tensor. */
static int load_rope_freqs(struct eng_model *m, struct ol_err *err) {
    int half = m->hp.n_rot / 2;
    struct tensor t;
    int rc = bind_vec_f32(m, "rope_freqs.weight", half, true, &t, err);
    if (rc < 0) return rc;
    char key[128];
    snprintf(key, sizeof(key), "%s.rope.scaling.type", m->arch);
    struct gguf_str st;
    bool llama3 = gguf_get_str(&m->gguf, key, &st) && gguf_str_eq(st, "llama3");
    if (!t.data && !llama3) return 0;
    m->rope_freq_factors = ol_calloc_array((size_t)half, sizeof(float));
    if (!m->rope_freq_factors) return ol_err_set(err, OL_ENOMEM, "out of memory");
    if (t.data) {
        memcpy(m->rope_freq_factors, t.data, (size_t)half * sizeof(float));
        return 0;
    }
    float factor = arch_f32(m, "rope.scaling.factor", 8.0f);
    float lo = arch_f32(m, "rope.scaling.low_freq_factor", 1.0f);
    float hi = arch_f32(m, "rope.scaling.high_freq_factor", 4.0f);
    float orig = arch_f32(m, "rope.scaling.original_context_length", 8192.0f);
    float lo_wavelen = orig / lo, hi_wavelen = orig / hi;
    for (int i = 0; i < half; i++) {
        float freq = powf(m->hp.rope_base, -2.0f * (float)i / (float)m->hp.n_rot);
        float wavelen = 2.0f * (float)M_PI / freq;
        float f;
        if (wavelen < hi_wavelen)
            f = 1.0f;
        else if (wavelen > lo_wavelen)
            f = factor;
        else {
            float smooth = (orig / wavelen - lo) / (hi - lo);
            f = 1.0f / ((1.0f - smooth) / factor + smooth);
        }
        m->rope_freq_factors[i] = f;
    }
    return 0;
}

static int load_tensors(struct eng_model *m, struct ol_err *err) {
    const struct hparams *hp = &m->hp;
    int64_t e = hp->n_embd, q = (int64_t)hp->n_head * hp->head_dim,
            kv = (int64_t)hp->n_head_kv * hp->head_dim;
    int rc;
    const struct gguf_tensor *te = gguf_find_tensor(&m->gguf, "token_embd.weight");
    if (!te) return ol_err_set(err, OL_EFORMAT, "model: missing tensor token_embd.weight");
    if (te->ne[1] != m->hp.n_vocab)
        return ol_err_set(err, OL_EFORMAT,
                          "model: token_embd.weight has %lld rows but the vocabulary has %d tokens",
                          (long long)te->ne[1], m->hp.n_vocab);
    if ((rc = bind(m, "token_embd.weight", e, hp->n_vocab, false, &m->tok_embd, err)) < 0 ||
        (rc = bind_vec_f32(m, "output_norm.weight", e, false, &m->output_norm, err)) < 0 ||
        (rc = bind(m, "output.weight", e, hp->n_vocab, true, &m->output, err)) < 0)
        return rc;
    if (!m->output.data) m->output = m->tok_embd; /* tied embeddings */
    m->layers = ol_calloc_array((size_t)hp->n_layer, sizeof(*m->layers));
    if (!m->layers) return ol_err_set(err, OL_ENOMEM, "out of memory");
    bool bias = strcmp(m->arch, "qwen2") == 0;
    for (int il = 0; il < hp->n_layer; il++) {
        struct layer *l = &m->layers[il];
        char n[96];
#define BIND(field, suffix, ne0, ne1)                                                              \
    snprintf(n, sizeof(n), "blk.%d." suffix, il);                                                  \
    if ((rc = bind(m, n, ne0, ne1, false, &l->field, err)) < 0) return rc;
#define BIND_VEC(field, suffix, len, opt)                                                          \
    snprintf(n, sizeof(n), "blk.%d." suffix, il);                                                  \
    if ((rc = bind_vec_f32(m, n, len, opt, &l->field, err)) < 0) return rc;
        BIND_VEC(attn_norm, "attn_norm.weight", e, false);
        BIND(wq, "attn_q.weight", e, q);
        BIND(wk, "attn_k.weight", e, kv);
        BIND(wv, "attn_v.weight", e, kv);
        BIND(wo, "attn_output.weight", q, e);
        BIND_VEC(bq, "attn_q.bias", q, !bias);
        BIND_VEC(bk, "attn_k.bias", kv, !bias);
        BIND_VEC(bv, "attn_v.bias", kv, !bias);
        BIND_VEC(ffn_norm, "ffn_norm.weight", e, false);
        BIND(w_gate, "ffn_gate.weight", e, hp->n_ff);
        BIND(w_up, "ffn_up.weight", e, hp->n_ff);
        BIND(w_down, "ffn_down.weight", hp->n_ff, e);
#undef BIND
#undef BIND_VEC
    }
    return load_rope_freqs(m, err);
}

struct eng_model *eng_model_load(const char *path, const struct eng_model_params *params,
                                 struct ol_err *err) {
    struct eng_model *m = calloc(1, sizeof(*m));
    if (!m) {
        ol_err_set(err, OL_ENOMEM, "out of memory");
        return NULL;
    }
    m->vocab_only = params && params->vocab_only;
    int rc = gguf_open(&m->gguf, path, err);
    if (rc < 0) goto fail;
    struct gguf_str arch;
    if (!gguf_get_str(&m->gguf, "general.architecture", &arch) || arch.len == 0 ||
        arch.len >= sizeof(m->arch)) {
        ol_err_set(err, OL_EFORMAT, "model: missing or bad general.architecture");
        goto fail;
    }
    memcpy(m->arch, arch.ptr, arch.len);
    uint32_t ft;
    snprintf(m->file_type, sizeof(m->file_type), "%s",
             gguf_get_u32(&m->gguf, "general.file_type", &ft) ? file_type_name(ft) : "unknown");
    for (uint64_t i = 0; i < m->gguf.n_tensors; i++) {
        const struct gguf_tensor *t = &m->gguf.tensors[i];
        m->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }
    m->vocab = tok_vocab_from_gguf(&m->gguf, err);
    if (!m->vocab) goto fail;
    m->hp.n_vocab = tok_n_vocab(m->vocab);
    if (m->vocab_only) return m;
    if (strcmp(m->arch, "llama") != 0 && strcmp(m->arch, "qwen2") != 0) {
        ol_err_set(err, OL_EUNSUPPORTED, "model architecture '%s' is not supported", m->arch);
        goto fail;
    }
    if (load_hparams(m, err) < 0 || load_tensors(m, err) < 0) goto fail;
    return m;
fail:
    eng_model_free(m);
    return NULL;
}

void eng_model_free(struct eng_model *m) {
    if (!m) return;
    tok_vocab_free(m->vocab);
    free(m->layers);
    free(m->rope_freq_factors);
    gguf_close(&m->gguf);
    free(m);
}

void eng_model_get_info(const struct eng_model *m, struct eng_model_info *out) {
    memset(out, 0, sizeof(*out));
    out->arch = m->arch;
    out->file_type = m->file_type;
    out->n_params = m->n_params;
    out->file_size = m->gguf.size;
    out->n_vocab = m->hp.n_vocab;
    out->n_ctx_train = m->hp.n_ctx_train;
    out->n_embd = m->hp.n_embd;
    out->n_layer = m->hp.n_layer;
    out->n_head = m->hp.n_head;
    out->n_head_kv = m->hp.n_head_kv;
}

/* ---- metadata ---- */

static enum eng_meta_type meta_type(enum gguf_vtype t) {
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64:
        return ENG_META_UINT;
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64:
        return ENG_META_INT;
    case GGUF_TYPE_FLOAT32:
    case GGUF_TYPE_FLOAT64:
        return ENG_META_FLOAT;
    case GGUF_TYPE_BOOL:
        return ENG_META_BOOL;
    case GGUF_TYPE_STRING:
        return ENG_META_STRING;
    default:
        return ENG_META_ARRAY;
    }
}

int eng_model_meta_count(const struct eng_model *m) { return (int)m->gguf.n_kv; }

bool eng_model_meta_at(const struct eng_model *m, int i, struct eng_meta_value *out) {
    if (i < 0 || (uint64_t)i >= m->gguf.n_kv) return false;
    const struct gguf_kv *kv = &m->gguf.kv[i];
    memset(out, 0, sizeof(*out));
    out->key = kv->key.ptr;
    out->key_len = (size_t)kv->key.len;
    out->type = meta_type(kv->type);
    switch (out->type) {
    case ENG_META_UINT:
        out->u = kv->v.u64;
        break;
    case ENG_META_INT:
        out->i = kv->v.i64;
        break;
    case ENG_META_FLOAT:
        out->f = kv->v.f64;
        break;
    case ENG_META_BOOL:
        out->b = kv->v.b;
        break;
    case ENG_META_STRING:
        out->str = kv->v.str.ptr;
        out->str_len = (size_t)kv->v.str.len;
        break;
    case ENG_META_ARRAY:
        out->elem_type = meta_type(kv->arr_type);
        out->n_elems = kv->arr_n;
        break;
    }
    return true;
}

bool eng_model_meta_elem(const struct eng_model *m, int i, uint64_t j, struct eng_meta_value *out) {
    if (i < 0 || (uint64_t)i >= m->gguf.n_kv) return false;
    const struct gguf_kv *kv = &m->gguf.kv[i];
    if (kv->type != GGUF_TYPE_ARRAY || j >= kv->arr_n) return false;
    memset(out, 0, sizeof(*out));
    out->type = meta_type(kv->arr_type);
    switch (out->type) {
    case ENG_META_UINT:
        out->u = (uint64_t)gguf_arr_int(kv, j);
        break;
    case ENG_META_INT:
        out->i = gguf_arr_int(kv, j);
        break;
    case ENG_META_BOOL:
        out->b = gguf_arr_int(kv, j) != 0;
        break;
    case ENG_META_FLOAT:
        out->f = gguf_arr_f32(kv, j);
        break;
    case ENG_META_STRING:
        out->str = kv->arr_strs[j].ptr;
        out->str_len = (size_t)kv->arr_strs[j].len;
        break;
    case ENG_META_ARRAY:
        break;
    }
    return true;
}

int eng_model_meta_find(const struct eng_model *m, const char *key) {
    const struct gguf_kv *kv = gguf_find(&m->gguf, key);
    return kv ? (int)(kv - m->gguf.kv) : -1;
}

int eng_n_embd(const struct eng_model *m) { return m->hp.n_embd; }

int eng_model_tensor_count(const struct eng_model *m) { return (int)m->gguf.n_tensors; }

bool eng_model_tensor_at(const struct eng_model *m, int i, struct eng_tensor_info *out) {
    if (i < 0 || (uint64_t)i >= m->gguf.n_tensors) return false;
    const struct gguf_tensor *t = &m->gguf.tensors[i];
    out->name = t->name.ptr;
    out->name_len = (size_t)t->name.len;
    const struct q_type_info *ti = q_type_info(t->type);
    out->type = ti ? ti->name : "unknown";
    out->n_dims = (int)t->n_dims;
    for (int d = 0; d < 4; d++)
        out->ne[d] = t->ne[d];
    out->size = t->size;
    return true;
}
