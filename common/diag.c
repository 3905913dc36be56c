/*
 * diag — the error model and the catalog of causes and fixes.
 *
 * The catalog is two static tables.  `diagnoses` holds what the user reads:
 * a stable id and three English msgids (when, cause, fix) that po/zh_CN.po
 * translates.  `rules` says when each diagnosis applies: the first rule that
 * matches a failure wins, so specific rules (a provider, a server text)
 * come before general ones (a status, a code range), and the table ends
 * with one fallback per verdict so that every failure gets an answer.
 * Several rules may point to one diagnosis.
 *
 * Server text is matched after decoding (GB18030 replies are UTF-8 by then),
 * so Chinese patterns are written in UTF-8; ASCII letters match without
 * regard to case.  The comparison is ours, not strcasestr(), because the
 * latter folds bytes by the current locale and the programs call
 * setlocale().
 *
 * Nothing here allocates or keeps state: the tables are const and every
 * function works on the caller's struct.
 */
#include "i18n.h"
#include "diag.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "diag_robot.h"
#include "text.h"

/* Marks msgids for xgettext (-kN_); translation happens in the programs. */

/* A reply longer than this (raw bytes, lines joined) is cut before decoding:
 * four times the stored text leaves room for GB18030 and collapsed blanks. */
#define REPLY_JOIN_MAX (4 * QN_ERROR_TEXT_MAX)

/* U+2026 HORIZONTAL ELLIPSIS: marks a reply that was cut. */
#define ELLIPSIS     "\xE2\x80\xA6"
#define ELLIPSIS_LEN 3

/* ---------------------------------------------------------------- diagnoses */

enum diagnosis_index {
    D_QQ_AUTH_CODE,
    D_AUTH_FAILED,
    D_AUTH_REQUIRED,
    D_TLS_REQUIRED,
    D_CONNECT_REFUSED,
    D_CONNECT_TIMEOUT,
    D_NETWORK_UNREACHABLE,
    D_CONNECT_BLOCKED_LOCALLY,
    D_CONNECT_FAILED,
    D_DNS_UNKNOWN_HOST,
    D_DNS_RESOLVER_FILTERED,
    D_DNS_FAILURE,
    D_TLS_CERT_EXPIRED,
    D_TLS_UNKNOWN_CA,
    D_TLS_HOSTNAME_MISMATCH,
    D_TLS_PIN_MISMATCH,
    D_TLS_WRONG_PORT,
    D_TLS_HANDSHAKE_FAILED,
    D_STARTTLS_MISSING,
    D_HELO_REJECTED,
    D_IP_BLOCKED,
    D_SENDER_NOT_ACCOUNT,
    D_FROM_HEADER_INVALID,
    D_CONTENT_SPAM,
    D_FREQUENCY_LIMITED,
    D_DAILY_QUOTA,
    D_RECIPIENT_THROTTLED,
    D_RECIPIENT_MAILBOX_FULL,
    D_RECIPIENT_UNKNOWN,
    D_MESSAGE_TOO_LARGE,
    D_SERVICE_UNAVAILABLE,
    D_TEMPORARY_FAILURE,
    D_DATA_CONNECTION_LOST,
    D_CONNECTION_CLOSED,
    D_REPLY_TIMEOUT,
    D_SMTP_PROTOCOL_ERROR,
    D_CREDENTIAL_MISSING,
    D_CONFIG_ERROR,
    D_GENERIC_RETRY,
    D_GENERIC_PERMANENT,
    D_GENERIC_CONFIG,
    D_COUNT
};

