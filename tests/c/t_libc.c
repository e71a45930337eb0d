/* t_libc.c: the libc entry points that reach sockets without the plain
 * socket calls, for AF_INET (127.0.0.1), AF_UNIX paths and abstract names:
 *   - stdio on a socket: fdopen, fprintf/fflush, fgets, fclose (the peer
 *     sees the bytes, then EOF)
 *   - syscall(2) with the socket system-call numbers
 *   - the FORTIFY variants a -D_FORTIFY_SOURCE=2 build calls (__read_chk,
 *     __recv_chk, __recvfrom_chk, __poll_chk, __fdelt_chk through FD_SET)
 *   - fcntl64, accept4 flags, sendfile64 from a file into a socket
 * Build flags (tests/c/Makefile) include -D_FORTIFY_SOURCE=2 -O2.
 */
#include "tsock.h"
#include <sys/sendfile.h>
#include <sys/select.h>
#include <sys/syscall.h>

extern int fcntl64(int fd, int cmd, ...);
extern ssize_t sendfile64(int out, int in, off64_t *off, size_t n);

static void stdio_cases(enum ts_kind kind) {
    const char *k = ts_kind_names[kind];
    int c, s;
    ts_pair(kind, &c, &s);
    FILE *f = fdopen(c, "r+");
    TC_FACT(ts_name("stdio/%s/fdopen", k), f != NULL);
    if (!f) tc_die("fdopen");
    TC_VAL(ts_name("stdio/%s/fprintf", k), fprintf(f, "hello %d\n", 42));
    TC_VAL(ts_name("stdio/%s/fflush", k), fflush(f));
    char buf[64] = {0};
    TC_VAL(ts_name("stdio/%s/peer-read", k), (long)ts_read_full(s, buf, 9));
    tc_printf(ts_name("stdio/%s/peer-got", k), "%s", strcmp(buf, "hello 42\n") == 0 ? "hello 42" : "other");
    ts_write_full(s, "line one\nline two\n", 18);
    char line[64];
    TC_FACT(ts_name("stdio/%s/fgets-1", k), fgets(line, sizeof line, f) && strcmp(line, "line one\n") == 0);
    TC_FACT(ts_name("stdio/%s/fgets-2", k), fgets(line, sizeof line, f) && strcmp(line, "line two\n") == 0);
    TC_FACT(ts_name("stdio/%s/fileno", k), fileno(f) == c);
    TC_VAL(ts_name("stdio/%s/fclose", k), fclose(f));
    TC_FACT(ts_name("stdio/%s/fd-closed", k), fcntl(c, F_GETFD) < 0 && errno == EBADF);
    TC_VAL(ts_name("stdio/%s/peer-eof", k), read(s, buf, sizeof buf));
    close(s);

    /* fdopen of the reading side, line by line until EOF. */
    ts_pair(kind, &c, &s);
    f = fdopen(s, "r");
    ts_write_full(c, "a\nbb\nccc\n", 9);
    close(c);
    int lines = 0;
    size_t bytes = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        bytes += strlen(line);
    }
    tc_printf(ts_name("stdio/%s/read-to-eof", k), "%d lines, %zu bytes, feof %d", lines, bytes, feof(f) != 0);
    fclose(f);
}

