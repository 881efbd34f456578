/* Registry credentials (store-and-registry.md §9): the WWW-Authenticate challenge, the token
 * URL, Ollama's signed token request (ed25519 key in ~/.ollama, OpenSSH format) and Basic
 * credentials for private token servers.
 *
 * OpenSSH private key layout ("openssh-key-v1", unencrypted): magic, cipher "none", kdf
 * "none", kdf options "", 1 key, the public blob, then a private section: two equal check
 * words, "ssh-ed25519", pub[32], seed||pub [64], comment, padding 1,2,3.. to 8 bytes. */
#include "store/registry.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

int reg_base64(const void *p, size_t len, bool url, char *out, size_t cap) {
    if (cap < 4 * ((len + 2) / 3) + 1) return OL_EINVAL;
    int n = EVP_EncodeBlock((unsigned char *)out, p, (int)len);
    if (url) {
        while (n && out[n - 1] == '=')
            out[--n] = 0;
        for (int i = 0; i < n; i++)
            out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    }
    return n;
}

/* Copies the quoted value of key in hdr ("key=\"v\"") into out. */
static void param_get(const char *hdr, const char *key, char *out, size_t cap) {
    out[0] = 0;
    size_t k = strlen(key);
    for (const char *p = hdr; (p = strcasestr(p, key)); p += k) {
        if (p != hdr && p[-1] != ' ' && p[-1] != ',') continue;
        if (p[k] != '=') continue;
        const char *v = p + k + 1;
        bool quoted = *v == '"';
        if (quoted) v++;
        const char *e = v;
        /* a value ends at a quote followed by ',' or the end (§9 step 1) */
        while (*e && !(quoted ? (*e == '"' && (e[1] == ',' || e[1] == 0)) : *e == ','))
            e++;
        snprintf(out, cap, "%.*s", (int)(e - v), v);
        return;
    }
}

