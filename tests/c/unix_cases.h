/* unix_cases.h: helpers shared by the t_unix_*.c AF_UNIX conformance tests.
 *
 * Every program runs inside a fresh mkdtemp() directory (it chdir()s there,
 * so path names are short and relative) and names abstract sockets
 * "\0t_unix.<pid>.<tag>". Neither the directory nor the names are printed.
 * uc_setup() also arms alarm() so a hanging emulation fails fast.
 */
#ifndef UNIX_CASES_H
#define UNIX_CASES_H
#include "tcase.h"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef UC_ALARM
#define UC_ALARM 10
#endif

#define UC_SUNLEN ((socklen_t)offsetof(struct sockaddr_un, sun_path))

enum uc_kind { UC_PATH, UC_ABSTRACT };

static char uc_dir[64];
static pid_t uc_main_pid;

/* ---- case names and result printing ---- */

#define uc_name tc_name

/* Like TC_SYS / TC_VAL / TC_FACT, but the case name is a printf format. */
#define U_SYS(expr, ...) \
    ({ errno = 0; long u_r_ = (long)(expr); int u_e_ = errno; tc_report_sys(uc_name(__VA_ARGS__), u_r_, u_e_); })
#define U_VAL(expr, ...) \
    ({ errno = 0; long u_r_ = (long)(expr); int u_e_ = errno; tc_report_val(uc_name(__VA_ARGS__), u_r_, u_e_); })
#define U_FACT(cond, ...) \
    ({ int u_c_ = !!(cond); tc_printf(uc_name(__VA_ARGS__), u_c_ ? "yes" : "no"); u_c_; })
/* Free-form results: tc_printf(uc_name("case/%s", x), "fmt", ...). */

/* Formats a syscall result the way tc_report_val does, into a static buffer. */
/* Sends "ab", "" and "cdefg" in one sendmsg on sv[0] (its result is case
 * "<P>/sendmsg-3-iov"), then one recvmsg with `rflags` on sv[1] into x (3
 * bytes) and y (10 bytes); returns what recvmsg returned, *mflags its
 * msg_flags. */
static long uc_iov_exchange(int *sv, const char *P, int rflags, char x[3], char y[10], int *mflags) {
    struct iovec out[3] = {{"ab", 2}, {"", 0}, {"cdefg", 5}};
    struct msghdr m = {0};
    m.msg_iov = out;
    m.msg_iovlen = 3;
    U_VAL(sendmsg(sv[0], &m, 0), "%s/sendmsg-3-iov", P);
    struct iovec in[2] = {{x, 3}, {y, 10}};
    struct msghdr r = {0};
    r.msg_iov = in;
    r.msg_iovlen = 2;
    long n = recvmsg(sv[1], &r, rflags);
    *mflags = r.msg_flags;
    return n;
}

/* One recvmsg of up to len bytes into b; *mflags gets msg_flags, errno is
 * recvmsg's. */
static long uc_recv1(int fd, void *b, size_t len, int flags, int *mflags) {
    struct iovec iov = {b, len};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    errno = 0;
    long r = recvmsg(fd, &m, flags);
    *mflags = m.msg_flags;
    return r;
}

static const char *uc_rv(long r, int e) {
    static char bufs[4][64];
    static int i;
    char *b = bufs[i++ & 3];
    if (r < 0) snprintf(b, sizeof bufs[0], "-1 %s", tc_errname(e));
    else snprintf(b, sizeof bufs[0], "= %ld", r);
    return b;
}

static const char *uc_type_name(int type) {
    static char bufs[4][64];
    static int i;
    char *b = bufs[i++ & 3];
    switch (type & 0xf) {
    case SOCK_STREAM: strcpy(b, "SOCK_STREAM"); break;
    case SOCK_DGRAM: strcpy(b, "SOCK_DGRAM"); break;
    case SOCK_RAW: strcpy(b, "SOCK_RAW"); break;
    case SOCK_RDM: strcpy(b, "SOCK_RDM"); break;
    case SOCK_SEQPACKET: strcpy(b, "SOCK_SEQPACKET"); break;
    case SOCK_PACKET: strcpy(b, "SOCK_PACKET"); break;
    default: snprintf(b, sizeof bufs[0], "%d", type & 0xf);
    }
    if ((type & ~0xf) == 0 && type >= 0) return b;
    if (type < 0 || (type & ~(0xf | SOCK_NONBLOCK | SOCK_CLOEXEC))) {
        snprintf(b, sizeof bufs[0], "%d", type);
        return b;
    }
    if (type & SOCK_NONBLOCK) strcat(b, "|SOCK_NONBLOCK");
    if (type & SOCK_CLOEXEC) strcat(b, "|SOCK_CLOEXEC");
    return b;
}

static const char *uc_short_type(int type) {
    switch (type) {
    case SOCK_STREAM: return "stream";
    case SOCK_DGRAM: return "dgram";
    case SOCK_SEQPACKET: return "seqpacket";
    default: return "other";
    }
}

static const char *uc_kind_name(enum uc_kind k) { return k == UC_PATH ? "path" : "abstract"; }

/* poll revents as "POLLIN|POLLOUT|..." or "0". */
static const char *uc_revents(short ev) {
    static char b[128];
    static const struct { short bit; const char *n; } t[] = {
        {POLLIN, "POLLIN"}, {POLLPRI, "POLLPRI"}, {POLLOUT, "POLLOUT"},
        {POLLRDHUP, "POLLRDHUP"}, {POLLERR, "POLLERR"}, {POLLHUP, "POLLHUP"},
        {POLLNVAL, "POLLNVAL"}, {POLLRDNORM, "POLLRDNORM"}, {POLLRDBAND, "POLLRDBAND"},
        {POLLWRNORM, "POLLWRNORM"}, {POLLWRBAND, "POLLWRBAND"},
    };
    b[0] = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (ev & t[i].bit) {
            if (b[0]) strcat(b, "|");
            strcat(b, t[i].n);
            ev &= ~t[i].bit;
        }
    if (ev) snprintf(b + strlen(b), sizeof b - strlen(b), "%s%#x", b[0] ? "|" : "", (unsigned)ev);
    if (!b[0]) strcpy(b, "0");
    return b;
}

