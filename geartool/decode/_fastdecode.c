/* The compiled fast path of `geartool decode`, for its plain text and JSON views.
 *
 * The Python decoder (pcap.py, net.py, reassembly.py, stream.py, dissect.py, output.py) is the
 * reference; this file reproduces its output byte for byte for the common case only: a classic
 * pcap whose Gearman streams run over IPv4 TCP in order, binary packets only, nothing missing.
 * Whenever the capture holds anything else (admin text, gaps, out-of-order or overlapping
 * segments, a stream that starts mid-connection, IPv6, VLAN tags, a damaged file, a packet
 * left half-sent), decode() returns None before printing anything and the caller runs the
 * Python decoder, which reports those cases in full. So this file never has to describe a
 * problem, only to recognise one. Tests compare both paths on every fixture and on fuzzed
 * captures.
 */
#include "_fastdecode.h"

#define MAX_RECORD (16u * 1024 * 1024)
#define MAX_PAYLOAD (64u * 1024 * 1024) /* the protocol core's Decoder limits */
#define MAX_LINE 8192
#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define ACK 0x10

static inline uint32_t seq_after(uint32_t a, uint32_t b) { return a - b; }
static inline int32_t seq_diff(uint32_t a, uint32_t b) { return (int32_t)(a - b); }
static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static inline int is_port(const Run *r, uint16_t p) { return r->ports[p >> 3] >> (p & 7) & 1; }

static size_t slot_of(const Run *r, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
    uint64_t h = ((uint64_t)src * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)dst * 0xC2B2AE3D27D4EB4Full)
                 ^ ((uint64_t)sport << 16 | dport) * 0x165667B19E3779F9ull;
    size_t i = (size_t)(h >> 17) & (r->nslots - 1);
    for (;;) {
        uint32_t k = r->slots[i];
        if (k == 0)
            return i;
        const Half *x = &r->halves[k - 1];
        if (x->src == src && x->dst == dst && x->sport == sport && x->dport == dport)
            return i;
        i = (i + 1) & (r->nslots - 1);
    }
}

static Half *lookup(Run *r, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
    uint32_t k = r->slots[slot_of(r, src, sport, dst, dport)];
    return k ? &r->halves[k - 1] : NULL;
}

/* A new direction; returns its index, or -1 when out of memory. */
static long add_half(Run *r, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
    if ((r->nhalves + 1) * 2 > r->nslots) { /* keep the table at most half full */
        size_t n = r->nslots * 2;
        uint32_t *s = calloc(n, sizeof *s);
        if (!s)
            return -1;
        free(r->slots);
        r->slots = s;
        r->nslots = n;
        for (size_t i = 0; i < r->nhalves; i++) {
            Half *h = &r->halves[i];
            r->slots[slot_of(r, h->src, h->sport, h->dst, h->dport)] = (uint32_t)i + 1;
        }
    }
    if (r->nhalves == r->halves_cap) {
        size_t n = r->halves_cap ? r->halves_cap * 2 : 64;
        Half *h = realloc(r->halves, n * sizeof *h);
        if (!h)
            return -1;
        r->halves = h;
        r->halves_cap = n;
    }
    Half *h = &r->halves[r->nhalves];
    memset(h, 0, sizeof *h);
    h->src = src, h->dst = dst, h->sport = sport, h->dport = dport, h->peer = -1;
    r->slots[slot_of(r, src, sport, dst, dport)] = (uint32_t)r->nhalves + 1;
    return (long)r->nhalves++;
}

/* ---- one direction's bytes: Gearman framing ------------------------------------------ */

