/* libFuzzer target for model names and digests (store-and-registry.md §1, api.md §5.4). The
 * input, cut at its first NUL, is parsed as a name: a valid name must have only safe path parts
 * (never "", "." or "..", no '/'), print a full form that parses back to the same name, and a
 * short form that does too. The same bytes are checked as a digest against a direct reading of
 * ^sha256[:-][0-9a-fA-F]{64}$. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool part_safe(const char *p) {
    return p[0] && p[0] != '.' && !strchr(p, '/') && !strchr(p, '\\');
}

static bool digest_ref(const char *s) {
    if (strlen(s) != 71 || strncmp(s, "sha256", 6) != 0 || (s[6] != ':' && s[6] != '-'))
        return false;
    return strspn(s + 7, "0123456789abcdefABCDEF") == 64;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;

    struct store_name n, again;
    if (store_name_parse(s, &n) == 0) {
        OL_ASSERT(store_name_is_valid(&n));
        OL_ASSERT(part_safe(n.host) && part_safe(n.ns) && part_safe(n.model) && part_safe(n.tag));
        char buf[1024];
        store_name_full(&n, buf, sizeof(buf));
        OL_ASSERT(store_name_parse(buf, &again) == 0);
        OL_ASSERT(strcmp(n.host, again.host) == 0 && strcmp(n.ns, again.ns) == 0 &&
                  strcmp(n.model, again.model) == 0 && strcmp(n.tag, again.tag) == 0);
        store_name_short(&n, buf, sizeof(buf));
        OL_ASSERT(store_name_parse(buf, &again) == 0 && store_name_equal(&n, &again));
    }
    OL_ASSERT(store_digest_is_valid(s) == digest_ref(s));
    free(s);
    return 0;
}
