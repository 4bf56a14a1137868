/* check_kkt_ref.c — host tests of the float64 KKT-loss reference (src/ref/kkt_ref.c).
 *
 * What it checks:
 *  - SOFTPLUS mode (where the returned vector is the exact gradient): ∂L/∂x and ∂L/∂λ against
 *    5-point central finite differences of the total loss on random nets with 2, 3 and 4
 *    weight layers, with and without b_1, α = 2 and α = 50; some x outside the box [−1, 1]
 *    and some λ below λ_min, so every term of the loss is exercised; and for every objective
 *    (binary, multiclass with C = 3, regression with λ of both signs) with no bias, the first
 *    layer's, every layer's and the output layer's only, at depth 2 and 3 (multiclass
 *    candidates are kept where the runner-up pick does not flip under the FD steps).
 *  - the loss, term by term, against an independent implementation in this file that builds
 *    each per-sample gradient ∇θ(uᵀΦ̃) by FORWARD accumulation of explicit Jacobian matrices
 *    (diag(s) and W products), not by backpropagation, and picks the multiclass runner-up
 *    with its own code; RELU and SOFTPLUS mode, every objective and bias pattern.
 *  - hand values: λ = 0 (the KKT term is Σ‖θ_p‖², the x-gradient is the prior's), the prior
 *    and the λ term on chosen numbers, per-tensor terms summing to the KKT term.
 *  - RELU mode: L is exactly quadratic in λ (the forward pass does not depend on λ), so the
 *    λ-gradient must match finite differences there too; and with α = 1e3 and every
 *    pre-activation at least 0.1 away from 0, RELU and SOFTPLUS results coincide.
 *  - argument validation and the non-finite-loss status.
 * Randomness: fresh seed each run (clock); KKTRECON_TEST_SEED=<n> reproduces a run. Every
 * failure message names the seed.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ref/kkt_ref.h"
#include "base/model.h"
#include "base/rng.h"
#include "testutil.h"

#define MAXW 64 /* widest layer (incl. D) the independent implementation handles */

static unsigned long long g_seed;


/* ---- independent implementation ------------------------------------------------------ */

/* Forward pass of one sample: a[l] (l = 0..L−1, dims[l]), s[l] = σ(αz_l), Φ in a[L], and
 * min |z| over the hidden layers. */
static double indep_forward(const kr_model *m, kr_act act, double alpha, const double *x,
                            double a[][MAXW], double s[][MAXW])
{
    double mn = INFINITY;
    const int L = m->layers;
    for (size_t k = 0; k < m->dims[0]; k++) a[0][k] = x[k];
    for (int l = 1; l <= L; l++) {
        for (size_t j = 0; j < m->dims[l]; j++) {
            double z = m->b[l - 1] ? m->b[l - 1][j] : 0.0;
            for (size_t k = 0; k < m->dims[l - 1]; k++)
                z += m->w[l - 1][j * m->dims[l - 1] + k] * a[l - 1][k];
            if (l == L) {
                a[L][j] = z;
                continue;
            }
            mn = fmin(mn, fabs(z));
            /* plain formulas: fine for the moderate α·z of these tests */
            a[l][j] = act == KR_ACT_RELU ? fmax(z, 0.0) : log(1.0 + exp(alpha * z)) / alpha;
            s[l][j] = 1.0 / (1.0 + exp(-alpha * z));
        }
    }
    return mn;
}

/* The objective's sign vector σ (C) of a sample whose outputs are phi (own code: binary (y),
 * regression (1), multiclass e_y − e_{j*}, j* the first largest output other than y). */
static void indep_signs(kr_objective obj, size_t C, const double *phi, double y, double *sig)
{
    for (size_t j = 0; j < C; j++) sig[j] = 0.0;
    if (obj == KR_OBJ_BINARY) sig[0] = y;
    if (obj == KR_OBJ_REGRESSION) sig[0] = 1.0;
    if (obj != KR_OBJ_MULTICLASS) return;
    size_t yc = (size_t)y, best = yc == 0 ? 1 : 0;
    for (size_t j = 0; j < C; j++)
        if (j != yc && phi[j] > phi[best]) best = j;
    sig[yc] += 1.0;
    sig[best] -= 1.0;
}

/* Per-sample ∇θ(uᵀΦ̃) with derivative σ(αz): v_l = ∂(uᵀΦ̃)/∂z_l = uᵀ J_l with the Jacobian
 *   J_l = W_L diag(s_{L−1}) W_{L−1} ⋯ W_{l+1} diag(s_l)   (C × dims[l]),
 * built here by forward accumulation: M := diag(s_l), then M := W_k M and M := diag(s_k) M
 * for k = l+1..L. Then ∇W_l = v_l a_{l−1}ᵀ and ∇b_l = v_l (v_L = u).
 * gw[l]: dims[l+1] × dims[l] (same layout as m->w), gb[l]: dims[l+1] or NULL. Adds c · ∇.
 * u == NULL: the objective's σ of this sample (obj, y) is used. */