/* Order: the order of `qqnotify catalog` and the README table. */
static const struct qn_diagnosis diagnoses[D_COUNT] = {
    [D_QQ_AUTH_CODE] =
        {
            "qq-auth-code",
            N_("QQ Mail refused the login (535 at AUTH)"),
            N_("QQ Mail does not accept the QQ password for SMTP: it wants an authorization code. "
               "Either the stored secret is the QQ password (or a code that has since been "
               "revoked), or the SMTP service is not enabled for this account. QQ Mail can give "
               "the same answer when an account logs in too often or is flagged as unusual."),
            N_("In QQ Mail on the web open Settings → Account, find \"POP3/IMAP/SMTP/Exchange/"
               "CardDAV/CalDAV service\", enable the SMTP service and generate an authorization "
               "code (QQ confirms by SMS). Store it with `qqnotify-secret set`, never in the "
               "configuration file, then run `qqnotify check`. The user key in [smtp] must be the "
               "full address of the same account."),
            .rate_limited = false,
        },
    [D_AUTH_FAILED] =
        {
            "auth-failed",
            N_("the server refused the login (535 or another 5xx at AUTH)"),
            N_("The user name or the secret was not accepted. Most providers refuse the "
               "account's normal password for SMTP: 163 and 126 want a client authorization "
               "code, Gmail an app password (which needs 2-Step Verification), and some "
               "providers switch SMTP access off until it is enabled per account."),
            N_("Enable SMTP access in the provider's web settings and create an authorization "
               "code or app password there; store it with `qqnotify-secret set` and make user "
               "in [smtp] the full address of that account. Then run `qqnotify check`."),
            .rate_limited = false,
        },
    [D_AUTH_REQUIRED] =
        {
            "auth-required",
            N_("530 or 503 \"authentication required\" before sending"),
            N_("The server did not consider the session logged in when the message started. "
               "qqnotify always logs in first, so the session was reset in between, or a device "
               "between this host and the server (an SMTP proxy, a firewall that inspects SMTP) "
               "changed the dialogue."),
            N_("Run `qqnotify check` to see each stage. If the login succeeds there and sending "
               "still fails, test from another network to find the device that interferes."),
            .rate_limited = false,
        },
    [D_TLS_REQUIRED] =
        {
            "tls-required",
            N_("530 \"must issue STARTTLS first\" or \"secure connection required\""),
            N_("The server refuses to go on without encryption, yet it saw this command "
               "unencrypted. qqnotify sends nothing but EHLO and STARTTLS before TLS is up, so "
               "something between this host and the server ends the encryption on the way (a "
               "proxy that intercepts TLS) or removed it."),
            N_("Use port = 465 with tls = implicit in [smtp]: implicit TLS cannot be stripped. "
               "Look for a proxy or firewall that inspects SMTP on the way."),
            .rate_limited = false,
        },
    [D_CONNECT_REFUSED] =
        {
            "connect-refused",
            N_("connection refused"),
            N_("The server's address answered, but nothing accepted connections on this port: "
               "the port is wrong for this server, or a firewall on the way or on this host "
               "rejects the connection."),
            N_("Check host and port in [smtp]: QQ Mail listens on 465 (tls = implicit) and 587 "
               "(tls = starttls). Test from this host with `nc -vz smtp.qq.com 465`. If that is "
               "refused too, check this host's firewall (`nft list ruleset`, `iptables -S "
               "OUTPUT`) and the network's outbound rules."),
            .rate_limited = false,
        },
    [D_CONNECT_TIMEOUT] =
        {
            "connect-timeout",
            N_("connection timed out"),
            N_("The connection attempt got no answer at all: packets to this port are silently "
               "dropped, usually by a firewall or by the cloud provider. Many cloud providers "
               "block outbound port 25, and some also 465."),
            N_("Test with `nc -vz smtp.qq.com 465` and `nc -vz smtp.qq.com 587`. If only 587 "
               "works, set port = 587 and tls = starttls in [smtp]. Otherwise allow outbound "
               "traffic to the mail server in the firewall or the cloud security group, or ask "
               "the cloud provider to lift the block."),
            .rate_limited = false,
        },
    [D_NETWORK_UNREACHABLE] =
        {
            "network-unreachable",
            N_("network or host unreachable"),
            N_("This host has no route to the server: the network is down, there is no default "
               "route, or the only route is for the other IP version. A firewall rule that "
               "answers \"unreachable\" looks the same."),
            N_("Check the network with `ip route` and `ping -c 3 smtp.qq.com`; make sure a "
               "default route exists and that the firewall allows outbound traffic to the mail "
               "server."),
            .rate_limited = false,
        },
    [D_CONNECT_BLOCKED_LOCALLY] =
        {
            "connect-blocked-locally",
            N_("connection not permitted on this host"),
            N_("A policy on this host forbade the connection before any packet left: a local "
               "firewall rule, SELinux or AppArmor, or the sandboxing of the systemd unit "
               "(IPAddressDeny=, RestrictAddressFamilies=)."),
            N_("If it happens only under systemd, read the unit with `systemctl cat "
               "qqnotify-flush.service` and allow the mail server there. Otherwise check "
               "`nft list ruleset` or `iptables -S OUTPUT` and the audit log."),
            .rate_limited = false,
        },
    [D_CONNECT_FAILED] =
        {
            "connect-failed",
            N_("no address of the server accepted a connection"),
            N_("Every address of the server failed, for different or unspecific reasons."),
            N_("Run `qqnotify check` to see the detail, and test with `nc -vz HOST PORT` from "
               "this host."),
            .rate_limited = false,
        },
    [D_DNS_UNKNOWN_HOST] =
        {
            "dns-unknown-host",
            N_("the server's name does not exist"),
            N_("DNS answered that the name has no address: host in [smtp] is misspelt, or the "
               "resolver in use gives wrong answers (split DNS, a filtering resolver)."),
            N_("Check host in [smtp] (QQ Mail: smtp.qq.com, or simply provider = qq). Test with "
               "`getent hosts smtp.qq.com` and see which resolver is used in /etc/resolv.conf."),
            .rate_limited = false,
        },
    [D_DNS_RESOLVER_FILTERED] =
        {
            "dns-resolver-filtered",
            N_("DNS says the provider's own server name does not exist"),
            N_("The resolver this host uses answered that the server name of a provider preset "
               "(smtp.qq.com, smtp.exmail.qq.com, smtp.163.com, smtp.gmail.com, "
               "smtp-mail.outlook.com) does not exist (NXDOMAIN). These names exist: the "
               "resolver filters them, or it is cut off from the Internet and answers so for "
               "every name (sandboxes, containers, networks without outside access). host in "
               "[smtp] is not misspelt."),
            N_("Compare resolvers: `getent hosts smtp.qq.com` asks the one this host uses "
               "(/etc/resolv.conf), `resolvectl query smtp.qq.com` asks systemd-resolved, and "
               "`dig @223.5.5.5 smtp.qq.com` a public resolver (AliDNS; 119.29.29.29 is DNSPod; "
               "dig is in the package bind9-dnsutils). If only the public one answers, point "
               "/etc/resolv.conf (or the network's DHCP or systemd-resolved settings) at a "
               "resolver that reaches the Internet, or ask the network's administrator to let "
               "the name through. The message stays queued and is retried."),
            .rate_limited = false,
        },
    [D_DNS_FAILURE] =
        {
            "dns-failure",
            N_("the server's name could not be resolved"),
            N_("No DNS answer was obtained: no resolver is reachable, /etc/resolv.conf names a "
               "server that does not answer, or the network was not up yet (common right after "
               "boot)."),
            N_("Check /etc/resolv.conf (or `resolvectl status`) and test with `getent hosts "
               "smtp.qq.com`. The message stays queued and is retried."),
            .rate_limited = false,
        },
    [D_TLS_CERT_EXPIRED] =
        {
            "tls-cert-expired",
            N_("certificate expired or not yet valid"),
            N_("The server certificate's validity period does not include this host's current "
               "time. The certificate is almost always fine and this host's clock is wrong: a "
               "virtual machine restored from a snapshot, a dead clock battery, no time "
               "synchronisation."),
            N_("Check the clock with `timedatectl`; turn on synchronisation with `timedatectl "
               "set-ntp true` (or chrony/ntpd) and retry. If the clock is right, the "
               "certificate really is out of date, which for a large provider suggests "
               "interception."),
            .rate_limited = false,
        },
    [D_TLS_UNKNOWN_CA] =
        {
            "tls-unknown-ca",
            N_("certificate issuer unknown or self-signed"),
            N_("The certificate chain does not lead to a trusted root: the system CA bundle is "
               "missing or outdated, ca_file names the wrong file, or a proxy or security "
               "appliance intercepts TLS and shows its own certificate."),
            N_("Install or update the CA bundle (`apt install ca-certificates` or `dnf install "
               "ca-certificates`), or correct ca_file in [smtp]. See who issued the certificate "
               "with `openssl s_client -connect smtp.qq.com:465 -servername smtp.qq.com`: an "
               "issuer that is not a public CA means interception; ask the network's "
               "administrator to exempt the mail server."),
            .rate_limited = false,
        },
    [D_TLS_HOSTNAME_MISMATCH] =
        {
            "tls-hostname-mismatch",
            N_("certificate does not match the server name"),
            N_("The certificate is valid but issued for other names: host in [smtp] is an IP "
               "address or an alias the certificate does not cover, /etc/hosts sends the name "
               "to another server, or something intercepts the connection."),
            N_("Use the provider's official host name (provider = qq gives smtp.qq.com), not an "
               "IP address; check the name with `getent hosts`; compare the certificate's names "
               "with `openssl s_client -connect HOST:465 -servername HOST`."),
            .rate_limited = false,
        },
    [D_TLS_PIN_MISMATCH] =
        {
            "tls-pin-mismatch",
            N_("certificate does not match tls_fingerprint"),
            N_("The server presented a certificate other than the pinned one. Providers renew "
               "their certificates regularly, which changes the fingerprint; an intercepting "
               "proxy changes it too."),
            N_("Check the new certificate from a trusted network: `openssl s_client -connect "
               "smtp.qq.com:465 -servername smtp.qq.com | openssl x509 -noout -fingerprint "
               "-sha256`. Then update tls_fingerprint in [smtp], or remove it and rely on "
               "normal verification."),
            .rate_limited = false,
        },
    [D_TLS_WRONG_PORT] =
        {
            "tls-wrong-port",
            N_("TLS handshake answered in plain text"),
            N_("The server on this port does not start with TLS: implicit TLS (tls = implicit) "
               "was used on a port that expects STARTTLS or plain SMTP, such as 587 or 25."),
            N_("Pair port and TLS mode in [smtp]: port = 465 with tls = implicit, or port = 587 "
               "with tls = starttls."),
            .rate_limited = false,
        },
    [D_TLS_HANDSHAKE_FAILED] =
        {
            "tls-handshake-failed",
            N_("TLS handshake failed"),
            N_("This host and the server found no common TLS version or cipher, or a device on "
               "the way disturbed the handshake. qqnotify requires TLS 1.2 or newer."),
            N_("Test with `openssl s_client -connect smtp.qq.com:465 -servername smtp.qq.com` "
               "and read its error; check the system's crypto policy and whether a proxy "
               "intercepts TLS."),
            .rate_limited = false,
        },
    [D_STARTTLS_MISSING] =
        {
            "starttls-missing",
            N_("STARTTLS not offered or refused"),
            N_("The server did not offer STARTTLS or refused it, so the connection would stay "
               "unencrypted, and qqnotify refuses to send the password in clear. QQ Mail offers "
               "STARTTLS on 587; when it is missing, a firewall, antivirus or provider device "
               "on the way usually strips it from the EHLO reply."),
            N_("Use port = 465 with tls = implicit in [smtp]: implicit TLS cannot be stripped. "
               "To confirm, compare `openssl s_client -starttls smtp -connect smtp.qq.com:587` "
               "from this host and from another network."),
            .rate_limited = false,
        },
    [D_HELO_REJECTED] =
        {
            "helo-rejected",
            N_("the server rejected EHLO"),
            N_("The server rejected the name this host introduced itself with: it is not a "
               "valid domain name (a bare host name, an underscore, a trailing dot)."),
            N_("Set helo_name in [smtp] to this host's fully qualified domain name, or any valid "
               "domain name, then run `qqnotify check`."),
            .rate_limited = false,
        },
    [D_IP_BLOCKED] =
        {
            "ip-blocked",
            N_("the server refuses this host's IP address"),
            N_("The server does not accept connections from this host's public IP address: it "
               "is on a block list (common for cloud and home addresses) or was banned after "
               "sending too much."),
            N_("Find the block list named in the server's text and ask for delisting, or send "
               "through another network. The message stays queued and is retried."),
            .rate_limited = false,
        },
    [D_SENDER_NOT_ACCOUNT] =
        {
            "sender-not-account",
            N_("501, 550 or 553 at MAIL FROM"),
            N_("The server accepts only the logged-in account as envelope sender. qqnotify "
               "sends user from [smtp], so user is not exactly the account that logged in, or "
               "not a complete address. QQ Mail says \"Mail from must equal authorized user\" "
               "or \"mail from address must be same as authorization user\"."),
            N_("Set user in [smtp] to the full address of the account the stored secret belongs "
               "to (for QQ Mail: 123456789@qq.com). If you changed the account, store its "
               "authorization code again with `qqnotify-secret set`."),
            .rate_limited = false,
        },
    [D_FROM_HEADER_INVALID] =
        {
            "from-header-invalid",
            N_("550 or 554 after DATA about the From header"),
            N_("The server checks the message's From: header: it must carry the logged-in "
               "account's address and follow RFC 5322, with a non-ASCII display name encoded "
               "per RFC 2047. Messages qqnotify builds take user and from_name from [smtp]; a "
               "message handed to `qqnotify sendmail` keeps its own From:, which may name "
               "another address or be malformed."),
            N_("Make user in [smtp] the account's full address. For `qqnotify sendmail`, have "
               "the script write From: with that address, and its display name in plain ASCII "
               "or RFC 2047 form."),
            .rate_limited = false,
        },
    [D_CONTENT_SPAM] =
        {
            "content-spam",
            N_("message rejected as spam (554 DT:SPM, 550 Mail content denied)"),
            N_("The provider's content filter classified the message as spam. Typical triggers: "
               "many links, words common in spam, an empty or shouting subject, or many nearly "
               "identical messages in a short time."),
            N_("Make the subject plain and specific, use fewer links and a shorter body, and let "
               "qqnotify merge bursts into digests (lower digest_after in [limits]). Send a test "
               "with `qqnotify check --send-test ADDR` after a change. The rejected message is "
               "kept: `qqnotify "
               "queue`."),
            .rate_limited = false,
        },
    [D_FREQUENCY_LIMITED] =
        {
            "frequency-limited",
            N_("sending frequency limited (550 Connection frequency limited, Too many ...)"),
            N_("The provider limits how often one account or one IP address may connect and "
               "send, and this host went over the limit. QQ Mail does not publish the numbers; "
               "the block lifts by itself after minutes to hours."),
            N_("Wait: the message stays queued and is retried with growing delays. Lower "
               "max_per_hour in [limits] so that qqnotify merges bursts into digests before the "
               "provider steps in, and do not send from several programs with the same "
               "account."),
            .rate_limited = true,
        },
    [D_DAILY_QUOTA] =
        {
            "daily-quota",
            N_("daily sending quota reached"),
            N_("The account has sent as many messages today as the provider allows."),
            N_("Wait until the quota resets, usually the next day; queued messages go out then. "
               "Lower max_per_day in [limits] to stay below the provider's cap and leave room "
               "for mail sent by hand."),
            .rate_limited = true,
        },
    [D_RECIPIENT_THROTTLED] =
        {
            "recipient-throttled",
            N_("550 Mailbox unavailable or access denied"),
            N_("QQ Mail temporarily refuses mail for this recipient, or from this sender, after "
               "too many messages in a short time."),
            N_("Wait and let qqnotify retry; send fewer alerts to this address (digests, rule "
               "cooldowns). If it lasts for days, check that the address in [notify] to "
               "exists."),
            .rate_limited = true,
        },
    [D_RECIPIENT_MAILBOX_FULL] =
        {
            "recipient-mailbox-full",
            N_("the recipient's mailbox is full"),
            N_("The recipient's mailbox is over its storage quota and cannot take new mail."),
            N_("Ask the recipient to free space, or add another address to [notify] to. "
               "qqnotify keeps retrying the message for a while."),
            .rate_limited = false,
        },
    [D_RECIPIENT_UNKNOWN] =
        {
            "recipient-unknown",
            N_("550 or 553 at RCPT TO"),
            N_("The server does not accept this recipient: the address does not exist, is "
               "misspelt, or its domain does not take mail."),
            N_("Check the addresses in [notify] to, then send a test with `qqnotify check "
               "--send-test ADDR`."),
            .rate_limited = false,
        },
    [D_MESSAGE_TOO_LARGE] =
        {
            "message-too-large",
            N_("552 message too large"),
            N_("The message is larger than the server accepts; the limit is the SIZE value in "
               "the server's EHLO reply."),
            N_("Send less: alerts should not carry large attachments. For `qqnotify sendmail`, "
               "shrink the attachments or send a link instead."),
            .rate_limited = false,
        },
    [D_SERVICE_UNAVAILABLE] =
        {
            "service-unavailable",
            N_("421 service not available"),
            N_("The server is closing the connection: it is overloaded, under maintenance, or "
               "limiting this client."),
            N_("Nothing to change: the message stays queued and is retried later. If it lasts "
               "for hours, check the provider's status page and whether this IP address is being "
               "limited."),
            .rate_limited = false,
        },
    [D_TEMPORARY_FAILURE] =
        {
            "temporary-failure",
            N_("4xx temporary failure"),
            N_("The server could not take the message now and asked to try again later."),
            N_("Nothing to change: qqnotify keeps the message and retries with growing delays. "
               "The server's text may say more."),
            .rate_limited = false,
        },
    [D_DATA_CONNECTION_LOST] =
        {
            "data-connection-lost",
            N_("connection lost while sending the message (DATA)"),
            N_("The connection ended while the message was being transferred, before the server "
               "confirmed it: the message was not delivered."),
            N_("Nothing to change unless it repeats: the message stays queued and is retried "
               "(at worst this produces one duplicate). If it repeats, look for a proxy or "
               "firewall that cuts long transfers."),
            .rate_limited = false,
        },
    [D_CONNECTION_CLOSED] =
        {
            "connection-closed",
            N_("the server closed or reset the connection"),
            N_("The connection was closed or reset before the dialogue ended: the server dropped "
               "a client it limits, the server restarted, or a firewall or NAT device reset the "
               "connection."),
            N_("It is retried automatically. If it happens on every attempt, test with `openssl "
               "s_client -connect smtp.qq.com:465 -servername smtp.qq.com` and look for a device "
               "on the way that resets connections."),
            .rate_limited = false,
        },
    [D_REPLY_TIMEOUT] =
        {
            "reply-timeout",
            N_("timed out waiting for the server"),
            N_("The connection was open but the server did not answer within the timeout: a slow "
               "or lossy network, an overloaded server, or a device on the way holding the "
               "connection."),
            N_("It is retried automatically. If it happens often, raise timeout in [smtp] and "
               "check the path with `mtr smtp.qq.com`."),
            .rate_limited = false,
        },
    [D_SMTP_PROTOCOL_ERROR] =
        {
            "smtp-protocol-error",
            N_("the server's answer was not valid SMTP"),
            N_("The answer did not follow SMTP: the port leads to another service (an HTTP "
               "proxy, a captive portal), or something on the way garbles the dialogue."),
            N_("Check host and port in [smtp] and look at what answers: `openssl s_client "
               "-connect HOST:465 -servername HOST` for implicit TLS, `nc HOST 587` for "
               "STARTTLS."),
            .rate_limited = false,
        },
    [D_CREDENTIAL_MISSING] =
        {
            "credential-missing",
            N_("the secret could not be obtained"),
            N_("No source had the SMTP secret: no systemd credential (qqnotify.smtp) was passed, "
               "and the credential helper is not configured, failed, or has nothing stored for "
               "this account."),
            N_("Store the authorization code with `qqnotify-secret set` (never in the "
               "configuration file), or set credential_helper in [smtp], or pass it as a systemd "
               "credential (LoadCredentialEncrypted=qqnotify.smtp). `qqnotify-secret status` "
               "shows what is stored."),
            .rate_limited = false,
        },
    [D_CONFIG_ERROR] =
        {
            "config-error",
            N_("configuration error"),
            N_("The configuration file is missing, unreadable, or has an invalid value."),
            N_("Run `qqnotify check`: it names the file, line and key, and what to change."),
            .rate_limited = false,
        },
    [D_GENERIC_RETRY] =
        {
            "generic-retry",
            N_("temporary failure without a specific diagnosis"),
            N_("Sending failed for a reason that is usually temporary (network, server load)."),
            N_("Nothing to change: the message stays queued and is retried with growing delays. "
               "If it keeps failing, run `qqnotify check` and read the server's text."),
            .rate_limited = false,
        },
    [D_GENERIC_PERMANENT] =
        {
            "generic-permanent",
            N_("rejection without a specific diagnosis"),
            N_("The server refused this message for good; sending the same message again will "
               "not help."),
            N_("Read the server's text: it names the problem (recipient, content, headers). The "
               "message is kept for `qqnotify queue`; fix the cause and send again."),
            .rate_limited = false,
        },
    [D_GENERIC_CONFIG] =
        {
            "generic-config",
            N_("setup problem without a specific diagnosis"),
            N_("Sending cannot work until something in the configuration or on this host is "
               "changed."),
            N_("Run `qqnotify check`: it tests each stage (name, connection, TLS, login, sender) "
               "and shows the first that fails."),
            .rate_limited = false,
        },
};