/* (void *)1, hidden from the compiler's object-size and aliasing checks. */
static inline void *uc_badptr(void) {
    void *p = (void *)1;
    __asm__("" : "+r"(p));
    return p;
}

/* ---- set-up ---- */

static int uc_rm(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st; (void)flag; (void)f;
    remove(p);
    return 0;
}

static void uc_cleanup(void) {
    if (getpid() != uc_main_pid || !uc_dir[0]) return;
    if (chdir("/") < 0) return;
    nftw(uc_dir, uc_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static void uc_setup(void) {
    tc_init();
    alarm(UC_ALARM);
    signal(SIGPIPE, SIG_IGN);
    umask(022);
    uc_main_pid = getpid();
    strcpy(uc_dir, "/tmp/t_unix.XXXXXX");
    if (!mkdtemp(uc_dir)) tc_die("mkdtemp");
    if (chmod(uc_dir, 0755) < 0) tc_die("chmod");
    if (chdir(uc_dir) < 0) tc_die("chdir");
    atexit(uc_cleanup);
}

/* ---- addresses ---- */

static socklen_t uc_addr_path(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s", name);
    return UC_SUNLEN + strlen(a->sun_path) + 1;
}

static socklen_t uc_addr_abs(struct sockaddr_un *a, const char *tag) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "t_unix.%d.%s", (int)uc_main_pid, tag);
    return UC_SUNLEN + 1 + strlen(a->sun_path + 1);
}

static socklen_t uc_addr(enum uc_kind k, struct sockaddr_un *a, const char *name) {
    return k == UC_PATH ? uc_addr_path(a, name) : uc_addr_abs(a, name);
}

/* ---- sockets ---- */

static int uc_socket(int type) {
    int fd = socket(AF_UNIX, type, 0);
    if (fd < 0) tc_die("socket");
    return fd;
}

static int uc_bound(int type, const struct sockaddr_un *a, socklen_t len) {
    int fd = uc_socket(type);
    if (bind(fd, (const struct sockaddr *)a, len) < 0) tc_die("bind");
    return fd;
}

static int uc_listener(int type, const struct sockaddr_un *a, socklen_t len, int backlog) {
    int fd = uc_bound(type, a, len);
    if (listen(fd, backlog) < 0) tc_die("listen");
    return fd;
}

static int uc_connected(int type, const struct sockaddr_un *a, socklen_t len) {
    int fd = uc_socket(type);
    if (connect(fd, (const struct sockaddr *)a, len) < 0) tc_die("connect");
    return fd;
}

/* A connected pair of stream or seqpacket sockets made through
 * listen/connect/accept at name of kind k (sv[0] client, sv[1] accepted);
 * the listener and its path are gone afterwards. */
static void uc_pair_via_listener(int type, enum uc_kind k, const char *name, int sv[2]) {
    struct sockaddr_un a;
    socklen_t len = uc_addr(k, &a, name);
    int l = uc_listener(type, &a, len, 4);
    sv[0] = uc_connected(type, &a, len);
    sv[1] = accept(l, NULL, NULL);
    if (sv[1] < 0) tc_die("accept");
    close(l);
    if (k == UC_PATH) unlink(name);
}

static void uc_socketpair(int type, int sv[2]) {
    if (socketpair(AF_UNIX, type, 0, sv) < 0) tc_die("socketpair");
}

static void uc_nonblock(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) < 0) tc_die("fcntl");
}

static void uc_timeo(int fd, int opt, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv) < 0) tc_die("setsockopt timeo");
}

static int uc_getint(int fd, int level, int opt) {
    int v = -12345;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, opt, &v, &l) < 0) return -100000 - errno;
    return v;
}

/* Prints an int socket option as "= v" (v may be negative) or "-1 ENAME". */
static void uc_print_opt(const char *name, int fd, int level, int opt) {
    int v = -12345;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, opt, &v, &l) < 0) tc_printf(name, "-1 %s", tc_errname(errno));
    else tc_printf(name, "= %d", v);
}

/* Writes chunk-sized pieces with MSG_DONTWAIT until EAGAIN; returns the total. */
static long uc_fill(int fd, size_t chunk) {
    static char buf[65536];
    long total = 0;
    if (chunk > sizeof buf) chunk = sizeof buf;
    for (;;) {
        ssize_t n = send(fd, buf, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) return total;
            tc_die("fill");
        }
        total += n;
    }
}

/* Reads exactly n bytes (blocking), discarding them; returns bytes read. */
static long uc_drain(int fd, long n) {
    static char buf[65536];
    long got = 0;
    while (got < n) {
        size_t want = (size_t)(n - got) < sizeof buf ? (size_t)(n - got) : sizeof buf;
        ssize_t r = recv(fd, buf, want, 0);
        if (r <= 0) break;
        got += r;
    }
    return got;
}

static double uc_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void uc_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

/* Compares the address a socket reports with an expected one. */
static int uc_same_addr(const struct sockaddr_un *a, socklen_t alen, const struct sockaddr_un *b, socklen_t blen) {
    return alen == blen && memcmp(a, b, alen) == 0;
}

#endif
