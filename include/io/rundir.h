/* rundir.h — the output folder of a run (train, attack, evaluate): what it holds, who may
 * write it, and how a new run replaces an old one without ever leaving a mixture.
 *
 *   DIR/run.json          what wrote the folder: {"command", "kktrecon" (version),
 *                         "identity": {key: text} (everything that changes the result),
 *                         "settings": {key: text} (recorded, free to change on --resume)}
 *   DIR/.kktrecon.lock    the run lock (runlock.h), held from open to close
 *   DIR/.staging/         where a new run writes until it commits (not on --resume)
 *   DIR/.incoming/        a committed staging folder whose files are being moved in
 *
 * A folder's kind is run.json's "command", else (folders written before run.json) guessed from
 * the files: model.safetensors = train, candidates.safetensors = attack, summary.json,
 * pairs.csv or report.html = evaluate. A new run refuses a folder of any kind without
 * --overwrite, and a path that is not a folder always (kktrecon replaces only what it wrote).
 *
 * Staging: every new run writes into DIR/.staging/; kr_rundir_commit (at success for train and
 * evaluate, at the first checkpoint for attack) writes the list of staged files to
 * .staging/.manifest, renames .staging to .incoming (the one atomic commit point), removes the
 * old run's files that the new run does not write, and renames the staged files into DIR.
 * A run killed before the commit leaves the old files byte-identical (the next run on the
 * folder deletes the stale .staging); killed during the moves, the next run finishes them.
 * A failed run removes its staging folder, and the folder itself if it created it and it is
 * empty.
 */
#ifndef KR_RUNDIR_H
#define KR_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>

#include "base/status.h"
#include "io/runlock.h"

struct cJSON;

typedef enum { KR_RUN_NEW, KR_RUN_OVERWRITE, KR_RUN_RESUME } kr_run_mode;

typedef struct kr_rundir {
    char dir[4096];
    char work[4200];        /* where the run writes now: DIR/.staging, or DIR once committed */
    const char *kind;       /* "train" | "attack" | "evaluate" */
    bool created;           /* DIR did not exist before this run */
    bool staged;            /* work is the staging folder (not yet committed) */
    struct cJSON *previous; /* RESUME: the folder's run.json; else NULL */
    kr_runlock *lock;
} kr_rundir;

/* Creates (unless resuming), locks and checks dir for a run of `kind` (see above). On
 * failure nothing is left: no lock, no staging, no folder it created. */
kr_status kr_rundir_open(kr_rundir *r, const char *dir, const char *kind, kr_run_mode mode);
/* buf = work/name. */
kr_status kr_rundir_path(const kr_rundir *r, char *buf, size_t cap, const char *name);
/* RESUME: refuses unless run's "identity" equals the folder's, listing each differing key as
 * "key: old vs new". */
kr_status kr_rundir_check_identity(const kr_rundir *r, const struct cJSON *run);
/* Writes run (see above) to work/run.json atomically. */
kr_status kr_rundir_write_run(const kr_rundir *r, const struct cJSON *run);
/* Makes the staged run the folder's run (a no-op when not staged). */
kr_status kr_rundir_commit(kr_rundir *r);
/* Ends the run: on failure (st != KR_OK) drops the staging folder and removes the folder if
 * this run created it and it is empty; always releases the lock. Returns st. */
kr_status kr_rundir_close(kr_rundir *r, kr_status st);

/* Size and zlib crc32 of a file's bytes: its identity in run.json. */
kr_status kr_rundir_file_identity(const char *path, long long *size, unsigned long *crc);

#endif
