/* t_unix_bind.c: address parsing (move_addr_to_kernel / unix_mkname) for
 * bind, connect and sendto, and unix_bind itself: filesystem sockets (inode
 * type and mode, EADDRINUSE on any existing object, missing directories,
 * permission), abstract names, rebinding, autobind (explicit and implicit
 * through SO_PASSCRED) and binding sockets that are already connected. */
#include "unix_cases.h"
#include <grp.h>

/* ---- address edge cases x operations ---- */

struct addr_row {
    const char *name;
    int kind;  /* 0 = use buffer, 1 = pointer (void *)1, 2 = NULL */
    int len;   /* passed as socklen_t */
    void (*fill)(struct sockaddr_storage *);
};

static void fill_a(struct sockaddr_storage *ss) { uc_addr_path((struct sockaddr_un *)ss, "a"); }
static void fill_inet(struct sockaddr_storage *ss) {
    fill_a(ss);
    ss->ss_family = AF_INET;
}
static void fill_unspec(struct sockaddr_storage *ss) {
    fill_a(ss);
    ss->ss_family = AF_UNSPEC;
}
static void fill_108(struct sockaddr_storage *ss) {
    struct sockaddr_un *a = (struct sockaddr_un *)ss;
    memset(ss, 0, sizeof *ss);
    a->sun_family = AF_UNIX;
    memset(a->sun_path, 'b', sizeof a->sun_path); /* no NUL inside sun_path */
}
static void fill_107(struct sockaddr_storage *ss) {
    fill_108(ss);
    ((struct sockaddr_un *)ss)->sun_path[107] = 0;
}
static void fill_109(struct sockaddr_storage *ss) {
    fill_108(ss);
    ((char *)ss)[UC_SUNLEN + 108] = 'b'; /* path runs past sun_path */
}
static void fill_c(struct sockaddr_storage *ss) {
    fill_108(ss);
    ((struct sockaddr_un *)ss)->sun_path[0] = 'c'; /* with len 3: "c", no NUL */
}
static void fill_garbage(struct sockaddr_storage *ss) {
    struct sockaddr_un *a = (struct sockaddr_un *)ss;
    fill_108(ss);
    a->sun_path[0] = 'd';
    a->sun_path[1] = 0; /* "d", then 'b's up to len */
}
static void fill_abs108(struct sockaddr_storage *ss) {
    struct sockaddr_un *a = (struct sockaddr_un *)ss;
    uc_addr_abs(a, "");
    size_t l = strlen(a->sun_path + 1) + 1;
    memset(a->sun_path + l, 'x', sizeof a->sun_path - l);
}

static const struct addr_row addr_rows[] = {
    {"len=-1", 0, -1, fill_a},
    {"len=0", 0, 0, fill_a},
    {"len=1", 0, 1, fill_a},
    {"len=2", 0, 2, fill_a},
    {"len=111", 0, 111, fill_109},
    {"len=128", 0, 128, fill_109},
    {"len=129", 0, 129, fill_109},
    {"len=0x7fffffff", 0, 0x7fffffff, fill_a},
    {"family=AF_INET", 0, 4, fill_inet},
    {"family=AF_UNSPEC", 0, 4, fill_unspec},
    {"ptr=1", 1, 16, NULL},
    {"ptr=1/len=110", 1, 110, NULL},
    {"ptr=NULL", 2, 16, NULL},
    {"path-108-no-nul", 0, 110, fill_108},
    {"path-107", 0, 110, fill_107},
    {"path-1-no-nul", 0, 3, fill_c},
    {"path-trailing-bytes", 0, 110, fill_garbage},
    {"abstract-107", 0, 110, fill_abs108},
};

enum op { OP_BIND_STREAM, OP_BIND_DGRAM, OP_CONNECT_STREAM, OP_CONNECT_DGRAM, OP_SENDTO_DGRAM, OP_N };
static const char *op_names[] = {"bind/stream", "bind/dgram", "connect/stream", "connect/dgram", "sendto/dgram"};