static void indep_add_sample_grad(const kr_model *m, kr_act act, double alpha, const double *x,
                                  kr_objective obj, double y, double c, double **gw, double **gb)
{
    static double a[KR_MAX_LAYERS + 1][MAXW], s[KR_MAX_LAYERS + 1][MAXW];
    static double M[MAXW][MAXW], T[MAXW][MAXW];
    const int L = m->layers;
    const size_t C = m->dims[L];
    indep_forward(m, act, alpha, x, a, s);
    double u[MAXW];
    indep_signs(obj, C, a[L], y, u);
    for (int l = 1; l <= L; l++) {
        double v[MAXW];
        size_t hl = m->dims[l];
        if (l == L) {
            for (size_t j = 0; j < C; j++) v[j] = u[j];
        } else {
            for (size_t i = 0; i < hl; i++)
                for (size_t j = 0; j < hl; j++) M[i][j] = i == j ? s[l][i] : 0.0;
            size_t rows = hl;
            for (int k = l + 1; k <= L; k++) {
                size_t hk = m->dims[k];
                for (size_t i = 0; i < hk; i++)
                    for (size_t j = 0; j < hl; j++) {
                        double acc = 0.0;
                        for (size_t q = 0; q < rows; q++)
                            acc += m->w[k - 1][i * rows + q] * M[q][j];
                        T[i][j] = k < L ? s[k][i] * acc : acc;
                    }
                memcpy(M, T, sizeof M);
                rows = hk;
            }
            for (size_t j = 0; j < hl; j++) {
                v[j] = 0.0;
                for (size_t q = 0; q < C; q++) v[j] += u[q] * M[q][j];
            }
        }
        for (size_t j = 0; j < hl; j++)
            for (size_t k = 0; k < m->dims[l - 1]; k++)
                gw[l - 1][j * m->dims[l - 1] + k] += c * v[j] * a[l - 1][k];
        if (gb[l - 1])
            for (size_t j = 0; j < hl; j++) gb[l - 1][j] += c * v[j];
    }
}

static void zero_model(kr_model *g)
{
    for (int l = 0; l < g->layers; l++) {
        memset(g->w[l], 0, g->dims[l] * g->dims[l + 1] * sizeof(double));
        if (g->b[l]) memset(g->b[l], 0, g->dims[l + 1] * sizeof(double));
    }
}

/* The whole loss, written out directly. Per-tensor terms in state_dict order. */
static kr_kkt_loss indep_loss(const kr_model *m, const kr_kkt_opts *o, size_t mc,
                              const double *x, const double *lambda, const double *y)
{
    kr_model *g = NULL;
    ck_assert_int_eq(kr_model_clone(m, &g), KR_OK);
    zero_model(g);
    const kr_objective obj = kr_objective_resolve(o->objective, m->dims[m->layers]);
    for (size_t i = 0; i < mc; i++)
        indep_add_sample_grad(m, o->act, o->alpha, x + i * m->dims[0], obj, y ? y[i] : 0.0,
                              lambda[i] / (double)mc, g->w, g->b);
    kr_kkt_loss r;
    memset(&r, 0, sizeof r);
    for (int l = 0; l < m->layers; l++) {
        double ss = 0;
        for (size_t q = 0; q < m->dims[l] * m->dims[l + 1]; q++)
            ss += pow(m->w[l][q] - g->w[l][q], 2);
        r.kkt_per_tensor[r.n_tensors++] = ss;
        if (m->b[l]) {
            ss = 0;
            for (size_t j = 0; j < m->dims[l + 1]; j++) ss += pow(m->b[l][j] - g->b[l][j], 2);
            r.kkt_per_tensor[r.n_tensors++] = ss;
        }
    }
    for (int p = 0; p < r.n_tensors; p++) r.kkt += r.kkt_per_tensor[p];
    for (size_t q = 0; q < mc * m->dims[0]; q++)
        r.prior += pow(fmax(x[q] - 1, 0), 2) + pow(fmax(-1 - x[q], 0), 2);
    for (size_t i = 0; i < mc && obj != KR_OBJ_REGRESSION; i++)
        r.lambda += 5 * pow(fmax(o->lambda_min - lambda[i], 0), 2);
    r.total = r.kkt + r.prior + r.lambda;
    kr_model_free(g);
    return r;
}

static void assert_close(double got, double want, double rtol, const char *what)
{
    ck_assert_msg(fabs(got - want) <= rtol * fmax(fabs(want), 1e-300),
                  "seed %llu: %s = %.17g, want %.17g (rel %.3g)", g_seed, what, got, want,
                  fabs(got - want) / fabs(want));
}