bool reg_auth_parse(const char *hdr, char *scheme, size_t scheme_cap, char *realm, size_t realm_cap,
                    char *service, size_t service_cap, char *scope, size_t scope_cap) {
    const char *sp = strchr(hdr, ' ');
    size_t n = sp ? (size_t)(sp - hdr) : strlen(hdr);
    snprintf(scheme, scheme_cap, "%.*s", (int)n, hdr);
    for (char *c = scheme; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    const char *rest = sp ? sp + 1 : "";
    param_get(rest, "realm", realm, realm_cap);
    param_get(rest, "service", service, service_cap);
    param_get(rest, "scope", scope, scope_cap);
    return strcmp(scheme, "bearer") == 0 ? realm[0] != 0 : strcmp(scheme, "basic") == 0;
}

/* Appends "key=<v escaped as Go's url.QueryEscape>" to b, after '?' or '&'. */
static int query_add(struct ol_buf *b, const char *key, const char *v) {
    int rc = ol_buf_printf(b, "%c%s=", strchr(b->data ? b->data : "", '?') ? '&' : '?', key);
    for (const unsigned char *p = (const unsigned char *)v; *p && !rc; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~')
            rc = ol_buf_printf(b, "%c", *p);
        else if (*p == ' ')
            rc = ol_buf_puts(b, "+");
        else
            rc = ol_buf_printf(b, "%%%02X", *p);
    }
    return rc;
}

int reg_token_url(const char *realm, const char *service, const char *scope, int64_t ts,
                  const char *nonce, char *out, size_t cap) {
    char nbuf[32], tsbuf[32];
    if (!nonce) {
        unsigned char raw[16];
        if (RAND_bytes(raw, sizeof(raw)) != 1) return OL_EIO;
        reg_base64(raw, sizeof(raw), true, nbuf, sizeof(nbuf));
        nonce = nbuf;
    }
    snprintf(tsbuf, sizeof(tsbuf), "%lld", (long long)ts);
    struct ol_buf b = {0};
    int rc = ol_buf_puts(&b, realm);
    if (!rc) rc = query_add(&b, "nonce", nonce);
    /* each space-separated scope is its own parameter, in order */
    for (const char *p = scope; *p && !rc;) {
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char one[1024];
        snprintf(one, sizeof(one), "%.*s", (int)n, p);
        if (n) rc = query_add(&b, "scope", one);
        p += n;
        while (*p == ' ')
            p++;
    }
    if (!rc && service[0]) rc = query_add(&b, "service", service);
    if (!rc) rc = query_add(&b, "ts", tsbuf);
    if (!rc) rc = snprintf(out, cap, "%s", b.data) < (int)cap ? 0 : OL_EINVAL;
    ol_buf_free(&b);
    return rc;
}

/* ---- OpenSSH ed25519 keys ---- */

static void put_u32(struct ol_buf *b, uint32_t v) {
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    ol_buf_append(b, x, 4);
}

static void put_str(struct ol_buf *b, const void *p, size_t len) {
    put_u32(b, (uint32_t)len);
    ol_buf_append(b, p, len);
}

static void pub_blob(const unsigned char pub[32], struct ol_buf *b) {
    put_str(b, "ssh-ed25519", 11);
    put_str(b, pub, 32);
}

struct rd {
    const unsigned char *p;
    size_t len;
};

static bool get_str(struct rd *r, const unsigned char **p, size_t *len) {
    if (r->len < 4) return false;
    uint32_t n =
        (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    if (n > r->len - 4) return false;
    *p = r->p + 4;
    *len = n;
    r->p += 4 + n;
    r->len -= 4 + n;
    return true;
}

/* Writes a new key pair to key_path and key_path.pub. */
static int key_create(const char *key_path, unsigned char seed[32], unsigned char pub[32],
                      struct ol_err *err) {
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    size_t sl = 32, pl = 32;
    if (!k || EVP_PKEY_get_raw_private_key(k, seed, &sl) != 1 ||
        EVP_PKEY_get_raw_public_key(k, pub, &pl) != 1) {
        EVP_PKEY_free(k);
        return ol_err_set(err, OL_EIO, "generate ed25519 key");
    }
    EVP_PKEY_free(k);
    struct ol_buf bin = {0}, priv = {0}, pem = {0}, pubb = {0}, publine = {0};
    uint32_t check;
    RAND_bytes((unsigned char *)&check, sizeof(check));
    ol_buf_append(&bin, "openssh-key-v1", 15); /* with its NUL */
    put_str(&bin, "none", 4);
    put_str(&bin, "none", 4);
    put_str(&bin, "", 0);
    put_u32(&bin, 1);
    pub_blob(pub, &pubb);
    put_str(&bin, pubb.data, pubb.len);
    put_u32(&priv, check);
    put_u32(&priv, check);
    put_str(&priv, "ssh-ed25519", 11);
    put_str(&priv, pub, 32);
    unsigned char sk[64];
    memcpy(sk, seed, 32);
    memcpy(sk + 32, pub, 32);
    put_str(&priv, sk, 64);
    put_str(&priv, "", 0);
    for (unsigned char pad = 1; priv.len % 8; pad++)
        ol_buf_append(&priv, &pad, 1);
    put_str(&bin, priv.data, priv.len);
    size_t cap = 4 * ((bin.len + 2) / 3) + 1;
    char *b64 = malloc(cap);
    int rc = b64 ? 0 : OL_ENOMEM;
    if (!rc) {
        int n = reg_base64(bin.data, bin.len, false, b64, cap);
        ol_buf_puts(&pem, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
        for (int i = 0; i < n; i += 70)
            ol_buf_printf(&pem, "%.*s\n", OL_MIN(70, n - i), b64 + i);
        ol_buf_puts(&pem, "-----END OPENSSH PRIVATE KEY-----\n");
        char pb[200], path[PATH_MAX];
        reg_base64(pubb.data, pubb.len, false, pb, sizeof(pb));
        ol_buf_printf(&publine, "ssh-ed25519 %s\n", pb);
        rc = ol_file_write_atomic(key_path, pem.data, pem.len, err);
        if (!rc) chmod(key_path, 0600);
        snprintf(path, sizeof(path), "%s.pub", key_path);
        if (!rc) rc = ol_file_write_atomic(path, publine.data, publine.len, err);
    }
    free(b64);
    ol_buf_free(&bin);
    ol_buf_free(&priv);
    ol_buf_free(&pem);
    ol_buf_free(&pubb);
    ol_buf_free(&publine);
    return rc;
}

/* Reads seed and public key from an OpenSSH private key file. */
static int key_read(const char *key_path, unsigned char seed[32], unsigned char pub[32],
                    struct ol_err *err) {
    char *txt = NULL;
    size_t len;
    int rc = ol_file_read(key_path, 1 << 16, &txt, &len, err);
    if (rc < 0) return rc;
    const char *b = strstr(txt, "-----BEGIN OPENSSH PRIVATE KEY-----");
    const char *e = strstr(txt, "-----END OPENSSH PRIVATE KEY-----");
    rc = ol_err_set(err, OL_EFORMAT, "%s: not an unencrypted OpenSSH ed25519 key", key_path);
    if (!b || !e || e < b) goto out;
    b += 35;
    struct ol_buf clean = {0};
    for (const char *p = b; p < e; p++)
        if (*p != '\n' && *p != '\r' && *p != ' ') ol_buf_append(&clean, p, 1);
    unsigned char *bin = malloc(clean.len + 4);
    int n = bin ? EVP_DecodeBlock(bin, (unsigned char *)clean.data, (int)clean.len) : -1;
    ol_buf_free(&clean);
    if (n < 15 || memcmp(bin, "openssh-key-v1", 15) != 0) {
        free(bin);
        goto out;
    }
    struct rd r = {bin + 15, (size_t)n - 15};
    const unsigned char *p, *kt, *pk, *sk;
    size_t pl, ktl, pkl, skl;
    bool ok = get_str(&r, &p, &pl) && pl == 4 && memcmp(p, "none", 4) == 0 &&
              get_str(&r, &p, &pl) && get_str(&r, &p, &pl) && r.len >= 4;
    if (ok) {
        r.p += 4, r.len -= 4; /* number of keys */
        ok = get_str(&r, &p, &pl) && get_str(&r, &p, &pl);
    }
    if (ok) {
        struct rd s = {p, pl};
        ok = s.len >= 8 && memcmp(s.p, s.p + 4, 4) == 0;
        s.p += 8, s.len -= 8;
        ok = ok && get_str(&s, &kt, &ktl) && ktl == 11 && memcmp(kt, "ssh-ed25519", 11) == 0 &&
             get_str(&s, &pk, &pkl) && pkl == 32 && get_str(&s, &sk, &skl) && skl == 64;
        if (ok) {
            memcpy(seed, sk, 32);
            memcpy(pub, pk, 32);
            rc = 0;
        }
    }
    free(bin);
out:
    free(txt);
    return rc;
}

int reg_sign_request(const char *key_path, bool create, const char *method, const char *url,
                     char *out, size_t cap, struct ol_err *err) {
    unsigned char seed[32], pub[32], sig[64];
    int rc = key_read(key_path, seed, pub, err);
    if (rc == OL_ENOTFOUND && create) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", key_path);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = 0;
            store_mkdirs(dir, NULL);
        }
        rc = key_create(key_path, seed, pub, err);
    }
    if (rc < 0) return rc;
    /* spec §9 step 4: GET,<url>,<base64(hex(sha256 of the empty body))> */
    char hex[65], hexb64[100];
    ol_sha256_hex("", 0, hex);
    reg_base64(hex, 64, false, hexb64, sizeof(hexb64));
    struct ol_buf msg = {0};
    ol_buf_printf(&msg, "%s,%s,%s", method, url, hexb64);
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t sl = sizeof(sig);
    rc = k && md && msg.data && EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1 &&
                 EVP_DigestSign(md, sig, &sl, (unsigned char *)msg.data, msg.len) == 1
             ? 0
             : ol_err_set(err, OL_EIO, "sign request");
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    ol_buf_free(&msg);
    if (rc < 0) return rc;
    struct ol_buf pb = {0};
    pub_blob(pub, &pb);
    char pubs[200], sigs[100];
    reg_base64(pb.data, pb.len, false, pubs, sizeof(pubs));
    ol_buf_free(&pb);
    reg_base64(sig, sizeof(sig), false, sigs, sizeof(sigs));
    if (snprintf(out, cap, "%s:%s", pubs, sigs) >= (int)cap)
        return ol_err_set(err, OL_EINVAL, "signature too long");
    return 0;
}

/* Host name of a URL without port, lower case. */
static void url_hostname(const char *url, char *out, size_t cap) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, ":/?#");
    snprintf(out, cap, "%.*s", (int)n, p);
    for (char *c = out; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
}

