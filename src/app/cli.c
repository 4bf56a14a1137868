/* cli.c — subcommands and their flags. Each command parses its flags, builds the effective
 * configuration (built-in defaults < --config FILE < --set k=v; device: config < env
 * KKTRECON_DEVICE < --device), opens the device and calls one driver (train.c, attack.c,
 * evaluate.c, sweep.c; bench: cli_bench.c). Results go to files and stdout; progress and
 * errors to stderr.
 */
#include "app/cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "app/attack.h"
#include "app/selftest.h"
#include "app/sweep.h"
#include "app/config.h"
#include "device/device.h"
#include "device/gemm_plan.h"
#include "app/evaluate.h"
#include "base/log.h"
#include "io/report.h"
#include "app/train.h"
#include "app/tune.h"
#include "app/bench.h"

#ifndef KR_VERSION
#define KR_VERSION "dev"
#endif
#ifndef KR_SOURCE_DATA_DIR
#define KR_SOURCE_DATA_DIR "data"
#endif
#ifndef KR_INSTALL_DATA_DIR
#define KR_INSTALL_DATA_DIR "/usr/local/share/kktrecon"
#endif

#include "app/cli_impl.h"

typedef struct flag_def {
    const char *name;
    size_t offset;  /* of the const char * (or bool) field */
    int kind;       /* 0 value, 1 bool, 2 repeated (sets), 3 repeated (candidates) */
} flag_def;

#define FV(n, field) {n, offsetof(flags, field), 0}
#define FB(n, field) {n, offsetof(flags, field), 1}

static const flag_def FLAGS[] = {
    FV("config", config), FV("out", out), FV("model", model), FV("device", device),
    FV("precision", precision), FV("activation", activation), FV("objective", objective),
    FV("alpha", alpha),
    FV("lambda-min", lambda_min), FV("what", what), FV("size", size), FV("reps", reps),
    FV("repeat", reps), FV("json", json), FV("price-per-hour", price), FV("budget", budget),
    FV("top-k", top_k), FV("top-by", top_by), FV("devices", devices),
    FB("resume", resume), FB("overwrite", overwrite), FB("quiet", quiet), FB("help", help),
    FB("check", check),
    {"set", 0, 2}, {"candidates", 0, 3},
};

/* Parses argv[2..]; `allowed` lists the flag names the command accepts (space-separated). */
int kr_cli_parse_flags(int argc, char **argv, const char *cmd, const char *allowed, flags *f)
{
    memset(f, 0, sizeof *f);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h")) a = "--help";
        if (strncmp(a, "--", 2)) {
            fprintf(stderr, "kktrecon %s: unexpected argument '%s' (see kktrecon help %s)\n", cmd, a, cmd);
            return EXIT_USAGE;
        }
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, a + 2, len);
        name[len] = '\0';
        const flag_def *d = NULL;
        for (size_t k = 0; k < sizeof FLAGS / sizeof FLAGS[0]; k++)
            if (!strcmp(FLAGS[k].name, name)) d = &FLAGS[k];
        char padded[80];
        snprintf(padded, sizeof padded, " %s ", name);
        char allowed_padded[512];
        snprintf(allowed_padded, sizeof allowed_padded, " %s help ", allowed);
        if (!d || !strstr(allowed_padded, padded)) {
            fprintf(stderr, "kktrecon %s: unknown flag --%s (see kktrecon help %s)\n", cmd, name, cmd);
            return EXIT_USAGE;
        }
        if (d->kind == 1) {
            *(bool *)((char *)f + d->offset) = true;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "kktrecon %s: --%s needs a value\n", cmd, name);
            return EXIT_USAGE;
        }
        if (d->kind == 2 || d->kind == 3) {
            int *n = d->kind == 2 ? &f->n_sets : &f->n_candidates;
            const char **arr = d->kind == 2 ? f->sets : f->candidates;
            if (*n == MAX_MULTI) {
                fprintf(stderr, "kktrecon %s: too many --%s\n", cmd, name);
                return EXIT_USAGE;
            }
            arr[(*n)++] = v;
        } else {
            *(const char **)((char *)f + d->offset) = v;
        }
    }
    if (f->quiet) kr_log_set_level(KR_LOG_QUIET);
    return 0;
}

/* ---------- help ---------- */

typedef struct command {
    const char *name, *usage, *help;
    int (*run)(int argc, char **argv);
} command;

static const command *find_command(const char *name);

static void print_usage(FILE *out)
{
    fprintf(out,
            "kktrecon %s — reconstruct training images from a trained classifier's weights\n"
            "(the KKT attack of Haim et al., NeurIPS 2022), on any OpenCL device or the host CPU.\n\n"
            "usage: kktrecon COMMAND [flags]\n\ncommands:\n", KR_VERSION);
}

static int cmd_help(int argc, char **argv);

/* `kktrecon COMMAND --help` is `kktrecon help COMMAND`. */
int kr_cli_help_for(const char *name)
{
    char *argv[] = {"kktrecon", "help", (char *)name};
    return cmd_help(3, argv);
}

