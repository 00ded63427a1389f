/*
 * geartool benchmark load generator: a single-threaded epoll driver that speaks the Gearman
 * binary protocol to one server on loopback, pipelines requests over many connections, checks
 * every reply and prints one JSON object with its measurements and its own CPU time.
 *
 * Modes (see benchmarks/README.md):
 *   bg        background submits over --conns connections, --depth outstanding per connection
 *   fg        foreground round trips: --clients clients (--depth in flight each), --workers workers
 *   drain     optional pre-fill (--count jobs), then --workers workers empty the queue
 *   idle      open --count idle connections (each proves it is live with an ECHO round trip)
 *   coalesce  --clients clients submit the same unique id, one worker runs it once, per round
 *
 * With --pid the server's RSS (VmRSS) and CPU ticks are read before and after the timed phase.
 * Any wrong, missing, duplicated or unexpected reply fails the run (exit status 1, "ok": false).
 * Every loop is bounded: --count caps the work, --duration stops issuing new work, and --timeout
 * is a hard deadline after which outstanding work counts as lost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum {
    CAN_DO = 1, CANT_DO = 2, PRE_SLEEP = 4, NOOP = 6, SUBMIT_JOB = 7, JOB_CREATED = 8,
    NO_JOB = 10, WORK_COMPLETE = 13, WORK_FAIL = 14, ECHO_REQ = 16, ECHO_RES = 17,
    SUBMIT_JOB_BG = 18, ERROR_PKT = 19, GRAB_JOB_UNIQ = 30, JOB_ASSIGN_UNIQ = 31,
};

enum role { R_BG, R_FG, R_WORKER, R_IDLE, R_COAL };

typedef struct {
    uint8_t *p;
    size_t off, len, cap;
} buf_t;

typedef struct {
    long seq;
    int state; /* 0 free, 1 submitted, 2 created */
    uint8_t handle[128];
    size_t hlen;
    double t0;
} slot_t;

typedef struct conn {
    int fd, id;
    enum role role;
    buf_t rb, wb;
    int want_out, closed, done;
    long sent, acked, outstanding;
    /* fg client: ring of slots indexed by seq % depth plus the FIFO of seqs awaiting JOB_CREATED */
    slot_t *slots;
    long created_next;
    /* worker */
    int sleeping;
    long ran;
    /* coalesce client */
    uint8_t handle[128];
    size_t hlen;
    int got_created, got_complete;
    int pending_echo; /* ECHO_REQ sent by open_paced and not yet answered */
} conn_t;

/* ---------- options and global state ---------- */
static const char *o_mode = "bg", *o_host = "127.0.0.1", *o_func = NULL;
static int o_port = 0, o_conns = 4, o_depth = 64, o_clients = 4, o_workers = 4, o_size = 64;
static int o_unique = 0, o_allow_disc = 0, o_rounds = 10, o_pid = 0, o_check_status = 1;
static long o_count = 100000;
static double o_duration = 1e9, o_timeout = 120.0, o_settle = 0.5;
static const char *o_verify_acked = NULL;

static int g_ep = -1;
static conn_t **g_conns;
static int g_nconns;
static long g_issued, g_acked, g_completed;
static double g_t_start, g_issue_deadline, g_hard_deadline;
static double *g_lat;
static long g_nlat;
static int g_disconnected;
/* drain verification: seen[conn][seq] bitmaps */
static uint8_t **g_seen;
static long *g_seen_cap;
static int g_seen_n;
static long g_dupes;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *c = msg; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 32) *c = '\'';
    fprintf(stderr, "loadgen: %s\n", msg);
    printf("{\"ok\": false, \"mode\": \"%s\", \"error\": \"%s\"}\n", o_mode, msg);
    fflush(stdout);
    exit(1);
}

/* ---------- buffers and packets ---------- */
static void buf_reserve(buf_t *b, size_t extra) {
    if (b->off > 0 && b->off == b->len) b->off = b->len = 0;
    if (b->len + extra <= b->cap) return;
    if (b->off > 0) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + extra <= b->cap) return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) fail("out of memory");
    b->cap = cap;
}

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static uint32_t get_u32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Append one REQ packet whose payload is the given parts joined by NULs (the last not ended). */
static void put_packet(conn_t *c, uint32_t type, int nparts, const void **parts, const size_t *lens) {
    size_t plen = 0;
    for (int i = 0; i < nparts; i++) plen += lens[i] + (i < nparts - 1 ? 1 : 0);
    buf_reserve(&c->wb, 12 + plen);
    uint8_t *w = c->wb.p + c->wb.len;
    memcpy(w, "\0REQ", 4);
    put_u32(w + 4, type);
    put_u32(w + 8, (uint32_t)plen);
    w += 12;
    for (int i = 0; i < nparts; i++) {
        memcpy(w, parts[i], lens[i]);
        w += lens[i];
        if (i < nparts - 1) *w++ = 0;
    }
    c->wb.len += 12 + plen;
}

