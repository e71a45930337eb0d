/* t_bulk.c: large transfers over every stream kind (socketpair, AF_UNIX
 * path and abstract, TCP over 127.0.0.1 and ::1), with write and read
 * sizes on both sides of the sizes where the emulation changes how it
 * copies (16 KiB, 64 KiB, its 256 KiB ring), so reader and writer copy at
 * the same time in every combination:
 *   sizes          a writer process sends 24 MiB in writes and writevs of
 *                  1 B to 3 MiB; the reader reads with recv, readv and
 *                  MSG_PEEK (each peek compared with the read after it)
 *   waitall        MSG_WAITALL reads of 1 MiB + 5 against 64 KiB + 1 writes:
 *                  every read full but the last
 *   two-readers    two threads read one socket at once: together they get
 *                  every byte once (count and byte histogram)
 *   reader-closes  the reader closes with data unread while the writer is
 *                  in a 1 MiB send: the writer's first error
 *   writer-killed  a writer process is killed with SIGKILL mid-stream: the
 *                  reader gets the queued bytes in order, then EOF
 *   reader-killed  one of two reader processes is killed mid-stream (it
 *                  may hold the reader lock): the other reads on to EOF
 * Every byte of the stream is a function of its offset, so the reader
 * checks order and content.
 */
#include "tsock.h"
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/uio.h>

#define TOTAL (24u << 20)

enum kind { K_PAIR, K_UNIX, K_ABSTRACT, K_TCP4, K_TCP6 };
static const char *const kind_names[] = {"pair", "unix", "abstract", "tcp4", "tcp6"};

/* Byte `k` of every stream. */
static unsigned char pat(size_t k) { return (unsigned char)(k ^ (k >> 7) ^ (k >> 17) * 13); }

static void fill(unsigned char *b, size_t off, size_t n) {
    for (size_t i = 0; i < n; i++) b[i] = pat(off + i);
}

/* Offset of the first byte of b[0..n) that is not the stream's, or -1. */
static long check(const unsigned char *b, size_t off, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat(off + i)) return (long)i;
    return -1;
}

static void tcp6_pair(int *c, int *s) {
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    socklen_t len = sizeof a;
    int l = socket(AF_INET6, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, len) < 0 || listen(l, 4) < 0) tc_die("tcp6 listener");
    if (getsockname(l, (struct sockaddr *)&a, &len) < 0) tc_die("getsockname");
    *c = socket(AF_INET6, SOCK_STREAM, 0);
    if (*c < 0 || connect(*c, (struct sockaddr *)&a, len) < 0) tc_die("tcp6 connect");
    *s = accept(l, NULL, NULL);
    if (*s < 0) tc_die("accept");
    close(l);
}

