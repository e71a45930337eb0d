/* t_epoll.c: one epoll instance shared by several holders, as the kernel
 * shares a struct eventpoll, for AF_UNIX socketpairs and TCP on 127.0.0.1:
 *   - fork after EPOLL_CTL_ADD: the child's epoll_wait sees the data
 *   - a child adds a socket after fork (and exits): the parent's epoll_wait
 *     reports it, also when the parent already sleeps in epoll_wait
 *   - EPOLL_CTL_MOD and EPOLL_CTL_DEL in the child are seen by the parent (no event, MOD gives
 *     ENOENT)
 *   - EPOLLONESHOT disarmed by the child's wait is disarmed for the parent;
 *     an edge-triggered event is consumed once
 *   - dup/dup3/F_DUPFD_CLOEXEC of the epoll fd: ctl through one, wait
 *     through the other, EEXIST across them, close of the original
 *   - an item whose fd was closed while a dup (or a fork child's copy) of
 *     the socket remains is still reported; it goes with the last reference
 *   - a child that added an item is killed with SIGKILL: the item stays
 *   - exec with the epoll fd kept: the new image waits and adds; with
 *     EPOLL_CLOEXEC it is gone there (EBADF) and the parent's lives
 *   - the epoll fd passed with SCM_RIGHTS to a process that had none
 *   - epoll_pwait2 (do_epoll_pwait2): a timespec timeout, NULL for none,
 *     EFAULT / EINVAL for a bad one before the fd is looked at
 *   - 64 connections in one instance, a few active each round: exactly
 *     those are reported, a peer's close wakes an idle item, and so does
 *     a reader making room for a full writer's EPOLLOUT item
 *   - the ready list (ep_send_events): level-triggered turns, leftovers
 *     beyond maxevents, a closed socket's item, more watchers than a
 *     socket has slots, hundreds of idle items, the order items became
 *     ready in, and waits while two other processes keep waking items
 * Results are event counts, masks and data tags, never fds or times.
 * The program re-executes itself (argv[1] = "exec-child") for the exec case.
 */
#include "tsock.h"
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/wait.h>

static const char *mask_name(unsigned m) {
    static const struct ts_bit f[] = {{EPOLLIN, "IN"},   {EPOLLPRI, "PRI"}, {EPOLLOUT, "OUT"},
                                      {EPOLLERR, "ERR"}, {EPOLLHUP, "HUP"}, {EPOLLRDHUP, "RDHUP"}};
    return ts_bits(m, f, sizeof f / sizeof f[0]);
}

/* An epoll_wait result as text: "= n tag:MASK ..." with the tags in
 * increasing order, or "-1 ENAME". */
static const char *events_text(int n, struct epoll_event *out) {
    static char bufs[4][256];
    static int i;
    char *b = bufs[i++ & 3];
    if (n < 0) {
        snprintf(b, 256, "-1 %s", tc_errname(errno));
        return b;
    }
    for (int x = 0; x < n; x++)
        for (int y = x + 1; y < n; y++)
            if (out[y].data.u64 < out[x].data.u64) {
                struct epoll_event t = out[x];
                out[x] = out[y];
                out[y] = t;
            }
    int len = snprintf(b, 256, "= %d", n);
    for (int x = 0; x < n; x++)
        len += snprintf(b + len, 256 - len, " %llu:%s", (unsigned long long)out[x].data.u64, mask_name(out[x].events));
    return b;
}

static const char *waits(int ep, int ms) {
    struct epoll_event out[8];
    return events_text(epoll_wait(ep, out, 8, ms), out);
}

static int add(int ep, int fd, unsigned events, unsigned long long tag) {
    struct epoll_event e = {.events = events, .data.u64 = tag};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static int mod(int ep, int fd, unsigned events, unsigned long long tag) {
    struct epoll_event e = {.events = events, .data.u64 = tag};
    return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
}

/* A connected pair: 0 an AF_UNIX socketpair, 1 TCP over 127.0.0.1. */
static void pair_of(int kind, int *c, int *s) {
    if (kind == 0) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) tc_die("socketpair");
        *c = sv[0];
        *s = sv[1];
        return;
    }
    ts_pair(TS_INET, c, s);
}
static const char *const kinds[] = {"socketpair", "tcp"};

static void drain(int fd) {
    char b[64];
    while (recv(fd, b, sizeof b, MSG_DONTWAIT) > 0) {
    }
}

/* A child's report: a line through a pipe, printed by the parent. */
static void report(int wfd, const char *s) {
    size_t n = strlen(s);
    if (write(wfd, s, n) != (ssize_t)n) _exit(3);
}

