/* Gearman framing of one TCP direction's bytes: stream.py for streams that need none of its
 * repair work, including its resynchronisation when a capture starts mid-connection. */
#include "_fastdecode.h"

#define MAX_PAYLOAD (64u * 1024 * 1024) /* the protocol core's Decoder limits */
#define MAX_LINE 8192
#define RESYNC_MAX_PAYLOAD (16u * 1024 * 1024) /* stream.py's resynchronisation limits */
#define RESYNC_WINDOW (64u * 1024)

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

int stream_feed(Run *r, Half *h, const uint8_t *data, size_t len, long frame, double ts)
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
int stream_end(Run *r, Half *h, long frame, double ts)
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
