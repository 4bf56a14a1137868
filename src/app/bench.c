/* bench.c — times the pipeline's own work (one training step, one attack iteration) on a
 * device and prints GFLOP/s beside the device's GEMM rate measured in the same run, so the
 * ratio says how close the pipeline comes to its backend's own BLAS. Never asserts on time.
 * FLOP counts: training kr_mlp_step_flops; attack 2m(5·D·H₁ + 7·H₁·H₂) (ISSUE 3 / DESIGN
 * §3.1, the GEMMs of one iteration for a 3-layer net).
 */
#include "app/bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "device/blas.h"
#include "nn/kkt.h"
#include "nn/optim.h"
#include "base/log.h"
#include "nn/mlp.h"
#include "device/ops.h"
#include "device/peak.h"
#include "base/rng.h"

void kr_bench_defaults(kr_bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->d = 784;
    o->h = 1000;
    o->n = 500;
    o->m = 1000;
    o->reps = 5;
    o->train = o->attack = true;
    o->dtypes[0] = KR_F32;
    o->dtypes[1] = KR_F64;
    o->n_dtypes = 2;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static kr_status make_model(size_t d, size_t h, kr_model **m)
{
    size_t hidden[2] = {h, h};
    KR_TRY(kr_model_new(d, hidden, 2, true, m));
    /* A larger first-layer scale than training's 1e-4 so activations are not all tiny. */
    kr_model_init(*m, 0.05, 7);
    return KR_OK;
}

static double *random_matrix(size_t n, double scale, uint64_t seed)
{
    double *x = malloc(n * sizeof *x);
    if (!x) return NULL;
    kr_rng r;
    kr_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = kr_rng_normal(&r) * scale;
    return x;
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static kr_status bench_train(kr_device *dev, kr_dtype dt, const kr_bench_opts *o, double *sec,
                             double *flops, kr_device_counters *per_iter)
{
    kr_model *m = NULL;
    kr_mlp *net = NULL;
    double *x = NULL, *y = NULL;
    kr_status st;
    double t[64];
    KR_TRY_GOTO(make_model(o->d, o->h, &m));
    if (!(x = random_matrix(o->n * o->d, 0.3, 1)) || !(y = malloc(o->n * sizeof *y))) {
        st = KR_FAIL(KR_E_NOMEM, "bench data");
        goto fail;
    }
    for (size_t i = 0; i < o->n; i++) y[i] = i % 2 ? 1.0 : -1.0;
    KR_TRY_GOTO(kr_mlp_new(dev, dt, m, o->n, &net));
    KR_TRY_GOTO(kr_mlp_set_batch(net, x, y));
    int reps = o->reps < 64 ? o->reps : 64;
    for (int r = -1; r < reps; r++) { /* r = -1 warms up (kernel variants, caches) */
        if (r == reps - 1) kr_device_counters_reset(dev);
        double t0 = kr_time_now();
        KR_TRY_GOTO(kr_mlp_loss_grad(net, NULL, NULL)); /* the loop reads it at log steps only */
        KR_TRY_GOTO(kr_mlp_step(net, 1e-3));
        KR_TRY_GOTO(kr_device_finish(dev));
        if (r >= 0) t[r] = kr_time_now() - t0;
    }
    kr_device_counters_get(dev, per_iter);
    *sec = median(t, reps);
    *flops = kr_mlp_step_flops(m, o->n);
fail:
    kr_mlp_free(net);
    kr_model_free(m);
    free(x);
    free(y);
    return st;
}

static kr_status bench_attack(kr_device *dev, kr_dtype dt, const kr_bench_opts *o, double *sec,
                              double *flops, kr_device_counters *per_iter)
{
    kr_model *m = NULL;
    kr_kkt *k = NULL;
    kr_tensor *x = NULL, *l = NULL, *gx = NULL, *gl = NULL, *bx = NULL, *bl = NULL;
    double *hx = NULL, *y = NULL;
    kr_status st;
    double t[64];
    KR_TRY_GOTO(make_model(o->d, o->h, &m));
    if (!(hx = random_matrix(o->m * o->d, 0.3, 2)) || !(y = malloc(o->m * sizeof *y))) {
        st = KR_FAIL(KR_E_NOMEM, "bench data");
        goto fail;
    }
    for (size_t i = 0; i < o->m; i++) y[i] = i < o->m / 2 ? -1.0 : 1.0;
    kr_kkt_opts ko = {KR_ACT_RELU, 19.2, 0.42};
    KR_TRY_GOTO(kr_kkt_new(dev, dt, m, &ko, o->m, y, &k));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, o->m, o->d, "X", &x));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, o->m, o->d, "dX", &gx));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, o->m, o->d, "X momentum", &bx));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, o->m, 1, "lambda", &l));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, o->m, 1, "dlambda", &gl));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, o->m, 1, "lambda momentum", &bl));
    KR_TRY_GOTO(kr_tensor_write(x, hx));
    KR_TRY_GOTO(kr_tensor_fill(l, 0.5));
    int reps = o->reps < 64 ? o->reps : 64;
    for (int r = -1; r < reps; r++) {
        if (r == reps - 1) kr_device_counters_reset(dev);
        double t0 = kr_time_now();
        KR_TRY_GOTO(kr_kkt_eval(k, x, l, gx, gl)); /* the loop reads the loss at log steps only */
        KR_TRY_GOTO(kr_op_sgd(1e-6, 0.9, r <= 0, x, gx, bx));
        KR_TRY_GOTO(kr_op_sgd(1e-6, 0.9, r <= 0, l, gl, bl));
        KR_TRY_GOTO(kr_device_finish(dev));
        if (r >= 0) t[r] = kr_time_now() - t0;
    }
    kr_device_counters_get(dev, per_iter);
    *sec = median(t, reps);
    *flops = 2.0 * (double)o->m * (5.0 * (double)o->d * (double)o->h + 7.0 * (double)o->h * (double)o->h);
