/* t_unix_options.c: getsockopt/setsockopt at SOL_SOCKET on unix sockets.
 * A matrix of read-only facts (SO_TYPE, SO_DOMAIN, SO_PROTOCOL,
 * SO_ACCEPTCONN, SO_ERROR, SO_PASSCRED, SO_PEERCRED, SO_PEERNAME, buffer
 * sizes, ...) for each socket type in each state, set/get round trips of
 * the generic options and of the timeouts, and the argument errors
 * (unknown option, bad level, short optlen, bad pointers). */
#include "unix_cases.h"
#include <linux/sockios.h>

#define OPT(x) {x, #x}
struct opt { int opt; const char *name; };

static const struct opt read_opts[] = {
    OPT(SO_TYPE), OPT(SO_DOMAIN), OPT(SO_PROTOCOL), OPT(SO_ACCEPTCONN), OPT(SO_ERROR), OPT(SO_PASSCRED),
    OPT(SO_PEEK_OFF), OPT(SO_RCVLOWAT), OPT(SO_SNDLOWAT), OPT(SO_REUSEADDR), OPT(SO_KEEPALIVE), OPT(SO_BROADCAST),
    OPT(SO_OOBINLINE), OPT(SO_PRIORITY), OPT(SO_MARK), OPT(SO_TIMESTAMP),
};

enum st { S_FRESH, S_BOUND, S_LISTENING, S_CLIENT, S_ACCEPTED, S_PAIR, S_N };
static const char *st_names[] = {"fresh", "bound", "listening", "connected", "accepted", "socketpair"};

static int file_int(const char *path) {
    FILE *f = fopen(path, "r");
    int v = -1;
    if (!f || fscanf(f, "%d", &v) != 1) v = -1;
    if (f) fclose(f);
    return v;
}

static void print_peercred(const char *name, int fd) {
    struct ucred uc;
    socklen_t l = sizeof uc;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &l) < 0) {
        tc_printf(name, "-1 %s", tc_errname(errno));
        return;
    }
    tc_printf(name, "len = %u, pid %s, uid = %d, gid = %d", (unsigned)l,
              uc.pid == 0 ? "0" : uc.pid == getpid() ? "self" : "other", (int)uc.uid, (int)uc.gid);
}

static void matrix(void) {
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
    int wdef = file_int("/proc/sys/net/core/wmem_default"), rdef = file_int("/proc/sys/net/core/rmem_default");
    for (size_t t = 0; t < 3; t++)
        for (int s = 0; s < S_N; s++) {
            int type = types[t];
            if (type == SOCK_DGRAM && (s == S_LISTENING || s == S_ACCEPTED)) continue;
            struct sockaddr_un a;
            socklen_t al = uc_addr_path(&a, "srv");
            int fd = -1, o1 = -1, o2 = -1;
            switch (s) {
            case S_FRESH: fd = uc_socket(type); break;
            case S_BOUND: fd = uc_bound(type, &a, al); break;
            case S_LISTENING: fd = uc_listener(type, &a, al, 2); break;
            case S_CLIENT:
            case S_ACCEPTED:
                if (type == SOCK_DGRAM) {
                    o1 = uc_bound(type, &a, al);
                    fd = uc_connected(type, &a, al);
                } else {
                    o1 = uc_listener(type, &a, al, 2);
                    int c = uc_connected(type, &a, al);
                    int acc = accept(o1, NULL, NULL);
                    fd = s == S_CLIENT ? c : acc;
                    o2 = s == S_CLIENT ? acc : c;
                }
                break;
            case S_PAIR: {
                int sv[2];
                uc_socketpair(type, sv);
                fd = sv[0];
                o1 = sv[1];
                break;
            }
            }
            char p[64];
            snprintf(p, sizeof p, "%s/%s", uc_short_type(type), st_names[s]);
            for (size_t i = 0; i < sizeof read_opts / sizeof read_opts[0]; i++) {
                const char *n = uc_name("getsockopt/%s/%s", p, read_opts[i].name);
                if (read_opts[i].opt == SO_TYPE) {
                    int v = uc_getint(fd, SOL_SOCKET, SO_TYPE);
                    tc_printf(n, "%s", uc_type_name(v));
                } else if (read_opts[i].opt == SO_DOMAIN) {
                    int v = uc_getint(fd, SOL_SOCKET, SO_DOMAIN);
                    tc_printf(n, "%s", v == AF_UNIX ? "AF_UNIX" : "other");
                } else {
                    uc_print_opt(n, fd, SOL_SOCKET, read_opts[i].opt);
                }
            }
            int sb = uc_getint(fd, SOL_SOCKET, SO_SNDBUF), rb = uc_getint(fd, SOL_SOCKET, SO_RCVBUF);
            tc_printf(uc_name("getsockopt/%s/SO_SNDBUF", p), "%s", sb == wdef ? "= wmem_default" : "other");
            tc_printf(uc_name("getsockopt/%s/SO_RCVBUF", p), "%s", rb == rdef ? "= rmem_default" : "other");
            struct timeval tv = {7, 7};
            socklen_t tl = sizeof tv;
            getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &tl);
            tc_printf(uc_name("getsockopt/%s/SO_RCVTIMEO", p), "len = %u, %ld.%06ld", (unsigned)tl, (long)tv.tv_sec,
                      (long)tv.tv_usec);
            struct linger lg = {7, 7};
            socklen_t ll = sizeof lg;
            getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &ll);
            tc_printf(uc_name("getsockopt/%s/SO_LINGER", p), "len = %u, onoff %d, linger %d", (unsigned)ll, lg.l_onoff,
                      lg.l_linger);
            print_peercred(uc_name("getsockopt/%s/SO_PEERCRED", p), fd);
            struct sockaddr_un pn;
            socklen_t pl = sizeof pn;
            if (getsockopt(fd, SOL_SOCKET, SO_PEERNAME, &pn, &pl) < 0)
                tc_printf(uc_name("getsockopt/%s/SO_PEERNAME", p), "-1 %s", tc_errname(errno));
            else
                tc_printf(uc_name("getsockopt/%s/SO_PEERNAME", p), "len = %u", (unsigned)pl);
            /* SO_PEERNAME insists on a buffer no larger than the name */
            pl = 2;
            if (getsockopt(fd, SOL_SOCKET, SO_PEERNAME, &pn, &pl) < 0)
                tc_printf(uc_name("getsockopt/%s/SO_PEERNAME/optlen=2", p), "-1 %s", tc_errname(errno));
            else
                tc_printf(uc_name("getsockopt/%s/SO_PEERNAME/optlen=2", p), "len = %u, family %s", (unsigned)pl,
                          pn.sun_family == AF_UNIX ? "AF_UNIX" : "other");
            close(fd);
            if (o1 >= 0) close(o1);
            if (o2 >= 0) close(o2);
            unlink("srv");
        }
}

