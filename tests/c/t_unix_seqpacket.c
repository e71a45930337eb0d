/* t_unix_seqpacket.c: SOCK_SEQPACKET — connection-oriented with record
 * boundaries. For a socketpair and listen/connect/accept pairs at a path and
 * an abstract name: boundaries, truncation, MSG_PEEK/MSG_WAITALL, addresses,
 * EMSGSIZE, queue ioctls, EOF and EPIPE after close and shutdown, and the
 * unconnected socket. sv[0] is the client (writer), sv[1] the server side. */
#include "unix_cases.h"
#include <sys/uio.h>

static char P[128];
static int pair_kind;

static void recv_show(int fd, size_t len, int flags, const char *name) {
    char b[256] = {0};
    int mflags;
    long r = uc_recv1(fd, b, len, flags, &mflags);
    if (r < 0) tc_printf(name, "%s", uc_rv(r, errno));
    else tc_printf(name, "= %ld \"%.*s\", MSG_TRUNC %s, MSG_EOR %s", r, (int)(r < (long)len ? r : (long)len), b,
                   (mflags & MSG_TRUNC) ? "yes" : "no", (mflags & MSG_EOR) ? "yes" : "no");
}

static void c_boundaries(int *sv) {
    send(sv[0], "abc", 3, 0);
    send(sv[0], "defghij", 7, 0);
    send(sv[0], "", 0, 0);
    send(sv[0], "k", 1, MSG_EOR);
    recv_show(sv[1], 100, MSG_DONTWAIT, uc_name("%s/boundaries/1", P));
    recv_show(sv[1], 100, MSG_DONTWAIT | MSG_WAITALL, uc_name("%s/boundaries/2-waitall", P));
    recv_show(sv[1], 100, MSG_DONTWAIT, uc_name("%s/boundaries/3-empty-record", P));
    recv_show(sv[1], 100, MSG_DONTWAIT, uc_name("%s/boundaries/4-sent-with-MSG_EOR", P));
    recv_show(sv[1], 100, MSG_DONTWAIT, uc_name("%s/boundaries/5-none", P));
    /* both directions */
    U_VAL(send(sv[1], "back", 4, 0), "%s/reverse/send", P);
    recv_show(sv[0], 100, MSG_DONTWAIT, uc_name("%s/reverse/recv", P));
}

static void c_trunc(int *sv) {
    send(sv[0], "0123456789", 10, 0);
    send(sv[0], "next", 4, 0);
    recv_show(sv[1], 4, MSG_DONTWAIT, uc_name("%s/trunc/recv-4-of-10", P));
    recv_show(sv[1], 100, MSG_DONTWAIT, uc_name("%s/trunc/rest-discarded", P));
    send(sv[0], "0123456789", 10, 0);
    recv_show(sv[1], 4, MSG_DONTWAIT | MSG_TRUNC, uc_name("%s/trunc/MSG_TRUNC-flag", P));
    send(sv[0], "0123456789", 10, 0);
    recv_show(sv[1], 3, MSG_DONTWAIT | MSG_PEEK, uc_name("%s/peek-3", P));
    recv_show(sv[1], 100, MSG_DONTWAIT | MSG_PEEK, uc_name("%s/peek-all", P));
    recv_show(sv[1], 100, MSG_DONTWAIT, uc_name("%s/after-peek", P));
    U_VAL(recv(sv[1], NULL, 0, MSG_DONTWAIT), "%s/recv-0-empty", P);
}

static void c_iov(int *sv) {
    char x[3] = {0}, y[10] = {0};
    int mflags;
    long n = uc_iov_exchange(sv, P, MSG_DONTWAIT, x, y, &mflags);
    tc_printf(uc_name("%s/recvmsg-2-iov", P), "= %ld \"%.3s\" \"%s\"", n, x, y);
}

