/* t_unix_socketpair_shutdown.c: socketpair() (families, types, protocols,
 * flags, bad pointers) and shutdown(): for each type x how, what both ends
 * see from poll(), recv() and send(); invalid arguments; poll() after close;
 * and a listener closed with connections still in its queue. */
#include "unix_cases.h"

static const struct { int family; const char *name; } families[] = {
    {AF_UNIX, "AF_UNIX"}, {AF_INET, "AF_INET"}, {AF_INET6, "AF_INET6"}, {AF_UNSPEC, "AF_UNSPEC"}, {AF_MAX + 1, "AF_MAX+1"},
};
static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_RAW, SOCK_RDM, 99};
static const int protos[] = {0, 1, 2};

static void pair_io(const char *p, int *sv) {
    U_VAL(send(sv[0], "ab", 2, MSG_DONTWAIT | MSG_NOSIGNAL), "%s/send-0-to-1", p);
    U_VAL(send(sv[1], "xyz", 3, MSG_DONTWAIT | MSG_NOSIGNAL), "%s/send-1-to-0", p);
    char b[8];
    U_VAL(recv(sv[1], b, sizeof b, MSG_DONTWAIT), "%s/recv-1", p);
    U_VAL(recv(sv[0], b, sizeof b, MSG_DONTWAIT), "%s/recv-0", p);
}

