/* rundir.c — run folders: kind, lock, identity, staging and commit (rundir.h). */
#include "io/rundir.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/report.h"

#define STAGING ".staging"
#define INCOMING ".incoming"
#define MANIFEST ".manifest"

/* Every file a run of any kind writes: what a commit may remove from the folder. */
static const char *const RUN_FILES[] = {
    "run.json", "config.ini",
    "model.safetensors", "train.json",
    "candidates.safetensors", "attack.jsonl", "attack.json",
    "pairs.csv", "summary.json", "grid.png", "ssim_vs_margin.png", "ssim_official_vs_margin.png",
    "report.html",
};
#define N_RUN_FILES (sizeof RUN_FILES / sizeof RUN_FILES[0])

/* The files that tell a folder's kind when it has no run.json. */
static const struct {
    const char *file, *kind;
} MARKERS[] = {
    {"model.safetensors", "train"}, {"candidates.safetensors", "attack"},
    {"summary.json", "evaluate"}, {"pairs.csv", "evaluate"}, {"report.html", "evaluate"},
};

/* buf = a/b; false (buf unusable) if it does not fit. */
static bool join(char *buf, size_t cap, const char *a, const char *b)
{
    int k = snprintf(buf, cap, "%s/%s", a, b);
    return k >= 0 && (size_t)k < cap;
}

static const char *kind_words(const char *kind)
{
    if (!strcmp(kind, "train")) return "a training run";
    if (!strcmp(kind, "attack")) return "an attack run";
    if (!strcmp(kind, "evaluate")) return "an evaluation report";
    if (!strcmp(kind, "sweep")) return "a sweep";
    return "a kktrecon run";
}

static bool exists(const char *dir, const char *name)
{
    char p[4400];
    join(p, sizeof p, dir, name);
    struct stat sb;
    return lstat(p, &sb) == 0;
}

/* The whole of a small text file (at most 64 MiB), NUL-terminated; NULL if unreadable. */
static char *slurp(const char *path)
{
    char *text;
    return kr_report_read_text(path, 64u << 20, &text) == KR_OK ? text : NULL;
}

/* The folder's run.json, or NULL (absent or not a run.json of ours). */
static cJSON *read_run(const char *dir)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/run.json", dir);
    char *text = slurp(p);
    if (!text) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (j && (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "command")) ||
              !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "identity")))) {
        cJSON_Delete(j);
        j = NULL;
    }
    return j;
}

/* "train" | "attack" | "evaluate" | "other" (a run.json naming something else) | NULL (no
 * run); *why gets the file that tells. */
static const char *folder_kind(const char *dir, const char **why)
{
    cJSON *run = read_run(dir);
    if (run) {
        const char *c = cJSON_GetObjectItemCaseSensitive(run, "command")->valuestring;
        const char *k = !strcmp(c, "train") ? "train" : !strcmp(c, "attack") ? "attack"
                        : !strcmp(c, "evaluate") ? "evaluate"
                        : !strcmp(c, "sweep")    ? "sweep"
                                                 : "other";
        cJSON_Delete(run);
        *why = "run.json";
        return k;
    }
    for (size_t i = 0; i < sizeof MARKERS / sizeof MARKERS[0]; i++)
        if (exists(dir, MARKERS[i].file)) {
            *why = MARKERS[i].file;
            return MARKERS[i].kind;
        }
    return NULL;
}

/* Removes the plain files of a folder and the folder itself (staging folders are flat). */
static void remove_flat_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    char p[4400];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        join(p, sizeof p, path, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(path);
}

static bool in_manifest(const char *manifest, const char *name)
{
    if (!manifest) return false;
    size_t n = strlen(name);
    for (const char *p = manifest; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return true;
        if (!nl) break;
        p = nl + 1;
    }
    return false;
}

/* Second half of a commit, also the recovery of one killed half-way: removes the old run's
 * files the manifest does not list, moves what is left in .incoming into the folder. Every
 * step can be repeated. */