static void print_child(const char *name, int rfd, pid_t pid) {
    char b[256];
    ssize_t n = ts_read_full(rfd, b, sizeof b - 1);
    b[n < 0 ? 0 : n] = 0;
    int st;
    waitpid(pid, &st, 0);
    tc_printf(name, "%s%s", b, WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "" : " (child failed)");
    close(rfd);
}

static const char *self_path;

static void fork_cases(int kind) {
    const char *k = kinds[kind];
    int c, s, c2, s2, pp[2];
    char b[8];

    /* fork after ADD: the child's epoll_wait sees data the parent sends. */
    pair_of(kind, &c, &s);
    int ep = epoll_create1(0);
    add(ep, c, EPOLLIN, 1);
    if (pipe(pp) < 0) tc_die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(pp[0]);
        report(pp[1], waits(ep, 3000));
        _exit(0);
    }
    close(pp[1]);
    ts_msleep(20);
    ts_write_full(s, "x", 1);
    print_child(ts_name("%s/fork/child-sees-data", k), pp[0], pid);
    tc_printf(ts_name("%s/fork/parent-sees-data", k), "%s", waits(ep, 0));
    drain(c);

    /* The child adds a socket and exits: the parent's wait reports it. */
    pair_of(kind, &c2, &s2);
    pid = fork();
    if (pid == 0) {
        _exit(add(ep, c2, EPOLLIN, 2) < 0 ? 1 : 0);
    }
    int st;
    waitpid(pid, &st, 0);
    TC_VAL(ts_name("%s/fork/child-add-status", k), WEXITSTATUS(st));
    ts_write_full(s2, "y", 1);
    ts_msleep(10);
    tc_printf(ts_name("%s/fork/child-added-seen", k), "%s", waits(ep, 1000));
    TC_SYS(ts_name("%s/fork/child-added-eexist", k), add(ep, c2, EPOLLIN, 2));
    drain(c2);
    tc_printf(ts_name("%s/fork/drained", k), "%s", waits(ep, 0));

    /* The child modifies it: the parent sees the new events and data. */
    pid = fork();
    if (pid == 0) {
        _exit(mod(ep, c2, EPOLLIN | EPOLLOUT, 12) < 0 ? 1 : 0);
    }
    waitpid(pid, &st, 0);
    TC_VAL(ts_name("%s/fork/child-mod-status", k), WEXITSTATUS(st));
    tc_printf(ts_name("%s/fork/child-modified", k), "%s", waits(ep, 0));
    TC_SYS(ts_name("%s/fork/parent-mod-back", k), mod(ep, c2, EPOLLIN, 2));
    tc_printf(ts_name("%s/fork/parent-modified", k), "%s", waits(ep, 0));

    /* The child deletes it: the parent sees no event and MOD gives ENOENT. */
    pid = fork();
    if (pid == 0) {
        _exit(epoll_ctl(ep, EPOLL_CTL_DEL, c2, NULL) < 0 ? 1 : 0);
    }
    waitpid(pid, &st, 0);
    TC_VAL(ts_name("%s/fork/child-del-status", k), WEXITSTATUS(st));
    ts_write_full(s2, "y", 1);
    tc_printf(ts_name("%s/fork/child-deleted", k), "%s", waits(ep, 100));
    TC_SYS(ts_name("%s/fork/child-deleted-mod", k), mod(ep, c2, EPOLLIN, 2));
    TC_SYS(ts_name("%s/fork/child-deleted-del", k), epoll_ctl(ep, EPOLL_CTL_DEL, c2, NULL));
    drain(c2);
    close(c2);
    close(s2);
    close(ep);

    /* A sleeping parent is woken by the child's ADD of a ready socket. */
    ep = epoll_create1(0);
    pair_of(kind, &c2, &s2);
    ts_write_full(s2, "z", 1);
    pid = fork();
    if (pid == 0) {
        ts_msleep(100);
        _exit(add(ep, c2, EPOLLIN, 7) < 0 ? 1 : 0);
    }
    tc_printf(ts_name("%s/fork/sleeper-woken-by-child-add", k), "%s", waits(ep, 3000));
    waitpid(pid, &st, 0);
    close(c2);
    close(s2);
    close(ep);

    /* EPOLLONESHOT: the child's wait disarms it for the parent too. */
    ep = epoll_create1(0);
    add(ep, c, EPOLLIN | EPOLLONESHOT, 3);
    ts_write_full(s, "a", 1);
    if (pipe(pp) < 0) tc_die("pipe");
    pid = fork();
    if (pid == 0) {
        close(pp[0]);
        report(pp[1], waits(ep, 3000));
        _exit(0);
    }
    close(pp[1]);
    print_child(ts_name("%s/oneshot/child-gets-it", k), pp[0], pid);
    tc_printf(ts_name("%s/oneshot/parent-disarmed", k), "%s", waits(ep, 50));
    TC_SYS(ts_name("%s/oneshot/parent-rearm", k), mod(ep, c, EPOLLIN | EPOLLONESHOT, 4));
    tc_printf(ts_name("%s/oneshot/parent-rearmed", k), "%s", waits(ep, 0));
    tc_printf(ts_name("%s/oneshot/parent-again", k), "%s", waits(ep, 0));
    drain(c);

    /* Edge-triggered: consumed once, by whichever wait gets it. */
    TC_SYS(ts_name("%s/et/mod", k), mod(ep, c, EPOLLIN | EPOLLET, 5));
    drain(c);
    ts_write_full(s, "b", 1);
    if (pipe(pp) < 0) tc_die("pipe");
    pid = fork();
    if (pid == 0) {
        close(pp[0]);
        report(pp[1], waits(ep, 3000));
        _exit(0);
    }
    close(pp[1]);
    print_child(ts_name("%s/et/child-gets-edge", k), pp[0], pid);
    tc_printf(ts_name("%s/et/parent-none-left", k), "%s", waits(ep, 50));
    ts_write_full(s, "c", 1);
    tc_printf(ts_name("%s/et/parent-new-edge", k), "%s", waits(ep, 1000));
    drain(c);
    close(ep);

    /* A child that added an item is killed: item and instance live on. */
    ep = epoll_create1(0);
    pair_of(kind, &c2, &s2);
    int ready[2];
    if (pipe(ready) < 0) tc_die("pipe");
    pid = fork();
    if (pid == 0) {
        close(ready[0]);
        int r = add(ep, c2, EPOLLIN, 8);
        if (write(ready[1], r < 0 ? "n" : "y", 1) != 1) _exit(1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    char yn = '?';
    if (read(ready[0], &yn, 1) != 1) tc_die("read");
    close(ready[0]);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    TC_FACT(ts_name("%s/kill/child-added", k), yn == 'y');
    ts_msleep(120);
    tc_printf(ts_name("%s/kill/before-data", k), "%s", waits(ep, 120));
    ts_write_full(s2, "k", 1);
    tc_printf(ts_name("%s/kill/item-survives", k), "%s", waits(ep, 1000));
    TC_SYS(ts_name("%s/kill/del", k), epoll_ctl(ep, EPOLL_CTL_DEL, c2, NULL));
    close(ep);
    close(c2);
    close(s2);

    /* The child closes its copy of the epoll fd: the parent's is intact. */
    ep = epoll_create1(0);
    add(ep, c, EPOLLIN, 6);
    pid = fork();
    if (pid == 0) {
        close(ep);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    ts_write_full(s, "d", 1);
    tc_printf(ts_name("%s/fork/child-closed-epfd", k), "%s", waits(ep, 1000));
    drain(c);
    close(ep);
    close(c);
    close(s);
    (void)b;
}

static void dup_cases(int kind) {
    const char *k = kinds[kind];
    int c, s;
    pair_of(kind, &c, &s);
    int ep = epoll_create1(0);
    int ep2 = dup(ep);
    TC_SYS(ts_name("%s/dup/add-via-dup", k), add(ep2, c, EPOLLIN, 1));
    TC_SYS(ts_name("%s/dup/add-again-via-orig", k), add(ep, c, EPOLLIN, 1));
    TC_SYS(ts_name("%s/dup/add-again-via-dup", k), add(ep2, c, EPOLLIN, 1));
    ts_write_full(s, "x", 1);
    tc_printf(ts_name("%s/dup/wait-via-orig", k), "%s", waits(ep, 1000));
    int ep3 = fcntl(ep, F_DUPFD_CLOEXEC, 40);
    TC_SYS(ts_name("%s/dup/mod-via-fdupfd", k), mod(ep3, c, EPOLLIN, 2));
    tc_printf(ts_name("%s/dup/wait-via-dup", k), "%s", waits(ep2, 0));
    close(ep);
    tc_printf(ts_name("%s/dup/after-close-orig", k), "%s", waits(ep2, 0));
    int ep4 = dup3(ep3, 60, O_CLOEXEC);
    close(ep2);
    close(ep3);
    tc_printf(ts_name("%s/dup/dup3-last-one", k), "%s", waits(ep4, 0));
    TC_SYS(ts_name("%s/dup/del-via-dup3", k), epoll_ctl(ep4, EPOLL_CTL_DEL, c, NULL));
    tc_printf(ts_name("%s/dup/after-del", k), "%s", waits(ep4, 0));
    /* dup2 onto an epoll fd drops that fd's reference only. */
    int other = epoll_create1(0);
    TC_SYS(ts_name("%s/dup/add-other", k), add(other, c, EPOLLIN, 9));
    int keep = dup(other);
    TC_SYS(ts_name("%s/dup/dup2-over", k), dup2(ep4, other) < 0 ? -1 : 0);
    tc_printf(ts_name("%s/dup/dup2-now-names-ep4", k), "%s", waits(other, 0));
    tc_printf(ts_name("%s/dup/kept-copy", k), "%s", waits(keep, 0));
    close(keep);
    close(other);
    close(ep4);
    drain(c);

    /* An item whose fd was closed while a dup of the socket remains stays. */
    ep = epoll_create1(0);
    int cd = dup(c);
    add(ep, c, EPOLLIN, 3);
    close(c);
    ts_write_full(s, "y", 1);
    tc_printf(ts_name("%s/closed-fd/dup-holds-file", k), "%s", waits(ep, 1000));
    TC_SYS(ts_name("%s/closed-fd/add-the-dup", k), add(ep, cd, EPOLLIN, 4));
    tc_printf(ts_name("%s/closed-fd/both-items", k), "%s", waits(ep, 0));
    TC_SYS(ts_name("%s/closed-fd/del-the-dup", k), epoll_ctl(ep, EPOLL_CTL_DEL, cd, NULL));
    close(cd);
    tc_printf(ts_name("%s/closed-fd/last-ref-gone", k), "%s", waits(ep, 50));
    close(ep);
    close(s);

    /* The same with the other reference in a fork child. */
    pair_of(kind, &c, &s);
    ep = epoll_create1(0);
    add(ep, c, EPOLLIN, 5);
    int go[2];
    if (pipe(go) < 0) tc_die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(go[1]);
        char b;
        ssize_t r = read(go[0], &b, 1);
        _exit(r < 0);
    }
    close(go[0]);
    close(c);
    ts_write_full(s, "z", 1);
    tc_printf(ts_name("%s/closed-fd/child-holds-file", k), "%s", waits(ep, 1000));
    close(go[1]);
    int st;
    waitpid(pid, &st, 0);
    tc_printf(ts_name("%s/closed-fd/child-gone", k), "%s", waits(ep, 50));
    close(ep);
    close(s);
}

/* Forks a child that execs this program as "exec-child EP C3 W": it
 * inherits epoll fd `ep` and socket `c3` and reports on pipe `pp` (whose
 * read end the parent keeps). */
static pid_t spawn_exec_child(int ep, int c3, int pp[2]) {
    if (pipe(pp) < 0) tc_die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(pp[0]);
        char a1[16], a2[16], a3[16];
        snprintf(a1, sizeof a1, "%d", ep);
        snprintf(a2, sizeof a2, "%d", c3);
        snprintf(a3, sizeof a3, "%d", pp[1]);
        char *args[] = {(char *)self_path, "exec-child", a1, a2, a3, NULL};
        execv(self_path, args);
        _exit(4);
    }
    close(pp[1]);
    return pid;
}

