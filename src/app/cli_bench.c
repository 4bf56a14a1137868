/* cli_bench.c — `kktrecon bench` on the command line: its flags, the devices to time (one, or
 * every device of `kktrecon devices` with --device all) and --compare (app/bench.h,
 * app/bench_compare.h do the work). Split from cli.c, whose flag parser it uses (cli_impl.h).
 */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/bench.h"
#include "app/bench_compare.h"
#include "app/cli_impl.h"
#include "base/log.h"
#include "device/device.h"
#include "io/report.h"

#ifndef KR_VERSION
#define KR_VERSION "dev"
#endif

static int bench_compare_cmd(const flags *f, const char *const *files, int n_files)
{
    if (!f->out) {
        fprintf(stderr, "kktrecon bench: --compare needs --out DIR\n");
        return EXIT_USAGE;
    }
    if (n_files < 1) {
        fprintf(stderr, "kktrecon bench: --compare needs at least one JSON file\n");
        return EXIT_USAGE;
    }
    kr_status st = kr_bench_compare(files, (size_t)n_files, f->out, f->price, stdout);
    return st == KR_OK ? 0 : kr_cli_fail("bench", st);
}

/* One device of the run: open, self-test and time it, close. *failed when its self-test
 * failed or it could not be opened. */
static kr_status bench_one(const char *spec, const kr_device_info *listed, const kr_bench_opts *o,
                           cJSON *jdevs, bool *failed)
{
    kr_device *dev = NULL;
    kr_status st = kr_device_open(spec, &dev);
    if (st != KR_OK) {
        if (!listed) return st;
        /* With --device all, one device that will not open does not stop the others. */
        printf("device %d: %s\nFAILED  open: %s\n", listed->index, listed->name, kr_error_message());
        kr_bench_json_open_error(jdevs, listed, kr_error_message());
        *failed = true;
        return KR_OK;
    }
    kr_log_info("device: %s", kr_device_describe(dev));
    int before = jdevs ? cJSON_GetArraySize(jdevs) : 0;
    st = kr_bench_run(dev, o, stdout, jdevs);
    kr_device_close(dev);
    if (st == KR_OK && jdevs && cJSON_GetArraySize(jdevs) > before) {
        const cJSON *s = cJSON_GetObjectItem(cJSON_GetArrayItem(jdevs, before), "status");
        if (cJSON_IsString(s) && strcmp(s->valuestring, "ok")) *failed = true;
    }
    printf("\n");
    return st;
}

int kr_cli_bench(int argc, char **argv)
{
    /* Take the files of --compare out of argv before the usual flag parsing. */
    const char *files[MAX_MULTI];
    int n_files = 0;
    bool compare = false;
    char **args = malloc((size_t)argc * sizeof *args);
    if (!args) return kr_cli_fail("bench", KR_FAIL(KR_E_NOMEM, "bench: arguments"));
    int nargs = 0;
    for (int i = 0; i < argc; i++) {
        if (i >= 2 && !strcmp(argv[i], "--compare")) {
            compare = true;
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
                if (n_files == MAX_MULTI) {
                    free(args);
                    fprintf(stderr, "kktrecon bench: at most %d files to --compare\n", MAX_MULTI);
                    return EXIT_USAGE;
                }
                files[n_files++] = argv[++i];
            }
            continue;
        }
        args[nargs++] = argv[i];
    }
    flags f;
    int rc = kr_cli_parse_flags(nargs, args, "bench",
                         "device what precision size reps repeat budget json out price-per-hour "
                         "quiet", &f);
    free(args);
    if (rc) return rc;
    if (f.help) return kr_cli_help_for("bench");
    if (compare) return bench_compare_cmd(&f, files, n_files);
    if (f.out || f.price) {
        fprintf(stderr, "kktrecon bench: --out and --price-per-hour go with --compare\n");
        return EXIT_USAGE;
    }
    kr_bench_opts o;
    kr_bench_defaults(&o);
    if (f.what) { /* a comma list of workload names, each known */
        o.train = o.attack = o.points = o.start = false;
        char list[256];
        snprintf(list, sizeof list, "%s", f.what);
        char *save = NULL;
        int n = 0;
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save), n++) {
            bool *flag = !strcmp(t, "train") ? &o.train : !strcmp(t, "attack") ? &o.attack
                       : !strcmp(t, "points") ? &o.points : !strcmp(t, "start") ? &o.start : NULL;
            if (!flag) {
                fprintf(stderr, "kktrecon bench: --what: unknown workload '%s'; expected a comma "
                        "list of train, attack, points, start\n", t);
                return EXIT_USAGE;
            }
            *flag = true;
        }
        if (!n) {
            fprintf(stderr, "kktrecon bench: --what takes a comma list of train, attack, points, "
                    "start\n");
            return EXIT_USAGE;
        }
    }
    if (f.precision && !kr_cli_parse_precisions("bench", f.precision, o.dtypes, &o.n_dtypes))
        return EXIT_USAGE;
    if (f.size && kr_bench_set_size(&o, f.size) != KR_OK) {
        fprintf(stderr, "kktrecon %s\n", kr_error_message());
        return EXIT_USAGE;
    }
    if (f.reps) {
        char *end;
        errno = 0;
        long v = strtol(f.reps, &end, 10);
        if (errno || end == f.reps || *end || v < 1 || v > KR_BENCH_MAX_PAIRS) {
            fprintf(stderr, "kktrecon bench: --repeat/--reps '%s': expected a whole number in [1, %d]\n",
                    f.reps, KR_BENCH_MAX_PAIRS);
            return EXIT_USAGE;
        }
        o.reps = (int)v;
    }
    if (f.budget && !kr_cli_parse_number("bench", "budget", f.budget, 0.0, false, &o.budget_s))
        return EXIT_USAGE;

    cJSON *root = kr_bench_json_new(&o, KR_VERSION);
    if (!root) return kr_cli_fail("bench", KR_FAIL(KR_E_NOMEM, "bench: JSON"));
    cJSON *jdevs = cJSON_GetObjectItem(root, "devices");
    bool failed = false;
    kr_status st = KR_OK;
    const char *spec = kr_device_spec_resolve(f.device, NULL);
    if (spec && !strcmp(spec, "all")) {
        kr_device_info *infos = NULL;
        int n = 0;
        st = kr_device_list(&infos, &n);
        for (int i = 0; st == KR_OK && i < n; i++) {
            char idx[16];
            snprintf(idx, sizeof idx, "%d", infos[i].index);
            st = bench_one(idx, &infos[i], &o, jdevs, &failed);
        }
        free(infos);
    } else {
        st = bench_one(spec, NULL, &o, jdevs, &failed);
    }
    if (st == KR_OK && f.json) st = kr_report_write_json(f.json, root);
    cJSON_Delete(root);
    if (st != KR_OK) return kr_cli_fail("bench", st);
    if (failed) {
        fprintf(stderr, "kktrecon bench: a device FAILED its self-test or could not be opened "
                "(no timings for it)\n");
        return EXIT_FAILURE;
    }
    return 0;
}