/* ---- problem generator ----------------------------------------------------------------- */

typedef struct problem {
    kr_model *m;
    size_t mc, D;
    double x[8 * 8];  /* mc × D */
    double lambda[8]; /* mc */
    double y[8];      /* mc: binary first half −1, rest +1; multiclass equal class blocks */
    const double *yp; /* y, or NULL (regression: labels unused) */
} problem;

/* The gap between the largest and the second-largest output other than class y of candidate
 * x under o's forward pass (how far the multiclass runner-up pick is from flipping). */
static double runner_up_gap(const kr_model *m, const kr_kkt_opts *o, const double *x, size_t y)
{
    static double a[KR_MAX_LAYERS + 1][MAXW], s[KR_MAX_LAYERS + 1][MAXW];
    indep_forward(m, o->act, o->alpha, x, a, s);
    const int L = m->layers;
    double best = -INFINITY, second = -INFINITY;
    for (size_t j = 0; j < m->dims[L]; j++) {
        if (j == y) continue;
        if (a[L][j] > best) second = best, best = a[L][j];
        else if (a[L][j] > second) second = a[L][j];
    }
    return best - second;
}

/* Random net with C outputs and biases by mask, and candidates; x entries and λ are kept
 * ≥ 1e-3 away from the prior's and the λ term's kinks (±1, λ_min), one x beyond each box edge
 * and one λ below λ_min are forced. Regression draws λ ~ N(0,1) (both signs). Multiclass
 * (C >= 3) candidates are redrawn until the runner-up leads the next output by >= 0.05 under
 * o's forward pass, so the pick does not flip under finite-difference steps. */
static void problem_draw_obj(problem *P, kr_rng *r, int L, unsigned mask, const kr_kkt_opts *o)
{
    const size_t hidden[3] = {5, 4, 3};
    const kr_objective obj = o->objective == KR_OBJ_AUTO ? KR_OBJ_BINARY : o->objective;
    const size_t C = obj == KR_OBJ_MULTICLASS ? 3 : 1;
    const double lambda_min = o->lambda_min;
    P->D = 6, P->mc = 6;
    P->m = kr_test_random_model_general(r, P->D, hidden, L - 1, C, mask, 1.5);
    for (size_t q = 0; q < P->mc * P->D; q++) {
        do P->x[q] = 1.3 * kr_rng_normal(r);
        while (fabs(fabs(P->x[q]) - 1.0) < 1e-3);
    }
    P->x[0] = 1.7, P->x[P->D + 1] = -1.9;
    for (size_t i = 0; i < P->mc; i++) {
        if (obj == KR_OBJ_REGRESSION) {
            P->lambda[i] = kr_rng_normal(r);
        } else {
            do P->lambda[i] = kr_rng_uniform(r);
            while (fabs(P->lambda[i] - lambda_min) < 1e-3);
        }
        P->y[i] = obj == KR_OBJ_MULTICLASS ? (double)(i * C / P->mc)
                                           : i < P->mc / 2 ? -1.0 : 1.0;
    }
    if (obj != KR_OBJ_REGRESSION) P->lambda[0] = 0.5 * lambda_min, P->lambda[P->mc - 1] = 0.05;
    P->yp = obj == KR_OBJ_REGRESSION ? NULL : P->y;
    for (size_t i = 0; obj == KR_OBJ_MULTICLASS && i < P->mc; i++) {
        int tries = 0;
        while (runner_up_gap(P->m, o, P->x + i * P->D, (size_t)P->y[i]) < 0.05) {
            ck_assert_msg(++tries < 100000, "seed %llu: no candidate with a clear runner-up",
                          g_seed);
            for (size_t k = 0; k < P->D; k++) {
                do P->x[i * P->D + k] = 1.3 * kr_rng_normal(r);
                while (fabs(fabs(P->x[i * P->D + k]) - 1.0) < 1e-3);
            }
        }
    }
}

static void problem_draw(problem *P, kr_rng *r, int L, bool bias, double lambda_min)
{
    const kr_kkt_opts o = {KR_ACT_RELU, 1.0, lambda_min, KR_OBJ_BINARY};
    problem_draw_obj(P, r, L, bias ? 1u : 0u, &o);
}

static double total_loss(const problem *P, const kr_kkt_opts *o)
{
    kr_kkt_loss l;
    ck_assert_int_eq(kr_kkt_ref_eval(P->m, o, P->mc, P->x, P->lambda, P->yp, &l, NULL, NULL),
                     KR_OK);
    return l.total;
}

