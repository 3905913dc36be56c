/*
 * Unit tests for common/config.c: the qqnotify.conf INI parser, provider
 * presets, validation and the errors it reports (exact line, key, value,
 * msgid).  Files for qn_config_load() live in a mkdtemp() directory that
 * every test removes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

#include "config.h"

#define NAME "test.conf"

/* Every test parses into one of these: struct qn_config is ~40 KiB. */
struct fixture {
    struct qn_config cfg;
    struct qn_config_error err;
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/qn-test-config-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc;

    /* Depth first, without following links: only what the test wrote goes. */
    rc = nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return rc;
}

static enum qn_status parse(struct fixture *f, const char *text)
{
    return qn_config_parse(&f->cfg, NAME, text, strlen(text), &f->err);
}

/* Parse TEXT, expecting QN_ECONFIG on LINE with msgid WHAT about KEY. */
static void assert_error(struct fixture *f, const char *text, unsigned line, const char *key,
                         const char *what)
{
    assert_int_equal(parse(f, text), QN_ECONFIG);
    assert_string_equal(f->err.file, NAME);
    assert_int_equal(f->err.line, line);
    assert_string_equal(f->err.key, key);
    assert_non_null(f->err.what);
    assert_string_equal(f->err.what, what);
    assert_non_null(f->err.fix);
    assert_false(f->err.secret_key);
}

static void write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

/* ---- valid files ----------------------------------------------------------------------- */

static void test_full_valid_config_is_parsed(void **state)
{
    struct fixture *f = *state;
    static const unsigned char pin[32] = {
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45,
        0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
        0x32, 0x10, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
    };
    const char *text = "# qqnotify.conf\n"
                       "[smtp]\n"
                       "provider = exmail\n"
                       "host = mail.example.com\n"
                       "port = 587\n"
                       "tls = starttls\n"
                       "tls_verify = no\n"
                       "ca_file = /etc/ssl/certs/ca.pem\n"
                       "tls_fingerprint = 0123456789abcdef0123456789ABCDEF"
                       "fedcba9876543210fedcba9876543210\n"
                       "user = alerts@example.com\n"
                       "from_name = 服务器告警\n"
                       "helo_name = web1.example.com\n"
                       "timeout = 45s\n"
                       "credential_helper = qqnotify-secret --store system\n"
                       "credential_file = /etc/qqnotify/secret\n"
                       "\n"
                       "[notify]\n"
                       "to = ops@example.com, 987654321@qq.com\n"
                       "to = boss@example.com\n"
                       "language = en\n"
                       "[spool]\n"
                       "dir = /var/lib/qqnotify/spool\n"
                       "max_entry_size = 512K\n"
                       "[limits]\n"
                       "max_per_hour = 20\n"
                       "max_per_day = 90\n"
                       "digest_after = 3\n"
                       "digest_window = 10m\n";

    assert_int_equal(parse(f, text), QN_OK);
    assert_string_equal(f->cfg.path, NAME);
    assert_string_equal(f->cfg.provider, "exmail");
    assert_string_equal(f->cfg.host, "mail.example.com");
    assert_int_equal(f->cfg.port, 587);
    assert_int_equal(f->cfg.tls, QN_TLS_STARTTLS);
    assert_false(f->cfg.tls_verify);
    assert_string_equal(f->cfg.ca_file, "/etc/ssl/certs/ca.pem");
    assert_true(f->cfg.has_tls_pin);
    assert_memory_equal(f->cfg.tls_pin, pin, 32);
    assert_string_equal(f->cfg.user, "alerts@example.com");
    assert_string_equal(f->cfg.from_name, "服务器告警");
    assert_string_equal(f->cfg.helo_name, "web1.example.com");
    assert_int_equal(f->cfg.timeout_s, 45);
    assert_string_equal(f->cfg.credential_helper, "qqnotify-secret --store system");
    assert_string_equal(f->cfg.credential_file, "/etc/qqnotify/secret");
    assert_int_equal(f->cfg.n_to, 3);
    assert_string_equal(f->cfg.to[0], "ops@example.com");
    assert_string_equal(f->cfg.to[1], "987654321@qq.com");
    assert_string_equal(f->cfg.to[2], "boss@example.com");
    assert_int_equal(f->cfg.language, QN_LANG_EN);
    assert_string_equal(f->cfg.spool_dir, "/var/lib/qqnotify/spool");
    assert_int_equal(f->cfg.max_entry_size, 512 * 1024);
    /* Success leaves no error behind. */
    assert_null(f->err.what);
    assert_int_equal(f->err.line, 0);
}

static void test_minimal_config_gets_the_defaults(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[smtp]\nuser = 123456789@qq.com\n"), QN_OK);
    assert_string_equal(f->cfg.provider, "qq");
    assert_string_equal(f->cfg.host, "smtp.qq.com");
    assert_int_equal(f->cfg.port, 465);
    assert_int_equal(f->cfg.tls, QN_TLS_IMPLICIT);
    assert_true(f->cfg.tls_verify);
    assert_false(f->cfg.has_tls_pin);
    assert_string_equal(f->cfg.ca_file, "");
    assert_string_equal(f->cfg.from_name, "");
    assert_int_equal(f->cfg.timeout_s, 30);
    assert_int_equal(f->cfg.language, QN_LANG_AUTO);
    assert_string_equal(f->cfg.spool_dir, QN_CONFIG_DEFAULT_SPOOL);
    assert_int_equal(f->cfg.max_entry_size, 1024 * 1024);
    assert_int_equal(f->cfg.n_to, 0);
}

static void test_parse_resets_an_earlier_configuration(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[smtp]\nuser = a@qq.com\n[notify]\nto = b@qq.com\n"), QN_OK);
    assert_int_equal(f->cfg.n_to, 1);
    assert_int_equal(parse(f, "[smtp]\nuser = a@qq.com\n"), QN_OK);
    assert_int_equal(f->cfg.n_to, 0);
}

static void test_each_preset_sets_host_port_and_tls(void **state)
{
    static const struct {
        const char *provider;
        const char *host;
        unsigned port;
        enum qn_tls_mode tls;
    } want[] = {
        {"qq", "smtp.qq.com", 465, QN_TLS_IMPLICIT},
        {"exmail", "smtp.exmail.qq.com", 465, QN_TLS_IMPLICIT},
        {"163", "smtp.163.com", 465, QN_TLS_IMPLICIT},
        {"gmail", "smtp.gmail.com", 465, QN_TLS_IMPLICIT},
        {"outlook", "smtp-mail.outlook.com", 587, QN_TLS_STARTTLS},
    };
    struct fixture *f = *state;
    char text[256];
    size_t i;

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        snprintf(text, sizeof(text), "[smtp]\nuser = a@example.com\nprovider = %s\n",
                 want[i].provider);
        assert_int_equal(parse(f, text), QN_OK);
        assert_string_equal(f->cfg.provider, want[i].provider);
        assert_string_equal(f->cfg.host, want[i].host);
        assert_int_equal(f->cfg.port, want[i].port);
        assert_int_equal(f->cfg.tls, want[i].tls);

        /* The same through the public function, over another preset. */
        qn_config_defaults(&f->cfg);
        assert_int_equal(qn_config_preset(&f->cfg, "outlook"), QN_OK);
        assert_int_equal(qn_config_preset(&f->cfg, want[i].provider), QN_OK);
        assert_string_equal(f->cfg.host, want[i].host);
        assert_int_equal(f->cfg.port, want[i].port);
        assert_int_equal(f->cfg.tls, want[i].tls);
    }
}

