/*
 * Unit tests for common/redact.c: every form of a secret that a peer may
 * quote back (whole or any run of 6 characters of it, any case, base64 at
 * any alignment, base64url, percent, form, JSON and hex encodings) is
 * overwritten, and nothing else changes.  The expected texts were computed with an
 * independent reference (a Python script over the same definition of the
 * forms); fuzz_redact checks the same property on random input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redact.h"

/* The SMTP case: the authorization code, and AUTH PLAIN's "\0user\0code". */
static const char code[] = "kz7Qp2vW9xLm4Rt8Yb";
static const char plain[] = "\0"
                            "123456789@qq.com"
                            "\0"
                            "kz7Qp2vW9xLm4Rt8Yb";
/* Chat robot keys with characters that every encoding changes. */
static const char key2[] = "p@ss/wo\"rd 2024\\x";
static const char key3[] = "key>>>?>w?~~~??x";

static void setup_redact(struct qn_redact *rd, const char *which)
{
    qn_redact_init(rd);
    if (strcmp(which, "smtp") == 0) {
        assert_int_equal(qn_redact_add(rd, code, strlen(code), QN_REDACT_RAW | QN_REDACT_BASE64),
                         QN_OK);
        assert_int_equal(qn_redact_add(rd, plain, sizeof(plain) - 1, QN_REDACT_BASE64), QN_OK);
    } else if (strcmp(which, "key2") == 0) {
        assert_int_equal(qn_redact_add(rd, key2, strlen(key2), QN_REDACT_RAW), QN_OK);
    } else if (strcmp(which, "key3") == 0) {
        assert_int_equal(qn_redact_add(rd, key3, strlen(key3), QN_REDACT_RAW | QN_REDACT_BASE64),
                         QN_OK);
    } else {
        assert_int_equal(qn_redact_add(rd, "abc", 3, QN_REDACT_RAW), QN_OK);
    }
}

/* Redact TEXT with the secrets WHICH names: the result must be EXPECTED exactly. */
static void check(const char *which, const char *text, const char *expected)
{
    struct qn_redact rd;
    char buf[512];
    size_t n = strlen(text), removed = 99, stars = 0, i;

    assert_true(n < sizeof(buf));
    memcpy(buf, text, n + 1);
    setup_redact(&rd, which);
    assert_int_equal(qn_redact_apply(&rd, buf, n, &removed), QN_OK);
    assert_string_equal(buf, expected);
    for (i = 0; i < n; i++)
        stars += expected[i] == '*' && text[i] != '*';
    assert_int_equal(removed, stars);
}

/* the code itself in a 535 reply */
static void test_the_secret_quoted_whole_is_removed(void **state)
{
    (void)state;
    check("smtp", "535 authentication failed for kz7Qp2vW9xLm4Rt8Yb, try again",
          "535 authentication failed for ******************, try again");
}

/* A 535 reply quoting the AUTH PLAIN argument without its last 4 characters */
static void test_auth_plain_minus_its_last_4_characters_is_removed_whole(void **state)
{
    (void)state;
    check("smtp",
          "535 5.7.8 Error: authentication failed: ADEyMzQ1Njc4OUBxcS5jb20Aa3o3UXAydlc5eExtNFJ0",
          "535 5.7.8 Error: authentication failed: ********************************************");
}

/* 6 characters of the code go, 5 stay */
static void test_a_run_of_6_goes_a_run_of_5_stays(void **state)
{
    (void)state;
    check("smtp", "535 token kz7Qp2 is wrong; kz7Qp is kept",
          "535 token ****** is wrong; kz7Qp is kept");
}

/* a server that upper-cases what it quotes */
static void test_case_is_ignored(void **state)
{
    (void)state;
    check("smtp", "535 bad KZ7QP2VW9X", "535 bad **********");
}