/* Finite differences of the total loss in every x and λ against grad_x, grad_λ, with the
 * 5-point central stencil f' ≈ (8(f(v+h) − f(v−h)) − (f(v+2h) − f(v−2h))) / (12h),
 * h = 1e-4·max(1, |v|). (Plain 2-point central differences with h = 1e-5 reach ~4e-10 at
 * α = 2 but only ~3e-7 at α = 50, where their h²·f‴/6 truncation grows like α²; the 5-point
 * stencil's h⁴ truncation and its 10× larger h give ≤ ~5e-9 at both α.)
 * Two measures per variable (x, then λ), with gmax = max|analytic| over that variable:
 *   norm-relative  |fd − an| / gmax                 must be < tol       (returned: the worst)
 *   entry-relative |fd − an| / max(|an|, 1e-2·gmax) must be < 100·tol
 * (the floor keeps the loss's rounding, ~ε·L/h, from dominating tiny entries). */
static double fd_check(problem *P, const kr_kkt_opts *o, double tol, bool check_x, const char *tag)
{
    double gx[8 * 8], gl[8];
    kr_kkt_loss l;
    ck_assert_int_eq(kr_kkt_ref_eval(P->m, o, P->mc, P->x, P->lambda, P->yp, &l, gx, gl), KR_OK);
    double worst = 0;
    for (int which = check_x ? 0 : 1; which < 2; which++) {
        double *v = which == 0 ? P->x : P->lambda, *an = which == 0 ? gx : gl;
        size_t cnt = which == 0 ? P->mc * P->D : P->mc;
        double gmax = 0;
        for (size_t q = 0; q < cnt; q++) gmax = fmax(gmax, fabs(an[q]));
        ck_assert_msg(gmax > 0, "seed %llu %s: zero gradient", g_seed, tag);
        for (size_t q = 0; q < cnt; q++) {
            const double v0 = v[q], h = 1e-4 * fmax(1.0, fabs(v0)), step[4] = {2, 1, -1, -2};
            double f[4];
            for (int k = 0; k < 4; k++) {
                v[q] = v0 + step[k] * h;
                f[k] = total_loss(P, o);
            }
            v[q] = v0;
            double fd = (8 * (f[1] - f[2]) - (f[0] - f[3])) / (12 * h);
            double err = fabs(fd - an[q]) / gmax;
            double err_entry = fabs(fd - an[q]) / fmax(fabs(an[q]), 1e-2 * gmax);
            worst = fmax(worst, err);
            ck_assert_msg(err < tol && err_entry < 100 * tol,
                          "seed %llu %s: d/d%s[%zu] analytic %.15g fd %.15g (max %.3g): "
                          "rel to max %.3g, rel to entry %.3g", g_seed, tag,
                          which == 0 ? "x" : "lambda", q, an[q], fd, gmax, err, err_entry);
        }
    }
    return worst;
}

/* ---- tests -------------------------------------------------------------------------------- */

/* _i = 0..11: depth 2 + _i/4, b_1 on for (_i/2) even, α = 2 for even _i, 50 for odd _i. */
START_TEST(test_fd_softplus)
{
    const int L = 2 + _i / 4;
    const bool bias = ((_i / 2) % 2) == 0;
    const kr_kkt_opts o = {KR_ACT_SOFTPLUS, _i % 2 ? 50.0 : 2.0, 0.3, KR_OBJ_AUTO};
    kr_rng r;
    kr_rng_seed(&r, g_seed + 977u * (unsigned)_i);
    problem P;
    problem_draw(&P, &r, L, bias, o.lambda_min);
    char tag[64];
    snprintf(tag, sizeof tag, "L=%d bias=%d alpha=%g", L, (int)bias, o.alpha);
    double worst = fd_check(&P, &o, 1e-7, true, tag);
    printf("check_kkt_ref: softplus %s max FD error rel to max|grad| %.3g\n", tag, worst);
    kr_model_free(P.m);
}
END_TEST

/* The bias masks of the objective tests: none, the first layer's (the paper's), every layer's
 * (PyTorch's nn.Linear), the output layer's only. */
static unsigned mask_of(int k, int L)
{
    return k == 0 ? 0u : k == 1 ? 1u : k == 2 ? (1u << L) - 1u : 1u << (L - 1);
}

/* _i = 0..47: objective (binary, multiclass C = 3, regression) × bias mask (mask_of) × depth
 * 2, 3 × α 2 / 50, softplus: ∂L/∂x and ∂L/∂λ against finite differences. */
START_TEST(test_fd_objectives)
{
    const kr_objective obj = (kr_objective)(1 + _i % 3);
    const int mk = (_i / 3) % 4, L = 2 + (_i / 12) % 2;
    const kr_kkt_opts o = {KR_ACT_SOFTPLUS, _i >= 24 ? 50.0 : 2.0, 0.3, obj};
    kr_rng r;
    kr_rng_seed(&r, g_seed + 1009u * (unsigned)_i + 17);
    problem P;
    problem_draw_obj(&P, &r, L, mask_of(mk, L), &o);
    char tag[96];
    snprintf(tag, sizeof tag, "%s L=%d biases=0x%x alpha=%g", kr_objective_name(obj), L,
             mask_of(mk, L), o.alpha);
    double worst = fd_check(&P, &o, 1e-7, true, tag);
    printf("check_kkt_ref: softplus %s max FD error rel to max|grad| %.3g\n", tag, worst);
    kr_model_free(P.m);
}
END_TEST

