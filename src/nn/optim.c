/* optim.c — one optimiser step (optim.h): PyTorch's SGD-with-momentum and Adam, as the
 * bookkeeping (constants, step count) around the element-wise kr_op_sgd / kr_op_adam.
 */
#include "nn/optim.h"

#include "device/ops.h"

const char *kr_optim_name(kr_optimizer kind) { return kind == KR_OPT_ADAM ? "adam" : "sgd"; }

kr_status kr_optim_step(kr_optimizer kind, double lr, double momentum, long t, kr_tensor *p,
                        const kr_tensor *g, kr_tensor *buf, kr_tensor *v)
{
    if (kind == KR_OPT_ADAM) return kr_op_adam(lr, 0.9, 0.999, 1e-8, t + 1, p, g, buf, v);
    return kr_op_sgd(lr, momentum, t == 0, p, g, buf);
}

kr_status kr_optim_sgd_pair(double lr_x, double lr_lambda, double momentum, long t, kr_tensor *x,
                            const kr_tensor *gx, kr_tensor *bx, kr_tensor *lambda,
                            const kr_tensor *glambda, kr_tensor *blambda)
{
    return kr_op_sgd_pair(lr_x, lr_lambda, momentum, t == 0, x, gx, bx, lambda, glambda,
                          blambda);
}

kr_status kr_optim_adam_rows(const kr_tensor *lr, long t, kr_tensor *p, const kr_tensor *g,
                             kr_tensor *m, kr_tensor *v)
{
    return kr_op_adam_rows(lr, 0.9, 0.999, 1e-8, t + 1, p, g, m, v);
}

kr_status kr_optim_sgd_rows(const kr_tensor *lr, const kr_tensor *momentum, long t, kr_tensor *p,
                            const kr_tensor *g, kr_tensor *buf)
{
    return kr_op_sgd_rows(lr, momentum, t == 0, p, g, buf);
}
