/* utils.h: small socket helpers shared by the seed programs (server, client,
 * unix_server, unix_client). Plain POSIX; usable from C and C++.
 *
 *   init_socket(ip, port, &sin)   IPv4 TCP socket + address filled from "a.b.c.d"
 *   init_socket6(ip, port, &sin6) IPv6 TCP socket + address filled from "x::y"
 *   bind_socket(ip, port)         socket + SO_REUSEADDR + bind, returns the fd
 *   connect_socket(ip, port)      socket + connect, returns the fd
 *   bind_unix_socket(name)        AF_UNIX stream socket bound to a path or "@abstract"
 *   connect_unix_socket(name)     AF_UNIX stream socket connected to a path or "@abstract"
 *
 * bind_socket and connect_socket pick IPv6 when the address string contains
 * a ':', IPv4 otherwise. Every helper returns -1 with errno set on failure.
 */
#ifndef NETSHIM_UTILS_H
#define NETSHIM_UTILS_H
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

/* Makes an IPv4 TCP socket and fills *addr with ip:port. */
static inline int init_socket(const char *ip, int port, struct sockaddr_in *addr) {
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((unsigned short)port);
    if (port < 0 || port > 65535 || inet_pton(AF_INET, ip, &addr->sin_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    return socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
}

/* Makes an IPv6 TCP socket and fills *addr with [ip]:port. */
static inline int init_socket6(const char *ip, int port, struct sockaddr_in6 *addr) {
    memset(addr, 0, sizeof *addr);
    addr->sin6_family = AF_INET6;
    addr->sin6_port = htons((unsigned short)port);
    if (port < 0 || port > 65535 || inet_pton(AF_INET6, ip, &addr->sin6_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    return socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP);
}

/* Either of the above, chosen by the address string; *len gets the address length. */
static inline int init_socket_any(const char *ip, int port, struct sockaddr_storage *ss,
                                  socklen_t *len) {
    if (strchr(ip, ':')) {
        *len = sizeof(struct sockaddr_in6);
        return init_socket6(ip, port, (struct sockaddr_in6 *)ss);
    }
    *len = sizeof(struct sockaddr_in);
    return init_socket(ip, port, (struct sockaddr_in *)ss);
}

/* Closes fd without disturbing errno and returns -1 (for error paths). */
static inline int close_keep_errno(int fd) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

static inline int bind_socket(const char *ip, int port) {
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = init_socket_any(ip, port, &ss, &len);
    if (fd < 0) return -1;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) return close_keep_errno(fd);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) return close_keep_errno(fd);
    return fd;
}

static inline int connect_socket(const char *ip, int port) {
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = init_socket_any(ip, port, &ss, &len);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) return close_keep_errno(fd);
    return fd;
}

/* The IP of an AF_INET/AF_INET6 address as text, written into buf. */
static inline const char *sockaddr_ip(const struct sockaddr_storage *ss, char *buf, socklen_t n) {
    const void *a = NULL;
    if (ss->ss_family == AF_INET) a = &((const struct sockaddr_in *)ss)->sin_addr;
    if (ss->ss_family == AF_INET6) a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    if (!a || !inet_ntop(ss->ss_family, a, buf, n)) snprintf(buf, n, "?");
    return buf;
}

/* Fills a sockaddr_un from a filesystem path or "@name" (abstract "\0name"). */
static inline int init_unix_addr(const char *name, struct sockaddr_un *addr, socklen_t *len) {
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    int abstract = name[0] == '@';
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof addr->sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (abstract) {
        /* sun_path[0] stays '\0'; the name follows, not NUL-terminated. */
        memcpy(addr->sun_path + 1, name + 1, n - 1);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        memcpy(addr->sun_path, name, n);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

/* AF_UNIX stream socket bound to name; a path is unlinked first. */
static inline int bind_unix_socket(const char *name) {
    struct sockaddr_un addr;
    socklen_t len;
    if (init_unix_addr(name, &addr, &len) < 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (name[0] != '@') unlink(name);
    if (bind(fd, (struct sockaddr *)&addr, len) < 0) return close_keep_errno(fd);
    return fd;
}

static inline int connect_unix_socket(const char *name) {
    struct sockaddr_un addr;
    socklen_t len;
    if (init_unix_addr(name, &addr, &len) < 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&addr, len) < 0) return close_keep_errno(fd);
    return fd;
}

/* A unix address as text: the path, "@name" for an abstract name, or "(unnamed)". */
static inline const char *unix_name(const struct sockaddr_un *addr, socklen_t len, char *buf,
                                    size_t n) {
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (len <= off) {
        snprintf(buf, n, "(unnamed)");
    } else if (addr->sun_path[0] == '\0') {
        snprintf(buf, n, "@%.*s", (int)(len - off - 1), addr->sun_path + 1);
    } else {
        snprintf(buf, n, "%.*s", (int)(len - off), addr->sun_path);
    }
    return buf;
}

/* Writes all n bytes (loops over short writes). Returns n or -1. */
static inline ssize_t write_all(int fd, const void *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const char *)buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        done += (size_t)w;
    }
    return (ssize_t)done;
}

/* Length of the text message in buf[0..n): up to the first NUL or newline. */
static inline int msg_len(const char *buf, size_t n) {
    size_t i = 0;
    while (i < n && buf[i] != '\0' && buf[i] != '\n') i++;
    return (int)i;
}
#endif
