/* t_errors.c: error results of bind, listen, connect and accept on AF_INET
 * (127.0.0.1) and AF_UNIX (path and abstract) stream sockets:
 *   - bind twice (EINVAL), bind to a held address (EADDRINUSE), reuse rules
 *   - connect to nobody (ECONNREFUSED / ENOENT), connect twice (EISCONN)
 *   - accept on a non-listening socket (EINVAL), non-blocking accept with
 *     nothing pending (EAGAIN) via fcntl O_NONBLOCK and via SOCK_NONBLOCK,
 *     accept4 flags on the new fd.
 */
#include "tsock.h"

static int set_reuse(int fd) {
    int one = 1;
    return setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
}

static int bind4(int fd, int port) {
    struct sockaddr_in a = ts_loop4(port);
    return bind(fd, (struct sockaddr *)&a, sizeof a);
}

static int bind_un(int fd, const struct sockaddr_un *a, socklen_t len) {
    return bind(fd, (const struct sockaddr *)a, len);
}

static int connect_un(int fd, const struct sockaddr_un *a, socklen_t len) {
    return connect(fd, (const struct sockaddr *)a, len);
}

static void inet_bind_cases(void) {
    /* Binding a socket that is already bound. */
    int a = ts_socket(AF_INET);
    if (bind4(a, 0) < 0) tc_die("bind");
    int port = ts_port(a);
    TC_SYS("inet_bind_twice", bind4(a, 0));
    TC_SYS("inet_bind_twice_same_addr", bind4(a, port));

    /* Another socket holds 127.0.0.1:port (bound, not listening). */
    int b = ts_socket(AF_INET);
    TC_SYS("inet_bind_inuse", bind4(b, port));
    struct sockaddr_in any = ts_loop4(port);
    any.sin_addr.s_addr = htonl(INADDR_ANY);
    TC_SYS("inet_bind_inuse_wildcard", bind(b, (struct sockaddr *)&any, sizeof any));
    close(b);
    close(a);

    /* The port is free again once its only holder is closed (it never connected). */
    b = ts_socket(AF_INET);
    TC_SYS("inet_bind_after_close", bind4(b, port));
    close(b);

    /* SO_REUSEADDR on both and nobody listening: both binds succeed. */
    a = ts_socket(AF_INET);
    b = ts_socket(AF_INET);
    set_reuse(a);
    set_reuse(b);
    if (bind4(a, 0) < 0) tc_die("bind");
    port = ts_port(a);
    TC_SYS("inet_bind_reuseaddr_both", bind4(b, port));
    close(b);

    /* A listener holds the port: EADDRINUSE with and without SO_REUSEADDR. */
    if (listen(a, 16) < 0) tc_die("listen");
    b = ts_socket(AF_INET);
    TC_SYS("inet_bind_inuse_listener_noreuse", bind4(b, port));
    close(b);
    b = ts_socket(AF_INET);
    set_reuse(b);
    TC_SYS("inet_bind_inuse_listener_reuseaddr", bind4(b, port));
    close(b);
    close(a);

    /* Argument checks. */
    a = ts_socket(AF_INET);
    struct sockaddr_in sa = ts_loop4(0);
    TC_SYS("inet_bind_short_len", bind(a, (struct sockaddr *)&sa, sizeof sa - 1));
    struct sockaddr_un un;
    socklen_t unlen = ts_addr_abstract(&un, "wrongfam");
    TC_SYS("inet_bind_wrong_family", bind(a, (struct sockaddr *)&un, unlen));
    close(a);
}

static void inet_connect_cases(void) {
    /* A port held by a bound, non-listening socket: nobody listens there. */
    int holder = ts_socket(AF_INET);
    if (bind4(holder, 0) < 0) tc_die("bind");
    struct sockaddr_in dead = ts_loop4(ts_port(holder));
    int c = ts_socket(AF_INET);
    TC_SYS("inet_connect_refused", connect(c, (struct sockaddr *)&dead, sizeof dead));
    close(c);
    close(holder);

    struct sockaddr_in addr;
    int l = ts_inet_listener(&addr);
    c = ts_socket(AF_INET);
    TC_SYS("inet_connect", connect(c, (struct sockaddr *)&addr, sizeof addr));
    TC_SYS("inet_connect_twice", connect(c, (struct sockaddr *)&addr, sizeof addr));
    close(c);
    close(l);

    /* listen on an unbound AF_INET socket binds it to an ephemeral port. */
    l = ts_socket(AF_INET);
    TC_SYS("inet_listen_unbound", listen(l, 16));
    TC_FACT("inet_listen_unbound_has_port", ts_port(l) != 0);
    close(l);
}

