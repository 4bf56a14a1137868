/* sweep_mpi.c — `mpirun -np N kktrecon sweep …` (sweep.h), built when meson finds OpenMPI.
 *
 * Rank 0 owns the run folder's lock and manifest and hands out batches: its main thread serves
 * the other ranks' messages (below) while its own workers take batches from the same queue in
 * process. Every other rank runs its workers (its own device: --device / --devices, else its
 * local rank's GPU, else host) and reaches the queue through messages to rank 0. All ranks
 * write their points' folders and batch checkpoints into DIR directly (a shared filesystem
 * across machines). Dynamic hand-out means a faster rank simply asks again sooner; which rank
 * runs a batch does not change its result (a batch's points are fixed when it is made).
 *
 * Messages (MPI_BYTE, tag KR_TAG_MSG; a header, then for some its arrays on KR_TAG_DATA):
 *   HELLO n        a rank's n workers will ask for batches
 *   TAKE want dev  -> reply: header (b, n), then n point numbers and n initial outcomes
 *   FAILED b p why a point failed;   CKPT b it  a batch checkpointed
 *   DONE b n dev   then n point numbers and n outcomes
 *   ERROR st text  a worker stopped on an error (it takes no more batches)
 * Rank 0 serves until every announced worker got "no batch" or reported an error. MPI calls
 * on a rank are serialised by one mutex (MPI_THREAD_SERIALIZED); on rank 0 only the main
 * thread calls MPI.
 */
#ifdef KR_HAVE_MPI

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/sweep_impl.h"
#include "base/log.h"

enum { KR_TAG_MSG = 7301, KR_TAG_DATA = 7302 };
enum { M_HELLO, M_TAKE, M_FAILED, M_CKPT, M_DONE, M_ERROR, M_REPLY };

typedef struct msg {
    int type, st;
    long b, it, count;
    size_t point;
    char device[160];
    char text[1024];
} msg;

static pthread_mutex_t mpi_mu = PTHREAD_MUTEX_INITIALIZER;

bool kr_sweep_mpi_start(int *rank, int *ranks, int *local_rank)
{
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK"))
        return false; /* not started by mpirun: one process, no MPI */
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) return false;
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, ranks);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, *rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, local_rank);
    MPI_Comm_free(&node);
    if (*ranks == 1) *local_rank = -1; /* mpirun -np 1: as without MPI */
    return true;
}

kr_status kr_sweep_mpi_agree(kr_status st)
{
    int mine = st == KR_OK ? 0 : 1, any = 0;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (st != KR_OK) return st;
    if (any) return KR_FAIL(KR_E_INVALID, "another MPI rank could not start the sweep (see its "
                            "message)");
    return KR_OK;
}

void kr_sweep_mpi_finish(void) { MPI_Finalize(); }

static void send_msg(const msg *m, int to)
{
    MPI_Send(m, (int)sizeof *m, MPI_BYTE, to, KR_TAG_MSG, MPI_COMM_WORLD);
}

static void send_data(const void *p, size_t bytes, int to)
{
    MPI_Send(p, (int)bytes, MPI_BYTE, to, KR_TAG_DATA, MPI_COMM_WORLD);
}

