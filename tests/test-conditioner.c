/*
 * test-conditioner.c - cmocka tests for daemon/conditioner.c.
 *
 * Known-answer values were computed outside libsodium: SHA-256 with
 * Python's hashlib / FIPS 180-2, ChaCha20 with pyca/cryptography (OpenSSL).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "conditioner.h"

static const uint8_t zero_nonce[crypto_stream_chacha20_NONCEBYTES] = { 0 };
static const uint8_t one_nonce[crypto_stream_chacha20_NONCEBYTES] = { 1 };

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* Decodes exactly 2*len lowercase hex digits; fails the test otherwise. */
static void unhex(const char *hex, uint8_t *out, size_t len)
{
    assert_int_equal(strlen(hex), 2 * len);
    for (size_t i = 0; i < len; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        assert_true(hi >= 0 && lo >= 0);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
}

static bool all_zero(const void *p, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* ---- cond_input_bytes ---- */

static void test_input_bytes_known_values(void **state)
{
    (void)state;
    assert_int_equal(cond_input_bytes(2.0), 160);
    assert_int_equal(cond_input_bytes(1.0), 320);
    assert_int_equal(cond_input_bytes(3.0), 107);  /* 106.67 rounds up */
    assert_int_equal(cond_input_bytes(8.0), 40);
    assert_int_equal(cond_input_bytes(0.5), 640);
    assert_int_equal(cond_input_bytes(7.5), 43);   /* 42.67 rounds up */
}

static void test_input_bytes_rejects_out_of_range(void **state)
{
    (void)state;
    assert_int_equal(cond_input_bytes(0.0), 0);
    assert_int_equal(cond_input_bytes(-0.0), 0);
    assert_int_equal(cond_input_bytes(9.0), 0);
    assert_int_equal(cond_input_bytes(8.000001), 0);
    assert_int_equal(cond_input_bytes(-1.0), 0);
    assert_int_equal(cond_input_bytes(NAN), 0);
    assert_int_equal(cond_input_bytes(INFINITY), 0);
    /* Tiny but valid credit: huge, never wrapped to a small count. */
    assert_int_equal(cond_input_bytes(1e-300), SIZE_MAX);
}

/* ---- conditioner ---- */

static void test_cond_range160_split(void **state)
{
    (void)state;
    uint8_t in[160], got[COND_BLOCK_BYTES], want[COND_BLOCK_BYTES];
    struct cond c;

    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)i;
    /* python3 -c 'import hashlib;print(hashlib.sha256(bytes(range(160))).hexdigest())' */
    unhex("448ebbc9e1a31220a2f3830c18eef61b9bd070e5084b7fa2a359fe729184c719",
          want, sizeof want);

    cond_begin(&c);
    cond_update(&c, in, 37);            /* uneven pieces, as on ring wrap */
    cond_update(&c, NULL, 0);
    cond_update(&c, in + 37, sizeof in - 37);
    assert_int_equal(c.fed, 160);
    assert_int_equal(cond_final(&c, got), 0);
    assert_memory_equal(got, want, sizeof want);

    /* Same result fed in one piece. */
    cond_begin(&c);
    cond_update(&c, in, sizeof in);
    assert_int_equal(cond_final(&c, got), 0);
    assert_memory_equal(got, want, sizeof want);
}

static void test_cond_fips180_abc(void **state)
{
    (void)state;
    uint8_t got[COND_BLOCK_BYTES], want[COND_BLOCK_BYTES];
    struct cond c;

    unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
          want, sizeof want);
    cond_begin(&c);
    cond_update(&c, (const uint8_t *)"ab", 2);
    cond_update(&c, (const uint8_t *)"c", 1);
    assert_int_equal(cond_final(&c, got), 0);
    assert_memory_equal(got, want, sizeof want);
}

static void test_cond_empty(void **state)
{
    (void)state;
    uint8_t got[COND_BLOCK_BYTES], want[COND_BLOCK_BYTES];
    struct cond c;

    unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
          want, sizeof want);
    cond_begin(&c);
    assert_int_equal(cond_final(&c, got), 0);
    assert_memory_equal(got, want, sizeof want);
}

static void test_cond_state_wiped_after_final(void **state)
{
    (void)state;
    uint8_t in[100], out[COND_BLOCK_BYTES];
    struct cond c;

    memset(in, 0x5a, sizeof in);
    cond_begin(&c);
    cond_update(&c, in, sizeof in);     /* leaves a partial block buffered */
    assert_false(all_zero(&c, sizeof c));
    assert_int_equal(cond_final(&c, out), 0);
    assert_true(all_zero(&c, sizeof c));
}