/* exec: the epoll fd and the sockets survive; the new image waits on the
 * same instance and adds to it. */
static void exec_cases(int kind) {
    const char *k = kinds[kind];
    int c, s, c3, s3, pp[2];
    pair_of(kind, &c, &s);
    pair_of(kind, &c3, &s3);
    int ep = epoll_create(4);
    add(ep, c, EPOLLIN, 1);
    ts_write_full(s, "x", 1);
    pid_t pid = spawn_exec_child(ep, c3, pp);
    print_child(ts_name("%s/exec/child-sees-data", k), pp[0], pid);
    ts_write_full(s3, "y", 1);
    tc_printf(ts_name("%s/exec/child-added-seen", k), "%s", waits(ep, 1000));
    close(ep);

    /* An EPOLL_CLOEXEC epoll fd is gone in the new image; the parent's lives. */
    ep = epoll_create1(EPOLL_CLOEXEC);
    add(ep, c, EPOLLIN, 1);
    pid = spawn_exec_child(ep, c3, pp);
    print_child(ts_name("%s/exec/cloexec-child", k), pp[0], pid);
    tc_printf(ts_name("%s/exec/cloexec-parent", k), "%s", waits(ep, 0));
    close(ep);
    close(c);
    close(s);
    close(c3);
    close(s3);
}

