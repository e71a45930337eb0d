/* bench_scale FAMILY N
 *
 * N concurrent connections in one namespace, served with epoll. The parent
 * listens (FAMILY unix or tcp, as bench_pingpong) and serves every accepted
 * connection from one epoll set, echoing what it reads. The forked child
 * opens up to N connections (blocking connects, one after the other; it
 * stops at the first failure and reports its errno), then, once the parent
 * has accepted them all and measured the idle state, writes 1 byte on each
 * and waits with its own epoll set until every connection echoed it back.
 * Then it runs 1-byte round trips for half a second on one connection while
 * the others sit idle in the server's epoll set (what an idle item costs
 * each epoll_wait).
 *
 * Memory of the idle connections, measured before the exchange:
 *   anon_kb   private memory (RssAnon) grown in both processes
 *   shm_kb    pages of the namespace file touched (its allocated blocks;
 *             the file is sparse), 0 natively
 *   slab_kb   kernel slab growth (system-wide /proc/meminfo, noisy: other
 *             programs allocate too); covers kernel sockets natively and the
 *             shim's placeholder memfds
 * Prints
 *   opened=K wanted=N echoed=E err=ERRNO-NAME connect_per_s=...
 *   anon_kb=... shm_kb=... slab_kb=... bytes_per_conn=... busy_rtt_per_s=...
 * bytes_per_conn = (anon_kb + shm_kb) * 1024 / K (user-visible memory; the
 * kernel's share is slab_kb).
 */
#define _GNU_SOURCE
#include "bench.h"
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>

static long status_kb(const char *key) {
    char line[256];
    size_t kl = strlen(key);
    long kb = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl))
            kb = atol(line + kl);
    fclose(f);
    return kb;
}

static long slab_kb(void) {
    char line[256];
    long kb = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Slab:", 5))
            kb = atol(line + 5);
    fclose(f);
    return kb;
}

/* KiB allocated to the namespace file this process maps, 0 if none. */
static long shm_kb(void) {
    char line[4096];
    long kb = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        char *p = strchr(line, '/');
        if (!p || !strstr(p, "/netshim-"))
            continue;
        p[strcspn(p, "\n")] = 0;
        struct stat st;
        if (strstr(p, " (deleted)") == NULL && stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            kb = (long)(st.st_blocks / 2);
            break;
        }
    }
    fclose(f);
    return kb;
}

struct report {
    long opened, err, conn_ns, anon_kb;
};

/* The client's second report: the exchange, and the round trips beside
 * the idle connections. */
struct report2 {
    long echoed;
    double busy_rtt_per_s;
};

static void xwrite(int fd, const void *p, size_t n) { write_full(fd, p, n); }

static void xread(int fd, void *p, size_t n) {
    if (!read_full(fd, p, n)) {
        errno = EPIPE;
        BENCH_DIE("sync pipe closed");
    }
}

static void client(const struct bench_addr *a, long n, int tox, int fromx) {
    int *fds = calloc((size_t)n, sizeof *fds);
    if (!fds)
        BENCH_DIE("calloc");
    struct report r = {0};
    struct report2 r2 = {0};
    long anon0 = status_kb("RssAnon:");
    uint64_t t0 = bench_now();
    for (long i = 0; i < n; i++) {
        int fd = socket(a->family, SOCK_STREAM, 0);
        if (fd < 0) {
            r.err = errno;
            break;
        }
        int rc;
        do
            rc = connect(fd, (const struct sockaddr *)&a->ss, a->len);
        while (rc < 0 && errno == EINTR);
        if (rc < 0) {
            r.err = errno;
            close(fd);
            break;
        }
        fds[r.opened++] = fd;
    }
    r.conn_ns = (long)(bench_now() - t0);
    r.anon_kb = status_kb("RssAnon:") - anon0;
    xwrite(tox, &r, sizeof r);
    char go;
    xread(fromx, &go, 1);

    /* The exchange: 1 byte out on every connection, wait for every echo. */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        BENCH_DIE("epoll_create1");
    for (long i = 0; i < r.opened; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0)
            BENCH_DIE("epoll_ctl (client, fd %d)", fds[i]);
        char c = 'e';
        write_full(fds[i], &c, 1);
    }
    struct epoll_event evs[256];
    long waiting = r.opened;
    while (waiting > 0) {
        int k = epoll_wait(ep, evs, 256, 10000);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            BENCH_DIE("epoll_wait (client)");
        if (k == 0)
            break; /* 10 s without an echo: report what arrived */
        for (int j = 0; j < k; j++) {
            long i = (long)evs[j].data.u64;
            char c;
            ssize_t got = read(fds[i], &c, 1);
            if (got == 1 && c == 'e')
                r2.echoed++;
            epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
            waiting--;
        }
    }
    if (r.opened > 0 && r2.echoed == r.opened) {
        int fd = fds[r.opened / 2];
        uint64_t rt = 0, b0 = bench_now(), b = b0, end = b0 + 500000000ull;
        while (b < end) {
            for (int j = 0; j < 64; j++) {
                char c = 'p';
                write_full(fd, &c, 1);
                if (!read_full(fd, &c, 1))
                    BENCH_DIE("busy round trip");
            }
            rt += 64;
            b = bench_now();
        }
        r2.busy_rtt_per_s = (double)rt / ((double)(b - b0) / 1e9);
    }
    xwrite(tox, &r2, sizeof r2);
    for (long i = 0; i < r.opened; i++)
        close(fds[i]);
    close(ep);
}