static void test_provider_names_are_case_insensitive(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[smtp]\nprovider = Gmail\nuser = a@gmail.com\n"), QN_OK);
    assert_string_equal(f->cfg.provider, "gmail");
    assert_string_equal(f->cfg.host, "smtp.gmail.com");
}

static void test_custom_provider_requires_host(void **state)
{
    struct fixture *f = *state;

    assert_error(f, "[smtp]\nprovider = custom\nuser = a@example.com\n", 0, "host",
                 "[smtp] host is not set");
    assert_int_equal(parse(f, "[smtp]\nprovider = custom\nhost = mx.example.com\n"
                              "user = a@example.com\n"),
                     QN_OK);
    assert_string_equal(f->cfg.provider, "custom");
    assert_string_equal(f->cfg.host, "mx.example.com");
    assert_int_equal(f->cfg.port, 465);
}

static void test_unknown_preset_is_refused_and_changes_nothing(void **state)
{
    struct fixture *f = *state;

    qn_config_defaults(&f->cfg);
    assert_int_equal(qn_config_preset(&f->cfg, "yahoo"), QN_EINVAL);
    assert_string_equal(f->cfg.provider, "qq");
    assert_string_equal(f->cfg.host, "smtp.qq.com");
    assert_error(f, "[smtp]\nuser = a@qq.com\nprovider = yahoo\n", 3, "provider",
                 "unknown provider");
    assert_string_equal(f->err.value, "yahoo");
}

static void test_explicit_host_and_port_override_preset_in_any_order(void **state)
{
    struct fixture *f = *state;
    const char *after = "[smtp]\nhost = relay.example.com\nport = 2465\n"
                        "user = a@example.com\nprovider = gmail\n";
    const char *before = "[smtp]\nprovider = gmail\nuser = a@example.com\n"
                         "port = 2465\nhost = relay.example.com\n";

    assert_int_equal(parse(f, after), QN_OK);
    assert_string_equal(f->cfg.provider, "gmail");
    assert_string_equal(f->cfg.host, "relay.example.com");
    assert_int_equal(f->cfg.port, 2465);
    assert_int_equal(f->cfg.tls, QN_TLS_IMPLICIT);

    assert_int_equal(parse(f, before), QN_OK);
    assert_string_equal(f->cfg.provider, "gmail");
    assert_string_equal(f->cfg.host, "relay.example.com");
    assert_int_equal(f->cfg.port, 2465);
    assert_int_equal(f->cfg.tls, QN_TLS_IMPLICIT);
}

static void test_explicit_tls_overrides_preset_in_any_order(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[smtp]\ntls = implicit\nprovider = outlook\nuser = a@b.com\n"),
                     QN_OK);
    assert_int_equal(f->cfg.tls, QN_TLS_IMPLICIT);
    assert_int_equal(f->cfg.port, 587);
    assert_int_equal(parse(f, "[smtp]\nprovider = qq\ntls = starttls\nuser = a@qq.com\n"), QN_OK);
    assert_int_equal(f->cfg.tls, QN_TLS_STARTTLS);
    assert_int_equal(f->cfg.port, 465);
}

static void test_port_587_alone_means_starttls_and_465_implicit(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[smtp]\nprovider = qq\nport = 587\nuser = a@qq.com\n"), QN_OK);
    assert_string_equal(f->cfg.host, "smtp.qq.com");
    assert_int_equal(f->cfg.port, 587);
    assert_int_equal(f->cfg.tls, QN_TLS_STARTTLS);

    assert_int_equal(parse(f, "[smtp]\nport = 465\nprovider = outlook\nuser = a@b.com\n"), QN_OK);
    assert_int_equal(f->cfg.tls, QN_TLS_IMPLICIT);

    /* An explicit mode wins over the guess. */
    assert_int_equal(parse(f, "[smtp]\nport = 587\ntls = implicit\nuser = a@qq.com\n"), QN_OK);
    assert_int_equal(f->cfg.tls, QN_TLS_IMPLICIT);
}

static void test_host_without_provider_names_the_provider(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[smtp]\nhost = SMTP.163.com\nuser = a@163.com\n"), QN_OK);
    assert_string_equal(f->cfg.provider, "163");
    assert_string_equal(f->cfg.host, "SMTP.163.com");

    assert_int_equal(parse(f, "[smtp]\nhost = mail.example.org\nuser = a@example.org\n"), QN_OK);
    assert_string_equal(f->cfg.provider, "custom");
    assert_int_equal(f->cfg.port, 465);
}

static void test_tls_modes_and_synonyms(void **state)
{
    static const struct {
        const char *value;
        enum qn_tls_mode tls;
    } want[] = {
        {"implicit", QN_TLS_IMPLICIT}, {"ssl", QN_TLS_IMPLICIT},      {"TLS", QN_TLS_IMPLICIT},
        {"starttls", QN_TLS_STARTTLS}, {"STARTTLS", QN_TLS_STARTTLS},
    };
    struct fixture *f = *state;
    char text[128];
    size_t i;

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        snprintf(text, sizeof(text), "[smtp]\nuser = a@qq.com\ntls = %s\n", want[i].value);
        assert_int_equal(parse(f, text), QN_OK);
        assert_int_equal(f->cfg.tls, want[i].tls);
    }
    assert_error(f, "[smtp]\nuser = a@qq.com\ntls = none\n", 3, "tls", "unknown TLS mode");
    assert_string_equal(f->err.value, "none");
}

static void test_tls_verify_accepts_boolean_words(void **state)
{
    static const struct {
        const char *value;
        bool verify;
    } want[] = {
        {"yes", true}, {"no", false}, {"true", true}, {"false", false},
        {"1", true},   {"0", false},  {"YES", true},  {"off", false},
    };
    struct fixture *f = *state;
    char text[128];
    size_t i;

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        snprintf(text, sizeof(text), "[smtp]\nuser = a@qq.com\ntls_verify = %s\n", want[i].value);
        assert_int_equal(parse(f, text), QN_OK);
        assert_int_equal(f->cfg.tls_verify, want[i].verify);
    }
    assert_error(f, "[smtp]\nuser = a@qq.com\ntls_verify = maybe\n", 3, "tls_verify",
                 "expected yes or no");
}

/* ---- line numbers and syntax ----------------------------------------------------------- */