/* set v, read back, for generic int options */
static const struct opt rt_opts[] = {
    OPT(SO_REUSEADDR), OPT(SO_REUSEPORT), OPT(SO_KEEPALIVE), OPT(SO_BROADCAST), OPT(SO_DEBUG), OPT(SO_DONTROUTE),
    OPT(SO_OOBINLINE), OPT(SO_PASSCRED), OPT(SO_PASSSEC), OPT(SO_TIMESTAMP), OPT(SO_TIMESTAMPNS), OPT(SO_RCVLOWAT),
    OPT(SO_SNDLOWAT), OPT(SO_PEEK_OFF), OPT(SO_PRIORITY), OPT(SO_MARK), OPT(SO_ZEROCOPY), OPT(SO_RXQ_OVFL),
    OPT(SO_SELECT_ERR_QUEUE), OPT(SO_TYPE), OPT(SO_DOMAIN), OPT(SO_PROTOCOL), OPT(SO_ACCEPTCONN), OPT(SO_ERROR),
    OPT(SO_PEERCRED), OPT(SO_SNDBUF), OPT(SO_RCVBUF), OPT(SO_SNDBUFFORCE), OPT(SO_RCVBUFFORCE),
};
static const int rt_vals[] = {1, 0, 5, -1};

static void roundtrips(void) {
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM};
    for (size_t t = 0; t < 2; t++)
        for (size_t o = 0; o < sizeof rt_opts / sizeof rt_opts[0]; o++)
            for (size_t v = 0; v < sizeof rt_vals / sizeof rt_vals[0]; v++) {
                int val = rt_vals[v];
                /* -1 for the buffer sizes gives 2 * the sysctl maximum: see t_unix_stream_data */
                if (val == -1 && (rt_opts[o].opt == SO_SNDBUF || rt_opts[o].opt == SO_RCVBUF)) continue;
                int fd = uc_socket(types[t]);
                const char *n = uc_name("setsockopt/%s/%s/%d", uc_short_type(types[t]), rt_opts[o].name, val);
                char name[128];
                snprintf(name, sizeof name, "%s", n);
                errno = 0;
                int r = setsockopt(fd, SOL_SOCKET, rt_opts[o].opt, &val, sizeof val);
                int e = errno;
                int got = -12345;
                socklen_t gl = sizeof got;
                int gr = getsockopt(fd, SOL_SOCKET, rt_opts[o].opt, &got, &gl);
                int ge = errno;
                char gets[64];
                if (rt_opts[o].opt == SO_PEERCRED) snprintf(gets, sizeof gets, "(struct)");
                else if (gr < 0) snprintf(gets, sizeof gets, "-1 %s", tc_errname(ge));
                else snprintf(gets, sizeof gets, "= %d", got);
                tc_printf(name, "set %s, get %s", r < 0 ? tc_errname(e) : "ok", gets);
                close(fd);
            }
}