/* ---------- configuration and device ---------- */

int kr_cli_fail(const char *cmd, kr_status st)
{
    fprintf(stderr, "kktrecon %s: error: %s\n  (%s)\n", cmd, kr_error_message(), kr_status_name(st));
    return st == KR_E_INTERRUPTED ? EXIT_INTERRUPTED : EXIT_FAILURE;
}

static kr_status build_config(const flags *f, const char *base_text, kr_config *cfg)
{
    kr_config_defaults(cfg);
    if (base_text) KR_TRY(kr_config_load_string(cfg, base_text, "built-in demo configuration"));
    if (f->config) KR_TRY(kr_config_load_file(cfg, f->config));
    for (int i = 0; i < f->n_sets; i++) KR_TRY(kr_config_set(cfg, f->sets[i]));
    return KR_OK;
}

/* Opens the device and settles `precision = auto` for it (config.h). */
static kr_status open_device(const flags *f, kr_config *cfg, kr_device **dev)
{
    const char *spec = kr_device_spec_resolve(f->device, cfg ? cfg->device : NULL);
    KR_TRY(kr_device_open(spec, dev));
    kr_log_info("device: %s", kr_device_describe(*dev));
    if (cfg) {
        bool was_auto = cfg->train.precision == KR_PRECISION_AUTO ||
                        cfg->attack.precision == KR_PRECISION_AUTO;
        kr_config_resolve_precision(cfg, *dev);
        if (was_auto)
            kr_log_info("precision: training %s, attack %s (auto for this device; set "
                        "train.precision / attack.precision to choose)",
                        kr_dtype_name(cfg->train.precision), kr_dtype_name(cfg->attack.precision));
    }
    return KR_OK;
}

/* --resume continues a run, --overwrite replaces one: together they mean nothing. */
static bool run_mode(const char *cmd, const flags *f, kr_run_mode *mode)
{
    if (f->resume && f->overwrite) {
        fprintf(stderr, "kktrecon %s: --resume and --overwrite contradict each other: --resume "
                "continues the run in --out, --overwrite replaces it; pass one\n", cmd);
        return false;
    }
    *mode = f->resume ? KR_RUN_RESUME : f->overwrite ? KR_RUN_OVERWRITE : KR_RUN_NEW;
    return true;
}

/* A finite number for flag --name, within [lo, hi] (lo excluded when lo_open). */
bool kr_cli_parse_precisions(const char *cmd, const char *v, kr_dtype dts[2], int *n)
{
    char list[64];
    bool seen[2] = {false, false}, ok = strlen(v) < sizeof list;
    snprintf(list, sizeof list, "%s", v);
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); ok && t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "single")) seen[KR_F32] = true;
        else if (!strcmp(t, "double")) seen[KR_F64] = true;
        else ok = false;
    }
    if (!ok || (!seen[KR_F32] && !seen[KR_F64])) {
        fprintf(stderr, "kktrecon %s: --precision '%s': expected single, double or "
                "single,double\n", cmd, v);
        return false;
    }
    *n = 0;
    if (seen[KR_F32]) dts[(*n)++] = KR_F32;
    if (seen[KR_F64]) dts[(*n)++] = KR_F64;
    return true;
}

bool kr_cli_parse_number(const char *cmd, const char *name, const char *v, double lo, bool lo_open,
                         double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || (lo_open ? !(x > lo) : !(x >= lo))) {
        fprintf(stderr, "kktrecon %s: --%s '%s': expected a finite number %s %g\n", cmd, name, v,
                lo_open ? ">" : ">=", lo);
        return false;
    }
    *out = x;
    return true;
}

static bool need(const char *cmd, const char *flag, const char *value)
{
    if (value) return true;
    fprintf(stderr, "kktrecon %s: --%s is required (see kktrecon help %s)\n", cmd, flag, cmd);
    return false;
}

/* ---------- commands ---------- */

