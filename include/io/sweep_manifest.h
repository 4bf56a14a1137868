/* sweep_manifest.h — DIR/sweep.json, the manifest of `kktrecon sweep` (app/sweep.h): what is
 * pending, running, done, failed or pruned, and which batch holds which points. Written atomically
 * (PATH.tmp, then rename) at every change, so a killed sweep leaves a manifest that was true
 * at some instant; `--resume` reads it back (refusing a damaged one, naming what is wrong).
 *
 *   {"format": "kktrecon-sweep/1",
 *    "points":  [{"point": i, "status": "pending|running|done|failed|pruned", "batch": b | -1,
 *                 "reason": "...", "device": "...", "seconds": s}, ...],
 *    "batches": [{"batch": b, "points": [i, ...], "status": "...", "device": "...",
 *                 "checkpoint_iteration": n}, ...]}
 */
#ifndef KR_SWEEP_MANIFEST_H
#define KR_SWEEP_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include "base/status.h"

/* PRUNED: stopped early by successive halving (sweep.prune); its files are those of then. */
typedef enum { KR_PT_PENDING, KR_PT_RUNNING, KR_PT_DONE, KR_PT_FAILED, KR_PT_PRUNED } kr_pt_status;

typedef struct kr_manifest_point {
    kr_pt_status status;
    long batch;          /* -1: in no batch yet */
    char reason[200];    /* failed: why */
    char device[160];
    double seconds;
} kr_manifest_point;

typedef struct kr_manifest_batch {
    size_t n;
    size_t *points;      /* n point numbers */
    kr_pt_status status; /* PENDING: made but not started (or to be resumed); RUNNING; DONE */
    bool taken;          /* this process handed it to a worker (not saved) */
    long checkpoint_iteration;
    char device[160];
} kr_manifest_batch;

typedef struct kr_manifest {
    size_t n_points;
    kr_manifest_point *pt;
    size_t n_batches, cap_batches;
    kr_manifest_batch *bt;
} kr_manifest;

const char *kr_manifest_status_name(kr_pt_status s);
/* n pending points, no batches. */
kr_status kr_manifest_init(kr_manifest *m, size_t n_points);
/* Grows to n points (the new ones pending); never shrinks. */
kr_status kr_manifest_grow(kr_manifest *m, size_t n_points);
/* Appends a batch of the given points (marked in it); returns its number in *b. */
kr_status kr_manifest_add_batch(kr_manifest *m, const size_t *points, size_t n, size_t *b);
kr_status kr_manifest_load(const char *path, kr_manifest *m);
kr_status kr_manifest_save(const char *path, const kr_manifest *m);
void kr_manifest_free(kr_manifest *m);

#endif
