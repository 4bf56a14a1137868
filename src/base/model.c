/* model.c — allocation, cloning and DESIGN §2 initialisation of the host float64 model. */
#include "base/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"

kr_status kr_model_new_general(size_t d, const size_t *hidden, int n_hidden, size_t outputs,
                               unsigned bias_mask, kr_model **out)
{
    *out = NULL;
    if (n_hidden < 1 || n_hidden + 1 > KR_MAX_LAYERS)
        return KR_FAIL(KR_E_INVALID, "model needs 1..%d hidden layers, got %d",
                       KR_MAX_LAYERS - 1, n_hidden);
    if (d == 0) return KR_FAIL(KR_E_INVALID, "model input size is 0");
    if (outputs == 0) return KR_FAIL(KR_E_INVALID, "model has 0 outputs");
    if (bias_mask >> (n_hidden + 1))
        return KR_FAIL(KR_E_INVALID, "model bias mask 0x%x names a layer beyond L = %d",
                       bias_mask, n_hidden + 1);
    kr_model *m = calloc(1, sizeof *m);
    if (!m) return KR_FAIL(KR_E_NOMEM, "allocating model");
    m->layers = n_hidden + 1;
    m->dims[0] = d;
    for (int i = 0; i < n_hidden; i++) {
        if (hidden[i] == 0) {
            free(m);
            return KR_FAIL(KR_E_INVALID, "hidden layer %d has width 0", i + 1);
        }
        m->dims[i + 1] = hidden[i];
    }
    m->dims[m->layers] = outputs;
    for (int l = 0; l < m->layers; l++) {
        m->w[l] = calloc(m->dims[l] * m->dims[l + 1], sizeof(double));
        if (!m->w[l]) goto nomem;
        if ((bias_mask >> l & 1u) && !(m->b[l] = calloc(m->dims[l + 1], sizeof(double))))
            goto nomem;
    }
    if (!(m->mean = calloc(d, sizeof(double)))) goto nomem;
    *out = m;
    return KR_OK;
nomem:
    kr_model_free(m);
    return KR_FAIL(KR_E_NOMEM, "allocating model parameters");
}

kr_status kr_model_new(size_t d, const size_t *hidden, int n_hidden, bool first_bias,
                       kr_model **out)
{
    return kr_model_new_general(d, hidden, n_hidden, 1, first_bias ? 1u : 0u, out);
}

void kr_model_free(kr_model *m)
{
    if (!m) return;
    for (int l = 0; l < m->layers; l++) {
        free(m->w[l]);
        free(m->b[l]);
    }
    free(m->mean);
    free(m);
}

unsigned kr_model_bias_mask(const kr_model *m)
{
    unsigned mask = 0;
    for (int l = 0; l < m->layers; l++)
        if (m->b[l]) mask |= 1u << l;
    return mask;
}

int kr_model_num_tensors(const kr_model *m)
{
    int n = m->layers;
    for (int l = 0; l < m->layers; l++) n += m->b[l] != NULL;
    return n;
}

kr_status kr_model_clone(const kr_model *m, kr_model **out)
{
    size_t hidden[KR_MAX_LAYERS];
    for (int l = 1; l < m->layers; l++) hidden[l - 1] = m->dims[l];
    KR_TRY(kr_model_new_general(m->dims[0], hidden, m->layers - 1, m->dims[m->layers],
                                kr_model_bias_mask(m), out));
    kr_model *c = *out;
    for (int l = 0; l < m->layers; l++) {
        memcpy(c->w[l], m->w[l], m->dims[l] * m->dims[l + 1] * sizeof(double));
        if (m->b[l]) memcpy(c->b[l], m->b[l], m->dims[l + 1] * sizeof(double));
    }
    if (m->mean) memcpy(c->mean, m->mean, m->dims[0] * sizeof(double));
    c->image_c = m->image_c;
    c->image_h = m->image_h;
    c->image_w = m->image_w;
    return KR_OK;
}

void kr_model_init(kr_model *m, double init_scale, uint64_t seed)
{
    kr_rng r;
    kr_rng_seed(&r, seed);
    size_t n1 = m->dims[0] * m->dims[1];
    for (size_t i = 0; i < n1; i++) m->w[0][i] = kr_rng_normal(&r) * init_scale;
    if (m->b[0])
        for (size_t i = 0; i < m->dims[1]; i++) m->b[0][i] = kr_rng_normal(&r) * init_scale;
    for (int l = 1; l < m->layers; l++) {
        double bound = 1.0 / sqrt((double)m->dims[l]);
        size_t n = m->dims[l] * m->dims[l + 1];
        for (size_t i = 0; i < n; i++) m->w[l][i] = (2.0 * kr_rng_uniform(&r) - 1.0) * bound;
        if (m->b[l])
            for (size_t i = 0; i < m->dims[l + 1]; i++)
                m->b[l][i] = (2.0 * kr_rng_uniform(&r) - 1.0) * bound;
    }
}

size_t kr_model_num_params(const kr_model *m)
{
    size_t n = 0;
    for (int l = 0; l < m->layers; l++)
        n += m->dims[l] * m->dims[l + 1] + (m->b[l] ? m->dims[l + 1] : 0);
    return n;
}

void kr_model_describe(const kr_model *m, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int l = 0; l <= m->layers && k < cap; l++)
        k += (size_t)snprintf(buf + k, cap - k, l ? "-%zu" : "%zu", m->dims[l]);
    const unsigned mask = kr_model_bias_mask(m), all = (1u << m->layers) - 1u;
    if (k >= cap || !mask) return;
    if (mask == 1u) {
        snprintf(buf + k, cap - k, " (first-layer bias)");
        return;
    }
    if (mask == all) {
        snprintf(buf + k, cap - k, " (bias on every layer)");
        return;
    }
    k += (size_t)snprintf(buf + k, cap - k, " (biases on layers");
    for (int l = 0; l < m->layers && k < cap; l++)
        if (mask >> l & 1u) k += (size_t)snprintf(buf + k, cap - k, " %d", l + 1);
    if (k < cap) snprintf(buf + k, cap - k, ")");
}