static void timeouts(void) {
    static const struct { long sec, usec; } rows[] = {
        {1, 500000}, {0, 1}, {0, 999999}, {0, 0}, {2, 0}, {-1, 0}, {0, 1000000}, {0, -1}, {100000000, 0},
    };
    static const struct opt tops[] = {OPT(SO_RCVTIMEO), OPT(SO_SNDTIMEO)};
    for (int o = 0; o < 2; o++)
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            int fd = uc_socket(SOCK_STREAM);
            struct timeval tv = {rows[i].sec, rows[i].usec};
            const char *n = uc_name("setsockopt/%s/%ld.%ld", tops[o].name, rows[i].sec, rows[i].usec);
            char name[96];
            snprintf(name, sizeof name, "%s", n);
            errno = 0;
            int r = setsockopt(fd, SOL_SOCKET, tops[o].opt, &tv, sizeof tv);
            int e = errno;
            struct timeval got = {-7, -7};
            socklen_t gl = sizeof got;
            getsockopt(fd, SOL_SOCKET, tops[o].opt, &got, &gl);
            tc_printf(name, "set %s, get %ld.%06ld", r < 0 ? tc_errname(e) : "ok", (long)got.tv_sec, (long)got.tv_usec);
            close(fd);
        }
    int fd = uc_socket(SOCK_DGRAM);
    struct timeval tv = {1, 0};
    U_SYS(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(int)), "setsockopt/SO_RCVTIMEO/optlen=4");
    U_SYS(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv + 8), "setsockopt/SO_RCVTIMEO/optlen=24");
    struct timeval got;
    socklen_t gl = 8;
    U_SYS(getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &got, &gl), "getsockopt/SO_RCVTIMEO/optlen=8");
    tc_printf("getsockopt/SO_RCVTIMEO/optlen=8/len", "= %u", (unsigned)gl);
#ifdef SO_RCVTIMEO_NEW
    struct { long long sec, usec; } kt = {3, 250000}, kg = {0, 0};
    U_SYS(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO_NEW, &kt, sizeof kt), "setsockopt/SO_RCVTIMEO_NEW/3.25");
    gl = sizeof kg;
    getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO_NEW, &kg, &gl);
    tc_printf("setsockopt/SO_RCVTIMEO_NEW/3.25/get-new", "len = %u, %lld.%06lld", (unsigned)gl, kg.sec, kg.usec);
    gl = sizeof got;
    getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO_OLD, &got, &gl);
    tc_printf("setsockopt/SO_RCVTIMEO_NEW/3.25/get-old", "len = %u, %ld.%06ld", (unsigned)gl, (long)got.tv_sec,
              (long)got.tv_usec);
#endif
    struct linger lg = {1, 5};
    U_SYS(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), "setsockopt/SO_LINGER/1,5");
    struct linger lgot = {0, 0};
    gl = sizeof lgot;
    getsockopt(fd, SOL_SOCKET, SO_LINGER, &lgot, &gl);
    tc_printf("setsockopt/SO_LINGER/1,5/get", "onoff %d, linger %d", lgot.l_onoff, lgot.l_linger);
    U_SYS(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(int)), "setsockopt/SO_LINGER/optlen=4");
    close(fd);
}

static void buffers(void) {
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
    static const struct { int opt; const char *name; int val; } rows[] = {
        {SO_SNDBUF, "SO_SNDBUF", 4096},           {SO_RCVBUF, "SO_RCVBUF", 4096},
        {SO_SNDBUF, "SO_SNDBUF", 0},              {SO_RCVBUF, "SO_RCVBUF", 0},
        {SO_SNDBUFFORCE, "SO_SNDBUFFORCE", 1 << 22}, {SO_RCVBUFFORCE, "SO_RCVBUFFORCE", 1 << 22},
        {SO_SNDBUFFORCE, "SO_SNDBUFFORCE", 1},    {SO_RCVBUFFORCE, "SO_RCVBUFFORCE", -5},
    };
    for (size_t t = 0; t < 3; t++)
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            int fd = uc_socket(types[t]);
            int v = rows[i].val;
            int r = setsockopt(fd, SOL_SOCKET, rows[i].opt, &v, sizeof v);
            int e = errno;
            int base = rows[i].opt == SO_SNDBUF || rows[i].opt == SO_SNDBUFFORCE ? SO_SNDBUF : SO_RCVBUF;
            tc_printf(uc_name("setsockopt/%s/%s=%d", uc_short_type(types[t]), rows[i].name, v), "set %s, get = %d",
                      r < 0 ? tc_errname(e) : "ok", uc_getint(fd, SOL_SOCKET, base));
            close(fd);
        }
}