/* accept cases shared by every kind; l is a fresh listener of that kind at addr. */
static void accept_cases(enum ts_kind kind, const struct sockaddr_storage *addr, socklen_t len,
                         int l) {
    const char *k = ts_kind_names[kind];
    int domain = kind == TS_INET ? AF_INET : AF_UNIX;
    /* Not listening: a fresh unbound socket. */
    int s = ts_socket(domain);
    TC_SYS(ts_name("%s_accept_unbound", k), accept(s, NULL, NULL));
    close(s);

    /* Non-blocking, nothing pending: via fcntl, then via SOCK_NONBLOCK. */
    int fl = fcntl(l, F_GETFL);
    if (fl < 0 || fcntl(l, F_SETFL, fl | O_NONBLOCK) < 0) tc_die("fcntl");
    TC_SYS(ts_name("%s_accept_nonblock_fcntl", k), accept(l, NULL, NULL));

    /* A pending connection on the non-blocking listener: the accepted fd does
     * not inherit O_NONBLOCK. */
    int c = ts_connect(addr, len);
    ts_readable(l, 2000);
    s = TC_SYS(ts_name("%s_accept_pending", k), accept(l, NULL, NULL));
    if (s >= 0) {
        TC_FACT(ts_name("%s_accept_inherits_nonblock", k), fcntl(s, F_GETFL) & O_NONBLOCK);
        close(s);
    }
    close(c);
    if (fcntl(l, F_SETFL, fl) < 0) tc_die("fcntl");

    /* accept4: flags land on the new fd; unknown flags are EINVAL. */
    c = ts_connect(addr, len);
    s = TC_SYS(ts_name("%s_accept4_flags", k), accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (s >= 0) {
        TC_FACT(ts_name("%s_accept4_nonblock", k), fcntl(s, F_GETFL) & O_NONBLOCK);
        TC_FACT(ts_name("%s_accept4_cloexec", k), fcntl(s, F_GETFD) & FD_CLOEXEC);
        TC_FACT(ts_name("%s_listener_stays_blocking", k), !(fcntl(l, F_GETFL) & O_NONBLOCK));
        close(s);
    }
    close(c);
    c = ts_connect(addr, len);
    TC_SYS(ts_name("%s_accept4_bad_flags", k), accept4(l, NULL, NULL, 0x4000000));
    /* Without the flags the new fd is blocking and inheritable. */
    s = TC_SYS(ts_name("%s_accept4_no_flags", k), accept4(l, NULL, NULL, 0));
    if (s >= 0) {
        TC_FACT(ts_name("%s_accept4_no_flags_nonblock", k), fcntl(s, F_GETFL) & O_NONBLOCK);
        TC_FACT(ts_name("%s_accept4_no_flags_cloexec", k), fcntl(s, F_GETFD) & FD_CLOEXEC);
        close(s);
    }
    close(c);

    /* A listener created with SOCK_NONBLOCK. */
    int nl = socket(domain, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (nl < 0) tc_die("socket");
    TC_FACT(ts_name("%s_sock_nonblock_flag", k), fcntl(nl, F_GETFL) & O_NONBLOCK);
    struct sockaddr_in a4 = ts_loop4(0);
    struct sockaddr_un un;
    char path[108];
    ts_path(path, sizeof path, "nonblock_listener");
    unlink(path);
    if (kind == TS_INET) {
        if (bind(nl, (struct sockaddr *)&a4, sizeof a4) < 0) tc_die("bind");
    } else {
        socklen_t ulen = kind == TS_UNIX ? ts_addr_path(&un, path) : ts_addr_abstract(&un, "nonblock_listener");
        if (bind(nl, (struct sockaddr *)&un, ulen) < 0) tc_die("bind");
    }
    TC_SYS(ts_name("%s_accept_bound_not_listening", k), accept(nl, NULL, NULL));
    if (listen(nl, 16) < 0) tc_die("listen");
    TC_SYS(ts_name("%s_accept_sock_nonblock", k), accept(nl, NULL, NULL));
    TC_SYS(ts_name("%s_accept4_sock_nonblock", k), accept4(nl, NULL, NULL, SOCK_CLOEXEC));
    close(nl);
    unlink(path);
}

static void unix_bind_cases(void) {
    char p1[108], p2[108], pf[108], pm[108];
    ts_path(p1, sizeof p1, "a");
    ts_path(p2, sizeof p2, "b");
    ts_path(pf, sizeof pf, "file");
    ts_path(pm, sizeof pm, "nodir/x");
    unlink(p1);
    unlink(p2);
    struct sockaddr_un a1, a2, af, am, n1, n2;
    socklen_t l1 = ts_addr_path(&a1, p1), l2 = ts_addr_path(&a2, p2);
    socklen_t lf = ts_addr_path(&af, pf), lm = ts_addr_path(&am, pm);
    socklen_t ln1 = ts_addr_abstract(&n1, "a"), ln2 = ts_addr_abstract(&n2, "b");

    /* Bound twice: to another path, to an abstract name. */
    int s = ts_socket(AF_UNIX);
    TC_SYS("unix_bind_path", bind_un(s, &a1, l1));
    TC_SYS("unix_bind_twice_path", bind_un(s, &a2, l2));
    TC_FACT("unix_bind_twice_no_file", access(p2, F_OK) < 0);
    TC_SYS("unix_bind_twice_path_then_abstract", bind_un(s, &n1, ln1));
    int t = ts_socket(AF_UNIX);
    TC_SYS("abstract_bind", bind_un(t, &n1, ln1));
    TC_SYS("abstract_bind_twice", bind_un(t, &n2, ln2));
    TC_SYS("abstract_bind_twice_then_path", bind_un(t, &a2, l2));

    /* A held path / name. */
    int u = ts_socket(AF_UNIX);
    TC_SYS("unix_bind_inuse_path", bind_un(u, &a1, l1));
    TC_SYS("abstract_bind_inuse", bind_un(u, &n1, ln1));
    close(u);

    /* After close: the socket file stays (EADDRINUSE), the abstract name is freed. */
    close(s);
    close(t);
    u = ts_socket(AF_UNIX);
    TC_FACT("unix_path_remains_after_close", access(p1, F_OK) == 0);
    TC_SYS("unix_bind_stale_path", bind_un(u, &a1, l1));
    TC_SYS("abstract_bind_after_close", bind_un(u, &n1, ln1));
    close(u);

    /* A regular file at the path; a path in a missing directory. */
    int f = open(pf, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (f < 0) tc_die("open");
    close(f);
    u = ts_socket(AF_UNIX);
    TC_SYS("unix_bind_existing_file", bind_un(u, &af, lf));
    TC_SYS("unix_bind_missing_dir", bind_un(u, &am, lm));
    close(u);

    /* listen before bind is EINVAL for AF_UNIX (no autobind). */
    u = ts_socket(AF_UNIX);
    TC_SYS("unix_listen_unbound", listen(u, 16));
    close(u);

    unlink(p1);
    unlink(pf);
}

static void unix_connect_cases(void) {
    char pmiss[108], pfile[108], pidle[108], pstale[108];
    ts_path(pmiss, sizeof pmiss, "missing");
    ts_path(pfile, sizeof pfile, "cfile");
    ts_path(pidle, sizeof pidle, "idle");
    ts_path(pstale, sizeof pstale, "stale");
    unlink(pmiss);
    unlink(pidle);
    unlink(pstale);
    struct sockaddr_un a;
    socklen_t len;
    int c = ts_socket(AF_UNIX);

    len = ts_addr_path(&a, pmiss);
    TC_SYS("unix_connect_missing_path", connect_un(c, &a, len));

    int f = open(pfile, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (f < 0) tc_die("open");
    close(f);
    len = ts_addr_path(&a, pfile);
    TC_SYS("unix_connect_regular_file", connect_un(c, &a, len));

    /* Bound but not listening. */
    int idle = ts_socket(AF_UNIX);
    len = ts_addr_path(&a, pidle);
    if (bind_un(idle, &a, len) < 0) tc_die("bind");
    TC_SYS("unix_connect_not_listening", connect_un(c, &a, len));

    /* The file of a listener that was closed. */
    len = ts_addr_path(&a, pstale);
    close(ts_unix_listener(&a, len));
    TC_SYS("unix_connect_stale_path", connect_un(c, &a, len));

    len = ts_addr_abstract(&a, "nobody");
    TC_SYS("abstract_connect_missing", connect_un(c, &a, len));
    int idle2 = ts_socket(AF_UNIX);
    len = ts_addr_abstract(&a, "idle");
    if (bind_un(idle2, &a, len) < 0) tc_die("bind");
    TC_SYS("abstract_connect_not_listening", connect_un(c, &a, len));
    close(c);

    /* Connected, then connect again. */
    for (int k = TS_UNIX; k <= TS_ABSTRACT; k++) {
        struct sockaddr_storage addr;
        socklen_t alen;
        int l = ts_listener(k, "twice", &addr, &alen);
        c = ts_socket(AF_UNIX);
        TC_SYS(ts_name("%s_connect", ts_kind_names[k]), connect(c, (struct sockaddr *)&addr, alen));
        TC_SYS(ts_name("%s_connect_twice", ts_kind_names[k]), connect(c, (struct sockaddr *)&addr, alen));
        close(c);
        ts_close_listener(l, &addr);
    }

    close(idle);
    close(idle2);
    unlink(pfile);
    unlink(pidle);
    unlink(pstale);
}

int main(void) {
    ts_init("errors");
    inet_bind_cases();
    inet_connect_cases();
    unix_bind_cases();
    unix_connect_cases();
    for (int k = TS_INET; k <= TS_ABSTRACT; k++) {
        struct sockaddr_storage addr;
        socklen_t len;
        int l = ts_listener(k, "accept", &addr, &len);
        accept_cases(k, &addr, len, l);
        ts_close_listener(l, &addr);
    }
    return tc_done();
}