static int cmd_devices(int argc, char **argv)
{
    flags f;
    int rc = kr_cli_parse_flags(argc, argv, "devices", "check quiet", &f);
    if (rc) return rc;
    if (f.help) return kr_cli_help_for("devices");
    if (f.quiet) kr_log_set_level(KR_LOG_QUIET);
    kr_device_info *info;
    int n;
    kr_status st = kr_device_list(&info, &n);
    if (st != KR_OK) return kr_cli_fail("devices", st);
    printf("%-5s %-5s %-12s %-40s %-34s %-14s %-12s %9s %5s\n", "index", "spec", "type", "device",
           "platform", "driver", "OpenCL C", "memory", "fp64");
    for (int i = 0; i < n; i++) {
        char spec[16];
        if (info[i].backend == KR_BACKEND_HOST) snprintf(spec, sizeof spec, "host");
        else snprintf(spec, sizeof spec, "%d:%d", info[i].platform, info[i].device);
        printf("%-5d %-5s %-12s %-40.40s %-34.34s %-14.14s %-12.12s %6.1f GiB %5s\n", info[i].index,
               spec, info[i].type, info[i].name, info[i].platform_name, info[i].driver,
               info[i].opencl_c, (double)info[i].global_mem / (1024.0 * 1024 * 1024),
               info[i].fp64 ? "yes" : "no");
    }
    int failed = 0;
    for (int i = 0; f.check && i < n; i++) {
        char spec[16];
        snprintf(spec, sizeof spec, "%d", info[i].index);
        kr_device *dev = NULL;
        st = kr_device_open(spec, &dev);
        for (int t = 0; t < 2 && (st != KR_OK || t == 0 || info[i].fp64); t++) {
            kr_dtype dt = t ? KR_F64 : KR_F32;
            double t0 = kr_time_now();
            kr_status cs = st == KR_OK ? kr_selftest_run(dev, dt) : st;
            char plan[600];
            if (cs == KR_OK)
                printf("check %d %-8s ok (%.1f s); GEMM: %s\n", info[i].index, kr_dtype_name(dt),
                       kr_time_now() - t0, kr_device_gemm_plan_describe(dev, dt, plan, sizeof plan));
            else
                printf("check %d %-8s FAILED: %s\n", info[i].index, kr_dtype_name(dt),
                       kr_error_message());
            failed += cs != KR_OK;
            if (st != KR_OK) break; /* did not open: one line is enough */
        }
        kr_device_close(dev);
    }
    free(info);
    return failed ? EXIT_FAILURE : 0;
}

/* Before a long job on an OpenCL device: the known-answer self-test in the job's precision
 * (app/selftest.h), so a driver that computes wrong numbers stops the job at once. */
static kr_status check_device(kr_device *dev, kr_dtype dt)
{
    if (kr_device_backend(dev) != KR_BACKEND_OPENCL) return KR_OK;
    double t0 = kr_time_now();
    KR_TRY(kr_selftest_run(dev, dt));
    char plan[600];
    kr_log_info("device: self-test passed in %s (%.1f s); GEMM: %s", kr_dtype_name(dt),
                kr_time_now() - t0, kr_device_gemm_plan_describe(dev, dt, plan, sizeof plan));
    return KR_OK;
}

static int cmd_train(int argc, char **argv)
{
    flags f;
    int rc = kr_cli_parse_flags(argc, argv, "train", "config set out device overwrite quiet", &f);
    if (rc) return rc;
    if (f.help) return kr_cli_help_for("train");
    if (!need("train", "out", f.out)) return EXIT_USAGE;
    kr_run_mode mode;
    if (!run_mode("train", &f, &mode)) return EXIT_USAGE;
    kr_config cfg;
    kr_device *dev = NULL;
    kr_status st = build_config(&f, NULL, &cfg);
    if (st == KR_OK) st = open_device(&f, &cfg, &dev);
    kr_train_result r;
    if (st == KR_OK) st = check_device(dev, cfg.train.precision);
    if (st == KR_OK) st = kr_train_run(&cfg, dev, f.out, mode, &r);
    kr_device_close(dev);
    if (st != KR_OK) return kr_cli_fail("train", st);
    char gap[32] = "n/a (binary models only)";
    if (!isnan(r.kkt_gap)) snprintf(gap, sizeof gap, "%.3f", r.kkt_gap);
    printf("trained %zu samples, %ld steps, %.1fs: loss %.3e, train errors %zu, min margin %.4g, "
           "test accuracy %.4f, KKT gap %s\nwrote %s/model.safetensors, %s/train.json\n",
           r.n, r.steps, r.seconds, r.loss, r.errors, r.min_margin, r.test_accuracy, gap, f.out,
           f.out);
    return 0;
}

static int cmd_attack(int argc, char **argv)
{
    flags f;
    int rc = kr_cli_parse_flags(argc, argv, "attack", "config set out model device resume overwrite quiet", &f);
    if (rc) return rc;
    if (f.help) return kr_cli_help_for("attack");
    if (!need("attack", "model", f.model) || !need("attack", "out", f.out)) return EXIT_USAGE;
    kr_run_mode mode;
    if (!run_mode("attack", &f, &mode)) return EXIT_USAGE;
    kr_config cfg;
    kr_device *dev = NULL;
    kr_status st = build_config(&f, NULL, &cfg);
    if (st == KR_OK) st = open_device(&f, &cfg, &dev);
    kr_attack_result r;
    if (st == KR_OK) st = check_device(dev, cfg.attack.precision);
    const bool points = cfg.attack.points_file[0] != '\0';
    if (st == KR_OK)
        st = points ? kr_attack_points_run(&cfg, dev, f.model, f.out, mode, &r)
                    : kr_attack_run(&cfg, dev, f.model, f.out, mode, &r);
    kr_device_close(dev);
    if (st != KR_OK) return kr_cli_fail("attack", st);
    if (points) {
        printf("attack: points of %s, %zu candidates each, %ld iterations in %.1fs: best loss "
               "%.4e\nwrote %s/points/NNNN/{candidates.safetensors,point.json}, %s/attack.json\n",
               cfg.attack.points_file, r.m, r.iterations, r.seconds, r.loss.total, f.out, f.out);
        return 0;
    }
    printf("attack: %zu candidates, iterations %ld..%ld in %.1fs: loss %.4e (kkt %.4e, prior "
           "%.3e, lambda %.3e)\nwrote %s/candidates.safetensors, %s/attack.jsonl\n",
           r.m, r.start_iteration, r.iterations, r.seconds, r.loss.total, r.loss.kkt,
           r.loss.prior, r.loss.lambda, f.out, f.out);
    return 0;
}

