/*
 * robot — the chat platforms' secrets, signatures, requests and answers;
 * contract in robot.h.
 *
 * Rendering works on whole UTF-8 characters: each character of user text
 * is mapped to what it becomes (itself, a full-width look-alike, a blank,
 * U+FFFD for an invalid byte) and appended only when all of it fits, so a
 * cut can never split a character or an escape.
 */
#include "robot.h"

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

static bool id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* ---- signatures ------------------------------------------------------------------------- */

/* base64(HMAC-SHA256(KEY, MSG)) into OUT. */
static enum qn_status hmac_base64(const void *key, size_t key_len, const void *msg, size_t msg_len,
                                  char out[QN_ROBOT_SIGN_MAX])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    enum qn_status r = QN_ENOMEM;

    if (key_len > INT32_MAX)
        return QN_EINVAL;
    if (HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, mac, &mac_len) != NULL &&
        mac_len == 32) {
        EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len); /* 44 bytes and a NUL */
        r = QN_OK;
    }
    OPENSSL_cleanse(mac, sizeof(mac));
    return r;
}

/* "TS\nSECRET" into *RET, a secret set up here. */
static enum qn_status string_to_sign(long long ts, const char *secret, size_t len,
                                     struct qn_secret *ret)
{
    char digits[24];
    int n = snprintf(digits, sizeof(digits), "%lld\n", ts);
    enum qn_status r;

    if (n <= 0 || (size_t)n >= sizeof(digits))
        return QN_EINVAL;
    r = qn_secret_init(ret, (size_t)n + len);
    if (r == QN_OK)
        r = qn_secret_append(ret, digits, (size_t)n);
    if (r == QN_OK)
        r = qn_secret_append(ret, secret, len);
    return r;
}

enum qn_status qn_robot_sign_dingtalk(const char *secret, size_t len, long long ts_ms,
                                      char out[QN_ROBOT_SIGN_MAX])
{
    struct qn_secret msg = {0};
    enum qn_status r = string_to_sign(ts_ms, secret, len, &msg);

    if (r == QN_OK)
        r = hmac_base64(secret, len, msg.data, msg.len, out);
    qn_secret_wipe(&msg);
    return r;
}

enum qn_status qn_robot_sign_feishu(const char *secret, size_t len, long long ts_s,
                                    char out[QN_ROBOT_SIGN_MAX])
{
    struct qn_secret key = {0};
    enum qn_status r = string_to_sign(ts_s, secret, len, &key);

    if (r == QN_OK)
        r = hmac_base64(key.data, key.len, "", 0, out);
    qn_secret_wipe(&key);
    return r;
}

/* ---- the URL ------------------------------------------------------------------------------ */

