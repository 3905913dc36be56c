/*
 * Unit tests for common/failover.c: two fake routes ("smtp" and "ops")
 * whose answers the test scripts, a spool for their limiters, the routes'
 * record (health.h) and a clock the test moves.  Each test checks which
 * route got which alert, its exact text, what deliver() returned, and the
 * record afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "failover.h"
#include "render.h"
#include "tmpdir.h"

#define T0    1795658400LL /* 2026-11-26 02:00:00 UTC */
#define SENDS 8

/* One scripted answer: accept, or refuse with STATUS at STAGE (an SMTP CODE and TEXT). */
struct answer {
    enum qn_status status; /* QN_OK: accept */
    enum qn_stage stage;
    int code;
    const char *text;
};

struct route {
    const char *name;
    struct answer answer[SENDS];
    size_t sends;
    char text[SENDS][1024]; /* the alert's text as each send got it */
    bool html[SENDS];       /* it had an HTML part */
};

struct fixture {
    char dir[64];
    struct qn_spool *sp;
    struct qn_config cfg;
    struct qn_health health;
    struct route smtp, ops;
    struct qn_failover *fo;
    struct qn_transport t;
    long long clock;
    size_t failed_events, refused_events;
};

static enum qn_status route_open(void *ctx, struct qn_error *err)
{
    (void)ctx;
    qn_error_clear(err);
    return QN_OK;
}

static enum qn_status route_deliver(void *ctx, const struct qn_delivery *d, struct qn_error *err)
{
    struct route *r = ctx;
    size_t i = r->sends++;
    const struct answer *a;

    assert_true(i < SENDS);
    a = &r->answer[i];
    snprintf(r->text[i], sizeof(r->text[i]), "%s", d->alert->text.data);
    r->html[i] = d->alert->html.len > 0;
    qn_error_clear(err);
    if (a->status == QN_OK)
        return QN_OK;
    if (a->code != 0)
        qn_error_set_reply(err, a->stage, a->code, a->text, strlen(a->text));
    else
        qn_error_set(err, a->status, a->stage, "%s", a->text);
    err->status = a->status;
    return a->status;
}

static void route_close(void *ctx)
{
    (void)ctx;
}

static long long clock_of(void *arg)
{
    return ((struct fixture *)arg)->clock;
}

static void on_event(void *arg, const struct qn_failover_event *ev)
{
    struct fixture *f = arg;

    if (ev->kind == QN_FAILOVER_FAILED)
        f->failed_events++;
    if (ev->kind == QN_FAILOVER_REFUSED)
        f->refused_events++;
}

static void make(struct fixture *f)
{
    struct qn_failover_route routes[2] = {
        {.t = {.name = "smtp",
               .ctx = &f->smtp,
               .open = route_open,
               .deliver = route_deliver,
               .close = route_close},
         .ordered = true,
         .critical = true},
        {.t = {.name = "ops",
               .provider = "wecom",
               .state = "ratelimit.ops",
               .ctx = &f->ops,
               .open = route_open,
               .deliver = route_deliver,
               .close = route_close},
         .ordered = true,
         .critical = true},
    };
    struct qn_failover_options o = {.cfg = &f->cfg,
                                    .spool = f->sp,
                                    .health = &f->health,
                                    .routes = routes,
                                    .n_routes = 2,
                                    .on_event = on_event,
                                    .clock = clock_of,
                                    .arg = f};

    assert_int_equal(qn_failover_new(&o, &f->fo), QN_OK);
    f->t = qn_failover_transport(f->fo);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL || tmpdir_make(f->dir, sizeof(f->dir), "failover") != 0 ||
        qn_spool_open(f->dir, QN_SPOOL_CREATE, 0, &f->sp) != QN_OK)
        return -1;
    qn_config_defaults(&f->cfg);
    snprintf(f->cfg.provider, sizeof(f->cfg.provider), "qq");
    memset(&f->cfg.limits, 0, sizeof(f->cfg.limits));
    f->cfg.language = QN_LANG_EN;
    f->cfg.retry_min_s = 60;
    f->cfg.retry_max_s = 3600;
    f->cfg.routes.failover_after_s = 0;
    qn_health_init(&f->health);
    f->smtp.name = "smtp";
    f->ops.name = "ops";
    f->clock = T0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc;

    qn_failover_free(f->fo);
    qn_spool_close(f->sp);
    rc = tmpdir_remove(f->dir);
    free(f);
    return rc;
}

