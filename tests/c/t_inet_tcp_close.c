/* t_inet_tcp_close.c: ending TCP connections over loopback for AF_INET /
 * AF_INET6: shutdown(2) in each direction, orderly close, close with
 * unread data (RST), SO_LINGER {1,0}, EPIPE and SIGPIPE, and poll revents
 * in every state along the way. */
#include "inet_cases.h"

static char name[IC_NAME];
#define NAME(...) (snprintf(name, sizeof name, __VA_ARGS__), name)
static const char *F;
static volatile sig_atomic_t sigpipes;
static void on_sigpipe(int sig) { (void)sig; sigpipes++; }

static const char *rd(int fd) {
    char b[64];
    return IC_V(recv(fd, b, sizeof b, MSG_DONTWAIT));
}
static const char *wr(int fd, const char *s) { return IC_V(send(fd, s, strlen(s), MSG_NOSIGNAL | MSG_DONTWAIT)); }
static const char *pollstr(int fd) { return ic_evstr(ic_poll0(fd)); }

/* Poll revents in the ordinary states. */
static void poll_states(int af) {
    int c, s;
    ic_tcp_pair(af, &c, &s);
    tc_printf(NAME("poll/%s/connected-idle", F), "%s", pollstr(c));
    wr(c, "hello");
    tc_printf(NAME("poll/%s/data-pending", F), "%s", ic_evstr(ic_wait(s, POLLIN, 2000)));
    rd(s);
    tc_printf(NAME("poll/%s/data-consumed", F), "%s", pollstr(s));
    close(c);
    close(s);

    static const struct { int how; const char *n; } sh[] = {{SHUT_RD, "rd"}, {SHUT_WR, "wr"}, {SHUT_RDWR, "rdwr"}};
    for (size_t i = 0; i < IC_N(sh); i++) {
        ic_tcp_pair(af, &c, &s);
        const char *h = sh[i].n;
        TC_SYS(NAME("shutdown/%s/%s", F, h), shutdown(c, sh[i].how));
        tc_printf(NAME("shutdown/%s/%s/own-poll", F, h), "%s", pollstr(c));
        if (sh[i].how != SHUT_RD)
            tc_printf(NAME("shutdown/%s/%s/peer-poll", F, h), "%s", ic_evstr(ic_wait(s, POLLRDHUP, 2000)));
        else
            tc_printf(NAME("shutdown/%s/%s/peer-poll", F, h), "%s", pollstr(s));
        tc_printf(NAME("shutdown/%s/%s/own-recv", F, h), "%s", rd(c));
        tc_printf(NAME("shutdown/%s/%s/own-send", F, h), "%s", wr(c, "abc"));
        tc_printf(NAME("shutdown/%s/%s/peer-recv", F, h), "%s",
                  sh[i].how == SHUT_RD ? (ic_wait(s, POLLIN, 2000), rd(s)) : rd(s));
        tc_printf(NAME("shutdown/%s/%s/peer-recv-again", F, h), "%s", rd(s));
        tc_printf(NAME("shutdown/%s/%s/peer-send", F, h), "%s", wr(s, "back"));
        for (int t = 0; t < 100 && ic_inq(c) < 4 && !(ic_poll0(c) & POLLERR); t++) usleep(5000);
        tc_printf(NAME("shutdown/%s/%s/own-recv-after-peer-send", F, h), "%s", rd(c));
        tc_printf(NAME("shutdown/%s/%s/own-poll-end", F, h), "%s", pollstr(c));
        ic_addr pn = ic_peername(c);
        TC_FACT(NAME("shutdown/%s/%s/own-getpeername-works", F, h), pn.len > 0);
        TC_SYS(NAME("shutdown/%s/%s/again", F, h), shutdown(c, sh[i].how));
        close(c);
        close(s);
    }
    ic_tcp_pair(af, &c, &s);
    TC_SYS(NAME("shutdown/%s/how-3", F), shutdown(c, 3));
    TC_SYS(NAME("shutdown/%s/how-minus1", F), shutdown(c, -1));
    TC_SYS(NAME("shutdown/%s/wr-then-rd", F), (shutdown(c, SHUT_WR), shutdown(c, SHUT_RD)));
    ic_wait(s, POLLRDHUP, 2000);
    shutdown(s, SHUT_WR);
    tc_printf(NAME("shutdown/%s/both-sides-wr/poll", F), "%s", ic_evstr(ic_wait(c, POLLHUP, 2000)));
    close(c);
    close(s);
}

