/* t_inet_udp.c: UDP over loopback for AF_INET / AF_INET6: datagram
 * boundaries, sender addresses, truncation, zero-length datagrams, peek,
 * FIONREAD, connect / AF_UNSPEC disconnect and source filtering, ICMP port
 * unreachable turned into ECONNREFUSED (and IP_RECVERR), size limits,
 * broadcast permission, shutdown, address checks and ancillary data. */
#include "inet_cases.h"
#include <linux/errqueue.h>
#include <net/if.h>

static char name[IC_NAME];
#define NAME(...) (snprintf(name, sizeof name, __VA_ARGS__), name)
static const char *F;

static int udp_bound(int af, ic_addr *a) {
    int fd = ic_bound(af, SOCK_DGRAM, a);
    ic_timeo(fd, 2000);
    return fd;
}
static const char *rcv(int fd, size_t len, int flags) {
    static char buf[70000];
    return IC_V(recv(fd, buf, len, flags));
}
/* A UDP port where nothing will take our datagrams: the holder is
 * connected elsewhere, so datagrams from other sources find no socket. */
static ic_addr dead_port(int af, int *holder) {
    ic_addr a, elsewhere = ic_loop(af, 9);
    *holder = ic_bound(af, SOCK_DGRAM, &a);
    if (connect(*holder, ic_sa(&elsewhere), elsewhere.len) < 0) tc_die("connect holder");
    return a;
}

