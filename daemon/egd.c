/* egd.c - see egd.h. */
#include "egd.h"

long egd_parse(const uint8_t *buf, size_t avail, struct egd_req *req)
{
    if (avail < 1)
        return 0;
    req->n = 0;
    switch (buf[0]) {
    case EGD_LEVEL:
    case EGD_PID:
        req->cmd = (enum egd_cmd)buf[0];
        return 1;
    case EGD_READ_NB:
    case EGD_READ:
        if (avail < 2)
            return 0;
        if (buf[1] == 0)
            return -1;
        req->cmd = (enum egd_cmd)buf[0];
        req->n = buf[1];
        return 2;
    case EGD_WRITE:
        if (avail < 4)
            return 0;
        if (avail < 4u + buf[3])
            return 0;
        req->cmd = EGD_WRITE;
        req->n = buf[3];
        return 4 + (long)buf[3];
    default:
        return -1;
    }
}
