/* inet_cases.h: helpers shared by the t_inet_*.c conformance tests
 * (AF_INET / AF_INET6, TCP and UDP, loopback only).
 *
 * Everything here either returns a comparable fact or dies via tc_die();
 * nothing prints a port, an fd or a time. Results that combine several
 * calls are formatted with ic_res()/ic_val() ("ok", "= N", "-1 ENAME"), the
 * same words tcase.h uses.
 */
#ifndef INET_CASES_H
#define INET_CASES_H
#include "tcase.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IC_N(a) (sizeof(a) / sizeof((a)[0]))
#define IC_NAME 160 /* room for a case name */

typedef struct {
    struct sockaddr_storage ss;
    socklen_t len;
} ic_addr;

static const int ic_fams[] = {AF_INET, AF_INET6};

static inline const char *ic_fam(int af) {
    return af == AF_INET ? "v4" : af == AF_INET6 ? "v6" : af == AF_UNSPEC ? "unspec" : "other";
}
static inline const char *ic_famname(int af) {
    return af == AF_INET ? "AF_INET" : af == AF_INET6 ? "AF_INET6" : af == AF_UNSPEC ? "AF_UNSPEC" : "other";
}
static inline const char *ic_typ(int t) {
    t &= 0xf;
    return t == SOCK_STREAM ? "tcp" : t == SOCK_DGRAM ? "udp" : t == SOCK_SEQPACKET ? "seqpacket" : t == SOCK_RAW ? "raw" : "other";
}

/* Rotating result buffers so several ic_res() can appear in one printf. */
static inline char *ic_buf(void) {
    static char b[8][96];
    static int i;
    return b[i++ & 7];
}
static inline const char *ic_res(long r, int e) {
    char *b = ic_buf();
    if (r < 0) snprintf(b, 96, "-1 %s", tc_errname(e));
    else snprintf(b, 96, "ok");
    return b;
}
static inline const char *ic_val(long r, int e) {
    char *b = ic_buf();
    if (r < 0) snprintf(b, 96, "-1 %s", tc_errname(e));
    else snprintf(b, 96, "= %ld", r);
    return b;
}
static inline const char *ic_yn(int c) { return c ? "yes" : "no"; }
/* R(expr): evaluate a syscall and format it as "ok" / "-1 ENAME". */
#define IC_R(expr) ({ errno = 0; long ic_r_ = (long)(expr); ic_res(ic_r_, errno); })
#define IC_V(expr) ({ errno = 0; long ic_r_ = (long)(expr); ic_val(ic_r_, errno); })

/* ---- addresses ---- */
static inline ic_addr ic_make(int af, const char *ip, int port) {
    ic_addr a;
    memset(&a, 0, sizeof a);
    if (af == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&a.ss;
        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        if (inet_pton(AF_INET, ip, &s->sin_addr) != 1) tc_die("inet_pton");
        a.len = sizeof *s;
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&a.ss;
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(port);
        if (inet_pton(AF_INET6, ip, &s->sin6_addr) != 1) tc_die("inet_pton");
        a.len = sizeof *s;
    }
    return a;
}
static inline ic_addr ic_loop(int af, int port) { return ic_make(af, af == AF_INET ? "127.0.0.1" : "::1", port); }
static inline ic_addr ic_any(int af, int port) { return ic_make(af, af == AF_INET ? "0.0.0.0" : "::", port); }
static inline struct sockaddr *ic_sa(ic_addr *a) { return (struct sockaddr *)&a->ss; }
static inline int ic_afof(const ic_addr *a) { return a->ss.ss_family; }

