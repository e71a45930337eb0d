/* t_nonlocal.c: sockets to addresses off the emulated host, with
 * NETSHIM_NONLOCAL=kernel (the socket is handed to the kernel before it is
 * used), compared with the kernel doing the same from the start.
 *
 * The destinations are addresses the kernel has but the emulated host does
 * not: the test runs in a network namespace of its own (unshare -n, or -rn
 * without root) where lo is up and also carries 198.51.100.7/32 and
 * 2001:db8::7/128 (documentation ranges; nothing leaves the namespace). A
 * server started without the shim (a re-execution of this program with
 * LD_PRELOAD removed) answers there, so under the shim the far end is always
 * a kernel socket:
 *   - TCP v4/v6: connect, an echo, the peer address, options set before the
 *     handoff still set after it (TCP_NODELAY, SO_KEEPALIVE, SO_RCVTIMEO),
 *     a non-blocking connect (EINPROGRESS, poll, SO_ERROR), a socket bound
 *     to a port of the wildcard address first keeps it, a refused connect
 *   - UDP v4/v6: sendto and the answer with its source, connect + send
 *   - an emulated loopback connection still works beside them
 * Results are texts and facts, never fd numbers or ephemeral ports.
 */
#include "tsock.h"
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/wait.h>

#define ADDR4 "198.51.100.7"
#define ADDR6 "2001:db8::7"

static const char *self;

/* Runs a command without the shim (LD_PRELOAD dropped); its exit status. */
static int run_plain(char *const argv[]) {
    pid_t p = fork();
    if (p < 0) tc_die("fork");
    if (p == 0) {
        unsetenv("LD_PRELOAD");
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static socklen_t sa_of(int af, const char *ip, int port, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    if (af == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        inet_pton(AF_INET, ip, &a->sin_addr);
        return sizeof *a;
    }
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &a->sin6_addr);
    return sizeof *a;
}

static const char *sa_text(const struct sockaddr_storage *ss) {
    static char b[4][80];
    static int i;
    char *o = b[i++ & 3], ip[64] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
    }
    snprintf(o, 80, "%s port %d", ip, port);
    return o;
}

/* ---- the kernel server (argv[1] == "server") ------------------------------
 * TCP and UDP on PORT of both addresses; a TCP connection gets "echo:" and
 * what it sent, then is closed; a datagram gets "echo:" + its bytes back.
 * Prints "ready" when listening; exits when stdin closes. */
static int server(int port) {
    int fds[4], n = 0;
    const char *ips[2] = {ADDR4, ADDR6};
    for (int k = 0; k < 2; k++) {
        int af = k ? AF_INET6 : AF_INET;
        struct sockaddr_storage ss;
        socklen_t len = sa_of(af, ips[k], port, &ss);
        int t = socket(af, SOCK_STREAM, 0), one = 1;
        setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(t, (struct sockaddr *)&ss, len) < 0 || listen(t, 16) < 0) tc_die("server tcp");
        int u = socket(af, SOCK_DGRAM, 0);
        if (bind(u, (struct sockaddr *)&ss, len) < 0) tc_die("server udp");
        fds[n++] = t;
        fds[n++] = u;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        struct pollfd p[5];
        for (int i = 0; i < 4; i++) p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        p[4] = (struct pollfd){.fd = 0, .events = POLLIN};
        if (poll(p, 5, 10000) <= 0 || p[4].revents) return 0;
        for (int i = 0; i < 4; i++) {
            if (!p[i].revents) continue;
            char buf[256] = "echo:";
            if (i % 2 == 0) {
                int c = accept(fds[i], NULL, NULL);
                if (c < 0) continue;
                ssize_t r = recv(c, buf + 5, sizeof buf - 6, 0);
                if (r > 0) send(c, buf, 5 + r, MSG_NOSIGNAL);
                close(c);
            } else {
                struct sockaddr_storage from;
                socklen_t fl = sizeof from;
                ssize_t r = recvfrom(fds[i], buf + 5, sizeof buf - 6, 0, (struct sockaddr *)&from, &fl);
                if (r >= 0) sendto(fds[i], buf, 5 + r, 0, (struct sockaddr *)&from, fl);
            }
        }
    }
}

static int getint(int fd, int level, int name) {
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, name, &v, &l) < 0) return -errno;
    return v;
}

