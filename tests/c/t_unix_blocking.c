/* t_unix_blocking.c: calls that block and what wakes them. A helper thread
 * (or a child process) acts after a short delay and stamps the time just
 * before acting; a case prints the call's result and whether it returned
 * only after that stamp ("woken by ...: yes"). Also SO_RCVTIMEO/SO_SNDTIMEO
 * expiry ("waited >= timeout"), and EINTR vs SA_RESTART. Timings are never
 * printed, only these facts. */
#include "unix_cases.h"
#include <sys/mman.h>

#define DELAY 40   /* ms before the helper acts */
#define TIMEO 70   /* ms for SO_RCVTIMEO / SO_SNDTIMEO */
#define SLACK 10   /* jiffy rounding: a timeout may end this much early */

struct act {
    void (*fn)(struct act *);
    int fd, fd2;
    long n;
    struct sockaddr_un addr;
    socklen_t alen;
    pthread_t target;
    volatile double t_act;
    long result;
};

static void *act_thread(void *p) {
    struct act *a = p;
    uc_sleep_ms(DELAY);
    a->t_act = uc_now_ms();
    a->fn(a);
    return NULL;
}

static pthread_t th;
static void start(struct act *a) {
    a->t_act = 1e300;
    a->target = pthread_self();
    if (pthread_create(&th, NULL, act_thread, a) != 0) tc_die("pthread_create");
}
static void finish(void) { pthread_join(th, NULL); }

static void a_connect(struct act *a) {
    a->fd2 = socket(AF_UNIX, (int)a->n, 0);
    a->result = connect(a->fd2, (struct sockaddr *)&a->addr, a->alen);
}
static void a_accept(struct act *a) { a->result = a->fd2 = accept(a->fd, NULL, NULL); }
static void a_send(struct act *a) { a->result = send(a->fd, "wake!", 5, MSG_NOSIGNAL); }
static void a_close(struct act *a) { close(a->fd); }
static void a_shutdown_rd(struct act *a) { shutdown(a->fd, SHUT_RD); }
static void a_drain(struct act *a) { a->result = uc_drain(a->fd, a->n); }
static void a_recv_one(struct act *a) {
    char b[8];
    a->result = recv(a->fd, b, sizeof b, 0);
}
/* signal first (the stamp), then, for a restarted call, the real event */
static void a_signal_then_send(struct act *a) {
    pthread_kill(a->target, SIGUSR1);
    uc_sleep_ms(DELAY);
    a->result = send(a->fd, "late", 4, MSG_NOSIGNAL);
}
static void a_signal_then_connect(struct act *a) {
    pthread_kill(a->target, SIGUSR1);
    uc_sleep_ms(DELAY);
    a_connect(a);
}

/* fd-returning calls print "ok", never the number */
static const char *res(long r, int e, int is_fd) { return r >= 0 && is_fd ? "ok" : uc_rv(r, e); }

static void woken(const char *name, long r, int e, int is_fd, double t_ret, const struct act *a, const char *by) {
    tc_printf(name, "%s, woken by %s: %s", res(r, e, is_fd), by, t_ret >= a->t_act ? "yes" : "no");
}

static long blk_r; /* the last BLOCK call's return value */
#define BLOCK_(is_fd, call, act, by, ...)                           \
    do {                                                            \
        start(act);                                                 \
        errno = 0;                                                  \
        long r_ = (long)(call);                                     \
        int e_ = errno;                                             \
        double t_ = uc_now_ms();                                    \
        finish();                                                   \
        blk_r = r_;                                                 \
        woken(uc_name(__VA_ARGS__), r_, e_, is_fd, t_, (act), (by)); \
    } while (0)
#define BLOCK(...) BLOCK_(0, __VA_ARGS__)
#define BLOCK_FD(...) BLOCK_(1, __VA_ARGS__)

static const int conn_types[] = {SOCK_STREAM, SOCK_SEQPACKET};
static const int all_types[] = {SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM};

