/* t_process.c: sockets across the process model, for AF_INET (127.0.0.1),
 * AF_UNIX paths and abstract names:
 *   - fork: both processes hold the connection; the peer sees EOF only when
 *     the last holder closes; forked workers accept on one listener
 *   - exec: fds without FD_CLOEXEC survive with their identity (same socket,
 *     same name, same peer), FD_CLOEXEC / SOCK_CLOEXEC ones are closed;
 *     vfork + exec and posix_spawn (with a dup2 file action) likewise
 *   - threads: many threads use sockets of one process at once
 *   - close_range / closefrom, and CLOSE_RANGE_CLOEXEC
 *   - SIGKILL: the peers of a killed process see EOF (or ECONNRESET where it
 *     left data unread) within 100 ms; its abstract names and ports are
 *     released, its path stays in the filesystem but refuses connections
 *   - 1,000 processes killed with SIGKILL while holding sockets and names:
 *     every one of them could still create, bind and listen (no slot of a
 *     killed process is lost)
 * The program re-executes itself (argv[1] = "exec-child") for the exec cases.
 */
#include "tsock.h"
#include <pthread.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>

extern char **environ;

static const char *self_path;

/* ---- the exec'd child ----
 * argv: self exec-child <fd kept> <fd cloexec> <name length>
 * Writes one report line into <fd kept>: "<kept ok> <sockopt ok> <cloexec
 * closed> <name same>" as 0/1 digits, then exits 0. */
static int exec_child(int argc, char **argv) {
    if (argc < 5) return 3;
    int kept = atoi(argv[2]), gone = atoi(argv[3]);
    socklen_t want_len = (socklen_t)atoi(argv[4]);
    int kept_ok = fcntl(kept, F_GETFD) >= 0;
    int type = 0;
    socklen_t tl = sizeof type;
    int opt_ok = getsockopt(kept, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM;
    int gone_ok = gone < 0 || (fcntl(gone, F_GETFD) < 0 && errno == EBADF);
    struct sockaddr_storage a;
    socklen_t al = sizeof a;
    int name_ok = getsockname(kept, (struct sockaddr *)&a, &al) == 0 && al == want_len;
    char line[32];
    int n = snprintf(line, sizeof line, "%d%d%d%d", kept_ok, opt_ok, gone_ok, name_ok);
    if (write(kept, line, (size_t)n) != n) return 4;
    return 0;
}

/* Reads the child's report from s (within 2 s); "" when nothing came. */
static const char *report(int s) {
    static char buf[32];
    memset(buf, 0, sizeof buf);
    if (!ts_readable(s, 2000)) return "";
    ssize_t n = read(s, buf, sizeof buf - 1);
    if (n < 0) buf[0] = 0;
    return buf;
}

static socklen_t name_len(int fd) {
    struct sockaddr_storage a;
    socklen_t l = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &l) < 0) tc_die("getsockname");
    return l;
}

static int wait_exit(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) tc_die("waitpid");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- fork ---- */

static void fork_cases(enum ts_kind kind) {
    const char *k = ts_kind_names[kind];
    char buf[16];
    int c, s;
    ts_pair(kind, &c, &s);

    pid_t pid = fork();
    if (pid < 0) tc_die("fork");
    if (pid == 0) {
        /* The child talks over the inherited socket, then waits for "x". */
        if (write(c, "child", 5) != 5) _exit(1);
        char b[4];
        _exit(read(c, b, 1) == 1 ? 0 : 1);
    }
    TC_FACT(ts_name("fork/%s/child-writes", k), strcmp(report(s), "child") == 0);
    /* The parent closes its copy: the child still holds the connection. */
    close(c);
    TC_FACT(ts_name("fork/%s/no-eof-while-child-holds", k), !ts_readable(s, 50));
    TC_VAL(ts_name("fork/%s/send-to-child", k), write(s, "x", 1));
    TC_VAL(ts_name("fork/%s/child-exit", k), wait_exit(pid));
    TC_FACT(ts_name("fork/%s/eof-after-child-exit", k), ts_readable(s, 1000));
    TC_VAL(ts_name("fork/%s/read-eof", k), read(s, buf, sizeof buf));
    close(s);
}

