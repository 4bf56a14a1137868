/* check_sweep.c — host suite: the sweep's points (app/sweep_points.c) and its manifest
 * (io/sweep_manifest.c). Distributions parse or are refused with a message naming the key
 * and what is wrong; u(seed, i, k) is in [0, 1), deterministic, and uniform enough (mean and
 * lag-1 correlation over many points, seeded from KKTRECON_TEST_SEED); log and list
 * distributions put their mass where they should; point i does not depend on how many points
 * the sweep has; the manifest survives a save/load round trip and a damaged one is refused. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/sweep.h"
#include "io/sweep_manifest.h"
#include "testutil.h"

static void expect_refused(int param, const char *text, const char *pattern)
{
    kr_dist d;
    kr_status st = kr_sweep_dist_parse(param, text, &d);
    ck_assert_msg(st != KR_OK, "'%s' was accepted", text);
    ck_assert_msg(strstr(kr_error_message(), pattern), "'%s': message '%s' lacks '%s'", text,
                  kr_error_message(), pattern);
}

START_TEST(test_parse)
{
    kr_dist d;
    ck_assert_int_eq(kr_sweep_dist_parse(KR_SWEEP_LR_X, "log:1e-5,1", &d), KR_OK);
    ck_assert_int_eq(d.kind, KR_DIST_LOG);
    ck_assert_double_eq(d.lo, 1e-5);
    ck_assert_double_eq(d.hi, 1);
    ck_assert_int_eq(kr_sweep_dist_parse(KR_SWEEP_ALPHA, "uniform: 10 , 500", &d), KR_OK);
    ck_assert_int_eq(d.kind, KR_DIST_UNIFORM);
    ck_assert_int_eq(kr_sweep_dist_parse(KR_SWEEP_LAMBDA_MIN, "list:0.1,0.2,0.42", &d), KR_OK);
    ck_assert_int_eq(d.kind, KR_DIST_LIST);
    ck_assert_uint_eq(d.n, 3);
    ck_assert_int_eq(kr_sweep_dist_parse(KR_SWEEP_INIT_SCALE, "0.0017", &d), KR_OK);
    ck_assert_int_eq(d.kind, KR_DIST_FIXED);
    ck_assert_double_eq(kr_sweep_dist_value(&d, 0.7), 0.0017);
    expect_refused(KR_SWEEP_LR_X, "log:0,1", "sweep.lr_x = 'log:0,1': a log distribution needs LO > 0");
    expect_refused(KR_SWEEP_ALPHA, "uniform:5,1", "LO must be below HI");
    expect_refused(KR_SWEEP_ALPHA, "uniform:1", "expected uniform:LO,HI");
    expect_refused(KR_SWEEP_ALPHA, "uniform:1,2,3", "expected uniform:LO,HI");
    expect_refused(KR_SWEEP_ALPHA, "normal:1,2", "unknown distribution 'normal'");
    expect_refused(KR_SWEEP_ALPHA, "fast", "expected log:LO,HI");
    expect_refused(KR_SWEEP_INIT_SCALE, "list:0.1,,0.2", "list value 2 ''");
    expect_refused(KR_SWEEP_INIT_SCALE, "list:0.1,nan", "not a finite number");
    /* Each end must be a value attack.<param> allows (config.c's ranges and message). */
    expect_refused(KR_SWEEP_LAMBDA_MIN, "uniform:-1,1", "attack.lambda_min = -1 is out of range");
    expect_refused(KR_SWEEP_LR_X, "uniform:0,1", "attack.lr_x = 0 is out of range");
}
END_TEST

