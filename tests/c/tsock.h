/* tsock.h: set-up helpers for the foundation tests (t_errors, t_badfd,
 * t_names, t_data, t_dup, t_concurrent). Include it instead of tcase.h.
 *
 * Every helper either succeeds or ends the test through tc_die(): set-up
 * failures are not cases. Unique names keep concurrent runs apart:
 *   paths     /tmp/nsh_<prog>_<pid, 10 digits>_<tag>
 *   abstract  "\0nsh_<prog>_<pid, 10 digits>_<tag>"
 * The pid is zero-padded so name lengths (and so address lengths) are the
 * same in every run; the names themselves are never printed.
 */
#ifndef TSOCK_H
#define TSOCK_H
#include "tcase.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wunused-function"

#define TS_ALARM 10 /* seconds before a hung test is killed by SIGALRM */
#define TS_SUNLEN ((socklen_t)offsetof(struct sockaddr_un, sun_path))

/* The kinds of stream connection the tests run over. */
enum ts_kind { TS_INET, TS_UNIX, TS_ABSTRACT };
static const char *const ts_kind_names[] = {"inet", "unix", "abstract"};

static const char *ts_prog = "t";

/* Call first: unbuffered stdout, a name for unique addresses, a watchdog. */
static void ts_init(const char *prog) {
    tc_init();
    ts_prog = prog;
    alarm(TS_ALARM);
}

/* Case names built from a format ("%s_bind_twice", kind). */
#define ts_name tc_name

static void ts_msleep(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- addresses ---- */

static struct sockaddr_in ts_loop4(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* Local port of an AF_INET socket. */
static int ts_port(int fd) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0) tc_die("getsockname");
    return ntohs(a.sin_port);
}

/* A unique filesystem path for tag (not created). */
static void ts_path(char *buf, size_t n, const char *tag) {
    snprintf(buf, n, "/tmp/nsh_%s_%010d_%s", ts_prog, (int)getpid(), tag);
}

/* Fills a path address; returns offsetof(sun_path) + strlen + 1. */
static socklen_t ts_addr_path(struct sockaddr_un *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s", path);
    return TS_SUNLEN + (socklen_t)strlen(a->sun_path) + 1;
}

/* Fills a unique abstract address for tag; returns offsetof(sun_path) + 1 + strlen(name). */
static socklen_t ts_addr_abstract(struct sockaddr_un *a, const char *tag) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "nsh_%s_%010d_%s", ts_prog,
                     (int)getpid(), tag);
    return TS_SUNLEN + 1 + (socklen_t)n;
}

/* ---- sockets ---- */

static int ts_socket(int domain) {
    int fd = socket(domain, SOCK_STREAM, 0);
    if (fd < 0) tc_die("socket");
    return fd;
}

/* A listening AF_INET socket on 127.0.0.1:<ephemeral>; *addr gets the address. */
static int ts_inet_listener(struct sockaddr_in *addr) {
    int fd = ts_socket(AF_INET);
    struct sockaddr_in a = ts_loop4(0);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) tc_die("bind");
    if (listen(fd, 16) < 0) tc_die("listen");
    *addr = ts_loop4(ts_port(fd));
    return fd;
}

/* A listening AF_UNIX socket bound to addr (a path is unlinked first). */
static int ts_unix_listener(const struct sockaddr_un *addr, socklen_t len) {
    int fd = ts_socket(AF_UNIX);
    if (addr->sun_path[0]) unlink(addr->sun_path);
    if (bind(fd, (const struct sockaddr *)addr, len) < 0) tc_die("bind");
    if (listen(fd, 16) < 0) tc_die("listen");
    return fd;
}

/* A listener of the given kind; addr and len get the address clients connect to. */
static int ts_listener(enum ts_kind kind, const char *tag, struct sockaddr_storage *addr,
                       socklen_t *len) {
    memset(addr, 0, sizeof *addr);
    if (kind == TS_INET) {
        *len = sizeof(struct sockaddr_in);
        return ts_inet_listener((struct sockaddr_in *)addr);
    }
    struct sockaddr_un *un = (struct sockaddr_un *)addr;
    if (kind == TS_UNIX) {
        char path[108];
        ts_path(path, sizeof path, tag);
        *len = ts_addr_path(un, path);
    } else {
        *len = ts_addr_abstract(un, tag);
    }
    return ts_unix_listener(un, *len);
}

/* Closes a listener made by ts_listener, removing its path if any. */
static void ts_close_listener(int fd, const struct sockaddr_storage *addr) {
    close(fd);
    const struct sockaddr_un *un = (const struct sockaddr_un *)addr;
    if (addr->ss_family == AF_UNIX && un->sun_path[0]) unlink(un->sun_path);
}

static int ts_connect(const struct sockaddr_storage *addr, socklen_t len) {
    int fd = ts_socket(addr->ss_family);
    if (connect(fd, (const struct sockaddr *)addr, len) < 0) tc_die("connect");
    return fd;
}

/* A connected pair of the given kind: *c is the connecting end, *s the accepted end. */
static void ts_pair(enum ts_kind kind, int *c, int *s) {
    struct sockaddr_storage addr;
    socklen_t len;
    int l = ts_listener(kind, "pair", &addr, &len);
    *c = ts_connect(&addr, len);
    *s = accept(l, NULL, NULL);
    if (*s < 0) tc_die("accept");
    ts_close_listener(l, &addr);
}

/* ---- I/O ---- */

/* 1 if fd becomes readable (data or EOF) within ms milliseconds. */
static int ts_readable(int fd, int ms) {
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, ms);
    if (r < 0) tc_die("poll");
    return r > 0;
}

/* Reads until n bytes or EOF; returns the count (dies on error). */
static size_t ts_read_full(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) tc_die("read");
        if (r == 0) break;
        got += (size_t)r;
    }
    return got;
}

/* Writes all n bytes (dies on error). */
static void ts_write_full(int fd, const void *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const char *)buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) tc_die("write");
        done += (size_t)w;
    }
}

/* A length the compiler cannot see through, so fortified builds call the
 * __read_chk / __recv_chk / __recvfrom_chk variants for fixed-size buffers. */
static size_t ts_opaque(size_t n) {
    volatile size_t v = n;
    return v;
}
/* A bit mask as flag names joined by '|' ("0" when none is set), for
 * poll/epoll masks: `names` pairs each bit with its name. Four results can
 * be live at once. */
struct ts_bit {
    unsigned bit;
    const char *name;
};
static const char *ts_bits(unsigned m, const struct ts_bit *names, size_t n) {
    static char bufs[4][160];
    static int i;
    char *b = bufs[i++ & 3];
    b[0] = 0;
    for (size_t k = 0; k < n; k++)
        if (m & names[k].bit) {
            if (b[0]) strcat(b, "|");
            strcat(b, names[k].name);
        }
    if (!b[0]) strcpy(b, "0");
    return b;
}
#endif
