/* config.c — the table of every configuration key, and INI loading through inih.
 *
 * Does not: resolve the device (device.c) or check that dataset files exist (data.c).
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "app/config.h"

#include <errno.h>
#include <float.h>
#include <ini.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* T_PATH: a string naming a file or folder; a relative one read from a configuration file is
 * taken relative to that file's folder (and stored absolute), one from --set or the built-in
 * text relative to the current directory. */
typedef enum { T_STR, T_PATH, T_LONG, T_DOUBLE, T_BOOL, T_U64, T_HIDDEN, T_DTYPE, T_ACT, T_OPT,
               T_OBJ, T_LOSS } key_type;

/* train.loss names, in kr_loss order; -1 is auto. */
static const char *const LOSS_NAMES[] = {"logistic", "cross_entropy", "mse", "huber"};

/* The allowed values of a numeric key: lo..hi, each end open or closed. */
typedef struct key_range {
    bool on;
    double lo, hi;
    bool lo_open, hi_open;
} key_range;

typedef struct key_def {
    const char *section, *key;
    key_type type;
    size_t offset, size; /* into kr_config; size for strings */
    const char *def;     /* default, as text */
    const char *help;
    key_range range;     /* numeric keys: checked by kr_config_validate, shown by help */
} key_def;

#define F(field) offsetof(kr_config, field), sizeof(((kr_config *)0)->field)
/* Ranges: [lo, hi], (lo, hi], [lo, hi), (lo, hi). */
#define CLOSED(lo, hi) {true, (lo), (hi), false, false}
#define OPEN_LO(lo, hi) {true, (lo), (hi), true, false}
#define OPEN_HI(lo, hi) {true, (lo), (hi), false, true}
#define NO_RANGE {false, 0, 0, false, false}
/* Counts stay far below what a size product could overflow on (checked again at allocation). */
#define COUNT_MAX 1e12
#define SAMPLES_MAX 1e7
#define KR_WIDTH_MAX 1000000

