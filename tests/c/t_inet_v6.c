/* t_inet_v6.c: what is specific to AF_INET6: ::1 end to end, the
 * dual-stack wildcard listener, v4-mapped addresses in both directions
 * (TCP and UDP) and IPV6_V6ONLY, the port space shared with AF_INET,
 * sockaddr_in6 length / family / scope id checks, and IPV6_ADDRFORM. */
#include "inet_cases.h"
#include <net/if.h>

static char name[IC_NAME];
#define NAME(...) (snprintf(name, sizeof name, __VA_ARGS__), name)

static const char *desc(const ic_addr *a) {
    if (!a->len) return "none";
    char ip[64];
    snprintf(ip, sizeof ip, "%s", ic_ip(a));
    char *b = ic_buf();
    snprintf(b, 96, "%s %s", ic_famname(a->ss.ss_family), ip);
    return b;
}
static int v6sock(int type, int v6only) {
    int fd = ic_socket(AF_INET6, type);
    if (v6only >= 0) ic_setint(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only);
    return fd;
}
static int listen_on(int af, const char *ip, int v6only, ic_addr *out) {
    int fd = af == AF_INET6 ? v6sock(SOCK_STREAM, v6only) : ic_socket(af, SOCK_STREAM);
    ic_addr a = ic_make(af, ip, 0);
    if (bind(fd, ic_sa(&a), a.len) < 0 || listen(fd, 8) < 0) tc_die("listener");
    *out = ic_sockname(fd);
    return fd;
}

static void loopback_cases(void) {
    ic_addr la;
    int l = listen_on(AF_INET6, "::1", -1, &la);
    int c = ic_socket(AF_INET6, SOCK_STREAM);
    TC_SYS("loop6/connect", connect(c, ic_sa(&la), la.len));
    int s = ic_accept(l);
    ic_addr cs = ic_sockname(c), cp = ic_peername(c), ss = ic_sockname(s), sp = ic_peername(s);
    tc_printf("loop6/client-local", "%s, len %d", desc(&cs), (int)cs.len);
    tc_printf("loop6/client-peer", "%s, is listener: %s", desc(&cp), ic_yn(ic_same(&cp, &la)));
    tc_printf("loop6/server-local", "%s, same port as listener: %s", desc(&ss), ic_yn(ic_port(&ss) == ic_port(&la)));
    tc_printf("loop6/server-peer", "%s, matches client: %s", desc(&sp), ic_yn(ic_same(&sp, &cs)));
    const struct sockaddr_in6 *p6 = (const void *)&sp.ss;
    tc_printf("loop6/server-peer/flowinfo-scope", "flowinfo %u, scope %u", p6->sin6_flowinfo, p6->sin6_scope_id);
    TC_VAL("loop6/data", (send(c, "six", 3, 0), ic_wait_inq(s, 3, 2000)));
    close(c);
    close(s);
    close(l);
}

/* A v6 wildcard listener and clients of both families. */
static void dualstack_cases(void) {
    for (int v6only = 0; v6only < 2; v6only++) {
        const char *k = v6only ? "v6only" : "dual";
        ic_addr la;
        int l = listen_on(AF_INET6, "::", v6only, &la);
        for (int cf = 0; cf < 2; cf++) {
            int af = ic_fams[cf];
            ic_addr to = ic_loop(af, ic_port(&la));
            int c = ic_socket(af, SOCK_STREAM);
            errno = 0;
            int r = connect(c, ic_sa(&to), to.len);
            tc_printf(NAME("dual/listener-%s/client-%s/connect", k, ic_fam(af)), "%s", ic_res(r, errno));
            if (r == 0) {
                int s = ic_accept(l);
                ic_addr cs = ic_sockname(c), sp = ic_peername(s), ss = ic_sockname(s);
                tc_printf(NAME("dual/listener-%s/client-%s/server-peer", k, ic_fam(af)), "%s, same port as client: %s",
                          desc(&sp), ic_yn(ic_port(&sp) == ic_port(&cs)));
                tc_printf(NAME("dual/listener-%s/client-%s/server-local", k, ic_fam(af)), "%s", desc(&ss));
                tc_printf(NAME("dual/listener-%s/client-%s/server-SO_DOMAIN", k, ic_fam(af)), "%d",
                          ic_getint(s, SOL_SOCKET, SO_DOMAIN));
                close(s);
            }
            close(c);
        }
        close(l);
    }
}