/* -------------------------------------------------------------------- rules */

#define ST(name)       (1u << QN_STAGE_##name)
#define ST_TRANSACTION (ST(MAIL) | ST(RCPT) | ST(DATA))

/*
 * A rule matches when every field that is set matches; unset (zero/NULL)
 * fields match anything.  Text lists are NULL-terminated; one hit is enough.
 */
struct rule {
    const char *provider;      /* "qq" also covers "exmail" */
    unsigned stages;           /* ST() bits */
    enum qn_status status;     /* QN_OK: any */
    int code_min, code_max;    /* 0: any; code_max 0: exactly code_min */
    const char *enhanced;      /* exact, or a prefix when it ends with '.' */
    int sys_errno;             /* 0: any */
    enum qn_verdict verdict;   /* QN_VERDICT_NONE: any */
    const char *const *server; /* substrings of server_text */
    const char *const *detail; /* substrings of detail */
    enum diagnosis_index diagnosis;
};

/*
 * Texts.  Where a provider's exact reply is known it is quoted in a
 * comment, so that the list can be checked against new wordings.
 */

/* "Connection frequency limited", "Sender frequency limited", "Domain frequency
 * limited" (QQ), "Too many connections", "Too many login attempts" (Gmail). */
static const char *const t_frequency[] = {
    "frequency", "too many", "rate limit",     "ratelimit",
    "throttl",   "quota",    "limit exceeded", "exceeded the limit",
    "频率",      "频繁",     "过于频繁",       "太多",
    NULL,
};