static void clean_names(void) {
    static char b108[109];
    memset(b108, 'b', 108);
    unlink("a");
    unlink("c");
    unlink("d");
    unlink(b108);
    b108[107] = 0;
    unlink(b108);
}

static void addr_cases(void) {
    for (size_t r = 0; r < sizeof addr_rows / sizeof addr_rows[0]; r++)
        for (int op = 0; op < OP_N; op++) {
            const struct addr_row *row = &addr_rows[r];
            struct sockaddr_storage ss;
            const struct sockaddr *sa = (const struct sockaddr *)&ss;
            if (row->kind == 1) sa = (const struct sockaddr *)1;
            else if (row->kind == 2) sa = NULL;
            else row->fill(&ss);
            socklen_t len = (socklen_t)row->len;
            int type = (op == OP_BIND_STREAM || op == OP_CONNECT_STREAM) ? SOCK_STREAM : SOCK_DGRAM;
            int fd = uc_socket(type);
            const char *n = uc_name("addr/%s/%s", row->name, op_names[op]);
            char name[256];
            snprintf(name, sizeof name, "%s", n);
            long res;
            errno = 0;
            switch (op) {
            case OP_BIND_STREAM:
            case OP_BIND_DGRAM: res = bind(fd, sa, len); break;
            case OP_CONNECT_STREAM:
            case OP_CONNECT_DGRAM: res = connect(fd, sa, len); break;
            default: res = sendto(fd, "x", 1, MSG_DONTWAIT, sa, len); break;
            }
            if (op == OP_SENDTO_DGRAM) tc_report_val(name, res, errno);
            else tc_report_sys(name, res, errno);
            if (res == 0 && op <= OP_BIND_DGRAM) {
                struct sockaddr_storage got;
                socklen_t gl = sizeof got;
                memset(&got, 0, sizeof got);
                getsockname(fd, (struct sockaddr *)&got, &gl);
                int nul_end = gl > UC_SUNLEN && ((char *)&got)[gl - 1] == 0;
                tc_printf(uc_name("%s/getsockname", name), "len = %u, ends with NUL: %s", (unsigned)gl,
                          nul_end ? "yes" : "no");
            }
            close(fd);
            clean_names();
        }
}

/* ---- filesystem binds ---- */

static const struct { int type; } bind_types[] = {{SOCK_STREAM}, {SOCK_DGRAM}, {SOCK_SEQPACKET}};
static const struct { mode_t mask; } umasks[] = {{022}, {077}, {0}, {0777}};

static void path_bind_cases(void) {
    for (size_t t = 0; t < 3; t++)
        for (size_t m = 0; m < sizeof umasks / sizeof umasks[0]; m++) {
            int type = bind_types[t].type;
            struct sockaddr_un a;
            socklen_t len = uc_addr_path(&a, "p");
            const char *base = uc_name("bind/path/%s/umask=%03o", uc_short_type(type), (unsigned)umasks[m].mask);
            char name[128];
            snprintf(name, sizeof name, "%s", base);
            int fd = uc_socket(type);
            umask(umasks[m].mask);
            TC_SYS(name, bind(fd, (struct sockaddr *)&a, len));
            umask(022);
            struct stat st;
            if (lstat("p", &st) == 0)
                tc_printf(uc_name("%s/stat", name), "S_ISSOCK %s, mode %04o, nlink %lu, size %lld",
                          S_ISSOCK(st.st_mode) ? "yes" : "no", (unsigned)(st.st_mode & 07777),
                          (unsigned long)st.st_nlink, (long long)st.st_size);
            else
                tc_printf(uc_name("%s/stat", name), "-1 %s", tc_errname(errno));
            struct sockaddr_un got;
            socklen_t gl = sizeof got;
            getsockname(fd, (struct sockaddr *)&got, &gl);
            tc_printf(uc_name("%s/getsockname", name), "len = %u, same: %s", (unsigned)gl,
                      uc_same_addr(&got, gl, &a, len) ? "yes" : "no");
            close(fd);
            U_FACT(access("p", F_OK) == 0, "%s/path-survives-close", name);
            unlink("p");
        }
}

