/*
 * Unit tests for the default source of common/cred.c: with nothing configured, root asks
 * the installed qqnotify-secret.  "Installed" is BINDIR/qqnotify-secret, BINDIR fixed at
 * build time; here cred.c is compiled into this program with QN_BINDIR pointing at a
 * mkdtemp() directory, so that the host's own installation never decides a result.
 * As root every case runs; as another user each checks that the default is not used.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char test_bindir[64];

#undef QN_BINDIR
#define QN_BINDIR test_bindir
#include "cred.c"

#define SECRET "abcdefghijklmnop" /* the shape of a QQ Mail authorization code */
#define NOT_FOR_OTHER_USERS                                                                        \
    "no secret source: neither $CREDENTIALS_DIRECTORY/qqnotify.smtp nor credential_helper is "     \
    "configured (qqnotify-secret is the default for root only)"

struct fixture {
    struct qn_config cfg;
    struct qn_secret secret;
    struct qn_error err;
    char program[128]; /* test_bindir/qqnotify-secret */
    char asked[128];   /* what it received on stdin, written by the program */
    char source[QN_CRED_SOURCE_MAX];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(test_bindir, sizeof(test_bindir), "/tmp/qn-test-bindir-XXXXXX");
    if (mkdtemp(test_bindir) == NULL || unsetenv("CREDENTIALS_DIRECTORY") != 0) {
        free(f);
        return -1;
    }
    qn_config_defaults(&f->cfg); /* provider qq: smtp.qq.com */
    snprintf(f->cfg.user, sizeof(f->cfg.user), "alice@qq.com");
    snprintf(f->program, sizeof(f->program), "%s/qqnotify-secret", test_bindir);
    snprintf(f->asked, sizeof(f->asked), "%s/asked", test_bindir);
    *state = f;
    return 0;
}

/* The directory holds only what the tests write there. */
static int teardown(void **state)
{
    static const char *const names[] = {"qqnotify-secret", "asked", "configured"};
    struct fixture *f = *state;
    char path[128];
    size_t i;
    int rc = 0;

    qn_secret_wipe(&f->secret);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", test_bindir, names[i]);
        if (unlink(path) != 0 && errno != ENOENT)
            rc = -1;
    }
    if (rmdir(test_bindir) != 0)
        rc = -1;
    free(f);
    return rc;
}

/* An executable shell script PATH with MODE: it saves its arguments and its stdin to
 * f->asked, then runs ANSWER. */
static void program(const struct fixture *f, const char *path, mode_t mode, const char *answer)
{
    char script[1024];
    int fd, n;

    n = snprintf(script, sizeof(script), "#!/bin/sh\n{ echo \"$*\"; cat; } > '%s'\n%s\n", f->asked,
                 answer);
    assert_true(n > 0 && (size_t)n < sizeof(script));
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, script, (size_t)n), n);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

static bool was_asked(const struct fixture *f)
{
    return access(f->asked, F_OK) == 0;
}

static void assert_failure(struct fixture *f, enum qn_status r, const char *detail)
{
    assert_int_equal(r, QN_ECRED);
    assert_int_equal(f->err.stage, QN_STAGE_CREDENTIAL);
    assert_string_equal(f->err.detail, detail);
    assert_null(f->secret.data);
}

static void test_nothing_configured_root_asks_the_installed_qqnotify_secret(void **state)
{
    struct fixture *f = *state;
    char asked[256] = "", source[256];
    enum qn_status r;
    FILE *fp;
    size_t n;

    program(f, f->program, 0755, "echo password=" SECRET);
    r = qn_cred_get(&f->cfg, &f->secret, f->source, &f->err);
    if (geteuid() != 0) {
        assert_failure(f, r, NOT_FOR_OTHER_USERS);
        assert_false(was_asked(f));
        return;
    }
    assert_int_equal(r, QN_OK);
    assert_int_equal(f->secret.len, strlen(SECRET));
    assert_string_equal(f->secret.data, SECRET);
    snprintf(source, sizeof(source), "credential helper `%s` (the default: no source configured)",
             f->program);
    assert_string_equal(f->source, source);
    /* the git-credential request, as to any helper */
    fp = fopen(f->asked, "re");
    assert_non_null(fp);
    n = fread(asked, 1, sizeof(asked) - 1, fp);
    asked[n] = '\0';
    assert_int_equal(fclose(fp), 0);
    assert_string_equal(asked, "get\nprotocol=smtp\nhost=smtp.qq.com\nusername=alice@qq.com\n\n");
}

static void test_nothing_configured_and_nothing_installed_says_so(void **state)
{
    struct fixture *f = *state;
    char detail[256];
    enum qn_status r = qn_cred_get(&f->cfg, &f->secret, f->source, &f->err);

    if (geteuid() != 0) {
        assert_failure(f, r, NOT_FOR_OTHER_USERS);
        return;
    }
    snprintf(detail, sizeof(detail),
             "no secret source: neither $CREDENTIALS_DIRECTORY/qqnotify.smtp nor "
             "credential_helper is configured, and %s is not installed",
             f->program);
    assert_failure(f, r, detail);
    assert_int_equal(f->err.sys_errno, ENOENT);
}

