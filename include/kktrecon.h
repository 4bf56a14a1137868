/* kktrecon.h — the public C API of libkktrecon: the KKT training-data reconstruction attack
 * (Haim et al., NeurIPS 2022) on plain arrays, for programs and for the Python package
 * (python/kktrecon, ctypes over this header).
 *
 *   #include <kktrecon.h>        cc prog.c $(pkg-config --cflags --libs kktrecon)
 *
 * Names. Everything public is `kktrecon_*` (types, functions) or `KKTRECON_*` (constants).
 * The library's internal code uses the short `kr_*` prefix; the long one marks what is
 * public, keeps a two-letter prefix out of the callers' global namespace, and lets the
 * shared library export exactly `kktrecon_*` (every other symbol is hidden).
 *
 * Conventions.
 * - Every fallible function returns a kktrecon_status: KKTRECON_OK (0) or a negative
 *   category; the detail (what, which file / key / element, the device) is in
 *   kktrecon_last_error(), a per-thread message valid until the next call on that thread.
 *   Results come back through out-parameters, untouched or NULL on failure.
 * - Arrays are plain, contiguous and row-major (C order). Matrices of images hold one image
 *   per row, CHW within a row (channel planes, each H×W row-major), as PyTorch flattens a
 *   (C,H,W) tensor. Where a function takes a `dtype`, the array is float32
 *   (KKTRECON_FLOAT32) or float64 (KKTRECON_FLOAT64); everything else is double. Output
 *   arrays are always double and allocated by the caller with the documented size; f32
 *   results are widened exactly.
 * - Handles are opaque; a handle is used by one thread at a time. Each *_free / *_close
 *   accepts NULL. Nothing here prints to stdout or exits; progress and warnings go to stderr
 *   unless kktrecon_set_verbosity(0).
 * - Settings are the configuration keys of `kktrecon help config` ("attack.lr_x",
 *   "train.steps", ...), with the same defaults, ranges and messages as the command line.
 *
 * The model is a ReLU MLP x ↦ W_L relu(W_{L−1} … relu(W_1 x + b_1) …) + b_L with C outputs and
 * an optional bias on any layer (nn.Linear), applied to mean-subtracted inputs x − mean
 * (DESIGN.md §2). Candidates live in that mean-subtracted space: add the model's mean to view
 * them as images.
 * Labels follow the objective (the setting attack.objective: auto, binary, multiclass,
 * regression; auto is binary for one output, multiclass for more): ±1 for a binary model (−1
 * for the first class of the binary task, +1 for the second), the class index for a
 * multiclass one, unused in regression.
 *
 * Interruption: the attack and training take a progress callback; returning non-zero from it
 * stops the job cleanly at the next iteration (KKTRECON_E_INTERRUPTED, the state reached so
 * far returned). The library installs no signal handlers.
 */
#ifndef KKTRECON_H
#define KKTRECON_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KKTRECON_API __attribute__((visibility("default")))
#else
#define KKTRECON_API
#endif

#define KKTRECON_API_VERSION 1 /* bumped on any incompatible change of this header */

/* ---------- status and errors ---------- */

typedef enum kktrecon_status {
    KKTRECON_OK = 0,
    KKTRECON_E_INVALID = -1,     /* bad argument, setting or file contents */
    KKTRECON_E_IO = -2,          /* a file could not be opened, read or written */
    KKTRECON_E_NOMEM = -3,       /* a host or device allocation failed or is too large */
    KKTRECON_E_OPENCL = -4,      /* an OpenCL call failed */
    KKTRECON_E_CLBLAST = -5,     /* a CLBlast call failed */
    KKTRECON_E_NODEVICE = -6,    /* no device matches the spec */
    KKTRECON_E_BUILD = -7,       /* an OpenCL program failed to build */
    KKTRECON_E_NUMERIC = -8,     /* NaN or Inf where finite numbers were required (divergence) */
    KKTRECON_E_UNSUPPORTED = -9, /* e.g. float64 on a device without fp64 */
    KKTRECON_E_INTERRUPTED = -10 /* stopped by the progress callback */
} kktrecon_status;

typedef enum kktrecon_dtype { KKTRECON_FLOAT32 = 0, KKTRECON_FLOAT64 = 1 } kktrecon_dtype;

