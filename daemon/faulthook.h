/* faulthook.h - the fault build's stand-ins for a VM restore and a
 * suspend (faulthook.c). Loop thread; preemptd-fault only. */
#ifndef PBD_FAULTHOOK_H
#define PBD_FAULTHOOK_H

#include "server.h"

/* Installs the signal handlers (after server_start). */
void faulthook_start(struct server *srv);
/* Wipes the snapshot. */
void faulthook_free(void);

#endif
