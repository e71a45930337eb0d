/* t_readiness.c: poll, ppoll, select, pselect and epoll over sets that mix
 * sockets (AF_INET 127.0.0.1, AF_UNIX paths, abstract names, socketpairs)
 * with pipes, eventfds and regular files:
 *   - which member of a mixed set is reported, and with which bits
 *   - the readiness mask of a socket in each state (fresh, listening,
 *     connected, shut down either way, peer closed, peer reset, dgram), as
 *     poll reports it and as epoll reports it
 *   - epoll level- and edge-triggered, EPOLLONESHOT and re-arming with
 *     EPOLL_CTL_MOD, EPOLLRDHUP, EPOLLEXCLUSIVE accepted, EPOLL_CTL errors
 *   - a sleeper woken by another process (socket) or by a real fd (pipe)
 *   - an idle sleeper uses no CPU
 *   - a signal handler interrupts poll / select / epoll_wait (EINTR, even
 *     with SA_RESTART) and a blocking recv (EINTR without SA_RESTART,
 *     restarted with it)
 * Masks are printed as flag names, never as numbers or times.
 */
#include "tsock.h"
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/select.h>

static const char *mask_name(unsigned m) {
    static const struct ts_bit f[] = {{POLLIN, "IN"},         {POLLPRI, "PRI"},       {POLLOUT, "OUT"},
                                      {POLLERR, "ERR"},       {POLLHUP, "HUP"},       {POLLNVAL, "NVAL"},
                                      {POLLRDNORM, "RDNORM"}, {POLLRDBAND, "RDBAND"}, {POLLWRNORM, "WRNORM"},
                                      {POLLWRBAND, "WRBAND"}, {POLLRDHUP, "RDHUP"}};
    return ts_bits(m, f, sizeof f / sizeof f[0]);
}

static unsigned poll_mask(int fd) {
    struct pollfd p = {fd, (short)(POLLIN | POLLPRI | POLLOUT | POLLRDHUP | POLLRDBAND | POLLWRBAND), 0};
    int r = poll(&p, 1, 0);
    return r < 0 ? 0xffff : (unsigned)(unsigned short)p.revents;
}

static unsigned epoll_mask(int fd) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) tc_die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLRDBAND | EPOLLWRBAND,
                             .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) tc_die("epoll_ctl");
    struct epoll_event out;
    int n = epoll_wait(ep, &out, 1, 0);
    close(ep);
    return n == 1 ? out.events : 0;
}

/* Prints the poll and the epoll mask of fd; they must agree with the kernel's. */
static void masks(const char *name, int fd) {
    tc_printf(ts_name("%s/poll", name), "%s", mask_name(poll_mask(fd)));
    tc_printf(ts_name("%s/epoll", name), "%s", mask_name(epoll_mask(fd)));
}

/* A connected pair of any kind, or a socketpair for kind == 3. */
static void pair_of(int kind, int *c, int *s) {
    if (kind == 3) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) tc_die("socketpair");
        *c = sv[0];
        *s = sv[1];
        return;
    }
    ts_pair((enum ts_kind)kind, c, s);
}
static const char *const kind_names[] = {"inet", "unix", "abstract", "socketpair"};

/* ---- masks by state ---- */

