/* t_unix_dgram.c: SOCK_DGRAM semantics — message boundaries, truncation
 * (MSG_TRUNC in msg_flags and as a recv flag), sender addresses, connect /
 * AF_UNSPEC disconnect, a receiver that only accepts its peer, closed and
 * missing peers, EMSGSIZE against the send buffer, the max_dgram_qlen queue
 * limit, FIONREAD/SIOCOUTQ, MSG_OOB, shutdown. Each case runs on a fresh
 * receiver (bound at a path or an abstract name) and sender (unbound or
 * bound), for every combination. */
#include "unix_cases.h"
#include <linux/sockios.h>

struct ctx {
    int rx, tx;
    struct sockaddr_un ra, ta;
    socklen_t rl, tl;
    enum uc_kind kind;
    int bound;
};
static char P[128];

#define SA(x) ((struct sockaddr *)&(x))

static const char *show(const char *b, long n) {
    static char out[64];
    if (n < 0) return "";
    snprintf(out, sizeof out, " \"%.*s\"", (int)(n > 40 ? 40 : n), b);
    return out;
}

/* recvmsg into len bytes; prints the count, the data and msg_flags. */
static void recv_show(int fd, size_t len, int flags, const char *name) {
    char b[256] = {0};
    int mflags;
    long r = uc_recv1(fd, b, len, flags, &mflags);
    if (r < 0) tc_printf(name, "%s", uc_rv(r, errno));
    else tc_printf(name, "%s%s, MSG_TRUNC %s", uc_rv(r, 0), show(b, r < (long)len ? r : (long)len),
                   (mflags & MSG_TRUNC) ? "yes" : "no");
}

static void c_boundaries(struct ctx *c) {
    sendto(c->tx, "abc", 3, 0, SA(c->ra), c->rl);
    sendto(c->tx, "defghij", 7, 0, SA(c->ra), c->rl);
    sendto(c->tx, "", 0, 0, SA(c->ra), c->rl);
    sendto(c->tx, "k", 1, 0, SA(c->ra), c->rl);
    recv_show(c->rx, 100, MSG_DONTWAIT, uc_name("%s/boundaries/1", P));
    recv_show(c->rx, 100, MSG_DONTWAIT, uc_name("%s/boundaries/2", P));
    recv_show(c->rx, 100, MSG_DONTWAIT, uc_name("%s/boundaries/3-empty-datagram", P));
    recv_show(c->rx, 100, MSG_DONTWAIT | MSG_WAITALL, uc_name("%s/boundaries/4-waitall", P));
    recv_show(c->rx, 100, MSG_DONTWAIT, uc_name("%s/boundaries/5-none", P));
}

static void c_trunc(struct ctx *c) {
    sendto(c->tx, "0123456789", 10, 0, SA(c->ra), c->rl);
    sendto(c->tx, "next", 4, 0, SA(c->ra), c->rl);
    recv_show(c->rx, 4, MSG_DONTWAIT, uc_name("%s/trunc/recv-4-of-10", P));
    recv_show(c->rx, 100, MSG_DONTWAIT, uc_name("%s/trunc/rest-discarded", P));
    sendto(c->tx, "0123456789", 10, 0, SA(c->ra), c->rl);
    recv_show(c->rx, 4, MSG_TRUNC | MSG_DONTWAIT, uc_name("%s/trunc/MSG_TRUNC-flag", P));
    sendto(c->tx, "0123456789", 10, 0, SA(c->ra), c->rl);
    U_VAL(recv(c->rx, NULL, 0, MSG_TRUNC | MSG_PEEK | MSG_DONTWAIT), "%s/trunc/size-probe", P);
    recv_show(c->rx, 3, MSG_PEEK | MSG_DONTWAIT, uc_name("%s/trunc/peek-3", P));
    recv_show(c->rx, 100, MSG_DONTWAIT, uc_name("%s/trunc/after-peek", P));
    sendto(c->tx, "xyz", 3, 0, SA(c->ra), c->rl);
    recv_show(c->rx, 0, MSG_DONTWAIT, uc_name("%s/trunc/recv-0", P));
}