static void put_simple(conn_t *c, uint32_t type) { put_packet(c, type, 0, NULL, NULL); }

/* Deterministic job data: "cccccccc:ssssssss:" then filler derived from (conn, seq). */
static void make_data(uint8_t *out, int conn, long seq, int size) {
    char head[32];
    snprintf(head, sizeof head, "%08x:%08lx:", (unsigned)conn, (unsigned long)seq);
    memcpy(out, head, 18);
    for (int i = 18; i < size; i++) out[i] = (uint8_t)('a' + ((conn * 131 + seq * 7 + i) % 26));
}

/* Parse and verify data made by make_data; returns 0 and sets conn/seq when it is intact. */
static int check_data(const uint8_t *d, size_t len, int *conn, long *seq) {
    if ((int)len != o_size || len < 18 || d[8] != ':' || d[17] != ':') return -1;
    char tmp[9];
    memcpy(tmp, d, 8); tmp[8] = 0;
    char *end;
    unsigned long cv = strtoul(tmp, &end, 16);
    if (*end) return -1;
    memcpy(tmp, d + 9, 8); tmp[8] = 0;
    unsigned long sv = strtoul(tmp, &end, 16);
    if (*end) return -1;
    uint8_t expect[4096];
    if (len > sizeof expect) return -1;
    make_data(expect, (int)cv, (long)sv, (int)len);
    if (memcmp(expect, d, len) != 0) return -1;
    *conn = (int)cv;
    *seq = (long)sv;
    return 0;
}

/* ---------- sockets ---------- */
static int connect_to(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) fail("socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o_port)};
    if (inet_pton(AF_INET, o_host, &a.sin_addr) != 1) fail("bad host %s", o_host);
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) fail("connect: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static conn_t *add_conn(enum role role, int id) {
    conn_t *c = calloc(1, sizeof *c);
    if (!c) fail("out of memory");
    c->fd = connect_to();
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->role = role;
    c->id = id;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) fail("epoll_ctl: %s", strerror(errno));
    g_conns = realloc(g_conns, sizeof(conn_t *) * (size_t)(g_nconns + 1));
    g_conns[g_nconns++] = c;
    return c;
}

static void conn_lost(conn_t *c, const char *why) {
    if (!o_allow_disc) fail("connection %d lost: %s", c->id, why);
    if (!c->closed) {
        c->closed = 1;
        g_disconnected = 1;
        epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
}

static void flush(conn_t *c) {
    while (!c->closed && c->wb.len > c->wb.off) {
        ssize_t n = write(c->fd, c->wb.p + c->wb.off, c->wb.len - c->wb.off);
        if (n > 0) {
            c->wb.off += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            conn_lost(c, strerror(errno));
            return;
        }
    }
    if (c->closed) return;
    int want = c->wb.len > c->wb.off;
    if (want != c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
        epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want;
    }
    if (!want) c->wb.off = c->wb.len = 0;
}

/* ---------- server introspection ---------- */
static long server_rss_kb(void) {
    if (!o_pid) return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", o_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1; /* the server is gone (the kill -9 check) */
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* The server's user and system CPU seconds so far (utime, stime from /proc/PID/stat). */
static int server_cpu(double *user, double *sys) {
    *user = *sys = -1;
    if (!o_pid) return -1;
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", o_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    unsigned long ut = 0, st = 0;
    /* after ")": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    double tick = (double)sysconf(_SC_CLK_TCK);
    *user = (double)ut / tick;
    *sys = (double)st / tick;
    return 0;
}

/* The server's read-type and write-type syscall counters (syscr, syscw) from /proc/PID/io. */
static void server_syscalls(long *r, long *w) {
    *r = *w = -1;
    if (!o_pid) return;
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/io", o_pid);
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "syscr:", 6) == 0) *r = strtol(line + 6, NULL, 10);
        if (strncmp(line, "syscw:", 6) == 0) *w = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

/* Total queued jobs of o_func per the text admin "status" command (-1 when not listed). */
static long admin_total(void) {
    int fd = connect_to();
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (write(fd, "status\n", 7) != 7) fail("admin write failed");
    static char buf[1 << 20];
    size_t len = 0;
    for (int i = 0; i < 100000; i++) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0) fail("admin status: no complete reply");
        len += (size_t)n;
        buf[len] = 0;
        if ((len >= 2 && strcmp(buf, ".\n") == 0) || (len >= 3 && strcmp(buf + len - 3, "\n.\n") == 0))
            break;
        if (len >= sizeof buf - 1) fail("admin status reply too long");
    }
    close(fd);
    size_t flen = strlen(o_func);
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (strncmp(line, o_func, flen) == 0 && line[flen] == '\t') return strtol(line + flen + 1, NULL, 10);
        line = nl ? nl + 1 : NULL;
    }
    return -1;
}