/* Three forked workers accept on one listener; each serves one client. */
static void prefork_cases(enum ts_kind kind) {
    const char *k = ts_kind_names[kind];
    struct sockaddr_storage addr;
    socklen_t len;
    int l = ts_listener(kind, "prefork", &addr, &len);
    pid_t w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = fork();
        if (w[i] < 0) tc_die("fork");
        if (w[i] == 0) {
            int a = accept(l, NULL, NULL);
            if (a < 0) _exit(1);
            char b[8] = {0};
            if (read(a, b, sizeof b - 1) <= 0) _exit(1);
            _exit(write(a, "served", 6) == 6 ? 0 : 1);
        }
    }
    int served = 0;
    for (int i = 0; i < 3; i++) {
        int c = ts_connect(&addr, len);
        ts_write_full(c, "hi", 2);
        served += strcmp(report(c), "served") == 0;
        close(c);
    }
    int exits = 0;
    for (int i = 0; i < 3; i++) exits += wait_exit(w[i]) == 0;
    tc_printf(ts_name("prefork/%s/served", k), "%d of 3, workers exited 0: %d", served, exits);
    ts_close_listener(l, &addr);
}

/* ---- exec, vfork + exec, posix_spawn ---- */

enum how { BY_FORK, BY_VFORK, BY_SPAWN };
static const char *const how_names[] = {"fork-exec", "vfork-exec", "posix_spawn"};

static void exec_cases(enum ts_kind kind, enum how how) {
    const char *k = ts_kind_names[kind];
    int c, s, c2, s2;
    ts_pair(kind, &c, &s);
    ts_pair(kind, &c2, &s2);
    /* c is inherited; c2 is marked close-on-exec. */
    if (fcntl(c2, F_SETFD, FD_CLOEXEC) < 0) tc_die("fcntl");
    char a_kept[16], a_gone[16], a_len[16];
    int kept = c;
    if (how == BY_SPAWN) kept = 100; /* the child sees c at fd 100 (dup2 file action) */
    snprintf(a_kept, sizeof a_kept, "%d", kept);
    snprintf(a_gone, sizeof a_gone, "%d", c2);
    snprintf(a_len, sizeof a_len, "%u", (unsigned)name_len(c));
    char *args[] = {(char *)self_path, "exec-child", a_kept, a_gone, a_len, NULL};
    pid_t pid;
    if (how == BY_FORK) {
        pid = fork();
        if (pid == 0) {
            execv(self_path, args);
            _exit(127);
        }
    } else if (how == BY_VFORK) {
        pid = vfork();
        if (pid == 0) {
            execv(self_path, args);
            _exit(127);
        }
    } else {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, c, 100);
        if (posix_spawn(&pid, self_path, &fa, NULL, args, environ) != 0) pid = -1;
        posix_spawn_file_actions_destroy(&fa);
    }
    if (pid < 0) tc_die("spawn");
    const char *h = how_names[how];
    /* "1111": kept fd open, still a stream socket, cloexec one closed, same name. */
    tc_printf(ts_name("exec/%s/%s/child-report", h, k), "%s", report(s));
    TC_VAL(ts_name("exec/%s/%s/child-exit", h, k), wait_exit(pid));
    /* The close-on-exec copy went with the exec; the parent's stays: no EOF. */
    TC_FACT(ts_name("exec/%s/%s/cloexec-peer-no-eof", h, k), !ts_readable(s2, 50));
    close(c);
    TC_FACT(ts_name("exec/%s/%s/eof-after-last-close", h, k), ts_readable(s, 1000));
    close(s);
    close(c2);
    close(s2);
}

/* ---- threads ---- */

#define NTHREADS 8
#define NMSGS 200

struct thr {
    struct sockaddr_storage addr;
    socklen_t len;
    int ok;
};

static void *thread_client(void *p) {
    struct thr *t = p;
    int c = socket(t->addr.ss_family, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&t->addr, t->len) < 0) return NULL;
    int ok = 1;
    for (int i = 0; i < NMSGS && ok; i++) {
        char out[16], in[16];
        int n = snprintf(out, sizeof out, "m%05d", i);
        ok = write(c, out, (size_t)n) == n && ts_read_full(c, in, (size_t)n) == (size_t)n &&
             memcmp(in, out, (size_t)n) == 0;
    }
    close(c);
    t->ok = ok;
    return NULL;
}