/* Objects that already occupy the path a socket wants to bind. */
static void mk_file(const char *p) { close(open(p, O_CREAT | O_WRONLY, 0644)); }
static void mk_dir(const char *p) { mkdir(p, 0755); }
static void mk_fifo(const char *p) { mkfifo(p, 0644); }
static void mk_symlink(const char *p) { if (symlink("nowhere", p) < 0) tc_die("symlink"); }
static void mk_symlink_ok(const char *p) { mk_file("target"); if (symlink("target", p) < 0) tc_die("symlink"); }
static int live_fd = -1;
static void mk_live(const char *p) {
    struct sockaddr_un a;
    live_fd = uc_bound(SOCK_STREAM, &a, uc_addr_path(&a, p));
}
static void mk_stale(const char *p) {
    mk_live(p);
    close(live_fd);
    live_fd = -1;
}

static const struct { const char *name; void (*make)(const char *); } occupants[] = {
    {"regular-file", mk_file}, {"directory", mk_dir}, {"fifo", mk_fifo}, {"dangling-symlink", mk_symlink},
    {"symlink-to-file", mk_symlink_ok}, {"live-socket", mk_live}, {"stale-socket", mk_stale},
};

static void occupied_cases(void) {
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM};
    for (size_t o = 0; o < sizeof occupants / sizeof occupants[0]; o++)
        for (size_t t = 0; t < 2; t++) {
            occupants[o].make("o");
            struct sockaddr_un a;
            socklen_t len = uc_addr_path(&a, "o");
            int fd = uc_socket(types[t]);
            U_SYS(bind(fd, (struct sockaddr *)&a, len), "bind/path/exists/%s/%s", occupants[o].name,
                  uc_short_type(types[t]));
            close(fd);
            if (live_fd >= 0) close(live_fd);
            live_fd = -1;
            remove("o");
            unlink("target");
        }

    /* missing and non-directory components */
    static const struct { const char *name, *path; } bad_paths[] = {
        {"missing-dir", "nodir/x"}, {"file-as-dir", "f/x"}, {"trailing-slash", "ts/"},
    };
    mk_file("f");
    for (size_t i = 0; i < sizeof bad_paths / sizeof bad_paths[0]; i++) {
        struct sockaddr_un a;
        socklen_t len = uc_addr_path(&a, bad_paths[i].path);
        int fd = uc_socket(SOCK_STREAM);
        U_SYS(bind(fd, (struct sockaddr *)&a, len), "bind/path/%s", bad_paths[i].name);
        close(fd);
    }
    unlink("f");
    rmdir("ts");

    /* unlink, then a new socket binds the same path and receives from it */
    {
        struct sockaddr_un a;
        socklen_t len = uc_addr_path(&a, "u");
        int s1 = uc_bound(SOCK_DGRAM, &a, len);
        U_SYS(unlink("u"), "bind/path/unlink-while-bound");
        int s2 = uc_socket(SOCK_DGRAM);
        U_SYS(bind(s2, (struct sockaddr *)&a, len), "bind/path/rebind-after-unlink");
        int c = uc_socket(SOCK_DGRAM);
        sendto(c, "q", 1, 0, (struct sockaddr *)&a, len);
        char b[4];
        U_VAL(recv(s2, b, sizeof b, MSG_DONTWAIT), "bind/path/rebind-after-unlink/new-socket-recv");
        U_VAL(recv(s1, b, sizeof b, MSG_DONTWAIT), "bind/path/rebind-after-unlink/old-socket-recv");
        struct sockaddr_un g;
        socklen_t gl = sizeof g;
        getsockname(s1, (struct sockaddr *)&g, &gl);
        U_FACT(uc_same_addr(&g, gl, &a, len), "bind/path/unlinked-socket-keeps-name");
        close(c);
        close(s1);
        close(s2);
        unlink("u");
    }
}

