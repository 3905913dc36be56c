/*
 * Unit tests for common/spoolowner.c: the spool's layout made exactly
 * (owners, groups, modes), twice without a change, refused with nothing
 * changed when a directory is wrong, the owners looked up, and the
 * sender's giving up root for good.  Root's: chown needs it (the owners
 * are the system's "nobody" and "nogroup").
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "spoolowner.h"
#include "tmpdir.h"

struct fixture {
    char dir[64], spool[96];
    struct qn_config_queue q;
    struct qn_spoolowner o;
};

/* As another user, end the test as not run: tests/run.sh counts the line and the skip as
 * "not run: needs root: WHY". */
static void needs_root(const char *why)
{
    if (geteuid() != 0) {
        print_message("needs root: %s\n", why);
        skip();
    }
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    enum qn_spoolowner_missing missing;

    if (f == NULL || tmpdir_make(f->dir, sizeof(f->dir), "spoolowner") != 0)
        return -1;
    snprintf(f->spool, sizeof(f->spool), "%s/spool", f->dir);
    snprintf(f->q.user, sizeof(f->q.user), "nobody");
    snprintf(f->q.drop_group, sizeof(f->q.drop_group), "%s",
             getgrnam("nogroup") != NULL ? "nogroup" : "nobody");
    if (qn_spoolowner_resolve(&f->q, &f->o, &missing) != QN_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = tmpdir_remove(f->dir);

    free(f);
    return rc;
}

static void assert_dir(const char *path, unsigned mode, unsigned long long uid,
                       unsigned long long gid)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    if ((st.st_mode & 07777) != mode || st.st_uid != uid || st.st_gid != gid)
        fail_msg("%s: %04o %u:%u, want %04o %llu:%llu", path, (unsigned)(st.st_mode & 07777),
                 (unsigned)st.st_uid, (unsigned)st.st_gid, mode, uid, gid);
}

static void test_init_makes_the_layout_and_a_second_run_changes_nothing(void **state)
{
    static const char *const queues[] = {"tmp", "new", "deferred", "failed", "state"};
    struct fixture *f = *state;
    struct qn_spoolowner_report rep;
    char path[160];

    needs_root("chown to another user");
    assert_int_equal(qn_spoolowner_check(f->spool, &f->o, &rep), QN_ENOTFOUND);
    assert_int_equal(qn_spoolowner_init(f->spool, &f->o, &rep), QN_OK);
    assert_int_equal(rep.n, QN_SPOOLOWNER_DIRS);
    for (size_t i = 0; i < rep.n; i++)
        assert_int_equal(rep.dirs[i].state, QN_SPOOLOWNER_CREATED);
    assert_dir(f->spool, 0711, f->o.uid, f->o.gid);
    snprintf(path, sizeof(path), "%s/maildrop", f->spool);
    assert_dir(path, 01730, f->o.uid, f->o.drop_gid);
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), "%s/%s", f->spool, queues[i]);
        assert_dir(path, 02700, f->o.uid, f->o.gid);
    }
    assert_int_equal(qn_spoolowner_init(f->spool, &f->o, &rep), QN_OK);
    for (size_t i = 0; i < rep.n; i++)
        assert_int_equal(rep.dirs[i].state, QN_SPOOLOWNER_OK);
    assert_int_equal(qn_spoolowner_check(f->spool, &f->o, &rep), QN_OK);
}