static void wake_cases(void) {
    for (size_t t = 0; t < 2; t++) {
        int type = conn_types[t];
        const char *ty = uc_short_type(type);
        struct act a = {0};
        a.alen = uc_addr_abs(&a.addr, "blk");

        /* accept waits for a connect */
        int l = uc_listener(type, &a.addr, a.alen, 0);
        a.fn = a_connect;
        a.n = type;
        BLOCK_FD(accept(l, NULL, NULL), &a, "connect", "block/%s/accept", ty);
        U_FACT(a.result == 0, "block/%s/accept/helper-connect-ok", ty);
        if (blk_r >= 0) close(blk_r);
        close(a.fd2);

        /* connect on a full backlog waits for an accept */
        int q = uc_connected(type, &a.addr, a.alen); /* backlog 0: one queued is full */
        int extra = socket(AF_UNIX, type | SOCK_NONBLOCK, 0);
        U_SYS(connect(extra, (struct sockaddr *)&a.addr, a.alen), "block/%s/connect/backlog-full-nonblocking", ty);
        close(extra);
        int c = uc_socket(type);
        a.fn = a_accept;
        a.fd = l;
        BLOCK_FD(connect(c, (struct sockaddr *)&a.addr, a.alen), &a, "accept", "block/%s/connect-backlog-full", ty);
        if (a.fd2 >= 0) close(a.fd2);
        close(c);
        close(q);
        close(l);
    }

    for (size_t t = 0; t < 3; t++) {
        int type = all_types[t];
        const char *ty = uc_short_type(type);
        int sv[2];
        struct act a = {0};
        char b[16];

        /* recv waits for data */
        uc_socketpair(type, sv);
        a.fn = a_send;
        a.fd = sv[1];
        BLOCK(recv(sv[0], b, sizeof b, 0), &a, "send", "block/%s/recv", ty);

        /* recv waits for the peer's close (dgram: never; skip) */
        if (type != SOCK_DGRAM) {
            a.fn = a_close;
            BLOCK(recv(sv[0], b, sizeof b, 0), &a, "close", "block/%s/recv-until-peer-close", ty);
            sv[1] = -1;
        }
        close(sv[0]);
        if (sv[1] >= 0) close(sv[1]);

        /* recv waits, then its own socket is shut down by another thread */
        uc_socketpair(type, sv);
        a.fn = a_shutdown_rd;
        a.fd = sv[0];
        uc_timeo(sv[0], SO_RCVTIMEO, 1000); /* in case shutdown does not wake it */
        BLOCK(recv(sv[0], b, sizeof b, 0), &a, "shutdown", "block/%s/recv-until-own-shutdown", ty);
        close(sv[0]);
        close(sv[1]);
    }

    /* a write into a full stream/seqpacket waits for the reader */
    for (size_t t = 0; t < 2; t++) {
        int type = conn_types[t];
        int sv[2];
        uc_socketpair(type, sv);
        struct act a = {0};
        long filled = 0;
        if (type == SOCK_STREAM) {
            filled = uc_fill(sv[0], 4096);
        } else {
            while (send(sv[0], "m", 1, MSG_DONTWAIT) == 1) filled++;
        }
        a.fn = a_drain;
        a.fd = sv[1];
        a.n = type == SOCK_STREAM ? filled + 1000 : filled + 1;
        static char big[1000];
        BLOCK(send(sv[0], big, type == SOCK_STREAM ? 1000 : 1, 0), &a, "reader", "block/%s/send-full",
              uc_short_type(type));
        U_FACT(a.result == a.n, "block/%s/send-full/reader-got-everything", uc_short_type(type));
        close(sv[0]);
        close(sv[1]);
    }

    /* a datagram to a receiver whose queue is full waits for a recv */
    {
        struct act a = {0};
        a.alen = uc_addr_path(&a.addr, "dq");
        int rx = uc_bound(SOCK_DGRAM, &a.addr, a.alen);
        int tx = uc_socket(SOCK_DGRAM);
        int n = 0;
        while (sendto(tx, "q", 1, MSG_DONTWAIT, (struct sockaddr *)&a.addr, a.alen) == 1) n++;
        a.fn = a_recv_one;
        a.fd = rx;
        BLOCK(sendto(tx, "q", 1, 0, (struct sockaddr *)&a.addr, a.alen), &a, "recv", "block/dgram/sendto-queue-full");
        connect(tx, (struct sockaddr *)&a.addr, a.alen);
        BLOCK(send(tx, "q", 1, 0), &a, "recv", "block/dgram/connected-send-queue-full");
        close(tx);
        close(rx);
        unlink("dq");
    }

    /* poll sleeps until data arrives */
    {
        int sv[2];
        uc_socketpair(SOCK_STREAM, sv);
        struct act a = {0};
        a.fn = a_send;
        a.fd = sv[1];
        struct pollfd pfd = {sv[0], POLLIN, 0};
        BLOCK(poll(&pfd, 1, 2000), &a, "send", "block/stream/poll");
        tc_printf("block/stream/poll/revents", "%s", uc_revents(pfd.revents));
        close(sv[0]);
        close(sv[1]);
    }
}