static kr_status finish_incoming(const char *dir)
{
    char inc[4400], p[4700], q[4700];
    join(inc, sizeof inc, dir, INCOMING);
    join(p, sizeof p, inc, MANIFEST);
    char *manifest = slurp(p);
    if (manifest) {
        for (size_t i = 0; i < N_RUN_FILES; i++) {
            if (in_manifest(manifest, RUN_FILES[i])) continue;
            join(q, sizeof q, dir, RUN_FILES[i]);
            if (unlink(q) != 0 && errno != ENOENT) {
                kr_status st = KR_FAIL(KR_E_IO, "replacing the run in %s: cannot remove %s: %s",
                                       dir, q, strerror(errno));
                free(manifest);
                return st;
            }
            char tmp[300];
            snprintf(tmp, sizeof tmp, "%s.tmp", RUN_FILES[i]);
            if (join(q, sizeof q, dir, tmp)) unlink(q);
        }
        free(manifest);
    }
    DIR *d = opendir(inc);
    if (!d) return KR_FAIL(KR_E_IO, "replacing the run in %s: cannot read %s: %s", dir, inc,
                           strerror(errno));
    struct dirent *e;
    kr_status st = KR_OK;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, MANIFEST))
            continue;
        join(p, sizeof p, inc, e->d_name);
        join(q, sizeof q, dir, e->d_name);
        if (rename(p, q) != 0 && st == KR_OK)
            st = KR_FAIL(KR_E_IO, "replacing the run in %s: cannot move %s to %s: %s", dir, p, q,
                         strerror(errno));
    }
    closedir(d);
    if (st != KR_OK) return st;
    join(p, sizeof p, inc, MANIFEST);
    unlink(p);
    if (rmdir(inc) != 0)
        return KR_FAIL(KR_E_IO, "replacing the run in %s: cannot remove %s: %s", dir, inc,
                       strerror(errno));
    return KR_OK;
}

/* What a killed run left: a committed .incoming is finished, a stale .staging dropped. */
static kr_status recover(const char *dir)
{
    char p[4400];
    if (exists(dir, INCOMING)) {
        KR_TRY(finish_incoming(dir));
        kr_error_clear();
    }
    join(p, sizeof p, dir, STAGING);
    if (exists(dir, STAGING)) remove_flat_dir(p);
    if (exists(dir, STAGING))
        return KR_FAIL(KR_E_IO, "cannot remove the stale staging folder %s left by a killed run",
                       p);
    return KR_OK;
}

static kr_status check_kind(const kr_rundir *r, kr_run_mode mode)
{
    const char *why = NULL;
    const char *k = folder_kind(r->dir, &why);
    if (mode == KR_RUN_RESUME) {
        if (!k || strcmp(k, r->kind))
            return KR_FAIL(KR_E_INVALID, "--resume: %s holds %s, not %s; nothing to resume",
                           r->dir, k ? kind_words(k) : "no kktrecon run", kind_words(r->kind));
        return KR_OK;
    }
    if (!k || mode == KR_RUN_OVERWRITE) return KR_OK;
    if (!strcmp(k, r->kind))
        return KR_FAIL(KR_E_INVALID, "%s already holds %s (%s/%s exists); pass --overwrite to "
                       "replace it%s, or choose another --out", r->dir, kind_words(k), r->dir, why,
                       strcmp(r->kind, "attack") ? "" : " (or --resume to continue it)");
    return KR_FAIL(KR_E_INVALID, "%s holds %s (%s/%s), not %s: writing there would mix two runs; "
                   "choose another --out, or pass --overwrite to replace it", r->dir,
                   kind_words(k), r->dir, why, kind_words(r->kind));
}

kr_status kr_rundir_open(kr_rundir *r, const char *dir, const char *kind, kr_run_mode mode)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    if (strlen(dir) == 0 || strlen(dir) >= sizeof r->dir)
        return KR_FAIL(KR_E_INVALID, "bad output folder '%s'", dir);
    memcpy(r->dir, dir, strlen(dir) + 1);
    struct stat sb;
    bool existed = stat(dir, &sb) == 0;
    if (existed && !S_ISDIR(sb.st_mode))
        return KR_FAIL(KR_E_INVALID, "%s is a file, not a run folder; kktrecon replaces only "
                       "folders it wrote, even with --overwrite: choose another --out", dir);
    if (!existed && mode == KR_RUN_RESUME)
        return KR_FAIL(KR_E_IO, "--resume: %s does not exist; nothing to resume (start the run "
                       "without --resume)", dir);
    kr_status st;
    if (!existed) {
        KR_TRY(kr_report_mkdir(dir));
        r->created = true;
    }
    KR_TRY_GOTO(kr_runlock_acquire(dir, &r->lock));
    KR_TRY_GOTO(recover(dir));
    KR_TRY_GOTO(check_kind(r, mode));
    if (mode == KR_RUN_RESUME) {
        if (!(r->previous = read_run(dir))) {
            st = KR_FAIL(KR_E_INVALID, "--resume: %s has no readable run.json (written by an "
                         "older kktrecon?), so whether its checkpoint belongs to this run cannot "
                         "be checked; start again with --overwrite", dir);
            goto fail;
        }
        memcpy(r->work, r->dir, strlen(r->dir) + 1);
        return KR_OK;
    }
    KR_TRY_GOTO(kr_report_path(r->work, sizeof r->work, dir, STAGING));
    if (mkdir(r->work, 0777) != 0) {
        st = KR_FAIL(KR_E_IO, "cannot create the staging folder %s: %s", r->work, strerror(errno));
        goto fail;
    }
    r->staged = true;
    return KR_OK;