static const key_def KEYS[] = {
    {"", "device", T_STR, F(device), "",
     "host | p:d | index | gpu | cpu | name substring; empty = first OpenCL GPU, else host",
     NO_RANGE},
    {"data", "dataset", T_STR, F(data.dataset), "mnist", "mnist | fashion-mnist | cifar10 | folder",
     NO_RANGE},
    {"data", "path", T_PATH, F(data.path), "",
     "directory holding the dataset files (relative: to the configuration file's folder)",
     NO_RANGE},
    {"data", "task", T_STR, F(data.task), "",
     "odd_even | vehicles_animals | clothing_footwear | A/B class-id lists (\"0,1/2,3\") | "
     "multiclass (every class) | multiclass:IDS (\"3,5,8\") | regression:TASK | "
     "vehicles_animals_regression; empty = the dataset's usual task", NO_RANGE},
    {"data", "per_class", T_LONG, F(data.per_class), "250",
     "training samples per binary class (first k in file order)", CLOSED(1, SAMPLES_MAX)},
    {"data", "test_per_class", T_LONG, F(data.test_per_class), "1000",
     "test samples per binary class (0 = no test evaluation)", CLOSED(0, SAMPLES_MAX)},
    {"data", "shuffle_seed", T_U64, F(data.shuffle_seed), "0",
     "0 = the selection in file order; else shuffled with this seed (decoreco shuffles its "
     "selection; full-batch training sees only the summation order)", NO_RANGE},
    {"model", "hidden", T_HIDDEN, F(model.hidden), "1000,1000", "hidden widths, comma-separated",
     NO_RANGE},
    {"model", "first_bias", T_BOOL, F(model.first_bias), "true", "bias on the first layer",
     NO_RANGE},
    {"model", "later_biases", T_BOOL, F(model.later_biases), "false",
     "a bias on every layer after the first, output included (PyTorch nn.Linear's default)",
     NO_RANGE},
    {"model", "init_scale", T_DOUBLE, F(model.init_scale), "1e-4",
     "std of the first layer's N(0,1) init (W1, b1)", OPEN_LO(0, INFINITY)},
    {"train", "seed", T_U64, F(train.seed), "1", "seed of the weight initialisation", NO_RANGE},
    {"train", "steps", T_LONG, F(train.steps), "100000", "full-batch gradient-descent steps",
     CLOSED(0, COUNT_MAX)},
    {"train", "lr", T_DOUBLE, F(train.lr), "0.01", "learning rate (the paper: 0.01)",
     OPEN_LO(0, INFINITY)},
    {"train", "lr_max", T_DOUBLE, F(train.lr_max), "0",
     "0 = constant lr; else lr grows as lr*0.01/loss (capped at lr_max) once loss < 0.01",
     CLOSED(0, INFINITY)},
    {"train", "stop_loss", T_DOUBLE, F(train.stop_loss), "0",
     "stop early when the mean train loss falls below this (0 = run all steps)",
     CLOSED(0, INFINITY)},
    {"train", "loss", T_LOSS, F(train.loss), "auto",
     "auto (logistic for binary tasks, cross_entropy for multiclass, mse for regression) | "
     "logistic | cross_entropy | mse | huber", NO_RANGE},
    {"train", "weight_decay", T_DOUBLE, F(train.weight_decay), "0",
     "PyTorch SGD weight_decay: adds wd * theta to every gradient (loss + wd/2 |theta|^2)",
     CLOSED(0, INFINITY)},
    {"train", "precision", T_DTYPE, F(train.precision), "auto",
     "auto | single | double; auto: double on the host and OpenCL CPUs, single on GPUs and on "
     "devices without fp64", NO_RANGE},
    {"train", "log_every", T_LONG, F(train.log_every), "1000", "steps between log lines",
     CLOSED(1, COUNT_MAX)},
    {"attack", "candidates", T_LONG, F(attack.candidates), "0", "m; 0 = twice the training set",
     CLOSED(0, SAMPLES_MAX)},
    {"attack", "iterations", T_LONG, F(attack.iterations), "10000", "optimisation iterations",
     CLOSED(1, COUNT_MAX)},
    {"attack", "lr_x", T_DOUBLE, F(attack.lr_x), "0.28", "learning rate of the candidates",
     OPEN_LO(0, INFINITY)},
    {"attack", "lr_lambda", T_DOUBLE, F(attack.lr_lambda), "1e-4", "learning rate of lambda",
     CLOSED(0, INFINITY)},
    {"attack", "momentum", T_DOUBLE, F(attack.momentum), "0.9", "SGD momentum", OPEN_HI(0, 1)},
    {"attack", "init_scale", T_DOUBLE, F(attack.init_scale), "0.0017",
     "candidates start as N(0,1)*init_scale", OPEN_LO(0, INFINITY)},
    {"attack", "lambda_min", T_DOUBLE, F(attack.lambda_min), "0.42", "dual-feasibility floor",
     CLOSED(0, INFINITY)},
    {"attack", "alpha", T_DOUBLE, F(attack.alpha), "19.2",
     "sharpness of the sigmoid(alpha z) ReLU derivative", OPEN_LO(0, INFINITY)},
    {"attack", "activation", T_ACT, F(attack.activation), "relu",
     "relu (the paper's) | softplus (exact-gradient variant)", NO_RANGE},
    {"attack", "optimizer", T_OPT, F(attack.optimizer), "sgd", "sgd (momentum, the paper's) | adam",
     NO_RANGE},
    {"attack", "objective", T_OBJ, F(attack.objective), "auto",
     "auto (binary for one output, multiclass for more) | binary | multiclass | regression "
     "(Buzaglo et al. 2023: lambda ~ N(0,1), no lambda_min term; must be asked for)", NO_RANGE},
    {"attack", "points_file", T_PATH, F(attack.points_file), "",
     "CSV of hyperparameter points run in one device job (columns among init_scale, lr_x, "
     "lr_lambda, momentum, lambda_min, alpha, seed); empty = one run", NO_RANGE},
    {"attack", "seed", T_U64, F(attack.seed), "1", "seed of the candidate initialisation",
     NO_RANGE},
    {"attack", "checkpoint_every", T_LONG, F(attack.checkpoint_every), "1000",
     "iterations between checkpoints (0 = only at the end)", CLOSED(0, COUNT_MAX)},
    {"attack", "log_every", T_LONG, F(attack.log_every), "500", "iterations between log lines",
     CLOSED(1, COUNT_MAX)},
    {"attack", "precision", T_DTYPE, F(attack.precision), "auto", "auto | single | double (as train)",
     NO_RANGE},
    {"sweep", "points", T_LONG, F(sweep.points), "16",
     "hyperparameter points of `kktrecon sweep` (raising it keeps the first ones)",
     CLOSED(1, 100000)},
    {"sweep", "seed", T_U64, F(sweep.seed), "1",
     "seed of the sweep: point i's values and attack seed are a function of (seed, i)", NO_RANGE},
    {"sweep", "batch", T_STR, F(sweep.batch), "auto",
     "points per device job: auto (from device memory, at most 16) or a number in [1, 1024]",
     NO_RANGE},
    {"sweep", "init_scale", T_STR, F(sweep.init_scale), "log:1e-6,0.1",
     "distribution of attack.init_scale: log:LO,HI | uniform:LO,HI | list:a,b,... | a number",
     NO_RANGE},
    {"sweep", "lr_x", T_STR, F(sweep.lr_x), "log:1e-5,1", "distribution of attack.lr_x (as above)",
     NO_RANGE},
    {"sweep", "lambda_min", T_STR, F(sweep.lambda_min), "uniform:0.01,0.5",
     "distribution of attack.lambda_min (as above)", NO_RANGE},
    {"sweep", "alpha", T_STR, F(sweep.alpha), "uniform:10,500",
     "distribution of attack.alpha (as above)", NO_RANGE},
    {"sweep", "points_file", T_PATH, F(sweep.points_file), "",
     "CSV of explicit points (columns as attack.points_file) instead of the distributions",
     NO_RANGE},
    {"sweep", "prune", T_STR, F(sweep.prune), "none",
     "none | loss: successive halving in each batch, the worse half by total loss stops at 10% "
     "and again at 30% of the iterations (label-free; README: Sweep)", NO_RANGE},
};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

