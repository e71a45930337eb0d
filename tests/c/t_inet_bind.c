/* t_inet_bind.c: bind(2) on AF_INET / AF_INET6: address-in-use rules with
 * and without SO_REUSEADDR / SO_REUSEPORT, TIME_WAIT, privileged ports,
 * non-local addresses, port 0, address length / family / pointer checks,
 * and binding a socket that is already bound. */
#include "inet_cases.h"

enum { RA = 1, RP = 2 };
/* Address selectors, resolved per family. */
enum { LOOP, ANY, LOOP2 };
static ic_addr pick(int af, int sel, int port) {
    if (sel == ANY) return ic_any(af, port);
    if (sel == LOOP2) return ic_make(af, "127.0.0.2", port);
    return ic_loop(af, port);
}
static const char *optname(int o) {
    static const char *n[] = {"none", "reuseaddr", "reuseport", "reuseaddr+reuseport"};
    return n[o & 3];
}

/* Two sockets: s1 binds a1 to port 0, then script runs with s2 binding a2
 * to the same port. Tokens: b2 (bind s2), l1/l2 (listen), c1 (close s1). */
struct crow {
    const char *what;
    int t1, t2, o1, o2, a1, a2;
    const char *script;
    int v4only;
};
#define S SOCK_STREAM
#define D SOCK_DGRAM
static const struct crow crows[] = {
    {"same", S, S, 0, 0, LOOP, LOOP, "b2", 0},
    {"same", S, S, RA, RA, LOOP, LOOP, "b2 l1 l2", 0},
    {"same-listen-first", S, S, RA, RA, LOOP, LOOP, "l1 b2", 0},
    {"same", S, S, RA, 0, LOOP, LOOP, "b2", 0},
    {"same", S, S, 0, RA, LOOP, LOOP, "b2", 0},
    {"same", S, S, RP, RP, LOOP, LOOP, "b2 l1 l2", 0},
    {"same-listen-first", S, S, RP, RP, LOOP, LOOP, "l1 b2 l2", 0},
    {"same", S, S, RP, 0, LOOP, LOOP, "b2", 0},
    {"same", S, S, 0, RP, LOOP, LOOP, "b2", 0},
    {"same", S, S, RA | RP, RP, LOOP, LOOP, "l1 b2 l2", 0},
    {"same", S, S, RA, RP, LOOP, LOOP, "b2", 0},
    {"wild-then-loop", S, S, 0, 0, ANY, LOOP, "b2", 0},
    {"loop-then-wild", S, S, 0, 0, LOOP, ANY, "b2", 0},
    {"wild-then-loop", S, S, RA, RA, ANY, LOOP, "b2 l2 l1", 0},
    {"wild-then-loop-listen-first", S, S, RA, RA, ANY, LOOP, "l1 b2", 0},
    {"loop-then-wild-listen-first", S, S, RA, RA, LOOP, ANY, "l1 b2", 0},
    {"wild-then-loop-listen-first", S, S, RP, RP, ANY, LOOP, "l1 b2 l2", 0},
    {"loop-then-loop2", S, S, 0, 0, LOOP, LOOP2, "b2 l1 l2", 1},
    {"same-after-close", S, S, 0, 0, LOOP, LOOP, "c1 b2 l2", 0},
    {"same-after-listener-close", S, S, 0, 0, LOOP, LOOP, "l1 c1 b2 l2", 0},
    {"same", D, D, 0, 0, LOOP, LOOP, "b2", 0},
    {"same", D, D, RA, RA, LOOP, LOOP, "b2", 0},
    {"same", D, D, RA, 0, LOOP, LOOP, "b2", 0},
    {"same", D, D, RP, RP, LOOP, LOOP, "b2", 0},
    {"same", D, D, RP, 0, LOOP, LOOP, "b2", 0},
    {"wild-then-loop", D, D, 0, 0, ANY, LOOP, "b2", 0},
    {"wild-then-loop", D, D, RA, RA, ANY, LOOP, "b2", 0},
    {"loop-then-loop2", D, D, 0, 0, LOOP, LOOP2, "b2", 1},
    {"tcp-listener-then-udp", S, D, 0, 0, LOOP, LOOP, "l1 b2", 0},
    {"udp-then-tcp", D, S, 0, 0, LOOP, LOOP, "b2 l2", 0},
    {"tcp-wild-then-udp-wild", S, D, 0, 0, ANY, ANY, "l1 b2", 0},
};