static int exec_child(int argc, char **argv) {
    if (argc < 5) return 5;
    int ep = atoi(argv[2]), c3 = atoi(argv[3]), w = atoi(argv[4]);
    char b[300];
    snprintf(b, sizeof b, "%s, add %s", waits(ep, 3000), add(ep, c3, EPOLLIN, 3) < 0 ? tc_errname(errno) : "ok");
    report(w, b);
    return 0;
}

/* SCM_RIGHTS: a process that had no copy of the epoll fd receives one. */
static void scm_cases(int kind) {
    const char *k = kinds[kind];
    int ch[2], pp[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, ch) < 0) tc_die("socketpair");
    if (pipe(pp) < 0) tc_die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(ch[0]);
        close(pp[0]);
        char byte;
        char cbuf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {&byte, 1};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
        if (recvmsg(ch[1], &m, 0) != 1) _exit(6);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        if (!cm || cm->cmsg_type != SCM_RIGHTS) _exit(7);
        int ep;
        memcpy(&ep, CMSG_DATA(cm), sizeof ep);
        report(pp[1], waits(ep, 3000));
        _exit(0);
    }
    close(ch[1]);
    close(pp[1]);
    int c, s;
    pair_of(kind, &c, &s);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    add(ep, c, EPOLLIN, 8);
    char byte = 'e';
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {&byte, 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &ep, sizeof ep);
    if (sendmsg(ch[0], &m, 0) != 1) tc_die("sendmsg");
    ts_msleep(50);
    ts_write_full(s, "q", 1);
    print_child(ts_name("%s/scm/receiver-sees-data", k), pp[0], pid);
    close(ch[0]);
    close(ep);
    close(c);
    close(s);
}