/* _i = 0..47: act RELU / SOFTPLUS (_i % 2), depth 2 + (_i/2) % 3, b_1 on for _i < 6; then
 * _i = 12..47: objective × bias mask × act. */
START_TEST(test_loss_independent)
{
    const int L = _i < 12 ? 2 + (_i / 2) % 3 : 2 + (_i / 24);
    const kr_objective obj = _i < 12 ? KR_OBJ_AUTO : (kr_objective)(1 + (_i / 2) % 3);
    const unsigned mask = _i < 12 ? (_i < 6 ? 1u : 0u) : mask_of((_i / 6) % 4, L);
    const kr_kkt_opts o = {_i % 2 ? KR_ACT_SOFTPLUS : KR_ACT_RELU, 7.0, 0.3, obj};
    kr_rng r;
    kr_rng_seed(&r, g_seed + 31u * (unsigned)_i + 5);
    problem P;
    problem_draw_obj(&P, &r, L, mask, &o);
    kr_kkt_loss got, want = indep_loss(P.m, &o, P.mc, P.x, P.lambda, P.yp);
    double gx[8 * 8];
    ck_assert_int_eq(kr_kkt_ref_eval(P.m, &o, P.mc, P.x, P.lambda, P.yp, &got, gx, NULL), KR_OK);
    ck_assert_int_eq(got.n_tensors, L + __builtin_popcount(mask));
    ck_assert_int_eq(want.n_tensors, got.n_tensors);
    for (int p = 0; p < got.n_tensors; p++)
        assert_close(got.kkt_per_tensor[p], want.kkt_per_tensor[p], 1e-12, "kkt_per_tensor");
    assert_close(got.kkt, want.kkt, 1e-12, "kkt");
    assert_close(got.prior, want.prior, 1e-12, "prior");
    assert_close(got.lambda, want.lambda, 1e-12, "lambda term");
    assert_close(got.total, want.total, 1e-12, "total");
    double sum = 0;
    for (int p = 0; p < got.n_tensors; p++) sum += got.kkt_per_tensor[p];
    assert_close(got.kkt, sum, 1e-14, "sum of kkt_per_tensor");
    ck_assert(got.prior > 0 && (obj == KR_OBJ_REGRESSION ? got.lambda == 0 : got.lambda > 0));
    /* Loss only (no gradients) gives the same numbers. */
    kr_kkt_loss only;
    ck_assert_int_eq(kr_kkt_ref_eval(P.m, &o, P.mc, P.x, P.lambda, P.yp, &only, NULL, NULL), KR_OK);
    ck_assert(only.total == got.total);
    kr_model_free(P.m);
}
END_TEST

/* λ = 0: g = 0, so the KKT term is Σ_p ‖θ_p‖², the x-gradient is the prior's alone, and
 * ∂L/∂λ_i = (y_i/M) f_i − 10 λ_min with f_i = −2 Σ_p ⟨θ_p, ∇θ_pΦ̃(x_i)⟩ (independent ∇).
 * _i = 0..3: RELU / SOFTPLUS × b_1 on / off, depth 3; _i = 4..7: multiclass with every bias.
 * (Multiclass: ∂L/∂λ_i = (1/M) F_{σ_i}, σ_i = e_y − e_{j*}.) */