/* Send an alert "TEXT" (an event of KIND) through the failover: deliver()'s status. */
static enum qn_status send_alert(struct fixture *f, const char *kind, const char *text,
                                 struct qn_error *err)
{
    struct qn_rendered r;
    struct qn_event ev;
    const struct qn_event *evs[1] = {&ev};
    struct qn_delivery d = {.alert = &r, .n_events = 1, .events = evs};
    enum qn_status s;

    memset(&r, 0, sizeof(r));
    qn_event_init(&ev, kind);
    qn_buf_init(&r.subject, 512);
    qn_buf_init(&r.text, 4096);
    qn_buf_init(&r.html, 4096);
    assert_int_equal(qn_buf_puts(&r.subject, "[web1] alert"), QN_OK);
    assert_int_equal(qn_buf_puts(&r.text, text), QN_OK);
    assert_int_equal(qn_buf_puts(&r.html, "<html><body style=\"x\"><p>alert</p></body></html>"),
                     QN_OK);
    assert_int_equal(f->t.open(f->t.ctx, err), QN_OK);
    s = f->t.deliver(f->t.ctx, &d, err);
    qn_rendered_free(&r);
    return s;
}

static const struct answer AUTH_535 = {QN_EAUTH, QN_STAGE_AUTH, 535,
                                       "Login Fail. Please enter your authorization code"};

static void test_an_auth_failure_fails_over_with_a_note_once(void **state)
{
    struct fixture *f = *state;
    struct qn_error err;

    f->smtp.answer[0] = AUTH_535;
    make(f);
    assert_int_equal(send_alert(f, "notify", "first alert\n", &err), QN_OK);
    assert_int_equal(f->smtp.sends, 1);
    assert_int_equal(f->ops.sends, 1);
    assert_string_equal(f->ops.text[0],
                        "Route smtp has been failing since 2026-11-26 02:00:00; alerts go "
                        "through other routes until it answers again: auth: authentication "
                        "failed (diagnosis: qq-auth-code)\n\nfirst alert\n");
    assert_true(f->ops.html[0]);
    assert_int_equal(qn_health_find(&f->health, "smtp")->down_since, T0);
    assert_true(qn_health_find(&f->health, "smtp")->told);
    /* Before smtp's next try: ops alone, no second note. */
    f->clock += 30;
    assert_int_equal(send_alert(f, "notify", "second alert\n", &err), QN_OK);
    assert_int_equal(f->smtp.sends, 1);
    assert_string_equal(f->ops.text[1], "second alert\n");
    assert_int_equal(f->failed_events, 1);
}

static void test_smtp_is_tried_again_after_its_backoff_and_takes_over(void **state)
{
    struct fixture *f = *state;
    struct qn_error err;

    f->smtp.answer[0] = AUTH_535;
    make(f);
    assert_int_equal(send_alert(f, "notify", "a\n", &err), QN_OK);
    f->clock += 60; /* retry_min */
    assert_int_equal(send_alert(f, "notify", "b\n", &err), QN_OK);
    assert_int_equal(f->smtp.sends, 2);
    assert_string_equal(f->smtp.text[1], "b\n");
    assert_int_equal(f->ops.sends, 1);
    assert_int_equal(qn_health_find(&f->health, "smtp")->down_since, 0);
}

static void test_a_short_outage_waits_for_the_first_route(void **state)
{
    struct fixture *f = *state;
    struct qn_error err;

    f->cfg.routes.failover_after_s = 600;
    f->smtp.answer[0] = (struct answer){QN_ECONNECT, QN_STAGE_CONNECT, 0, "connection refused"};
    make(f);
    assert_int_equal(send_alert(f, "notify", "a\n", &err), QN_ECONNECT);
    assert_int_equal(err.stage, QN_STAGE_CONNECT);
    assert_int_equal(f->ops.sends, 0);
    assert_int_equal(qn_health_find(&f->health, "smtp")->failing_since, T0);
    assert_int_equal(qn_health_find(&f->health, "smtp")->down_since, 0);
}