static int cmd_kkt(int argc, char **argv)
{
    flags f;
    int rc = kr_cli_parse_flags(argc, argv, "kkt",
                         "model candidates alpha lambda-min out precision activation objective "
                         "device overwrite quiet", &f);
    if (rc) return rc;
    if (f.help) return kr_cli_help_for("kkt");
    if (!need("kkt", "model", f.model) || !need("kkt", "out", f.out) ||
        !need("kkt", "alpha", f.alpha) || !need("kkt", "lambda-min", f.lambda_min) ||
        !f.n_candidates) {
        if (!f.n_candidates) fprintf(stderr, "kktrecon kkt: --candidates is required\n");
        return EXIT_USAGE;
    }
    if (f.n_candidates > 1) {
        fprintf(stderr, "kktrecon kkt: --candidates takes one file (the point to evaluate)\n");
        return EXIT_USAGE;
    }
    kr_config cfg;
    kr_config_defaults(&cfg);
    if (!kr_cli_parse_number("kkt", "alpha", f.alpha, 0, true, &cfg.attack.alpha) ||
        !kr_cli_parse_number("kkt", "lambda-min", f.lambda_min, 0, false, &cfg.attack.lambda_min))
        return EXIT_USAGE;
    const char *prec = f.precision ? f.precision : "double";
    const char *act = f.activation ? f.activation : "relu";
    if (strcmp(prec, "single") && strcmp(prec, "double")) {
        fprintf(stderr, "kktrecon kkt: --precision '%s': expected single or double\n", prec);
        return EXIT_USAGE;
    }
    if (strcmp(act, "relu") && strcmp(act, "softplus")) {
        fprintf(stderr, "kktrecon kkt: --activation '%s': expected relu or softplus\n", act);
        return EXIT_USAGE;
    }
    cfg.attack.precision = strcmp(prec, "double") ? KR_F32 : KR_F64;
    cfg.attack.activation = strcmp(act, "relu") ? KR_ACT_SOFTPLUS : KR_ACT_RELU;
    if (f.objective) {
        char set[96];
        snprintf(set, sizeof set, "attack.objective=%s", f.objective);
        if (kr_config_set(&cfg, set) != KR_OK) {
            fprintf(stderr, "kktrecon kkt: --objective '%s': expected auto, binary, multiclass or "
                    "regression\n", f.objective);
            return EXIT_USAGE;
        }
    }
    /* --out is one file, replaced atomically at success; an existing one (a model, another
     * result) only with --overwrite, and never a folder. */
    struct stat sb;
    if (stat(f.out, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "kktrecon kkt: --out %s is a folder; kkt writes one .safetensors "
                    "file\n", f.out);
            return EXIT_FAILURE;
        }
        if (!f.overwrite) {
            fprintf(stderr, "kktrecon kkt: %s already exists; pass --overwrite to replace it, or "
                    "choose another --out\n", f.out);
            return EXIT_FAILURE;
        }
    }
    kr_status st = KR_OK;
    kr_device *dev = NULL;
    if (st == KR_OK) st = open_device(&f, NULL, &dev);
    kr_kkt_opts o = {cfg.attack.activation, cfg.attack.alpha, cfg.attack.lambda_min,
                     cfg.attack.objective};
    kr_kkt_loss loss;
    if (st == KR_OK)
        st = kr_attack_eval_point(dev, cfg.attack.precision, f.model, f.candidates[0], &o, f.out, &loss);
    kr_device_close(dev);
    if (st != KR_OK) return kr_cli_fail("kkt", st);
    printf("loss %.17g\nloss_kkt %.17g\nloss_prior %.17g\nloss_lambda %.17g\nwrote %s\n",
           loss.total, loss.kkt, loss.prior, loss.lambda, f.out);
    return 0;
}

static void print_summary(const kr_eval_summary *s, const char *dir)
{
    static const char *names[3] = {"official (min-max)", "clip [0,1]", "mean-image baseline"};
    printf("evaluated %zu training images against %zu candidates\n", s->n_train, s->n_candidates);
    printf("%-22s %7s %7s %7s %7s %7s\n", "SSIM", ">0.3", ">0.4", ">0.5", "mean", "median");
    for (int k = 0; k < 3; k++)
        printf("%-22s %7zu %7zu %7zu %7.3f %7.3f\n", names[k], s->above[k][0], s->above[k][1],
               s->above[k][2], s->mean[k], s->median[k]);
    printf("report: %s/report.html  (grid.png, ssim_vs_margin.png, pairs.csv, summary.json)\n", dir);
}

