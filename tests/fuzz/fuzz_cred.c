/*
 * fuzz_cred — the readers of git's credential protocol (gitcred.h), on the
 * same input: the helper's reply as qqnotify reads it
 * (qn_gitcred_parse_reply, and qn_gitcred_parse_route_reply for a chat
 * robot route) and the request as qqnotify-secret reads it
 * (qn_gitcred_parse_request).
 *
 * Models written from gitcred.h decide every outcome.  Both: "key=value"
 * lines ending in LF (a CR before it dropped), read up to the first empty
 * line or the end of the text, the last line of a key winning.
 *
 * Reply: a NUL anywhere, or a non-empty line without '=' or starting with
 * it: QN_EINVAL; no password or an empty one: QN_ENOTFOUND; one over
 * QN_SECRET_MAX bytes: QN_ETOOBIG.  On QN_OK the secret holds exactly the
 * password bytes, NUL-terminated, and wiping leaves an empty secret; on
 * failure the secret passed in is untouched.
 *
 * Route reply: the same, and the last QN_GITCRED_SIGNING_KEY line, when
 * not empty, follows the password after a line break ("ID\nSIGNING"), the
 * whole within QN_SECRET_MAX.  Writing a route reply for the input's first
 * two lines and reading it back gives those lines (a CR before a line end
 * dropped), or writing refuses them (an empty part, a control character).
 *
 * Request: a non-empty line without '=', or a value with a control
 * character: QN_EINVAL; protocol over QN_GITCRED_PROTOCOL_MAX, host or
 * username over QN_GITCRED_FIELD_MAX, password over QN_SECRET_MAX bytes:
 * QN_ETOOBIG (the first bad line decides, and bad_key names its key).  On
 * QN_OK the fields hold the last values, host without a ":port" suffix,
 * the password in its secret; on failure the password is wiped.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "gitcred.h"

/* One line of the text at *POS: false at the end of the message. */
static bool model_line(const char *t, size_t len, size_t *pos, const char **ret_line, size_t *ret_n)
{
    const char *line = t + *pos, *nl;
    size_t n;

    if (*pos >= len)
        return false;
    nl = memchr(line, '\n', len - *pos);
    n = nl ? (size_t)(nl - line) : len - *pos;
    *pos += n + (nl ? 1 : 0);
    if (n > 0 && line[n - 1] == '\r')
        n--;
    *ret_line = line;
    *ret_n = n;
    return n > 0;
}

static enum qn_status model_reply(const char *t, size_t len, const char **ret_pw, size_t *ret_n)
{
    const char *pw = NULL, *line;
    size_t pw_n = 0, pos = 0, n;

    if (len > 0 && memchr(t, '\0', len) != NULL)
        return QN_EINVAL;
    while (model_line(t, len, &pos, &line, &n)) {
        if (line[0] == '=' || memchr(line, '=', n) == NULL)
            return QN_EINVAL;
        if (n >= 9 && memcmp(line, "password=", 9) == 0) {
            pw = line + 9;
            pw_n = n - 9;
        }
    }
    if (pw == NULL || pw_n == 0)
        return QN_ENOTFOUND;
    if (pw_n > QN_SECRET_MAX)
        return QN_ETOOBIG;
    *ret_pw = pw;
    *ret_n = pw_n;
    return QN_OK;
}

static enum qn_status model_route_reply(const char *t, size_t len, const char **ret_pw,
                                        size_t *ret_n, const char **ret_sign, size_t *ret_sign_n)
{
    static const char key[] = QN_GITCRED_SIGNING_KEY "=";
    const char *sign = NULL, *line;
    size_t sign_n = 0, pos = 0, n;
    enum qn_status r = model_reply(t, len, ret_pw, ret_n);

    if (r != QN_OK)
        return r;
    while (model_line(t, len, &pos, &line, &n)) {
        if (n >= sizeof key - 1 && memcmp(line, key, sizeof key - 1) == 0) {
            sign = line + sizeof key - 1;
            sign_n = n - (sizeof key - 1);
        }
    }
    if (sign_n > 0 && *ret_n + 1 + sign_n > QN_SECRET_MAX)
        return QN_ETOOBIG;
    *ret_sign = sign;
    *ret_sign_n = sign_n;
    return QN_OK;
}

