/* runid.h — the identity of a run, written to its folder as run.json (io/rundir.h): the
 * command, the kktrecon version, and as text under "identity" every input and setting that
 * changes the result (files by size and crc32, configuration keys by their written value),
 * under "settings" what may change on --resume (iterations, log and checkpoint intervals,
 * device, file paths). Shared by train, attack and evaluate.
 */
#ifndef KR_RUNID_H
#define KR_RUNID_H

#include <stdbool.h>

#include "app/config.h"
#include "base/status.h"

struct cJSON;

/* {"command": command, "kktrecon": version, "identity": {}, "settings": {}}; NULL if out of
 * memory. */
struct cJSON *kr_runid_new(const char *command);
/* Adds key = value under "identity" (identity = true) or "settings". */
kr_status kr_runid_add(struct cJSON *run, bool identity, const char *key, const char *value);
/* Adds the configuration keys named in the NULL-terminated list. */
kr_status kr_runid_add_config(struct cJSON *run, bool identity, const kr_config *cfg,
                              const char *const *keys);
/* Adds key.size and key.crc32 to the identity and key.path to the settings. */
kr_status kr_runid_add_file(struct cJSON *run, const char *key, const char *path);

#endif
