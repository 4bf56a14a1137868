#define _XOPEN_SOURCE 700 /* realpath */
/* check_config.c — host suite: configuration defaults, INI files, --set overrides, the
 * messages for bad input (file and line), round trip through kr_config_write, and the
 * ready experiment files under configs/ (each must load and validate). */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/config.h"
#include "testutil.h"

static char tmpdir[] = "/tmp/kr_config_XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

START_TEST(test_defaults)
{
    kr_config c;
    kr_config_defaults(&c);
    /* DESIGN §2/§3 defaults of the paper's code. */
    ck_assert_int_eq(c.model.n_hidden, 2);
    ck_assert_uint_eq(c.model.hidden[0], 1000);
    ck_assert(c.model.first_bias);
    ck_assert_double_eq(c.model.init_scale, 1e-4);
    ck_assert_double_eq(c.train.lr, 0.01);
    ck_assert_double_eq(c.attack.lr_lambda, 1e-4);
    ck_assert_double_eq(c.attack.momentum, 0.9);
    ck_assert_int_eq(c.attack.optimizer, KR_OPT_SGD);
    ck_assert_int_eq(c.attack.activation, KR_ACT_RELU);
    ck_assert_int_eq(c.train.precision, KR_PRECISION_AUTO);
    ck_assert_int_eq(c.attack.precision, KR_PRECISION_AUTO);
    ck_assert_str_eq(c.data.dataset, "mnist");
}
END_TEST

START_TEST(test_file_and_set)
{
    kr_config c;
    kr_config_defaults(&c);
    const char *p = write_file("a.ini", "device = host\n[data]\nper_class = 10\n[model]\nhidden = 200, 300,7\n"
                                        "first_bias = false\n[train]\nprecision = single\n"
                                        "[attack]\noptimizer = adam\nactivation = softplus\n");
    ck_assert_int_eq(kr_config_load_file(&c, p), KR_OK);
    ck_assert_str_eq(c.device, "host");
    ck_assert_int_eq(c.data.per_class, 10);
    ck_assert_int_eq(c.model.n_hidden, 3);
    ck_assert_uint_eq(c.model.hidden[1], 300);
    ck_assert_uint_eq(c.model.hidden[2], 7);
    ck_assert(!c.model.first_bias);
    ck_assert_int_eq(c.train.precision, KR_F32);
    ck_assert_int_eq(c.attack.optimizer, KR_OPT_ADAM);
    ck_assert_int_eq(c.attack.activation, KR_ACT_SOFTPLUS);
    ck_assert_int_eq(kr_config_set(&c, "attack.lr_x=0.5"), KR_OK);
    ck_assert_double_eq(c.attack.lr_x, 0.5);
    ck_assert_int_eq(kr_config_set(&c, "device=1:0"), KR_OK);
    ck_assert_str_eq(c.device, "1:0");
}
END_TEST

START_TEST(test_errors_name_file_and_line)
{
    kr_config c;
    kr_config_defaults(&c);
    const char *p = write_file("bad.ini", "[data]\nper_class = 10\n\n[train]\nsteps = many\n");
    ck_assert_int_eq(kr_config_load_file(&c, p), KR_E_INVALID);
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "bad.ini:5"));
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "train.steps"));
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "integer"));

    p = write_file("unknown.ini", "[train]\nstesp = 3\n");
    ck_assert_int_eq(kr_config_load_file(&c, p), KR_E_INVALID);
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "unknown.ini:2"));
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "unknown key 'train.stesp'"));

    p = write_file("syntax.ini", "[train\n");
    ck_assert_int_eq(kr_config_load_file(&c, p), KR_E_INVALID);
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "syntax.ini:1"));

    ck_assert_int_eq(kr_config_load_file(&c, "/nonexistent/x.ini"), KR_E_IO);
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "/nonexistent/x.ini"));

    ck_assert_int_eq(kr_config_set(&c, "attack.alpha"), KR_E_INVALID);
    ck_assert_int_eq(kr_config_set(&c, "attack.alpha=inf"), KR_E_INVALID);
    ck_assert_int_eq(kr_config_set(&c, "model.hidden=10,,3"), KR_E_INVALID);
    ck_assert_int_eq(kr_config_set(&c, "model.hidden=0"), KR_E_INVALID);
    ck_assert_int_eq(kr_config_set(&c, "train.precision=half"), KR_E_INVALID);
    ck_assert_int_eq(kr_config_set(&c, "nosuch.key=1"), KR_E_INVALID);
}
END_TEST

/* Issue 11: settings that mean nothing are refused with their allowed range; a directory is
 * not a config; a section header without ']' is a syntax error at its own line, even when
 * keys follow it; a subnormal number is a number. */
