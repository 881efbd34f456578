/* The template arena: bump allocation in growing blocks, freed all at once. Values, parse
 * trees and execution temporaries all live in arenas, so error paths never free piecemeal. */
#include "template/internal.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK_MIN 4096
#define ARENA_ALIGN 16

struct arena_block {
    struct arena_block *next;
    size_t cap;
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct tmpl_arena {
    struct arena_block *head;
    size_t next_cap; /* size of the next block; doubles up to 1 MiB */
    bool failed;
};

struct tmpl_arena *tmpl_arena_new(void) {
    struct tmpl_arena *a = calloc(1, sizeof(*a));
    if (!a) return NULL;
    a->next_cap = ARENA_BLOCK_MIN;
    return a;
}

void tmpl_arena_free(struct tmpl_arena *a) {
    if (!a) return;
    struct arena_block *b = a->head;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

bool tmpl_arena_failed(const struct tmpl_arena *a) { return !a || a->failed; }

void arena_set_failed(struct tmpl_arena *a) {
    if (a) a->failed = true;
}

void *arena_alloc(struct tmpl_arena *a, size_t size) {
    if (!a) return NULL;
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < size) goto fail; /* wrapped */
    struct arena_block *b = a->head;
    if (!b || b->cap - b->used < need) {
        size_t cap = a->next_cap;
        if (cap < need) cap = need;
        if (cap > SIZE_MAX - sizeof(*b)) goto fail;
        b = malloc(sizeof(*b) + cap);
        if (!b) goto fail;
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
        if (a->next_cap < (1u << 20)) a->next_cap *= 2;
    }
    void *p = b->data + b->used;
    b->used += need;
    memset(p, 0, size);
    return p;
fail:
    a->failed = true;
    return NULL;
}

char *arena_strndup(struct tmpl_arena *a, const char *s, size_t len) {
    if (len == SIZE_MAX) {
        arena_set_failed(a);
        return NULL;
    }
    char *p = arena_alloc(a, len + 1);
    if (!p) return NULL;
    if (len) memcpy(p, s, len);
    p[len] = 0;
    return p;
}

int arena_grow(struct tmpl_arena *a, void **items, size_t *cap, size_t need, size_t elem_size) {
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap * 2 : 4;
    while (ncap < need)
        ncap *= 2;
    size_t bytes;
    if (!ol_mul_ok(ncap, elem_size, &bytes)) {
        arena_set_failed(a);
        return OL_ENOMEM;
    }
    void *p = arena_alloc(a, bytes);
    if (!p) return OL_ENOMEM;
    if (*cap) memcpy(p, *items, *cap * elem_size);
    *items = p;
    *cap = ncap;
    return 0;
}
