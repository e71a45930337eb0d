/* t_unix_stream_data.c: data transfer on SOCK_STREAM pairs (socketpair,
 * path listener, abstract listener): recv flags (MSG_PEEK, MSG_DONTWAIT,
 * MSG_WAITALL with a second writer thread, MSG_TRUNC, MSG_OOB), EPIPE and
 * SIGPIPE vs MSG_NOSIGNAL, ECONNRESET on unread data, FIONREAD/SIOCOUTQ,
 * SO_SNDBUF/SO_RCVBUF values, filling the peer, SO_PEEK_OFF, bad buffers.
 * Every case runs on a fresh pair: sv[0] writes, sv[1] reads. */
#include "unix_cases.h"
#include <linux/sockios.h>
#include <sys/uio.h>

static volatile sig_atomic_t sigpipes;
static void on_sigpipe(int s) { (void)s; sigpipes++; }

static char P[128]; /* case-name prefix "stream/<pair>" */

static const char *show(const char *b, long n) {
    static char out[64];
    if (n < 0) return "";
    snprintf(out, sizeof out, " \"%.*s\"", (int)(n > 40 ? 40 : n), b);
    return out;
}

#define RECV_SHOW(fd, len, flags, ...)                                                  \
    do {                                                                                \
        char rb_[128];                                                                  \
        errno = 0;                                                                      \
        long r_ = recv((fd), rb_, (len), (flags));                                      \
        tc_printf(uc_name(__VA_ARGS__), "%s%s", uc_rv(r_, errno), show(rb_, r_));      \
    } while (0)

static void c_peek(int *sv) {
    send(sv[0], "hello", 5, 0);
    RECV_SHOW(sv[1], 3, MSG_PEEK, "%s/peek/3", P);
    RECV_SHOW(sv[1], 10, MSG_PEEK, "%s/peek/10", P);
    RECV_SHOW(sv[1], 10, 0, "%s/peek/then-recv", P);
    RECV_SHOW(sv[1], 10, MSG_PEEK | MSG_DONTWAIT, "%s/peek/empty", P);
}

static void c_coalesce(int *sv) {
    send(sv[0], "abc", 3, 0);
    send(sv[0], "def", 3, 0);
    send(sv[0], "gh", 2, 0);
    RECV_SHOW(sv[1], 100, 0, "%s/coalesce/recv-100", P);
    send(sv[0], "0123456789", 10, 0);
    RECV_SHOW(sv[1], 4, 0, "%s/partial/recv-4", P);
    RECV_SHOW(sv[1], 100, 0, "%s/partial/recv-rest", P);
}

static void c_dontwait(int *sv) {
    RECV_SHOW(sv[1], 10, MSG_DONTWAIT, "%s/dontwait/empty", P);
    send(sv[0], "0123456789", 10, 0);
    RECV_SHOW(sv[1], 30, 0, "%s/short-read", P);
    send(sv[0], "0123456789", 10, 0);
    RECV_SHOW(sv[1], 30, MSG_WAITALL | MSG_DONTWAIT, "%s/waitall+dontwait", P);
    send(sv[0], "xy", 2, 0);
    RECV_SHOW(sv[1], 0, 0, "%s/recv-len-0", P);
    RECV_SHOW(sv[1], 10, 0, "%s/recv-len-0/data-kept", P);
}

static void *slow_writer(void *arg) {
    int fd = *(int *)arg;
    for (int i = 0; i < 3; i++) {
        uc_sleep_ms(20);
        if (send(fd, "0123456789", 10, MSG_NOSIGNAL) != 10) break;
    }
    return NULL;
}

static void c_waitall(int *sv) {
    pthread_t th;
    pthread_create(&th, NULL, slow_writer, &sv[0]);
    char b[64];
    U_VAL(recv(sv[1], b, 30, MSG_WAITALL), "%s/waitall/three-writes", P);
    pthread_join(th, NULL);
    send(sv[0], "0123456789", 10, 0);
    shutdown(sv[0], SHUT_WR);
    U_VAL(recv(sv[1], b, 30, MSG_WAITALL), "%s/waitall/eof-first", P);
    U_VAL(recv(sv[1], b, 30, MSG_WAITALL), "%s/waitall/after-eof", P);
}

