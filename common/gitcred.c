/*
 * gitcred — git's credential helper protocol, both directions; contract in
 * gitcred.h.  One line reader (next_line) frames every message; the two
 * parsers differ only in what they accept, as the header says.
 */
#include "gitcred.h"

#include <stdio.h>
#include <string.h>

/* One "key=value" line; value is NULL when the line has no '='. */
struct line {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
};

/*
 * The line at *POS of the LEN bytes at TEXT into *OUT, *POS moved past it.
 * False at the end of the message: an empty line (its "\n" consumed) or
 * no bytes left.
 */
static bool next_line(const char *text, size_t len, size_t *pos, struct line *out)
{
    const char *line = text + *pos, *nl, *eq;
    size_t n;

    if (*pos >= len)
        return false;
    nl = memchr(line, '\n', len - *pos);
    n = nl != NULL ? (size_t)(nl - line) : len - *pos;
    *pos += n + (nl != NULL ? 1 : 0);
    if (n > 0 && line[n - 1] == '\r')
        n--;
    if (n == 0)
        return false;
    eq = memchr(line, '=', n);
    out->key = line;
    out->key_len = eq != NULL ? (size_t)(eq - line) : n;
    out->value = eq != NULL ? eq + 1 : NULL;
    out->value_len = eq != NULL ? n - out->key_len - 1 : 0;
    return true;
}

static bool key_is(const struct line *l, const char *key)
{
    size_t n = strlen(key);

    return l->key_len == n && memcmp(l->key, key, n) == 0;
}

bool qn_gitcred_value_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* ---- requests ------------------------------------------------------------------------- */

enum qn_status qn_gitcred_write_request(const char *protocol, const char *host,
                                        const char *username, char *out, size_t size,
                                        size_t *ret_len)
{
    int n;

    if (strpbrk(protocol, "\r\n") != NULL || strpbrk(host, "\r\n") != NULL ||
        strpbrk(username, "\r\n") != NULL)
        return QN_EINVAL;
    n = snprintf(out, size, "protocol=%s\nhost=%s\nusername=%s\n\n", protocol, host, username);
    if (n < 0 || (size_t)n >= size)
        return QN_ETOOBIG;
    *ret_len = (size_t)n;
    return QN_OK;
}

/* The key of L into req->bad_key, printable ASCII only: it is echoed in a message. */
static void set_bad_key(struct qn_gitcred_request *req, const struct line *l)
{
    size_t i, j = 0;

    for (i = 0; i < l->key_len && j < QN_GITCRED_KEY_SHOWN; i++) {
        unsigned char c = (unsigned char)l->key[i];

        req->bad_key[j++] = c >= 0x21 && c < 0x7f ? (char)c : '?';
    }
    req->bad_key[j] = '\0';
}

/* Drop ":port" from a host ("smtp.qq.com:465", "[::1]:465"); a bare IPv6
 * address keeps its colons. */
static void strip_port(char *host)
{
    char *colon = strrchr(host, ':');
    const char *p;

    if (colon == NULL || colon[1] == '\0')
        return;
    for (p = colon + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return;
    }
    if (host[0] == '[') {
        if (colon > host && colon[-1] == ']')
            *colon = '\0';
        return;
    }
    if (strchr(host, ':') == colon)
        *colon = '\0';
}

/* The value of L into DST (SIZE bytes), or QN_ETOOBIG. */
static enum qn_status copy_field(const struct line *l, char *dst, size_t size)
{
    if (l->value_len >= size)
        return QN_ETOOBIG;
    memcpy(dst, l->value, l->value_len);
    dst[l->value_len] = '\0';
    return QN_OK;
}

static enum qn_status take_password(const struct line *l, struct qn_secret *password)
{
    enum qn_status r;

    if (l->value_len > QN_SECRET_MAX)
        return QN_ETOOBIG;
    if (password->data == NULL && (r = qn_secret_init(password, QN_SECRET_MAX)) != QN_OK)
        return r;
    qn_secret_clear(password);
    return qn_secret_append(password, l->value, l->value_len);
}

enum qn_status qn_gitcred_parse_request(const char *text, size_t len,
                                        struct qn_gitcred_request *ret)
{
    enum qn_status r = QN_OK;
    struct line l;
    size_t pos = 0;

    memset(ret, 0, sizeof(*ret));
    while (r == QN_OK && next_line(text, len, &pos, &l)) {
        if (l.value == NULL || !qn_gitcred_value_ok(l.value, l.value_len)) {
            r = QN_EINVAL;
        } else if (key_is(&l, "protocol")) {
            r = copy_field(&l, ret->protocol, sizeof(ret->protocol));
        } else if (key_is(&l, "host")) {
            r = copy_field(&l, ret->host, sizeof(ret->host));
            strip_port(ret->host);
        } else if (key_is(&l, "username")) {
            r = copy_field(&l, ret->username, sizeof(ret->username));
        } else if (key_is(&l, "password")) {
            r = take_password(&l, &ret->password);
        }
        if (r != QN_OK && r != QN_ENOMEM)
            set_bad_key(ret, &l);
    }
    if (r != QN_OK)
        qn_secret_wipe(&ret->password);
    return r;
}