/* "5.4.5 Daily user sending quota exceeded" (Gmail). */
static const char *const t_daily[] = {
    "daily", "per day", "today", "每日", "每天", "当日", "今日", "本日", NULL,
};

/* "550 Mailbox unavailable or access denied" (QQ). */
static const char *const t_recipient_throttled[] = {
    "mailbox unavailable or access denied",
    NULL,
};

static const char *const t_mailbox_full[] = {
    "full", "quota", "storage", "insufficient", "空间不足", "已满", NULL,
};

/* "530 5.7.0 Must issue a STARTTLS command first" (Gmail), "530 Login fail. A secure
 * connection is requiered(such as ssl)" (QQ, with its spelling). */
static const char *const t_tls_required[] = {
    "starttls", "secure connection", "ssl", "tls", "encryption", "加密", NULL,
};

/* "503 Error: need EHLO and AUTH first !" (QQ). */
static const char *const t_auth_first[] = {
    "auth first",
    "authentication required",
    "not authenticated",
    "need ehlo and auth",
    "login first",
    "请先登录",
    NULL,
};

/* "554 ... IP in blacklist", "Client host rejected", "listed by Spamhaus". */
static const char *const t_ip_blocked[] = {
    "black ip", "blacklist", "black list",           "blocklist", "block list",
    "spamhaus", "dnsbl",     "client host rejected", "黑名单",    NULL,
};

/* "554 DT:SPM ..." (163), "550 Mail content denied" (QQ), "550 The mail may contain
 * inappropriate words or content." (QQ), "550 Error: content rejected" (QQ). */
static const char *const t_spam[] = {
    "dt:spm",
    "spam",
    "content denied",
    "content rejected",
    "inappropriate",
    /* 163's Chinese wording, and QQ's for rule-breaking content */
    "垃圾邮件",
    "未被许可",
    "违规",
    NULL,
};

/* "550 The From header is missing or invalid. Please follow RFC5322, RFC2047, RFC822
 * standard protocol." (QQ); after DATA QQ also repeats "Mail from must equal
 * authorized user" when the header names another address. */
static const char *const t_from_header[] = {
    "from header",
    "from: header",
    "header from",
    "'from' header",
    "\"from\" header",
    "from address",
    "mail from must",
    "authorized user",
    "authorization user",
    "rfc5322",
    "rfc 5322",
    "rfc2047",
    "rfc 2047",
    "rfc822",
    "rfc 822",
    "发件人",
    NULL,
};

/* "501 mail from address must be same as authorization user" (QQ), "553 Mail from must
 * equal authorized user" (163/126). */