/* AUTH LOGIN's line: base64 of the code */
static void test_auth_login_form_is_removed(void **state)
{
    (void)state;
    check("smtp", "535 you sent a3o3UXAydlc5eExtNFJ0OFli as LOGIN",
          "535 you sent ************************ as LOGIN");
}

/* the code inside other base64 strings, at both other alignments */
static void test_base64_at_any_alignment_is_removed(void **state)
{
    (void)state;
    check("smtp", "535 got bWU6a3o3UXAydlc5eExtNFJ0OFli and bWVlOmt6N1FwMnZXOXhMbTRSdDhZYg==",
          "535 got bWU6************************ and bWVlOm**************************");
}

/* base64url, behind two bytes of something else */
static void test_url_safe_base64_is_removed(void **state)
{
    (void)state;
    check("smtp", "401 fn5rejdRcDJ2Vzl4TG00UnQ4WWI=.", "401 fn5*************************.");
}

/* no form of the code: nothing changes */
static void test_text_without_the_secret_is_left_alone(void **state)
{
    (void)state;
    check("smtp", "535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6 *** try later",
          "535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6 *** try later");
}

/* a signature key's base64 in a URL, lower-case hex */
static void test_percent_encoded_base64_is_removed(void **state)
{
    (void)state;
    check("key3", "403 bad sign a2v5pj4%2bpz53p35%2bfj8%2fea%3d%3d (percent)",
          "403 bad sign ********************************** (percent)");
}

/* a key quoted back in a JSON error body */
static void test_a_json_string_is_removed(void **state)
{
    (void)state;
    check("key2", "{\"errmsg\":\"invalid key p@ss\\/wo\\\"rd 2024\\\\x\"}",
          "{\"errmsg\":\"invalid key ********************\"}");
}

/* a key in a form body (space as +) */
static void test_form_encoding_is_removed(void **state)
{
    (void)state;
    check("key2", "key=p%40ss%2Fwo%22rd+2024%5Cx&x=1", "key=*************************&x=1");
}

/* 7 bytes of the key, each as %XX */
static void test_every_byte_percent_encoded_is_removed(void **state)
{
    (void)state;
    check("key2", "k=%70%40%73%73%2f%77%6f!", "k=*********************!");
}

/* a 3-byte secret */
static void test_a_secret_shorter_than_a_run_goes_wherever_it_is_whole(void **state)
{
    (void)state;
    check("short", "abc, xabcx, ABC and ab", "***, x***x, *** and ab");
}

/* the code in hexadecimal, either case */
static void test_hex_is_removed(void **state)
{
    (void)state;
    check("smtp", "535 bad token 6b7a37517032 (hex) and 7032765739784C6D",
          "535 bad token ************ (hex) and ****************");
}

static void test_each_forms_flag_is_separate(void **state)
{
    struct qn_redact rd;
    char raw_only[] = "x a3o3UXAydlc5eExtNFJ0OFli kz7Qp2vW9x";
    char b64_only[] = "x a3o3UXAydlc5eExtNFJ0OFli kz7Qp2vW9x";

    (void)state;
    qn_redact_init(&rd);
    assert_int_equal(qn_redact_add(&rd, code, strlen(code), QN_REDACT_RAW), QN_OK);
    assert_int_equal(qn_redact_apply(&rd, raw_only, strlen(raw_only), NULL), QN_OK);
    assert_string_equal(raw_only, "x a3o3UXAydlc5eExtNFJ0OFli **********");
    qn_redact_init(&rd);
    assert_int_equal(qn_redact_add(&rd, code, strlen(code), QN_REDACT_BASE64), QN_OK);
    assert_int_equal(qn_redact_apply(&rd, b64_only, strlen(b64_only), NULL), QN_OK);
    assert_string_equal(b64_only, "x ************************ kz7Qp2vW9x");
}