static void check_route_reply(const char *t, size_t size)
{
    struct qn_secret s, before;
    const char *pw = NULL, *sign = NULL;
    size_t pw_n = 0, sign_n = 0;
    enum qn_status r, want;

    memset(&s, 0, sizeof s);
    s.len = 7;
    before = s;
    want = model_route_reply(t, size, &pw, &pw_n, &sign, &sign_n);
    r = qn_gitcred_parse_route_reply(t, size, &s);
    FUZZ_ASSERT(r == want, "parse_route_reply status differs from the contract");
    if (r != QN_OK) {
        FUZZ_ASSERT(memcmp(&s, &before, sizeof s) == 0, "a failed parse changed the secret");
        return;
    }
    FUZZ_ASSERT(s.data != NULL && s.len == pw_n + (sign_n > 0 ? 1 + sign_n : 0) &&
                    memcmp(s.data, pw, pw_n) == 0 && s.data[s.len] == '\0',
                "the route secret does not start with the password bytes");
    if (sign_n > 0)
        FUZZ_ASSERT(s.data[pw_n] == '\n' && memcmp(s.data + pw_n + 1, sign, sign_n) == 0,
                    "the signing secret does not follow the password");
    qn_secret_wipe(&s);
    FUZZ_ASSERT(s.data == NULL && s.len == 0, "wipe did not leave an empty secret");
}

/* The input up to its second line break as a route's secret: write its reply, read it back. */
static void check_route_round_trip(const char *t, size_t size)
{
    const char *nl = memchr(t, '\n', size);
    const char *nl2 = nl != NULL ? memchr(nl + 1, '\n', size - (size_t)(nl + 1 - t)) : NULL;
    size_t len = nl2 != NULL ? (size_t)(nl2 - t) : size;
    size_t id_n = nl != NULL ? (size_t)(nl - t) : len;
    const char *sign = nl != NULL ? nl + 1 : NULL;
    size_t sign_n = nl != NULL ? len - id_n - 1 : 0;
    struct qn_secret reply = {0}, back = {0};
    enum qn_status r;

    r = qn_gitcred_write_route_reply(t, len, &reply);
    if (r != QN_OK) {
        FUZZ_ASSERT(r == QN_EINVAL || r == QN_ETOOBIG || r == QN_ENOMEM,
                    "write_route_reply status");
        FUZZ_ASSERT(reply.data == NULL, "a failed write left a reply");
        return;
    }
    if (id_n > 0 && t[id_n - 1] == '\r')
        id_n--;
    if (sign_n > 0 && sign[sign_n - 1] == '\r')
        sign_n--;
    FUZZ_ASSERT(id_n > 0 && (sign == NULL || sign_n > 0), "an empty part was written");
    for (size_t i = 0; i < id_n; i++)
        FUZZ_ASSERT((unsigned char)t[i] >= 0x20 && t[i] != 0x7f, "a control character written");
    for (size_t i = 0; i < sign_n; i++)
        FUZZ_ASSERT((unsigned char)sign[i] >= 0x20 && sign[i] != 0x7f,
                    "a control character written");
    r = qn_gitcred_parse_route_reply(reply.data, reply.len, &back);
    FUZZ_ASSERT(r == QN_OK, "a written route reply does not read back");
    FUZZ_ASSERT(back.len == id_n + (sign != NULL ? 1 + sign_n : 0) &&
                    memcmp(back.data, t, id_n) == 0 &&
                    (sign == NULL ||
                     (back.data[id_n] == '\n' && memcmp(back.data + id_n + 1, sign, sign_n) == 0)),
                "a route reply read back is not what was written");
    qn_secret_wipe(&reply);
    qn_secret_wipe(&back);
}

static void check_reply(const char *t, size_t size)
{
    struct qn_secret s, before;
    const char *pw = NULL;
    size_t pw_n = 0;
    enum qn_status r, want;

    memset(&s, 0, sizeof s);
    s.len = 7; /* a marker: a failed parse must leave the struct as it was */
    before = s;
    want = model_reply(t, size, &pw, &pw_n);
    r = qn_gitcred_parse_reply(t, size, &s);
    FUZZ_ASSERT(r == want, "parse_reply status differs from the contract");
    if (r != QN_OK) {
        FUZZ_ASSERT(memcmp(&s, &before, sizeof s) == 0, "a failed parse changed the secret");
        return;
    }
    FUZZ_ASSERT(s.data != NULL && s.len == pw_n && memcmp(s.data, pw, pw_n) == 0 &&
                    s.data[pw_n] == '\0',
                "the secret is not the password bytes");
    qn_secret_wipe(&s);
    FUZZ_ASSERT(s.data == NULL && s.len == 0, "wipe did not leave an empty secret");
}