static void run_conflict(int af, const struct crow *r) {
    char name[IC_NAME], out[256] = "";
    int s1 = ic_socket(af, r->t1), s2 = ic_socket(af, r->t2);
    if (r->o1 & RA) ic_setint(s1, SOL_SOCKET, SO_REUSEADDR, 1);
    if (r->o1 & RP) ic_setint(s1, SOL_SOCKET, SO_REUSEPORT, 1);
    if (r->o2 & RA) ic_setint(s2, SOL_SOCKET, SO_REUSEADDR, 1);
    if (r->o2 & RP) ic_setint(s2, SOL_SOCKET, SO_REUSEPORT, 1);
    ic_addr a1 = pick(af, r->a1, 0);
    if (bind(s1, ic_sa(&a1), a1.len) < 0) tc_die("bind s1");
    int port = ic_port((a1 = ic_sockname(s1), &a1));
    /* Across protocols the ephemeral port s1 got may be held in the other
     * protocol's table by an unrelated socket of this machine (a TIME_WAIT
     * of an earlier test): take another until a bare socket of s2's type
     * could bind it, so the case sees only s1 and s2. */
    for (int tries = 0; r->t1 != r->t2 && tries < 50; tries++) {
        int probe = ic_socket(af, r->t2);
        ic_addr pa = pick(af, r->a2, port);
        int free_there = bind(probe, ic_sa(&pa), pa.len) == 0;
        close(probe);
        if (free_there) break;
        close(s1);
        s1 = ic_socket(af, r->t1);
        if (r->o1 & RA) ic_setint(s1, SOL_SOCKET, SO_REUSEADDR, 1);
        if (r->o1 & RP) ic_setint(s1, SOL_SOCKET, SO_REUSEPORT, 1);
        a1 = pick(af, r->a1, 0);
        if (bind(s1, ic_sa(&a1), a1.len) < 0) tc_die("bind s1");
        port = ic_port((a1 = ic_sockname(s1), &a1));
    }
    ic_addr a2 = pick(af, r->a2, port);
    char script[64];
    snprintf(script, sizeof script, "%s", r->script);
    for (char *tok = strtok(script, " "); tok; tok = strtok(NULL, " ")) {
        const char *res;
        if (!strcmp(tok, "b2")) res = IC_R(bind(s2, ic_sa(&a2), a2.len));
        else if (!strcmp(tok, "l1")) res = IC_R(listen(s1, 4));
        else if (!strcmp(tok, "l2")) res = IC_R(listen(s2, 4));
        else if (!strcmp(tok, "c1")) { res = IC_R(close(s1)); s1 = -1; }
        else res = "?";
        size_t k = strlen(out);
        snprintf(out + k, sizeof out - k, "%s%s %s", k ? ", " : "", tok, res);
    }
    snprintf(script, sizeof script, "%s", r->script);
    for (char *p = script; *p; p++)
        if (*p == ' ') *p = ',';
    snprintf(name, sizeof name, "conflict/%s/%s-%s/%s/%s-%s/%s", ic_fam(af), ic_typ(r->t1), ic_typ(r->t2), r->what,
             optname(r->o1), optname(r->o2), script);
    tc_printf(name, "%s", out);
    if (s1 >= 0) close(s1);
    close(s2);
}