static void test_bounds_and_errors(void **state)
{
    static char big[QN_REDACT_TEXT_MAX + 1];
    struct qn_redact rd;
    char secret[QN_REDACT_SECRET_MAX + 1];
    size_t removed = 0, i;

    (void)state;
    qn_redact_init(&rd);
    memset(secret, 's', sizeof(secret));
    assert_int_equal(qn_redact_add(&rd, secret, 0, QN_REDACT_RAW), QN_EINVAL);
    assert_int_equal(qn_redact_add(&rd, secret, 8, 0), QN_EINVAL);
    assert_int_equal(qn_redact_add(&rd, NULL, 8, QN_REDACT_RAW), QN_EINVAL);
    assert_int_equal(qn_redact_add(&rd, secret, sizeof(secret), QN_REDACT_RAW), QN_ETOOBIG);
    for (i = 0; i < QN_REDACT_SECRETS_MAX; i++)
        assert_int_equal(qn_redact_add(&rd, secret, 8, QN_REDACT_RAW), QN_OK);
    assert_int_equal(qn_redact_add(&rd, secret, 8, QN_REDACT_RAW), QN_ETOOBIG);
    /* an empty set changes nothing; no text is fine */
    qn_redact_init(&rd);
    memcpy(big, "hello", 6);
    assert_int_equal(qn_redact_apply(&rd, big, 5, &removed), QN_OK);
    assert_string_equal(big, "hello");
    assert_int_equal(removed, 0);
    setup_redact(&rd, "smtp");
    assert_int_equal(qn_redact_apply(&rd, NULL, 0, &removed), QN_OK);
    /* more text than one call looks at: none of it may be shown */
    memset(big, 'a', sizeof(big));
    assert_int_equal(qn_redact_apply(&rd, big, sizeof(big), &removed), QN_ETOOBIG);
    assert_int_equal(removed, sizeof(big));
    for (i = 0; i < sizeof(big); i++)
        assert_int_equal(big[i], '*');
}

/* A text of QN_REDACT_TEXT_MAX bytes made of one repeated run and the code many times:
 * every place goes, in one pass over each form (the run table marks each place once). */
static void test_a_large_repetitive_text_is_handled_whole(void **state)
{
    static char text[QN_REDACT_TEXT_MAX];
    struct qn_redact rd;
    size_t removed = 0, i, n = strlen(code);

    (void)state;
    for (i = 0; i + n <= sizeof(text); i += n)
        memcpy(text + i, code, n);
    memset(text + i, '-', sizeof(text) - i);
    setup_redact(&rd, "smtp");
    assert_int_equal(qn_redact_apply(&rd, text, sizeof(text), &removed), QN_OK);
    assert_int_equal(removed, i);
    for (i = 0; i < removed; i++)
        assert_int_equal(text[i], '*');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_secret_quoted_whole_is_removed),
        cmocka_unit_test(test_auth_plain_minus_its_last_4_characters_is_removed_whole),
        cmocka_unit_test(test_a_run_of_6_goes_a_run_of_5_stays),
        cmocka_unit_test(test_case_is_ignored),
        cmocka_unit_test(test_auth_login_form_is_removed),
        cmocka_unit_test(test_base64_at_any_alignment_is_removed),
        cmocka_unit_test(test_url_safe_base64_is_removed),
        cmocka_unit_test(test_text_without_the_secret_is_left_alone),
        cmocka_unit_test(test_percent_encoded_base64_is_removed),
        cmocka_unit_test(test_a_json_string_is_removed),
        cmocka_unit_test(test_form_encoding_is_removed),
        cmocka_unit_test(test_every_byte_percent_encoded_is_removed),
        cmocka_unit_test(test_a_secret_shorter_than_a_run_goes_wherever_it_is_whole),
        cmocka_unit_test(test_hex_is_removed),
        cmocka_unit_test(test_each_forms_flag_is_separate),
        cmocka_unit_test(test_bounds_and_errors),
        cmocka_unit_test(test_a_large_repetitive_text_is_handled_whole),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