static void basic_cases(int af) {
    ic_addr ra, sa, from;
    int r = udp_bound(af, &ra), s = udp_bound(af, &sa);
    static const int sizes[] = {10, 20, 30};
    for (size_t i = 0; i < IC_N(sizes); i++)
        TC_VAL(NAME("dgram/%s/send-%d", F, sizes[i]), sendto(s, "0123456789012345678901234567890", sizes[i], 0, ic_sa(&ra), ra.len));
    for (size_t i = 0; i < IC_N(sizes); i++) tc_printf(NAME("dgram/%s/recv-%zu", F, i + 1), "%s", rcv(r, 100, 0));
    tc_printf(NAME("dgram/%s/recv-empty-dontwait", F), "%s", rcv(r, 100, MSG_DONTWAIT));

    /* recvfrom: the sender's address. */
    sendto(s, "hi", 2, 0, ic_sa(&ra), ra.len);
    memset(&from, 0, sizeof from);
    from.len = sizeof from.ss;
    char b[16];
    errno = 0;
    ssize_t n = recvfrom(r, b, sizeof b, 0, ic_sa(&from), &from.len);
    tc_printf(NAME("recvfrom/%s/sender", F), "%s, family %s, len %d, addr %s, matches sender: %s", ic_val(n, errno),
              ic_famname(from.ss.ss_family), (int)from.len, ic_ip(&from), ic_yn(ic_same(&from, &sa)));
    sendto(s, "hi", 2, 0, ic_sa(&ra), ra.len);
    from.len = 4;
    n = recvfrom(r, b, sizeof b, 0, ic_sa(&from), &from.len);
    tc_printf(NAME("recvfrom/%s/addrlen-4", F), "= %zd, len %d", n, (int)from.len);

    /* An unbound sender is bound on its first sendto. */
    int u = ic_socket(af, SOCK_DGRAM);
    TC_VAL(NAME("autobind/%s/sendto", F), sendto(u, "a", 1, 0, ic_sa(&ra), ra.len));
    ic_addr ua = ic_sockname(u);
    from.len = sizeof from.ss;
    recvfrom(r, b, sizeof b, 0, ic_sa(&from), &from.len);
    tc_printf(NAME("autobind/%s/getsockname", F), "addr %s, port in range: %s, receiver sees same port: %s", ic_ip(&ua),
              ic_yn(ic_in_range(ic_port(&ua))), ic_yn(ic_port(&from) == ic_port(&ua)));
    close(u);

    /* Truncation. */
    char big[100];
    memset(big, 't', sizeof big);
    sendto(s, big, 100, 0, ic_sa(&ra), ra.len);
    struct iovec iv = {b, 10};
    struct msghdr mh = {.msg_iov = &iv, .msg_iovlen = 1};
    errno = 0;
    n = recvmsg(r, &mh, 0);
    tc_printf(NAME("trunc/%s/recvmsg-10-of-100", F), "%s, MSG_TRUNC in flags: %s", ic_val(n, errno),
              ic_yn(mh.msg_flags & MSG_TRUNC));
    tc_printf(NAME("trunc/%s/rest-discarded", F), "%s", rcv(r, 100, MSG_DONTWAIT));
    sendto(s, big, 100, 0, ic_sa(&ra), ra.len);
    ic_wait(r, POLLIN, 2000);
    tc_printf(NAME("trunc/%s/peek-with-MSG_TRUNC", F), "%s", rcv(r, 10, MSG_TRUNC | MSG_PEEK));
    tc_printf(NAME("trunc/%s/recv-with-MSG_TRUNC", F), "%s", rcv(r, 10, MSG_TRUNC));
    tc_printf(NAME("trunc/%s/after", F), "%s", rcv(r, 100, MSG_DONTWAIT));

    /* Zero-length datagrams and FIONREAD (= size of the next datagram). */
    int q = -1;
    ioctl(r, FIONREAD, &q);
    tc_printf(NAME("fionread/%s/empty", F), "%d", q);
    TC_VAL(NAME("zero/%s/send", F), sendto(s, "", 0, 0, ic_sa(&ra), ra.len));
    tc_printf(NAME("zero/%s/poll", F), "%s", ic_evstr(ic_wait(r, POLLIN, 2000)));
    ioctl(r, FIONREAD, &q);
    tc_printf(NAME("zero/%s/fionread", F), "%d", q);
    tc_printf(NAME("zero/%s/recv", F), "%s", rcv(r, 100, MSG_DONTWAIT));
    sendto(s, big, 10, 0, ic_sa(&ra), ra.len);
    sendto(s, big, 20, 0, ic_sa(&ra), ra.len);
    ic_wait(r, POLLIN, 2000);
    ioctl(r, FIONREAD, &q);
    tc_printf(NAME("fionread/%s/10-then-20", F), "%d", q);
    tc_printf(NAME("peek/%s/first", F), "%s", rcv(r, 100, MSG_PEEK));
    tc_printf(NAME("peek/%s/recv", F), "%s", rcv(r, 100, 0));
    ioctl(r, FIONREAD, &q);
    tc_printf(NAME("fionread/%s/after-one-recv", F), "%d", q);
    tc_printf(NAME("peek/%s/second", F), "%s", rcv(r, 100, 0));
    ioctl(r, FIONREAD, &q);
    tc_printf(NAME("fionread/%s/drained", F), "%d", q);
    tc_printf(NAME("poll/%s/bound-idle", F), "%s", ic_evstr(ic_poll0(r)));

    /* Order of many datagrams from one sender. */
    for (int i = 0; i < 50; i++) sendto(s, &i, sizeof i, 0, ic_sa(&ra), ra.len);
    int inorder = 1;
    for (int i = 0; i < 50; i++) {
        int v = -1;
        if (recv(r, &v, sizeof v, 0) != sizeof v || v != i) inorder = 0;
    }
    TC_FACT(NAME("dgram/%s/fifty-in-order", F), inorder);

    /* Empty queue. */
    ic_timeo(r, 100);
    tc_printf(NAME("empty/%s/rcvtimeo", F), "%s", rcv(r, 100, 0));
    ic_nonblock(r, 1);
    tc_printf(NAME("empty/%s/nonblocking", F), "%s", rcv(r, 100, 0));
    close(r);
    close(s);
}