static void syscall_cases(void) {
    long fd = TC_SYS("syscall/socket-inet-stream", syscall(SYS_socket, AF_INET, SOCK_STREAM, 0));
    TC_SYS("syscall/socket-bad-type", syscall(SYS_socket, AF_INET, 999, 0));
    TC_SYS("syscall/socket-bad-family", syscall(SYS_socket, 4242, SOCK_STREAM, 0));
    struct sockaddr_in a = ts_loop4(0);
    TC_SYS("syscall/bind", syscall(SYS_bind, fd, &a, sizeof a));
    TC_SYS("syscall/bind-again", syscall(SYS_bind, fd, &a, sizeof a));
    TC_SYS("syscall/listen", syscall(SYS_listen, fd, 4));
    struct sockaddr_in got;
    socklen_t gl = sizeof got;
    TC_SYS("syscall/getsockname", syscall(SYS_getsockname, fd, &got, &gl));
    TC_FACT("syscall/getsockname-loopback", gl == sizeof got && got.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    long c = syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TC_SYS("syscall/connect", syscall(SYS_connect, c, &got, sizeof got));
    TC_SYS("syscall/connect-again", syscall(SYS_connect, c, &got, sizeof got));
    long s = TC_SYS("syscall/accept4", syscall(SYS_accept4, fd, NULL, NULL, SOCK_NONBLOCK));
    TC_FACT("syscall/accept4-nonblock", (fcntl((int)s, F_GETFL) & O_NONBLOCK) != 0);
    TC_VAL("syscall/sendto", syscall(SYS_sendto, c, "abc", 3, 0, NULL, 0));
    char buf[16];
    ts_readable((int)s, 1000);
    TC_VAL("syscall/recvfrom", syscall(SYS_recvfrom, s, buf, sizeof buf, 0, NULL, NULL));
    TC_VAL("syscall/recvfrom-empty-nonblock", syscall(SYS_recvfrom, s, buf, sizeof buf, 0, NULL, NULL));
    int v = 0;
    socklen_t vl = sizeof v;
    TC_SYS("syscall/getsockopt-type", syscall(SYS_getsockopt, s, SOL_SOCKET, SO_TYPE, &v, &vl));
    tc_printf("syscall/getsockopt-type-value", "%d", v);
    int one = 1;
    TC_SYS("syscall/setsockopt-keepalive", syscall(SYS_setsockopt, s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one));
    TC_VAL("syscall/write", syscall(SYS_write, s, "xy", 2));
    ts_readable((int)c, 1000);
    TC_VAL("syscall/read", syscall(SYS_read, c, buf, sizeof buf));
    TC_SYS("syscall/shutdown", syscall(SYS_shutdown, s, SHUT_WR));
    ts_readable((int)c, 1000);
    TC_VAL("syscall/read-eof", syscall(SYS_read, c, buf, sizeof buf));
    long d = TC_SYS("syscall/dup", syscall(SYS_dup, c));
    TC_SYS("syscall/close-dup", syscall(SYS_close, d));
    TC_SYS("syscall/close", syscall(SYS_close, c));
    TC_SYS("syscall/close-again", syscall(SYS_close, c));
    TC_SYS("syscall/getpeername-closed-fd", syscall(SYS_getpeername, c, &got, &gl));
    int sv[2];
    TC_SYS("syscall/socketpair", syscall(SYS_socketpair, AF_UNIX, SOCK_DGRAM, 0, sv));
    TC_VAL("syscall/socketpair-send", syscall(SYS_sendto, sv[0], "d", 1, 0, NULL, 0));
    TC_VAL("syscall/socketpair-recv", syscall(SYS_recvfrom, sv[1], buf, sizeof buf, 0, NULL, NULL));
    close(sv[0]);
    close(sv[1]);
    close((int)s);
    close((int)fd);
}

static void fortify_cases(enum ts_kind kind) {
    const char *k = ts_kind_names[kind];
    int c, s;
    ts_pair(kind, &c, &s);
    char small[8];
    ts_write_full(s, "0123456789", 10);
    ts_readable(c, 1000);
    /* __read_chk / __recv_chk / __recvfrom_chk: the length is opaque to the compiler. */
    TC_VAL(ts_name("fortify/%s/read_chk", k), read(c, small, ts_opaque(4)));
    TC_VAL(ts_name("fortify/%s/recv_chk", k), recv(c, small, ts_opaque(3), 0));
    TC_VAL(ts_name("fortify/%s/recvfrom_chk", k), recvfrom(c, small, ts_opaque(sizeof small), 0, NULL, NULL));
    TC_VAL(ts_name("fortify/%s/recv_chk-empty-dontwait", k), recv(c, small, ts_opaque(2), MSG_DONTWAIT));

    /* __poll_chk: a fixed array and an opaque count. */
    struct pollfd p[2] = {{c, POLLIN | POLLOUT, 0}, {s, POLLIN, 0}};
    int n = poll(p, ts_opaque(2), 0);
    tc_printf(ts_name("fortify/%s/poll_chk", k), "= %d, first %s%s, second %s", n, p[0].revents & POLLIN ? "IN" : "",
              p[0].revents & POLLOUT ? "OUT" : "", p[1].revents & POLLIN ? "IN" : "none");
    ts_write_full(s, "z", 1);
    ts_readable(c, 1000);
    /* __fdelt_chk: FD_SET/FD_ISSET with an fd the compiler cannot see. */
    fd_set r;
    FD_ZERO(&r);
    int fdv = (int)ts_opaque((size_t)c);
    FD_SET(fdv, &r);
    struct timeval tv = {1, 0};
    n = select(fdv + 1, &r, NULL, NULL, &tv);
    tc_printf(ts_name("fortify/%s/select-fdelt_chk", k), "= %d, set %d", n, FD_ISSET(fdv, &r) != 0);

    /* fcntl64 */
    TC_SYS(ts_name("fcntl64/%s/setfl-nonblock", k), fcntl64(c, F_SETFL, O_NONBLOCK));
    TC_FACT(ts_name("fcntl64/%s/getfl", k), (fcntl64(c, F_GETFL) & O_NONBLOCK) != 0);
    TC_VAL(ts_name("fcntl64/%s/nonblock-read", k), read(c, small, 1));
    TC_VAL(ts_name("fcntl64/%s/nonblock-read-empty", k), read(c, small, 1));
    long d = TC_SYS(ts_name("fcntl64/%s/dupfd-cloexec", k), fcntl64(c, F_DUPFD_CLOEXEC, 300));
    TC_FACT(ts_name("fcntl64/%s/dupfd-at-least-300", k), d >= 300);
    TC_FACT(ts_name("fcntl64/%s/dupfd-cloexec-set", k), (fcntl64((int)d, F_GETFD) & FD_CLOEXEC) != 0);
    close((int)d);
    close(c);
    close(s);

    /* accept4 flags */
    struct sockaddr_storage a;
    socklen_t al;
    int l = ts_listener(kind, "acc4", &a, &al);
    int cc = ts_connect(&a, al);
    int ac = TC_SYS(ts_name("accept4/%s/nonblock-cloexec", k), accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
    TC_FACT(ts_name("accept4/%s/flags", k),
            (fcntl(ac, F_GETFL) & O_NONBLOCK) && (fcntl(ac, F_GETFD) & FD_CLOEXEC));
    TC_SYS(ts_name("accept4/%s/bad-flags", k), accept4(l, NULL, NULL, 0x40000000));
    close(ac);
    close(cc);

    /* sendfile64 from a regular file. */
    char path[108];
    ts_path(path, sizeof path, "sf");
    int file = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    unlink(path);
    char data[5000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (char)('a' + i % 26);
    if (write(file, data, sizeof data) != (ssize_t)sizeof data) tc_die("write");
    cc = ts_connect(&a, al);
    ac = accept(l, NULL, NULL);
    off64_t off = 100;
    TC_VAL(ts_name("sendfile64/%s/send", k), sendfile64(cc, file, &off, 4000));
    tc_printf(ts_name("sendfile64/%s/offset-after", k), "%lld", (long long)off);
    char in[4000];
    size_t got = ts_read_full(ac, in, sizeof in);
    TC_FACT(ts_name("sendfile64/%s/bytes-match", k), got == sizeof in && memcmp(in, data + 100, sizeof in) == 0);
    close(file);
    close(ac);
    close(cc);
    ts_close_listener(l, &a);
}

int main(void) {
    ts_init("t_libc");
    signal(SIGPIPE, SIG_IGN);
    for (int k = TS_INET; k <= TS_ABSTRACT; k++) stdio_cases(k);
    syscall_cases();
    for (int k = TS_INET; k <= TS_ABSTRACT; k++) fortify_cases(k);
    return tc_done();
}
