/* bench_stream FAMILY CHUNK SECS
 *
 * Streaming throughput between two processes. FAMILY: unix (AF_UNIX stream
 * socket, connected through a listener), tcp (127.0.0.1, TCP_NODELAY) or
 * pair (socketpair(AF_UNIX, SOCK_STREAM)). The forked child writes CHUNK
 * bytes per write() for SECS seconds and closes; the parent reads with a
 * CHUNK-byte buffer and times from its first byte to EOF. Prints
 *   gbytes_per_s=...  bytes=...
 */
#include "bench.h"

int main(int argc, char **argv) {
    bench_prog = "bench_stream";
    bench_args(argc, 4, "unix|tcp|pair CHUNK SECS");
    size_t chunk = (size_t)atol(argv[2]);
    uint64_t dur = bench_secs_ns(argv[3]);
    char *buf = bench_buf(&chunk, 'x');
    int pair = !strcmp(argv[1], "pair");
    int sv[2] = {-1, -1}, lfd = -1;
    struct bench_addr a;
    if (pair) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
            BENCH_DIE("socketpair");
    } else {
        lfd = bench_listener(argv[1], &a, 16);
    }
    pid_t pid = bench_fork();
    if (pid == 0) {
        int fd;
        if (pair) {
            close(sv[0]);
            fd = sv[1];
        } else {
            close(lfd);
            fd = bench_connect(&a);
        }
        uint64_t end = bench_now() + dur;
        do
            write_full(fd, buf, chunk);
        while (bench_now() < end);
        close(fd);
        _exit(0);
    }
    int fd;
    if (pair) {
        close(sv[1]);
        fd = sv[0];
    } else {
        fd = bench_accept(lfd, a.family);
        close(lfd);
    }
    uint64_t total = 0, t0 = 0;
    for (;;) {
        ssize_t r = read(fd, buf, chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            BENCH_DIE("read");
        if (r == 0)
            break;
        if (!t0)
            t0 = bench_now();
        total += (uint64_t)r;
    }
    uint64_t t1 = bench_now();
    close(fd);
    bench_reap(pid);
    double secs = t0 ? (double)(t1 - t0) / 1e9 : 1;
    printf("gbytes_per_s=%.4f bytes=%llu\n", (double)total / secs / 1e9, (unsigned long long)total);
    return 0;
}