static void test_unknown_key_reports_its_exact_line_and_the_valid_keys(void **state)
{
    struct fixture *f = *state;
    const char *text = "# comment\n"
                       "\n"
                       "[smtp]\n"
                       "provider = qq\n"
                       "user = a@qq.com\n"
                       "; another comment\n"
                       "usr = b@qq.com\n"
                       "host = smtp.qq.com\n";

    assert_error(f, text, 7, "usr", "unknown key");
    assert_non_null(strstr(f->err.fix, "keys of [smtp] are provider, host, port"));
    assert_non_null(strstr(f->err.fix, "credential_file"));

    assert_error(f, "[notify]\nlanguage = en\nrecipients = a@b.com\n", 3, "recipients",
                 "unknown key");
    assert_non_null(strstr(f->err.fix,
                           "keys of [notify] are to, language, routes, critical_routes and "
                           "failover_after"));
}

/* The fix of "unknown key" lists a section's keys: each of them must be known. */
static void test_every_key_named_in_a_fix_is_accepted(void **state)
{
    static const char *const sections[] = {"smtp", "notify", "spool", "limits", "heartbeat"};
    struct fixture *f = *state;
    char text[256], list[512], *name, *save = NULL;
    size_t i, checked = 0;

    for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        const char *are;

        snprintf(text, sizeof(text), "[%s]\nno_such_key = 1\n", sections[i]);
        assert_int_equal(parse(f, text), QN_ECONFIG);
        assert_string_equal(f->err.what, "unknown key");
        are = strstr(f->err.fix, " are ");
        assert_non_null(are);
        snprintf(list, sizeof(list), "%s", are + 5);
        for (name = strtok_r(list, ", ", &save); name != NULL; name = strtok_r(NULL, ", ", &save)) {
            if (strcmp(name, "and") == 0)
                continue;
            /* An invalid value is fine: only "unknown key" would be wrong. */
            snprintf(text, sizeof(text), "[%s]\n%s = ?\n", sections[i], name);
            if (parse(f, text) != QN_OK)
                assert_string_not_equal(f->err.what, "unknown key");
            checked++;
        }
    }
    assert_int_equal(checked, 13 + 5 + 4 + 11 + 4);
}

static void test_password_like_keys_are_refused_in_every_section(void **state)
{
    static const char *const names[] = {
        "password",
        "passwd",
        "pass",
        "pwd",
        "auth_code",
        "authcode",
        "authorization_code",
        "secret",
        "token",
        "smtp_password",
        "授权码",
        "PASSWORD",
        "auth-code",
        "mail_password",
        "client_secret",
    };
    static const char *const sections[] = {"smtp", "notify", "spool", "limits"};
    struct fixture *f = *state;
    char text[256];
    size_t i, j;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        for (j = 0; j < sizeof(sections) / sizeof(sections[0]); j++) {
            snprintf(text, sizeof(text), "[%s]\n# the code\n%s = abcdefghijklmnop\n", sections[j],
                     names[i]);
            assert_int_equal(parse(f, text), QN_ECONFIG);
            assert_true(f->err.secret_key);
            assert_int_equal(f->err.line, 3);
            assert_string_equal(f->err.key, names[i]);
            assert_string_equal(f->err.what, "the configuration file must not hold the "
                                             "password or authorization code");
            assert_string_equal(f->err.fix, "remove the line and store the authorization code "
                                            "with `qqnotify-secret set`");
            /* The secret itself is nowhere in the error. */
            assert_string_equal(f->err.value, "");
            assert_null(memmem(&f->err, sizeof(f->err), "abcdefghijklmnop", 16));
        }
    }
}

static void test_password_key_is_refused_before_any_section(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "password = hunter2hunter2\n[smtp]\nuser = a@qq.com\n"), QN_ECONFIG);
    assert_true(f->err.secret_key);
    assert_int_equal(f->err.line, 1);
}

static void test_a_line_without_equals_is_not_echoed(void **state)
{
    struct fixture *f = *state;

    /* Somebody pasted the authorization code on a line of its own. */
    assert_error(f, "[smtp]\nuser = a@qq.com\nabcdefghijklmnop\n", 3, "", "expected key = value");
    assert_string_equal(f->err.value, "");
    assert_null(memmem(&f->err, sizeof(f->err), "abcdefghijklmnop", 16));
}

static void test_unknown_section_is_an_error(void **state)
{
    struct fixture *f = *state;

    assert_error(f, "[smtp]\nuser = a@qq.com\n\n[mail]\nto = a@b.com\n", 4, "mail",
                 "unknown section");
    assert_string_equal(f->err.fix,
                        "sections are [smtp], [notify], [spool], [limits], [login], "
                        "[quiet], [severity], [enrich], [heartbeat], [metrics] and [route NAME]");

    assert_error(f, "[rule ssh]\n", 1, "rule ssh", "unknown section");
    assert_non_null(strstr(f->err.fix, "rules.d"));

    assert_error(f, "[smtp\n", 1, "", "a section header does not end with ']'");
    assert_error(f, "[smtp] user = a@qq.com\n", 1, "smtp",
                 "unexpected text after the section header");
}

static void test_sections_and_keys_are_case_insensitive(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[SMTP]  # the server\nUser = a@qq.com\n[Notify]\nTO = b@qq.com\n"),
                     QN_OK);
    assert_string_equal(f->cfg.user, "a@qq.com");
    assert_int_equal(f->cfg.n_to, 1);
}

static void test_key_outside_a_section_is_an_error(void **state)
{
    struct fixture *f = *state;

    assert_error(f, "\nuser = a@qq.com\n", 2, "user", "the key is not under a section header");
}

static void test_duplicate_scalar_key_is_reported_on_its_second_line(void **state)
{
    struct fixture *f = *state;

    assert_error(f,
                 "[smtp]\nuser = a@qq.com\nport = 465\n[notify]\nto = b@qq.com\n"
                 "[smtp]\nport = 587\n",
                 7, "port", "the key is set twice");
    assert_error(f, "[smtp]\nuser = a@qq.com\nuser = b@qq.com\n", 3, "user",
                 "the key is set twice");
}

static void test_bad_ports_are_refused(void **state)
{
    static const char *const bad[] = {"0", "65536", "abc", "46 5", "-1", "+465", "4650000000000"};
    struct fixture *f = *state;
    char text[128];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[smtp]\nuser = a@qq.com\nport = %s\n", bad[i]);
        assert_error(f, text, 3, "port", "the port is not a number from 1 to 65535");
        assert_string_equal(f->err.value, bad[i]);
    }
    assert_error(f, "[smtp]\nuser = a@qq.com\nport =\n", 3, "port",
                 "the port is not a number from 1 to 65535");
    assert_int_equal(parse(f, "[smtp]\nuser = a@qq.com\nport = 65535\n"), QN_OK);
    assert_int_equal(f->cfg.port, 65535);
    assert_int_equal(parse(f, "[smtp]\nuser = a@qq.com\nport = 1\n"), QN_OK);
    assert_int_equal(f->cfg.port, 1);
}

