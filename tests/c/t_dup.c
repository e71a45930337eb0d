/* t_dup.c: copies of socket descriptors, for AF_INET (127.0.0.1), AF_UNIX
 * paths and abstract names:
 *   - dup, dup2, dup3 and fcntl(F_DUPFD / F_DUPFD_CLOEXEC): the copy works
 *     for I/O, shares the file status flags (O_NONBLOCK) but not FD_CLOEXEC
 *   - closing one copy keeps the connection open, closing the last gives the
 *     peer EOF; dup2 over another socket closes that socket
 *   - a copied listener keeps accepting after the original is closed
 *   - a copy inherited by a forked child keeps the connection open until the
 *     child exits
 */
#include "tsock.h"

/* Writes a whole string (set-up, not a case). */
static void put(int fd, const char *str) { ts_write_full(fd, str, strlen(str)); }

/* 1 if fd receives exactly the bytes of want (within 2 s). */
static int got(int fd, const char *want) {
    char buf[64];
    if (!ts_readable(fd, 2000)) return 0;
    memset(buf, 0, sizeof buf);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    return n == (ssize_t)strlen(want) && strcmp(buf, want) == 0;
}

/* 1 if fd becomes readable within 50 ms (for a socket with nothing queued: EOF). */
static int peer_sees_eof(int fd) { return ts_readable(fd, 50); }

