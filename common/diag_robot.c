/*
 * diag_robot — the chat robots' diagnoses; contract in diag_robot.h.
 *
 * Two tables as in diag.c: `diagnoses` (what people read: id, symptom,
 * cause, fix, English msgids translated in po/zh_CN.po) and `rules` (when
 * each applies; the first match wins, specific before general).  The
 * platforms' answers quoted in comments are their real wordings, so the
 * texts can be checked against new ones.
 */
#include "i18n.h"
#include "diag_robot.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

enum robot_index {
    R_WECOM_INVALID_KEY,
    R_WECOM_RATE_LIMITED,
    R_DINGTALK_INVALID_TOKEN,
    R_DINGTALK_SIGN_MISMATCH,
    R_DINGTALK_TIMESTAMP,
    R_DINGTALK_KEYWORD_MISSING,
    R_DINGTALK_IP_NOT_ALLOWED,
    R_DINGTALK_SECURITY_REFUSED,
    R_DINGTALK_TOO_FAST,
    R_FEISHU_INVALID_HOOK,
    R_FEISHU_SIGN_MISMATCH,
    R_FEISHU_IP_NOT_ALLOWED,
    R_FEISHU_KEYWORD_MISSING,
    R_FEISHU_RATE_LIMITED,
    R_ROBOT_REFUSED,
    R_ROBOT_ANSWER_INVALID,
    R_ROBOT_TOO_MANY_REQUESTS,
    R_ROBOT_SERVER_ERROR,
    R_ROBOT_MESSAGE_TOO_LARGE,
    R_ROBOT_REDIRECTED,
    R_ROBOT_DENIED,
    R_ROBOT_BAD_REQUEST,
    R_ROBOT_SECRET_MISSING,
    R_ROBOT_DNS,
    R_ROBOT_CONNECT,
    R_ROBOT_TLS,
    R_ROBOT_TIMEOUT,
    R_ROBOT_CONNECTION_LOST,
    R_COUNT,
    R_GENERAL = -1, /* a rule's answer: let diag.c's general rules decide */
};