static void test_host_with_a_port_or_scheme_is_refused(void **state)
{
    struct fixture *f = *state;

    assert_error(f, "[smtp]\nuser = a@qq.com\nhost = smtp.qq.com:465\n", 3, "host",
                 "the host name is not valid");
    assert_string_equal(f->err.value, "smtp.qq.com:465");
    assert_error(f, "[smtp]\nuser = a@qq.com\nhost = smtps://smtp.qq.com\n", 3, "host",
                 "the host name is not valid");
    assert_error(f, "[smtp]\nuser = a@qq.com\nhost =\n", 3, "host", "the host name is not valid");
    assert_int_equal(parse(f, "[smtp]\nuser = a@qq.com\nhost = 2001:db8::25\n"), QN_OK);
    assert_string_equal(f->cfg.host, "2001:db8::25");
}

static void test_missing_user_explains_what_to_set(void **state)
{
    struct fixture *f = *state;

    assert_error(f, "[smtp]\nprovider = qq\n[notify]\nto = a@b.com\n", 0, "user",
                 "[smtp] user is not set");
    assert_non_null(strstr(f->err.fix, "123456789@qq.com"));
    assert_error(f, "", 0, "user", "[smtp] user is not set");
}

static void test_implausible_user_is_refused_on_its_line(void **state)
{
    static const char *const bad[] = {
        "123456789",         "123456789@",     "@qq.com",    "a@@qq.com",
        "a@b@qq.com",        "my name@qq.com", "<a@qq.com>", "a@qq..com",
        "123456789＠qq.com", "a@.qq.com",      "a@qq.com.",  "a@qq_com",
    };
    struct fixture *f = *state;
    char text[128];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[smtp]\nprovider = qq\nuser = %s\n", bad[i]);
        assert_error(f, text, 3, "user", "[smtp] user is not a plausible mail address");
        assert_string_equal(f->err.value, bad[i]);
    }
}

static void test_bad_recipient_is_named_with_its_line(void **state)
{
    struct fixture *f = *state;

    assert_error(f, "[smtp]\nuser = a@qq.com\n[notify]\nto = ops@example.com, ops.example.com\n", 4,
                 "to", "a recipient is not a plausible mail address");
    assert_string_equal(f->err.value, "ops.example.com");

    /* A full-width comma from a Chinese input method joins two addresses. */
    assert_error(f, "[smtp]\nuser = a@qq.com\n[notify]\nto = a@qq.com，b@qq.com\n", 4, "to",
                 "a recipient is not a plausible mail address");
    assert_string_equal(f->err.value, "a@qq.com，b@qq.com");

    assert_error(f, "[smtp]\nuser = a@qq.com\n[notify]\nto = Ops <ops@example.com>\n", 4, "to",
                 "a recipient is not a plausible mail address");
    assert_error(f, "[smtp]\nuser = a@qq.com\n[notify]\nto = , ,\n", 4, "to",
                 "the recipient list is empty");
}

static void test_recipients_append_up_to_the_limit(void **state)
{
    struct fixture *f = *state;
    char text[2048];
    size_t len, i;

    len = (size_t)snprintf(text, sizeof(text), "[smtp]\nuser = a@qq.com\n[notify]\n");
    for (i = 0; i < QN_CONFIG_MAX_RCPT; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "to = r%zu@example.com,\n", i);
    assert_int_equal(parse(f, text), QN_OK);
    assert_int_equal(f->cfg.n_to, QN_CONFIG_MAX_RCPT);
    assert_string_equal(f->cfg.to[15], "r15@example.com");

    snprintf(text + len, sizeof(text) - len, "to = one.too.many@example.com\n");
    assert_error(f, text, 4 + QN_CONFIG_MAX_RCPT, "to", "too many recipients");
}

static void test_over_long_line_is_refused_with_its_number(void **state)
{
    struct fixture *f = *state;
    size_t size = QN_CONFIG_LINE_MAX + 64;
    char *text = malloc(size);
    size_t len;

    assert_non_null(text);
    /* A comment of exactly QN_CONFIG_LINE_MAX bytes is fine... */
    len = (size_t)snprintf(text, size, "[smtp]\nuser = a@qq.com\n");
    text[len] = '#';
    memset(text + len + 1, 'x', QN_CONFIG_LINE_MAX - 1);
    text[len + QN_CONFIG_LINE_MAX] = '\0';
    assert_int_equal(parse(f, text), QN_OK);
    /* ...one byte more is not. */
    text[len + QN_CONFIG_LINE_MAX] = 'x';
    text[len + QN_CONFIG_LINE_MAX + 1] = '\n';
    text[len + QN_CONFIG_LINE_MAX + 2] = '\0';
    assert_error(f, text, 3, "", "the line is too long");
    free(text);
}

static void test_nul_byte_is_refused_with_its_line(void **state)
{
    struct fixture *f = *state;
    static const char text[] = "[smtp]\nuser = a@qq.com\nfrom_name = a\0b\n";

    assert_int_equal(qn_config_parse(&f->cfg, NAME, text, sizeof(text) - 1, &f->err), QN_ECONFIG);
    assert_int_equal(f->err.line, 3);
    assert_string_equal(f->err.what, "the line contains a NUL byte");
}

static void test_quoted_values_keep_blanks_and_hashes(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[smtp]\nuser = \"a@qq.com\"  # the sender\n"
                              "from_name = \"  Ops #1 \\\"prod\\\" \\\\ \"\n"
                              "credential_helper = \"\"\n"),
                     QN_OK);
    assert_string_equal(f->cfg.user, "a@qq.com");
    assert_string_equal(f->cfg.from_name, "  Ops #1 \"prod\" \\ ");
    assert_string_equal(f->cfg.credential_helper, "");

    assert_error(f, "[smtp]\nuser = a@qq.com\nfrom_name = \"Ops\n", 3, "from_name",
                 "the closing double quote is missing");
    assert_error(f, "[smtp]\nuser = a@qq.com\nfrom_name = \"Ops\" team\n", 3, "from_name",
                 "unexpected text after the closing quote");
}

static void test_inline_comments_and_blanks_are_removed(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "  [smtp]   \n"
                              "\tuser\t=\ta@qq.com   # the account\n"
                              "from_name = Ops#1 ; not a comment\n"
                              "helo_name = # nothing\n"
                              "  # indented comment\n"
                              "  ; indented comment\n"),
                     QN_OK);
    assert_string_equal(f->cfg.user, "a@qq.com");
    assert_string_equal(f->cfg.from_name, "Ops#1 ; not a comment");
    assert_string_equal(f->cfg.helo_name, "");
}

static void test_crlf_line_ends_are_accepted(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[smtp]\r\nuser = a@qq.com\r\nfrom_name = Ops\r\n"), QN_OK);
    assert_string_equal(f->cfg.from_name, "Ops");
    assert_error(f, "[smtp]\r\nuser = a@qq.com\r\nfrom_name = O\rps\r\nbad\r\n", 3, "from_name",
                 "the value contains a control character");
}

static void test_value_must_be_utf8(void **state)
{
    struct fixture *f = *state;

    /* "服务" in GBK, as a Windows editor might save it. */
    assert_error(f, "[smtp]\nuser = a@qq.com\nfrom_name = \xb7\xfe\xce\xf1\n", 3, "from_name",
                 "the value is not valid UTF-8");
    /* In a comment it does no harm. */
    assert_int_equal(parse(f, "[smtp]\n# \xb7\xfe\xce\xf1\nuser = a@qq.com\n"), QN_OK);
}

