/*
 * egd.h - the Entropy Gathering Daemon protocol, as spoken by EGD clients
 * (OpenSSL's RAND_egd, GnuPG, ekeyd-egd-linux). Pure.
 *
 *   0x00                 entropy level -> u32 big-endian bits available
 *   0x01 n               read up to n bytes, no wait -> u8 count, bytes
 *   0x02 n               read n bytes, waiting -> n bytes
 *   0x03 b_hi b_lo n ... write n bytes crediting b bits: accepted and
 *                        discarded (preemptd takes no outside input), no reply
 *   0x04                 pid -> u8 length, decimal pid
 * n is 1..255. Output is conditioned.
 */
#ifndef PBD_EGD_H
#define PBD_EGD_H

#include <stddef.h>
#include <stdint.h>

enum egd_cmd { EGD_LEVEL = 0, EGD_READ_NB = 1, EGD_READ = 2, EGD_WRITE = 3, EGD_PID = 4 };

struct egd_req {
    enum egd_cmd cmd;
    uint8_t n; /* bytes to read (READ/READ_NB) or written (WRITE) */
};

/* Parses one command at the front of buf. Returns the bytes it spans (> 0),
 * 0 when more are needed, or -1 for an unknown command or n == 0. */
long egd_parse(const uint8_t *buf, size_t avail, struct egd_req *req);

#endif
