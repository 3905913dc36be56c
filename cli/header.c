/*
 * header — rewrite a submitted message for an account-bound submission
 * server; contract and rules in header.h.  Reading the message (fields,
 * unfolding, address lists, encoded-words, Content-Type) is message.c's.
 *
 * Implements: RFC 5322 sections 2.1.1 (998/78), 2.2.3 (folding), 3.6 (at
 * most one of Date, Message-ID, Subject, Reply-To); RFC 2045 sections 4-6
 * (MIME fields, 7bit/8bit/binary, base64); RFC 5321 section 2.4 (comparing
 * addresses).
 *
 * The whole output is built in a private buffer and appended to the
 * caller's only on success.  Every copy goes to a capped struct qn_buf.
 */
#include "header.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "message.h"
#include "text.h"

#define CRLF      "\r\n"
#define LINE_SOFT QN_MIME_LINE_SOFT /* 78 */
#define LINE_HARD QN_MIME_LINE_MAX  /* 998 */

#define SEEN_MAX 64 /* addresses remembered to drop duplicates within one field */

enum addr_kind {
    ADDR_DELIVERABLE, /* a plausible Internet address */
    ADDR_LOCAL,       /* "root", "root@localhost", "root@web1" */
    ADDR_BAD,         /* anything else */
};

enum body_mode {
    BODY_PASS, /* copied, line ends made CRLF */
    BODY_UTF8, /* decoded to UTF-8, text/SUBTYPE; charset=UTF-8, base64 */
    BODY_RAW,  /* bytes kept, base64; Content-Type kept */
};

struct ctx {
    struct qn_message m; /* the message and its header block */
    const struct qn_header_options *opt;
    struct qn_header_result *res;

    /* what the first pass found */
    const struct qn_message_field *from;
    bool has_date, has_message_id, has_mime_version, has_to_or_cc, reply_to_usable;
    enum body_mode body_mode;
    char subtype[QN_MESSAGE_TYPE_MAX + 1];

    struct qn_buf value;   /* the unfolded value of the field at hand */
    struct qn_buf decoded; /* decoded text (display names, 8-bit fields) */
    struct qn_buf scratch; /* one mailbox written by mime.c, to be split in tokens */
    struct qn_buf out;     /* the whole result, handed over on success */

    /* addresses written in the field at hand, to drop duplicates */
    char seen[SEEN_MAX][QN_MIME_ADDR_MAX + 1];
    size_t n_seen;
};

