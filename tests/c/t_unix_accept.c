/* t_unix_accept.c: unix_accept — which sockets may accept, non-blocking
 * EAGAIN, accept4 flags, the names an accepted socket reports, the peer
 * address copied out (and what happens when that copy fails), queue order,
 * connections whose client already left, and a shut-down listener. */
#include "unix_cases.h"

static const int conn_types[] = {SOCK_STREAM, SOCK_SEQPACKET};

static void state_cases(void) {
    static const int types[] = {SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM};
    static const char *states[] = {"unbound", "bound", "connected", "socketpair", "listening-nonblocking-empty"};
    for (size_t t = 0; t < 3; t++)
        for (size_t s = 0; s < 5; s++) {
            int type = types[t];
            struct sockaddr_un a;
            socklen_t len = uc_addr_path(&a, "s");
            int fd, other = -1, other2 = -1;
            switch (s) {
            case 0: fd = uc_socket(type); break;
            case 1: fd = uc_bound(type, &a, len); break;
            case 2:
                if (type == SOCK_DGRAM) {
                    other = uc_bound(type, &a, len);
                    fd = uc_connected(type, &a, len);
                } else {
                    other = uc_listener(type, &a, len, 2);
                    fd = uc_connected(type, &a, len);
                    other2 = accept(other, NULL, NULL);
                }
                break;
            case 3: {
                int sv[2];
                uc_socketpair(type, sv);
                fd = sv[0];
                other = sv[1];
                break;
            }
            default:
                if (type == SOCK_DGRAM) continue;
                fd = uc_listener(type, &a, len, 2);
                uc_nonblock(fd, 1);
                break;
            }
            int r = U_SYS(accept(fd, NULL, NULL), "accept/%s/%s", uc_short_type(type), states[s]);
            if (r >= 0) close(r);
            close(fd);
            if (other >= 0) close(other);
            if (other2 >= 0) close(other2);
            unlink("s");
        }
}

static const struct { int flags; const char *name; } accept_flags[] = {
    {0, "0"}, {SOCK_NONBLOCK, "SOCK_NONBLOCK"}, {SOCK_CLOEXEC, "SOCK_CLOEXEC"},
    {SOCK_NONBLOCK | SOCK_CLOEXEC, "SOCK_NONBLOCK|SOCK_CLOEXEC"}, {O_APPEND, "O_APPEND"}, {1, "1"},
};

static void flag_cases(void) {
    for (size_t t = 0; t < 2; t++)
        for (size_t f = 0; f < sizeof accept_flags / sizeof accept_flags[0]; f++) {
            int type = conn_types[t];
            struct sockaddr_un a;
            socklen_t len = uc_addr_abs(&a, "flags");
            int l = uc_listener(type, &a, len, 2);
            int c = uc_connected(type, &a, len);
            const char *n = uc_name("accept4/%s/%s", uc_short_type(type), accept_flags[f].name);
            char name[96];
            snprintf(name, sizeof name, "%s", n);
            int acc = TC_SYS(name, accept4(l, NULL, NULL, accept_flags[f].flags));
            if (acc >= 0) {
                int fl = fcntl(acc, F_GETFL), fdf = fcntl(acc, F_GETFD);
                tc_printf(uc_name("%s/flags", name), "O_NONBLOCK %s, FD_CLOEXEC %s", (fl & O_NONBLOCK) ? "yes" : "no",
                          (fdf & FD_CLOEXEC) ? "yes" : "no");
                close(acc);
            } else {
                /* a rejected accept4 leaves the connection queued */
                uc_nonblock(l, 1);
                acc = U_SYS(accept(l, NULL, NULL), "%s/connection-still-queued", name);
                if (acc >= 0) close(acc);
            }
            close(c);
            close(l);
        }

    /* O_NONBLOCK of the listener is not inherited */
    for (size_t t = 0; t < 2; t++) {
        struct sockaddr_un a;
        socklen_t len = uc_addr_abs(&a, "inherit");
        int l = uc_listener(conn_types[t] | SOCK_NONBLOCK, &a, len, 2);
        int c = uc_connected(conn_types[t], &a, len);
        int acc = accept(l, NULL, NULL);
        U_FACT(acc >= 0 && (fcntl(acc, F_GETFL) & O_NONBLOCK), "accept/%s/nonblocking-listener/child-nonblocking",
               uc_short_type(conn_types[t]));
        tc_printf(uc_name("accept/%s/SO_TYPE", uc_short_type(conn_types[t])), "%s",
                  uc_type_name(uc_getint(acc, SOL_SOCKET, SO_TYPE)));
        U_VAL(uc_getint(acc, SOL_SOCKET, SO_ACCEPTCONN), "accept/%s/SO_ACCEPTCONN", uc_short_type(conn_types[t]));
        close(acc);
        close(c);
        close(l);
    }
}