/* RFC 3986 percent-encoding of S (everything but unreserved characters). */
static void url_encode(const char *s, char *out, size_t outsz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s != '\0' && o + 4 <= outsz; s++) {
        unsigned char c = (unsigned char)*s;
        if (id_char((char)c) || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

enum qn_status qn_robot_url(enum qn_route_type type, const char *base,
                            const struct qn_route_secret *s, long long now_ms,
                            struct qn_secret *ret)
{
    char sign[QN_ROBOT_SIGN_MAX], encoded[3 * QN_ROBOT_SIGN_MAX], tail[sizeof(encoded) + 64];
    const char *before;
    size_t base_len = strlen(base);
    enum qn_status r;

    memset(ret, 0, sizeof(*ret));
    if (s->id == NULL || s->id_len == 0 || base_len == 0 || base_len >= QN_ROUTE_URL_MAX)
        return QN_EINVAL;
    switch (type) {
    case QN_ROUTE_TYPE_WECOM:
        before = "?key=";
        break;
    case QN_ROUTE_TYPE_DINGTALK:
        before = "?access_token=";
        break;
    case QN_ROUTE_TYPE_FEISHU:
        before = base[base_len - 1] == '/' ? "" : "/";
        break;
    default:
        return QN_EINVAL;
    }
    tail[0] = '\0';
    if (type == QN_ROUTE_TYPE_DINGTALK && s->sign != NULL) {
        r = qn_robot_sign_dingtalk(s->sign, s->sign_len, now_ms, sign);
        if (r != QN_OK)
            return r;
        url_encode(sign, encoded, sizeof(encoded));
        snprintf(tail, sizeof(tail), "&timestamp=%lld&sign=%s", now_ms, encoded);
    }
    r = qn_secret_init(ret, QN_ROBOT_URL_MAX);
    if (r == QN_OK)
        r = qn_secret_append(ret, base, base_len);
    if (r == QN_OK)
        r = qn_secret_append(ret, before, strlen(before));
    if (r == QN_OK)
        r = qn_secret_append(ret, s->id, s->id_len);
    if (r == QN_OK)
        r = qn_secret_append(ret, tail, strlen(tail));
    if (r != QN_OK)
        qn_secret_wipe(ret);
    return r;
}

/* ---- escaping ------------------------------------------------------------------------------ */

/* What the character CP (LEN bytes at P) becomes in MARKUP: NULL for itself. */
static const char *look_alike(enum qn_robot_markup markup, unsigned long cp)
{
    if (markup == QN_ROBOT_AT_TAGS)
        return cp == '<' ? "\xEF\xBC\x9C" : cp == '>' ? "\xEF\xBC\x9E" : NULL;
    if (markup != QN_ROBOT_MARKDOWN)
        return NULL;
    switch (cp) {
    case '\\':
        return "\xEF\xBC\xBC"; /* U+FF3C FULLWIDTH REVERSE SOLIDUS */
    case '*':
        return "\xEF\xBC\x8A"; /* U+FF0A */
    case '_':
        return "\xEF\xBC\xBF"; /* U+FF3F */
    case '`':
        return "\xEF\xBD\x80"; /* U+FF40 */
    case '~':
        return "\xEF\xBD\x9E"; /* U+FF5E */
    case '#':
        return "\xEF\xBC\x83"; /* U+FF03 */
    case '[':
        return "\xEF\xBC\xBB"; /* U+FF3B */
    case ']':
        return "\xEF\xBC\xBD"; /* U+FF3D */
    case '<':
        return "\xEF\xBC\x9C"; /* U+FF1C */
    case '>':
        return "\xEF\xBC\x9E"; /* U+FF1E */
    case '|':
        return "\xEF\xBD\x9C"; /* U+FF5C */
    case '&':
        return "\xEF\xBC\x86"; /* U+FF06 */
    default:
        return NULL;
    }
}

/*
 * Append the N bytes at S to OUT for MARKUP, a whole character at a time,
 * while OUT stays within LIMIT bytes; a line end becomes NL.  *CUT (when
 * not NULL) is set when something did not fit; without CUT that is
 * QN_ETOOBIG.
 */
static enum qn_status put_text(struct qn_buf *out, size_t limit, enum qn_robot_markup markup,
                               const char *nl, const char *s, size_t n, bool *cut)
{
    size_t i = 0;

    while (i < n) {
        unsigned long cp = 0;
        size_t k = qn_text_utf8_next(s + i, n - i, &cp);
        const char *piece = s + i;
        size_t len = k;
        enum qn_status r;

        if (k == 0) {
            piece = REPLACEMENT;
            len = 3;
            k = 1;
        } else if (cp == '\r' && i + 1 < n && s[i + 1] == '\n') {
            i++; /* a CRLF line end (a mail's text) is one line end */
            continue;
        } else if (cp == '\n') {
            piece = nl;
            len = strlen(nl);
        } else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == 0x2028 ||
                   cp == 0x2029) {
            piece = " ";
            len = 1;
        } else if (look_alike(markup, cp) != NULL) {
            piece = look_alike(markup, cp);
            len = 3;
        }
        if (out->len + len > limit) {
            if (cut == NULL)
                return QN_ETOOBIG;
            *cut = true;
            return QN_OK;
        }
        r = qn_buf_append(out, piece, len);
        if (r != QN_OK)
            return r;
        i += k;
    }
    return QN_OK;
}

enum qn_status qn_robot_escape(enum qn_robot_markup markup, const char *s, size_t n,
                               struct qn_buf *out)
{
    size_t before = out->len;
    enum qn_status r = put_text(out, out->max, markup, "\n", s, n, NULL);

    if (r != QN_OK)
        qn_buf_truncate(out, before);
    return r;
}

/* ---- composing a message ---------------------------------------------------------------- */

static const char *cut_marker(enum qn_lang lang)
{
    return lang == QN_LANG_EN ? "\xE2\x80\xA6 (cut: too long)"
                              : "\xE2\x80\xA6\xEF\xBC\x88\xE5\x86\x85\xE5\xAE\xB9\xE8\xBF\x87"
                                "\xE9\x95\xBF\xEF\xBC\x8C\xE5\xB7\xB2\xE6\x88\xAA\xE6\x96\xAD"
                                "\xEF\xBC\x89"; /* …（内容过长，已截断） */
}

/* Cut OUT back to at most MAX - the marker's room on a character boundary and end it with
 * NL and the marker. */
static enum qn_status end_cut(struct qn_buf *out, size_t max, const char *nl, enum qn_lang lang)
{
    const char *marker = cut_marker(lang);
    size_t room = strlen(nl) + strlen(marker), keep;

    if (room > max)
        return QN_ETOOBIG;
    keep = out->len < max - room ? out->len : max - room;
    while (keep > 0 && ((unsigned char)out->data[keep] & 0xC0) == 0x80)
        keep--;
    qn_buf_truncate(out, keep);
    if (qn_buf_puts(out, nl) != QN_OK || qn_buf_puts(out, marker) != QN_OK)
        return QN_ENOMEM;
    return QN_OK;
}

/* The title as sent: the keyword in front when the subject lacks it. */
static enum qn_status put_title(struct qn_buf *out, size_t limit, enum qn_robot_markup markup,
                                const struct qn_robot_message *m, bool *cut)
{
    const char *title = m->title != NULL ? m->title : "";
    enum qn_status r;

    /* The keyword is the administrator's word, not user text: as written, so the
     * platform finds it. */
    if (m->keyword != NULL && m->keyword[0] != '\0' && strstr(title, m->keyword) == NULL) {
        if (out->len + strlen(m->keyword) + 1 > limit) {
            *cut = true;
            return QN_OK;
        }
        r = qn_buf_puts(out, m->keyword);
        if (r == QN_OK)
            r = qn_buf_putc(out, ' ');
        if (r != QN_OK)
            return r;
    }
    return put_text(out, limit, markup, " ", title, strlen(title), cut);
}

/*
 * One content string of at most MAX bytes into OUT: HEAD, the title, TAIL,
 * then the text with line ends NL, all in MARKUP; cut with the marker when
 * it does not fit.  WITH_TITLE false: the text alone.
 */
static enum qn_status compose(struct qn_buf *out, size_t max, enum qn_robot_markup markup,
                              const char *head, const char *tail, const char *nl, bool with_title,
                              const struct qn_robot_message *m)
{
    const char *text = m->text != NULL ? m->text : "";
    size_t n = strlen(text);
    bool cut = false;
    enum qn_status r = QN_OK;

    qn_buf_reset(out);
    /* A line end that closes the text adds nothing to a chat message. */
    while (n > 0 && text[n - 1] == '\n')
        n--;
    if (with_title) {
        r = qn_buf_puts(out, head);
        if (r == QN_OK)
            r = put_title(out, max, markup, m, &cut);
        if (r == QN_OK && !cut)
            r = qn_buf_puts(out, tail);
    }
    if (r == QN_OK && !cut)
        r = put_text(out, max, markup, nl, text, n, &cut);
    if (r == QN_OK && (cut || out->len > max))
        r = end_cut(out, max, nl, m->lang);
    return r;
}

/* ---- JSON ------------------------------------------------------------------------------------ */

/* {K1: V1[, K2: V2]}, taking V1 and V2: when anything is missing or fails, nothing is made
 * and both are freed. */
static json_object *obj(const char *k1, json_object *v1, const char *k2, json_object *v2)
{
    json_object *o = json_object_new_object();

    if (o == NULL || v1 == NULL || (k2 != NULL && v2 == NULL)) {
        json_object_put(o);
        json_object_put(v1);
        json_object_put(v2);
        return NULL;
    }
    if (json_object_object_add(o, k1, v1) != 0) {
        json_object_put(v1);
        json_object_put(v2);
        json_object_put(o);
        return NULL;
    }
    if (k2 != NULL && json_object_object_add(o, k2, v2) != 0) {
        json_object_put(v2);
        json_object_put(o);
        return NULL;
    }
    return o;
}

static json_object *str(const char *s)
{
    return json_object_new_string(s);
}

static json_object *bufstr(const struct qn_buf *b)
{
    return json_object_new_string_len(b->data != NULL ? b->data : "", (int)b->len);
}

/* A Feishu post's paragraphs: one per line of TEXT, each one text element. */
static json_object *paragraphs(const struct qn_buf *text)
{
    json_object *all = json_object_new_array();
    const char *p = text->data != NULL ? text->data : "", *end = p + text->len;

    while (all != NULL) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl != NULL ? nl : end;
        json_object *element =
            obj("tag", str("text"), "text", json_object_new_string_len(p, (int)(stop - p)));
        json_object *line = json_object_new_array();

        if (element == NULL || line == NULL || json_object_array_add(line, element) != 0) {
            json_object_put(element);
            json_object_put(line);
            json_object_put(all);
            return NULL;
        }
        if (json_object_array_add(all, line) != 0) {
            json_object_put(line);
            json_object_put(all);
            return NULL;
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return all;
}

/* Serialise ROOT (taken) into OUT, *RET_LEN its length.  QN_ETOOBIG past MAX (OUT empty). */
static enum qn_status serialise(json_object *root, size_t max, struct qn_buf *out, size_t *ret_len)
{
    const char *json;
    size_t len = 0;
    enum qn_status r = QN_ENOMEM;

    qn_buf_reset(out);
    *ret_len = 0;
    if (root == NULL)
        return QN_ENOMEM;
    json = json_object_to_json_string_length(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (json != NULL) {
        *ret_len = len;
        r = len > max ? QN_ETOOBIG : qn_buf_append(out, json, len);
    }
    json_object_put(root);
    return r;
}

static enum qn_status wecom_body(enum qn_route_format format, const struct qn_robot_message *m,
                                 struct qn_buf *content, struct qn_buf *out)
{
    bool md = format == QN_ROUTE_FORMAT_MARKDOWN;
    size_t len;
    enum qn_status r;

    r = md ? compose(content, QN_ROBOT_WECOM_MARKDOWN_MAX, QN_ROBOT_MARKDOWN, "**", "**\n", "\n",
                     true, m)
           : compose(content, QN_ROBOT_WECOM_TEXT_MAX, QN_ROBOT_PLAIN, "", "\n", "\n", true, m);
    if (r != QN_OK)
        return r;
    return serialise(obj("msgtype", str(md ? "markdown" : "text"), md ? "markdown" : "text",
                         obj("content", bufstr(content), NULL, NULL)),
                     out->max, out, &len);
}

static enum qn_status dingtalk_body(enum qn_route_format format, const struct qn_robot_message *m,
                                    struct qn_buf *content, struct qn_buf *title,
                                    struct qn_buf *out)
{
    bool cut = false;
    size_t len;
    enum qn_status r;

    if (format == QN_ROUTE_FORMAT_TEXT) {
        r = compose(content, QN_ROBOT_DINGTALK_MAX, QN_ROBOT_PLAIN, "", "\n", "\n", true, m);
        if (r != QN_OK)
            return r;
        return serialise(
            obj("msgtype", str("text"), "text", obj("content", bufstr(content), NULL, NULL)),
            out->max, out, &len);
    }
    /* The title is what the conversation list and the notification show: plain. */
    r = put_title(title, QN_ROBOT_DINGTALK_TITLE_MAX, QN_ROBOT_PLAIN, m, &cut);
    if (r == QN_OK)
        r = compose(content, QN_ROBOT_DINGTALK_MAX, QN_ROBOT_MARKDOWN, "#### ", "\n\n", "  \n",
                    true, m);
    if (r != QN_OK)
        return r;
    return serialise(obj("msgtype", str("markdown"), "markdown",
                         obj("title", bufstr(title), "text", bufstr(content))),
                     out->max, out, &len);
}

/* A Feishu body: {"msg_type":..,"content":..[,"timestamp":..,"sign":..]}. */
static json_object *feishu_root(enum qn_route_format format, const struct qn_robot_message *m,
                                const struct qn_route_secret *s, long long now_s,
                                const struct qn_buf *title, const struct qn_buf *content)
{
    char sign[QN_ROBOT_SIGN_MAX], ts[24];
    json_object *root;

    if (format == QN_ROUTE_FORMAT_TEXT)
        root = obj("msg_type", str("text"), "content", obj("text", bufstr(content), NULL, NULL));
    else
        root = obj("msg_type", str("post"), "content",
                   obj("post",
                       obj(m->lang == QN_LANG_EN ? "en_us" : "zh_cn",
                           obj("title", bufstr(title), "content", paragraphs(content)), NULL, NULL),
                       NULL, NULL));
    if (root == NULL || s == NULL || s->sign == NULL)
        return root;
    snprintf(ts, sizeof(ts), "%lld", now_s);
    if (qn_robot_sign_feishu(s->sign, s->sign_len, now_s, sign) != QN_OK ||
        json_object_object_add(root, "timestamp", str(ts)) != 0 ||
        json_object_object_add(root, "sign", str(sign)) != 0) {
        json_object_put(root);
        return NULL;
    }
    return root;
}

static enum qn_status feishu_body(enum qn_route_format format, const struct qn_robot_message *m,
                                  const struct qn_route_secret *s, long long now_s,
                                  struct qn_buf *content, struct qn_buf *title, struct qn_buf *out)
{
    size_t budget = QN_ROBOT_FEISHU_BODY_MAX, len = 0, next;
    bool cut = false;
    enum qn_status r;

    /* A post has the title in a field of its own and the text in paragraphs; a text
     * message has both in one string, whose <at> tags are the markup. */
    r = put_title(title, QN_ROBOT_DINGTALK_TITLE_MAX, QN_ROBOT_PLAIN, m, &cut);
    /* The limit is on the whole body, with JSON escapes and a post's paragraphs, which
     * grow with the text: each round that is too long scales the text down by the
     * body's excess, less a margin, so the body shrinks every round and ends just under
     * the limit. */
    for (int round = 0; r == QN_OK && round < 8; round++) {
        if (format == QN_ROUTE_FORMAT_TEXT)
            r = compose(content, budget, QN_ROBOT_AT_TAGS, "", "\n", "\n", true, m);
        else
            r = compose(content, budget, QN_ROBOT_PLAIN, "", "", "\n", false, m);
        if (r == QN_OK)
            r = serialise(feishu_root(format, m, s, now_s, title, content),
                          QN_ROBOT_FEISHU_BODY_MAX, out, &len);
        if (r != QN_ETOOBIG)
            return r;
        next = (size_t)((unsigned long long)content->len * QN_ROBOT_FEISHU_BODY_MAX / len);
        if (next < 64 + 1)
            return QN_ETOOBIG;
        budget = next - 64 < budget ? next - 64 : budget - 1;
        r = QN_OK;
    }
    return QN_ETOOBIG;
}

enum qn_status qn_robot_body(enum qn_route_type type, enum qn_route_format format,
                             const struct qn_robot_message *m, const struct qn_route_secret *s,
                             long long now_s, struct qn_buf *out)
{
    struct qn_buf content, title;
    enum qn_status r = QN_EINVAL;

    qn_buf_reset(out);
    qn_buf_init(&content, QN_ROBOT_BODY_MAX);
    qn_buf_init(&title, QN_ROBOT_BODY_MAX);
    switch (type) {
    case QN_ROUTE_TYPE_WECOM:
        if (format == QN_ROUTE_FORMAT_MARKDOWN || format == QN_ROUTE_FORMAT_TEXT)
            r = wecom_body(format, m, &content, out);
        break;
    case QN_ROUTE_TYPE_DINGTALK:
        if (format == QN_ROUTE_FORMAT_MARKDOWN || format == QN_ROUTE_FORMAT_TEXT)
            r = dingtalk_body(format, m, &content, &title, out);
        break;
    case QN_ROUTE_TYPE_FEISHU:
        if (format == QN_ROUTE_FORMAT_POST || format == QN_ROUTE_FORMAT_TEXT)
            r = feishu_body(format, m, s, now_s, &content, &title, out);
        break;
    default:
        break;
    }
    qn_buf_free(&content);
    qn_buf_free(&title);
    return r;
}

/* ---- answers ------------------------------------------------------------------------------- */

static const char *platform_name(enum qn_route_type type)
{
    switch (type) {
    case QN_ROUTE_TYPE_WECOM:
        return "WeCom";
    case QN_ROUTE_TYPE_DINGTALK:
        return "DingTalk";
    case QN_ROUTE_TYPE_FEISHU:
        return "Feishu";
    default:
        return "the platform";
    }
}

/* The platforms' codes qqnotify knows (diag_robot.c explains each). */
static const struct known_code {
    enum qn_route_type type;
    long long code;
    enum qn_status status;
} known_codes[] = {
    {QN_ROUTE_TYPE_WECOM, 93000, QN_EAUTH},         /* invalid webhook url (the key) */
    {QN_ROUTE_TYPE_WECOM, 45009, QN_ETEMPFAIL},     /* api freq out of limit */
    {QN_ROUTE_TYPE_DINGTALK, 300001, QN_EAUTH},     /* token is not exist */
    {QN_ROUTE_TYPE_DINGTALK, 310000, QN_EAUTH},     /* sign, timestamp, ip (keywords: below) */
    {QN_ROUTE_TYPE_DINGTALK, 130101, QN_ETEMPFAIL}, /* send too fast */
    {QN_ROUTE_TYPE_FEISHU, 19001, QN_EAUTH},        /* incoming webhook access token invalid */
    {QN_ROUTE_TYPE_FEISHU, 19021, QN_EAUTH},        /* sign match fail or timestamp */
    {QN_ROUTE_TYPE_FEISHU, 19022, QN_EAUTH},        /* Ip Not Allowed */
    {QN_ROUTE_TYPE_FEISHU, 19024, QN_ECONFIG},      /* Key Words Not Found */
    {QN_ROUTE_TYPE_FEISHU, 11232, QN_ETEMPFAIL},    /* frequency limited */
};

/* The code and words of a parsed answer: errcode/errmsg (WeCom, DingTalk),
 * code/msg or StatusCode/StatusMessage (Feishu). */
static bool read_code(json_object *root, enum qn_route_type type, long long *ret_code,
                      const char **ret_msg, size_t *ret_msg_len)
{
    static const char *const names[][2] = {
        {"errcode", "errmsg"}, {"code", "msg"}, {"StatusCode", "StatusMessage"}};
    json_object *v;
    size_t first = type == QN_ROUTE_TYPE_FEISHU ? 1 : 0,
           last = type == QN_ROUTE_TYPE_FEISHU ? 3 : 1;

    *ret_msg = "";
    *ret_msg_len = 0;
    if (!json_object_is_type(root, json_type_object))
        return false;
    for (size_t i = first; i < last; i++) {
        if (!json_object_object_get_ex(root, names[i][0], &v) ||
            !json_object_is_type(v, json_type_int))
            continue;
        *ret_code = (long long)json_object_get_int64(v);
        if (json_object_object_get_ex(root, names[i][1], &v) &&
            json_object_is_type(v, json_type_string)) {
            *ret_msg = json_object_get_string(v);
            *ret_msg_len = (size_t)json_object_get_string_len(v);
        }
        return true;
    }
    return false;
}

static json_object *parse_json(const char *body, size_t len)
{
    json_tokener *tok;
    json_object *root = NULL;

    if (body == NULL || len == 0 || len > QN_ROBOT_ANSWER_MAX)
        return NULL;
    tok = json_tokener_new_ex(QN_ROBOT_JSON_DEPTH);
    if (tok == NULL)
        return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    root = json_tokener_parse_ex(tok, body, (int)len);
    if (root != NULL && json_tokener_get_error(tok) == json_tokener_success) {
        /* Only blanks may follow the value. */
        for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
            if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r' && body[i] != '\n') {
                json_object_put(root);
                root = NULL;
                break;
            }
        }
    } else {
        json_object_put(root);
        root = NULL;
    }
    json_tokener_free(tok);
    return root;
}

static bool is_keyword_answer(const char *msg, size_t len)
{
    static const char *const words[] = {"keyword", "关键词", NULL};

    return qn_diag_text_has(msg, len, words);
}

/* The status of an HTTP answer without the platform's code. */
static enum qn_status http_status_meaning(long status, enum qn_stage *ret_stage)
{
    *ret_stage = QN_STAGE_HTTP;
    if (status == 413) {
        *ret_stage = QN_STAGE_DATA;
        return QN_EREJECT;
    }
    if (status == 429 || (status >= 500 && status <= 599))
        return QN_ETEMPFAIL;
    if (status == 401 || status == 403)
        return QN_EAUTH;
    if ((status >= 300 && status <= 399) || (status >= 400 && status <= 499))
        return QN_ECONFIG;
    return QN_EPROTO;
}

enum qn_status qn_robot_answer(enum qn_route_type type, long http_status, const char *body,
                               size_t len, struct qn_error *err)
{
    json_object *root = parse_json(body, len);
    const char *msg = "", *name = platform_name(type);
    const char *key = type == QN_ROUTE_TYPE_FEISHU ? "code" : "errcode";
    long long code = 0;
    size_t msg_len = 0;
    bool has_code = root != NULL && read_code(root, type, &code, &msg, &msg_len);
    enum qn_status status;
    enum qn_stage stage = QN_STAGE_HTTP;

    qn_error_clear(err);
    if (has_code && code == 0 && http_status >= 200 && http_status <= 299) {
        json_object_put(root);
        return QN_OK;
    }
    if (err != NULL) {
        err->http_status = http_status > 0 && http_status < 1000 ? (int)http_status : 0;
        err->api_code = has_code ? code : 0;
        if (msg_len > 0)
            qn_text_sanitize_line(msg, msg_len, err->server_text, sizeof(err->server_text));
        else if (root == NULL && body != NULL && len > 0)
            /* Not JSON (a proxy's or server's page): its start says more than nothing. */
            qn_text_sanitize_line(body, len < 200 ? len : 200, err->server_text,
                                  sizeof(err->server_text));
    }
    if (has_code && code != 0) {
        status = QN_EREJECT; /* a code not known here */
        for (size_t i = 0; i < sizeof(known_codes) / sizeof(known_codes[0]); i++) {
            if (known_codes[i].type == type && known_codes[i].code == code)
                status = known_codes[i].status;
        }
        if (type == QN_ROUTE_TYPE_DINGTALK && code == 310000 && is_keyword_answer(msg, msg_len))
            status = QN_ECONFIG;
        qn_error_set(err, status, stage, "%s answered %s %lld (HTTP %ld)", name, key, code,
                     http_status);
    } else if (http_status >= 200 && http_status <= 299) {
        status = qn_error_set(err, QN_EPROTO, stage,
                              "the answer (HTTP %ld, %zu bytes) is not %s's: no %s in a JSON "
                              "object",
                              http_status, len, name, key);
    } else {
        status = http_status_meaning(http_status, &stage);
        qn_error_set(err, status, stage, "%s answered HTTP %ld", name, http_status);
    }
    json_object_put(root);
    return status;
}
