/* Load generator roles: background submitters, foreground clients, workers, coalescers. */
#include "loadgen.h"

/* ---------- role handlers ---------- */
void bg_top_up(conn_t *c) {
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

void fg_top_up(conn_t *c) {
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

void on_bg(conn_t *c, uint32_t type, const uint8_t *p, uint32_t len) {
    (void)p;
    if (type != JOB_CREATED) fail("bg conn %d: expected JOB_CREATED, got type %u", c->id, type);
    if (len == 0 || c->outstanding <= 0) fail("bg conn %d: bad or unsolicited JOB_CREATED", c->id);
    c->outstanding--;
    c->acked++;
    g_acked++;
}

void on_fg(conn_t *c, uint32_t type, const uint8_t *p, uint32_t len) {
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
    double done = now();
    if (g_lat_done) {
        g_lat_done[g_nlat] = done;
        g_lat_client[g_nlat] = c->id;
    }
    g_lat[g_nlat++] = done - s->t0;
    s->state = 0;
    c->outstanding--;
    c->acked++;
    g_completed++;
}

void mark_seen(int conn, long seq) {
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

int g_worker_echo = 1; /* fg echoes the data back; drain completes with an empty result */

void on_worker(conn_t *c, uint32_t type, const uint8_t *p, uint32_t len) {
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

long g_round;
uint8_t g_coal_handle[128];
size_t g_coal_hlen;

void on_coal(conn_t *c, uint32_t type, const uint8_t *p, uint32_t len) {
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

