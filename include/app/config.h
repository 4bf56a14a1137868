/* config.h — experiment configuration: INI files (inih), `--set section.key=value`
 * overrides, defaults, and the effective configuration written into every run folder.
 *
 * Every key is declared once in a table in config.c (name, type, default, help), so loading,
 * overriding, printing and `kktrecon help config` cannot disagree. Unknown keys and bad values
 * are errors naming the file, the line and what was expected.
 */
#ifndef KR_CONFIG_H
#define KR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "device/device.h"
#include "base/model.h"
#include "base/kkt_types.h" /* kr_objective */
#include "base/status.h"
#include "nn/optim.h" /* kr_optimizer */

/* The value of train.precision / attack.precision while it is `auto` (the default): resolved
 * into KR_F32 or KR_F64 by kr_config_resolve_precision once the device is known. */
#define KR_PRECISION_AUTO ((kr_dtype)2)

typedef struct kr_config {
    char device[128]; /* device spec, "" = built-in default */
    struct {
        char dataset[32];   /* mnist | fashion-mnist | cifar10 | folder */
        char path[1024];    /* directory with the dataset files */
        char task[128];     /* odd_even | vehicles_animals | clothing_footwear | "A/B" ids */
        long per_class;     /* training samples per binary class (first k in file order) */
        long test_per_class;
        uint64_t shuffle_seed; /* 0 = file order; else decoreco's shuffle of the selection */
    } data;
    struct {
        size_t hidden[KR_MAX_LAYERS]; /* hidden widths */
        int n_hidden;
        bool first_bias;
        bool later_biases; /* a bias on every layer after the first (nn.Linear's default) */
        double init_scale; /* std of W1, b1 */
    } model;
    struct {
        uint64_t seed;      /* of the weight initialisation, the only randomness of training */
        long steps;
        double lr;
        double lr_max;      /* adaptive schedule: cap for lr growth; 0 = constant lr */
        double stop_loss;   /* stop once the train loss is below this (0 = never) */
        int loss;           /* -1 = auto (from the task), else a kr_loss */
        double weight_decay;
        kr_dtype precision;
        long log_every;
    } train;
    struct {
        long candidates;    /* m; 0 = 2n */
        long iterations;
        double lr_x, lr_lambda;
        double momentum;
        double init_scale;
        double lambda_min;
        double alpha;
        kr_act activation;
        kr_objective objective; /* auto | binary | multiclass | regression */
        kr_optimizer optimizer;
        uint64_t seed;
        char points_file[1024]; /* "" = one run; else a CSV of points (attack_points.c) */
        long checkpoint_every;
        long log_every;
        kr_dtype precision;
    } attack;
    struct {                    /* `kktrecon sweep` (app/sweep.h); the rest from [attack] */
        long points;
        uint64_t seed;
        char batch[16];         /* "auto" or a count */
        char init_scale[256];   /* distributions: log:LO,HI | uniform:LO,HI | list:... | x */
        char lr_x[256];
        char lambda_min[256];
        char alpha[256];
        char points_file[1024]; /* "" = the distributions */
        char prune[16];         /* none | loss (successive halving, attack_points.c) */
    } sweep;
} kr_config;

void kr_config_defaults(kr_config *c);
/* Reads an INI file over the current values. */
kr_status kr_config_load_file(kr_config *c, const char *path);
/* Same for INI text held in memory; `name` is used in error messages. */
kr_status kr_config_load_string(kr_config *c, const char *text, const char *name);
/* Applies one "section.key=value" override (device: "device=..."). */
kr_status kr_config_set(kr_config *c, const char *assignment);
/* Writes the effective configuration as INI (loadable again). */
void kr_config_write(const kr_config *c, FILE *f);
/* The current value of key "section.key" ("device" for the top-level key) as the text
 * kr_config_write would write; KR_E_INVALID for an unknown key. */
kr_status kr_config_format(const kr_config *c, const char *name, char *buf, size_t cap);
/* Writes `key = default  ; help` lines for --help. */
void kr_config_write_help(FILE *f);
/* Replaces a precision of `auto` by the device's: float64 on the host backend and OpenCL CPU
 * devices with fp64, float32 on GPUs, accelerators and devices without fp64. An explicit
 * double is kept (a device without fp64 then refuses it: never silently single). */
void kr_config_resolve_precision(kr_config *c, const kr_device *dev);
/* Checks cross-key consistency (e.g. per_class > 0). */
kr_status kr_config_validate(const kr_config *c);

#endif
