/*
 * The systemd-creds backend: one encrypted credential file per host,
 * CREDSTORE/qqnotify.smtp, that a unit loads with
 * LoadCredentialEncrypted=qqnotify.smtp:/etc/credstore.encrypted/qqnotify.smtp.
 *
 * We run the systemd-creds program instead of re-implementing its file
 * format: the format and its keys (the host key in
 * /var/lib/systemd/credential.secret, a TPM2 when asked) belong to systemd,
 * and PID 1 must be able to decrypt what we write.  The tool runs through
 * qn_spawn_run() (spawn.h): the secret goes to it on its stdin and comes
 * back from its stdout straight into a locked buffer (secret.h); it is
 * never in the child's argv or environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "spawn.h"

#define TOOL_NAME   "systemd-creds"
#define ERRTEXT_MAX 2048 /* what we keep of the tool's stderr; the rest is read and dropped */

bool qns_creds_path(const struct qns_target *target, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s/%s", target->credstore, target->cred_name);

    return n > 0 && (size_t)n < outsz;
}

enum qn_status qns_creds_tool(char *out, size_t outsz, struct qn_error *err)
{
    const char *path = getenv("PATH");

    if (qn_spawn_find_program(TOOL_NAME, out, outsz) == QN_OK)
        return QN_OK;
    if (path == NULL || *path == '\0')
        path = QN_SPAWN_DEFAULT_PATH;
    return qns_fail(err, QN_ENOSERVICE, 0, "%s not found in PATH=%s", TOOL_NAME, path);
}

/* The tool's last non-empty stderr line: the error itself (earlier lines are
 * warnings such as "not located on encrypted media"). */
static const char *last_line(char *text)
{
    char *end = text + strlen(text);
    char *start;

    while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
        end--;
    *end = '\0';
    start = end;
    while (start > text && start[-1] != '\n')
        start--;
    return start;
}

/* The system call behind a failed step of qn_spawn_run(), for the detail. */
static const char *step_call(enum qn_spawn_step step)
{
    switch (step) {
    case QN_SPAWN_STEP_SETUP:
        return "pipe";
    case QN_SPAWN_STEP_FORK:
        return "start " TOOL_NAME;
    case QN_SPAWN_STEP_WAIT:
        return "waitpid";
    default:
        return "read from " TOOL_NAME;
    }
}

/*
 * Run the tool (ARGV[0] an absolute path), IN (or nothing) on its stdin,
 * its stdout appended to OUT (or /dev/null), within TIMEOUT_S, and judge
 * how it ended.  QN_OK when it exited 0; QN_ESERVICE (its last stderr line
 * in the detail), QN_ENOSERVICE (could not be executed), QN_ETIMEOUT (it
 * was killed), QN_ETOOBIG (stdout larger than OUT can hold), QN_EIO.  OUT
 * is unchanged on failure.
 */
static enum qn_status run_tool(const char *const *argv, const struct qn_secret *in,
                               struct qn_secret *out, unsigned timeout_s, struct qn_error *err)
{
    char errtext[ERRTEXT_MAX + 1];
    struct qn_spawn_program run;
    struct qn_spawn_result res;
    enum qn_status r;
    int st;

    memset(&run, 0, sizeof(run));
    run.path = argv[0];
    run.argv = (char *const *)argv;
    if (in != NULL) {
        run.input = in->data;
        run.input_len = in->len;
    }
    if (out != NULL) {
        run.output = out->data + out->len;
        run.output_cap = out->cap - out->len;
    }
    run.errors = errtext;
    run.errors_size = sizeof(errtext);
    run.timeout_ms = (int)timeout_s * 1000;
    r = qn_spawn_run(&run, &res);
    if (r == QN_ETIMEOUT)
        return qns_fail(err, QN_ETIMEOUT, 0, "%s did not finish within %u s", TOOL_NAME, timeout_s);
    if (r == QN_ETOOBIG)
        return qns_fail(err, QN_ETOOBIG, 0, "%s answered more than %zu bytes", TOOL_NAME,
                        run.output_cap);
    if (r != QN_OK && res.failed_step == QN_SPAWN_STEP_EXEC)
        return qns_fail(err, QN_ENOSERVICE, 0, "could not execute %s", argv[0]);
    if (r != QN_OK)
        return qns_fail(err, QN_EIO, res.sys_errno, "%s", step_call(res.failed_step));
    st = res.wait_status;
    if (WIFSIGNALED(st))
        r = qns_fail(err, QN_ESERVICE, 0, "%s %s killed by signal %d: %s", TOOL_NAME, argv[1],
                     WTERMSIG(st), last_line(errtext));
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        r = qns_fail(err, QN_ESERVICE, 0, "%s %s exited with status %d: %s", TOOL_NAME, argv[1],
                     WIFEXITED(st) ? WEXITSTATUS(st) : -1, last_line(errtext));
    if (r != QN_OK) {
        if (run.output != NULL)
            explicit_bzero(run.output, res.output_len);
        return r;
    }
    if (out != NULL) {
        out->len += res.output_len;
        out->data[out->len] = '\0';
    }
    return QN_OK;
}

