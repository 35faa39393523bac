/* errors.c - PBD_E* names and messages, from the one table in pbd.h. */
#include "pbd.h"

const char *pbd_strerror(int code)
{
    switch (code) {
    case PBD_OK:
        return "success";
#define PBD_X_MSG(name, val, msg) \
    case PBD_##name:              \
        return msg;
        PBD_ERRNO_MAP(PBD_X_MSG)
#undef PBD_X_MSG
    default:
        return "unknown error";
    }
}

const char *pbd_errname(int code)
{
    switch (code) {
    case PBD_OK:
        return "PBD_OK";
#define PBD_X_NAME(name, val, msg) \
    case PBD_##name:               \
        return "PBD_" #name;
        PBD_ERRNO_MAP(PBD_X_NAME)
#undef PBD_X_NAME
    default:
        return "PBD_EUNKNOWN";
    }
}