static void test_available_follows_health_and_each_routes_limits(void **state)
{
    struct fixture *f = *state;
    struct qn_error err;
    long long next = 0;

    f->smtp.answer[0] = AUTH_535;
    f->ops.answer[0] = (struct answer){QN_EAUTH, QN_STAGE_HTTP, 0, "bad key"};
    make(f);
    assert_int_equal(send_alert(f, "notify", "a\n", &err), QN_EAUTH);
    assert_int_equal(f->t.available(f->t.ctx, f->clock, &next), 0);
    assert_int_equal(next, T0 + 60);
    assert_int_equal(f->t.available(f->t.ctx, T0 + 60, &next), 1);
}

static void test_a_content_refusal_is_resent_minimal_once(void **state)
{
    struct fixture *f = *state;
    struct qn_error err;

    f->smtp.answer[0] = (struct answer){QN_EREJECT, QN_STAGE_DATA, 550,
                                        "The mail may contain inappropriate words or content."};
    make(f);
    assert_int_equal(
        send_alert(f, "notify", "root from 203.0.113.9, see https://x.example/\n", &err), QN_OK);
    assert_int_equal(f->smtp.sends, 2);
    assert_true(f->smtp.html[0]);
    assert_false(f->smtp.html[1]);
    assert_string_equal(f->smtp.text[1], "root from 203.0.113.x, see [link removed]\n");
    assert_int_equal(f->ops.sends, 0);
}

static void test_a_refusal_by_every_route_fails_the_alert(void **state)
{
    struct fixture *f = *state;
    struct qn_error err;
    const struct answer content = {QN_EREJECT, QN_STAGE_DATA, 550, "Mail content denied"};

    for (size_t i = 0; i < SENDS; i++) {
        f->smtp.answer[i] = content;
        f->ops.answer[i] = content;
    }
    make(f);
    assert_int_equal(send_alert(f, "notify", "a\n", &err), QN_EREJECT);
    assert_int_equal(err.stage, QN_STAGE_DATA);
    assert_int_equal(err.verdict, QN_VERDICT_PERMANENT);
    assert_int_equal(f->refused_events, 1);
}

static void test_a_refusal_waits_while_another_route_has_not_been_asked(void **state)
{
    struct fixture *f = *state;
    struct qn_error err;
    const struct answer content = {QN_EREJECT, QN_STAGE_DATA, 550, "Mail content denied"};

    f->ops.answer[0] = (struct answer){QN_EAUTH, QN_STAGE_HTTP, 0, "bad key"};
    f->smtp.answer[0] = (struct answer){QN_ECONNECT, QN_STAGE_CONNECT, 0, "refused"};
    f->smtp.answer[1] = content;
    f->smtp.answer[2] = content;
    make(f);
    /* Both routes unhealthy, then smtp's next try comes before ops's. */
    assert_int_equal(send_alert(f, "notify", "a\n", &err), QN_EAUTH);
    qn_health_route(&f->health, "ops")->retry_at = T0 + 3600;
    f->clock += 60;
    assert_int_equal(send_alert(f, "notify", "b\n", &err), QN_ETEMPFAIL);
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
    assert_int_equal(f->smtp.sends, 3); /* refused, then refused as a minimal alert */
    assert_int_equal(f->ops.sends, 1);
    assert_int_equal(f->refused_events, 0);
}

static void test_a_login_goes_to_every_critical_route(void **state)
{
    struct fixture *f = *state;
    struct qn_error err;

    make(f);
    assert_int_equal(send_alert(f, "login", "root logged in\n", &err), QN_OK);
    assert_int_equal(f->smtp.sends, 1);
    assert_int_equal(f->ops.sends, 1);
    assert_int_equal(send_alert(f, "notify", "backup done\n", &err), QN_OK);
    assert_int_equal(f->smtp.sends, 2);
    assert_int_equal(f->ops.sends, 1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_an_auth_failure_fails_over_with_a_note_once),
        T(test_smtp_is_tried_again_after_its_backoff_and_takes_over),
        T(test_a_short_outage_waits_for_the_first_route),
        T(test_available_follows_health_and_each_routes_limits),
        T(test_a_content_refusal_is_resent_minimal_once),
        T(test_a_refusal_by_every_route_fails_the_alert),
        T(test_a_refusal_waits_while_another_route_has_not_been_asked),
        T(test_a_login_goes_to_every_critical_route),
    };

    setenv("TZ", "UTC", 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