/* epoll_pwait2 as text, as waits() gives epoll_wait. */
static const char *waits2(int ep, const struct timespec *ts) {
    struct epoll_event out[8];
    return events_text(epoll_pwait2(ep, out, 8, ts, NULL), out);
}

static void pwait2_cases(int kind) {
    const char *k = kinds[kind];
    int c, s;
    pair_of(kind, &c, &s);
    int ep = epoll_create1(0);
    add(ep, c, EPOLLIN, 7);
    struct timespec zero = {0, 0}, short_ = {0, 20 * 1000 * 1000}, bad_ns = {0, 1000000000}, neg = {-1, 0};
    tc_printf(ts_name("%s/pwait2/zero-nothing", k), "%s", waits2(ep, &zero));
    tc_printf(ts_name("%s/pwait2/20ms-nothing", k), "%s", waits2(ep, &short_));
    tc_printf(ts_name("%s/pwait2/bad-nsec", k), "%s", waits2(ep, &bad_ns));
    tc_printf(ts_name("%s/pwait2/negative", k), "%s", waits2(ep, &neg));
    tc_printf(ts_name("%s/pwait2/bad-pointer", k), "%s", waits2(ep, (const struct timespec *)1));
    tc_printf(ts_name("%s/pwait2/bad-pointer-bad-fd", k), "%s", waits2(-1, (const struct timespec *)1));
    tc_printf(ts_name("%s/pwait2/bad-fd", k), "%s", waits2(-1, &zero));
    tc_printf(ts_name("%s/pwait2/not-epoll", k), "%s", waits2(c, &zero));
    ts_write_full(s, "x", 1);
    tc_printf(ts_name("%s/pwait2/null-ready", k), "%s", waits2(ep, NULL));
    tc_printf(ts_name("%s/pwait2/zero-ready", k), "%s", waits2(ep, &zero));
    /* A kernel-only instance (a pipe): the kernel's own call. */
    int p[2];
    if (pipe(p) < 0) tc_die("pipe");
    int ep2 = epoll_create1(0);
    add(ep2, p[0], EPOLLIN, 9);
    tc_printf(ts_name("%s/pwait2/kernel-only-nothing", k), "%s", waits2(ep2, &short_));
    if (write(p[1], "x", 1) != 1) tc_die("write");
    tc_printf(ts_name("%s/pwait2/kernel-only-ready", k), "%s", waits2(ep2, NULL));
    close(p[0]);
    close(p[1]);
    close(ep2);
    close(ep);
    close(c);
    close(s);
}

/* n connected pairs, each server end s[i] in ep with tag i; and their close. */
static void open_pairs(int kind, int n, int *c, int *s, int ep, unsigned events) {
    for (int i = 0; i < n; i++) {
        pair_of(kind, &c[i], &s[i]);
        add(ep, s[i], events, (unsigned long long)i);
    }
}