/* The message of the last failure on this thread ("" if none). */
KKTRECON_API const char *kktrecon_last_error(void);
/* "ok", "invalid input", ... */
KKTRECON_API const char *kktrecon_status_name(int status);
/* The library's version ("0.1.0") and KKTRECON_API_VERSION it was built with. */
KKTRECON_API const char *kktrecon_version(void);
KKTRECON_API int kktrecon_api_version(void);
/* 0: errors only (nothing on stderr from the library), 1 (default): progress, 2: debug. */
KKTRECON_API void kktrecon_set_verbosity(int level);

/* ---------- devices ---------- */

typedef struct kktrecon_device kktrecon_device;

typedef struct kktrecon_device_info {
    int index;          /* as `kktrecon devices` numbers them: 0 host, OpenCL from 1 */
    char spec[32];      /* a SPEC that opens exactly this device: "host" or "p:d" */
    char type[16];      /* "host", "gpu", "cpu", "accelerator", "other" */
    char name[256];     /* device name ("host" for the host backend) */
    char platform[256]; /* OpenCL platform, or the host BLAS */
    char driver[128];
    size_t global_mem;  /* bytes */
    int fp64;           /* 1 if float64 is available */
} kktrecon_device_info;

/* Lists the devices: writes min(count, cap) entries to infos (may be NULL with cap 0) and
 * the number of devices to *count. Never fails for lack of OpenCL (the host alone). */
KKTRECON_API kktrecon_status kktrecon_device_list(kktrecon_device_info *infos, int cap,
                                                  int *count);
/* Opens a device by SPEC, as the command line's --device: "host", "p:d", an index of
 * kktrecon_device_list, "gpu", "cpu" (an OpenCL CPU device) or a case-insensitive substring
 * of the device or platform name. NULL or "" takes the environment variable KKTRECON_DEVICE,
 * else the built-in default (the first OpenCL GPU, else host). */
KKTRECON_API kktrecon_status kktrecon_device_open(const char *spec, kktrecon_device **out);
KKTRECON_API void kktrecon_device_close(kktrecon_device *dev);
/* One line naming the device, platform and driver (valid while dev is open). */
KKTRECON_API const char *kktrecon_device_describe(const kktrecon_device *dev);
/* The known-answer self-test the command line runs before a job on an OpenCL device (every
 * device op and GEMM against the host in float64, one KKT evaluation, one training step) in
 * precision dtype: KKTRECON_OK, or an error naming the op that computed wrong numbers.
 * Optional for library callers; a few seconds on a cold OpenCL device, instant on host. */
KKTRECON_API kktrecon_status kktrecon_device_selftest(kktrecon_device *dev,
                                                      kktrecon_dtype dtype);

/* ---------- settings ---------- */

typedef struct kktrecon_config kktrecon_config;

/* The built-in defaults of every key (`kktrecon help config`). */
KKTRECON_API kktrecon_status kktrecon_config_new(kktrecon_config **out);
KKTRECON_API void kktrecon_config_free(kktrecon_config *cfg);
KKTRECON_API kktrecon_status kktrecon_config_copy(const kktrecon_config *cfg,
                                                  kktrecon_config **out);
/* Reads an INI file over the current values (relative paths in it are taken from its
 * folder, as with --config). */
KKTRECON_API kktrecon_status kktrecon_config_load(kktrecon_config *cfg, const char *path);
/* Sets one key, "section.key" (or "device"), from its text form: the same parsing, range
 * check and message as `--set section.key=value`. */
KKTRECON_API kktrecon_status kktrecon_config_set(kktrecon_config *cfg, const char *key,
                                                 const char *value);
/* The current value of key as the configuration file would hold it, NUL-terminated in buf
 * (KKTRECON_E_INVALID if it does not fit in cap bytes or the key is unknown). */
KKTRECON_API kktrecon_status kktrecon_config_get(const kktrecon_config *cfg, const char *key,
                                                 char *buf, size_t cap);

/* ---------- models ---------- */

typedef struct kktrecon_model kktrecon_model;

/* A model from arrays: L weight layers, dims[0..L] (dims[0] = D inputs, dims[L] = C outputs),
 * weights[l] the dims[l+1]×dims[l] matrix of layer l (row-major, as nn.Linear stores it),
 * biases NULL or biases[l] NULL (no bias on layer l) or dims[l+1] values, mean NULL (zeros) or
 * the D-value train mean image the inputs are centred with.
 * All arrays in `dtype`; they are copied. Non-finite values are refused naming the tensor. */
