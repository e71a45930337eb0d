/* t_inet_accept.c: accept(2) / accept4(2) on TCP over loopback for
 * AF_INET / AF_INET6: sockets that cannot accept, empty queues, accept4
 * flags, the addresses on both ends, address-buffer handling, queue order,
 * connections that died in the queue, option inheritance, and waking a
 * blocked accept. */
#include "inet_cases.h"

static char name[IC_NAME];
#define NAME(...) (snprintf(name, sizeof name, __VA_ARGS__), name)

static const char *fdflags(int fd) {
    char *b = ic_buf();
    snprintf(b, 96, "O_NONBLOCK %s, FD_CLOEXEC %s", ic_yn(fcntl(fd, F_GETFL) & O_NONBLOCK),
             ic_yn(fcntl(fd, F_GETFD) & FD_CLOEXEC));
    return b;
}

static void cannot_accept(int af) {
    const char *f = ic_fam(af);
    int fd = ic_socket(af, SOCK_STREAM);
    TC_SYS(NAME("state/%s/unbound", f), accept(fd, NULL, NULL));
    close(fd);
    fd = ic_bound(af, SOCK_STREAM, NULL);
    TC_SYS(NAME("state/%s/bound-not-listening", f), accept(fd, NULL, NULL));
    close(fd);
    fd = ic_bound(af, SOCK_DGRAM, NULL);
    TC_SYS(NAME("state/%s/udp", f), accept(fd, NULL, NULL));
    close(fd);
    int c, s;
    ic_tcp_pair(af, &c, &s);
    TC_SYS(NAME("state/%s/connected-client", f), accept(c, NULL, NULL));
    TC_SYS(NAME("state/%s/accepted", f), accept(s, NULL, NULL));
    close(c);
    close(s);
    fd = open("/dev/null", O_RDONLY);
    TC_SYS(NAME("state/%s/not-a-socket", f), accept(fd, NULL, NULL));
    close(fd);

    /* A listener that was shut down stops listening. */
    fd = ic_listener(af, NULL);
    TC_SYS(NAME("state/%s/listener/shutdown-wr", f), shutdown(fd, SHUT_WR));
    tc_printf(NAME("state/%s/listener/after-shutdown-wr/SO_ACCEPTCONN", f), "%d",
              ic_getint(fd, SOL_SOCKET, SO_ACCEPTCONN));
    TC_SYS(NAME("state/%s/listener/shutdown-rd", f), shutdown(fd, SHUT_RD));
    tc_printf(NAME("state/%s/listener/after-shutdown-rd/SO_ACCEPTCONN", f), "%d",
              ic_getint(fd, SOL_SOCKET, SO_ACCEPTCONN));
    tc_printf(NAME("state/%s/listener/after-shutdown-rd/poll", f), "%s", ic_evstr(ic_poll0(fd)));
    TC_SYS(NAME("state/%s/listener/after-shutdown-rd/accept", f), accept(fd, NULL, NULL));
    close(fd);
}

static void empty_queue(int af) {
    const char *f = ic_fam(af);
    int l = ic_listener(af, NULL);
    tc_printf(NAME("empty/%s/poll", f), "%s", ic_evstr(ic_poll0(l)));
    ic_nonblock(l, 1);
    TC_SYS(NAME("empty/%s/nonblocking-listener", f), accept(l, NULL, NULL));
    ic_nonblock(l, 0);
    TC_SYS(NAME("empty/%s/accept4-nonblock-flag-only-affects-new-socket", f),
           ({ ic_timeo(l, 100); accept4(l, NULL, NULL, SOCK_NONBLOCK); }));
    close(l);
}

static void flags_cases(int af) {
    static const struct { int fl; const char *n; } rows[] = {
        {0, "0"}, {SOCK_NONBLOCK, "nonblock"}, {SOCK_CLOEXEC, "cloexec"},
        {SOCK_NONBLOCK | SOCK_CLOEXEC, "nonblock+cloexec"}, {1, "bit0"}, {0x4000000, "bit26"}};
    const char *f = ic_fam(af);
    ic_addr la;
    int l = ic_listener(af, &la);
    for (size_t i = 0; i < IC_N(rows); i++) {
        int c = ic_socket(af, SOCK_STREAM);
        if (connect(c, ic_sa(&la), la.len) < 0) tc_die("connect");
        ic_wait(l, POLLIN, 2000);
        errno = 0;
        int s = accept4(l, NULL, NULL, rows[i].fl);
        if (s < 0) tc_printf(NAME("accept4/%s/flags-%s", f, rows[i].n), "%s", ic_res(s, errno));
        else tc_printf(NAME("accept4/%s/flags-%s", f, rows[i].n), "ok, %s", fdflags(s));
        if (s < 0) close(ic_accept(l));
        else close(s);
        close(c);
    }
    /* Listener flags are not inherited. */
    int nl = ic_socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
    ic_addr a = ic_loop(af, 0);
    if (bind(nl, ic_sa(&a), a.len) < 0 || listen(nl, 4) < 0) tc_die("listener");
    a = ic_sockname(nl);
    int c = ic_socket(af, SOCK_STREAM);
    if (connect(c, ic_sa(&a), a.len) < 0) tc_die("connect");
    ic_wait(nl, POLLIN, 2000);
    int s = accept(nl, NULL, NULL);
    if (s < 0) tc_die("accept");
    tc_printf(NAME("accept/%s/from-nonblock-cloexec-listener", f), "%s", fdflags(s));
    close(s);
    close(c);
    close(nl);
    close(l);
}

