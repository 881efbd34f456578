/* Registry client pieces that need no registry (store-and-registry.md §6, §9): part sizes, the
 * WWW-Authenticate challenge, the token URL, and Ollama's signed request: the key pair in
 * OpenSSH format, the `<pub>:<sig>` Authorization value and the signed text, checked with
 * OpenSSL and (when installed) ssh-keygen. The transfers themselves are tested against a real
 * registry in tests/api/registry.test.mjs. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "store/registry.h"

static void test_part_size(void) {
    CHECK_EQ(reg_part_size(1000), 100000000);
    CHECK_EQ(reg_part_size(1ull << 30), 100000000);    /* 1 GiB / 16 < 100 MB */
    CHECK_EQ(reg_part_size(3200000000ull), 200000000); /* 3.2 GB / 16 */
    CHECK_EQ(reg_part_size(100000000000ull), 1000000000);
}

static void test_challenge(void) {
    char scheme[16], realm[256], service[64], scope[256];
    CHECK(reg_auth_parse("Bearer realm=\"https://auth.example.com/token\",service=\"registry\","
                         "scope=\"repository:ns/m:pull,push\"",
                         scheme, sizeof(scheme), realm, sizeof(realm), service, sizeof(service),
                         scope, sizeof(scope)));
    CHECK(strcmp(scheme, "bearer") == 0);
    CHECK(strcmp(realm, "https://auth.example.com/token") == 0);
    CHECK(strcmp(service, "registry") == 0);
    CHECK(strcmp(scope, "repository:ns/m:pull,push") == 0);
    CHECK(reg_auth_parse("Basic realm=\"x\"", scheme, sizeof(scheme), realm, sizeof(realm), service,
                         sizeof(service), scope, sizeof(scope)));
    CHECK(strcmp(scheme, "basic") == 0);
    CHECK(!reg_auth_parse("Bearer service=\"s\"", scheme, sizeof(scheme), realm, sizeof(realm),
                          service, sizeof(service), scope, sizeof(scope)));
}

static void test_token_url(void) {
    char url[1024];
    CHECK_EQ(reg_token_url("https://ollama.com/token", "ollama.com",
                           "repository:library/m:pull repository:a/b:pull,push", 1700000000,
                           "abc_-", url, sizeof(url)),
             0);
    /* keys sorted; each scope its own parameter; Go's QueryEscape */
    CHECK(strcmp(url,
                 "https://ollama.com/token?nonce=abc_-&scope=repository%3Alibrary%2Fm%3Apull"
                 "&scope=repository%3Aa%2Fb%3Apull%2Cpush&service=ollama.com&ts=1700000000") == 0);
    /* a random nonce: 16 bytes, unpadded base64url = 22 characters */
    CHECK_EQ(reg_token_url("http://h/t", "", "", 1, NULL, url, sizeof(url)), 0);
    const char *n = strstr(url, "nonce=");
    CHECK(n && strcspn(n + 6, "&") == 22);
}

static void test_signature(void) {
    char dir[] = "/tmp/ollama-sign-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char key[300], pub_path[320];
    snprintf(key, sizeof(key), "%s/.ollama/id_ed25519", dir);
    snprintf(pub_path, sizeof(pub_path), "%s.pub", key);
    const char *url = "https://ollama.com/token?nonce=x&scope=s&service=ollama.com&ts=1";
    char auth[400], auth2[400];
    struct ol_err err = {0};
    CHECK_EQ(reg_sign_request(key, false, "GET", url, auth, sizeof(auth), &err), OL_ENOTFOUND);
    CHECK_EQ(reg_sign_request(key, true, "GET", url, auth, sizeof(auth), &err), 0);
    CHECK_EQ(reg_sign_request(key, false, "GET", url, auth2, sizeof(auth2), &err), 0);
    CHECK(strcmp(auth, auth2) == 0); /* ed25519 is deterministic; the key was read back */

    /* <pub>:<sig>: pub = the base64 field of the .pub line, sig = 64 bytes in std base64 */
    char *colon = strchr(auth, ':');
    CHECK(colon != NULL);
    if (!colon) return;
    *colon = 0;
    const char *sig64 = colon + 1;
    CHECK(strncmp(auth, "AAAAC3NzaC1lZDI1NTE5", 20) == 0);
    char *pubtxt = NULL;
    size_t len;
    CHECK_EQ(ol_file_read(pub_path, 4096, &pubtxt, &len, NULL), 0);
    char line[500];
    snprintf(line, sizeof(line), "ssh-ed25519 %s\n", auth);
    CHECK(pubtxt && strcmp(pubtxt, line) == 0);
    free(pubtxt);
    CHECK_EQ(strlen(sig64), 88);

    /* verify the signature over GET,<url>,<base64(hex(sha256("")))> with the public key */
    unsigned char blob[64], sig[66];
    int bl = EVP_DecodeBlock(blob, (const unsigned char *)auth, (int)strlen(auth));
    CHECK_EQ(bl, 51); /* 4+11+4+32 */
    int sl = EVP_DecodeBlock(sig, (const unsigned char *)sig64, 88);
    CHECK_EQ(sl, 66); /* 64 + 2 padding bytes decoded as zeros */
    const char *msg = "GET,https://ollama.com/token?nonce=x&scope=s&service=ollama.com&ts=1,"
                      "ZTNiMGM0NDI5OGZjMWMxNDlhZmJmNGM4OTk2ZmI5MjQyN2FlNDFlNDY0OWI5MzRjYTQ5NTk5MWI3"
                      "ODUyYjg1NQ==";
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, blob + 19, 32);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    CHECK(pk && md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1);
    CHECK_EQ(EVP_DigestVerify(md, sig, 64, (const unsigned char *)msg, strlen(msg)), 1);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);

    /* OpenSSH itself reads our private key and derives the same public key */
    if (access("/usr/bin/ssh-keygen", X_OK) == 0) {
        char cmd[700];
        snprintf(cmd, sizeof(cmd), "ssh-keygen -y -f %s | cut -d' ' -f1,2 | diff - %s", key,
                 pub_path);
        CHECK_EQ(system(cmd), 0);
    }
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
}

int main(void) {
    test_part_size();
    test_challenge();
    test_token_url();
    test_signature();
    return check_exit("test_store_registry");
}