static const struct qn_diagnosis diagnoses[R_COUNT] = {
    [R_WECOM_INVALID_KEY] =
        {
            "wecom-invalid-key",
            N_("WeCom refused the robot key (errcode 93000)"),
            N_("The key of the webhook address is wrong or no longer valid: the robot was removed "
               "from its group or its address was reset, or the stored secret holds the whole "
               "address or a typo instead of the key alone."),
            N_("In the WeCom group open the group settings, then the robot, copy its webhook "
               "address and store the part after key= with `qqnotify-secret set --route NAME` "
               "(or in the systemd credential qqnotify.route.NAME). Then run `qqnotify check "
               "--route NAME --send-test`."),
            .rate_limited = false,
        },
    [R_WECOM_RATE_LIMITED] =
        {
            "wecom-rate-limited",
            N_("WeCom says the robot sends too often (errcode 45009)"),
            N_("A WeCom group robot may send 20 messages a minute; more are refused. Messages "
               "another program sends through the same robot count too."),
            N_("Nothing to do: qqnotify waits and sends the rest later, merging bursts into "
               "digests. Keep max_per_minute in [route NAME] at 20 or below, and give other "
               "programs a robot of their own."),
            .rate_limited = true,
        },
    [R_DINGTALK_INVALID_TOKEN] =
        {
            "dingtalk-invalid-token",
            N_("DingTalk does not know the robot's access token (errcode 300001)"),
            N_("The access token is wrong, or the robot was removed from its group. The first "
               "line of the stored secret must be the access token alone (the part after "
               "access_token= of the webhook address)."),
            N_("In the DingTalk group open the group settings, then Bots and the custom robot; "
               "copy its webhook address and store the access_token value, a new line and the "
               "signing secret (SEC…) with `qqnotify-secret set --route NAME`. Then run "
               "`qqnotify check --route NAME --send-test`."),
            .rate_limited = false,
        },
    [R_DINGTALK_SIGN_MISMATCH] =
        {
            "dingtalk-sign-mismatch",
            N_("DingTalk refused the signature (errcode 310000, sign not match)"),
            N_("The robot's security settings ask for a signature (加签), and the signing "
               "secret stored for this route is not the robot's, or none is stored."),
            N_("Copy the SEC… secret from the robot's security settings and store it as the "
               "second line of the route's secret with `qqnotify-secret set --route NAME`."),
            .rate_limited = false,
        },
    [R_DINGTALK_TIMESTAMP] =
        {
            "dingtalk-timestamp",
            N_("DingTalk refused the time of the signature (errcode 310000, invalid timestamp)"),
            N_("A signed request carries this host's time, which must be within an hour of "
               "DingTalk's: this host's clock is wrong."),
            N_("Check the clock with `timedatectl` and turn on time synchronisation with "
               "`timedatectl set-ntp true` (or chrony); the alerts are sent once it is right."),
            .rate_limited = false,
        },
    [R_DINGTALK_KEYWORD_MISSING] =
        {
            "dingtalk-keyword-missing",
            N_("DingTalk wants a keyword the message lacks (errcode 310000, keywords not in "
               "content)"),
            N_("The robot's security setting \"custom keywords\" lets through only messages "
               "that contain one of its keywords."),
            N_("Set keyword = one of the robot's keywords in [route NAME] (qqnotify puts it in "
               "front of every message), or switch the robot to the signature (加签) security "
               "setting."),
            .rate_limited = false,
        },
    [R_DINGTALK_IP_NOT_ALLOWED] =
        {
            "dingtalk-ip-not-allowed",
            N_("DingTalk refused this host's address (errcode 310000, not in whitelist)"),
            N_("The robot's security setting \"IP address (range)\" does not hold the public "
               "address this host sends from."),
            N_("Add this host's public outbound address (DingTalk's answer names it) to the "
               "robot's IP range, or use the signature (加签) security setting instead."),
            .rate_limited = false,
        },
    [R_DINGTALK_SECURITY_REFUSED] =
        {
            "dingtalk-security-refused",
            N_("DingTalk refused the request under the robot's security settings (errcode "
               "310000)"),
            N_("DingTalk checked the robot's security settings (keyword, signature or IP range) "
               "and refused the request; its answer says which."),
            N_("Read DingTalk's answer above and compare the robot's security settings with "
               "[route NAME] and the route's secret; then run `qqnotify check --route NAME "
               "--send-test`."),
            .rate_limited = false,
        },
    [R_DINGTALK_TOO_FAST] =
        {
            "dingtalk-too-fast",
            N_("DingTalk says the robot sends too fast (errcode 130101)"),
            N_("A DingTalk custom robot may send 20 messages a minute; past that DingTalk blocks "
               "it for 10 minutes. Messages other programs send through it count too."),
            N_("Nothing to do: qqnotify waits out the block (limit_block, 10 minutes) and then "
               "sends the rest, merging bursts into digests. Keep max_per_minute in [route NAME] "
               "at 20 or below, and give other programs a robot of their own."),
            .rate_limited = true,
        },
    [R_FEISHU_INVALID_HOOK] =
        {
            "feishu-invalid-hook",
            N_("Feishu does not know the bot's hook (code 19001)"),
            N_("The hook id is wrong, or the bot was removed from its group. The first line of "
               "the stored secret must be the hook id alone (the part after /hook/ of the "
               "webhook address)."),
            N_("In the Feishu group open the settings, then Bots and the custom bot; copy its "
               "webhook address and store the part after /hook/, a new line and the signing "
               "secret with `qqnotify-secret set --route NAME`. Then run `qqnotify check --route "
               "NAME --send-test`."),
            .rate_limited = false,
        },
    [R_FEISHU_SIGN_MISMATCH] =
        {
            "feishu-sign-mismatch",
            N_("Feishu refused the signature or its time (code 19021)"),
            N_("The bot has signature verification on, and the signing secret stored for this "
               "route is not the bot's (or none is stored), or this host's clock is more than an "
               "hour off."),
            N_("Check the clock with `timedatectl`; copy the secret from the bot's security "
               "settings and store it as the second line of the route's secret with "
               "`qqnotify-secret set --route NAME`."),
            .rate_limited = false,
        },
    [R_FEISHU_IP_NOT_ALLOWED] =
        {
            "feishu-ip-not-allowed",
            N_("Feishu refused this host's address (code 19022)"),
            N_("The bot's IP whitelist does not hold the public address this host sends from."),
            N_("Add this host's public outbound address to the bot's IP whitelist, or use "
               "signature verification instead."),
            .rate_limited = false,
        },
    [R_FEISHU_KEYWORD_MISSING] =
        {
            "feishu-keyword-missing",
            N_("Feishu wants a keyword the message lacks (code 19024)"),
            N_("The bot's security setting \"custom keywords\" lets through only messages that "
               "contain one of its keywords."),
            N_("Set keyword = one of the bot's keywords in [route NAME] (qqnotify puts it in "
               "front of every message), or switch the bot to signature verification."),
            .rate_limited = false,
        },
    [R_FEISHU_RATE_LIMITED] =
        {
            "feishu-rate-limited",
            N_("Feishu says the bot sends too often (code 11232)"),
            N_("A Feishu custom bot may send 100 messages a minute and 5 a second; more are "
               "refused. Messages other programs send through it count too."),
            N_("Nothing to do: qqnotify waits and sends the rest later, merging bursts into "
               "digests. Keep max_per_minute at 100 and max_per_second at 5 or below in [route "
               "NAME]."),
            .rate_limited = true,
        },
    [R_ROBOT_REFUSED] =
        {
            "robot-refused",
            N_("the robot's platform refused the message with a code qqnotify does not know"),
            N_("The platform answered with an error code of its own; its words are shown with "
               "the code."),
            N_("Look the code up in the platform's documentation for custom robots, and run "
               "`qqnotify check --route NAME --send-test` once it is fixed. The alerts stay "
               "queued and are retried."),
            .rate_limited = false,
        },
    [R_ROBOT_ANSWER_INVALID] =
        {
            "robot-answer-invalid",
            N_("the answer did not come from the robot's platform"),
            N_("The answer is not the platform's JSON: something else answered, such as a "
               "proxy, a captive portal or the wrong address in url."),
            N_("Check url and proxy in [route NAME] (remove url for the official endpoint) and "
               "try the address with `curl -sv` from this host. The alerts stay queued."),
            .rate_limited = false,
        },
    [R_ROBOT_TOO_MANY_REQUESTS] =
        {
            "robot-too-many-requests",
            N_("the robot's platform answered 429 Too Many Requests"),
            N_("The platform (or a proxy on the way) limits how often this host may send."),
            N_("Nothing to do: qqnotify slows down and sends the rest later. If it happens "
               "often, lower max_per_minute in [route NAME]."),
            .rate_limited = true,
        },
    [R_ROBOT_SERVER_ERROR] =
        {
            "robot-server-error",
            N_("the robot's platform answered with a server error (HTTP 5xx)"),
            N_("The platform failed on its side, or a proxy on the way did."),
            N_("Nothing to do: the alerts stay queued and are retried. If it lasts, look at the "
               "platform's status page and at the proxy in [route NAME]."),
            .rate_limited = false,
        },
    [R_ROBOT_MESSAGE_TOO_LARGE] =
        {
            "robot-message-too-large",
            N_("the robot's platform refused the message as too large (HTTP 413)"),
            N_("The platform takes smaller requests than qqnotify sends for this robot type."),
            N_("This one alert is kept in failed/ (`qqnotify queue show ID`); shorter ones go "
               "through. Report it to the qqnotify project with the platform's answer."),
            .rate_limited = false,
        },
    [R_ROBOT_REDIRECTED] =
        {
            "robot-redirected",
            N_("the robot's address answered with a redirect"),
            N_("url in [route NAME] names an address that moved or a wrong one. qqnotify "
               "follows no redirect: the robot's key must not go to another server."),
            N_("Set url to the platform's endpoint, or remove it for the official one; then run "
               "`qqnotify check --route NAME`."),
            .rate_limited = false,
        },
    [R_ROBOT_DENIED] =
        {
            "robot-denied",
            N_("the robot's platform refused access (HTTP 401 or 403)"),
            N_("The platform, or a proxy or firewall on the way, refused the request: a wrong "
               "key, an address that is not allowed, or a proxy that wants a login."),
            N_("Check the route's secret and the robot's security settings, and the proxy in "
               "[route NAME]; then run `qqnotify check --route NAME --send-test`."),
            .rate_limited = false,
        },
    [R_ROBOT_BAD_REQUEST] =
        {
            "robot-bad-request",
            N_("the robot's platform refused the request (HTTP 4xx)"),
            N_("The request went to a wrong address (url in [route NAME]), or the platform no "
               "longer takes it in this form."),
            N_("Remove url in [route NAME] for the official endpoint, or correct it; then run "
               "`qqnotify check --route NAME --send-test`."),
            .rate_limited = false,
        },
    [R_ROBOT_SECRET_MISSING] =
        {
            "robot-secret-missing",
            N_("the route's secret could not be obtained"),
            N_("No source had a usable secret for this route: no systemd credential "
               "qqnotify.route.NAME was passed, and the credential helper has nothing stored for "
               "it, or what is stored has the wrong form."),
            N_("Store it with `qqnotify-secret set --route NAME`: for WeCom the robot key; for "
               "DingTalk the access token, a new line and the signing secret (SEC…); for Feishu "
               "the hook id, a new line and the signing secret. A service gets it with "
               "LoadCredentialEncrypted=qqnotify.route.NAME."),
            .rate_limited = false,
        },
    [R_ROBOT_DNS] =
        {
            "robot-dns",
            N_("the name of the robot's platform could not be resolved"),
            N_("No address was found for the host of the route's url: no resolver is reachable, "
               "the resolver filters the name, or the network is not up yet."),
            N_("Test with `getent hosts qyapi.weixin.qq.com` (or the host of the route's url) "
               "and check /etc/resolv.conf. The alerts stay queued and are retried."),
            .rate_limited = false,
        },
    [R_ROBOT_CONNECT] =
        {
            "robot-connect",
            N_("no connection to the robot's platform"),
            N_("The platform's address did not accept a connection on its HTTPS port: a "
               "firewall, the cloud's outbound rules, a missing route, or a proxy that is down."),
            N_("Test with `curl -sv https://HOST/` from this host (HOST from the route's url); "
               "allow outbound HTTPS (port 443) to the platform, or set proxy in [route NAME]. "
               "The alerts stay queued."),
            .rate_limited = false,
        },
    [R_ROBOT_TLS] =
        {
            "robot-tls",
            N_("the robot's platform could not be verified (TLS)"),
            N_("The platform's certificate chain does not lead to a trusted root or does not "
               "name the host: an outdated CA bundle, a wrong ca_file in [route NAME], or a "
               "proxy or security appliance that intercepts HTTPS."),
            N_("Update the CA bundle (`apt install ca-certificates` or `dnf install "
               "ca-certificates`), correct or remove ca_file in [route NAME], and see who issued "
               "the certificate with `curl -sv https://HOST/`."),
            .rate_limited = false,
        },
    [R_ROBOT_TIMEOUT] =
        {
            "robot-timeout",
            N_("the robot's platform did not answer in time"),
            N_("No complete answer came within timeout of [route NAME]: a slow or lossy network, "
               "a proxy, or an overloaded platform."),
            N_("Nothing to do: the alerts stay queued and are retried. If it lasts, test the "
               "network with `curl -sv https://HOST/` and raise timeout in [route NAME]."),
            .rate_limited = false,
        },
    [R_ROBOT_CONNECTION_LOST] =
        {
            "robot-connection-lost",
            N_("the robot's platform closed the connection"),
            N_("The connection ended before the answer was complete: the platform or a device on "
               "the way cut it."),
            N_("Nothing to do: the alerts stay queued and are retried. If it keeps happening, "
               "test with `curl -sv https://HOST/` and look at the proxy in [route NAME]."),
            .rate_limited = false,
        },
};

