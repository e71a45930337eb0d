/* bench_pingpong FAMILY SIZE SECS
 *
 * Two processes: the parent listens (FAMILY unix = AF_UNIX stream on an
 * abstract name, tcp = 127.0.0.1 with TCP_NODELAY) and echoes; the forked
 * child connects and, for SECS seconds, writes SIZE bytes and reads them
 * back, timing each round trip. Prints
 *   rtt_per_s=...  p50_us=...  p99_us=...  n=...
 */
#include "bench.h"

int main(int argc, char **argv) {
    bench_prog = "bench_pingpong";
    bench_args(argc, 4, "unix|tcp SIZE SECS");
    size_t size = (size_t)atol(argv[2]);
    uint64_t dur = bench_secs_ns(argv[3]);
    char *buf = bench_buf(&size, 0);
    struct bench_addr a;
    int lfd = bench_listener(argv[1], &a, 16);
    pid_t pid = bench_fork();
    if (pid == 0) {
        close(lfd);
        int fd = bench_connect(&a);
        static struct hist h;
        /* A short warm-up: both sides running, buffers faulted in. */
        for (int i = 0; i < 100; i++) {
            write_full(fd, buf, size);
            read_full(fd, buf, size);
        }
        uint64_t t0 = bench_now(), t = t0, end = t0 + dur;
        while (t < end) {
            write_full(fd, buf, size);
            if (!read_full(fd, buf, size)) {
                errno = EPIPE;
                BENCH_DIE("echo side closed");
            }
            uint64_t t2 = bench_now();
            hist_add(&h, t2 - t);
            t = t2;
        }
        double secs = (double)(t - t0) / 1e9;
        printf("rtt_per_s=%.0f p50_us=%.3f p99_us=%.3f n=%llu\n", (double)h.count / secs, hist_q(&h, 0.5) / 1e3,
               hist_q(&h, 0.99) / 1e3, (unsigned long long)h.count);
        fflush(stdout);
        close(fd);
        _exit(0);
    }
    int fd = bench_accept(lfd, a.family);
    close(lfd);
    while (read_full(fd, buf, size))
        write_full(fd, buf, size);
    close(fd);
    bench_reap(pid);
    return 0;
}
