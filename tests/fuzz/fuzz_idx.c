/* fuzz_idx.c — libFuzzer target: MNIST/Fashion-MNIST IDX files, plain or gzip
 * (kr_data_load_idx_files, src/io/data_idx.c).
 *
 * Input framing (so one input holds both files):
 *   byte 0      max_records = byte % 4 (0 = all records, else read at most that many)
 *   bytes 1..2  little-endian u16 L: length of the labels file
 *   next L      the labels file (magic 0x00000801, count, labels), plain or gzip
 *   rest        the images file (magic 0x00000803, count, rows, cols, pixels), plain or gzip
 * A shorter L than the input holds is clamped. Seeds: tests/fuzz/make_corpus.py.
 */
#include "fuzz_util.h"

#include "io/data.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kr_fuzz_file images, labels;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kr_fuzz_quiet();
    kr_fuzz_file_init(&images, "idx-images");
    kr_fuzz_file_init(&labels, "idx-labels");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    size_t max_records = data[0] % 4;
    size_t nl = kr_fuzz_u16(data + 1);
    data += 3;
    size -= 3;
    if (nl > size) nl = size;
    const char *lp = kr_fuzz_file_set(&labels, data, nl);
    const char *ip = kr_fuzz_file_set(&images, data + nl, size - nl);

    kr_dataset *d = NULL;
    if (kr_data_load_idx_files(ip, lp, max_records, &d) == KR_OK) {
        /* What `kktrecon train` does next with a split: select a binary task, take the mean. */
        kr_task t;
        kr_binary_set *s = NULL;
        if (kr_task_parse("odd_even", &t) == KR_OK && kr_data_select(d, &t, 1, &s) == KR_OK) {
            double *mean = malloc(s->d * sizeof *mean); /* d */
            if (mean && kr_binary_set_mean(s, mean) == KR_OK)
                kr_binary_set_subtract_mean(s, mean, s->d);
            free(mean);
            kr_binary_set_free(s);
        }
        kr_dataset_free(d);
    }
    kr_error_clear();
    return 0;
}
