/* t_data.c: moving bytes over connected stream sockets, for AF_INET
 * (127.0.0.1), AF_UNIX paths and abstract names:
 *   - write/read and send/recv (byte counts, content), partial reads,
 *     MSG_PEEK, MSG_WAITALL, EAGAIN with MSG_DONTWAIT and O_NONBLOCK
 *   - fortified reads: read/recv/recvfrom into fixed-size buffers with
 *     lengths the compiler cannot see (__read_chk, __recv_chk, __recvfrom_chk)
 *   - shutdown(SHUT_WR) half-close, EOF after draining the data
 *   - writing after the peer closed: EPIPE with MSG_NOSIGNAL, with SIGPIPE
 *     ignored, and SIGPIPE delivered to a handler. TCP accepts the first
 *     write (the closed peer answers it with RST), so every scenario writes
 *     once, sleeps 50 ms, and writes again.
 *   - a 200000-byte transfer from a writer thread.
 */
#include "tsock.h"
#include <pthread.h>

static volatile sig_atomic_t sigpipes;
static void on_sigpipe(int sig) { sigpipes++; }

static void set_sigpipe(void (*handler)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) < 0) tc_die("sigaction");
}

/* Waits (bounded) until fd has something to read, so counts are deterministic. */
static void wait_readable(int fd) {
    if (!ts_readable(fd, 2000)) tc_die("timed out waiting for data");
}

/* Writes a whole string (set-up, not a case). */
static void put(int fd, const char *str) { ts_write_full(fd, str, strlen(str)); }

static void basic_cases(const char *k, int c, int s) {
    char buf[64];

    TC_VAL(ts_name("%s_write", k), write(c, "hello", 5));
    wait_readable(s);
    memset(buf, 0, sizeof buf);
    TC_VAL(ts_name("%s_read", k), read(s, buf, sizeof buf));
    TC_FACT(ts_name("%s_read_content", k), memcmp(buf, "hello", 6) == 0);

    TC_VAL(ts_name("%s_send", k), send(s, "world!", 6, 0));
    wait_readable(c);
    memset(buf, 0, sizeof buf);
    TC_VAL(ts_name("%s_recv", k), recv(c, buf, sizeof buf, 0));
    TC_FACT(ts_name("%s_recv_content", k), memcmp(buf, "world!", 7) == 0);

    /* Partial reads: 10 bytes taken as 4 then the remaining 6. */
    TC_VAL(ts_name("%s_partial_write", k), write(c, "0123456789", 10));
    wait_readable(s);
    memset(buf, 0, sizeof buf);
    TC_VAL(ts_name("%s_partial_read_4", k), read(s, buf, 4));
    TC_FACT(ts_name("%s_partial_read_4_content", k), memcmp(buf, "0123\0", 5) == 0);
    memset(buf, 0, sizeof buf);
    TC_VAL(ts_name("%s_partial_read_rest", k), read(s, buf, sizeof buf));
    TC_FACT(ts_name("%s_partial_read_rest_content", k), memcmp(buf, "456789\0", 7) == 0);

    /* MSG_PEEK leaves the data queued. */
    TC_VAL(ts_name("%s_peek_write", k), write(c, "peekaboo", 8));
    wait_readable(s);
    memset(buf, 0, sizeof buf);
    TC_VAL(ts_name("%s_peek_4", k), recv(s, buf, 4, MSG_PEEK));
    TC_FACT(ts_name("%s_peek_4_content", k), memcmp(buf, "peek\0", 5) == 0);
    TC_VAL(ts_name("%s_peek_all", k), recv(s, buf, sizeof buf, MSG_PEEK));
    memset(buf, 0, sizeof buf);
    TC_VAL(ts_name("%s_read_after_peek", k), read(s, buf, sizeof buf));
    TC_FACT(ts_name("%s_read_after_peek_content", k), memcmp(buf, "peekaboo", 9) == 0);

    /* Nothing queued: EAGAIN instead of blocking. */
    TC_VAL(ts_name("%s_recv_dontwait_empty", k), recv(s, buf, sizeof buf, MSG_DONTWAIT));
    int fl = fcntl(s, F_GETFL);
    if (fl < 0 || fcntl(s, F_SETFL, fl | O_NONBLOCK) < 0) tc_die("fcntl");
    TC_VAL(ts_name("%s_read_nonblock_empty", k), read(s, buf, sizeof buf));
    if (fcntl(s, F_SETFL, fl) < 0) tc_die("fcntl");

    /* MSG_WAITALL gathers two writes. */
    put(c, "abc");
    put(c, "def");
    memset(buf, 0, sizeof buf);
    TC_VAL(ts_name("%s_recv_waitall", k), recv(s, buf, 6, MSG_WAITALL));
    TC_FACT(ts_name("%s_recv_waitall_content", k), memcmp(buf, "abcdef\0", 7) == 0);
}

