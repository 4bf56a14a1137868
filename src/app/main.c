/* main.c — the kktrecon binary: hands argv to the command line (cli.c), prints the error
 * buffer on failure and chooses the exit code. Nothing else lives here. */
#include "app/cli.h"

int main(int argc, char **argv) { return kr_cli_main(argc, argv); }