static int autoname_ok(const struct sockaddr_un *a, socklen_t len) {
    if (len != UC_SUNLEN + 6 || a->sun_path[0] != 0) return 0;
    for (int i = 1; i < 6; i++)
        if (!a->sun_path[i] || !strchr("0123456789abcdef", a->sun_path[i])) return 0;
    return 1;
}

enum client_kind { C_UNBOUND, C_PATH, C_ABSTRACT, C_AUTOBIND, C_N };
static const char *client_names[] = {"unbound-client", "path-client", "abstract-client", "autobound-client"};

static void name_cases(void) {
    for (size_t t = 0; t < 2; t++)
        for (int k = UC_PATH; k <= UC_ABSTRACT; k++)
            for (int ck = 0; ck < C_N; ck++) {
                int type = conn_types[t];
                char p[96];
                snprintf(p, sizeof p, "accept/%s/%s/%s", uc_short_type(type), uc_kind_name((enum uc_kind)k),
                         client_names[ck]);
                struct sockaddr_un a, ca;
                socklen_t len = uc_addr((enum uc_kind)k, &a, "srv"), clen = 0;
                int l = uc_listener(type, &a, len, 2);
                int c = uc_socket(type);
                if (ck == C_PATH) clen = uc_addr_path(&ca, "cli");
                if (ck == C_ABSTRACT) clen = uc_addr_abs(&ca, "cli");
                if (ck == C_AUTOBIND) clen = sizeof(sa_family_t), ca.sun_family = AF_UNIX;
                if (ck != C_UNBOUND && bind(c, (struct sockaddr *)&ca, clen) < 0) tc_die("bind client");
                if (ck == C_AUTOBIND) {
                    clen = sizeof ca;
                    getsockname(c, (struct sockaddr *)&ca, &clen);
                }
                if (connect(c, (struct sockaddr *)&a, len) < 0) tc_die("connect");
                struct sockaddr_un pa;
                socklen_t pl = sizeof pa;
                memset(&pa, 0x55, sizeof pa);
                int acc = U_SYS(accept(l, (struct sockaddr *)&pa, &pl), "%s", p);
                /* lengths of abstract names depend on the pid: print them only for paths */
                const char *same = ck == C_UNBOUND ? "n/a" : uc_same_addr(&pa, pl, &ca, clen) ? "yes" : "no";
                if (ck == C_UNBOUND || ck == C_PATH)
                    tc_printf(uc_name("%s/peer-addr", p), "len = %u, same as client: %s", (unsigned)pl, same);
                else if (ck == C_AUTOBIND)
                    tc_printf(uc_name("%s/peer-addr", p), "len = %u, hex: %s, same as client: %s", (unsigned)pl,
                              autoname_ok(&pa, pl) ? "yes" : "no", same);
                else
                    tc_printf(uc_name("%s/peer-addr", p), "same as client: %s", same);
                struct sockaddr_un g;
                socklen_t gl = sizeof g;
                getpeername(acc, (struct sockaddr *)&g, &gl);
                U_FACT(gl == pl && memcmp(&g, &pa, gl) == 0, "%s/getpeername-equals-accept-addr", p);
                gl = sizeof g;
                getsockname(acc, (struct sockaddr *)&g, &gl);
                U_FACT(uc_same_addr(&g, gl, &a, len), "%s/getsockname-is-listener", p);
                close(acc);
                close(c);
                close(l);
                unlink("srv");
                unlink("cli");
            }
}

/* The peer address copy-out: a short buffer, no buffer, and failures. */
static void addrlen_cases(void) {
    static const struct { const char *name; int kind; int len; } rows[] = {
        {"addrlen=0", 0, 0},   {"addrlen=1", 0, 1},     {"addrlen=4", 0, 4},       {"addrlen=110", 0, 110},
        {"addrlen=-1", 0, -1}, {"addr=NULL", 1, 110},   {"addr=1", 2, 110},        {"addrlen-ptr=1", 3, 0},
        {"addr=1/addrlen=0", 2, 0},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        struct sockaddr_un a, ca;
        socklen_t len = uc_addr_path(&a, "al"), clen = uc_addr_path(&ca, "client-name");
        int l = uc_listener(SOCK_STREAM | SOCK_NONBLOCK, &a, len, 2);
        int c = uc_bound(SOCK_STREAM, &ca, clen);
        if (connect(c, (struct sockaddr *)&a, len) < 0) tc_die("connect");
        struct sockaddr_un pa;
        memset(&pa, 0, sizeof pa);
        socklen_t pl = (socklen_t)rows[r].len;
        struct sockaddr *ap = (struct sockaddr *)&pa;
        socklen_t *lp = &pl;
        if (rows[r].kind == 1) ap = NULL;
        if (rows[r].kind == 2) ap = (struct sockaddr *)1;
        if (rows[r].kind == 3) lp = (socklen_t *)1;
        int acc = U_SYS(accept(l, ap, lp), "accept/stream/%s", rows[r].name);
        if (acc >= 0) {
            tc_printf(uc_name("accept/stream/%s/len", rows[r].name), "= %d, first path byte: %c", (int)pl,
                      pl > 2 && rows[r].len > 2 && ap && pa.sun_path[0] > ' ' ? pa.sun_path[0] : '-');
            close(acc);
        } else {
            acc = accept(l, NULL, NULL);
            tc_printf(uc_name("accept/stream/%s/connection-after-failure", rows[r].name), "%s",
                      acc >= 0 ? "still queued" : tc_errname(errno));
            if (acc >= 0) close(acc);
            char b;
            U_VAL(recv(c, &b, 1, MSG_DONTWAIT), "accept/stream/%s/client-recv", rows[r].name);
        }
        close(c);
        close(l);
        unlink("al");
        unlink("client-name");
    }
}