static int cmd_evaluate(int argc, char **argv)
{
    flags f;
    int rc = kr_cli_parse_flags(argc, argv, "evaluate",
                         "config set out model candidates device overwrite quiet top-k top-by",
                         &f);
    if (rc) return rc;
    if (f.help) return kr_cli_help_for("evaluate");
    if (!need("evaluate", "model", f.model) || !need("evaluate", "out", f.out)) return EXIT_USAGE;
    if (!f.n_candidates) {
        fprintf(stderr, "kktrecon evaluate: at least one --candidates FILE is required\n");
        return EXIT_USAGE;
    }
    kr_eval_opts eo = {0};
    if (f.top_k) {
        char *end;
        errno = 0;
        long k = strtol(f.top_k, &end, 10);
        if (errno || end == f.top_k || *end || k < 1 || k > MAX_MULTI) {
            fprintf(stderr, "kktrecon evaluate: --top-k '%s': expected a whole number in [1, %d]\n",
                    f.top_k, MAX_MULTI);
            return EXIT_USAGE;
        }
        eo.top_k = (size_t)k;
    }
    if (f.top_by && kr_eval_top_by_parse(f.top_by, &eo.top_by) != KR_OK) {
        fprintf(stderr, "kktrecon evaluate: %s\n", kr_error_message());
        return EXIT_USAGE;
    }
    if (f.top_by && !f.top_k) {
        fprintf(stderr, "kktrecon evaluate: --top-by goes with --top-k N\n");
        return EXIT_USAGE;
    }
    kr_config cfg;
    kr_device *dev = NULL;
    kr_status st = build_config(&f, NULL, &cfg);
    if (st == KR_OK) st = open_device(&f, &cfg, &dev);
    kr_eval_summary s;
    if (st == KR_OK)
        st = kr_evaluate_run(&cfg, dev, f.model, f.candidates, (size_t)f.n_candidates, f.out,
                             f.overwrite ? KR_RUN_OVERWRITE : KR_RUN_NEW, &eo, &s);
    kr_device_close(dev);
    if (st != KR_OK) return kr_cli_fail("evaluate", st);
    print_summary(&s, f.out);
    return 0;
}

static int cmd_sweep(int argc, char **argv)
{
    flags f;
    int rc = kr_cli_parse_flags(argc, argv, "sweep", "config set out model device devices resume quiet", &f);
    if (rc) return rc;
    if (f.help) return kr_cli_help_for("sweep");
    if (!need("sweep", "model", f.model) || !need("sweep", "out", f.out)) return EXIT_USAGE;
    if (f.device && f.devices) {
        fprintf(stderr, "kktrecon sweep: --device and --devices contradict each other; pass one\n");
        return EXIT_USAGE;
    }
    kr_config cfg;
    kr_status st = build_config(&f, NULL, &cfg);
    kr_sweep_opts o = {.devices = f.devices, .device = f.device,
                       .mode = f.resume ? KR_RUN_RESUME : KR_RUN_NEW};
    kr_sweep_result r;
    if (st == KR_OK) st = kr_sweep_run(&cfg, f.model, f.out, &o, &r);
    if (st != KR_OK) return kr_cli_fail("sweep", st);
    if (r.rank != 0) return 0; /* MPI: rank 0 reports */
    char pruned[48] = "";
    if (r.pruned) snprintf(pruned, sizeof pruned, ", %zu pruned", r.pruned);
    printf("sweep: %zu points (%zu done, %zu failed%s), %zu run now in %.1fs\n", r.points, r.done,
           r.failed, pruned, r.ran, r.seconds);
    if (r.evaluated)
        printf("pooled: %zu training images, clip SSIM > 0.4: %zu, official > 0.4: %zu, clip "
               "mean %.3f\n", r.n_train, r.above_clip, r.above_official, r.mean_clip);
    printf("wrote %s/sweep.json, %s/sweep.csv, %s/sweep.png, %s/points/NNNN/", f.out, f.out, f.out,
           f.out);
    if (r.evaluated) printf(", %s/evaluate/report.html", f.out);
    printf("\n");
    return 0;
}

/* The demo's embedded configuration: MNIST odd/even, 10 per class, 784-200-200-1 in float64
 * (DESIGN §5a, the setting measured to reconstruct all 20 digits with the paper's code), with
 * m = 8n candidates. Tried on 2 cores (clip-SSIM mean over the 20 digits / wall time):
 * m = 2n 0.63 / 20 s; 2n with 20k iterations 0.59; α 50 0.61; λ_min 0.2 0.67; 4n 0.68;
 * 4n with 5k iterations 0.73 / 27 s; 8n 0.74 / 62 s (all 20 above 0.5). */