START_TEST(test_lambda_zero)
{
    const kr_objective obj = _i < 4 ? KR_OBJ_BINARY : KR_OBJ_MULTICLASS;
    const kr_kkt_opts o = {_i % 2 ? KR_ACT_SOFTPLUS : KR_ACT_RELU, 4.0, 0.25, obj};
    kr_rng r;
    kr_rng_seed(&r, g_seed + 13u * (unsigned)_i + 1);
    problem P;
    problem_draw_obj(&P, &r, 3, _i < 2 ? 1u : _i < 4 ? 0u : 7u, &o);
    for (size_t i = 0; i < P.mc; i++) P.lambda[i] = 0.0;
    kr_kkt_loss l;
    double gx[8 * 8], gl[8];
    ck_assert_int_eq(kr_kkt_ref_eval(P.m, &o, P.mc, P.x, P.lambda, P.yp, &l, gx, gl), KR_OK);
    int p = 0;
    for (int k = 0; k < P.m->layers; k++) {
        double ss = 0;
        for (size_t q = 0; q < P.m->dims[k] * P.m->dims[k + 1]; q++)
            ss += P.m->w[k][q] * P.m->w[k][q];
        assert_close(l.kkt_per_tensor[p++], ss, 1e-14, "|W|^2");
        if (P.m->b[k]) {
            ss = 0;
            for (size_t j = 0; j < P.m->dims[k + 1]; j++) ss += P.m->b[k][j] * P.m->b[k][j];
            assert_close(l.kkt_per_tensor[p++], ss, 1e-14, "|b|^2");
        }
    }
    assert_close(l.lambda, 5.0 * (double)P.mc * o.lambda_min * o.lambda_min, 1e-14, "lambda term");
    for (size_t q = 0; q < P.mc * P.D; q++) {
        double want = 2 * fmax(P.x[q] - 1, 0) - 2 * fmax(-1 - P.x[q], 0);
        ck_assert_msg(gx[q] == want, "seed %llu: grad_x[%zu] = %.17g, want %.17g", g_seed, q,
                      gx[q], want);
    }
    kr_model *g = NULL;
    ck_assert_int_eq(kr_model_clone(P.m, &g), KR_OK);
    for (size_t i = 0; i < P.mc; i++) {
        zero_model(g);
        indep_add_sample_grad(P.m, o.act, o.alpha, P.x + i * P.D, obj, P.y[i], 1.0, g->w, g->b);
        double f = 0;
        for (int k = 0; k < g->layers; k++) {
            for (size_t q = 0; q < g->dims[k] * g->dims[k + 1]; q++)
                f += -2 * P.m->w[k][q] * g->w[k][q];
            for (size_t j = 0; g->b[k] && j < g->dims[k + 1]; j++)
                f += -2 * P.m->b[k][j] * g->b[k][j];
        }
        double want = f / (double)P.mc - 10 * o.lambda_min;
        ck_assert_msg(fabs(gl[i] - want) <= 1e-12 * (fabs(want) + 1),
                      "seed %llu: grad_lambda[%zu] = %.17g, want %.17g", g_seed, i, gl[i], want);
    }
    kr_model_free(g);
    kr_model_free(P.m);
}
END_TEST

START_TEST(test_prior_lambda_hand)
{
    /* D = 4, M = 2, zero model (so g = 0 and the KKT term is 0).
     * x = [1.5, −2, 0.3, 1 | −1, 0, 3, −0.5]:
     *   prior = 0.5² + 1² + 2² = 5.25; its gradient 2·relu(x−1) − 2·relu(−1−x) =
     *   [1, −2, 0, 0 | 0, 0, 4, 0] (x = ±1 exactly contributes nothing).
     * λ = [0.1, 0.5], λ_min = 0.3: λ term = 5·0.2² = 0.2, ∂/∂λ = [−10·0.2, 0] = [−2, 0]
     * (f_i = 0 because E = 0 on a zero model). */
    const size_t hidden[1] = {3};
    kr_model *m = NULL;
    ck_assert_int_eq(kr_model_new(4, hidden, 1, true, &m), KR_OK);
    const double x[8] = {1.5, -2, 0.3, 1, -1, 0, 3, -0.5};
    const double lam[2] = {0.1, 0.5}, y[2] = {-1, 1};
    const double want_gx[8] = {1, -2, 0, 0, 0, 0, 4, 0};
    const kr_kkt_opts o = {KR_ACT_RELU, 10.0, 0.3, KR_OBJ_AUTO};
    kr_kkt_loss l;
    double gx[8], gl[2];
    ck_assert_int_eq(kr_kkt_ref_eval(m, &o, 2, x, lam, y, &l, gx, gl), KR_OK);
    ck_assert(l.kkt == 0.0);
    ck_assert_int_eq(l.n_tensors, 3);
    assert_close(l.prior, 5.25, 1e-15, "prior");
    assert_close(l.lambda, 0.2, 1e-14, "lambda term");
    assert_close(l.total, 5.45, 1e-14, "total");
    for (int q = 0; q < 8; q++) ck_assert_msg(gx[q] == want_gx[q], "grad_x[%d] = %g", q, gx[q]);
    assert_close(gl[0], -2.0, 1e-14, "grad_lambda[0]");
    ck_assert(gl[1] == 0.0);
    kr_model_free(m);
}
END_TEST

/* RELU mode: L is quadratic in λ (exactly), so central differences of L in λ are exact up to
 * rounding and must match grad_λ. _i = 0..5: depth 2 + _i/2, b_1 on for even _i. */
