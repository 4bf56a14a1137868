/* model.h — the classifier's parameters on the host, in float64.
 *
 * ReLU MLP with C outputs and an optional bias on any layer (DESIGN.md §2; the paper's model
 * is C = 1 with a first-layer bias only, Buzaglo et al. 2023 add C >= 2 and every bias):
 *   Z_l = A_{l−1} W_lᵀ (+ b_l),  A_l = relu(Z_l) (l < L),  Φ = A_{L−1} W_Lᵀ (+ b_L)  (n × C).
 * Layer l (0-based index l-1 in the arrays) has W_l of shape dims[l] x dims[l−1], row-major:
 * dims[0] = D (input size), dims[1..L-1] = hidden widths, dims[L] = C (outputs, >= 1).
 * b[l−1] holds b_l (dims[l] values) or is NULL when layer l has no bias.
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

/* Training loss (nn/mlp.c, ref/mlp_ref.c; Buzaglo et al. 2023 train with all four). Labels:
 * LOGISTIC ±1 (C = 1), CE the class index 0..C−1 (C >= 2), MSE and HUBER the real target
 * (C = 1). Each is the mean over the n samples (PyTorch's default reduction). */
typedef enum kr_loss {
    KR_LOSS_LOGISTIC = 0, /* log(1 + exp(−yΦ)) */
    KR_LOSS_CE = 1,       /* −log softmax(Φ)_y */
    KR_LOSS_MSE = 2,      /* (Φ − y)² */
    KR_LOSS_HUBER = 3     /* ½ r² if |r| <= 1, else |r| − ½  (r = Φ − y; PyTorch, delta 1) */
} kr_loss;

typedef struct kr_model {
    int layers;                      /* L >= 2 weight layers */
    size_t dims[KR_MAX_LAYERS + 1];  /* dims[0] = D, ..., dims[L] = C */
    double *w[KR_MAX_LAYERS];        /* w[l]: dims[l+1] x dims[l], row-major */
    double *b[KR_MAX_LAYERS];        /* b[l]: dims[l+1], or NULL (layer l+1 has no bias) */
    double *mean;                    /* dims[0]: train mean image, or NULL (zeros) */
    size_t image_c, image_h, image_w;/* input image shape (C*H*W == D), 0 if unknown */
} kr_model;

/* Allocates zeroed parameters for D-hidden[0]-...-hidden[nh-1]-1 with a bias on the first
 * layer only when first_bias (the paper's binary model). */
kr_status kr_model_new(size_t d, const size_t *hidden, int n_hidden, bool first_bias,
                       kr_model **out);
/* The general form: D-hidden[0]-...-hidden[nh-1]-C (outputs = C >= 1); bit l−1 of bias_mask
 * set gives layer l a bias (bits above L−1 must be 0). */
kr_status kr_model_new_general(size_t d, const size_t *hidden, int n_hidden, size_t outputs,
                               unsigned bias_mask, kr_model **out);
/* Bit l−1 set when layer l has a bias. */
unsigned kr_model_bias_mask(const kr_model *m);
/* Number of parameter tensors: L weights plus one per bias. */
int kr_model_num_tensors(const kr_model *m);
void kr_model_free(kr_model *m);
kr_status kr_model_clone(const kr_model *m, kr_model **out);

/* DESIGN §2 init: W_1, b_1 ~ N(0,1)·init_scale; W_l, b_l (l >= 2) ~ U(−1/√fan_in, 1/√fan_in)
 * (PyTorch's nn.Linear). Draws W_1 row-major, then b_1, then W_2, b_2, W_3, ... (absent biases
 * draw nothing, so a first-bias-only model draws exactly what it always did) from one rng
 * seeded with seed. */
void kr_model_init(kr_model *m, double init_scale, uint64_t seed);

/* Number of parameters (all tensors, biases included). */
size_t kr_model_num_params(const kr_model *m);

/* "784-1000-1000-1" (+ " (first-layer bias)" / " (bias on every layer)" / " (biases on
 * layers 1,3)"), for logs. */
void kr_model_describe(const kr_model *m, char *buf, size_t cap);

#endif
