/*
 * sshkey — the SHA256 fingerprint of an OpenSSH public key, exactly as
 * `ssh-keygen -l` prints it and sshd logs it ("Accepted publickey for root
 * from 203.0.113.9 port 50122 ssh2: ED25519 SHA256:..."), so an alert can be
 * matched against authorized_keys and the auth log.
 *
 * Input: the "TYPE BASE64" text that sshd puts into SSH_AUTH_INFO_0
 * (sshkey_format_text).  The fingerprint is SHA-256 over the decoded key
 * blob, encoded as unpadded base64 (RFC 4648) after "SHA256:".
 *
 * SHA-256 (FIPS 180-4) and base64 are hand-written: this code runs inside
 * pam_qqnotify.so, which must not link OpenSSL (docs/architecture.md section 1: only
 * libc and libpam in the login path), and libc has neither.  The digest is
 * used only to show which key was used; no security decision rests on it.
 *
 * No allocation, no global state; thread-safe.
 */
#ifndef QN_SSHKEY_H
#define QN_SSHKEY_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define QN_SHA256_LEN 32
/* "SHA256:" + 43 base64 characters + NUL */
#define QN_SSHKEY_FP_MAX 51
/* Largest decoded key blob accepted: an RSA-16384 key is about 2 KiB. */
#define QN_SSHKEY_BLOB_MAX 8192

/* SHA-256 of the N bytes at DATA into OUT. */
void qn_sha256(const void *data, size_t n, uint8_t out[QN_SHA256_LEN]);

/*
 * Fingerprint of the key whose wire type is the N_TYPE bytes at TYPE and
 * whose blob is the N_B64 base64 characters at B64 (padding optional).
 * Writes "SHA256:..." with its NUL to RET_FP.  QN_EINVAL when B64 is not
 * base64, decodes to more than QN_SSHKEY_BLOB_MAX bytes, or the blob does
 * not start with the string TYPE (the first field of every SSH key blob,
 * RFC 4253 section 6.6); RET_FP is then "".
 */
enum qn_status qn_sshkey_fingerprint(const char *type, size_t n_type, const char *b64, size_t n_b64,
                                     char ret_fp[QN_SSHKEY_FP_MAX]);

#endif