/* "[0, 1)" for a range, into buf. */
static void format_range(const key_range *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "%c%g, %g%c", r->lo_open ? '(' : '[', r->lo, r->hi,
             r->hi_open || isinf(r->hi) ? ')' : ']');
}

/* The key's current value as a double (numeric keys only). */
static double numeric_value(const kr_config *c, const key_def *k)
{
    const void *p = (const char *)c + k->offset;
    return k->type == T_LONG ? (double)*(const long *)p : *(const double *)p;
}

static const key_def *find_key(const char *section, const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcasecmp(KEYS[i].section, section) && !strcasecmp(KEYS[i].key, key)) return &KEYS[i];
    return NULL;
}

static kr_status parse_long(const char *v, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end) return KR_E_INVALID;
    *out = x;
    return KR_OK;
}

/* Sets one key from text. `where` names the origin for messages. */
static kr_status set_value(kr_config *c, const key_def *k, const char *v, const char *where)
{
    void *p = (char *)c + k->offset;
    const char *expected = "";
    switch (k->type) {
    case T_STR:
    case T_PATH:
        if (strlen(v) >= k->size) {
            expected = "a shorter string";
            break;
        }
        strcpy(p, v);
        return KR_OK;
    case T_LONG:
        if (parse_long(v, p) == KR_OK && *(long *)p >= 0) return KR_OK;
        expected = "a non-negative integer";
        break;
    case T_U64: {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (!errno && end != v && !*end && v[0] != '-') {
            *(uint64_t *)p = x;
            return KR_OK;
        }
        expected = "an unsigned integer";
        break;
    }
    case T_DOUBLE: {
        char *end;
        errno = 0;
        double x = strtod(v, &end);
        /* ERANGE with a tiny result is underflow (1e-320 is a subnormal, 1e-400 rounds to 0):
         * the value is as close as a double gets. Overflow gives ±HUGE_VAL: refused. */
        bool underflow = errno == ERANGE && fabs(x) <= DBL_MIN;
        if ((!errno || underflow) && end != v && !*end && isfinite(x)) {
            *(double *)p = x;
            return KR_OK;
        }
        expected = "a finite number (magnitude below 1.8e308)";
        break;
    }
    case T_BOOL:
        if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes")) {
            *(bool *)p = true;
            return KR_OK;
        }
        if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no")) {
            *(bool *)p = false;
            return KR_OK;
        }
        expected = "true or false";
        break;
    case T_DTYPE:
        if (!strcasecmp(v, "single") || !strcasecmp(v, "float32") || !strcasecmp(v, "f32")) {
            *(kr_dtype *)p = KR_F32;
            return KR_OK;
        }
        if (!strcasecmp(v, "double") || !strcasecmp(v, "float64") || !strcasecmp(v, "f64")) {
            *(kr_dtype *)p = KR_F64;
            return KR_OK;
        }
        if (!strcasecmp(v, "auto")) {
            *(kr_dtype *)p = KR_PRECISION_AUTO;
            return KR_OK;
        }
        expected = "auto, single or double";
        break;
    case T_ACT:
        if (!strcasecmp(v, "relu")) {
            *(kr_act *)p = KR_ACT_RELU;
            return KR_OK;
        }
        if (!strcasecmp(v, "softplus")) {
            *(kr_act *)p = KR_ACT_SOFTPLUS;
            return KR_OK;
        }
        expected = "relu or softplus";
        break;
    case T_LOSS:
        if (!strcasecmp(v, "auto")) {
            *(int *)p = -1;
            return KR_OK;
        }
        for (int o = 0; o < 4; o++)
            if (!strcasecmp(v, LOSS_NAMES[o]) || (o == 1 && !strcasecmp(v, "ce"))) {
                *(int *)p = o;
                return KR_OK;
            }
        expected = "auto, logistic, cross_entropy, mse or huber";
        break;
    case T_OBJ:
        for (int o = 0; o < 4; o++)
            if (!strcasecmp(v, kr_objective_name((kr_objective)o))) {
                *(kr_objective *)p = (kr_objective)o;
                return KR_OK;
            }
        expected = "auto, binary, multiclass or regression";
        break;
    case T_OPT:
        if (!strcasecmp(v, "sgd")) {
            *(kr_optimizer *)p = KR_OPT_SGD;
            return KR_OK;
        }
        if (!strcasecmp(v, "adam")) {
            *(kr_optimizer *)p = KR_OPT_ADAM;
            return KR_OK;
        }
        expected = "sgd or adam";
        break;
    case T_HIDDEN: {
        size_t w[KR_MAX_LAYERS];
        int n = 0;
        const char *s = v;
        while (*s) {
            char *end;
            errno = 0;
            long x = strtol(s, &end, 10);
            if (errno || end == s || x <= 0 || x > KR_WIDTH_MAX || n == KR_MAX_LAYERS - 1) {
                n = -1;
                break;
            }
            w[n++] = (size_t)x;
            while (*end == ' ') end++;
            if (*end == ',') end++;
            else if (*end) {
                n = -1;
                break;
            }
            while (*end == ' ') end++;
            s = end;
        }
        if (n > 0) {
            memcpy(c->model.hidden, w, (size_t)n * sizeof w[0]);
            c->model.n_hidden = n;
            return KR_OK;
        }
        expected = "a comma-separated list of 1..15 widths in [1, 1000000], e.g. 1000,1000";
        break;
    }
    }
    return KR_FAIL(KR_E_INVALID, "%s: %s%s%s = '%s': expected %s", where, k->section,
                   k->section[0] ? "." : "", k->key, v, expected);
}

