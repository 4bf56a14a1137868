/* make_seeds.c — writes the safetensors and PNG seeds of the fuzz corpora with the project's own
 * writers (kr_st_write, kr_model_save, kr_image_write_png_hwc), so the seeds are exactly what
 * kktrecon produces. Run by tests/fuzz/make_corpus.py; not a test.
 *
 * usage: make_seeds CORPUS_DIR   (writes into CORPUS_DIR/{safetensors,model,candidates,image}/)
 * Sizes are tiny on purpose (a seed is mutated millions of times): D = 4, widths 3 and 2, m = 2.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/model.h"
#include "base/status.h"
#include "io/image_io.h"
#include "io/model_io.h"
#include "io/safetensors.h"

static const char *dir;

static void check(kr_status st, const char *what)
{
    if (st == KR_OK) return;
    fprintf(stderr, "make_seeds: %s: %s\n", what, kr_error_message());
    exit(1);
}

static const char *at(const char *sub, const char *name)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s/%s", dir, sub, name);
    return p;
}

static void safetensors_seeds(void)
{
    const double a[6] = {0.5, -1.0, 2.0, 3.25, -0.0, 1e-300}; /* 2 x 3 */
    const float b[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    const int64_t i = 42;
    const uint8_t u[4] = {1, 2, 3, 0x3c}; /* 3 U8, or 2 F16 */
    kr_st_entry e[] = {
        {.name = "a", .dtype = KR_ST_F64, .ndim = 2, .shape = {2, 3}, .data = a},
        {.name = "b", .dtype = KR_ST_F32, .ndim = 1, .shape = {4}, .data = b},
        {.name = "s", .dtype = KR_ST_F32, .ndim = 0, .data = b},
        {.name = "i", .dtype = KR_ST_I64, .ndim = 0, .data = &i},
        {.name = "u", .dtype = KR_ST_U8, .ndim = 1, .shape = {3}, .data = u},
        {.name = "z", .dtype = KR_ST_F32, .ndim = 2, .shape = {0, 3}, .data = NULL},
        {.name = "h", .dtype = KR_ST_F16, .ndim = 1, .shape = {2}, .data = u},
    };
    kr_st_meta meta[] = {{"format", "pt"}, {"note", "fuzz seed"}};
    check(kr_st_write(at("safetensors", "mixed.safetensors"), e, 7, meta, 2), "mixed");
    check(kr_st_write(at("safetensors", "one.safetensors"), e + 1, 1, NULL, 0), "one");
    check(kr_st_write(at("safetensors", "empty.safetensors"), NULL, 0, NULL, 0), "empty");
}

static void model_seeds(void)
{
    size_t hidden[2] = {3, 2};
    kr_model *m = NULL;
    check(kr_model_new(4, hidden, 2, true, &m), "model");
    for (int l = 0; l < m->layers; l++)
        for (size_t k = 0; k < m->dims[l] * m->dims[l + 1]; k++)
            m->w[l][k] = 0.125 * (double)(k + 1) * (l % 2 ? -1 : 1);
    for (size_t k = 0; k < m->dims[1]; k++) m->b[0][k] = 0.01 * (double)k;
    m->image_c = 1, m->image_h = 2, m->image_w = 2;
    check(kr_model_save(at("model", "ours_f32.safetensors"), m, KR_F32, NULL, 0), "ours f32");
    kr_st_meta extra[] = {{"n_train", "4"}};
    check(kr_model_save(at("model", "ours_f64.safetensors"), m, KR_F64, extra, 1), "ours f64");

    /* A PyTorch nn.Sequential state_dict: no metadata, no prefix, ReLUs at odd indices, a
     * data.mean shaped like the image. */
    const double mean[4] = {0.1, 0.2, 0.3, 0.4};
    kr_st_entry e[] = {
        {.name = "0.weight", .dtype = KR_ST_F32, .ndim = 2, .shape = {3, 4}, .data = m->w[0],
         .src_dtype = KR_ST_F64},
        {.name = "0.bias", .dtype = KR_ST_F32, .ndim = 1, .shape = {3}, .data = m->b[0],
         .src_dtype = KR_ST_F64},
        {.name = "2.weight", .dtype = KR_ST_F32, .ndim = 2, .shape = {2, 3}, .data = m->w[1],
         .src_dtype = KR_ST_F64},
        {.name = "4.weight", .dtype = KR_ST_F32, .ndim = 2, .shape = {1, 2}, .data = m->w[2],
         .src_dtype = KR_ST_F64},
        {.name = "data.mean", .dtype = KR_ST_F64, .ndim = 3, .shape = {1, 2, 2}, .data = mean},
    };
    check(kr_st_write(at("model", "sequential.safetensors"), e, 5, NULL, 0), "sequential");
    /* layers.N without bias, F64, without metadata */
    kr_st_entry p[] = {
        {.name = "layers.0.weight", .dtype = KR_ST_F64, .ndim = 2, .shape = {3, 4}, .data = m->w[0]},
        {.name = "layers.1.weight", .dtype = KR_ST_F64, .ndim = 2, .shape = {2, 3}, .data = m->w[1]},
        {.name = "layers.2.weight", .dtype = KR_ST_F64, .ndim = 2, .shape = {1, 2}, .data = m->w[2]},
    };
    kr_st_meta fmt[] = {{"format", "pt"}};
    check(kr_st_write(at("model", "pytorch.safetensors"), p, 3, fmt, 1), "pytorch");
    kr_model_free(m);
}

