/* t_unix_scm.c: ancillary data on unix sockets. SCM_RIGHTS (a pipe end and a
 * socket passed and used by the receiver, MSG_CTRUNC with a short control
 * buffer, SCM_MAX_FD, bad descriptors and malformed cmsgs, MSG_PEEK,
 * MSG_CMSG_CLOEXEC) and SCM_CREDENTIALS (SO_PASSCRED, explicit and forged
 * credentials as root, a child process as sender, stream reads stopping at a
 * change of sender). Received fd numbers and pids are never printed. */
#include "unix_cases.h"

static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
static char P[96];

/* Sends data with an SCM_RIGHTS cmsg carrying n fds (n may be 0). */
static long send_fds(int s, const int *fds, int n, const char *data, size_t len) {
    size_t space = CMSG_SPACE(sizeof(int) * (n > 0 ? n : 0));
    char *ctl = calloc(1, space ? space : 1);
    struct iovec iov = {(void *)data, len};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    if (n > 0) memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    long r = sendmsg(s, &m, MSG_NOSIGNAL);
    int e = errno;
    free(ctl);
    errno = e;
    return r;
}

struct got {
    long r;
    int err;
    int flags;
    int nfds;
    int fds[300];
    int ncred;
    struct ucred cred;
    int other_cmsgs;
    int short_cmsgs; /* cut below their payload size by MSG_CTRUNC */
    char data[64];
};

/* recvmsg with a control buffer of ctl_len bytes; decodes the cmsgs. */
static void recv_ctl(int s, size_t ctl_len, int flags, struct got *g) {
    static char ctl[CMSG_SPACE(sizeof(int) * 300) + 256] __attribute__((aligned(8)));
    memset(g, 0, sizeof *g);
    memset(ctl, 0, sizeof ctl);
    struct iovec iov = {g->data, sizeof g->data - 1};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl_len ? ctl : NULL;
    m.msg_controllen = ctl_len;
    errno = 0;
    g->r = recvmsg(s, &m, flags);
    g->err = errno;
    if (g->r < 0) return;
    g->flags = m.msg_flags;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            memcpy(g->fds + g->nfds, CMSG_DATA(c), n * sizeof(int));
            g->nfds += n;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            if (c->cmsg_len < CMSG_LEN(sizeof g->cred)) {
                g->short_cmsgs++;
                continue;
            }
            memcpy(&g->cred, CMSG_DATA(c), sizeof g->cred);
            g->ncred++;
        } else {
            g->other_cmsgs++;
        }
    }
}

static void close_got(struct got *g) {
    for (int i = 0; i < g->nfds; i++) close(g->fds[i]);
}

static const char *got_str(const struct got *g) {
    static char b[192];
    if (g->r < 0) snprintf(b, sizeof b, "-1 %s", tc_errname(g->err));
    else snprintf(b, sizeof b, "= %ld, fds %d, creds %d, other cmsgs %d, MSG_CTRUNC %s, MSG_TRUNC %s", g->r, g->nfds,
                  g->ncred, g->other_cmsgs, (g->flags & MSG_CTRUNC) ? "yes" : "no", (g->flags & MSG_TRUNC) ? "yes" : "no");
    if (g->r >= 0 && g->short_cmsgs)
        snprintf(b + strlen(b), sizeof b - strlen(b), ", short cmsgs %d", g->short_cmsgs);
    return b;
}

/* ---- SCM_RIGHTS ---- */