static void test_cond_reuse_after_final(void **state)
{
    (void)state;
    uint8_t a[COND_BLOCK_BYTES], b[COND_BLOCK_BYTES];
    struct cond c;

    cond_begin(&c);
    cond_update(&c, (const uint8_t *)"xyz", 3);
    assert_int_equal(cond_final(&c, a), 0);
    cond_begin(&c);
    cond_update(&c, (const uint8_t *)"abc", 3);
    assert_int_equal(cond_final(&c, b), 0);
    /* Second block must not depend on the first (state fully reset). */
    uint8_t want[COND_BLOCK_BYTES];
    unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
          want, sizeof want);
    assert_memory_equal(b, want, sizeof want);
    assert_memory_not_equal(a, b, sizeof a);
}

/* ---- DRBG ---- */

static void seed_pattern(uint8_t seed[COND_BLOCK_BYTES])
{
    for (size_t i = 0; i < COND_BLOCK_BYTES; i++)
        seed[i] = (uint8_t)(0x20 + i);
}

static void test_drbg_init_state(void **state)
{
    (void)state;
    struct drbg d;

    memset(&d, 0xff, sizeof d);
    drbg_init(&d);
    assert_false(d.seeded);
    assert_true(all_zero(d.key, sizeof d.key));
    assert_int_equal(d.reseeds, 0);
    assert_int_equal(d.bytes_since_reseed, 0);
    assert_int_equal(d.requests_since_reseed, 0);
    assert_int_equal(d.generated, 0);
}

static void test_drbg_generate_unseeded_fails(void **state)
{
    (void)state;
    struct drbg d, before;
    uint8_t out[64];

    drbg_init(&d);
    memcpy(&before, &d, sizeof d);   /* padding too */
    memset(out, 0xcc, sizeof out);
    assert_int_equal(drbg_generate(&d, out, sizeof out), -1);
    assert_int_equal(drbg_generate(&d, NULL, 0), -1);
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0xcc);     /* untouched */
    assert_memory_equal(&d, &before, sizeof d);
}

static void test_drbg_reseed_does_not_touch_seed(void **state)
{
    (void)state;
    struct drbg d;
    uint8_t seed[COND_BLOCK_BYTES], copy[COND_BLOCK_BYTES];

    seed_pattern(seed);
    memcpy(copy, seed, sizeof seed);
    drbg_init(&d);
    drbg_reseed(&d, seed);
    assert_true(d.seeded);
    assert_int_equal(d.reseeds, 1);
    assert_memory_equal(seed, copy, sizeof seed);
    drbg_wipe(&d);
}

static void test_drbg_key_changes_every_call(void **state)
{
    (void)state;
    struct drbg d;
    uint8_t seed[COND_BLOCK_BYTES], prev[32], out[48];

    seed_pattern(seed);
    drbg_init(&d);
    drbg_reseed(&d, seed);
    for (int i = 0; i < 16; i++) {
        memcpy(prev, d.key, sizeof prev);
        /* Include len 0: the key must still rotate. */
        size_t len = (i % 4 == 0) ? 0 : sizeof out;
        assert_int_equal(drbg_generate(&d, len ? out : NULL, len), 0);
        assert_memory_not_equal(prev, d.key, sizeof prev);
    }
    assert_int_equal(d.requests_since_reseed, 16);
    assert_int_equal(d.bytes_since_reseed, 12 * sizeof out);
    assert_int_equal(d.generated, 12 * sizeof out);
    drbg_wipe(&d);
}

static void test_drbg_successive_outputs_differ(void **state)
{
    (void)state;
    struct drbg d;
    uint8_t seed[COND_BLOCK_BYTES], a[64], b[64];

    seed_pattern(seed);
    drbg_init(&d);
    drbg_reseed(&d, seed);
    assert_int_equal(drbg_generate(&d, a, sizeof a), 0);
    assert_int_equal(drbg_generate(&d, b, sizeof b), 0);
    assert_memory_not_equal(a, b, sizeof a);
    assert_false(all_zero(a, sizeof a));
    drbg_wipe(&d);
}

