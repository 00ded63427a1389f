/* TCP directions, the in-order check and Gearman framing: dissect.py, reassembly.py and
 * stream.py for streams that need none of their repair work. */
#include "_fastdecode.h"

#define MAX_PAYLOAD (64u * 1024 * 1024) /* the protocol core's Decoder limits */
#define MAX_LINE 8192
#define RESYNC_MAX_PAYLOAD (16u * 1024 * 1024) /* stream.py's resynchronisation limits */
#define RESYNC_WINDOW (64u * 1024)
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

/* ---- one direction's bytes: Gearman framing ------------------------------------------ */

/* Frame every whole packet in data[0:len], as the protocol core's Decoder cuts them; *used =
 * bytes consumed. */
static int frame_packets(Run *r, Half *h, const uint8_t *data, size_t len, long frame,
                         double ts, size_t *used)
{
    size_t pos = 0;
    int rc;
    while (pos < len) {
        if (data[pos] != 0) { /* an admin text line */
            size_t room = len - pos < MAX_LINE + 1 ? len - pos : MAX_LINE + 1;
            const uint8_t *nl = memchr(data + pos, '\n', room);
            if (!nl) {
                if (len - pos > MAX_LINE)
                    return BAIL; /* too long: a bad packet */
                break;
            }
            size_t end = (size_t)(nl - data);
            size_t stop = end > pos && data[end - 1] == '\r' ? end - 1 : end;
            for (size_t i = pos; i < stop; i++)
                if ((data[i] < 0x20 && data[i] != '\t' && data[i] != '\r') || data[i] == 0x7f)
                    return BAIL; /* binary garbage, not text: Python resynchronises */
            if (r->emit && (rc = emit_admin(r, h, frame, ts, data + pos, stop - pos)) != OK)
                return rc;
            pos = end + 1;
            continue;
        }
        if (len - pos < 12)
            break;
        const uint8_t *p = data + pos;
        int req = memcmp(p, "\0REQ", 4) == 0;
        if (!req && memcmp(p, "\0RES", 4) != 0)
            return BAIL;
        uint32_t type = be32(p + 4), size = be32(p + 8);
        if (type < 1 || type > MAX_TYPES || !r->t->types[type].known || size > MAX_PAYLOAD)
            return BAIL;
        if (len - pos - 12 < size)
            break;
        if ((rc = emit_frame(r, h, frame, ts, req, (int)type, p + 12, size)) != OK)
            return rc;
        pos += 12 + (size_t)size;
    }
    *used = pos;
    return OK;
}

/* stream._CANDIDATE_LINE at p: a printable line starting like a command or a reply. */
static int candidate_line(const uint8_t *b, size_t p, size_t n)
{
    uint8_t c = b[p];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.'))
        return 0;
    size_t k = 0;
    while (p + 1 + k < n && k <= MAX_LINE - 2) {
        c = b[p + 1 + k];
        if (c == '\n')
            return 1;
        if (!(c == '\t' || c == '\r' || (c >= 0x20 && c <= 0x7e)))
            return 0;
        k++;
    }
    return 0; /* no newline yet, or a line too long */
}

static long find_byte(const uint8_t *b, size_t from, size_t to, uint8_t c)
{
    const uint8_t *x = from < to ? memchr(b + from, c, to - from) : NULL;
    return x ? (long)(x - b) : -1;
}