/* Open the credstore directory, creating it (0700, as systemd's tmpfiles.d
 * does) when it does not exist yet. */
static enum qn_status open_credstore(const struct qns_target *target, int *ret_fd,
                                     struct qn_error *err)
{
    int fd = open(target->credstore, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e;

    if (fd < 0 && errno == ENOENT) {
        if (mkdir(target->credstore, 0700) < 0 && errno != EEXIST) {
            e = errno;
            return qns_fail(err, e == EACCES || e == EPERM ? QN_EPERM : QN_EIO, e, "mkdir %s",
                            target->credstore);
        }
        fd = open(target->credstore, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0) {
        e = errno;
        return qns_fail(err, e == EACCES || e == EPERM ? QN_EPERM : QN_EIO, e, "open %s",
                        target->credstore);
    }
    *ret_fd = fd;
    return QN_OK;
}

/* Make the file the tool wrote private and durable before it gets its name. */
static enum qn_status seal_file(const char *path, struct qn_error *err)
{
    enum qn_status r;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return qns_fail(err, QN_EIO, errno, "open %s", path);
    if (fstat(fd, &st) < 0)
        r = qns_fail(err, QN_EIO, errno, "fstat %s", path);
    else if (!S_ISREG(st.st_mode) || st.st_size == 0)
        r = qns_fail(err, QN_ESERVICE, 0, "%s wrote no credential to %s", TOOL_NAME, path);
    /* umask 077 already made it 0600; say so explicitly in case the tool
     * ever chooses its own mode. */
    else if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0600) < 0)
        r = qns_fail(err, QN_EIO, errno, "chmod 0600 %s", path);
    else if (fsync(fd) < 0)
        r = qns_fail(err, QN_EIO, errno, "fsync %s", path);
    else
        r = QN_OK;
    close(fd);
    return r;
}

enum qn_status qns_creds_store(const struct qns_target *target, const struct qn_secret *secret,
                               struct qn_error *err)
{
    char tool[4096], path[4096], tmp[4096], key_arg[64], name_arg[128];
    const char *argv[7];
    enum qn_status r;
    int dirfd = -1, fd;
    int n;

    tmp[0] = '\0';
    if (!qns_creds_path(target, path, sizeof(path))) {
        r = qns_fail(err, QN_EIO, ENAMETOOLONG, "%s", target->credstore);
        goto out;
    }
    if (geteuid() != 0) {
        r = qns_fail(err, QN_EPERM, 0, "writing %s", path);
        goto out;
    }
    r = qns_creds_tool(tool, sizeof(tool), err);
    if (r != QN_OK)
        goto out;
    r = open_credstore(target, &dirfd, err);
    if (r != QN_OK)
        goto out;

    n = snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", target->credstore, target->cred_name);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        tmp[0] = '\0';
        r = qns_fail(err, QN_EIO, ENAMETOOLONG, "%s", target->credstore);
        goto out;
    }
    /* Reserve a fresh name (O_EXCL, 0600) for the tool to write into. */
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        tmp[0] = '\0';
        r = qns_fail(err, QN_EIO, errno, "create a temporary file in %s", target->credstore);
        goto out;
    }
    close(fd);

    n = snprintf(key_arg, sizeof(key_arg), "--with-key=%s", target->with_key);
    if (n < 0 || (size_t)n >= sizeof(key_arg)) {
        r = qns_fail(err, QN_EIO, EINVAL, "--with-key=%s", target->with_key);
        goto out;
    }
    n = snprintf(name_arg, sizeof(name_arg), "--name=%s", target->cred_name);
    if (n < 0 || (size_t)n >= sizeof(name_arg)) {
        r = qns_fail(err, QN_EIO, EINVAL, "--name=%s", target->cred_name);
        goto out;
    }
    argv[0] = tool;
    argv[1] = "encrypt";
    argv[2] = name_arg;
    argv[3] = key_arg;
    argv[4] = "-"; /* plaintext from stdin */
    argv[5] = tmp;
    argv[6] = NULL;
    r = run_tool(argv, secret, NULL, target->timeout_s, err);
    if (r != QN_OK)
        goto out;
    r = seal_file(tmp, err);
    if (r != QN_OK)
        goto out;
    if (rename(tmp, path) < 0) {
        r = qns_fail(err, QN_EIO, errno, "rename to %s", path);
        goto out;
    }
    tmp[0] = '\0';
    /* The rename is durable only once the directory is on disk. */
    if (fsync(dirfd) < 0) {
        r = qns_fail(err, QN_EIO, errno, "fsync %s", target->credstore);
        goto out;
    }
    r = QN_OK;
