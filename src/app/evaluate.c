/* evaluate.c — `kktrecon evaluate`: the run folder (lock, staging, run.json) around the
 * evaluation step shared with `sweep` (eval_pool.c: DESIGN.md §4 matching, SSIM three ways,
 * pairs.csv, summary.json, the pictures and report.html).
 */
#include "app/evaluate.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "app/runid.h"
#include "io/rundir.h"

/* The data the report scores against (run.json, io/rundir.h); model and candidate files go
 * in by size and crc32. */
static const char *const EVAL_IDENTITY[] = {"data.dataset", "data.path", "data.task",
                                            "data.per_class", NULL};

static kr_status write_run(const kr_config *cfg, kr_device *dev, const char *model_path,
                           const char *const *candidate_paths, size_t n_paths,
                           const kr_eval_opts *o, const kr_rundir *rd)
{
    cJSON *run = kr_runid_new("evaluate");
    if (!run) return KR_FAIL(KR_E_NOMEM, "run.json");
    kr_status st = kr_runid_add_file(run, "model", model_path);
    for (size_t i = 0; st == KR_OK && i < n_paths; i++) {
        char key[32];
        snprintf(key, sizeof key, "candidates.%zu", i);
        st = kr_runid_add_file(run, key, candidate_paths[i]);
    }
    if (st == KR_OK) st = kr_runid_add_config(run, true, cfg, EVAL_IDENTITY);
    if (st == KR_OK && o && o->top_k) {
        char k[32];
        snprintf(k, sizeof k, "%zu", o->top_k);
        st = kr_runid_add(run, true, "top_k", k);
        if (st == KR_OK) st = kr_runid_add(run, true, "top_by", KR_EVAL_TOP_BY[o->top_by]);
    }
    if (st == KR_OK) st = kr_runid_add(run, false, "device", kr_device_describe(dev));
    if (st == KR_OK) st = kr_rundir_write_run(rd, run);
    cJSON_Delete(run);
    return st;
}

kr_status kr_evaluate_run(const kr_config *cfg, kr_device *dev, const char *model_path,
                          const char *const *candidate_paths, size_t n_paths, const char *out_dir,
                          kr_run_mode mode, const kr_eval_opts *opts, kr_eval_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    kr_rundir rd;
    KR_TRY(kr_rundir_open(&rd, out_dir, "evaluate", mode));
    /* Everything is written to the staging folder rd.work, switched in at the end. */
    kr_status st = kr_eval_pool_write(cfg, dev, model_path, candidate_paths, n_paths, rd.work,
                                      opts, sum, NULL);
    if (st == KR_OK) st = write_run(cfg, dev, model_path, candidate_paths, n_paths, opts, &rd);
    if (st == KR_OK) st = kr_rundir_commit(&rd);
    return kr_rundir_close(&rd, st);
}