static void state_cases(int kind) {
    const char *k = kind_names[kind];
    int c, s;
    char buf[16];
    if (kind == 0) {
        int f = socket(AF_INET, SOCK_STREAM, 0);
        masks("state/inet/fresh", f);
        close(f);
    } else if (kind == 1) {
        int f = socket(AF_UNIX, SOCK_STREAM, 0);
        masks("state/unix/fresh", f);
        close(f);
    }
    if (kind < 3) {
        struct sockaddr_storage a;
        socklen_t al;
        int l = ts_listener((enum ts_kind)kind, "st-l", &a, &al);
        masks(ts_name("state/%s/listening-empty", k), l);
        int cc = ts_connect(&a, al);
        ts_msleep(10);
        masks(ts_name("state/%s/listening-pending", k), l);
        close(cc);
        ts_close_listener(l, &a);
    }

    pair_of(kind, &c, &s);
    masks(ts_name("state/%s/connected-idle", k), c);
    ts_write_full(s, "d", 1);
    ts_msleep(10);
    masks(ts_name("state/%s/connected-data", k), c);
    if (read(c, buf, sizeof buf) != 1) tc_die("read");
    shutdown(c, SHUT_WR);
    ts_msleep(10);
    masks(ts_name("state/%s/after-own-shut-wr", k), c);
    masks(ts_name("state/%s/peer-of-shut-wr", k), s);
    shutdown(c, SHUT_RD);
    ts_msleep(10);
    masks(ts_name("state/%s/after-own-shut-rdwr", k), c);
    close(c);
    ts_msleep(10);
    masks(ts_name("state/%s/peer-closed", k), s);
    close(s);

    pair_of(kind, &c, &s);
    shutdown(c, SHUT_RD);
    ts_msleep(10);
    masks(ts_name("state/%s/after-own-shut-rd", k), c);
    close(c);
    close(s);

    /* A reset: the peer closes with unread data (inet: or with SO_LINGER 0). */
    pair_of(kind, &c, &s);
    ts_write_full(c, "unread", 6);
    ts_msleep(10);
    close(s);
    ts_msleep(10);
    masks(ts_name("state/%s/peer-closed-with-unread", k), c);
    close(c);
}

static void dgram_state_cases(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0) tc_die("socketpair");
    masks("state/unix-dgram/pair-idle", sv[0]);
    ts_write_full(sv[1], "x", 1);
    masks("state/unix-dgram/pair-data", sv[0]);
    close(sv[1]);
    masks("state/unix-dgram/peer-closed", sv[0]);
    close(sv[0]);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    masks("state/udp/fresh", u);
    struct sockaddr_in a = ts_loop4(0);
    bind(u, (struct sockaddr *)&a, sizeof a);
    masks("state/udp/bound", u);
    close(u);
}

/* ---- mixed sets ---- */

