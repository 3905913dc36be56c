/*
 * Unit tests for common/render.c: exact subjects and headlines of every
 * event kind in Chinese and English, the field table, HTML escaping, clean
 * output from dirty input, and digests (every event named exactly once,
 * group counts, time ranges, bounds).  TZ is fixed to Asia/Shanghai (UTC+8,
 * no daylight saving) so every time string is exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "render.h"
#include "text.h"

/* 2026-11-26 14:03:05 +0800 */
#define T_1403 1795672985LL
/* 2026-11-26 10:00:00 +0800 */
#define T_1000 1795658400LL

/* ---- helpers ------------------------------------------------------------------------ */

static void event_at(struct qn_event *ev, const char *kind, long long t)
{
    qn_event_init(ev, kind);
    qn_event_set_host(ev, "web1");
    ev->time = t;
}

static void ssh_login(struct qn_event *ev, const char *method)
{
    event_at(ev, "login", T_1403);
    assert_int_equal(qn_event_set(ev, "service", "sshd"), QN_OK);
    assert_int_equal(qn_event_set(ev, "user", "root"), QN_OK);
    assert_int_equal(qn_event_set(ev, "rhost", "203.0.113.9"), QN_OK);
    assert_int_equal(qn_event_set(ev, "ip", "203.0.113.9"), QN_OK);
    assert_int_equal(qn_event_set(ev, "tty", "ssh"), QN_OK);
    assert_int_equal(qn_event_set(ev, "method", method), QN_OK);
    assert_int_equal(qn_event_set(ev, "pid", "4242"), QN_OK);
}

static void switch_user(struct qn_event *ev, const char *kind, const char *service, const char *tty)
{
    event_at(ev, kind, T_1403);
    assert_int_equal(qn_event_set(ev, "service", service), QN_OK);
    assert_int_equal(qn_event_set(ev, "user", "root"), QN_OK);
    assert_int_equal(qn_event_set(ev, "ruser", "alice"), QN_OK);
    if (tty != NULL)
        assert_int_equal(qn_event_set(ev, "tty", tty), QN_OK);
}

/* Every line valid UTF-8, no control character but the '\n' that ends each line. */
static void assert_clean_text(const struct qn_buf *b)
{
    size_t i;

    assert_non_null(b->data);
    assert_true(b->len > 0);
    assert_int_equal(strlen(b->data), b->len);
    assert_true(qn_text_utf8_valid(b->data, b->len));
    assert_int_equal(b->data[b->len - 1], '\n');
    for (i = 0; i < b->len; i++) {
        unsigned char c = (unsigned char)b->data[i];

        assert_true(c == '\n' || (c >= 0x20 && c != 0x7f));
        /* C1 controls as UTF-8: C2 80..C2 9F */
        if (c == 0xC2 && i + 1 < b->len)
            assert_false((unsigned char)b->data[i + 1] >= 0x80 &&
                         (unsigned char)b->data[i + 1] <= 0x9F);
    }
}

static void assert_clean_subject(const struct qn_buf *b)
{
    size_t i;

    assert_non_null(b->data);
    assert_true(b->len > 0);
    assert_true(b->len < QN_RENDER_SUBJECT_MAX);
    assert_true(qn_text_utf8_valid(b->data, b->len));
    for (i = 0; i < b->len; i++)
        assert_true((unsigned char)b->data[i] >= 0x20 && b->data[i] != 0x7f);
}

static void assert_html_document(const struct qn_buf *h)
{
    assert_non_null(h->data);
    assert_true(qn_text_utf8_valid(h->data, h->len));
    assert_int_equal(strncmp(h->data, "<!DOCTYPE html>\n", 16), 0);
    assert_non_null(strstr(h->data, "<meta charset=\"utf-8\">"));
    assert_non_null(strstr(h->data, "max-width:"));
    assert_non_null(strstr(h->data, "word-break:"));
    assert_null(strstr(h->data, "<style"));
    assert_true(h->len > 8);
    assert_string_equal(h->data + h->len - 8, "</html>\n");
}

/* The first line of TEXT, into OUT. */
static const char *line_at(const char *text, size_t index, char *out, size_t outsz)
{
    const char *nl;
    size_t n;

    while (index-- > 0) {
        nl = strchr(text, '\n');
        assert_non_null(nl);
        text = nl + 1;
    }
    nl = strchr(text, '\n');
    assert_non_null(nl);
    n = (size_t)(nl - text);
    assert_true(n < outsz);
    memcpy(out, text, n);
    out[n] = '\0';
    return out;
}

static size_t count_occurrences(const char *hay, const char *needle)
{
    size_t n = 0, k = strlen(needle);
    const char *p = hay;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += k;
    }
    return n;
}

static bool has_line(const char *text, const char *line)
{
    size_t k = strlen(line);
    const char *p = text;

    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[k] == '\n')
            return true;
        p += k;
    }
    return false;
}

/* Render EV in LANG and check subject and first text line exactly, and all invariants. */
static void assert_event(const struct qn_event *ev, enum qn_lang lang, const char *subject,
                         const char *first_line)
{
    struct qn_rendered r;
    char line[1024];

    assert_int_equal(qn_render_event(ev, lang, &r), QN_OK);
    assert_string_equal(r.subject.data, subject);
    assert_string_equal(line_at(r.text.data, 0, line, sizeof(line)), first_line);
    assert_clean_subject(&r.subject);
    assert_clean_text(&r.text);
    assert_html_document(&r.html);
    qn_rendered_free(&r);
}

/* ---- login, sudo, su ----------------------------------------------------------------- */

static void test_login_sshd_publickey_zh_and_en(void **state)
{
    struct qn_event ev;

    (void)state;
    ssh_login(&ev, "publickey");
    assert_event(&ev, QN_LANG_ZH, "[web1] root 通过 ssh 登录，来自 203.0.113.9",
                 "root 于 14:03 从 203.0.113.9 通过 ssh 公钥登录 web1");
    assert_event(&ev, QN_LANG_EN, "[web1] root logged in via ssh from 203.0.113.9",
                 "root logged in to web1 via ssh publickey from 203.0.113.9 at 14:03");
}

static void test_login_language_auto_is_chinese(void **state)
{
    struct qn_event ev;

    (void)state;
    ssh_login(&ev, "publickey");
    assert_event(&ev, QN_LANG_AUTO, "[web1] root 通过 ssh 登录，来自 203.0.113.9",
                 "root 于 14:03 从 203.0.113.9 通过 ssh 公钥登录 web1");
}

