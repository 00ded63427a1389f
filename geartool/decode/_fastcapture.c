/* Capture records and the link, IP and TCP headers: pcap.py and net.py, for captures that
 * pcap.py reads without complaint. */
#include "_fastdecode.h"

#include <math.h>

#define MAX_RECORD (16u * 1024 * 1024)
#define SKIP (-1)   /* a frame the Python decoder ignores too */
#define VLAN (-2)   /* 802.1Q/802.1ad tags: left to Python */

/* Where IP starts in a frame (net.ip_offset), SKIP or VLAN. */
static long ip_offset(uint32_t linktype, const uint8_t *d, size_t n)
{
    switch (linktype) {
    case 1: { /* Ethernet */
        if (n < 14)
            return SKIP;
        uint16_t etype = be16(d + 12);
        if (etype == 0x8100 || etype == 0x88A8)
            return VLAN;
        return etype == 0x0800 || etype == 0x86DD ? 14 : SKIP;
    }
    case 113: /* Linux cooked v1 */
        return n >= 16 && (be16(d + 14) == 0x0800 || be16(d + 14) == 0x86DD) ? 16 : SKIP;
    case 276: /* Linux cooked v2 */
        return n >= 20 && (be16(d) == 0x0800 || be16(d) == 0x86DD) ? 20 : SKIP;
    case 0:
    case 108: { /* BSD loopback: the address family, in either byte order */
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

/* net.tcp_segment plus dissect.py's Ethernet/IPv4 shortcut, then the TCP layer. */
static int frame_in(Run *r, uint32_t linktype, const uint8_t *d, size_t n, long frame, double ts)
{
    Endpoint src, dst;
    r->frames = frame, r->last_ts = ts;
    size_t start, end, tcp;
    if (linktype == 1 && n >= 54 && be16(d + 12) == 0x0800 && d[14] == 0x45 && d[23] == 6
        && !(be16(d + 20) & 0x3FFF) && 14 + (size_t)be16(d + 16) <= n) {
        /* The shortcut's slice quietly empties a payload that the TCP header length puts past
         * the IP packet's end, where tcp_segment would skip the frame: do as it does. */
        tcp = 34;
        end = 14 + (size_t)be16(d + 16);
        start = tcp + (size_t)(d[46] >> 4) * 4;
        if (start > end)
            start = end;
        src.alen = dst.alen = 4;
        memcpy(src.addr, d + 26, 4), memcpy(dst.addr, d + 30, 4);
    } else {
        long off = ip_offset(linktype, d, n);
        if (off == VLAN)
            return BAIL;
        if (off < 0 || n < (size_t)off + 20)
            return OK;
        const uint8_t *ip = d + off;
        if (ip[0] >> 4 == 4) {
            if (ip[9] != 6 || be16(ip + 6) & 0x3FFF || (ip[0] & 15) < 5)
                return OK; /* not TCP, a fragment, or corrupt */
            tcp = (size_t)off + (size_t)(ip[0] & 15) * 4;
            end = (size_t)off + be16(ip + 2);
            src.alen = dst.alen = 4;
            memcpy(src.addr, ip + 12, 4), memcpy(dst.addr, ip + 16, 4);
        } else if (ip[0] >> 4 == 6) {
            if (n < (size_t)off + 40)
                return OK;
            uint8_t nxt = ip[6];
            tcp = (size_t)off + 40;
            while ((nxt == 0 || nxt == 43 || nxt == 60) && n >= tcp + 8) { /* extension headers */
                nxt = d[tcp];
                tcp += ((size_t)d[tcp + 1] + 1) * 8;
            }
            if (nxt != 6)
                return OK;
            end = (size_t)off + 40 + be16(ip + 4);
            src.alen = dst.alen = 16;
            memcpy(src.addr, ip + 8, 16), memcpy(dst.addr, ip + 24, 16);
        } else {
            return OK;
        }
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
    src.port = be16(d + tcp), dst.port = be16(d + tcp + 2);
    if (!is_port(r, src.port) && !is_port(r, dst.port))
        return OK;
    return segment(r, &src, &dst, be32(d + tcp + 4), d[tcp + 13], d + start, end - start, frame,
                   ts);
}

/* pcap.py's classic pcap loop; anything it would call damaged bails. */
static int read_pcap(Run *r, const uint8_t *d, size_t n)
{
    if (n < 24)
        return BAIL;
    uint32_t magic = le32(d);
    int big = magic == 0xD4C3B2A1 || magic == 0x4D3CB2A1;
    double scale = magic == 0xA1B2C3D4 || magic == 0xD4C3B2A1 ? 1e-6 : 1e-9;
    uint32_t (*u32)(const uint8_t *) = big ? be32 : le32;
    uint32_t linktype = u32(d + 20) & 0x0FFFFFFF;
    size_t pos = 24;
    long frame = 0;
    while (n - pos >= 16) {
        uint32_t sec = u32(d + pos), frac = u32(d + pos + 4), incl = u32(d + pos + 8);
        if (incl > MAX_RECORD || n - pos - 16 < incl)
            return BAIL;
        int rc = frame_in(r, linktype, d + pos + 16, incl, ++frame,
                          (double)sec + (double)frac * scale);
        if (rc != OK)
            return rc;
        pos += 16 + (size_t)incl;
    }
    return pos == n ? OK : BAIL; /* else cut short inside a record */
}

/* pcap._if_tsresol: seconds per timestamp tick of an interface. */
static double tick_of(const uint8_t *d, size_t pos, size_t end, int big)
{
    uint16_t (*u16)(const uint8_t *) = big ? be16 : le16;
    while (pos + 4 <= end) {
        uint16_t code = u16(d + pos), length = u16(d + pos + 2);
        if (code == 0)
            break;
        if (code == 9 && length >= 1) { /* the byte after the option header, as Python reads */
            uint8_t res = d[pos + 4];
            return res & 0x80 ? ldexp(1.0, -(res & 0x7F)) : pow(10.0, -(double)res);
        }
        pos += 4 + (((size_t)length + 3) & ~(size_t)3);
    }
    return 1e-6;
}

/* pcap.py's pcapng loop: section, interface, enhanced, simple and obsolete packet blocks. */
static int read_pcapng(Run *r, const uint8_t *d, size_t n)
{
    enum { MAX_IF = 64 };
    uint32_t links[MAX_IF];
    double ticks[MAX_IF];
    size_t nlinks = 0, pos = 0;
    int big = 0;
    long frame = 0;
    while (n - pos >= 12) {
        if (memcmp(d + pos, "\x0a\x0d\x0d\x0a", 4) == 0) { /* a new section */
            if (memcmp(d + pos + 8, "\x4d\x3c\x2b\x1a", 4) == 0)
                big = 0;
            else if (memcmp(d + pos + 8, "\x1a\x2b\x3c\x4d", 4) == 0)
                big = 1;
            else
                return BAIL;
            nlinks = 0;
        }
        uint32_t (*u32)(const uint8_t *) = big ? be32 : le32;
        uint32_t type = u32(d + pos), blen = u32(d + pos + 4);
        if (blen < 12 || blen > MAX_RECORD || blen % 4 || n - pos < blen)
            return BAIL;
        const uint8_t *body = d + pos + 8;
        uint32_t iface, caplen;
        size_t data;
        double ts;
        switch (type) {
        case 1: /* interface description */
            if (nlinks == MAX_IF)
                return BAIL;
            links[nlinks] = (big ? be16 : le16)(body);
            ticks[nlinks++] = tick_of(d, pos + 16, pos + blen - 4, big);
            pos += blen;
            continue;
        case 3: /* simple packet: no timestamp, length capped by the block */
            if (nlinks == 0)
                return BAIL;
            iface = 0, ts = 0.0;
            caplen = blen < 16 ? 0 : u32(body) < blen - 16 ? u32(body) : blen - 16;
            data = pos + 12;
            break;
        case 6: /* enhanced packet */
        case 2: /* obsolete packet block: 16-bit interface and drop count where EPB has 32 */
            if (blen < 32)
                return BAIL;
            iface = type == 6 ? u32(body) : (big ? be16 : le16)(body);
            caplen = u32(body + 12);
            if (iface >= nlinks || 32 + (uint64_t)caplen > blen)
                return BAIL;
            ts = (double)((uint64_t)u32(body + 4) << 32 | u32(body + 8)) * ticks[iface];
            data = pos + 28;
            break;
        default:
            pos += blen;
            continue;
        }
        int rc = frame_in(r, links[iface], d + data, caplen, ++frame, ts);
        if (rc != OK)
            return rc;
        pos += blen;
    }
    return pos == n ? OK : BAIL;
}

int read_capture(Run *r, const uint8_t *d, size_t n)
{
    if (n < 4)
        return BAIL;
    uint32_t magic = le32(d);
    int rc;
    if (magic == 0xA1B2C3D4 || magic == 0xD4C3B2A1 || magic == 0xA1B23C4D || magic == 0x4D3CB2A1)
        rc = read_pcap(r, d, n);
    else if (magic == 0x0A0D0D0A)
        rc = read_pcapng(r, d, n);
    else
        return BAIL;
    return rc == OK ? check_end(r) : rc;
}