/*
 * Found by tests/fuzz/fuzz_config (tests/fuzz/regressions/config/): what an
 * error echoes is printed by `qqnotify check` to a terminal or the journal,
 * so it is sanitised as config.h promises: no C1 control (U+009B is an 8-bit
 * CSI), no bidi override that shows the text reversed, no invalid UTF-8.
 */
static void test_echoed_value_and_key_are_sanitised(void **state)
{
    struct fixture *f = *state;

    assert_error(f,
                 "[smtp]\nuser = a@qq.com\nport = \xe2\x80\xae"
                 "123\xc2\x85x\n",
                 3, "port", "the port is not a number from 1 to 65535");
    assert_string_equal(f->err.value, "<U+202E>123 x"); /* the override shown, not obeyed */
    assert_error(f,
                 "[smtp]\nuser = a@qq.com\nhost = \xc2\x9b"
                 "31m\n",
                 3, "host", "the host name is not valid");
    assert_string_equal(f->err.value, "31m");
    assert_error(f,
                 "[notify]\nto = a@b.c, \xe2\x80\xae"
                 "evil\n",
                 2, "to", "a recipient is not a plausible mail address");
    assert_string_equal(f->err.value, "<U+202E>evil");
    /* The key too: invalid UTF-8 becomes U+FFFD, the override its code. */
    assert_error(f, "[smtp]\n\xdd\xe2\x80\xae = 1\n", 2, "\xef\xbf\xbd<U+202E>", "unknown key");
}

static void test_utf8_bom_is_skipped(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "\xEF\xBB\xBF[smtp]\nuser = a@qq.com\n"), QN_OK);
    assert_string_equal(f->cfg.user, "a@qq.com");
    /* Line numbers still count from the first line. */
    assert_error(f, "\xEF\xBB\xBF[smtp]\nbogus = 1\n", 2, "bogus", "unknown key");
    /* A BOM anywhere else is not skipped (and is shown). */
    assert_error(f, "[smtp]\n\xEF\xBB\xBFuser = a@qq.com\n", 2, "<U+FEFF>user", "unknown key");
}

static void test_tls_fingerprint_forms(void **state)
{
    static const unsigned char want[32] = {
        0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF,
        0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45,
        0x67, 0x89, 0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67, 0x89,
    };
    static const char *const good[] = {
        "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
        "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
        ("AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:"
         "45:67:89"),
    };
    static const char *const bad[] = {
        "abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345678",
        "abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567890",
        "gbcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
        (":AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:"
         "23:45:67:89"),
        ("A:BCD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:"
         "45:67:89"),
        ("AB::CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:"
         "45:67:89"),
        "sha256 Fingerprint",
    };
    struct fixture *f = *state;
    char text[256];
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text), "[smtp]\nuser = a@qq.com\ntls_fingerprint = %s\n", good[i]);
        assert_int_equal(parse(f, text), QN_OK);
        assert_true(f->cfg.has_tls_pin);
        assert_memory_equal(f->cfg.tls_pin, want, 32);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[smtp]\nuser = a@qq.com\ntls_fingerprint = %s\n", bad[i]);
        assert_error(f, text, 3, "tls_fingerprint", "the fingerprint is not a SHA-256 hash");
        assert_false(f->cfg.has_tls_pin);
    }
}

static void test_timeout_forms(void **state)
{
    static const struct {
        const char *value;
        unsigned seconds;
    } good[] = {{"30", 30}, {"30s", 30}, {"2m", 120}, {"1", 1}, {"600", 600}, {"10min", 600}};
    static const char *const bad[] = {"0", "601", "11m", "abc", "30 s", "30h", "-5", ""};
    struct fixture *f = *state;
    char text[128];
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text), "[smtp]\nuser = a@qq.com\ntimeout = %s\n", good[i].value);
        assert_int_equal(parse(f, text), QN_OK);
        assert_int_equal(f->cfg.timeout_s, good[i].seconds);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[smtp]\nuser = a@qq.com\ntimeout = %s\n", bad[i]);
        assert_error(f, text, 3, "timeout", "the timeout is not between 1 and 600 seconds");
    }
}

static void test_max_entry_size_forms(void **state)
{
    static const struct {
        const char *value;
        size_t bytes;
    } good[] = {{"4096", 4096},           {"512K", 512 * 1024},  {"2M", 2 * 1024 * 1024},
                {"64k", 64 * 1024},       {"1MiB", 1024 * 1024}, {"1K", 1024},
                {"16M", 16 * 1024 * 1024}};
    /* 16M at most: a sender pass holds one entry's bytes and stays under 32 MiB (qmgr.h). */
    static const char *const bad[] = {
        "1023", "17M", "64M", "12X", "M", "1.5M", "99999999999999999999"};
    struct fixture *f = *state;
    char text[128];
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text), "[smtp]\nuser = a@qq.com\n[spool]\nmax_entry_size = %s\n",
                 good[i].value);
        assert_int_equal(parse(f, text), QN_OK);
        assert_int_equal(f->cfg.max_entry_size, good[i].bytes);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[smtp]\nuser = a@qq.com\n[spool]\nmax_entry_size = %s\n",
                 bad[i]);
        assert_error(f, text, 4, "max_entry_size", "the size is not between 1K and 16M");
    }
}

static void test_language_values(void **state)
{
    static const struct {
        const char *value;
        enum qn_lang lang;
    } good[] = {{"zh_CN", QN_LANG_ZH},
                {"zh", QN_LANG_ZH},
                {"en", QN_LANG_EN},
                {"auto", QN_LANG_AUTO},
                {"ZH_cn", QN_LANG_ZH}};
    struct fixture *f = *state;
    char text[128];
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text), "[smtp]\nuser = a@qq.com\n[notify]\nlanguage = %s\n",
                 good[i].value);
        assert_int_equal(parse(f, text), QN_OK);
        assert_int_equal(f->cfg.language, good[i].lang);
    }
    assert_error(f, "[smtp]\nuser = a@qq.com\n[notify]\nlanguage = fr\n", 4, "language",
                 "unknown language");
}

static void test_paths_must_be_absolute(void **state)
{
    struct fixture *f = *state;

    assert_error(f, "[smtp]\nuser = a@qq.com\n[spool]\ndir = spool\n", 4, "dir",
                 "the path is not absolute");
    assert_error(f, "[spool]\ndir =\n", 2, "dir", "the path is not absolute");
    assert_error(f, "[smtp]\nuser = a@qq.com\nca_file = certs/ca.pem\n", 3, "ca_file",
                 "the path is not absolute");
    assert_error(f, "[smtp]\ncredential_file = ~/secret\n", 2, "credential_file",
                 "the path is not absolute");
}

static void test_too_long_value_is_refused(void **state)
{
    struct fixture *f = *state;
    char text[512];

    snprintf(text, sizeof(text), "[smtp]\nuser = a@qq.com\nfrom_name = %0300d\n", 7);
    assert_error(f, text, 3, "from_name", "the value is too long");
}

