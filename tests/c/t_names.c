/* t_names.c: getsockname / getpeername (and accept's address) on AF_INET
 * and AF_UNIX stream sockets: families, address bytes, port equality with
 * what was bound or connected, address lengths, short buffers, ENOTCONN on
 * unconnected sockets; unix paths, abstract names, unbound sockets (length
 * 2), autobind and socketpair names. Ports and names are compared, never
 * printed; lengths are deterministic (paths embed a zero-padded pid).
 */
#include "tsock.h"

static const char *yesno(int c) { return c ? "yes" : "no"; }

/* getsockname / getpeername into a sockaddr_storage pre-filled with 0xAA. */
static long name_of(int peer, int fd, struct sockaddr_storage *a, socklen_t *len) {
    memset(a, 0xAA, sizeof *a);
    *len = sizeof *a;
    return peer ? getpeername(fd, (struct sockaddr *)a, len) : getsockname(fd, (struct sockaddr *)a, len);
}

#define SIN(ss) ((struct sockaddr_in *)(ss))
#define SUN(ss) ((struct sockaddr_un *)(ss))

/* Reports one AF_INET name: the call, its length, family and address. */
static void report_inet(const char *what, int peer, int fd, struct sockaddr_storage *a, uint32_t want_ip) {
    socklen_t len;
    if (TC_SYS(ts_name("%s", what), name_of(peer, fd, a, &len)) < 0) return;
    TC_VAL(ts_name("%s_len", what), len);
    TC_FACT(ts_name("%s_family_inet", what), a->ss_family == AF_INET);
    TC_FACT(ts_name("%s_addr_%s", what, want_ip == INADDR_ANY ? "any" : "loopback"),
            SIN(a)->sin_addr.s_addr == htonl(want_ip));
}

