/* t_inet_tcp_data.c: data transfer on connected TCP sockets over loopback
 * for AF_INET / AF_INET6: byte-stream semantics, partial reads, MSG_PEEK /
 * SO_PEEK_OFF, MSG_WAITALL, MSG_DONTWAIT, MSG_TRUNC, urgent data, socket
 * buffer sizes, SIOCINQ / SIOCOUTQ, filling a peer that does not read,
 * scatter/gather, and a large transfer. */
#include "inet_cases.h"

static char name[IC_NAME];
#define NAME(...) (snprintf(name, sizeof name, __VA_ARGS__), name)
static const char *F;

/* Received bytes as text (the data sent is printable). */
static const char *got(int fd, size_t len, int flags) {
    char tmp[256];
    char *b = ic_buf();
    errno = 0;
    ssize_t n = recv(fd, tmp, len < sizeof tmp ? len : sizeof tmp - 1, flags);
    if (n < 0) snprintf(b, 96, "-1 %s", tc_errname(errno));
    else snprintf(b, 96, "= %zd \"%.*s\"", n, (int)n, tmp);
    return b;
}
static void sendall(int fd, const char *s) {
    if (send(fd, s, strlen(s), MSG_NOSIGNAL) != (ssize_t)strlen(s)) tc_die("send");
}