static void queue_cases(void) {
    for (size_t t = 0; t < 2; t++) {
        int type = conn_types[t];
        const char *ty = uc_short_type(type);
        struct sockaddr_un a;
        socklen_t len = uc_addr_abs(&a, "queue");
        int l = uc_listener(type, &a, len, 8);
        struct pollfd pfd = {l, POLLIN | POLLOUT, 0};
        poll(&pfd, 1, 0);
        tc_printf(uc_name("accept/%s/poll-listener-empty", ty), "%s", uc_revents(pfd.revents));
        int c[4];
        for (int i = 0; i < 3; i++) {
            c[i] = uc_connected(type, &a, len);
            send(c[i], "abc" + i, 1, 0);
        }
        poll(&pfd, 1, 0);
        tc_printf(uc_name("accept/%s/poll-listener-pending", ty), "%s", uc_revents(pfd.revents));
        char order[4] = {0};
        for (int i = 0; i < 3; i++) {
            int acc = accept(l, NULL, NULL);
            if (acc < 0 || recv(acc, order + i, 1, 0) != 1) order[i] = '?';
            close(acc);
        }
        tc_printf(uc_name("accept/%s/fifo-order", ty), "%s", order);
        for (int i = 0; i < 3; i++) close(c[i]);

        /* client gone before accept, with and without data */
        c[0] = uc_connected(type, &a, len);
        close(c[0]);
        c[1] = uc_connected(type, &a, len);
        send(c[1], "bye", 3, 0);
        close(c[1]);
        char b[8];
        int acc = U_SYS(accept(l, NULL, NULL), "accept/%s/client-closed", ty);
        U_VAL(recv(acc, b, sizeof b, MSG_DONTWAIT), "accept/%s/client-closed/recv", ty);
        U_VAL(send(acc, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT), "accept/%s/client-closed/send", ty);
        close(acc);
        acc = U_SYS(accept(l, NULL, NULL), "accept/%s/client-sent-and-closed", ty);
        U_VAL(recv(acc, b, sizeof b, MSG_DONTWAIT), "accept/%s/client-sent-and-closed/recv", ty);
        U_VAL(recv(acc, b, sizeof b, MSG_DONTWAIT), "accept/%s/client-sent-and-closed/recv-again", ty);
        struct sockaddr_un g;
        socklen_t gl = sizeof g;
        U_SYS(getpeername(acc, (struct sockaddr *)&g, &gl), "accept/%s/client-sent-and-closed/getpeername", ty);
        close(acc);

        /* shutdown of a listener */
        c[0] = uc_connected(type, &a, len);
        U_SYS(shutdown(l, SHUT_RD), "accept/%s/listener-shutdown", ty);
        pfd.revents = 0;
        poll(&pfd, 1, 0);
        tc_printf(uc_name("accept/%s/listener-shutdown/poll", ty), "%s", uc_revents(pfd.revents));
        uc_nonblock(l, 1);
        acc = U_SYS(accept(l, NULL, NULL), "accept/%s/listener-shutdown/pending", ty);
        if (acc >= 0) close(acc);
        acc = U_SYS(accept(l, NULL, NULL), "accept/%s/listener-shutdown/empty", ty);
        if (acc >= 0) close(acc);
        c[1] = uc_socket(type | SOCK_NONBLOCK);
        U_SYS(connect(c[1], (struct sockaddr *)&a, len), "accept/%s/listener-shutdown/new-connect", ty);
        close(c[1]);
        close(c[0]);
        close(l);
    }
}

int main(void) {
    uc_setup();
    state_cases();
    flag_cases();
    name_cases();
    addrlen_cases();
    queue_cases();
    return tc_done();
}