static void test_login_sshd_password_and_keyboard_interactive(void **state)
{
    struct qn_event ev;

    (void)state;
    ssh_login(&ev, "password");
    assert_event(&ev, QN_LANG_ZH, "[web1] root 通过 ssh 登录，来自 203.0.113.9",
                 "root 于 14:03 从 203.0.113.9 通过 ssh 密码登录 web1");
    assert_event(&ev, QN_LANG_EN, "[web1] root logged in via ssh from 203.0.113.9",
                 "root logged in to web1 via ssh password from 203.0.113.9 at 14:03");
    ssh_login(&ev, "keyboard-interactive");
    assert_event(&ev, QN_LANG_ZH, "[web1] root 通过 ssh 登录，来自 203.0.113.9",
                 "root 于 14:03 从 203.0.113.9 通过 ssh 键盘交互登录 web1");
    assert_event(&ev, QN_LANG_EN, "[web1] root logged in via ssh from 203.0.113.9",
                 "root logged in to web1 via ssh keyboard-interactive from 203.0.113.9 at 14:03");
}

static void test_login_unknown_method_is_shown_as_is(void **state)
{
    struct qn_event ev;

    (void)state;
    ssh_login(&ev, "none");
    assert_event(&ev, QN_LANG_ZH, "[web1] root 通过 ssh 登录，来自 203.0.113.9",
                 "root 于 14:03 从 203.0.113.9 通过 ssh none 登录 web1");
    assert_event(&ev, QN_LANG_EN, "[web1] root logged in via ssh from 203.0.113.9",
                 "root logged in to web1 via ssh none from 203.0.113.9 at 14:03");
}

static void test_login_without_method_or_source(void **state)
{
    struct qn_event ev;

    (void)state;
    event_at(&ev, "login", T_1403);
    assert_int_equal(qn_event_set(&ev, "service", "login"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "user", "root"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "tty", "tty1"), QN_OK);
    assert_event(&ev, QN_LANG_ZH, "[web1] root 通过 login 登录",
                 "root 于 14:03 通过 login 登录 web1");
    assert_event(&ev, QN_LANG_EN, "[web1] root logged in via login",
                 "root logged in to web1 via login at 14:03");
}

static void test_login_source_prefers_ip_over_rhost(void **state)
{
    struct qn_event ev;

    (void)state;
    ssh_login(&ev, "publickey");
    assert_int_equal(qn_event_set(&ev, "rhost", "trusted.example.com"), QN_OK);
    assert_event(&ev, QN_LANG_EN, "[web1] root logged in via ssh from 203.0.113.9",
                 "root logged in to web1 via ssh publickey from 203.0.113.9 at 14:03");
    /* Only a name: the name it is. */
    event_at(&ev, "login", T_1403);
    assert_int_equal(qn_event_set(&ev, "service", "sshd"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "user", "bob"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "rhost", "jump.example.com"), QN_OK);
    assert_event(&ev, QN_LANG_EN, "[web1] bob logged in via ssh from jump.example.com",
                 "bob logged in to web1 via ssh from jump.example.com at 14:03");
}

static void test_sudo_zh_and_en(void **state)
{
    struct qn_event ev;

    (void)state;
    switch_user(&ev, "login", "sudo", "pts/0");
    assert_event(&ev, QN_LANG_ZH, "[web1] alice 通过 sudo 成为 root",
                 "alice 在 web1 上通过 sudo 成为 root（终端 pts/0）");
    assert_event(&ev, QN_LANG_EN, "[web1] alice became root via sudo",
                 "alice became root on web1 via sudo (tty pts/0)");
}

static void test_su_zh_and_en(void **state)
{
    struct qn_event ev;

    (void)state;
    switch_user(&ev, "login", "su", "pts/1");
    assert_event(&ev, QN_LANG_ZH, "[web1] alice 通过 su 成为 root",
                 "alice 在 web1 上通过 su 成为 root（终端 pts/1）");
    assert_event(&ev, QN_LANG_EN, "[web1] alice became root via su",
                 "alice became root on web1 via su (tty pts/1)");
    switch_user(&ev, "login", "su-l", NULL);
    assert_event(&ev, QN_LANG_ZH, "[web1] alice 通过 su - 成为 root",
                 "alice 在 web1 上通过 su - 成为 root");
    assert_event(&ev, QN_LANG_EN, "[web1] alice became root via su -",
                 "alice became root on web1 via su -");
}

static void test_missing_user_is_named_unknown(void **state)
{
    struct qn_event ev;

    (void)state;
    event_at(&ev, "login", T_1403);
    assert_int_equal(qn_event_set(&ev, "service", "sudo"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "user", "root"), QN_OK);
    assert_event(&ev, QN_LANG_ZH, "[web1] 未知用户 通过 sudo 成为 root",
                 "未知用户 在 web1 上通过 sudo 成为 root");
    assert_event(&ev, QN_LANG_EN, "[web1] unknown user became root via sudo",
                 "unknown user became root on web1 via sudo");
}

/* ---- logout, authfail ---------------------------------------------------------------- */

static void test_logout_zh_and_en(void **state)
{
    struct qn_event ev;

    (void)state;
    ssh_login(&ev, "publickey");
    snprintf(ev.kind, sizeof(ev.kind), "logout");
    assert_event(&ev, QN_LANG_ZH, "[web1] root 的 ssh 会话已结束，来自 203.0.113.9",
                 "root 于 14:03 结束了 web1 上来自 203.0.113.9 的 ssh 会话");
    assert_event(&ev, QN_LANG_EN, "[web1] root's ssh session from 203.0.113.9 ended",
                 "root ended the ssh session on web1 from 203.0.113.9 at 14:03");
    switch_user(&ev, "logout", "sudo", "pts/0");
    assert_event(&ev, QN_LANG_ZH, "[web1] alice 以 root 身份的 sudo 会话已结束",
                 "alice 于 14:03 结束了在 web1 上以 root 身份的 sudo 会话");
    assert_event(&ev, QN_LANG_EN, "[web1] alice's sudo session as root ended",
                 "alice ended the sudo session as root on web1 at 14:03");
}

static void journal_event(struct qn_event *ev, const char *count);