START_TEST(test_relu_lambda_fd)
{
    const kr_kkt_opts o = {KR_ACT_RELU, 20.0, 0.3, KR_OBJ_AUTO};
    kr_rng r;
    kr_rng_seed(&r, g_seed + 57u * (unsigned)_i + 3);
    problem P;
    problem_draw(&P, &r, 2 + _i / 2, _i % 2 == 0, o.lambda_min);
    char tag[64];
    snprintf(tag, sizeof tag, "relu lambda L=%d bias=%d", 2 + _i / 2, _i % 2 == 0);
    double worst = fd_check(&P, &o, 1e-7, false, tag);
    printf("check_kkt_ref: %s max FD error rel to max|grad| %.3g\n", tag, worst);
    kr_model_free(P.m);
}
END_TEST

/* With α = 1e3 and every |z| ≥ 0.1, softplus_α(z) − relu(z) ≤ log1p(e^{−100})/α ≈ 4e-47 and
 * σ' ≈ α e^{−100}: RELU and SOFTPLUS modes must give the same loss and gradients.
 * _i = 0..5: depth 2 + _i/2, b_1 on for even _i. Candidates are redrawn one at a time until
 * all their pre-activations satisfy |z| ≥ 0.1. */
START_TEST(test_relu_equals_softplus_far_from_kinks)
{
    const int L = 2 + _i / 2;
    kr_kkt_opts o = {KR_ACT_RELU, 1e3, 0.3, KR_OBJ_AUTO};
    kr_rng r;
    kr_rng_seed(&r, g_seed + 71u * (unsigned)_i + 11);
    problem P;
    problem_draw(&P, &r, L, _i % 2 == 0, o.lambda_min);
    static double a[KR_MAX_LAYERS][MAXW], s[KR_MAX_LAYERS][MAXW];
    for (size_t i = 0; i < P.mc; i++) {
        int tries = 0;
        while (indep_forward(P.m, KR_ACT_RELU, o.alpha, P.x + i * P.D, a, s) < 0.1) {
            ck_assert_msg(++tries < 100000, "seed %llu: no candidate with all |z| >= 0.1", g_seed);
            for (size_t k = 0; k < P.D; k++) P.x[i * P.D + k] = 1.3 * kr_rng_normal(&r);
        }
    }
    kr_kkt_loss lr, ls;
    double gxr[8 * 8], glr[8], gxs[8 * 8], gls[8];
    ck_assert_int_eq(kr_kkt_ref_eval(P.m, &o, P.mc, P.x, P.lambda, P.y, &lr, gxr, glr), KR_OK);
    o.act = KR_ACT_SOFTPLUS;
    ck_assert_int_eq(kr_kkt_ref_eval(P.m, &o, P.mc, P.x, P.lambda, P.y, &ls, gxs, gls), KR_OK);
    assert_close(ls.total, lr.total, 1e-12, "softplus vs relu total");
    double mx = 0, ml = 0;
    for (size_t q = 0; q < P.mc * P.D; q++) mx = fmax(mx, fabs(gxr[q]));
    for (size_t i = 0; i < P.mc; i++) ml = fmax(ml, fabs(glr[i]));
    for (size_t q = 0; q < P.mc * P.D; q++)
        ck_assert_msg(fabs(gxr[q] - gxs[q]) <= 1e-10 * mx, "seed %llu: grad_x[%zu] relu %.15g "
                      "softplus %.15g", g_seed, q, gxr[q], gxs[q]);
    for (size_t i = 0; i < P.mc; i++)
        ck_assert_msg(fabs(glr[i] - gls[i]) <= 1e-10 * ml, "seed %llu: grad_lambda[%zu] relu "
                      "%.15g softplus %.15g", g_seed, i, glr[i], gls[i]);
    kr_model_free(P.m);
}
END_TEST