#define ST(name) (1u << QN_STAGE_##name)

/*
 * A rule matches when every field that is set matches (provider NULL: any
 * robot; 0 or NULL fields: anything).  Text lists are NULL-terminated;
 * one hit is enough.
 */
struct rule {
    const char *provider;      /* "wecom", "dingtalk", "feishu", or NULL */
    enum qn_status status;     /* QN_OK: any */
    unsigned stages;           /* ST() bits; 0: any */
    long long api_code;        /* 0: any */
    int http_min, http_max;    /* 0: any; http_max 0: exactly http_min */
    const char *const *server; /* substrings of server_text */
    const char *const *detail; /* substrings of detail */
    int sys_errno;             /* 0: any */
    enum robot_index diagnosis;
};

/* DingTalk's 310000 answers: "sign not match", "invalid timestamp", "keywords not in
 * content", "ip X.X.X.X not in whitelist", and in Chinese "机器人发送签名不匹配". */
static const char *const t_sign[] = {"sign not match", "签名不匹配", NULL};
static const char *const t_timestamp[] = {"timestamp", "时间戳", NULL};
static const char *const t_keyword[] = {"keyword", "关键词", NULL};
static const char *const t_ip[] = {"whitelist", "白名单", NULL};

/* Verification results as OpenSSL words them in curl's message: the general catalog's
 * "tls-cert-expired" says the same for any server. */