static void stream_cases(int af) {
    int c, s;
    ic_tcp_pair(af, &c, &s);
    ic_timeo(s, 2000);
    sendall(c, "hello");
    sendall(c, "world");
    ic_wait_inq(s, 10, 2000);
    tc_printf(NAME("stream/%s/two-sends-one-recv", F), "%s", got(s, 100, 0));
    sendall(c, "0123456789");
    ic_wait_inq(s, 10, 2000);
    tc_printf(NAME("stream/%s/partial/first-3", F), "%s", got(s, 3, 0));
    tc_printf(NAME("stream/%s/partial/inq-after", F), "%d", ic_inq(s));
    tc_printf(NAME("stream/%s/partial/rest", F), "%s", got(s, 100, 0));
    TC_VAL(NAME("stream/%s/len-0-dontwait-on-empty", F), recv(s, NULL, 0, MSG_DONTWAIT));
    ic_timeo(s, 100);
    TC_VAL(NAME("stream/%s/len-0-blocking-on-empty-with-rcvtimeo", F), recv(s, NULL, 0, 0));
    ic_timeo(s, 2000);
    TC_VAL(NAME("stream/%s/dontwait-on-empty", F), recv(s, (char[4]){0}, 4, MSG_DONTWAIT));
    TC_VAL(NAME("stream/%s/send-len-0", F), send(c, "", 0, MSG_NOSIGNAL));
    TC_VAL(NAME("stream/%s/send-bad-pointer", F), send(c, (void *)(uintptr_t)1, 10, MSG_NOSIGNAL));
    TC_VAL(NAME("stream/%s/recv-bad-pointer-on-empty", F), recv(s, (void *)(uintptr_t)1, 10, MSG_DONTWAIT));
    sendall(c, "abc");
    ic_wait_inq(s, 3, 2000);
    TC_VAL(NAME("stream/%s/recv-bad-pointer-with-data", F), recv(s, (void *)(uintptr_t)1, 10, MSG_DONTWAIT));
    tc_printf(NAME("stream/%s/after-bad-pointer", F), "%s", got(s, 100, MSG_DONTWAIT));

    /* MSG_PEEK does not consume. */
    sendall(c, "peekaboo");
    ic_wait_inq(s, 8, 2000);
    tc_printf(NAME("peek/%s/4", F), "%s", got(s, 4, MSG_PEEK));
    tc_printf(NAME("peek/%s/all", F), "%s", got(s, 100, MSG_PEEK));
    tc_printf(NAME("peek/%s/inq", F), "%d", ic_inq(s));
    tc_printf(NAME("peek/%s/recv", F), "%s", got(s, 100, 0));
    TC_VAL(NAME("peek/%s/empty-dontwait", F), recv(s, (char[4]){0}, 4, MSG_PEEK | MSG_DONTWAIT));

    /* SO_PEEK_OFF: successive peeks walk forward; reads pull it back. */
    TC_SYS(NAME("peekoff/%s/set-0", F), setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &(int){0}, sizeof(int)));
    sendall(c, "abcdefghij");
    ic_wait_inq(s, 10, 2000);
    tc_printf(NAME("peekoff/%s/peek-1", F), "%s", got(s, 3, MSG_PEEK));
    tc_printf(NAME("peekoff/%s/peek-2", F), "%s", got(s, 3, MSG_PEEK));
    tc_printf(NAME("peekoff/%s/value", F), "%d", ic_getint(s, SOL_SOCKET, SO_PEEK_OFF));
    tc_printf(NAME("peekoff/%s/recv-2", F), "%s", got(s, 2, 0));
    tc_printf(NAME("peekoff/%s/value-after-recv", F), "%d", ic_getint(s, SOL_SOCKET, SO_PEEK_OFF));
    tc_printf(NAME("peekoff/%s/peek-3", F), "%s", got(s, 3, MSG_PEEK));
    tc_printf(NAME("peekoff/%s/rest", F), "%s", got(s, 100, 0));
    setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &(int){-1}, sizeof(int));
    tc_printf(NAME("peekoff/%s/disabled", F), "%d", ic_getint(s, SOL_SOCKET, SO_PEEK_OFF));

    /* MSG_TRUNC on a stream socket discards bytes. */
    sendall(c, "0123456789");
    ic_wait_inq(s, 10, 2000);
    TC_VAL(NAME("trunc/%s/discard-4", F), recv(s, NULL, 4, MSG_TRUNC));
    tc_printf(NAME("trunc/%s/rest", F), "%s", got(s, 100, 0));

    /* Scatter / gather. */
    struct iovec iv[3] = {{"one", 3}, {"-two", 4}, {"-three", 6}};
    struct msghdr mh = {.msg_iov = iv, .msg_iovlen = 3};
    TC_VAL(NAME("iov/%s/sendmsg-3", F), sendmsg(c, &mh, MSG_NOSIGNAL));
    ic_wait_inq(s, 13, 2000);
    char a[5] = {0}, b[20] = {0};
    struct iovec rv[2] = {{a, 4}, {b, sizeof b - 1}};
    struct msghdr rh = {.msg_iov = rv, .msg_iovlen = 2};
    errno = 0;
    ssize_t n = recvmsg(s, &rh, 0);
    tc_printf(NAME("iov/%s/recvmsg-2", F), "%s \"%s\" \"%s\" flags %d", ic_val(n, errno), a, b, rh.msg_flags);

    /* sendto with an address on a connected TCP socket. */
    ic_addr other = ic_loop(af, 9);
    TC_VAL(NAME("sendto/%s/connected-with-address", F), sendto(c, "xy", 2, MSG_NOSIGNAL, ic_sa(&other), other.len));
    ic_wait_inq(s, 2, 2000);
    tc_printf(NAME("sendto/%s/connected-with-address/peer-got", F), "%s", got(s, 100, MSG_DONTWAIT));
    int u = ic_socket(af, SOCK_STREAM);
    ic_addr la = ic_peername(c);
    TC_VAL(NAME("sendto/%s/unconnected-with-address", F), sendto(u, "xy", 2, MSG_NOSIGNAL, ic_sa(&la), la.len));
    close(u);
    close(c);
    close(s);
}