/* Recomputes the construction with libsodium primitives directly. */
static void test_drbg_matches_recomputation(void **state)
{
    (void)state;
    struct drbg d;
    uint8_t seed[COND_BLOCK_BYTES], zero_key[32] = { 0 };
    uint8_t buf[64], key[32], next[32], want[100], got[100];
    crypto_hash_sha256_state st;

    seed_pattern(seed);
    memcpy(buf, zero_key, 32);
    memcpy(buf + 32, seed, 32);
    crypto_hash_sha256(key, buf, sizeof buf);

    drbg_init(&d);
    drbg_reseed(&d, seed);
    assert_memory_equal(d.key, key, sizeof key);

    for (int round = 0; round < 3; round++) {
        size_t len = (round == 1) ? 1 : sizeof want;
        assert_int_equal(crypto_stream_chacha20(want, len, zero_nonce, key), 0);
        assert_int_equal(crypto_stream_chacha20(next, sizeof next, one_nonce, key), 0);
        assert_int_equal(drbg_generate(&d, got, len), 0);
        assert_memory_equal(got, want, len);
        assert_memory_equal(d.key, next, sizeof next);
        memcpy(key, next, sizeof key);
    }

    /* Reseed chains the current key: SHA-256(key || seed2). */
    uint8_t seed2[COND_BLOCK_BYTES];
    memset(seed2, 0xa5, sizeof seed2);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, key, sizeof key);
    crypto_hash_sha256_update(&st, seed2, sizeof seed2);
    crypto_hash_sha256_final(&st, next);
    drbg_reseed(&d, seed2);
    assert_memory_equal(d.key, next, sizeof next);
    drbg_wipe(&d);
}

/* Fixed vectors from pyca/cryptography (OpenSSL ChaCha20, 64-bit counter
 * variant) + hashlib: independent of libsodium entirely. */
static void test_drbg_known_answer(void **state)
{
    (void)state;
    struct drbg d;
    uint8_t seed[COND_BLOCK_BYTES], seed2[COND_BLOCK_BYTES];
    uint8_t k[32], out1[100], out2[40], out3[32], got[100];

    seed_pattern(seed);
    memset(seed2, 0xa5, sizeof seed2);
    drbg_init(&d);

    drbg_reseed(&d, seed);
    unhex("5ca011ab5556ce91a87e0b8acfe2d6e8a3cd03abdaf8a426866b666569b5a93a",
          k, sizeof k);
    assert_memory_equal(d.key, k, sizeof k);

    unhex("bc85d01098f45f428eacab88828613b403850bbcf5f3c45ffa0c41929763df54"
          "d574a0df30c9ce0d69aef34312ac3af1163cc8370d624bb6760b62077d223afe"
          "04040848834534225ba38f124380bd1db93bac72c360455083f68fdc2d513483"
          "04d8b41d", out1, sizeof out1);
    assert_int_equal(drbg_generate(&d, got, sizeof out1), 0);
    assert_memory_equal(got, out1, sizeof out1);
    unhex("18a81100b4dbf63c674654326fe041aac1646a186a52aa08fa127656b8eaf10a",
          k, sizeof k);
    assert_memory_equal(d.key, k, sizeof k);

    unhex("e2d48775d3551cfd2ccdcbdb7c4fba25867d9a68a5dcf4b99291184a62b14478"
          "6e2e5e6858b905e3", out2, sizeof out2);
    assert_int_equal(drbg_generate(&d, got, sizeof out2), 0);
    assert_memory_equal(got, out2, sizeof out2);
    unhex("8ff8bff18c5867a2613e8fad914df9f205e4d2d525932b2ce17086b30ef63298",
          k, sizeof k);
    assert_memory_equal(d.key, k, sizeof k);

    drbg_reseed(&d, seed2);
    unhex("cc1674af9f4bc14f1f97147c2204ee628826014de3192b97f537a81c2e1d5b2c",
          k, sizeof k);
    assert_memory_equal(d.key, k, sizeof k);
    unhex("75915fe9a88b08329246779cede8d8af89db3c26a6429ececee02e0207cd45a1",
          out3, sizeof out3);
    assert_int_equal(drbg_generate(&d, got, sizeof out3), 0);
    assert_memory_equal(got, out3, sizeof out3);
    drbg_wipe(&d);
}