static void test_limits_keys_are_accepted_for_later(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[smtp]\nuser = a@qq.com\n[limits]\nmax_per_minute = 5\n"
                              "max_per_hour = 20\nmax_per_day = 90\ndigest_after = 3\n"
                              "digest_window = 10m\nmax_age = 7d\nretry_min = 1m\n"
                              "retry_max = 1h\n"),
                     QN_OK);
    assert_error(f, "[limits]\nmax_per_week = 5\n", 2, "max_per_week", "unknown key");
    assert_error(f, "[limits]\nretry_max = 1h\nretry_max = 2h\n", 3, "retry_max",
                 "the key is set twice");
}

static void test_spool_owner_and_caps(void **state)
{
    struct fixture *f = *state;

    qn_config_defaults(&f->cfg);
    assert_string_equal(f->cfg.queue.user, "qqnotify");
    assert_string_equal(f->cfg.queue.drop_group, "qqnotify-drop");
    assert_int_equal(f->cfg.queue.user_max, 20);
    assert_int_equal(f->cfg.queue.rule_max, 20);
    assert_int_equal(f->cfg.queue.cap_window_s, 600);
    assert_int_equal(parse(f, "[smtp]\nuser = a@qq.com\n[spool]\nuser = _qn-spool.1\n"
                              "drop_group = qn-drop\n[limits]\nuser_max = 0\nrule_max = 100000\n"
                              "cap_window = 1h\n"),
                     QN_OK);
    assert_string_equal(f->cfg.queue.user, "_qn-spool.1");
    assert_string_equal(f->cfg.queue.drop_group, "qn-drop");
    assert_int_equal(f->cfg.queue.user_max, 0);
    assert_int_equal(f->cfg.queue.rule_max, 100000);
    assert_int_equal(f->cfg.queue.cap_window_s, 3600);
    assert_error(f, "[spool]\nuser = -qqnotify\n", 2, "user", "not a user or group name");
    assert_error(f, "[spool]\nuser = QQ notify\n", 2, "user", "not a user or group name");
    assert_error(f, "[spool]\ndrop_group = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 2, "drop_group",
                 "not a user or group name");
    assert_error(f, "[limits]\nuser_max = 100001\n", 2, "user_max",
                 "the value is not a whole number from 0 to 100000");
    assert_error(f, "[limits]\ncap_window = 30s\n", 2, "cap_window",
                 "the duration is not between 1 minute and 24 hours");
}

/* ---- [limits] ------------------------------------------------------------------------------ */

static void assert_limits(const struct qn_config *cfg, unsigned minute, unsigned hour, unsigned day,
                          unsigned digest_after, unsigned digest_window_s)
{
    assert_int_equal(cfg->limits.max_per_minute, minute);
    assert_int_equal(cfg->limits.max_per_hour, hour);
    assert_int_equal(cfg->limits.max_per_day, day);
    assert_int_equal(cfg->limits.digest_after, digest_after);
    assert_int_equal(cfg->limits.digest_window_s, digest_window_s);
}

static void test_limits_default_to_the_qq_preset(void **state)
{
    struct fixture *f = *state;

    qn_config_defaults(&f->cfg);
    assert_limits(&f->cfg, 5, 20, 90, 3, 600);
    assert_int_equal(f->cfg.max_age_s, 3 * 86400);
    assert_int_equal(f->cfg.retry_min_s, 60);
    assert_int_equal(f->cfg.retry_max_s, 3600);
    assert_int_equal(parse(f, "[smtp]\nuser = a@qq.com\n"), QN_OK);
    assert_limits(&f->cfg, 5, 20, 90, 3, 600);
    assert_int_equal(f->cfg.max_age_s, 3 * 86400);
    assert_int_equal(f->cfg.retry_min_s, 60);
    assert_int_equal(f->cfg.retry_max_s, 3600);
}

static void test_limits_default_per_provider(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[smtp]\nprovider = exmail\nuser = a@example.com\n"), QN_OK);
    assert_limits(&f->cfg, 5, 20, 90, 3, 600);
    assert_int_equal(parse(f, "[smtp]\nprovider = gmail\nuser = a@gmail.com\n"), QN_OK);
    assert_limits(&f->cfg, 20, 100, 500, 5, 600);
    /* The provider found from the host name counts too. */
    assert_int_equal(parse(f, "[smtp]\nhost = smtp.163.com\nuser = a@163.com\n"), QN_OK);
    assert_string_equal(f->cfg.provider, "163");
    assert_limits(&f->cfg, 20, 100, 500, 5, 600);
    assert_int_equal(parse(f, "[smtp]\nhost = smtp.qq.com\nuser = a@qq.com\n"), QN_OK);
    assert_limits(&f->cfg, 5, 20, 90, 3, 600);
    assert_int_equal(parse(f, "[smtp]\nhost = mail.example.com\nuser = a@example.com\n"), QN_OK);
    assert_string_equal(f->cfg.provider, "custom");
    assert_limits(&f->cfg, 20, 100, 500, 5, 600);

    qn_config_defaults(&f->cfg);
    assert_int_equal(qn_config_preset(&f->cfg, "outlook"), QN_OK);
    assert_limits(&f->cfg, 20, 100, 500, 5, 600);
    assert_int_equal(qn_config_preset(&f->cfg, "QQ"), QN_OK);
    assert_limits(&f->cfg, 5, 20, 90, 3, 600);
}

static void test_limits_keys_win_over_the_preset_in_any_order(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[limits]\nmax_per_day = 150\ndigest_window = 1h\n"
                              "[smtp]\nprovider = gmail\nuser = a@gmail.com\n"),
                     QN_OK);
    assert_limits(&f->cfg, 20, 100, 150, 5, 3600);
    assert_int_equal(parse(f, "[smtp]\nuser = a@qq.com\n[limits]\nmax_per_minute = 0\n"
                              "max_per_hour = 0\nmax_per_day = 2000\ndigest_after = 0\n"
                              "digest_window = 0\nmax_age = 7d\nretry_min = 30s\n"
                              "retry_max = 2h\n"),
                     QN_OK);
    assert_limits(&f->cfg, 0, 0, 2000, 0, 0);
    assert_int_equal(f->cfg.max_age_s, 7 * 86400);
    assert_int_equal(f->cfg.retry_min_s, 30);
    assert_int_equal(f->cfg.retry_max_s, 7200);
}

static void test_limits_durations_take_units(void **state)
{
    static const struct {
        const char *text;
        unsigned seconds;
    } cases[] = {
        {"600", 600}, {"30s", 30},   {"10m", 600}, {"10min", 600},
        {"1h", 3600}, {"1d", 86400}, {"0", 0},     {"24h", 86400},
    };
    struct fixture *f = *state;
    char text[128];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "[smtp]\nuser = a@qq.com\n[limits]\ndigest_window = %s\n",
                 cases[i].text);
        assert_int_equal(parse(f, text), QN_OK);
        assert_int_equal(f->cfg.limits.digest_window_s, cases[i].seconds);
    }
}

