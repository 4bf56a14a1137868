/* fuzz_candidates.c — libFuzzer target: candidate files and attack checkpoints, the safetensors
 * files `kktrecon attack`, `kkt` and `evaluate` read.
 *
 * The input is the file. Two readers run on it, both the real ones:
 *  - kr_candidates_load (io/candidates.h): x (m x D), lambda (m), y (m), and x alone;
 *  - kr_checkpoint_read (io/checkpoint.h), as `attack --resume` runs it, on a host-backend
 *    state sized from the file's x (a resumed run takes the sizes from its configuration).
 * Seeds: tests/fuzz/make_seeds.c (files written with kr_st_write as attack.c writes them).
 */
#include "fuzz_util.h"

#include "device/device.h"
#include "io/candidates.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kr_fuzz_file file;
static kr_device *host;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kr_fuzz_quiet();
    kr_fuzz_file_init(&file, "candidates");
    if (kr_device_open("host", &host) != KR_OK) abort();
    return 0;
}

/* The real checkpoint reader (io/checkpoint.c), on a host state sized from the file's x as a
 * resumed run sizes it from its configuration; only sizes a file of this length can back. */
static void read_checkpoint(const char *path)
{
    kr_st_file *f = NULL;
    if (kr_st_open(path, &f) != KR_OK) return;
    const kr_st_tensor *tx = kr_st_find(f, "x");
    const char *prec = kr_st_metadata(f, "precision");
    kr_dtype dt = prec && !strcmp(prec, "float32") ? KR_F32 : KR_F64;
    bool adam = kr_st_find(f, "opt.x.v") != NULL;
    size_t m = tx && tx->ndim == 2 ? tx->shape[0] : 0, d = tx && tx->ndim == 2 ? tx->shape[1] : 0;
    bool plausible = m > 0 && d > 0 && m <= tx->nbytes && d <= tx->nbytes && m * d <= tx->nbytes;
    kr_st_close(f);
    if (!plausible) return;
    kr_attack_state s;
    if (kr_checkpoint_state_new(host, dt, m, d, adam, &s) != KR_OK) return;
    long it;
    (void)kr_checkpoint_read(path, &s, &it);
    kr_checkpoint_state_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = kr_fuzz_file_set(&file, data, size);
    size_t m = 0, d = 0;
    double *x = NULL, *lambda = NULL, *y = NULL;
    if (kr_candidates_load(p, &m, &d, &x, &lambda, &y) == KR_OK) {
        free(x);
        free(lambda);
        free(y);
    }
    /* evaluate reads x only; then lambda and y are never allocated */
    if (kr_candidates_load(p, &m, &d, &x, NULL, NULL) == KR_OK) free(x);
    read_checkpoint(p);
    kr_error_clear();
    return 0;
}
