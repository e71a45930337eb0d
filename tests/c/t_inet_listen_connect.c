/* t_inet_listen_connect.c: listen(2) and TCP connect(2) on loopback for
 * AF_INET / AF_INET6: autobind, backlog and a full accept queue, blocking
 * and non-blocking connect, refused connections, EISCONN / EALREADY,
 * AF_UNSPEC disconnect, connecting to the wildcard address, argument checks.
 */
#include "inet_cases.h"

static char name[IC_NAME];
#define NAME(...) (snprintf(name, sizeof name, __VA_ARGS__), name)

/* A TCP port that is bound but never listens: connecting to it is refused
 * and no other test can take it while *holder stays open. */
static ic_addr dead_port(int af, int *holder) {
    ic_addr a;
    *holder = ic_bound(af, SOCK_STREAM, &a);
    return a;
}

static void listen_cases(int af) {
    const char *f = ic_fam(af);
    int fd = ic_socket(af, SOCK_STREAM);
    errno = 0;
    int r = listen(fd, 4);
    ic_addr a = ic_sockname(fd);
    tc_printf(NAME("listen/%s/unbound", f), "%s, port nonzero: %s, in range: %s, addr %s", ic_res(r, errno),
              ic_yn(ic_port(&a) != 0), ic_yn(ic_in_range(ic_port(&a))), ic_ip(&a));
    TC_SYS(NAME("listen/%s/again-same-backlog", f), listen(fd, 4));
    TC_SYS(NAME("listen/%s/again-other-backlog", f), listen(fd, 64));
    ic_addr b = ic_sockname(fd);
    TC_FACT(NAME("listen/%s/again-keeps-port", f), ic_same(&a, &b));
    TC_SYS(NAME("listen/%s/listener/connect-to-self", f), connect(fd, ic_sa(&b), b.len));
    close(fd);

    fd = ic_socket(af, SOCK_DGRAM);
    TC_SYS(NAME("listen/%s/udp/unbound", f), listen(fd, 4));
    close(fd);
    fd = ic_bound(af, SOCK_DGRAM, NULL);
    TC_SYS(NAME("listen/%s/udp/bound", f), listen(fd, 4));
    close(fd);

    int c, s;
    ic_tcp_pair(af, &c, &s);
    TC_SYS(NAME("listen/%s/connected-client", f), listen(c, 4));
    TC_SYS(NAME("listen/%s/accepted", f), listen(s, 4));
    shutdown(c, SHUT_RDWR);
    TC_SYS(NAME("listen/%s/connected-client-after-shutdown", f), listen(c, 4));
    close(c);
    close(s);

    int h;
    ic_addr d = dead_port(af, &h);
    fd = ic_socket(af, SOCK_STREAM);
    const char *cres = IC_R(connect(fd, ic_sa(&d), d.len));
    tc_printf(NAME("listen/%s/after-refused-connect", f), "connect %s, listen %s", cres, IC_R(listen(fd, 4)));
    close(fd);
    close(h);
}