/* "session of USER from SOURCE ended after 2h 14m": the sender sets "duration" (seconds). */
static void test_logout_with_duration_says_how_long(void **state)
{
    struct qn_event ev;
    struct qn_rendered r;

    (void)state;
    ssh_login(&ev, "publickey");
    snprintf(ev.kind, sizeof(ev.kind), "logout");
    assert_int_equal(qn_event_set(&ev, "duration", "8040"), QN_OK);
    assert_event(&ev, QN_LANG_EN, "[web1] root's ssh session from 203.0.113.9 ended after 2h 14m",
                 "root ended the ssh session on web1 from 203.0.113.9 at 14:03 after 2h 14m");
    assert_event(&ev, QN_LANG_ZH,
                 "[web1] root 的 ssh 会话已结束，来自 203.0.113.9，持续 2 小时 14 分钟",
                 "root 于 14:03 结束了 web1 上来自 203.0.113.9 的 ssh 会话（持续 2 小时 14 分钟）");
    assert_int_equal(qn_render_event(&ev, QN_LANG_EN, &r), QN_OK);
    assert_true(has_line(r.text.data, "session length: 2h 14m"));
    qn_rendered_free(&r);
    assert_int_equal(qn_event_set(&ev, "duration", "45"), QN_OK);
    assert_event(&ev, QN_LANG_EN, "[web1] root's ssh session from 203.0.113.9 ended after 45s",
                 "root ended the ssh session on web1 from 203.0.113.9 at 14:03 after 45s");
    assert_int_equal(qn_event_set(&ev, "duration", "266400"), QN_OK); /* 3 d 2 h */
    assert_event(&ev, QN_LANG_EN, "[web1] root's ssh session from 203.0.113.9 ended after 3d 2h",
                 "root ended the ssh session on web1 from 203.0.113.9 at 14:03 after 3d 2h");
    switch_user(&ev, "logout", "su", NULL);
    assert_int_equal(qn_event_set(&ev, "duration", "600"), QN_OK);
    assert_event(&ev, QN_LANG_EN, "[web1] alice's su session as root ended after 10m",
                 "alice ended the su session as root on web1 at 14:03");
}

/* The sender sets "severity" (severity.h); the subject shows it after the host. */
static void test_severity_is_shown_in_the_subject(void **state)
{
    struct qn_event ev;
    struct qn_rendered r;

    (void)state;
    ssh_login(&ev, "publickey");
    assert_int_equal(qn_event_set(&ev, "severity", "critical"), QN_OK);
    assert_event(&ev, QN_LANG_ZH, "[web1] 【严重】root 通过 ssh 登录，来自 203.0.113.9",
                 "root 于 14:03 从 203.0.113.9 通过 ssh 公钥登录 web1");
    assert_event(&ev, QN_LANG_EN, "[web1] [critical] root logged in via ssh from 203.0.113.9",
                 "root logged in to web1 via ssh publickey from 203.0.113.9 at 14:03");
    assert_int_equal(qn_render_event(&ev, QN_LANG_ZH, &r), QN_OK);
    assert_true(has_line(r.text.data, "严重程度：严重"));
    qn_rendered_free(&r);
    journal_event(&ev, "5");
    assert_int_equal(qn_event_set(&ev, "severity", "info"), QN_OK);
    qn_event_set_subject(&ev, "[web1] brute force from 198.51.100.7");
    assert_event(&ev, QN_LANG_EN, "[web1] [info] brute force from 198.51.100.7",
                 "rule ssh-brute matched 5 journal entries on web1 (unit ssh.service) at 14:03");
    assert_int_equal(qn_event_set(&ev, "severity", "bogus"), QN_OK);
    assert_event(&ev, QN_LANG_EN, "[web1] brute force from 198.51.100.7",
                 "rule ssh-brute matched 5 journal entries on web1 (unit ssh.service) at 14:03");
}

static void test_enrichment_fields_are_labelled_and_times_shown_local(void **state)
{
    struct qn_event ev;
    struct qn_rendered r;

    (void)state;
    ssh_login(&ev, "publickey");
    assert_int_equal(qn_event_set(&ev, "rdns", "host.example.test"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "country", "中国 (CN)"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "city", "上海"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "asn", "AS64500 Example Transit"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "last_login", "1795658400"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "last_login_from", "198.51.100.0/24"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "sessions", "2"), QN_OK);
    assert_int_equal(qn_render_event(&ev, QN_LANG_ZH, &r), QN_OK);
    assert_true(has_line(r.text.data, "来源域名：host.example.test"));
    assert_true(has_line(r.text.data, "国家/地区：中国 (CN)"));
    assert_true(has_line(r.text.data, "城市：上海"));
    assert_true(has_line(r.text.data, "网络（ASN）：AS64500 Example Transit"));
    assert_true(has_line(r.text.data, "该用户上次登录：2026-11-26 10:00:00 +0800"));
    assert_true(has_line(r.text.data, "上次登录来源：198.51.100.0/24"));
    assert_true(has_line(r.text.data, "该用户当前会话数：2"));
    qn_rendered_free(&r);
    assert_int_equal(qn_render_event(&ev, QN_LANG_EN, &r), QN_OK);
    assert_true(has_line(r.text.data, "source name: host.example.test"));
    assert_true(has_line(r.text.data, "user's previous login: 2026-11-26 10:00:00 +0800"));
    assert_true(has_line(r.text.data, "user's open sessions: 2"));
    assert_non_null(strstr(r.html.data, "user&#39;s previous login"));
    qn_rendered_free(&r);
}

static void test_authfail_zh_and_en(void **state)
{
    struct qn_event ev;

    (void)state;
    event_at(&ev, "authfail", T_1403);
    assert_int_equal(qn_event_set(&ev, "service", "sshd"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "user", "admin"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "rhost", "198.51.100.7"), QN_OK);
    assert_event(&ev, QN_LANG_ZH, "[web1] 登录失败：用户 admin，来自 198.51.100.7（sshd）",
                 "admin 于 14:03 从 198.51.100.7 登录 web1 失败（sshd）");
    assert_event(&ev, QN_LANG_EN, "[web1] failed login: user admin from 198.51.100.7 (sshd)",
                 "failed login to web1 as admin from 198.51.100.7 at 14:03 (sshd)");
}

/* ---- journal, notify, other kinds ------------------------------------------------------ */

static void journal_event(struct qn_event *ev, const char *count)
{
    event_at(ev, "journal", T_1403);
    assert_int_equal(qn_event_set(ev, "rule", "ssh-brute"), QN_OK);
    if (count != NULL)
        assert_int_equal(qn_event_set(ev, "count", count), QN_OK);
    assert_int_equal(qn_event_set(ev, "unit", "ssh.service"), QN_OK);
    assert_int_equal(
        qn_event_set(ev, "message", "Failed password for root from 198.51.100.7 port 51234 ssh2"),
        QN_OK);
    assert_int_equal(qn_event_set(ev, "sample.1", "Failed password for root (1)"), QN_OK);
    assert_int_equal(qn_event_set(ev, "sample.2", "Failed password for root (2)"), QN_OK);
    assert_int_equal(qn_event_set(ev, "ip", "198.51.100.7"), QN_OK);
}

static void test_journal_default_subject_and_headline(void **state)
{
    struct qn_event ev;

    (void)state;
    journal_event(&ev, "5");
    assert_event(&ev, QN_LANG_ZH, "[web1] 日志告警：ssh-brute",
                 "规则 ssh-brute 于 14:03 在 web1 上匹配到 5 条日志（单元 ssh.service）");
    assert_event(&ev, QN_LANG_EN, "[web1] journal alert: ssh-brute",
                 "rule ssh-brute matched 5 journal entries on web1 (unit ssh.service) at 14:03");
    journal_event(&ev, "1");
    assert_event(&ev, QN_LANG_ZH, "[web1] 日志告警：ssh-brute",
                 "规则 ssh-brute 于 14:03 在 web1 上匹配到日志（单元 ssh.service）");
    assert_event(&ev, QN_LANG_EN, "[web1] journal alert: ssh-brute",
                 "rule ssh-brute matched a journal entry on web1 (unit ssh.service) at 14:03");
}

