/* cli_impl.h — what the command line's files share (cli.c, cli_bench.c): the exit codes, the
 * parsed flags and the helpers every command uses. Private to the kktrecon binary.
 */
#ifndef KR_CLI_IMPL_H
#define KR_CLI_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "base/status.h"
#include "device/device.h"

enum { EXIT_USAGE = 2, EXIT_INTERRUPTED = 130 };

/* ---------- flags ---------- */

#define MAX_MULTI 64

typedef struct flags {
    const char *config, *out, *model, *device, *precision, *activation, *objective;
    const char *alpha, *lambda_min;
    const char *sets[MAX_MULTI];
    int n_sets;
    const char *candidates[MAX_MULTI];
    int n_candidates;
    bool resume, overwrite, quiet, help, check;
    const char *what;
    const char *size;
    const char *reps;
    const char *json, *price, *budget;
    const char *top_k, *top_by, *devices;
} flags;

/* Parses argv[2..] against the space-separated flag names in `allowed` into *f; 0, or the exit
 * code of a usage error (message printed). */
int kr_cli_parse_flags(int argc, char **argv, const char *cmd, const char *allowed, flags *f);
/* Prints a command's --help; returns 0. */
int kr_cli_help_for(const char *name);
/* Prints "kktrecon CMD: error: <the error message>"; returns the exit code for st (1, or 130
 * when interrupted). */
int kr_cli_fail(const char *cmd, kr_status st);
/* A number from flag `name` of cmd into *out, at least lo (above it when lo_open); false with a
 * message printed otherwise. */
bool kr_cli_parse_number(const char *cmd, const char *name, const char *v, double lo,
                         bool lo_open, double *out);

/* --precision's comma list of single and double into dts (float32 first) and *n; false with a
 * message printed otherwise. */
bool kr_cli_parse_precisions(const char *cmd, const char *v, kr_dtype dts[2], int *n);

/* The bench command (cli_bench.c). */
int kr_cli_bench(int argc, char **argv);

#endif