static const char *const t_expired[] = {"has expired", "not yet valid", NULL};

static const struct rule rules[] = {
    /* The platforms' own codes (robot.c: HTTP 200 with a JSON body). */
    {.provider = "wecom", .api_code = 93000, .diagnosis = R_WECOM_INVALID_KEY},
    {.provider = "wecom", .api_code = 45009, .diagnosis = R_WECOM_RATE_LIMITED},
    {.provider = "dingtalk", .api_code = 300001, .diagnosis = R_DINGTALK_INVALID_TOKEN},
    {.provider = "dingtalk", .api_code = 130101, .diagnosis = R_DINGTALK_TOO_FAST},
    {.provider = "dingtalk",
     .api_code = 310000,
     .server = t_keyword,
     .diagnosis = R_DINGTALK_KEYWORD_MISSING},
    /* The Chinese "签名不匹配" answer also names the timestamp: the signature first. */
    {.provider = "dingtalk",
     .api_code = 310000,
     .server = t_sign,
     .diagnosis = R_DINGTALK_SIGN_MISMATCH},
    {.provider = "dingtalk",
     .api_code = 310000,
     .server = t_timestamp,
     .diagnosis = R_DINGTALK_TIMESTAMP},
    {.provider = "dingtalk",
     .api_code = 310000,
     .server = t_ip,
     .diagnosis = R_DINGTALK_IP_NOT_ALLOWED},
    {.provider = "dingtalk", .api_code = 310000, .diagnosis = R_DINGTALK_SECURITY_REFUSED},
    {.provider = "feishu", .api_code = 19001, .diagnosis = R_FEISHU_INVALID_HOOK},
    {.provider = "feishu", .api_code = 19021, .diagnosis = R_FEISHU_SIGN_MISMATCH},
    {.provider = "feishu", .api_code = 19022, .diagnosis = R_FEISHU_IP_NOT_ALLOWED},
    {.provider = "feishu", .api_code = 19024, .diagnosis = R_FEISHU_KEYWORD_MISSING},
    {.provider = "feishu", .api_code = 11232, .diagnosis = R_FEISHU_RATE_LIMITED},

    /* HTTP answers without a code of the platform's. */
    {.http_min = 429, .diagnosis = R_ROBOT_TOO_MANY_REQUESTS},
    {.http_min = 413, .diagnosis = R_ROBOT_MESSAGE_TOO_LARGE},
    {.http_min = 401, .http_max = 403, .diagnosis = R_ROBOT_DENIED},
    {.http_min = 500, .http_max = 599, .diagnosis = R_ROBOT_SERVER_ERROR},
    {.http_min = 300, .http_max = 399, .diagnosis = R_ROBOT_REDIRECTED},
    {.http_min = 400, .http_max = 499, .diagnosis = R_ROBOT_BAD_REQUEST},
    {.status = QN_EPROTO, .stages = ST(HTTP), .diagnosis = R_ROBOT_ANSWER_INVALID},
    {.stages = ST(HTTP), .status = QN_EREJECT, .diagnosis = R_ROBOT_REFUSED},
    {.stages = ST(HTTP), .status = QN_EAUTH, .diagnosis = R_ROBOT_REFUSED},

    /* The way there. */
    {.status = QN_ECRED, .diagnosis = R_ROBOT_SECRET_MISSING},
    {.stages = ST(CREDENTIAL), .diagnosis = R_ROBOT_SECRET_MISSING},
    {.status = QN_ERESOLVE, .diagnosis = R_ROBOT_DNS},
    {.stages = ST(CONNECT), .diagnosis = R_ROBOT_CONNECT},
    /* A handshake that I/O broke is a connection lost, not a certificate to check. */
    {.status = QN_ETLS, .sys_errno = ECONNRESET, .diagnosis = R_ROBOT_CONNECTION_LOST},
    {.status = QN_ETLS, .sys_errno = EPIPE, .diagnosis = R_ROBOT_CONNECTION_LOST},
    {.status = QN_ETLS, .detail = t_expired, .diagnosis = R_GENERAL},
    {.status = QN_ETLS, .diagnosis = R_ROBOT_TLS},
    {.status = QN_ETIMEOUT, .diagnosis = R_ROBOT_TIMEOUT},
    {.status = QN_EEOF, .diagnosis = R_ROBOT_CONNECTION_LOST},
    {.stages = ST(HTTP), .status = QN_EIO, .diagnosis = R_ROBOT_CONNECTION_LOST},
    {.stages = ST(HTTP), .status = QN_ETOOBIG, .diagnosis = R_ROBOT_ANSWER_INVALID},
};