static const char DEMO_CONFIG[] =
    "[data]\n"
    "dataset = mnist\n"
    "task = odd_even\n"
    "per_class = 10\n"
    "test_per_class = 200\n"
    "[model]\n"
    "hidden = 200,200\n"
    "[train]\n"
    "steps = 20000\n"
    "lr = 2.0\n"
    "precision = auto\n"
    "log_every = 2000\n"
    "[attack]\n"
    "candidates = 160\n"
    "iterations = 10000\n"
    "lr_x = 0.28\n"
    "lr_lambda = 1e-4\n"
    "init_scale = 0.0017\n"
    "lambda_min = 0.42\n"
    "alpha = 19.2\n"
    "precision = auto\n"
    "log_every = 1000\n"
    "checkpoint_every = 1000\n";

static const char *demo_data_dir(void)
{
    const char *env = getenv("KKTRECON_DATA");
    if (env && *env) return env;
    static const char *dirs[] = {KR_SOURCE_DATA_DIR, KR_INSTALL_DATA_DIR};
    static char path[1200];
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/mnist-subset/train-labels-idx1-ubyte.gz", dirs[i]);
        FILE *fp = fopen(path, "rb");
        if (fp) {
            fclose(fp);
            snprintf(path, sizeof path, "%s/mnist-subset", dirs[i]);
            return path;
        }
    }
    return NULL;
}

static int cmd_demo(int argc, char **argv)
{
    flags f;
    int rc = kr_cli_parse_flags(argc, argv, "demo", "config set out device quiet", &f);
    if (rc) return rc;
    if (f.help) return kr_cli_help_for("demo");
    const char *out = f.out ? f.out : "runs/demo";
    kr_config cfg;
    kr_status st = build_config(&f, DEMO_CONFIG, &cfg);
    if (st != KR_OK) return kr_cli_fail("demo", st);
    if (!cfg.data.path[0]) {
        const char *dir = demo_data_dir();
        if (!dir) {
            fprintf(stderr, "kktrecon demo: the bundled MNIST subset was not found (looked in %s "
                    "and %s); set KKTRECON_DATA or --set data.path=DIR\n", KR_SOURCE_DATA_DIR,
                    KR_INSTALL_DATA_DIR);
            return EXIT_FAILURE;
        }
        if (strlen(dir) >= sizeof cfg.data.path) {
            fprintf(stderr, "kktrecon demo: data path too long: %s\n", dir);
            return EXIT_FAILURE;
        }
        memcpy(cfg.data.path, dir, strlen(dir) + 1);
    }
    char train_dir[1100], attack_dir[1100], eval_dir[1100], model[1200], cand[1200];
    snprintf(train_dir, sizeof train_dir, "%s/train", out);
    snprintf(attack_dir, sizeof attack_dir, "%s/attack", out);
    snprintf(eval_dir, sizeof eval_dir, "%s/evaluate", out);
    snprintf(model, sizeof model, "%s/model.safetensors", train_dir);
    snprintf(cand, sizeof cand, "%s/candidates.safetensors", attack_dir);
    kr_device *dev = NULL;
    double t0 = kr_time_now();
    st = open_device(&f, &cfg, &dev);
    if (st == KR_OK) st = check_device(dev, cfg.train.precision);
    if (st == KR_OK && cfg.attack.precision != cfg.train.precision)
        st = check_device(dev, cfg.attack.precision);
    kr_train_result tr;
    kr_attack_result ar;
    kr_eval_summary es;
    if (st == KR_OK) {
        kr_log_info("demo 1/3: train on %s (%s)", cfg.data.path, cfg.data.task);
        st = kr_train_run(&cfg, dev, train_dir, KR_RUN_OVERWRITE, &tr);
    }
    if (st == KR_OK) {
        kr_log_info("demo 2/3: attack the trained model");
        st = kr_attack_run(&cfg, dev, model, attack_dir, KR_RUN_OVERWRITE, &ar);
    }
    if (st == KR_OK) {
        kr_log_info("demo 3/3: evaluate the reconstructions");
        const char *paths[1] = {cand};
        st = kr_evaluate_run(&cfg, dev, model, paths, 1, eval_dir, KR_RUN_OVERWRITE, NULL, &es);
    }
    char where[512] = "";
    if (dev) snprintf(where, sizeof where, "%s", kr_device_describe(dev));
    kr_device_close(dev);
    if (st != KR_OK) return kr_cli_fail("demo", st);
    printf("demo finished in %.0fs on %s\n", kr_time_now() - t0, where);
    printf("trained: %zu samples, loss %.2e, %zu errors, test accuracy %.3f\n", tr.n, tr.loss,
           tr.errors, tr.test_accuracy);
    printf("attack: %zu candidates, %ld iterations, final loss %.3e\n", ar.m, ar.iterations,
           ar.loss.total);
    print_summary(&es, eval_dir);
    return 0;
}