/* Reads into a 16-byte array with an opaque length: the _chk entry points. */
static void fortified_cases(const char *k, int c, int s) {
    char small[16];
    struct sockaddr_storage from;
    socklen_t fromlen;

    put(c, "fortified");
    wait_readable(s);
    memset(small, 0, sizeof small);
    TC_VAL(ts_name("%s_read_chk", k), read(s, small, ts_opaque(sizeof small)));
    TC_FACT(ts_name("%s_read_chk_content", k), memcmp(small, "fortified", 10) == 0);

    put(c, "recv");
    wait_readable(s);
    memset(small, 0, sizeof small);
    TC_VAL(ts_name("%s_recv_chk", k), recv(s, small, ts_opaque(sizeof small), 0));
    TC_FACT(ts_name("%s_recv_chk_content", k), memcmp(small, "recv", 5) == 0);

    /* recvfrom on a stream socket: the data, and no source address from
     * an unbound sender (length 0). */
    put(c, "from");
    wait_readable(s);
    memset(small, 0, sizeof small);
    fromlen = sizeof from;
    TC_VAL(ts_name("%s_recvfrom_chk", k),
           recvfrom(s, small, ts_opaque(sizeof small), 0, (struct sockaddr *)&from, &fromlen));
    TC_FACT(ts_name("%s_recvfrom_chk_content", k), memcmp(small, "from", 5) == 0);
    TC_VAL(ts_name("%s_recvfrom_addrlen", k), fromlen);

    /* The other way: a unix accepted socket carries the listener's name
     * (so the source address is the server's); TCP reports none. */
    put(s, "back");
    wait_readable(c);
    memset(small, 0, sizeof small);
    fromlen = sizeof from;
    TC_VAL(ts_name("%s_recvfrom_server", k),
           recvfrom(c, small, ts_opaque(sizeof small), 0, (struct sockaddr *)&from, &fromlen));
    TC_VAL(ts_name("%s_recvfrom_server_addrlen", k), fromlen);
}

/* shutdown(SHUT_WR): the peer reads EOF and can still answer. */
static void half_close_cases(const char *k, int c, int s) {
    char buf[64];
    TC_SYS(ts_name("%s_shutdown_wr", k), shutdown(c, SHUT_WR));
    TC_VAL(ts_name("%s_read_after_peer_shutdown", k), read(s, buf, sizeof buf));
    TC_VAL(ts_name("%s_send_after_shutdown_wr", k), send(c, "x", 1, MSG_NOSIGNAL));
    TC_VAL(ts_name("%s_write_back_after_shutdown", k), write(s, "back", 4));
    wait_readable(c);
    memset(buf, 0, sizeof buf);
    TC_VAL(ts_name("%s_read_back_after_shutdown", k), read(c, buf, sizeof buf));
    TC_FACT(ts_name("%s_read_back_content", k), memcmp(buf, "back", 5) == 0);
}

/* Data written before close is drained first, then EOF (again and again). */
static void eof_cases(enum ts_kind kind) {
    const char *k = ts_kind_names[kind];
    char buf[64];
    int c, s;
    ts_pair(kind, &c, &s);
    put(c, "bye");
    close(c);
    wait_readable(s);
    TC_VAL(ts_name("%s_drain_2", k), read(s, buf, 2));
    TC_VAL(ts_name("%s_drain_rest", k), read(s, buf, sizeof buf));
    TC_VAL(ts_name("%s_eof", k), read(s, buf, sizeof buf));
    TC_VAL(ts_name("%s_eof_again", k), recv(s, buf, sizeof buf, 0));
    close(s);
}

/* Writes to a socket whose peer has closed. mode: how SIGPIPE is handled. */
enum pipe_mode { SEND_NOSIGNAL, WRITE_IGNORED, WRITE_HANDLED };
static const char *const pipe_mode_names[] = {"send_nosignal", "write_sigign", "write_handler"};

