/* ollama: the command line. Until the server and store land (issue #3), only the version is
 * implemented; every other command says so clearly and exits non-zero. */
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"

#define OL_VERSION "0.0.0"

int main(int argc, char **argv) {
    if (argc >= 2 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
        printf("ollama version is %s\n", OL_VERSION);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "--help") == 0) {
        puts("Usage:\n  ollama [flags]\n\nFlags:\n  -v, --version   Show version information\n\n"
             "The engine can be driven today with build/release/ollama-engine (see README.md).");
        return argc < 2 ? 1 : 0;
    }
    fprintf(stderr, "Error: command \"%s\" is not implemented yet\n", argv[1]);
    return 1;
}
