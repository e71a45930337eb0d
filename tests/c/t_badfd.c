/* t_badfd.c: socket calls on descriptors that are not sockets.
 *   EBADF    a closed fd, -1, a huge fd
 *   ENOTSOCK the read end of a pipe, a regular file
 * for bind, listen, connect, accept, accept4, getsockname, getpeername,
 * shutdown, send, recv, sendto, recvfrom, sendmsg, recvmsg, setsockopt and
 * getsockopt; plus read, write and close on the EBADF descriptors. The
 * recv/recvfrom/read calls use fixed-size buffers with lengths the compiler
 * cannot see, so a fortified build goes through __recv_chk, __recvfrom_chk
 * and __read_chk.
 */
#include "tsock.h"

static char buf[64];

static long op_bind(int fd) {
    struct sockaddr_in a = ts_loop4(0);
    return bind(fd, (struct sockaddr *)&a, sizeof a);
}
static long op_listen(int fd) { return listen(fd, 1); }
static long op_connect(int fd) {
    struct sockaddr_in a = ts_loop4(9);
    return connect(fd, (struct sockaddr *)&a, sizeof a);
}
static long op_accept(int fd) { return accept(fd, NULL, NULL); }
static long op_accept4(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }
static long op_getsockname(int fd) {
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    return getsockname(fd, (struct sockaddr *)&a, &len);
}
static long op_getpeername(int fd) {
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    return getpeername(fd, (struct sockaddr *)&a, &len);
}
static long op_shutdown(int fd) { return shutdown(fd, SHUT_RDWR); }
static long op_send(int fd) { return send(fd, "x", 1, MSG_NOSIGNAL); }
static long op_recv(int fd) {
    char small[16];
    return recv(fd, small, ts_opaque(sizeof small), MSG_DONTWAIT);
}
static long op_sendto(int fd) {
    struct sockaddr_in a = ts_loop4(9);
    return sendto(fd, "x", 1, MSG_NOSIGNAL, (struct sockaddr *)&a, sizeof a);
}
static long op_recvfrom(int fd) {
    char small[16];
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    return recvfrom(fd, small, ts_opaque(sizeof small), MSG_DONTWAIT, (struct sockaddr *)&a, &len);
}
static long op_sendmsg(int fd) {
    struct iovec iov = {(void *)"x", 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    return sendmsg(fd, &m, MSG_NOSIGNAL);
}
static long op_recvmsg(int fd) {
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    return recvmsg(fd, &m, MSG_DONTWAIT);
}
static long op_setsockopt(int fd) {
    int one = 1;
    return setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
}
static long op_getsockopt(int fd) {
    int v;
    socklen_t len = sizeof v;
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len);
}
static long op_read(int fd) {
    char small[16];
    return read(fd, small, ts_opaque(sizeof small));
}
static long op_write(int fd) { return write(fd, "x", 1); }
static long op_close(int fd) { return close(fd); }

struct op {
    const char *name;
    long (*fn)(int);
    int sockets_only; /* 0: only tried on the EBADF descriptors */
};

static const struct op ops[] = {
    {"bind", op_bind, 1},       {"listen", op_listen, 1},
    {"connect", op_connect, 1}, {"accept", op_accept, 1},
    {"accept4", op_accept4, 1}, {"getsockname", op_getsockname, 1},
    {"getpeername", op_getpeername, 1}, {"shutdown", op_shutdown, 1},
    {"send", op_send, 1},       {"recv", op_recv, 1},
    {"sendto", op_sendto, 1},   {"recvfrom", op_recvfrom, 1},
    {"sendmsg", op_sendmsg, 1}, {"recvmsg", op_recvmsg, 1},
    {"setsockopt", op_setsockopt, 1}, {"getsockopt", op_getsockopt, 1},
    {"read", op_read, 0},       {"write", op_write, 0},
    {"close", op_close, 0},
};

int main(void) {
    ts_init("badfd");
    signal(SIGPIPE, SIG_IGN);

    /* Non-socket descriptors first, so nothing reuses the closed fd below. */
    int p[2];
    if (pipe(p) < 0) tc_die("pipe");
    char path[108];
    ts_path(path, sizeof path, "file");
    int file = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (file < 0) tc_die("open");
    unlink(path);
    int closed = ts_socket(AF_INET);
    close(closed);

    struct target {
        const char *name;
        int fd;
        int badf; /* an EBADF descriptor */
    } targets[] = {
        {"closed_fd", closed, 1}, {"minus_one", -1, 1}, {"huge_fd", 1000000, 1},
        {"pipe", p[0], 0},        {"file", file, 0},
    };

    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
            if (!ops[i].sockets_only && !targets[t].badf) continue;
            TC_VAL(ts_name("%s_%s", ops[i].name, targets[t].name), ops[i].fn(targets[t].fd));
        }

    /* The non-sockets were left alone: the pipe still carries data. */
    TC_VAL("pipe_still_works_write", write(p[1], "abc", 3));
    TC_VAL("pipe_still_works_read", read(p[0], buf, sizeof buf));
    close(p[0]);
    close(p[1]);
    close(file);
    return tc_done();
}