/* MSG_WAITALL against a writer thread. */
struct wr { int fd, chunks, size, shut; };
static void *writer(void *p) {
    struct wr *w = p;
    char buf[4096];
    memset(buf, 'w', sizeof buf);
    for (int i = 0; i < w->chunks; i++) {
        usleep(30000);
        send(w->fd, buf, w->size, MSG_NOSIGNAL);
    }
    if (w->shut) shutdown(w->fd, SHUT_WR);
    return NULL;
}
static void waitall_cases(int af) {
    static const struct { const char *n; int chunks, size, shut, timeo; } rows[] = {
        {"three-chunks", 3, 100, 0, 2000}, {"ended-by-eof", 1, 100, 1, 2000}, {"ended-by-rcvtimeo", 1, 100, 0, 150}};
    for (size_t i = 0; i < IC_N(rows); i++) {
        int c, s;
        ic_tcp_pair(af, &c, &s);
        ic_timeo(s, rows[i].timeo);
        struct wr w = {c, rows[i].chunks, rows[i].size, rows[i].shut};
        pthread_t t;
        pthread_create(&t, NULL, writer, &w);
        char buf[1024];
        TC_VAL(NAME("waitall/%s/%s/want-300", F, rows[i].n), recv(s, buf, 300, MSG_WAITALL));
        pthread_join(t, NULL);
        if (!strcmp(rows[i].n, "ended-by-rcvtimeo"))
            TC_VAL(NAME("waitall/%s/%s/again-nothing-sent", F, rows[i].n), recv(s, buf, 300, MSG_WAITALL));
        close(c);
        close(s);
    }
}

static void oob_cases(int af) {
    for (int inl = 0; inl < 2; inl++) {
        const char *k = inl ? "inline" : "separate";
        int c, s, mark = -1;
        ic_tcp_pair(af, &c, &s);
        if (inl) ic_setint(s, SOL_SOCKET, SO_OOBINLINE, 1);
        sendall(c, "ab");
        TC_VAL(NAME("oob/%s/%s/send-oob", F, k), send(c, "c", 1, MSG_OOB | MSG_NOSIGNAL));
        tc_printf(NAME("oob/%s/%s/poll", F, k), "%s", ic_evstr(ic_wait(s, POLLPRI, 2000)));
        ic_wait_inq(s, 2, 2000);
        ioctl(s, SIOCATMARK, &mark);
        tc_printf(NAME("oob/%s/%s/atmark-before", F, k), "%d", mark);
        tc_printf(NAME("oob/%s/%s/recv-normal", F, k), "%s", got(s, 100, MSG_DONTWAIT));
        ioctl(s, SIOCATMARK, &mark);
        tc_printf(NAME("oob/%s/%s/atmark-after", F, k), "%d", mark);
        tc_printf(NAME("oob/%s/%s/recv-oob", F, k), "%s", got(s, 100, MSG_OOB | MSG_DONTWAIT));
        tc_printf(NAME("oob/%s/%s/recv-oob-again", F, k), "%s", got(s, 100, MSG_OOB | MSG_DONTWAIT));
        tc_printf(NAME("oob/%s/%s/recv-normal-again", F, k), "%s", got(s, 100, MSG_DONTWAIT));
        tc_printf(NAME("oob/%s/%s/poll-after", F, k), "%s", ic_evstr(ic_poll0(s)));

        /* Urgent byte read first; a multi-byte MSG_OOB marks only its last byte. */
        sendall(c, "01");
        send(c, "xyz", 3, MSG_OOB | MSG_NOSIGNAL);
        ic_wait(s, POLLPRI, 2000);
        ic_wait_inq(s, inl ? 5 : 4, 2000);
        tc_printf(NAME("oob/%s/%s/multibyte/recv-oob-first", F, k), "%s", got(s, 100, MSG_OOB | MSG_DONTWAIT));
        tc_printf(NAME("oob/%s/%s/multibyte/recv-normal", F, k), "%s", got(s, 100, MSG_DONTWAIT));
        tc_printf(NAME("oob/%s/%s/multibyte/recv-normal-again", F, k), "%s", got(s, 100, MSG_DONTWAIT));
        tc_printf(NAME("oob/%s/%s/no-urgent/recv-oob", F, k), "%s", got(s, 100, MSG_OOB | MSG_DONTWAIT));
        tc_printf(NAME("oob/%s/%s/peek-oob", F, k), "%s", got(s, 100, MSG_OOB | MSG_PEEK | MSG_DONTWAIT));
        close(c);
        close(s);
    }
    int u = ic_socket(af, SOCK_DGRAM);
    ic_addr ua;
    int r = ic_bound(af, SOCK_DGRAM, &ua);
    TC_VAL(NAME("oob/%s/udp-send-oob", F), sendto(u, "x", 1, MSG_OOB, ic_sa(&ua), ua.len));
    close(u);
    close(r);
}