START_TEST(test_uniform)
{
    const uint64_t seed = kr_test_seed();
    const size_t n = 20000;
    for (uint64_t k = 0; k < 5; k++) {
        double sum = 0, prev = 0, c = 0, sq = 0;
        for (size_t i = 0; i < n; i++) {
            double u = kr_sweep_uniform(seed, i, k);
            ck_assert(u >= 0 && u < 1);
            ck_assert(u == kr_sweep_uniform(seed, i, k));
            sum += u;
            sq += (u - 0.5) * (u - 0.5);
            if (i) c += (u - 0.5) * (prev - 0.5);
            prev = u;
        }
        /* mean 0.5 ± 5 standard errors (1/sqrt(12 n)); lag-1 correlation likewise ~ 1/sqrt(n). */
        ck_assert_msg(fabs(sum / n - 0.5) < 5.0 / sqrt(12.0 * n), "stream %llu mean %g",
                      (unsigned long long)k, sum / n);
        ck_assert_msg(fabs(c / sq) < 5.0 / sqrt((double)n), "stream %llu lag-1 corr %g",
                      (unsigned long long)k, c / sq);
    }
    /* Different seeds and streams give different values. */
    ck_assert(kr_sweep_uniform(seed, 0, 0) != kr_sweep_uniform(seed + 1, 0, 0));
    ck_assert(kr_sweep_uniform(seed, 0, 0) != kr_sweep_uniform(seed, 0, 1));
    ck_assert(kr_sweep_point_seed(seed, 3) < (1ull << 53));
}
END_TEST

START_TEST(test_distributions)
{
    kr_dist d;
    ck_assert_int_eq(kr_sweep_dist_parse(KR_SWEEP_LR_X, "log:1e-4,1", &d), KR_OK);
    const uint64_t seed = kr_test_seed();
    size_t below = 0, n = 4000;
    for (size_t i = 0; i < n; i++) {
        double v = kr_sweep_dist_value(&d, kr_sweep_uniform(seed, i, 1));
        ck_assert(v >= 1e-4 * (1 - 1e-12) && v <= 1.0);
        below += v < 1e-2; /* the geometric middle: half of a log-uniform's mass */
    }
    ck_assert_msg(fabs((double)below / n - 0.5) < 0.05, "log-uniform: %zu of %zu below 1e-2", below, n);
    ck_assert_int_eq(kr_sweep_dist_parse(KR_SWEEP_ALPHA, "list:10,20,30", &d), KR_OK);
    size_t count[3] = {0};
    for (size_t i = 0; i < 3000; i++) {
        double v = kr_sweep_dist_value(&d, kr_sweep_uniform(seed, i, 3));
        ck_assert(v == 10 || v == 20 || v == 30);
        count[(size_t)(v / 10) - 1]++;
    }
    for (int k = 0; k < 3; k++) ck_assert_msg(count[k] > 850 && count[k] < 1150, "list %d: %zu", k, count[k]);
    ck_assert_double_eq(kr_sweep_dist_value(&d, 0.999999), 30);
    ck_assert_double_eq(kr_sweep_dist_value(&d, 0.0), 10);
}
END_TEST