KKTRECON_API kktrecon_status kktrecon_model_new(int layers, const size_t *dims,
                                                kktrecon_dtype dtype,
                                                const void *const *weights,
                                                const void *const *biases, const void *mean,
                                                kktrecon_model **out);
/* Reads a safetensors model: kktrecon's own files and PyTorch state_dicts with the names
 * `layers.N.weight` / `layers.N.bias` or nn.Sequential's `N.weight` / `N.bias`, plus an
 * optional `data.mean` (README, "Bringing a model trained in PyTorch"). */
KKTRECON_API kktrecon_status kktrecon_model_load(const char *path, kktrecon_model **out);
/* Writes the model as `kktrecon train` does (parameters stored in dtype). */
KKTRECON_API kktrecon_status kktrecon_model_save(const kktrecon_model *m, const char *path,
                                                 kktrecon_dtype dtype);
KKTRECON_API void kktrecon_model_free(kktrecon_model *m);
/* L and dims[0..L] (dims: L + 1 values; cap its size). */
KKTRECON_API int kktrecon_model_layers(const kktrecon_model *m);
KKTRECON_API kktrecon_status kktrecon_model_dims(const kktrecon_model *m, size_t *dims,
                                                 size_t cap);
/* Copies of the parameters: weight of layer l (dims[l+1]×dims[l] doubles), bias of layer l
 * (dims[l+1] doubles; KKTRECON_E_INVALID if the layer has none), the mean (D doubles). */
KKTRECON_API kktrecon_status kktrecon_model_weight(const kktrecon_model *m, int layer,
                                                   double *out);
KKTRECON_API int kktrecon_model_has_bias(const kktrecon_model *m, int layer);
KKTRECON_API kktrecon_status kktrecon_model_bias(const kktrecon_model *m, int layer,
                                                 double *out);
KKTRECON_API kktrecon_status kktrecon_model_mean(const kktrecon_model *m, double *out);
/* The input image shape (C·H·W = D); 0,0,0 if unknown. Loading sets it from the file's
 * metadata or guesses it from D (784: 1×28×28, 3072: 3×32×32). */
KKTRECON_API kktrecon_status kktrecon_model_set_image_shape(kktrecon_model *m, size_t c,
                                                            size_t h, size_t w);
KKTRECON_API void kktrecon_model_image_shape(const kktrecon_model *m, size_t *c, size_t *h,
                                             size_t *w);
/* The training-set size the model's file reports (metadata n_train), 0 if unknown. */
KKTRECON_API size_t kktrecon_model_n_train(const kktrecon_model *m);
/* Φ(x − mean) of n inputs x (n×D in dtype) into phi (n doubles), in the precision
 * train.precision of cfg (NULL: defaults) on dev. */
KKTRECON_API kktrecon_status kktrecon_model_predict(const kktrecon_model *m,
                                                    kktrecon_device *dev,
                                                    const kktrecon_config *cfg, size_t n,
                                                    kktrecon_dtype dtype, const void *x,
                                                    double *phi);

/* ---------- data ---------- */

/* The configured training (split 0) or test (split 1) set, as `kktrecon train` selects it
 * from the data.* keys (data.per_class resp. data.test_per_class per class): *n images of
 * *d = c·h·w values. *x (n×D, pixel/255 in [0,1], not mean-subtracted) and *y (n, ±1) are
 * allocated by the library: release them with kktrecon_free. */
KKTRECON_API kktrecon_status kktrecon_data_load(const kktrecon_config *cfg, int split,
                                                size_t *n, size_t *d, size_t *c, size_t *h,
                                                size_t *w, double **x, double **y);
KKTRECON_API void kktrecon_free(void *p);

/* ---------- training ---------- */

typedef struct kktrecon_train_result {
    long steps;           /* steps run */
    int interrupted;      /* 1: stopped by the callback (the model so far is returned) */
    double seconds;
    double loss;          /* final mean logistic loss on the training set */
    size_t errors;        /* training samples with yΦ <= 0 */
    double min_margin, median_margin;
    double kkt_gap;       /* DESIGN §6: ‖θ − Σλᵢyᵢ∇θΦ(xᵢ)‖/‖θ‖ at the best λ ≥ 0, NaN if not computed */
} kktrecon_train_result;