/* The request's expected fields: pointers into the input. */
struct model_request {
    const char *value[4]; /* protocol, host, username, password */
    size_t n[4];
    const char *bad_key;
    size_t bad_key_n;
};

static const char *const keys[4] = {"protocol", "host", "username", "password"};
static const size_t bounds[4] = {QN_GITCRED_PROTOCOL_MAX, QN_GITCRED_FIELD_MAX,
                                 QN_GITCRED_FIELD_MAX, QN_SECRET_MAX};

static enum qn_status model_request(const char *t, size_t len, struct model_request *m)
{
    const char *line, *eq;
    size_t pos = 0, n, k, i;

    memset(m, 0, sizeof *m);
    for (k = 0; k < 4; k++)
        m->value[k] = ""; /* not given */
    while (model_line(t, len, &pos, &line, &n)) {
        eq = memchr(line, '=', n);
        m->bad_key = line;
        m->bad_key_n = eq ? (size_t)(eq - line) : n;
        if (eq == NULL)
            return QN_EINVAL;
        for (i = (size_t)(eq - line) + 1; i < n; i++) {
            if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
                return QN_EINVAL;
        }
        for (k = 0; k < 4; k++) {
            if (m->bad_key_n == strlen(keys[k]) && memcmp(line, keys[k], m->bad_key_n) == 0) {
                if (n - m->bad_key_n - 1 > bounds[k])
                    return QN_ETOOBIG;
                m->value[k] = eq + 1;
                m->n[k] = n - m->bad_key_n - 1;
            }
        }
    }
    return QN_OK;
}

/* Whether HOST (N bytes) loses a ":port" suffix: its length after parsing. */
static size_t model_host_len(const char *host, size_t n)
{
    const char *colon = NULL;
    size_t i, colons = 0;

    for (i = 0; i < n; i++) {
        if (host[i] == ':') {
            colon = host + i;
            colons++;
        }
    }
    if (colon == NULL || colon == host + n - 1)
        return n;
    for (i = (size_t)(colon - host) + 1; i < n; i++) {
        if (host[i] < '0' || host[i] > '9')
            return n;
    }
    if (host[0] == '[')
        return colon > host && colon[-1] == ']' ? (size_t)(colon - host) : n;
    return colons == 1 ? (size_t)(colon - host) : n;
}

static bool field_is(const char *field, const char *want, size_t n)
{
    return strlen(field) == n && memcmp(field, want, n) == 0;
}

static void check_request(const char *t, size_t size)
{
    struct qn_gitcred_request req;
    struct model_request m;
    enum qn_status r, want;
    char shown[QN_GITCRED_KEY_SHOWN + 1];
    size_t i;

    want = model_request(t, size, &m);
    r = qn_gitcred_parse_request(t, size, &req);
    FUZZ_ASSERT(r == want, "parse_request status differs from the contract");
    if (r != QN_OK) {
        for (i = 0; i < m.bad_key_n && i < QN_GITCRED_KEY_SHOWN; i++) {
            unsigned char c = (unsigned char)m.bad_key[i];

            shown[i] = c >= 0x21 && c < 0x7f ? (char)c : '?';
        }
        shown[i] = '\0';
        FUZZ_ASSERT(strcmp(req.bad_key, shown) == 0, "bad_key does not name the key");
        FUZZ_ASSERT(req.password.data == NULL, "a failed parse kept the password");
        qn_gitcred_request_wipe(&req);
        return;
    }
    FUZZ_ASSERT(field_is(req.protocol, m.value[0], m.n[0]), "protocol differs");
    FUZZ_ASSERT(field_is(req.host, m.value[1], model_host_len(m.value[1], m.n[1])), "host differs");
    FUZZ_ASSERT(field_is(req.username, m.value[2], m.n[2]), "username differs");
    FUZZ_ASSERT(req.password.len == m.n[3] &&
                    (m.n[3] == 0 || memcmp(req.password.data, m.value[3], m.n[3]) == 0),
                "password differs");
    qn_gitcred_request_wipe(&req);
    FUZZ_ASSERT(req.password.data == NULL, "wipe left the password");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_reply((const char *)data, size);
    check_route_reply((const char *)data, size);
    check_route_round_trip((const char *)data, size);
    check_request((const char *)data, size);
    return 0;
}
