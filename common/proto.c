/* proto.c - encode, decode and validate frames; see proto.h. Pure. */
#include "proto.h"

#include "pbd.h"

void proto_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

uint32_t proto_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void proto_encode_hdr(uint8_t out[PROTO_HDR_LEN], uint8_t type, uint32_t len)
{
    out[0] = PROTO_MAGIC;
    out[1] = PROTO_VERSION;
    out[2] = type;
    out[3] = 0;
    proto_put_u32(out + 4, len);
}

int proto_decode_hdr(const uint8_t in[PROTO_HDR_LEN], struct proto_hdr *h)
{
    h->magic = in[0];
    h->version = in[1];
    h->type = in[2];
    h->flags = in[3];
    h->len = proto_get_u32(in + 4);
    if (h->magic != PROTO_MAGIC)
        return PBD_EPROTO;
    if (h->version != PROTO_VERSION)
        return PBD_EVERSION;
    if (h->flags != 0)
        return PBD_EPROTO;
    return 0;
}

size_t proto_encode_read(uint8_t out[PROTO_HDR_LEN + PROTO_READ_PAYLOAD],
                         const struct proto_read *r)
{
    proto_encode_hdr(out, PROTO_T_READ, PROTO_READ_PAYLOAD);
    uint8_t *p = out + PROTO_HDR_LEN;
    proto_put_u32(p, r->len);
    proto_put_u32(p + 4, r->wait_ms);
    p[8] = r->mode;
    p[9] = r->flags;
    p[10] = 0;
    p[11] = 0;
    return PROTO_HDR_LEN + PROTO_READ_PAYLOAD;
}

uint32_t proto_max_read(uint8_t mode)
{
    switch (mode) {
    case PBD_MODE_CONDITIONED:
    case PBD_MODE_RAW:
    case PBD_MODE_CAPTURE:
        return PROTO_MAX_READ_ENTROPY;
    case PBD_MODE_DRBG:
        return PROTO_MAX_READ_DRBG;
    default:
        return 0;
    }
}

static uint32_t payload_size(uint8_t type)
{
    switch (type) {
    case PROTO_T_READ:
        return PROTO_READ_PAYLOAD;
    case PROTO_T_STATS:
    case PROTO_T_HEALTH:
    case PROTO_T_VERSION:
    case PROTO_T_RESEED:
        return 0;
    default:
        return UINT32_MAX; /* unknown */
    }
}

long proto_parse_request(const uint8_t *buf, size_t avail,
                         struct proto_req *req)
{
    struct proto_hdr h;
    /* The magic can be judged from one byte: fail fast on garbage. */
    if (avail >= 1 && buf[0] != PROTO_MAGIC)
        return PBD_EPROTO;
    if (avail >= 2 && buf[1] != PROTO_VERSION)
        return PBD_EVERSION;
    if (avail < PROTO_HDR_LEN)
        return 0;
    int rc = proto_decode_hdr(buf, &h);
    if (rc != 0)
        return rc;
    uint32_t want = payload_size(h.type);
    /* Bound the length before waiting for (or buffering) any payload. */
    if (want == UINT32_MAX || h.len != want)
        return PBD_EPROTO;
    if (avail - PROTO_HDR_LEN < h.len)
        return 0;
    req->type = h.type;
    if (h.type == PROTO_T_READ) {
        const uint8_t *p = buf + PROTO_HDR_LEN;
        req->rd.len = proto_get_u32(p);
        req->rd.wait_ms = proto_get_u32(p + 4);
        req->rd.mode = p[8];
        req->rd.flags = p[9];
        if (p[10] || p[11] ||
            (req->rd.flags & ~(PROTO_READ_NOWAIT | PROTO_READ_RESTART)))
            return PBD_EPROTO;
        /* Capture reads wait for the samples that follow; restart is
         * for capture reads. */
        if ((req->rd.flags & PROTO_READ_RESTART && req->rd.mode != PBD_MODE_CAPTURE) ||
            (req->rd.mode == PBD_MODE_CAPTURE && req->rd.flags & PROTO_READ_NOWAIT))
            return PBD_EINVAL;
        uint32_t max = proto_max_read(req->rd.mode);
        if (max == 0)
            return PBD_EINVAL;
        if (req->rd.len == 0 || req->rd.len > max)
            return PBD_ETOOBIG;
    }
    return (long)(PROTO_HDR_LEN + h.len);
}

int proto_check_reply(const struct proto_hdr *h, uint8_t req_type,
                      long expect_len)
{
    if (h->type == PROTO_T_ERROR)
        return (h->len >= 4 && h->len <= PROTO_MAX_TEXT) ? 1 : PBD_EPROTO;
    if (h->type != (req_type | PROTO_T_REPLY))
        return PBD_EPROTO;
    if (expect_len >= 0)
        return h->len == (uint32_t)expect_len ? 0 : PBD_EPROTO;
    return h->len <= PROTO_MAX_TEXT ? 0 : PBD_EPROTO;
}