/* As attack.c's write_checkpoint writes candidates.safetensors: x, lambda, optimiser buffers,
 * y, iteration, metadata. */
static void candidate_seeds(void)
{
    const double x[8] = {0.1, -0.2, 0.3, 0.4, 0.5, 0.6, -0.7, 0.8}; /* 2 x 4 */
    const double lam[2] = {0.5, 1.5}, y[2] = {-1.0, 1.0};
    const int64_t it = 7;
    for (int adam = 0; adam < 2; adam++) {
        kr_st_dtype dt = adam ? KR_ST_F32 : KR_ST_F64;
        kr_st_entry e[8];
        size_t n = 0;
        const char *names[6] = {"x", "lambda", "opt.x.buf", "opt.lambda.buf", "opt.x.v",
                                "opt.lambda.v"};
        for (int k = 0; k < (adam ? 6 : 4); k++) {
            int is_x = k % 2 == 0;
            e[n++] = (kr_st_entry){.name = names[k], .dtype = dt, .ndim = is_x ? 2 : 1,
                                   .shape = {2, is_x ? 4 : 0}, .data = is_x ? x : lam,
                                   .src_dtype = KR_ST_F64};
        }
        e[n++] = (kr_st_entry){.name = "y", .dtype = KR_ST_F64, .ndim = 1, .shape = {2}, .data = y};
        e[n++] = (kr_st_entry){.name = "iteration", .dtype = KR_ST_I64, .ndim = 0, .data = &it};
        kr_st_meta meta[] = {
            {"format", "kktrecon-candidates"}, {"model", "run/model.safetensors"},
            {"alpha", "19.199999999999999"}, {"lambda_min", "0.41999999999999998"},
            {"seed", "1"}, {"optimizer", adam ? "adam" : "sgd"},
            {"precision", adam ? "float32" : "float64"}, {"activation", "relu"},
            {"device", "host"}};
        check(kr_st_write(at("candidates", adam ? "adam_f32.safetensors" : "sgd_f64.safetensors"),
                          e, n, meta, 9), "candidates");
    }
}

static void image_seeds(void)
{
    unsigned char pix[4 * 3 * 4]; /* h 3 x w 4 x c up to 4 */
    for (size_t k = 0; k < sizeof pix; k++) pix[k] = (unsigned char)(k * 37);
    for (int c = 1; c <= 4; c++) {
        char name[32];
        snprintf(name, sizeof name, "c%d_4x3.png", c);
        check(kr_image_write_png_hwc(at("image", name), pix, 4, 3, c), "png");
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
        return 2;
    }
    dir = argv[1];
    safetensors_seeds();
    model_seeds();
    candidate_seeds();
    image_seeds();
    return 0;
}