static void c_addresses(int *sv) {
    /* an address given to a connected seqpacket socket is ignored */
    struct sockaddr_un nowhere;
    socklen_t nl = uc_addr_path(&nowhere, "nowhere");
    U_VAL(sendto(sv[0], "to", 2, 0, (struct sockaddr *)&nowhere, nl), "%s/sendto-ignored-address", P);
    recv_show(sv[1], 100, MSG_DONTWAIT, uc_name("%s/sendto-ignored-address/recv", P));
    for (int dir = 0; dir < 2; dir++) {
        send(sv[dir], "a", 1, 0);
        struct sockaddr_un f;
        socklen_t fl = sizeof f;
        char b[4];
        memset(&f, 0x55, sizeof f);
        U_VAL(recvfrom(sv[!dir], b, sizeof b, MSG_DONTWAIT, (struct sockaddr *)&f, &fl), "%s/recvfrom/%s", P,
              dir ? "from-server" : "from-client");
        if (pair_kind == 2 && fl > 2)
            tc_printf(uc_name("%s/recvfrom/%s/addrlen", P, dir ? "from-server" : "from-client"), "abstract: %s",
                      f.sun_path[0] == 0 ? "yes" : "no");
        else
            tc_printf(uc_name("%s/recvfrom/%s/addrlen", P, dir ? "from-server" : "from-client"), "= %u",
                      (unsigned)fl);
    }
    struct sockaddr_un g;
    socklen_t gl = sizeof g;
    getpeername(sv[0], (struct sockaddr *)&g, &gl);
    if (pair_kind == 2) tc_printf(uc_name("%s/client-getpeername", P), "abstract: %s", g.sun_path[0] == 0 ? "yes" : "no");
    else tc_printf(uc_name("%s/client-getpeername", P), "len = %u", (unsigned)gl);
}

static void c_sizes(int *sv) {
    static char big[70000];
    int v = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    static const int sizes[] = {8160, 8161, 65536};
    for (int i = 0; i < 3; i++) {
        U_VAL(send(sv[0], big, sizes[i], MSG_DONTWAIT), "%s/SO_SNDBUF=8192/send-%d", P, sizes[i]);
        char d[1];
        while (recv(sv[1], d, 1, MSG_DONTWAIT) >= 0) {}
    }
    send(sv[0], "abc", 3, 0);
    send(sv[0], "defghij", 7, 0);
    int inq = -1;
    ioctl(sv[1], FIONREAD, &inq);
    tc_printf(uc_name("%s/FIONREAD-two-queued", P), "= %d", inq);
    char d[16];
    recv(sv[1], d, sizeof d, 0);
    recv(sv[1], d, sizeof d, 0);
    /* how many unread 1-byte records the receiver queues (default sndbuf) */
    int n = 0, err = 0;
    while (n < 2000 && send(sv[1], "m", 1, MSG_DONTWAIT) == 1) n++;
    err = errno;
    /* the amount depends on wmem_default and skb sizes: print facts only */
    tc_printf(uc_name("%s/fill-1-byte-records", P), "eagain reached: %s, more than max_dgram_qlen: %s",
              n < 2000 && err == EAGAIN ? "yes" : "no", n > 11 ? "yes" : "no");
    struct pollfd pfd = {sv[1], POLLOUT, 0};
    poll(&pfd, 1, 0);
    tc_printf(uc_name("%s/fill-1-byte-records/poll", P), "%s", uc_revents(pfd.revents));
    U_VAL(send(sv[0], "x", 1, MSG_OOB), "%s/MSG_OOB", P);
}

static void c_eof(int *sv) {
    send(sv[0], "x", 1, 0);
    send(sv[0], "yz", 2, 0);
    close(sv[0]);
    sv[0] = -1;
    struct pollfd pfd = {sv[1], POLLIN | POLLOUT | POLLRDHUP, 0};
    poll(&pfd, 1, 0);
    tc_printf(uc_name("%s/peer-closed/poll", P), "%s", uc_revents(pfd.revents));
    recv_show(sv[1], 100, MSG_DONTWAIT, uc_name("%s/peer-closed/recv-1", P));
    recv_show(sv[1], 100, MSG_DONTWAIT, uc_name("%s/peer-closed/recv-2", P));
    recv_show(sv[1], 100, MSG_DONTWAIT, uc_name("%s/peer-closed/recv-eof", P));
    recv_show(sv[1], 100, 0, uc_name("%s/peer-closed/recv-eof-blocking", P));
    U_VAL(send(sv[1], "x", 1, MSG_NOSIGNAL), "%s/peer-closed/send", P);
    uc_print_opt(uc_name("%s/peer-closed/SO_ERROR", P), sv[1], SOL_SOCKET, SO_ERROR);
}

