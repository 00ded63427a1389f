/* The decoder's compiled fast path, shared declarations.
 *
 * The Python decoder (pcap.py, net.py, reassembly.py, stream.py, dissect.py, output.py) is the
 * reference. The fast path reproduces its plain text and JSON output byte for byte for ordinary
 * captures: segments in order, binary packets and clean admin lines. Streams may start
 * mid-connection (it searches for a packet start as stream.py does) and end inside a packet (it
 * reports that as stream.py does). Anything else (gaps, out-of-order or overlapping segments,
 * garbage or a bad packet inside a stream, VLAN tags, a cut or damaged file) makes it BAIL:
 * decode() returns None before printing anything and the caller runs the Python decoder, which
 * describes those cases in full. Every line that is not a packet (stream headers, admin lines,
 * anomalies) is made in Python, through the view object fast.py passes.
 *
 *   _fastcapture.c  pcap and pcapng records, link and IP headers
 *   _faststream.c   TCP directions, the in-order check, Gearman framing
 *   _fastformat.c   the output lines
 *   _fastdecode.c   the Python module
 */
#ifndef GEARTOOL_FASTDECODE_H
#define GEARTOOL_FASTDECODE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* BAIL: leave this capture to the Python decoder; PYERR: a Python exception is set. */
enum { OK = 0, BAIL = 1, NOMEM = 2, PYERR = 3 };
/* The anomalies the fast path reports, by the numbers fast.py's Hooks.anomaly reads. */
enum { SKIPPED_TO_SYNC = 0, NEVER_SYNCED = 1, ENDS_INSIDE = 2 };
#define MAX_TYPES 42
#define MAX_ARGS 8
#define FLUSH_AT (1u << 20) /* output goes to the write callback in chunks of about this */

typedef struct {
    char *p;
    size_t len, cap;
} Bytes;

typedef struct {
    const char *p;
    size_t n;
} Str;

/* What output.Renderer prints for one packet type, taken from it so that names, colours and
 * JSON keys exist in one place only. */
typedef struct {
    int known, nargs, data_at;
    Str name;            /* text: the (possibly coloured) packet name */
    Str label[MAX_ARGS]; /* text: " function=" ...; JSON: ',"gearman.func.name":' ... */
    Str head[2];         /* JSON: the magic/type/name fields, for RES and REQ */
} TypeFmt;

typedef struct {
    int json;
    long limit; /* preview length of arguments in the text view; -1 = whole (--full) */
    TypeFmt types[MAX_TYPES + 1];
} Tables;

/* An IPv4 (alen 4) or IPv6 (alen 16) address and a port. */
typedef struct {
    uint8_t addr[16];
    uint8_t alen;
    uint16_t port;
} Endpoint;

typedef struct {
    Endpoint src, dst;
    int stream, to_server, peer; /* peer: index of the other direction, or -1 */
    int has_seq, has_data, closed;
    uint32_t next_seq;
    Bytes pending;   /* the start of a packet whose end is still to come; or, while scanning,
                        the bytes searched for one */
    int scan;        /* looking for a packet start (a capture that began mid-connection) */
    int line_start;  /* while scanning: pending starts at the start of a line */
    uint64_t skipped;
    char where[200]; /* this direction's fixed part of each line, made on first use */
    size_t where_len;
} Half;

typedef struct {
    Endpoint client, server;
    long first_frame;
    int announced, midstream;
    char names[2][64]; /* client and server as net.format_addr writes them, on first use */
} Stream;

typedef struct {
    const Tables *t;
    uint8_t ports[65536 / 8];
    Half *halves;
    size_t nhalves, halves_cap;
    uint32_t *slots; /* open addressing: half index + 1, 0 = empty */
    size_t nslots;
    Stream *streams;
    size_t nstreams, streams_cap;
    double start;
    Bytes out;
    PyObject *view;   /* fast._View: the lines made in Python, and write() for the output */
    int emit;         /* 0 on the first pass, which only checks the capture is ours */
    long frames;      /* frames read so far, and the last one's time: where the end of the */
    double last_ts;   /* capture reports what the streams left unfinished */
} Run;

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static inline uint16_t le16(const uint8_t *p) { return (uint16_t)(p[1] << 8 | p[0]); }
static inline int is_port(const Run *r, uint16_t p) { return r->ports[p >> 3] >> (p & 7) & 1; }

int bytes_grow(Bytes *b, size_t more);
static inline int bytes_put(Bytes *b, const char *s, size_t n)
{
    if (b->cap - b->len < n && bytes_grow(b, n) != OK)
        return NOMEM;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return OK;
}

/* _fastcapture.c: every record of a pcap or pcapng file through the layers below. */
int read_capture(Run *r, const uint8_t *d, size_t n);

/* _fastframe.c: a direction's next bytes in order, and its end (what it left unfinished). */
int stream_feed(Run *r, Half *h, const uint8_t *data, size_t len, long frame, double ts);
int stream_end(Run *r, Half *h, long frame, double ts);

/* _faststream.c */
int segment(Run *r, const Endpoint *src, const Endpoint *dst, uint32_t seq, int flags,
            const uint8_t *payload, size_t plen, long frame, double ts);
int check_end(Run *r);
void streams_reset(Run *r);

/* Copy n bytes to w; returns the end of what was written. */
static inline char *put(char *w, const char *s, size_t n)
{
    memcpy(w, s, n);
    return w + n;
}

/* _fastescape.c: write one argument quoted (at most ``limit`` bytes, -1: all) or as a JSON
 * string at w; return the end. w needs room for 6 bytes per input byte (a "\u00xx" escape at
 * most) plus the quotes and a "...". */
char *escape_preview(char *w, const uint8_t *p, size_t n, long limit);
char *escape_json(char *w, const uint8_t *p, size_t n);

/* _fastformat.c: one line per binary packet or admin line, after the stream's header line
 * when it is the stream's first; flush() hands the output so far to the write callback. */
int emit_frame(Run *r, Half *h, long frame, double ts, int req, int type, const uint8_t *payload,
               uint32_t size);
int emit_admin(Run *r, Half *h, long frame, double ts, const uint8_t *line, size_t len);
/* An anomaly of one of the kinds above: ``bytes`` for ENDS_INSIDE, else ``count``. */
int emit_anomaly(Run *r, Half *h, long frame, double ts, int kind, uint64_t count,
                 const Bytes *bytes);
int flush(Run *r);

#endif