static void epipe_case(enum ts_kind kind, enum pipe_mode mode) {
    const char *k = ts_kind_names[kind];
    const char *m = pipe_mode_names[mode];
    int c, s;
    ts_pair(kind, &c, &s);
    close(s);
    set_sigpipe(mode == WRITE_IGNORED ? SIG_IGN : on_sigpipe);
    sigpipes = 0;
    for (int i = 1; i <= 2; i++) {
        if (i == 2) ts_msleep(50);
        if (mode == SEND_NOSIGNAL)
            TC_VAL(ts_name("%s_epipe_%s_%d", k, m, i), send(c, "hello", 5, MSG_NOSIGNAL));
        else
            TC_VAL(ts_name("%s_epipe_%s_%d", k, m, i), write(c, "hello", 5));
    }
    if (mode != WRITE_IGNORED) TC_VAL(ts_name("%s_epipe_%s_sigpipes", k, m), sigpipes);
    set_sigpipe(SIG_DFL);
    close(c);
}

/* A bulk transfer from a thread, larger than the socket buffers. */
#define BULK 200000
static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + i / 251); }

static void *bulk_writer(void *arg) {
    int fd = *(int *)arg;
    static unsigned char out[BULK];
    for (size_t i = 0; i < BULK; i++) out[i] = pattern(i);
    for (size_t off = 0; off < BULK;) {
        size_t n = BULK - off < 7000 ? BULK - off : 7000;
        ssize_t w = write(fd, out + off, n);
        if (w <= 0) break;
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    return NULL;
}

static void bulk_case(enum ts_kind kind) {
    const char *k = ts_kind_names[kind];
    int c, s;
    ts_pair(kind, &c, &s);
    pthread_t th;
    if (pthread_create(&th, NULL, bulk_writer, &c) != 0) tc_die("pthread_create");
    unsigned char buf[4096];
    size_t total = 0;
    int same = 1;
    for (;;) {
        ssize_t n = read(s, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) same &= buf[i] == pattern(total + (size_t)i);
        total += (size_t)n;
    }
    pthread_join(th, NULL);
    TC_VAL(ts_name("%s_bulk_bytes", k), (long)total);
    TC_FACT(ts_name("%s_bulk_content", k), same);
    close(c);
    close(s);
}

/* Write then close at once, connection after connection: the byte queued
 * before the close must be read before the EOF (the FIN may not overtake
 * the data). to_server: the connecting child writes and closes, the
 * parent reads; otherwise the accepted end writes and closes and the child
 * reads. Counts the connections where the reader saw its byte then EOF. */
#define RACE_CONNS 300
static void write_close_case(enum ts_kind kind, int to_server) {
    const char *k = ts_kind_names[kind];
    struct sockaddr_storage addr;
    socklen_t len;
    int l = ts_listener(kind, "wclose", &addr, &len);
    /* Room for every connection: a full accept queue makes the kernel drop
     * SYNs (retried a second later), which is not what is tested here. */
    if (listen(l, RACE_CONNS) < 0) tc_die("listen");
    pid_t pid = fork();
    if (pid < 0) tc_die("fork");
    if (pid == 0) {
        int good = 0;
        close(l);
        for (int i = 0; i < RACE_CONNS; i++) {
            int fd = ts_connect(&addr, len);
            char b = (char)('a' + i % 26), r = 0;
            if (to_server) {
                ts_write_full(fd, &b, 1);
            } else {
                good += ts_read_full(fd, &r, 1) == 1 && r == b && read(fd, &r, 1) == 0;
            }
            close(fd);
        }
        _exit(to_server ? 0 : good == RACE_CONNS ? 0 : 1);
    }
    int good = 0;
    for (int i = 0; i < RACE_CONNS; i++) {
        int fd = accept(l, NULL, NULL);
        if (fd < 0) tc_die("accept");
        char b = (char)('a' + i % 26), r = 0;
        if (to_server) {
            good += ts_read_full(fd, &r, 1) == 1 && r == b && read(fd, &r, 1) == 0;
        } else {
            ts_write_full(fd, &b, 1);
        }
        close(fd);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0) tc_die("waitpid");
    if (!to_server) good = WIFEXITED(st) && WEXITSTATUS(st) == 0 ? RACE_CONNS : 0;
    TC_VAL(ts_name("%s_write_close_%s_byte_then_eof", k, to_server ? "to_server" : "to_client"), good);
    ts_close_listener(l, &addr);
}

int main(void) {
    ts_init("data");
    for (int kind = TS_INET; kind <= TS_ABSTRACT; kind++) {
        const char *k = ts_kind_names[kind];
        int c, s;
        ts_pair(kind, &c, &s);
        basic_cases(k, c, s);
        fortified_cases(k, c, s);
        half_close_cases(k, c, s);
        close(c);
        close(s);
        eof_cases(kind);
        for (int m = SEND_NOSIGNAL; m <= WRITE_HANDLED; m++) epipe_case(kind, m);
        bulk_case(kind);
        write_close_case(kind, 1);
        write_close_case(kind, 0);
    }
    return tc_done();
}