static void connect_cases(int af) {
    const char *f = ic_fam(af);
    ic_addr la, got;
    int l = ic_listener(af, &la);

    /* Blocking connect to a listener. */
    int c = ic_socket(af, SOCK_STREAM);
    TC_SYS(NAME("connect/%s/blocking/listener", f), connect(c, ic_sa(&la), la.len));
    got = ic_peername(c);
    TC_FACT(NAME("connect/%s/blocking/getpeername-is-listener", f), ic_same(&got, &la));
    got = ic_sockname(c);
    tc_printf(NAME("connect/%s/blocking/getsockname", f), "addr %s, port in range: %s, len %d", ic_ip(&got),
              ic_yn(ic_in_range(ic_port(&got))), (int)got.len);
    TC_SYS(NAME("connect/%s/blocking/again", f), connect(c, ic_sa(&la), la.len));
    tc_printf(NAME("connect/%s/blocking/SO_ERROR", f), "%s", ic_soerr(c));
    tc_printf(NAME("connect/%s/blocking/poll", f), "%s", ic_evstr(ic_wait(c, POLLOUT, 1000)));
    int s = ic_accept(l);

    /* AF_UNSPEC on the connected socket. */
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    TC_SYS(NAME("connect/%s/unspec/connected", f), connect(c, &unspec, sizeof unspec));
    ic_addr pn;
    pn.len = sizeof pn.ss;
    TC_SYS(NAME("connect/%s/unspec/connected/getpeername", f), getpeername(c, ic_sa(&pn), &pn.len));
    got = ic_sockname(c);
    tc_printf(NAME("connect/%s/unspec/connected/getsockname", f), "addr %s, port zero: %s", ic_ip(&got),
              ic_yn(ic_port(&got) == 0));
    tc_printf(NAME("connect/%s/unspec/connected/SO_ERROR", f), "%s", ic_soerr(c));
    ic_wait(s, POLLERR, 1000);
    char buf[16];
    TC_VAL(NAME("connect/%s/unspec/connected/peer-recv", f), recv(s, buf, sizeof buf, MSG_DONTWAIT));
    TC_SYS(NAME("connect/%s/unspec/connected/reconnect", f), connect(c, ic_sa(&la), la.len));
    close(s);
    close(c);

    c = ic_socket(af, SOCK_STREAM);
    TC_SYS(NAME("connect/%s/unspec/fresh", f), connect(c, &unspec, sizeof unspec));
    TC_SYS(NAME("connect/%s/unspec/len-1", f), connect(c, &unspec, 1));
    close(c);

    /* AF_UNSPEC on a listener stops it listening; a port that bind chose
     * (port 0) is given up, an explicitly requested one is kept. */
    for (int explicit = 0; explicit < 2; explicit++) {
        const char *k = explicit ? "explicit-port" : "port-0";
        int l2 = ic_socket(af, SOCK_STREAM);
        if (explicit) {
            if (ic_bind_fixed(l2, af, af == AF_INET ? "127.0.0.1" : "::1", 20000, 30000, NULL) < 0) tc_die("bind");
        } else {
            got = ic_loop(af, 0);
            if (bind(l2, ic_sa(&got), got.len) < 0) tc_die("bind");
        }
        if (listen(l2, 4) < 0) tc_die("listen");
        got = ic_sockname(l2);
        TC_SYS(NAME("connect/%s/unspec/listener/%s", f, k), connect(l2, &unspec, sizeof unspec));
        tc_printf(NAME("connect/%s/unspec/listener/%s/SO_ACCEPTCONN", f, k), "%d",
                  ic_getint(l2, SOL_SOCKET, SO_ACCEPTCONN));
        c = ic_socket(af, SOCK_STREAM);
        TC_SYS(NAME("connect/%s/unspec/listener/%s/connect-to-it", f, k), connect(c, ic_sa(&got), got.len));
        close(c);
        TC_SYS(NAME("connect/%s/unspec/listener/%s/listen-again", f, k), listen(l2, 4));
        ic_addr now = ic_sockname(l2);
        TC_FACT(NAME("connect/%s/unspec/listener/%s/same-port-after-listen-again", f, k), ic_same(&now, &got));
        c = ic_socket(af, SOCK_STREAM);
        TC_SYS(NAME("connect/%s/unspec/listener/%s/connect-after-listen-again", f, k),
               connect(c, ic_sa(&now), now.len));
        close(c);
        close(l2);
    }

    /* Refused: nobody listens on the port. */
    int h;
    ic_addr d = dead_port(af, &h);
    c = ic_socket(af, SOCK_STREAM);
    TC_SYS(NAME("connect/%s/refused/blocking", f), connect(c, ic_sa(&d), d.len));
    tc_printf(NAME("connect/%s/refused/blocking/SO_ERROR", f), "%s", ic_soerr(c));
    got = ic_sockname(c);
    TC_FACT(NAME("connect/%s/refused/blocking/port-released", f), ic_port(&got) == 0);
    tc_printf(NAME("connect/%s/refused/blocking/poll", f), "%s", ic_evstr(ic_poll0(c)));
    TC_SYS(NAME("connect/%s/refused/blocking/again", f), connect(c, ic_sa(&d), d.len));
    close(c);

    c = ic_socket(af, SOCK_STREAM | SOCK_NONBLOCK);
    TC_SYS(NAME("connect/%s/refused/nonblocking", f), connect(c, ic_sa(&d), d.len));
    tc_printf(NAME("connect/%s/refused/nonblocking/poll", f), "%s", ic_evstr(ic_wait(c, POLLOUT, 2000)));
    tc_printf(NAME("connect/%s/refused/nonblocking/SO_ERROR", f), "%s", ic_soerr(c));
    tc_printf(NAME("connect/%s/refused/nonblocking/SO_ERROR-again", f), "%s", ic_soerr(c));
    tc_printf(NAME("connect/%s/refused/nonblocking/poll-after-SO_ERROR", f), "%s", ic_evstr(ic_poll0(c)));
    TC_SYS(NAME("connect/%s/refused/nonblocking/again", f), connect(c, ic_sa(&d), d.len));
    close(c);
    c = ic_socket(af, SOCK_STREAM | SOCK_NONBLOCK);
    connect(c, ic_sa(&d), d.len);
    ic_wait(c, POLLOUT, 2000);
    TC_SYS(NAME("connect/%s/refused/nonblocking/again-without-SO_ERROR", f), connect(c, ic_sa(&d), d.len));
    char ch;
    c = (close(c), ic_socket(af, SOCK_STREAM | SOCK_NONBLOCK));
    connect(c, ic_sa(&d), d.len);
    ic_wait(c, POLLOUT, 2000);
    TC_VAL(NAME("connect/%s/refused/nonblocking/recv-instead-of-SO_ERROR", f), recv(c, &ch, 1, 0));
    TC_VAL(NAME("connect/%s/refused/nonblocking/recv-again", f), recv(c, &ch, 1, 0));
    close(c);
    close(h);

    /* Non-blocking connect to a listener. */
    c = ic_socket(af, SOCK_STREAM | SOCK_NONBLOCK);
    TC_SYS(NAME("connect/%s/nonblocking/listener", f), connect(c, ic_sa(&la), la.len));
    tc_printf(NAME("connect/%s/nonblocking/poll", f), "%s", ic_evstr(ic_wait(c, POLLOUT, 2000)));
    tc_printf(NAME("connect/%s/nonblocking/SO_ERROR", f), "%s", ic_soerr(c));
    TC_SYS(NAME("connect/%s/nonblocking/second", f), connect(c, ic_sa(&la), la.len));
    TC_SYS(NAME("connect/%s/nonblocking/third", f), connect(c, ic_sa(&la), la.len));
    got = ic_peername(c);
    TC_FACT(NAME("connect/%s/nonblocking/getpeername-is-listener", f), ic_same(&got, &la));
    close(c);
    close(ic_accept(l));
    close(l);

    /* The wildcard address as a destination means loopback on Linux. */
    for (int lw = 0; lw < 2; lw++) {
        ic_addr wa = lw ? ic_any(af, 0) : ic_loop(af, 0);
        l = ic_socket(af, SOCK_STREAM);
        if (bind(l, ic_sa(&wa), wa.len) < 0 || listen(l, 4) < 0) tc_die("listener");
        ic_addr to = ic_any(af, ic_port((got = ic_sockname(l), &got)));
        c = ic_socket(af, SOCK_STREAM);
        TC_SYS(NAME("connect/%s/to-any/listener-on-%s", f, lw ? "any" : "loop"), connect(c, ic_sa(&to), to.len));
        got = ic_peername(c);
        tc_printf(NAME("connect/%s/to-any/listener-on-%s/peer", f, lw ? "any" : "loop"), "%s", ic_ip(&got));
        got = ic_sockname(c);
        tc_printf(NAME("connect/%s/to-any/listener-on-%s/local", f, lw ? "any" : "loop"), "%s", ic_ip(&got));
        close(c);
        close(l);
    }

    /* Connecting a listener, and argument checks. */
    l = ic_listener(af, &la);
    TC_SYS(NAME("connect/%s/listener-connects", f), connect(l, ic_sa(&la), la.len));
    ic_addr z = la;
    ic_set_port(&z, 0);
    c = ic_socket(af, SOCK_STREAM);
    TC_SYS(NAME("connect/%s/args/port-0", f), connect(c, ic_sa(&z), z.len));
    close(c);
    int minlen = af == AF_INET ? 16 : 24;
    static const int dl[] = {-1, 0, 1};
    for (size_t i = 0; i < IC_N(dl); i++) {
        c = ic_socket(af, SOCK_STREAM);
        TC_SYS(NAME("connect/%s/args/minlen%+d", f, dl[i]), connect(c, ic_sa(&la), minlen + dl[i]));
        close(c);
    }
    c = ic_socket(af, SOCK_STREAM);
    TC_SYS(NAME("connect/%s/args/len-129", f), connect(c, ic_sa(&la), 129));
    TC_SYS(NAME("connect/%s/args/bad-pointer", f), connect(c, (struct sockaddr *)(uintptr_t)1, la.len));
    ic_addr other = ic_loop(af == AF_INET ? AF_INET6 : AF_INET, ic_port(&la));
    TC_SYS(NAME("connect/%s/args/other-family-own-len", f), connect(c, ic_sa(&other), la.len));
    TC_SYS(NAME("connect/%s/args/other-family-its-len", f), connect(c, ic_sa(&other), other.len));
    ic_addr unix_fam = la;
    unix_fam.ss.ss_family = AF_UNIX;
    TC_SYS(NAME("connect/%s/args/family-unix", f), connect(c, ic_sa(&unix_fam), la.len));
    close(c);
    if (af == AF_INET) {
        ic_addr l2a = ic_make(af, "127.0.0.2", ic_port(&la));
        c = ic_socket(af, SOCK_STREAM);
        TC_SYS(NAME("connect/%s/loop2-to-loop-listener", f), connect(c, ic_sa(&l2a), l2a.len));
        close(c);
    }
    close(l);

    /* Explicit bind before connect keeps the bound address and port. */
    l = ic_listener(af, &la);
    ic_addr ba;
    c = ic_bound(af, SOCK_STREAM, &ba);
    TC_SYS(NAME("connect/%s/after-bind", f), connect(c, ic_sa(&la), la.len));
    got = ic_sockname(c);
    TC_FACT(NAME("connect/%s/after-bind/keeps-local", f), ic_same(&got, &ba));
    s = ic_accept(l);
    got = ic_peername(s);
    TC_FACT(NAME("connect/%s/after-bind/server-sees-bound", f), ic_same(&got, &ba));
    close(s);
    close(c);
    close(l);
}