static void close_pairs(int n, const int *c, const int *s) {
    for (int i = 0; i < n; i++) {
        close(c[i]);
        close(s[i]);
    }
}

/* Many connections in one instance, few of them active at a time: each
 * round writes to a different subset, and epoll_wait must report exactly
 * that subset (the idle items are skipped until their socket is woken);
 * after a drain nothing is ready; a peer closing wakes its item. */
#define MANY 64
static int many_wanted(int i, int round) { return (i * 7 + round * 13) % 5 == 0; }
static void many_cases(int kind) {
    const char *k = kinds[kind];
    int c[MANY], s[MANY];
    int ep = epoll_create1(0);
    open_pairs(kind, MANY, c, s, ep, EPOLLIN | EPOLLRDHUP);
    int exact = 1, idle = 1;
    for (int round = 0; round < 20; round++) {
        int want = 0, got = 0, seen[MANY] = {0};
        for (int i = 0; i < MANY; i++)
            if (many_wanted(i, round)) {
                ts_write_full(c[i], "x", 1);
                want++;
            }
        /* Loopback delivery may lag the write a little: gather until all
         * came or a second passed. (Zero timeouts: a wait that sleeps
         * would rescan every item when it ends.) */
        for (int tries = 0; got < want && tries < 1000; tries++) {
            struct epoll_event out[MANY];
            if (tries) ts_msleep(1);
            int n = epoll_wait(ep, out, MANY, 0);
            for (int x = 0; x < n; x++) {
                int i = (int)out[x].data.u64;
                if (i < 0 || i >= MANY || !many_wanted(i, round) || out[x].events != EPOLLIN) exact = 0;
                else if (!seen[i]) {
                    seen[i] = 1;
                    got++;
                }
            }
        }
        if (got != want) exact = 0;
        for (int i = 0; i < MANY; i++)
            if (many_wanted(i, round)) drain(s[i]);
        struct epoll_event out[MANY];
        if (epoll_wait(ep, out, MANY, 0) != 0) idle = 0;
    }
    tc_printf(ts_name("%s/many/rounds", k), "exactly the written ones: %s, none after the drain: %s", (exact ? "yes" : "no"), (idle ? "yes" : "no"));
    for (int i = 0; i < MANY; i += 9) close(c[i]);
    int closed_ok = 1, got = 0;
    unsigned masks = 0;
    for (int tries = 0; got < (MANY + 8) / 9 && tries < 1000; tries++) {
        struct epoll_event out[MANY];
        if (tries) ts_msleep(1);
        int n = epoll_wait(ep, out, MANY, 0);
        for (int x = 0; x < n; x++) {
            if (out[x].data.u64 % 9 != 0) closed_ok = 0;
            masks |= out[x].events;
        }
        if (n > 0) got = n;
    }
    tc_printf(ts_name("%s/many/peer-closed", k), "= %d, only the closed ones: %s, events %s", got, (closed_ok ? "yes" : "no"),
              mask_name(masks));
    /* A full writer's EPOLLOUT item goes quiet; the reader draining the
     * queue wakes it. */
    int ep2 = epoll_create1(0), w = c[1], r = s[1];
    add(ep2, w, EPOLLOUT, 1);
    int fl = fcntl(w, F_GETFL);
    fcntl(w, F_SETFL, fl | O_NONBLOCK);
    static char junk[65536];
    while (send(w, junk, sizeof junk, MSG_DONTWAIT) > 0) {
    }
    struct epoll_event o[2];
    int full = epoll_wait(ep2, o, 2, 0);
    ts_msleep(20);
    full += epoll_wait(ep2, o, 2, 0);
    drain(r);
    int again = 0;
    for (int tries = 0; again <= 0 && tries < 1000; tries++) {
        if (tries) ts_msleep(1);
        drain(r);
        again = epoll_wait(ep2, o, 2, 0);
    }
    tc_printf(ts_name("%s/many/writable-again", k), "full: %d, drained: %s", full,
              again == 1 ? mask_name(o[0].events) : "nothing");
    close(ep2);
    for (int i = 0; i < MANY; i++) {
        if (i % 9) close(c[i]);
        close(s[i]);
    }
    close(ep);
}

/* The order of the ready list: items in the order they became ready (not
 * the order they were added); reported level-triggered ones go to the
 * back in that order, leftovers beyond maxevents stay in front, and an item
 * already on the list that is woken again keeps its place. */
