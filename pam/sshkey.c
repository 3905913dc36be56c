/* SHA256 fingerprints of OpenSSH public keys; see sshkey.h for why this is hand-written. */
#include "sshkey.h"

#include <string.h>

/* FIPS 180-4 section 4.2.2: the first 32 bits of the fractional parts of the cube roots of
 * the first 64 primes. */
static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

struct sha256 {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    uint8_t block[64];
    size_t used; /* bytes waiting in block */
};

static uint32_t rotr(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha256_block(struct sha256 *c, const uint8_t *p)
{
    uint32_t w[64], a, b, cc, d, e, f, g, h, t1, t2;
    size_t i;

    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = c->h[0];
    b = c->h[1];
    cc = c->h[2];
    d = c->h[3];
    e = c->h[4];
    f = c->h[5];
    g = c->h[6];
    h = c->h[7];
    for (i = 0; i < 64; i++) {
        t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[i] +
             w[i];
        t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = cc;
        cc = b;
        b = a;
        a = t1 + t2;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
    c->h[5] += f;
    c->h[6] += g;
    c->h[7] += h;
}

static void sha256_init(struct sha256 *c)
{
    /* FIPS 180-4 section 5.3.3: fractional parts of the square roots of the first 8 primes */
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

    memcpy(c->h, h0, sizeof(h0));
    c->total = 0;
    c->used = 0;
}

static void sha256_update(struct sha256 *c, const uint8_t *p, size_t n)
{
    c->total += n;
    if (c->used > 0) {
        size_t take = 64 - c->used < n ? 64 - c->used : n;

        memcpy(c->block + c->used, p, take);
        c->used += take;
        p += take;
        n -= take;
        if (c->used < 64)
            return;
        sha256_block(c, c->block);
        c->used = 0;
    }
    for (; n >= 64; p += 64, n -= 64)
        sha256_block(c, p);
    memcpy(c->block, p, n);
    c->used = n;
}

static void sha256_final(struct sha256 *c, uint8_t out[QN_SHA256_LEN])
{
    uint64_t bits = c->total * 8;
    size_t i;

    /* padding: 0x80, zeros up to 56 mod 64, then the message length in bits, big-endian */
    c->block[c->used++] = 0x80;
    if (c->used > 56) {
        memset(c->block + c->used, 0, 64 - c->used);
        sha256_block(c, c->block);
        c->used = 0;
    }
    memset(c->block + c->used, 0, 56 - c->used);
    for (i = 0; i < 8; i++)
        c->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_block(c, c->block);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void qn_sha256(const void *data, size_t n, uint8_t out[QN_SHA256_LEN])
{
    struct sha256 c;

    sha256_init(&c);
    sha256_update(&c, data, n);
    sha256_final(&c, out);
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char ch)
{
    const char *p;

    if (ch == '\0')
        return -1;
    p = strchr(b64_alphabet, ch);
    return p == NULL ? -1 : (int)(p - b64_alphabet);
}

/* Decode N base64 characters (trailing '=' optional) into OUT; the length, or -1. */
static long b64_decode(const char *s, size_t n, uint8_t *out, size_t outsz)
{
    uint32_t acc = 0;
    size_t i, bits = 0, len = 0;
    int v;

    while (n > 0 && s[n - 1] == '=')
        n--;
    for (i = 0; i < n; i++) {
        if ((v = b64_value((unsigned char)s[i])) < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (len == outsz)
                return -1;
            out[len++] = (uint8_t)(acc >> bits);
        }
    }
    /* a single leftover character (6 bits) cannot come from whole bytes */
    if (bits >= 6)
        return -1;
    return (long)len;
}

enum qn_status qn_sshkey_fingerprint(const char *type, size_t n_type, const char *b64, size_t n_b64,
                                     char ret_fp[QN_SSHKEY_FP_MAX])
{
    uint8_t blob[QN_SSHKEY_BLOB_MAX], digest[QN_SHA256_LEN];
    uint32_t acc = 0;
    size_t i, bits = 0, o;
    long len;

    ret_fp[0] = '\0';
    len = b64_decode(b64, n_b64, blob, sizeof(blob));
    if (len < 4)
        return QN_EINVAL;
    /* the blob's first field is the key type as an SSH string: uint32 length, bytes */
    if (((size_t)blob[0] << 24 | (size_t)blob[1] << 16 | (size_t)blob[2] << 8 | blob[3]) !=
            n_type ||
        (size_t)len < 4 + n_type || memcmp(blob + 4, type, n_type) != 0)
        return QN_EINVAL;
    qn_sha256(blob, (size_t)len, digest);

    memcpy(ret_fp, "SHA256:", 7);
    o = 7;
    for (i = 0; i < sizeof(digest); i++) {
        acc = (acc << 8) | digest[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            ret_fp[o++] = b64_alphabet[(acc >> bits) & 0x3f];
        }
    }
    if (bits > 0) /* 256 bits = 42 * 6 + 4: the last character holds 4 bits, no padding */
        ret_fp[o++] = b64_alphabet[(acc << (6 - bits)) & 0x3f];
    ret_fp[o] = '\0';
    return QN_OK;
}