/* Orderly close: the peer reads every byte, then EOF; it is in CLOSE_WAIT
 * and can still send once; the answer is a RST. */
static void orderly_close(int af) {
    int c, s;
    ic_tcp_pair(af, &c, &s);
    ic_timeo(s, 2000);
    static char buf[100000];
    memset(buf, 'o', sizeof buf);
    if (send(c, buf, sizeof buf, MSG_NOSIGNAL) != (ssize_t)sizeof buf) tc_die("send");
    close(c);
    long total = 0;
    ssize_t n;
    while ((n = recv(s, buf, sizeof buf, 0)) > 0) total += n;
    tc_printf(NAME("close/%s/orderly/peer-reads-all-then", F), "%ld bytes, then %s", total,
              n == 0 ? "EOF" : tc_errname(errno));
    tc_printf(NAME("close/%s/orderly/peer-poll", F), "%s", pollstr(s));
    ic_addr pn = ic_peername(s);
    TC_FACT(NAME("close/%s/orderly/peer-getpeername-works", F), pn.len > 0);
    tc_printf(NAME("close/%s/orderly/peer-first-send", F), "%s", wr(s, "late"));
    tc_printf(NAME("close/%s/orderly/peer-poll-after-rst", F), "%s", ic_evstr(ic_wait(s, POLLERR, 2000)));
    pn = ic_peername(s);
    TC_FACT(NAME("close/%s/orderly/peer-getpeername-after-rst-works", F), pn.len > 0);
    tc_printf(NAME("close/%s/orderly/peer-second-send", F), "%s", wr(s, "late"));
    tc_printf(NAME("close/%s/orderly/peer-third-send", F), "%s", wr(s, "late"));
    tc_printf(NAME("close/%s/orderly/peer-recv", F), "%s", rd(s));
    tc_printf(NAME("close/%s/orderly/peer-SO_ERROR", F), "%s", ic_soerr(s));
    close(s);
}

/* Aborts: close with unread data, or SO_LINGER {1,0}. The survivor's view
 * depends on what it calls first, so each order is its own row. */
struct arow { const char *how; const char *order; };
static const struct arow arows[] = {
    {"unread-data", "recv,recv,send,SO_ERROR"}, {"unread-data", "send,recv,SO_ERROR"},
    {"unread-data", "SO_ERROR,recv,send"},      {"linger0", "recv,recv,send,SO_ERROR"},
    {"linger0", "send,send,recv"},              {"linger0-idle-peer-has-data", "recv,recv,recv"},
};
static void abort_cases(int af) {
    for (size_t i = 0; i < IC_N(arows); i++) {
        const struct arow *r = &arows[i];
        int c, s;
        ic_tcp_pair(af, &c, &s);
        if (!strcmp(r->how, "unread-data")) {
            wr(c, "unread");
            ic_wait_inq(s, 6, 2000);
        } else {
            struct linger lg = {1, 0};
            setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            if (strstr(r->how, "peer-has-data")) {
                wr(s, "queued");
                ic_wait_inq(c, 6, 2000);
            }
        }
        close(s);
        char out[256];
        snprintf(out, sizeof out, "poll %s", ic_evstr(ic_wait(c, POLLERR, 2000)));
        char ord[64];
        snprintf(ord, sizeof ord, "%s", r->order);
        for (char *t = strtok(ord, ","); t; t = strtok(NULL, ",")) {
            const char *res = !strcmp(t, "recv") ? rd(c) : !strcmp(t, "send") ? wr(c, "x") : ic_soerr(c);
            snprintf(out + strlen(out), sizeof out - strlen(out), "; %s %s", t, res);
        }
        snprintf(out + strlen(out), sizeof out - strlen(out), "; poll %s", pollstr(c));
        ic_addr pn = ic_peername(c);
        snprintf(out + strlen(out), sizeof out - strlen(out), "; getpeername %s", pn.len ? "ok" : "fails");
        tc_printf(NAME("abort/%s/%s/%s", F, r->how, r->order), "%s", out);
        close(c);
    }
}