static void test_drbg_large_generate(void **state)
{
    (void)state;
    const size_t len = (size_t)8 << 20;
    struct drbg d;
    uint8_t seed[COND_BLOCK_BYTES], key[32];
    uint8_t *out = malloc(len), *want = malloc(len);

    assert_non_null(out);
    assert_non_null(want);
    seed_pattern(seed);
    drbg_init(&d);
    drbg_reseed(&d, seed);
    memcpy(key, d.key, sizeof key);

    assert_int_equal(drbg_generate(&d, out, len), 0);
    assert_int_equal(crypto_stream_chacha20(want, len, zero_nonce, key), 0);
    assert_memory_equal(out, want, len);   /* tail included: no short write */
    assert_int_equal(d.bytes_since_reseed, len);
    assert_int_equal(d.generated, len);
    assert_int_equal(d.requests_since_reseed, 1);

    free(out);
    free(want);
    drbg_wipe(&d);
}

static void test_drbg_reseed_due(void **state)
{
    (void)state;
    struct drbg d;
    uint8_t seed[COND_BLOCK_BYTES], out[16];

    seed_pattern(seed);
    drbg_init(&d);
    assert_true(drbg_reseed_due(&d));       /* never seeded */
    drbg_reseed(&d, seed);
    assert_false(drbg_reseed_due(&d));
    assert_int_equal(drbg_generate(&d, out, sizeof out), 0);
    assert_false(drbg_reseed_due(&d));

    d.bytes_since_reseed = DRBG_RESEED_BYTES - 1;
    assert_false(drbg_reseed_due(&d));
    assert_int_equal(drbg_generate(&d, out, 1), 0);   /* crosses the limit */
    assert_true(drbg_reseed_due(&d));

    uint64_t generated = d.generated;
    drbg_reseed(&d, seed);
    assert_false(drbg_reseed_due(&d));
    assert_int_equal(d.bytes_since_reseed, 0);
    assert_int_equal(d.requests_since_reseed, 0);
    assert_int_equal(d.generated, generated);   /* lifetime, not reset */
    assert_int_equal(d.reseeds, 2);

    d.requests_since_reseed = DRBG_RESEED_REQUESTS - 1;
    assert_false(drbg_reseed_due(&d));
    assert_int_equal(drbg_generate(&d, NULL, 0), 0);
    assert_true(drbg_reseed_due(&d));

    /* Saturating counters never wrap back to "not due". */
    drbg_reseed(&d, seed);
    d.bytes_since_reseed = UINT64_MAX - 2;
    assert_int_equal(drbg_generate(&d, out, sizeof out), 0);
    assert_true(d.bytes_since_reseed == UINT64_MAX);
    assert_true(drbg_reseed_due(&d));

    /* Generation is not refused when due; the policy is the caller's. */
    assert_int_equal(drbg_generate(&d, out, sizeof out), 0);
    drbg_wipe(&d);
}

static void test_drbg_wipe(void **state)
{
    (void)state;
    struct drbg d;
    uint8_t seed[COND_BLOCK_BYTES], out[16];

    seed_pattern(seed);
    drbg_init(&d);
    drbg_reseed(&d, seed);
    assert_int_equal(drbg_generate(&d, out, sizeof out), 0);
    assert_false(all_zero(&d, sizeof d));
    drbg_wipe(&d);
    assert_true(all_zero(&d, sizeof d));
    assert_false(d.seeded);
    assert_true(drbg_reseed_due(&d));
    assert_int_equal(drbg_generate(&d, out, sizeof out), -1);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_input_bytes_known_values),
        cmocka_unit_test(test_input_bytes_rejects_out_of_range),
        cmocka_unit_test(test_cond_range160_split),
        cmocka_unit_test(test_cond_fips180_abc),
        cmocka_unit_test(test_cond_empty),
        cmocka_unit_test(test_cond_state_wiped_after_final),
        cmocka_unit_test(test_cond_reuse_after_final),
        cmocka_unit_test(test_drbg_init_state),
        cmocka_unit_test(test_drbg_generate_unseeded_fails),
        cmocka_unit_test(test_drbg_reseed_does_not_touch_seed),
        cmocka_unit_test(test_drbg_key_changes_every_call),
        cmocka_unit_test(test_drbg_successive_outputs_differ),
        cmocka_unit_test(test_drbg_matches_recomputation),
        cmocka_unit_test(test_drbg_known_answer),
        cmocka_unit_test(test_drbg_large_generate),
        cmocka_unit_test(test_drbg_reseed_due),
        cmocka_unit_test(test_drbg_wipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