/* Permission checks need an unprivileged identity: a child drops to nobody
 * (when root) and reports (result, errno) pairs through a pipe. */
static void eacces_cases(void) {
    static const char *names[] = {"bind/path/eacces/readonly-dir", "bind/path/eacces/no-search-dir",
                                  "connect/path/eacces/mode-0", "connect/path/eacces/mode-0777",
                                  "sendto/path/eacces/mode-0"};
    mkdir("ro", 0555);
    mkdir("nx", 0666);
    struct sockaddr_un a0, a7, ad, ar, an;
    socklen_t l0 = uc_addr_path(&a0, "m0"), l7 = uc_addr_path(&a7, "m7"), ld = uc_addr_path(&ad, "md");
    socklen_t lr = uc_addr_path(&ar, "ro/x"), ln = uc_addr_path(&an, "nx/x");
    int s0 = uc_listener(SOCK_STREAM, &a0, l0, 4), s7 = uc_listener(SOCK_STREAM, &a7, l7, 4);
    int sd = uc_bound(SOCK_DGRAM, &ad, ld);
    chmod("m0", 0);
    chmod("m7", 0777);
    chmod("md", 0);
    int p[2];
    if (pipe(p) < 0) tc_die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)) _exit(3);
        int res[5][2];
        int fd;
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        res[0][0] = bind(fd, (struct sockaddr *)&ar, lr); res[0][1] = errno; close(fd);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        res[1][0] = bind(fd, (struct sockaddr *)&an, ln); res[1][1] = errno; close(fd);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        res[2][0] = connect(fd, (struct sockaddr *)&a0, l0); res[2][1] = errno; close(fd);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        res[3][0] = connect(fd, (struct sockaddr *)&a7, l7); res[3][1] = errno; close(fd);
        fd = socket(AF_UNIX, SOCK_DGRAM, 0);
        res[4][0] = sendto(fd, "x", 1, 0, (struct sockaddr *)&ad, ld); res[4][1] = errno; close(fd);
        if (write(p[1], res, sizeof res) != sizeof res) _exit(4);
        _exit(0);
    }
    int res[5][2];
    close(p[1]);
    int ok = read(p[0], res, sizeof res) == sizeof res;
    int st;
    waitpid(pid, &st, 0);
    for (int i = 0; i < 5; i++) {
        if (!ok) tc_printf(names[i], "child failed");
        else if (res[i][0] < 0) tc_printf(names[i], "-1 %s", tc_errname(res[i][1]));
        else tc_printf(names[i], i == 4 ? "= %d" : "ok", res[i][0]);
    }
    close(p[0]);
    close(s0);
    close(s7);
    close(sd);
    chmod("nx", 0755);
}

/* ---- abstract names ---- */