static void c_unread_close(int *sv) {
    send(sv[0], "lost", 4, 0);
    send(sv[1], "kept", 4, 0);
    close(sv[1]);
    sv[1] = -1;
    recv_show(sv[0], 100, MSG_DONTWAIT, uc_name("%s/peer-closed-unread/recv-1", P));
    recv_show(sv[0], 100, MSG_DONTWAIT, uc_name("%s/peer-closed-unread/recv-2", P));
    recv_show(sv[0], 100, MSG_DONTWAIT, uc_name("%s/peer-closed-unread/recv-3", P));
}

static void c_shutdown(int *sv) {
    send(sv[0], "last", 4, 0);
    U_SYS(shutdown(sv[0], SHUT_WR), "%s/shutdown-wr", P);
    U_VAL(send(sv[0], "x", 1, MSG_NOSIGNAL), "%s/shutdown-wr/send", P);
    recv_show(sv[1], 100, MSG_DONTWAIT, uc_name("%s/shutdown-wr/peer-recv-1", P));
    recv_show(sv[1], 100, MSG_DONTWAIT, uc_name("%s/shutdown-wr/peer-recv-2", P));
    U_VAL(send(sv[1], "back", 4, MSG_NOSIGNAL), "%s/shutdown-wr/peer-send", P);
    recv_show(sv[0], 100, MSG_DONTWAIT, uc_name("%s/shutdown-wr/recv-from-peer", P));
    U_SYS(shutdown(sv[0], SHUT_RD), "%s/shutdown-rd", P);
    U_VAL(send(sv[1], "x", 1, MSG_NOSIGNAL), "%s/shutdown-rd/peer-send", P);
    recv_show(sv[0], 100, MSG_DONTWAIT, uc_name("%s/shutdown-rd/recv", P));
}

static const struct { const char *name; void (*fn)(int *); } cases[] = {
    {"boundaries", c_boundaries}, {"trunc", c_trunc}, {"iov", c_iov},           {"addresses", c_addresses},
    {"sizes", c_sizes},           {"eof", c_eof},     {"unread", c_unread_close}, {"shutdown", c_shutdown},
};
static const char *pair_names[] = {"socketpair", "path", "abstract"};

int main(void) {
    uc_setup();
    for (pair_kind = 0; pair_kind < 3; pair_kind++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            int sv[2];
            if (pair_kind == 0) uc_socketpair(SOCK_SEQPACKET, sv);
            else uc_pair_via_listener(SOCK_SEQPACKET, pair_kind == 1 ? UC_PATH : UC_ABSTRACT, "sp", sv);
            snprintf(P, sizeof P, "seqpacket/%s", pair_names[pair_kind]);
            cases[c].fn(sv);
            if (sv[0] >= 0) close(sv[0]);
            if (sv[1] >= 0) close(sv[1]);
        }

    /* the unconnected socket */
    int s = uc_socket(SOCK_SEQPACKET);
    struct sockaddr_un a;
    socklen_t l = uc_addr_path(&a, "target");
    int srv = uc_listener(SOCK_SEQPACKET, &a, l, 1);
    char b[4];
    U_VAL(send(s, "x", 1, MSG_NOSIGNAL), "seqpacket/unconnected/send");
    U_VAL(sendto(s, "x", 1, MSG_NOSIGNAL, (struct sockaddr *)&a, l), "seqpacket/unconnected/sendto-listener");
    U_VAL(recv(s, b, sizeof b, MSG_DONTWAIT), "seqpacket/unconnected/recv");
    U_VAL(recv(srv, b, sizeof b, MSG_DONTWAIT), "seqpacket/listener/recv");
    U_VAL(send(srv, "x", 1, MSG_NOSIGNAL), "seqpacket/listener/send");
    close(srv);
    close(s);
    return tc_done();
}