static void c_trunc(int *sv) {
    send(sv[0], "hello", 5, 0);
    char b[8];
    U_VAL(recv(sv[1], b, 3, MSG_TRUNC), "%s/trunc/recv-3", P);
    RECV_SHOW(sv[1], 10, MSG_DONTWAIT, "%s/trunc/rest", P);
    send(sv[0], "hello", 5, 0);
    U_VAL(recv(sv[1], NULL, 5, MSG_TRUNC), "%s/trunc/null-buffer", P);
    RECV_SHOW(sv[1], 10, MSG_DONTWAIT, "%s/trunc/null-buffer/rest", P);
}

static void c_oob(int *sv) {
    U_VAL(send(sv[0], "ab", 2, 0), "%s/oob/send-normal", P);
    U_VAL(send(sv[0], "c", 1, MSG_OOB), "%s/oob/send-oob", P);
    int mark = -1;
    U_SYS(ioctl(sv[1], SIOCATMARK, &mark), "%s/oob/SIOCATMARK-before", P);
    tc_printf(uc_name("%s/oob/atmark-before", P), "= %d", mark);
    struct pollfd pfd = {sv[1], POLLIN | POLLPRI, 0};
    poll(&pfd, 1, 0);
    tc_printf(uc_name("%s/oob/poll", P), "%s", uc_revents(pfd.revents));
    RECV_SHOW(sv[1], 10, MSG_DONTWAIT, "%s/oob/recv-normal", P);
    ioctl(sv[1], SIOCATMARK, &mark);
    tc_printf(uc_name("%s/oob/atmark-after", P), "= %d", mark);
    RECV_SHOW(sv[1], 10, MSG_OOB | MSG_DONTWAIT, "%s/oob/recv-oob", P);
    RECV_SHOW(sv[1], 10, MSG_OOB | MSG_DONTWAIT, "%s/oob/recv-oob-again", P);
    RECV_SHOW(sv[1], 10, MSG_DONTWAIT, "%s/oob/recv-normal-after", P);
}

static void c_epipe(int *sv) {
    close(sv[1]);
    sv[1] = -1;
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_sigpipe;
    sigaction(SIGPIPE, &sa, &old);
    sigpipes = 0;
    U_VAL(send(sv[0], "x", 1, MSG_NOSIGNAL), "%s/peer-closed/send-nosignal", P);
    tc_printf(uc_name("%s/peer-closed/send-nosignal/sigpipe", P), "%s", sigpipes ? "yes" : "no");
    sigpipes = 0;
    U_VAL(send(sv[0], "x", 1, 0), "%s/peer-closed/send", P);
    tc_printf(uc_name("%s/peer-closed/send/sigpipe", P), "%s", sigpipes ? "yes" : "no");
    sigpipes = 0;
    U_VAL(write(sv[0], "x", 1), "%s/peer-closed/write", P);
    tc_printf(uc_name("%s/peer-closed/write/sigpipe", P), "%s", sigpipes ? "yes" : "no");
    sigpipes = 0;
    U_VAL(send(sv[0], "", 0, 0), "%s/peer-closed/send-0", P);
    tc_printf(uc_name("%s/peer-closed/send-0/sigpipe", P), "%s", sigpipes ? "yes" : "no");
    sigaction(SIGPIPE, &old, NULL);
    char b[4];
    U_VAL(recv(sv[0], b, sizeof b, MSG_DONTWAIT), "%s/peer-closed/recv", P);
    uc_print_opt(uc_name("%s/peer-closed/SO_ERROR", P), sv[0], SOL_SOCKET, SO_ERROR);
}

/* sv[1] closes with unread data from sv[0]: sv[0] gets ECONNRESET, once */
static void c_reset(int *sv) {
    send(sv[0], "lost", 4, 0);
    send(sv[1], "kept", 4, 0);
    close(sv[1]);
    sv[1] = -1;
    RECV_SHOW(sv[0], 8, MSG_DONTWAIT, "%s/peer-closed-unread/recv", P);
    RECV_SHOW(sv[0], 8, MSG_DONTWAIT, "%s/peer-closed-unread/recv-again", P);
    RECV_SHOW(sv[0], 8, MSG_DONTWAIT, "%s/peer-closed-unread/recv-third", P);
    U_VAL(send(sv[0], "x", 1, MSG_NOSIGNAL), "%s/peer-closed-unread/send", P);
}