/* A v6 socket talking to IPv4 through ::ffff:127.0.0.1. */
static void mapped_cases(void) {
    ic_addr la;
    int l = listen_on(AF_INET, "127.0.0.1", -1, &la);
    ic_addr m = ic_make(AF_INET6, "::ffff:127.0.0.1", ic_port(&la));
    for (int v6only = 0; v6only < 2; v6only++) {
        const char *k = v6only ? "v6only" : "dual";
        int c = v6sock(SOCK_STREAM, v6only);
        errno = 0;
        int r = connect(c, ic_sa(&m), m.len);
        tc_printf(NAME("mapped/tcp/%s/connect", k), "%s", ic_res(r, errno));
        if (r == 0) {
            int s = ic_accept(l);
            ic_addr cs = ic_sockname(c), cp = ic_peername(c), sp = ic_peername(s);
            tc_printf(NAME("mapped/tcp/%s/client-local", k), "%s, len %d", desc(&cs), (int)cs.len);
            tc_printf(NAME("mapped/tcp/%s/client-peer", k), "%s, port is listener's: %s", desc(&cp),
                      ic_yn(ic_port(&cp) == ic_port(&la)));
            tc_printf(NAME("mapped/tcp/%s/server-peer", k), "%s, same port as client: %s", desc(&sp),
                      ic_yn(ic_port(&sp) == ic_port(&cs)));
            TC_VAL(NAME("mapped/tcp/%s/data", k), (send(c, "map", 3, 0), ic_wait_inq(s, 3, 2000)));
            TC_SYS(NAME("mapped/tcp/%s/set-v6only-now", k),
                   setsockopt(c, IPPROTO_IPV6, IPV6_V6ONLY, &(int){1}, sizeof(int)));
            /* IPV6_ADDRFORM turns the socket into an AF_INET one. */
            int af4 = AF_INET;
            TC_SYS(NAME("mapped/tcp/%s/IPV6_ADDRFORM", k), setsockopt(c, IPPROTO_IPV6, IPV6_ADDRFORM, &af4, sizeof af4));
            cs = ic_sockname(c);
            tc_printf(NAME("mapped/tcp/%s/after-ADDRFORM", k), "SO_DOMAIN %d, getsockname %s",
                      ic_getint(c, SOL_SOCKET, SO_DOMAIN), desc(&cs));
            close(s);
        }
        close(c);
    }
    /* IPV6_ADDRFORM on a native v6 connection. */
    int c, s;
    ic_tcp_pair(AF_INET6, &c, &s);
    int af4 = AF_INET;
    TC_SYS("mapped/tcp/native-v6/IPV6_ADDRFORM", setsockopt(c, IPPROTO_IPV6, IPV6_ADDRFORM, &af4, sizeof af4));
    close(c);
    close(s);
    close(l);

    /* UDP both ways. */
    ic_addr ra;
    int r4 = ic_bound(AF_INET, SOCK_DGRAM, &ra);
    ic_timeo(r4, 2000);
    ic_addr rm = ic_make(AF_INET6, "::ffff:127.0.0.1", ic_port(&ra));
    for (int v6only = 0; v6only < 2; v6only++) {
        const char *k = v6only ? "v6only" : "dual";
        int u = v6sock(SOCK_DGRAM, v6only);
        ic_timeo(u, 2000);
        errno = 0;
        ssize_t n = sendto(u, "m", 1, 0, ic_sa(&rm), rm.len);
        tc_printf(NAME("mapped/udp/%s/sendto", k), "%s", ic_val(n, errno));
        if (n == 1) {
            ic_addr from;
            from.len = sizeof from.ss;
            char b[8];
            recvfrom(r4, b, sizeof b, 0, ic_sa(&from), &from.len);
            ic_addr us = ic_sockname(u);
            tc_printf(NAME("mapped/udp/%s/receiver-sees", k), "%s, same port: %s", desc(&from),
                      ic_yn(ic_port(&from) == ic_port(&us)));
            tc_printf(NAME("mapped/udp/%s/sender-local", k), "%s", desc(&us));
            sendto(r4, "r", 1, 0, ic_sa(&from), from.len);
            from.len = sizeof from.ss;
            errno = 0;
            n = recvfrom(u, b, sizeof b, 0, ic_sa(&from), &from.len);
            tc_printf(NAME("mapped/udp/%s/reply-from", k), "%s, %s, len %d", ic_val(n, errno), desc(&from), (int)from.len);
        }
        TC_SYS(NAME("mapped/udp/%s/connect", k), connect(u, ic_sa(&rm), rm.len));
        close(u);
    }
    close(r4);
}