static void errors(void) {
    int fd = uc_socket(SOCK_STREAM);
    int v = 1;
    socklen_t l = sizeof v;
    static const struct { int level; const char *name; } levels[] = {
        {SOL_SOCKET, "SOL_SOCKET"}, {0, "SOL_IP"}, {6, "SOL_TCP"}, {17, "SOL_UDP"}, {41, "SOL_IPV6"}, {12345, "12345"}, {-1, "-1"},
    };
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        int opt = levels[i].level == SOL_SOCKET ? 9999 : 1;
        l = sizeof v;
        U_SYS(getsockopt(fd, levels[i].level, opt, &v, &l), "getsockopt/level=%s/opt=%d", levels[i].name, opt);
        U_SYS(setsockopt(fd, levels[i].level, opt, &v, sizeof v), "setsockopt/level=%s/opt=%d", levels[i].name, opt);
    }
    static const int lens[] = {0, 1, 2, 3, 4, 8, -1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        int got = 0x55555555;
        l = (socklen_t)lens[i];
        errno = 0;
        int r = getsockopt(fd, SOL_SOCKET, SO_TYPE, &got, &l);
        if (r < 0) tc_printf(uc_name("getsockopt/SO_TYPE/optlen=%d", lens[i]), "-1 %s", tc_errname(errno));
        else tc_printf(uc_name("getsockopt/SO_TYPE/optlen=%d", lens[i]), "ok, len = %d, value %#x", (int)l, got);
        U_SYS(setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, (socklen_t)lens[i]), "setsockopt/SO_KEEPALIVE/optlen=%d",
              lens[i]);
    }
    struct ucred uc;
    l = 4;
    U_SYS(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &l), "getsockopt/SO_PEERCRED/optlen=4");
    tc_printf("getsockopt/SO_PEERCRED/optlen=4/len", "= %u", (unsigned)l);
    l = sizeof v;
    U_SYS(getsockopt(fd, SOL_SOCKET, SO_TYPE, uc_badptr(), &l), "getsockopt/optval=1");
    U_SYS(getsockopt(fd, SOL_SOCKET, SO_TYPE, NULL, &l), "getsockopt/optval=NULL");
    U_SYS(getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, (socklen_t *)uc_badptr()), "getsockopt/optlen-ptr=1");
    U_SYS(getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, NULL), "getsockopt/optlen-ptr=NULL");
    U_SYS(setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, (void *)1, sizeof v), "setsockopt/optval=1");
    U_SYS(setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, NULL, sizeof v), "setsockopt/optval=NULL");
    U_SYS(setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, NULL, 0), "setsockopt/optval=NULL/optlen=0");
    int pp[2];
    if (pipe(pp) < 0) tc_die("pipe");
    l = sizeof v;
    U_SYS(getsockopt(pp[0], SOL_SOCKET, SO_TYPE, &v, &l), "getsockopt/not-a-socket");
    U_SYS(setsockopt(pp[0], SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v), "setsockopt/not-a-socket");
    close(pp[0]);
    close(pp[1]);
    U_SYS(getsockopt(pp[0], SOL_SOCKET, SO_TYPE, &v, &l), "getsockopt/closed-fd");
    close(fd);

    /* SO_ERROR is read-and-clear */
    int sv[2];
    uc_socketpair(SOCK_STREAM, sv);
    send(sv[0], "x", 1, 0);
    close(sv[1]);
    uc_print_opt("getsockopt/SO_ERROR/after-reset", sv[0], SOL_SOCKET, SO_ERROR);
    uc_print_opt("getsockopt/SO_ERROR/after-reset/again", sv[0], SOL_SOCKET, SO_ERROR);
    close(sv[0]);
    /* SO_ACCEPTCONN follows listen() */
    struct sockaddr_un a;
    socklen_t al = uc_addr_abs(&a, "acc");
    int s = uc_bound(SOCK_STREAM, &a, al);
    uc_print_opt("getsockopt/SO_ACCEPTCONN/before-listen", s, SOL_SOCKET, SO_ACCEPTCONN);
    listen(s, 1);
    uc_print_opt("getsockopt/SO_ACCEPTCONN/after-listen", s, SOL_SOCKET, SO_ACCEPTCONN);
    shutdown(s, SHUT_RDWR);
    uc_print_opt("getsockopt/SO_ACCEPTCONN/after-shutdown", s, SOL_SOCKET, SO_ACCEPTCONN);
    close(s);
}

int main(void) {
    uc_setup();
    matrix();
    roundtrips();
    timeouts();
    buffers();
    errors();
    return tc_done();
}