static void *thread_server(void *p) {
    int a = (int)(long)p;
    char b[64];
    ssize_t n;
    while ((n = read(a, b, sizeof b)) > 0) ts_write_full(a, b, (size_t)n);
    close(a);
    return NULL;
}

static void thread_cases(enum ts_kind kind) {
    const char *k = ts_kind_names[kind];
    struct thr t[NTHREADS];
    pthread_t ct[NTHREADS], st[NTHREADS];
    struct sockaddr_storage addr;
    socklen_t len;
    int l = ts_listener(kind, "threads", &addr, &len);
    for (int i = 0; i < NTHREADS; i++) {
        t[i].addr = addr;
        t[i].len = len;
        t[i].ok = 0;
        pthread_create(&ct[i], NULL, thread_client, &t[i]);
    }
    for (int i = 0; i < NTHREADS; i++) {
        int a = accept(l, NULL, NULL);
        if (a < 0) tc_die("accept");
        pthread_create(&st[i], NULL, thread_server, (void *)(long)a);
    }
    int ok = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(ct[i], NULL);
        pthread_join(st[i], NULL);
        ok += t[i].ok;
    }
    tc_printf(ts_name("threads/%s/echo", k), "%d of %d clients got every echo", ok, NTHREADS);
    ts_close_listener(l, &addr);
}

/* ---- close_range / closefrom ---- */

/* Three connected pairs whose client ends sit at consecutive fds from `at`. */
static void three_at(enum ts_kind kind, int at, int srv[3]) {
    for (int i = 0; i < 3; i++) {
        int c, s;
        ts_pair(kind, &c, &s);
        if (dup2(c, at + i) < 0) tc_die("dup2");
        close(c);
        srv[i] = s;
    }
}

static int all_badf(int at) {
    int n = 0;
    for (int i = 0; i < 3; i++) n += fcntl(at + i, F_GETFD) < 0 && errno == EBADF;
    return n == 3;
}

static int all_eof(const int srv[3]) {
    int n = 0;
    for (int i = 0; i < 3; i++) n += ts_readable(srv[i], 1000);
    return n == 3;
}

static void close_range_cases(enum ts_kind kind) {
    const char *k = ts_kind_names[kind];
    int srv[3];
    three_at(kind, 200, srv);
    TC_SYS(ts_name("close_range/%s/close", k), syscall(SYS_close_range, 200u, 202u, 0u));
    TC_FACT(ts_name("close_range/%s/fds-closed", k), all_badf(200));
    TC_FACT(ts_name("close_range/%s/peers-eof", k), all_eof(srv));
    for (int i = 0; i < 3; i++) close(srv[i]);

    three_at(kind, 210, srv);
    TC_SYS(ts_name("close_range/%s/cloexec", k), syscall(SYS_close_range, 210u, 212u, 4u /* CLOSE_RANGE_CLOEXEC */));
    int marked = 0;
    for (int i = 0; i < 3; i++) marked += (fcntl(210 + i, F_GETFD) & FD_CLOEXEC) != 0;
    tc_printf(ts_name("close_range/%s/cloexec-marked", k), "%d of 3", marked);
    TC_FACT(ts_name("close_range/%s/cloexec-peers-open", k), !ts_readable(srv[0], 50));
    for (int i = 0; i < 3; i++) close(210 + i);
    TC_FACT(ts_name("close_range/%s/cloexec-then-close-eof", k), all_eof(srv));
    for (int i = 0; i < 3; i++) close(srv[i]);

    /* closefrom in a child, so the parent's own fds stay. */
    three_at(kind, 220, srv);
    pid_t pid = fork();
    if (pid == 0) {
        close(220);
        close(221);
        close(222);
        _exit(0);
    }
    wait_exit(pid);
    closefrom(220);
    TC_FACT(ts_name("closefrom/%s/fds-closed", k), all_badf(220));
    TC_FACT(ts_name("closefrom/%s/peers-eof", k), all_eof(srv));
    for (int i = 0; i < 3; i++) close(srv[i]);
}

