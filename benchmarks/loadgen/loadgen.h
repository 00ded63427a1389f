/* Shared declarations of the load generator (see loadgen.c for what it does). */
#ifndef GEARTOOL_LOADGEN_H
#define GEARTOOL_LOADGEN_H

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


/* options and global state, defined in core.c */
extern const char *o_mode, *o_host, *o_func;
extern int o_port, o_conns, o_depth, o_clients, o_workers, o_size;
extern int o_unique, o_allow_disc, o_rounds, o_pid, o_check_status;
extern long o_count;
extern double o_duration, o_timeout, o_settle;
extern const char *o_verify_acked, *o_latency_log;
extern int g_ep;
extern conn_t **g_conns;
extern int g_nconns;
extern long g_issued, g_acked, g_completed;
extern double g_t_start, g_issue_deadline, g_hard_deadline;
extern double *g_lat, *g_lat_done;
extern int *g_lat_client;
extern long g_nlat;
extern int g_disconnected;
extern uint8_t **g_seen;
extern long *g_seen_cap;
extern int g_seen_n;
extern long g_dupes;
extern long g_round, g_echoed;
extern uint8_t g_coal_handle[128];
extern size_t g_coal_hlen;
extern int g_worker_echo;

/* functions shared between the files */
double now(void);
void fail(const char *fmt, ...);
void buf_reserve(buf_t *b, size_t extra);
void put_u32(uint8_t *p, uint32_t v);
uint32_t get_u32(const uint8_t *p);
void put_packet(conn_t *c, uint32_t type, int nparts, const void **parts, const size_t *lens);
void put_simple(conn_t *c, uint32_t type);
void make_data(uint8_t *out, int conn, long seq, int size);
int check_data(const uint8_t *d, size_t len, int *conn, long *seq);
int connect_to(void);
conn_t *add_conn(enum role role, int id);
void conn_lost(conn_t *c, const char *why);
void flush(conn_t *c);
long server_rss_kb(void);
int server_cpu(double *user, double *sys);
void server_syscalls(long *r, long *w);
long admin_total(void);
void bg_top_up(conn_t *c);
void fg_top_up(conn_t *c);
void on_bg(conn_t *c, uint32_t type, const uint8_t *p, uint32_t len);
void on_fg(conn_t *c, uint32_t type, const uint8_t *p, uint32_t len);
void mark_seen(int conn, long seq);
void on_worker(conn_t *c, uint32_t type, const uint8_t *p, uint32_t len);
void on_coal(conn_t *c, uint32_t type, const uint8_t *p, uint32_t len);
void dispatch(conn_t *c, uint32_t type, const uint8_t *p, uint32_t len);
size_t parse_packets(conn_t *c, const uint8_t *p, size_t len);
void on_readable(conn_t *c);
void loop_once(void);

#endif
