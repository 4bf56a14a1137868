/* check_order.c — host suite: kr_sort_doubles and kr_median (base/order.h) against a plain
 * insertion sort on fresh random arrays of awkward lengths, with repeated values. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/order.h"
#include "base/rng.h"
#include "testutil.h"

START_TEST(test_sort_and_median)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x0d);
    static const size_t lens[] = {1, 2, 3, 7, 33, 64};
    double v[64], want[64];
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const size_t n = lens[li];
        for (size_t i = 0; i < n; i++) /* a few distinct values: ties happen */
            v[i] = (double)(kr_rng_u64(&r) % 9) - 4.0 + (li % 2 ? kr_rng_uniform(&r) : 0.0);
        memcpy(want, v, n * sizeof *v);
        for (size_t i = 1; i < n; i++) /* insertion sort: the reference */
            for (size_t j = i; j > 0 && want[j - 1] > want[j]; j--) {
                double t = want[j];
                want[j] = want[j - 1];
                want[j - 1] = t;
            }
        const double med = n % 2 ? want[n / 2] : 0.5 * (want[n / 2 - 1] + want[n / 2]);
        double w[64];
        memcpy(w, v, n * sizeof *v);
        kr_sort_doubles(w, n);
        ck_assert_mem_eq(w, want, n * sizeof *w);
        ck_assert_msg(kr_median(v, n) == med, "n = %zu: median %g, want %g", n, kr_median(v, n),
                      med);
        ck_assert_mem_eq(v, want, n * sizeof *v); /* sorted in place */
    }
    double two[2] = {3.0, -1.0};
    ck_assert(kr_median(two, 2) == 1.0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("order");
    TCase *tc = tcase_create("order");
    tcase_add_test(tc, test_sort_and_median);
    suite_add_tcase(s, tc);
    return kr_test_run_suite(s, false) ? EXIT_FAILURE : EXIT_SUCCESS;
}