/* ---- SIGKILL ---- */

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* 1 if fd becomes readable within ms, polled in small steps (a peer may only
 * notice the death when it looks). */
static int readable_within(int fd, int ms) {
    double end = now_ms() + ms;
    do {
        if (ts_readable(fd, 10)) return 1;
    } while (now_ms() < end);
    return 0;
}

static void sigkill_cases(void) {
    /* The child: connects to our TCP and unix listeners, binds an abstract
     * name, a path and a TCP port of its own and listens on them, then
     * reports ready and waits to be killed. */
    struct sockaddr_storage ia, ua;
    socklen_t il, ul;
    int li = ts_listener(TS_INET, "k-srv", &ia, &il);
    int lu = ts_listener(TS_UNIX, "k-srv", &ua, &ul);
    struct sockaddr_un abs, path;
    socklen_t abs_len = ts_addr_abstract(&abs, "k-name");
    char p[108];
    ts_path(p, sizeof p, "k-path");
    unlink(p);
    socklen_t path_len = ts_addr_path(&path, p);
    int port_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in any = ts_loop4(0);
    if (bind(port_fd, (struct sockaddr *)&any, sizeof any) < 0) tc_die("bind");
    struct sockaddr_in port_addr = ts_loop4(ts_port(port_fd));
    close(port_fd); /* the child binds this port */

    int ready[2];
    if (pipe(ready) < 0) tc_die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        int ci = ts_connect(&ia, il), cu = ts_connect(&ua, ul);
        int a = socket(AF_UNIX, SOCK_STREAM, 0), b = socket(AF_UNIX, SOCK_STREAM, 0);
        int t = socket(AF_INET, SOCK_STREAM, 0);
        int ok = bind(a, (struct sockaddr *)&abs, abs_len) == 0 && listen(a, 4) == 0 &&
                 bind(b, (struct sockaddr *)&path, path_len) == 0 && listen(b, 4) == 0 &&
                 bind(t, (struct sockaddr *)&port_addr, sizeof port_addr) == 0 && listen(t, 4) == 0;
        (void)ci;
        (void)cu;
        if (write(ready[1], ok ? "r" : "f", 1) != 1) _exit(1);
        for (;;) pause();
    }
    close(ready[1]);
    int si = accept(li, NULL, NULL), su = accept(lu, NULL, NULL);
    if (si < 0 || su < 0) tc_die("accept");
    char r = 0;
    if (read(ready[0], &r, 1) != 1) tc_die("read");
    close(ready[0]);
    TC_FACT("sigkill/child-ready", r == 'r');
    /* Data the child never reads: its death resets this connection. */
    ts_write_full(su, "unread", 6);
    ts_msleep(20);

    kill(pid, SIGKILL);
    TC_VAL("sigkill/exit", wait_exit(pid));
    char buf[16];
    TC_FACT("sigkill/inet/peer-sees-it-within-100ms", readable_within(si, 100));
    TC_VAL("sigkill/inet/read", read(si, buf, sizeof buf));
    TC_FACT("sigkill/unix/peer-sees-it-within-100ms", readable_within(su, 100));
    TC_VAL("sigkill/unix/read", read(su, buf, sizeof buf));

    int a = socket(AF_UNIX, SOCK_STREAM, 0), b = socket(AF_UNIX, SOCK_STREAM, 0);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    TC_SYS("sigkill/abstract-name-released", bind(a, (struct sockaddr *)&abs, abs_len));
    TC_SYS("sigkill/port-released", bind(t, (struct sockaddr *)&port_addr, sizeof port_addr));
    TC_SYS("sigkill/path-connect", connect(b, (struct sockaddr *)&path, path_len));
    close(b);
    b = socket(AF_UNIX, SOCK_STREAM, 0);
    TC_SYS("sigkill/path-bind", bind(b, (struct sockaddr *)&path, path_len));
    unlink(p);
    TC_SYS("sigkill/path-bind-after-unlink", bind(b, (struct sockaddr *)&path, path_len));
    unlink(p);
    close(a);
    close(b);
    close(t);
    close(si);
    close(su);
    ts_close_listener(li, &ia);
    ts_close_listener(lu, &ua);
}