START_TEST(test_invalid)
{
    const size_t hidden[1] = {3};
    kr_model *m = NULL;
    ck_assert_int_eq(kr_model_new(2, hidden, 1, true, &m), KR_OK);
    double x[2] = {0.5, -0.5}, lam[1] = {0.5}, y[1] = {1};
    kr_kkt_loss l;
    kr_kkt_opts o = {KR_ACT_RELU, 10.0, 0.1, KR_OBJ_AUTO};
    ck_assert_int_eq(kr_kkt_ref_eval(m, &o, 0, x, lam, y, &l, NULL, NULL), KR_E_INVALID);
    ck_assert_int_eq(kr_kkt_ref_eval(m, &o, 1, x, lam, y, NULL, NULL, NULL), KR_E_INVALID);
    ck_assert_int_eq(kr_kkt_ref_eval(m, NULL, 1, x, lam, y, &l, NULL, NULL), KR_E_INVALID);
    o.alpha = 0.0;
    ck_assert_int_eq(kr_kkt_ref_eval(m, &o, 1, x, lam, y, &l, NULL, NULL), KR_E_INVALID);
    o.alpha = NAN;
    ck_assert_int_eq(kr_kkt_ref_eval(m, &o, 1, x, lam, y, &l, NULL, NULL), KR_E_INVALID);
    o.alpha = 10.0;
    o.act = (kr_act)7;
    ck_assert_int_eq(kr_kkt_ref_eval(m, &o, 1, x, lam, y, &l, NULL, NULL), KR_E_INVALID);
    o.act = KR_ACT_SOFTPLUS;
    ck_assert_int_eq(kr_kkt_ref_eval(m, &o, 1, x, lam, y, &l, NULL, NULL), KR_OK);
    /* objectives that do not fit one output; labels the objective cannot use */
    o.objective = KR_OBJ_MULTICLASS;
    ck_assert_int_eq(kr_kkt_ref_eval(m, &o, 1, x, lam, y, &l, NULL, NULL), KR_E_INVALID);
    o.objective = KR_OBJ_BINARY;
    ck_assert_int_eq(kr_kkt_ref_eval(m, &o, 1, x, lam, NULL, &l, NULL, NULL), KR_E_INVALID);
    o.objective = KR_OBJ_REGRESSION;
    ck_assert_int_eq(kr_kkt_ref_eval(m, &o, 1, x, lam, NULL, &l, NULL, NULL), KR_OK);
    kr_model *m3 = NULL;
    ck_assert_int_eq(kr_model_new_general(2, hidden, 1, 3, 0u, &m3), KR_OK);
    const double c3[1] = {3}, c2[1] = {2};
    ck_assert_int_eq(kr_kkt_ref_eval(m3, &o, 1, x, lam, c2, &l, NULL, NULL), KR_E_INVALID);
    o.objective = KR_OBJ_AUTO; /* multiclass for C = 3 */
    ck_assert_int_eq(kr_kkt_ref_eval(m3, &o, 1, x, lam, c3, &l, NULL, NULL), KR_E_INVALID);
    ck_assert_int_eq(kr_kkt_ref_eval(m3, &o, 1, x, lam, c2, &l, NULL, NULL), KR_OK);
    kr_model_free(m3);
    o.objective = KR_OBJ_BINARY;
    x[1] = NAN; /* 0 · NaN = NaN: it reaches g and the residual even on a zero model */
    ck_assert_int_eq(kr_kkt_ref_eval(m, &o, 1, x, lam, y, &l, NULL, NULL), KR_E_NUMERIC);
    kr_model_free(m);
}
END_TEST

/* Huge pre-activations must not overflow softplus or σ (α z up to ±1e5). */
START_TEST(test_no_overflow)
{
    const size_t hidden[1] = {2};
    kr_model *m = NULL;
    ck_assert_int_eq(kr_model_new(1, hidden, 1, false, &m), KR_OK);
    m->w[0][0] = 100.0, m->w[0][1] = -100.0, m->w[1][0] = 1.0, m->w[1][1] = 1.0;
    const double x[1] = {2.0}, lam[1] = {0.5}, y[1] = {1};
    for (int act = 0; act < 2; act++) {
        kr_kkt_opts o = {(kr_act)act, 500.0, 0.1, KR_OBJ_AUTO};
        kr_kkt_loss l;
        double gx[1], gl[1];
        ck_assert_int_eq(kr_kkt_ref_eval(m, &o, 1, x, lam, y, &l, gx, gl), KR_OK);
        ck_assert(isfinite(gx[0]) && isfinite(gl[0]));
        /* z = [200, −200]: a = [200, 0], s = [1, 0]; Φ̃-gradient: W2 ← a = [200, 0],
         * W1 ← [1·1·2, 0] = [2, 0]; c = 0.5; g: W1 [1, 0], W2 [100, 0].
         * KKT = (100−1)² + 100² + (1−100)² + 1² = 9801 + 10000 + 9801 + 1. */
        assert_close(l.kkt, 29603.0, 1e-13, "kkt at huge z");
    }
    kr_model_free(m);
}
END_TEST

int main(void)
{
    g_seed = kr_test_seed();
    printf("check_kkt_ref: seed %llu (set KKTRECON_TEST_SEED to reproduce)\n", g_seed);
    fflush(stdout);
    Suite *s = suite_create("kkt_ref");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_fd_softplus, 0, 12);
    tcase_add_loop_test(tc, test_fd_objectives, 0, 48);
    tcase_add_loop_test(tc, test_loss_independent, 0, 48);
    tcase_add_loop_test(tc, test_lambda_zero, 0, 8);
    tcase_add_test(tc, test_prior_lambda_hand);
    tcase_add_loop_test(tc, test_relu_lambda_fd, 0, 6);
    tcase_add_loop_test(tc, test_relu_equals_softplus_far_from_kinks, 0, 6);
    tcase_add_test(tc, test_invalid);
    tcase_add_test(tc, test_no_overflow);
    suite_add_tcase(s, tc);
    int failed = kr_test_run_suite(s, false);
    if (failed) fprintf(stderr, "check_kkt_ref: %d failed; seed %llu\n", failed, g_seed);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