static void address_cases(int af) {
    const char *f = ic_fam(af);
    for (int wild = 0; wild < 2; wild++) {
        const char *w = wild ? "any" : "loop";
        ic_addr la = wild ? ic_any(af, 0) : ic_loop(af, 0);
        int l = ic_socket(af, SOCK_STREAM);
        if (bind(l, ic_sa(&la), la.len) < 0 || listen(l, 4) < 0) tc_die("listener");
        la = ic_sockname(l);
        ic_addr to = ic_loop(af, ic_port(&la));
        int c = ic_socket(af, SOCK_STREAM);
        if (connect(c, ic_sa(&to), to.len) < 0) tc_die("connect");
        ic_addr from;
        memset(&from, 0, sizeof from);
        from.len = sizeof from.ss;
        ic_wait(l, POLLIN, 2000);
        int s = accept(l, ic_sa(&from), &from.len);
        if (s < 0) tc_die("accept");
        ic_addr cs = ic_sockname(c), cp = ic_peername(c), ss = ic_sockname(s), sp = ic_peername(s);
        tc_printf(NAME("addr/%s/listener-%s/returned", f, w), "family %s, len %d, matches client: %s",
                  ic_famname(from.ss.ss_family), (int)from.len, ic_yn(ic_same(&from, &cs)));
        TC_FACT(NAME("addr/%s/listener-%s/peer-matches-client-local", f, w), ic_same(&sp, &cs));
        TC_FACT(NAME("addr/%s/listener-%s/local-matches-client-peer", f, w), ic_same(&ss, &cp));
        tc_printf(NAME("addr/%s/listener-%s/accepted-local", f, w), "%s, same port as listener: %s", ic_ip(&ss),
                  ic_yn(ic_port(&ss) == ic_port(&la)));
        close(s);
        close(c);

        if (wild) { close(l); continue; }
        /* Short, zero and absent address buffers. */
        static const int lens[] = {0, 2, 4, 15, 16, 27, 28, 200};
        for (size_t i = 0; i < IC_N(lens); i++) {
            c = ic_socket(af, SOCK_STREAM);
            if (connect(c, ic_sa(&to), to.len) < 0) tc_die("connect");
            cs = ic_sockname(c);
            unsigned char buf[256];
            memset(buf, 0xa5, sizeof buf);
            socklen_t len = lens[i];
            ic_wait(l, POLLIN, 2000);
            errno = 0;
            s = accept(l, (struct sockaddr *)buf, &len);
            size_t want = (size_t)lens[i] < cs.len ? (size_t)lens[i] : cs.len;
            tc_printf(NAME("addr/%s/addrlen-%d", f, lens[i]), "%s, len %d, copied prefix matches: %s, byte after untouched: %s",
                      ic_res(s, errno), (int)len, ic_yn(!memcmp(buf, &cs.ss, want)), ic_yn(buf[want] == 0xa5));
            if (s >= 0) close(s);
            close(c);
        }
        socklen_t len = 77;
        c = ic_socket(af, SOCK_STREAM);
        if (connect(c, ic_sa(&to), to.len) < 0) tc_die("connect");
        ic_wait(l, POLLIN, 2000);
        errno = 0;
        s = accept(l, NULL, &len);
        tc_printf(NAME("addr/%s/null-addr-with-len", f), "%s, len untouched: %s", ic_res(s, errno), ic_yn(len == 77));
        if (s >= 0) close(s);
        close(c);

        /* Faulting address arguments: the dequeued connection is dropped. */
        static const struct { const char *n; int badaddr, badlen, neg; } fr[] = {
            {"bad-addr-pointer", 1, 0, 0}, {"bad-len-pointer", 0, 1, 0}, {"negative-len", 0, 0, 1}};
        for (size_t i = 0; i < IC_N(fr); i++) {
            c = ic_socket(af, SOCK_STREAM);
            if (connect(c, ic_sa(&to), to.len) < 0) tc_die("connect");
            struct sockaddr_storage st;
            socklen_t sl = fr[i].neg ? (socklen_t)-1 : sizeof st;
            ic_wait(l, POLLIN, 2000);
            errno = 0;
            s = accept(l, fr[i].badaddr ? (struct sockaddr *)(uintptr_t)1 : (struct sockaddr *)&st,
                       fr[i].badlen ? (socklen_t *)(uintptr_t)1 : &sl);
            const char *res = ic_res(s, errno);
            if (s >= 0) close(s);
            short ev = ic_wait(c, POLLRDHUP, 1000);
            char ch;
            tc_printf(NAME("addr/%s/%s", f, fr[i].n), "%s, still queued: %s, client sees %s, recv %s", res,
                      ic_yn(ic_poll0(l) & POLLIN), ic_evstr(ev), IC_V(recv(c, &ch, 1, MSG_DONTWAIT)));
            close(c);
        }
        close(l);
    }
}

