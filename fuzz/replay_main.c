/* Corpus replay: runs a libFuzzer target's LLVMFuzzerTestOneInput over saved inputs without
 * libFuzzer, so `make test` (and the sanitizer builds) exercise every corpus file and every
 * crash found so far. Each argument is a file or a folder, walked recursively. Each input is
 * copied into a buffer of exactly its size, so AddressSanitizer sees any read past its end. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_DEPTH 16

struct replay {
    long n_inputs;
    long n_errors; /* files or folders we could not read */
};

/* Reads the whole file and hands it to the target. A read error is counted and reported. */
static void replay_file(struct replay *r, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        r->n_errors++;
        return;
    }
    size_t cap = 4096;
    size_t len = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        if (len == cap) {
            uint8_t *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    int failed = !buf || ferror(f);
    fclose(f);
    if (failed) {
        fprintf(stderr, "replay: %s: read failed\n", path);
        free(buf);
        r->n_errors++;
        return;
    }
    /* An exact-size copy (malloc(0) may return NULL: use a 1-byte buffer then). */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        fprintf(stderr, "replay: %s: out of memory\n", path);
        free(buf);
        r->n_errors++;
        return;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    r->n_inputs++;
}

static void replay_path(struct replay *r, const char *path, int depth);

static void replay_dir(struct replay *r, const char *path, int depth) {
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        r->n_errors++;
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ".", ".." and hidden files such as .gitkeep */
        size_t n = strlen(path) + strlen(e->d_name) + 2;
        char *child = malloc(n);
        if (!child) {
            r->n_errors++;
            continue;
        }
        snprintf(child, n, "%s/%s", path, e->d_name);
        replay_path(r, child, depth + 1);
        free(child);
    }
    closedir(d);
}

static void replay_path(struct replay *r, const char *path, int depth) {
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        if (errno != ENOENT) r->n_errors++;
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        if (depth < REPLAY_MAX_DEPTH) replay_dir(r, path, depth);
    } else if (S_ISREG(st.st_mode)) {
        replay_file(r, path);
    }
}

int main(int argc, char **argv) {
    struct replay r = {0, 0};
    for (int i = 1; i < argc; i++)
        replay_path(&r, argv[i], 0);
    printf("replayed %ld inputs\n", r.n_inputs);
    if (r.n_inputs == 0)
        fprintf(stderr, "replay: note: no inputs found (empty or missing corpus)\n");
    if (r.n_errors) fprintf(stderr, "replay: note: %ld paths could not be read\n", r.n_errors);
    return 0;
}
