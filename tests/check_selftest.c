/* check_selftest.c — device suite: the known-answer self-test (app/selftest.h) passes on every
 * test device and precision, and catches a deliberately broken kernel: with the test-only
 * switch KKTRECON_TEST_CORRUPT_KERNEL an OpenCL device skips one element-wise kernel
 * (ops_mul) or a reduction's second stage (ops_sum_sq); the self-test must fail with
 * KR_E_NUMERIC and name the device and the op. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/selftest.h"
#include "testutil.h"

static kr_device *devs[4];
static int n_devs;

START_TEST(test_passes_on_every_device)
{
    for (int d = 0; d < n_devs; d++)
        for (int t = 0; t < 2; t++) {
            kr_dtype dt = t ? KR_F64 : KR_F32;
            if (!kr_test_dtypes(devs[d], dt)) continue;
            kr_status st = kr_selftest_run(devs[d], dt);
            ck_assert_msg(st == KR_OK, "%s %s: %s", kr_device_describe(devs[d]),
                          kr_dtype_name(dt), kr_error_message());
        }
}
END_TEST

/* Opens the test's OpenCL device again with kernel `name` spoilt; NULL without one. */
static kr_device *open_corrupt(const char *name)
{
    for (int d = 0; d < n_devs; d++) {
        if (kr_device_backend(devs[d]) != KR_BACKEND_OPENCL) continue;
        char spec[32];
        snprintf(spec, sizeof spec, "%d", kr_device_get_info(devs[d])->index);
        setenv("KKTRECON_TEST_CORRUPT_KERNEL", name, 1);
        kr_device *dev = NULL;
        kr_status st = kr_device_open(spec, &dev);
        unsetenv("KKTRECON_TEST_CORRUPT_KERNEL");
        ck_assert_msg(st == KR_OK, "reopening %s: %s", spec, kr_error_message());
        return dev;
    }
    return NULL;
}

START_TEST(test_catches_a_broken_kernel)
{
    static const char *const broken[][2] = {{"ops_mul", "ops_mul"},
                                            {"ops_sum_sq", "reductions"},
                                            {"ops_sigmoid_backward", "ops_sigmoid_backward"}};
    for (size_t b = 0; b < sizeof broken / sizeof broken[0]; b++) {
        kr_device *dev = open_corrupt(broken[b][0]);
        if (!dev) return; /* host only: nothing to corrupt (the device suite says so) */
        kr_status st = kr_selftest_run(dev, KR_F32);
        ck_assert_msg(st == KR_E_NUMERIC, "%s spoilt, self-test returned %d: %s", broken[b][0],
                      st, kr_error_message());
        const char *msg = kr_error_message();
        ck_assert_msg(strstr(msg, broken[b][1]) && strstr(msg, "FAILED") &&
                          strstr(msg, kr_device_get_info(dev)->name),
                      "message for spoilt %s: %s", broken[b][0], msg);
        kr_device_close(dev);
    }
}
END_TEST

int main(void)
{
    n_devs = kr_test_devices(devs, 4);
    Suite *s = suite_create("selftest");
    TCase *tc = tcase_create("device");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_passes_on_every_device);
    tcase_add_test(tc, test_catches_a_broken_kernel);
    suite_add_tcase(s, tc);
    int failed = kr_test_run_suite(s, true);
    kr_test_close_devices();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