static void mixed_cases(int kind) {
    const char *k = kind_names[kind];
    int c, s, pp[2];
    pair_of(kind, &c, &s);
    if (pipe(pp) < 0) tc_die("pipe");
    int ev = eventfd(0, EFD_NONBLOCK);
    int file = open("/proc/self/stat", O_RDONLY);
    if (ev < 0 || file < 0) tc_die("eventfd/open");

    struct pollfd p[4] = {{pp[0], POLLIN, 0}, {c, POLLIN, 0}, {ev, POLLIN, 0}, {file, POLLIN, 0}};
    p[3].fd = -1; /* a negative fd is skipped: revents 0 */
    TC_VAL(ts_name("mixed/%s/poll-none-ready", k), poll(p, 4, 0));
    ts_write_full(pp[1], "p", 1);
    int n = poll(p, 4, 0);
    tc_printf(ts_name("mixed/%s/poll-pipe-ready", k), "= %d, pipe %s, socket %s, eventfd %s", n,
              mask_name(p[0].revents), mask_name(p[1].revents), mask_name(p[2].revents));
    char b[8];
    if (read(pp[0], b, 1) != 1) tc_die("read");
    ts_write_full(s, "s", 1);
    ts_msleep(10);
    n = poll(p, 4, 0);
    tc_printf(ts_name("mixed/%s/poll-socket-ready", k), "= %d, pipe %s, socket %s, eventfd %s", n,
              mask_name(p[0].revents), mask_name(p[1].revents), mask_name(p[2].revents));
    uint64_t one = 1;
    if (write(ev, &one, sizeof one) != sizeof one) tc_die("write");
    p[3].fd = file;
    struct timespec zero = {0, 0};
    n = ppoll(p, 4, &zero, NULL);
    tc_printf(ts_name("mixed/%s/ppoll-socket-eventfd-file", k), "= %d, pipe %s, socket %s, eventfd %s, file %s", n,
              mask_name(p[0].revents), mask_name(p[1].revents), mask_name(p[2].revents), mask_name(p[3].revents));

    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(pp[0], &r);
    FD_SET(c, &r);
    FD_SET(ev, &r);
    FD_SET(c, &w);
    FD_SET(pp[1], &w);
    int maxfd = pp[0];
    if (c > maxfd) maxfd = c;
    if (ev > maxfd) maxfd = ev;
    if (pp[1] > maxfd) maxfd = pp[1];
    struct timeval tv = {0, 0};
    n = select(maxfd + 1, &r, &w, NULL, &tv);
    tc_printf(ts_name("mixed/%s/select", k), "= %d, read: pipe %d socket %d eventfd %d, write: socket %d pipe %d", n,
              FD_ISSET(pp[0], &r), FD_ISSET(c, &r), FD_ISSET(ev, &r), FD_ISSET(c, &w), FD_ISSET(pp[1], &w));
    FD_ZERO(&r);
    FD_SET(pp[0], &r);
    FD_SET(c, &r);
    n = pselect(maxfd + 1, &r, NULL, NULL, &zero, NULL);
    tc_printf(ts_name("mixed/%s/pselect", k), "= %d, pipe %d socket %d", n, FD_ISSET(pp[0], &r), FD_ISSET(c, &r));

    int ep = epoll_create(8);
    struct epoll_event e;
    e.events = EPOLLIN;
    e.data.u32 = 1;
    epoll_ctl(ep, EPOLL_CTL_ADD, pp[0], &e);
    e.data.u32 = 2;
    epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
    e.data.u32 = 4;
    epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e);
    struct epoll_event out[4];
    n = epoll_wait(ep, out, 4, 0);
    unsigned seen = 0;
    for (int i = 0; i < n; i++) seen |= out[i].data.u32;
    tc_printf(ts_name("mixed/%s/epoll", k), "= %d, pipe %d socket %d eventfd %d", n, !!(seen & 1), !!(seen & 2),
              !!(seen & 4));
    close(ep);
    close(pp[0]);
    close(pp[1]);
    close(ev);
    close(file);
    close(c);
    close(s);
}

/* ---- epoll triggering ---- */

static int ep_count(int ep) {
    struct epoll_event out[4];
    return epoll_wait(ep, out, 4, 0);
}

