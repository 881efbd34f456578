/* Model names (store-and-registry.md §1): grammar, defaults, validity limits, display forms,
 * hostile inputs that must never become paths, and digest validation. */
#include <string.h>

#include "check.h"
#include "store/store.h"

struct name_case {
    const char *in;
    const char *full; /* NULL: invalid */
    const char *shortest;
};

static const struct name_case cases[] = {
    {"llama3.2", "registry.ollama.ai/library/llama3.2:latest", "llama3.2:latest"},
    {"llama3.2:1b", "registry.ollama.ai/library/llama3.2:1b", "llama3.2:1b"},
    {"user/model:tag", "registry.ollama.ai/user/model:tag", "user/model:tag"},
    {"a/b", "registry.ollama.ai/a/b:latest", "a/b:latest"},
    {"localhost:5000/ns/m", "localhost:5000/ns/m:latest", "localhost:5000/ns/m:latest"},
    {"localhost:5000/ns/m:v1", "localhost:5000/ns/m:v1", "localhost:5000/ns/m:v1"},
    {"hf.co/user/repo:Q4_K_M", "hf.co/user/repo:Q4_K_M", "hf.co/user/repo:Q4_K_M"},
    {"https://example.com/ns/m", "example.com/ns/m:latest", "example.com/ns/m:latest"},
    {"http://example.com/ns/m", "example.com/ns/m:latest", "example.com/ns/m:latest"},
    {"REGISTRY.ollama.ai/Library/M:T", "REGISTRY.ollama.ai/Library/M:T", "M:T"},
    {"registry.ollama.ai/library/m", "registry.ollama.ai/library/m:latest", "m:latest"},
    {"m@sha256:0000000000000000000000000000000000000000000000000000000000000000",
     "registry.ollama.ai/library/m:latest", "m:latest"},
    {"m:t@sha256:abc", "registry.ollama.ai/library/m:t", "m:t"},
    {"_m_.-x:_t.-", "registry.ollama.ai/library/_m_.-x:_t.-", "_m_.-x:_t.-"},
    {"model.name", "registry.ollama.ai/library/model.name:latest", "model.name:latest"},
    /* invalid (§1.1 rule 5 and §1.2) */
    {"localhost:5000/m", NULL, NULL},
    {"", NULL, NULL},
    {":", NULL, NULL},
    {"m:", NULL, NULL},
    {":t", NULL, NULL},
    {"ns/", NULL, NULL},
    {"/m", NULL, NULL},
    {"h//m", NULL, NULL},
    {"/ns/m", NULL, NULL},
    {"ns.x/m", NULL, NULL},
    {".m", NULL, NULL},
    {"-m", NULL, NULL},
    {"m:.t", NULL, NULL},
    {"m:t:u", NULL, NULL},
    {"a b", NULL, NULL},
    {"m\n", NULL, NULL},
    {"ftp://h/ns/m", NULL, NULL},
    {"://h/ns/m", NULL, NULL},
    {"@sha256:abc", NULL, NULL},
    /* hostile: nothing that could escape manifests/ or make a fifth level */
    {"../../etc/passwd", NULL, NULL},
    {"..", NULL, NULL},
    {".", NULL, NULL},
    {"a/../b", NULL, NULL},
    {"a/./b", NULL, NULL},
    {"h/ns/../m", NULL, NULL},
    {"h/ns/m/../x", NULL, NULL},
    {"a/b/c/d", NULL, NULL},
    {"m:../x", NULL, NULL},
    {"m:t/x", NULL, NULL},
    {"ns/m:t/../../x", NULL, NULL},
    {"mod\xc3\xa8le", NULL, NULL},
    {"m\\x", NULL, NULL},
    {"~/m", NULL, NULL},
    {"m%2f..", NULL, NULL},
};

static void test_table(void) {
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct store_name n;
        char buf[1024];
        int rc = store_name_parse(cases[i].in, &n);
        if (!cases[i].full) {
            if (rc == 0) fprintf(stderr, "accepted invalid name \"%s\"\n", cases[i].in);
            CHECK_EQ(rc, OL_EINVAL);
            continue;
        }
        CHECK_EQ(rc, 0);
        if (rc) {
            fprintf(stderr, "rejected \"%s\"\n", cases[i].in);
            continue;
        }
        CHECK(store_name_is_valid(&n));
        store_name_full(&n, buf, sizeof(buf));
        if (strcmp(buf, cases[i].full) != 0) fprintf(stderr, "%s -> %s\n", cases[i].in, buf);
        CHECK(strcmp(buf, cases[i].full) == 0);
        store_name_short(&n, buf, sizeof(buf));
        if (strcmp(buf, cases[i].shortest) != 0) fprintf(stderr, "%s -> %s\n", cases[i].in, buf);
        CHECK(strcmp(buf, cases[i].shortest) == 0);
        /* the full form parses back to the same name */
        struct store_name again;
        store_name_full(&n, buf, sizeof(buf));
        CHECK_EQ(store_name_parse(buf, &again), 0);
        CHECK(store_name_equal(&n, &again));
    }
    CHECK_EQ(store_name_parse(NULL, &(struct store_name){0}), OL_EINVAL);
}

