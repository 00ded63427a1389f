/* TCP directions and the in-order check: dissect.py and reassembly.py for streams that need
 * none of their repair work. Each direction's bytes go to _fastframe.c. */
#include "_fastdecode.h"

#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define ACK 0x10

/* ---- the table of directions, keyed by (source, destination) -------------------------- */

static int same(const Endpoint *a, const Endpoint *b)
{
    return a->port == b->port && a->alen == b->alen && memcmp(a->addr, b->addr, a->alen) == 0;
}

static uint64_t mix(uint64_t h, const Endpoint *e)
{
    for (int i = 0; i < e->alen; i += 4)
        h = (h ^ be32(e->addr + i)) * 0x9E3779B97F4A7C15ull;
    return (h ^ e->port ^ (uint64_t)e->alen << 16) * 0xC2B2AE3D27D4EB4Full;
}

static size_t slot_of(const Run *r, const Endpoint *src, const Endpoint *dst)
{
    uint64_t h = mix(mix(0x165667B19E3779F9ull, src), dst);
    size_t i = (size_t)(h >> 29) & (r->nslots - 1);
    for (;;) {
        uint32_t k = r->slots[i];
        if (k == 0 || (same(&r->halves[k - 1].src, src) && same(&r->halves[k - 1].dst, dst)))
            return i;
        i = (i + 1) & (r->nslots - 1);
    }
}

static Half *lookup(Run *r, const Endpoint *src, const Endpoint *dst)
{
    uint32_t k = r->slots[slot_of(r, src, dst)];
    return k ? &r->halves[k - 1] : NULL;
}

/* A new direction; returns its index, or -1 when out of memory. */
static long add_half(Run *r, const Endpoint *src, const Endpoint *dst)
{
    if ((r->nhalves + 1) * 2 > r->nslots) { /* keep the table at most half full */
        size_t n = r->nslots * 2;
        uint32_t *s = calloc(n, sizeof *s);
        if (!s)
            return -1;
        free(r->slots);
        r->slots = s, r->nslots = n;
        for (size_t i = 0; i < r->nhalves; i++)
            r->slots[slot_of(r, &r->halves[i].src, &r->halves[i].dst)] = (uint32_t)i + 1;
    }
    if (r->nhalves == r->halves_cap) {
        size_t n = r->halves_cap ? r->halves_cap * 2 : 64;
        Half *h = realloc(r->halves, n * sizeof *h);
        if (!h)
            return -1;
        r->halves = h, r->halves_cap = n;
    }
    Half *h = &r->halves[r->nhalves];
    memset(h, 0, sizeof *h);
    h->src = *src, h->dst = *dst, h->peer = -1;
    r->slots[slot_of(r, src, dst)] = (uint32_t)r->nhalves + 1;
    return (long)r->nhalves++;
}

void streams_reset(Run *r)
{
    for (size_t i = 0; i < r->nhalves; i++)
        free(r->halves[i].pending.p);
    free(r->halves);
    free(r->streams);
    r->halves = NULL, r->nhalves = r->halves_cap = 0;
    r->streams = NULL, r->nstreams = r->streams_cap = 0;
    memset(r->slots, 0, r->nslots * sizeof *r->slots);
    r->start = 0;
}

/* ---- TCP: streams, directions, the in-order check ------------------------------------- */

static int client_to_server(const Run *r, uint16_t sport, uint16_t dport, int flags)
{
    if (is_port(r, dport) != is_port(r, sport))
        return is_port(r, dport);
    if (flags & SYN)
        return !(flags & ACK);
    return dport <= sport;
}

static void syn(Half *h, uint32_t seq)
{
    if (!h->has_seq)
        h->has_seq = 1, h->next_seq = seq + 1;
}

