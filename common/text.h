/*
 * text — UTF-8 validation and repair, GB18030 decoding, sanitising of
 * untrusted strings.
 *
 * Everything that reaches a mail header, a log line or the spool from
 * outside (user names, host names, server replies, journal messages) goes
 * through here first.  UTF-8 validation is hand-written (a small, exact
 * decoder that rejects overlong forms, surrogates and code points above
 * U+10FFFF) because iconv reports only the first error and cannot repair;
 * GB18030 decoding uses iconv.
 *
 * Output goes to caller-provided bounded buffers or a struct qn_buf; no
 * function keeps state.  Thread-safe.
 */
#ifndef QN_TEXT_H
#define QN_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "status.h"

/* True when the N bytes at S are valid UTF-8 (no overlongs, surrogates, > U+10FFFF). */
bool qn_text_utf8_valid(const char *s, size_t n);

/*
 * Length of the valid UTF-8 sequence starting at S (1..4), or 0 when the
 * bytes there do not start a valid sequence within N bytes.  Stores the
 * code point in *ret_cp when non-NULL.
 */
size_t qn_text_utf8_next(const char *s, size_t n, unsigned long *ret_cp);

/*
 * Append the N bytes at S to OUT as valid UTF-8: valid sequences are
 * copied, each invalid byte becomes U+FFFD.  On failure OUT is unchanged.
 */
enum qn_status qn_text_utf8_repair(const char *s, size_t n, struct qn_buf *out);

/*
 * Append server or log text to OUT as UTF-8: valid UTF-8 is copied; other
 * text is decoded as GB18030 (QQ Mail answers in GBK at times); what is
 * neither is repaired byte by byte.  Text that is mostly valid UTF-8 (more
 * bytes in valid multi-byte sequences than invalid bytes, or valid but cut
 * inside its last character) counts as damaged UTF-8 and is repaired, not
 * read as GB18030.  GB18030 cut inside its last character keeps the whole
 * characters; the cut bytes are repaired.  On failure OUT is unchanged.
 */
enum qn_status qn_text_decode(const char *s, size_t n, struct qn_buf *out);

/*
 * Sanitise one line of untrusted text for a header, log line or spool field:
 * decode as qn_text_decode(), replace CR, LF, TAB and every other control
 * character (C0, DEL, C1, U+2028/U+2029) by a space, collapse runs of
 * spaces, trim; write every character that shows as nothing or changes how
 * the text around it shows -- Unicode's format characters (category Cf: the
 * zero-width space U+200B, joiners, the bidi marks, embeddings, overrides and
 * isolates U+200E/F, U+202A..U+202E, U+2066..U+2069 that can show a name
 * reversed, the BOM U+FEFF, tags...) and the other default-ignorable code
 * points (variation selectors, fillers) -- as its code, "<U+200B>", so that
 * "ro\u200bot" shows as "ro<U+200B>ot", never as "root"; and cut on a
 * character boundary (never inside such a code) so that it fits OUTSZ bytes
 * with its NUL (ending in "…" when cut).  OUTSZ must be at least 8.  The
 * result sanitises to itself.  Returns the length written, without the NUL.
 */
size_t qn_text_sanitize_line(const char *s, size_t n, char *out, size_t outsz);

/* True for the code points qn_text_sanitize_line() writes as "<U+XXXX>": Unicode 15.0's
 * category Cf and Default_Ignorable_Code_Point (the unit test checks every code point
 * against both lists, written out there from Unicode's files). */
bool qn_text_shown_as_code(unsigned long cp);

/* The value of the hexadecimal digit C (either case), or -1: for the %XX
 * escapes of the spool and event forms and the rules' escapes. */
int qn_text_hex_digit(char c);

#endif