static void test_limits_bad_values_are_reported_on_their_line(void **state)
{
    static const char *const bad_counts[] = {
        "-1", "2001", "20 mails", "1.5", "0x10", "twenty", "99999999999999999999"};
    static const char *const bad_windows[] = {"25h", "2d", "10x", "1w", "-5", "10 m", "m", "1H"};
    static const char count_what[] = "the value is not a whole number from 0 to 2000";
    struct fixture *f = *state;
    char text[256];
    size_t i;

    for (i = 0; i < sizeof(bad_counts) / sizeof(bad_counts[0]); i++) {
        snprintf(text, sizeof(text), "[smtp]\nuser = a@qq.com\n[limits]\n\nmax_per_hour = %s\n",
                 bad_counts[i]);
        assert_error(f, text, 5, "max_per_hour", count_what);
        assert_string_equal(f->err.value, bad_counts[i]);
    }
    assert_error(f, "[limits]\ndigest_after = 2001\n", 2, "digest_after", count_what);
    assert_error(f, "[limits]\nmax_per_day =\n", 2, "max_per_day", count_what);
    for (i = 0; i < sizeof(bad_windows) / sizeof(bad_windows[0]); i++) {
        snprintf(text, sizeof(text), "[limits]\ndigest_window = %s\n", bad_windows[i]);
        assert_error(f, text, 2, "digest_window", "the duration is not between 0 and 24 hours");
    }
    assert_error(f, "[limits]\nmax_age = 59s\n", 2, "max_age",
                 "the duration is not between 1 minute and 365 days");
    assert_error(f, "[limits]\nmax_age = 366d\n", 2, "max_age",
                 "the duration is not between 1 minute and 365 days");
    assert_error(f, "[limits]\nretry_min = 0\n", 2, "retry_min",
                 "the duration is not between 1 second and 24 hours");
    assert_error(f, "[limits]\nretry_max = 25h\n", 2, "retry_max",
                 "the duration is not between 1 second and 24 hours");
}

static void test_limits_that_contradict_each_other_are_refused(void **state)
{
    struct fixture *f = *state;

    assert_error(f, "[smtp]\nuser = a@qq.com\n[limits]\nmax_per_minute = 30\n", 0, "max_per_minute",
                 "max_per_minute is larger than max_per_hour");
    assert_error(f, "[smtp]\nuser = a@qq.com\n[limits]\nmax_per_hour = 200\n", 0, "max_per_hour",
                 "max_per_hour is larger than max_per_day");
    assert_error(f, "[smtp]\nuser = a@qq.com\n[limits]\nretry_min = 2h\n", 0, "retry_min",
                 "retry_min is longer than retry_max");
    /* 0 is "no limit", never "smaller". */
    assert_int_equal(parse(f, "[smtp]\nuser = a@qq.com\n[limits]\nmax_per_minute = 30\n"
                              "max_per_hour = 0\nmax_per_day = 0\n"),
                     QN_OK);
    assert_limits(&f->cfg, 30, 0, 0, 3, 600);
}

/* ---- qn_config_set_recipients -------------------------------------------------------------- */

static void test_set_recipients_replaces_the_list(void **state)
{
    struct fixture *f = *state;
    char list[1024];
    size_t len = 0, i;

    qn_config_defaults(&f->cfg);
    assert_int_equal(qn_config_set_recipients(&f->cfg, "a@qq.com"), QN_OK);
    assert_int_equal(qn_config_set_recipients(&f->cfg, " b@qq.com ,c@example.com,"), QN_OK);
    assert_int_equal(f->cfg.n_to, 2);
    assert_string_equal(f->cfg.to[0], "b@qq.com");
    assert_string_equal(f->cfg.to[1], "c@example.com");

    /* Failures leave the list as it was. */
    assert_int_equal(qn_config_set_recipients(&f->cfg, "d@qq.com, nobody"), QN_EINVAL);
    assert_int_equal(qn_config_set_recipients(&f->cfg, " , "), QN_EINVAL);
    for (i = 0; i <= QN_CONFIG_MAX_RCPT; i++)
        len += (size_t)snprintf(list + len, sizeof(list) - len, "r%zu@example.com,", i);
    assert_int_equal(qn_config_set_recipients(&f->cfg, list), QN_ETOOBIG);
    assert_int_equal(f->cfg.n_to, 2);
    assert_string_equal(f->cfg.to[0], "b@qq.com");
}

/* ---- qn_config_load ---------------------------------------------------------------------- */

static void test_load_reads_the_file(void **state)
{
    struct fixture *f = *state;
    char path[128];
    const char text[] = "[smtp]\nuser = a@qq.com\n[notify]\nto = b@qq.com\n";

    snprintf(path, sizeof(path), "%s/qqnotify.conf", f->dir);
    write_file(path, text, sizeof(text) - 1);
    assert_int_equal(qn_config_load(&f->cfg, path, &f->err), QN_OK);
    assert_string_equal(f->cfg.path, path);
    assert_string_equal(f->cfg.to[0], "b@qq.com");
}

static void test_load_error_names_the_file(void **state)
{
    struct fixture *f = *state;
    char path[128];
    const char text[] = "[smtp]\nuser = a@qq.com\nport = x\n";

    snprintf(path, sizeof(path), "%s/qqnotify.conf", f->dir);
    write_file(path, text, sizeof(text) - 1);
    assert_int_equal(qn_config_load(&f->cfg, path, &f->err), QN_ECONFIG);
    assert_string_equal(f->err.file, path);
    assert_int_equal(f->err.line, 3);
    assert_string_equal(f->err.key, "port");
}

static void test_load_missing_file_is_not_found(void **state)
{
    struct fixture *f = *state;
    char path[128];

    snprintf(path, sizeof(path), "%s/none.conf", f->dir);
    assert_int_equal(qn_config_load(&f->cfg, path, &f->err), QN_ENOTFOUND);
    assert_string_equal(f->err.file, path);
    assert_string_equal(f->err.what, "the configuration file does not exist");
    /* The defaults are in place for a program that goes on without a file. */
    assert_string_equal(f->cfg.host, "smtp.qq.com");
}

static void test_load_unreadable_path_is_io_error_with_errno(void **state)
{
    struct fixture *f = *state;
    char path[512];

    /* A name longer than NAME_MAX fails in open() even for root. */
    snprintf(path, sizeof(path), "%s/%0300d", f->dir, 0);
    errno = 0;
    assert_int_equal(qn_config_load(&f->cfg, path, &f->err), QN_EIO);
    assert_int_equal(f->err.sys_errno, ENAMETOOLONG);
    assert_int_equal(errno, ENAMETOOLONG);
}

static void test_load_refuses_a_directory(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(qn_config_load(&f->cfg, f->dir, &f->err), QN_ECONFIG);
    assert_string_equal(f->err.what, "the configuration path is not a regular file");
}