static void rights_use(int type) {
    int sv[2], pp[2], other[2];
    uc_socketpair(type, sv);
    if (pipe(pp) < 0) tc_die("pipe");
    uc_socketpair(SOCK_STREAM, other);
    int pass[2] = {pp[1], other[1]};
    U_VAL(send_fds(sv[0], pass, 2, "R", 1), "%s/rights/send-pipe-and-socket", P);
    /* the sender may close its copies at once */
    close(pp[1]);
    close(other[1]);
    struct got g;
    recv_ctl(sv[1], CMSG_SPACE(sizeof(int) * 4), 0, &g);
    tc_printf(uc_name("%s/rights/recv", P), "%s", got_str(&g));
    if (g.nfds == 2) {
        char c = 0;
        int pipe_ok = write(g.fds[0], "P", 1) == 1 && read(pp[0], &c, 1) == 1 && c == 'P';
        c = 0;
        int sock_ok = send(g.fds[1], "S", 1, 0) == 1 && recv(other[0], &c, 1, 0) == 1 && c == 'S';
        tc_printf(uc_name("%s/rights/received-fds-work", P), "pipe %s, socket %s", pipe_ok ? "yes" : "no",
                  sock_ok ? "yes" : "no");
        tc_printf(uc_name("%s/rights/received-socket-SO_TYPE", P), "%s",
                  uc_type_name(uc_getint(g.fds[1], SOL_SOCKET, SO_TYPE)));
        U_FACT(fcntl(g.fds[0], F_GETFD) & FD_CLOEXEC, "%s/rights/FD_CLOEXEC-by-default", P);
        close(g.fds[1]);
        char x;
        U_VAL(recv(other[0], &x, 1, MSG_DONTWAIT), "%s/rights/last-copy-closed/peer-recv", P);
        close(g.fds[0]);
        U_VAL(read(pp[0], &x, 1), "%s/rights/last-pipe-writer-closed/read", P);
    } else {
        close_got(&g);
    }
    close(pp[0]);
    close(other[0]);

    /* MSG_CMSG_CLOEXEC */
    int fd = open("/dev/null", O_RDONLY);
    send_fds(sv[0], &fd, 1, "C", 1);
    close(fd);
    recv_ctl(sv[1], CMSG_SPACE(sizeof(int)), MSG_CMSG_CLOEXEC, &g);
    tc_printf(uc_name("%s/rights/MSG_CMSG_CLOEXEC", P), "%s, FD_CLOEXEC %s", got_str(&g),
              g.nfds == 1 && (fcntl(g.fds[0], F_GETFD) & FD_CLOEXEC) ? "yes" : "no");
    close_got(&g);
    close(sv[0]);
    close(sv[1]);
}

