/* runid.c — building run.json (runid.h); comparing and writing it is io/rundir.c. */
#include "app/runid.h"

#include <cjson/cJSON.h>
#include <stdio.h>

#include "io/rundir.h"

#ifndef KR_VERSION
#define KR_VERSION "dev"
#endif

cJSON *kr_runid_new(const char *command)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    if (!cJSON_AddStringToObject(j, "command", command) ||
        !cJSON_AddStringToObject(j, "kktrecon", KR_VERSION) ||
        !cJSON_AddObjectToObject(j, "identity") || !cJSON_AddObjectToObject(j, "settings")) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

kr_status kr_runid_add(cJSON *run, bool identity, const char *key, const char *value)
{
    cJSON *o = cJSON_GetObjectItemCaseSensitive(run, identity ? "identity" : "settings");
    if (!o || !cJSON_AddStringToObject(o, key, value))
        return KR_FAIL(KR_E_NOMEM, "run.json entry %s", key);
    return KR_OK;
}

kr_status kr_runid_add_config(cJSON *run, bool identity, const kr_config *cfg,
                              const char *const *keys)
{
    char buf[1200];
    for (size_t i = 0; keys[i]; i++) {
        KR_TRY(kr_config_format(cfg, keys[i], buf, sizeof buf));
        KR_TRY(kr_runid_add(run, identity, keys[i], buf));
    }
    return KR_OK;
}

kr_status kr_runid_add_file(cJSON *run, const char *key, const char *path)
{
    long long size;
    unsigned long crc;
    KR_TRY(kr_rundir_file_identity(path, &size, &crc));
    char name[256], v[32];
    snprintf(name, sizeof name, "%s.size", key);
    snprintf(v, sizeof v, "%lld", size);
    KR_TRY(kr_runid_add(run, true, name, v));
    snprintf(name, sizeof name, "%s.crc32", key);
    snprintf(v, sizeof v, "%08lx", crc);
    KR_TRY(kr_runid_add(run, true, name, v));
    snprintf(name, sizeof name, "%s.path", key);
    return kr_runid_add(run, false, name, path);
}