static void c_reset_soerror(int *sv) {
    send(sv[0], "lost", 4, 0);
    close(sv[1]);
    sv[1] = -1;
    struct pollfd pfd = {sv[0], POLLIN | POLLOUT | POLLRDHUP, 0};
    poll(&pfd, 1, 0);
    tc_printf(uc_name("%s/peer-closed-unread/poll", P), "%s", uc_revents(pfd.revents));
    uc_print_opt(uc_name("%s/peer-closed-unread/SO_ERROR", P), sv[0], SOL_SOCKET, SO_ERROR);
    uc_print_opt(uc_name("%s/peer-closed-unread/SO_ERROR-again", P), sv[0], SOL_SOCKET, SO_ERROR);
    RECV_SHOW(sv[0], 8, MSG_DONTWAIT, "%s/peer-closed-unread/recv-after-SO_ERROR", P);
    U_VAL(send(sv[0], "x", 1, MSG_NOSIGNAL), "%s/peer-closed-unread/send-after-SO_ERROR", P);
}

static void c_eof(int *sv) {
    send(sv[0], "xyz", 3, 0);
    close(sv[0]);
    sv[0] = -1;
    char b[8];
    U_VAL(recv(sv[1], b, sizeof b, 0), "%s/eof/recv-data", P);
    U_VAL(recv(sv[1], b, sizeof b, 0), "%s/eof/recv", P);
    U_VAL(recv(sv[1], b, sizeof b, 0), "%s/eof/recv-again", P);
    U_VAL(read(sv[1], b, sizeof b), "%s/eof/read", P);
    uc_print_opt(uc_name("%s/eof/SO_ERROR", P), sv[1], SOL_SOCKET, SO_ERROR);
}

static void c_zero(int *sv) {
    U_VAL(send(sv[0], "", 0, 0), "%s/send-0", P);
    U_VAL(send(sv[0], NULL, 0, 0), "%s/send-0-null", P);
    char b[4];
    U_VAL(recv(sv[1], b, sizeof b, MSG_DONTWAIT), "%s/send-0/recv", P);
    int n = -1;
    ioctl(sv[1], FIONREAD, &n);
    tc_printf(uc_name("%s/send-0/FIONREAD", P), "= %d", n);
}

static void c_queue_ioctls(int *sv) {
    static const int sizes[] = {0, 1, 100, 1000, 4096, 70000};
    static char buf[70000];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int n = sizes[i];
        long w = n ? send(sv[0], buf, n, MSG_DONTWAIT) : 0;
        int inq = -1, outq = -1, winq = -1, routq = -1;
        ioctl(sv[1], FIONREAD, &inq);
        ioctl(sv[0], SIOCOUTQ, &outq);
        ioctl(sv[0], SIOCINQ, &winq);
        ioctl(sv[1], SIOCOUTQ, &routq);
        tc_printf(uc_name("%s/queue/%d", P, n), "sent %ld, reader FIONREAD %d, writer SIOCOUTQ %d, writer SIOCINQ %d, "
                  "reader SIOCOUTQ %d", w, inq, outq, winq, routq);
        uc_drain(sv[1], w);
        ioctl(sv[0], SIOCOUTQ, &outq);
        tc_printf(uc_name("%s/queue/%d/drained-SIOCOUTQ", P, n), "= %d", outq);
    }
    U_SYS(ioctl(sv[0], 0x5401 /* TCGETS */, buf), "%s/ioctl-unknown", P);
}