static void timed(const char *name, long r, int e, int is_fd, double waited, int timeo) {
    tc_printf(name, "%s, waited >= timeout: %s", res(r, e, is_fd), waited >= timeo - SLACK ? "yes" : "no");
}

#define TIMED_(is_fd, call, timeo, ...)                             \
    do {                                                            \
        double t0_ = uc_now_ms();                                   \
        errno = 0;                                                  \
        long r_ = (long)(call);                                     \
        int e_ = errno;                                             \
        timed(uc_name(__VA_ARGS__), r_, e_, is_fd, uc_now_ms() - t0_, (timeo)); \
        if (is_fd && r_ >= 0) close(r_);                            \
    } while (0)
#define TIMED(...) TIMED_(0, __VA_ARGS__)
#define TIMED_FD(...) TIMED_(1, __VA_ARGS__)

static void timeout_cases(void) {
    char b[16];
    for (size_t t = 0; t < 3; t++) {
        int sv[2];
        uc_socketpair(all_types[t], sv);
        uc_timeo(sv[0], SO_RCVTIMEO, TIMEO);
        TIMED(recv(sv[0], b, sizeof b, 0), TIMEO, "timeout/%s/SO_RCVTIMEO/recv", uc_short_type(all_types[t]));
        close(sv[0]);
        close(sv[1]);
    }
    for (size_t t = 0; t < 2; t++) {
        struct sockaddr_un a;
        socklen_t al = uc_addr_abs(&a, "to");
        int l = uc_listener(conn_types[t], &a, al, 0);
        uc_timeo(l, SO_RCVTIMEO, TIMEO);
        TIMED_FD(accept(l, NULL, NULL), TIMEO, "timeout/%s/SO_RCVTIMEO/accept", uc_short_type(conn_types[t]));
        /* connect to a full backlog with SO_SNDTIMEO */
        int q = uc_connected(conn_types[t], &a, al);
        int c = uc_socket(conn_types[t]);
        uc_timeo(c, SO_SNDTIMEO, TIMEO);
        TIMED_FD(connect(c, (struct sockaddr *)&a, al), TIMEO, "timeout/%s/SO_SNDTIMEO/connect-backlog-full",
              uc_short_type(conn_types[t]));
        close(c);
        close(q);
        close(l);
    }
    /* SO_SNDTIMEO on a full stream: nothing fits, then only part fits */
    {
        int sv[2];
        uc_socketpair(SOCK_STREAM, sv);
        uc_fill(sv[0], 4096);
        uc_timeo(sv[0], SO_SNDTIMEO, TIMEO);
        static char big[300000];
        TIMED(send(sv[0], big, 1000, 0), TIMEO, "timeout/stream/SO_SNDTIMEO/send-full");
        uc_drain(sv[1], 20000);
        double t0 = uc_now_ms();
        long r = send(sv[0], big, sizeof big, 0);
        double waited = uc_now_ms() - t0;
        tc_printf("timeout/stream/SO_SNDTIMEO/send-partly-fits", "partial count: %s, waited >= timeout: %s",
                  r > 0 && r < (long)sizeof big ? "yes" : "no", waited >= TIMEO - SLACK ? "yes" : "no");
        close(sv[0]);
        close(sv[1]);
    }
    /* SO_SNDTIMEO on a full seqpacket and a full dgram queue */
    {
        int sv[2];
        uc_socketpair(SOCK_SEQPACKET, sv);
        while (send(sv[0], "m", 1, MSG_DONTWAIT) == 1) {}
        uc_timeo(sv[0], SO_SNDTIMEO, TIMEO);
        TIMED(send(sv[0], "m", 1, 0), TIMEO, "timeout/seqpacket/SO_SNDTIMEO/send-full");
        close(sv[0]);
        close(sv[1]);
        struct sockaddr_un a;
        socklen_t al = uc_addr_path(&a, "tq");
        int rx = uc_bound(SOCK_DGRAM, &a, al);
        int tx = uc_socket(SOCK_DGRAM);
        while (sendto(tx, "q", 1, MSG_DONTWAIT, (struct sockaddr *)&a, al) == 1) {}
        uc_timeo(tx, SO_SNDTIMEO, TIMEO);
        TIMED(sendto(tx, "q", 1, 0, (struct sockaddr *)&a, al), TIMEO, "timeout/dgram/SO_SNDTIMEO/sendto-queue-full");
        close(tx);
        close(rx);
        unlink("tq");
    }
}

