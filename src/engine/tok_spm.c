/* tok_spm: SentencePiece-style BPE ("llama" vocabs), as llama.cpp's llm_tokenizer_spm does it.
 *
 * Spaces become U+2581 (and one is prefixed when asked), the text is cut into UTF-8 characters,
 * then the adjacent pair whose concatenation is the vocab token with the highest score is merged,
 * again and again (ties: leftmost first). A symbol left that is no token is written as byte
 * tokens <0xNN>, or as one unknown token when the vocab lacks some of those bytes (llama.cpp
 * would throw).
 *
 * Speed: llama.cpp runs one priority queue over the whole text, which is cache-hostile for
 * megabytes. When no vocab token has a U+2581 after a non-U+2581 byte (v->spm_cut_ok, true
 * for Llama 2 and Baichuan), no merge can cross the start of a space run, so the text is
 * processed in such segments with identical results. */
#include "engine/tok.h"

#include <stdlib.h>
#include <string.h>

struct spm_sym {
    int prev, next; /* -1 = none */
    size_t off, n;  /* bytes in the escaped text; n == 0 once merged away */
};

struct spm_bigram {
    int left, right;
    float score;
    size_t size;
};

struct spm_heap {
    struct spm_bigram *a;
    size_t n, cap;
};

/* true when a should come out of the heap before b */
static bool bigram_before(const struct spm_bigram *a, const struct spm_bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(struct spm_heap *h, struct spm_bigram b) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct spm_bigram *p = ol_realloc_array(h->a, cap, sizeof(*p));
        if (!p) return OL_ENOMEM;
        h->a = p;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bigram_before(&b, &h->a[parent])) break;
        h->a[i] = h->a[parent];
        i = parent;
    }
    h->a[i] = b;
    return 0;
}

static struct spm_bigram heap_pop(struct spm_heap *h) {
    struct spm_bigram top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && bigram_before(&h->a[c + 1], &h->a[c])) c++;
        if (!bigram_before(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n) h->a[i] = last;
    return top;
}

static int try_bigram(const struct tok_vocab *v, const char *s, const struct spm_sym *syms,
                      int left, int right, struct spm_heap *h) {
    if (left < 0 || right < 0) return 0;
    size_t size = syms[left].n + syms[right].n;
    int32_t id = tok_find(v, s + syms[left].off, size);
    if (id < 0) return 0;
    return heap_push(h, (struct spm_bigram){left, right, v->scores[id], size});
}

static int emit_symbol(const struct tok_vocab *v, const char *s, size_t n, struct tok_ids *out) {
    int32_t id = tok_find(v, s, n);
    if (id >= 0) return tok_ids_push(out, id);
    bool bytes = true;
    for (size_t i = 0; i < n; i++)
        bytes = bytes && v->byte_tok[(uint8_t)s[i]] >= 0;
    if (!bytes) return v->unk >= 0 ? tok_ids_push(out, v->unk) : 0; /* one per character */
    for (size_t i = 0; i < n; i++) {
        int rc = tok_ids_push(out, v->byte_tok[(uint8_t)s[i]]);
        if (rc < 0) return rc;
    }
    return 0;
}

static bool is_space_sym(const char *s, const struct spm_sym *sym) {
    return sym->n == 3 && memcmp(s + sym->off, "\xe2\x96\x81", 3) == 0;
}

/* Merges and emits symbols [a, b) as if they were the whole text. */
static int encode_segment(const struct tok_vocab *v, const char *s, struct spm_sym *syms, int a,
                          int b, struct spm_heap *heap, struct tok_ids *out) {
    int rc = 0;
    syms[a].prev = -1;
    syms[b - 1].next = -1;
    heap->n = 0;
    for (int i = a + 1; rc == 0 && i < b; i++)
        rc = try_bigram(v, s, syms, i - 1, i, heap);
    while (rc == 0 && heap->n) {
        struct spm_bigram g = heap_pop(heap);
        struct spm_sym *l = &syms[g.left], *r = &syms[g.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != g.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) syms[r->next].prev = g.left;
        rc = try_bigram(v, s, syms, l->prev, g.left, heap);
        if (rc == 0) rc = try_bigram(v, s, syms, g.left, l->next, heap);
    }
    for (int i = a; rc == 0 && i >= 0; i = syms[i].next)
        rc = emit_symbol(v, s + syms[i].off, syms[i].n, out);
    return rc;
}

int tok_spm_encode(const struct tok_vocab *v, const char *text, size_t len, bool space_prefix,
                   struct tok_ids *out, struct ol_err *err) {
    size_t n_sp = space_prefix;
    for (size_t i = 0; i < len; i++)
        n_sp += text[i] == ' ';
    size_t cap = len + 2 * n_sp + 1; /* each space grows by two bytes */
    char *s = malloc(cap);
    /* A symbol per byte at worst: an invalid lead byte can split a U+2581 in two. */
    struct spm_sym *syms = ol_calloc_array(cap, sizeof(*syms));
    struct spm_heap heap = {0};
    int rc = 0;
    if (!s || !syms) {
        rc = OL_ENOMEM;
        goto out;
    }
    size_t n = 0;
    if (space_prefix) {
        memcpy(s, "\xe2\x96\x81", 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(s + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            s[n++] = text[i];
        }
    }

    int n_syms = 0;
    for (size_t off = 0; off < n;) {
        size_t cl = tok_utf8_len((uint8_t)s[off], n - off);
        syms[n_syms] = (struct spm_sym){n_syms - 1, off + cl == n ? -1 : n_syms + 1, off, cl};
        n_syms++;
        off += cl;
    }
    for (int a = 0; rc == 0 && a < n_syms;) {
        int b = a + 1;
        if (v->spm_cut_ok)
            while (b < n_syms && !(is_space_sym(s, &syms[b]) && !is_space_sym(s, &syms[b - 1])))
                b++;
        else
            b = n_syms;
        rc = encode_segment(v, s, syms, a, b, &heap, out);
        a = b;
    }
out:
    free(s);
    free(syms);
    free(heap.a);
    if (rc < 0) return ol_err_set(err, rc, "out of memory tokenizing");
    return 0;
}