/* The tags of an epoll_wait's events, in the order it returned them. */
static const char *in_order(int ep, int max) {
    static char b[128];
    struct epoll_event out[8];
    int n = epoll_wait(ep, out, max, 0);
    int len = snprintf(b, sizeof b, "= %d:", n);
    for (int x = 0; x < n && len < (int)sizeof b; x++)
        len += snprintf(b + len, sizeof b - (size_t)len, " %llu", (unsigned long long)out[x].data.u64);
    return b;
}

static void ready_order_cases(int kind) {
    const char *k = kinds[kind];
    int c[4], s[4];
    int ep = epoll_create1(0);
    open_pairs(kind, 4, c, s, ep, EPOLLIN);
    static const int order[4] = {2, 0, 3, 1};
    for (int i = 0; i < 4; i++) {
        ts_write_full(c[order[i]], "x", 1);
        ts_msleep(2);
    }
    tc_printf(ts_name("%s/ready-order/woken", k), "%s", in_order(ep, 8));
    tc_printf(ts_name("%s/ready-order/two-of-four", k), "%s", in_order(ep, 2));
    ts_write_full(c[0], "y", 1);
    ts_msleep(2);
    tc_printf(ts_name("%s/ready-order/woken-again", k), "%s", in_order(ep, 8));
    close_pairs(4, c, s);
    close(ep);
}

/* epoll_wait while another process keeps waking the items: two writers
 * fork off and write 1 byte at a time, round robin over 32 connections,
 * while the parent waits and drains; every byte arrives and no wait fails. */
#define BUSY 32
static void busy_cases(int kind) {
    const char *k = kinds[kind];
    int c[BUSY], s[BUSY];
    int ep = epoll_create1(0);
    open_pairs(kind, BUSY, c, s, ep, EPOLLIN);
    const int per = 10000;
    pid_t w[2];
    for (int j = 0; j < 2; j++) {
        w[j] = fork();
        if (w[j] < 0) tc_die("fork");
        if (w[j] == 0) {
            for (int n = 0; n < per; n++) ts_write_full(c[(n * 5 + j) % BUSY], "b", 1);
            _exit(0);
        }
    }
    long got = 0, failed = 0;
    for (int tries = 0; got < 2L * per && tries < 20000; tries++) {
        struct epoll_event out[BUSY];
        int n = epoll_wait(ep, out, BUSY, 100);
        if (n < 0) {
            if (errno != EINTR) failed++;
            continue;
        }
        for (int x = 0; x < n; x++) {
            char b[256];
            ssize_t r;
            while ((r = recv(s[out[x].data.u64], b, sizeof b, MSG_DONTWAIT)) > 0) got += r;
        }
    }
    for (int j = 0; j < 2; j++) waitpid(w[j], NULL, 0);
    tc_printf(ts_name("%s/busy/two-writers", k), "bytes: %ld of %d, failed waits: %ld", got, 2 * per, failed);
    close_pairs(BUSY, c, s);
    close(ep);
}

/* The ready list's turns and leftovers (ep_send_events): a reported
 * level-triggered item goes to the back, so with maxevents 1 three ready
 * items take turns; ready items beyond maxevents are reported by the next
 * call, edge-triggered ones once; a closed socket's item is gone, and a
 * new socket on the same fd number is a new item; hundreds of idle items do
 * not hide the one that is woken. */