/* A program in BINDIR that a group or everyone may change is not run as root. */
static void test_a_default_helper_others_may_change_is_not_run(void **state)
{
    static const mode_t modes[] = {0775, 0757};
    struct fixture *f = *state;
    char detail[256];
    size_t i;

    snprintf(detail, sizeof(detail),
             "no secret source is configured, and %s is not a program that root owns and only "
             "root may change",
             f->program);
    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        enum qn_status r;

        program(f, f->program, modes[i], "echo password=" SECRET);
        r = qn_cred_get(&f->cfg, &f->secret, f->source, &f->err);
        assert_failure(f, r, geteuid() == 0 ? detail : NOT_FOR_OTHER_USERS);
        assert_false(was_asked(f));
    }
}

static void test_a_configured_helper_wins_over_the_default(void **state)
{
    struct fixture *f = *state;
    char configured[160];

    program(f, f->program, 0755, "echo password=from-the-default");
    snprintf(configured, sizeof(configured), "%s/configured", test_bindir);
    program(f, configured, 0700, "echo password=" SECRET);
    snprintf(f->cfg.credential_helper, sizeof(f->cfg.credential_helper), "%s", configured);
    assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
    assert_string_equal(f->secret.data, SECRET);
}

/* A chat robot route's secret comes from the same default: qqnotify-secret is asked for the
 * route by name, and its answer holds the key and the signing secret. */
static void test_a_route_asks_the_installed_qqnotify_secret_too(void **state)
{
    static const char text[] = "[smtp]\nuser = alice@qq.com\n[route ops]\ntype = dingtalk\n";
    struct fixture *f = *state;
    char asked[256] = "";
    enum qn_status r;
    FILE *fp;
    size_t n;

    assert_int_equal(qn_config_parse(&f->cfg, "t.conf", text, strlen(text), NULL), QN_OK);
    program(f, f->program, 0755, "printf 'password=0c23ab\\nqqnotify_signing_secret=SECfeed\\n'");
    r = qn_cred_get_route(&f->cfg, "ops", &f->secret, f->source, &f->err);
    if (geteuid() != 0) {
        assert_failure(f, r,
                       "no secret source for route ops: neither "
                       "$CREDENTIALS_DIRECTORY/qqnotify.route.ops nor credential_helper is "
                       "configured (qqnotify-secret is the default for root only)");
        assert_false(was_asked(f));
        return;
    }
    assert_int_equal(r, QN_OK);
    assert_string_equal(f->secret.data, "0c23ab\nSECfeed");
    fp = fopen(f->asked, "re");
    assert_non_null(fp);
    n = fread(asked, 1, sizeof(asked) - 1, fp);
    asked[n] = '\0';
    assert_int_equal(fclose(fp), 0);
    assert_string_equal(asked, "get\nprotocol=qqnotify-route\nhost=ops\nusername=\n\n");
}

static void test_a_route_without_any_source_is_explained(void **state)
{
    static const char text[] = "[smtp]\nuser = alice@qq.com\n[route ops]\ntype = wecom\n";
    struct fixture *f = *state;
    char detail[512];
    enum qn_status r;

    assert_int_equal(qn_config_parse(&f->cfg, "t.conf", text, strlen(text), NULL), QN_OK);
    r = qn_cred_get_route(&f->cfg, "ops", &f->secret, f->source, &f->err);
    if (geteuid() != 0)
        snprintf(detail, sizeof(detail), "%s",
                 "no secret source for route ops: neither "
                 "$CREDENTIALS_DIRECTORY/qqnotify.route.ops nor credential_helper is "
                 "configured (qqnotify-secret is the default for root only)");
    else
        snprintf(detail, sizeof(detail),
                 "no secret source for route ops: neither "
                 "$CREDENTIALS_DIRECTORY/qqnotify.route.ops nor credential_helper is "
                 "configured, and %s is not installed",
                 f->program);
    assert_failure(f, r, detail);
}

/* A configured file that is missing is an error of its own: nothing else is asked. */
static void test_a_missing_credential_file_does_not_fall_back_to_the_default(void **state)
{
    struct fixture *f = *state;
    char detail[256];
    enum qn_status r;

    program(f, f->program, 0755, "echo password=" SECRET);
    snprintf(f->cfg.credential_file, sizeof(f->cfg.credential_file), "%s/missing", test_bindir);
    r = qn_cred_get(&f->cfg, &f->secret, f->source, &f->err);
    snprintf(detail, sizeof(detail),
             "credential file %s/missing does not exist, and no credential_helper is configured",
             test_bindir);
    assert_failure(f, r, detail);
    assert_false(was_asked(f));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_nothing_configured_root_asks_the_installed_qqnotify_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_configured_and_nothing_installed_says_so,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_default_helper_others_may_change_is_not_run, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_configured_helper_wins_over_the_default, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_missing_credential_file_does_not_fall_back_to_the_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_route_asks_the_installed_qqnotify_secret_too, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_route_without_any_source_is_explained, setup,
                                        teardown),
    };

    return cmocka_run_group_tests_name("cred_default", tests, NULL, NULL);
}
