/* fuzz_config.c — libFuzzer target: the INI configuration (src/app/config.c):
 * kr_config_load_string, kr_config_set, kr_config_validate, and kr_config_write of the result.
 *
 * Input framing: the INI text up to the first NUL byte; after it, one `section.key=value`
 * override per line, applied in order as `--set` would (an input without NUL is INI only).
 * A configuration that loads and validates is written out and loaded again: writing must give
 * a loadable file. Seeds: configs/ INI files and overrides (tests/fuzz/make_corpus.py).
 */
#include "fuzz_util.h"

#include "app/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kr_fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1); /* size + NUL */
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    size_t ini_len = strlen(text);

    kr_config c;
    kr_config_defaults(&c);
    kr_status st = kr_config_load_string(&c, text, "fuzz.ini");
    /* The overrides: lines after the first NUL (NULs inside them end a line too). */
    for (size_t at = ini_len + 1; st == KR_OK && at < size;) {
        char *line = text + at;
        size_t len = strcspn(line, "\n");
        int last = at + len >= size;
        line[len] = '\0';
        if (len) st = kr_config_set(&c, line);
        at += len + 1;
        if (last) break;
    }
    if (st == KR_OK && kr_config_validate(&c) == KR_OK) {
        char *out = NULL;
        size_t out_len = 0;
        FILE *mf = open_memstream(&out, &out_len);
        if (!mf) abort();
        kr_config_write(&c, mf);
        fclose(mf);
        kr_config again;
        kr_config_defaults(&again);
        if (kr_config_load_string(&again, out, "written.ini") != KR_OK ||
            kr_config_validate(&again) != KR_OK) {
            fprintf(stderr, "fuzz_config: the written configuration does not load again: %s\n%s",
                    kr_error_message(), out);
            abort();
        }
        free(out);
    }
    kr_error_clear();
    free(text);
    return 0;
}