static const char *echo(int fd, const char *msg) {
    static char b[256];
    if (send(fd, msg, strlen(msg), MSG_NOSIGNAL) < 0) {
        snprintf(b, sizeof b, "send -1 %s", tc_errname(errno));
        return b;
    }
    size_t got = 0;
    ssize_t r;
    while ((r = recv(fd, b + got, sizeof b - 1 - got, 0)) > 0) got += r;
    b[got] = 0;
    return b;
}

static void tcp_cases(int af, const char *ip, int port, int closed_port) {
    const char *f = af == AF_INET ? "v4" : "v6";
    struct sockaddr_storage dst, got;
    socklen_t dlen = sa_of(af, ip, port, &dst), gl;

    /* Options set on the emulated socket, then connect. */
    int fd = socket(af, SOCK_STREAM, 0), one = 1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    TC_SYS(ts_name("tcp/%s/connect", f), connect(fd, (struct sockaddr *)&dst, dlen));
    gl = sizeof got;
    getpeername(fd, (struct sockaddr *)&got, &gl);
    tc_printf(ts_name("tcp/%s/getpeername", f), "%s", sa_text(&got));
    tc_printf(ts_name("tcp/%s/TCP_NODELAY-kept", f), "%d", getint(fd, IPPROTO_TCP, TCP_NODELAY));
    tc_printf(ts_name("tcp/%s/SO_KEEPALIVE-kept", f), "%d", getint(fd, SOL_SOCKET, SO_KEEPALIVE));
    struct timeval tv2 = {0};
    socklen_t tl = sizeof tv2;
    getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv2, &tl);
    tc_printf(ts_name("tcp/%s/SO_RCVTIMEO-kept", f), "%ld.%06ld", (long)tv2.tv_sec, (long)tv2.tv_usec);
    tc_printf(ts_name("tcp/%s/echo", f), "%s", echo(fd, "hello"));
    TC_SYS(ts_name("tcp/%s/connect-again", f), connect(fd, (struct sockaddr *)&dst, dlen));
    close(fd);

    /* Non-blocking connect. */
    fd = socket(af, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int r = connect(fd, (struct sockaddr *)&dst, dlen);
    tc_printf(ts_name("tcp/%s/nonblocking/connect", f), "%s", r == 0 ? "ok" : tc_errname(errno));
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int pr = poll(&p, 1, 5000);
    tc_printf(ts_name("tcp/%s/nonblocking/poll", f), "%d revents %#x", pr, p.revents);
    tc_printf(ts_name("tcp/%s/nonblocking/SO_ERROR", f), "%d", getint(fd, SOL_SOCKET, SO_ERROR));
    tc_printf(ts_name("tcp/%s/nonblocking/O_NONBLOCK-kept", f), "%s",
              (fcntl(fd, F_GETFL) & O_NONBLOCK) ? "yes" : "no");
    close(fd);

    /* Bound to a port of the wildcard address first (the emulated host has
     * the wildcard, not ADDR4/ADDR6): the kernel socket has the port. */
    fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage me;
    socklen_t ml = sa_of(af, af == AF_INET ? "0.0.0.0" : "::", port + 3 + (af == AF_INET6), &me);
    TC_SYS(ts_name("tcp/%s/bound/bind", f), bind(fd, (struct sockaddr *)&me, ml));
    gl = sizeof got;
    getsockname(fd, (struct sockaddr *)&got, &gl);
    int bound_port = ntohs(((struct sockaddr_in *)&got)->sin_port);
    TC_SYS(ts_name("tcp/%s/bound/connect", f), connect(fd, (struct sockaddr *)&dst, dlen));
    gl = sizeof got;
    getsockname(fd, (struct sockaddr *)&got, &gl);
    TC_FACT(ts_name("tcp/%s/bound/same-port", f), bound_port == ntohs(((struct sockaddr_in *)&got)->sin_port));
    tc_printf(ts_name("tcp/%s/bound/FD_CLOEXEC-kept", f), "%s", (fcntl(fd, F_GETFD) & FD_CLOEXEC) ? "yes" : "no");
    tc_printf(ts_name("tcp/%s/bound/echo", f), "%s", echo(fd, "bound"));
    close(fd);

    /* Nobody listens there. */
    struct sockaddr_storage dead;
    socklen_t deadl = sa_of(af, ip, closed_port, &dead);
    fd = socket(af, SOCK_STREAM, 0);
    TC_SYS(ts_name("tcp/%s/refused", f), connect(fd, (struct sockaddr *)&dead, deadl));
    close(fd);
}