#define IDLE 400
static void ready_list_cases(int kind) {
    const char *k = kinds[kind];
    int c[4], s[4];
    int ep = epoll_create1(0);
    for (int i = 0; i < 3; i++) {
        pair_of(kind, &c[i], &s[i]);
        add(ep, s[i], EPOLLIN, (unsigned long long)i);
        ts_write_full(c[i], "x", 1);
    }
    ts_msleep(20);
    char turns[64] = "";
    for (int r = 0; r < 7; r++) {
        struct epoll_event e;
        int n = epoll_wait(ep, &e, 1, 0);
        size_t l = strlen(turns);
        if (n == 1)
            snprintf(turns + l, sizeof turns - l, "%s%llu", r ? " " : "", (unsigned long long)e.data.u64);
        else
            snprintf(turns + l, sizeof turns - l, "%s-", r ? " " : "");
    }
    tc_printf(ts_name("%s/ready-list/level-turns", k), "%s", turns);
    close(ep);
    ep = epoll_create1(0);
    pair_of(kind, &c[3], &s[3]);
    for (int i = 0; i < 4; i++) {
        drain(s[i]);
        add(ep, s[i], EPOLLIN | EPOLLET, (unsigned long long)i);
        ts_write_full(c[i], "y", 1);
    }
    ts_msleep(20);
    struct epoll_event out[8];
    int a = epoll_wait(ep, out, 2, 0);
    int b = epoll_wait(ep, out + 2, 2, 0);
    int z = epoll_wait(ep, out + 4, 4, 0);
    unsigned seen = 0;
    for (int i = 0; i < a + b && i < 4; i++) seen |= 1u << out[i].data.u64;
    tc_printf(ts_name("%s/ready-list/edge-leftovers", k), "%d then %d then %d, all four: %s", a, b, z,
              seen == 15 ? "yes" : "no");
    /* Close s[0] (the last reference) with data queued: its item goes. */
    int fd0 = s[0];
    ts_write_full(c[0], "z", 1);
    close(s[0]);
    ts_msleep(20);
    tc_printf(ts_name("%s/ready-list/closed", k), "after close: %s", waits(ep, 0));
    int c5, s5;
    pair_of(kind, &c5, &s5);
    if (c5 == fd0) { /* either end will do: the one on fd0 is watched */
        int t = c5;
        c5 = s5;
        s5 = t;
    }
    if (s5 != fd0) {
        if (dup2(s5, fd0) < 0) tc_die("dup2");
        close(s5);
        s5 = fd0;
    }
    tc_printf(ts_name("%s/ready-list/same-fd-again", k), "add: %d, then %s", add(ep, s5, EPOLLIN, 5), waits(ep, 0));
    ts_write_full(c5, "w", 1);
    ts_msleep(20);
    tc_printf(ts_name("%s/ready-list/same-fd-woken", k), "%s", waits(ep, 0));
    close(ep);
    close(c5);
    close(s5);
    for (int i = 0; i < 4; i++) {
        close(c[i]);
        if (i) close(s[i]);
    }
    /* Nine instances watching one socket, more than a socket's wait queue
     * has watcher slots (the shim polls the rest at every wait): odd ones
     * edge-triggered. */
    {
        int a, b, e9[9], sum[5] = {0};
        pair_of(kind, &a, &b);
        for (int i = 0; i < 9; i++) {
            e9[i] = epoll_create1(0);
            add(e9[i], b, EPOLLIN | (i % 2 ? EPOLLET : 0), (unsigned long long)i);
        }
        struct epoll_event o[2];
        for (int i = 0; i < 9; i++) sum[0] += epoll_wait(e9[i], o, 2, 0);
        ts_write_full(a, "n", 1);
        for (int i = 0; i < 9; i++) sum[1] += epoll_wait(e9[i], o, 2, 3000);
        for (int i = 0; i < 9; i++) sum[2] += epoll_wait(e9[i], o, 2, 0);
        drain(b);
        for (int i = 0; i < 9; i++) sum[3] += epoll_wait(e9[i], o, 2, 0);
        ts_write_full(a, "m", 1);
        for (int i = 0; i < 9; i++) sum[4] += epoll_wait(e9[i], o, 2, 3000);
        tc_printf(ts_name("%s/ready-list/nine-instances", k), "idle %d, written %d, again %d, drained %d, written %d",
                  sum[0], sum[1], sum[2], sum[3], sum[4]);
        for (int i = 0; i < 9; i++) close(e9[i]);
        close(a);
        close(b);
    }
    /* Many idle items and one woken, more than once. */
    static int ic[IDLE], is[IDLE];
    ep = epoll_create1(0);
    open_pairs(kind, IDLE, ic, is, ep, EPOLLIN);
    int right = 0;
    for (int r = 0; r < 10; r++) {
        int who = (r * 397) % IDLE;
        ts_write_full(ic[who], "v", 1);
        struct epoll_event e[4];
        int n = epoll_wait(ep, e, 4, 3000);
        if (n == 1 && e[0].data.u64 == (unsigned long long)who && e[0].events == EPOLLIN) right++;
        drain(is[who]);
        if (epoll_wait(ep, e, 4, 0) != 0) right = -100;
    }
    tc_printf(ts_name("%s/ready-list/idle-%d", k, IDLE), "the woken one, 10 times: %d", right);
    close_pairs(IDLE, ic, is);
    close(ep);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0) return exec_child(argc, argv);
    ts_init("t_epoll");
    alarm(60);
    signal(SIGPIPE, SIG_IGN);
    static char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) tc_die("readlink");
    exe[n] = 0;
    self_path = exe;
    for (int k = 0; k < 2; k++) {
        fork_cases(k);
        dup_cases(k);
        exec_cases(k);
        scm_cases(k);
        pwait2_cases(k);
        many_cases(k);
        ready_list_cases(k);
        ready_order_cases(k);
        busy_cases(k);
    }
    return tc_done();
}
