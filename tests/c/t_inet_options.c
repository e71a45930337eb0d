/* t_inet_options.c: getsockopt / setsockopt on AF_INET / AF_INET6 TCP and
 * UDP sockets: a table of integer options (default, then set -> get for a
 * few values each), identity options (SO_TYPE, SO_DOMAIN, SO_PROTOCOL,
 * SO_ACCEPTCONN), timeouts and linger, TCP_INFO in each connection state,
 * TCP_MAXSEG / IP_MTU on loopback, unknown options and levels, and optlen /
 * pointer handling. */
#include "inet_cases.h"
#include <net/if.h>
#include <netinet/udp.h>

static char name[IC_NAME];
#define NAME(...) (snprintf(name, sizeof name, __VA_ARGS__), name)

enum { T = 1, U = 2, TU = 3 };   /* socket types a row applies to */
enum { V4 = 1, V6 = 2, V46 = 3 }; /* families */
#define END (-99999)
struct orow {
    int level, opt;
    const char *n;
    int types, fams;
    int vals[6];
};
static const struct orow orows[] = {
    {SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", TU, V46, {1, 5, 0, END}},
    {SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", TU, V46, {1, 0, END}},
    {SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", TU, V46, {1, 0, END}},
    {SOL_SOCKET, SO_BROADCAST, "SO_BROADCAST", TU, V46, {1, 0, END}},
    {SOL_SOCKET, SO_OOBINLINE, "SO_OOBINLINE", TU, V46, {1, 0, END}},
    {SOL_SOCKET, SO_DONTROUTE, "SO_DONTROUTE", TU, V46, {1, 0, END}},
    {SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY", TU, V46, {6, 7, 0, END}},
    {SOL_SOCKET, SO_RCVLOWAT, "SO_RCVLOWAT", TU, V46, {10, 0, -1, END}},
    {SOL_SOCKET, SO_SNDLOWAT, "SO_SNDLOWAT", TU, V46, {10, END}},
    {SOL_SOCKET, SO_MARK, "SO_MARK", TU, V46, {5, 0, END}},
    {SOL_SOCKET, SO_TIMESTAMP, "SO_TIMESTAMP", TU, V46, {1, 0, END}},
    {SOL_SOCKET, SO_TYPE, "SO_TYPE", TU, V46, {1, END}},
    {SOL_SOCKET, SO_DOMAIN, "SO_DOMAIN", TU, V46, {2, END}},
    {SOL_SOCKET, SO_PROTOCOL, "SO_PROTOCOL", TU, V46, {6, END}},
    {SOL_SOCKET, SO_ACCEPTCONN, "SO_ACCEPTCONN", TU, V46, {1, END}},
    {SOL_SOCKET, SO_ERROR, "SO_ERROR", TU, V46, {1, END}},
    {SOL_SOCKET, SO_NO_CHECK, "SO_NO_CHECK", TU, V46, {1, 0, END}},
    {IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", T, V46, {1, 0, 5, END}},
    {IPPROTO_TCP, TCP_MAXSEG, "TCP_MAXSEG", T, V46, {1000, 88, 87, 32767, 32768, END}},
    {IPPROTO_TCP, TCP_CORK, "TCP_CORK", T, V46, {1, 0, END}},
    {IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", T, V46, {30, 0, 32767, 32768, END}},
    {IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", T, V46, {5, 0, 32768, END}},
    {IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", T, V46, {3, 0, 127, 128, END}},
    {IPPROTO_TCP, TCP_SYNCNT, "TCP_SYNCNT", T, V46, {3, 0, 127, 128, END}},
    {IPPROTO_TCP, TCP_LINGER2, "TCP_LINGER2", T, V46, {10, -1, 0, END}},
    {IPPROTO_TCP, TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT", T, V46, {5, 30, 0, END}},
    {IPPROTO_TCP, TCP_WINDOW_CLAMP, "TCP_WINDOW_CLAMP", T, V46, {1000, 100, 0, END}},
    {IPPROTO_TCP, TCP_QUICKACK, "TCP_QUICKACK", T, V46, {0, 1, END}},
    {IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", T, V46, {1000, -1, 0, END}},
    {IPPROTO_TCP, TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT", T, V46, {4096, 0, END}},
    {IPPROTO_TCP, TCP_FASTOPEN, "TCP_FASTOPEN", T, V46, {5, END}},
    {IPPROTO_UDP, UDP_CORK, "UDP_CORK", U, V46, {1, 0, END}},
    {IPPROTO_IP, IP_TOS, "IP_TOS", TU, V4, {0x10, 0x13, 0x1ff, 0, END}},
    {IPPROTO_IP, IP_TTL, "IP_TTL", TU, V4, {1, 255, 0, 256, -1, END}},
    {IPPROTO_IP, IP_RECVERR, "IP_RECVERR", TU, V4, {1, 0, END}},
    {IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO", TU, V4, {1, 0, END}},
    {IPPROTO_IP, IP_MTU_DISCOVER, "IP_MTU_DISCOVER", TU, V4, {IP_PMTUDISC_DONT, IP_PMTUDISC_PROBE, 99, END}},
    {IPPROTO_IP, IP_MULTICAST_TTL, "IP_MULTICAST_TTL", TU, V4, {5, 256, -1, END}},
    {IPPROTO_IP, IP_MULTICAST_LOOP, "IP_MULTICAST_LOOP", TU, V4, {0, 1, END}},
    {IPPROTO_IP, IP_FREEBIND, "IP_FREEBIND", TU, V4, {1, 0, END}},
    {IPPROTO_IP, IP_TRANSPARENT, "IP_TRANSPARENT", TU, V4, {1, 0, END}},
    {IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, "IP_BIND_ADDRESS_NO_PORT", TU, V4, {1, 0, END}},
    {IPPROTO_IP, IP_MTU, "IP_MTU", TU, V4, {1000, END}},
    {IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", TU, V6, {1, 0, END}},
    {IPPROTO_IPV6, IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS", TU, V6, {1, 255, -1, 256, -2, END}},
    {IPPROTO_IPV6, IPV6_TCLASS, "IPV6_TCLASS", TU, V6, {0x20, 0x23, -1, 256, END}},
    {IPPROTO_IPV6, IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO", TU, V6, {1, 0, END}},
    {IPPROTO_IPV6, IPV6_RECVERR, "IPV6_RECVERR", TU, V6, {1, 0, END}},
    {IPPROTO_IPV6, IPV6_MTU_DISCOVER, "IPV6_MTU_DISCOVER", TU, V6, {IPV6_PMTUDISC_DONT, IPV6_PMTUDISC_PROBE, 99, END}},
    {IPPROTO_IPV6, IPV6_MULTICAST_HOPS, "IPV6_MULTICAST_HOPS", TU, V6, {5, 256, -1, END}},
    {IPPROTO_IPV6, IPV6_MULTICAST_LOOP, "IPV6_MULTICAST_LOOP", TU, V6, {0, 2, 1, END}},
    {IPPROTO_IPV6, IPV6_MTU, "IPV6_MTU", TU, V6, {1280, 1279, END}},
    {IPPROTO_IP, IP_TOS, "IP_TOS-on-v6-socket", TU, V6, {0x10, END}},
    {IPPROTO_IP, IP_TTL, "IP_TTL-on-v6-socket", TU, V6, {7, END}},
};

static const char *getv(int fd, int level, int opt) {
    int v = -1;
    socklen_t l = sizeof v;
    errno = 0;
    int r = getsockopt(fd, level, opt, &v, &l);
    char *b = ic_buf();
    if (r < 0) snprintf(b, 96, "-1 %s", tc_errname(errno));
    else if (l != sizeof v) snprintf(b, 96, "%d (len %d)", v, (int)l);
    else snprintf(b, 96, "%d", v);
    return b;
}

static void table_cases(void) {
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM};
    for (size_t f = 0; f < IC_N(ic_fams); f++)
        for (size_t t = 0; t < IC_N(types); t++)
            for (size_t i = 0; i < IC_N(orows); i++) {
                const struct orow *r = &orows[i];
                int af = ic_fams[f];
                if (!(r->types & (1 << t)) || !(r->fams & (1 << f))) continue;
                const char *p = ic_fam(af), *tn = ic_typ(types[t]);
                int fd = ic_socket(af, types[t]);
                tc_printf(NAME("opt/%s/%s/%s/default", p, tn, r->n), "%s", getv(fd, r->level, r->opt));
                for (int k = 0; r->vals[k] != END; k++) {
                    const char *sr = IC_R(setsockopt(fd, r->level, r->opt, &r->vals[k], sizeof(int)));
                    tc_printf(NAME("opt/%s/%s/%s/set-%d", p, tn, r->n, r->vals[k]), "%s, get %s", sr,
                              getv(fd, r->level, r->opt));
                }
                close(fd);
            }
}

/* Identity and state options on the kinds of socket there are. */
static void identity_cases(int af) {
    const char *p = ic_fam(af);
    int c, s;
    ic_addr la;
    int l = ic_listener(af, &la);
    ic_tcp_pair(af, &c, &s);
    int u = ic_socket(af, SOCK_DGRAM), ex = socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    static const struct { int opt; const char *n; } ids[] = {
        {SO_TYPE, "SO_TYPE"}, {SO_DOMAIN, "SO_DOMAIN"}, {SO_PROTOCOL, "SO_PROTOCOL"}, {SO_ACCEPTCONN, "SO_ACCEPTCONN"}, {SO_ERROR, "SO_ERROR"}};
    const struct { int fd; const char *n; } socks[] = {{l, "listener"}, {c, "client"}, {s, "accepted"}, {u, "udp"}, {ex, "tcp-explicit-proto-with-flags"}};
    for (size_t k = 0; k < IC_N(socks); k++)
        for (size_t i = 0; i < IC_N(ids); i++)
            tc_printf(NAME("ident/%s/%s/%s", p, socks[k].n, ids[i].n), "%s", getv(socks[k].fd, SOL_SOCKET, ids[i].opt));
    /* TCP_MAXSEG and the path MTU on loopback. */
    tc_printf(NAME("mss/%s/unconnected", p), "%s", getv(ex, IPPROTO_TCP, TCP_MAXSEG));
    tc_printf(NAME("mss/%s/listener", p), "%s", getv(l, IPPROTO_TCP, TCP_MAXSEG));
    tc_printf(NAME("mss/%s/client", p), "%s", getv(c, IPPROTO_TCP, TCP_MAXSEG));
    tc_printf(NAME("mss/%s/accepted", p), "%s", getv(s, IPPROTO_TCP, TCP_MAXSEG));
    TC_SYS(NAME("mss/%s/set-on-connected", p), setsockopt(c, IPPROTO_TCP, TCP_MAXSEG, &(int){1000}, sizeof(int)));
    tc_printf(NAME("mss/%s/get-after-set-on-connected", p), "%s", getv(c, IPPROTO_TCP, TCP_MAXSEG));
    int mtuopt = af == AF_INET ? IP_MTU : IPV6_MTU, lvl = af == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
    tc_printf(NAME("mtu/%s/connected-tcp", p), "%s", getv(c, lvl, mtuopt));
    tc_printf(NAME("mtu/%s/unconnected-udp", p), "%s", getv(u, lvl, mtuopt));
    connect(u, ic_sa(&la), la.len);
    tc_printf(NAME("mtu/%s/connected-udp", p), "%s", getv(u, lvl, mtuopt));
    tc_printf(NAME("ttl/%s/connected-tcp-default", p), "%s",
              getv(c, lvl, af == AF_INET ? IP_TTL : IPV6_UNICAST_HOPS));
    close(ex);
    close(u);
    close(c);
    close(s);
    close(l);
}

/* TCP_INFO: tcpi_state through a connection's life, and the length. */
static const char *state_name(int st) {
    static const char *n[] = {"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
                              "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING"};
    return st >= 0 && st < (int)IC_N(n) ? n[st] : "?";
}
static const char *tcpi(int fd) {
    unsigned char buf[1024];
    socklen_t l = sizeof buf;
    errno = 0;
    int r = getsockopt(fd, IPPROTO_TCP, TCP_INFO, buf, &l);
    char *b = ic_buf();
    if (r < 0) snprintf(b, 96, "-1 %s", tc_errname(errno));
    else snprintf(b, 96, "%s", state_name(buf[0]));
    return b;
}
static void tcpinfo_cases(int af) {
    const char *p = ic_fam(af);
    int fresh = ic_socket(af, SOCK_STREAM);
    unsigned char buf[1024];
    socklen_t l = sizeof buf;
    getsockopt(fresh, IPPROTO_TCP, TCP_INFO, buf, &l);
    tc_printf(NAME("tcpinfo/%s/length-with-1024-buffer", p), "%d", (int)l);
    l = 8;
    errno = 0;
    int r = getsockopt(fresh, IPPROTO_TCP, TCP_INFO, buf, &l);
    tc_printf(NAME("tcpinfo/%s/length-with-8-buffer", p), "%s, len %d", ic_res(r, errno), (int)l);
    l = 0;
    errno = 0;
    r = getsockopt(fresh, IPPROTO_TCP, TCP_INFO, buf, &l);
    tc_printf(NAME("tcpinfo/%s/length-0", p), "%s, len %d", ic_res(r, errno), (int)l);
    tc_printf(NAME("tcpinfo/%s/state/fresh", p), "%s", tcpi(fresh));
    close(fresh);
    int u = ic_socket(af, SOCK_DGRAM);
    tc_printf(NAME("tcpinfo/%s/udp-socket", p), "%s", tcpi(u));
    close(u);

    ic_addr la;
    int lst = ic_listener(af, &la);
    tc_printf(NAME("tcpinfo/%s/state/listener", p), "%s", tcpi(lst));
    int c = ic_socket(af, SOCK_STREAM);
    connect(c, ic_sa(&la), la.len);
    int s = ic_accept(lst);
    tc_printf(NAME("tcpinfo/%s/state/client-connected", p), "%s", tcpi(c));
    tc_printf(NAME("tcpinfo/%s/state/accepted", p), "%s", tcpi(s));
    struct tcp_info ti;
    l = sizeof ti;
    getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &l);
    tc_printf(NAME("tcpinfo/%s/established/options", p), "timestamps %s, sack %s, wscale %s, snd_mss %u, rcv_wscale %u",
              ic_yn(ti.tcpi_options & TCPI_OPT_TIMESTAMPS), ic_yn(ti.tcpi_options & TCPI_OPT_SACK),
              ic_yn(ti.tcpi_options & TCPI_OPT_WSCALE), ti.tcpi_snd_mss, ti.tcpi_rcv_wscale);
    shutdown(c, SHUT_WR);
    ic_wait(s, POLLRDHUP, 2000);
    for (int i = 0; i < 100 && strcmp(tcpi(c), "FIN_WAIT2"); i++) usleep(5000);
    tc_printf(NAME("tcpinfo/%s/state/client-after-shutdown-wr", p), "%s", tcpi(c));
    tc_printf(NAME("tcpinfo/%s/state/server-after-peer-fin", p), "%s", tcpi(s));
    shutdown(s, SHUT_WR);
    ic_wait(c, POLLHUP, 2000);
    tc_printf(NAME("tcpinfo/%s/state/client-after-both-fin", p), "%s", tcpi(c));
    for (int i = 0; i < 100 && strcmp(tcpi(s), "CLOSE"); i++) usleep(5000);
    tc_printf(NAME("tcpinfo/%s/state/server-after-both-fin", p), "%s", tcpi(s));
    close(c);
    close(s);
    ic_tcp_pair(af, &c, &s);
    struct linger lg = {1, 0};
    setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(s);
    ic_wait(c, POLLERR, 2000);
    tc_printf(NAME("tcpinfo/%s/state/after-rst", p), "%s", tcpi(c));
    close(c);
    close(lst);
}

/* Timeouts, linger, strings. */
static const char *tvget(int fd, int opt) {
    struct timeval tv = {-7, -7};
    socklen_t l = sizeof tv;
    errno = 0;
    int r = getsockopt(fd, SOL_SOCKET, opt, &tv, &l);
    char *b = ic_buf();
    if (r < 0) snprintf(b, 96, "-1 %s", tc_errname(errno));
    else snprintf(b, 96, "%ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec);
    return b;
}
static void struct_cases(int af) {
    const char *p = ic_fam(af);
    static const struct { long s, us; const char *n; } tv[] = {
        {1, 500000, "1.5s"}, {0, 1000000, "usec-1000000"}, {-1, 0, "negative"}, {0, 0, "zero"}, {0, 1, "1us"}, {3, 999999, "3.999999s"}};
    static const struct { int opt; const char *n; } to[] = {{SO_RCVTIMEO, "SO_RCVTIMEO"}, {SO_SNDTIMEO, "SO_SNDTIMEO"}};
    int fd = ic_socket(af, SOCK_STREAM);
    for (size_t o = 0; o < IC_N(to); o++) {
        tc_printf(NAME("timeo/%s/%s/default", p, to[o].n), "%s", tvget(fd, to[o].opt));
        for (size_t i = 0; i < IC_N(tv); i++) {
            struct timeval t = {tv[i].s, tv[i].us};
            const char *r = IC_R(setsockopt(fd, SOL_SOCKET, to[o].opt, &t, sizeof t));
            tc_printf(NAME("timeo/%s/%s/set-%s", p, to[o].n, tv[i].n), "%s, get %s", r, tvget(fd, to[o].opt));
        }
        struct timeval t = {1, 0};
        TC_SYS(NAME("timeo/%s/%s/optlen-8", p, to[o].n), setsockopt(fd, SOL_SOCKET, to[o].opt, &t, 8));
    }
    static const struct { int on, secs; const char *n; } lg[] = {{1, 5, "on-5"}, {1, 0, "on-0"}, {0, 9, "off-9"}};
    for (size_t i = 0; i < IC_N(lg); i++) {
        struct linger v = {lg[i].on, lg[i].secs}, g = {-7, -7};
        const char *r = IC_R(setsockopt(fd, SOL_SOCKET, SO_LINGER, &v, sizeof v));
        socklen_t l = sizeof g;
        getsockopt(fd, SOL_SOCKET, SO_LINGER, &g, &l);
        tc_printf(NAME("linger/%s/set-%s", p, lg[i].n), "%s, get onoff %d linger %d len %d", r, g.l_onoff, g.l_linger, (int)l);
    }
    struct linger v = {1, 1};
    TC_SYS(NAME("linger/%s/optlen-4", p), setsockopt(fd, SOL_SOCKET, SO_LINGER, &v, 4));

    char cc[32] = "";
    socklen_t l = sizeof cc;
    TC_SYS(NAME("congestion/%s/get", p), getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &l));
    TC_SYS(NAME("congestion/%s/set-reno", p), setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "reno", 4));
    l = sizeof cc;
    memset(cc, 0, sizeof cc);
    getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &l);
    tc_printf(NAME("congestion/%s/get-after-reno", p), "\"%s\"", cc);
    TC_SYS(NAME("congestion/%s/set-unknown", p), setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "nosuchcc", 8));

    TC_SYS(NAME("bindtodevice/%s/lo", p), setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3));
    char dev[IFNAMSIZ + 8] = "";
    l = sizeof dev;
    errno = 0;
    int r = getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &l);
    tc_printf(NAME("bindtodevice/%s/get", p), "%s \"%s\" len %d", ic_res(r, errno), dev, (int)l);
    TC_SYS(NAME("bindtodevice/%s/unknown-device", p), setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "nosuchdev0", 11));
    TC_SYS(NAME("bindtodevice/%s/empty-unbinds", p), setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "", 0));
    l = sizeof dev;
    memset(dev, 0, sizeof dev);
    errno = 0;
    r = getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &l);
    tc_printf(NAME("bindtodevice/%s/get-after-unbind", p), "%s \"%s\" len %d", ic_res(r, errno), dev, (int)l);
    close(fd);
}

/* Unknown options, wrong levels, and optlen / pointer handling. */
static void arg_cases(int af) {
    const char *p = ic_fam(af);
    int t = ic_socket(af, SOCK_STREAM), u = ic_socket(af, SOCK_DGRAM);
    static const struct { int level, opt; const char *n; } unk[] = {
        {SOL_SOCKET, 9999, "SOL_SOCKET-9999"}, {IPPROTO_TCP, 9999, "TCP-9999"}, {IPPROTO_UDP, 9999, "UDP-9999"},
        {IPPROTO_IP, 9999, "IP-9999"},         {IPPROTO_IPV6, 9999, "IPV6-9999"}, {9999, 1, "level-9999"},
        {IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY"}, {IPPROTO_UDP, UDP_CORK, "UDP_CORK"},
        {IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY"}, {IPPROTO_IP, IP_TOS, "IP_TOS"}, {IPPROTO_RAW, 1, "level-IPPROTO_RAW"}};
    const struct { int fd; const char *n; } socks[] = {{t, "tcp"}, {u, "udp"}};
    for (size_t k = 0; k < IC_N(socks); k++)
        for (size_t i = 0; i < IC_N(unk); i++) {
            int one = 1;
            tc_printf(NAME("level/%s/%s/%s/get", p, socks[k].n, unk[i].n), "%s", getv(socks[k].fd, unk[i].level, unk[i].opt));
            TC_SYS(NAME("level/%s/%s/%s/set", p, socks[k].n, unk[i].n),
                   setsockopt(socks[k].fd, unk[i].level, unk[i].opt, &one, sizeof one));
        }

    /* optlen on get: what comes back and how long it is. */
    static const struct { int level, opt; const char *n; } lo[] = {
        {SOL_SOCKET, SO_TYPE, "SO_TYPE"}, {IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY"}, {IPPROTO_TCP, TCP_MAXSEG, "TCP_MAXSEG"},
        {IPPROTO_IP, IP_TOS, "IP_TOS"}, {IPPROTO_IP, IP_TTL, "IP_TTL"}, {IPPROTO_IPV6, IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS"},
        {IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY"}};
    static const int lens[] = {0, 1, 2, 8, -1};
    for (size_t i = 0; i < IC_N(lo); i++) {
        if ((lo[i].level == IPPROTO_IP && af != AF_INET) || (lo[i].level == IPPROTO_IPV6 && af != AF_INET6)) continue;
        for (size_t k = 0; k < IC_N(lens); k++) {
            unsigned char b[8];
            memset(b, 0xee, sizeof b);
            socklen_t l = lens[k];
            errno = 0;
            int r = getsockopt(t, lo[i].level, lo[i].opt, b, &l);
            tc_printf(NAME("optlen/%s/get/%s/len%d", p, lo[i].n, lens[k]), "%s, len %d, bytes %02x %02x %02x %02x %02x",
                      ic_res(r, errno), (int)l, b[0], b[1], b[2], b[3], b[4]);
        }
        for (size_t k = 0; k < IC_N(lens); k++) {
            unsigned char b[8] = {1, 0, 0, 0, 0, 0, 0, 0};
            const char *r = IC_R(setsockopt(t, lo[i].level, lo[i].opt, b, lens[k]));
            tc_printf(NAME("optlen/%s/set/%s/len%d", p, lo[i].n, lens[k]), "%s", r);
        }
    }
    static volatile uintptr_t bad = 1;
    socklen_t l = 4;
    TC_SYS(NAME("ptr/%s/get-bad-optval", p), getsockopt(t, SOL_SOCKET, SO_TYPE, (void *)bad, &l));
    TC_SYS(NAME("ptr/%s/get-bad-optlen", p), getsockopt(t, SOL_SOCKET, SO_TYPE, &l, (socklen_t *)bad));
    TC_SYS(NAME("ptr/%s/get-null-optlen", p), getsockopt(t, SOL_SOCKET, SO_TYPE, &l, NULL));
    TC_SYS(NAME("ptr/%s/set-null-optval", p), setsockopt(t, SOL_SOCKET, SO_REUSEADDR, NULL, 4));
    TC_SYS(NAME("ptr/%s/set-null-optval-len0", p), setsockopt(t, SOL_SOCKET, SO_REUSEADDR, NULL, 0));
    TC_SYS(NAME("ptr/%s/tcp-set-bad-optval", p), setsockopt(t, IPPROTO_TCP, TCP_NODELAY, (void *)(uintptr_t)1, 4));
    close(t);
    close(u);
}

/* Options that need privilege, from an unprivileged child. */
struct pv { int af, level, opt, val; };
static void priv_child(void *arg, char *buf, size_t n) {
    struct pv *a = arg;
    int fd = socket(a->af, SOCK_STREAM, 0);
    snprintf(buf, n, "%s", IC_R(setsockopt(fd, a->level, a->opt, &a->val, sizeof a->val)));
}
static void bind_child(void *arg, char *buf, size_t n) {
    int fd = socket(*(int *)arg, SOCK_STREAM, 0);
    snprintf(buf, n, "%s", IC_R(setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3)));
}
static void priv_cases(int af) {
    static const struct { int level, opt, val; const char *n; } rows[] = {
        {SOL_SOCKET, SO_PRIORITY, 6, "SO_PRIORITY-6"}, {SOL_SOCKET, SO_PRIORITY, 7, "SO_PRIORITY-7"},
        {SOL_SOCKET, SO_MARK, 5, "SO_MARK"}, {SOL_SOCKET, SO_RCVBUFFORCE, 1 << 20, "SO_RCVBUFFORCE"},
        {SOL_SOCKET, SO_SNDBUFFORCE, 1 << 20, "SO_SNDBUFFORCE"}, {IPPROTO_IP, IP_TRANSPARENT, 1, "IP_TRANSPARENT"},
        {SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR"}};
    for (size_t i = 0; i < IC_N(rows); i++) {
        struct pv a = {af, rows[i].level, rows[i].opt, rows[i].val};
        tc_printf(NAME("unpriv/%s/%s", ic_fam(af), rows[i].n), "%s", ic_unpriv(priv_child, &a));
    }
    tc_printf(NAME("unpriv/%s/SO_BINDTODEVICE", ic_fam(af)), "%s", ic_unpriv(bind_child, &af));
}

int main(void) {
    ic_start();
    table_cases();
    for (size_t i = 0; i < IC_N(ic_fams); i++) {
        int af = ic_fams[i];
        identity_cases(af);
        tcpinfo_cases(af);
        struct_cases(af);
        arg_cases(af);
        priv_cases(af);
    }
    return tc_done();
}