static void test_a_wrong_directory_is_named_and_nothing_is_changed(void **state)
{
    struct fixture *f = *state;
    struct qn_spoolowner_report rep;
    char path[160];

    needs_root("chown to another user");
    assert_int_equal(qn_spoolowner_init(f->spool, &f->o, &rep), QN_OK);
    /* The old layout on new/, maildrop/ gone, tmp/ a symlink. */
    snprintf(path, sizeof(path), "%s/new", f->spool);
    assert_int_equal(chown(path, 0, f->o.gid), 0);
    assert_int_equal(chmod(path, 02770), 0);
    snprintf(path, sizeof(path), "%s/maildrop", f->spool);
    assert_int_equal(rmdir(path), 0);
    snprintf(path, sizeof(path), "%s/tmp", f->spool);
    assert_int_equal(rmdir(path), 0);
    assert_int_equal(symlink("/tmp", path), 0);
    assert_int_equal(qn_spoolowner_init(f->spool, &f->o, &rep), QN_ECONFIG);
    assert_string_equal(rep.dirs[1].name, "maildrop");
    assert_int_equal(rep.dirs[1].state, QN_SPOOLOWNER_ABSENT);
    assert_string_equal(rep.dirs[2].name, "tmp");
    assert_int_equal(rep.dirs[2].state, QN_SPOOLOWNER_NOT_DIR);
    assert_string_equal(rep.dirs[3].name, "new");
    assert_int_equal(rep.dirs[3].state, QN_SPOOLOWNER_WRONG);
    assert_int_equal(rep.dirs[3].have_mode, 02770);
    assert_true(rep.dirs[3].have_uid == 0);
    assert_int_equal(rep.dirs[3].want_mode, 02700);
    assert_true(rep.dirs[3].want_uid == f->o.uid);
    /* Refused: maildrop/ was not made. */
    snprintf(path, sizeof(path), "%s/maildrop", f->spool);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_owners_that_do_not_exist_are_named(void **state)
{
    struct qn_config_queue q;
    struct qn_spoolowner o;
    enum qn_spoolowner_missing missing;

    (void)state;
    memset(&q, 0, sizeof(q));
    snprintf(q.user, sizeof(q.user), "qn-no-such-user-42");
    snprintf(q.drop_group, sizeof(q.drop_group), "root");
    assert_int_equal(qn_spoolowner_resolve(&q, &o, &missing), QN_ENOTFOUND);
    assert_int_equal(missing, QN_SPOOLOWNER_NO_USER);
    snprintf(q.user, sizeof(q.user), "root");
    snprintf(q.drop_group, sizeof(q.drop_group), "qn-no-such-group-42");
    assert_int_equal(qn_spoolowner_resolve(&q, &o, &missing), QN_ENOTFOUND);
    assert_int_equal(missing, QN_SPOOLOWNER_NO_DROP_GROUP);
    snprintf(q.drop_group, sizeof(q.drop_group), "root");
    assert_int_equal(qn_spoolowner_resolve(&q, &o, &missing), QN_OK);
    assert_string_equal(o.user, "root");
    assert_string_equal(o.group, "root");
    assert_true(o.uid == 0 && o.gid == 0 && o.drop_gid == 0);
}

static void test_becoming_the_spool_user_is_for_good(void **state)
{
    struct fixture *f = *state;
    int status;
    pid_t pid;

    needs_root("becoming another user (setresuid)");
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        gid_t groups[4];

        if (qn_spoolowner_become(&f->o) != QN_OK)
            _exit(1);
        if (getuid() != f->o.uid || geteuid() != f->o.uid || getgid() != f->o.gid ||
            getegid() != f->o.gid || getgroups(4, groups) != 0)
            _exit(2);
        if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
            _exit(3);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* fs.suid_dumpable 1 or 2 would make a process dumpable again when it changes uid; the
 * sender holds the credential read as root by then. */
static bool set_suid_dumpable(const char *value, char *old, size_t old_size)
{
    FILE *fp = fopen("/proc/sys/fs/suid_dumpable", "r+");
    bool ok;

    if (fp == NULL)
        return false;
    ok = fgets(old, (int)old_size, fp) != NULL && fseek(fp, 0, SEEK_SET) == 0 &&
         fputs(value, fp) >= 0;
    return fclose(fp) == 0 && ok;
}

static void test_the_spool_user_is_not_dumpable_whatever_suid_dumpable_says(void **state)
{
    struct fixture *f = *state;
    char old[16] = "";
    int status;
    pid_t pid;

    needs_root("setting fs.suid_dumpable and becoming another user");
    if (!set_suid_dumpable("2\n", old, sizeof(old))) {
        print_message("needs a writable /proc/sys/fs/suid_dumpable\n");
        skip();
    }
    pid = fork();
    if (pid == 0) {
        if (qn_spoolowner_become(&f->o) != QN_OK)
            _exit(1);
        _exit(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 ? 0 : 2);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(set_suid_dumpable(old, (char[16]){0}, 16));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_init_makes_the_layout_and_a_second_run_changes_nothing),
        T(test_a_wrong_directory_is_named_and_nothing_is_changed),
        T(test_owners_that_do_not_exist_are_named),
        T(test_becoming_the_spool_user_is_for_good),
        T(test_the_spool_user_is_not_dumpable_whatever_suid_dumpable_says),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