static int is_cloexec(int fd) { return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

static void dup_cases(enum ts_kind kind) {
    const char *k = ts_kind_names[kind];
    char buf[64];
    int c, s;
    ts_pair(kind, &c, &s);

    int d = TC_SYS(ts_name("%s_dup", k), dup(c));
    if (d < 0) tc_die("dup");
    TC_VAL(ts_name("%s_dup_write", k), write(d, "via dup", 7));
    TC_FACT(ts_name("%s_dup_write_arrives", k), got(s, "via dup"));
    put(s, "to the copy");
    TC_FACT(ts_name("%s_dup_read", k), got(d, "to the copy"));
    put(s, "to the original");
    TC_FACT(ts_name("%s_original_read", k), got(c, "to the original"));

    /* Same socket: same name; O_NONBLOCK is shared, FD_CLOEXEC is not. */
    struct sockaddr_storage a1, a2;
    socklen_t l1 = sizeof a1, l2 = sizeof a2;
    memset(&a1, 0, sizeof a1);
    memset(&a2, 0, sizeof a2);
    getsockname(c, (struct sockaddr *)&a1, &l1);
    getsockname(d, (struct sockaddr *)&a2, &l2);
    TC_FACT(ts_name("%s_dup_same_name", k), l1 == l2 && memcmp(&a1, &a2, l1) == 0);
    int fl = fcntl(c, F_GETFL);
    fcntl(d, F_SETFL, fl | O_NONBLOCK);
    TC_FACT(ts_name("%s_dup_shares_nonblock", k), fcntl(c, F_GETFL) & O_NONBLOCK);
    fcntl(d, F_SETFL, fl);
    fcntl(c, F_SETFD, FD_CLOEXEC);
    TC_FACT(ts_name("%s_dup_shares_cloexec", k), is_cloexec(d));
    fcntl(c, F_SETFD, 0);

    /* Close the original: the copy still talks, the peer sees no EOF. */
    TC_SYS(ts_name("%s_close_original", k), close(c));
    TC_FACT(ts_name("%s_peer_eof_after_first_close", k), peer_sees_eof(s));
    TC_VAL(ts_name("%s_write_after_close_original", k), write(d, "still", 5));
    TC_FACT(ts_name("%s_write_after_close_original_arrives", k), got(s, "still"));
    TC_SYS(ts_name("%s_close_last", k), close(d));
    TC_VAL(ts_name("%s_peer_read_after_last_close", k), read(s, buf, sizeof buf));
    close(s);
}

static void dup2_cases(enum ts_kind kind) {
    const char *k = ts_kind_names[kind];
    char buf[64];
    int c, s;
    ts_pair(kind, &c, &s);

    /* dup2 / dup3 onto unrelated open descriptors. */
    int t2 = open("/dev/null", O_RDONLY);
    int t3 = open("/dev/null", O_RDONLY);
    if (t2 < 0 || t3 < 0) tc_die("open");
    TC_FACT(ts_name("%s_dup2_returns_target", k), dup2(c, t2) == t2);
    TC_VAL(ts_name("%s_dup2_write", k), write(t2, "dup2", 4));
    TC_FACT(ts_name("%s_dup2_write_arrives", k), got(s, "dup2"));
    TC_FACT(ts_name("%s_dup2_same_fd", k), dup2(c, c) == c);
    TC_SYS(ts_name("%s_dup3_same_fd", k), dup3(c, c, 0));
    TC_FACT(ts_name("%s_dup3_returns_target", k), dup3(c, t3, O_CLOEXEC) == t3);
    TC_FACT(ts_name("%s_dup3_cloexec", k), is_cloexec(t3));
    TC_FACT(ts_name("%s_dup3_original_cloexec", k), is_cloexec(c));
    put(s, "dup3");
    TC_FACT(ts_name("%s_dup3_read", k), got(t3, "dup3"));

    /* fcntl duplicates: the lowest free fd >= 100. */
    int f1 = fcntl(c, F_DUPFD_CLOEXEC, 100);
    TC_FACT(ts_name("%s_dupfd_cloexec_at_least_100", k), f1 >= 100);
    TC_FACT(ts_name("%s_dupfd_cloexec_flag", k), is_cloexec(f1));
    int f2 = fcntl(c, F_DUPFD, 100);
    TC_FACT(ts_name("%s_dupfd_at_least_100", k), f2 >= 100 && f2 != f1);
    TC_FACT(ts_name("%s_dupfd_flag", k), is_cloexec(f2));
    TC_VAL(ts_name("%s_dupfd_cloexec_write", k), write(f1, "fcntl", 5));
    TC_FACT(ts_name("%s_dupfd_cloexec_write_arrives", k), got(s, "fcntl"));

    /* Five descriptors, one socket: only the last close ends it. */
    close(c);
    close(t2);
    close(t3);
    close(f2);
    TC_FACT(ts_name("%s_peer_eof_with_one_copy_left", k), peer_sees_eof(s));
    close(f1);
    TC_VAL(ts_name("%s_peer_read_after_all_closed", k), read(s, buf, sizeof buf));
    close(s);

    /* dup2 over another connected socket closes that one. */
    int c2, s2;
    ts_pair(kind, &c, &s);
    ts_pair(kind, &c2, &s2);
    TC_FACT(ts_name("%s_dup2_over_socket", k), dup2(c, c2) == c2);
    TC_FACT(ts_name("%s_dup2_over_socket_peer_eof", k), ts_readable(s2, 2000) && read(s2, buf, sizeof buf) == 0);
    TC_VAL(ts_name("%s_dup2_over_socket_write", k), write(c2, "moved", 5));
    TC_FACT(ts_name("%s_dup2_over_socket_write_arrives", k), got(s, "moved"));
    close(c);
    close(c2);
    close(s);
    close(s2);
}

/* A copied listener keeps accepting after the original is closed. */
static void listener_cases(enum ts_kind kind) {
    const char *k = ts_kind_names[kind];
    struct sockaddr_storage addr;
    socklen_t len;
    int l = ts_listener(kind, "dupl", &addr, &len);
    int ld = dup(l);
    if (ld < 0) tc_die("dup");
    int c = ts_connect(&addr, len);
    int s = TC_SYS(ts_name("%s_accept_via_dup", k), accept(ld, NULL, NULL));
    close(s);
    close(c);
    close(l);
    c = ts_socket(addr.ss_family);
    TC_SYS(ts_name("%s_connect_after_closing_one_listener_copy", k),
           connect(c, (struct sockaddr *)&addr, len));
    s = TC_SYS(ts_name("%s_accept_after_closing_one_listener_copy", k), accept(ld, NULL, NULL));
    close(s);
    close(c);
    close(ld);
    c = ts_socket(addr.ss_family);
    TC_SYS(ts_name("%s_connect_after_closing_all_listener_copies", k),
           connect(c, (struct sockaddr *)&addr, len));
    close(c);
    if (kind == TS_UNIX) unlink(((struct sockaddr_un *)&addr)->sun_path);
}

/* A copy held by a child process keeps the connection open until it exits. */
static void fork_cases(enum ts_kind kind) {
    const char *k = ts_kind_names[kind];
    char buf[64];
    int c, s, go[2];
    ts_pair(kind, &c, &s);
    if (pipe(go) < 0) tc_die("pipe");
    pid_t pid = fork();
    if (pid < 0) tc_die("fork");
    if (pid == 0) {
        alarm(TS_ALARM);
        close(s);
        close(go[1]);
        char b;
        if (read(go[0], &b, 1) != 1) _exit(1);
        _exit(write(c, "child", 5) == 5 ? 0 : 1);
    }
    close(go[0]);
    close(c);
    TC_FACT(ts_name("%s_fork_peer_eof_while_child_holds_copy", k), peer_sees_eof(s));
    if (write(go[1], "g", 1) != 1) tc_die("write");
    close(go[1]);
    int st;
    if (waitpid(pid, &st, 0) < 0) tc_die("waitpid");
    TC_FACT(ts_name("%s_fork_child_ok", k), WIFEXITED(st) && WEXITSTATUS(st) == 0);
    TC_FACT(ts_name("%s_fork_child_data", k), got(s, "child"));
    TC_VAL(ts_name("%s_fork_eof_after_child_exit", k), read(s, buf, sizeof buf));
    close(s);
}

int main(void) {
    ts_init("dup");
    for (int kind = TS_INET; kind <= TS_ABSTRACT; kind++) {
        dup_cases(kind);
        dup2_cases(kind);
        listener_cases(kind);
        fork_cases(kind);
    }
    return tc_done();
}