static inline int ic_port(const ic_addr *a) {
    if (a->ss.ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    if (a->ss.ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return -1;
}
static inline void ic_set_port(ic_addr *a, int port) {
    if (a->ss.ss_family == AF_INET) ((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
    else ((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
}
/* Same family, address and port (scope/flowinfo ignored). */
static inline int ic_same(const ic_addr *a, const ic_addr *b) {
    if (a->ss.ss_family != b->ss.ss_family) return 0;
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
    return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}
/* Address (no port) as text; loopback/any/mapped addresses are fixed
 * strings, so this is safe to print. */
static inline const char *ic_ip(const ic_addr *a) {
    char *b = ic_buf();
    if (a->ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr, b, 96);
    else if (a->ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, b, 96);
    else
        snprintf(b, 96, "family %d", a->ss.ss_family);
    return b;
}
static inline ic_addr ic_sockname(int fd) {
    ic_addr a;
    memset(&a, 0, sizeof a);
    a.len = sizeof a.ss;
    if (getsockname(fd, ic_sa(&a), &a.len) < 0) tc_die("getsockname");
    return a;
}
static inline ic_addr ic_peername(int fd) {
    ic_addr a;
    memset(&a, 0, sizeof a);
    a.len = sizeof a.ss;
    if (getpeername(fd, ic_sa(&a), &a.len) < 0) a.len = 0;
    return a;
}

/* ip_local_port_range, read once. */
static inline int ic_in_range(int port) {
    static int lo = -1, hi = -1;
    if (lo < 0) {
        FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
        if (!f || fscanf(f, "%d %d", &lo, &hi) != 2) tc_die("ip_local_port_range");
        fclose(f);
    }
    return port >= lo && port <= hi;
}
static inline int ic_sysctl_int(const char *path) {
    int v = -1;
    FILE *f = fopen(path, "r");
    if (!f || fscanf(f, "%d", &v) != 1) tc_die(path);
    fclose(f);
    return v;
}

/* ---- sockets ---- */
static inline int ic_socket(int af, int type) {
    int fd = socket(af, type, 0);
    if (fd < 0) tc_die("socket");
    return fd;
}
static inline void ic_timeo(int fd, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}
static inline void ic_setint(int fd, int level, int opt, int v) {
    if (setsockopt(fd, level, opt, &v, sizeof v) < 0) tc_die("setsockopt");
}
static inline int ic_getint(int fd, int level, int opt) {
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, opt, &v, &l) < 0) return -1000 - errno;
    return v;
}
static inline void ic_nonblock(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}
/* A socket bound to the loopback address of af, port 0. */
static inline int ic_bound(int af, int type, ic_addr *out) {
    int fd = ic_socket(af, type);
    ic_addr a = ic_loop(af, 0);
    if (bind(fd, ic_sa(&a), a.len) < 0) tc_die("bind");
    if (out) *out = ic_sockname(fd);
    return fd;
}
static inline int ic_listener(int af, ic_addr *out) {
    int fd = ic_bound(af, SOCK_STREAM, out);
    if (listen(fd, 16) < 0) tc_die("listen");
    return fd;
}
/* SO_ERROR as "0" or an errno name (reading it clears it). */
static inline const char *ic_soerr(int fd) {
    int e = ic_getint(fd, SOL_SOCKET, SO_ERROR);
    if (e < 0) return "getsockopt failed";
    return e ? tc_errname(e) : "0";
}

/* ---- poll ---- */
#define IC_EV (POLLIN | POLLPRI | POLLOUT | POLLRDHUP)
static inline const char *ic_evstr(short r) {
    static const struct { short bit; const char *n; } t[] = {
        {POLLIN, "POLLIN"}, {POLLPRI, "POLLPRI"}, {POLLOUT, "POLLOUT"}, {POLLRDHUP, "POLLRDHUP"},
        {POLLERR, "POLLERR"}, {POLLHUP, "POLLHUP"}, {POLLNVAL, "POLLNVAL"}};
    char *b = ic_buf();
    b[0] = 0;
    for (size_t i = 0; i < IC_N(t); i++)
        if (r & t[i].bit) {
            if (b[0]) strcat(b, "|");
            strcat(b, t[i].n);
        }
    if (!b[0]) strcpy(b, "none");
    return b;
}
/* revents for IC_EV right now. */
static inline short ic_poll0(int fd) {
    struct pollfd p = {fd, IC_EV, 0};
    if (poll(&p, 1, 0) < 0) tc_die("poll");
    return p.revents;
}
/* Waits up to ms for any of want (or an error/hangup), then returns the
 * full IC_EV revents. */
static inline short ic_wait(int fd, short want, int ms) {
    struct pollfd p = {fd, want, 0};
    if (poll(&p, 1, ms) < 0) tc_die("poll");
    return ic_poll0(fd);
}
static inline int ic_inq(int fd) {
    int n = -1;
    if (ioctl(fd, SIOCINQ, &n) < 0) return -1;
    return n;
}
/* Waits until at least n bytes are queued for reading (stream sockets). */
static inline int ic_wait_inq(int fd, int n, int ms) {
    for (int t = 0; t <= ms; t += 5) {
        int q = ic_inq(fd);
        if (q >= n) return q;
        if (ic_poll0(fd) & (POLLERR | POLLHUP | POLLRDHUP)) return q;
        usleep(5000);
    }
    return ic_inq(fd);
}
static inline int ic_accept(int lfd) {
    if (!(ic_wait(lfd, POLLIN, 3000) & POLLIN)) { errno = ETIMEDOUT; tc_die("accept wait"); }
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) tc_die("accept");
    return fd;
}
/* A connected TCP pair over loopback of af. */
static inline void ic_tcp_pair(int af, int *cli, int *srv) {
    ic_addr la;
    int l = ic_listener(af, &la);
    *cli = ic_socket(af, SOCK_STREAM);
    if (connect(*cli, ic_sa(&la), la.len) < 0) tc_die("connect");
    *srv = ic_accept(l);
    close(l);
}
/* Binds fd to a fixed port of af's address ip chosen from getpid() in
 * [lo, hi), trying other ports on EADDRINUSE. Returns bind's result. */
static inline int ic_bind_fixed(int fd, int af, const char *ip, int lo, int hi, int *port) {
    int span = hi - lo, start = getpid() % span, r = -1;
    for (int i = 0; i < 64; i++) {
        int p = lo + (start + i * 7) % span;
        ic_addr a = ic_make(af, ip, p);
        r = bind(fd, ic_sa(&a), a.len);
        if (r == 0 || errno != EADDRINUSE) {
            if (port) *port = p;
            return r;
        }
    }
    return r;
}

/* ---- unprivileged children ----
 * Runs fn in a forked child that has dropped to uid/gid 65534 (which also
 * drops every capability); fn writes its one-line result into buf, which
 * comes back through a pipe. */
typedef void (*ic_child_fn)(void *arg, char *buf, size_t n);
static inline const char *ic_unpriv(ic_child_fn fn, void *arg) {
    int p[2];
    char *b = ic_buf();
    if (pipe(p) < 0) tc_die("pipe");
    pid_t pid = fork();
    if (pid < 0) tc_die("fork");
    if (pid == 0) {
        char out[96] = "setuid failed";
        close(p[0]);
        alarm(5);
        if (setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0) fn(arg, out, sizeof out);
        if (write(p[1], out, strlen(out)) < 0) _exit(1);
        _exit(0);
    }
    close(p[1]);
    ssize_t k, got = 0;
    while (got < 95 && (k = read(p[0], b + got, 95 - got)) > 0) got += k;
    b[got] = 0;
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) snprintf(b, 96, "child failed");
    return b;
}

static inline void ic_start(void) {
    tc_init();
    signal(SIGPIPE, SIG_IGN);
    alarm(20);
}
#endif