static void inet_names(void) {
    struct sockaddr_storage a, b;
    socklen_t len;

    /* Unbound: 0.0.0.0 port 0; no peer. */
    int s = ts_socket(AF_INET);
    report_inet("inet_unbound_getsockname", 0, s, &a, INADDR_ANY);
    TC_FACT("inet_unbound_port_zero", SIN(&a)->sin_port == 0);
    TC_SYS("inet_unbound_getpeername", name_of(1, s, &a, &len));

    /* Bound to 127.0.0.1:0 then listening. */
    struct sockaddr_in lo = ts_loop4(0);
    if (bind(s, (struct sockaddr *)&lo, sizeof lo) < 0) tc_die("bind");
    report_inet("inet_bound_getsockname", 0, s, &a, INADDR_LOOPBACK);
    TC_FACT("inet_bound_port_nonzero", SIN(&a)->sin_port != 0);
    int lport = ntohs(SIN(&a)->sin_port);
    int s2 = ts_socket(AF_INET);
    if (bind(s2, (struct sockaddr *)&lo, sizeof lo) < 0) tc_die("bind");
    TC_FACT("inet_bind_port0_distinct", ts_port(s2) != lport);
    close(s2);
    if (listen(s, 16) < 0) tc_die("listen");
    TC_FACT("inet_listen_keeps_port", ts_port(s) == lport);
    TC_SYS("inet_listener_getpeername", name_of(1, s, &a, &len));

    /* A client that did not bind: autobound to 127.0.0.1:<ephemeral>. */
    struct sockaddr_in srv = ts_loop4(lport);
    int c = ts_socket(AF_INET);
    if (connect(c, (struct sockaddr *)&srv, sizeof srv) < 0) tc_die("connect");
    report_inet("inet_client_getpeername", 1, c, &a, INADDR_LOOPBACK);
    tc_printf("inet_client_peer_port", "port matches: %s", yesno(ntohs(SIN(&a)->sin_port) == lport));
    report_inet("inet_client_getsockname", 0, c, &a, INADDR_LOOPBACK);
    int cport = ntohs(SIN(&a)->sin_port);
    TC_FACT("inet_client_autobound_port", cport != 0 && cport != lport);

    /* accept's address, then the accepted socket's names. */
    len = sizeof b;
    memset(&b, 0xAA, sizeof b);
    int t = TC_SYS("inet_accept_addr", accept(s, (struct sockaddr *)&b, &len));
    if (t < 0) tc_die("accept");
    TC_VAL("inet_accept_addr_len", len);
    TC_FACT("inet_accept_addr_loopback", SIN(&b)->sin_family == AF_INET &&
                                         SIN(&b)->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    tc_printf("inet_accept_addr_port", "port matches: %s", yesno(ntohs(SIN(&b)->sin_port) == cport));
    report_inet("inet_accepted_getsockname", 0, t, &a, INADDR_LOOPBACK);
    tc_printf("inet_accepted_getsockname_port", "port matches: %s", yesno(ntohs(SIN(&a)->sin_port) == lport));
    report_inet("inet_accepted_getpeername", 1, t, &a, INADDR_LOOPBACK);
    tc_printf("inet_accepted_getpeername_port", "port matches: %s", yesno(ntohs(SIN(&a)->sin_port) == cport));

    /* Short buffers: the full length is reported, only len bytes are written. */
    struct sockaddr_storage full;
    name_of(0, c, &full, &len);
    memset(&a, 0xAA, sizeof a);
    len = 4;
    TC_SYS("inet_getsockname_short", getsockname(c, (struct sockaddr *)&a, &len));
    TC_VAL("inet_getsockname_short_len", len);
    TC_FACT("inet_getsockname_short_prefix", memcmp(&a, &full, 4) == 0);
    TC_FACT("inet_getsockname_short_rest_untouched", ((unsigned char *)&a)[4] == 0xAA);
    len = 0;
    TC_SYS("inet_getpeername_zero_len", getpeername(c, (struct sockaddr *)&a, &len));
    TC_VAL("inet_getpeername_zero_len_len", len);
    len = (socklen_t)-1;
    TC_SYS("inet_getsockname_negative_len", getsockname(c, (struct sockaddr *)&a, &len));
    close(c);
    close(t);

    /* A client bound to its own ephemeral port keeps it when connecting. */
    c = ts_socket(AF_INET);
    if (bind(c, (struct sockaddr *)&lo, sizeof lo) < 0) tc_die("bind");
    cport = ts_port(c);
    if (connect(c, (struct sockaddr *)&srv, sizeof srv) < 0) tc_die("connect");
    TC_FACT("inet_bound_client_port_kept", ts_port(c) == cport);
    t = accept(s, NULL, NULL);
    if (t < 0) tc_die("accept");
    name_of(1, t, &a, &len);
    tc_printf("inet_bound_client_seen_by_server", "port matches: %s", yesno(ntohs(SIN(&a)->sin_port) == cport));
    close(c);
    close(t);
    close(s);
}

/* Reports one AF_UNIX name: the call, its length, family, and whether the
 * bytes after the family match want (wlen bytes of address; 0 = unnamed). */
static void report_unix(const char *what, int peer, int fd, const struct sockaddr_un *want, socklen_t wlen) {
    struct sockaddr_storage a;
    socklen_t len;
    if (TC_SYS(ts_name("%s", what), name_of(peer, fd, &a, &len)) < 0) return;
    TC_VAL(ts_name("%s_len", what), len);
    TC_FACT(ts_name("%s_family_unix", what), a.ss_family == AF_UNIX);
    if (wlen > TS_SUNLEN)
        TC_FACT(ts_name("%s_name_matches", what),
                len == wlen && memcmp(SUN(&a)->sun_path, want->sun_path, wlen - TS_SUNLEN) == 0);
}

static void unix_names(void) {
    struct sockaddr_storage a;
    socklen_t len;
    char path[108], path2[108], path3[108];
    ts_path(path, sizeof path, "srv");
    ts_path(path2, sizeof path2, "full");
    ts_path(path3, sizeof path3, "nonul");
    unlink(path);
    unlink(path2);
    unlink(path3);

    /* Unbound: the family only (length 2); no peer. */
    int u = ts_socket(AF_UNIX);
    report_unix("unix_unbound_getsockname", 0, u, NULL, 0);
    TC_SYS("unix_unbound_getpeername", name_of(1, u, &a, &len));
    close(u);

    /* A path server bound with the exact length (offsetof + strlen + 1). */
    struct sockaddr_un sp;
    socklen_t splen = ts_addr_path(&sp, path);
    int s = ts_socket(AF_UNIX);
    if (bind(s, (struct sockaddr *)&sp, splen) < 0) tc_die("bind");
    report_unix("unix_path_getsockname", 0, s, &sp, splen);
    TC_FACT("unix_path_len_is_offset_strlen_1", splen == TS_SUNLEN + strlen(path) + 1);

    /* Bound with addrlen = sizeof(struct sockaddr_un), and without the NUL:
     * the kernel stores the length up to and including the NUL either way. */
    struct sockaddr_un sp2;
    socklen_t sp2len = ts_addr_path(&sp2, path2);
    u = ts_socket(AF_UNIX);
    TC_SYS("unix_bind_full_len", bind(u, (struct sockaddr *)&sp2, sizeof sp2));
    report_unix("unix_full_len_getsockname", 0, u, &sp2, sp2len);
    close(u);
    struct sockaddr_un sp3;
    socklen_t sp3len = ts_addr_path(&sp3, path3);
    u = ts_socket(AF_UNIX);
    TC_SYS("unix_bind_no_nul", bind(u, (struct sockaddr *)&sp3, sp3len - 1));
    report_unix("unix_no_nul_getsockname", 0, u, &sp3, sp3len);
    close(u);

    if (listen(s, 16) < 0) tc_die("listen");
    TC_SYS("unix_listener_getpeername", name_of(1, s, &a, &len));

    /* An unbound client: its peer is the server path, its own name is unnamed. */
    int c = ts_socket(AF_UNIX);
    if (connect(c, (struct sockaddr *)&sp, splen) < 0) tc_die("connect");
    report_unix("unix_client_getpeername", 1, c, &sp, splen);
    report_unix("unix_client_getsockname", 0, c, NULL, 0);
    len = sizeof a;
    int t = TC_SYS("unix_accept_addr", accept(s, (struct sockaddr *)&a, &len));
    if (t < 0) tc_die("accept");
    TC_VAL("unix_accept_addr_len", len);
    report_unix("unix_accepted_getsockname", 0, t, &sp, splen);
    report_unix("unix_accepted_getpeername", 1, t, NULL, 0);

    /* Short buffer. */
    memset(&a, 0xAA, sizeof a);
    len = 4;
    TC_SYS("unix_getsockname_short", getsockname(s, (struct sockaddr *)&a, &len));
    TC_VAL("unix_getsockname_short_len", len);
    TC_FACT("unix_getsockname_short_prefix",
            SUN(&a)->sun_family == AF_UNIX && memcmp(SUN(&a)->sun_path, path, 2) == 0);
    TC_FACT("unix_getsockname_short_rest_untouched", ((unsigned char *)&a)[4] == 0xAA);
    close(c);
    close(t);

    /* A client bound to an abstract name: the server sees that name. */
    struct sockaddr_un cn;
    socklen_t cnlen = ts_addr_abstract(&cn, "cli");
    c = ts_socket(AF_UNIX);
    if (bind(c, (struct sockaddr *)&cn, cnlen) < 0) tc_die("bind");
    if (connect(c, (struct sockaddr *)&sp, splen) < 0) tc_die("connect");
    len = sizeof a;
    memset(&a, 0xAA, sizeof a);
    t = accept(s, (struct sockaddr *)&a, &len);
    if (t < 0) tc_die("accept");
    TC_VAL("unix_accept_bound_client_len", len);
    TC_FACT("unix_accept_bound_client_matches", len == cnlen && memcmp(&a, &cn, cnlen) == 0);
    report_unix("unix_accepted_bound_client_getpeername", 1, t, &cn, cnlen);
    report_unix("unix_bound_client_getsockname", 0, c, &cn, cnlen);
    close(c);
    close(t);
    close(s);
    unlink(path);
    unlink(path2);
    unlink(path3);

    /* An abstract server: names are exact byte strings starting with NUL. */
    struct sockaddr_un an;
    socklen_t anlen = ts_addr_abstract(&an, "srv");
    s = ts_socket(AF_UNIX);
    if (bind(s, (struct sockaddr *)&an, anlen) < 0) tc_die("bind");
    report_unix("abstract_getsockname", 0, s, &an, anlen);
    TC_FACT("abstract_len_is_offset_1_strlen", anlen == TS_SUNLEN + 1 + strlen(an.sun_path + 1));
    name_of(0, s, &a, &len);
    TC_FACT("abstract_first_byte_nul", SUN(&a)->sun_path[0] == '\0');
    if (listen(s, 16) < 0) tc_die("listen");
    c = ts_socket(AF_UNIX);
    if (connect(c, (struct sockaddr *)&an, anlen) < 0) tc_die("connect");
    report_unix("abstract_client_getpeername", 1, c, &an, anlen);
    report_unix("abstract_client_getsockname", 0, c, NULL, 0);
    t = accept(s, NULL, NULL);
    if (t < 0) tc_die("accept");
    report_unix("abstract_accepted_getsockname", 0, t, &an, anlen);
    report_unix("abstract_accepted_getpeername", 1, t, NULL, 0);
    close(c);
    close(t);
    close(s);

    /* Autobind: bind with only the family gives "\0" + five hex digits. */
    u = ts_socket(AF_UNIX);
    struct sockaddr_un fam = {.sun_family = AF_UNIX};
    TC_SYS("unix_autobind", bind(u, (struct sockaddr *)&fam, sizeof(sa_family_t)));
    if (name_of(0, u, &a, &len) < 0) tc_die("getsockname");
    TC_VAL("unix_autobind_len", len);
    int hex = 1;
    for (int i = 1; i < 6; i++) hex &= strchr("0123456789abcdef", SUN(&a)->sun_path[i]) != NULL;
    TC_FACT("unix_autobind_abstract_hex", SUN(&a)->sun_path[0] == '\0' && hex);
    close(u);

    /* socketpair: both ends unnamed, both connected. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) tc_die("socketpair");
    report_unix("socketpair_getsockname", 0, sv[0], NULL, 0);
    report_unix("socketpair_getpeername", 1, sv[0], NULL, 0);
    report_unix("socketpair_other_getpeername", 1, sv[1], NULL, 0);
    close(sv[0]);
    close(sv[1]);
}

int main(void) {
    ts_init("names");
    inet_names();
    unix_names();
    return tc_done();
}