static void queue_cases(int af) {
    const char *f = ic_fam(af);
    ic_addr la;
    int l = ic_listener(af, &la);
    /* FIFO order. */
    int c[3];
    ic_addr cs[3];
    for (int i = 0; i < 3; i++) {
        c[i] = ic_socket(af, SOCK_STREAM);
        if (connect(c[i], ic_sa(&la), la.len) < 0) tc_die("connect");
        cs[i] = ic_sockname(c[i]);
    }
    char out[64] = "";
    for (int i = 0; i < 3; i++) {
        int s = ic_accept(l);
        ic_addr p = ic_peername(s);
        int k = -1;
        for (int j = 0; j < 3; j++)
            if (ic_same(&p, &cs[j])) k = j;
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%d", i ? " " : "", k + 1);
        close(s);
    }
    tc_printf(NAME("queue/%s/order-of-three", f), "%s", out);
    for (int i = 0; i < 3; i++) close(c[i]);

    /* Peer closed (FIN) or reset (RST) while still queued. */
    for (int rst = 0; rst < 2; rst++) {
        const char *k = rst ? "client-reset" : "client-closed";
        int cc = ic_socket(af, SOCK_STREAM);
        if (connect(cc, ic_sa(&la), la.len) < 0) tc_die("connect");
        ic_wait(l, POLLIN, 2000);
        if (rst) {
            struct linger lg = {1, 0};
            setsockopt(cc, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(cc);
        usleep(20000);
        errno = 0;
        ic_nonblock(l, 1);
        int s = accept(l, NULL, NULL);
        ic_nonblock(l, 0);
        tc_printf(NAME("queue/%s/%s/accept", f, k), "%s", ic_res(s, errno));
        if (s >= 0) {
            char ch;
            tc_printf(NAME("queue/%s/%s/poll", f, k), "%s", ic_evstr(ic_wait(s, POLLIN, 1000)));
            tc_printf(NAME("queue/%s/%s/SO_ERROR", f, k), "%s", ic_soerr(s));
            TC_VAL(NAME("queue/%s/%s/recv", f, k), recv(s, &ch, 1, MSG_DONTWAIT));
            TC_VAL(NAME("queue/%s/%s/send", f, k), send(s, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT));
            close(s);
        }
    }

    /* Closing a listener resets the connections still queued. */
    int cc = ic_socket(af, SOCK_STREAM);
    if (connect(cc, ic_sa(&la), la.len) < 0) tc_die("connect");
    ic_wait(l, POLLIN, 2000);
    close(l);
    tc_printf(NAME("queue/%s/listener-closed/client-poll", f), "%s", ic_evstr(ic_wait(cc, POLLERR, 2000)));
    char ch;
    TC_VAL(NAME("queue/%s/listener-closed/client-recv", f), recv(cc, &ch, 1, MSG_DONTWAIT));
    close(cc);
}

/* Options set on the listener and read back on the accepted socket. */
struct irow { int level, opt, val; const char *n; int v6only, v4only; };
static const struct irow irows[] = {
    {SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE", 0, 0}, {SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", 0, 0},
    {SOL_SOCKET, SO_RCVBUF, 65536, "SO_RCVBUF", 0, 0},   {SOL_SOCKET, SO_SNDBUF, 65536, "SO_SNDBUF", 0, 0},
    {SOL_SOCKET, SO_PRIORITY, 3, "SO_PRIORITY", 0, 0},   {SOL_SOCKET, SO_OOBINLINE, 1, "SO_OOBINLINE", 0, 0},
    {IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY", 0, 0},  {IPPROTO_TCP, TCP_KEEPIDLE, 77, "TCP_KEEPIDLE", 0, 0},
    {IPPROTO_TCP, TCP_KEEPINTVL, 11, "TCP_KEEPINTVL", 0, 0}, {IPPROTO_TCP, TCP_KEEPCNT, 4, "TCP_KEEPCNT", 0, 0},
    {IPPROTO_TCP, TCP_MAXSEG, 1000, "TCP_MAXSEG", 0, 0}, {IPPROTO_TCP, TCP_USER_TIMEOUT, 5000, "TCP_USER_TIMEOUT", 0, 0},
    {IPPROTO_IP, IP_TOS, 0x20, "IP_TOS", 0, 1},          {IPPROTO_IP, IP_TTL, 33, "IP_TTL", 0, 1},
    {IPPROTO_IPV6, IPV6_TCLASS, 0x20, "IPV6_TCLASS", 1, 0}, {IPPROTO_IPV6, IPV6_UNICAST_HOPS, 33, "IPV6_UNICAST_HOPS", 1, 0},
    {IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", 1, 0},
};
static void inherit_cases(int af) {
    const char *f = ic_fam(af);
    for (size_t i = 0; i < IC_N(irows); i++) {
        const struct irow *r = &irows[i];
        if ((r->v6only && af != AF_INET6) || (r->v4only && af != AF_INET)) continue;
        int l = ic_socket(af, SOCK_STREAM);
        ic_setint(l, r->level, r->opt, r->val);
        ic_addr la = ic_loop(af, 0);
        if (bind(l, ic_sa(&la), la.len) < 0 || listen(l, 4) < 0) tc_die("listener");
        la = ic_sockname(l);
        int c = ic_socket(af, SOCK_STREAM);
        if (connect(c, ic_sa(&la), la.len) < 0) tc_die("connect");
        int s = ic_accept(l);
        tc_printf(NAME("inherit/%s/%s", f, r->n), "listener %d, accepted %d", ic_getint(l, r->level, r->opt),
                  ic_getint(s, r->level, r->opt));
        close(s);
        close(c);
        close(l);
    }
    /* Timeouts and linger live in struct sock too. */
    int l = ic_listener(af, NULL);
    struct timeval tv = {1, 500000};
    struct linger lg = {1, 7};
    setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(l, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ic_addr la = ic_sockname(l);
    int c = ic_socket(af, SOCK_STREAM);
    if (connect(c, ic_sa(&la), la.len) < 0) tc_die("connect");
    int s = ic_accept(l);
    socklen_t sl = sizeof tv;
    memset(&tv, 0, sizeof tv);
    getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, &sl);
    tc_printf(NAME("inherit/%s/SO_RCVTIMEO", f), "%ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec);
    sl = sizeof lg;
    memset(&lg, 0, sizeof lg);
    getsockopt(s, SOL_SOCKET, SO_LINGER, &lg, &sl);
    tc_printf(NAME("inherit/%s/SO_LINGER", f), "onoff %d, linger %d", lg.l_onoff, lg.l_linger);
    lg.l_onoff = 0;
    setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(s);
    close(c);
    close(l);
}

/* A thread wakes the blocked accept: by connecting, or by shutting the
 * listener down. */
struct waker { int fd, af, shut; ic_addr to; };
static void *wake(void *p) {
    struct waker *w = p;
    usleep(50000);
    if (w->shut) shutdown(w->fd, SHUT_RDWR);
    else {
        int c = ic_socket(w->af, SOCK_STREAM);
        connect(c, ic_sa(&w->to), w->to.len);
        usleep(50000);
        close(c);
    }
    return NULL;
}
static void blocking_cases(int af) {
    for (int shut = 0; shut < 2; shut++) {
        ic_addr la;
        int l = ic_listener(af, &la);
        ic_timeo(l, 2000);
        struct waker w = {l, af, shut, la};
        pthread_t t;
        pthread_create(&t, NULL, wake, &w);
        errno = 0;
        int s = accept(l, NULL, NULL);
        tc_printf(NAME("blocking/%s/woken-by-%s", ic_fam(af), shut ? "listener-shutdown" : "connect"), "%s",
                  ic_res(s, errno));
        pthread_join(t, NULL);
        if (s >= 0) close(s);
        close(l);
    }
}

int main(void) {
    ic_start();
    for (size_t i = 0; i < IC_N(ic_fams); i++) {
        int af = ic_fams[i];
        cannot_accept(af);
        empty_queue(af);
        flags_cases(af);
        address_cases(af);
        queue_cases(af);
        inherit_cases(af);
        blocking_cases(af);
    }
    return tc_done();
}
