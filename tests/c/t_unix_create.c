/* t_unix_create.c: socket(AF_UNIX, ...) — which type/protocol pairs are
 * accepted, how SOCK_NONBLOCK/SOCK_CLOEXEC show up, invalid flag bits and
 * unknown families, and what a SOCK_RAW unix socket turns into. */
#include "unix_cases.h"

static const struct { int type; } types[] = {
    {SOCK_STREAM}, {SOCK_DGRAM}, {SOCK_RAW}, {SOCK_SEQPACKET}, {SOCK_RDM}, {SOCK_PACKET}, {99}, {0}, {15},
};

static const struct { int proto; const char *name; } protos[] = {
    {0, "0"}, {1, "1"}, {PF_UNIX, "PF_UNIX"}, {2, "2"}, {-1, "-1"},
};

static const struct { int flags; } flag_rows[] = {
    {0}, {SOCK_NONBLOCK}, {SOCK_CLOEXEC}, {SOCK_NONBLOCK | SOCK_CLOEXEC},
};

static const struct { int bits; const char *name; } bad_flags[] = {
    {0x10, "0x10"}, {0x100, "0x100"}, {O_APPEND, "O_APPEND"}, {O_SYNC, "O_SYNC"},
    {0x40000000, "0x40000000"}, {(int)0x80000000u, "0x80000000"},
};

static const struct { int family; const char *name; } families[] = {
    {AF_UNSPEC, "AF_UNSPEC"}, {AF_UNIX, "AF_UNIX"}, {AF_LOCAL, "AF_LOCAL"}, {45, "45"},
    {AF_MAX, "AF_MAX"}, {AF_MAX + 1, "AF_MAX+1"}, {255, "255"}, {-1, "-1"},
};

int main(void) {
    uc_setup();

    /* type x protocol */
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (size_t p = 0; p < sizeof protos / sizeof protos[0]; p++) {
            int fd = U_SYS(socket(AF_UNIX, types[t].type, protos[p].proto), "socket/%s/proto=%s",
                           uc_type_name(types[t].type), protos[p].name);
            if (fd >= 0) {
                tc_printf(uc_name("socket/%s/proto=%s/SO_TYPE", uc_type_name(types[t].type), protos[p].name),
                          "%s", uc_type_name(uc_getint(fd, SOL_SOCKET, SO_TYPE)));
                U_VAL(uc_getint(fd, SOL_SOCKET, SO_PROTOCOL), "socket/%s/proto=%s/SO_PROTOCOL",
                      uc_type_name(types[t].type), protos[p].name);
                close(fd);
            }
        }

    /* flags visible through fcntl, for each usable type */
    static const int usable[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_RAW};
    for (size_t t = 0; t < sizeof usable / sizeof usable[0]; t++)
        for (size_t f = 0; f < sizeof flag_rows / sizeof flag_rows[0]; f++) {
            int type = usable[t] | flag_rows[f].flags;
            const char *n = uc_type_name(type);
            char name[96];
            snprintf(name, sizeof name, "socket/%s", n);
            int fd = TC_SYS(name, socket(AF_UNIX, type, 0));
            if (fd < 0) continue;
            int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);
            tc_printf(uc_name("%s/flags", name), "O_NONBLOCK %s, FD_CLOEXEC %s, O_RDWR %s",
                      (fl & O_NONBLOCK) ? "yes" : "no", (fdf & FD_CLOEXEC) ? "yes" : "no",
                      (fl & O_ACCMODE) == O_RDWR ? "yes" : "no");
            struct stat st;
            U_FACT(fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode), "%s/fstat-S_ISSOCK", name);
            close(fd);
        }

    /* unknown flag bits */
    for (size_t b = 0; b < sizeof bad_flags / sizeof bad_flags[0]; b++) {
        int fd = U_SYS(socket(AF_UNIX, SOCK_STREAM | bad_flags[b].bits, 0), "socket/SOCK_STREAM|%s",
                       bad_flags[b].name);
        if (fd >= 0) close(fd);
    }

    /* families */
    static const int fam_types[] = {SOCK_STREAM, SOCK_DGRAM};
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (size_t t = 0; t < 2; t++) {
            int fd = U_SYS(socket(families[f].family, fam_types[t], 0), "socket/family=%s/%s",
                           families[f].name, uc_type_name(fam_types[t]));
            if (fd >= 0) close(fd);
        }

    /* SOCK_RAW becomes a datagram socket: it talks to SOCK_DGRAM peers. */
    {
        struct sockaddr_un a;
        socklen_t len = uc_addr_path(&a, "raw");
        int r = socket(AF_UNIX, SOCK_RAW, 0);
        if (r < 0) tc_die("socket raw");
        U_SYS(bind(r, (struct sockaddr *)&a, len), "raw/bind");
        int d = uc_socket(SOCK_DGRAM);
        U_VAL(sendto(d, "abc", 3, 0, (struct sockaddr *)&a, len), "raw/sendto-from-dgram");
        char buf[8];
        U_VAL(recv(r, buf, sizeof buf, MSG_DONTWAIT), "raw/recv");
        int s = uc_socket(SOCK_STREAM);
        U_SYS(connect(s, (struct sockaddr *)&a, len), "raw/stream-connect");
        U_SYS(listen(r, 1), "raw/listen");
        close(s);
        close(d);
        close(r);
    }
    return tc_done();
}