/* Binding v4-mapped addresses. */
static void mapped_bind_cases(void) {
    static const struct { const char *ip, *n; } rows[] = {
        {"::ffff:127.0.0.1", "mapped-loopback"}, {"::ffff:0.0.0.0", "mapped-any"}, {"::ffff:192.0.2.1", "mapped-nonlocal"}};
    for (size_t i = 0; i < IC_N(rows); i++)
        for (int v6only = 0; v6only < 2; v6only++) {
            const char *k = v6only ? "v6only" : "dual";
            int fd = v6sock(SOCK_STREAM, v6only);
            ic_addr a = ic_make(AF_INET6, rows[i].ip, 0);
            errno = 0;
            int r = bind(fd, ic_sa(&a), a.len);
            tc_printf(NAME("mbind/%s/%s/bind", rows[i].n, k), "%s", ic_res(r, errno));
            if (r == 0 && listen(fd, 4) == 0) {
                ic_addr la = ic_sockname(fd);
                tc_printf(NAME("mbind/%s/%s/getsockname", rows[i].n, k), "%s", desc(&la));
                for (int cf = 0; cf < 2; cf++) {
                    ic_addr to = ic_loop(ic_fams[cf], ic_port(&la));
                    int c = ic_socket(ic_fams[cf], SOCK_STREAM);
                    TC_SYS(NAME("mbind/%s/%s/client-%s", rows[i].n, k, ic_fam(ic_fams[cf])), connect(c, ic_sa(&to), to.len));
                    close(c);
                }
                TC_SYS(NAME("mbind/%s/%s/set-v6only-after-bind", rows[i].n, k),
                       setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){1}, sizeof(int)));
            }
            close(fd);
        }
    /* A socket bound to one kind of address connecting to the other. */
    ic_addr l4a, l6a;
    int l4 = listen_on(AF_INET, "127.0.0.1", -1, &l4a), l6 = listen_on(AF_INET6, "::1", -1, &l6a);
    ic_addr to4 = ic_make(AF_INET6, "::ffff:127.0.0.1", ic_port(&l4a));
    int fd = v6sock(SOCK_STREAM, -1);
    ic_addr b = ic_make(AF_INET6, "::1", 0);
    bind(fd, ic_sa(&b), b.len);
    TC_SYS("mbind/bound-v6-connect-mapped", connect(fd, ic_sa(&to4), to4.len));
    close(fd);
    fd = v6sock(SOCK_STREAM, -1);
    b = ic_make(AF_INET6, "::ffff:127.0.0.1", 0);
    bind(fd, ic_sa(&b), b.len);
    TC_SYS("mbind/bound-mapped-connect-v6", connect(fd, ic_sa(&l6a), l6a.len));
    close(fd);
    close(l4);
    close(l6);
}

