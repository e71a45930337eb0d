/* bench.h: helpers shared by the benchmark programs (bench_*.c). These are
 * not tests: they print `key=value` figures on one line of stdout for
 * scripts/bench.sh, which runs each of them natively and under the shim.
 *
 *   bench_now()                 monotonic clock in ns
 *   bench_listener(fam, &addr)  listening stream socket, "unix" (abstract
 *                               name unique to the pid) or "tcp" (127.0.0.1,
 *                               port chosen by the kernel); addr is what a
 *                               client connects to
 *   bench_connect(fam, &addr)   connected client socket (TCP_NODELAY on tcp)
 *   read_full / write_full      whole buffers, retrying short transfers
 *   bench_args / bench_fork / bench_buf  usage check, fork with stdout
 *                               flushed, a filled buffer
 *   hist_*                      a log-linear latency histogram (ns, ~1.5 %)
 * Any failure ends the program with a message on stderr and status 1.
 */
#ifndef NETSHIM_BENCH_H
#define NETSHIM_BENCH_H
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wunused-function"

#define BENCH_DIE(...)                                                                                               \
    do {                                                                                                             \
        int e_ = errno;                                                                                              \
        fprintf(stderr, "%s: ", bench_prog);                                                                         \
        fprintf(stderr, __VA_ARGS__);                                                                                \
        fprintf(stderr, ": %s\n", strerror(e_));                                                                     \
        exit(1);                                                                                                     \
    } while (0)

static const char *bench_prog = "bench";

static uint64_t bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Seconds as given on the command line (fractions allowed). */
static uint64_t bench_secs_ns(const char *s) {
    double d = atof(s);
    if (d <= 0)
        d = 1;
    return (uint64_t)(d * 1e9);
}

/* Ends the program with status 2 and `usage` unless argc is `want`. */
static void bench_args(int argc, int want, const char *usage) {
    if (argc != want) {
        fprintf(stderr, "usage: %s %s\n", bench_prog, usage);
        exit(2);
    }
}

/* fork() with stdout flushed first (the child must not print the parent's
 * buffered figures again). */
static pid_t bench_fork(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        BENCH_DIE("fork");
    return pid;
}

/* A buffer of *n bytes (at least 1; *n is raised to 1 from 0) set to `fill`. */
static char *bench_buf(size_t *n, int fill) {
    if (*n == 0)
        *n = 1;
    char *b = malloc(*n);
    if (!b)
        BENCH_DIE("malloc");
    memset(b, fill, *n);
    return b;
}

struct bench_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    int family;
};

static int bench_family(const char *fam) {
    if (!strcmp(fam, "unix"))
        return AF_UNIX;
    if (!strcmp(fam, "tcp"))
        return AF_INET;
    fprintf(stderr, "%s: family must be unix or tcp, not %s\n", bench_prog, fam);
    exit(2);
}

static void bench_nodelay(int fd, int family) {
    int one = 1;
    if (family == AF_INET && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        BENCH_DIE("setsockopt TCP_NODELAY");
}

static int bench_listener(const char *fam, struct bench_addr *a, int backlog) {
    static unsigned seq;
    a->family = bench_family(fam);
    memset(&a->ss, 0, sizeof a->ss);
    int fd = socket(a->family, SOCK_STREAM, 0);
    if (fd < 0)
        BENCH_DIE("socket");
    if (a->family == AF_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
        un->sun_family = AF_UNIX;
        /* Abstract name: nothing to remove afterwards. */
        int n = snprintf(un->sun_path + 1, sizeof un->sun_path - 1, "netshim-bench-%d-%u", (int)getpid(), seq++);
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in->sin_port = 0;
        a->len = sizeof *in;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (bind(fd, (struct sockaddr *)&a->ss, a->len) < 0)
        BENCH_DIE("bind");
    if (a->family == AF_INET) {
        socklen_t l = a->len;
        if (getsockname(fd, (struct sockaddr *)&a->ss, &l) < 0)
            BENCH_DIE("getsockname");
    }
    if (listen(fd, backlog) < 0)
        BENCH_DIE("listen");
    return fd;
}

static int bench_connect(const struct bench_addr *a) {
    int fd = socket(a->family, SOCK_STREAM, 0);
    if (fd < 0)
        BENCH_DIE("socket");
    if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0)
        BENCH_DIE("connect");
    bench_nodelay(fd, a->family);
    return fd;
}

static int bench_accept(int lfd, int family) {
    int fd;
    do
        fd = accept(lfd, NULL, NULL);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        BENCH_DIE("accept");
    bench_nodelay(fd, family);
    return fd;
}

/* Reads exactly n bytes; returns 0 on EOF before the first byte, 1 when done. */
static int read_full(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            BENCH_DIE("read");
        if (r == 0) {
            if (got == 0)
                return 0;
            errno = EPIPE;
            BENCH_DIE("read: EOF inside a message");
        }
        got += (size_t)r;
    }
    return 1;
}

static void write_full(int fd, const void *buf, size_t n) {
    size_t put = 0;
    while (put < n) {
        ssize_t r = write(fd, (const char *)buf + put, n - put);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            BENCH_DIE("write");
        put += (size_t)r;
    }
}

/* Waits for a child; a child that failed makes the parent fail too. */
static void bench_reap(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            BENCH_DIE("waitpid");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "%s: child failed (status %#x)\n", bench_prog, st);
        exit(1);
    }
}

/* Log-linear histogram: values below 128 ns exactly, above that 64 buckets
 * per power of two. */
#define HIST_SUB 64
#define HIST_N (128 + 40 * HIST_SUB)
struct hist {
    uint64_t b[HIST_N];
    uint64_t count;
};

static unsigned hist_idx(uint64_t v) {
    if (v < 128)
        return (unsigned)v;
    unsigned e = 63 - (unsigned)__builtin_clzll(v); /* >= 7 */
    unsigned sub = (unsigned)(v >> (e - 6)) & (HIST_SUB - 1);
    unsigned i = 128 + (e - 7) * HIST_SUB + sub;
    return i < HIST_N ? i : HIST_N - 1;
}

static uint64_t hist_lo(unsigned i) {
    if (i < 128)
        return i;
    unsigned e = (i - 128) / HIST_SUB + 7, sub = (i - 128) % HIST_SUB;
    return ((uint64_t)1 << e) + ((uint64_t)sub << (e - 6));
}

static void hist_add(struct hist *h, uint64_t v) {
    h->b[hist_idx(v)]++;
    h->count++;
}

/* The value at quantile q (0..1): the middle of its bucket. */
static double hist_q(const struct hist *h, double q) {
    if (!h->count)
        return 0;
    uint64_t want = (uint64_t)(q * (double)(h->count - 1)) + 1, seen = 0;
    for (unsigned i = 0; i < HIST_N; i++) {
        seen += h->b[i];
        if (seen >= want)
            return i + 1 < HIST_N ? (double)(hist_lo(i) + hist_lo(i + 1)) / 2 : (double)hist_lo(i);
    }
    return (double)hist_lo(HIST_N - 1);
}

/* Resident set size of this process in KiB (VmRSS of /proc/self/status). */
static long bench_rss_kb(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    fclose(f);
    return kb;
}

#endif