static void abstract_cases(void) {
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
    for (size_t t = 0; t < 3; t++) {
        const char *ty = uc_short_type(types[t]);
        struct sockaddr_un a;
        socklen_t len = uc_addr_abs(&a, uc_name("abs-%s", ty));
        int s1 = uc_socket(types[t]);
        U_SYS(bind(s1, (struct sockaddr *)&a, len), "bind/abstract/%s", ty);
        struct sockaddr_un g;
        socklen_t gl = sizeof g;
        getsockname(s1, (struct sockaddr *)&g, &gl);
        U_FACT(uc_same_addr(&g, gl, &a, len), "bind/abstract/%s/getsockname-same", ty);
        int s2 = uc_socket(types[t]);
        U_SYS(bind(s2, (struct sockaddr *)&a, len), "bind/abstract/%s/in-use", ty);
        for (size_t u = 0; u < 3; u++) {
            if (u == t) continue;
            int s3 = uc_socket(types[u]);
            U_SYS(bind(s3, (struct sockaddr *)&a, len), "bind/abstract/%s/in-use-by-%s", uc_short_type(types[u]), ty);
            close(s3);
        }
        U_SYS(bind(s2, (struct sockaddr *)&a, len - 1), "bind/abstract/%s/shorter-name", ty);
        close(s2);
        s2 = uc_socket(types[t]);
        /* one more byte (a NUL) makes a different abstract name */
        U_SYS(bind(s2, (struct sockaddr *)&a, len + 1), "bind/abstract/%s/name-plus-nul", ty);
        U_SYS(bind(s1, (struct sockaddr *)&a, len), "bind/abstract/%s/rebind-same", ty);
        struct sockaddr_un b;
        socklen_t blen = uc_addr_abs(&b, uc_name("abs-%s-other", ty));
        U_SYS(bind(s1, (struct sockaddr *)&b, blen), "bind/abstract/%s/rebind-other", ty);
        close(s1);
        close(s2);
        s1 = uc_socket(types[t]);
        U_SYS(bind(s1, (struct sockaddr *)&a, len), "bind/abstract/%s/reuse-after-close", ty);
        close(s1);
        U_FACT(access(a.sun_path + 1, F_OK) < 0, "bind/abstract/%s/no-file", ty);
    }
    /* a path-bound socket cannot be rebound either */
    struct sockaddr_un p, q;
    socklen_t pl = uc_addr_path(&p, "rb1"), ql = uc_addr_path(&q, "rb2");
    int s = uc_bound(SOCK_STREAM, &p, pl);
    U_SYS(bind(s, (struct sockaddr *)&q, ql), "bind/path/rebind-other");
    U_FACT(access("rb2", F_OK) < 0, "bind/path/rebind-other/no-file");
    U_SYS(bind(s, (struct sockaddr *)&p, pl), "bind/path/rebind-same");
    struct sockaddr_un a;
    socklen_t al = uc_addr_abs(&a, "rb3");
    U_SYS(bind(s, (struct sockaddr *)&a, al), "bind/path/rebind-abstract");
    U_SYS(bind(s, (struct sockaddr *)&a, sizeof(sa_family_t)), "bind/path/rebind-autobind");
    close(s);
    unlink("rb1");
}

/* ---- autobind ---- */

static int autoname_ok(const struct sockaddr_un *a, socklen_t len) {
    if (len != UC_SUNLEN + 6 || a->sun_path[0] != 0) return 0;
    for (int i = 1; i < 6; i++)
        if (!strchr("0123456789abcdef", a->sun_path[i]) || !a->sun_path[i]) return 0;
    return 1;
}

static void report_name(const char *name, int fd) {
    struct sockaddr_un g;
    socklen_t gl = sizeof g;
    memset(&g, 0x55, sizeof g);
    if (getsockname(fd, (struct sockaddr *)&g, &gl) < 0) {
        tc_printf(name, "-1 %s", tc_errname(errno));
        return;
    }
    tc_printf(name, "len = %u, family %s, abstract: %s, hex: %s", (unsigned)gl,
              g.sun_family == AF_UNIX ? "AF_UNIX" : "other", gl > UC_SUNLEN && g.sun_path[0] == 0 ? "yes" : "no",
              autoname_ok(&g, gl) ? "yes" : "no");
}