static void test_scheme(void) {
    struct store_name n;
    CHECK_EQ(store_name_parse("m", &n), 0);
    CHECK(strcmp(n.scheme, "https") == 0);
    CHECK_EQ(store_name_parse("HTTP://h/ns/m", &n), 0);
    CHECK(strcmp(n.scheme, "http") == 0);
    CHECK(strcmp(n.host, "h") == 0);
}

/* Lengths: host 1..350, ns/model/tag 1..80. */
static void test_lengths(void) {
    char s[1024], part[400];
    struct store_name n;
    memset(part, 'a', sizeof(part));
    snprintf(s, sizeof(s), "%.80s", part);
    CHECK_EQ(store_name_parse(s, &n), 0);
    snprintf(s, sizeof(s), "%.81s", part);
    CHECK_EQ(store_name_parse(s, &n), OL_EINVAL);
    snprintf(s, sizeof(s), "m:%.80s", part);
    CHECK_EQ(store_name_parse(s, &n), 0);
    snprintf(s, sizeof(s), "m:%.81s", part);
    CHECK_EQ(store_name_parse(s, &n), OL_EINVAL);
    snprintf(s, sizeof(s), "%.80s/m", part);
    CHECK_EQ(store_name_parse(s, &n), 0);
    snprintf(s, sizeof(s), "%.81s/m", part);
    CHECK_EQ(store_name_parse(s, &n), OL_EINVAL);
    snprintf(s, sizeof(s), "%.350s/ns/m", part);
    CHECK_EQ(store_name_parse(s, &n), 0);
    CHECK_EQ(strlen(n.host), 350);
    snprintf(s, sizeof(s), "%.351s/ns/m", part);
    CHECK_EQ(store_name_parse(s, &n), OL_EINVAL);
    /* very long input of any shape */
    static char big[100000];
    memset(big, 'a', sizeof(big) - 1);
    CHECK_EQ(store_name_parse(big, &n), OL_EINVAL);
    for (size_t i = 0; i < sizeof(big) - 1; i += 7)
        big[i] = '/';
    CHECK_EQ(store_name_parse(big, &n), OL_EINVAL);
}

static void test_equal(void) {
    struct store_name a, b;
    CHECK_EQ(store_name_parse("Llama3.2", &a), 0);
    CHECK_EQ(store_name_parse("registry.ollama.ai/library/llama3.2:LATEST", &b), 0);
    CHECK(store_name_equal(&a, &b));
    CHECK_EQ(store_name_parse("llama3.2:1b", &b), 0);
    CHECK(!store_name_equal(&a, &b));
}

static void test_digests(void) {
    const char *hex = "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef";
    char d[128];
    snprintf(d, sizeof(d), "sha256:%s", hex);
    CHECK(store_digest_is_valid(d));
    snprintf(d, sizeof(d), "sha256-%s", hex);
    CHECK(store_digest_is_valid(d));
    snprintf(d, sizeof(d), "sha256_%s", hex);
    CHECK(!store_digest_is_valid(d));
    snprintf(d, sizeof(d), "sha256:%s0", hex);
    CHECK(!store_digest_is_valid(d));
    snprintf(d, sizeof(d), "sha256:%.63s", hex);
    CHECK(!store_digest_is_valid(d));
    snprintf(d, sizeof(d), "sha256:%.63sg", hex);
    CHECK(!store_digest_is_valid(d));
    snprintf(d, sizeof(d), "SHA256:%s", hex);
    CHECK(!store_digest_is_valid(d));
    snprintf(d, sizeof(d), "sha256:../%.61s", hex);
    CHECK(!store_digest_is_valid(d));
    CHECK(!store_digest_is_valid(""));
    CHECK(!store_digest_is_valid("sha256:"));
    CHECK(!store_digest_is_valid(NULL));
}

int main(void) {
    test_table();
    test_scheme();
    test_lengths();
    test_equal();
    test_digests();
    return check_exit("test_store_names");
}