/* The direction a segment belongs to, opening it (and its stream) if new. */
static int open_half(Run *r, Half **out, const Endpoint *src, const Endpoint *dst, int flags,
                     uint32_t seq, long frame, double ts)
{
    Half *h = *out;
    if (h) { /* a SYN on a known direction */
        if (!h->has_data) {
            syn(h, seq);
            return OK;
        }
        if (h->next_seq - (seq + 1) < (1u << 30))
            return OK; /* a late or repeated SYN of this connection */
        return BAIL;   /* a reused 4-tuple: a new connection */
    }
    Half *peer = lookup(r, dst, src);
    long peer_i = peer ? (long)(peer - r->halves) : -1;
    long i = add_half(r, src, dst);
    if (i < 0)
        return NOMEM;
    h = &r->halves[i];
    if (peer_i >= 0) {
        peer = &r->halves[peer_i];
        h->stream = peer->stream, h->to_server = !peer->to_server;
        h->peer = (int)peer_i, peer->peer = (int)i;
    } else {
        if (r->nstreams == r->streams_cap) {
            size_t n = r->streams_cap ? r->streams_cap * 2 : 64;
            Stream *s = realloc(r->streams, n * sizeof *s);
            if (!s)
                return NOMEM;
            r->streams = s, r->streams_cap = n;
        }
        int up = client_to_server(r, src->port, dst->port, flags);
        Stream *s = &r->streams[r->nstreams];
        memset(s, 0, sizeof *s);
        s->client = up ? *src : *dst, s->server = up ? *dst : *src;
        s->first_frame = frame;
        if (r->nstreams == 0)
            r->start = ts; /* the relative clock starts at the first stream */
        h->stream = (int)r->nstreams++, h->to_server = up;
    }
    if (flags & SYN)
        syn(h, seq);
    *out = h;
    return OK;
}

/* FIN or RST: close one direction (both on RST) and report what it left unfinished. */
static int close_half(Run *r, Half *h, int rst, int fin, uint32_t fin_seq)
{
    Half *both[2] = {h, rst && h->peer >= 0 ? &r->halves[h->peer] : NULL};
    for (int k = 0; k < 2; k++) {
        Half *x = both[k];
        if (!x || x->closed)
            continue;
        x->closed = 1;
        if (fin && x == h && x->has_seq && fin_seq != x->next_seq
            && fin_seq - x->next_seq < (1u << 30))
            return BAIL; /* bytes before the FIN are missing */
        int rc = x->has_data ? stream_end(r, x, r->frames, r->last_ts) : OK;
        if (rc != OK)
            return rc;
    }
    return OK;
}

int segment(Run *r, const Endpoint *src, const Endpoint *dst, uint32_t seq, int flags,
            const uint8_t *payload, size_t plen, long frame, double ts)
{
    Half *h = lookup(r, src, dst);
    int rc;
    if ((!h || flags & SYN) && (rc = open_half(r, &h, src, dst, flags, seq, frame, ts)) != OK)
        return rc;
    if (plen) {
        if (h->closed)
            return BAIL; /* data after its FIN or RST: left to Python */
        if (!h->has_data) {
            if (!h->has_seq) { /* the capture starts mid-connection: find a packet start */
                h->has_seq = 1, h->next_seq = seq;
                h->scan = 1, h->line_start = 1, h->skipped = 0;
                r->streams[h->stream].midstream = 1;
            }
            h->has_data = 1;
        }
        if (h->next_seq == seq) {
            h->next_seq = seq + (uint32_t)plen;
            if ((rc = stream_feed(r, h, payload, plen, frame, ts)) != OK)
                return rc;
        } else if ((int64_t)(int32_t)(seq - h->next_seq) + (int64_t)plen > 0) {
            return BAIL; /* out of order or overlapping: the Python reassembler's job */
        } /* else: a retransmission of bytes already seen, ignored as Python does */
    }
    if (flags & (FIN | RST))
        return close_half(r, h, flags & RST, flags & FIN, seq + (uint32_t)plen);
    return OK;
}

/* End of the capture: every direction still open reports what it left unfinished, in the
 * order the directions were first seen (dissect.Dissector.finish). */
int check_end(Run *r)
{
    if (!r->nstreams)
        return BAIL; /* no Gearman: Python says so, with --port hints */
    for (size_t i = 0; i < r->nhalves; i++) {
        Half *h = &r->halves[i];
        if (h->closed || !h->has_data)
            continue;
        h->closed = 1;
        int rc = stream_end(r, h, r->frames, r->last_ts);
        if (rc != OK)
            return rc;
    }
    return OK;
}