void kr_config_defaults(kr_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NKEYS; i++) {
        kr_status st = set_value(c, &KEYS[i], KEYS[i].def, "built-in default");
        (void)st;
    }
}

/* Debian's inih calls the handler without a line number but returns the line of the first
 * handler failure, so a failing handler keeps the offending entry and the message is made
 * once the line is known. */
typedef struct ini_ctx {
    kr_config *c;
    const char *text, *path; /* the source, to look at a failing line again */
    char dir[PATH_MAX];      /* the file's folder, absolute ("" for text): T_PATH's base */
    bool failed;
    char section[64], key[64], value[PATH_MAX + 1100];
} ini_ctx;

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx *x = user;
    const key_def *k = find_key(section, name);
    char joined[PATH_MAX + 1100];
    if (k && k->type == T_PATH && x->dir[0] && value[0] && value[0] != '/') {
        snprintf(joined, sizeof joined, "%s/%s", x->dir, value);
        value = joined;
    }
    if (k && set_value(x->c, k, value, "") == KR_OK) return 1;
    if (x->failed) return 0; /* inih reports the first failing line; keep that entry */
    x->failed = true;
    snprintf(x->section, sizeof x->section, "%s", section);
    snprintf(x->key, sizeof x->key, "%s", name);
    snprintf(x->value, sizeof x->value, "%s", value);
    return 0;
}

/* Line `no` (1-based) of the parsed source into buf; false if it cannot be read again. */
static bool line_at(const ini_ctx *x, int no, char *buf, size_t cap)
{
    FILE *f = x->text ? fmemopen((void *)x->text, strlen(x->text), "r") : fopen(x->path, "r");
    if (!f) return false;
    bool found = false;
    for (int i = 1; fgets(buf, (int)cap, f); i++) {
        size_t len = strlen(buf);
        bool whole = len > 0 && buf[len - 1] == '\n';
        if (i == no) {
            found = true;
            break;
        }
        while (!whole && fgets(buf, (int)cap, f)) { /* skip the rest of a long line */
            len = strlen(buf);
            whole = len > 0 && buf[len - 1] == '\n';
        }
    }
    fclose(f);
    return found;
}

