// server.cpp: the seed TCP conversation server (a classic, unmodified POSIX program).
//
//   usage: server <ip> <port>
//
// Binds ip:port (IPv6 when ip contains ':'), listens, then for ever: accepts
// one client, reads its message (up to 1024 bytes), prints "<peer ip> say:
// <msg>", prompts "you say: ", reads the answer line from stdin and writes the
// whole 1024-byte buffer back, then closes the connection. Exits 0 when stdin
// reaches EOF.
#include "utils.h"
#include <signal.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s <ip> <port>\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);  // a client that went away must not kill the server
    int fd = bind_socket(argv[1], atoi(argv[2]));
    if (fd < 0) {
        perror("bind_socket");
        return 1;
    }
    if (listen(fd, 1024) < 0) {
        perror("listen");
        return 1;
    }
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int conn = accept(fd, (struct sockaddr *)&peer, &plen);
        if (conn < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            perror("accept");
            return 1;
        }
        char buf[1024];
        memset(buf, 0, sizeof buf);
        ssize_t n = read(conn, buf, sizeof buf);
        if (n <= 0) {  // error, or a client that left without a word
            if (n < 0) perror("read");
            close(conn);
            continue;
        }
        char ip[INET6_ADDRSTRLEN];
        printf("%s say: %.*s\n", sockaddr_ip(&peer, ip, sizeof ip), msg_len(buf, (size_t)n), buf);
        printf("you say: ");
        fflush(stdout);
        memset(buf, 0, sizeof buf);
        if (!fgets(buf, sizeof buf, stdin)) {
            close(conn);
            close(fd);
            return 0;
        }
        if (write_all(conn, buf, sizeof buf) < 0) perror("write");
        close(conn);
    }
}