static const char *const t_sender[] = {
    "mail from must", "must be same as authorization", "authorized user", "authorization user",
    "not owned by",   "sender address rejected",       "发件人",          NULL,
};

static const char *const t_too_large[] = {
    "too large", "too big", "size limit", "exceeds", "message size", "过大", NULL,
};

/* Verification results of OpenSSL (X509_verify_cert_error_string()) as the tls
 * module puts them into err->detail, in the spellings of OpenSSL 1.1 and 3. */
static const char *const t_cert_expired[] = {
    "has expired",
    "not yet valid",
    NULL,
};

static const char *const t_unknown_ca[] = {
    "unable to get local issuer",
    "unable to get issuer",
    "self-signed",
    "self signed",
    "unable to verify the first certificate",
    "certificate chain",
    "unknown ca",
    "ca_file",
    "ca file",
    "untrusted",
    NULL,
};

static const char *const t_hostname[] = {
    "hostname mismatch",
    "host name mismatch",
    "does not match the host",
    "ip address mismatch",
    NULL,
};

static const char *const t_pin[] = {
    "fingerprint",
    "pin mismatch",
    "pinned",
    NULL,
};

/* What OpenSSL says when the peer's first bytes are not a TLS record. */
static const char *const t_plaintext_port[] = {
    "wrong version number", "packet length too long", "http request", "record layer failure", NULL,
};

/* gai_strerror(EAI_NONAME), gai_strerror(EAI_NODATA), and resolver wordings. */
static const char *const t_unknown_host[] = {
    "not known", "no address associated", "does not exist", "nxdomain", "non-existent", NULL,
};

/* The server names of the provider presets (config.c's table; test_diag checks that they
 * agree): a resolver that says one of them does not exist is filtering or cut off, and
 * host in [smtp] is not the one to check. */
static const char *const preset_hosts[] = {
    "smtp.qq.com",    "smtp.exmail.qq.com",    "smtp.163.com",
    "smtp.gmail.com", "smtp-mail.outlook.com", NULL,
};

static const struct rule rules[] = {
    /* Local problems: nothing was sent. */
    {.status = QN_ECRED, .diagnosis = D_CREDENTIAL_MISSING},
    {.stages = ST(CREDENTIAL), .diagnosis = D_CREDENTIAL_MISSING},
    {.status = QN_ECONFIG, .diagnosis = D_CONFIG_ERROR},
    {.stages = ST(CONFIG), .diagnosis = D_CONFIG_ERROR},

    /* Reaching the server: errno says more than the status.  Only at connect:
     * getaddrinfo() passes on errno from whatever it tried itself. */
    {.stages = ST(CONNECT), .sys_errno = ECONNREFUSED, .diagnosis = D_CONNECT_REFUSED},
    {.stages = ST(CONNECT), .sys_errno = ENETUNREACH, .diagnosis = D_NETWORK_UNREACHABLE},
    {.stages = ST(CONNECT), .sys_errno = EHOSTUNREACH, .diagnosis = D_NETWORK_UNREACHABLE},
    {.stages = ST(CONNECT), .sys_errno = EPERM, .diagnosis = D_CONNECT_BLOCKED_LOCALLY},
    {.stages = ST(CONNECT), .sys_errno = EACCES, .diagnosis = D_CONNECT_BLOCKED_LOCALLY},
    {.stages = ST(CONNECT), .sys_errno = ETIMEDOUT, .diagnosis = D_CONNECT_TIMEOUT},
    {.stages = ST(CONNECT), .status = QN_ETIMEOUT, .diagnosis = D_CONNECT_TIMEOUT},
    {.status = QN_ERESOLVE, .detail = t_unknown_host, .diagnosis = D_DNS_UNKNOWN_HOST},
    {.status = QN_ERESOLVE, .diagnosis = D_DNS_FAILURE},
    {.status = QN_ECONNECT, .diagnosis = D_CONNECT_FAILED},

    /* TLS: the verification result is in the detail. */
    {.status = QN_ETLS, .detail = t_cert_expired, .diagnosis = D_TLS_CERT_EXPIRED},
    {.status = QN_ETLS, .detail = t_hostname, .diagnosis = D_TLS_HOSTNAME_MISMATCH},
    {.status = QN_ETLS, .detail = t_pin, .diagnosis = D_TLS_PIN_MISMATCH},
    {.status = QN_ETLS, .detail = t_unknown_ca, .diagnosis = D_TLS_UNKNOWN_CA},
    {.status = QN_ETLS, .detail = t_plaintext_port, .diagnosis = D_TLS_WRONG_PORT},
    {.status = QN_ETLS, .sys_errno = ECONNRESET, .diagnosis = D_CONNECTION_CLOSED},
    {.status = QN_ETLS, .sys_errno = EPIPE, .diagnosis = D_CONNECTION_CLOSED},
    {.status = QN_ETLS, .diagnosis = D_TLS_HANDSHAKE_FAILED},
    {.status = QN_ESTARTTLS, .diagnosis = D_STARTTLS_MISSING},

    /* Login.  A 530 about encryption first: QQ answers 530 at AUTH for that too. */
    {.code_min = 530, .server = t_tls_required, .diagnosis = D_TLS_REQUIRED},
    {.provider = "qq",
     .stages = ST(AUTH),
     .code_min = 500,
     .code_max = 599,
     .diagnosis = D_QQ_AUTH_CODE},
    {.provider = "qq", .status = QN_EAUTH, .stages = ST(AUTH), .diagnosis = D_QQ_AUTH_CODE},
    {.stages = ST(AUTH), .code_min = 500, .code_max = 599, .diagnosis = D_AUTH_FAILED},
    {.stages = ST(AUTH), .status = QN_EAUTH, .diagnosis = D_AUTH_FAILED},
    {.code_min = 530, .diagnosis = D_AUTH_REQUIRED},
    {.code_min = 503, .server = t_auth_first, .diagnosis = D_AUTH_REQUIRED},
    {.code_min = 534, .code_max = 535, .diagnosis = D_AUTH_FAILED},

    /* Limits, before anything that reads 5xx as a verdict on the message.
     * A full mailbox also says "quota", so it comes before the frequency texts. */
    {.server = t_recipient_throttled, .diagnosis = D_RECIPIENT_THROTTLED},
    {.stages = ST(RCPT),
     .code_min = 450,
     .code_max = 452,
     .server = t_mailbox_full,
     .diagnosis = D_RECIPIENT_MAILBOX_FULL},
    {.stages = ST(RCPT),
     .code_min = 550,
     .code_max = 552,
     .server = t_mailbox_full,
     .diagnosis = D_RECIPIENT_MAILBOX_FULL},
    {.stages = ST(RCPT), .enhanced = "5.2.2", .diagnosis = D_RECIPIENT_MAILBOX_FULL},
    {.stages = ST(RCPT), .enhanced = "4.2.2", .diagnosis = D_RECIPIENT_MAILBOX_FULL},
    {.enhanced = "5.4.5", .diagnosis = D_DAILY_QUOTA},
    {.code_min = 400, .code_max = 599, .server = t_daily, .diagnosis = D_DAILY_QUOTA},
    {.code_min = 400, .code_max = 599, .server = t_frequency, .diagnosis = D_FREQUENCY_LIMITED},

    /* The host is refused, whatever it sends.  "spamhaus" must not read as content. */
    {.code_min = 500, .code_max = 599, .server = t_ip_blocked, .diagnosis = D_IP_BLOCKED},
    {.stages = ST(GREETING), .code_min = 500, .code_max = 599, .diagnosis = D_IP_BLOCKED},
    {.stages = ST(EHLO), .code_min = 500, .code_max = 599, .diagnosis = D_HELO_REJECTED},

    /* The message and its envelope. */
    {.code_min = 500, .code_max = 599, .server = t_spam, .diagnosis = D_CONTENT_SPAM},
    {.stages = ST(DATA),
     .code_min = 550,
     .code_max = 554,
     .server = t_from_header,
     .diagnosis = D_FROM_HEADER_INVALID},
    {.stages = ST(MAIL),
     .code_min = 500,
     .code_max = 599,
     .server = t_sender,
     .diagnosis = D_SENDER_NOT_ACCOUNT},
    {.stages = ST(MAIL), .code_min = 501, .diagnosis = D_SENDER_NOT_ACCOUNT},
    {.stages = ST(MAIL), .code_min = 550, .diagnosis = D_SENDER_NOT_ACCOUNT},
    {.stages = ST(MAIL), .code_min = 553, .diagnosis = D_SENDER_NOT_ACCOUNT},
    {.code_min = 552, .diagnosis = D_MESSAGE_TOO_LARGE},
    {.enhanced = "5.3.4", .diagnosis = D_MESSAGE_TOO_LARGE},
    {.stages = ST_TRANSACTION,
     .code_min = 550,
     .code_max = 554,
     .server = t_too_large,
     .diagnosis = D_MESSAGE_TOO_LARGE},
    {.enhanced = "5.1.1", .diagnosis = D_RECIPIENT_UNKNOWN},
    {.stages = ST(RCPT), .code_min = 501, .diagnosis = D_RECIPIENT_UNKNOWN},
    {.stages = ST(RCPT), .code_min = 550, .code_max = 551, .diagnosis = D_RECIPIENT_UNKNOWN},
    {.stages = ST(RCPT), .code_min = 553, .diagnosis = D_RECIPIENT_UNKNOWN},

    /* Temporary replies. */
    {.code_min = 421, .diagnosis = D_SERVICE_UNAVAILABLE},
    {.code_min = 400, .code_max = 499, .diagnosis = D_TEMPORARY_FAILURE},

    /* The connection itself. */
    {.stages = ST(DATA), .status = QN_EEOF, .diagnosis = D_DATA_CONNECTION_LOST},
    {.stages = ST(DATA), .sys_errno = ECONNRESET, .diagnosis = D_DATA_CONNECTION_LOST},
    {.stages = ST(DATA), .sys_errno = EPIPE, .diagnosis = D_DATA_CONNECTION_LOST},
    {.status = QN_EEOF, .diagnosis = D_CONNECTION_CLOSED},
    {.sys_errno = ECONNRESET, .diagnosis = D_CONNECTION_CLOSED},
    {.sys_errno = EPIPE, .diagnosis = D_CONNECTION_CLOSED},
    {.status = QN_ETIMEOUT, .diagnosis = D_REPLY_TIMEOUT},
    {.status = QN_EPROTO, .diagnosis = D_SMTP_PROTOCOL_ERROR},

    /* Fallbacks: one per verdict, so that lookup never comes back empty. */
    {.verdict = QN_VERDICT_RETRY, .diagnosis = D_GENERIC_RETRY},
    {.verdict = QN_VERDICT_PERMANENT, .diagnosis = D_GENERIC_PERMANENT},
    {.verdict = QN_VERDICT_CONFIG, .diagnosis = D_GENERIC_CONFIG},
};