/* `bench --compare A.json B.json ...`: the files follow the flag until the next flag. */
static int cmd_tune(int argc, char **argv)
{
    flags f;
    int rc = kr_cli_parse_flags(argc, argv, "tune", "device precision size budget repeat reps quiet",
                                &f);
    if (rc) return rc;
    if (f.help) return kr_cli_help_for("tune");
    if (f.quiet) kr_log_set_level(KR_LOG_QUIET);
    kr_tune_opts o;
    kr_tune_defaults(&o);
    o.device = kr_device_spec_resolve(f.device, NULL);
    if (!o.device) o.device = "all";
    if (f.precision && !kr_cli_parse_precisions("tune", f.precision, o.dtypes, &o.n_dtypes))
        return EXIT_USAGE;
    if (f.size) {
        kr_bench_opts b;
        kr_bench_defaults(&b);
        if (kr_bench_set_size(&b, f.size) != KR_OK) {
            fprintf(stderr, "kktrecon tune: %s\n", kr_error_message());
            return EXIT_USAGE;
        }
        o.d = b.d;
        o.h = b.h;
        o.m = b.m;
    }
    double v;
    if (f.budget) {
        if (!kr_cli_parse_number("tune", "budget", f.budget, 0.0, true, &v)) return EXIT_USAGE;
        o.timeout_s = v;
    }
    if (f.reps) {
        if (!kr_cli_parse_number("tune", "repeat", f.reps, 1.0, false, &v) || v > 1000 ||
            v != floor(v)) {
            fprintf(stderr, "kktrecon tune: --repeat takes a whole number in [1, 1000]\n");
            return EXIT_USAGE;
        }
        o.rounds = (int)v;
    }
    kr_interrupt_install();
    kr_status st = kr_tune_run(&o, stdout);
    return st == KR_OK ? 0 : kr_cli_fail("tune", st);
}

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("kktrecon %s\n", KR_VERSION);
    return 0;
}