/* Called before every step with loss NaN (nothing is read from the device) and after every
 * train.log_every-th step with the loss before it; return non-zero to stop before the next
 * step. */
typedef int (*kktrecon_train_progress)(void *user, long step, long total, double loss);

/* Trains a model as `kktrecon train` does, on n images x (n×D in dtype, values as the model
 * should see them before centring, e.g. pixel/255) with labels y (n, ±1): the mean image of
 * x is the model's mean, the architecture is D-model.hidden-1 (model.first_bias,
 * model.init_scale), initialised from train.seed and trained by full-batch gradient descent
 * (train.steps, train.lr, train.lr_max, train.stop_loss, train.precision). c, h, w: the image
 * shape (0,0,0 if not images). result may be NULL. Stopped by the callback: returns
 * KKTRECON_E_INTERRUPTED with *out the model reached so far (free it) and result filled. */
KKTRECON_API kktrecon_status kktrecon_train(kktrecon_device *dev, const kktrecon_config *cfg,
                                            size_t n, size_t d, kktrecon_dtype dtype,
                                            const void *x, const double *y, size_t c, size_t h,
                                            size_t w, kktrecon_train_progress progress,
                                            void *user, kktrecon_model **out,
                                            kktrecon_train_result *result);

/* ---------- the attack ---------- */

#define KKTRECON_MAX_TENSORS 17

typedef struct kktrecon_loss {
    double total;  /* kkt + prior + lambda */
    double kkt;    /* Σ_p ‖θ_p − g_p‖² over the parameter tensors */
    double prior;  /* box prior on x */
    double lambda; /* 5 Σ relu(λ_min − λ)² */
    int n_tensors; /* L, or L + 1 with a first-layer bias */
    double kkt_per_tensor[KKTRECON_MAX_TENSORS]; /* state_dict order: W_1, b_1, W_2, ... */
} kktrecon_loss;

/* Called before every iteration with loss NULL (cheap: nothing is read from the device), and
 * once more on the loss-reading iterations (the first, every attack.log_every-th) and at the
 * end (iteration == total) with the loss at the current point; points: the loss of the best
 * point not diverged. Returning non-zero stops the attack cleanly with the candidates still at
 * that iteration (its step not taken); at the end it is ignored. */
typedef int (*kktrecon_attack_progress)(void *user, long iteration, long total,
                                        const kktrecon_loss *loss);

typedef struct kktrecon_attack_result {
    size_t m, d;          /* candidates (per point), values each */
    long iterations;      /* the iteration the candidates are at */
    int interrupted;      /* 1: stopped by the callback */
    double seconds;
    kktrecon_loss loss;   /* at the final point (points: the best point's) */
    int precision;        /* the kktrecon_dtype the attack ran in */
} kktrecon_attack_result;

/* The candidate count m of an attack of model m with cfg: attack.candidates, else twice the
 * training-set size the model reports (kktrecon_model_n_train), else 4·data.per_class; and
 * D, the values per candidate. */
KKTRECON_API kktrecon_status kktrecon_attack_size(const kktrecon_model *m,
                                                  const kktrecon_config *cfg, size_t *count,
                                                  size_t *d);
/* The attack of `kktrecon attack` on m with the [attack] keys of cfg (precision `auto`
 * resolved for dev as on the command line), without files: the same initialisation, loop
 * and arithmetic, so the same device, precision, seed and settings give bit-identical
 * candidates. Writes x (m×D, mean-subtracted space), lambda (m) and, if non-NULL, y (m, ±1:
 * the first half −1). On KKTRECON_E_INTERRUPTED x and lambda hold the point reached and
 * result->iterations says which; on divergence (KKTRECON_E_NUMERIC) nothing is written.
 * attack.points_file is refused here (kktrecon_attack_points). result may be NULL. */
KKTRECON_API kktrecon_status kktrecon_attack(const kktrecon_model *m, kktrecon_device *dev,
                                             const kktrecon_config *cfg,
                                             kktrecon_attack_progress progress, void *user,
                                             double *x, double *lambda, double *y,
                                             kktrecon_attack_result *result);