START_TEST(test_points_prefix)
{
    kr_config c;
    kr_config_defaults(&c);
    c.sweep.seed = kr_test_seed();
    c.sweep.points = 5;
    kr_config *a = NULL, *b = NULL;
    size_t na, nb;
    bool la[KR_SWEEP_NPARAM], lb[KR_SWEEP_NPARAM];
    ck_assert_int_eq(kr_sweep_points(&c, &a, &na, la), KR_OK);
    c.sweep.points = 9;
    ck_assert_int_eq(kr_sweep_points(&c, &b, &nb, lb), KR_OK);
    ck_assert_uint_eq(na, 5);
    ck_assert_uint_eq(nb, 9);
    ck_assert(la[KR_SWEEP_LR_X] && la[KR_SWEEP_INIT_SCALE] && !la[KR_SWEEP_ALPHA]);
    for (size_t i = 0; i < na; i++) {
        ck_assert(a[i].attack.lr_x == b[i].attack.lr_x && a[i].attack.alpha == b[i].attack.alpha);
        ck_assert(a[i].attack.init_scale == b[i].attack.init_scale);
        ck_assert(a[i].attack.lambda_min == b[i].attack.lambda_min);
        ck_assert(a[i].attack.seed == b[i].attack.seed);
        /* The official ranges (the defaults). */
        ck_assert(a[i].attack.lr_x >= 1e-5 * (1 - 1e-12) && a[i].attack.lr_x <= 1);
        ck_assert(a[i].attack.alpha >= 10 && a[i].attack.alpha < 500);
        ck_assert(a[i].attack.lambda_min >= 0.01 && a[i].attack.lambda_min < 0.5);
    }
    ck_assert(a[0].attack.seed != a[1].attack.seed);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_manifest)
{
    char dir[] = "/tmp/kr_sweep_XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/sweep.json", dir);
    kr_manifest m, r;
    ck_assert_int_eq(kr_manifest_init(&m, 5), KR_OK);
    size_t pts[2] = {0, 1}, b;
    ck_assert_int_eq(kr_manifest_add_batch(&m, pts, 2, &b), KR_OK);
    ck_assert_uint_eq(b, 0);
    m.bt[0].status = KR_PT_RUNNING;
    m.bt[0].checkpoint_iteration = 300;
    m.pt[0].status = KR_PT_FAILED;
    snprintf(m.pt[0].reason, sizeof m.pt[0].reason, "diverged by iteration 10 (loss nan)");
    m.pt[1].status = KR_PT_PRUNED;
    m.pt[1].seconds = 2.5;
    ck_assert_int_eq(kr_manifest_save(path, &m), KR_OK);
    ck_assert_int_eq(kr_manifest_load(path, &r), KR_OK);
    ck_assert_int_eq(r.pt[1].status, KR_PT_PRUNED);
    ck_assert_double_eq(r.pt[1].seconds, 2.5);
    ck_assert_uint_eq(r.n_points, 5);
    ck_assert_uint_eq(r.n_batches, 1);
    ck_assert_int_eq(r.pt[0].status, KR_PT_FAILED);
    ck_assert_str_eq(r.pt[0].reason, m.pt[0].reason);
    ck_assert_int_eq(r.pt[1].batch, 0);
    ck_assert_int_eq(r.pt[2].batch, -1);
    ck_assert_int_eq(r.bt[0].checkpoint_iteration, 300);
    ck_assert_uint_eq(r.bt[0].points[1], 1);
    kr_manifest_free(&r);
    /* Damage: a batch cannot be pruned (points are). */
    m.bt[0].status = KR_PT_PRUNED;
    ck_assert_int_eq(kr_manifest_save(path, &m), KR_OK);
    ck_assert_int_ne(kr_manifest_load(path, &r), KR_OK);
    ck_assert_msg(strstr(kr_error_message(), "batches[0] is damaged"), "%s", kr_error_message());
    m.bt[0].status = KR_PT_RUNNING;
    /* Damage: a point claiming a batch that does not list it. */
    m.pt[3].batch = 0;
    m.pt[3].status = KR_PT_RUNNING;
    ck_assert_int_eq(kr_manifest_save(path, &m), KR_OK);
    ck_assert_int_ne(kr_manifest_load(path, &r), KR_OK);
    ck_assert_msg(strstr(kr_error_message(), "sweep.json"), "%s", kr_error_message());
    FILE *f = fopen(path, "w");
    fputs("{\"format\": \"kktrecon-sweep/1\", \"points\": [{\"point\": 0, \"status\": \"maybe\"", f);
    fclose(f);
    ck_assert_int_ne(kr_manifest_load(path, &r), KR_OK);
    kr_manifest_free(&m);
    unlink(path);
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sweep");
    TCase *tc = tcase_create("sweep");
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_uniform);
    tcase_add_test(tc, test_distributions);
    tcase_add_test(tc, test_points_prefix);
    tcase_add_test(tc, test_manifest);
    suite_add_tcase(s, tc);
    return kr_test_run_suite(s, false) ? EXIT_FAILURE : EXIT_SUCCESS;
}