static void test_journal_body_has_message_samples_and_captures(void **state)
{
    struct qn_event ev;
    struct qn_rendered r;

    (void)state;
    journal_event(&ev, "5");
    assert_int_equal(qn_render_event(&ev, QN_LANG_EN, &r), QN_OK);
    assert_string_equal(r.text.data,
                        "rule ssh-brute matched 5 journal entries on web1 (unit ssh.service) at "
                        "14:03\n"
                        "\n"
                        "Failed password for root from 198.51.100.7 port 51234 ssh2\n"
                        "\n"
                        "Samples:\n"
                        "  1. Failed password for root (1)\n"
                        "  2. Failed password for root (2)\n"
                        "\n"
                        "rule: ssh-brute\n"
                        "count: 5\n"
                        "unit: ssh.service\n"
                        "source IP: 198.51.100.7\n"
                        "host: web1\n"
                        "time: 2026-11-26 14:03:05 +0800\n"
                        "\n"
                        "— sent by qqnotify on web1\n");
    assert_non_null(strstr(r.html.data, "Failed password for root (2)</li>"));
    qn_rendered_free(&r);
}

static void test_journal_rule_subject_gets_host_prefix_once(void **state)
{
    struct qn_event ev;

    (void)state;
    journal_event(&ev, "5");
    qn_event_set_subject(&ev, "SSH 暴力破解：198.51.100.7");
    assert_event(&ev, QN_LANG_ZH, "[web1] SSH 暴力破解：198.51.100.7",
                 "规则 ssh-brute 于 14:03 在 web1 上匹配到 5 条日志（单元 ssh.service）");
    qn_event_set_subject(&ev, "[web1] brute force from 198.51.100.7");
    assert_event(&ev, QN_LANG_EN, "[web1] brute force from 198.51.100.7",
                 "rule ssh-brute matched 5 journal entries on web1 (unit ssh.service) at 14:03");
    /* Another bracket is text, not the host prefix. */
    qn_event_set_subject(&ev, "[web10] x");
    assert_event(&ev, QN_LANG_EN, "[web1] [web10] x",
                 "rule ssh-brute matched 5 journal entries on web1 (unit ssh.service) at 14:03");
}

static void test_notify_subject_and_body(void **state)
{
    struct qn_event ev;
    struct qn_rendered r;

    (void)state;
    event_at(&ev, "notify", T_1403);
    assert_int_equal(qn_event_set(&ev, "message", "备份完成：12 GiB"), QN_OK);
    assert_event(&ev, QN_LANG_ZH, "[web1] 通知", "备份完成：12 GiB");
    assert_event(&ev, QN_LANG_EN, "[web1] notification", "备份完成：12 GiB");
    qn_event_set_subject(&ev, "Backup done");
    assert_int_equal(qn_event_set(&ev, "job", "nightly"), QN_OK);
    assert_event(&ev, QN_LANG_EN, "[web1] Backup done", "备份完成：12 GiB");

    assert_int_equal(qn_render_event(&ev, QN_LANG_EN, &r), QN_OK);
    assert_string_equal(r.text.data, "备份完成：12 GiB\n"
                                     "\n"
                                     "job: nightly\n"
                                     "host: web1\n"
                                     "time: 2026-11-26 14:03:05 +0800\n"
                                     "\n"
                                     "— sent by qqnotify on web1\n");
    qn_rendered_free(&r);

    /* No text at all still says something. */
    event_at(&ev, "notify", T_1403);
    assert_event(&ev, QN_LANG_ZH, "[web1] 通知", "（无内容）");
    assert_event(&ev, QN_LANG_EN, "[web1] notification", "(no text)");
}

static void test_other_kind_lists_its_fields(void **state)
{
    struct qn_event ev;
    struct qn_rendered r;

    (void)state;
    event_at(&ev, "backup", T_1403);
    assert_int_equal(qn_event_set(&ev, "status", "failed"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "message", "disk full"), QN_OK);
    assert_event(&ev, QN_LANG_ZH, "[web1] backup", "web1 上的 backup 事件，时间 14:03");
    assert_event(&ev, QN_LANG_EN, "[web1] backup", "backup event on web1 at 14:03");
    assert_int_equal(qn_render_event(&ev, QN_LANG_ZH, &r), QN_OK);
    assert_true(has_line(r.text.data, "disk full"));
    assert_true(has_line(r.text.data, "status：failed"));
    assert_true(has_line(r.text.data, "主机：web1"));
    assert_true(has_line(r.text.data, "时间：2026-11-26 14:03:05 +0800"));
    qn_rendered_free(&r);
}

/* ---- the table and the footer ---------------------------------------------------------- */

static void test_table_labels_are_translated(void **state)
{
    static const char *const zh[] = {
        "服务：sshd",
        "用户：root",
        "来源主机：203.0.113.9",
        "来源 IP：203.0.113.9",
        "终端：ssh",
        "认证方式：publickey",
        "进程号：4242",
        "密钥：SHA256:AAAA",
        "发起用户：carol",
        "主机：web1",
        "时间：2026-11-26 14:03:05 +0800",
    };
    static const char *const en[] = {
        "service: sshd",
        "user: root",
        "remote host: 203.0.113.9",
        "source IP: 203.0.113.9",
        "tty: ssh",
        "method: publickey",
        "process id: 4242",
        "key: SHA256:AAAA",
        "invoking user: carol",
        "host: web1",
        "time: 2026-11-26 14:03:05 +0800",
    };
    struct qn_event ev;
    struct qn_rendered r;
    size_t i;

    (void)state;
    ssh_login(&ev, "publickey");
    assert_int_equal(qn_event_set(&ev, "key", "SHA256:AAAA"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "ruser", "carol"), QN_OK);
    assert_int_equal(qn_render_event(&ev, QN_LANG_ZH, &r), QN_OK);
    for (i = 0; i < sizeof(zh) / sizeof(zh[0]); i++) {
        if (!has_line(r.text.data, zh[i]))
            fail_msg("missing line \"%s\" in:\n%s", zh[i], r.text.data);
    }
    assert_non_null(strstr(r.html.data, ">来源 IP</th>"));
    assert_non_null(strstr(r.html.data, ">2026-11-26 14:03:05 +0800</td>"));
    assert_non_null(strstr(r.html.data, "<html lang=\"zh-CN\">"));
    qn_rendered_free(&r);
    assert_int_equal(qn_render_event(&ev, QN_LANG_EN, &r), QN_OK);
    for (i = 0; i < sizeof(en) / sizeof(en[0]); i++) {
        if (!has_line(r.text.data, en[i]))
            fail_msg("missing line \"%s\" in:\n%s", en[i], r.text.data);
    }
    assert_non_null(strstr(r.html.data, "<html lang=\"en\">"));
    qn_rendered_free(&r);
}

