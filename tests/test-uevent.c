/* test-uevent.c - which kernel uevents count as a VM generation ID change
 * (osdep_uevent_vmgenid, Linux; issue 25). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "osdep.h"

#define MSG(s) s, sizeof(s) - 1 /* keeps the embedded NULs */

static void test_vmgenid_change(void **state)
{
    (void)state;
    /* As drivers/virt/vmgenid.c sends it: KOBJ_CHANGE, NEW_VMGENID=1. */
    assert_true(osdep_uevent_vmgenid(MSG(
        "change@/devices/platform/QEMUVGID:00\0ACTION=change\0"
        "DEVPATH=/devices/platform/QEMUVGID:00\0SUBSYSTEM=platform\0"
        "NEW_VMGENID=1\0DRIVER=vmgenid\0SEQNUM=1234")));
    /* The last pair need not end in a NUL. */
    assert_true(osdep_uevent_vmgenid(MSG("change@/x\0NEW_VMGENID=1")));
}

static void test_others_ignored(void **state)
{
    (void)state;
    assert_false(osdep_uevent_vmgenid(MSG(
        "change@/devices/virtual/net/eth0\0ACTION=change\0SEQNUM=5")));
    assert_false(osdep_uevent_vmgenid(MSG("add@/x\0NEW_VMGENID=1")));
    assert_false(osdep_uevent_vmgenid(MSG("change@/x\0NEW_VMGENID=10")));
    assert_false(osdep_uevent_vmgenid(MSG("change@/x\0XNEW_VMGENID=1")));
    assert_false(osdep_uevent_vmgenid(MSG("change@/x\0NEW_VMGENID=")));
    /* udev's re-broadcasts start with "libudev": not the kernel's form. */
    assert_false(osdep_uevent_vmgenid(MSG("libudev\0NEW_VMGENID=1")));
    assert_false(osdep_uevent_vmgenid(MSG("chang")));
    assert_false(osdep_uevent_vmgenid("", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vmgenid_change),
        cmocka_unit_test(test_others_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