static void c_sender_addr(struct ctx *c) {
    for (int small = 0; small <= 1; small++) {
        sendto(c->tx, "a", 1, 0, SA(c->ra), c->rl);
        struct sockaddr_un f;
        memset(&f, 0x55, sizeof f);
        socklen_t fl = small ? 4 : sizeof f;
        char b[4];
        U_VAL(recvfrom(c->rx, b, sizeof b, MSG_DONTWAIT, SA(f), &fl), "%s/recvfrom/%s", P,
              small ? "addrlen-4" : "full");
        int same = c->bound && memcmp(&f, &c->ta, small ? 4 : c->tl) == 0;
        if (c->kind == UC_PATH || !c->bound)
            tc_printf(uc_name("%s/recvfrom/%s/addr", P, small ? "addrlen-4" : "full"), "len = %u, same: %s",
                      (unsigned)fl, c->bound ? (same ? "yes" : "no") : "n/a");
        else
            tc_printf(uc_name("%s/recvfrom/%s/addr", P, small ? "addrlen-4" : "full"), "same: %s",
                      same && fl == c->tl ? "yes" : "no");
    }
    /* the name survives the sender's close */
    sendto(c->tx, "a", 1, 0, SA(c->ra), c->rl);
    close(c->tx);
    c->tx = -1;
    struct sockaddr_un f;
    socklen_t fl = sizeof f;
    char b[4];
    U_VAL(recvfrom(c->rx, b, sizeof b, MSG_DONTWAIT, SA(f), &fl), "%s/recvfrom/sender-closed", P);
    U_FACT(c->bound ? uc_same_addr(&f, fl, &c->ta, c->tl) : fl == 0, "%s/recvfrom/sender-closed/addr-as-before", P);
}

static void c_connect(struct ctx *c) {
    U_VAL(send(c->tx, "x", 1, MSG_DONTWAIT), "%s/unconnected/send", P);
    U_SYS(connect(c->tx, SA(c->ra), c->rl), "%s/connect", P);
    U_VAL(send(c->tx, "abc", 3, 0), "%s/connected/send", P);
    U_VAL(write(c->tx, "de", 2), "%s/connected/write", P);
    recv_show(c->rx, 100, MSG_DONTWAIT, uc_name("%s/connected/recv-1", P));
    recv_show(c->rx, 100, MSG_DONTWAIT, uc_name("%s/connected/recv-2", P));
    /* an explicit destination overrides the connected peer */
    struct sockaddr_un o;
    socklen_t ol = uc_addr(c->kind, &o, "other");
    int other = uc_bound(SOCK_DGRAM, &o, ol);
    U_VAL(sendto(c->tx, "zz", 2, 0, SA(o), ol), "%s/connected/sendto-other", P);
    recv_show(other, 100, MSG_DONTWAIT, uc_name("%s/connected/sendto-other/recv", P));
    close(other);
    unlink("other");
    /* AF_UNSPEC dissolves the association */
    struct sockaddr_un un = {.sun_family = AF_UNSPEC};
    U_SYS(connect(c->tx, SA(un), sizeof(sa_family_t)), "%s/connect-AF_UNSPEC", P);
    U_VAL(send(c->tx, "x", 1, MSG_DONTWAIT), "%s/disconnected/send", P);
    struct sockaddr_un g;
    socklen_t gl = sizeof g;
    U_SYS(getpeername(c->tx, SA(g), &gl), "%s/disconnected/getpeername", P);
    U_VAL(sendto(c->tx, "y", 1, 0, SA(c->ra), c->rl), "%s/disconnected/sendto", P);
    U_SYS(connect(c->tx, SA(un), sizeof(sa_family_t)), "%s/connect-AF_UNSPEC-again", P);
    U_SYS(connect(c->tx, SA(un), 1), "%s/connect-AF_UNSPEC-len-1", P);
    /* connecting to oneself */
    U_SYS(connect(c->rx, SA(c->ra), c->rl), "%s/connect-self", P);
    U_VAL(send(c->rx, "me", 2, 0), "%s/connect-self/send", P);
    recv_show(c->rx, 100, MSG_DONTWAIT, uc_name("%s/connect-self/recv-1", P));
    recv_show(c->rx, 100, MSG_DONTWAIT, uc_name("%s/connect-self/recv-2", P));
}

