/* server: the REST API (the /api routes), request validation, the scheduler that loads models and
 * runs them, and NDJSON streaming. The only public entry point is the `ollama serve` command. */
#ifndef OL_SERVER_SERVER_H
#define OL_SERVER_SERVER_H

#include "base/base.h"

/* Runs the server until SIGINT or SIGTERM, configured from the environment (spec: env.md):
 * OLLAMA_HOST, OLLAMA_MODELS, OLLAMA_KEEP_ALIVE, OLLAMA_MAX_LOADED_MODELS, OLLAMA_MAX_QUEUE,
 * OLLAMA_ORIGINS, OLLAMA_NOPRUNE, OLLAMA_CONTEXT_LENGTH, OLLAMA_NUM_THREAD... Returns the
 * process exit status (0 after a clean shutdown, 1 when it cannot start). */
int srv_main(int argc, char **argv);

#endif