static void test_load_refuses_a_file_over_the_size_cap(void **state)
{
    struct fixture *f = *state;
    char path[128];
    char *text = malloc(QN_CONFIG_FILE_MAX + 1);
    size_t i;

    assert_non_null(text);
    snprintf(path, sizeof(path), "%s/big.conf", f->dir);
    /* Valid text all along: only the size is wrong. */
    memcpy(text, "[smtp]\nuser = a@qq.com\n", 23);
    for (i = 23; i < QN_CONFIG_FILE_MAX + 1; i++)
        text[i] = (i % 64 == 63) ? '\n' : '#';
    write_file(path, text, QN_CONFIG_FILE_MAX);
    assert_int_equal(qn_config_load(&f->cfg, path, &f->err), QN_OK);
    write_file(path, text, QN_CONFIG_FILE_MAX + 1);
    assert_int_equal(qn_config_load(&f->cfg, path, &f->err), QN_ECONFIG);
    assert_string_equal(f->err.what, "the configuration file is larger than 256 KiB");
    free(text);
}

/* ---- [heartbeat] and [metrics] (assure.h) ------------------------------------------------ */

static void test_heartbeat_and_metrics_are_parsed(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[smtp]\nuser = a@qq.com\n[heartbeat]\n"
                              "ping_url = https://hc-ping.com/0d2f5c8e\n"
                              "ca_file = /etc/ssl/hc.pem\ntimeout = 5s\ndaily = 09:30\n"
                              "[metrics]\ntextfile = /var/lib/node/qqnotify.prom\n"),
                     QN_OK);
    assert_string_equal(f->cfg.assure.ping_url, "https://hc-ping.com/0d2f5c8e");
    assert_string_equal(f->cfg.assure.ca_file, "/etc/ssl/hc.pem");
    assert_int_equal(f->cfg.assure.timeout_s, 5);
    assert_int_equal(f->cfg.assure.daily_minute, 9 * 60 + 30);
    assert_string_equal(f->cfg.assure.textfile, "/var/lib/node/qqnotify.prom");
}

static void test_heartbeat_and_metrics_default_to_nothing(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[smtp]\nuser = a@qq.com\n"), QN_OK);
    assert_string_equal(f->cfg.assure.ping_url, "");
    assert_string_equal(f->cfg.assure.textfile, "");
    assert_int_equal(f->cfg.assure.timeout_s, QN_ASSURE_TIMEOUT_DEFAULT);
    assert_int_equal(f->cfg.assure.daily_minute, -1);
}

static void test_heartbeat_values_are_checked(void **state)
{
    struct fixture *f = *state;

    assert_error(f, "[heartbeat]\nping_url = http://hc-ping.com/x\n", 2, "ping_url",
                 "ping_url is not an https:// URL");
    assert_error(f, "[heartbeat]\nping_url = https://\n", 2, "ping_url",
                 "ping_url is not an https:// URL");
    assert_error(f, "[heartbeat]\nping_url = \"https://a b\"\n", 2, "ping_url",
                 "ping_url is not an https:// URL");
    assert_error(f, "[heartbeat]\ntimeout = 61\n", 2, "timeout",
                 "the timeout is not between 1 and 60 seconds");
    assert_error(f, "[heartbeat]\ndaily = 24:00\n", 2, "daily", "daily is not a time of day HH:MM");
    assert_error(f, "[heartbeat]\ndaily = 9:00\n", 2, "daily", "daily is not a time of day HH:MM");
    assert_error(f, "[heartbeat]\nca_file = hc.pem\n", 2, "ca_file", "the path is not absolute");
    assert_error(f, "[metrics]\ntextfile = /var/lib/node/qqnotify.txt\n", 2, "textfile",
                 "the metrics file does not end in .prom");
    assert_error(f, "[metrics]\ntextfile = /a.prom\ntextfile = /b.prom\n", 3, "textfile",
                 "the key is set twice");
    assert_error(f, "[metrics]\nping_url = https://x/y\n", 2, "ping_url", "unknown key");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_full_valid_config_is_parsed),
        T(test_heartbeat_and_metrics_are_parsed),
        T(test_heartbeat_and_metrics_default_to_nothing),
        T(test_heartbeat_values_are_checked),
        T(test_minimal_config_gets_the_defaults),
        T(test_parse_resets_an_earlier_configuration),
        T(test_each_preset_sets_host_port_and_tls),
        T(test_provider_names_are_case_insensitive),
        T(test_custom_provider_requires_host),
        T(test_unknown_preset_is_refused_and_changes_nothing),
        T(test_explicit_host_and_port_override_preset_in_any_order),
        T(test_explicit_tls_overrides_preset_in_any_order),
        T(test_port_587_alone_means_starttls_and_465_implicit),
        T(test_host_without_provider_names_the_provider),
        T(test_tls_modes_and_synonyms),
        T(test_tls_verify_accepts_boolean_words),
        T(test_unknown_key_reports_its_exact_line_and_the_valid_keys),
        T(test_every_key_named_in_a_fix_is_accepted),
        T(test_password_like_keys_are_refused_in_every_section),
        T(test_password_key_is_refused_before_any_section),
        T(test_a_line_without_equals_is_not_echoed),
        T(test_unknown_section_is_an_error),
        T(test_sections_and_keys_are_case_insensitive),
        T(test_key_outside_a_section_is_an_error),
        T(test_duplicate_scalar_key_is_reported_on_its_second_line),
        T(test_bad_ports_are_refused),
        T(test_host_with_a_port_or_scheme_is_refused),
        T(test_missing_user_explains_what_to_set),
        T(test_implausible_user_is_refused_on_its_line),
        T(test_bad_recipient_is_named_with_its_line),
        T(test_recipients_append_up_to_the_limit),
        T(test_over_long_line_is_refused_with_its_number),
        T(test_nul_byte_is_refused_with_its_line),
        T(test_quoted_values_keep_blanks_and_hashes),
        T(test_inline_comments_and_blanks_are_removed),
        T(test_crlf_line_ends_are_accepted),
        T(test_value_must_be_utf8),
        T(test_echoed_value_and_key_are_sanitised),
        T(test_utf8_bom_is_skipped),
        T(test_tls_fingerprint_forms),
        T(test_timeout_forms),
        T(test_max_entry_size_forms),
        T(test_language_values),
        T(test_paths_must_be_absolute),
        T(test_too_long_value_is_refused),
        T(test_limits_keys_are_accepted_for_later),
        T(test_spool_owner_and_caps),
        T(test_limits_default_to_the_qq_preset),
        T(test_limits_default_per_provider),
        T(test_limits_keys_win_over_the_preset_in_any_order),
        T(test_limits_durations_take_units),
        T(test_limits_bad_values_are_reported_on_their_line),
        T(test_limits_that_contradict_each_other_are_refused),
        T(test_set_recipients_replaces_the_list),
        T(test_load_reads_the_file),
        T(test_load_error_names_the_file),
        T(test_load_missing_file_is_not_found),
        T(test_load_unreadable_path_is_io_error_with_errno),
        T(test_load_refuses_a_directory),
        T(test_load_refuses_a_file_over_the_size_cap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