/* ---------- role handlers ---------- */
static void bg_top_up(conn_t *c) {
    if (c->closed || g_issued >= o_count || now() >= g_issue_deadline) return;
    static uint8_t data[4096];
    char uniq[64];
    while (c->outstanding < o_depth && g_issued < o_count) {
        make_data(data, c->id, c->sent, o_size);
        size_t ulen = 0;
        if (o_unique) ulen = (size_t)snprintf(uniq, sizeof uniq, "u%x-%lx", (unsigned)c->id, c->sent);
        const void *parts[3] = {o_func, uniq, data};
        size_t lens[3] = {strlen(o_func), ulen, (size_t)o_size};
        put_packet(c, SUBMIT_JOB_BG, 3, parts, lens);
        c->sent++;
        c->outstanding++;
        g_issued++;
    }
}

static void fg_top_up(conn_t *c) {
    if (g_issued >= o_count || now() >= g_issue_deadline) return;
    static uint8_t data[4096];
    while (c->outstanding < o_depth && g_issued < o_count) {
        slot_t *s = &c->slots[c->sent % o_depth];
        if (s->state != 0) break; /* the oldest job in this slot has not finished yet */
        make_data(data, c->id, c->sent, o_size);
        s->seq = c->sent;
        s->state = 1;
        s->t0 = now();
        const void *parts[3] = {o_func, "", data};
        size_t lens[3] = {strlen(o_func), 0, (size_t)o_size};
        put_packet(c, SUBMIT_JOB, 3, parts, lens);
        c->sent++;
        c->outstanding++;
        g_issued++;
    }
}

static void on_bg(conn_t *c, uint32_t type, const uint8_t *p, uint32_t len) {
    (void)p;
    if (type != JOB_CREATED) fail("bg conn %d: expected JOB_CREATED, got type %u", c->id, type);
    if (len == 0 || c->outstanding <= 0) fail("bg conn %d: bad or unsolicited JOB_CREATED", c->id);
    c->outstanding--;
    c->acked++;
    g_acked++;
}

static void on_fg(conn_t *c, uint32_t type, const uint8_t *p, uint32_t len) {
    if (type == JOB_CREATED) {
        if (c->created_next >= c->sent) fail("fg conn %d: unsolicited JOB_CREATED", c->id);
        slot_t *s = &c->slots[c->created_next % o_depth];
        if (s->state != 1 || len == 0 || len > sizeof s->handle) fail("fg conn %d: bad JOB_CREATED", c->id);
        memcpy(s->handle, p, len);
        s->hlen = len;
        s->state = 2;
        c->created_next++;
        return;
    }
    if (type != WORK_COMPLETE) fail("fg conn %d: expected WORK_COMPLETE, got type %u", c->id, type);
    const uint8_t *nul = memchr(p, 0, len);
    if (!nul) fail("fg conn %d: WORK_COMPLETE without handle", c->id);
    size_t hlen = (size_t)(nul - p);
    int conn;
    long seq;
    if (check_data(nul + 1, len - hlen - 1, &conn, &seq) != 0 || conn != c->id)
        fail("fg conn %d: WORK_COMPLETE carries wrong data", c->id);
    slot_t *s = &c->slots[seq % o_depth];
    if (s->state != 2 || s->seq != seq || s->hlen != hlen || memcmp(s->handle, p, hlen) != 0)
        fail("fg conn %d: WORK_COMPLETE for job %ld does not match its handle", c->id, seq);
    g_lat[g_nlat++] = now() - s->t0;
    s->state = 0;
    c->outstanding--;
    c->acked++;
    g_completed++;
}

static void mark_seen(int conn, long seq) {
    if (conn < 0 || conn >= g_seen_n) fail("job data names unknown connection %d", conn);
    if (seq >= g_seen_cap[conn]) {
        long cap = g_seen_cap[conn] ? g_seen_cap[conn] : 1024;
        while (cap <= seq) cap *= 2;
        g_seen[conn] = realloc(g_seen[conn], (size_t)cap);
        memset(g_seen[conn] + g_seen_cap[conn], 0, (size_t)(cap - g_seen_cap[conn]));
        g_seen_cap[conn] = cap;
    }
    if (g_seen[conn][seq]) g_dupes++;
    g_seen[conn][seq] = 1;
}