#define N_RULES (sizeof(rules) / sizeof(rules[0]))

bool qn_diag_robot_provider(const char *provider)
{
    return provider != NULL &&
           (strcasecmp(provider, "wecom") == 0 || strcasecmp(provider, "dingtalk") == 0 ||
            strcasecmp(provider, "feishu") == 0);
}

static bool rule_matches(const struct rule *r, const char *provider, const struct qn_error *err)
{
    int http_max = r->http_max != 0 ? r->http_max : r->http_min;

    if (r->provider != NULL && strcasecmp(r->provider, provider) != 0)
        return false;
    if (r->status != QN_OK && r->status != err->status)
        return false;
    if (r->stages != 0 && ((unsigned)err->stage >= 32 || (r->stages & (1u << err->stage)) == 0))
        return false;
    if (r->api_code != 0 && r->api_code != err->api_code)
        return false;
    /* An answer with the platform's own code is judged by the code, not the HTTP status. */
    if (r->http_min != 0 &&
        (err->api_code != 0 || err->http_status < r->http_min || err->http_status > http_max))
        return false;
    if (r->server != NULL &&
        !qn_diag_text_has(err->server_text, sizeof(err->server_text), r->server))
        return false;
    if (r->detail != NULL && !qn_diag_text_has(err->detail, sizeof(err->detail), r->detail))
        return false;
    if (r->sys_errno != 0 && r->sys_errno != err->sys_errno)
        return false;
    return true;
}

const struct qn_diagnosis *qn_diag_robot_lookup(const char *provider, const struct qn_error *err)
{
    if (!qn_diag_robot_provider(provider) || err == NULL || err->status == QN_OK)
        return NULL;
    for (size_t i = 0; i < N_RULES; i++) {
        if (rule_matches(&rules[i], provider, err))
            return rules[i].diagnosis == R_GENERAL ? NULL : &diagnoses[rules[i].diagnosis];
    }
    return NULL;
}

const struct qn_diagnosis *qn_diag_robot_catalog(size_t *ret_count)
{
    if (ret_count != NULL)
        *ret_count = R_COUNT;
    return diagnoses;
}