static void c_fill(int *sv) {
    struct pollfd pfd = {sv[0], POLLOUT, 0};
    poll(&pfd, 1, 0);
    tc_printf(uc_name("%s/fill/poll-before", P), "%s", uc_revents(pfd.revents));
    long total = uc_fill(sv[0], 4096);
    tc_printf(uc_name("%s/fill/eagain-reached", P), "%s", total > 0 ? "yes" : "no");
    U_VAL(send(sv[0], "x", 1, MSG_DONTWAIT), "%s/fill/send-dontwait", P);
    uc_nonblock(sv[0], 1);
    U_VAL(write(sv[0], "x", 1), "%s/fill/write-nonblocking", P);
    pfd.revents = 0;
    poll(&pfd, 1, 0);
    tc_printf(uc_name("%s/fill/poll-full", P), "%s", uc_revents(pfd.revents));
    int inq = 0;
    ioctl(sv[1], FIONREAD, &inq);
    U_FACT(inq == total, "%s/fill/FIONREAD-equals-written", P);
    U_FACT(uc_drain(sv[1], total) == total, "%s/fill/drain-all", P);
    pfd.revents = 0;
    poll(&pfd, 1, 0);
    tc_printf(uc_name("%s/fill/poll-drained", P), "%s", uc_revents(pfd.revents));
}

static void c_bufsizes(int *sv) {
    static const struct { int val; const char *name; } vals[] = {
        {4096, "4096"}, {0, "0"}, {1, "1"}, {-1, "-1"}, {100000, "100000"},
    };
    static const char *defs[] = {"/proc/sys/net/core/wmem_default", "/proc/sys/net/core/rmem_default"};
    for (int o = 0; o < 2; o++) {
        FILE *f = fopen(defs[o], "r");
        int d = 0;
        if (f && fscanf(f, "%d", &d) != 1) d = 0;
        if (f) fclose(f);
        int got = uc_getint(sv[0], SOL_SOCKET, o ? SO_RCVBUF : SO_SNDBUF);
        tc_printf(uc_name("%s/%s/default", P, o ? "SO_RCVBUF" : "SO_SNDBUF"), "%s",
                  got == d ? "= sysctl default" : got == 2 * d ? "= 2 * sysctl default" : "other");
    }
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        static const int opts[] = {SO_SNDBUF, SO_RCVBUF};
        for (int o = 0; o < 2; o++) {
            int v = vals[i].val;
            U_SYS(setsockopt(sv[0], SOL_SOCKET, opts[o], &v, sizeof v), "%s/%s/set-%s", P,
                  o ? "SO_RCVBUF" : "SO_SNDBUF", vals[i].name);
            int got = uc_getint(sv[0], SOL_SOCKET, opts[o]);
            if (v == -1) {
                /* capped at twice the sysctl maximum */
                FILE *f = fopen(o ? "/proc/sys/net/core/rmem_max" : "/proc/sys/net/core/wmem_max", "r");
                int mx = 0;
                if (f && fscanf(f, "%d", &mx) != 1) mx = 0;
                if (f) fclose(f);
                tc_printf(uc_name("%s/%s/get-%s", P, o ? "SO_RCVBUF" : "SO_SNDBUF", vals[i].name), "2*max: %s",
                          got == 2 * mx ? "yes" : "no");
            } else {
                tc_printf(uc_name("%s/%s/get-%s", P, o ? "SO_RCVBUF" : "SO_SNDBUF", vals[i].name), "= %d", got);
            }
        }
    }
    /* a small send buffer limits how much a non-blocking writer queues */
    int v = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    long total = uc_fill(sv[0], 1000);
    tc_printf(uc_name("%s/SO_SNDBUF=4096/fill", P), "%s", total > 0 && total < 65536 ? "queued < 64k" : "other");
}

struct big { int fd; long n; };
static void *big_writer(void *arg) {
    struct big *b = arg;
    static unsigned char buf[8192];
    long sent = 0;
    while (sent < b->n) {
        for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)((sent + i) * 7);
        size_t chunk = sizeof buf;
        if ((long)chunk > b->n - sent) chunk = b->n - sent;
        ssize_t w = send(b->fd, buf, chunk, MSG_NOSIGNAL);
        if (w <= 0) break;
        sent += w;
    }
    return NULL;
}

static void c_bulk(int *sv) {
    struct big b = {sv[0], 1 << 20};
    pthread_t th;
    pthread_create(&th, NULL, big_writer, &b);
    static unsigned char buf[5000];
    long got = 0;
    int intact = 1;
    while (got < b.n) {
        ssize_t r = recv(sv[1], buf, sizeof buf, 0);
        if (r <= 0) break;
        for (ssize_t i = 0; i < r; i++) {
            /* writer fills 8192-byte blocks whose byte k of the stream is (k*7) */
            if (buf[i] != (unsigned char)((got + i) * 7)) intact = 0;
        }
        got += r;
    }
    pthread_join(th, NULL);
    tc_printf(uc_name("%s/bulk-1MiB", P), "= %ld, intact: %s", got, intact ? "yes" : "no");
}