#define N_RULES (sizeof(rules) / sizeof(rules[0]))

/* ------------------------------------------------------------ text matching */

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* NEEDLE (lower-case ASCII or any UTF-8) in the first HAYSZ bytes of HAY. */
static bool contains(const char *hay, size_t haysz, const char *needle)
{
    size_t hl = strnlen(hay, haysz), nl = strlen(needle), i, j;

    if (nl == 0 || nl > hl)
        return nl == 0;
    for (i = 0; i + nl <= hl; i++) {
        for (j = 0; j < nl; j++) {
            if (ascii_lower((unsigned char)hay[i + j]) != (unsigned char)needle[j])
                break;
        }
        if (j == nl)
            return true;
    }
    return false;
}

static bool contains_any(const char *hay, size_t haysz, const char *const *needles)
{
    for (; *needles != NULL; needles++) {
        if (contains(hay, haysz, *needles))
            return true;
    }
    return false;
}

static bool ascii_equal_ci(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
            return false;
    }
    return *a == *b;
}

/* Tencent Exmail (enterprise QQ Mail) runs the same servers and replies as QQ Mail. */
static bool provider_matches(const char *rule_provider, const char *provider)
{
    if (provider == NULL)
        return false;
    if (ascii_equal_ci(rule_provider, provider))
        return true;
    return ascii_equal_ci(rule_provider, "qq") && ascii_equal_ci(provider, "exmail");
}

static bool enhanced_matches(const char *rule_enhanced, const char *enhanced, size_t size)
{
    size_t rl = strlen(rule_enhanced), el = strnlen(enhanced, size);

    if (rl > 0 && rule_enhanced[rl - 1] == '.')
        return el >= rl && memcmp(enhanced, rule_enhanced, rl) == 0;
    return el == rl && memcmp(enhanced, rule_enhanced, rl) == 0;
}

static bool rule_matches(const struct rule *r, const char *provider, const struct qn_error *err,
                         enum qn_verdict verdict)
{
    int code_max = r->code_max != 0 ? r->code_max : r->code_min;

    if (r->provider != NULL && !provider_matches(r->provider, provider))
        return false;
    if (r->stages != 0 && ((unsigned)err->stage >= 32 || (r->stages & (1u << err->stage)) == 0))
        return false;
    if (r->status != QN_OK && r->status != err->status)
        return false;
    if (r->code_min != 0 && (err->smtp_code < r->code_min || err->smtp_code > code_max))
        return false;
    if (r->enhanced != NULL && !enhanced_matches(r->enhanced, err->enhanced, sizeof(err->enhanced)))
        return false;
    if (r->sys_errno != 0 && r->sys_errno != err->sys_errno)
        return false;
    if (r->verdict != QN_VERDICT_NONE && r->verdict != verdict)
        return false;
    if (r->server != NULL && !contains_any(err->server_text, sizeof(err->server_text), r->server))
        return false;
    if (r->detail != NULL && !contains_any(err->detail, sizeof(err->detail), r->detail))
        return false;
    return true;
}

/* ----------------------------------------------------------------- verdicts */

static bool is_network_stage(enum qn_stage stage)
{
    return (stage >= QN_STAGE_RESOLVE && stage <= QN_STAGE_QUIT) || stage == QN_STAGE_HTTP;
}