static void autobind_cases(void) {
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
    struct sockaddr_un fam = {.sun_family = AF_UNIX};
    for (size_t t = 0; t < 3; t++) {
        const char *ty = uc_short_type(types[t]);
        int s = uc_socket(types[t]);
        report_name(uc_name("getsockname/unbound/%s", ty), s);
        U_SYS(bind(s, (struct sockaddr *)&fam, sizeof(sa_family_t)), "bind/autobind/%s", ty);
        report_name(uc_name("bind/autobind/%s/getsockname", ty), s);
        U_SYS(bind(s, (struct sockaddr *)&fam, sizeof(sa_family_t)), "bind/autobind/%s/again", ty);
        struct sockaddr_un p;
        socklen_t pl = uc_addr_path(&p, "ab");
        U_SYS(bind(s, (struct sockaddr *)&p, pl), "bind/autobind/%s/then-path", ty);
        int s2 = uc_socket(types[t]);
        bind(s2, (struct sockaddr *)&fam, sizeof(sa_family_t));
        struct sockaddr_un g1, g2;
        socklen_t l1 = sizeof g1, l2 = sizeof g2;
        getsockname(s, (struct sockaddr *)&g1, &l1);
        getsockname(s2, (struct sockaddr *)&g2, &l2);
        U_FACT(!uc_same_addr(&g1, l1, &g2, l2), "bind/autobind/%s/names-distinct", ty);
        /* the autobound name is reachable like any abstract name */
        if (types[t] == SOCK_DGRAM) {
            int c = uc_socket(SOCK_DGRAM);
            U_VAL(sendto(c, "hi", 2, 0, (struct sockaddr *)&g1, l1), "bind/autobind/dgram/sendto-name");
            close(c);
        } else {
            listen(s, 1);
            int c = uc_socket(types[t]);
            U_SYS(connect(c, (struct sockaddr *)&g1, l1), "bind/autobind/%s/connect-name", ty);
            close(c);
        }
        close(s);
        close(s2);
    }

    /* implicit autobind: SO_PASSCRED on an unbound sender */
    for (int passcred = 0; passcred <= 1; passcred++) {
        struct sockaddr_un r;
        socklen_t rl = uc_addr_path(&r, "recv");
        int rx = uc_bound(SOCK_DGRAM, &r, rl);
        int tx = uc_socket(SOCK_DGRAM);
        const char *pc = passcred ? "passcred" : "no-passcred";
        setsockopt(tx, SOL_SOCKET, SO_PASSCRED, &passcred, sizeof passcred);
        U_VAL(sendto(tx, "x", 1, 0, (struct sockaddr *)&r, rl), "autobind/%s/dgram/sendto", pc);
        report_name(uc_name("autobind/%s/dgram/sender-getsockname", pc), tx);
        struct sockaddr_un from;
        socklen_t fl = sizeof from;
        memset(&from, 0x55, sizeof from);
        char b[4];
        U_VAL(recvfrom(rx, b, sizeof b, MSG_DONTWAIT, (struct sockaddr *)&from, &fl),
              "autobind/%s/dgram/recvfrom", pc);
        tc_printf(uc_name("autobind/%s/dgram/recvfrom-addrlen", pc), "= %u", (unsigned)fl);
        close(tx);

        /* connect() alone on a dgram socket */
        tx = uc_socket(SOCK_DGRAM);
        setsockopt(tx, SOL_SOCKET, SO_PASSCRED, &passcred, sizeof passcred);
        U_SYS(connect(tx, (struct sockaddr *)&r, rl), "autobind/%s/dgram/connect", pc);
        report_name(uc_name("autobind/%s/dgram/connect/getsockname", pc), tx);
        close(tx);
        close(rx);
        unlink("recv");

        /* stream connect: the client and the accepted side's peer name */
        struct sockaddr_un l;
        socklen_t ll = uc_addr_path(&l, "lst");
        int lfd = uc_listener(SOCK_STREAM, &l, ll, 4);
        int c = uc_socket(SOCK_STREAM);
        setsockopt(c, SOL_SOCKET, SO_PASSCRED, &passcred, sizeof passcred);
        U_SYS(connect(c, (struct sockaddr *)&l, ll), "autobind/%s/stream/connect", pc);
        report_name(uc_name("autobind/%s/stream/client-getsockname", pc), c);
        int acc = accept(lfd, NULL, NULL);
        struct sockaddr_un pn;
        socklen_t pnl = sizeof pn;
        getpeername(acc, (struct sockaddr *)&pn, &pnl);
        tc_printf(uc_name("autobind/%s/stream/accepted-getpeername", pc), "len = %u, hex: %s", (unsigned)pnl,
                  autoname_ok(&pn, pnl) ? "yes" : "no");
        close(acc);
        close(c);
        close(lfd);
        unlink("lst");
    }
}