/* A connected pair: w writes, r reads. */
static void make_pair(enum kind k, int *w, int *r) {
    int sv[2];
    switch (k) {
    case K_PAIR:
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) tc_die("socketpair");
        *w = sv[0];
        *r = sv[1];
        break;
    case K_UNIX: ts_pair(TS_UNIX, w, r); break;
    case K_ABSTRACT: ts_pair(TS_ABSTRACT, w, r); break;
    case K_TCP4: ts_pair(TS_INET, w, r); break;
    case K_TCP6: tcp6_pair(w, r); break;
    }
    if (k == K_TCP4 || k == K_TCP6) {
        int one = 1;
        setsockopt(*w, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

/* fork(), the child closing `fd` (its end of the pair is the other). */
static pid_t fork_closing(int fd) {
    pid_t pid = fork();
    if (pid < 0) tc_die("fork");
    if (pid == 0) close(fd);
    return pid;
}

static const size_t wsizes[] = {1, 4096, 16385, 65536, 65537, 200000, 1u << 20, 3u << 20, 7, 262144, 262145};
static const size_t rsizes[] = {100, 16385, 65536, 300000, 1u << 20, 4u << 20, 16384, 262144};

/* Writes `total` bytes of the stream: plain writes, and every third one a
 * writev of three pieces. Returns 0 when all went. */
static int write_stream(int fd, size_t total, const size_t *sizes, size_t nsizes) {
    unsigned char *buf = malloc(3u << 20);
    if (!buf) return 1;
    size_t off = 0;
    for (unsigned i = 0; off < total; i++) {
        size_t n = sizes[i % nsizes];
        if (n > total - off) n = total - off;
        fill(buf, off, n);
        ssize_t got;
        if (i % 3 == 2 && n >= 3) {
            struct iovec v[3] = {{buf, n / 3}, {buf + n / 3, n / 3}, {buf + 2 * (n / 3), n - 2 * (n / 3)}};
            got = writev(fd, v, 3);
        } else {
            got = send(fd, buf, n, MSG_NOSIGNAL);
        }
        if (got <= 0) {
            free(buf);
            return 1;
        }
        off += (size_t)got;
    }
    free(buf);
    return 0;
}

static void c_sizes(enum kind k) {
    int w, r;
    make_pair(k, &w, &r);
    pid_t pid = fork_closing(r);
    if (pid == 0) {
        int rc = write_stream(w, TOTAL, wsizes, sizeof wsizes / sizeof *wsizes);
        shutdown(w, SHUT_WR);
        _exit(rc);
    }
    close(w);
    unsigned char *buf = malloc(4u << 20), *peekbuf = malloc(4u << 20);
    if (!buf || !peekbuf) tc_die("malloc");
    size_t off = 0;
    int intact = 1, peeks_ok = 1, peeks = 0;
    for (unsigned i = 0;; i++) {
        size_t n = rsizes[i % (sizeof rsizes / sizeof *rsizes)];
        ssize_t got;
        if (i % 5 == 3) {
            /* Peek, then read what the peek saw: the same bytes. */
            ssize_t p = recv(r, peekbuf, n, MSG_PEEK);
            if (p <= 0) {
                got = p;
            } else {
                peeks++;
                got = recv(r, buf, (size_t)p, 0);
                if (got != p || memcmp(buf, peekbuf, (size_t)p) != 0) peeks_ok = 0;
            }
        } else if (i % 5 == 1) {
            struct iovec v[3] = {{buf, n / 2}, {buf + n / 2, 1}, {buf + n / 2 + 1, n - n / 2 - 1}};
            got = readv(r, v, 3);
        } else {
            got = recv(r, buf, n, 0);
        }
        if (got <= 0) break;
        if (check(buf, off, (size_t)got) >= 0) intact = 0;
        off += (size_t)got;
    }
    int st;
    waitpid(pid, &st, 0);
    tc_printf(ts_name("bulk/%s/sizes", kind_names[k]), "received %zu, intact: %s, peeks matched: %s, writer %s",
              off, intact ? "yes" : "no", peeks > 0 && peeks_ok ? "yes" : "no",
              WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "failed");
    free(buf);
    free(peekbuf);
    close(r);
}

struct wjob { int fd; size_t total; const size_t *sizes; size_t n; int rc; };
static void *writer_thread(void *p) {
    struct wjob *j = p;
    j->rc = write_stream(j->fd, j->total, j->sizes, j->n);
    shutdown(j->fd, SHUT_WR);
    return NULL;
}

static void c_waitall(enum kind k) {
    int w, r;
    make_pair(k, &w, &r);
    static const size_t ws[] = {65537};
    const size_t total = 8u << 20, rn = (1u << 20) + 5;
    struct wjob j = {w, total, ws, 1, 0};
    pthread_t t;
    if (pthread_create(&t, NULL, writer_thread, &j) != 0) tc_die("pthread_create");
    unsigned char *buf = malloc(rn);
    if (!buf) tc_die("malloc");
    size_t off = 0;
    int intact = 1, full = 0, shorts = 0;
    for (;;) {
        ssize_t got = recv(r, buf, rn, MSG_WAITALL);
        if (got <= 0) break;
        if (check(buf, off, (size_t)got) >= 0) intact = 0;
        off += (size_t)got;
        if ((size_t)got == rn) full++;
        else shorts++;
    }
    pthread_join(t, NULL);
    tc_printf(ts_name("bulk/%s/waitall", kind_names[k]), "received %zu, full reads %d, short %d, intact: %s, writer %s",
              off, full, shorts, intact ? "yes" : "no", j.rc == 0 ? "ok" : "failed");
    free(buf);
    close(w);
    close(r);
}

struct rjob { int fd; size_t got; unsigned long hist[256]; };
static void *reader_thread(void *p) {
    struct rjob *j = p;
    unsigned char *buf = malloc(70000);
    if (!buf) return NULL;
    for (;;) {
        ssize_t n = recv(j->fd, buf, 70000, 0);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) j->hist[buf[i]]++;
        j->got += (size_t)n;
    }
    free(buf);
    return NULL;
}

static void c_two_readers(enum kind k) {
    int w, r;
    make_pair(k, &w, &r);
    static const size_t ws[] = {1u << 20, 65536, 300000, 17};
    const size_t total = 16u << 20;
    struct wjob j = {w, total, ws, 4, 0};
    static struct rjob a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.fd = b.fd = r;
    pthread_t tw, ta, tb;
    if (pthread_create(&ta, NULL, reader_thread, &a) || pthread_create(&tb, NULL, reader_thread, &b) ||
        pthread_create(&tw, NULL, writer_thread, &j))
        tc_die("pthread_create");
    pthread_join(tw, NULL);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    static unsigned long want[256];
    memset(want, 0, sizeof want);
    for (size_t i = 0; i < total; i++) want[pat(i)]++;
    int same = 1;
    for (int i = 0; i < 256; i++)
        if (a.hist[i] + b.hist[i] != want[i]) same = 0;
    tc_printf(ts_name("bulk/%s/two-readers", kind_names[k]), "together %zu, every byte once: %s, writer %s",
              a.got + b.got, same ? "yes" : "no", j.rc == 0 ? "ok" : "failed");
    close(w);
    close(r);
}

static void c_reader_closes(enum kind k) {
    int w, r;
    make_pair(k, &w, &r);
    pid_t pid = fork_closing(w);
    if (pid == 0) {
        /* The reader: 100 KiB, then close with more queued. */
        unsigned char *buf = malloc(100000);
        size_t off = 0;
        int ok = buf != NULL;
        while (ok && off < 100000) {
            ssize_t n = recv(r, buf, 100000 - off, 0);
            if (n <= 0) break;
            if (check(buf, off, (size_t)n) >= 0) ok = 0;
            off += (size_t)n;
        }
        ts_msleep(20);
        close(r);
        _exit(ok && off == 100000 ? 0 : 1);
    }
    close(r);
    unsigned char *buf = malloc(1u << 20);
    if (!buf) tc_die("malloc");
    size_t off = 0;
    int err = 0;
    while (off < (64u << 20)) {
        fill(buf, off, 1u << 20);
        ssize_t n = send(w, buf, 1u << 20, MSG_NOSIGNAL);
        if (n < 0) {
            err = errno;
            break;
        }
        off += (size_t)n;
    }
    int st;
    waitpid(pid, &st, 0);
    tc_printf(ts_name("bulk/%s/reader-closes", kind_names[k]), "first error %s, reader %s",
              err ? tc_errname(err) : "none", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "failed");
    free(buf);
    close(w);
}

/* A writer process sending 1 MiB chunks is killed with SIGKILL in the
 * middle of the stream (likely inside a copy, holding the writer lock):
 * the reader gets what was queued, in order, then EOF. */
static void c_writer_killed(enum kind k) {
    int w, r;
    make_pair(k, &w, &r);
    pid_t pid = fork_closing(r);
    if (pid == 0) {
        write_stream(w, 1u << 30, (const size_t[]){1u << 20}, 1);
        _exit(0);
    }
    close(w);
    unsigned char *buf = malloc(1u << 20);
    if (!buf) tc_die("malloc");
    size_t off = 0;
    int intact = 1, killed = 0;
    for (;;) {
        ssize_t n = recv(r, buf, 1u << 20, 0);
        if (n <= 0) break;
        if (check(buf, off, (size_t)n) >= 0) intact = 0;
        off += (size_t)n;
        if (!killed && off >= (5u << 20)) {
            kill(pid, SIGKILL);
            killed = 1;
        }
    }
    int st;
    waitpid(pid, &st, 0);
    tc_printf(ts_name("bulk/%s/writer-killed", kind_names[k]), "EOF after the kill: %s, intact: %s",
              killed && off < (1u << 30) ? "yes" : "no", intact ? "yes" : "no");
    free(buf);
    close(r);
}

/* Two reader processes share the socket; one is killed with SIGKILL while
 * the stream flows (likely inside a copy, holding the reader lock): the
 * other goes on reading to the end. */
static void c_reader_killed(enum kind k) {
    int w, r;
    make_pair(k, &w, &r);
    int pp[2];
    if (pipe(pp) < 0) tc_die("pipe");
    pid_t victim = fork_closing(w);
    if (victim == 0) {
        unsigned char *buf = malloc(1u << 20);
        for (;;)
            if (recv(r, buf, 1u << 20, 0) <= 0) _exit(0);
    }
    pid_t survivor = fork_closing(w);
    if (survivor == 0) {
        close(pp[0]);
        unsigned char *buf = malloc(1u << 20);
        size_t got = 0;
        for (;;) {
            ssize_t n = recv(r, buf, 1u << 20, 0);
            if (n <= 0) break;
            got += (size_t)n;
        }
        char line[32];
        int len = snprintf(line, sizeof line, "%d", got > 0);
        if (write(pp[1], line, (size_t)len) != len) _exit(3);
        _exit(0);
    }
    close(r);
    close(pp[1]);
    static const size_t ws[] = {1u << 20, 300000};
    unsigned char *buf = malloc(1u << 20);
    if (!buf) tc_die("malloc");
    size_t off = 0;
    int sent_ok = 1;
    for (int i = 0; off < (64u << 20); i++) {
        size_t n = ws[i % 2];
        fill(buf, off, n);
        ssize_t m = send(w, buf, n, MSG_NOSIGNAL);
        if (m <= 0) {
            sent_ok = 0;
            break;
        }
        off += (size_t)m;
        if (i == 8) kill(victim, SIGKILL);
    }
    shutdown(w, SHUT_WR);
    char line[32] = {0};
    ssize_t n = ts_read_full(pp[0], line, sizeof line - 1);
    int st1, st2;
    waitpid(victim, &st1, 0);
    waitpid(survivor, &st2, 0);
    tc_printf(ts_name("bulk/%s/reader-killed", kind_names[k]), "all sent: %s, the other reader read to EOF: %s",
              sent_ok ? "yes" : "no", n > 0 && line[0] == '1' && WIFEXITED(st2) && WEXITSTATUS(st2) == 0 ? "yes" : "no");
    free(buf);
    close(pp[0]);
    close(w);
}

int main(void) {
    ts_init("bulk");
    signal(SIGPIPE, SIG_IGN);
    alarm(60);
    for (int k = K_PAIR; k <= K_TCP6; k++) {
        c_sizes(k);
        c_waitall(k);
        c_two_readers(k);
        c_reader_closes(k);
        c_writer_killed(k);
        c_reader_killed(k);
    }
    return 0;
}
