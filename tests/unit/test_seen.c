/*
 * Unit tests for common/seen.c: source tokens (key fingerprint, /24, /64,
 * IPv4-mapped, names, local), the notify = new verdicts at the edges of
 * `remember`, root and never-seen users, previous logins for enrichment,
 * the eviction rule (an account flooding new sources or keys cannot push
 * another user's entry out), forget, and the state file (exact text,
 * clamping, strict rejection).  Times are fixed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "seen.h"

#define T0  1795658400LL /* 2026-11-26 02:00:00 UTC */
#define DAY 86400LL
#define REM QN_SEEN_REMEMBER_DEFAULT_S

static struct qn_event login_from(const char *user, const char *ip, const char *key)
{
    struct qn_event ev;

    qn_event_init(&ev, "login");
    ev.time = T0;
    assert_int_equal(qn_event_set(&ev, "service", "sshd"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "user", user), QN_OK);
    if (ip != NULL) {
        assert_int_equal(qn_event_set(&ev, "rhost", ip), QN_OK);
        assert_int_equal(qn_event_set(&ev, "ip", ip), QN_OK);
    }
    if (key != NULL)
        assert_int_equal(qn_event_set(&ev, "key", key), QN_OK);
    return ev;
}

static int setup(void **state)
{
    struct qn_seen *t = malloc(sizeof(*t));

    if (t == NULL)
        return -1;
    qn_seen_init(t);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static void assert_source(const struct qn_event *ev, const char *want)
{
    char got[QN_SEEN_SOURCE_MAX];

    assert_int_equal(qn_seen_source(ev, got), QN_OK);
    assert_string_equal(got, want);
}

static void test_sources_are_networks_keys_names_or_local(void **state)
{
    struct qn_event ev;
    char out[QN_SEEN_SOURCE_MAX];

    (void)state;
    ev = login_from("alice", "203.0.113.9", NULL);
    assert_source(&ev, "203.0.113.0/24");
    ev = login_from("alice", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", NULL);
    assert_source(&ev, "2001:db8:1:2::/64");
    ev = login_from("alice", "::ffff:198.51.100.7", NULL);
    assert_source(&ev, "198.51.100.0/24");
    ev = login_from("alice", "203.0.113.9", "ssh-ed25519 SHA256:JzN09GGCq0ZyXh1hBYuPvmJZ0Nv1S8sSo");
    assert_source(&ev, "SHA256:JzN09GGCq0ZyXh1hBYuPvmJZ0Nv1S8sSo");
    /* a certificate (type only, no fingerprint) falls back to the network */
    ev = login_from("alice", "203.0.113.9", "ssh-ed25519-cert-v01@openssh.com");
    assert_source(&ev, "203.0.113.0/24");
    ev = login_from("alice", NULL, NULL);
    assert_source(&ev, "local");
    ev = login_from("alice", NULL, NULL);
    assert_int_equal(qn_event_set(&ev, "rhost", "Build-7.Example.COM"), QN_OK);
    assert_source(&ev, "name:build-7.example.com");
    assert_int_equal(qn_event_set(&ev, "rhost", "bad name"), QN_OK);
    assert_int_equal(qn_seen_source(&ev, out), QN_EINVAL);
}

static void test_new_user_then_known_then_new_network(void **state)
{
    struct qn_seen *t = *state;
    struct qn_event a = login_from("deploy", "203.0.113.9", NULL);
    struct qn_event same_net = login_from("deploy", "203.0.113.200", NULL);
    struct qn_event other_net = login_from("deploy", "198.51.100.1", NULL);

    assert_int_equal(qn_seen_decide(t, &a, T0, REM, false), QN_SEEN_NEW_USER);
    assert_int_equal(qn_seen_record(t, &a, T0, REM), QN_OK);
    assert_int_equal(qn_seen_decide(t, &a, T0 + 60, REM, false), QN_SEEN_KNOWN);
    assert_false(qn_seen_verdict_mails(QN_SEEN_KNOWN));
    assert_int_equal(qn_seen_decide(t, &same_net, T0 + 60, REM, false), QN_SEEN_KNOWN);
    assert_int_equal(qn_seen_decide(t, &other_net, T0 + 60, REM, false), QN_SEEN_NEW_SOURCE);
    assert_true(qn_seen_verdict_mails(QN_SEEN_NEW_SOURCE));
    assert_int_equal(qn_seen_record(t, &other_net, T0 + 60, REM), QN_OK);
    assert_int_equal(qn_seen_decide(t, &other_net, T0 + 120, REM, false), QN_SEEN_KNOWN);
    assert_int_equal(t->n, 2);
    assert_int_equal(t->entries[0].count, 1);
}

static void test_remember_is_measured_from_the_last_login(void **state)
{
    struct qn_seen *t = *state;
    struct qn_event a = login_from("deploy", "203.0.113.9", NULL);

    assert_int_equal(qn_seen_record(t, &a, T0, REM), QN_OK);
    assert_int_equal(qn_seen_record(t, &a, T0 + 10 * DAY, REM), QN_OK);
    assert_int_equal(qn_seen_decide(t, &a, T0 + 10 * DAY + REM, REM, false), QN_SEEN_KNOWN);
    /* one second more: not seen within remember, and the user has no other entry */
    assert_int_equal(qn_seen_decide(t, &a, T0 + 10 * DAY + REM + 1, REM, false), QN_SEEN_NEW_USER);
    assert_int_equal(t->entries[0].first, T0);
    assert_int_equal(t->entries[0].last, T0 + 10 * DAY);
    assert_int_equal(t->entries[0].count, 2);
}

static void test_root_and_untrackable_logins_always_mail_and_others_are_not_judged(void **state)
{
    struct qn_seen *t = *state;
    struct qn_event root = login_from("root", "203.0.113.9", NULL);
    struct qn_event toor = login_from("toor", "203.0.113.9", NULL);
    struct qn_event spaced = login_from("a b", "203.0.113.9", NULL);
    struct qn_event fail = login_from("admin", "203.0.113.9", NULL);

    assert_int_equal(qn_seen_record(t, &root, T0, REM), QN_OK);
    assert_int_equal(qn_seen_decide(t, &root, T0, REM, false), QN_SEEN_ROOT);
    assert_int_equal(qn_seen_record(t, &toor, T0, REM), QN_OK);
    assert_int_equal(qn_seen_decide(t, &toor, T0, REM, true), QN_SEEN_ROOT);
    assert_int_equal(qn_seen_decide(t, &spaced, T0, REM, false), QN_SEEN_UNTRACKABLE);
    assert_int_equal(qn_seen_record(t, &spaced, T0, REM), QN_EINVAL);
    snprintf(fail.kind, sizeof(fail.kind), "authfail");
    assert_int_equal(qn_seen_decide(t, &fail, T0, REM, false), QN_SEEN_NOT_LOGIN);
    assert_int_equal(qn_seen_record(t, &fail, T0, REM), QN_EINVAL); /* attackers' names stay out */
    assert_int_equal(t->n, 2);
    assert_true(qn_seen_user_is_root("root"));
}

static void test_previous_logins_of_the_user_and_of_the_source(void **state)
{
    struct qn_seen *t = *state;
    struct qn_event a = login_from("alice", "203.0.113.9", NULL);
    struct qn_event b = login_from("alice", "198.51.100.4", NULL);
    struct qn_event c = login_from("bob", "198.51.100.77", NULL);
    struct qn_seen_previous p;

    assert_int_equal(qn_seen_record(t, &a, T0, REM), QN_OK);
    assert_int_equal(qn_seen_record(t, &b, T0 + DAY, REM), QN_OK);
    assert_int_equal(qn_seen_record(t, &c, T0 + 2 * DAY, REM), QN_OK);
    qn_seen_previous(t, "alice", "203.0.113.0/24", &p);
    assert_true(p.user_seen);
    assert_int_equal(p.user_last, T0 + DAY);
    assert_string_equal(p.user_source, "198.51.100.0/24");
    assert_true(p.source_seen);
    assert_int_equal(p.source_last, T0);
    assert_string_equal(p.source_user, "alice");
    assert_int_equal(p.pair_count, 1);
    qn_seen_previous(t, "carol", "198.51.100.0/24", &p);
    assert_false(p.user_seen);
    assert_true(p.source_seen);
    assert_string_equal(p.source_user, "bob");
    assert_int_equal(p.pair_count, 0);
}

/* One account logging in with ever new keys only cycles its own entries. */
static void test_a_flooding_account_evicts_only_its_own_entries(void **state)
{
    struct qn_seen *t = *state;
    struct qn_event deploy = login_from("deploy", "203.0.113.9", NULL);
    char key[96];

    assert_int_equal(qn_seen_record(t, &deploy, T0, REM), QN_OK);
    for (int i = 0; i < 5000; i++) {
        struct qn_event ev;

        snprintf(key, sizeof(key), "ssh-ed25519 SHA256:attacker%08d", i);
        ev = login_from("intern", "2001:db8::1", key);
        assert_int_equal(qn_seen_record(t, &ev, T0 + 1 + i, REM), QN_OK);
    }
    assert_int_equal(t->n, 1 + QN_SEEN_PER_USER_MAX);
    assert_int_equal(qn_seen_decide(t, &deploy, T0 + DAY, REM, false), QN_SEEN_KNOWN);
}

/* A full table: the user holding the most loses its oldest, never the quiet one. */
static void test_full_table_evicts_from_the_user_with_most_entries(void **state)
{
    struct qn_seen *t = *state;
    struct qn_event deploy = login_from("deploy", "203.0.113.9", NULL);
    char user[32], ip[64];
    long long now = T0;

    assert_int_equal(qn_seen_record(t, &deploy, now, REM), QN_OK);
    /* attackers with many accounts fill the table, each at its maximum */
    for (int u = 0; t->n < QN_SEEN_MAX; u++) {
        for (int s = 0; s < QN_SEEN_PER_USER_MAX && t->n < QN_SEEN_MAX; s++) {
            struct qn_event ev;

            snprintf(user, sizeof(user), "acct%d", u);
            snprintf(ip, sizeof(ip), "2001:db8:%x:%x::1", u, s);
            ev = login_from(user, ip, NULL);
            assert_int_equal(qn_seen_record(t, &ev, ++now, REM), QN_OK);
        }
    }
    /* more accounts keep coming: each new entry costs an attacker account an entry */
    for (int u = 1000; u < 1200; u++) {
        struct qn_event ev;

        snprintf(user, sizeof(user), "acct%d", u);
        ev = login_from(user, "2001:db8:ffff::1", NULL);
        assert_int_equal(qn_seen_record(t, &ev, ++now, REM), QN_OK);
        assert_int_equal(t->n, QN_SEEN_MAX);
    }
    assert_int_equal(qn_seen_decide(t, &deploy, now, REM, false), QN_SEEN_KNOWN);
}

static void test_expired_entries_go_first(void **state)
{
    struct qn_seen *t = *state;
    struct qn_event old = login_from("old", "203.0.113.9", NULL);
    struct qn_event fresh = login_from("fresh", "203.0.113.9", NULL);

    assert_int_equal(qn_seen_record(t, &old, T0, REM), QN_OK);
    assert_int_equal(qn_seen_record(t, &fresh, T0 + REM + 1, REM), QN_OK);
    assert_int_equal(t->n, 1);
    assert_string_equal(t->entries[0].user, "fresh");
}

static void test_forget_one_source_or_the_whole_user(void **state)
{
    struct qn_seen *t = *state;
    struct qn_event a = login_from("alice", "203.0.113.9", NULL);
    struct qn_event b = login_from("alice", "198.51.100.4", NULL);
    struct qn_event c = login_from("bob", "198.51.100.4", NULL);

    assert_int_equal(qn_seen_record(t, &a, T0, REM), QN_OK);
    assert_int_equal(qn_seen_record(t, &b, T0, REM), QN_OK);
    assert_int_equal(qn_seen_record(t, &c, T0, REM), QN_OK);
    assert_int_equal(qn_seen_forget(t, "alice", "198.51.100.0/24"), 1);
    assert_int_equal(qn_seen_decide(t, &b, T0, REM, false), QN_SEEN_NEW_SOURCE);
    assert_int_equal(qn_seen_forget(t, "alice", NULL), 1);
    assert_int_equal(qn_seen_decide(t, &a, T0, REM, false), QN_SEEN_NEW_USER);
    assert_int_equal(qn_seen_forget(t, "nobody", NULL), 0);
    assert_int_equal(t->n, 1);
}

static void test_state_text_is_exact_and_round_trips(void **state)
{
    static const char want[] =
        "qqnotify-seen 1\n"
        "seen deploy 203.0.113.0/24 1795658400 1795744800 2\n"
        "seen deploy SHA256:JzN09GGCq0ZyXh1hBYuPvmJZ0Nv1S8sSo 1795658400 1795658400 1\n"
        "seen 用户 local 1795658400 1795658400 1\n";
    struct qn_seen *t = *state;
    struct qn_event a = login_from("deploy", "203.0.113.9", NULL);
    struct qn_event k =
        login_from("deploy", "203.0.113.9", "ssh-ed25519 SHA256:JzN09GGCq0ZyXh1hBYuPvmJZ0Nv1S8sSo");
    struct qn_event l = login_from("用户", NULL, NULL);
    struct qn_buf b;

    assert_int_equal(qn_seen_record(t, &a, T0, REM), QN_OK);
    assert_int_equal(qn_seen_record(t, &k, T0, REM), QN_OK);
    assert_int_equal(qn_seen_record(t, &l, T0, REM), QN_OK);
    assert_int_equal(qn_seen_record(t, &a, T0 + DAY, REM), QN_OK);
    qn_buf_init(&b, QN_SEEN_STATE_MAX);
    assert_int_equal(qn_seen_save(t, &b), QN_OK);
    assert_string_equal(b.data, want);
    assert_int_equal(qn_seen_load(t, b.data, b.len, T0 + DAY), QN_OK);
    assert_int_equal(t->n, 3);
    qn_buf_reset(&b);
    assert_int_equal(qn_seen_save(t, &b), QN_OK);
    assert_string_equal(b.data, want);
    qn_buf_free(&b);
}

static void test_load_clamps_times_and_counts(void **state)
{
    static const char text[] = "qqnotify-seen 1\n"
                               "seen a 203.0.113.0/24 1795658400 99999999999999999999 0\n"
                               "seen b local 1795744800 1795658400 99999999999\n";
    struct qn_seen *t = *state;

    assert_int_equal(qn_seen_load(t, text, strlen(text), T0 + DAY), QN_OK);
    assert_int_equal(t->entries[0].last, T0 + DAY); /* never in the future */
    assert_int_equal(t->entries[0].count, 1);
    assert_int_equal(t->entries[1].first, T0); /* first never after last */
    assert_int_equal(t->entries[1].count, QN_SEEN_COUNT_MAX);
}

static void test_load_rejects_malformed_files(void **state)
{
    static const char *const bad[] = {
        "",
        "qqnotify-seen 2\n",
        "qqnotify-seen 1\nseen a local 1 2 3",
        "qqnotify-seen 1\nseen a local 1 2\n",
        "qqnotify-seen 1\nseen a local 1 2 3 4\n",
        "qqnotify-seen 1\nseen a  local 1 2 3\n",
        "qqnotify-seen 1\nseen a local -1 2 3\n",
        "qqnotify-seen 1\nseen a local 1 2 x\n",
        "qqnotify-seen 1\nseen a local 1 2 3\nseen a local 1 2 3\n",
        "qqnotify-seen 1\nseen a\x1b[31m local 1 2 3\n",
        "qqnotify-seen 1\nSeen a local 1 2 3\n",
        "qqnotify-seen 1\nseen a local 1 2 3\r\n",
        "qqnotify-seen 1\n\n",
    };
    struct qn_seen *t = *state;
    char text[4096];
    int n;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (qn_seen_load(t, bad[i], strlen(bad[i]), T0) != QN_EINVAL)
            fail_msg("accepted malformed state %zu", i);
        assert_int_equal(t->n, 0);
    }
    /* more entries for one user than the rule allows */
    n = snprintf(text, sizeof(text), "qqnotify-seen 1\n");
    for (int i = 0; i <= QN_SEEN_PER_USER_MAX; i++)
        n += snprintf(text + n, sizeof(text) - (size_t)n, "seen a 10.0.%d.0/24 1 2 3\n", i);
    assert_int_equal(qn_seen_load(t, text, (size_t)n, T0), QN_EINVAL);
}

static void test_full_table_fits_its_stated_bound(void **state)
{
    struct qn_seen *t = *state;
    struct qn_buf b;

    for (size_t i = 0; i < QN_SEEN_MAX; i++) {
        struct qn_seen_entry *e = &t->entries[i];

        memset(e->user, 'u', sizeof(e->user) - 1);
        snprintf(e->user + sizeof(e->user) - 8, 8, "%07zu", i / QN_SEEN_PER_USER_MAX);
        memset(e->source, 's', sizeof(e->source) - 1);
        snprintf(e->source + sizeof(e->source) - 8, 8, "%07zu", i);
        e->first = e->last = QN_SEEN_TIME_MAX;
        e->count = QN_SEEN_COUNT_MAX;
    }
    t->n = QN_SEEN_MAX;
    qn_buf_init(&b, QN_SEEN_STATE_MAX);
    assert_int_equal(qn_seen_save(t, &b), QN_OK);
    assert_true(QN_SEEN_STATE_MAX <= QN_SPOOL_STATE_MAX);
    assert_int_equal(qn_seen_load(t, b.data, b.len, QN_SEEN_TIME_MAX), QN_OK);
    assert_int_equal(t->n, QN_SEEN_MAX);
    qn_buf_free(&b);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_sources_are_networks_keys_names_or_local),
        T(test_new_user_then_known_then_new_network),
        T(test_remember_is_measured_from_the_last_login),
        T(test_root_and_untrackable_logins_always_mail_and_others_are_not_judged),
        T(test_previous_logins_of_the_user_and_of_the_source),
        T(test_a_flooding_account_evicts_only_its_own_entries),
        T(test_full_table_evicts_from_the_user_with_most_entries),
        T(test_expired_entries_go_first),
        T(test_forget_one_source_or_the_whole_user),
        T(test_state_text_is_exact_and_round_trips),
        T(test_load_clamps_times_and_counts),
        T(test_load_rejects_malformed_files),
        T(test_full_table_fits_its_stated_bound),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
