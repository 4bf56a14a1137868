/* cli.h — the command line of the kktrecon binary (subcommands, flags, --help). */
#ifndef KR_CLI_H
#define KR_CLI_H

/* Runs one subcommand; returns the process exit code (0 ok, 1 failure, 2 usage error,
 * 130 interrupted). */
int kr_cli_main(int argc, char **argv);

#endif