static int g_worker_echo = 1; /* fg echoes the data back; drain completes with an empty result */

static void on_worker(conn_t *c, uint32_t type, const uint8_t *p, uint32_t len) {
    if (type == NOOP) {
        if (c->sleeping) {
            c->sleeping = 0;
            put_simple(c, GRAB_JOB_UNIQ);
        }
        return;
    }
    if (type == NO_JOB) {
        if (strcmp(o_mode, "drain") == 0) {
            c->done = 1;
        } else if (strcmp(o_mode, "coalesce") == 0) {
            c->done = 1;
        } else {
            c->sleeping = 1;
            put_simple(c, PRE_SLEEP);
        }
        return;
    }
    if (type != JOB_ASSIGN_UNIQ) fail("worker %d: unexpected packet type %u", c->id, type);
    /* handle\0 function\0 unique\0 data */
    const uint8_t *f[3], *q = p, *end = p + len;
    for (int i = 0; i < 3; i++) {
        const uint8_t *nul = memchr(q, 0, (size_t)(end - q));
        if (!nul) fail("worker %d: malformed JOB_ASSIGN_UNIQ", c->id);
        f[i] = nul;
        q = nul + 1;
    }
    size_t hlen = (size_t)(f[0] - p);
    const uint8_t *data = f[2] + 1;
    size_t dlen = (size_t)(end - data);
    if ((size_t)(f[1] - (f[0] + 1)) != strlen(o_func) || memcmp(f[0] + 1, o_func, strlen(o_func)))
        fail("worker %d: job for the wrong function", c->id);
    c->ran++;
    if (strcmp(o_mode, "coalesce") == 0) {
        /* data is checked by the clients; return it unchanged */
        const void *parts[2] = {p, data};
        size_t lens[2] = {hlen, dlen};
        put_packet(c, WORK_COMPLETE, 2, parts, lens);
        put_simple(c, GRAB_JOB_UNIQ);
        return;
    }
    int conn;
    long seq;
    if (check_data(data, dlen, &conn, &seq) != 0) fail("worker %d: job carries corrupt data", c->id);
    if (!g_worker_echo) mark_seen(conn, seq);
    const void *parts[2] = {p, data};
    size_t lens[2] = {hlen, g_worker_echo ? dlen : 0};
    put_packet(c, WORK_COMPLETE, 2, parts, lens);
    put_simple(c, GRAB_JOB_UNIQ);
    if (!g_worker_echo) g_completed++;
}

static long g_round;
static uint8_t g_coal_handle[128];
static size_t g_coal_hlen;

static void on_coal(conn_t *c, uint32_t type, const uint8_t *p, uint32_t len) {
    char expect[64];
    int elen = snprintf(expect, sizeof expect, "round-%ld-payload", g_round);
    if (type == JOB_CREATED) {
        if (c->got_created || len == 0 || len > sizeof g_coal_handle) fail("coalesce client %d: bad JOB_CREATED", c->id);
        if (g_coal_hlen == 0) {
            memcpy(g_coal_handle, p, len);
            g_coal_hlen = len;
        } else if (len != g_coal_hlen || memcmp(p, g_coal_handle, len)) {
            fail("coalesce client %d: got a different handle: the submits did not coalesce", c->id);
        }
        c->got_created = 1;
        g_acked++;
        return;
    }
    if (type != WORK_COMPLETE || !c->got_created || c->got_complete)
        fail("coalesce client %d: unexpected packet type %u", c->id, type);
    if (len != g_coal_hlen + 1 + (size_t)elen || memcmp(p, g_coal_handle, g_coal_hlen) || p[g_coal_hlen] ||
        memcmp(p + g_coal_hlen + 1, expect, (size_t)elen))
        fail("coalesce client %d: wrong WORK_COMPLETE", c->id);
    c->got_complete = 1;
    g_completed++;
}

static long g_echoed;

static void dispatch(conn_t *c, uint32_t type, const uint8_t *p, uint32_t len) {
    if (type == ERROR_PKT) {
        char msg[200];
        size_t n = len < sizeof msg - 1 ? len : sizeof msg - 1;
        memcpy(msg, p, n);
        msg[n] = 0;
        for (size_t i = 0; i < n; i++) if (!msg[i]) msg[i] = ' ';
        fail("server sent ERROR on conn %d: %s", c->id, msg);
    }
    if (type == ECHO_RES && c->pending_echo) {
        if (len != 4 || memcmp(p, "ping", 4)) fail("conn %d: bad ECHO_RES", c->id);
        c->pending_echo = 0;
        g_echoed++;
        return;
    }
    switch (c->role) {
    case R_BG: on_bg(c, type, p, len); break;
    case R_FG: on_fg(c, type, p, len); break;
    case R_WORKER: on_worker(c, type, p, len); break;
    case R_IDLE: fail("idle conn %d: unexpected packet type %u", c->id, type); break;
    case R_COAL: on_coal(c, type, p, len); break;
    }
}