static void connect_cases(int af) {
    ic_addr ra, sa, ta, from;
    int r = udp_bound(af, &ra), s = udp_bound(af, &sa), t = udp_bound(af, &ta);
    TC_VAL(NAME("connected/%s/send-unconnected", F), send(s, "x", 1, 0));
    TC_SYS(NAME("connected/%s/connect", F), connect(s, ic_sa(&ra), ra.len));
    from = ic_peername(s);
    TC_FACT(NAME("connected/%s/getpeername", F), ic_same(&from, &ra));
    TC_VAL(NAME("connected/%s/send", F), send(s, "x", 1, 0));
    from.len = sizeof from.ss;
    char b[16];
    recvfrom(r, b, sizeof b, 0, ic_sa(&from), &from.len);
    TC_FACT(NAME("connected/%s/receiver-sees-sender", F), ic_same(&from, &sa));
    /* Datagrams from anyone but the peer are not delivered. */
    sendto(t, "T", 1, 0, ic_sa(&sa), sa.len);
    sendto(r, "R", 1, 0, ic_sa(&sa), sa.len);
    from.len = sizeof from.ss;
    errno = 0;
    ssize_t n = recvfrom(s, b, sizeof b, 0, ic_sa(&from), &from.len);
    tc_printf(NAME("connected/%s/filter/first", F), "%s \"%.*s\" from peer: %s", ic_val(n, errno), n > 0 ? (int)n : 0, b,
              ic_yn(ic_same(&from, &ra)));
    tc_printf(NAME("connected/%s/filter/next", F), "%s", rcv(s, 16, MSG_DONTWAIT));
    /* sendto with another address still works on a connected socket. */
    TC_VAL(NAME("connected/%s/sendto-other", F), sendto(s, "o", 1, 0, ic_sa(&ta), ta.len));
    tc_printf(NAME("connected/%s/sendto-other/received", F), "%s", rcv(t, 16, 0));
    /* Reconnect elsewhere. */
    TC_SYS(NAME("connected/%s/reconnect", F), connect(s, ic_sa(&ta), ta.len));
    from = ic_peername(s);
    TC_FACT(NAME("connected/%s/reconnect/getpeername", F), ic_same(&from, &ta));
    /* AF_UNSPEC dissolves the association. A port bind chose (port 0) is
     * given up like an autobound one; an explicitly requested one stays. */
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    close(s);
    for (int explicit = 0; explicit < 2; explicit++) {
        const char *k = explicit ? "bound-explicit-port" : "bound-port-0";
        s = ic_socket(af, SOCK_DGRAM);
        if (explicit) {
            if (ic_bind_fixed(s, af, af == AF_INET ? "127.0.0.1" : "::1", 20000, 30000, NULL) < 0) tc_die("bind");
        } else {
            sa = ic_loop(af, 0);
            if (bind(s, ic_sa(&sa), sa.len) < 0) tc_die("bind");
        }
        sa = ic_sockname(s);
        ic_timeo(s, 200);
        connect(s, ic_sa(&ra), ra.len);
        TC_SYS(NAME("disconnect/%s/%s/unspec", F, k), connect(s, &unspec, sizeof unspec));
        from.len = sizeof from.ss;
        TC_SYS(NAME("disconnect/%s/%s/getpeername", F, k), getpeername(s, ic_sa(&from), &from.len));
        from = ic_sockname(s);
        tc_printf(NAME("disconnect/%s/%s/getsockname", F, k), "addr %s, port kept: %s, port zero: %s", ic_ip(&from),
                  ic_yn(ic_port(&from) == ic_port(&sa)), ic_yn(ic_port(&from) == 0));
        TC_VAL(NAME("disconnect/%s/%s/send", F, k), send(s, "x", 1, 0));
        from = ic_sockname(s);
        tc_printf(NAME("disconnect/%s/%s/getsockname-after-send", F, k), "port kept: %s, port zero: %s",
                  ic_yn(ic_port(&from) == ic_port(&sa)), ic_yn(ic_port(&from) == 0));
        sendto(t, "T", 1, 0, ic_sa(&sa), sa.len);
        tc_printf(NAME("disconnect/%s/%s/old-address-receives-from-anyone", F, k), "%s", rcv(s, 16, 0));
        close(s);
    }
    /* The port an autobinding connect picked. */
    s = ic_socket(af, SOCK_DGRAM);
    connect(s, ic_sa(&ra), ra.len);
    from = ic_sockname(s);
    tc_printf(NAME("disconnect/%s/autobound/before", F), "addr %s, port in range: %s", ic_ip(&from),
              ic_yn(ic_in_range(ic_port(&from))));
    TC_SYS(NAME("disconnect/%s/autobound/unspec", F), connect(s, &unspec, sizeof unspec));
    from = ic_sockname(s);
    tc_printf(NAME("disconnect/%s/autobound/after", F), "addr %s, port zero: %s", ic_ip(&from), ic_yn(ic_port(&from) == 0));
    close(s);
    s = ic_socket(af, SOCK_DGRAM);
    TC_SYS(NAME("disconnect/%s/never-connected", F), connect(s, &unspec, sizeof unspec));
    close(s);

    /* shutdown on UDP. */
    s = udp_bound(af, &sa);
    TC_SYS(NAME("shutdown/%s/unconnected-rd", F), shutdown(s, SHUT_RD));
    tc_printf(NAME("shutdown/%s/unconnected-rd/recv", F), "%s", rcv(s, 16, MSG_DONTWAIT));
    close(s);
    s = udp_bound(af, &sa);
    connect(s, ic_sa(&ra), ra.len);
    TC_SYS(NAME("shutdown/%s/connected-wr", F), shutdown(s, SHUT_WR));
    TC_VAL(NAME("shutdown/%s/connected-wr/send", F), send(s, "x", 1, MSG_NOSIGNAL));
    tc_printf(NAME("shutdown/%s/connected-wr/poll", F), "%s", ic_evstr(ic_poll0(s)));
    TC_SYS(NAME("shutdown/%s/connected-rd", F), shutdown(s, SHUT_RD));
    sendto(r, "late", 4, 0, ic_sa(&sa), sa.len);
    for (int i = 0, q = 0; i < 100 && (ioctl(s, FIONREAD, &q), q == 0); i++) usleep(5000);
    tc_printf(NAME("shutdown/%s/connected-rd/recv-after-peer-send", F), "%s", rcv(s, 16, MSG_DONTWAIT));
    tc_printf(NAME("shutdown/%s/connected-rdwr/poll", F), "%s", ic_evstr(ic_poll0(s)));
    close(s);
    close(r);
    close(t);
}