static volatile sig_atomic_t got_usr1;
static void on_usr1(int s) { (void)s; got_usr1++; }

static void signal_cases(void) {
    for (int restart = 0; restart <= 1; restart++)
        for (int with_timeo = 0; with_timeo <= 1; with_timeo++) {
            struct sigaction sa = {0};
            sa.sa_handler = on_usr1;
            sa.sa_flags = restart ? SA_RESTART : 0;
            sigaction(SIGUSR1, &sa, NULL);
            const char *p = uc_name("signal/%s/%s", restart ? "SA_RESTART" : "no-SA_RESTART",
                                    with_timeo ? "SO_RCVTIMEO" : "no-timeout");
            char pre[96];
            snprintf(pre, sizeof pre, "%s", p);
            int sv[2];
            uc_socketpair(SOCK_STREAM, sv);
            if (with_timeo) uc_timeo(sv[0], SO_RCVTIMEO, 1500);
            struct act a = {0};
            a.fn = a_signal_then_send;
            a.fd = sv[1];
            char b[16];
            got_usr1 = 0;
            BLOCK(recv(sv[0], b, sizeof b, 0), &a, "signal", "%s/recv", pre);
            tc_printf(uc_name("%s/recv/handler-ran", pre), "%s", got_usr1 ? "yes" : "no");
            close(sv[0]);
            close(sv[1]);

            /* accept: the helper signals, then connects */
            struct act c = {0};
            c.alen = uc_addr_abs(&c.addr, "sig");
            c.n = SOCK_STREAM;
            int l = uc_listener(SOCK_STREAM, &c.addr, c.alen, 1);
            if (with_timeo) uc_timeo(l, SO_RCVTIMEO, 1500);
            c.fn = a_signal_then_connect;
            got_usr1 = 0;
            BLOCK_FD(accept(l, NULL, NULL), &c, "signal", "%s/accept", pre);
            tc_printf(uc_name("%s/accept/handler-ran", pre), "%s", got_usr1 ? "yes" : "no");
            if (blk_r >= 0) close(blk_r);
            close(c.fd2);
            close(l);
        }
    signal(SIGUSR1, SIG_DFL);
}

/* the helper is a child process: the stamp lives in shared memory */
static void process_cases(void) {
    volatile double *stamp = mmap(NULL, 2 * sizeof(double), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (stamp == MAP_FAILED) tc_die("mmap");
    struct sockaddr_un a;
    socklen_t al = uc_addr_path(&a, "proc");
    int l = uc_listener(SOCK_STREAM, &a, al, 1);
    stamp[0] = stamp[1] = 1e300;
    pid_t pid = fork();
    if (pid == 0) {
        uc_sleep_ms(DELAY);
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        stamp[0] = uc_now_ms();
        if (connect(c, (struct sockaddr *)&a, al) < 0) _exit(1);
        uc_sleep_ms(DELAY);
        stamp[1] = uc_now_ms();
        if (send(c, "from child", 10, 0) != 10) _exit(2);
        _exit(0);
    }
    errno = 0;
    int acc = accept(l, NULL, NULL);
    int e = errno;
    double t = uc_now_ms();
    tc_printf("block/process/accept", "%s, woken by connect: %s", acc >= 0 ? "ok" : tc_errname(e),
              t >= stamp[0] ? "yes" : "no");
    char b[16];
    errno = 0;
    long r = recv(acc, b, sizeof b, MSG_WAITALL);
    e = errno;
    t = uc_now_ms();
    tc_printf("block/process/recv", "%s, woken by send: %s", uc_rv(r, e), t >= stamp[1] ? "yes" : "no");
    int st;
    waitpid(pid, &st, 0);
    U_FACT(WIFEXITED(st) && WEXITSTATUS(st) == 0, "block/process/child-exit-ok");
    U_VAL(recv(acc, b, sizeof b, 0), "block/process/recv-after-child-exit");
    close(acc);
    close(l);
    unlink("proc");
    munmap((void *)stamp, 2 * sizeof(double));
}

int main(void) {
    uc_setup();
    wake_cases();
    timeout_cases();
    signal_cases();
    process_cases();
    return tc_done();
}