/* 1,000 children, each holding a connection to us, eight socketpairs, a bound
 * abstract listener (the same name every time) and a TCP listener on the
 * same port every time, are killed with SIGKILL one after the other. */
#define NKILLS 1000
static void many_kills_cases(void) {
    struct sockaddr_storage ua;
    socklen_t ul;
    int lu = ts_listener(TS_ABSTRACT, "many-srv", &ua, &ul);
    struct sockaddr_un abs;
    socklen_t abs_len = ts_addr_abstract(&abs, "many-name");
    int port_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in any = ts_loop4(0);
    if (bind(port_fd, (struct sockaddr *)&any, sizeof any) < 0) tc_die("bind");
    struct sockaddr_in port_addr = ts_loop4(ts_port(port_fd));
    close(port_fd);

    int ready_ok = 0, killed = 0;
    for (int i = 0; i < NKILLS; i++) {
        int ready[2];
        if (pipe(ready) < 0) tc_die("pipe");
        pid_t pid = fork();
        if (pid < 0) tc_die("fork");
        if (pid == 0) {
            close(ready[0]);
            /* 20 sockets each: 1,000 children hold more sockets than an
             * emulated host has slots, so a slot a killed child leaked
             * would soon make a later child fail. */
            int sv[16];
            int c = socket(AF_UNIX, SOCK_STREAM, 0);
            int a = socket(AF_UNIX, SOCK_STREAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
            int one = 1;
            setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            int ok = c >= 0 && connect(c, (struct sockaddr *)&ua, ul) == 0 &&
                     socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && socketpair(AF_UNIX, SOCK_DGRAM, 0, sv + 2) == 0 &&
                     socketpair(AF_UNIX, SOCK_STREAM, 0, sv + 4) == 0 && socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv + 6) == 0 &&
                     socketpair(AF_UNIX, SOCK_STREAM, 0, sv + 8) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, sv + 10) == 0 &&
                     socketpair(AF_UNIX, SOCK_STREAM, 0, sv + 12) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, sv + 14) == 0 &&
                     bind(a, (struct sockaddr *)&abs, abs_len) == 0 && listen(a, 4) == 0 &&
                     bind(t, (struct sockaddr *)&port_addr, sizeof port_addr) == 0 && listen(t, 4) == 0;
            if (write(ready[1], ok ? "r" : "f", 1) != 1) _exit(1);
            for (;;) pause();
        }
        close(ready[1]);
        int s = accept(lu, NULL, NULL);
        char r = 0;
        if (read(ready[0], &r, 1) == 1 && r == 'r') ready_ok++;
        close(ready[0]);
        kill(pid, SIGKILL);
        if (wait_exit(pid) == 128 + SIGKILL) killed++;
        if (s >= 0) close(s);
    }
    tc_printf("many-kills/children-set-up", "%d of %d", ready_ok, NKILLS);
    tc_printf("many-kills/children-killed", "%d of %d", killed, NKILLS);
    /* And the names are free once more. */
    int a = socket(AF_UNIX, SOCK_STREAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    TC_SYS("many-kills/abstract-name-free", bind(a, (struct sockaddr *)&abs, abs_len));
    TC_SYS("many-kills/port-free", bind(t, (struct sockaddr *)&port_addr, sizeof port_addr));
    close(a);
    close(t);
    ts_close_listener(lu, &ua);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0) return exec_child(argc, argv);
    ts_init("t_process");
    alarm(60); /* the 1,000 kills take longer than the usual watchdog */
    self_path = "/proc/self/exe";
    static char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        self_path = exe;
    }
    signal(SIGPIPE, SIG_IGN);
    for (int k = TS_INET; k <= TS_ABSTRACT; k++) {
        fork_cases(k);
        prefork_cases(k);
        for (int h = BY_FORK; h <= BY_SPAWN; h++) exec_cases(k, h);
        thread_cases(k);
        close_range_cases(k);
    }
    sigkill_cases();
    many_kills_cases();
    return tc_done();
}
