/* SHA-256 through OpenSSL's EVP interface (the low-level SHA256_* calls are deprecated). */
#include "base/base.h"

#include <stdlib.h>

#include <openssl/evp.h>

struct ol_sha256 {
    EVP_MD_CTX *ctx;
};

struct ol_sha256 *ol_sha256_new(void) {
    struct ol_sha256 *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->ctx);
        free(h);
        return NULL;
    }
    return h;
}

void ol_sha256_update(struct ol_sha256 *h, const void *p, size_t len) {
    /* EVP_DigestUpdate only fails on a broken context, which would be our bug. */
    OL_ASSERT(EVP_DigestUpdate(h->ctx, p, len) == 1);
}

void ol_sha256_final(struct ol_sha256 *h, uint8_t out[32]) {
    unsigned int n = 0;
    OL_ASSERT(EVP_DigestFinal_ex(h->ctx, out, &n) == 1 && n == 32);
    OL_ASSERT(EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) == 1);
}

void ol_sha256_free(struct ol_sha256 *h) {
    if (!h) return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void ol_sha256_to_hex(const uint8_t digest[32], char out[65]) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = 0;
}

int ol_sha256_hex(const void *p, size_t len, char out[65]) {
    struct ol_sha256 *h = ol_sha256_new();
    if (!h) return OL_ENOMEM;
    uint8_t d[32];
    ol_sha256_update(h, p, len);
    ol_sha256_final(h, d);
    ol_sha256_free(h);
    ol_sha256_to_hex(d, out);
    return 0;
}