/* ICMP port unreachable: reported on connected sockets only. */
static void refused_cases(int af) {
    int h;
    ic_addr d = dead_port(af, &h);
    int s = ic_socket(af, SOCK_DGRAM);
    TC_VAL(NAME("refused/%s/unconnected/sendto", F), sendto(s, "x", 1, 0, ic_sa(&d), d.len));
    usleep(20000);
    tc_printf(NAME("refused/%s/unconnected/poll", F), "%s", ic_evstr(ic_poll0(s)));
    tc_printf(NAME("refused/%s/unconnected/recv", F), "%s", rcv(s, 16, MSG_DONTWAIT));
    close(s);

    static const char *orders[] = {"recv,recv,send", "send,send", "SO_ERROR,recv"};
    for (size_t i = 0; i < IC_N(orders); i++) {
        s = ic_socket(af, SOCK_DGRAM);
        connect(s, ic_sa(&d), d.len);
        char out[256];
        snprintf(out, sizeof out, "send %s", IC_V(send(s, "x", 1, 0)));
        snprintf(out + strlen(out), sizeof out - strlen(out), "; poll %s", ic_evstr(ic_wait(s, POLLERR, 2000)));
        char ord[32];
        snprintf(ord, sizeof ord, "%s", orders[i]);
        for (char *t = strtok(ord, ","); t; t = strtok(NULL, ",")) {
            const char *res = !strcmp(t, "recv") ? rcv(s, 16, MSG_DONTWAIT) : !strcmp(t, "send") ? IC_V(send(s, "x", 1, 0)) : ic_soerr(s);
            snprintf(out + strlen(out), sizeof out - strlen(out), "; %s %s", t, res);
        }
        tc_printf(NAME("refused/%s/connected/%s", F, orders[i]), "%s", out);
        close(s);
    }

    /* IP_RECVERR / IPV6_RECVERR: the error queue on an unconnected socket. */
    s = ic_socket(af, SOCK_DGRAM);
    if (af == AF_INET) ic_setint(s, SOL_IP, IP_RECVERR, 1);
    else ic_setint(s, SOL_IPV6, IPV6_RECVERR, 1);
    sendto(s, "abc", 3, 0, ic_sa(&d), d.len);
    tc_printf(NAME("recverr/%s/poll", F), "%s", ic_evstr(ic_wait(s, POLLERR, 2000)));
    char data[16], ctl[512];
    struct iovec iv = {data, sizeof data};
    struct msghdr mh = {.msg_iov = &iv, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    errno = 0;
    ssize_t n = recvmsg(s, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
    const struct sock_extended_err *ee = NULL;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
            (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR))
            ee = (const void *)CMSG_DATA(c);
    if (ee)
        tc_printf(NAME("recverr/%s/errqueue", F), "%s, MSG_ERRQUEUE flag: %s, ee_errno %s, origin %d, type %d, code %d",
                  ic_val(n, errno), ic_yn(mh.msg_flags & MSG_ERRQUEUE), tc_errname(ee->ee_errno), ee->ee_origin,
                  ee->ee_type, ee->ee_code);
    else tc_printf(NAME("recverr/%s/errqueue", F), "%s, no extended error", ic_val(n, errno));
    tc_printf(NAME("recverr/%s/errqueue-again", F), "%s", IC_V(recvmsg(s, &mh, MSG_ERRQUEUE | MSG_DONTWAIT)));
    tc_printf(NAME("recverr/%s/SO_ERROR", F), "%s", ic_soerr(s));
    close(s);
    close(h);
}

static void size_cases(int af) {
    int max = af == AF_INET ? 65507 : 65527;
    static char buf[70000];
    memset(buf, 'z', sizeof buf);
    ic_addr ra;
    int r = udp_bound(af, &ra);
    int s = ic_socket(af, SOCK_DGRAM);
    static const int deltas[] = {0, 1, 8, 100};
    for (size_t i = 0; i < IC_N(deltas); i++) {
        int len = max + deltas[i];
        TC_VAL(NAME("size/%s/max%+d", F, deltas[i]), sendto(s, buf, len, 0, ic_sa(&ra), ra.len));
    }
    tc_printf(NAME("size/%s/max/received", F), "%s", rcv(r, sizeof buf, 0));
    tc_printf(NAME("size/%s/nothing-else", F), "%s", rcv(r, sizeof buf, MSG_DONTWAIT));
    connect(s, ic_sa(&ra), ra.len);
    TC_VAL(NAME("size/%s/connected/max", F), send(s, buf, max, 0));
    TC_VAL(NAME("size/%s/connected/max+1", F), send(s, buf, max + 1, 0));
    tc_printf(NAME("size/%s/connected/received", F), "%s", rcv(r, sizeof buf, 0));
    close(s);

    /* A receiver with a tiny buffer drops what does not fit; sends succeed. */
    int small = udp_bound(af, &ra);
    ic_setint(small, SOL_SOCKET, SO_RCVBUF, 4096);
    s = ic_socket(af, SOCK_DGRAM);
    int sent = 0, got = 0;
    for (int i = 0; i < 100; i++)
        if (sendto(s, buf, 1000, 0, ic_sa(&ra), ra.len) == 1000) sent++;
    while (recv(small, buf, sizeof buf, MSG_DONTWAIT) == 1000) got++;
    tc_printf(NAME("overflow/%s/tiny-rcvbuf", F), "sent %d, received some: %s, received fewer: %s", sent,
              ic_yn(got > 0), ic_yn(got < sent));
    close(s);
    close(small);
    close(r);
}

static void addr_cases(int af) {
    ic_addr ra;
    int r = udp_bound(af, &ra);
    int s = ic_socket(af, SOCK_DGRAM);
    ic_addr z = ra;
    ic_set_port(&z, 0);
    TC_VAL(NAME("addr/%s/sendto-port-0", F), sendto(s, "x", 1, 0, ic_sa(&z), z.len));
    TC_VAL(NAME("addr/%s/connect-port-0", F), connect(s, ic_sa(&z), z.len));
    TC_VAL(NAME("addr/%s/connect-port-0/send", F), send(s, "x", 1, 0));
    close(s);
    s = ic_socket(af, SOCK_DGRAM);
    int minlen = af == AF_INET ? 16 : 24;
    TC_VAL(NAME("addr/%s/sendto-minlen-1", F), sendto(s, "x", 1, 0, ic_sa(&ra), minlen - 1));
    TC_VAL(NAME("addr/%s/sendto-minlen", F), sendto(s, "x", 1, 0, ic_sa(&ra), minlen));
    tc_printf(NAME("addr/%s/sendto-minlen/received", F), "%s", rcv(r, 16, 0));
    TC_VAL(NAME("addr/%s/sendto-bad-pointer", F), sendto(s, "x", 1, 0, (struct sockaddr *)(uintptr_t)1, ra.len));
    TC_VAL(NAME("addr/%s/sendto-null-addr-len", F), sendto(s, "x", 1, 0, NULL, ra.len));
    ic_addr fam = ra;
    fam.ss.ss_family = AF_UNSPEC;
    TC_VAL(NAME("addr/%s/sendto-family-unspec", F), sendto(s, "x", 1, 0, ic_sa(&fam), fam.len));
    ic_wait(r, POLLIN, 200);
    tc_printf(NAME("addr/%s/sendto-family-unspec/received", F), "%s", rcv(r, 16, MSG_DONTWAIT));
    fam.ss.ss_family = AF_UNIX;
    TC_VAL(NAME("addr/%s/sendto-family-unix", F), sendto(s, "x", 1, 0, ic_sa(&fam), fam.len));
    ic_addr other = ic_loop(af == AF_INET ? AF_INET6 : AF_INET, ic_port(&ra));
    TC_VAL(NAME("addr/%s/sendto-other-family", F), sendto(s, "x", 1, 0, ic_sa(&other), other.len));
    /* The wildcard address as a destination means this host. */
    ic_addr any = ic_any(af, ic_port(&ra));
    TC_VAL(NAME("addr/%s/sendto-any", F), sendto(s, "w", 1, 0, ic_sa(&any), any.len));
    tc_printf(NAME("addr/%s/sendto-any/received", F), "%s", rcv(r, 16, 0));
    close(s);

    if (af == AF_INET) {
        /* Broadcast needs SO_BROADCAST; nothing is sent here with it set. */
        ic_addr bc = ic_make(af, "255.255.255.255", ic_port(&ra));
        s = ic_socket(af, SOCK_DGRAM);
        TC_VAL(NAME("broadcast/%s/sendto-without-SO_BROADCAST", F), sendto(s, "b", 1, 0, ic_sa(&bc), bc.len));
        TC_SYS(NAME("broadcast/%s/connect-without-SO_BROADCAST", F), connect(s, ic_sa(&bc), bc.len));
        tc_printf(NAME("broadcast/%s/SO_BROADCAST-default", F), "%d", ic_getint(s, SOL_SOCKET, SO_BROADCAST));
        ic_setint(s, SOL_SOCKET, SO_BROADCAST, 1);
        tc_printf(NAME("broadcast/%s/SO_BROADCAST-set", F), "%d", ic_getint(s, SOL_SOCKET, SO_BROADCAST));
        close(s);
    }
    close(r);
}

/* Ancillary data: destination address and timestamps. */
static void cmsg_cases(int af) {
    ic_addr ra;
    int r = udp_bound(af, &ra);
    if (af == AF_INET) ic_setint(r, SOL_IP, IP_PKTINFO, 1);
    else ic_setint(r, SOL_IPV6, IPV6_RECVPKTINFO, 1);
    ic_setint(r, SOL_SOCKET, SO_TIMESTAMP, 1);
    int s = ic_socket(af, SOCK_DGRAM);
    sendto(s, "pkt", 3, 0, ic_sa(&ra), ra.len);
    char data[16], ctl[512];
    struct iovec iv = {data, sizeof data};
    struct msghdr mh = {.msg_iov = &iv, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    errno = 0;
    ssize_t n = recvmsg(r, &mh, 0);
    char dst[64] = "none";
    int ifok = 0, ts = 0;
    unsigned lo = if_nametoindex("lo");
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo *pi = (void *)CMSG_DATA(c);
            inet_ntop(AF_INET, &pi->ipi_addr, dst, sizeof dst);
            ifok = (unsigned)pi->ipi_ifindex == lo;
        } else if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo *pi = (void *)CMSG_DATA(c);
            inet_ntop(AF_INET6, &pi->ipi6_addr, dst, sizeof dst);
            ifok = pi->ipi6_ifindex == lo;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMP) ts = 1;
    }
    tc_printf(NAME("cmsg/%s/pktinfo", F), "%s, dst %s, ifindex is lo: %s", ic_val(n, errno), dst, ic_yn(ifok));
    TC_FACT(NAME("cmsg/%s/SO_TIMESTAMP-present", F), ts);
    close(s);
    close(r);
}

int main(void) {
    ic_start();
    for (size_t i = 0; i < IC_N(ic_fams); i++) {
        int af = ic_fams[i];
        F = ic_fam(af);
        basic_cases(af);
        connect_cases(af);
        refused_cases(af);
        size_cases(af);
        addr_cases(af);
        cmsg_cases(af);
    }
    return tc_done();
}
