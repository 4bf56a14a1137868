/* fuzz_cifar10.c — libFuzzer target: CIFAR-10 binary batches (kr_data_load_cifar10_files,
 * src/io/data_cifar.c).
 *
 * Input framing: byte 0: max_records = byte % 4 (0 = all); bit 2 set: the batch is passed
 * twice, as two files of one split (the multi-file path). The rest is the batch file: records of
 * 1 label byte + 3072 pixel bytes. Seeds: tests/fuzz/make_corpus.py (records of the shared
 * CIFAR-10 sample, or synthetic ones).
 */
#include "fuzz_util.h"

#include "io/data.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kr_fuzz_file batch;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kr_fuzz_quiet();
    kr_fuzz_file_init(&batch, "cifar10-batch");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t max_records = data[0] % 4;
    size_t num_paths = data[0] & 4 ? 2 : 1;
    const char *p = kr_fuzz_file_set(&batch, data + 1, size - 1);
    const char *paths[2] = {p, p};

    kr_dataset *d = NULL;
    if (kr_data_load_cifar10_files(paths, num_paths, max_records, &d) == KR_OK) {
        kr_task t;
        kr_binary_set *s = NULL;
        if (kr_task_parse("vehicles_animals", &t) == KR_OK && kr_data_select(d, &t, 1, &s) == KR_OK)
            kr_binary_set_free(s);
        kr_dataset_free(d);
    }
    kr_error_clear();
    return 0;
}