static void epoll_cases(int kind) {
    const char *k = kind_names[kind];
    int c, s;
    pair_of(kind, &c, &s);
    int ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = c};
    TC_SYS(ts_name("epoll/%s/add", k), epoll_ctl(ep, EPOLL_CTL_ADD, c, &e));
    TC_SYS(ts_name("epoll/%s/add-again", k), epoll_ctl(ep, EPOLL_CTL_ADD, c, &e));
    int c2 = dup(c);
    TC_SYS(ts_name("epoll/%s/add-dup", k), epoll_ctl(ep, EPOLL_CTL_ADD, c2, &e));
    TC_SYS(ts_name("epoll/%s/del-dup", k), epoll_ctl(ep, EPOLL_CTL_DEL, c2, NULL));
    TC_SYS(ts_name("epoll/%s/del-dup-again", k), epoll_ctl(ep, EPOLL_CTL_DEL, c2, NULL));
    close(c2);
    TC_SYS(ts_name("epoll/%s/mod-absent", k), epoll_ctl(ep, EPOLL_CTL_MOD, s, &e));
    TC_SYS(ts_name("epoll/%s/add-self", k), epoll_ctl(ep, EPOLL_CTL_ADD, ep, &e));
    TC_SYS(ts_name("epoll/%s/bad-op", k), epoll_ctl(ep, 42, c, &e));
    TC_SYS(ts_name("epoll/%s/on-non-epoll", k), epoll_ctl(s, EPOLL_CTL_ADD, c, &e));

    /* Level-triggered: reported while data is queued. */
    ts_write_full(s, "ab", 2);
    ts_msleep(10);
    TC_VAL(ts_name("epoll/%s/lt-first", k), ep_count(ep));
    TC_VAL(ts_name("epoll/%s/lt-second", k), ep_count(ep));
    char b[8];
    if (read(c, b, sizeof b) != 2) tc_die("read");
    TC_VAL(ts_name("epoll/%s/lt-drained", k), ep_count(ep));

    /* Edge-triggered: once per arrival. */
    e.events = EPOLLIN | EPOLLET;
    TC_SYS(ts_name("epoll/%s/mod-et", k), epoll_ctl(ep, EPOLL_CTL_MOD, c, &e));
    ts_write_full(s, "a", 1);
    ts_msleep(10);
    TC_VAL(ts_name("epoll/%s/et-first", k), ep_count(ep));
    TC_VAL(ts_name("epoll/%s/et-second", k), ep_count(ep));
    ts_write_full(s, "b", 1);
    ts_msleep(10);
    TC_VAL(ts_name("epoll/%s/et-new-data", k), ep_count(ep));
    if (read(c, b, sizeof b) != 2) tc_die("read");

    /* One-shot: once, then disabled until re-armed. */
    e.events = EPOLLIN | EPOLLONESHOT;
    TC_SYS(ts_name("epoll/%s/mod-oneshot", k), epoll_ctl(ep, EPOLL_CTL_MOD, c, &e));
    ts_write_full(s, "a", 1);
    ts_msleep(10);
    TC_VAL(ts_name("epoll/%s/oneshot-first", k), ep_count(ep));
    ts_write_full(s, "b", 1);
    ts_msleep(10);
    TC_VAL(ts_name("epoll/%s/oneshot-disabled", k), ep_count(ep));
    TC_SYS(ts_name("epoll/%s/oneshot-rearm", k), epoll_ctl(ep, EPOLL_CTL_MOD, c, &e));
    TC_VAL(ts_name("epoll/%s/oneshot-rearmed", k), ep_count(ep));
    if (read(c, b, sizeof b) != 2) tc_die("read");

    /* EPOLLRDHUP on the peer's SHUT_WR, then HUP on its close. */
    e.events = EPOLLIN | EPOLLRDHUP;
    epoll_ctl(ep, EPOLL_CTL_MOD, c, &e);
    shutdown(s, SHUT_WR);
    ts_msleep(10);
    struct epoll_event out;
    int n = epoll_wait(ep, &out, 1, 0);
    tc_printf(ts_name("epoll/%s/rdhup", k), "= %d, %s", n, n == 1 ? mask_name(out.events) : "-");
    close(s);
    ts_msleep(10);
    n = epoll_wait(ep, &out, 1, 0);
    tc_printf(ts_name("epoll/%s/peer-closed", k), "= %d, %s", n, n == 1 ? mask_name(out.events) : "-");

    /* Closing the fd removes it from the interest list. */
    close(c);
    TC_VAL(ts_name("epoll/%s/after-close", k), ep_count(ep));
    close(ep);

    /* EPOLLEXCLUSIVE is accepted on ADD, refused on MOD. */
    pair_of(kind, &c, &s);
    ep = epoll_create1(0);
    e.events = EPOLLIN | EPOLLEXCLUSIVE;
    TC_SYS(ts_name("epoll/%s/exclusive-add", k), epoll_ctl(ep, EPOLL_CTL_ADD, c, &e));
    TC_SYS(ts_name("epoll/%s/exclusive-mod", k), epoll_ctl(ep, EPOLL_CTL_MOD, c, &e));
    close(ep);
    close(c);
    close(s);
}

/* ---- sleeping and waking ---- */