static void buffer_cases(int af) {
    static const int vals[] = {0, 1, 1024, 4096, 8192, 65536, 1 << 30, -1};
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM};
    static const struct { int opt; const char *n; } opts[] = {{SO_SNDBUF, "SO_SNDBUF"}, {SO_RCVBUF, "SO_RCVBUF"}};
    for (size_t t = 0; t < IC_N(types); t++)
        for (size_t o = 0; o < IC_N(opts); o++) {
            int fd = ic_socket(af, types[t]);
            tc_printf(NAME("buf/%s/%s/%s/default", F, ic_typ(types[t]), opts[o].n), "%d",
                      ic_getint(fd, SOL_SOCKET, opts[o].opt));
            for (size_t v = 0; v < IC_N(vals); v++) {
                errno = 0;
                int r = setsockopt(fd, SOL_SOCKET, opts[o].opt, &vals[v], sizeof(int));
                tc_printf(NAME("buf/%s/%s/%s/set-%d", F, ic_typ(types[t]), opts[o].n, vals[v]), "%s, get %d",
                          ic_res(r, errno), ic_getint(fd, SOL_SOCKET, opts[o].opt));
            }
            close(fd);
        }
    /* The FORCE variants ignore the sysctl ceiling (CAP_NET_ADMIN). */
    int fd = ic_socket(af, SOCK_STREAM);
    int big = 1 << 24;
    TC_SYS(NAME("buf/%s/SO_SNDBUFFORCE/root", F), setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big));
    tc_printf(NAME("buf/%s/SO_SNDBUFFORCE/get", F), "%d", ic_getint(fd, SOL_SOCKET, SO_SNDBUF));
    TC_SYS(NAME("buf/%s/SO_RCVBUFFORCE/root", F), setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big));
    tc_printf(NAME("buf/%s/SO_RCVBUFFORCE/get", F), "%d", ic_getint(fd, SOL_SOCKET, SO_RCVBUF));
    close(fd);
}

static void ioctl_cases(int af) {
    int c, s, v;
    ic_tcp_pair(af, &c, &s);
    tc_printf(NAME("ioctl/%s/SIOCINQ-empty", F), "%d", ic_inq(s));
    sendall(c, "0123456789");
    tc_printf(NAME("ioctl/%s/SIOCINQ-after-10", F), "%d", ic_wait_inq(s, 10, 2000));
    v = -1;
    ioctl(s, FIONREAD, &v);
    tc_printf(NAME("ioctl/%s/FIONREAD-after-10", F), "%d", v);
    recv(s, (char[4]){0}, 4, 0);
    tc_printf(NAME("ioctl/%s/SIOCINQ-after-reading-4", F), "%d", ic_inq(s));
    int q = -1;
    for (int i = 0; i < 200; i++) {
        if (ioctl(c, SIOCOUTQ, &q) < 0 || q == 0) break;
        usleep(5000);
    }
    tc_printf(NAME("ioctl/%s/SIOCOUTQ-drains", F), "%d", q);
    v = -1;
    TC_SYS(NAME("ioctl/%s/SIOCOUTQNSD", F), ioctl(c, SIOCOUTQNSD, &v));
    tc_printf(NAME("ioctl/%s/SIOCOUTQNSD-value", F), "%d", v);
    v = -1;
    ioctl(s, SIOCATMARK, &v);
    tc_printf(NAME("ioctl/%s/SIOCATMARK-no-urgent", F), "%d", v);
    close(c);
    close(s);
    int l = ic_listener(af, NULL);
    TC_SYS(NAME("ioctl/%s/SIOCINQ-listener", F), ioctl(l, SIOCINQ, &v));
    TC_SYS(NAME("ioctl/%s/SIOCOUTQ-listener", F), ioctl(l, SIOCOUTQ, &v));
    close(l);
    int u = ic_socket(af, SOCK_STREAM);
    v = -1;
    TC_SYS(NAME("ioctl/%s/SIOCINQ-unconnected", F), ioctl(u, SIOCINQ, &v));
    tc_printf(NAME("ioctl/%s/SIOCINQ-unconnected-value", F), "%d", v);
    TC_SYS(NAME("ioctl/%s/unknown-ioctl", F), ioctl(u, 0x89ff, &v));
    close(u);
}