/* AF_INET and AF_INET6 share the port space. */
struct prow { int af1; const char *ip1; int only1; int af2; const char *ip2; int only2; int opts; };
static const struct prow prows[] = {
    {AF_INET6, "::", 0, AF_INET, "0.0.0.0", -1, 0},        {AF_INET6, "::", 1, AF_INET, "0.0.0.0", -1, 0},
    {AF_INET, "0.0.0.0", -1, AF_INET6, "::", 0, 0},        {AF_INET, "0.0.0.0", -1, AF_INET6, "::", 1, 0},
    {AF_INET, "127.0.0.1", -1, AF_INET6, "::", 0, 0},      {AF_INET, "127.0.0.1", -1, AF_INET6, "::", 1, 0},
    {AF_INET6, "::", 0, AF_INET, "127.0.0.1", -1, 0},      {AF_INET6, "::1", -1, AF_INET, "127.0.0.1", -1, 0},
    {AF_INET6, "::1", -1, AF_INET, "0.0.0.0", -1, 0},      {AF_INET6, "::1", -1, AF_INET6, "::", 0, 0},
    {AF_INET6, "::", 0, AF_INET6, "::ffff:127.0.0.1", 0, 0}, {AF_INET, "127.0.0.1", -1, AF_INET6, "::ffff:127.0.0.1", 0, 0},
    {AF_INET6, "::", 1, AF_INET6, "::", 1, 0},             {AF_INET6, "::", 0, AF_INET, "0.0.0.0", -1, SO_REUSEADDR},
    {AF_INET6, "::", 0, AF_INET, "0.0.0.0", -1, SO_REUSEPORT},
};
static int mk(int af, int type, const char *ip, int only, int opt, int port, int *res) {
    int fd = af == AF_INET6 ? v6sock(type, only) : ic_socket(af, type);
    if (opt) ic_setint(fd, SOL_SOCKET, opt, 1);
    ic_addr a = ic_make(af, ip, port);
    errno = 0;
    *res = bind(fd, ic_sa(&a), a.len) < 0 ? -errno : 0;
    return fd;
}
static const char *who(int af, const char *ip, int only) {
    char *b = ic_buf();
    snprintf(b, 96, "%s[%s]%s", ic_fam(af), ip, only == 1 ? "v6only" : only == 0 ? "dual" : "");
    return b;
}
static void portspace_cases(void) {
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM};
    for (size_t t = 0; t < IC_N(types); t++)
        for (size_t i = 0; i < IC_N(prows); i++) {
            const struct prow *r = &prows[i];
            int e1, e2;
            int s1 = mk(r->af1, types[t], r->ip1, r->only1, r->opts, 0, &e1);
            if (e1) { errno = -e1; tc_die("bind s1"); }
            ic_addr a1 = ic_sockname(s1);
            int s2 = mk(r->af2, types[t], r->ip2, r->only2, r->opts, ic_port(&a1), &e2);
            char out[128];
            snprintf(out, sizeof out, "%s", e2 ? ic_res(-1, -e2) : "ok");
            if (!e2 && types[t] == SOCK_STREAM) {
                const char *l1 = IC_R(listen(s1, 4));
                const char *l2 = IC_R(listen(s2, 4));
                snprintf(out + strlen(out), sizeof out - strlen(out), ", listen1 %s, listen2 %s", l1, l2);
            }
            tc_printf(NAME("ports/%s/%s+%s%s%s", ic_typ(types[t]), who(r->af1, r->ip1, r->only1), who(r->af2, r->ip2, r->only2),
                           r->opts ? "/" : "", r->opts == SO_REUSEADDR ? "reuseaddr" : r->opts == SO_REUSEPORT ? "reuseport" : ""),
                      "%s", out);
            close(s1);
            close(s2);
        }
}