/* ---- binding sockets in other states ---- */

static void state_cases(void) {
    struct sockaddr_un l, x;
    socklen_t ll = uc_addr_path(&l, "st-l"), xl = uc_addr_path(&x, "st-x");
    int lfd = uc_listener(SOCK_STREAM, &l, ll, 4);
    U_SYS(bind(lfd, (struct sockaddr *)&x, xl), "bind/listening");
    int c = uc_connected(SOCK_STREAM, &l, ll);
    int acc = accept(lfd, NULL, NULL);
    U_SYS(bind(c, (struct sockaddr *)&x, xl), "bind/connected-stream-client");
    report_name("bind/connected-stream-client/getsockname", c);
    unlink("st-x");
    U_SYS(bind(acc, (struct sockaddr *)&x, xl), "bind/accepted");
    unlink("st-x");
    int sv[2];
    uc_socketpair(SOCK_STREAM, sv);
    U_SYS(bind(sv[0], (struct sockaddr *)&x, xl), "bind/socketpair-stream");
    unlink("st-x");
    close(sv[0]);
    close(sv[1]);
    uc_socketpair(SOCK_DGRAM, sv);
    U_SYS(bind(sv[0], (struct sockaddr *)&x, xl), "bind/socketpair-dgram");
    unlink("st-x");
    close(sv[0]);
    close(sv[1]);

    struct sockaddr_un d;
    socklen_t dl = uc_addr_path(&d, "st-d");
    int dfd = uc_bound(SOCK_DGRAM, &d, dl);
    int dc = uc_connected(SOCK_DGRAM, &d, dl);
    U_SYS(bind(dc, (struct sockaddr *)&x, xl), "bind/connected-dgram");
    unlink("st-x");
    int sh = uc_socket(SOCK_STREAM);
    shutdown(sh, SHUT_RDWR);
    U_SYS(bind(sh, (struct sockaddr *)&x, xl), "bind/after-shutdown");
    unlink("st-x");
    close(sh);
    close(dc);
    close(dfd);
    close(acc);
    close(c);
    close(lfd);

    /* getsockname buffer handling */
    struct sockaddr_un g;
    socklen_t gl;
    int s = uc_bound(SOCK_STREAM, &x, xl);
    gl = 4;
    U_SYS(getsockname(s, (struct sockaddr *)&g, &gl), "getsockname/short-buffer");
    tc_printf("getsockname/short-buffer/len", "= %u", (unsigned)gl);
    gl = (socklen_t)-1;
    U_SYS(getsockname(s, (struct sockaddr *)&g, &gl), "getsockname/len=-1");
    gl = sizeof g;
    U_SYS(getsockname(s, (struct sockaddr *)1, &gl), "getsockname/ptr=1");
    U_SYS(getsockname(s, (struct sockaddr *)&g, (socklen_t *)1), "getsockname/lenptr=1");
    gl = sizeof g;
    U_SYS(getpeername(s, (struct sockaddr *)&g, &gl), "getpeername/unconnected");
    close(s);
    unlink("st-x");
    unlink("st-l");
    unlink("st-d");
}

int main(void) {
    uc_setup();
    addr_cases();
    path_bind_cases();
    occupied_cases();
    eacces_cases();
    abstract_cases();
    autobind_cases();
    state_cases();
    return tc_done();
}
