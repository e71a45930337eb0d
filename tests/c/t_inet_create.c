/* t_inet_create.c: socket(2) for AF_INET / AF_INET6: type and protocol
 * combinations, SOCK_RAW with and without privilege, SOCK_NONBLOCK /
 * SOCK_CLOEXEC, and the state of a freshly created socket. */
#include "inet_cases.h"

struct row { int type; int proto; const char *tn, *pn; };
static const struct row rows[] = {
    {SOCK_STREAM, 0, "stream", "0"},
    {SOCK_STREAM, IPPROTO_TCP, "stream", "tcp"},
    {SOCK_STREAM, IPPROTO_UDP, "stream", "udp"},
    {SOCK_STREAM, IPPROTO_RAW, "stream", "raw"},
    {SOCK_STREAM, IPPROTO_ICMP, "stream", "icmp"},
    {SOCK_STREAM, -1, "stream", "minus1"},
    {SOCK_STREAM, 256, "stream", "256"},
    {SOCK_DGRAM, 0, "dgram", "0"},
    {SOCK_DGRAM, IPPROTO_UDP, "dgram", "udp"},
    {SOCK_DGRAM, IPPROTO_TCP, "dgram", "tcp"},
    {SOCK_DGRAM, IPPROTO_RAW, "dgram", "raw"},
    {SOCK_SEQPACKET, 0, "seqpacket", "0"},
    {SOCK_SEQPACKET, IPPROTO_TCP, "seqpacket", "tcp"},
    {SOCK_RDM, 0, "rdm", "0"},
    {0, 0, "type0", "0"},
    {11, 0, "type11", "0"},
    {SOCK_STREAM | 0x100000, 0, "stream+badflag", "0"},
};

/* Raw sockets need CAP_NET_RAW: root gets them, an unprivileged child not. */
struct rawrow { int af, proto; const char *pn; };
static const struct rawrow rawrows[] = {
    {AF_INET, IPPROTO_ICMP, "icmp"}, {AF_INET, IPPROTO_RAW, "raw"}, {AF_INET, IPPROTO_UDP, "udp"},
    {AF_INET, 0, "0"}, {AF_INET6, IPPROTO_ICMPV6, "icmpv6"}, {AF_INET6, IPPROTO_RAW, "raw"},
};

static void raw_child(void *arg, char *buf, size_t n) {
    const struct rawrow *r = arg;
    errno = 0;
    int fd = socket(r->af, SOCK_RAW, r->proto);
    snprintf(buf, n, "%s", ic_res(fd, errno));
    if (fd >= 0) close(fd);
}
static void stream_child(void *arg, char *buf, size_t n) {
    int af = *(int *)arg;
    errno = 0;
    int fd = socket(af, SOCK_STREAM, 0);
    snprintf(buf, n, "%s", ic_res(fd, errno));
    if (fd >= 0) close(fd);
}

