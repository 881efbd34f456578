/* `ollama serve`: the CLI hands the process over to the server module, which reads its
 * settings from the environment (env.md) and runs until SIGINT/SIGTERM. */
#include "cli/cli.h"

#include "server/server.h"

int cli_serve(int argc, char **argv) { return srv_main(argc, argv); }