/* TIME_WAIT left by the server side of a connection it closed first. */
static void run_timewait(int af, int lopt, int nopt) {
    char name[IC_NAME];
    int l = ic_socket(af, SOCK_STREAM);
    if (lopt) ic_setint(l, SOL_SOCKET, SO_REUSEADDR, 1);
    ic_addr la = ic_loop(af, 0);
    if (bind(l, ic_sa(&la), la.len) < 0 || listen(l, 4) < 0) tc_die("listener");
    la = ic_sockname(l);
    int c = ic_socket(af, SOCK_STREAM);
    if (connect(c, ic_sa(&la), la.len) < 0) tc_die("connect");
    int s = ic_accept(l);
    shutdown(s, SHUT_WR);                       /* server sends FIN first */
    ic_wait(c, POLLRDHUP, 2000);
    close(c);                                   /* client FIN: server -> TIME_WAIT */
    short ev = ic_wait(s, POLLHUP, 2000);
    close(s);
    close(l);
    int n = ic_socket(af, SOCK_STREAM);
    if (nopt) ic_setint(n, SOL_SOCKET, SO_REUSEADDR, 1);
    snprintf(name, sizeof name, "timewait/%s/server-closed-first/listener-%s/new-%s", ic_fam(af), optname(lopt),
             optname(nopt));
    tc_printf(name, "server saw hangup %s, bind %s", ic_yn(ev & POLLHUP), IC_R(bind(n, ic_sa(&la), la.len)));
    close(n);
}