static void c_filter(struct ctx *c) {
    /* rx connected to a third socket only accepts datagrams from it */
    struct sockaddr_un o;
    socklen_t ol = uc_addr(c->kind, &o, "third");
    int third = uc_bound(SOCK_DGRAM, &o, ol);
    connect(c->rx, SA(o), ol);
    U_VAL(sendto(c->tx, "x", 1, MSG_DONTWAIT, SA(c->ra), c->rl), "%s/receiver-connected-elsewhere/sendto", P);
    U_SYS(connect(c->tx, SA(c->ra), c->rl), "%s/receiver-connected-elsewhere/connect", P);
    U_VAL(sendto(third, "y", 1, 0, SA(c->ra), c->rl), "%s/receiver-connected-elsewhere/from-peer", P);
    recv_show(c->rx, 100, MSG_DONTWAIT, uc_name("%s/receiver-connected-elsewhere/recv", P));
    close(third);
    unlink("third");
    /* after its peer is gone, rx accepts anyone again? */
    U_VAL(sendto(c->tx, "z", 1, MSG_DONTWAIT, SA(c->ra), c->rl), "%s/receiver-peer-closed/sendto", P);
    struct sockaddr_un g;
    socklen_t gl = sizeof g;
    U_SYS(getpeername(c->rx, SA(g), &gl), "%s/receiver-peer-closed/getpeername", P);
}

static void c_peer_closed(struct ctx *c) {
    connect(c->tx, SA(c->ra), c->rl);
    send(c->tx, "q", 1, 0); /* unread */
    close(c->rx);
    c->rx = -1;
    struct pollfd pfd = {c->tx, POLLIN | POLLOUT | POLLRDHUP, 0};
    poll(&pfd, 1, 0);
    tc_printf(uc_name("%s/peer-closed/poll", P), "%s", uc_revents(pfd.revents));
    U_VAL(send(c->tx, "x", 1, MSG_DONTWAIT), "%s/peer-closed/send", P);
    U_VAL(send(c->tx, "x", 1, MSG_DONTWAIT), "%s/peer-closed/send-again", P);
    struct sockaddr_un g;
    socklen_t gl = sizeof g;
    U_SYS(getpeername(c->tx, SA(g), &gl), "%s/peer-closed/getpeername", P);
    U_VAL(sendto(c->tx, "x", 1, MSG_DONTWAIT, SA(c->ra), c->rl), "%s/peer-closed/sendto-old-name", P);
}

/* destinations that hold no receiving socket */
static void c_missing(struct ctx *c) {
    struct sockaddr_un m;
    socklen_t ml = uc_addr(c->kind, &m, "missing");
    U_VAL(sendto(c->tx, "x", 1, MSG_DONTWAIT, SA(m), ml), "%s/sendto-missing", P);
    if (c->kind == UC_PATH) {
        close(open("missing", O_CREAT | O_WRONLY, 0644));
        U_VAL(sendto(c->tx, "x", 1, MSG_DONTWAIT, SA(m), ml), "%s/sendto-regular-file", P);
        unlink("missing");
    }
    close(c->rx);
    c->rx = -1;
    U_VAL(sendto(c->tx, "x", 1, MSG_DONTWAIT, SA(c->ra), c->rl), "%s/sendto-closed-receiver", P);
    U_SYS(connect(c->tx, SA(c->ra), c->rl), "%s/connect-closed-receiver", P);
}

static void c_peer_closed_soerror(struct ctx *c) {
    connect(c->tx, SA(c->ra), c->rl);
    close(c->rx);
    c->rx = -1;
    uc_print_opt(uc_name("%s/peer-closed/SO_ERROR", P), c->tx, SOL_SOCKET, SO_ERROR);
    char b[4];
    U_VAL(recv(c->tx, b, sizeof b, MSG_DONTWAIT), "%s/peer-closed/recv", P);
}