/* P hyperparameter points in one device job, as `kktrecon attack` with attack.points_file: a
 * table of P rows and ncols columns named columns[] (among init_scale, lr_x, lr_lambda,
 * momentum, lambda_min, alpha, seed; the other keys from cfg's [attack]), values row-major
 * P×ncols. Each point starts and runs as a single attack with its values would
 * (attack.optimizer: SGD or Adam). Writes x (P×m×D), lambda (P×m), y (m, may be NULL), losses
 * (P, may be NULL) and diverged (P, may be NULL: 1 for a point that diverged, whose rows are
 * then not meaningful). */
KKTRECON_API kktrecon_status kktrecon_attack_points(const kktrecon_model *m,
                                                    kktrecon_device *dev,
                                                    const kktrecon_config *cfg, size_t points,
                                                    size_t ncols, const char *const *columns,
                                                    const double *values,
                                                    kktrecon_attack_progress progress,
                                                    void *user, double *x, double *lambda,
                                                    double *y, kktrecon_loss *losses,
                                                    int *diverged,
                                                    kktrecon_attack_result *result);

/* The attack's objective at one point, as `kktrecon kkt`: X = x (count×D, mean-subtracted),
 * λ = lambda (count), labels y (count, ±1), with attack.alpha, attack.lambda_min,
 * attack.activation and attack.precision of cfg. grad_x (count×D) and grad_lambda (count)
 * may be NULL. */
KKTRECON_API kktrecon_status kktrecon_kkt(const kktrecon_model *m, kktrecon_device *dev,
                                          const kktrecon_config *cfg, size_t count,
                                          const double *x, const double *lambda,
                                          const double *y, kktrecon_loss *loss,
                                          double *grad_x, double *grad_lambda);

/* ---------- evaluation ---------- */

/* One training image and its nearest candidate (NCC distance), scored by SSIM. */
typedef struct kktrecon_pair {
    size_t train_index;     /* row of the training set */
    size_t candidate;       /* row of the candidates given */
    double ncc;             /* NCC distance */
    double margin;          /* yΦ(x) of the training image */
    double ssim_official;   /* SSIM(minmax(candidate + mean), image): the paper's protocol */
    double ssim_clip;       /* SSIM(clip(candidate + mean, 0, 1), image) */
    double ssim_baseline;   /* SSIM(mean, image) */
} kktrecon_pair;

typedef struct kktrecon_eval_summary {
    size_t n_train, n_candidates; /* n_candidates: the finite candidates matched */
    size_t n_nonfinite;           /* candidates left out for a NaN or Inf */
    /* [score][threshold]: score 0 official, 1 clip, 2 mean-image baseline; thresholds 0.3,
     * 0.4, 0.5: how many training images score above */
    size_t above[3][3];
    double mean[3], median[3];
} kktrecon_eval_summary;

/* The evaluation of `kktrecon evaluate` (DESIGN §4): the n training images x (n×D in dtype,
 * values in [0,1] as kktrecon_data_load returns them, not mean-subtracted) with labels y (n,
 * ±1) and image shape c×h×w (0,0,0: the model's) against `count` candidates (count×D,
 * mean-subtracted space; rows with a NaN or Inf are left out and counted); downsample: match
 * after 2× bicubic downsampling (the paper's CIFAR-10 protocol). pairs: n, in training-set
 * order; summary may be NULL. */
KKTRECON_API kktrecon_status kktrecon_evaluate(const kktrecon_model *m, kktrecon_device *dev,
                                               size_t n, kktrecon_dtype dtype, const void *x,
                                               const double *y, size_t c, size_t h, size_t w,
                                               size_t count, const double *candidates,
                                               int downsample, kktrecon_pair *pairs,
                                               kktrecon_eval_summary *summary);

/* A PNG of n image pairs, `top` above `bottom` (each n×(c·h·w) doubles, values in [0,1]),
 * labels NULL or n strings under the pairs, an optional title: the grid of `kktrecon
 * evaluate` (grid.png). */
KKTRECON_API kktrecon_status kktrecon_grid_png(const char *path, size_t n, size_t c, size_t h,
                                               size_t w, const double *top,
                                               const double *bottom,
                                               const char *const *labels, const char *title);

#ifdef __cplusplus
}
#endif

#endif