static void rights_limits(int type) {
    int sv[2];
    uc_socketpair(type, sv);
    int pp[2];
    if (pipe(pp) < 0) tc_die("pipe");
    int two[2] = {pp[0], pp[1]};
    struct got g;

    /* control buffer with room for one of two fds */
    send_fds(sv[0], two, 2, "T", 1);
    recv_ctl(sv[1], CMSG_LEN(sizeof(int)), 0, &g);
    tc_printf(uc_name("%s/rights/ctrunc-room-for-1", P), "%s", got_str(&g));
    close_got(&g);
    send_fds(sv[0], two, 2, "T", 1);
    recv_ctl(sv[1], 0, 0, &g);
    tc_printf(uc_name("%s/rights/ctrunc-no-control", P), "%s", got_str(&g));
    close_got(&g);
    send_fds(sv[0], two, 2, "T", 1);
    recv_ctl(sv[1], CMSG_LEN(0) + 2, 0, &g);
    tc_printf(uc_name("%s/rights/ctrunc-header-only", P), "%s", got_str(&g));
    close_got(&g);

    /* SCM_MAX_FD: the same fd may repeat */
    static int many[260];
    for (int i = 0; i < 260; i++) many[i] = pp[0];
    static const int counts[] = {253, 254};
    for (int i = 0; i < 2; i++) {
        long r = U_VAL(send_fds(sv[0], many, counts[i], "M", 1), "%s/rights/send-%d-fds", P, counts[i]);
        if (r > 0) {
            recv_ctl(sv[1], CMSG_SPACE(sizeof(int) * 300), 0, &g);
            tc_printf(uc_name("%s/rights/recv-%d-fds", P, counts[i]), "%s", got_str(&g));
            close_got(&g);
        }
    }

    /* invalid descriptors and malformed cmsgs */
    int bad[2] = {-1, 100000};
    U_VAL(send_fds(sv[0], &bad[0], 1, "B", 1), "%s/rights/fd=-1", P);
    U_VAL(send_fds(sv[0], &bad[1], 1, "B", 1), "%s/rights/fd=100000", P);
    int mixed[2] = {pp[0], -1};
    U_VAL(send_fds(sv[0], mixed, 2, "B", 1), "%s/rights/one-good-one-bad", P);
    U_VAL(send_fds(sv[0], NULL, 0, "E", 1), "%s/rights/zero-fds", P);
    recv_ctl(sv[1], CMSG_SPACE(sizeof(int) * 4), MSG_DONTWAIT, &g);
    tc_printf(uc_name("%s/rights/zero-fds/recv", P), "%s", got_str(&g));
    {
        char ctl[CMSG_SPACE(sizeof(int))] __attribute__((aligned(8))) = {0};
        struct iovec iov = {"X", 1};
        struct msghdr m = {0};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = ctl;
        m.msg_controllen = sizeof ctl;
        struct cmsghdr *c = (struct cmsghdr *)ctl;
        static const struct { const char *name; int level, type, len; } rows[] = {
            {"type=99", SOL_SOCKET, 99, (int)CMSG_LEN(sizeof(int))},
            {"len-too-small", SOL_SOCKET, SCM_RIGHTS, (int)sizeof(struct cmsghdr) - 1},
            {"len-too-big", SOL_SOCKET, SCM_RIGHTS, (int)CMSG_SPACE(sizeof(int)) + 8},
            {"level=IPPROTO_IP", 0, 1, (int)CMSG_LEN(sizeof(int))},
            {"creds-len-short", SOL_SOCKET, SCM_CREDENTIALS, (int)CMSG_LEN(sizeof(int))},
        };
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            memset(ctl, 0, sizeof ctl);
            c->cmsg_level = rows[i].level;
            c->cmsg_type = rows[i].type;
            c->cmsg_len = rows[i].len;
            memcpy(CMSG_DATA(c), &pp[0], sizeof(int));
            U_VAL(sendmsg(sv[0], &m, MSG_NOSIGNAL), "%s/cmsg/%s", P, rows[i].name);
        }
        m.msg_control = (void *)1;
        U_VAL(sendmsg(sv[0], &m, MSG_NOSIGNAL), "%s/cmsg/control-ptr=1", P);
        m.msg_control = ctl;
        m.msg_controllen = 8;
        U_VAL(sendmsg(sv[0], &m, MSG_NOSIGNAL), "%s/cmsg/controllen=8", P);
    }
    /* drain whatever was accepted */
    while (recv_ctl(sv[1], CMSG_SPACE(sizeof(int) * 4), MSG_DONTWAIT, &g), g.r >= 0) close_got(&g);

    /* MSG_PEEK sees the fds too */
    send_fds(sv[0], two, 2, "K", 1);
    recv_ctl(sv[1], CMSG_SPACE(sizeof(int) * 4), MSG_PEEK, &g);
    tc_printf(uc_name("%s/rights/peek", P), "%s", got_str(&g));
    close_got(&g);
    recv_ctl(sv[1], CMSG_SPACE(sizeof(int) * 4), 0, &g);
    tc_printf(uc_name("%s/rights/after-peek", P), "%s", got_str(&g));
    close_got(&g);

    /* fds on a message that carries no data */
    U_VAL(send_fds(sv[0], two, 2, "", 0), "%s/rights/no-data", P);
    recv_ctl(sv[1], CMSG_SPACE(sizeof(int) * 4), MSG_DONTWAIT, &g);
    tc_printf(uc_name("%s/rights/no-data/recv", P), "%s", got_str(&g));
    close_got(&g);

    /* the receiving socket itself in flight, then both ends closed */
    U_VAL(send_fds(sv[0], &sv[1], 1, "L", 1), "%s/rights/send-receiver-to-itself", P);
    close(pp[0]);
    close(pp[1]);
    close(sv[0]);
    close(sv[1]);
}

/* Stream: fds ride with the first byte of their write. */
static void rights_stream_split(void) {
    int sv[2], pp[2];
    uc_socketpair(SOCK_STREAM, sv);
    if (pipe(pp) < 0) tc_die("pipe");
    send(sv[0], "ab", 2, 0);
    send_fds(sv[0], &pp[0], 1, "cdef", 4);
    struct got g;
    recv_ctl(sv[1], CMSG_SPACE(sizeof(int) * 4), 0, &g);
    tc_printf("stream/rights/split/recv-1", "%s, data \"%s\"", got_str(&g), g.data);
    close_got(&g);
    recv_ctl(sv[1], CMSG_SPACE(sizeof(int) * 4), MSG_DONTWAIT, &g);
    tc_printf("stream/rights/split/recv-2", "%s, data \"%s\"", got_str(&g), g.data);
    close_got(&g);
    /* two writes with fds are not merged into one read */
    send_fds(sv[0], &pp[0], 1, "gh", 2);
    send_fds(sv[0], &pp[1], 1, "ij", 2);
    recv_ctl(sv[1], CMSG_SPACE(sizeof(int) * 4), 0, &g);
    tc_printf("stream/rights/two-writes/recv-1", "%s, data \"%s\"", got_str(&g), g.data);
    close_got(&g);
    recv_ctl(sv[1], CMSG_SPACE(sizeof(int) * 4), MSG_DONTWAIT, &g);
    tc_printf("stream/rights/two-writes/recv-2", "%s, data \"%s\"", got_str(&g), g.data);
    close_got(&g);
    close(pp[0]);
    close(pp[1]);
    close(sv[0]);
    close(sv[1]);
}