int main(void) {
    char name[IC_NAME];
    ic_start();

    for (size_t f = 0; f < IC_N(ic_fams); f++)
        for (size_t i = 0; i < IC_N(rows); i++) {
            int af = ic_fams[f];
            snprintf(name, sizeof name, "socket/%s/%s/proto-%s", ic_fam(af), rows[i].tn, rows[i].pn);
            long fd = TC_SYS(name, socket(af, rows[i].type, rows[i].proto));
            if (fd >= 0) close(fd);
        }

    /* Families around inet. */
    TC_SYS("socket/family-unspec/stream", socket(AF_UNSPEC, SOCK_STREAM, 0));
    TC_SYS("socket/family-max/stream", socket(AF_MAX, SOCK_STREAM, 0));
    TC_SYS("socket/family-minus1/stream", socket(-1, SOCK_STREAM, 0));
    for (size_t f = 0; f < IC_N(ic_fams); f++) {
        int sv[2], af = ic_fams[f];
        snprintf(name, sizeof name, "socketpair/%s/stream", ic_fam(af));
        TC_SYS(name, socketpair(af, SOCK_STREAM, 0, sv));
        snprintf(name, sizeof name, "socketpair/%s/dgram", ic_fam(af));
        TC_SYS(name, socketpair(af, SOCK_DGRAM, 0, sv));
    }

    for (size_t i = 0; i < IC_N(rawrows); i++) {
        const struct rawrow *r = &rawrows[i];
        snprintf(name, sizeof name, "socket/%s/raw/proto-%s/root", ic_fam(r->af), r->pn);
        long fd = TC_SYS(name, socket(r->af, SOCK_RAW, r->proto));
        if (fd >= 0) close(fd);
        snprintf(name, sizeof name, "socket/%s/raw/proto-%s/unprivileged", ic_fam(r->af), r->pn);
        tc_printf(name, "%s", ic_unpriv(raw_child, (void *)r));
    }
    for (size_t f = 0; f < IC_N(ic_fams); f++) {
        int af = ic_fams[f];
        snprintf(name, sizeof name, "socket/%s/stream/unprivileged", ic_fam(af));
        tc_printf(name, "%s", ic_unpriv(stream_child, &af));
    }

    /* SOCK_NONBLOCK / SOCK_CLOEXEC are visible through fcntl. */
    static const struct { int flags; const char *n; } fl[] = {
        {0, "none"}, {SOCK_NONBLOCK, "nonblock"}, {SOCK_CLOEXEC, "cloexec"},
        {SOCK_NONBLOCK | SOCK_CLOEXEC, "nonblock+cloexec"}};
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM};
    for (size_t f = 0; f < IC_N(ic_fams); f++)
        for (size_t t = 0; t < IC_N(types); t++)
            for (size_t k = 0; k < IC_N(fl); k++) {
                int af = ic_fams[f];
                int fd = socket(af, types[t] | fl[k].flags, 0);
                if (fd < 0) tc_die("socket");
                snprintf(name, sizeof name, "socket/%s/%s/flags-%s", ic_fam(af), ic_typ(types[t]), fl[k].n);
                tc_printf(name, "O_NONBLOCK %s, FD_CLOEXEC %s, SO_TYPE %d",
                          ic_yn(fcntl(fd, F_GETFL) & O_NONBLOCK), ic_yn(fcntl(fd, F_GETFD) & FD_CLOEXEC),
                          ic_getint(fd, SOL_SOCKET, SO_TYPE));
                close(fd);
            }

    /* A fresh socket: unbound, unconnected. */
    for (size_t f = 0; f < IC_N(ic_fams); f++)
        for (size_t t = 0; t < IC_N(types); t++) {
            int af = ic_fams[f];
            int fd = ic_socket(af, types[t]);
            const char *pre = ic_fam(af), *tn = ic_typ(types[t]);
            ic_addr a;
            memset(&a, 0, sizeof a);
            a.len = sizeof a.ss;
            snprintf(name, sizeof name, "fresh/%s/%s/getsockname", pre, tn);
            errno = 0;
            int r = getsockname(fd, ic_sa(&a), &a.len);
            if (r < 0) tc_printf(name, "%s", ic_res(r, errno));
            else tc_printf(name, "ok family %s len %d addr %s port %d", ic_famname(a.ss.ss_family), (int)a.len,
                           ic_ip(&a), ic_port(&a));
            snprintf(name, sizeof name, "fresh/%s/%s/getpeername", pre, tn);
            a.len = sizeof a.ss;
            TC_SYS(name, getpeername(fd, ic_sa(&a), &a.len));
            snprintf(name, sizeof name, "fresh/%s/%s/SO_ERROR", pre, tn);
            tc_printf(name, "%d", ic_getint(fd, SOL_SOCKET, SO_ERROR));
            snprintf(name, sizeof name, "fresh/%s/%s/poll", pre, tn);
            tc_printf(name, "%s", ic_evstr(ic_poll0(fd)));
            char c;
            snprintf(name, sizeof name, "fresh/%s/%s/recv-dontwait", pre, tn);
            TC_VAL(name, recv(fd, &c, 1, MSG_DONTWAIT));
            snprintf(name, sizeof name, "fresh/%s/%s/send", pre, tn);
            TC_VAL(name, send(fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT));
            snprintf(name, sizeof name, "fresh/%s/%s/shutdown-rdwr", pre, tn);
            TC_SYS(name, shutdown(fd, SHUT_RDWR));
            snprintf(name, sizeof name, "fresh/%s/%s/poll-after-shutdown", pre, tn);
            tc_printf(name, "%s", ic_evstr(ic_poll0(fd)));
            snprintf(name, sizeof name, "fresh/%s/%s/recv-after-shutdown", pre, tn);
            TC_VAL(name, recv(fd, &c, 1, MSG_DONTWAIT));
            snprintf(name, sizeof name, "fresh/%s/%s/close", pre, tn);
            TC_SYS(name, close(fd));
        }
    return tc_done();
}
