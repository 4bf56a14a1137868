/* model.h — the classifier's parameters on the host, in float64.
 *
 * Bias-free ReLU MLP with scalar output and an optional first-layer bias (DESIGN.md §2):
 *   Z_1 = X W_1ᵀ + b_1,  A_l = relu(Z_l),  Z_l = A_{l−1} W_lᵀ (l ≥ 2),  Φ = A_{L−1} w_Lᵀ.
 * Layer l (0-based index l-1 in the arrays) has W_l of shape dims[l] x dims[l−1], row-major:
 * dims[0] = D (input size), dims[1..L-1] = hidden widths, dims[L] = 1.
 * The one indexing convention of the code base (model, mlp, kkt, the references, kkt_gap):
 * loops run over DESIGN's layer numbers l = 1..L; arrays of parameters are 0-based, w[l−1]
 * holds W_l (state_dict order); arrays of per-layer activations are indexed by l, slot 0 the
 * input (dims[0] = D, A_0 = X).
 * The train mean image (D values, subtracted from inputs) travels with the model.
 * This is the exchange format between training, safetensors files, references and the
 * attack; device-side copies live in mlp.c / kkt.c.
 */
#ifndef KR_MODEL_H
#define KR_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

#define KR_MAX_LAYERS 16

/* Forward activation of the attack's network (DESIGN §3, §3.1 "Testing this gradient").
 * Both use σ(αz) as the derivative; training always uses exact ReLU. */
typedef enum kr_act {
    KR_ACT_RELU = 0,     /* A = max(Z, 0)           (the paper's forward) */
    KR_ACT_SOFTPLUS = 1  /* A = log(1 + e^{αZ}) / α  (stable form; true derivative σ(αZ)) */
} kr_act;

typedef struct kr_model {
    int layers;                      /* L >= 2 weight layers */
    size_t dims[KR_MAX_LAYERS + 1];  /* dims[0] = D, ..., dims[L] = 1 */
    bool first_bias;
    double *w[KR_MAX_LAYERS];        /* w[l]: dims[l+1] x dims[l], row-major */
    double *b1;                      /* dims[1], or NULL without first-layer bias */
    double *mean;                    /* dims[0]: train mean image, or NULL (zeros) */
    size_t image_c, image_h, image_w;/* input image shape (C*H*W == D), 0 if unknown */
} kr_model;

/* Allocates zeroed parameters for D-hidden[0]-...-hidden[nh-1]-1. */
kr_status kr_model_new(size_t d, const size_t *hidden, int n_hidden, bool first_bias,
                       kr_model **out);
void kr_model_free(kr_model *m);
kr_status kr_model_clone(const kr_model *m, kr_model **out);

/* DESIGN §2 init: W_1, b_1 ~ N(0,1)·init_scale; W_l (l >= 2) ~ U(−1/√fan_in, 1/√fan_in).
 * Draws W_1 row-major, then b_1, then W_2, W_3, ... from one rng seeded with seed. */
void kr_model_init(kr_model *m, double init_scale, uint64_t seed);

/* Number of parameters (all tensors including b_1). */
size_t kr_model_num_params(const kr_model *m);

/* "784-1000-1000-1" (+ " with b1"), for logs. */
void kr_model_describe(const kr_model *m, char *buf, size_t cap);

#endif