START_TEST(test_ranges_and_file_kinds)
{
    static const char *const bad[] = {
        "attack.momentum=1",   "attack.momentum=-0.1", "attack.lr_x=-0.5", "attack.lr_x=0",
        "attack.init_scale=0", "attack.lambda_min=-0.1", "attack.alpha=0", "train.lr=0",
        "attack.log_every=0",  "train.log_every=0",      "data.per_class=0",
        "attack.candidates=20000000", "attack.iterations=0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kr_config c;
        kr_config_defaults(&c);
        ck_assert_int_eq(kr_config_set(&c, bad[i]), KR_OK);
        ck_assert_msg(kr_config_validate(&c) == KR_E_INVALID, "%s accepted", bad[i]);
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(strchr(bad[i], '=') - bad[i]), bad[i]);
        ck_assert_msg(strstr(kr_error_message(), key) && strstr(kr_error_message(), "allowed"),
                      "%s: message '%s'", bad[i], kr_error_message());
    }
    kr_config c;
    kr_config_defaults(&c);
    ck_assert_int_eq(kr_config_validate(&c), KR_OK);
    ck_assert_int_eq(kr_config_set(&c, "attack.momentum=0"), KR_OK);
    ck_assert_int_eq(kr_config_set(&c, "attack.lr_lambda=0"), KR_OK);
    ck_assert_int_eq(kr_config_set(&c, "attack.lambda_min=1e-320"), KR_OK);
    ck_assert(c.attack.lambda_min > 0 && c.attack.lambda_min < 1e-300);
    ck_assert_int_eq(kr_config_validate(&c), KR_OK);
    ck_assert_int_eq(kr_config_set(&c, "attack.alpha=1e400"), KR_E_INVALID);
    ck_assert_int_eq(kr_config_set(&c, "model.hidden=2000000"), KR_E_INVALID);

    ck_assert_int_eq(kr_config_load_file(&c, tmpdir), KR_E_IO);
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "directory"));

    const char *p = write_file("bracket.ini", "[data]\nper_class = 10\n[attack\nlr_x = 0.1\n");
    ck_assert_int_eq(kr_config_load_file(&c, p), KR_E_INVALID);
    ck_assert_msg(strstr(kr_error_message(), "bracket.ini:3") &&
                      strstr(kr_error_message(), "without ']'"),
                  "message '%s'", kr_error_message());
    ck_assert_int_eq(kr_config_load_string(&c, "[data]\n[model\nhidden = 3\n", "text"),
                     KR_E_INVALID);
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "text:2: syntax error"));
}
END_TEST

/* precision = auto (the default) settles on the device: float64 on the host backend; an
 * explicit choice is kept. */
START_TEST(test_precision_auto)
{
    kr_config c;
    kr_config_defaults(&c);
    kr_device *host = NULL;
    ck_assert_int_eq(kr_device_open("host", &host), KR_OK);
    kr_config_resolve_precision(&c, host);
    ck_assert_int_eq(c.train.precision, KR_F64);
    ck_assert_int_eq(c.attack.precision, KR_F64);
    kr_config_defaults(&c);
    ck_assert_int_eq(kr_config_set(&c, "attack.precision=single"), KR_OK);
    kr_config_resolve_precision(&c, host);
    ck_assert_int_eq(c.attack.precision, KR_F32);
    ck_assert_int_eq(c.train.precision, KR_F64);
    ck_assert_int_eq(kr_config_set(&c, "train.precision=auto"), KR_OK);
    char buf[32];
    ck_assert_int_eq(kr_config_format(&c, "train.precision", buf, sizeof buf), KR_OK);
    ck_assert_str_eq(buf, "auto");
    ck_assert_int_eq(kr_config_set(&c, "train.precision=half"), KR_E_INVALID);
    kr_device_close(host);
}
END_TEST

/* A relative data.path or attack.points_file in a file is taken from the file's folder (stored
 * absolute); from --set, as given. */
START_TEST(test_relative_paths)
{
    char sub[600], path[700], want[4200], real[4096];
    snprintf(sub, sizeof sub, "%s/configs", tmpdir);
    ck_assert_int_eq(mkdir(sub, 0755) == 0 || errno == EEXIST, 1);
    snprintf(path, sizeof path, "%s/x.ini", sub);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("[data]\npath = ../data/mnist\n[attack]\npoints_file = pts.csv\n", f);
    fclose(f);
    kr_config c;
    kr_config_defaults(&c);
    ck_assert_int_eq(kr_config_load_file(&c, path), KR_OK);
    ck_assert_ptr_nonnull(realpath(sub, real));
    snprintf(want, sizeof want, "%s/../data/mnist", real);
    ck_assert_str_eq(c.data.path, want);
    snprintf(want, sizeof want, "%s/pts.csv", real);
    ck_assert_str_eq(c.attack.points_file, want);
    ck_assert_int_eq(kr_config_set(&c, "data.path=rel/dir"), KR_OK);
    ck_assert_str_eq(c.data.path, "rel/dir");
    f = fopen(path, "w");
    fputs("[data]\npath = /abs/olute\n", f);
    fclose(f);
    ck_assert_int_eq(kr_config_load_file(&c, path), KR_OK);
    ck_assert_str_eq(c.data.path, "/abs/olute");
}
END_TEST