/* ---- SCM_CREDENTIALS ---- */

static long send_creds(int s, pid_t pid, uid_t uid, gid_t gid, const char *data) {
    char ctl[CMSG_SPACE(sizeof(struct ucred))] __attribute__((aligned(8))) = {0};
    struct iovec iov = {(void *)data, strlen(data)};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
    struct ucred uc = {pid, uid, gid};
    memcpy(CMSG_DATA(c), &uc, sizeof uc);
    return sendmsg(s, &m, MSG_NOSIGNAL);
}

static void print_cred(const char *name, const struct got *g, pid_t want) {
    if (g->r < 0 || !g->ncred) tc_printf(name, "%s", got_str(g));
    else tc_printf(name, "%s, pid matches: %s, uid = %d, gid = %d", got_str(g), g->cred.pid == want ? "yes" : "no",
                   (int)g->cred.uid, (int)g->cred.gid);
}

static void creds(int type) {
    int sv[2];
    uc_socketpair(type, sv);
    int one = 1, zero = 0;
    struct got g;
    size_t cs = CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 4);

    send(sv[0], "a", 1, 0);
    recv_ctl(sv[1], cs, 0, &g);
    print_cred(uc_name("%s/creds/no-SO_PASSCRED", P), &g, getpid());

    send(sv[0], "b", 1, 0);
    U_SYS(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one), "%s/creds/SO_PASSCRED-on", P);
    recv_ctl(sv[1], cs, 0, &g);
    print_cred(uc_name("%s/creds/queued-before-SO_PASSCRED", P), &g, getpid());

    send(sv[0], "c", 1, 0);
    recv_ctl(sv[1], cs, 0, &g);
    print_cred(uc_name("%s/creds/implicit", P), &g, getpid());

    U_VAL(send_creds(sv[0], getpid(), getuid(), getgid(), "d"), "%s/creds/explicit-own", P);
    recv_ctl(sv[1], cs, 0, &g);
    print_cred(uc_name("%s/creds/explicit-own/recv", P), &g, getpid());

    long r = U_VAL(send_creds(sv[0], getppid(), 12345, 23456, "e"), "%s/creds/forged-as-root", P);
    if (r > 0) {
        recv_ctl(sv[1], cs, 0, &g);
        print_cred(uc_name("%s/creds/forged-as-root/recv-pid-is-ppid", P), &g, getppid());
    }
    U_VAL(send_creds(sv[0], 0x3ffffff0, getuid(), getgid(), "f"), "%s/creds/nonexistent-pid", P);
    U_VAL(send_creds(sv[0], 0, getuid(), getgid(), "f"), "%s/creds/pid-0", P);

    /* creds and fds together */
    {
        int pp[2];
        if (pipe(pp) < 0) tc_die("pipe");
        send_fds(sv[0], &pp[0], 1, "g", 1);
        recv_ctl(sv[1], cs, 0, &g);
        print_cred(uc_name("%s/creds/with-rights", P), &g, getpid());
        close_got(&g);
        close(pp[0]);
        close(pp[1]);
    }
    send(sv[0], "h", 1, 0);
    recv_ctl(sv[1], CMSG_LEN(4), 0, &g);
    print_cred(uc_name("%s/creds/control-too-small", P), &g, getpid());

    /* only the sender has SO_PASSCRED */
    setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &zero, sizeof zero);
    setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    send(sv[0], "i", 1, 0);
    recv_ctl(sv[1], cs, 0, &g);
    print_cred(uc_name("%s/creds/sender-only-SO_PASSCRED", P), &g, getpid());

    /* a child process as the sender */
    setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    pid_t pid = fork();
    if (pid == 0) _exit(send(sv[0], "j", 1, 0) == 1 ? 0 : 1);
    int st;
    waitpid(pid, &st, 0);
    recv_ctl(sv[1], cs, 0, &g);
    print_cred(uc_name("%s/creds/child-sender", P), &g, pid);
    close(sv[0]);
    close(sv[1]);
}