static void socketpair_cases(void) {
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
            for (size_t pr = 0; pr < 3; pr++) {
                if (families[f].family != AF_UNIX && (pr > 0 || t > 2)) continue;
                char p[128];
                snprintf(p, sizeof p, "socketpair/%s/%s/proto=%d", families[f].name, uc_type_name(types[t]), protos[pr]);
                int sv[2] = {-1, -1};
                if (TC_SYS(p, socketpair(families[f].family, types[t], protos[pr], sv)) < 0) continue;
                tc_printf(uc_name("%s/SO_TYPE", p), "%s", uc_type_name(uc_getint(sv[0], SOL_SOCKET, SO_TYPE)));
                if (pr == 0) pair_io(p, sv);
                close(sv[0]);
                close(sv[1]);
            }

    static const int flags[] = {SOCK_NONBLOCK, SOCK_CLOEXEC, SOCK_NONBLOCK | SOCK_CLOEXEC, 0x10};
    for (size_t i = 0; i < 4; i++) {
        const char *n = uc_type_name(SOCK_STREAM | flags[i]);
        char p[128];
        snprintf(p, sizeof p, "socketpair/AF_UNIX/%s", n);
        int sv[2];
        if (TC_SYS(p, socketpair(AF_UNIX, SOCK_STREAM | flags[i], 0, sv)) < 0) continue;
        for (int e = 0; e < 2; e++)
            tc_printf(uc_name("%s/end-%d-flags", p, e), "O_NONBLOCK %s, FD_CLOEXEC %s",
                      (fcntl(sv[e], F_GETFL) & O_NONBLOCK) ? "yes" : "no", (fcntl(sv[e], F_GETFD) & FD_CLOEXEC) ? "yes" : "no");
        close(sv[0]);
        close(sv[1]);
    }
    U_SYS(socketpair(AF_UNIX, SOCK_STREAM, 0, NULL), "socketpair/AF_UNIX/SOCK_STREAM/sv=NULL");
    U_SYS(socketpair(AF_UNIX, SOCK_STREAM, 0, uc_badptr()), "socketpair/AF_UNIX/SOCK_STREAM/sv=1");
    U_SYS(socketpair(AF_INET, SOCK_STREAM, 0, NULL), "socketpair/AF_INET/SOCK_STREAM/sv=NULL");

    /* names and credentials of the ends */
    static const int ok_types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
    for (size_t t = 0; t < 3; t++) {
        int sv[2];
        uc_socketpair(ok_types[t], sv);
        const char *ty = uc_short_type(ok_types[t]);
        for (int e = 0; e < 2; e++) {
            struct sockaddr_un a;
            socklen_t al = sizeof a;
            U_SYS(getsockname(sv[e], (struct sockaddr *)&a, &al), "socketpair/%s/end-%d/getsockname", ty, e);
            tc_printf(uc_name("socketpair/%s/end-%d/getsockname-len", ty, e), "= %u", (unsigned)al);
            al = sizeof a;
            U_SYS(getpeername(sv[e], (struct sockaddr *)&a, &al), "socketpair/%s/end-%d/getpeername", ty, e);
            tc_printf(uc_name("socketpair/%s/end-%d/getpeername-len", ty, e), "= %u", (unsigned)al);
            struct ucred uc;
            socklen_t ul = sizeof uc;
            if (getsockopt(sv[e], SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0)
                tc_printf(uc_name("socketpair/%s/end-%d/SO_PEERCRED", ty, e), "pid matches: %s, uid = %d, gid = %d",
                          uc.pid == getpid() ? "yes" : "no", (int)uc.uid, (int)uc.gid);
            else
                tc_printf(uc_name("socketpair/%s/end-%d/SO_PEERCRED", ty, e), "-1 %s", tc_errname(errno));
        }
        /* a socketpair end cannot be re-connected (dgram can) */
        struct sockaddr_un a;
        socklen_t al = uc_addr_path(&a, "sp-target");
        int target = ok_types[t] == SOCK_DGRAM ? uc_bound(SOCK_DGRAM, &a, al) : uc_listener(ok_types[t], &a, al, 1);
        U_SYS(connect(sv[0], (struct sockaddr *)&a, al), "socketpair/%s/connect-elsewhere", ty);
        close(target);
        unlink("sp-target");
        close(sv[0]);
        close(sv[1]);
    }
}

/* ---- shutdown ---- */

static const struct { int how; const char *name; } hows[] = {
    {SHUT_RD, "SHUT_RD"}, {SHUT_WR, "SHUT_WR"}, {SHUT_RDWR, "SHUT_RDWR"},
};

static void show_poll(const char *name, int fd) {
    struct pollfd pfd = {fd, POLLIN | POLLOUT | POLLRDHUP | POLLPRI, 0};
    int r = poll(&pfd, 1, 0);
    tc_printf(name, "%d %s", r, uc_revents(pfd.revents));
}

static void shutdown_cases(void) {
    static const int ok_types[] = {SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM};
    for (size_t t = 0; t < 3; t++)
        for (size_t h = 0; h < 3; h++)
            for (int via = 0; via < 2; via++) {
                int type = ok_types[t];
                if (via && type == SOCK_DGRAM) continue;
                char p[128];
                snprintf(p, sizeof p, "shutdown/%s/%s/%s", via ? "accepted" : "socketpair", uc_short_type(type),
                         hows[h].name);
                int sv[2];
                if (via) uc_pair_via_listener(type, UC_ABSTRACT, "shut", sv);
                else uc_socketpair(type, sv);
                /* data already in flight both ways */
                send(sv[0], "a2b", 3, 0);
                send(sv[1], "b2a", 3, 0);
                TC_SYS(p, shutdown(sv[0], hows[h].how));
                show_poll(uc_name("%s/poll-self", p), sv[0]);
                show_poll(uc_name("%s/poll-peer", p), sv[1]);
                char b[8];
                U_VAL(recv(sv[0], b, sizeof b, MSG_DONTWAIT), "%s/self-recv-queued", p);
                U_VAL(recv(sv[0], b, sizeof b, MSG_DONTWAIT), "%s/self-recv-again", p);
                U_VAL(recv(sv[1], b, sizeof b, MSG_DONTWAIT), "%s/peer-recv-queued", p);
                U_VAL(recv(sv[1], b, sizeof b, MSG_DONTWAIT), "%s/peer-recv-again", p);
                U_VAL(send(sv[0], "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL), "%s/self-send", p);
                U_VAL(send(sv[1], "y", 1, MSG_DONTWAIT | MSG_NOSIGNAL), "%s/peer-send", p);
                U_VAL(recv(sv[0], b, sizeof b, MSG_DONTWAIT), "%s/self-recv-after-peer-send", p);
                U_SYS(shutdown(sv[0], hows[h].how), "%s/again", p);
                uc_print_opt(uc_name("%s/self-SO_ERROR", p), sv[0], SOL_SOCKET, SO_ERROR);
                close(sv[0]);
                close(sv[1]);
            }

    /* unconnected, listening, and invalid arguments */
    static const int all[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
    for (size_t t = 0; t < 3; t++) {
        int s = uc_socket(all[t]);
        U_SYS(shutdown(s, SHUT_RDWR), "shutdown/unconnected/%s", uc_short_type(all[t]));
        show_poll(uc_name("shutdown/unconnected/%s/poll", uc_short_type(all[t])), s);
        char b[4];
        U_VAL(recv(s, b, sizeof b, MSG_DONTWAIT), "shutdown/unconnected/%s/recv", uc_short_type(all[t]));
        close(s);
    }
    {
        struct sockaddr_un a;
        socklen_t al = uc_addr_abs(&a, "shut-listener");
        int l = uc_listener(SOCK_STREAM, &a, al, 1);
        U_SYS(shutdown(l, SHUT_RDWR), "shutdown/listener/stream");
        show_poll("shutdown/listener/stream/poll", l);
        close(l);
    }
    static const int bad_how[] = {3, -1, 100};
    int sv[2];
    uc_socketpair(SOCK_STREAM, sv);
    for (int i = 0; i < 3; i++) U_SYS(shutdown(sv[0], bad_how[i]), "shutdown/how=%d", bad_how[i]);
    show_poll("shutdown/bad-how/poll-unchanged", sv[0]);
    close(sv[0]);
    close(sv[1]);
    int pp[2];
    if (pipe(pp) < 0) tc_die("pipe");
    U_SYS(shutdown(pp[0], SHUT_RD), "shutdown/not-a-socket");
    close(pp[0]);
    close(pp[1]);
    U_SYS(shutdown(pp[0], SHUT_RD), "shutdown/closed-fd");
}

static void close_cases(void) {
    static const int ok_types[] = {SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM};
    for (size_t t = 0; t < 3; t++)
        for (int unread = 0; unread < 2; unread++) {
            char p[96];
            snprintf(p, sizeof p, "close/%s/%s", uc_short_type(ok_types[t]), unread ? "peer-had-unread" : "clean");
            int sv[2];
            uc_socketpair(ok_types[t], sv);
            if (unread) send(sv[0], "u", 1, 0);
            close(sv[1]);
            show_poll(uc_name("%s/poll-survivor", p), sv[0]);
            char b[4];
            U_VAL(recv(sv[0], b, sizeof b, MSG_DONTWAIT), "%s/recv", p);
            U_VAL(send(sv[0], "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL), "%s/send", p);
            show_poll(uc_name("%s/poll-after", p), sv[0]);
            close(sv[0]);
        }

    /* a listener closed with unaccepted connections resets them */
    static const int conn_types[] = {SOCK_STREAM, SOCK_SEQPACKET};
    for (size_t t = 0; t < 2; t++)
        for (int sent = 0; sent < 2; sent++) {
            char p[96];
            snprintf(p, sizeof p, "close/listener/%s/%s", uc_short_type(conn_types[t]),
                     sent ? "client-sent-data" : "client-idle");
            struct sockaddr_un a;
            socklen_t al = uc_addr_path(&a, "cl");
            int l = uc_listener(conn_types[t], &a, al, 4);
            int c = uc_connected(conn_types[t], &a, al);
            int c2 = uc_connected(conn_types[t], &a, al);
            if (sent) send(c, "hello", 5, 0);
            close(l);
            show_poll(uc_name("%s/poll-client", p), c);
            char b[8];
            U_VAL(recv(c, b, sizeof b, MSG_DONTWAIT), "%s/client-recv", p);
            U_VAL(recv(c, b, sizeof b, MSG_DONTWAIT), "%s/client-recv-again", p);
            U_VAL(send(c, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL), "%s/client-send", p);
            uc_print_opt(uc_name("%s/second-client-SO_ERROR", p), c2, SOL_SOCKET, SO_ERROR);
            U_VAL(recv(c2, b, sizeof b, MSG_DONTWAIT), "%s/second-client-recv", p);
            struct sockaddr_un g;
            socklen_t gl = sizeof g;
            U_SYS(getpeername(c, (struct sockaddr *)&g, &gl), "%s/client-getpeername", p);
            close(c);
            close(c2);
            unlink("cl");
        }
}

int main(void) {
    uc_setup();
    socketpair_cases();
    shutdown_cases();
    close_cases();
    return tc_done();
}