enum qn_verdict qn_error_verdict(enum qn_status status, enum qn_stage stage, int smtp_code)
{
    if (status == QN_OK)
        return QN_VERDICT_NONE;
    /* Without a configuration or a secret nothing can be tried at all, and a
     * refused STARTTLS stays refused whatever code came with it (a 454 is
     * "temporary" for the server, but the fix here is port 465). */
    if (stage == QN_STAGE_CONFIG || stage == QN_STAGE_CREDENTIAL || status == QN_ECONFIG ||
        status == QN_ECRED || status == QN_ESTARTTLS)
        return QN_VERDICT_CONFIG;
    if (smtp_code >= 400 && smtp_code <= 499)
        return QN_VERDICT_RETRY;
    if (smtp_code >= 500 && smtp_code <= 599) {
        if (status == QN_EAUTH || stage == QN_STAGE_AUTH || smtp_code == 530 || smtp_code == 534 ||
            smtp_code == 535)
            return QN_VERDICT_CONFIG;
        /* 552 to RCPT is temporary: RFC 5321 section 4.5.3.1.10 asks clients to
         * treat it so (RFC 821 used it for "too many recipients"), and servers
         * that send it for a full mailbox mean RFC 3463's X.2.2, a persistent
         * transient failure. */
        if (stage == QN_STAGE_RCPT && smtp_code == 552)
            return QN_VERDICT_RETRY;
        switch (stage) {
        case QN_STAGE_GREETING:
            /* A refused greeting is about this host, not this message: keep it. */
        case QN_STAGE_QUIT:
            return QN_VERDICT_RETRY;
        case QN_STAGE_EHLO:
        case QN_STAGE_STARTTLS:
            return QN_VERDICT_CONFIG;
        default:
            return QN_VERDICT_PERMANENT;
        }
    }
    switch (status) {
    case QN_OK:
        return QN_VERDICT_NONE;
    case QN_ECONFIG:
    case QN_ENOTFOUND:
    case QN_EAUTH:
    case QN_ECRED:
    case QN_ESTARTTLS:
    case QN_ENOBUS:
    case QN_ENOSERVICE:
    case QN_ENOKEYRING:
    case QN_EPERM:
        return QN_VERDICT_CONFIG;
    case QN_ETLS:
        /* A handshake that fails without an I/O error fails the same way next
         * time (certificate, version, pin); qn_error_set() refines I/O to RETRY. */
        return QN_VERDICT_CONFIG;
    case QN_EINVAL:
    case QN_ETOOBIG:
        /* Bad input from the network (an oversized reply) may not recur; a bad
         * message will. */
        return is_network_stage(stage) ? QN_VERDICT_RETRY : QN_VERDICT_PERMANENT;
    case QN_EREJECT:
        return QN_VERDICT_PERMANENT;
    case QN_ENOMEM:
    case QN_EIO:
    case QN_ERESOLVE:
    case QN_ECONNECT:
    case QN_ETIMEOUT:
    case QN_EPROTO:
    case QN_ETEMPFAIL:
    case QN_EEOF:
    case QN_ELOCKED:
    case QN_ESERVICE:
        return QN_VERDICT_RETRY;
    }
    return QN_VERDICT_RETRY; /* a status from a newer version: keep the message */
}

/* A 5xx that means "slow down" is temporary whatever its code says. */
static bool is_rate_limit_text(const struct qn_error *err)
{
    return contains_any(err->server_text, sizeof(err->server_text), t_frequency) ||
           contains_any(err->server_text, sizeof(err->server_text), t_recipient_throttled);
}

/* The verdict with what qn_error_verdict() cannot see: errno, server text, enhanced code. */
static enum qn_verdict refined_verdict(const struct qn_error *err)
{
    enum qn_verdict v = qn_error_verdict(err->status, err->stage, err->smtp_code);

    if (err->status == QN_ETLS && err->sys_errno != 0)
        return QN_VERDICT_RETRY; /* the handshake broke on I/O, not on a check */
    if (v == QN_VERDICT_PERMANENT && err->smtp_code >= 500 &&
        (is_rate_limit_text(err) ||
         enhanced_matches("5.4.5", err->enhanced, sizeof(err->enhanced))))
        return QN_VERDICT_RETRY;
    return v;
}

/* -------------------------------------------------------------------- errors */

void qn_error_clear(struct qn_error *err)
{
    /* Every byte, not just the fields: the struct may be written to the spool
     * as is, and stale bytes after a NUL must not carry old text along. */
    if (err != NULL)
        memset(err, 0, sizeof(*err));
}

/* qn_error_set() with a va_list; ERR is not NULL. */
static void error_vset(struct qn_error *err, enum qn_status status, enum qn_stage stage,
                       const char *detail, va_list ap) __attribute__((format(printf, 4, 0)));

static void error_vset(struct qn_error *err, enum qn_status status, enum qn_stage stage,
                       const char *detail, va_list ap)
{
    char raw[2 * QN_ERROR_DETAIL_MAX];
    size_t len;
    int n;

    err->status = status;
    err->stage = stage;
    memset(err->detail, 0, sizeof(err->detail));
    if (detail != NULL) {
        n = vsnprintf(raw, sizeof(raw), detail, ap);
        if (n > 0) {
            len = (size_t)n < sizeof(raw) ? (size_t)n : sizeof(raw) - 1;
            /* Details may quote host names or file contents: one clean line. */
            qn_text_sanitize_line(raw, len, err->detail, sizeof(err->detail));
        }
    }
    if (err->verdict == QN_VERDICT_NONE)
        err->verdict = refined_verdict(err);
}

enum qn_status qn_error_set(struct qn_error *err, enum qn_status status, enum qn_stage stage,
                            const char *detail, ...)
{
    va_list ap;

    if (err == NULL)
        return status;
    va_start(ap, detail);
    error_vset(err, status, stage, detail, ap);
    va_end(ap);
    return status;
}

enum qn_status qn_error_set_errno(struct qn_error *err, enum qn_status status, enum qn_stage stage,
                                  int errnum, const char *detail, ...)
{
    va_list ap;

    if (err == NULL)
        return status;
    err->sys_errno = errnum;
    va_start(ap, detail);
    error_vset(err, status, stage, detail, ap);
    va_end(ap);
    return status;
}