int reg_token_fetch(struct reg_client *c, const char *www_auth, struct ol_err *err) {
    char scheme[16], realm[1024], service[256], scope[1024], url[4096], rh[400], oh[400];
    if (!reg_auth_parse(www_auth, scheme, sizeof(scheme), realm, sizeof(realm), service,
                        sizeof(service), scope, sizeof(scope)))
        return ol_err_set(err, OL_EINVAL, "unauthorized: access denied");
    /* Ollama compares host:port; we compare host names so a token server on another port of
     * the same host (private registries) works. */
    url_hostname(realm, rh, sizeof(rh));
    url_hostname(c->base, oh, sizeof(oh));
    if (strcmp(rh, oh) != 0)
        return ol_err_set(err, OL_EINVAL, "realm host \"%s\" does not match original host \"%s\"",
                          rh, oh);
    int rc = reg_token_url(realm, service, scope, (int64_t)time(NULL), NULL, url, sizeof(url));
    if (rc < 0) return ol_err_set(err, rc, "bad token URL");
    struct reg_client tc;
    reg_client_init(&tc, &c->name, NULL, NULL, c->cancel);
    tc.no_auth_retry = true;
    if (c->username[0]) {
        char up[600], b64[900];
        snprintf(up, sizeof(up), "%s:%s", c->username, c->password);
        reg_base64(up, strlen(up), false, b64, sizeof(b64));
        snprintf(tc.auth, sizeof(tc.auth), "Basic %s", b64);
    } else {
        const char *home = getenv("HOME");
        char key[PATH_MAX], sig[400];
        snprintf(key, sizeof(key), "%s/.ollama/id_ed25519", home && *home ? home : ".");
        rc = reg_sign_request(key, true, "GET", url, sig, sizeof(sig), err);
        if (rc < 0) return rc;
        snprintf(tc.auth, sizeof(tc.auth), "%s", sig);
    }
    struct reg_resp r = {.body_all = true};
    rc = reg_do(&tc, "GET", url, NULL, NULL, true, &r, err);
    if (rc == 0 && r.status >= 400)
        rc = ol_err_set(err, OL_EINVAL, "%ld: %s", r.status, r.body.data ? r.body.data : "");
    if (rc == 0) {
        json_t *j = r.body.data ? json_loads(r.body.data, 0, NULL) : NULL;
        const char *tok = json_string_value(json_object_get(j, "token"));
        if (!tok || !*tok) tok = json_string_value(json_object_get(j, "access_token"));
        if (tok && *tok)
            snprintf(c->auth, sizeof(c->auth), "Bearer %s", tok);
        else
            rc = ol_err_set(err, OL_EFORMAT, "token response has no token");
        json_decref(j);
    }
    reg_resp_free(&r);
    return rc;
}
