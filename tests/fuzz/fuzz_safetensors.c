/* fuzz_safetensors.c — libFuzzer target: the safetensors container (src/io/safetensors.c):
 * kr_st_open, then every accessor a caller uses on what it found: tensors by index and name,
 * kr_st_get of a missing name, kr_st_read_f64/f32 with the tensor's own shape and with a wrong
 * one, kr_st_read_i64_scalar, and the metadata.
 *
 * The input is the file. Seeds: tests/fuzz/make_seeds.c (files from the project's own writer).
 */
#include "fuzz_util.h"

#include "io/safetensors.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kr_fuzz_file file;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kr_fuzz_quiet();
    kr_fuzz_file_init(&file, "safetensors");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = kr_fuzz_file_set(&file, data, size);
    kr_st_file *f = NULL;
    if (kr_st_open(p, &f) != KR_OK) {
        kr_error_clear();
        return 0;
    }
    size_t n = kr_st_count(f);
    for (size_t i = 0; i < n; i++) {
        const kr_st_tensor *t = kr_st_tensor_at(f, i);
        const kr_st_tensor *g = NULL;
        if (kr_st_get(f, t->name, &g) != KR_OK || !g) abort(); /* a listed tensor is found */
        (void)kr_st_dtype_name(t->dtype);
        /* numel is backed by nbytes of file data, so this is at most 8x the input size. */
        double *v64 = malloc(t->numel * sizeof *v64 + 1);  /* numel */
        float *v32 = malloc(t->numel * sizeof *v32 + 1);   /* numel */
        if (v64 && v32) {
            kr_st_read_f64(f, t->name, t->ndim, t->shape, v64);
            kr_st_read_f32(f, t->name, t->ndim, t->shape, v32);
            size_t wrong[1] = {t->numel + 1};
            if (kr_st_read_f64(f, t->name, 1, wrong, v64) == KR_OK) abort(); /* shape checked */
        }
        free(v64);
        free(v32);
        int64_t s;
        kr_st_read_i64_scalar(f, t->name, &s);
    }
    const kr_st_tensor *missing = NULL;
    if (kr_st_get(f, "kktrecon-fuzz-no-such-tensor", &missing) == KR_OK) abort();
    if (kr_st_tensor_at(f, n) != NULL) abort();
    for (size_t i = 0; i < kr_st_metadata_count(f); i++) {
        const char *k = NULL, *v = NULL;
        kr_st_metadata_at(f, i, &k, &v);
        if (!k || !v || kr_st_metadata(f, k) == NULL) abort();
    }
    (void)kr_st_path(f);
    kr_st_close(f);
    kr_error_clear();
    return 0;
}
