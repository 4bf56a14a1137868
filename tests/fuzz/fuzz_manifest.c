/* fuzz_manifest.c — libFuzzer target: a sweep's manifest, DIR/sweep.json (kr_manifest_load,
 * src/io/sweep_manifest.c), which `kktrecon sweep --resume` reads back.
 *
 * The input is the file. A manifest that loads has every point's batch followed into its batch
 * (the invariant the loader promises: a point's batch lists it; a trap if not). Seeds:
 * tests/fuzz/corpus/manifest (written by kktrecon sweep, one damaged by hand).
 */
#include "fuzz_util.h"

#include "io/sweep_manifest.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kr_fuzz_file file;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kr_fuzz_quiet();
    kr_fuzz_file_init(&file, "manifest");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = kr_fuzz_file_set(&file, data, size);
    kr_manifest m;
    if (kr_manifest_load(p, &m) == KR_OK) {
        for (size_t i = 0; i < m.n_points; i++) {
            long b = m.pt[i].batch;
            if (b < 0) continue;
            if ((size_t)b >= m.n_batches) __builtin_trap();
            bool listed = false;
            for (size_t k = 0; k < m.bt[b].n; k++) listed |= m.bt[b].points[k] == i;
            if (!listed) __builtin_trap();
        }
        kr_manifest_free(&m);
    }
    kr_error_clear();
    return 0;
}