fail:
    kr_tensor_free(x);
    kr_tensor_free(l);
    kr_tensor_free(gx);
    kr_tensor_free(gl);
    kr_tensor_free(bx);
    kr_tensor_free(bl);
    kr_kkt_free(k);
    kr_model_free(m);
    free(hx);
    free(y);
    return st;
}

/* One iteration (loss, gradient, SGD-momentum steps with per-row lr) of P points of mp
 * candidates each at D-H-H-1 in one kkt object; P == 1 is the single-point path. Median
 * seconds per iteration over reps. */
static kr_status bench_points(kr_device *dev, kr_dtype dt, size_t P, size_t mp, size_t d,
                              size_t h, int reps, double *sec)
{
    kr_model *m = NULL;
    kr_kkt *k = NULL;
    kr_tensor *x = NULL, *l = NULL, *gx = NULL, *gl = NULL, *bx = NULL, *bl = NULL;
    kr_tensor *lrx = NULL, *lrl = NULL, *mom = NULL;
    kr_kkt_point pts[16];
    kr_kkt_loss loss[16];
    double *hx = NULL, *y = NULL, t[64];
    const size_t M = P * mp;
    kr_status st;
    if (P > 16) return KR_FAIL(KR_E_INVALID, "bench: at most 16 points");
    KR_TRY_GOTO(make_model(d, h, &m));
    if (!(hx = random_matrix(M * d, 0.3, 2)) || !(y = malloc(mp * sizeof *y))) {
        st = KR_FAIL(KR_E_NOMEM, "bench data");
        goto fail;
    }
    for (size_t i = 0; i < mp; i++) y[i] = i < mp / 2 ? -1.0 : 1.0;
    for (size_t p = 0; p < P; p++) pts[p] = (kr_kkt_point){10.0 + 30.0 * (double)p, 0.42};
    KR_TRY_GOTO(kr_kkt_new_points(dev, dt, m, KR_ACT_RELU, pts, P, mp, y, &k));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, d, "X", &x));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, d, "dX", &gx));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, d, "X momentum", &bx));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, 1, "lambda", &l));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, 1, "dlambda", &gl));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, 1, "lambda momentum", &bl));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, 1, "lr_x", &lrx));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, 1, "lr_lambda", &lrl));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, 1, "momentum", &mom));
    KR_TRY_GOTO(kr_tensor_write(x, hx));
    KR_TRY_GOTO(kr_tensor_fill(l, 0.5));
    KR_TRY_GOTO(kr_tensor_fill(lrx, 1e-6));
    KR_TRY_GOTO(kr_tensor_fill(lrl, 1e-6));
    KR_TRY_GOTO(kr_tensor_fill(mom, 0.9));
    if (reps > 64) reps = 64;
    for (int r = -1; r < reps; r++) {
        double t0 = kr_time_now();
        KR_TRY_GOTO(kr_kkt_eval(k, x, l, gx, gl));
        KR_TRY_GOTO(kr_kkt_read_losses(k, loss, NULL));
        if (P == 1) { /* exactly what a single-point attack iteration does */
            KR_TRY_GOTO(kr_op_sgd(1e-6, 0.9, r <= 0, x, gx, bx));
            KR_TRY_GOTO(kr_op_sgd(1e-6, 0.9, r <= 0, l, gl, bl));
        } else {
            KR_TRY_GOTO(kr_optim_sgd_rows(lrx, mom, r <= 0 ? 0 : 1, x, gx, bx));
            KR_TRY_GOTO(kr_optim_sgd_rows(lrl, mom, r <= 0 ? 0 : 1, l, gl, bl));
        }
        KR_TRY_GOTO(kr_device_finish(dev));
        if (r >= 0) t[r] = kr_time_now() - t0;
    }
    *sec = median(t, reps);