static void recv_data(void *p, size_t bytes, int from)
{
    MPI_Recv(p, (int)bytes, MPI_BYTE, from, KR_TAG_DATA, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}

void kr_sweep_mpi_hello(int workers)
{
    msg m = {.type = M_HELLO, .count = workers};
    pthread_mutex_lock(&mpi_mu);
    send_msg(&m, 0);
    pthread_mutex_unlock(&mpi_mu);
}

/* ---------------------------------------------------------------- other ranks */

static kr_status remote_take(kr_sweep *sw, size_t want, const char *device, long *b,
                             size_t *points, kr_points_outcome *init, size_t *n)
{
    (void)sw;
    msg m = {.type = M_TAKE, .count = (long)want};
    snprintf(m.device, sizeof m.device, "%s", device);
    pthread_mutex_lock(&mpi_mu);
    send_msg(&m, 0);
    MPI_Recv(&m, (int)sizeof m, MPI_BYTE, 0, KR_TAG_MSG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    *b = m.b;
    *n = m.b >= 0 ? (size_t)m.count : 0;
    if (*n) {
        recv_data(points, *n * sizeof *points, 0);
        recv_data(init, *n * sizeof *init, 0);
    }
    pthread_mutex_unlock(&mpi_mu);
    return KR_OK;
}

static void remote_failed(kr_sweep *sw, long b, size_t point, const char *reason, const char *device)
{
    (void)sw;
    msg m = {.type = M_FAILED, .b = b, .point = point};
    snprintf(m.text, sizeof m.text, "%s", reason);
    snprintf(m.device, sizeof m.device, "%s", device);
    pthread_mutex_lock(&mpi_mu);
    send_msg(&m, 0);
    pthread_mutex_unlock(&mpi_mu);
}

static void remote_checkpoint(kr_sweep *sw, long b, long it)
{
    (void)sw;
    msg m = {.type = M_CKPT, .b = b, .it = it};
    pthread_mutex_lock(&mpi_mu);
    send_msg(&m, 0);
    pthread_mutex_unlock(&mpi_mu);
}

static void remote_done(kr_sweep *sw, long b, const size_t *points, size_t n,
                        const kr_points_outcome *out, const char *device)
{
    msg m = {.type = M_DONE, .b = b, .count = (long)n};
    snprintf(m.device, sizeof m.device, "%s", device);
    pthread_mutex_lock(&mpi_mu);
    send_msg(&m, 0);
    send_data(points, n * sizeof *points, 0);
    send_data(out, n * sizeof *out, 0);
    pthread_mutex_unlock(&mpi_mu);
    pthread_mutex_lock(&sw->mu);
    sw->finished += n;
    pthread_mutex_unlock(&sw->mu);
}

static void remote_error(kr_sweep *sw, kr_status st, const char *text)
{
    msg m = {.type = M_ERROR, .st = (int)st};
    snprintf(m.text, sizeof m.text, "rank %d: %s", sw->rank, text);
    pthread_mutex_lock(&mpi_mu);
    send_msg(&m, 0);
    pthread_mutex_unlock(&mpi_mu);
    pthread_mutex_lock(&sw->mu);
    if (sw->err == KR_OK) {
        sw->err = st;
        snprintf(sw->err_msg, sizeof sw->err_msg, "%s", text);
    }
    pthread_mutex_unlock(&sw->mu);
}

const kr_sweep_queue kr_sweep_mpi_queue = {remote_take, remote_failed, remote_checkpoint,
                                           remote_done, remote_error};

/* ---------------------------------------------------------------- rank 0 */

kr_status kr_sweep_mpi_serve(kr_sweep *sw)
{
    const kr_sweep_queue *q = &kr_sweep_local_queue;
    int hellos = sw->ranks - 1, workers = 0;
    size_t *points = malloc(1024 * sizeof *points);
    kr_points_outcome *out = malloc(1024 * sizeof *out);
    if (!points || !out) {
        free(points);
        free(out);
        return KR_FAIL(KR_E_NOMEM, "sweep: MPI buffers");
    }
    while (hellos > 0 || workers > 0) {
        int flag = 0;
        MPI_Status s;
        MPI_Iprobe(MPI_ANY_SOURCE, KR_TAG_MSG, MPI_COMM_WORLD, &flag, &s);
        if (!flag) {
            nanosleep(&(struct timespec){0, 2000000}, NULL);
            continue;
        }
        msg m;
        const int from = s.MPI_SOURCE;
        MPI_Recv(&m, (int)sizeof m, MPI_BYTE, from, KR_TAG_MSG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        switch (m.type) {
        case M_HELLO:
            hellos--;
            workers += (int)m.count;
            break;
        case M_TAKE: {
            long b = -1;
            size_t n = 0;
            size_t want = m.count < 1 ? 1 : m.count > 1024 ? 1024 : (size_t)m.count;
            if (q->take(sw, want, m.device, &b, points, out, &n) != KR_OK) {
                q->error(sw, KR_E_NOMEM, kr_error_message());
                b = -1;
            }
            msg r = {.type = M_REPLY, .b = b, .count = (long)n};
            send_msg(&r, from);
            if (b >= 0 && n) {
                send_data(points, n * sizeof *points, from);
                send_data(out, n * sizeof *out, from);
            }
            if (b < 0) workers--;
            break;
        }
        case M_FAILED: q->failed(sw, m.b, m.point, m.text, m.device); break;
        case M_CKPT: q->checkpoint(sw, m.b, m.it); break;
        case M_DONE: {
            size_t n = m.count < 0 ? 0 : m.count > 1024 ? 1024 : (size_t)m.count;
            recv_data(points, n * sizeof *points, from);
            recv_data(out, n * sizeof *out, from);
            q->done(sw, m.b, points, n, out, m.device);
            break;
        }
        case M_ERROR:
            q->error(sw, (kr_status)m.st, m.text);
            workers--;
            break;
        default: break;
        }
    }
    free(points);
    free(out);
    return KR_OK;
}

#else
typedef int kr_sweep_mpi_unused; /* ISO C: a translation unit is not empty */
#endif
