/* api_model.c — models from arrays and files, their parameters, predictions, and the
 * configured data set (include/kktrecon.h). The model type is base/model.h, files
 * io/model_io.h, the data app/task.h.
 */
#include "api/api_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/task.h"
#include "io/model_io.h"
#include "io/safetensors.h"
#include "nn/mlp.h"

static kr_status check_finite(const double *v, size_t n, const char *what, int layer)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return KR_FAIL(KR_E_INVALID, "kktrecon_model_new: %s of layer %d, element %zu is %g: "
                           "parameters must be finite", what, layer, i, v[i]);
    return KR_OK;
}

kktrecon_status kktrecon_model_new(int layers, const size_t *dims, kktrecon_dtype dtype,
                                   const void *const *weights, const void *const *biases,
                                   const void *mean, kktrecon_model **out)
{
    const char *fn = "kktrecon_model_new";
    API_NEED(fn, out);
    *out = NULL;
    API_NEED(fn, dims);
    API_NEED(fn, weights);
    API_TRY(api_check_dtype(fn, dtype));
    if (layers < 2 || layers > KR_MAX_LAYERS)
        return api_status(KR_FAIL(KR_E_INVALID, "%s: %d layers; a model has 2..%d weight "
                                  "layers", fn, layers, KR_MAX_LAYERS));
    for (int l = 0; l <= layers; l++)
        if (dims[l] == 0)
            return api_status(KR_FAIL(KR_E_INVALID, "%s: dims[%d] is 0", fn, l));
    for (int l = 0; l < layers; l++)
        if (!weights[l]) return api_status(KR_FAIL(KR_E_INVALID, "%s: weights[%d] is NULL", fn, l));
    unsigned mask = 0;
    for (int l = 0; biases && l < layers; l++)
        if (biases[l]) mask |= 1u << l;
    kktrecon_model *h = calloc(1, sizeof *h);
    if (!h) return api_status(KR_FAIL(KR_E_NOMEM, "model handle"));
    kr_status st;
    KR_TRY_GOTO(kr_model_new_general(dims[0], dims + 1, layers - 1, dims[layers], mask, &h->m));
    for (int l = 0; l < layers; l++) {
        api_widen(dtype, weights[l], dims[l] * dims[l + 1], h->m->w[l]);
        KR_TRY_GOTO(check_finite(h->m->w[l], dims[l] * dims[l + 1], "weight", l));
        if (h->m->b[l]) {
            api_widen(dtype, biases[l], dims[l + 1], h->m->b[l]);
            KR_TRY_GOTO(check_finite(h->m->b[l], dims[l + 1], "bias", l));
        }
    }
    if (mean) {
        api_widen(dtype, mean, dims[0], h->m->mean);
        KR_TRY_GOTO(check_finite(h->m->mean, dims[0], "mean", 0));
    }
    if (dims[0] == 784) h->m->image_c = 1, h->m->image_h = 28, h->m->image_w = 28;
    if (dims[0] == 3072) h->m->image_c = 3, h->m->image_h = 32, h->m->image_w = 32;
    *out = h;
    return KKTRECON_OK;
fail:
    kktrecon_model_free(h);
    return api_status(st);
}

kktrecon_status kktrecon_model_load(const char *path, kktrecon_model **out)
{
    API_NEED("kktrecon_model_load", out);
    *out = NULL;
    API_NEED("kktrecon_model_load", path);
    kktrecon_model *h = calloc(1, sizeof *h);
    if (!h) return api_status(KR_FAIL(KR_E_NOMEM, "model handle"));
    kr_status st = kr_model_load(path, &h->m);
    if (st != KR_OK) {
        free(h);
        return api_status(st);
    }
    kr_st_file *f;
    if (kr_st_open(path, &f) == KR_OK) {
        const char *v = kr_st_metadata(f, "n_train");
        if (v && atol(v) > 0) h->n_train = (size_t)atol(v);
        kr_st_close(f);
    }
    kr_error_clear();
    *out = h;
    return KKTRECON_OK;
}

kktrecon_status kktrecon_model_save(const kktrecon_model *m, const char *path,
                                    kktrecon_dtype dtype)
{
    API_NEED("kktrecon_model_save", m);
    API_NEED("kktrecon_model_save", path);
    API_TRY(api_check_dtype("kktrecon_model_save", dtype));
    return api_status(kr_model_save(path, m->m, (kr_dtype)dtype, NULL, 0));
}

void kktrecon_model_free(kktrecon_model *m)
{
    if (!m) return;
    kr_model_free(m->m);
    free(m);
}

int kktrecon_model_layers(const kktrecon_model *m) { return m ? m->m->layers : 0; }

kktrecon_status kktrecon_model_dims(const kktrecon_model *m, size_t *dims, size_t cap)
{
    API_NEED("kktrecon_model_dims", m);
    API_NEED("kktrecon_model_dims", dims);
    if (cap < (size_t)m->m->layers + 1)
        return api_status(KR_FAIL(KR_E_INVALID, "kktrecon_model_dims: the model has %d layers, "
                                  "dims needs %d values, got room for %zu", m->m->layers,
                                  m->m->layers + 1, cap));
    memcpy(dims, m->m->dims, ((size_t)m->m->layers + 1) * sizeof *dims);
    return KKTRECON_OK;
}