/* What is wrong with an INI line as a line, or NULL if it is well formed. */
static const char *syntax_problem(const char *line)
{
    while (*line == ' ' || *line == '\t') line++;
    if (*line == '\0' || *line == '\n' || *line == ';' || *line == '#') return NULL;
    if (*line == '[') return strchr(line, ']') ? NULL : "section header without ']'";
    if (!strchr(line, '=') && !strchr(line, ':')) return "expected key = value";
    return NULL;
}

static kr_status finish_parse(ini_ctx *x, int rc, const char *name)
{
    if (rc == -1) return KR_FAIL(KR_E_IO, "%s: cannot open config file: %s", name, strerror(errno));
    if (rc == -2) return KR_FAIL(KR_E_NOMEM, "%s: out of memory while parsing", name);
    if (rc == 0) return KR_OK;
    /* inih goes on after a syntax error, so a handler failure may come from a later line;
     * rc is the first failing line of either kind. Look at it to tell which. */
    char line[1200];
    const char *why = line_at(x, rc, line, sizeof line) ? syntax_problem(line) : NULL;
    if (why || !x->failed)
        return KR_FAIL(KR_E_INVALID, "%s:%d: syntax error: %s", name, rc,
                       why ? why : "expected [section] or key = value");
    char where[1200];
    snprintf(where, sizeof where, "%s:%d", name, rc);
    const key_def *k = find_key(x->section, x->key);
    if (!k)
        return KR_FAIL(KR_E_INVALID, "%s: unknown key '%s%s%s' (see `kktrecon help config`)",
                       where, x->section, x->section[0] ? "." : "", x->key);
    return set_value(x->c, k, x->value, where);
}

kr_status kr_config_load_file(kr_config *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return KR_FAIL(KR_E_IO, "%s: cannot open config file: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || S_ISDIR(sb.st_mode)) {
        fclose(f);
        return KR_FAIL(KR_E_IO, "%s: is a directory, not a config file", path);
    }
    ini_ctx x = {.c = c, .text = NULL, .path = path};
    char copy[1100], *folder;
    snprintf(copy, sizeof copy, "%s", path);
    folder = dirname(copy);
    if (!realpath(folder, x.dir)) x.dir[0] = '\0'; /* then relative to the current folder */
    int rc = ini_parse_file(f, on_ini, &x);
    bool read_error = ferror(f) != 0;
    fclose(f);
    if (read_error) return KR_FAIL(KR_E_IO, "%s: read error", path);
    return finish_parse(&x, rc, path);
}

kr_status kr_config_load_string(kr_config *c, const char *text, const char *name)
{
    ini_ctx x = {.c = c, .text = text, .path = NULL};
    int rc = ini_parse_string(text, on_ini, &x);
    return finish_parse(&x, rc, name);
}

kr_status kr_config_set(kr_config *c, const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    if (!eq) return KR_FAIL(KR_E_INVALID, "--set '%s': expected section.key=value", assignment);
    char lhs[128];
    size_t n = (size_t)(eq - assignment);
    if (n == 0 || n >= sizeof lhs)
        return KR_FAIL(KR_E_INVALID, "--set '%s': expected section.key=value", assignment);
    memcpy(lhs, assignment, n);
    lhs[n] = '\0';
    const char *dot = strchr(lhs, '.');
    const char *section = "", *key = lhs;
    if (dot) {
        lhs[dot - lhs] = '\0';
        section = lhs;
        key = dot + 1;
    }
    const key_def *k = find_key(section, key);
    if (!k)
        return KR_FAIL(KR_E_INVALID, "--set '%s': unknown key (see `kktrecon help config`)",
                       assignment);
    return set_value(c, k, eq + 1, "--set");
}