/* Parse every complete packet in p[0..len); returns how many bytes were consumed. */
static size_t parse_packets(conn_t *c, const uint8_t *p, size_t len) {
    size_t off = 0;
    while (len - off >= 12 && !c->closed) {
        const uint8_t *h = p + off;
        if (memcmp(h, "\0RES", 4) != 0) fail("conn %d: bad magic from server", c->id);
        uint32_t type = get_u32(h + 4), plen = get_u32(h + 8);
        if (len - off < 12 + (size_t)plen) break;
        off += 12 + (size_t)plen;
        dispatch(c, type, h + 12, plen);
    }
    return off;
}

/* Reads go through one shared buffer so that 10,000 idle connections cost no per-connection
 * receive buffers; only a partial packet is kept per connection. */
static void on_readable(conn_t *c) {
    static uint8_t rbuf[1 << 18];
    for (int spins = 0; spins < 64 && !c->closed; spins++) {
        ssize_t n = read(c->fd, rbuf, sizeof rbuf);
        if (n == 0) { conn_lost(c, "closed by server"); return; }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            conn_lost(c, strerror(errno));
            return;
        }
        if (c->rb.len > c->rb.off) {
            buf_reserve(&c->rb, (size_t)n);
            memcpy(c->rb.p + c->rb.len, rbuf, (size_t)n);
            c->rb.len += (size_t)n;
            c->rb.off += parse_packets(c, c->rb.p + c->rb.off, c->rb.len - c->rb.off);
            if (c->rb.off == c->rb.len) c->rb.off = c->rb.len = 0;
        } else {
            size_t used = parse_packets(c, rbuf, (size_t)n);
            if (used < (size_t)n) {
                buf_reserve(&c->rb, (size_t)n - used);
                memcpy(c->rb.p + c->rb.len, rbuf + used, (size_t)n - used);
                c->rb.len += (size_t)n - used;
            }
        }
        if ((size_t)n < sizeof rbuf) break;
    }
}

/* One event-loop pass; returns after at most 50 ms. */
static void loop_once(void) {
    struct epoll_event evs[256];
    int n = epoll_wait(g_ep, evs, 256, 50);
    if (n < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
        conn_t *c = evs[i].data.ptr;
        if (c->closed) continue;
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
        if (c->closed) continue;
        if (c->role == R_BG) bg_top_up(c);
        if (c->role == R_FG) fg_top_up(c);
        flush(c);
    }
    if (now() > g_hard_deadline) fail("timeout: work still outstanding after %.0f s (lost jobs?)", o_timeout);
}

/* ---------- modes ---------- */
typedef struct {
    double t0, t1, cpu0, cpu1, self_user0, self_sys0, su0, ss0, su1, ss1;
    long rss0, rss1, syscr0, syscw0, syscr1, syscw1;
} span_t;

static void self_cpu(double *user, double *sys) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
    *sys = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void span_begin(span_t *s) {
    self_cpu(&s->self_user0, &s->self_sys0);
    s->rss0 = server_rss_kb();
    server_cpu(&s->su0, &s->ss0);
    s->cpu0 = s->su0 + s->ss0;
    server_syscalls(&s->syscr0, &s->syscw0);
    s->t0 = now();
}

static void span_end(span_t *s, int settle) {
    s->t1 = now();
    server_cpu(&s->su1, &s->ss1);
    s->cpu1 = s->su1 + s->ss1;
    server_syscalls(&s->syscr1, &s->syscw1);
    if (settle && o_settle > 0) usleep((useconds_t)(o_settle * 1e6));
    s->rss1 = server_rss_kb();
}

static void run_bg(int nconns, long count, int verify_status) {
    long before_total = verify_status ? admin_total() : 0;
    if (before_total < 0) before_total = 0;
    int first = g_nconns;
    o_count = count;
    for (int i = 0; i < nconns; i++) add_conn(R_BG, i);
    for (int i = first; i < g_nconns; i++) { bg_top_up(g_conns[i]); flush(g_conns[i]); }
    for (long it = 0; it < 100000000L; it++) {
        int busy = 0, alive = 0;
        for (int i = first; i < g_nconns; i++) {
            conn_t *c = g_conns[i];
            if (c->closed) continue;
            alive++;
            if (c->outstanding > 0) busy = 1;
            else if (g_issued < o_count && now() < g_issue_deadline) { bg_top_up(c); flush(c); busy = 1; }
        }
        if (!busy || !alive) break;
        loop_once();
    }
    if (verify_status && !g_disconnected) {
        long total = admin_total();
        if (total != before_total + g_acked)
            fail("server status lists %ld queued jobs for %s, expected %ld", total, o_func, before_total + g_acked);
    }
}