static kr_status check_layer(const kktrecon_model *m, int layer, const char *fn)
{
    if (layer < 0 || layer >= m->m->layers)
        return KR_FAIL(KR_E_INVALID, "%s: layer %d of a model with layers 0..%d", fn, layer,
                       m->m->layers - 1);
    return KR_OK;
}

kktrecon_status kktrecon_model_weight(const kktrecon_model *m, int layer, double *out)
{
    API_NEED("kktrecon_model_weight", m);
    API_NEED("kktrecon_model_weight", out);
    API_TRY(check_layer(m, layer, "kktrecon_model_weight"));
    memcpy(out, m->m->w[layer], m->m->dims[layer] * m->m->dims[layer + 1] * sizeof *out);
    return KKTRECON_OK;
}

int kktrecon_model_has_bias(const kktrecon_model *m, int layer)
{
    return m && layer >= 0 && layer < m->m->layers && m->m->b[layer] != NULL;
}

kktrecon_status kktrecon_model_bias(const kktrecon_model *m, int layer, double *out)
{
    API_NEED("kktrecon_model_bias", m);
    API_NEED("kktrecon_model_bias", out);
    API_TRY(check_layer(m, layer, "kktrecon_model_bias"));
    if (!kktrecon_model_has_bias(m, layer))
        return api_status(KR_FAIL(KR_E_INVALID, "kktrecon_model_bias: layer %d has no bias",
                                  layer));
    memcpy(out, m->m->b[layer], m->m->dims[layer + 1] * sizeof *out);
    return KKTRECON_OK;
}

kktrecon_status kktrecon_model_mean(const kktrecon_model *m, double *out)
{
    API_NEED("kktrecon_model_mean", m);
    API_NEED("kktrecon_model_mean", out);
    memcpy(out, m->m->mean, m->m->dims[0] * sizeof *out);
    return KKTRECON_OK;
}

kktrecon_status kktrecon_model_set_image_shape(kktrecon_model *m, size_t c, size_t h, size_t w)
{
    API_NEED("kktrecon_model_set_image_shape", m);
    if (c * h * w != m->m->dims[0] && (c || h || w))
        return api_status(KR_FAIL(KR_E_INVALID, "kktrecon_model_set_image_shape: %zux%zux%zu "
                                  "is not the model's %zu inputs", c, h, w, m->m->dims[0]));
    m->m->image_c = c, m->m->image_h = h, m->m->image_w = w;
    return KKTRECON_OK;
}

void kktrecon_model_image_shape(const kktrecon_model *m, size_t *c, size_t *h, size_t *w)
{
    *c = m ? m->m->image_c : 0;
    *h = m ? m->m->image_h : 0;
    *w = m ? m->m->image_w : 0;
}

size_t kktrecon_model_n_train(const kktrecon_model *m) { return m ? m->n_train : 0; }

kktrecon_status kktrecon_model_predict(const kktrecon_model *m, kktrecon_device *dev,
                                       const kktrecon_config *cfg, size_t n,
                                       kktrecon_dtype dtype, const void *x, double *phi)
{
    const char *fn = "kktrecon_model_predict";
    API_NEED(fn, m);
    API_NEED(fn, dev);
    API_NEED(fn, x);
    API_NEED(fn, phi);
    API_TRY(api_check_dtype(fn, dtype));
    kr_config c;
    api_resolved(cfg, dev->dev, &c);
    API_TRY(kr_device_check_dtype(dev->dev, c.train.precision));
    const size_t d = m->m->dims[0];
    double *xc = malloc((n ? n : 1) * d * sizeof *xc);
    if (!xc) return api_status(KR_FAIL(KR_E_NOMEM, "%s: %zu inputs", fn, n));
    api_widen(dtype, x, n * d, xc);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < d; k++) xc[i * d + k] -= m->m->mean[k];
    kr_status st = kr_mlp_predict(dev->dev, c.train.precision, m->m, n, xc, phi);
    free(xc);
    return api_status(st);
}

kktrecon_status kktrecon_data_load(const kktrecon_config *cfg, int split, size_t *n, size_t *d,
                                   size_t *c, size_t *h, size_t *w, double **x, double **y)
{
    const char *fn = "kktrecon_data_load";
    API_NEED(fn, cfg);
    API_NEED(fn, n);
    API_NEED(fn, d);
    API_NEED(fn, c);
    API_NEED(fn, h);
    API_NEED(fn, w);
    API_NEED(fn, x);
    API_NEED(fn, y);
    *x = *y = NULL;
    if (split != 0 && split != 1)
        return api_status(KR_FAIL(KR_E_INVALID, "%s: split %d is neither 0 (train) nor 1 "
                                  "(test)", fn, split));
    kr_binary_set *s;
    API_TRY(kr_task_load_raw(&cfg->cfg, split ? KR_SPLIT_TEST : KR_SPLIT_TRAIN, &s));
    *n = s->n, *d = s->d;
    *c = (size_t)s->c, *h = (size_t)s->h, *w = (size_t)s->w;
    /* The set's own arrays change hands (allocated with malloc, released by kktrecon_free). */
    *x = s->x, *y = s->y;
    s->x = s->y = NULL;
    kr_binary_set_free(s);
    return KKTRECON_OK;
}