/* Stream reads stop where the sending process changes, if creds are wanted. */
static void creds_stream_merge(void) {
    for (int pc = 0; pc <= 1; pc++) {
        int sv[2];
        uc_socketpair(SOCK_STREAM, sv);
        setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &pc, sizeof pc);
        send(sv[0], "aa", 2, 0);
        pid_t pid = fork();
        if (pid == 0) _exit(send(sv[0], "bb", 2, 0) == 2 ? 0 : 1);
        int st;
        waitpid(pid, &st, 0);
        send(sv[0], "cc", 2, 0);
        struct got g;
        recv_ctl(sv[1], 256, MSG_DONTWAIT, &g);
        tc_printf(uc_name("stream/creds/%s/two-senders/recv-1", pc ? "SO_PASSCRED" : "no-SO_PASSCRED"),
                  "%s, data \"%s\"", got_str(&g), g.data);
        recv_ctl(sv[1], 256, MSG_DONTWAIT, &g);
        tc_printf(uc_name("stream/creds/%s/two-senders/recv-2", pc ? "SO_PASSCRED" : "no-SO_PASSCRED"),
                  "%s, data \"%s\"", got_str(&g), g.data);
        recv_ctl(sv[1], 256, MSG_DONTWAIT, &g);
        tc_printf(uc_name("stream/creds/%s/two-senders/recv-3", pc ? "SO_PASSCRED" : "no-SO_PASSCRED"),
                  "%s, data \"%s\"", got_str(&g), g.data);
        close(sv[0]);
        close(sv[1]);
    }
}

/* Datagrams to an unconnected receiver carry the fds and creds as well. */
static void dgram_sendto(void) {
    struct sockaddr_un a;
    socklen_t al = uc_addr_path(&a, "scm-rx");
    int rx = uc_bound(SOCK_DGRAM, &a, al);
    int tx = uc_socket(SOCK_DGRAM);
    int one = 1;
    setsockopt(rx, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    int pp[2];
    if (pipe(pp) < 0) tc_die("pipe");
    char ctl[CMSG_SPACE(sizeof(int))] __attribute__((aligned(8))) = {0};
    struct iovec iov = {"u", 1};
    struct msghdr m = {0};
    m.msg_name = &a;
    m.msg_namelen = al;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pp[1], sizeof(int));
    U_VAL(sendmsg(tx, &m, 0), "dgram/sendto/rights");
    struct got g;
    recv_ctl(rx, 512, MSG_DONTWAIT, &g);
    print_cred("dgram/sendto/rights/recv", &g, getpid());
    if (g.nfds == 1) {
        close(pp[1]);
        char x = 0;
        int ok = write(g.fds[0], "w", 1) == 1 && read(pp[0], &x, 1) == 1 && x == 'w';
        U_FACT(ok, "dgram/sendto/rights/received-pipe-works");
    } else {
        tc_printf("dgram/sendto/rights/received-pipe-works", "no");
    }
    close_got(&g);
    close(pp[0]);
    close(pp[1]);
    /* a truncated datagram still delivers its fds */
    int pq[2];
    if (pipe(pq) < 0) tc_die("pipe");
    iov.iov_base = "long datagram";
    iov.iov_len = 13;
    memcpy(CMSG_DATA(c), &pq[0], sizeof(int));
    sendmsg(tx, &m, 0);
    {
        char small[4];
        char cb[256] __attribute__((aligned(8)));
        struct iovec riov = {small, sizeof small};
        struct msghdr rm = {0};
        rm.msg_iov = &riov;
        rm.msg_iovlen = 1;
        rm.msg_control = cb;
        rm.msg_controllen = sizeof cb;
        long r = recvmsg(rx, &rm, MSG_DONTWAIT);
        int nf = 0;
        for (struct cmsghdr *h = CMSG_FIRSTHDR(&rm); h; h = CMSG_NXTHDR(&rm, h))
            if (h->cmsg_type == SCM_RIGHTS) {
                nf += (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int fd;
                memcpy(&fd, CMSG_DATA(h), sizeof fd);
                close(fd);
            }
        tc_printf("dgram/sendto/rights/truncated", "%s, fds %d, MSG_TRUNC %s", uc_rv(r, errno), nf,
                  (rm.msg_flags & MSG_TRUNC) ? "yes" : "no");
    }
    close(pq[0]);
    close(pq[1]);
    close(tx);
    close(rx);
    unlink("scm-rx");
}

int main(void) {
    uc_setup();
    for (size_t t = 0; t < 3; t++) {
        snprintf(P, sizeof P, "%s", uc_short_type(types[t]));
        rights_use(types[t]);
        rights_limits(types[t]);
        creds(types[t]);
    }
    rights_stream_split();
    creds_stream_merge();
    dgram_sendto();
    return tc_done();
}