static enum qn_status reply_status(enum qn_stage stage, int code)
{
    if (code >= 400 && code <= 499)
        return QN_ETEMPFAIL;
    if (code == 530 || code == 534 || code == 535 ||
        (stage == QN_STAGE_AUTH && code >= 500 && code <= 599))
        return QN_EAUTH;
    if (code >= 500 && code <= 599)
        return QN_EREJECT;
    return QN_EPROTO;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Length of an RFC 3463 enhanced status code ("class.subject.detail",
 * class 2, 4 or 5, subject and detail 1-3 digits) at P, followed by a
 * blank or the end; 0 when there is none.
 */
static size_t enhanced_code_len(const char *p, const char *end)
{
    const char *q = p;
    int part, digits;

    if (q >= end || (*q != '2' && *q != '4' && *q != '5'))
        return 0;
    q++;
    for (part = 0; part < 2; part++) {
        if (q >= end || *q != '.')
            return 0;
        q++;
        for (digits = 0; q < end && is_digit(*q) && digits < 4; digits++)
            q++;
        if (digits < 1 || digits > 3)
            return 0;
    }
    if (q < end && *q != ' ' && *q != '\t')
        return 0;
    return (size_t)(q - p);
}

/* Skip "535-" or "535 " when a caller passed whole reply lines. */
static const char *skip_reply_code(const char *p, const char *end, int code)
{
    char digits[4];

    if (end - p < 4 || code < 100 || code > 999)
        return p;
    snprintf(digits, sizeof(digits), "%03d", code);
    if (memcmp(p, digits, 3) == 0 && (p[3] == '-' || p[3] == ' '))
        return p + 4;
    return p;
}

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/*
 * Append N bytes to the join buffer.  When they do not fit, keep what ends
 * right after a byte below '0': such a byte (control, blank, ASCII
 * punctuation) ends a character in UTF-8 and in GB18030 alike, so the cut
 * never leaves half a character to be misread.  Returns false once full.
 */
static bool join_append(char *buf, size_t *len, const char *s, size_t n)
{
    size_t room = REPLY_JOIN_MAX - *len, keep;

    if (n <= room) {
        memcpy(buf + *len, s, n);
        *len += n;
        return true;
    }
    keep = room;
    while (keep > 0 && (unsigned char)s[keep - 1] >= '0')
        keep--;
    if (keep == 0)
        keep = room; /* no safe cut: decoding repairs the tail, which is cut later anyway */
    memcpy(buf + *len, s, keep);
    *len += keep;
    return false;
}

enum qn_status qn_error_set_reply(struct qn_error *err, enum qn_stage stage, int code,
                                  const char *text, size_t text_len)
{
    enum qn_status status = reply_status(stage, code);
    char joined[REPLY_JOIN_MAX];
    const char *p, *end, *line, *line_end, *nl;
    size_t jlen = 0, elen, outsz, out_len;
    bool first = true, cut = false;

    if (err == NULL)
        return status;
    if (text == NULL)
        text_len = 0;
    err->status = status;
    err->stage = stage;
    err->smtp_code = code;
    err->sys_errno = 0; /* a reply means the transport worked */
    err->tls_error = 0;
    memset(err->enhanced, 0, sizeof(err->enhanced));
    memset(err->server_text, 0, sizeof(err->server_text));

    p = text;
    end = text + text_len;
    while (p < end && !cut) {
        nl = memchr(p, '\n', (size_t)(end - p));
        line = p;
        line_end = nl != NULL ? nl : end;
        p = nl != NULL ? nl + 1 : end;
        if (line_end > line && line_end[-1] == '\r')
            line_end--;
        line = skip_blanks(skip_reply_code(line, line_end, code), line_end);
        /* Servers repeat the enhanced code on every line; keep it once, apart. */
        elen = enhanced_code_len(line, line_end);
        if (elen > 0) {
            if (err->enhanced[0] == '\0') {
                memcpy(err->enhanced, line, elen);
                line = skip_blanks(line + elen, line_end);
            } else if (strlen(err->enhanced) == elen && memcmp(err->enhanced, line, elen) == 0) {
                line = skip_blanks(line + elen, line_end);
            }
        }
        if (line == line_end)
            continue;
        if (!first && !join_append(joined, &jlen, " / ", 3))
            cut = true;
        else if (!join_append(joined, &jlen, line, (size_t)(line_end - line)))
            cut = true;
        first = false;
    }
    if (p < end)
        cut = true;

    /* Reserve room for the ellipsis when the raw text was cut before decoding. */
    outsz = sizeof(err->server_text) - (cut ? ELLIPSIS_LEN : 0);
    out_len = qn_text_sanitize_line(joined, jlen, err->server_text, outsz);
    if (cut && (out_len < ELLIPSIS_LEN ||
                memcmp(err->server_text + out_len - ELLIPSIS_LEN, ELLIPSIS, ELLIPSIS_LEN) != 0)) {
        memcpy(err->server_text + out_len, ELLIPSIS, ELLIPSIS_LEN);
        err->server_text[out_len + ELLIPSIS_LEN] = '\0';
    }

    err->verdict = refined_verdict(err);
    return status;
}

/* ----------------------------------------------------------------- catalog */

const char *qn_stage_name(enum qn_stage stage)
{
    switch (stage) {
    case QN_STAGE_NONE:
        return N_("none");
    case QN_STAGE_CONFIG:
        return N_("config");
    case QN_STAGE_CREDENTIAL:
        return N_("credential");
    case QN_STAGE_RESOLVE:
        return N_("resolve");
    case QN_STAGE_CONNECT:
        return N_("connect");
    case QN_STAGE_TLS:
        return N_("tls");
    case QN_STAGE_GREETING:
        return N_("greeting");
    case QN_STAGE_EHLO:
        return N_("ehlo");
    case QN_STAGE_STARTTLS:
        return N_("starttls");
    case QN_STAGE_AUTH:
        return N_("auth");
    case QN_STAGE_MAIL:
        return N_("mail");
    case QN_STAGE_RCPT:
        return N_("rcpt");
    case QN_STAGE_DATA:
        return N_("data");
    case QN_STAGE_QUIT:
        return N_("quit");
    case QN_STAGE_LOCAL:
        return N_("local");
    case QN_STAGE_HTTP:
        return N_("http");
    }
    return N_("unknown stage");
}

/* DETAIL names HOST as the resolve stage does ("cannot resolve HOST: why"): the name, ASCII
 * case ignored, after the start or a blank and before ':' (a trailing dot allowed). */
static bool detail_names_host(const char *detail, size_t size, const char *host)
{
    size_t len = strnlen(detail, size), hl = strlen(host), i, j;

    for (i = 0; i + hl < len; i++) {
        if (i > 0 && detail[i - 1] != ' ')
            continue;
        for (j = 0; j < hl && ascii_lower((unsigned char)detail[i + j]) == (unsigned char)host[j];
             j++)
            ;
        if (j < hl)
            continue;
        if (detail[i + hl] == ':' ||
            (detail[i + hl] == '.' && i + hl + 1 < len && detail[i + hl + 1] == ':'))
            return true;
    }
    return false;
}

/* The resolve stage: "no such name" for a preset's own server name. */
static const struct qn_diagnosis *resolve_lookup(const struct qn_error *err)
{
    size_t i;

    if (err->status != QN_ERESOLVE ||
        !contains_any(err->detail, sizeof(err->detail), t_unknown_host))
        return NULL;
    for (i = 0; preset_hosts[i] != NULL; i++) {
        if (detail_names_host(err->detail, sizeof(err->detail), preset_hosts[i]))
            return &diagnoses[D_DNS_RESOLVER_FILTERED];
    }
    return NULL;
}

const struct qn_diagnosis *qn_diag_lookup(const char *provider, const struct qn_error *err)
{
    const struct qn_diagnosis *d;
    enum qn_verdict verdict;
    size_t i;

    if (err == NULL || err->status == QN_OK)
        return NULL;
    if (qn_diag_robot_provider(provider)) {
        d = qn_diag_robot_lookup(provider, err);
        if (d != NULL)
            return d;
    }
    d = resolve_lookup(err);
    if (d != NULL)
        return d;
    verdict = err->verdict != QN_VERDICT_NONE ? err->verdict : refined_verdict(err);
    for (i = 0; i < N_RULES; i++) {
        if (rule_matches(&rules[i], provider, err, verdict))
            return &diagnoses[rules[i].diagnosis];
    }
    /* Only a verdict outside the enum gets here (a corrupt spool entry). */
    return &diagnoses[D_GENERIC_RETRY];
}

const struct qn_diagnosis *qn_diag_catalog(size_t *ret_count)
{
    if (ret_count != NULL)
        *ret_count = D_COUNT;
    return diagnoses;
}

const struct qn_diagnosis *qn_diag_find(const char *id)
{
    const struct qn_diagnosis *robot;
    size_t n_robot;

    for (size_t i = 0; i < D_COUNT; i++) {
        if (strcmp(diagnoses[i].id, id) == 0)
            return &diagnoses[i];
    }
    robot = qn_diag_robot_catalog(&n_robot);
    for (size_t i = 0; i < n_robot; i++) {
        if (strcmp(robot[i].id, id) == 0)
            return &robot[i];
    }
    return NULL;
}

bool qn_diag_text_has(const char *hay, size_t haysz, const char *const *needles)
{
    return contains_any(hay, haysz, needles);
}