/* Different owner with SO_REUSEPORT: child binds the parent's port. */
struct rp_arg { int af, port; };
static void rp_child(void *arg, char *buf, size_t n) {
    struct rp_arg *a = arg;
    int fd = socket(a->af, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    ic_addr ad = ic_loop(a->af, a->port);
    snprintf(buf, n, "%s", IC_R(bind(fd, ic_sa(&ad), ad.len)));
}
struct lp_arg { int af, type, port, opt; };
static void lowport_child(void *arg, char *buf, size_t n) {
    struct lp_arg *a = arg;
    int fd = socket(a->af, a->type, 0);
    if (a->opt) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    ic_addr ad = ic_loop(a->af, a->port);
    snprintf(buf, n, "%s", IC_R(bind(fd, ic_sa(&ad), ad.len)));
}

/* Non-local / special addresses: bind only, nothing is ever sent. */
struct arow { int af, type; const char *ip, *what; int opt; };
static const struct arow arows[] = {
    {AF_INET, S, "192.0.2.1", "doc-net", 0}, {AF_INET, D, "192.0.2.1", "doc-net", 0},
    {AF_INET, S, "192.0.2.1", "doc-net+freebind", IP_FREEBIND},
    {AF_INET, S, "192.0.2.1", "doc-net+transparent", IP_TRANSPARENT},
    {AF_INET, S, "127.0.0.2", "loop2", 0}, {AF_INET, S, "127.255.255.254", "loop-high", 0},
    {AF_INET, D, "224.0.0.1", "multicast", 0}, {AF_INET, S, "224.0.0.1", "multicast", 0},
    {AF_INET, D, "255.255.255.255", "broadcast", 0}, {AF_INET, S, "255.255.255.255", "broadcast", 0},
    {AF_INET6, S, "2001:db8::1", "doc-net", 0}, {AF_INET6, D, "2001:db8::1", "doc-net", 0},
    {AF_INET6, S, "2001:db8::1", "doc-net+freebind", IP_FREEBIND},
    {AF_INET6, S, "2001:db8::1", "doc-net+transparent", IPV6_TRANSPARENT},
    {AF_INET6, D, "ff0e::1", "multicast-global", 0}, {AF_INET6, S, "ff0e::1", "multicast-global", 0},
    {AF_INET6, D, "ff02::1", "multicast-linklocal", 0},
};

int main(void) {
    char name[IC_NAME];
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM};
    ic_start();

    for (size_t f = 0; f < IC_N(ic_fams); f++)
        for (size_t i = 0; i < IC_N(crows); i++)
            if (!(crows[i].v4only && ic_fams[f] != AF_INET)) run_conflict(ic_fams[f], &crows[i]);

    for (size_t f = 0; f < IC_N(ic_fams); f++)
        for (int lo = 0; lo < 2; lo++)
            for (int no = 0; no < 2; no++) run_timewait(ic_fams[f], lo, no);

    for (size_t f = 0; f < IC_N(ic_fams); f++) {
        int af = ic_fams[f];
        ic_addr a;
        int s1 = ic_socket(af, SOCK_STREAM);
        ic_setint(s1, SOL_SOCKET, SO_REUSEPORT, 1);
        a = ic_loop(af, 0);
        if (bind(s1, ic_sa(&a), a.len) < 0) tc_die("bind");
        struct rp_arg ra = {af, ic_port((a = ic_sockname(s1), &a))};
        snprintf(name, sizeof name, "conflict/%s/tcp/reuseport-both/other-uid", ic_fam(af));
        tc_printf(name, "%s", ic_unpriv(rp_child, &ra));
        close(s1);
    }

    /* Privileged ports. */
    int start = ic_sysctl_int("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    for (size_t f = 0; f < IC_N(ic_fams); f++)
        for (size_t t = 0; t < IC_N(types); t++)
            for (int o = 0; o < 2; o++) {
                int af = ic_fams[f];
                struct lp_arg la = {af, types[t], start > 1 ? start - 1 : 1, o};
                snprintf(name, sizeof name, "privport/%s/%s/%s/unprivileged/below-start", ic_fam(af),
                         ic_typ(types[t]), optname(o));
                tc_printf(name, "%s", ic_unpriv(lowport_child, &la));
            }
    for (size_t f = 0; f < IC_N(ic_fams); f++)
        for (size_t t = 0; t < IC_N(types); t++) {
            int af = ic_fams[f];
            struct lp_arg la = {af, types[t], 0, 0};
            snprintf(name, sizeof name, "privport/%s/%s/unprivileged/port-0", ic_fam(af), ic_typ(types[t]));
            tc_printf(name, "%s", ic_unpriv(lowport_child, &la));
            int fd = ic_socket(af, types[t]);
            int lim = start > 600 ? start : 1024;
            snprintf(name, sizeof name, "privport/%s/%s/root/below-start", ic_fam(af), ic_typ(types[t]));
            TC_SYS(name, ic_bind_fixed(fd, af, af == AF_INET ? "127.0.0.1" : "::1", 600, lim, NULL));
            close(fd);
        }

    /* Addresses that are not (or not plainly) local. */
    for (size_t i = 0; i < IC_N(arows); i++) {
        const struct arow *r = &arows[i];
        int fd = ic_socket(r->af, r->type);
        if (r->opt) ic_setint(fd, r->af == AF_INET6 && r->opt == IPV6_TRANSPARENT ? SOL_IPV6 : SOL_IP, r->opt, 1);
        ic_addr a = ic_make(r->af, r->ip, 0);
        snprintf(name, sizeof name, "addr/%s/%s/%s", ic_fam(r->af), ic_typ(r->type), r->what);
        TC_SYS(name, bind(fd, ic_sa(&a), a.len));
        close(fd);
    }

    /* Port 0 picks an ephemeral port; the address is kept. */
    for (size_t f = 0; f < IC_N(ic_fams); f++)
        for (size_t t = 0; t < IC_N(types); t++)
            for (int w = 0; w < 2; w++) {
                int af = ic_fams[f];
                int fd = ic_socket(af, types[t]);
                ic_addr a = w ? ic_any(af, 0) : ic_loop(af, 0);
                if (bind(fd, ic_sa(&a), a.len) < 0) tc_die("bind");
                ic_addr g = ic_sockname(fd);
                snprintf(name, sizeof name, "port0/%s/%s/%s", ic_fam(af), ic_typ(types[t]), w ? "any" : "loop");
                ic_set_port(&a, ic_port(&g));
                tc_printf(name, "in range: %s, address kept: %s, len %d", ic_yn(ic_in_range(ic_port(&g))),
                          ic_yn(ic_same(&a, &g)), (int)g.len);
                close(fd);
            }

    /* Address length, family and pointer checks on an AF_INET socket. */
    {
        static const struct { int fam; uint32_t ip; int len; const char *what; } lr[] = {
            {AF_INET, 0x7f000001, 0, "len-0"}, {AF_INET, 0x7f000001, 2, "len-2"},
            {AF_INET, 0x7f000001, 15, "len-15"}, {AF_INET, 0x7f000001, 16, "len-16"},
            {AF_INET, 0x7f000001, 17, "len-17"}, {AF_INET, 0x7f000001, 128, "len-128"},
            {AF_INET, 0x7f000001, 129, "len-129"}, {AF_INET, 0x7f000001, -1, "len-minus1"},
            {AF_UNIX, 0x7f000001, 16, "family-unix"}, {AF_INET6, 0x7f000001, 16, "family-inet6"},
            {AF_UNSPEC, 0, 16, "family-unspec-any"}, {AF_UNSPEC, 0x7f000001, 16, "family-unspec-loop"},
        };
        for (size_t t = 0; t < IC_N(types); t++)
            for (size_t i = 0; i < IC_N(lr); i++) {
                struct sockaddr_storage ss;
                memset(&ss, 0, sizeof ss);
                struct sockaddr_in *sin = (void *)&ss;
                sin->sin_family = lr[i].fam;
                sin->sin_addr.s_addr = htonl(lr[i].ip);
                int fd = ic_socket(AF_INET, types[t]);
                snprintf(name, sizeof name, "args/v4/%s/%s", ic_typ(types[t]), lr[i].what);
                TC_SYS(name, bind(fd, (struct sockaddr *)&ss, (socklen_t)lr[i].len));
                close(fd);
            }
    }
    for (size_t f = 0; f < IC_N(ic_fams); f++)
        for (size_t t = 0; t < IC_N(types); t++) {
            int af = ic_fams[f];
            const char *fn = ic_fam(af), *tn = ic_typ(types[t]);
            int fd = ic_socket(af, types[t]);
            snprintf(name, sizeof name, "args/%s/%s/bad-pointer", fn, tn);
            TC_SYS(name, bind(fd, (struct sockaddr *)(uintptr_t)1, af == AF_INET ? 16 : 28));
            snprintf(name, sizeof name, "args/%s/%s/null-len-0", fn, tn);
            TC_SYS(name, bind(fd, NULL, 0));
            snprintf(name, sizeof name, "args/%s/%s/null-len-full", fn, tn);
            TC_SYS(name, bind(fd, NULL, af == AF_INET ? 16 : 28));
            close(fd);
            ic_addr a = ic_loop(af, 0);
            fd = open("/dev/null", O_RDONLY);
            snprintf(name, sizeof name, "args/%s/%s/not-a-socket", fn, tn);
            TC_SYS(name, bind(fd, ic_sa(&a), a.len));
            close(fd);
            snprintf(name, sizeof name, "args/%s/%s/bad-fd", fn, tn);
            TC_SYS(name, bind(-1, ic_sa(&a), a.len));
        }

    /* Binding a socket that already has a local port. */
    for (size_t f = 0; f < IC_N(ic_fams); f++)
        for (size_t t = 0; t < IC_N(types); t++) {
            int af = ic_fams[f], ty = types[t];
            const char *fn = ic_fam(af), *tn = ic_typ(ty);
            ic_addr la, a = ic_loop(af, 0);
            int fd = ic_bound(af, ty, &la);
            snprintf(name, sizeof name, "rebind/%s/%s/after-bind/port-0", fn, tn);
            TC_SYS(name, bind(fd, ic_sa(&a), a.len));
            snprintf(name, sizeof name, "rebind/%s/%s/after-bind/same-port", fn, tn);
            TC_SYS(name, bind(fd, ic_sa(&la), la.len));
            close(fd);

            int peer = ty == SOCK_STREAM ? ic_listener(af, &la) : ic_bound(af, ty, &la);
            fd = ic_socket(af, ty);
            if (connect(fd, ic_sa(&la), la.len) < 0) tc_die("connect");
            snprintf(name, sizeof name, "rebind/%s/%s/after-connect", fn, tn);
            TC_SYS(name, bind(fd, ic_sa(&a), a.len));
            close(fd);
            if (ty == SOCK_STREAM) {
                fd = ic_socket(af, ty);
                listen(fd, 1);
                snprintf(name, sizeof name, "rebind/%s/%s/after-listen-autobind", fn, tn);
                TC_SYS(name, bind(fd, ic_sa(&a), a.len));
                close(fd);
            } else {
                fd = ic_socket(af, ty);
                if (sendto(fd, "x", 1, 0, ic_sa(&la), la.len) != 1) tc_die("sendto");
                snprintf(name, sizeof name, "rebind/%s/%s/after-sendto-autobind", fn, tn);
                TC_SYS(name, bind(fd, ic_sa(&a), a.len));
                close(fd);
            }
            close(peer);
        }
    return tc_done();
}
