/* test-seedmix.c - seedmix against RFC 5869's HKDF-SHA256 vectors, and the
 * combiner's promises: every input matters, lengths are bound, limits hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "seedmix.h"

static void unhex(uint8_t *out, const char *h)
{
    for (size_t i = 0; h[2 * i]; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

/* RFC 5869 A.1: basic test case with SHA-256. */
static void rfc5869_case1(void **state)
{
    uint8_t ikm[22], salt[13], info[10], okm[42], want[42];
    memset(ikm, 0x0b, sizeof(ikm));
    unhex(salt, "000102030405060708090a0b0c");
    unhex(info, "f0f1f2f3f4f5f6f7f8f9");
    unhex(want, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                "34007208d5b887185865");
    assert_int_equal(seedmix_hkdf(okm, sizeof(okm), salt, sizeof(salt), ikm,
                                  sizeof(ikm), info, sizeof(info)), 0);
    assert_memory_equal(okm, want, sizeof(want));
}

/* RFC 5869 A.3: zero-length salt and info. */
static void rfc5869_case3(void **state)
{
    uint8_t ikm[22], okm[42], want[42];
    memset(ikm, 0x0b, sizeof(ikm));
    unhex(want, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                "9d201395faa4b61a96c8");
    assert_int_equal(seedmix_hkdf(okm, sizeof(okm), NULL, 0, ikm, sizeof(ikm),
                                  NULL, 0), 0);
    assert_memory_equal(okm, want, sizeof(want));
}

static void limits(void **state)
{
    static uint8_t out[SEEDMIX_MAX_OUT + 1];
    uint8_t os[32] = {1};
    assert_int_equal(seedmix_hkdf(out, 0, NULL, 0, os, 32, NULL, 0), -1);
    assert_int_equal(seedmix_hkdf(out, SEEDMIX_MAX_OUT + 1, NULL, 0, os, 32,
                                  NULL, 0), -1);
    assert_int_equal(seedmix_hkdf(out, SEEDMIX_MAX_OUT, NULL, 0, os, 32,
                                  NULL, 0), 0);
    uint8_t big[257] = {0};
    assert_int_equal(seedmix_combine(out, 32, big, sizeof(big), NULL, 0,
                                     NULL, 0), -1);
    assert_int_equal(seedmix_combine(out, 32, os, 32, big, sizeof(big),
                                     NULL, 0), -1);
}

/* Changing any one input changes the seed; OS-only differs from OS plus
 * an empty-looking daemon contribution. */
static void every_input_counts(void **state)
{
    uint8_t os[32], dm[32], adin[8], base[48], o[48];
    memset(os, 0x11, sizeof(os));
    memset(dm, 0x22, sizeof(dm));
    memset(adin, 0x33, sizeof(adin));
    assert_int_equal(seedmix_combine(base, 48, os, 32, dm, 32, adin, 8), 0);

    assert_int_equal(seedmix_combine(o, 48, os, 32, dm, 32, adin, 8), 0);
    assert_memory_equal(o, base, 48); /* deterministic */
    os[31] ^= 1;
    assert_int_equal(seedmix_combine(o, 48, os, 32, dm, 32, adin, 8), 0);
    assert_memory_not_equal(o, base, 48);
    os[31] ^= 1;
    dm[0] ^= 0x80;
    assert_int_equal(seedmix_combine(o, 48, os, 32, dm, 32, adin, 8), 0);
    assert_memory_not_equal(o, base, 48);
    dm[0] ^= 0x80;
    adin[7] ^= 1;
    assert_int_equal(seedmix_combine(o, 48, os, 32, dm, 32, adin, 8), 0);
    assert_memory_not_equal(o, base, 48);
    adin[7] ^= 1;
    assert_int_equal(seedmix_combine(o, 48, os, 32, NULL, 0, adin, 8), 0);
    assert_memory_not_equal(o, base, 48);

    /* os | daemon split differently is a different seed. */
    uint8_t all[64], a[32], b[32];
    memcpy(all, os, 32);
    memcpy(all + 32, dm, 32);
    assert_int_equal(seedmix_combine(a, 32, all, 48, all + 48, 16, NULL, 0), 0);
    assert_int_equal(seedmix_combine(b, 32, all, 32, all + 32, 32, NULL, 0), 0);
    assert_memory_not_equal(a, b, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc5869_case1),
        cmocka_unit_test(rfc5869_case3),
        cmocka_unit_test(limits),
        cmocka_unit_test(every_input_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
