/* eval_classes.h — per-class counts of an evaluation (app/eval_pool.c): for each class of the
 * training set (its original class id, ascending), how many training images score clip SSIM
 * above 0.4 and above their own mean-image baseline, and the class's mean clip and baseline
 * SSIM; into summary.json ("per_class") and a table of report.html. Meaningful for multiclass
 * tasks, reported for every task (a binary task's classes are its original classes).
 */
#ifndef KR_EVAL_CLASSES_H
#define KR_EVAL_CLASSES_H

#include <cjson/cJSON.h>

#include "engine/pairs.h"
#include "eval/html.h"
#include "io/data.h"

typedef struct kr_eval_classes {
    int n_classes;
    int id[KR_TASK_MAX_CLASSES];
    size_t n[KR_TASK_MAX_CLASSES], above[KR_TASK_MAX_CLASSES], over_base[KR_TASK_MAX_CLASSES];
    double clip[KR_TASK_MAX_CLASSES], base[KR_TASK_MAX_CLASSES];
} kr_eval_classes;

/* The counts of pairs pr (s->n of them, any order) into cs, and the "per_class" array into j
 * (when not NULL). */
void kr_eval_classes_count(const kr_pair *pr, const kr_binary_set *s, kr_eval_classes *cs,
                           cJSON *j);

/* The "Per class" section of the report. */
kr_status kr_eval_classes_html(kr_html *h, const kr_eval_classes *cs);

#endif
