/* fuzz_model.c — libFuzzer target: model files (kr_model_load, src/io/model_io.c): ours, PyTorch
 * state_dicts with a `layers.` prefix or none (nn.Sequential), with or without metadata.
 *
 * The input is the safetensors file. A model that loads is described and freed, as `kktrecon
 * attack` would before using it. Seeds: tests/fuzz/make_seeds.c (kr_model_save and kr_st_write).
 */
#include "fuzz_util.h"

#include "base/model.h"
#include "io/model_io.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kr_fuzz_file file;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kr_fuzz_quiet();
    kr_fuzz_file_init(&file, "model");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = kr_fuzz_file_set(&file, data, size);
    kr_model *m = NULL;
    if (kr_model_load(p, &m) == KR_OK) {
        char buf[256];
        kr_model_describe(m, buf, sizeof buf);
        (void)kr_model_num_params(m);
        kr_model_free(m);
    }
    kr_error_clear();
    return 0;
}