static double cpu_ms(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* A child process writes to `fd` after 100 ms. */
static pid_t later_write(int fd) {
    pid_t pid = fork();
    if (pid == 0) {
        ts_msleep(100);
        _exit(write(fd, "w", 1) == 1 ? 0 : 1);
    }
    return pid;
}

static void wake_cases(int kind) {
    const char *k = kind_names[kind];
    int c, s, pp[2];
    char b[4];
    if (pipe(pp) < 0) tc_die("pipe");

    static const char *const how[] = {"poll", "select", "epoll"};
    for (int h = 0; h < 3; h++) {
        for (int by_pipe = 0; by_pipe < 2; by_pipe++) {
            pair_of(kind, &c, &s);
            pid_t pid = later_write(by_pipe ? pp[1] : s);
            int n, sock_ready = 0, pipe_ready = 0;
            if (h == 0) {
                struct pollfd p[2] = {{pp[0], POLLIN, 0}, {c, POLLIN, 0}};
                n = poll(p, 2, 3000);
                pipe_ready = !!(p[0].revents & POLLIN);
                sock_ready = !!(p[1].revents & POLLIN);
            } else if (h == 1) {
                fd_set r;
                FD_ZERO(&r);
                FD_SET(pp[0], &r);
                FD_SET(c, &r);
                struct timeval tv = {3, 0};
                n = select((c > pp[0] ? c : pp[0]) + 1, &r, NULL, NULL, &tv);
                pipe_ready = FD_ISSET(pp[0], &r);
                sock_ready = FD_ISSET(c, &r);
            } else {
                int ep = epoll_create1(0);
                struct epoll_event e = {.events = EPOLLIN, .data.fd = pp[0]};
                epoll_ctl(ep, EPOLL_CTL_ADD, pp[0], &e);
                e.data.fd = c;
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
                struct epoll_event out[2];
                n = epoll_wait(ep, out, 2, 3000);
                for (int i = 0; i < n; i++) {
                    pipe_ready |= out[i].data.fd == pp[0];
                    sock_ready |= out[i].data.fd == c;
                }
                close(ep);
            }
            tc_printf(ts_name("wake/%s/%s/by-other-process-%s", k, how[h], by_pipe ? "pipe" : "socket"),
                      "= %d, pipe %d socket %d", n, pipe_ready, sock_ready);
            waitpid(pid, NULL, 0);
            if (by_pipe && read(pp[0], b, 1) != 1) tc_die("read");
            close(c);
            close(s);
        }
    }

    /* An idle sleeper does not spin: a 300 ms poll on a quiet socket costs
     * (much) less than 60 ms of CPU. */
    pair_of(kind, &c, &s);
    double t0 = cpu_ms();
    struct pollfd p = {c, POLLIN, 0};
    int n = poll(&p, 1, 300);
    double used = cpu_ms() - t0;
    tc_printf(ts_name("idle/%s/poll-300ms", k), "= %d, cpu below 20%%: %s", n, used < 60 ? "yes" : "no");
    int ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
    t0 = cpu_ms();
    n = epoll_wait(ep, &e, 1, 300);
    used = cpu_ms() - t0;
    tc_printf(ts_name("idle/%s/epoll-300ms", k), "= %d, cpu below 20%%: %s", n, used < 60 ? "yes" : "no");
    t0 = cpu_ms();
    struct timeval tv = {0, 300000};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    n = (int)read(c, b, 1);
    used = cpu_ms() - t0;
    tc_printf(ts_name("idle/%s/read-300ms-timeout", k), "%s, cpu below 20%%: %s",
              n < 0 ? tc_errname(errno) : "data", used < 60 ? "yes" : "no");
    close(ep);
    close(c);
    close(s);
    close(pp[0]);
    close(pp[1]);
}

/* ---- signals ---- */

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig) { got_usr1 = 1; }

/* Sends SIGUSR1 to us after 100 ms, then (if fd >= 0) writes to fd after 100 ms more. */
static pid_t later_signal(int fd) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        ts_msleep(100);
        kill(parent, SIGUSR1);
        if (fd >= 0) {
            ts_msleep(100);
            if (write(fd, "late", 4) != 4) _exit(1);
        }
        _exit(0);
    }
    return pid;
}

