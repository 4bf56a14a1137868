/* optim.h — the attack's optimisers as steps over device tensors: SGD with momentum and Adam,
 * PyTorch's definitions (torch.optim.SGD with dampening 0 and no Nesterov; torch.optim.Adam
 * with betas (0.9, 0.999), eps 1e-8, no weight decay, no amsgrad).
 *
 * The element-wise update is kr_op_sgd / kr_op_adam (device/ops.h); this file is the host-side
 * bookkeeping around them: the constants, the step count t (0-based here, Adam's bias
 * correction uses t + 1) and SGD's first step, which initialises the momentum buffer to g.
 * The caller owns all tensors, so their contents can be checkpointed (io/checkpoint.h).
 * Shapes: p, g, buf and v are one shape (any rows × cols, row-major).
 * Not here: learning-rate schedules (training's is in app/train.c), gradients (nn/kkt.h).
 */
#ifndef KR_OPTIM_H
#define KR_OPTIM_H

#include "device/tensor.h"

typedef enum kr_optimizer { KR_OPT_SGD = 0, KR_OPT_ADAM = 1 } kr_optimizer;

/* "sgd" | "adam", as the configuration and the checkpoint metadata spell them. */
const char *kr_optim_name(kr_optimizer kind);

/* Step t (0, 1, 2, ...) of optimiser `kind` on parameter p with gradient g:
 *   SGD:  buf = (t == 0 ? g : momentum·buf + g);  p −= lr·buf
 *   Adam: buf, v = first and second moments;     p −= lr·m̂ / (sqrt(v̂) + eps) at step t + 1
 * buf: SGD momentum buffer or Adam first moment; v: Adam second moment (unused, may be NULL,
 * for SGD). momentum is ignored by Adam. */
kr_status kr_optim_step(kr_optimizer kind, double lr, double momentum, long t, kr_tensor *p,
                        const kr_tensor *g, kr_tensor *buf, kr_tensor *v);

/* SGD step t with a learning rate and momentum per row (lr, momentum: p->rows × 1 on p's
 * device; stacked attack points, nn/kkt.h): the update of kr_optim_step's SGD, row by row. */
kr_status kr_optim_sgd_rows(const kr_tensor *lr, const kr_tensor *momentum, long t, kr_tensor *p,
                            const kr_tensor *g, kr_tensor *buf);

/* SGD step t on X (m × D) and λ (m × 1) together, lr_x for X and lr_lambda for λ: the
 * update of two kr_optim_step SGD calls in one op (sgd_pair). */
kr_status kr_optim_sgd_pair(double lr_x, double lr_lambda, double momentum, long t, kr_tensor *x,
                            const kr_tensor *gx, kr_tensor *bx, kr_tensor *lambda,
                            const kr_tensor *glambda, kr_tensor *blambda);

/* Adam step t with a learning rate per row (lr: p->rows × 1): kr_optim_step's Adam, row by
 * row (m, v: the first and second moments). */
kr_status kr_optim_adam_rows(const kr_tensor *lr, long t, kr_tensor *p, const kr_tensor *g,
                             kr_tensor *m, kr_tensor *v);

#endif
