/* Values: the data tree a template executes on. Built with constructors in an arena; maps keep
 * insertion order (JSON encodings of ordered objects need it) and are sorted when ranged. */
#include "template/internal.h"

#include <stdlib.h>
#include <string.h>

static struct tmpl_value *value_new(struct tmpl_arena *a, enum tmpl_kind kind) {
    struct tmpl_value *v = arena_alloc(a, sizeof(*v));
    if (!v) return NULL;
    v->kind = (uint8_t)kind;
    v->arena = a;
    return v;
}

struct tmpl_value *tmpl_value_nil(struct tmpl_arena *a) {
    return value_new(a, TMPL_NIL);
}

struct tmpl_value *tmpl_value_bool(struct tmpl_arena *a, bool b) {
    struct tmpl_value *v = value_new(a, TMPL_BOOL);
    if (v) v->u.b = b;
    return v;
}

struct tmpl_value *tmpl_value_int(struct tmpl_arena *a, int64_t i) {
    struct tmpl_value *v = value_new(a, TMPL_INT);
    if (v) v->u.i = i;
    return v;
}

struct tmpl_value *tmpl_value_float(struct tmpl_arena *a, double f) {
    struct tmpl_value *v = value_new(a, TMPL_FLOAT);
    if (v) v->u.f = f;
    return v;
}

struct tmpl_value *tmpl_value_strn(struct tmpl_arena *a, const char *s, size_t len) {
    struct tmpl_value *v = value_new(a, TMPL_STRING);
    if (!v) return NULL;
    char *p = arena_strndup(a, s ? s : "", s ? len : 0);
    if (!p) return NULL;
    v->u.s.p = p;
    v->u.s.len = s ? len : 0;
    return v;
}

struct tmpl_value *tmpl_value_str(struct tmpl_arena *a, const char *s) {
    return tmpl_value_strn(a, s, s ? strlen(s) : 0);
}

struct tmpl_value *tmpl_value_list(struct tmpl_arena *a) {
    return value_new(a, TMPL_LIST);
}

struct tmpl_value *tmpl_value_map(struct tmpl_arena *a) {
    return value_new(a, TMPL_MAP);
}

struct tmpl_value *tmpl_value_struct(struct tmpl_arena *a, const char *go_type) {
    struct tmpl_value *v = value_new(a, TMPL_STRUCT);
    if (!v) return NULL;
    if (go_type) {
        v->go_type = arena_strndup(a, go_type, strlen(go_type));
        if (!v->go_type) return NULL;
    }
    return v;
}

int tmpl_list_append(struct tmpl_value *list, struct tmpl_value *item) {
    if (!list) return OL_ENOMEM;
    if (!item) {
        arena_set_failed(list->arena);
        return OL_ENOMEM;
    }
    if (list->kind != TMPL_LIST) return OL_EINVAL;
    void *items = list->u.list.items;
    if (arena_grow(list->arena, &items, &list->u.list.cap, list->u.list.n + 1,
                   sizeof(*list->u.list.items)) < 0)
        return OL_ENOMEM;
    list->u.list.items = items;
    list->u.list.items[list->u.list.n++] = item;
    list->flags &= (uint8_t)~TMPL_VF_NIL;
    return 0;
}

static int entry_add(struct tmpl_value *m, const char *key, size_t key_len, struct tmpl_value *v,
                     bool is_any) {
    void *e = m->u.map.e;
    if (arena_grow(m->arena, &e, &m->u.map.cap, m->u.map.n + 1, sizeof(*m->u.map.e)) < 0)
        return OL_ENOMEM;
    m->u.map.e = e;
    char *k = arena_strndup(m->arena, key, key_len);
    if (!k) return OL_ENOMEM;
    struct tmpl_entry *ent = &m->u.map.e[m->u.map.n++];
    ent->key = k;
    ent->key_len = key_len;
    ent->v = v;
    ent->is_any = is_any;
    return 0;
}

int tmpl_map_set(struct tmpl_value *map, const char *key, size_t key_len, struct tmpl_value *v) {
    if (!map) return OL_ENOMEM;
    if (!v || (!key && key_len)) {
        arena_set_failed(map->arena);
        return OL_ENOMEM;
    }
    if (map->kind != TMPL_MAP) return OL_EINVAL;
    map->flags &= (uint8_t)~TMPL_VF_NIL;
    for (size_t i = 0; i < map->u.map.n; i++) {
        struct tmpl_entry *e = &map->u.map.e[i];
        if (e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
            e->v = v;
            return 0;
        }
    }
    return entry_add(map, key ? key : "", key_len, v, true);
}

int tmpl_struct_add(struct tmpl_value *st, const char *field, struct tmpl_value *v, bool is_any) {
    if (!st) return OL_ENOMEM;
    if (!v || !field) {
        arena_set_failed(st->arena);
        return OL_ENOMEM;
    }
    if (st->kind != TMPL_STRUCT) return OL_EINVAL;
    /* A nil value can only sit in an interface-typed field. */
    return entry_add(st, field, strlen(field), v, is_any || v->kind == TMPL_NIL);
}

int tmpl_value_set_type(struct tmpl_value *v, const char *go_type, unsigned flags) {
    if (!v) return OL_ENOMEM;
    if (go_type) {
        v->go_type = arena_strndup(v->arena, go_type, strlen(go_type));
        if (!v->go_type) return OL_ENOMEM;
    }
    v->flags = (uint8_t)flags;
    return 0;
}