void qn_gitcred_request_wipe(struct qn_gitcred_request *req)
{
    if (req != NULL)
        qn_secret_wipe(&req->password);
}

/* ---- replies -------------------------------------------------------------------------- */

enum qn_status qn_gitcred_write_reply(const char *password, size_t len, struct qn_secret *ret)
{
    struct qn_secret line = {0};
    enum qn_status r;

    if (len == 0 || !qn_gitcred_value_ok(password, len))
        return QN_EINVAL;
    if (len > QN_SECRET_MAX)
        return QN_ETOOBIG;
    r = qn_secret_init(&line, len + sizeof("password=\n") - 1);
    if (r != QN_OK)
        return r;
    /* Sized for exactly these bytes: the appends cannot fail. */
    (void)qn_secret_append(&line, "password=", 9);
    (void)qn_secret_append(&line, password, len);
    (void)qn_secret_append(&line, "\n", 1);
    *ret = line;
    return QN_OK;
}

/* Both parsers of replies: the password, and with SIGNING the route's signing secret. */
static enum qn_status parse_reply(const char *text, size_t len, bool signing, struct qn_secret *ret)
{
    struct line l, password = {0}, sign = {0};
    struct qn_secret s;
    size_t pos = 0;
    enum qn_status r;

    if (memchr(text, '\0', len) != NULL)
        return QN_EINVAL;
    while (next_line(text, len, &pos, &l)) {
        if (l.value == NULL || l.key_len == 0)
            return QN_EINVAL;
        if (key_is(&l, "password"))
            password = l;
        else if (signing && key_is(&l, QN_GITCRED_SIGNING_KEY))
            sign = l;
    }
    if (password.value_len == 0) /* no password line, or an empty one */
        return QN_ENOTFOUND;
    if (password.value_len + (sign.value_len > 0 ? 1 + sign.value_len : 0) > QN_SECRET_MAX)
        return QN_ETOOBIG;
    r = qn_secret_init(&s, QN_SECRET_MAX);
    if (r != QN_OK)
        return r;
    /* Fits: checked above. */
    (void)qn_secret_append(&s, password.value, password.value_len);
    if (sign.value_len > 0) {
        (void)qn_secret_append(&s, "\n", 1);
        (void)qn_secret_append(&s, sign.value, sign.value_len);
    }
    *ret = s;
    return QN_OK;
}

enum qn_status qn_gitcred_parse_reply(const char *text, size_t len, struct qn_secret *ret)
{
    return parse_reply(text, len, false, ret);
}

enum qn_status qn_gitcred_parse_route_reply(const char *text, size_t len, struct qn_secret *ret)
{
    return parse_reply(text, len, true, ret);
}

enum qn_status qn_gitcred_write_route_reply(const char *secret, size_t len, struct qn_secret *ret)
{
    static const char sign_key[] = QN_GITCRED_SIGNING_KEY "=";
    const char *nl = memchr(secret, '\n', len);
    size_t id_len = nl != NULL ? (size_t)(nl - secret) : len;
    const char *sign = nl != NULL ? nl + 1 : NULL;
    size_t sign_len = nl != NULL ? len - id_len - 1 : 0;
    struct qn_secret reply = {0};
    enum qn_status r;

    if (id_len > 0 && secret[id_len - 1] == '\r')
        id_len--;
    if (sign_len > 0 && sign[sign_len - 1] == '\r')
        sign_len--;
    if (id_len == 0 || (sign != NULL && sign_len == 0) || !qn_gitcred_value_ok(secret, id_len) ||
        (sign != NULL && !qn_gitcred_value_ok(sign, sign_len)))
        return QN_EINVAL;
    if (len > QN_SECRET_MAX)
        return QN_ETOOBIG;
    r = qn_secret_init(&reply, len + sizeof("password=\n") + sizeof(sign_key) + 1);
    if (r != QN_OK)
        return r;
    /* Sized for exactly these bytes: the appends cannot fail. */
    (void)qn_secret_append(&reply, "password=", 9);
    (void)qn_secret_append(&reply, secret, id_len);
    (void)qn_secret_append(&reply, "\n", 1);
    if (sign != NULL) {
        (void)qn_secret_append(&reply, sign_key, sizeof(sign_key) - 1);
        (void)qn_secret_append(&reply, sign, sign_len);
        (void)qn_secret_append(&reply, "\n", 1);
    }
    *ret = reply;
    return QN_OK;
}
