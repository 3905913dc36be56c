/*
 * fuzz_cred — the git-credential reply reader (qn_cred_parse_reply).
 *
 * A model written from cred.h decides every outcome: "key=value" lines
 * ending in LF (a CR before it dropped), read up to the first empty line or
 * the end of the text, the last "password=" line winning; a NUL anywhere,
 * or a non-empty line without '=' or starting with it: QN_EINVAL; no
 * password or an empty one: QN_ENOTFOUND; one over QN_SECRET_MAX bytes:
 * QN_ETOOBIG.  On QN_OK the secret holds exactly the password bytes,
 * NUL-terminated, and wiping leaves an empty secret; on failure the secret
 * passed in is untouched.
 */
#include <stdint.h>
#include <string.h>

#include "cred.h"
#include "fuzz.h"

static enum qn_status model(const char *t, size_t len, const char **ret_pw, size_t *ret_n)
{
    const char *pw = NULL;
    size_t pw_n = 0, pos = 0;

    if (len > 0 && memchr(t, '\0', len) != NULL)
        return QN_EINVAL;
    while (pos < len) {
        const char *line = t + pos, *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;

        pos += n + (nl ? 1 : 0);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0)
            break;
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *t = (const char *)data, *pw = NULL;
    struct qn_secret s, before;
    size_t pw_n = 0;
    enum qn_status r, want;

    memset(&s, 0, sizeof s);
    strcpy(s.source, "fuzz");
    before = s;
    want = model(t, size, &pw, &pw_n);
    r = qn_cred_parse_reply(t, size, &s);
    FUZZ_ASSERT(r == want, "parse_reply status differs from the contract");
    if (r != QN_OK) {
        FUZZ_ASSERT(memcmp(&s, &before, sizeof s) == 0, "a failed parse changed the secret");
        return 0;
    }
    FUZZ_ASSERT(s.data != NULL && s.len == pw_n && memcmp(s.data, pw, pw_n) == 0 &&
                    s.data[pw_n] == '\0',
                "the secret is not the password bytes");
    FUZZ_ASSERT(strcmp(s.source, "fuzz") == 0, "parse_reply touched the source");
    qn_secret_wipe(&s);
    FUZZ_ASSERT(s.data == NULL && s.len == 0 && strcmp(s.source, "fuzz") == 0,
                "wipe did not leave an empty secret with its source");
    return 0;
}
