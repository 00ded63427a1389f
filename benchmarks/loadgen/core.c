/* Load generator core: state, packets, sockets, server introspection and the event loop. */
#include "loadgen.h"

/* ---------- options and global state ---------- */
const char *o_mode = "bg", *o_host = "127.0.0.1", *o_func = NULL;
int o_port = 0, o_conns = 4, o_depth = 64, o_clients = 4, o_workers = 4, o_size = 64;
int o_unique = 0, o_allow_disc = 0, o_rounds = 10, o_pid = 0, o_check_status = 1;
long o_count = 100000;
double o_duration = 1e9, o_timeout = 120.0, o_settle = 0.5;
const char *o_verify_acked = NULL;
const char *o_latency_log = NULL;

int g_ep = -1;
conn_t **g_conns;
int g_nconns;
long g_issued, g_acked, g_completed;
double g_t_start, g_issue_deadline, g_hard_deadline;
double *g_lat;
long g_nlat;
double *g_lat_done; /* with --latency-log: each job's completion time and client, by g_lat index */
int *g_lat_client;
int g_disconnected;
/* drain verification: seen[conn][seq] bitmaps */
uint8_t **g_seen;
long *g_seen_cap;
int g_seen_n;
long g_dupes;

double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fail(const char *fmt, ...) {
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
void buf_reserve(buf_t *b, size_t extra) {
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

void put_u32(uint8_t *p, uint32_t v) {
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

uint32_t get_u32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Append one REQ packet whose payload is the given parts joined by NULs (the last not ended). */
void put_packet(conn_t *c, uint32_t type, int nparts, const void **parts, const size_t *lens) {
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

void put_simple(conn_t *c, uint32_t type) { put_packet(c, type, 0, NULL, NULL); }

/* Deterministic job data: "cccccccc:ssssssss:" then filler derived from (conn, seq). */
void make_data(uint8_t *out, int conn, long seq, int size) {
    char head[32];
    snprintf(head, sizeof head, "%08x:%08lx:", (unsigned)conn, (unsigned long)seq);
    memcpy(out, head, 18);
    for (int i = 18; i < size; i++) out[i] = (uint8_t)('a' + ((conn * 131 + seq * 7 + i) % 26));
}

/* Parse and verify data made by make_data; returns 0 and sets conn/seq when it is intact. */
int check_data(const uint8_t *d, size_t len, int *conn, long *seq) {
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
int connect_to(void) {
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

conn_t *add_conn(enum role role, int id) {
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

void conn_lost(conn_t *c, const char *why) {
    if (!o_allow_disc) fail("connection %d lost: %s", c->id, why);
    if (!c->closed) {
        c->closed = 1;
        g_disconnected = 1;
        epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
}

void flush(conn_t *c) {
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
long server_rss_kb(void) {
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
int server_cpu(double *user, double *sys) {
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
void server_syscalls(long *r, long *w) {
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
long admin_total(void) {
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

long g_echoed;

void dispatch(conn_t *c, uint32_t type, const uint8_t *p, uint32_t len) {
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
size_t parse_packets(conn_t *c, const uint8_t *p, size_t len) {
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
void on_readable(conn_t *c) {
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
void loop_once(void) {
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

