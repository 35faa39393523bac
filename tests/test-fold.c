/* test-fold.c - xor_fold_u64 on the seed's known values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fold.h"

static void test_known_values(void **state)
{
    (void)state;
    assert_int_equal(xor_fold_u64(0), 0x00);
    assert_int_equal(xor_fold_u64(0x0101010101010101ull), 0x00);
    assert_int_equal(xor_fold_u64(0xFF), 0xFF);
    assert_int_equal(xor_fold_u64(0xBB000000000000AAull), 0x11);
    assert_int_equal(xor_fold_u64(UINT64_MAX), 0x00);
}

/* Each input bit reaches exactly one output bit: flipping bit i of the
 * input flips bit i % 8 of the output. */
static void test_every_bit_counts(void **state)
{
    (void)state;
    uint64_t v = 0x0123456789ABCDEFull;
    uint8_t base = xor_fold_u64(v);
    for (unsigned i = 0; i < 64; i++)
        assert_int_equal(xor_fold_u64(v ^ (1ull << i)) ^ base, 1u << (i % 8));
}

/* fold_delta folds the delta counted in grains; grain 0 or 1 is the
 * plain fold, so a counter without a grain keeps the old bytes. */
static void test_fold_delta(void **state)
{
    (void)state;
    for (uint64_t k = 1; k < 5000; k += 7) {
        assert_int_equal(fold_delta(21 * k, 21), xor_fold_u64(k));
        assert_int_equal(fold_delta(21 * k, 1), xor_fold_u64(21 * k));
        assert_int_equal(fold_delta(21 * k, 0), xor_fold_u64(21 * k));
    }
    /* the low bits of 21k are a function of the rest; of k they are not:
     * 256 consecutive grains give 256 different bytes */
    {
        unsigned seen[256] = { 0 }, distinct = 0;
        for (uint64_t k = 1000; k < 1256; k++)
            seen[fold_delta(21 * k, 21)] = 1;
        for (unsigned v = 0; v < 256; v++)
            distinct += seen[v];
        assert_int_equal(distinct, 256);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_every_bit_counts),
        cmocka_unit_test(test_fold_delta),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