/* The loadgen's own CPU over the timed span only (getrusage deltas), beside the server's. */
static void print_common(const span_t *s, int first_extra) {
    double user, sys;
    self_cpu(&user, &sys);
    user -= s->self_user0;
    sys -= s->self_sys0;
    double el = s->t1 - s->t0;
    printf("%s\"elapsed_s\": %.6f, \"loadgen_cpu_s\": %.4f, \"loadgen_cpu_user_s\": %.4f, "
           "\"loadgen_cpu_sys_s\": %.4f", first_extra ? ", " : "", el, user + sys, user, sys);
    if (o_pid) {
        if (s->su0 >= 0 && s->su1 >= 0)
            printf(", \"server_cpu_s\": %.4f, \"server_cpu_user_s\": %.4f, \"server_cpu_sys_s\": %.4f",
                   s->cpu1 - s->cpu0, s->su1 - s->su0, s->ss1 - s->ss0);
        printf(", \"server_rss_before_kb\": %ld, \"server_rss_after_kb\": %ld", s->rss0, s->rss1);
        if (s->syscr0 >= 0 && s->syscr1 >= 0)
            printf(", \"server_read_syscalls\": %ld, \"server_write_syscalls\": %ld",
                   s->syscr1 - s->syscr0, s->syscw1 - s->syscw0);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, long n, double p) {
    if (n == 0) return 0;
    long i = (long)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static void mode_bg(void) {
    span_t s;
    span_begin(&s);
    run_bg(o_conns, o_count, o_check_status);
    span_end(&s, 1);
    printf("{\"ok\": true, \"mode\": \"bg\", \"jobs\": %ld, \"rate\": %.1f, \"disconnected\": %s",
           g_acked, g_acked / (s.t1 - s.t0), g_disconnected ? "true" : "false");
    printf(", \"acked_per_conn\": [");
    for (int i = 0; i < g_nconns; i++) printf("%s%ld", i ? ", " : "", g_conns[i]->acked);
    printf("]");
    if (o_pid) printf(", \"rss_per_job_bytes\": %.1f", g_acked ? (s.rss1 - s.rss0) * 1024.0 / g_acked : 0.0);
    print_common(&s, 1);
    printf("}\n");
}

static void start_workers(int n) {
    for (int i = 0; i < n; i++) {
        conn_t *w = add_conn(R_WORKER, 10000 + i);
        const void *parts[1] = {o_func};
        size_t lens[1] = {strlen(o_func)};
        put_packet(w, CAN_DO, 1, parts, lens);
        put_simple(w, GRAB_JOB_UNIQ);
        flush(w);
    }
}

static void mode_fg(void) {
    g_lat = calloc((size_t)o_count + 1, sizeof(double));
    start_workers(o_workers);
    int first = g_nconns;
    for (int i = 0; i < o_clients; i++) {
        conn_t *c = add_conn(R_FG, i);
        c->slots = calloc((size_t)o_depth, sizeof(slot_t));
    }
    span_t s;
    span_begin(&s);
    for (int i = first; i < g_nconns; i++) { fg_top_up(g_conns[i]); flush(g_conns[i]); }
    for (long it = 0; it < 100000000L; it++) {
        int busy = 0;
        for (int i = first; i < g_nconns; i++) {
            conn_t *c = g_conns[i];
            if (c->outstanding > 0) busy = 1;
            else if (g_issued < o_count && now() < g_issue_deadline) { fg_top_up(c); flush(c); busy = 1; }
        }
        if (!busy) break;
        loop_once();
    }
    span_end(&s, 0);
    qsort(g_lat, (size_t)g_nlat, sizeof(double), cmp_double);
    printf("{\"ok\": true, \"mode\": \"fg\", \"jobs\": %ld, \"rate\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
           "\"max_ms\": %.3f",
           g_completed, g_completed / (s.t1 - s.t0), pct(g_lat, g_nlat, 0.5) * 1e3, pct(g_lat, g_nlat, 0.99) * 1e3,
           g_nlat ? g_lat[g_nlat - 1] * 1e3 : 0.0);
    print_common(&s, 1);
    printf("}\n");
}

static void mode_drain(void) {
    g_worker_echo = 0;
    /* parse --verify-acked "a,b,c": per connection, the first a/b/c jobs must all be found */
    long *acked = NULL;
    int nacked = 0;
    if (o_verify_acked) {
        const char *q = o_verify_acked;
        while (*q && nacked < 4096) {
            acked = realloc(acked, sizeof(long) * (size_t)(nacked + 1));
            acked[nacked++] = strtol(q, (char **)&q, 10);
            if (*q == ',') q++;
            else break;
        }
    }
    int maxconns = o_conns > nacked ? o_conns : nacked;
    g_seen_n = maxconns;
    g_seen = calloc((size_t)maxconns, sizeof(uint8_t *));
    g_seen_cap = calloc((size_t)maxconns, sizeof(long));
    long prefilled = 0;
    if (o_count > 0) {
        run_bg(o_conns, o_count, o_check_status);
        prefilled = g_acked;
    }
    long queued = o_check_status ? admin_total() : -1;
    int first = g_nconns;
    span_t s;
    span_begin(&s);
    start_workers(o_workers);
    for (long it = 0; it < 100000000L; it++) {
        int all_done = 1;
        for (int i = first; i < g_nconns; i++) if (!g_conns[i]->done) all_done = 0;
        if (all_done) break;
        loop_once();
    }
    span_end(&s, 0);
    if (g_dupes) fail("%ld jobs were handed out twice", g_dupes);
    long missing = 0, found_acked = 0;
    for (int ci = 0; ci < nacked; ci++)
        for (long q = 0; q < acked[ci]; q++) {
            if (ci < g_seen_n && q < g_seen_cap[ci] && g_seen[ci][q]) found_acked++;
            else missing++;
        }
    if (prefilled && g_completed != prefilled)
        fail("drained %ld jobs but %ld were queued: lost jobs", g_completed, prefilled);
    if (missing) fail("%ld acknowledged jobs are missing after restart", missing);
    printf("{\"ok\": true, \"mode\": \"drain\", \"jobs\": %ld, \"rate\": %.1f, \"prefilled\": %ld, "
           "\"queued_before\": %ld, \"acked_checked\": %ld, \"acked_found\": %ld",
           g_completed, g_completed / (s.t1 - s.t0), prefilled, queued, found_acked + missing, found_acked);
    print_common(&s, 1);
    printf("}\n");
}

static void raise_nofile(long want) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t target = (rlim_t)want;
    if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max) target = rl.rlim_max;
    if (target > rl.rlim_cur) {
        rl.rlim_cur = target;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((long)rl.rlim_cur < want) fail("need %ld file descriptors, limit is %ld", want, (long)rl.rlim_cur);
}


/* Open n connections in batches of 16, each proven live by an ECHO round trip before the next
 * batch: bursts larger than gearmand's default listen backlog (32) get SYNs dropped and cost
 * seconds of retransmission. Returns the index of the first new connection. */
static int open_paced(enum role role, long n) {
    const int batch = 16;
    int first = g_nconns;
    for (long done = 0; done < n;) {
        long k = n - done < batch ? n - done : batch;
        long target = g_echoed + k;
        for (long i = 0; i < k; i++) {
            conn_t *c = add_conn(role, (int)(done + i));
            const void *parts[1] = {"ping"};
            size_t lens[1] = {4};
            put_packet(c, ECHO_REQ, 1, parts, lens);
            c->pending_echo = 1;
            flush(c);
        }
        for (long it = 0; it < 10000000L && g_echoed < target; it++) loop_once();
        done += k;
    }
    return first;
}

static void mode_idle(void) {
    raise_nofile(o_count + 64);
    span_t s;
    span_begin(&s);
    open_paced(R_IDLE, o_count);
    span_end(&s, 1);
    long delta = s.rss1 - s.rss0;
    printf("{\"ok\": true, \"mode\": \"idle\", \"connections\": %ld, \"rss_per_conn_bytes\": %.1f",
           g_echoed, g_echoed ? delta * 1024.0 / g_echoed : 0.0);
    print_common(&s, 1);
    printf("}\n");
}

static void mode_coalesce(void) {
    raise_nofile(o_clients + 64);
    int first = open_paced(R_COAL, o_clients);
    conn_t *w = add_conn(R_WORKER, 99999);
    const void *fp[1] = {o_func};
    size_t fl[1] = {strlen(o_func)};
    put_packet(w, CAN_DO, 1, fp, fl);
    flush(w);
    g_lat = calloc((size_t)o_rounds + 1, sizeof(double));
    span_t s;
    span_begin(&s);
    for (g_round = 0; g_round < o_rounds && now() < g_issue_deadline; g_round++) {
        double r0 = now();
        char uniq[64], data[64];
        int ul = snprintf(uniq, sizeof uniq, "coalesce-%d-%ld", (int)getpid(), g_round);
        int dl = snprintf(data, sizeof data, "round-%ld-payload", g_round);
        g_acked = g_completed = 0;
        g_coal_hlen = 0;
        w->done = 0;
        long ran_before = w->ran;
        for (int i = first; i < first + o_clients; i++) {
            conn_t *c = g_conns[i];
            c->got_created = c->got_complete = 0;
            const void *parts[3] = {o_func, uniq, data};
            size_t lens[3] = {strlen(o_func), (size_t)ul, (size_t)dl};
            put_packet(c, SUBMIT_JOB, 3, parts, lens);
            flush(c);
        }
        for (long it = 0; it < 10000000L && g_acked < o_clients; it++) loop_once();
        put_simple(w, GRAB_JOB_UNIQ);
        flush(w);
        for (long it = 0; it < 10000000L && (g_completed < o_clients || !w->done); it++) loop_once();
        if (w->ran - ran_before != 1) fail("round %ld: the worker ran the job %ld times", g_round, w->ran - ran_before);
        g_lat[g_nlat++] = now() - r0;
    }
    span_end(&s, 0);
    qsort(g_lat, (size_t)g_nlat, sizeof(double), cmp_double);
    long req = g_nlat * o_clients;
    printf("{\"ok\": true, \"mode\": \"coalesce\", \"rounds\": %ld, \"clients\": %d, \"jobs\": %ld, \"rate\": %.1f, "
           "\"worker_runs\": %ld, \"round_p50_ms\": %.3f, \"round_max_ms\": %.3f",
           g_nlat, o_clients, req, req / (s.t1 - s.t0), w->ran, pct(g_lat, g_nlat, 0.5) * 1e3,
           g_nlat ? g_lat[g_nlat - 1] * 1e3 : 0.0);
    print_common(&s, 1);
    printf("}\n");
}

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen MODE --port P [--host H] [--func F] [--count N] [--conns N] [--depth N]\n"
            "       [--clients N] [--workers N] [--size BYTES] [--unique] [--rounds N] [--pid PID]\n"
            "       [--duration S] [--timeout S] [--settle S] [--allow-disconnect] [--no-status-check]\n"
            "       [--verify-acked a,b,...]\n"
            "MODE: bg | fg | drain | idle | coalesce\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2) usage();
    o_mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (OPT("--host")) o_host = v;
        else if (OPT("--port")) o_port = atoi(v);
        else if (OPT("--func")) o_func = v;
        else if (OPT("--count")) o_count = atol(v);
        else if (OPT("--conns")) o_conns = atoi(v);
        else if (OPT("--depth")) o_depth = atoi(v);
        else if (OPT("--clients")) o_clients = atoi(v);
        else if (OPT("--workers")) o_workers = atoi(v);
        else if (OPT("--size")) o_size = atoi(v);
        else if (OPT("--rounds")) o_rounds = atoi(v);
        else if (OPT("--pid")) o_pid = atoi(v);
        else if (OPT("--duration")) o_duration = atof(v);
        else if (OPT("--timeout")) o_timeout = atof(v);
        else if (OPT("--settle")) o_settle = atof(v);
        else if (OPT("--verify-acked")) o_verify_acked = v;
        else if (strcmp(a, "--unique") == 0) o_unique = 1;
        else if (strcmp(a, "--allow-disconnect") == 0) o_allow_disc = 1;
        else if (strcmp(a, "--no-status-check") == 0) o_check_status = 0;
        else usage();
#undef OPT
    }
    if (o_port <= 0 || o_port > 65535) usage();
    if (o_size < 18 || o_size > 4096) fail("--size must be 18..4096");
    if (o_depth < 1 || o_conns < 1 || o_clients < 0 || o_workers < 0) fail("bad counts");
    if (!o_func) o_func = strcmp(o_mode, "coalesce") == 0 ? "bench_coal" : strcmp(o_mode, "fg") == 0 ? "bench_fg" : "bench_bg";
    g_ep = epoll_create1(0);
    if (g_ep < 0) fail("epoll_create1: %s", strerror(errno));
    g_t_start = now();
    g_issue_deadline = g_t_start + o_duration;
    g_hard_deadline = g_t_start + o_timeout;
    if (strcmp(o_mode, "bg") == 0) mode_bg();
    else if (strcmp(o_mode, "fg") == 0) mode_fg();
    else if (strcmp(o_mode, "drain") == 0) mode_drain();
    else if (strcmp(o_mode, "idle") == 0) mode_idle();
    else if (strcmp(o_mode, "coalesce") == 0) mode_coalesce();
    else usage();
    fflush(stdout);
    return 0;
}