/* Frame every whole packet in data[0:len]; *used = bytes consumed. */
static int frame_packets(Run *r, Half *h, const uint8_t *data, size_t len, long frame,
                         double ts, size_t *used)
{
    size_t pos = 0;
    while (pos < len) {
        if (data[pos] != 0) { /* an admin text line, as the protocol core's Decoder cuts it */
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
            int rc = r->emit ? emit_admin(r, h, frame, ts, data + pos, stop - pos) : OK;
            if (rc != OK)
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
        int rc = emit_frame(r, h, frame, ts, req, (int)type, p + 12, size);
        if (rc != OK)
            return rc;
        pos += 12 + (size_t)size;
    }
    *used = pos;
    return OK;
}

static int feed(Run *r, Half *h, const uint8_t *data, size_t len, long frame, double ts)
{
    size_t used = 0;
    int rc;
    if (h->pending.len == 0) { /* the usual case: parse straight from the capture */
        rc = frame_packets(r, h, data, len, frame, ts, &used);
        if (rc == OK && used < len)
            rc = bytes_put(&h->pending, (const char *)data + used, len - used);
        return rc;
    }
    if ((rc = bytes_put(&h->pending, (const char *)data, len)) != OK)
        return rc;
    rc = frame_packets(r, h, (const uint8_t *)h->pending.p, h->pending.len, frame, ts, &used);
    if (rc == OK && used) {
        memmove(h->pending.p, h->pending.p + used, h->pending.len - used);
        h->pending.len -= used;
    }
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
static int open_half(Run *r, Half **out, uint32_t src, uint16_t sport, uint32_t dst,
                     uint16_t dport, int flags, uint32_t seq, long frame, double ts)
{
    Half *h = *out;
    if (h) { /* a SYN on a known direction */
        if (!h->has_data) {
            syn(h, seq);
            return OK;
        }
        uint32_t d = seq_after(h->next_seq, seq + 1);
        if (d < (1u << 30))
            return OK; /* a late or repeated SYN of this connection */
        return BAIL;   /* a reused 4-tuple: a new connection */
    }
    Half *peer = lookup(r, dst, dport, src, sport);
    long peer_i = peer ? (long)(peer - r->halves) : -1;
    long i = add_half(r, src, sport, dst, dport);
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
        int up = client_to_server(r, sport, dport, flags);
        Stream *s = &r->streams[r->nstreams];
        s->client = up ? src : dst, s->server = up ? dst : src;
        s->cport = up ? sport : dport, s->sport = up ? dport : sport;
        s->first_frame = frame, s->announced = 0;
        if (r->nstreams == 0)
            r->start = ts; /* the relative clock starts at the first stream */
        h->stream = (int)r->nstreams++, h->to_server = up;
    }
    if (flags & SYN)
        syn(h, seq);
    *out = h;
    return OK;
}

/* FIN or RST: what the Python decoder would report here is always an anomaly, so bail. */
static int close_half(Run *r, Half *h, int rst, int fin, uint32_t fin_seq)
{
    Half *both[2] = {h, rst && h->peer >= 0 ? &r->halves[h->peer] : NULL};
    for (int k = 0; k < 2; k++) {
        Half *x = both[k];
        if (!x || x->closed)
            continue;
        x->closed = 1;
        if (fin && x == h && x->has_seq) {
            uint32_t d = seq_after(fin_seq, x->next_seq);
            if (d > 0 && d < (1u << 30))
                return BAIL; /* bytes before the FIN are missing */
        }
        if (x->has_data && x->pending.len)
            return BAIL; /* the stream ends inside a packet */
    }
    return OK;
}

static int segment(Run *r, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                   uint32_t seq, int flags, const uint8_t *payload, size_t plen, long frame,
                   double ts)
{
    Half *h = lookup(r, src, sport, dst, dport);
    int rc;
    if (!h || flags & SYN)
        if ((rc = open_half(r, &h, src, sport, dst, dport, flags, seq, frame, ts)) != OK)
            return rc;
    if (plen) {
        if (!h->has_data) {
            if (!h->has_seq)
                return BAIL; /* the capture starts mid-connection */
            h->has_data = 1;
        }
        if (h->next_seq == seq) {
            h->next_seq = seq + (uint32_t)plen;
            if ((rc = feed(r, h, payload, plen, frame, ts)) != OK)
                return rc;
        } else if ((int64_t)seq_diff(seq, h->next_seq) + (int64_t)plen > 0) {
            return BAIL; /* out of order or overlapping: the Python reassembler's job */
        } /* else: a retransmission of bytes already seen, ignored as Python does */
    }
    if (flags & (FIN | RST))
        return close_half(r, h, flags & RST, flags & FIN, seq + (uint32_t)plen);
    return OK;
}

/* ---- link and IP layers: pcap.py's record loop and net.py's header parsing --------------- */

/* Where IP starts in a frame: an offset, SKIP for a frame the Python decoder also ignores. */
#define SKIP (-1)
static long ip_offset(uint32_t linktype, const uint8_t *d, size_t n)
{
    switch (linktype) {
    case 1: { /* Ethernet */
        if (n < 14)
            return SKIP;
        uint16_t etype = be16(d + 12);
        if (etype == 0x8100 || etype == 0x88A8)
            return -2; /* VLAN tags: left to Python */
        return etype == 0x0800 || etype == 0x86DD ? 14 : SKIP;
    }
    case 113: /* Linux cooked v1 */
        return n >= 16 && (be16(d + 14) == 0x0800 || be16(d + 14) == 0x86DD) ? 16 : SKIP;
    case 276: /* Linux cooked v2 */
        return n >= 20 && (be16(d) == 0x0800 || be16(d) == 0x86DD) ? 20 : SKIP;
    case 0:
    case 108: { /* BSD loopback */
        if (n < 4)
            return SKIP;
        uint32_t fam = le32(d);
        if (fam > 0xFFFF)
            fam = be32(d);
        return fam == 2 || fam == 10 || fam == 24 || fam == 28 || fam == 30 ? 4 : SKIP;
    }
    case 12: case 101: case 228: case 229: /* raw IP */
        return 0;
    default:
        return SKIP;
    }
}

static int frame_in(Run *r, uint32_t linktype, const uint8_t *d, size_t n, long frame, double ts)
{
    size_t start, end, tcp, ipo = 14;
    if (linktype == 1 && n >= 54 && be16(d + 12) == 0x0800 && d[14] == 0x45 && d[23] == 6
        && !(be16(d + 20) & 0x3FFF) && 14 + (size_t)be16(d + 16) <= n) {
        /* dissect.py's own fast path, whose slice quietly empties a payload that a header
         * length puts past the IP packet's end. */
        tcp = 34;
        end = 14 + (size_t)be16(d + 16);
        start = tcp + (size_t)(d[46] >> 4) * 4;
        if (start > end)
            start = end;
    } else {
        long off = ip_offset(linktype, d, n);
        if (off == -2)
            return BAIL;
        if (off < 0 || n < (size_t)off + 20)
            return OK;
        ipo = (size_t)off;
        const uint8_t *ip = d + off;
        if (ip[0] >> 4 == 6) { /* IPv6: Python's job, if it is on one of our ports */
            if (n < (size_t)off + 40)
                return OK;
            uint8_t nxt = ip[6];
            size_t t = (size_t)off + 40;
            while ((nxt == 0 || nxt == 43 || nxt == 60) && n >= t + 8) {
                nxt = d[t];
                t += ((size_t)d[t + 1] + 1) * 8;
            }
            if (nxt != 6 || n < t + 14)
                return OK;
            return is_port(r, be16(d + t)) || is_port(r, be16(d + t + 2)) ? BAIL : OK;
        }
        if (ip[0] >> 4 != 4 || ip[9] != 6 || be16(ip + 6) & 0x3FFF || (ip[0] & 15) < 5)
            return OK;
        tcp = (size_t)off + (size_t)(ip[0] & 15) * 4;
        end = (size_t)off + be16(ip + 2);
        if (n < tcp + 14)
            return OK;
        if (!is_port(r, be16(d + tcp)) && !is_port(r, be16(d + tcp + 2)))
            return OK;
        start = tcp + (size_t)(d[tcp + 12] >> 4) * 4;
        if (end < start)
            return OK; /* headers longer than the packet: corrupt, skipped */
        if (end > n)
            return BAIL; /* cut by the snap length: a gap to report */
    }
    uint16_t sport = be16(d + tcp), dport = be16(d + tcp + 2);
    if (!is_port(r, sport) && !is_port(r, dport))
        return OK;
    const uint8_t *ip = d + ipo;
    return segment(r, be32(ip + 12), sport, be32(ip + 16), dport, be32(d + tcp + 4), d[tcp + 13],
                   d + start, end - start, frame, ts);
}

/* pcap.py's classic pcap loop; anything it would call damaged or other than pcap bails. */
static int run_capture(Run *r, const uint8_t *d, size_t n)
{
    if (n < 24)
        return BAIL;
    int big;
    double scale;
    uint32_t magic = le32(d);
    if (magic == 0xA1B2C3D4 || magic == 0xD4C3B2A1)
        scale = 1e-6;
    else if (magic == 0xA1B23C4D || magic == 0x4D3CB2A1)
        scale = 1e-9;
    else
        return BAIL; /* pcapng, or not a capture */
    big = magic == 0xD4C3B2A1 || magic == 0x4D3CB2A1;
    uint32_t (*rd)(const uint8_t *) = big ? be32 : le32;
    uint32_t linktype = rd(d + 20) & 0x0FFFFFFF;
    size_t pos = 24;
    long frame = 0;
    while (n - pos >= 16) {
        uint32_t sec = rd(d + pos), frac = rd(d + pos + 4), incl = rd(d + pos + 8);
        if (incl > MAX_RECORD || n - pos - 16 < incl)
            return BAIL;
        frame++;
        double ts = (double)sec + (double)frac * scale;
        int rc = frame_in(r, linktype, d + pos + 16, incl, frame, ts);
        if (rc != OK)
            return rc;
        pos += 16 + (size_t)incl;
    }
    if (pos != n)
        return BAIL; /* cut short inside a record */
    for (size_t i = 0; i < r->nhalves; i++) {
        const Half *h = &r->halves[i];
        if (!h->closed && h->has_data && h->pending.len)
            return BAIL; /* a stream ends inside a packet */
    }
    return r->nstreams ? OK : BAIL; /* no Gearman: Python says so, with hints */
}

static int take_str(PyObject *o, Str *s)
{
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(o, &n);
    if (!p)
        return -1;
    s->p = p, s->n = (size_t)n;
    return 0;
}

/* types[i] is None or (name, labels, data_at, head for RES, head for REQ). */
static int take_tables(Tables *t, PyObject *types)
{
    if (!PyTuple_Check(types) || PyTuple_GET_SIZE(types) != MAX_TYPES + 1) {
        PyErr_SetString(PyExc_ValueError, "types must be a tuple of 43 entries");
        return -1;
    }
    for (int i = 1; i <= MAX_TYPES; i++) {
        PyObject *e = PyTuple_GET_ITEM(types, i), *labels;
        TypeFmt *f = &t->types[i];
        if (e == Py_None)
            continue;
        PyObject *name, *res, *req;
        if (!PyArg_ParseTuple(e, "UO!iUU", &name, &PyTuple_Type, &labels, &f->data_at, &res, &req))
            return -1;
        Py_ssize_t nargs = PyTuple_GET_SIZE(labels);
        if (nargs > MAX_ARGS) {
            PyErr_SetString(PyExc_ValueError, "too many arguments in a packet type");
            return -1;
        }
        f->nargs = (int)nargs;
        for (Py_ssize_t k = 0; k < nargs; k++)
            if (take_str(PyTuple_GET_ITEM(labels, k), &f->label[k]) < 0)
                return -1;
        if (take_str(name, &f->name) < 0 || take_str(res, &f->head[0]) < 0
            || take_str(req, &f->head[1]) < 0)
            return -1;
        f->known = 1;
    }
    return 0;
}

/* Back to the state before any frame, keeping the run's settings and its output buffer. */
static void run_reset(Run *r)
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

/* Two passes: the first only checks that the whole capture is one the fast path can print;
 * the second prints it, in chunks, so nothing is printed for a capture left to Python and
 * the output is never held whole in memory. */
static PyObject *decode(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer data;
    PyObject *ports, *types, *dim_on, *dim_off, *admin, *write, *result = NULL;
    int json;
    long limit;
    if (!PyArg_ParseTuple(args, "y*O!O!plUUOO", &data, &PyTuple_Type, &ports, &PyTuple_Type,
                          &types, &json, &limit, &dim_on, &dim_off, &admin, &write))
        return NULL;
    Tables *t = calloc(1, sizeof *t);
    Run *r = calloc(1, sizeof *r);
    int rc = NOMEM;
    if (!t || !r)
        goto done;
    rc = PYERR;
    t->json = json, t->limit = limit;
    if (take_tables(t, types) < 0 || take_str(dim_on, &t->dim_on) < 0
        || take_str(dim_off, &t->dim_off) < 0)
        goto done;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(ports); i++) {
        long p = PyLong_AsLong(PyTuple_GET_ITEM(ports, i));
        if (p < 0 || p > 65535) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "port out of range");
            goto done;
        }
        r->ports[p >> 3] |= (uint8_t)(1 << (p & 7));
    }
    r->t = t, r->admin = admin, r->write = write;
    r->nslots = 1024;
    rc = NOMEM;
    if (!(r->slots = calloc(r->nslots, sizeof *r->slots)))
        goto done;
    /* The GIL stays held: admin lines and output chunks call back into Python. */
    rc = run_capture(r, data.buf, (size_t)data.len);
    if (rc == OK) {
        run_reset(r);
        r->emit = 1;
        rc = run_capture(r, data.buf, (size_t)data.len);
        if (rc == OK)
            rc = flush(r);
        if (rc == BAIL) { /* cannot be: the first pass saw the same bytes */
            PyErr_SetString(PyExc_RuntimeError, "the fast path gave up half-way");
            rc = PYERR;
        }
    }
done:
    if (rc == NOMEM)
        PyErr_NoMemory();
    else if (rc == BAIL)
        result = Py_NewRef(Py_None);
    else if (rc == OK)
        result = Py_NewRef(Py_True);
    if (r) {
        run_reset(r);
        free(r->slots);
        free(r->out.p);
    }
    free(r);
    free(t);
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS,
     "decode(capture, ports, types, json, limit, dim_on, dim_off, admin, write) -> True | None\n\n"
     "Pass the lines `geartool decode` prints for a whole pcap file to write(bytes) and\n"
     "return True; or print nothing and return None when the capture needs the Python\n"
     "decoder (see the module's source for when)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastdecode", "The compiled fast path of geartool decode.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastdecode(void) { return PyModule_Create(&module); }
