/* socketpath.c - the one place daemon and library agree on the socket. */
#include <stdlib.h>

#include "pbd.h"

const char *pbd_default_socket(void)
{
    const char *env = getenv(PBD_SOCKET_ENV);
    return env && *env ? env : PBD_DEFAULT_SOCKET;
}
