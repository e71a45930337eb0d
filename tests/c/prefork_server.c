/* prefork_server.c: a pre-forking TCP server (the classic Apache model):
 * N worker processes accept on one listening socket.
 *
 *   usage: prefork_server <ip> <port> <workers>
 *
 * Binds ip:port (IPv6 when ip contains ':'), listens, prints "listening",
 * then forks <workers> processes that all block in accept() on the one
 * listening socket. Each connection speaks the seed protocol of server.cpp
 * and client.cpp: the client writes a 1024-byte buffer holding its line;
 * the worker answers a 1024-byte buffer "echo: <line>" and closes. A
 * connection that ends before its message is not counted.
 *
 * On SIGTERM or SIGINT the parent passes the signal on; a worker's accept
 * fails with EINTR (the handler has no SA_RESTART), and the worker exits
 * with the number of connections it served (at most 250) as its status.
 * The parent prints "prefork: <n> workers exited, <m> connections served"
 * and exits 0. Output is deterministic: which worker served what is not
 * printed.
 */
#include "utils.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

static volatile sig_atomic_t stopping;
static void on_stop(int sig) { stopping = sig; }

/* Reads until n bytes or EOF; returns the count, -1 on error. */
static ssize_t read_full(int fd, char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR && !stopping) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int worker(int lfd) {
    int served = 0;
    while (!stopping) {
        int conn = accept(lfd, NULL, NULL);
        if (conn < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            perror("accept");
            break;
        }
        char msg[1024], reply[1024];
        memset(msg, 0, sizeof msg);
        ssize_t n = read_full(conn, msg, sizeof msg);
        if (n > 0) {
            memset(reply, 0, sizeof reply);
            snprintf(reply, sizeof reply, "echo: %.*s", msg_len(msg, (size_t)n), msg);
            if (write_all(conn, reply, sizeof reply) == (ssize_t)sizeof reply && served < 250) served++;
        }
        close(conn);
    }
    return served;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s <ip> <port> <workers>\n", argv[0]);
        return 2;
    }
    int nworkers = atoi(argv[3]);
    if (nworkers < 1 || nworkers > 64) {
        fprintf(stderr, "workers: 1 to 64\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;  /* no SA_RESTART: accept() returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int lfd = bind_socket(argv[1], atoi(argv[2]));
    if (lfd < 0 || listen(lfd, 128) < 0) {
        perror("bind/listen");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);

    pid_t pids[64];
    for (int i = 0; i < nworkers; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            perror("fork");
            return 1;
        }
        if (pids[i] == 0) _exit(worker(lfd));
    }
    /* The parent keeps its copy of the listener, as Apache's does. */
    while (!stopping) pause();
    /* A signal that lands between a worker's check of `stopping` and its
     * accept() would be lost: it is sent again every 100 ms until all are
     * gone. */
    int exited = 0, total = 0, left = nworkers;
    while (left > 0) {
        for (int i = 0; i < nworkers; i++)
            if (pids[i] > 0) kill(pids[i], SIGTERM);
        usleep(100000);
        for (int i = 0; i < nworkers; i++) {
            int st;
            if (pids[i] <= 0 || waitpid(pids[i], &st, WNOHANG) != pids[i]) continue;
            pids[i] = 0;
            left--;
            if (WIFEXITED(st)) {
                exited++;
                total += WEXITSTATUS(st);
            }
        }
    }
    close(lfd);
    printf("prefork: %d workers exited, %d connections served\n", exited, total);
    return 0;
}
