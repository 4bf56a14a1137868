/* mlp.h — the classifier on a device: forward, backward and a full-batch gradient-descent
 * step on the mean training loss (DESIGN.md §2; Buzaglo et al. 2023 for C outputs, every bias,
 * cross-entropy, MSE, Huber and weight decay), written once over tensor/blas/ops so it runs on
 * every backend. The float64 reference is mlp_ref.h.
 *
 * Shapes (row-major): X n×D (mean-subtracted), y n labels, W_l H_l×H_{l−1}, b_l 1×H_l (any
 * layer), Z_l / A_l n×H_l, Φ n×C (C = H_L outputs).
 */
#ifndef KR_MLP_H
#define KR_MLP_H

#include <stddef.h>

#include "base/model.h"
#include "device/tensor.h"

typedef struct kr_mlp kr_mlp;

/* Uploads the model's parameters in dtype dt and allocates the workspace for batches of n. */
kr_status kr_mlp_new(kr_device *dev, kr_dtype dt, const kr_model *m, size_t n, kr_mlp **out);
void kr_mlp_free(kr_mlp *net);

/* The training loss and weight decay (default: logistic for C = 1, cross-entropy for C >= 2,
 * no decay). Call before kr_mlp_set_batch: the labels' layout on the device depends on it.
 * The loss must fit C (mlp_ref.h); wd >= 0 adds (wd/2) Σ_p ‖θ_p‖² (every tensor, biases
 * included: PyTorch SGD's weight_decay) to the loss and wd θ to the gradients. */
kr_status kr_mlp_set_loss(kr_mlp *net, kr_loss loss, double wd);

/* Uploads a batch: x n×D (float64, row-major), y n labels of the loss (base/model.h's kr_loss:
 * ±1, a class index, a real target); y may be NULL for forward only. */
kr_status kr_mlp_set_batch(kr_mlp *net, const double *x, const double *y);

/* Φ for the current batch, downloaded into phi (n × C doubles). */
kr_status kr_mlp_forward(kr_mlp *net, double *phi);

/* Forward + backward on the current batch: the mean loss (plus the decay term), the number of
 * training errors (mlp_ref.h) and the gradients (kept on the device). With loss and errors
 * both NULL nothing is read back, so nothing waits for the device. */
kr_status kr_mlp_loss_grad(kr_mlp *net, double *loss, double *errors);

/* θ −= lr · ∇θ (the gradients of the last kr_mlp_loss_grad). */
kr_status kr_mlp_step(kr_mlp *net, double lr);

/* Downloads the parameters (into a model of the same architecture) or the gradients. */
kr_status kr_mlp_read_params(const kr_mlp *net, kr_model *m);
kr_status kr_mlp_read_grads(const kr_mlp *net, kr_model *g);

/* GEMM work of one training step (forward + backward) in FLOP. */
double kr_mlp_step_flops(const kr_model *m, size_t n);

/* Convenience: Φ (n × C) of n inputs under model m (batched internally). */
kr_status kr_mlp_predict(kr_device *dev, kr_dtype dt, const kr_model *m, size_t n,
                         const double *x, double *phi);

/* Margins of n labelled inputs under model m: x n×D (row-major, mean-subtracted), y n,
 * margins n. One output: yΦ(x) (y = ±1); C >= 2 outputs: Φ_y(x) − max_{j≠y} Φ_j(x) (y the
 * class index). A margin <= 0 is a misclassified sample. */
kr_status kr_mlp_margins(kr_device *dev, kr_dtype dt, const kr_model *m, size_t n,
                         const double *x, const double *y, double *margins);

#endif
