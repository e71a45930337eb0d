/* t_concurrent.c: ten clients connecting at once to one server, each
 * sending a distinct message and expecting its own reply, over AF_INET
 * (127.0.0.1), AF_UNIX paths and abstract names, in two shapes:
 *   threads  ten threads blocked in accept() on one listener, ten client
 *            threads released together by a barrier
 *   procs    ten forked client processes released together through a pipe,
 *            and a classic forking server (the main process accepts and
 *            forks a handler per connection)
 * Each exchange: the client writes "client <i>", shuts down its write side,
 * and reads "reply to client <i>" until EOF. Only the main process prints,
 * one line per kind and shape: "all replies match: yes".
 */
#include "tsock.h"
#include <pthread.h>

#define CLIENTS 10

static struct sockaddr_storage srv_addr;
static socklen_t srv_len;
static int listener;

/* Server side of one exchange on an accepted socket: 0 on success. */
static int serve(int fd) {
    char msg[64], reply[96];
    size_t n = ts_read_full(fd, msg, sizeof msg - 1);
    msg[n] = '\0';
    int len = snprintf(reply, sizeof reply, "reply to %s", msg);
    ts_write_full(fd, reply, (size_t)len);
    return close(fd);
}

/* Client side of exchange i: 1 if the reply is the expected one. */
static int exchange(int i) {
    char msg[32], want[64], reply[96];
    snprintf(msg, sizeof msg, "client %d", i);
    snprintf(want, sizeof want, "reply to %s", msg);
    int fd = socket(srv_addr.ss_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&srv_addr, srv_len) < 0) return 0;
    ts_write_full(fd, msg, strlen(msg));
    if (shutdown(fd, SHUT_WR) < 0) return 0;
    size_t n = ts_read_full(fd, reply, sizeof reply - 1);
    reply[n] = '\0';
    close(fd);
    return strcmp(reply, want) == 0;
}

/* ---- threads ---- */

static pthread_barrier_t start;
static int client_ok[CLIENTS], server_ok[CLIENTS];

static void *server_thread(void *arg) {
    int i = (int)(long)arg;
    int fd = accept(listener, NULL, NULL);
    server_ok[i] = fd >= 0 && serve(fd) == 0;
    return NULL;
}

static void *client_thread(void *arg) {
    int i = (int)(long)arg;
    pthread_barrier_wait(&start);
    client_ok[i] = exchange(i);
    return NULL;
}

static int run_threads(void) {
    pthread_t srv[CLIENTS], cli[CLIENTS];
    pthread_barrier_init(&start, NULL, CLIENTS);
    for (long i = 0; i < CLIENTS; i++)
        if (pthread_create(&srv[i], NULL, server_thread, (void *)i) != 0) tc_die("pthread_create");
    for (long i = 0; i < CLIENTS; i++)
        if (pthread_create(&cli[i], NULL, client_thread, (void *)i) != 0) tc_die("pthread_create");
    int all = 1;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(cli[i], NULL);
        all &= client_ok[i];
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(srv[i], NULL);
        all &= server_ok[i];
    }
    pthread_barrier_destroy(&start);
    return all;
}

/* ---- processes ---- */

static int run_procs(void) {
    int go[2];
    if (pipe(go) < 0) tc_die("pipe");
    pid_t clients[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = fork();
        if (clients[i] < 0) tc_die("fork");
        if (clients[i] == 0) {
            alarm(TS_ALARM);
            close(listener);
            close(go[1]);
            char b;
            if (read(go[0], &b, 1) != 0) _exit(3); /* released by EOF on the pipe */
            _exit(exchange(i) ? 0 : 1);
        }
    }
    close(go[0]);
    close(go[1]); /* all clients start now */

    /* A forking server: one handler process per connection. */
    int all = 1, handlers = 0;
    for (int i = 0; i < CLIENTS; i++) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) {
            all = 0;
            break;
        }
        pid_t h = fork();
        if (h < 0) tc_die("fork");
        if (h == 0) {
            alarm(TS_ALARM);
            close(listener);
            _exit(serve(fd) == 0 ? 0 : 1);
        }
        handlers++;
        close(fd);
    }
    for (int i = 0; i < CLIENTS; i++) {
        int st;
        if (waitpid(clients[i], &st, 0) < 0) tc_die("waitpid");
        all &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    for (int i = 0; i < handlers; i++) {
        int st;
        if (wait(&st) < 0) tc_die("wait");
        all &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    return all;
}

int main(void) {
    ts_init("concurrent");
    for (int kind = TS_INET; kind <= TS_ABSTRACT; kind++)
        for (int procs = 0; procs <= 1; procs++) {
            listener = ts_listener(kind, "srv", &srv_addr, &srv_len);
            int all = procs ? run_procs() : run_threads();
            tc_printf(ts_name("%s_ten_clients_%s", ts_kind_names[kind], procs ? "procs" : "threads"),
                      "all replies match: %s", all ? "yes" : "no");
            ts_close_listener(listener, &srv_addr);
        }
    return tc_done();
}