static void test_text_ends_with_footer_naming_qqnotify_and_host(void **state)
{
    struct qn_event ev;
    struct qn_rendered r;
    const char *last;

    (void)state;
    ssh_login(&ev, "publickey");
    assert_int_equal(qn_render_event(&ev, QN_LANG_ZH, &r), QN_OK);
    last = r.text.data + r.text.len - 1;
    while (last > r.text.data && last[-1] != '\n')
        last--;
    assert_string_equal(last, "— 由 qqnotify 在 web1 上发送\n");
    assert_non_null(strstr(r.html.data, ">— 由 qqnotify 在 web1 上发送</p>"));
    qn_rendered_free(&r);
}

static void test_time_follows_the_local_zone(void **state)
{
    struct qn_event ev;

    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    ssh_login(&ev, "publickey");
    assert_event(&ev, QN_LANG_EN, "[web1] root logged in via ssh from 203.0.113.9",
                 "root logged in to web1 via ssh publickey from 203.0.113.9 at 06:03");
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
}

/* ---- escaping and dirty input ------------------------------------------------------------ */

static void test_html_escapes_script_in_user_name(void **state)
{
    struct qn_event ev;
    struct qn_rendered r;

    (void)state;
    ssh_login(&ev, "publickey");
    assert_int_equal(qn_event_set(&ev, "user", "<script>alert(1)</script>"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "key", "a&b \"c\" 'd'"), QN_OK);
    assert_int_equal(qn_render_event(&ev, QN_LANG_EN, &r), QN_OK);
    assert_null(strstr(r.html.data, "<script"));
    assert_null(strstr(r.html.data, "</script"));
    assert_non_null(strstr(r.html.data, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(r.html.data, ">a&amp;b &quot;c&quot; &#39;d&#39;</td>"));
    /* The title holds the subject, escaped as well. */
    assert_non_null(strstr(r.html.data, "<title>[web1] &lt;script&gt;alert(1)&lt;/script&gt; "
                                        "logged in via ssh from 203.0.113.9</title>"));
    /* Plain text is plain: no entities. */
    assert_non_null(strstr(r.text.data, "user: <script>alert(1)</script>\n"));
    qn_rendered_free(&r);
}

/* "ro\u200bot" must not pass for "root" in the subject, the text or the HTML. */
static void test_invisible_characters_are_shown_as_their_code(void **state)
{
    struct qn_event ev;
    struct qn_rendered r;

    (void)state;
    ssh_login(&ev, "publickey");
    assert_int_equal(qn_event_set(&ev, "user", "ro\xE2\x80\x8Bot"), QN_OK);
    assert_int_equal(qn_render_event(&ev, QN_LANG_EN, &r), QN_OK);
    assert_string_equal(r.subject.data, "[web1] ro<U+200B>ot logged in via ssh from 203.0.113.9");
    assert_non_null(strstr(r.text.data, "user: ro<U+200B>ot\n"));
    assert_non_null(strstr(r.html.data, ">ro&lt;U+200B&gt;ot</td>"));
    assert_null(strstr(r.html.data, "\xE2\x80\x8B"));
    qn_rendered_free(&r);
    /* an event written by hand (the struct is public) is sanitised again when rendered */
    ssh_login(&ev, "publickey");
    assert_string_equal(ev.fields[1].key, "user");
    memcpy(ev.fields[1].value, "ro\xE2\x80\x8Bot", 8);
    assert_int_equal(qn_render_event(&ev, QN_LANG_EN, &r), QN_OK);
    assert_string_equal(r.subject.data, "[web1] ro<U+200B>ot logged in via ssh from 203.0.113.9");
    assert_null(strstr(r.text.data, "\xE2\x80\x8B"));
    assert_null(strstr(r.html.data, "\xE2\x80\x8B"));
    qn_rendered_free(&r);
}

static void test_hand_filled_event_with_controls_renders_clean(void **state)
{
    static const char evil[] = "evil\r\nBcc: x@example.com\x1b[31m\xff\xfe\x7f\xc2\x85 end";
    struct qn_event ev;
    struct qn_rendered r;

    (void)state;
    ssh_login(&ev, "publickey");
    /* Bypass qn_event_set: the struct is public. */
    memcpy(ev.fields[1].value, evil, sizeof(evil));
    memcpy(ev.host, "h\nX-Injected: 1", 16);
    memcpy(ev.subject, "s\r\nTo: y", 9);
    assert_int_equal(qn_render_event(&ev, QN_LANG_EN, &r), QN_OK);
    assert_clean_subject(&r.subject);
    assert_clean_text(&r.text);
    assert_true(qn_text_utf8_valid(r.html.data, r.html.len));
    assert_null(strchr(r.subject.data, '\n'));
    assert_null(strstr(r.text.data, "\nBcc:"));
    assert_null(strstr(r.text.data, "\nX-Injected"));
    qn_rendered_free(&r);
}

static void test_unterminated_strings_are_not_over_read(void **state)
{
    struct qn_event ev;
    struct qn_rendered r;

    (void)state;
    ssh_login(&ev, "publickey");
    memset(ev.host, 'h', sizeof(ev.host));
    memset(ev.kind, 'k', sizeof(ev.kind));
    memset(ev.fields[0].key, 'q', sizeof(ev.fields[0].key));
    memset(ev.fields[0].value, 'v', sizeof(ev.fields[0].value));
    assert_int_equal(qn_render_event(&ev, QN_LANG_ZH, &r), QN_OK);
    assert_clean_subject(&r.subject);
    assert_clean_text(&r.text);
    qn_rendered_free(&r);
}

static void test_long_subject_is_cut_on_a_character_boundary(void **state)
{
    char user[QN_EVENT_VALUE_MAX];
    struct qn_event ev;
    struct qn_rendered r;
    size_t i;

    (void)state;
    /* 170 × "用" = 510 bytes */
    for (i = 0; i + 3 < sizeof(user); i += 3)
        memcpy(user + i, "用", 3);
    user[i] = '\0';
    ssh_login(&ev, "publickey");
    assert_int_equal(qn_event_set(&ev, "user", user), QN_OK);
    assert_int_equal(qn_render_event(&ev, QN_LANG_ZH, &r), QN_OK);
    assert_clean_subject(&r.subject);
    assert_true(r.subject.len > QN_RENDER_SUBJECT_MAX - 8);
    assert_string_equal(r.subject.data + r.subject.len - 3, "…");
    qn_rendered_free(&r);
}

static void test_event_rejects_null_arguments(void **state)
{
    struct qn_event ev;
    struct qn_rendered r;

    (void)state;
    ssh_login(&ev, "publickey");
    assert_int_equal(qn_render_event(NULL, QN_LANG_ZH, &r), QN_EINVAL);
    assert_null(r.text.data);
    assert_int_equal(qn_render_event(&ev, QN_LANG_ZH, NULL), QN_EINVAL);
    qn_rendered_free(&r);
    qn_rendered_free(NULL);
}

/* ---- digests ------------------------------------------------------------------------- */

#define BIG 200

/*
 * BIG events, one every 3 s from 10:00:00, cycling through four kinds:
 *   i % 4 == 0  sudo alice → root, tty pts/I             (marker "(tty pts/I)")
 *   i % 4 == 1  journal ssh-brute from 198.51.100.7      (marker "mark-j-I.")
 *   i % 4 == 2  notify                                   (marker "mark-n-I.")
 *   i % 4 == 3  authfail admin, alternately from 198.51.100.7 and 203.0.113.50
 * Markers appear only in an event's own line, never in a group line.
 */
static void big_digest_events(struct qn_event *evs)
{
    char buf[64];
    size_t i;

    for (i = 0; i < BIG; i++) {
        struct qn_event *ev = &evs[i];
        long long t = T_1000 + 3 * (long long)i;

        switch (i % 4) {
        case 0:
            snprintf(buf, sizeof(buf), "pts/%zu", i);
            switch_user(ev, "login", "sudo", buf);
            ev->time = t;
            break;
        case 1:
            event_at(ev, "journal", t);
            assert_int_equal(qn_event_set(ev, "rule", "ssh-brute"), QN_OK);
            assert_int_equal(qn_event_set(ev, "ip", "198.51.100.7"), QN_OK);
            snprintf(buf, sizeof(buf), "mark-j-%zu.", i);
            assert_int_equal(qn_event_set(ev, "message", buf), QN_OK);
            break;
        case 2:
            event_at(ev, "notify", t);
            snprintf(buf, sizeof(buf), "mark-n-%zu.", i);
            assert_int_equal(qn_event_set(ev, "message", buf), QN_OK);
            break;
        default:
            event_at(ev, "authfail", t);
            assert_int_equal(qn_event_set(ev, "service", "sshd"), QN_OK);
            assert_int_equal(qn_event_set(ev, "user", "admin"), QN_OK);
            assert_int_equal(
                qn_event_set(ev, "ip", (i / 4) % 2 == 0 ? "198.51.100.7" : "203.0.113.50"), QN_OK);
            break;
        }
    }
}

static void test_digest_names_every_event_exactly_once(void **state)
{
    struct qn_event *evs = calloc(BIG, sizeof(*evs));
    const struct qn_event *ptrs[BIG];
    struct qn_rendered r;
    char marker[64];
    size_t i, authfail_lines;
    int lang;

    (void)state;
    assert_non_null(evs);
    big_digest_events(evs);
    for (i = 0; i < BIG; i++)
        ptrs[i] = &evs[i];
    for (lang = QN_LANG_EN; lang <= QN_LANG_ZH; lang++) {
        assert_int_equal(qn_render_digest(ptrs, BIG, (enum qn_lang)lang, &r), QN_OK);
        assert_clean_subject(&r.subject);
        assert_clean_text(&r.text);
        assert_html_document(&r.html);
        for (i = 0; i < BIG; i++) {
            if (i % 4 == 0)
                snprintf(marker, sizeof(marker),
                         lang == QN_LANG_EN ? "(tty pts/%zu)" : "（终端 pts/%zu）", i);
            else if (i % 4 == 1)
                snprintf(marker, sizeof(marker), "mark-j-%zu.", i);
            else if (i % 4 == 2)
                snprintf(marker, sizeof(marker), "mark-n-%zu.", i);
            else
                continue;
            if (count_occurrences(r.text.data, marker) != 1 ||
                count_occurrences(r.html.data, marker) != 1)
                fail_msg("event %zu (%s) named %zu times in text, %zu in html", i, marker,
                         count_occurrences(r.text.data, marker),
                         count_occurrences(r.html.data, marker));
        }
        authfail_lines = count_occurrences(
            r.text.data, lang == QN_LANG_EN ? "failed login to web1 as admin" : "admin 于 ");
        assert_int_equal(authfail_lines, BIG / 4);
        qn_rendered_free(&r);
    }
    free(evs);
}

static void test_digest_groups_counts_and_times(void **state)
{
    static const char *const en[] = {
        "200 alerts from web1 between 2026-11-26 10:00:00 +0800 and 2026-11-26 10:09:57 +0800, "
        "summarised below.",
        "login (50)",
        "  user root · host web1: 50 times, first 10:00:00, last 10:09:48",
        "journal alert (50)",
        "  rule ssh-brute · host web1 · from 198.51.100.7: 50 times, first 10:00:03, last "
        "10:09:51",
        "notification (50)",
        "  host web1: 50 times, first 10:00:06, last 10:09:54",
        "failed login (50)",
        "  user admin · host web1 · from 198.51.100.7: 25 times, first 10:00:09, last 10:09:45",
        "  user admin · host web1 · from 203.0.113.50: 25 times, first 10:00:21, last 10:09:57",
        "All events (200)",
        "10:00:00  login  alice became root on web1 via sudo (tty pts/0)",
        "10:00:03  journal alert  rule ssh-brute matched a journal entry on web1 at 10:00 — "
        "mark-j-1.",
        "10:00:06  notification  notification from web1 — mark-n-2.",
        "10:00:09  failed login  failed login to web1 as admin from 198.51.100.7 at 10:00 (sshd)",
        "— sent by qqnotify on web1",
    };
    static const char *const zh[] = {
        "登录（50 条）",
        "  用户 root · 主机 web1：50 次，首次 10:00:00，最后 10:09:48",
        "  规则 ssh-brute · 主机 web1 · 来源 198.51.100.7：50 次，首次 10:00:03，最后 10:09:51",
        "通知（50 条）",
        "登录失败（50 条）",
        "  用户 admin · 主机 web1 · 来源 203.0.113.50：25 次，首次 10:00:21，最后 10:09:57",
        "全部事件（200 条）",
        "10:00:09  登录失败  admin 于 10:00 从 198.51.100.7 登录 web1 失败（sshd）",
    };
    struct qn_event *evs = calloc(BIG, sizeof(*evs));
    const struct qn_event *ptrs[BIG];
    struct qn_rendered r;
    size_t i;

    (void)state;
    assert_non_null(evs);
    big_digest_events(evs);
    for (i = 0; i < BIG; i++)
        ptrs[i] = &evs[i];
    assert_int_equal(qn_render_digest(ptrs, BIG, QN_LANG_EN, &r), QN_OK);
    assert_string_equal(r.subject.data, "[web1] digest of 200 alerts (10:00–10:09)");
    for (i = 0; i < sizeof(en) / sizeof(en[0]); i++) {
        if (!has_line(r.text.data, en[i]))
            fail_msg("missing line \"%s\" in:\n%.3000s", en[i], r.text.data);
    }
    qn_rendered_free(&r);

    assert_int_equal(qn_render_digest(ptrs, BIG, QN_LANG_ZH, &r), QN_OK);
    assert_string_equal(r.subject.data, "[web1] 200 条告警汇总（10:00–10:09）");
    for (i = 0; i < sizeof(zh) / sizeof(zh[0]); i++) {
        if (!has_line(r.text.data, zh[i]))
            fail_msg("missing line \"%s\" in:\n%.3000s", zh[i], r.text.data);
    }
    qn_rendered_free(&r);
    free(evs);
}

static void test_digest_subject_of_42_alerts(void **state)
{
    struct qn_event evs[42];
    const struct qn_event *ptrs[42];
    struct qn_rendered r;
    size_t i;

    (void)state;
    for (i = 0; i < 42; i++) {
        ssh_login(&evs[i], "password");
        evs[i].time = T_1000 + 13 * (long long)i; /* 10:00:00 .. 10:08:53 */
        ptrs[i] = &evs[i];
    }
    evs[41].time = T_1000 + 9 * 60 + 59;
    assert_int_equal(qn_render_digest(ptrs, 42, QN_LANG_ZH, &r), QN_OK);
    assert_string_equal(r.subject.data, "[web1] 42 条告警汇总（10:00–10:09）");
    qn_rendered_free(&r);
    assert_int_equal(qn_render_digest(ptrs, 42, QN_LANG_EN, &r), QN_OK);
    assert_string_equal(r.subject.data, "[web1] digest of 42 alerts (10:00–10:09)");
    assert_true(has_line(r.text.data, "  user root · host web1 · from 203.0.113.9: 42 times, first "
                                      "10:00:00, last 10:09:59"));
    qn_rendered_free(&r);
}

static void test_digest_of_several_hosts_says_so(void **state)
{
    struct qn_event evs[4];
    const struct qn_event *ptrs[4];
    struct qn_rendered r;
    size_t i;

    (void)state;
    for (i = 0; i < 4; i++) {
        ssh_login(&evs[i], "publickey");
        evs[i].time = T_1000 + (long long)i * 60;
        ptrs[i] = &evs[i];
    }
    qn_event_set_host(&evs[1], "db1");
    qn_event_set_host(&evs[2], "cache1");
    qn_event_set_host(&evs[3], "db1");
    assert_int_equal(qn_render_digest(ptrs, 4, QN_LANG_ZH, &r), QN_OK);
    assert_string_equal(r.subject.data, "[web1 等 3 台主机] 4 条告警汇总（10:00–10:03）");
    assert_true(has_line(r.text.data, "  用户 root · 主机 db1 · 来源 203.0.113.9：2 次，首次 "
                                      "10:01:00，最后 10:03:00"));
    assert_true(has_line(r.text.data, "  用户 root · 主机 cache1 · 来源 203.0.113.9：1 次，"
                                      "10:02:00"));
    qn_rendered_free(&r);
    assert_int_equal(qn_render_digest(ptrs, 4, QN_LANG_EN, &r), QN_OK);
    assert_string_equal(r.subject.data, "[web1 and 2 more hosts] digest of 4 alerts (10:00–10:03)");
    qn_rendered_free(&r);
    assert_int_equal(qn_render_digest(ptrs, 2, QN_LANG_EN, &r), QN_OK);
    assert_string_equal(r.subject.data, "[web1 and 1 more host] digest of 2 alerts (10:00–10:01)");
    qn_rendered_free(&r);
}

static void test_digest_across_midnight_shows_dates(void **state)
{
    struct qn_event evs[2];
    const struct qn_event *ptrs[2] = {&evs[0], &evs[1]};
    struct qn_rendered r;

    (void)state;
    ssh_login(&evs[0], "publickey");
    ssh_login(&evs[1], "publickey");
    evs[0].time = 1795708740LL;      /* 2026-11-26 23:59:00 +0800 */
    evs[1].time = 1795708740LL + 90; /* 2026-11-27 00:00:30 +0800 */
    assert_int_equal(qn_render_digest(ptrs, 2, QN_LANG_EN, &r), QN_OK);
    assert_string_equal(r.subject.data, "[web1] digest of 2 alerts (11-26 23:59–11-27 00:00)");
    assert_true(has_line(r.text.data, "  user root · host web1 · from 203.0.113.9: 2 times, first "
                                      "11-26 23:59:00, last 11-27 00:00:30"));
    qn_rendered_free(&r);
}

/* A digest's subject carries the highest severity among its events. */
static void test_digest_subject_shows_the_highest_severity(void **state)
{
    struct qn_event a, b, c;
    const struct qn_event *evs[3] = {&a, &b, &c};
    struct qn_rendered r;

    (void)state;
    ssh_login(&a, "publickey");
    assert_int_equal(qn_event_set(&a, "severity", "warning"), QN_OK);
    ssh_login(&b, "password");
    assert_int_equal(qn_event_set(&b, "severity", "critical"), QN_OK);
    ssh_login(&c, "password");
    assert_int_equal(qn_render_digest(evs, 3, QN_LANG_ZH, &r), QN_OK);
    assert_string_equal(r.subject.data, "[web1] 【严重】3 条告警汇总（14:03）");
    qn_rendered_free(&r);
    assert_int_equal(qn_render_digest(evs, 1, QN_LANG_EN, &r), QN_OK);
    assert_string_equal(r.subject.data, "[web1] [warning] digest of 1 alert (14:03)");
    qn_rendered_free(&r);
    assert_int_equal(qn_render_digest(evs + 2, 1, QN_LANG_EN, &r), QN_OK);
    assert_string_equal(r.subject.data, "[web1] digest of 1 alert (14:03)");
    qn_rendered_free(&r);
}

static void test_digest_of_one_event(void **state)
{
    struct qn_event ev;
    const struct qn_event *ptr = &ev;
    struct qn_rendered r;

    (void)state;
    ssh_login(&ev, "publickey");
    assert_int_equal(qn_render_digest(&ptr, 1, QN_LANG_EN, &r), QN_OK);
    assert_string_equal(r.subject.data, "[web1] digest of 1 alert (14:03)");
    assert_true(has_line(r.text.data, "1 alert from web1 at 2026-11-26 14:03:05 +0800."));
    assert_true(
        has_line(r.text.data, "  user root · host web1 · from 203.0.113.9: once, 14:03:05"));
    qn_rendered_free(&r);
}

static void test_digest_rejects_bad_arguments(void **state)
{
    struct qn_event ev;
    const struct qn_event *ptrs[QN_RENDER_DIGEST_MAX_EVENTS + 1];
    struct qn_rendered r;
    size_t i;

    (void)state;
    ssh_login(&ev, "publickey");
    for (i = 0; i < QN_RENDER_DIGEST_MAX_EVENTS + 1; i++)
        ptrs[i] = &ev;
    assert_int_equal(qn_render_digest(ptrs, 0, QN_LANG_EN, &r), QN_EINVAL);
    assert_null(r.subject.data);
    assert_int_equal(qn_render_digest(NULL, 1, QN_LANG_EN, &r), QN_EINVAL);
    assert_int_equal(qn_render_digest(ptrs, QN_RENDER_DIGEST_MAX_EVENTS + 1, QN_LANG_EN, &r),
                     QN_ETOOBIG);
    assert_null(r.text.data);
    ptrs[3] = NULL;
    assert_int_equal(qn_render_digest(ptrs, 5, QN_LANG_EN, &r), QN_EINVAL);
    ptrs[3] = &ev;
    assert_int_equal(qn_render_digest(ptrs, QN_RENDER_DIGEST_MAX_EVENTS, QN_LANG_EN, &r), QN_OK);
    assert_true(has_line(r.text.data, "All events (500)"));
    qn_rendered_free(&r);
}

/* The largest digest of the worst events (every field full, all '&', which
 * HTML escapes fivefold, each event its own group) still fits: callers never
 * need to split below the event maximum. */
static void test_digest_of_maximal_events_fits_the_bound(void **state)
{
    static const char *const names[] = {"user",    "rule", "ip",    "rhost",
                                        "message", "unit", "count", "service"};
    struct qn_event *evs = calloc(QN_RENDER_DIGEST_MAX_EVENTS, sizeof(*evs));
    const struct qn_event **ptrs = calloc(QN_RENDER_DIGEST_MAX_EVENTS, sizeof(*ptrs));
    char value[QN_EVENT_VALUE_MAX], key[QN_EVENT_KEY_MAX];
    struct qn_rendered r;
    size_t i, k;

    (void)state;
    assert_non_null(evs);
    assert_non_null(ptrs);
    memset(value, '&', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    for (i = 0; i < QN_RENDER_DIGEST_MAX_EVENTS; i++) {
        struct qn_event *ev = &evs[i];

        event_at(ev, i % 2 ? "journal" : "authfail", T_1000 + (long long)i);
        qn_event_set_host(ev, value);
        qn_event_set_subject(ev, value);
        for (k = 0; k < QN_EVENT_FIELDS_MAX; k++) {
            if (k < sizeof(names) / sizeof(names[0]))
                snprintf(key, sizeof(key), "%s", names[k]);
            else
                snprintf(key, sizeof(key), "sample.%zu", k);
            assert_int_equal(qn_event_set(ev, key, value), QN_OK);
        }
        /* A distinct user and rule: one group per event. */
        snprintf(value, 8, "%05zu&", i);
        value[6] = '&';
        assert_int_equal(qn_event_set(ev, "user", value), QN_OK);
        assert_int_equal(qn_event_set(ev, "rule", value), QN_OK);
        ptrs[i] = ev;
    }
    assert_int_equal(qn_render_digest(ptrs, QN_RENDER_DIGEST_MAX_EVENTS, QN_LANG_ZH, &r), QN_OK);
    assert_true(r.text.len <= QN_RENDER_BODY_MAX);
    assert_true(r.html.len <= QN_RENDER_BODY_MAX);
    assert_clean_text(&r.text);
    assert_clean_subject(&r.subject);
    assert_int_equal(count_occurrences(r.text.data, "：1 次，"), QN_RENDER_DIGEST_MAX_EVENTS);
    qn_rendered_free(&r);
    /* And one such event alone. */
    assert_int_equal(qn_render_event(&evs[1], QN_LANG_EN, &r), QN_OK);
    assert_clean_text(&r.text);
    qn_rendered_free(&r);
    free(ptrs);
    free(evs);
}

static int set_zone(void **state)
{
    (void)state;
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_sshd_publickey_zh_and_en),
        cmocka_unit_test(test_login_language_auto_is_chinese),
        cmocka_unit_test(test_login_sshd_password_and_keyboard_interactive),
        cmocka_unit_test(test_login_unknown_method_is_shown_as_is),
        cmocka_unit_test(test_login_without_method_or_source),
        cmocka_unit_test(test_login_source_prefers_ip_over_rhost),
        cmocka_unit_test(test_sudo_zh_and_en),
        cmocka_unit_test(test_su_zh_and_en),
        cmocka_unit_test(test_missing_user_is_named_unknown),
        cmocka_unit_test(test_logout_zh_and_en),
        cmocka_unit_test(test_logout_with_duration_says_how_long),
        cmocka_unit_test(test_severity_is_shown_in_the_subject),
        cmocka_unit_test(test_enrichment_fields_are_labelled_and_times_shown_local),
        cmocka_unit_test(test_authfail_zh_and_en),
        cmocka_unit_test(test_journal_default_subject_and_headline),
        cmocka_unit_test(test_journal_body_has_message_samples_and_captures),
        cmocka_unit_test(test_journal_rule_subject_gets_host_prefix_once),
        cmocka_unit_test(test_notify_subject_and_body),
        cmocka_unit_test(test_other_kind_lists_its_fields),
        cmocka_unit_test(test_table_labels_are_translated),
        cmocka_unit_test(test_text_ends_with_footer_naming_qqnotify_and_host),
        cmocka_unit_test(test_time_follows_the_local_zone),
        cmocka_unit_test(test_html_escapes_script_in_user_name),
        cmocka_unit_test(test_invisible_characters_are_shown_as_their_code),
        cmocka_unit_test(test_hand_filled_event_with_controls_renders_clean),
        cmocka_unit_test(test_unterminated_strings_are_not_over_read),
        cmocka_unit_test(test_long_subject_is_cut_on_a_character_boundary),
        cmocka_unit_test(test_event_rejects_null_arguments),
        cmocka_unit_test(test_digest_names_every_event_exactly_once),
        cmocka_unit_test(test_digest_groups_counts_and_times),
        cmocka_unit_test(test_digest_subject_of_42_alerts),
        cmocka_unit_test(test_digest_of_several_hosts_says_so),
        cmocka_unit_test(test_digest_across_midnight_shows_dates),
        cmocka_unit_test(test_digest_of_one_event),
        cmocka_unit_test(test_digest_subject_shows_the_highest_severity),
        cmocka_unit_test(test_digest_rejects_bad_arguments),
        cmocka_unit_test(test_digest_of_maximal_events_fits_the_bound),
    };

    return cmocka_run_group_tests(tests, set_zone, NULL);
}