/* sockaddr_in6 checks. */
static void sockaddr_cases(void) {
    static const int lens[] = {0, 16, 23, 24, 27, 28, 29, 128, 129};
    ic_addr la;
    int l = listen_on(AF_INET6, "::1", -1, &la);
    for (size_t i = 0; i < IC_N(lens); i++) {
        int fd = ic_socket(AF_INET6, SOCK_STREAM);
        ic_addr a = ic_loop(AF_INET6, 0);
        TC_SYS(NAME("len/bind-%d", lens[i]), bind(fd, ic_sa(&a), lens[i]));
        close(fd);
        fd = ic_socket(AF_INET6, SOCK_STREAM);
        TC_SYS(NAME("len/connect-%d", lens[i]), connect(fd, ic_sa(&la), lens[i]));
        close(fd);
    }
    for (int want = 0; want <= 32; want += 4) {
        int fd = ic_bound(AF_INET6, SOCK_STREAM, NULL);
        struct sockaddr_storage ss;
        socklen_t sl = want;
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        if (want == 0 || want == 24 || want == 32) tc_printf(NAME("len/getsockname-buffer-%d", want), "len %d", (int)sl);
        close(fd);
    }
    static const struct { int fam; const char *n; } fams[] = {{AF_INET, "inet"}, {AF_UNSPEC, "unspec"}, {AF_UNIX, "unix"}};
    for (size_t i = 0; i < IC_N(fams); i++) {
        int fd = ic_socket(AF_INET6, SOCK_STREAM);
        ic_addr a = ic_loop(AF_INET6, 0);
        a.ss.ss_family = fams[i].fam;
        TC_SYS(NAME("family/bind-%s", fams[i].n), bind(fd, ic_sa(&a), a.len));
        a = la;
        a.ss.ss_family = fams[i].fam;
        TC_SYS(NAME("family/connect-%s", fams[i].n), connect(fd, ic_sa(&a), a.len));
        close(fd);
    }
    /* Scope ids: only link-local addresses need (and keep) one. */
    unsigned lo = if_nametoindex("lo");
    static const struct { const char *ip; int scope; int len; const char *n; } sc[] = {
        {"::1", 1, 28, "loopback-scope-lo"}, {"::1", 9999, 28, "loopback-scope-unknown"},
        {"fe80::1", 0, 28, "linklocal-no-scope"}, {"fe80::1", 1, 28, "linklocal-scope-lo"},
        {"fe80::1", 9999, 28, "linklocal-scope-unknown"}, {"fe80::1", 1, 24, "linklocal-scope-lo-len24"},
        {"ff02::1", 1, 28, "multicast-linklocal-scope-lo"}};
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM};
    for (size_t t = 0; t < IC_N(types); t++)
        for (size_t i = 0; i < IC_N(sc); i++) {
            int fd = ic_socket(AF_INET6, types[t]);
            ic_addr a = ic_make(AF_INET6, sc[i].ip, 0);
            ((struct sockaddr_in6 *)&a.ss)->sin6_scope_id = sc[i].scope == 1 ? lo : (unsigned)sc[i].scope;
            errno = 0;
            int r = bind(fd, ic_sa(&a), sc[i].len);
            if (r == 0) {
                ic_addr g = ic_sockname(fd);
                unsigned got = ((struct sockaddr_in6 *)&g.ss)->sin6_scope_id;
                tc_printf(NAME("scope/%s/%s", ic_typ(types[t]), sc[i].n), "ok, scope back %s, SO_BINDTOIFINDEX is lo: %s",
                          got == 0 ? "0" : got == lo ? "lo" : "other", ic_yn(ic_getint(fd, SOL_SOCKET, SO_BINDTOIFINDEX) == (int)lo));
            } else tc_printf(NAME("scope/%s/%s", ic_typ(types[t]), sc[i].n), "%s", ic_res(r, errno));
            close(fd);
        }
    int fd = ic_socket(AF_INET6, SOCK_STREAM);
    ic_addr a = ic_loop(AF_INET6, 0);
    ((struct sockaddr_in6 *)&a.ss)->sin6_flowinfo = htonl(0x12345);
    TC_SYS("flowinfo/bind-nonzero", bind(fd, ic_sa(&a), a.len));
    close(fd);
    fd = ic_socket(AF_INET6, SOCK_STREAM);
    a = la;
    ((struct sockaddr_in6 *)&a.ss)->sin6_flowinfo = htonl(0x12345);
    TC_SYS("flowinfo/connect-nonzero", connect(fd, ic_sa(&a), a.len));
    close(fd);
    close(ic_accept(l));
    close(l);
}

/* IPV6_V6ONLY default and when it can change. */
static void v6only_cases(void) {
    tc_printf("v6only/sysctl-bindv6only", "%d", ic_sysctl_int("/proc/sys/net/ipv6/bindv6only"));
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM};
    for (size_t t = 0; t < IC_N(types); t++) {
        const char *tn = ic_typ(types[t]);
        int fd = ic_socket(AF_INET6, types[t]);
        tc_printf(NAME("v6only/%s/default", tn), "%d", ic_getint(fd, IPPROTO_IPV6, IPV6_V6ONLY));
        TC_SYS(NAME("v6only/%s/set-unbound", tn), setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){1}, sizeof(int)));
        ic_addr a = ic_loop(AF_INET6, 0);
        bind(fd, ic_sa(&a), a.len);
        TC_SYS(NAME("v6only/%s/set-bound", tn), setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){0}, sizeof(int)));
        tc_printf(NAME("v6only/%s/after-failed-set", tn), "%d", ic_getint(fd, IPPROTO_IPV6, IPV6_V6ONLY));
        close(fd);
    }
    int fd = ic_socket(AF_INET, SOCK_STREAM);
    TC_SYS("v6only/on-v4-socket", setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){1}, sizeof(int)));
    close(fd);
}

int main(void) {
    ic_start();
    loopback_cases();
    dualstack_cases();
    mapped_cases();
    mapped_bind_cases();
    portspace_cases();
    sockaddr_cases();
    v6only_cases();
    return tc_done();
}
