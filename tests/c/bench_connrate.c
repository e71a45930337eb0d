/* bench_connrate FAMILY SECS
 *
 * Connection rate between two processes. The parent listens (FAMILY unix or
 * tcp, as bench_pingpong) and, per connection, accepts, reads 1 byte,
 * writes it back and closes. The forked child, for SECS seconds, makes
 * socket + connect + 1-byte write + 1-byte read + close, one connection at
 * a time; a last connection carrying 'q' stops the server. Prints
 *   conn_per_s=...  n=...
 */
#include "bench.h"

int main(int argc, char **argv) {
    bench_prog = "bench_connrate";
    bench_args(argc, 3, "unix|tcp SECS");
    uint64_t dur = bench_secs_ns(argv[2]);
    struct bench_addr a;
    int lfd = bench_listener(argv[1], &a, 128);
    pid_t pid = bench_fork();
    if (pid == 0) {
        close(lfd);
        char c = 'x';
        uint64_t n = 0, t0 = bench_now(), t = t0, end = t0 + dur;
        while (t < end) {
            int fd = bench_connect(&a);
            write_full(fd, &c, 1);
            if (!read_full(fd, &c, 1)) {
                errno = EPIPE;
                BENCH_DIE("no reply");
            }
            close(fd);
            n++;
            t = bench_now();
        }
        printf("conn_per_s=%.0f n=%llu\n", (double)n / ((double)(t - t0) / 1e9), (unsigned long long)n);
        fflush(stdout);
        int fd = bench_connect(&a);
        c = 'q';
        write_full(fd, &c, 1);
        close(fd);
        _exit(0);
    }
    for (;;) {
        int fd = bench_accept(lfd, a.family);
        char c;
        if (!read_full(fd, &c, 1)) {
            errno = EPIPE;
            BENCH_DIE("client sent nothing");
        }
        if (c == 'q') {
            close(fd);
            break;
        }
        write_full(fd, &c, 1);
        close(fd);
    }
    close(lfd);
    bench_reap(pid);
    return 0;
}
