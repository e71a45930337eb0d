/* t_unix_listen_connect.c: unix_listen (state and type checks, backlog
 * accounting: how many non-blocking connects are queued before EAGAIN) and
 * unix_stream_connect / unix_dgram_connect (missing and wrong targets, type
 * mismatches, EISCONN, SO_PEERCRED and getpeername of connected sockets). */
#include "unix_cases.h"
#include <sys/resource.h>

static const int all_types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
static const int conn_types[] = {SOCK_STREAM, SOCK_SEQPACKET};

/* ---- listen on sockets in various states ---- */

enum lstate { L_UNBOUND, L_PATH, L_ABSTRACT, L_AUTOBIND, L_LISTENING, L_CONNECTED, L_ACCEPTED, L_SOCKETPAIR,
              L_SHUTDOWN, L_N };
static const char *lstate_names[] = {"unbound", "bound-path", "bound-abstract", "autobound", "listening",
                                     "connected", "accepted", "socketpair", "bound-shutdown"};

static void listen_cases(void) {
    for (size_t t = 0; t < 3; t++)
        for (int st = 0; st < L_N; st++) {
            int type = all_types[t];
            const char *ty = uc_short_type(type);
            struct sockaddr_un a;
            socklen_t len = uc_addr_path(&a, "l");
            int extra[3] = {-1, -1, -1};
            int fd = -1;
            if ((st == L_CONNECTED || st == L_ACCEPTED) && type == SOCK_DGRAM) {
                /* dgram: "connected" means connect()ed to a bound peer */
                extra[0] = uc_bound(SOCK_DGRAM, &a, len);
                fd = uc_connected(SOCK_DGRAM, &a, len);
                if (st == L_ACCEPTED) continue;
            } else {
                switch (st) {
                case L_UNBOUND: fd = uc_socket(type); break;
                case L_PATH: fd = uc_bound(type, &a, len); break;
                case L_ABSTRACT: len = uc_addr_abs(&a, "l"); fd = uc_bound(type, &a, len); break;
                case L_AUTOBIND: fd = uc_bound(type, &a, sizeof(sa_family_t)); break;
                case L_LISTENING:
                    if (type == SOCK_DGRAM) continue;
                    fd = uc_listener(type, &a, len, 1);
                    break;
                case L_CONNECTED:
                case L_ACCEPTED:
                    extra[0] = uc_listener(type, &a, len, 1);
                    extra[1] = uc_connected(type, &a, len);
                    extra[2] = accept(extra[0], NULL, NULL);
                    fd = st == L_CONNECTED ? extra[1] : extra[2];
                    extra[st == L_CONNECTED ? 1 : 2] = -1;
                    break;
                case L_SOCKETPAIR: {
                    int sv[2];
                    uc_socketpair(type, sv);
                    fd = sv[0];
                    extra[0] = sv[1];
                    break;
                }
                case L_SHUTDOWN:
                    fd = uc_bound(type, &a, len);
                    shutdown(fd, SHUT_RDWR);
                    break;
                }
            }
            U_SYS(listen(fd, 1), "listen/%s/%s", ty, lstate_names[st]);
            if (type != SOCK_DGRAM && (st == L_PATH || st == L_LISTENING))
                U_VAL(uc_getint(fd, SOL_SOCKET, SO_ACCEPTCONN), "listen/%s/%s/SO_ACCEPTCONN", ty, lstate_names[st]);
            close(fd);
            for (int i = 0; i < 3; i++)
                if (extra[i] >= 0) close(extra[i]);
            unlink("l");
        }
}

/* ---- backlog accounting ---- */

#define MAXC 64
static int clients[MAXC];
static int nclients;

/* Connects non-blocking clients until EAGAIN (or limit); returns the count. */
static int fill_backlog(int type, const struct sockaddr_un *a, socklen_t len, int limit, int *err) {
    int n = 0;
    *err = 0;
    while (n < limit) {
        int c = socket(AF_UNIX, type | SOCK_NONBLOCK, 0);
        if (c < 0) tc_die("socket");
        if (connect(c, (const struct sockaddr *)a, len) < 0) {
            *err = errno;
            close(c);
            break;
        }
        if (nclients < MAXC) clients[nclients++] = c;
        else close(c);
        n++;
    }
    return n;
}

static void close_clients(void) {
    while (nclients) close(clients[--nclients]);
}