static void format_value(const kr_config *c, const key_def *k, char *buf, size_t cap)
{
    const void *p = (const char *)c + k->offset;
    switch (k->type) {
    case T_STR:
    case T_PATH: snprintf(buf, cap, "%s", (const char *)p); break;
    case T_LONG: snprintf(buf, cap, "%ld", *(const long *)p); break;
    case T_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case T_DOUBLE: snprintf(buf, cap, "%.17g", *(const double *)p); break;
    case T_BOOL: snprintf(buf, cap, "%s", *(const bool *)p ? "true" : "false"); break;
    case T_DTYPE: {
        kr_dtype dt = *(const kr_dtype *)p;
        snprintf(buf, cap, "%s", dt == KR_PRECISION_AUTO ? "auto" : dt == KR_F64 ? "double" : "single");
        break;
    }
    case T_ACT: snprintf(buf, cap, "%s", *(const kr_act *)p == KR_ACT_SOFTPLUS ? "softplus" : "relu"); break;
    case T_OPT: snprintf(buf, cap, "%s", *(const kr_optimizer *)p == KR_OPT_ADAM ? "adam" : "sgd"); break;
    case T_OBJ: snprintf(buf, cap, "%s", kr_objective_name(*(const kr_objective *)p)); break;
    case T_LOSS: {
        int l = *(const int *)p;
        snprintf(buf, cap, "%s", l >= 0 && l < 4 ? LOSS_NAMES[l] : "auto");
        break;
    }
    case T_HIDDEN: {
        size_t k2 = 0;
        buf[0] = '\0';
        for (int i = 0; i < c->model.n_hidden && k2 < cap; i++)
            k2 += (size_t)snprintf(buf + k2, cap - k2, i ? ",%zu" : "%zu", c->model.hidden[i]);
        break;
    }
    }
}

kr_status kr_config_format(const kr_config *c, const char *name, char *buf, size_t cap)
{
    char section[64] = "";
    const char *key = name, *dot = strchr(name, '.');
    if (dot) {
        size_t n = (size_t)(dot - name);
        if (n >= sizeof section) return KR_FAIL(KR_E_INVALID, "unknown configuration key '%s'", name);
        memcpy(section, name, n);
        section[n] = '\0';
        key = dot + 1;
    }
    const key_def *k = find_key(section, key);
    if (!k) return KR_FAIL(KR_E_INVALID, "unknown configuration key '%s'", name);
    format_value(c, k, buf, cap);
    return KR_OK;
}

void kr_config_write(const kr_config *c, FILE *f)
{
    const char *section = NULL;
    char buf[1200];
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &KEYS[i];
        if (!section || strcmp(section, k->section)) {
            section = k->section;
            if (section[0]) fprintf(f, "\n[%s]\n", section);
        }
        format_value(c, k, buf, sizeof buf);
        fprintf(f, "%s = %s\n", k->key, buf);
    }
}

void kr_config_write_help(FILE *f)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &KEYS[i];
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", k->section, k->section[0] ? "." : "", k->key);
        char range[96] = "";
        if (k->range.on) {
            range[0] = ' ';
            format_range(&k->range, range + 1, sizeof range - 1);
        }
        fprintf(f, "  %-24s default %-12s %s%s%s\n", name, k->def[0] ? k->def : "\"\"", k->help,
                k->range.on ? "; allowed" : "", range);
    }
}

/* auto: float64 where it costs about twice float32 and the host's published numbers were
 * measured (host, OpenCL CPUs); float32 on GPUs and accelerators, whose float64 runs at 1/2 to
 * 1/64 of the float32 rate or not at all (the demo reconstructs as well in float32: README). */
static kr_dtype resolve_one(kr_dtype dt, const kr_device_info *info)
{
    if (dt != KR_PRECISION_AUTO) return dt;
    if (!info->fp64) return KR_F32;
    return info->backend == KR_BACKEND_HOST || !strcmp(info->type, "cpu") ? KR_F64 : KR_F32;
}

void kr_config_resolve_precision(kr_config *c, const kr_device *dev)
{
    const kr_device_info *info = kr_device_get_info(dev);
    c->train.precision = resolve_one(c->train.precision, info);
    c->attack.precision = resolve_one(c->attack.precision, info);
}

kr_status kr_config_validate(const kr_config *c)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &KEYS[i];
        const key_range *r = &k->range;
        if (!r->on) continue;
        double v = numeric_value(c, k);
        bool ok = (r->lo_open ? v > r->lo : v >= r->lo) && (r->hi_open ? v < r->hi : v <= r->hi);
        if (!ok) {
            char range[96];
            format_range(r, range, sizeof range);
            return KR_FAIL(KR_E_INVALID, "%s%s%s = %.17g is out of range: allowed %s (%s)",
                           k->section, k->section[0] ? "." : "", k->key, v, range, k->help);
        }
    }
    if (c->model.n_hidden < 1) return KR_FAIL(KR_E_INVALID, "model.hidden must list >= 1 width");
    if (c->attack.candidates == 1)
        return KR_FAIL(KR_E_INVALID, "attack.candidates must be 0 (= 2n) or >= 2");
    return KR_OK;
}