static void fill_cases(int af) {
    int c, s;
    ic_tcp_pair(af, &c, &s);
    ic_nonblock(c, 1);
    static char buf[65536];
    memset(buf, 'f', sizeof buf);
    long total = 0;
    int eagain = 0;
    for (int i = 0; i < 4000 && !eagain; i++) {
        ssize_t n = send(c, buf, sizeof buf, MSG_NOSIGNAL);
        if (n > 0) total += n;
        else if (n < 0 && errno == EAGAIN) eagain = 1;
        else tc_die("send");
    }
    TC_FACT(NAME("fill/%s/nonblocking-writer-reaches-EAGAIN", F), eagain);
    TC_FACT(NAME("fill/%s/writer-poll-has-no-POLLOUT", F), !(ic_poll0(c) & POLLOUT));
    TC_VAL(NAME("fill/%s/send-1-byte-when-full", F), send(c, "x", 1, MSG_NOSIGNAL));
    long rcvd = 0;
    ic_nonblock(s, 1);
    for (int idle = 0; idle < 100;) {
        ssize_t n = recv(s, buf, sizeof buf, 0);
        if (n > 0) { rcvd += n; idle = 0; continue; }
        if (rcvd == total) break;
        usleep(10000);
        idle++;
    }
    TC_FACT(NAME("fill/%s/reader-gets-every-byte", F), rcvd == total);
    TC_FACT(NAME("fill/%s/writer-writable-after-drain", F), ic_wait(c, POLLOUT, 2000) & POLLOUT);
    close(c);
    close(s);

    /* One oversized send: non-blocking gives a short count; blocking with
     * SO_SNDTIMEO returns the part it queued before the timeout. */
    for (int blocking = 0; blocking < 2; blocking++) {
        ic_tcp_pair(af, &c, &s);
        size_t len = 16 << 20;
        char *big = calloc(1, len);
        if (blocking) ic_timeo(c, 200);
        else ic_nonblock(c, 1);
        errno = 0;
        ssize_t n = send(c, big, len, MSG_NOSIGNAL);
        tc_printf(NAME("fill/%s/send-16MiB/%s", F, blocking ? "blocking-sndtimeo" : "nonblocking"),
                  "short count: %s", ic_yn(n > 0 && (size_t)n < len));
        free(big);
        close(c);
        close(s);
    }
}

/* 4 MiB through a writer thread; the reader checks the pattern. */
struct bigw { int fd; size_t len; };
static void *bigwriter(void *p) {
    struct bigw *w = p;
    static unsigned char buf[8192];
    size_t off = 0;
    while (off < w->len) {
        size_t k = w->len - off < sizeof buf ? w->len - off : sizeof buf;
        for (size_t i = 0; i < k; i++) buf[i] = (unsigned char)((off + i) * 7 + ((off + i) >> 13));
        ssize_t n = send(w->fd, buf, k, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += n;
    }
    shutdown(w->fd, SHUT_WR);
    return NULL;
}
static void bulk_cases(int af) {
    int c, s;
    ic_tcp_pair(af, &c, &s);
    ic_timeo(s, 3000);
    struct bigw w = {c, 4 << 20};
    pthread_t t;
    pthread_create(&t, NULL, bigwriter, &w);
    static unsigned char buf[10000];
    size_t off = 0;
    int ok = 1;
    for (;;) {
        ssize_t n = recv(s, buf, sizeof buf, 0);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != (unsigned char)((off + i) * 7 + ((off + i) >> 13))) ok = 0;
        off += n;
    }
    pthread_join(t, NULL);
    tc_printf(NAME("bulk/%s/4MiB", F), "received %zu, pattern intact: %s", off, ic_yn(ok));
    close(c);
    close(s);
}

int main(void) {
    ic_start();
    for (size_t i = 0; i < IC_N(ic_fams); i++) {
        int af = ic_fams[i];
        F = ic_fam(af);
        stream_cases(af);
        waitall_cases(af);
        oob_cases(af);
        buffer_cases(af);
        ioctl_cases(af);
        fill_cases(af);
        bulk_cases(af);
    }
    return tc_done();
}