out:
    if (tmp[0] != '\0')
        (void)unlink(tmp);
    if (dirfd >= 0)
        close(dirfd);
    return r;
}

enum qn_status qns_creds_exists(const struct qns_target *target, struct qn_error *err)
{
    char path[4096];
    struct stat st;
    int e;

    if (!qns_creds_path(target, path, sizeof(path)))
        return qns_fail(err, QN_EIO, ENAMETOOLONG, "%s", target->credstore);
    if (stat(path, &st) < 0) {
        e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return qns_fail(err, QN_ENOTFOUND, 0, "%s", path);
        return qns_fail(err, e == EACCES ? QN_EPERM : QN_EIO, e, "%s", path);
    }
    if (!S_ISREG(st.st_mode))
        return qns_fail(err, QN_EIO, EINVAL, "%s is not a regular file", path);
    return QN_OK;
}

enum qn_status qns_creds_lookup(const struct qns_target *target, struct qn_secret *ret,
                                struct qn_error *err)
{
    char tool[4096], path[4096], name_arg[128];
    const char *argv[6];
    int n;
    enum qn_status r;

    r = qns_creds_exists(target, err);
    if (r != QN_OK)
        goto out;
    (void)qns_creds_path(target, path, sizeof(path)); /* fits: exists() built the same path */
    if (geteuid() != 0) {
        /* The file is 0600 root and the host key root's own. */
        r = qns_fail(err, QN_EPERM, 0, "reading %s", path);
        goto out;
    }
    r = qns_creds_tool(tool, sizeof(tool), err);
    if (r != QN_OK)
        goto out;
    n = snprintf(name_arg, sizeof(name_arg), "--name=%s", target->cred_name);
    if (n < 0 || (size_t)n >= sizeof(name_arg)) {
        r = qns_fail(err, QN_EIO, EINVAL, "--name=%s", target->cred_name);
        goto out;
    }
    argv[0] = tool;
    argv[1] = "decrypt";
    argv[2] = name_arg; /* refuse a file renamed from another credential */
    argv[3] = path;
    argv[4] = "-"; /* plaintext to stdout */
    argv[5] = NULL;
    r = run_tool(argv, NULL, ret, target->timeout_s, err);
    if (r != QN_OK)
        goto out;
    /* `echo code | systemd-creds encrypt` stores a newline; drop one. */
    if (ret->len > 0 && ret->data[ret->len - 1] == '\n')
        ret->data[--ret->len] = '\0';
    if (ret->len > 0 && ret->data[ret->len - 1] == '\r')
        ret->data[--ret->len] = '\0';
    if (ret->len == 0) {
        r = qns_fail(err, QN_ESERVICE, 0, "%s holds an empty secret", path);
        goto out;
    }
    r = QN_OK;
out:
    if (r != QN_OK)
        qn_secret_clear(ret);
    return r;
}

enum qn_status qns_creds_erase(const struct qns_target *target, struct qn_error *err)
{
    char path[4096];
    enum qn_status r;
    int dirfd = -1, e;

    r = qns_creds_exists(target, err);
    if (r != QN_OK)
        goto out;
    (void)qns_creds_path(target, path, sizeof(path)); /* fits: exists() built the same path */
    if (unlink(path) < 0) {
        e = errno;
        r = e == ENOENT ? QN_ENOTFOUND : e == EACCES || e == EPERM ? QN_EPERM : QN_EIO;
        (void)qns_fail(err, r, e, "remove %s", path);
        goto out;
    }
    dirfd = open(target->credstore, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0 || fsync(dirfd) < 0) {
        r = qns_fail(err, QN_EIO, errno, "fsync %s", target->credstore);
        goto out;
    }
    r = QN_OK;
out:
    if (dirfd >= 0)
        close(dirfd);
    return r;
}
