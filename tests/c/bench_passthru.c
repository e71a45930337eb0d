/* bench_passthru KIND SECS
 *
 * The cost of read() and write() on a file descriptor the shim does not
 * emulate, in ns per call: one process writes 1 byte and reads it back, in
 * a loop, for SECS seconds. KIND:
 *   pipe       a pipe made by this process
 *   sock       socketpair(AF_UNIX, SOCK_STREAM) made by this process (under
 *              the shim in NETSHIM_MODE=passthrough a kernel socket; in
 *              emulate mode an emulated one)
 *   inherited  a kernel socketpair made before the shim is loaded: the
 *              program makes it, then re-executes itself with LD_PRELOAD set
 *              to $BENCH_PRELOAD (when set), so the shim sees a kernel
 *              socket it did not make, as with socket activation
 * Prints  ns_per_call=...  calls=...
 * and for a pipe also  paired_added_ns=...: in the same process, blocks of
 * calls through read()/write() (the shim's, when it is loaded) alternate
 * with blocks through libc's own functions (looked up in libc itself), so
 * the difference is the shim's cost per call, free of the drift between
 * separate runs that dwarfs it on a shared machine. Without the shim it is
 * about 0, which is the check of the method.
 */
#include "bench.h"
#include <dlfcn.h>

static void loop(int wfd, int rfd, uint64_t dur) {
    char c = 'x';
    uint64_t iters = 0, t0 = bench_now(), t = t0, end = t0 + dur;
    /* Warm-up: the first calls resolve symbols and fault pages in. */
    for (int i = 0; i < 1000; i++)
        if (write(wfd, &c, 1) != 1 || read(rfd, &c, 1) != 1)
            BENCH_DIE("warm-up");
    t0 = t = bench_now();
    end = t0 + dur;
    while (t < end) {
        for (int i = 0; i < 1024; i++) {
            if (write(wfd, &c, 1) != 1)
                BENCH_DIE("write");
            if (read(rfd, &c, 1) != 1)
                BENCH_DIE("read");
        }
        iters += 1024;
        t = bench_now();
    }
    printf("ns_per_call=%.2f calls=%llu\n", (double)(t - t0) / (double)(2 * iters), (unsigned long long)(2 * iters));
}

typedef ssize_t (*rw_fn)(int, void *, size_t);

/* One block of n write+read pairs through w and r; its duration. */
static uint64_t block(rw_fn w, rw_fn r, int wfd, int rfd, int n) {
    char c = 'x';
    uint64_t t0 = bench_now();
    for (int i = 0; i < n; i++)
        if (w(wfd, &c, 1) != 1 || r(rfd, &c, 1) != 1)
            BENCH_DIE("paired block");
    return bench_now() - t0;
}

static ssize_t hooked_read(int fd, void *b, size_t n) { return read(fd, b, n); }
static ssize_t hooked_write(int fd, void *b, size_t n) { return write(fd, b, n); }

static void paired(int wfd, int rfd, uint64_t dur) {
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    rw_fn lread = libc ? (rw_fn)dlsym(libc, "read") : NULL, lwrite = libc ? (rw_fn)dlsym(libc, "write") : NULL;
    if (!lread || !lwrite)
        BENCH_DIE("dlsym libc read/write");
    const int n = 256;
    uint64_t hooked = 0, direct = 0, pairs = 0, end = bench_now() + dur;
    block(hooked_write, hooked_read, wfd, rfd, n);
    block(lwrite, lread, wfd, rfd, n);
    for (unsigned k = 0; bench_now() < end; k++) {
        /* The order alternates, so neither side always runs second. */
        if (k & 1) {
            direct += block(lwrite, lread, wfd, rfd, n);
            hooked += block(hooked_write, hooked_read, wfd, rfd, n);
        } else {
            hooked += block(hooked_write, hooked_read, wfd, rfd, n);
            direct += block(lwrite, lread, wfd, rfd, n);
        }
        pairs += (uint64_t)n;
    }
    printf("paired_added_ns=%.2f paired_calls=%llu\n", ((double)hooked - (double)direct) / (double)(2 * pairs),
           (unsigned long long)(2 * pairs));
}

int main(int argc, char **argv) {
    bench_prog = "bench_passthru";
    if (argc != 3) {
        fprintf(stderr, "usage: bench_passthru pipe|sock|inherited SECS\n");
        return 2;
    }
    uint64_t dur = bench_secs_ns(argv[2]);
    int fds[2];
    if (!strcmp(argv[1], "pipe")) {
        if (pipe(fds) < 0)
            BENCH_DIE("pipe");
        loop(fds[1], fds[0], dur);
        paired(fds[1], fds[0], dur);
    } else if (!strcmp(argv[1], "sock")) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
            BENCH_DIE("socketpair");
        loop(fds[0], fds[1], dur);
    } else if (!strcmp(argv[1], "inherited")) {
        const char *have = getenv("BENCH_PASSTHRU_FDS");
        if (have) {
            if (sscanf(have, "%d,%d", &fds[0], &fds[1]) != 2)
                BENCH_DIE("BENCH_PASSTHRU_FDS");
            loop(fds[0], fds[1], dur);
        } else {
            if (getenv("LD_PRELOAD") && *getenv("LD_PRELOAD")) {
                fprintf(stderr, "bench_passthru: run 'inherited' without LD_PRELOAD (set BENCH_PRELOAD)\n");
                return 2;
            }
            if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
                BENCH_DIE("socketpair");
            char v[32];
            snprintf(v, sizeof v, "%d,%d", fds[0], fds[1]);
            setenv("BENCH_PASSTHRU_FDS", v, 1);
            const char *pre = getenv("BENCH_PRELOAD");
            if (pre && *pre)
                setenv("LD_PRELOAD", pre, 1);
            execv("/proc/self/exe", argv);
            BENCH_DIE("execv");
        }
    } else {
        fprintf(stderr, "bench_passthru: kind must be pipe, sock or inherited\n");
        return 2;
    }
    return 0;
}