static void udp_cases(int af, const char *ip, int port) {
    const char *f = af == AF_INET ? "v4" : "v6";
    struct sockaddr_storage dst, from;
    socklen_t dlen = sa_of(af, ip, port, &dst), fl = sizeof from;
    char b[256];
    struct timeval tv = {.tv_sec = 5};

    int fd = socket(af, SOCK_DGRAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    tc_printf(ts_name("udp/%s/sendto", f), "%zd", sendto(fd, "ping", 4, 0, (struct sockaddr *)&dst, dlen));
    ssize_t r = recvfrom(fd, b, sizeof b - 1, 0, (struct sockaddr *)&from, &fl);
    b[r > 0 ? r : 0] = 0;
    tc_printf(ts_name("udp/%s/answer", f), "%zd %s from %s", r, b, sa_text(&from));
    close(fd);

    fd = socket(af, SOCK_DGRAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    TC_SYS(ts_name("udp/%s/connect", f), connect(fd, (struct sockaddr *)&dst, dlen));
    tc_printf(ts_name("udp/%s/send", f), "%zd", send(fd, "pong", 4, 0));
    r = recv(fd, b, sizeof b - 1, 0);
    b[r > 0 ? r : 0] = 0;
    tc_printf(ts_name("udp/%s/recv", f), "%zd %s", r, b);
    close(fd);
}

/* An emulated loopback pair beside the handed-off sockets. */
static void loopback_case(void) {
    int c, s;
    ts_pair(TS_INET, &c, &s);
    ts_write_full(c, "loop", 4);
    char b[8] = {0};
    ssize_t r = recv(s, b, sizeof b - 1, 0);
    tc_printf("loopback/still-works", "%zd %s", r, b);
    close(c);
    close(s);
}

static int inner(void) {
    char *up[] = {"ip", "link", "set", "lo", "up", NULL};
    char *a4[] = {"ip", "addr", "add", ADDR4 "/32", "dev", "lo", NULL};
    char *a6[] = {"ip", "-6", "addr", "add", ADDR6 "/128", "dev", "lo", "nodad", NULL};
    if (run_plain(up) || run_plain(a4) || run_plain(a6)) tc_die("ip addr add (iproute2)");

    int port = 7441, closed_port = 7442;
    int to_srv[2], from_srv[2];
    if (pipe(to_srv) < 0 || pipe(from_srv) < 0) tc_die("pipe");
    pid_t srv = fork();
    if (srv < 0) tc_die("fork");
    if (srv == 0) {
        dup2(to_srv[0], 0);
        dup2(from_srv[1], 1);
        close(to_srv[1]);
        close(from_srv[0]);
        unsetenv("LD_PRELOAD");
        char ps[16];
        snprintf(ps, sizeof ps, "%d", port);
        execl(self, self, "server", ps, (char *)NULL);
        _exit(127);
    }
    close(to_srv[0]);
    close(from_srv[1]);
    char ready[16] = {0};
    if (read(from_srv[0], ready, sizeof ready - 1) <= 0 || strncmp(ready, "ready", 5) != 0) tc_die("server start");

    tcp_cases(AF_INET, ADDR4, port, closed_port);
    tcp_cases(AF_INET6, ADDR6, port, closed_port);
    udp_cases(AF_INET, ADDR4, port);
    udp_cases(AF_INET6, ADDR6, port);
    loopback_case();

    close(to_srv[1]);
    int st;
    waitpid(srv, &st, 0);
    return tc_done();
}

int main(int argc, char **argv) {
    static char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) tc_die("readlink");
    exe[n] = 0;
    self = exe;
    if (argc > 2 && strcmp(argv[1], "server") == 0) return server(atoi(argv[2]));
    if (argc > 1 && strcmp(argv[1], "inner") == 0) {
        ts_init("t_nonlocal");
        alarm(60);
        signal(SIGPIPE, SIG_IGN);
        return inner();
    }
    /* Into a network namespace of our own, with the shim told to hand
     * non-local sockets to the kernel (natively the variable is unused). */
    setenv("NETSHIM_NONLOCAL", "kernel", 1);
    fflush(stdout);
    if (geteuid() == 0)
        execlp("unshare", "unshare", "-n", "--", self, "inner", (char *)NULL);
    else
        execlp("unshare", "unshare", "-rn", "--", self, "inner", (char *)NULL);
    tc_die("exec unshare (util-linux)");
}
