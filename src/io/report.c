/* report.c — run folders and atomic result files. */
#include "io/report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

kr_status kr_report_mkdir(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) return KR_FAIL(KR_E_INVALID, "bad output directory '%s'", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return KR_FAIL(KR_E_IO, "cannot create directory '%s': %s", buf, strerror(errno));
        buf[i] = c;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return KR_FAIL(KR_E_IO, "'%s' is not a directory", dir);
    return KR_OK;
}

kr_status kr_report_path(char *buf, size_t cap, const char *dir, const char *name)
{
    int k = snprintf(buf, cap, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= cap) return KR_FAIL(KR_E_INVALID, "path too long: %s/%s", dir, name);
    return KR_OK;
}

kr_status kr_report_open(const char *path, FILE **f)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    *f = fopen(tmp, "w");
    if (!*f) return KR_FAIL(KR_E_IO, "cannot write '%s': %s", tmp, strerror(errno));
    return KR_OK;
}

kr_status kr_report_close(FILE *f, const char *path, kr_status st)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0) bad = true;
    if (st != KR_OK) {
        remove(tmp);
        return st;
    }
    if (bad) {
        remove(tmp);
        return KR_FAIL(KR_E_IO, "error writing '%s'", tmp);
    }
    if (rename(tmp, path) != 0)
        return KR_FAIL(KR_E_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    return KR_OK;
}

kr_status kr_report_write_json(const char *path, const cJSON *json)
{
    char *text = cJSON_Print(json);
    if (!text) return KR_FAIL(KR_E_NOMEM, "serialising %s", path);
    FILE *f;
    kr_status st = kr_report_open(path, &f);
    if (st == KR_OK) {
        fputs(text, f);
        fputc('\n', f);
        st = kr_report_close(f, path, KR_OK);
    }
    free(text);
    return st;
}

void kr_report_json_number(cJSON *obj, const char *key, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(obj, key, v);
    else cJSON_AddNullToObject(obj, key);
}

kr_status kr_report_read_text(const char *path, size_t max, char **text)
{
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return KR_FAIL(KR_E_IO, "cannot read %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    kr_status st = KR_OK;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = 2 * cap + 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                st = KR_FAIL(KR_E_NOMEM, "reading %s", path);
                break;
            }
            buf = nb;
        }
        size_t k = fread(buf + n, 1, 4096, f);
        n += k;
        if (n > max) {
            st = KR_FAIL(KR_E_INVALID, "%s is larger than %zu bytes", path, max);
            break;
        }
        if (k < 4096) {
            if (ferror(f)) st = KR_FAIL(KR_E_IO, "reading %s: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st != KR_OK) {
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *text = buf;
    return KR_OK;
}