START_TEST(test_write_round_trip)
{
    kr_config a, b;
    kr_config_defaults(&a);
    ck_assert_int_eq(kr_config_set(&a, "model.hidden=5,6"), KR_OK);
    ck_assert_int_eq(kr_config_set(&a, "attack.alpha=123.456789012345"), KR_OK);
    ck_assert_int_eq(kr_config_set(&a, "data.path=/some/where"), KR_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/rt.ini", tmpdir);
    FILE *f = fopen(path, "w");
    kr_config_write(&a, f);
    fclose(f);
    kr_config_defaults(&b);
    ck_assert_int_eq(kr_config_load_file(&b, path), KR_OK);
    ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
}
END_TEST

/* The multiclass / regression keys: values, refusals naming the key, and a round trip. */
START_TEST(test_objective_loss_keys)
{
    kr_config c;
    kr_config_defaults(&c);
    ck_assert_int_eq(c.attack.objective, KR_OBJ_AUTO);
    ck_assert_int_eq(c.train.loss, -1);
    ck_assert(c.train.weight_decay == 0.0 && !c.model.later_biases && c.data.shuffle_seed == 0);
    static const char *const objs[] = {"auto", "binary", "multiclass", "regression"};
    for (int o = 0; o < 4; o++) {
        char set[64];
        snprintf(set, sizeof set, "attack.objective=%s", objs[o]);
        ck_assert_int_eq(kr_config_set(&c, set), KR_OK);
        ck_assert_int_eq(c.attack.objective, o);
        char buf[32];
        ck_assert_int_eq(kr_config_format(&c, "attack.objective", buf, sizeof buf), KR_OK);
        ck_assert_str_eq(buf, objs[o]);
    }
    ck_assert_int_ne(kr_config_set(&c, "attack.objective=ranking"), KR_OK);
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "auto, binary, multiclass or regression"));
    static const char *const losses[] = {"logistic", "cross_entropy", "mse", "huber"};
    for (int l = 0; l < 4; l++) {
        char set[64];
        snprintf(set, sizeof set, "train.loss=%s", losses[l]);
        ck_assert_int_eq(kr_config_set(&c, set), KR_OK);
        ck_assert_int_eq(c.train.loss, l);
    }
    ck_assert_int_eq(kr_config_set(&c, "train.loss=ce"), KR_OK);
    ck_assert_int_eq(c.train.loss, KR_LOSS_CE);
    ck_assert_int_ne(kr_config_set(&c, "train.loss=hinge"), KR_OK);
    ck_assert_int_eq(kr_config_set(&c, "train.weight_decay=-1e-3"), KR_OK);
    ck_assert_int_ne(kr_config_validate(&c), KR_OK); /* range [0, inf) */
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "train.weight_decay"));
    ck_assert_int_eq(kr_config_set(&c, "train.weight_decay=7.5e-4"), KR_OK);
    ck_assert_int_eq(kr_config_set(&c, "model.later_biases=true"), KR_OK);
    ck_assert_int_eq(kr_config_set(&c, "data.shuffle_seed=42"), KR_OK);
    ck_assert_int_eq(kr_config_set(&c, "data.task=multiclass:3,5"), KR_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/mc.ini", tmpdir);
    FILE *f = fopen(path, "w");
    kr_config_write(&c, f);
    fclose(f);
    kr_config b;
    kr_config_defaults(&b);
    ck_assert_int_eq(kr_config_load_file(&b, path), KR_OK);
    ck_assert_int_eq(memcmp(&c, &b, sizeof c), 0);
}
END_TEST

START_TEST(test_shipped_configs_load)
{
    const char *src = getenv("KKTRECON_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/configs", src ? src : "..");
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".ini")) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        kr_config c;
        kr_config_defaults(&c);
        ck_assert_msg(kr_config_load_file(&c, path) == KR_OK, "%s", kr_error_message());
        ck_assert_msg(kr_config_validate(&c) == KR_OK, "%s: %s", path, kr_error_message());
        n++;
    }
    closedir(d);
    ck_assert_int_ge(n, 3);
}
END_TEST

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_file_and_set);
    tcase_add_test(tc, test_errors_name_file_and_line);
    tcase_add_test(tc, test_ranges_and_file_kinds);
    tcase_add_test(tc, test_precision_auto);
    tcase_add_test(tc, test_relative_paths);
    tcase_add_test(tc, test_write_round_trip);
    tcase_add_test(tc, test_objective_loss_keys);
    tcase_add_test(tc, test_shipped_configs_load);
    suite_add_tcase(s, tc);
    int failed = kr_test_run_suite(s, false);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