int tmpl_value_set_text(struct tmpl_value *v, const char *text, size_t len) {
    if (!v) return OL_ENOMEM;
    char *p = arena_strndup(v->arena, text ? text : "", text ? len : 0);
    if (!p) return OL_ENOMEM;
    v->text = p;
    v->text_len = text ? len : 0;
    v->has_text = true;
    return 0;
}

int tmpl_value_set_json(struct tmpl_value *v, const char *json, size_t len) {
    if (!v) return OL_ENOMEM;
    char *p = arena_strndup(v->arena, json ? json : "", json ? len : 0);
    if (!p) return OL_ENOMEM;
    v->json = p;
    v->json_len = json ? len : 0;
    v->has_json = true;
    return 0;
}

enum tmpl_kind tmpl_value_kind(const struct tmpl_value *v) {
    return v ? (enum tmpl_kind)v->kind : TMPL_NIL;
}

bool tmpl_value_as_bool(const struct tmpl_value *v) { return v && v->kind == TMPL_BOOL && v->u.b; }

int64_t tmpl_value_as_int(const struct tmpl_value *v) {
    if (!v) return 0;
    if (v->kind == TMPL_INT) return v->u.i;
    return 0;
}

double tmpl_value_as_float(const struct tmpl_value *v) {
    if (!v) return 0;
    if (v->kind == TMPL_FLOAT) return v->u.f;
    if (v->kind == TMPL_INT) return (double)v->u.i;
    return 0;
}

const char *tmpl_value_as_str(const struct tmpl_value *v, size_t *len) {
    if (!v || v->kind != TMPL_STRING) {
        if (len) *len = 0;
        return "";
    }
    if (len) *len = v->u.s.len;
    return v->u.s.p;
}

size_t tmpl_value_len(const struct tmpl_value *v) {
    if (!v) return 0;
    switch (v->kind) {
    case TMPL_LIST:
        return v->u.list.n;
    case TMPL_MAP:
    case TMPL_STRUCT:
        return v->u.map.n;
    case TMPL_STRING:
        return v->u.s.len;
    default:
        return 0;
    }
}

const struct tmpl_value *tmpl_value_at(const struct tmpl_value *v, size_t i) {
    if (!v) return NULL;
    if (v->kind == TMPL_LIST) return i < v->u.list.n ? v->u.list.items[i] : NULL;
    if (v->kind == TMPL_MAP || v->kind == TMPL_STRUCT)
        return i < v->u.map.n ? v->u.map.e[i].v : NULL;
    return NULL;
}

const char *tmpl_value_key_at(const struct tmpl_value *v, size_t i) {
    if (!v || (v->kind != TMPL_MAP && v->kind != TMPL_STRUCT)) return NULL;
    return i < v->u.map.n ? v->u.map.e[i].key : NULL;
}

const struct tmpl_entry *value_find(const struct tmpl_value *v, const char *key, size_t len) {
    if (!v || (v->kind != TMPL_MAP && v->kind != TMPL_STRUCT)) return NULL;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const struct tmpl_entry *e = &v->u.map.e[i];
        if (e->key_len == len && memcmp(e->key, key, len) == 0) return e;
    }
    return NULL;
}

const struct tmpl_value *tmpl_value_get(const struct tmpl_value *v, const char *key) {
    const struct tmpl_entry *e = value_find(v, key, strlen(key));
    return e ? e->v : NULL;
}

const char *value_go_type(const struct tmpl_value *v) {
    if (!v) return "interface {}";
    if (v->go_type) return v->go_type;
    switch (v->kind) {
    case TMPL_BOOL:
        return "bool";
    case TMPL_INT:
        return "int";
    case TMPL_FLOAT:
        return "float64";
    case TMPL_STRING:
        return "string";
    case TMPL_LIST:
        return "[]interface {}";
    case TMPL_MAP:
        return "map[string]interface {}";
    case TMPL_STRUCT:
        return "struct {}";
    default:
        return "interface {}";
    }
}

bool value_is_ptr_struct(const struct tmpl_value *v) {
    return v && v->kind == TMPL_STRUCT && v->go_type && v->go_type[0] == '*';
}

static int key_cmp(const struct tmpl_entry *a, const struct tmpl_entry *b) {
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);
    if (c) return c;
    return a->key_len < b->key_len ? -1 : a->key_len > b->key_len;
}

size_t *value_sorted_keys(struct tmpl_arena *a, const struct tmpl_value *m) {
    size_t n = m->u.map.n;
    size_t *idx = arena_alloc(a, (n ? n : 1) * sizeof(*idx));
    if (!idx) return NULL;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    /* Insertion sort for small maps, else a merge sort: both stable and allocation-light. */
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            size_t x = idx[i];
            size_t j = i;
            while (j > 0 && key_cmp(&m->u.map.e[idx[j - 1]], &m->u.map.e[x]) > 0) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = x;
        }
        return idx;
    }
    size_t *tmp = arena_alloc(a, n * sizeof(*tmp));
    if (!tmp) return NULL;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n;
            size_t hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] =
                    key_cmp(&m->u.map.e[idx[i]], &m->u.map.e[idx[j]]) <= 0 ? idx[i++] : idx[j++];
            while (i < mid)
                tmp[k++] = idx[i++];
            while (j < hi)
                tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, n * sizeof(*idx));
    }
    return idx;
}
