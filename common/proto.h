/*
 * proto.h - the framed binary protocol between libpbd and preemptd.
 *
 * Bump PROTO_VERSION if anything in this file changes the bytes on the wire.
 *
 * Every frame, in both directions, starts with an 8-byte header in network
 * byte order:
 *
 *   0      1        2     3      4..7
 *   magic  version  type  flags  payload length (u32, big-endian)
 *   0xBD   1        ...   0      ...
 *
 * The magic byte is not ASCII and not 0x00-0x04, so the first byte of a
 * connection tells the binary protocol from text lines and from EGD.
 *
 * Requests have one exact payload size per type, checked before anything is
 * buffered:
 *   READ    (0x01) 12 bytes: u32 length (1..PROTO_MAX_READ for the mode),
 *                  u32 wait limit in ms (0: daemon default), u8 mode
 *                  (0 conditioned, 1 raw, 2 drbg, 3 capture), u8 flags
 *                  (bit 0: no wait; bit 1: restart the noise source first,
 *                  capture only, not with bit 0), u16 reserved (0)
 *   STATS   (0x02) 0 bytes
 *   HEALTH  (0x03) 0 bytes
 *   VERSION (0x04) 0 bytes
 *   RESEED  (0x05) 0 bytes: mix fresh OS bytes into the DRBG now and
 *                  reseed it from the source (root and the daemon's uid)
 * Replies carry the request type with bit 7 set:
 *   READ    (0x81) exactly the requested number of bytes
 *   STATS   (0x82) one JSON object, UTF-8, no NUL
 *   HEALTH  (0x83) u8 state (0 ok, 1 degraded, 2 failed), then text
 *   VERSION (0x84) u8 highest protocol version, then the daemon version
 *   RESEED  (0x85) text: what was done
 *   ERROR   (0xFF) u32 code (the positive PBD_E* value), then text
 * Requests on one connection are answered in order. After an error frame
 * for a malformed frame or a version mismatch the daemon closes the
 * connection; an error for a well-formed request (e.g. EHEALTH, EAGAIN)
 * leaves it open.
 *
 * Capture mode (3) and the restart flag came after version 1 without a
 * bump: they are additions no version-1 client sends, and a daemon that
 * predates them answers them with a fatal EINVAL (unknown mode) or EPROTO
 * (reserved flag), so a client learns it at once. RESEED came the same
 * way: a daemon that predates it answers a fatal EPROTO (unknown type). A change to bytes a
 * version-1 peer already sends or reads needs the bump.
 */
#ifndef PBD_PROTO_H
#define PBD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC 0xBDu
#define PROTO_VERSION 1u
#define PROTO_HDR_LEN 8u

enum proto_type {
    PROTO_T_READ = 0x01,
    PROTO_T_STATS = 0x02,
    PROTO_T_HEALTH = 0x03,
    PROTO_T_VERSION = 0x04,
    PROTO_T_RESEED = 0x05,
    PROTO_T_REPLY = 0x80, /* or-ed into the request type */
    PROTO_T_ERROR = 0xFF,
};

#define PROTO_READ_PAYLOAD 12u
#define PROTO_READ_NOWAIT 0x01u
#define PROTO_READ_RESTART 0x02u /* capture mode only: restart the source */

/* Largest read per request: drbg up to 1 MiB, entropy modes 64 KiB (a
 * waiting entropy request holds its buffer until it is filled). */
#define PROTO_MAX_READ_DRBG (1u << 20)
#define PROTO_MAX_READ_ENTROPY (1u << 16)
/* Largest reply payload a client accepts. */
#define PROTO_MAX_REPLY (PROTO_MAX_READ_DRBG)
/* Largest error/status text carried. */
#define PROTO_MAX_TEXT 65536u

struct proto_hdr {
    uint8_t magic, version, type, flags;
    uint32_t len;
};

struct proto_read {
    uint32_t len;
    uint32_t wait_ms;
    uint8_t mode;
    uint8_t flags;
};

/* A decoded request: type plus, for READ, its fields. */
struct proto_req {
    uint8_t type;
    struct proto_read rd;
};

void proto_put_u32(uint8_t *p, uint32_t v);
uint32_t proto_get_u32(const uint8_t *p);

/* Writes a header for type with payload length len into out. */
void proto_encode_hdr(uint8_t out[PROTO_HDR_LEN], uint8_t type, uint32_t len);

/* Decodes a header. Returns 0, PBD_EPROTO (bad magic, flags), or
 * PBD_EVERSION (good magic, other version). */
int proto_decode_hdr(const uint8_t in[PROTO_HDR_LEN], struct proto_hdr *h);

/* Encodes a complete READ request (header + payload) into out; returns its
 * length, PROTO_HDR_LEN + PROTO_READ_PAYLOAD. */
size_t proto_encode_read(uint8_t out[PROTO_HDR_LEN + PROTO_READ_PAYLOAD],
                         const struct proto_read *r);

/* Maximum read length for a mode, or 0 for an unknown mode. */
uint32_t proto_max_read(uint8_t mode);

/*
 * Server side: parses one request from the front of buf (avail bytes).
 * Returns the number of bytes consumed (> 0) with *req filled; 0 when more
 * bytes are needed (nothing consumed); or a negative PBD_E* code for a
 * malformed frame: PBD_EVERSION, PBD_EPROTO (bad magic, flags, unknown type,
 * wrong payload size for the type, reserved bits set) or PBD_ETOOBIG (read
 * length 0 or over the mode's maximum, mode unknown: PBD_EINVAL).
 * Never reads past buf + avail.
 */
long proto_parse_request(const uint8_t *buf, size_t avail,
                         struct proto_req *req);

/*
 * Client side: checks a reply header against the request it answers.
 * Returns 0 when h is that request's reply and its length is acceptable
 * (exactly expect_len when expect_len >= 0, else <= PROTO_MAX_TEXT), 1 when
 * it is an error frame of acceptable size (4..PROTO_MAX_TEXT), or
 * PBD_EPROTO.
 */
int proto_check_reply(const struct proto_hdr *h, uint8_t req_type,
                      long expect_len);

#endif