static void backlog_cases(void) {
    static const int backlogs[] = {0, 1, 2, 5, -1};
    for (size_t t = 0; t < 2; t++)
        for (size_t b = 0; b < sizeof backlogs / sizeof backlogs[0]; b++) {
            int type = conn_types[t];
            struct sockaddr_un a;
            socklen_t len = uc_addr_abs(&a, "backlog");
            int l = uc_listener(type, &a, len, backlogs[b]);
            int err;
            int n = fill_backlog(type, &a, len, 40, &err);
            const char *name = uc_name("listen/%s/backlog=%d/nonblocking-connects", uc_short_type(type), backlogs[b]);
            if (n < 40) tc_printf(name, "= %d then %s", n, tc_errname(err));
            else tc_printf(name, "at least 40");
            if (backlogs[b] == 2) {
                /* a second listen() changes the backlog of the live queue */
                U_SYS(listen(l, 5), "listen/%s/backlog=2/relisten-5", uc_short_type(type));
                n = fill_backlog(type, &a, len, 40, &err);
                tc_printf(uc_name("listen/%s/backlog=2/relisten-5/more-connects", uc_short_type(type)), "= %d then %s",
                          n, tc_errname(err));
                U_SYS(listen(l, 0), "listen/%s/backlog=2/relisten-0", uc_short_type(type));
                n = fill_backlog(type, &a, len, 40, &err);
                tc_printf(uc_name("listen/%s/backlog=2/relisten-0/more-connects", uc_short_type(type)), "= %d then %s",
                          n, tc_errname(err));
                int acc = accept(l, NULL, NULL);
                n = fill_backlog(type, &a, len, 40, &err);
                tc_printf(uc_name("listen/%s/backlog=2/relisten-0/after-accept", uc_short_type(type)), "= %d then %s", n,
                          tc_errname(err));
                close(acc);
            }
            close_clients();
            close(l);
        }

    /* the backlog is capped at net.core.somaxconn: the queue holds somaxconn+1 */
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    int somax = -1;
    if (!f || fscanf(f, "%d", &somax) != 1) somax = -1;
    if (f) fclose(f);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (somax > 0 && (rlim_t)somax + 64 > rl.rlim_cur && (rlim_t)somax + 64 <= rl.rlim_max) {
        rl.rlim_cur = somax + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    if (somax > 0 && somax <= 65536 && (rlim_t)somax + 64 <= rl.rlim_cur) {
        struct sockaddr_un a;
        socklen_t len = uc_addr_abs(&a, "somax");
        int l = uc_listener(SOCK_STREAM, &a, len, 1 << 30);
        int *fds = calloc(somax + 8, sizeof *fds);
        int n = 0, err = 0;
        while (n < somax + 8) {
            int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (c < 0) tc_die("socket");
            if (connect(c, (struct sockaddr *)&a, len) < 0) {
                err = errno;
                close(c);
                break;
            }
            fds[n++] = c;
        }
        tc_printf("listen/stream/backlog=1<<30/capped-at-somaxconn+1", "%s then %s", n == somax + 1 ? "yes" : "no",
                  tc_errname(err));
        for (int i = 0; i < n; i++) close(fds[i]);
        free(fds);
        close(l);
    } else {
        tc_printf("listen/stream/backlog=1<<30/capped-at-somaxconn+1", "skipped");
    }
}

/* ---- connect to missing or unusable targets ---- */

enum target { T_MISSING_PATH, T_MISSING_ABS, T_BOUND_PATH, T_BOUND_ABS, T_FILE, T_DIR, T_FIFO, T_STALE,
              T_CLOSED_ABS, T_UNLINKED, T_SYMLINK, T_N };
static const char *target_names[] = {"missing-path", "missing-abstract", "bound-not-listening-path",
                                     "bound-not-listening-abstract", "regular-file", "directory", "fifo",
                                     "stale-socket-file", "closed-abstract", "unlinked-listener", "symlink-to-listener"};

static void target_cases(void) {
    static const int ctypes[] = {SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM};
    for (int tg = 0; tg < T_N; tg++)
        for (size_t c = 0; c < 3; c++) {
            int ctype = ctypes[c];
            /* the target is made of the client's own type */
            struct sockaddr_un a;
            socklen_t len = uc_addr_path(&a, "t");
            int keep = -1;
            switch (tg) {
            case T_MISSING_PATH: break;
            case T_MISSING_ABS: len = uc_addr_abs(&a, "never-bound"); break;
            case T_BOUND_PATH: keep = uc_bound(ctype, &a, len); break;
            case T_BOUND_ABS: len = uc_addr_abs(&a, "t"); keep = uc_bound(ctype, &a, len); break;
            case T_FILE: close(open("t", O_CREAT | O_WRONLY, 0644)); break;
            case T_DIR: mkdir("t", 0755); break;
            case T_FIFO: mkfifo("t", 0644); break;
            case T_STALE: close(uc_bound(ctype, &a, len)); break;
            case T_CLOSED_ABS:
                len = uc_addr_abs(&a, "t");
                close(ctype == SOCK_DGRAM ? uc_bound(ctype, &a, len) : uc_listener(ctype, &a, len, 1));
                break;
            case T_UNLINKED:
                keep = ctype == SOCK_DGRAM ? uc_bound(ctype, &a, len) : uc_listener(ctype, &a, len, 1);
                unlink("t");
                break;
            case T_SYMLINK: {
                struct sockaddr_un r;
                socklen_t rl = uc_addr_path(&r, "real");
                keep = ctype == SOCK_DGRAM ? uc_bound(ctype, &r, rl) : uc_listener(ctype, &r, rl, 1);
                if (symlink("real", "t") < 0) tc_die("symlink");
                break;
            }
            }
            int fd = uc_socket(ctype);
            U_SYS(connect(fd, (struct sockaddr *)&a, len), "connect/%s/to-%s", uc_short_type(ctype), target_names[tg]);
            if (ctype == SOCK_DGRAM) {
                int tx = uc_socket(SOCK_DGRAM);
                U_VAL(sendto(tx, "x", 1, MSG_DONTWAIT, (struct sockaddr *)&a, len), "sendto/dgram/to-%s",
                      target_names[tg]);
                close(tx);
            }
            close(fd);
            if (keep >= 0) close(keep);
            remove("t");
            unlink("real");
        }
}

/* ---- client type x server type ---- */

static void type_matrix_cases(void) {
    for (int k = UC_PATH; k <= UC_ABSTRACT; k++)
        for (size_t s = 0; s < 3; s++)
            for (size_t c = 0; c < 3; c++) {
                int stype = all_types[s], ctype = all_types[c];
                struct sockaddr_un a;
                socklen_t len = uc_addr((enum uc_kind)k, &a, "m");
                int srv = stype == SOCK_DGRAM ? uc_bound(stype, &a, len) : uc_listener(stype, &a, len, 4);
                int fd = uc_socket(ctype);
                U_SYS(connect(fd, (struct sockaddr *)&a, len), "connect/%s/%s-to-%s", uc_kind_name((enum uc_kind)k),
                      uc_short_type(ctype), uc_short_type(stype));
                close(fd);
                close(srv);
                unlink("m");
            }
}

/* ---- connected state ---- */

static void print_cred(const char *name, int fd, pid_t want_pid) {
    struct ucred uc;
    socklen_t l = sizeof uc;
    memset(&uc, 0x55, sizeof uc);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &l) < 0) {
        tc_printf(name, "-1 %s", tc_errname(errno));
        return;
    }
    tc_printf(name, "len = %u, pid matches: %s, uid = %d, gid = %d", (unsigned)l, uc.pid == want_pid ? "yes" : "no",
              (int)uc.uid, (int)uc.gid);
}