static void c_iov(int *sv) {
    char x[3] = {0}, y[10] = {0};
    int mflags;
    long n = uc_iov_exchange(sv, P, 0, x, y, &mflags);
    tc_printf(uc_name("%s/recvmsg-2-iov", P), "= %ld \"%.3s\" \"%s\" flags %#x", n, x, y, mflags);
    struct iovec bad[1] = {{(void *)1, 4}};
    struct msghdr m = {0};
    m.msg_iov = bad;
    m.msg_iovlen = 1;
    U_VAL(sendmsg(sv[0], &m, MSG_NOSIGNAL), "%s/sendmsg-bad-iov", P);
    U_VAL(send(sv[0], (void *)1, 4, MSG_NOSIGNAL), "%s/send-bad-buffer", P);
    send(sv[0], "data", 4, 0);
    U_VAL(recv(sv[1], (void *)1, 4, 0), "%s/recv-bad-buffer", P);
    RECV_SHOW(sv[1], 10, MSG_DONTWAIT, "%s/recv-bad-buffer/after", P);
    m.msg_iovlen = 1025;
    U_VAL(sendmsg(sv[0], &m, 0), "%s/sendmsg-iovlen-1025", P);
}

static void c_peek_off(int *sv) {
    uc_print_opt(uc_name("%s/SO_PEEK_OFF/default", P), sv[1], SOL_SOCKET, SO_PEEK_OFF);
    int z = 0;
    U_SYS(setsockopt(sv[1], SOL_SOCKET, SO_PEEK_OFF, &z, sizeof z), "%s/SO_PEEK_OFF/set-0", P);
    send(sv[0], "abcdef", 6, 0);
    RECV_SHOW(sv[1], 2, MSG_PEEK, "%s/SO_PEEK_OFF/peek-1", P);
    RECV_SHOW(sv[1], 2, MSG_PEEK, "%s/SO_PEEK_OFF/peek-2", P);
    uc_print_opt(uc_name("%s/SO_PEEK_OFF/after-peeks", P), sv[1], SOL_SOCKET, SO_PEEK_OFF);
    RECV_SHOW(sv[1], 3, 0, "%s/SO_PEEK_OFF/recv-3", P);
    uc_print_opt(uc_name("%s/SO_PEEK_OFF/after-recv", P), sv[1], SOL_SOCKET, SO_PEEK_OFF);
    RECV_SHOW(sv[1], 10, MSG_PEEK, "%s/SO_PEEK_OFF/peek-3", P);
    RECV_SHOW(sv[1], 10, 0, "%s/SO_PEEK_OFF/recv-rest", P);
}

static const struct { const char *name; void (*fn)(int *); } cases[] = {
    {"peek", c_peek},     {"coalesce", c_coalesce}, {"dontwait", c_dontwait}, {"waitall", c_waitall},
    {"trunc", c_trunc},   {"oob", c_oob},           {"epipe", c_epipe},       {"reset", c_reset}, {"reset_soerror", c_reset_soerror},
    {"eof", c_eof},       {"zero", c_zero},         {"queue", c_queue_ioctls}, {"fill", c_fill},
    {"bufsizes", c_bufsizes}, {"bulk", c_bulk},     {"iov", c_iov},           {"peek_off", c_peek_off},
};

static const char *pair_names[] = {"socketpair", "path", "abstract"};

static void make_pair(int kind, int *sv) {
    if (kind == 0) uc_socketpair(SOCK_STREAM, sv);
    else uc_pair_via_listener(SOCK_STREAM, kind == 1 ? UC_PATH : UC_ABSTRACT, "pair", sv);
}

int main(void) {
    uc_setup();
    for (int k = 0; k < 3; k++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            int sv[2];
            make_pair(k, sv);
            snprintf(P, sizeof P, "stream/%s", pair_names[k]);
            cases[c].fn(sv);
            if (sv[0] >= 0) close(sv[0]);
            if (sv[1] >= 0) close(sv[1]);
        }
    return tc_done();
}
