/*
 * Unit tests for common/minimal.c: the exact text a content filter gets
 * to see the second time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "minimal.h"

static void assert_minimal(const char *in, const char *want)
{
    struct qn_buf out;

    qn_buf_init(&out, 4096);
    assert_int_equal(qn_minimal_text(in, strlen(in), &out), QN_OK);
    assert_string_equal(out.data != NULL ? out.data : "", want);
    qn_buf_free(&out);
}

static void test_ipv4_addresses_keep_three_numbers(void **state)
{
    (void)state;
    assert_minimal("root logged in from 203.0.113.9 at 14:03",
                   "root logged in from 203.0.113.x at 14:03");
    assert_minimal("ip: 198.51.100.254\nrhost: 10.0.0.1,", "ip: 198.51.100.x\nrhost: 10.0.0.x,");
}

static void test_what_only_looks_like_an_address_stays(void **state)
{
    (void)state;
    assert_minimal("version 1.2.3.4.5 and 300.1.1.1 and 14:03:05",
                   "version 1.2.3.4.5 and 300.1.1.1 and 14:03:05");
    assert_minimal("v11.2.3.4", "v11.2.3.4");
}

static void test_ipv6_addresses_keep_two_groups(void **state)
{
    (void)state;
    assert_minimal("from 2001:db8::1 via ssh", "from 2001:db8:x via ssh");
    assert_minimal("[2001:db8:85a3:0:0:8a2e:370:7334]", "[2001:db8:x]");
    assert_minimal("::1", "::1");
}

static void test_links_are_removed(void **state)
{
    (void)state;
    assert_minimal("see https://example.com/a?b=c now, or HTTP://x.y\"",
                   "see [link removed] now, or [link removed]\"");
}

static void test_the_minimal_alert_has_no_html(void **state)
{
    struct qn_rendered in, out;

    (void)state;
    memset(&in, 0, sizeof(in));
    qn_buf_init(&in.subject, 512);
    qn_buf_init(&in.text, 4096);
    qn_buf_init(&in.html, 4096);
    assert_int_equal(qn_buf_puts(&in.subject, "[web1] root from 203.0.113.9"), QN_OK);
    assert_int_equal(qn_buf_puts(&in.text, "ip: 203.0.113.9\nhttps://x.example/\n"), QN_OK);
    assert_int_equal(qn_buf_puts(&in.html, "<p>203.0.113.9</p>"), QN_OK);
    assert_int_equal(qn_minimal_render(&in, &out), QN_OK);
    assert_string_equal(out.subject.data, "[web1] root from 203.0.113.x");
    assert_string_equal(out.text.data, "ip: 203.0.113.x\n[link removed]\n");
    assert_null(out.html.data);
    qn_rendered_free(&in);
    qn_rendered_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_addresses_keep_three_numbers),
        cmocka_unit_test(test_what_only_looks_like_an_address_stays),
        cmocka_unit_test(test_ipv6_addresses_keep_two_groups),
        cmocka_unit_test(test_links_are_removed),
        cmocka_unit_test(test_the_minimal_alert_has_no_html),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