fail:
    return kr_rundir_close(r, st);
}

kr_status kr_rundir_path(const kr_rundir *r, char *buf, size_t cap, const char *name)
{
    return kr_report_path(buf, cap, r->work, name);
}

kr_status kr_rundir_check_identity(const kr_rundir *r, const cJSON *run)
{
    const cJSON *old = r->previous ? cJSON_GetObjectItemCaseSensitive(r->previous, "identity") : NULL;
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(run, "identity");
    if (!old || !now) return KR_FAIL(KR_E_INVALID, "%s/run.json: no identity to compare", r->dir);
    char diff[2048] = "";
    size_t k = 0;
    int n = 0;
    for (int pass = 0; pass < 2; pass++) {
        const cJSON *a = pass ? now : old, *b = pass ? old : now;
        for (const cJSON *e = a->child; e; e = e->next) {
            const cJSON *o = cJSON_GetObjectItemCaseSensitive(b, e->string);
            if (pass && o) continue; /* compared in the first pass */
            const char *va = cJSON_IsString(e) ? e->valuestring : "?";
            const char *vb = cJSON_IsString(o) ? o->valuestring : "(none)";
            if (o && cJSON_IsString(o) && !strcmp(va, vb)) continue;
            n++;
            if (k < sizeof diff - 1)
                k += (size_t)snprintf(diff + k, sizeof diff - k, "%s%s: %s vs %s", n > 1 ? "; " : "",
                                      e->string, pass ? vb : va, pass ? va : vb);
        }
    }
    if (!n) return KR_OK;
    return KR_FAIL(KR_E_INVALID, "--resume: the checkpoint in %s belongs to another run (%d "
                   "difference%s, old vs new: %s); resume with the model and settings it was made "
                   "with, or start again with --overwrite", r->dir, n, n > 1 ? "s" : "", diff);
}

kr_status kr_rundir_write_run(const kr_rundir *r, const cJSON *run)
{
    char p[4400];
    KR_TRY(kr_rundir_path(r, p, sizeof p, "run.json"));
    return kr_report_write_json(p, run);
}

kr_status kr_rundir_commit(kr_rundir *r)
{
    if (!r->staged) return KR_OK;
    char p[4700], inc[4400];
    join(p, sizeof p, r->work, MANIFEST);
    FILE *m = fopen(p, "w");
    if (!m) return KR_FAIL(KR_E_IO, "cannot write %s: %s", p, strerror(errno));
    DIR *d = opendir(r->work);
    if (!d) {
        fclose(m);
        return KR_FAIL(KR_E_IO, "cannot read %s: %s", r->work, strerror(errno));
    }
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') fprintf(m, "%s\n", e->d_name);
    closedir(d);
    bool bad = fflush(m) != 0 || fsync(fileno(m)) != 0;
    if (fclose(m) != 0 || bad) return KR_FAIL(KR_E_IO, "cannot write %s", p);
    join(inc, sizeof inc, r->dir, INCOMING);
    if (rename(r->work, inc) != 0)
        return KR_FAIL(KR_E_IO, "cannot commit %s to %s: %s", r->work, inc, strerror(errno));
    r->staged = false;
    memcpy(r->work, r->dir, strlen(r->dir) + 1);
    return finish_incoming(r->dir);
}

kr_status kr_rundir_close(kr_rundir *r, kr_status st)
{
    if (st != KR_OK && r->staged) remove_flat_dir(r->work);
    r->staged = false;
    kr_runlock_release(r->lock);
    r->lock = NULL;
    if (st != KR_OK && r->created) rmdir(r->dir); /* only if empty */
    r->created = false;
    cJSON_Delete(r->previous);
    r->previous = NULL;
    return st;
}

kr_status kr_rundir_file_identity(const char *path, long long *size, unsigned long *crc)
{
    FILE *f = fopen(path, "rb");
    if (!f) return KR_FAIL(KR_E_IO, "cannot read %s: %s", path, strerror(errno));
    unsigned char *buf = malloc(1 << 20);
    if (!buf) {
        fclose(f);
        return KR_FAIL(KR_E_NOMEM, "checksum buffer for %s", path);
    }
    uLong c = crc32(0L, Z_NULL, 0);
    long long n = 0;
    size_t k;
    while ((k = fread(buf, 1, 1 << 20, f)) > 0) {
        c = crc32(c, buf, (uInt)k);
        n += (long long)k;
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    free(buf);
    if (bad) return KR_FAIL(KR_E_IO, "error reading %s", path);
    *size = n;
    *crc = (unsigned long)c;
    return KR_OK;
}