static const command COMMANDS[] = {
    {"help", "kktrecon help [COMMAND | config]", "show this help, a command's flags, or every configuration key", cmd_help},
    {"devices", "kktrecon devices [--check]",
     "list host and every OpenCL device (index, p:d spec, type, driver, memory, fp64); --check "
     "runs the known-answer self-test on each in every precision it has (train and attack run it "
     "on their OpenCL device before starting) and names the GEMM parameters it runs (CLBlast's "
     "defaults, or those stored by `kktrecon tune`)", cmd_devices},
    {"train", "kktrecon train [--config FILE] [--set section.key=value ...] --out DIR [--device SPEC] [--overwrite]",
     "train the ReLU MLP (model.first_bias, model.later_biases) on the configured task (binary, "
     "multiclass or regression; train.loss, train.weight_decay); writes DIR/model.safetensors, "
     "DIR/train.json, DIR/config.ini, DIR/run.json; a folder holding a run is refused without "
     "--overwrite", cmd_train},
    {"attack", "kktrecon attack [--config FILE] --model MODEL.safetensors --out DIR [--resume | --overwrite] [--set ...] [--device SPEC]",
     "run the KKT reconstruction attack; writes DIR/candidates.safetensors (checkpointed), "
     "DIR/attack.jsonl, DIR/attack.json, DIR/run.json; --resume continues from the last checkpoint "
     "if run.json matches this run's model and settings", cmd_attack},
    {"kkt", "kktrecon kkt --model MODEL --candidates C.safetensors --alpha A --lambda-min L --out G.safetensors [--overwrite] [--precision single|double] [--activation relu|softplus] [--objective auto|binary|multiclass|regression] [--device SPEC]",
     "evaluate the KKT loss and its gradient at a given point (no optimisation), for checking "
     "against another implementation; --objective as attack.objective (auto: binary for one "
     "output, multiclass for more; the candidates' y holds ±1, the class index, or is ignored "
     "for regression)", cmd_kkt},
    {"evaluate", "kktrecon evaluate [--config FILE] --model MODEL --candidates C [--candidates C2 ...] --out DIR [--top-k N [--top-by clip_mean|official_mean|clip_above|official_above]] [--overwrite] [--set ...] [--device SPEC]",
     "match the pooled candidates to the training set and score them like the paper; writes "
     "pairs.csv, summary.json, grid.png, ssim_vs_margin.png, report.html, run.json; --top-k N "
     "pools only the N best files (each matched and scored alone first; by clip_mean unless "
     "--top-by says otherwise), as the paper's analysis keeps its best runs", cmd_evaluate},
    {"demo", "kktrecon demo [--out DIR (default runs/demo)] [--device SPEC] [--set ...]",
     "train -> attack -> evaluate on the bundled MNIST subset (odd/even, 10 per class, "
     "784-200-200-1, float64) and print the summary", cmd_demo},
    {"sweep", "kktrecon sweep [--config FILE] --model MODEL --out DIR [--resume] [--device SPEC | --devices SPEC,...|all] [--set ...]\n"
     "       mpirun -np N kktrecon sweep ...   (when built with MPI)",
     "the paper's random hyperparameter search in one command: sweep.points attack runs whose "
     "init_scale, lr_x, lambda_min and alpha are drawn from the [sweep] distributions (or listed "
     "in sweep.points_file), batched sweep.batch at a time on one worker per device (--devices "
     "all: host and every OpenCL device); writes DIR/points/NNNN/ (candidates.safetensors, "
     "attack.jsonl, point.json), DIR/sweep.json (the manifest), DIR/sweep.csv, DIR/sweep.png and "
     "DIR/evaluate/ (all finished points pooled, report.html with the sweep's table); batches are "
     "checkpointed every attack.checkpoint_every iterations and --resume runs only what is "
     "unfinished; sweep.prune = loss stops the worse half of each batch by total loss at 10% and "
     "again at 30% of the iterations (successive halving, label-free); under mpirun rank 0 hands "
     "out the batches and each rank uses its own device (--device, else its local rank's GPU, "
     "else host)", cmd_sweep},
    {"bench", "kktrecon bench [--device SPEC|all] [--what train,attack,points,start] [--precision single,double] "
     "[--size demo|paper|cifar|small|D-H-H:M] [--repeat N] [--budget SECONDS] [--json FILE]\n"
     "       kktrecon bench --compare A.json B.json ... --out DIR [--price-per-hour DEVICE=USD,...]",
     "self-test each device, measure its limits (FMA peak, also by clpeak's method; read "
     "bandwidth; transfers; launch cost), then time one training step and one attack iteration "
     "(paper size by default) interleaved with the device's reference GEMM, and report GFLOP/s, "
     "the ratio to that GEMM with its spread and the fraction of the device's peak, and the time "
     "to the first attack iteration on a fresh instance of the device, cold (empty program "
     "cache) and warm (default --what: train,attack,start; points: P = 1..16 batched "
     "hyperparameter points at the demo's size against P sequential runs); --device all runs "
     "every device of `kktrecon devices`; --json writes the kktrecon-bench/1 file "
     "(docs/bench-schema.md); --reps is --repeat. --compare turns such files from several "
     "machines into DIR/compare.html, compare.md and PNG bar charts, with the time (and, given "
     "prices per hour matched against device names, the cost) of a 50,000-iteration attack",
     kr_cli_bench},
    {"tune", "kktrecon tune [--device SPEC|all] [--precision single,double] [--size demo|paper|cifar|small|D-H-H:M] [--budget SECONDS] [--repeat N]",
     "find the fastest correct CLBlast GEMM parameters for the attack's products on each OpenCL "
     "device (default: all) and store them in the cache folder, where every later run on that "
     "device, driver and precision picks them up: CLBlast's defaults and the built-in "
     "candidates (device/gemm_plan.h) are each checked against float64 and timed in a child "
     "process of their own (--budget: seconds each, compile included, default 180; --repeat: "
     "timing rounds, default 5) at the attack's size (default demo); the best is kept if it "
     "beats the defaults by 5% when timed again alternately with them, and passes the "
     "self-test. KKTRECON_GEMM_TUNING=off ignores stored parameters; `kktrecon devices "
     "--check` shows what each device runs", cmd_tune},
    {"version", "kktrecon version", "print the version", cmd_version},
};
#define NCOMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(COMMANDS[i].name, name)) return &COMMANDS[i];
    return NULL;
}

static int cmd_help(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[2], "config")) {
        printf("configuration keys (INI sections [data] [model] [train] [attack] [sweep]; --set "
               "section.key=value overrides):\n");
        kr_config_write_help(stdout);
        return 0;
    }
    if (argc >= 3) {
        const command *c = find_command(argv[2]);
        if (!c) {
            fprintf(stderr, "kktrecon help: unknown command '%s'\n", argv[2]);
            return EXIT_USAGE;
        }
        printf("usage: %s\n\n%s\n\ncommon flags: --quiet (errors only), --help\n"
               "device SPEC: host | p:d | index from `kktrecon devices` | gpu | cpu | name "
               "substring\n  (precedence: config key device < env KKTRECON_DEVICE < --device)\n",
               c->usage, c->help);
        return 0;
    }
    print_usage(stdout);
    for (size_t i = 0; i < NCOMMANDS; i++) printf("  %-9s %s\n", COMMANDS[i].name, COMMANDS[i].help);
    printf("\nrun `kktrecon help COMMAND` for its flags, `kktrecon help config` for every "
           "configuration key.\n");
    return 0;
}

int kr_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        for (size_t i = 0; i < NCOMMANDS; i++) fprintf(stderr, "  %-9s %s\n", COMMANDS[i].name, COMMANDS[i].help);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) name = "help";
    if (!strcmp(name, "--version")) name = "version";
    const command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "kktrecon: unknown command '%s' (see kktrecon help)\n", argv[1]);
        return EXIT_USAGE;
    }
    kr_interrupt_install();
    return c->run(argc, argv);
}