/* ---- small helpers ---- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 5322 section 3.2.3 atext. */
static bool is_atext(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool name_is(const struct ctx *c, const struct qn_message_field *f, const char *name)
{
    return qn_message_field_is(&c->m, f, name);
}

/* The unfolded value of F in c->value. */
static enum qn_status field_value(struct ctx *c, const struct qn_message_field *f)
{
    return qn_message_unfold(&c->m, f, &c->value);
}

/* c->decoded = S (raw bytes: UTF-8, GB18030 or damaged) as UTF-8 with encoded-words decoded. */
static enum qn_status decode_text(struct ctx *c, const char *s, size_t n)
{
    qn_buf_reset(&c->decoded);
    return qn_message_decode(s, n, &c->decoded);
}

/* Fields that carry a structure a folding writer must not break inside words. */
static bool structured(const struct ctx *c, const struct qn_message_field *f)
{
    static const char *const names[] = {
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "received",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-id",
        "content-disposition",
        "dkim-signature",
        "reply-to",
        "to",
        "cc",
        "resent-date",
        "resent-from",
        "resent-sender",
        "resent-to",
        "resent-cc",
        "resent-bcc",
        "resent-message-id",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (name_is(c, f, names[i]))
            return true;
    }
    return false;
}

/* Same mailbox: local part exact, domain ASCII case-insensitive (RFC 5321 section 2.4). */
static bool same_address(const char *a, const char *b)
{
    const char *at_a = strrchr(a, '@'), *at_b = strrchr(b, '@');

    if (at_a == NULL || at_b == NULL)
        return strcmp(a, b) == 0;
    return at_a - a == at_b - b && memcmp(a, b, (size_t)(at_a - a)) == 0 &&
           strcasecmp(at_a + 1, at_b + 1) == 0;
}

static enum addr_kind addr_kind(const char *a, size_t n, bool bad)
{
    const char *at, *domain;

    if (bad || n == 0)
        return ADDR_BAD;
    at = memchr(a, '@', n);
    if (at == NULL) {
        /* A local user name: "root", "www-data", "first.last". */
        if (n > 64)
            return ADDR_BAD;
        for (size_t i = 0; i < n; i++) {
            if (!is_atext(a[i]) && a[i] != '.')
                return ADDR_BAD;
        }
        return ADDR_LOCAL;
    }
    if (!qn_mime_addr_valid(a))
        return ADDR_BAD;
    domain = at + 1;
    if (strcasecmp(domain, "localhost") == 0 || strcasecmp(domain, "localhost.localdomain") == 0 ||
        strchr(domain, '.') == NULL)
        return ADDR_LOCAL;
    return ADDR_DELIVERABLE;
}

/* ---- writing fields ---- */

/* A folding writer for fields we build ourselves. */
struct fold {
    struct qn_buf *out;
    size_t line;        /* octets on the current line */
    bool token_on_line; /* the current line holds a token after the name */
    bool too_long;      /* a token did not fit in 998 octets */
};

static enum qn_status fold_begin(struct fold *f, struct qn_buf *out, const char *name, size_t n)
{
    enum qn_status r;

    f->out = out;
    f->line = n + 1;
    f->token_on_line = false;
    f->too_long = false;
    r = qn_buf_append(out, name, n);
    return r == QN_OK ? qn_buf_putc(out, ':') : r;
}

/*
 * Append " TOKEN", folding first when the line would pass 78 octets with
 * RESERVE more (a comma that may follow).  The first token stays after the
 * name unless it would pass 998 there.  QN_ETOOBIG when TOKEN cannot fit
 * in 998 octets even on a line of its own.
 */
static enum qn_status fold_token(struct fold *f, const char *token, size_t n, size_t reserve)
{
    enum qn_status r;

    if ((f->token_on_line && f->line + 1 + n + reserve > LINE_SOFT) ||
        (f->line > 0 && f->line + 1 + n + reserve > LINE_HARD)) {
        r = qn_buf_puts(f->out, CRLF);
        if (r != QN_OK)
            return r;
        f->line = 0;
    }
    if (f->line + 1 + n + reserve > LINE_HARD) {
        f->too_long = true;
        return QN_ETOOBIG;
    }
    r = qn_buf_putc(f->out, ' ');
    if (r == QN_OK)
        r = qn_buf_append(f->out, token, n);
    if (r != QN_OK)
        return r;
    f->line += 1 + n;
    f->token_on_line = true;
    return QN_OK;
}

/* Append the blank-separated words of S as tokens. */
static enum qn_status fold_words(struct fold *f, const char *s, size_t n)
{
    size_t i = 0, end;
    enum qn_status r;

    while (i < n) {
        while (i < n && (is_blank(s[i]) || s[i] == '\r' || s[i] == '\n'))
            i++;
        for (end = i; end < n && !is_blank(s[end]) && s[end] != '\r' && s[end] != '\n'; end++)
            ;
        if (end > i) {
            r = fold_token(f, s + i, end - i, 0);
            if (r != QN_OK)
                return r;
        }
        i = end;
    }
    return QN_OK;
}

/*
 * True when F may be copied as it is: printable ASCII, no line over 998,
 * and "Name:" without the obsolete blanks before the colon.
 */
static bool copyable(const struct qn_message_field *f)
{
    return !f->eight_bit && !f->control && f->longest <= LINE_HARD &&
           f->start + f->name_len + 1 == f->value;
}

/* Copy F's lines as they are, each line end made CRLF. */
static enum qn_status copy_field(struct ctx *c, const struct qn_message_field *f)
{
    size_t i = f->start, lf;
    enum qn_status r;
    const char *p;

    while (i < f->end) {
        p = memchr(c->m.msg + i, '\n', f->end - i);
        lf = p != NULL ? (size_t)(p - c->m.msg) : f->end;
        /* The CR of a CRLF is left out here and written back below. */
        r = qn_buf_append(&c->out, c->m.msg + i,
                          (lf > i && p != NULL && c->m.msg[lf - 1] == '\r' ? lf - 1 : lf) - i);
        if (r == QN_OK)
            r = qn_buf_puts(&c->out, CRLF);
        if (r != QN_OK)
            return r;
        i = p != NULL ? lf + 1 : f->end;
    }
    return QN_OK;
}

/* F's name as a C string in NAME (QN_MIME_HEADER_NAME_MAX + 1); false when it is longer. */
static bool field_name(const struct ctx *c, const struct qn_message_field *f, char *name)
{
    if (f->name_len > QN_MIME_HEADER_NAME_MAX)
        return false;
    memcpy(name, c->m.msg + f->start, f->name_len);
    name[f->name_len] = '\0';
    return true;
}

/* F as unstructured text (decoded, encoded-words where needed) through mime.c. */
static enum qn_status write_text_field(struct ctx *c, const struct qn_message_field *f)
{
    char name[QN_MIME_HEADER_NAME_MAX + 1];
    enum qn_status r;

    if (!field_name(c, f, name)) {
        c->res->n_dropped++; /* mime.c writes no such name: dropping it is the safe way */
        return QN_OK;
    }
    r = decode_text(c, c->value.data, c->value.len);
    if (r != QN_OK)
        return r;
    return qn_mime_header_text(&c->out, name, c->decoded.data);
}

/*
 * Write F, whose value is in c->value, changing only what must change
 * (header.h): copied, refolded, or re-encoded.
 */
static enum qn_status write_plain_field(struct ctx *c, const struct qn_message_field *f)
{
    struct fold fold;
    size_t mark = c->out.len;
    enum qn_status r;

    if (f->eight_bit)
        return write_text_field(c, f);
    if (copyable(f))
        return copy_field(c, f);
    r = fold_begin(&fold, &c->out, c->m.msg + f->start, f->name_len);
    if (r == QN_OK)
        r = fold_words(&fold, c->value.data, c->value.len);
    if (r == QN_OK)
        return qn_buf_puts(&c->out, CRLF);
    if (!fold.too_long || structured(c, f))
        return r;
    /* A word longer than a line: encoded-words can be split, words cannot. */
    qn_buf_truncate(&c->out, mark);
    return write_text_field(c, f);
}

/* ---- address fields ---- */

struct address_writer {
    struct ctx *c;
    struct fold fold;
    char field[16];  /* "To", "Cc" or "Reply-To" as the message spells it */
    size_t written;  /* mailboxes written */
    bool reply_to;   /* local addresses are dropped, not replaced */
    bool alert_done; /* the alert recipients were written for a local one */
};

static bool seen_before(struct ctx *c, const char *addr)
{
    for (size_t i = 0; i < c->n_seen; i++) {
        if (same_address(c->seen[i], addr))
            return true;
    }
    if (c->n_seen < SEEN_MAX) {
        memcpy(c->seen[c->n_seen], addr, strlen(addr) + 1);
        c->n_seen++;
    }
    return false;
}

/*
 * Write one mailbox: mime.c encodes it as a one-mailbox field into scratch
 * (its folding spaces are where a break is allowed); its tokens are then
 * refolded into the list, the last one with room for a comma.
 */
static enum qn_status write_mailbox(struct ctx *c, struct address_writer *w, const char *name,
                                    const char *addr)
{
    size_t i, end, n, prefix = strlen(w->field) + 1;
    enum qn_status r;
    const char *s;

    if (seen_before(c, addr))
        return QN_OK;
    qn_buf_reset(&c->scratch);
    /* The field's own name, so the first line is sized as it will be written. */
    r = qn_mime_header_mailbox(&c->scratch, w->field, name, addr);
    if (r != QN_OK)
        return r;
    if (w->written > 0) {
        r = qn_buf_putc(w->fold.out, ',');
        if (r != QN_OK)
            return r;
        w->fold.line++;
    }
    s = c->scratch.data + prefix;
    n = c->scratch.len - prefix;
    for (i = 0; i < n; i = end) {
        while (i < n && (s[i] == ' ' || s[i] == '\r' || s[i] == '\n'))
            i++;
        for (end = i; end < n && s[end] != ' ' && s[end] != '\r' && s[end] != '\n'; end++)
            ;
        if (end == i)
            continue;
        /* The last token may get a comma: keep a column for it. */
        r = fold_token(&w->fold, s + i, end - i, end + 2 >= n ? 1 : 0);
        if (r != QN_OK)
            return r;
    }
    w->written++;
    return QN_OK;
}

static enum qn_status write_address_mailbox(void *arg, const struct qn_message_mailbox *mb)
{
    struct address_writer *w = arg;
    struct ctx *c = w->c;
    enum qn_status r;

    switch (addr_kind(mb->addr, mb->addr_len, mb->addr_bad)) {
    case ADDR_DELIVERABLE:
        r = decode_text(c, mb->name, mb->name_len);
        if (r != QN_OK)
            return r;
        return write_mailbox(c, w, c->decoded.data, mb->addr);
    case ADDR_LOCAL:
        if (w->reply_to || w->alert_done)
            return QN_OK;
        w->alert_done = true;
        for (size_t i = 0; i < c->opt->n_alert_rcpt; i++) {
            if (!qn_mime_addr_valid(c->opt->alert_rcpt[i]))
                continue;
            r = write_mailbox(c, w, NULL, c->opt->alert_rcpt[i]);
            if (r != QN_OK)
                return r;
        }
        return QN_OK;
    case ADDR_BAD:
        break;
    }
    return QN_OK; /* nobody can answer or be reached there: left out */
}

struct address_census {
    size_t deliverable, local, bad;
};

static enum qn_status count_mailbox(void *arg, const struct qn_message_mailbox *mb)
{
    struct address_census *n = arg;

    switch (addr_kind(mb->addr, mb->addr_len, mb->addr_bad)) {
    case ADDR_DELIVERABLE:
        n->deliverable++;
        break;
    case ADDR_LOCAL:
        n->local++;
        break;
    case ADDR_BAD:
        n->bad++;
        break;
    }
    return QN_OK;
}

/* To, Cc or Reply-To (value in c->value): copied when clean, else written again. */
static enum qn_status write_address_field(struct ctx *c, const struct qn_message_field *f,
                                          bool reply_to)
{
    struct address_census census = {0};
    struct address_writer w;
    enum qn_status r;

    r = qn_message_addresses(c->value.data, c->value.len, count_mailbox, &census);
    if (r != QN_OK)
        return r;
    if (copyable(f) && census.local == 0 && census.bad == 0)
        return copy_field(c, f);

    memset(&w, 0, sizeof(w));
    w.c = c;
    w.reply_to = reply_to;
    if (f->name_len >= sizeof(w.field))
        return QN_EINVAL; /* callers pass only To, Cc, Reply-To */
    memcpy(w.field, c->m.msg + f->start, f->name_len);
    c->n_seen = 0;
    r = fold_begin(&w.fold, &c->out, c->m.msg + f->start, f->name_len);
    if (r == QN_OK)
        r = qn_message_addresses(c->value.data, c->value.len, write_address_mailbox, &w);
    if (r == QN_OK && w.written == 0)
        r = fold_token(&w.fold, "undisclosed-recipients:;", 24, 0);
    if (r != QN_OK)
        return r;
    return qn_buf_puts(&c->out, CRLF);
}

/* ---- recipients ---- */

static enum qn_status add_rcpt(struct ctx *c, const char *addr)
{
    struct qn_header_result *res = c->res;

    for (size_t i = 0; i < res->n_rcpt; i++) {
        if (same_address(res->rcpt[i], addr))
            return QN_OK;
    }
    if (res->n_rcpt == QN_HEADER_RCPT_MAX)
        return QN_ETOOBIG;
    memcpy(res->rcpt[res->n_rcpt], addr, strlen(addr) + 1); /* valid: at most QN_MIME_ADDR_MAX */
    res->n_rcpt++;
    return QN_OK;
}

static enum qn_status take_rcpt(void *arg, const struct qn_message_mailbox *mb)
{
    struct ctx *c = arg;
    struct qn_header_result *res = c->res;
    enum qn_status r;

    switch (addr_kind(mb->addr, mb->addr_len, mb->addr_bad)) {
    case ADDR_DELIVERABLE:
        return add_rcpt(c, mb->addr);
    case ADDR_LOCAL:
        res->n_local++;
        for (size_t i = 0; i < c->opt->n_alert_rcpt; i++) {
            if (!qn_mime_addr_valid(c->opt->alert_rcpt[i]))
                continue;
            r = add_rcpt(c, c->opt->alert_rcpt[i]);
            if (r != QN_OK)
                return r;
        }
        return QN_OK;
    case ADDR_BAD:
        break;
    }
    if (res->n_invalid++ == 0)
        qn_text_sanitize_line(mb->addr, mb->addr_len, res->first_invalid,
                              sizeof(res->first_invalid));
    return QN_OK;
}

static enum qn_status collect_rcpt(struct ctx *c)
{
    const struct qn_header_options *opt = c->opt;
    enum qn_status r;

    for (size_t i = 0; i < opt->n_rcpt_args; i++) {
        if (opt->rcpt_args[i] == NULL)
            continue;
        r = qn_message_addresses(opt->rcpt_args[i], strlen(opt->rcpt_args[i]), take_rcpt, c);
        if (r != QN_OK)
            return r;
    }
    if (!opt->extract_rcpt)
        return QN_OK;
    for (size_t i = 0; i < c->m.n_fields; i++) {
        const struct qn_message_field *f = &c->m.fields[i];

        if (!name_is(c, f, "to") && !name_is(c, f, "cc") && !name_is(c, f, "bcc"))
            continue;
        r = field_value(c, f);
        if (r == QN_OK)
            r = qn_message_addresses(c->value.data, c->value.len, take_rcpt, c);
        if (r != QN_OK)
            return r;
    }
    return QN_OK;
}

/* ---- From, Reply-To, Date, Message-ID ---- */

struct first_mailbox {
    bool found;
    struct qn_message_mailbox mb;
};

static enum qn_status keep_first(void *arg, const struct qn_message_mailbox *mb)
{
    struct first_mailbox *first = arg;

    if (!first->found) {
        first->found = true;
        first->mb = *mb;
    }
    return QN_OK;
}

/* The -f address without <>; "" for none or the null sender. */
static void envelope_address(const char *s, char *out, size_t outsz)
{
    size_t n;

    out[0] = '\0';
    if (s == NULL)
        return;
    while (is_blank(*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
        s++;
        n -= 2;
    }
    if (n < outsz) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
}

/* From (and the Reply-To that keeps the original sender) as header.h says. */
static enum qn_status write_from(struct ctx *c)
{
    const struct qn_header_options *opt = c->opt;
    struct first_mailbox first = {0};
    char addr[QN_MIME_ADDR_MAX + 1], name[QN_MIME_VALUE_MAX + 1];
    struct qn_buf qualified, display;
    enum addr_kind kind = ADDR_BAD;
    const char *shown, *at;
    enum qn_status r;
    size_t local_len;

    addr[0] = name[0] = '\0';
    if (c->from != NULL) {
        r = field_value(c, c->from);
        if (r == QN_OK)
            r = qn_message_addresses(c->value.data, c->value.len, keep_first, &first);
        if (r != QN_OK)
            return r;
    }
    if (first.found) {
        kind = addr_kind(first.mb.addr, first.mb.addr_len, first.mb.addr_bad);
        if (kind != ADDR_BAD)
            memcpy(addr, first.mb.addr, first.mb.addr_len + 1);
        if (first.mb.name_len > 0) {
            r = decode_text(c, first.mb.name, first.mb.name_len);
            if (r != QN_OK)
                return r;
            qn_text_sanitize_line(c->decoded.data, c->decoded.len, name, sizeof(name));
        }
    }
    if (addr[0] == '\0') {
        envelope_address(opt->envelope_from, addr, sizeof(addr));
        kind = addr_kind(addr, strlen(addr), false);
        if (kind == ADDR_BAD)
            addr[0] = '\0';
    }
    if (name[0] == '\0' && opt->full_name != NULL)
        qn_text_sanitize_line(opt->full_name, strlen(opt->full_name), name, sizeof(name));

    if (addr[0] == '\0' || same_address(addr, opt->account)) {
        shown = name[0] != '\0' ? name : opt->from_name;
        return qn_mime_header_mailbox(&c->out, "From", shown, opt->account);
    }
    /* Say which host's "root" it was: "root" and "root@localhost" become "root@HOST". */
    qn_buf_init(&qualified, 2 * QN_MIME_VALUE_MAX);
    qn_buf_init(&display, 4 * QN_MIME_VALUE_MAX);
    at = strchr(addr, '@');
    local_len = at != NULL ? (size_t)(at - addr) : strlen(addr);
    if (opt->host != NULL && opt->host[0] != '\0' &&
        (at == NULL || strcasecmp(at + 1, "localhost") == 0 ||
         strcasecmp(at + 1, "localhost.localdomain") == 0))
        r = qn_buf_printf(&qualified, "%.*s@%s", (int)local_len, addr, opt->host);
    else
        r = qn_buf_puts(&qualified, addr);
    if (r != QN_OK)
        goto out;
    /* mime.c sanitises the name and cuts it to QN_MIME_VALUE_MAX. */
    if (name[0] == '\0' || strcasecmp(name, qualified.data) == 0)
        r = qn_buf_puts(&display, qualified.data);
    else
        r = qn_buf_printf(&display, "%s (%s)", name, qualified.data);
    if (r == QN_OK)
        r = qn_mime_header_mailbox(&c->out, "From", display.data, opt->account);
    if (r == QN_OK && kind == ADDR_DELIVERABLE && !c->reply_to_usable)
        r = qn_mime_header_mailbox(&c->out, "Reply-To", NULL, addr);
out:
    qn_buf_free(&qualified);
    qn_buf_free(&display);
    return r;
}

static enum qn_status write_date(struct ctx *c)
{
    return qn_mime_header_date(&c->out, c->opt->now);
}

static enum qn_status write_message_id(struct ctx *c)
{
    return qn_mime_header_message_id(&c->out, c->opt->message_id, c->opt->account);
}

/* ---- the body ---- */

/* Charsets whose 8-bit content can only be a mislabel or UTF-8: decode it. */
static bool charset_decodable(const char *charset)
{
    static const char *const names[] = {"",          "us-ascii", "ascii", "ansi_x3.4-1968",
                                        "iso646-us", "utf-8",    "utf8"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(charset, names[i]) == 0)
            return true;
    }
    return false;
}

/* Decide how the body goes out (header.h, "Body"). */
static enum qn_status choose_body_mode(struct ctx *c)
{
    const char *b = c->m.msg + c->m.body;
    size_t n = c->m.len - c->m.body, i, line = 0;
    const struct qn_message_field *ct = NULL, *cte = NULL;
    char type[QN_MESSAGE_TYPE_MAX + 1], subtype[QN_MESSAGE_TYPE_MAX + 1];
    char charset[QN_MESSAGE_CHARSET_MAX + 1];
    char encoding[32];
    bool needs = false, mime = false;
    enum qn_status r;

    for (i = 0; i < n && !needs; i++) {
        if (b[i] == '\n') {
            line = 0;
            continue;
        }
        if ((unsigned char)b[i] >= 0x80 || b[i] == '\0')
            needs = true;
        else if (b[i] != '\r' || (i + 1 < n && b[i + 1] != '\n'))
            needs = ++line > LINE_HARD;
    }
    memcpy(c->subtype, "plain", sizeof("plain"));
    c->body_mode = BODY_PASS;
    for (i = 0; i < c->m.n_fields; i++) {
        const struct qn_message_field *f = &c->m.fields[i];

        if (name_is(c, f, "content-type") && ct == NULL)
            ct = f;
        else if (name_is(c, f, "content-transfer-encoding") && cte == NULL)
            cte = f;
        mime = mime || name_is(c, f, "mime-version") || f == ct || f == cte;
    }
    if (!needs)
        return QN_OK;
    if (!mime) {
        c->body_mode = BODY_UTF8;
        return QN_OK;
    }
    encoding[0] = '\0';
    if (cte != NULL) {
        r = field_value(c, cte);
        if (r != QN_OK)
            return r;
        qn_message_token(c->value.data, c->value.len, encoding, sizeof(encoding));
    }
    if (encoding[0] != '\0' && strcmp(encoding, "7bit") != 0 && strcmp(encoding, "8bit") != 0 &&
        strcmp(encoding, "binary") != 0)
        return QN_OK; /* base64, quoted-printable...: already safe, or not ours to touch */
    memcpy(type, "text", sizeof("text"));
    subtype[0] = charset[0] = '\0';
    if (ct != NULL) {
        r = field_value(c, ct);
        if (r != QN_OK)
            return r;
        qn_message_content_type(c->value.data, c->value.len, type, subtype, charset);
        if (type[0] == '\0') /* RFC 2045 section 5.2: an unreadable type is text/plain */
            memcpy(type, "text", sizeof("text"));
    }
    if (strcmp(type, "text") != 0)
        return QN_OK; /* multipart, message, application: passed through */
    if (subtype[0] != '\0')
        memcpy(c->subtype, subtype, strlen(subtype) + 1);
    c->body_mode = charset_decodable(charset) ? BODY_UTF8 : BODY_RAW;
    return QN_OK;
}

/* Append S with every line break (CRLF, LF, lone CR) made CRLF. */
static enum qn_status put_crlf(struct qn_buf *out, const char *s, size_t n)
{
    size_t i = 0, end;
    enum qn_status r;

    while (i < n) {
        for (end = i; end < n && s[end] != '\r' && s[end] != '\n'; end++)
            ;
        r = qn_buf_append(out, s + i, end - i);
        if (r != QN_OK || end == n)
            return r;
        r = qn_buf_puts(out, CRLF);
        if (r != QN_OK)
            return r;
        i = end + (s[end] == '\r' && end + 1 < n && s[end + 1] == '\n' ? 2 : 1);
    }
    return QN_OK;
}

static enum qn_status write_body(struct ctx *c)
{
    const char *b = c->m.msg + c->m.body;
    size_t n = c->m.len - c->m.body;
    struct qn_buf utf8, lines;
    enum qn_status r;

    if (c->body_mode == BODY_PASS)
        return put_crlf(&c->out, b, n);
    /* Whatever does not fit in the output would not fit once base64 grew it. */
    qn_buf_init(&utf8, c->out.max);
    qn_buf_init(&lines, c->out.max);
    if (c->body_mode == BODY_UTF8) {
        r = qn_text_decode(b, n, &utf8);
        if (r != QN_OK)
            goto out;
        b = utf8.data != NULL ? utf8.data : "";
        n = utf8.len;
    }
    r = put_crlf(&lines, b, n);
    if (r == QN_OK)
        r = qn_mime_base64_body(&c->out, lines.data, lines.len);
    c->res->body_encoded = r == QN_OK;
out:
    qn_buf_free(&utf8);
    qn_buf_free(&lines);
    return r;
}

/* ---- the whole message ---- */

/* What the fields say before any is written: From, Date, Message-ID, usable Reply-To. */
static enum qn_status survey(struct ctx *c)
{
    struct address_census census;
    bool seen_reply_to = false;
    enum qn_status r;

    for (size_t i = 0; i < c->m.n_fields; i++) {
        const struct qn_message_field *f = &c->m.fields[i];

        if (name_is(c, f, "from") && c->from == NULL)
            c->from = f;
        c->has_date = c->has_date || name_is(c, f, "date");
        c->has_message_id = c->has_message_id || name_is(c, f, "message-id");
        c->has_mime_version = c->has_mime_version || name_is(c, f, "mime-version");
        c->has_to_or_cc = c->has_to_or_cc || name_is(c, f, "to") || name_is(c, f, "cc");
        /* Only the first Reply-To is kept (RFC 5322 allows one). */
        if (name_is(c, f, "reply-to") && !seen_reply_to) {
            seen_reply_to = true;
            memset(&census, 0, sizeof(census));
            r = field_value(c, f);
            if (r == QN_OK)
                r = qn_message_addresses(c->value.data, c->value.len, count_mailbox, &census);
            if (r != QN_OK)
                return r;
            c->reply_to_usable = census.deliverable > 0;
        }
    }
    return QN_OK;
}

/* Fields of which RFC 5322 (or MIME) allows one: later ones are dropped. */
static const char *const single_fields[] = {
    "date",
    "message-id",
    "subject",
    "reply-to",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
};
#define N_SINGLE (sizeof(single_fields) / sizeof(single_fields[0]))

static enum qn_status write_fields(struct ctx *c)
{
    bool seen[N_SINGLE] = {false};
    enum qn_status r;
    size_t i, k;

    for (i = 0; i < c->m.n_fields; i++) {
        const struct qn_message_field *f = &c->m.fields[i];
        /* Resent-Bcc, like Bcc, names who must not be seen by the other recipients. */
        bool drop = name_is(c, f, "from") || name_is(c, f, "sender") ||
                    name_is(c, f, "return-path") || name_is(c, f, "bcc") ||
                    name_is(c, f, "resent-bcc");

        for (k = 0; k < N_SINGLE && !drop; k++) {
            if (name_is(c, f, single_fields[k])) {
                drop = seen[k];
                seen[k] = true;
            }
        }
        /* Replaced by the fields the new body needs. */
        if (name_is(c, f, "content-transfer-encoding"))
            drop = drop || c->body_mode != BODY_PASS;
        if (name_is(c, f, "content-type"))
            drop = drop || c->body_mode == BODY_UTF8;
        if (name_is(c, f, "reply-to"))
            drop = drop || !c->reply_to_usable;
        if (drop)
            continue;
        r = field_value(c, f);
        if (r != QN_OK)
            return r;
        if (name_is(c, f, "to") || name_is(c, f, "cc") || name_is(c, f, "reply-to"))
            r = write_address_field(c, f, name_is(c, f, "reply-to"));
        else
            r = write_plain_field(c, f);
        if (r != QN_OK)
            return r;
    }
    return QN_OK;
}

static enum qn_status rewrite(struct ctx *c)
{
    enum qn_status r;

    r = qn_message_parse(&c->m, c->m.msg, c->m.len);
    if (r == QN_OK)
        r = survey(c);
    if (r == QN_OK)
        r = collect_rcpt(c);
    if (r != QN_OK)
        return r;
    if (c->res->n_rcpt == 0)
        return QN_EINVAL;
    r = choose_body_mode(c);
    if (r == QN_OK && !c->has_date)
        r = write_date(c);
    if (r == QN_OK)
        r = write_from(c);
    if (r == QN_OK)
        r = write_fields(c);
    if (r == QN_OK && !c->has_to_or_cc)
        r = qn_buf_puts(&c->out, "To: undisclosed-recipients:;" CRLF);
    if (r == QN_OK && !c->has_message_id)
        r = write_message_id(c);
    if (r == QN_OK && c->body_mode != BODY_PASS && !c->has_mime_version)
        r = qn_buf_puts(&c->out, "MIME-Version: 1.0" CRLF);
    if (r == QN_OK && c->body_mode == BODY_UTF8)
        r = qn_buf_printf(&c->out, "Content-Type: text/%s; charset=UTF-8" CRLF, c->subtype);
    if (r == QN_OK && c->body_mode != BODY_PASS)
        r = qn_buf_puts(&c->out, "Content-Transfer-Encoding: base64" CRLF);
    if (r == QN_OK)
        r = qn_buf_puts(&c->out, CRLF);
    if (r == QN_OK)
        r = write_body(c);
    return r;
}

enum qn_status qn_header_rewrite(const char *msg, size_t len, const struct qn_header_options *opt,
                                 struct qn_buf *out, struct qn_header_result *ret)
{
    struct ctx *c = NULL;
    enum qn_status r = QN_EINVAL;

    if (ret != NULL)
        memset(ret, 0, sizeof(*ret));
    if (opt == NULL || out == NULL || ret == NULL || (msg == NULL && len > 0) ||
        !qn_mime_addr_valid(opt->account) ||
        (opt->message_id != NULL && !qn_mime_message_id_valid(opt->message_id)) ||
        (opt->n_rcpt_args > 0 && opt->rcpt_args == NULL) ||
        (opt->n_alert_rcpt > 0 && opt->alert_rcpt == NULL))
        goto out;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        r = QN_ENOMEM;
        goto out;
    }
    c->m.msg = msg != NULL ? msg : "";
    c->m.len = len;
    c->opt = opt;
    c->res = ret;
    qn_buf_init(&c->value, QN_HEADER_BLOCK_MAX);
    qn_buf_init(&c->decoded, 3 * QN_HEADER_BLOCK_MAX + 16);
    qn_buf_init(&c->scratch, QN_HEADER_BLOCK_MAX);
    qn_buf_init(&c->out, out->max - out->len);

    r = rewrite(c);
    if (r == QN_OK)
        r = qn_buf_append(out, c->out.data, c->out.len);
    qn_buf_free(&c->value);
    qn_buf_free(&c->decoded);
    qn_buf_free(&c->scratch);
    qn_buf_free(&c->out);
out:
    free(c);
    return r;
}