/* SIGPIPE on a write to a reset connection, unless MSG_NOSIGNAL. */
static void sigpipe_cases(int af) {
    struct sigaction sa = {.sa_handler = on_sigpipe}, old;
    sigaction(SIGPIPE, &sa, &old);
    for (int nosig = 0; nosig < 2; nosig++) {
        int c, s;
        ic_tcp_pair(af, &c, &s);
        shutdown(c, SHUT_WR);
        sigpipes = 0;
        errno = 0;
        ssize_t n = send(c, "x", 1, nosig ? MSG_NOSIGNAL : 0);
        tc_printf(NAME("sigpipe/%s/after-own-shutdown-wr/%s", F, nosig ? "MSG_NOSIGNAL" : "plain"),
                  "%s, signals %d", ic_val(n, errno), (int)sigpipes);
        struct linger lg = {1, 0};
        setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(s);
        close(c);
    }
    for (int nosig = 0; nosig < 2; nosig++) {
        int c, s;
        ic_tcp_pair(af, &c, &s);
        struct linger lg = {1, 0};
        setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(s);
        ic_wait(c, POLLERR, 2000);
        sigpipes = 0;
        const char *r1 = IC_V(send(c, "x", 1, nosig ? MSG_NOSIGNAL : 0));
        int after1 = sigpipes;
        const char *r2 = IC_V(write(c, "x", 1));
        tc_printf(NAME("sigpipe/%s/after-rst/%s-then-write", F, nosig ? "MSG_NOSIGNAL" : "plain"),
                  "%s, signals %d; write %s, signals %d", r1, after1, r2, (int)sigpipes);
        close(c);
    }
    sigaction(SIGPIPE, &old, NULL);
}

/* A reader blocked in recv is woken by shutdown(SHUT_RD) from another
 * thread; close of one dup'ed descriptor leaves the connection open. */
struct blk { int fd; ssize_t r; int e; };
static void *blocked_reader(void *p) {
    struct blk *b = p;
    char ch;
    errno = 0;
    b->r = recv(b->fd, &ch, 1, 0);
    b->e = errno;
    return NULL;
}
static void wake_cases(int af) {
    static const struct { int how; const char *n; } rows[] = {{SHUT_RD, "rd"}, {SHUT_RDWR, "rdwr"}, {SHUT_WR, "wr"}};
    for (size_t i = 0; i < IC_N(rows); i++) {
        int c, s;
        ic_tcp_pair(af, &c, &s);
        ic_timeo(c, 200);
        struct blk b = {c, 0, 0};
        pthread_t t;
        pthread_create(&t, NULL, blocked_reader, &b);
        usleep(50000);
        shutdown(c, rows[i].how);
        pthread_join(t, NULL);
        tc_printf(NAME("wake/%s/blocked-recv/shutdown-%s", F, rows[i].n), "%s", ic_val(b.r, b.e));
        close(c);
        close(s);
    }
    int c, s;
    ic_tcp_pair(af, &c, &s);
    int d = dup(c);
    close(c);
    tc_printf(NAME("dup/%s/close-one/send-on-other", F), "%s", wr(d, "still"));
    ic_wait_inq(s, 5, 2000);
    tc_printf(NAME("dup/%s/close-one/peer-poll", F), "%s", pollstr(s));
    close(d);
    tc_printf(NAME("dup/%s/close-both/peer-poll", F), "%s", ic_evstr(ic_wait(s, POLLRDHUP, 2000)));
    close(s);
}

int main(void) {
    ic_start();
    for (size_t i = 0; i < IC_N(ic_fams); i++) {
        int af = ic_fams[i];
        F = ic_fam(af);
        poll_states(af);
        orderly_close(af);
        abort_cases(af);
        sigpipe_cases(af);
        wake_cases(af);
    }
    return tc_done();
}