/* stream._find_sync: the first offset where a packet surely starts, or -1. */
static long find_sync(const uint8_t *b, size_t n, int line_start)
{
    long best = -1;
    for (size_t i = 0; i + 3 <= n; i++) {
        const uint8_t *x = memchr(b + i, 0, n - i);
        if (!x)
            break;
        i = (size_t)(x - b);
        if (n - i < 3 || x[1] != 'R' || x[2] != 'E')
            continue;
        if (n - i < 12)
            break; /* it may be a header still arriving */
        uint32_t type = be32(x + 4);
        if ((x[3] == 'Q' || x[3] == 'S') && type >= 1 && type <= MAX_TYPES
            && be32(x + 8) <= RESYNC_MAX_PAYLOAD) {
            best = (long)i;
            break;
        }
    }
    size_t limit = best >= 0 ? (size_t)best : n;
    long p = 0;
    if (!line_start) {
        long nl = find_byte(b, 0, limit, '\n');
        p = nl >= 0 ? nl + 1 : -1;
    }
    while (p >= 0 && (size_t)p < limit) {
        if (candidate_line(b, (size_t)p, n))
            return p;
        long nl = find_byte(b, (size_t)p, limit, '\n');
        if (nl < 0)
            break;
        p = nl + 1;
    }
    return best;
}

/* Frame what ``pending`` holds from its start, keeping what is left of an unfinished packet. */
static int frame_pending(Run *r, Half *h, long frame, double ts)
{
    size_t used = 0;
    int rc = frame_packets(r, h, (const uint8_t *)h->pending.p, h->pending.len, frame, ts, &used);
    if (rc == OK && used) {
        memmove(h->pending.p, h->pending.p + used, h->pending.len - used);
        h->pending.len -= used;
    }
    return rc;
}

/* stream.GearmanStream._resync: search what was gathered for a packet start. */
static int resync(Run *r, Half *h, long frame, double ts)
{
    Bytes *b = &h->pending;
    long pos = find_sync((const uint8_t *)b->p, b->len, h->line_start);
    if (pos < 0) {
        if (b->len > RESYNC_WINDOW) { /* keep a tail that could begin a header or a line */
            size_t drop = b->len - 12;
            h->line_start = b->p[drop - 1] == '\n';
            h->skipped += drop;
            memmove(b->p, b->p + drop, b->len - drop);
            b->len -= drop;
        }
        return OK;
    }
    h->skipped += (uint64_t)pos;
    int rc = h->skipped ? emit_anomaly(r, h, frame, ts, SKIPPED_TO_SYNC, h->skipped, NULL) : OK;
    if (rc != OK)
        return rc;
    memmove(b->p, b->p + pos, b->len - (size_t)pos);
    b->len -= (size_t)pos;
    h->scan = 0, h->skipped = 0;
    return frame_pending(r, h, frame, ts);
}

static int feed(Run *r, Half *h, const uint8_t *data, size_t len, long frame, double ts)
{
    int rc;
    if (h->pending.len == 0 && !h->scan) { /* the usual case: parse straight from the capture */
        size_t used = 0;
        rc = frame_packets(r, h, data, len, frame, ts, &used);
        if (rc == OK && used < len)
            rc = bytes_put(&h->pending, (const char *)data + used, len - used);
        return rc;
    }
    if ((rc = bytes_put(&h->pending, (const char *)data, len)) != OK)
        return rc;
    return h->scan ? resync(r, h, frame, ts) : frame_pending(r, h, frame, ts);
}

/* stream.GearmanStream.close: what a direction leaves unfinished when it ends. */
static int end_stream(Run *r, Half *h, long frame, double ts)
{
    int rc = OK;
    if (h->scan) {
        uint64_t left = h->skipped + h->pending.len;
        if (left)
            rc = emit_anomaly(r, h, frame, ts, NEVER_SYNCED, left, NULL);
        h->skipped = 0; /* and it goes on scanning, as Python's does */
    } else if (h->pending.len) {
        rc = emit_anomaly(r, h, frame, ts, ENDS_INSIDE, 0, &h->pending);
    }
    h->pending.len = 0;
    return rc;
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
        int rc = x->has_data ? end_stream(r, x, r->frames, r->last_ts) : OK;
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
            if ((rc = feed(r, h, payload, plen, frame, ts)) != OK)
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
        int rc = end_stream(r, h, r->frames, r->last_ts);
        if (rc != OK)
            return rc;
    }
    return OK;
}
