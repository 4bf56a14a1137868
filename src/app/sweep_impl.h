/* sweep_impl.h — private to sweep.c, sweep_report.c and sweep_mpi.c: the state of a running
 * sweep, shared by its worker threads under one mutex, and the scheduling operations that the
 * MPI layer forwards from other ranks to rank 0. */
#ifndef KR_SWEEP_IMPL_H
#define KR_SWEEP_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "app/attack.h"
#include "app/sweep.h"
#include "io/sweep_manifest.h"

typedef struct kr_sweep kr_sweep;

/* How a worker reaches the queue: directly (this process owns the manifest) or through MPI
 * messages to rank 0 (sweep_mpi.c). */
typedef struct kr_sweep_queue {
    /* Next batch for a worker that takes `want` points; b = -1 when there is none. points
     * receives its n (<= 1024) point numbers, init[i] whether point i already failed (and
     * why: a resumed batch keeps it frozen). */
    kr_status (*take)(kr_sweep *sw, size_t want, const char *device, long *b, size_t *points,
                      kr_points_outcome *init, size_t *n);
    void (*failed)(kr_sweep *sw, long b, size_t point, const char *reason, const char *device);
    void (*checkpoint)(kr_sweep *sw, long b, long iteration);
    /* The batch finished: out[i] for points[i]. */
    void (*done)(kr_sweep *sw, long b, const size_t *points, size_t n,
                 const kr_points_outcome *out, const char *device);
    /* A worker stopped on an error (message in text); the others stop taking batches. */
    void (*error)(kr_sweep *sw, kr_status st, const char *text);
} kr_sweep_queue;

struct kr_sweep {
    const kr_config *cfg;
    const char *model;
    char dir[4096];
    kr_config *pc;                  /* n points' configurations (precision unresolved) */
    size_t n;
    bool log_axis[KR_SWEEP_NPARAM];
    long batch_fixed;               /* sweep.batch, 0 = auto */
    bool prune;                     /* sweep.prune = loss */
    size_t m, d;                    /* candidates per point, input size */
    const kr_sweep_queue *queue;
    int rank, ranks;                /* MPI: this rank and how many (1, 0 without MPI) */

    pthread_mutex_t mu;             /* guards everything below */
    kr_manifest man;                /* rank 0 only */
    char man_path[4200];
    double t0;
    size_t todo, finished, failed, batches_done, ran;
    size_t failed_total;            /* all failed points (report) */
    size_t pruned_total;            /* all pruned points (report) */
    double best_loss;
    long best_point;
    kr_status err;
    char err_msg[1100];
    bool stop;
    atomic_int workers_left;
};

/* The in-process queue (rank 0 / no MPI); sweep_mpi.c forwards other ranks' messages to it. */
extern const kr_sweep_queue kr_sweep_local_queue;

/* Runs one worker per device spec to the end of the queue (threads; joins them). */
kr_status kr_sweep_workers(kr_sweep *sw, char specs[][128], size_t n_specs);

/* sweep.csv, sweep.png and DIR/evaluate (sweep_report.c), after the queue is empty. */
kr_status kr_sweep_report(kr_sweep *sw, const char *device_spec, kr_sweep_result *res);

#ifdef KR_HAVE_MPI
/* Whether this process was started by mpirun (and MPI is initialised by it). */
bool kr_sweep_mpi_start(int *rank, int *ranks, int *local_rank);
/* Rank 0: serve the other ranks' queue requests until all are finished, while the local
 * workers run (atomic workers_left). Other ranks: their queue. */
kr_status kr_sweep_mpi_serve(kr_sweep *sw);
extern const kr_sweep_queue kr_sweep_mpi_queue;
/* Every rank's setup status combined (a rank that failed stops them all); the remote
 * ranks' workers announce themselves (kr_sweep_mpi_hello) before taking batches. */
kr_status kr_sweep_mpi_agree(kr_status st);
void kr_sweep_mpi_hello(int workers);
void kr_sweep_mpi_finish(void);
#endif

#endif