/* Backlog and a full accept queue: every client is a non-blocking connect;
 * SYNs to a full queue are dropped and retried after the initial RTO
 * (1 s), so within 200 ms exactly the admitted ones are writable. */
struct blrow { int backlog; const char *n; };
static const struct blrow blrows[] = {{0, "0"}, {1, "1"}, {3, "3"}, {-1, "minus1"}};
#define NCLI 5
static void backlog_cases(void) {
    int L[2][IC_N(blrows)], C[2][IC_N(blrows)][NCLI];
    const char *cr[2][IC_N(blrows)][NCLI];
    ic_addr la[2][IC_N(blrows)];
    for (int fi = 0; fi < 2; fi++)
        for (size_t r = 0; r < IC_N(blrows); r++) {
            int af = ic_fams[fi];
            L[fi][r] = ic_bound(af, SOCK_STREAM, &la[fi][r]);
            TC_SYS(NAME("backlog/%s/%s/listen", ic_fam(af), blrows[r].n), listen(L[fi][r], blrows[r].backlog));
            for (int i = 0; i < NCLI; i++) {
                C[fi][r][i] = ic_socket(af, SOCK_STREAM | SOCK_NONBLOCK);
                cr[fi][r][i] = IC_R(connect(C[fi][r][i], ic_sa(&la[fi][r]), la[fi][r].len));
            }
            char out[128] = "";
            for (int i = 0; i < NCLI; i++) {
                size_t k = strlen(out);
                snprintf(out + k, sizeof out - k, "%s%s", i ? ", " : "", cr[fi][r][i]);
            }
            tc_printf(NAME("backlog/%s/%s/connects", ic_fam(af), blrows[r].n), "%s", out);
        }
    usleep(200000);
    for (int fi = 0; fi < 2; fi++)
        for (size_t r = 0; r < IC_N(blrows); r++) {
            char out[64] = "";
            for (int i = 0; i < NCLI; i++)
                strcat(out, (ic_poll0(C[fi][r][i]) & POLLOUT) ? (i ? " yes" : "yes") : (i ? " no" : "no"));
            tc_printf(NAME("backlog/%s/%s/writable-after-200ms", ic_fam(ic_fams[fi]), blrows[r].n), "%s", out);
        }
    /* Backlog 1: the third client is stuck in SYN_SENT. */
    const size_t b1 = 1;
    int stuck[2];
    for (int fi = 0; fi < 2; fi++) {
        const char *f = ic_fam(ic_fams[fi]);
        int p = C[fi][b1][2];
        stuck[fi] = p;
        tc_printf(NAME("backlog/%s/1/pending/poll", f), "%s", ic_evstr(ic_poll0(p)));
        tc_printf(NAME("backlog/%s/1/pending/SO_ERROR", f), "%s", ic_soerr(p));
        TC_SYS(NAME("backlog/%s/1/pending/connect-again", f), connect(p, ic_sa(&la[fi][b1]), la[fi][b1].len));
        ic_addr pn;
        pn.len = sizeof pn.ss;
        TC_SYS(NAME("backlog/%s/1/pending/getpeername", f), getpeername(p, ic_sa(&pn), &pn.len));
        int t = ic_socket(ic_fams[fi], SOCK_STREAM);
        ic_timeo(t, 200);
        TC_SYS(NAME("backlog/%s/1/blocking-connect-with-SO_SNDTIMEO", f),
               connect(t, ic_sa(&la[fi][b1]), la[fi][b1].len));
        close(t);
        for (int i = 3; i < NCLI; i++) close(C[fi][b1][i]);
        close(ic_accept(L[fi][b1]));
    }
    /* One slot is free again: the stuck client's SYN retry gets in. */
    struct pollfd pf[2] = {{stuck[0], POLLOUT, 0}, {stuck[1], POLLOUT, 0}};
    for (int left = 3000; left > 0 && !((pf[0].revents & POLLOUT) && (pf[1].revents & POLLOUT)); left -= 20) {
        for (int fi = 0; fi < 2; fi++) pf[fi].revents = ic_poll0(stuck[fi]);
        if (!((pf[0].revents & POLLOUT) && (pf[1].revents & POLLOUT))) usleep(20000);
    }
    for (int fi = 0; fi < 2; fi++) {
        const char *f = ic_fam(ic_fams[fi]);
        TC_FACT(NAME("backlog/%s/1/pending/writable-after-accept", f), pf[fi].revents & POLLOUT);
        tc_printf(NAME("backlog/%s/1/pending/SO_ERROR-after-accept", f), "%s", ic_soerr(stuck[fi]));
    }
    for (int fi = 0; fi < 2; fi++)
        for (size_t r = 0; r < IC_N(blrows); r++) {
            for (int i = 0; i < NCLI; i++)
                if (r != b1 || i < 3) close(C[fi][r][i]);
            close(L[fi][r]);
        }
}

int main(void) {
    ic_start();
    for (size_t f = 0; f < IC_N(ic_fams); f++) listen_cases(ic_fams[f]);
    for (size_t f = 0; f < IC_N(ic_fams); f++) connect_cases(ic_fams[f]);
    backlog_cases();
    return tc_done();
}