fail:
    kr_tensor_free(x);
    kr_tensor_free(l);
    kr_tensor_free(gx);
    kr_tensor_free(gl);
    kr_tensor_free(bx);
    kr_tensor_free(bl);
    kr_tensor_free(lrx);
    kr_tensor_free(lrl);
    kr_tensor_free(mom);
    kr_kkt_free(k);
    kr_model_free(m);
    free(hx);
    free(y);
    return st;
}

/* One iteration's work as the device layer counted it (device.h). */
static void print_counters(FILE *out, const kr_device_counters *c)
{
    fprintf(out, "%-8s   per iteration: %llu ops (%llu kernels), %llu GEMMs, %llu copies/fills, "
            "%llu blocking calls, %llu B to and %llu B from the device\n", "", c->ops,
            c->kernels, c->gemms, c->copies, c->blocking, c->bytes_to_device,
            c->bytes_from_device);
}

kr_status kr_bench_run(kr_device *dev, const kr_bench_opts *o, FILE *out)
{
    fprintf(out, "device: %s\n", kr_device_describe(dev));
    kr_peak pk;
    KR_TRY(kr_peak_measure(dev, &pk));
    char transfers[96] = "no transfers (one memory)";
    if (!isnan(pk.to_device_gbs))
        snprintf(transfers, sizeof transfers, "transfers %.2f GB/s to and %.2f from the device",
                 pk.to_device_gbs, pk.from_device_gbs);
    fprintf(out, "limits: compute %.1f GFLOP/s float32, %.1f float64; read bandwidth %.1f GB/s; "
            "%s; %.2f us per launch\n",
            pk.gflops[KR_F32], pk.gflops[KR_F64], pk.read_gbs, transfers, pk.launch_us);
    fprintf(out, "%-8s %-34s %10s %9s %12s %8s\n", "dtype", "workload", "ms", "GFLOP/s",
            "GEMM GFLOP/s", "ratio");
    for (int i = 0; i < o->n_dtypes; i++) {
        kr_dtype dt = o->dtypes[i];
        if (kr_device_check_dtype(dev, dt) != KR_OK) {
            fprintf(out, "%-8s skipped: %s\n", kr_dtype_name(dt), kr_error_message());
            continue;
        }
        /* The reference rate: the dominant GEMM shape of both workloads (m×H×D). */
        double gemm;
        KR_TRY(kr_blas_measure_gflops(dev, dt, o->m, o->h, o->d, o->reps, &gemm));
        fprintf(out, "%-8s %-34s %10s %9s %12.1f %8s\n", kr_dtype_name(dt), "GEMM (m x H x D)", "",
                "", gemm, "1.00");
        char name[64];
        double sec = 0, flops = 0;
        kr_device_counters c;
        if (o->train) {
            KR_TRY(bench_train(dev, dt, o, &sec, &flops, &c));
            snprintf(name, sizeof name, "train step n=%zu %zu-%zu-%zu-1", o->n, o->d, o->h, o->h);
            fprintf(out, "%-8s %-34s %10.2f %9.1f %12.1f %8.2f\n", kr_dtype_name(dt), name,
                    1e3 * sec, flops / sec * 1e-9, gemm, flops / sec * 1e-9 / gemm);
            print_counters(out, &c);
        }
        if (o->attack) {
            KR_TRY(bench_attack(dev, dt, o, &sec, &flops, &c));
            snprintf(name, sizeof name, "attack iter m=%zu %zu-%zu-%zu-1", o->m, o->d, o->h, o->h);
            fprintf(out, "%-8s %-34s %10.2f %9.1f %12.1f %8.2f\n", kr_dtype_name(dt), name,
                    1e3 * sec, flops / sec * 1e-9, gemm, flops / sec * 1e-9 / gemm);
            print_counters(out, &c);
        }
        if (o->points) {
            /* The demo's attack size; "sequential" is P single-point iterations. */
            static const size_t Ps[] = {1, 2, 4, 8, 16};
            double t1 = 0;
            for (size_t i = 0; i < sizeof Ps / sizeof Ps[0]; i++) {
                KR_TRY(bench_points(dev, dt, Ps[i], 160, 784, 200, o->reps, &sec));
                if (Ps[i] == 1) t1 = sec;
                snprintf(name, sizeof name, "points P=%zu m=160 784-200-200-1", Ps[i]);
                fprintf(out, "%-8s %-34s %10.2f %9s %12s %8s   %.0f point-it/s, %.2fx P "
                        "sequential\n", kr_dtype_name(dt), name, 1e3 * sec, "", "", "",
                        (double)Ps[i] / sec, (double)Ps[i] * t1 / sec);
            }
        }
        fflush(out);
    }
    return KR_OK;
}
