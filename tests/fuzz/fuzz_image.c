/* fuzz_image.c — libFuzzer target: image files through stb_image (kr_image_load,
 * src/io/image_io.c) and, for inputs that decode, an image folder holding the input twice
 * (kr_data_load_folder, src/io/data_folder.c).
 *
 * The input is the image file itself (PNG, JPEG or anything else stb_image sniffs). The folder
 * is made once per process: DIR/train/a/x.png and DIR/train/b/y.jpg, both symbolic links to the
 * memfd holding the input, so each decodable input also runs the folder loader (two classes,
 * one image each; images up to 65536 pixels). Seeds: tests/fuzz/make_corpus.py (tiny PNGs from the project's own writer,
 * JPEGs from ImageMagick).
 */
#include "fuzz_util.h"

#include <sys/stat.h>

#include "io/data.h"
#include "io/image_io.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kr_fuzz_file image;
static char folder[256]; /* "" when the folder could not be made: then only kr_image_load runs */

static void rm_folder(void)
{
    char p[512];
    const char *files[] = {"train/a/x.png", "train/b/y.jpg", "train/a", "train/b", "train", ""};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", folder, files[i]);
        remove(p);
    }
}

static void make_folder(void)
{
    const char *tmp = getenv("TMPDIR");
    char p[512];
    snprintf(folder, sizeof folder, "%s/kr-fuzz-image-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(folder)) goto fail;
    const char *dirs[] = {"train", "train/a", "train/b"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", folder, dirs[i]);
        if (mkdir(p, 0700) != 0) goto fail;
    }
    snprintf(p, sizeof p, "%s/train/a/x.png", folder);
    if (symlink(image.path, p) != 0) goto fail;
    snprintf(p, sizeof p, "%s/train/b/y.jpg", folder);
    if (symlink(image.path, p) != 0) goto fail;
    atexit(rm_folder);
    return;
fail:
    perror("fuzz_image: image folder (only kr_image_load will run)");
    folder[0] = '\0';
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kr_fuzz_quiet();
    kr_fuzz_file_init(&image, "image");
    make_folder();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = kr_fuzz_file_set(&image, data, size);
    kr_image img;
    if (kr_image_load(p, &img) == KR_OK) {
        kr_dataset *d = NULL;
        /* the folder decodes the input twice more: only for dataset-sized images */
        size_t px = (size_t)img.w * (size_t)img.h;
        kr_image_free(&img);
        if (folder[0] && px <= 65536 && kr_data_load_folder(folder, KR_SPLIT_TRAIN, 0, &d) == KR_OK)
            kr_dataset_free(d);
    }
    kr_error_clear();
    return 0;
}