static void signal_cases(int kind) {
    const char *k = kind_names[kind];
    for (int restart = 0; restart < 2; restart++) {
        const char *r = restart ? "SA_RESTART" : "no-SA_RESTART";
        struct sigaction sa = {0};
        sa.sa_handler = on_usr1;
        sa.sa_flags = restart ? SA_RESTART : 0;
        sigaction(SIGUSR1, &sa, NULL);
        int c, s;
        char b[8];

        pair_of(kind, &c, &s);
        got_usr1 = 0;
        pid_t pid = later_signal(-1);
        struct pollfd p = {c, POLLIN, 0};
        int n = poll(&p, 1, 3000);
        tc_printf(ts_name("signal/%s/%s/poll", k, r), "%s, handler ran: %d", n < 0 ? tc_errname(errno) : "returned",
                  got_usr1);
        waitpid(pid, NULL, 0);

        got_usr1 = 0;
        pid = later_signal(-1);
        int ep = epoll_create1(0);
        struct epoll_event e = {.events = EPOLLIN, .data.fd = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
        n = epoll_wait(ep, &e, 1, 3000);
        tc_printf(ts_name("signal/%s/%s/epoll_wait", k, r), "%s, handler ran: %d",
                  n < 0 ? tc_errname(errno) : "returned", got_usr1);
        close(ep);
        waitpid(pid, NULL, 0);

        got_usr1 = 0;
        pid = later_signal(-1);
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(c, &rs);
        struct timeval tv = {3, 0};
        n = select(c + 1, &rs, NULL, NULL, &tv);
        tc_printf(ts_name("signal/%s/%s/select", k, r), "%s, handler ran: %d", n < 0 ? tc_errname(errno) : "returned",
                  got_usr1);
        waitpid(pid, NULL, 0);

        /* A blocking recv: EINTR, or restarted and then given the data. */
        got_usr1 = 0;
        pid = later_signal(s);
        ssize_t got = recv(c, b, sizeof b, 0);
        tc_printf(ts_name("signal/%s/%s/recv", k, r), "%s, handler ran: %d",
                  got < 0 ? tc_errname(errno) : got == 4 ? "= 4 (restarted)" : "other", got_usr1);
        waitpid(pid, NULL, 0);

        /* With a receive timeout the kernel never restarts (sock_intr_errno). */
        got_usr1 = 0;
        struct timeval to = {2, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &to, sizeof to);
        while (recv(c, b, sizeof b, MSG_DONTWAIT) > 0) {
        }
        pid = later_signal(s);
        got = recv(c, b, sizeof b, 0);
        tc_printf(ts_name("signal/%s/%s/recv-with-timeout", k, r), "%s, handler ran: %d",
                  got < 0 ? tc_errname(errno) : got == 4 ? "= 4 (restarted)" : "other", got_usr1);
        waitpid(pid, NULL, 0);

        /* accept on a listener nobody connects to. */
        if (kind < 3) {
            struct sockaddr_storage a;
            socklen_t al;
            int l = ts_listener((enum ts_kind)kind, "sig-l", &a, &al);
            got_usr1 = 0;
            pid_t parent = getpid();
            pid = fork();
            if (pid == 0) {
                ts_msleep(100);
                kill(parent, SIGUSR1);
                ts_msleep(100);
                int cc = ts_connect(&a, al);
                ts_msleep(200);
                close(cc);
                _exit(0);
            }
            int fd = accept(l, NULL, NULL);
            tc_printf(ts_name("signal/%s/%s/accept", k, r), "%s, handler ran: %d",
                      fd < 0 ? tc_errname(errno) : "accepted (restarted)", got_usr1);
            if (fd >= 0) close(fd);
            waitpid(pid, NULL, 0);
            ts_close_listener(l, &a);
        }
        close(c);
        close(s);
    }
    signal(SIGUSR1, SIG_DFL);
}

int main(void) {
    ts_init("t_readiness");
    alarm(60);
    signal(SIGPIPE, SIG_IGN);
    for (int k = 0; k < 4; k++) state_cases(k);
    dgram_state_cases();
    for (int k = 0; k < 4; k++) {
        mixed_cases(k);
        epoll_cases(k);
        wake_cases(k);
        signal_cases(k);
    }
    return tc_done();
}
