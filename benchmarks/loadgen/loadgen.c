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
 *
 * Files: loadgen.c (the modes and main), core.c (state, packets, sockets, /proc readings, the
 * event loop), roles.c (what each kind of connection does with a reply), loadgen.h.
 */
#include "loadgen.h"

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

/* --latency-log: one line per job, in completion order: seconds since the timed span began,
 * the job's latency in seconds, and its client. Shows whether slow jobs are spread out or
 * bunched in time (a stall hits every job in flight). */
static void write_latency_log(double t0) {
    FILE *f = fopen(o_latency_log, "w");
    if (!f) fail("cannot write %s: %s", o_latency_log, strerror(errno));
    for (long i = 0; i < g_nlat; i++)
        fprintf(f, "%.7f %.7f %d\n", g_lat_done[i] - t0, g_lat[i], g_lat_client[i]);
    if (fclose(f) != 0) fail("cannot write %s: %s", o_latency_log, strerror(errno));
}

static void mode_fg(void) {
    g_lat = calloc((size_t)o_count + 1, sizeof(double));
    if (o_latency_log) {
        g_lat_done = calloc((size_t)o_count + 1, sizeof(double));
        g_lat_client = calloc((size_t)o_count + 1, sizeof(int));
    }
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
    if (o_latency_log) write_latency_log(s.t0);
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
            "       [--verify-acked a,b,...] [--latency-log FILE (fg)]\n"
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
        else if (OPT("--latency-log")) o_latency_log = v;
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

