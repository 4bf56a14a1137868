/* fuzz_points.c — libFuzzer target: the CSV of hyperparameter points (kr_points_read,
 * src/io/points.c) that `attack.points_file` names.
 *
 * The input is the file. A table that loads has its names and values touched, as
 * app/attack_points.c would read them. Seeds: tests/fuzz/corpus/points (hand-written).
 */
#include "fuzz_util.h"

#include "io/points.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kr_fuzz_file file;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kr_fuzz_quiet();
    kr_fuzz_file_init(&file, "points");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = kr_fuzz_file_set(&file, data, size);
    kr_points_table t;
    if (kr_points_read(p, &t) == KR_OK) {
        volatile double sum = 0;
        for (size_t i = 0; i < t.rows * t.cols; i++) sum = sum + t.v[i];
        for (size_t c = 0; c < t.cols; c++) sum = sum + (double)strlen(t.names[c]);
        kr_points_free(&t);
    }
    kr_error_clear();
    return 0;
}