static void connected_cases(void) {
    for (int k = UC_PATH; k <= UC_ABSTRACT; k++)
        for (size_t t = 0; t < 2; t++) {
            int type = conn_types[t];
            const char *pre = uc_name("connect/%s/%s", uc_kind_name((enum uc_kind)k), uc_short_type(type));
            char p[96];
            snprintf(p, sizeof p, "%s", pre);
            struct sockaddr_un a, b;
            socklen_t len = uc_addr((enum uc_kind)k, &a, "c1"), blen = uc_addr((enum uc_kind)k, &b, "c2");
            int l1 = uc_listener(type, &a, len, 4), l2 = uc_listener(type, &b, blen, 4);
            int c = uc_socket(type | SOCK_NONBLOCK);
            U_SYS(connect(c, (struct sockaddr *)&a, len), "%s/nonblocking", p);
            U_SYS(connect(c, (struct sockaddr *)&a, len), "%s/again-same", p);
            U_SYS(connect(c, (struct sockaddr *)&b, blen), "%s/again-other", p);
            U_SYS(connect(l1, (struct sockaddr *)&b, blen), "%s/listener-connects", p);
            struct sockaddr_un g;
            socklen_t gl = sizeof g;
            U_SYS(getpeername(c, (struct sockaddr *)&g, &gl), "%s/getpeername", p);
            if (k == UC_PATH)
                tc_printf(uc_name("%s/getpeername-is-server", p), "len = %u, same: %s", (unsigned)gl,
                          uc_same_addr(&g, gl, &a, len) ? "yes" : "no");
            else
                U_FACT(uc_same_addr(&g, gl, &a, len), "%s/getpeername-is-server", p);
            gl = sizeof g;
            getsockname(c, (struct sockaddr *)&g, &gl);
            tc_printf(uc_name("%s/client-getsockname", p), "len = %u", (unsigned)gl);
            int acc = accept(l1, NULL, NULL);
            U_FACT(acc >= 0, "%s/accepted", p);
            print_cred(uc_name("%s/client-SO_PEERCRED", p), c, getpid());
            print_cred(uc_name("%s/accepted-SO_PEERCRED", p), acc, getpid());
            print_cred(uc_name("%s/listener-SO_PEERCRED", p), l1, getpid());
            U_VAL(send(c, "ping", 4, MSG_NOSIGNAL), "%s/send", p);
            char buf[8];
            U_VAL(recv(acc, buf, sizeof buf, MSG_DONTWAIT), "%s/accepted-recv", p);
            close(acc);
            close(c);

            /* a refused connect leaves the socket usable */
            c = uc_socket(type);
            struct sockaddr_un m;
            socklen_t ml = uc_addr((enum uc_kind)k, &m, "nobody-here");
            U_SYS(connect(c, (struct sockaddr *)&m, ml), "%s/refused", p);
            U_SYS(connect(c, (struct sockaddr *)&a, len), "%s/after-refused", p);
            close(c);

            /* bound but unlistened socket connecting to its own name */
            struct sockaddr_un s;
            socklen_t sl = uc_addr((enum uc_kind)k, &s, "self");
            int self = uc_bound(type, &s, sl);
            U_SYS(connect(self, (struct sockaddr *)&s, sl), "%s/self-unlistened", p);
            close(self);
            close(l1);
            close(l2);
            unlink("c1");
            unlink("c2");
            unlink("self");
        }

    /* SO_PEERCRED of a client in another process */
    struct sockaddr_un a;
    socklen_t len = uc_addr_path(&a, "cred");
    int l = uc_listener(SOCK_STREAM, &a, len, 4);
    int sync[2];
    if (pipe(sync) < 0) tc_die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(sync[1]);
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, len) < 0) _exit(1);
        char x;
        if (read(sync[0], &x, 1) < 0) _exit(2); /* stay connected until the parent is done */
        _exit(0);
    }
    close(sync[0]);
    int acc = accept(l, NULL, NULL);
    print_cred("connect/path/stream/child-client/accepted-SO_PEERCRED", acc, pid);
    close(sync[1]);
    int st;
    waitpid(pid, &st, 0);
    U_FACT(WIFEXITED(st) && WEXITSTATUS(st) == 0, "connect/path/stream/child-client/exit-ok");
    close(acc);
    close(l);
    unlink("cred");

    /* dgram connect is re-targetable and never EISCONN */
    struct sockaddr_un d1, d2;
    socklen_t l1 = uc_addr_path(&d1, "d1"), l2 = uc_addr_path(&d2, "d2");
    int s1 = uc_bound(SOCK_DGRAM, &d1, l1), s2 = uc_bound(SOCK_DGRAM, &d2, l2);
    int c = uc_socket(SOCK_DGRAM);
    U_SYS(connect(c, (struct sockaddr *)&d1, l1), "connect/path/dgram/first");
    U_SYS(connect(c, (struct sockaddr *)&d1, l1), "connect/path/dgram/again-same");
    U_SYS(connect(c, (struct sockaddr *)&d2, l2), "connect/path/dgram/again-other");
    send(c, "z", 1, 0);
    char b[4];
    U_VAL(recv(s2, b, sizeof b, MSG_DONTWAIT), "connect/path/dgram/again-other/new-peer-gets-data");
    U_VAL(recv(s1, b, sizeof b, MSG_DONTWAIT), "connect/path/dgram/again-other/old-peer-gets-nothing");
    struct sockaddr_un g;
    socklen_t gl = sizeof g;
    getpeername(c, (struct sockaddr *)&g, &gl);
    tc_printf("connect/path/dgram/getpeername", "len = %u, same: %s", (unsigned)gl,
              uc_same_addr(&g, gl, &d2, l2) ? "yes" : "no");
    print_cred("connect/path/dgram/SO_PEERCRED", c, getpid());
    U_SYS(connect(s1, (struct sockaddr *)&d1, l1), "connect/path/dgram/self");
    close(c);
    close(s1);
    close(s2);
    unlink("d1");
    unlink("d2");
}

int main(void) {
    uc_setup();
    listen_cases();
    backlog_cases();
    target_cases();
    type_matrix_cases();
    connected_cases();
    return tc_done();
}