int main(int argc, char **argv) {
    bench_prog = "bench_scale";
    bench_args(argc, 3, "unix|tcp N");
    long n = atol(argv[2]);
    if (n <= 0)
        n = 1;
    /* Each process holds about N descriptors. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64)
        fprintf(stderr, "bench_scale: RLIMIT_NOFILE %llu is below N + 64\n", (unsigned long long)rl.rlim_cur);

    int c2p[2], p2c[2];
    if (pipe2(c2p, O_CLOEXEC) < 0 || pipe2(p2c, O_CLOEXEC) < 0)
        BENCH_DIE("pipe");
    struct bench_addr a;
    int lfd = bench_listener(argv[1], &a, (int)(n < 65535 ? n : 65535));
    int fl = fcntl(lfd, F_GETFL);
    if (fl < 0 || fcntl(lfd, F_SETFL, fl | O_NONBLOCK) < 0)
        BENCH_DIE("fcntl O_NONBLOCK");
    long anon0 = status_kb("RssAnon:"), shm0 = shm_kb(), slab0 = slab_kb();
    pid_t pid = bench_fork();
    if (pid == 0) {
        close(lfd);
        close(c2p[0]);
        close(p2c[1]);
        client(&a, n, c2p[1], p2c[0]);
        _exit(0);
    }
    close(c2p[1]);
    close(p2c[0]);

    int *conns = calloc((size_t)n, sizeof *conns);
    if (!conns)
        BENCH_DIE("calloc");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        BENCH_DIE("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        BENCH_DIE("epoll_ctl (listener)");
    ev.data.u64 = UINT64_MAX - 1;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c2p[0], &ev) < 0)
        BENCH_DIE("epoll_ctl (pipe)");

    struct report r = {0};
    int have_report = 0, measured = 0, done = 0;
    long accepted = 0, anon_kb = 0, shm_d = 0, slab_d = 0;
    struct report2 r2 = {0};
    struct epoll_event evs[256];
    while (!done) {
        if (have_report && !measured && accepted >= r.opened) {
            /* Every connection is established and idle: measure. */
            anon_kb = status_kb("RssAnon:") - anon0 + r.anon_kb;
            shm_d = shm_kb() - shm0;
            slab_d = slab_kb() - slab0;
            measured = 1;
            char go = 'g';
            xwrite(p2c[1], &go, 1);
        }
        int k = epoll_wait(ep, evs, 256, 30000);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            BENCH_DIE("epoll_wait (server)");
        if (k == 0) {
            errno = ETIMEDOUT;
            BENCH_DIE("nothing happened for 30 s (accepted %ld)", accepted);
        }
        for (int j = 0; j < k; j++) {
            uint64_t tag = evs[j].data.u64;
            if (tag == UINT64_MAX) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                            break;
                        BENCH_DIE("accept4 (after %ld)", accepted);
                    }
                    if (accepted >= n) {
                        close(fd);
                        continue;
                    }
                    struct epoll_event cev = {.events = EPOLLIN, .data.u64 = (uint64_t)accepted};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) < 0)
                        BENCH_DIE("epoll_ctl (server, fd %d)", fd);
                    conns[accepted++] = fd;
                }
            } else if (tag == UINT64_MAX - 1) {
                if (!have_report) {
                    xread(c2p[0], &r, sizeof r);
                    have_report = 1;
                } else {
                    xread(c2p[0], &r2, sizeof r2);
                    done = 1;
                }
            } else {
                int fd = conns[tag];
                char buf[64];
                ssize_t got = read(fd, buf, sizeof buf);
                if (got > 0)
                    write_full(fd, buf, (size_t)got);
                else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                    close(fd);
                    conns[tag] = -1;
                }
            }
        }
    }
    bench_reap(pid);
    for (long i = 0; i < accepted; i++)
        if (conns[i] >= 0)
            close(conns[i]);
    const char *en = "0";
    if (r.err)
        en = strerrorname_np((int)r.err) ? strerrorname_np((int)r.err) : "?";
    long opened = r.opened ? r.opened : 1;
    printf("opened=%ld wanted=%ld echoed=%ld err=%s connect_per_s=%.0f anon_kb=%ld shm_kb=%ld slab_kb=%ld "
           "bytes_per_conn=%.0f busy_rtt_per_s=%.0f\n",
           r.opened, n, r2.echoed, en, (double)r.opened / ((double)r.conn_ns / 1e9), anon_kb, shm_d, slab_d,
           (double)(anon_kb + shm_d) * 1024.0 / (double)opened, r2.busy_rtt_per_s);
    return 0;
}