static void c_emsgsize(struct ctx *c) {
    static char big[300000];
    int sb = uc_getint(c->tx, SOL_SOCKET, SO_SNDBUF);
    static const struct { const char *name; int delta; } rows[] = {
        {"sndbuf-32", -32}, {"sndbuf-31", -31}, {"sndbuf", 0},
    };
    for (size_t i = 0; i < 3; i++) {
        errno = 0;
        long r = sendto(c->tx, big, sb + rows[i].delta, MSG_DONTWAIT, SA(c->ra), c->rl);
        tc_printf(uc_name("%s/emsgsize/default-sndbuf/%s", P, rows[i].name), "%s",
                  r < 0 ? uc_rv(r, errno) : r == sb + rows[i].delta ? "sent in full" : "partial");
        char d[1];
        while (recv(c->rx, d, 1, MSG_DONTWAIT) >= 0) {}
    }
    int v = 4096;
    setsockopt(c->tx, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    sb = uc_getint(c->tx, SOL_SOCKET, SO_SNDBUF);
    static const int sizes[] = {8160, 8161, 8192, 65536};
    tc_printf(uc_name("%s/emsgsize/SO_SNDBUF=4096", P), "= %d", sb);
    for (size_t i = 0; i < 4; i++) {
        U_VAL(sendto(c->tx, big, sizes[i], MSG_DONTWAIT, SA(c->ra), c->rl), "%s/emsgsize/sndbuf=%d/send-%d", P, sb,
              sizes[i]);
        char d[1];
        while (recv(c->rx, d, 1, MSG_DONTWAIT) >= 0) {}
    }
}

/* Sends 1-byte datagrams with MSG_DONTWAIT until EAGAIN; "= N then ERR". */
static void count_sends(int fd, const struct sockaddr_un *a, socklen_t l, int limit, const char *name) {
    int n = 0;
    int err = 0;
    while (n < limit) {
        if ((a ? sendto(fd, "m", 1, MSG_DONTWAIT, (const struct sockaddr *)a, l) : send(fd, "m", 1, MSG_DONTWAIT)) < 0) {
            err = errno;
            break;
        }
        n++;
    }
    if (n < limit) tc_printf(name, "= %d then %s", n, tc_errname(err));
    else tc_printf(name, "at least %d", limit);
}

static void drain_all(int fd) {
    char d[1];
    while (recv(fd, d, 1, MSG_DONTWAIT) >= 0) {}
}

static void c_qlen(struct ctx *c) {
    count_sends(c->tx, &c->ra, c->rl, 100, uc_name("%s/qlen/sendto", P));
    int tx2 = uc_socket(SOCK_DGRAM);
    count_sends(tx2, &c->ra, c->rl, 100, uc_name("%s/qlen/second-sender", P));
    int inq = -1;
    ioctl(c->rx, FIONREAD, &inq);
    tc_printf(uc_name("%s/qlen/FIONREAD", P), "= %d", inq);
    char d[1];
    recv(c->rx, d, 1, 0);
    count_sends(c->tx, &c->ra, c->rl, 100, uc_name("%s/qlen/after-one-recv", P));
    drain_all(c->rx);
    /* a connected sender is limited too; its poll() loses POLLOUT */
    connect(c->tx, SA(c->ra), c->rl);
    count_sends(c->tx, NULL, 0, 100, uc_name("%s/qlen/connected-sender", P));
    struct pollfd pfd = {c->tx, POLLOUT, 0};
    poll(&pfd, 1, 0);
    tc_printf(uc_name("%s/qlen/connected-sender/poll", P), "%s", uc_revents(pfd.revents));
    uc_nonblock(c->tx, 1);
    U_VAL(send(c->tx, "m", 1, 0), "%s/qlen/connected-sender/O_NONBLOCK-send", P);
    drain_all(c->rx);
    pfd.revents = 0;
    poll(&pfd, 1, 0);
    tc_printf(uc_name("%s/qlen/connected-sender/poll-after-drain", P), "%s", uc_revents(pfd.revents));
    close(tx2);
    /* a receiver connected back to the sender is not limited by the queue length */
    if (c->bound) {
        connect(c->rx, SA(c->ta), c->tl);
        int n = 0;
        while (n < 40 && send(c->tx, "m", 1, MSG_DONTWAIT) == 1) n++;
        tc_printf(uc_name("%s/qlen/mutually-connected", P), "%s", n > 11 ? "more than 11" : "11 or fewer");
        drain_all(c->rx);
    }
}

static void c_empty(struct ctx *c) {
    char b[4];
    U_VAL(recv(c->rx, b, sizeof b, MSG_DONTWAIT), "%s/empty/MSG_DONTWAIT", P);
    uc_nonblock(c->rx, 1);
    U_VAL(recv(c->rx, b, sizeof b, 0), "%s/empty/O_NONBLOCK", P);
    U_VAL(read(c->rx, b, sizeof b), "%s/empty/read", P);
    struct pollfd pfd = {c->rx, POLLIN | POLLOUT, 0};
    poll(&pfd, 1, 0);
    tc_printf(uc_name("%s/empty/poll", P), "%s", uc_revents(pfd.revents));
    sendto(c->tx, "", 0, 0, SA(c->ra), c->rl);
    pfd.revents = 0;
    poll(&pfd, 1, 0);
    tc_printf(uc_name("%s/zero-length/poll", P), "%s", uc_revents(pfd.revents));
    int inq = -1;
    ioctl(c->rx, FIONREAD, &inq);
    tc_printf(uc_name("%s/zero-length/FIONREAD", P), "= %d", inq);
    U_VAL(recv(c->rx, b, sizeof b, 0), "%s/zero-length/recv", P);
    U_VAL(recv(c->rx, b, sizeof b, 0), "%s/zero-length/recv-again", P);
}

static void c_ioctls(struct ctx *c) {
    int inq = -1, outq = -1;
    sendto(c->tx, "abc", 3, 0, SA(c->ra), c->rl);
    sendto(c->tx, "defghij", 7, 0, SA(c->ra), c->rl);
    ioctl(c->rx, FIONREAD, &inq);
    ioctl(c->tx, SIOCOUTQ, &outq);
    tc_printf(uc_name("%s/ioctl/two-queued", P), "FIONREAD %d, sender SIOCOUTQ %d", inq, outq);
    char b[16];
    recv(c->rx, b, sizeof b, 0);
    ioctl(c->rx, FIONREAD, &inq);
    ioctl(c->tx, SIOCOUTQ, &outq);
    tc_printf(uc_name("%s/ioctl/one-queued", P), "FIONREAD %d, sender SIOCOUTQ %d", inq, outq);
    recv(c->rx, b, sizeof b, 0);
    ioctl(c->rx, FIONREAD, &inq);
    ioctl(c->tx, SIOCOUTQ, &outq);
    tc_printf(uc_name("%s/ioctl/none-queued", P), "FIONREAD %d, sender SIOCOUTQ %d", inq, outq);
    U_VAL(sendto(c->tx, "o", 1, MSG_OOB, SA(c->ra), c->rl), "%s/MSG_OOB/send", P);
    U_VAL(recv(c->rx, b, sizeof b, MSG_OOB | MSG_DONTWAIT), "%s/MSG_OOB/recv", P);
}

static void c_shutdown(struct ctx *c) {
    U_SYS(shutdown(c->tx, SHUT_WR), "%s/shutdown-wr", P);
    U_VAL(sendto(c->tx, "x", 1, MSG_NOSIGNAL, SA(c->ra), c->rl), "%s/shutdown-wr/sendto", P);
    sendto(c->tx, "x", 1, MSG_NOSIGNAL, SA(c->ra), c->rl);
    U_SYS(shutdown(c->rx, SHUT_RD), "%s/receiver-shutdown-rd", P);
    int tx2 = uc_socket(SOCK_DGRAM);
    U_VAL(sendto(tx2, "y", 1, MSG_NOSIGNAL, SA(c->ra), c->rl), "%s/receiver-shutdown-rd/sendto", P);
    char b[4];
    U_VAL(recv(c->rx, b, sizeof b, MSG_DONTWAIT), "%s/receiver-shutdown-rd/recv", P);
    struct pollfd pfd = {c->rx, POLLIN | POLLOUT | POLLRDHUP, 0};
    poll(&pfd, 1, 0);
    tc_printf(uc_name("%s/receiver-shutdown-rd/poll", P), "%s", uc_revents(pfd.revents));
    close(tx2);
}

static const struct { const char *name; void (*fn)(struct ctx *); } cases[] = {
    {"boundaries", c_boundaries}, {"trunc", c_trunc},   {"sender_addr", c_sender_addr},
    {"connect", c_connect},       {"filter", c_filter}, {"peer_closed", c_peer_closed}, {"missing", c_missing},
    {"peer_closed_soerror", c_peer_closed_soerror},     {"emsgsize", c_emsgsize},
    {"qlen", c_qlen},             {"empty", c_empty},   {"ioctls", c_ioctls},
    {"shutdown", c_shutdown},
};

int main(void) {
    uc_setup();
    for (int k = UC_PATH; k <= UC_ABSTRACT; k++)
        for (int bound = 0; bound <= 1; bound++)
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                struct ctx c = {0};
                c.kind = (enum uc_kind)k;
                c.bound = bound;
                c.rl = uc_addr(c.kind, &c.ra, "rx");
                c.rx = uc_bound(SOCK_DGRAM, &c.ra, c.rl);
                if (bound) {
                    c.tl = uc_addr(c.kind, &c.ta, "tx");
                    c.tx = uc_bound(SOCK_DGRAM, &c.ta, c.tl);
                } else {
                    c.tx = uc_socket(SOCK_DGRAM);
                }
                snprintf(P, sizeof P, "dgram/%s/%s", uc_kind_name(c.kind), bound ? "bound-sender" : "unbound-sender");
                cases[i].fn(&c);
                if (c.rx >= 0) close(c.rx);
                if (c.tx >= 0) close(c.tx);
                unlink("rx");
                unlink("tx");
            }
    return tc_done();
}
