/* unix_server.c: the seed conversation server over AF_UNIX SOCK_STREAM.
 *
 *   usage: unix_server <path | @abstract-name>
 *
 * The same conversation as server.cpp: for ever accept a client, read its
 * message (up to 1024 bytes), print "<peer> say: <msg>" (peer is the client's
 * bound name or "(unnamed)"), prompt "you say: ", read the answer line from
 * stdin, write the whole 1024-byte buffer back and close. A path is unlinked
 * before bind and on exit; "@name" is the abstract name "\0name". Exits 0
 * when stdin reaches EOF.
 */
#include "utils.h"
#include <signal.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <path | @name>\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a client that went away must not kill the server */
    int fd = bind_unix_socket(argv[1]);
    if (fd < 0) {
        perror("bind_unix_socket");
        return 1;
    }
    if (listen(fd, 1024) < 0) {
        perror("listen");
        return 1;
    }
    for (;;) {
        struct sockaddr_un peer;
        socklen_t plen = sizeof peer;
        int conn = accept(fd, (struct sockaddr *)&peer, &plen);
        if (conn < 0) {
            if (errno == EINTR) continue;
            perror("accept");
            return 1;
        }
        char buf[1024];
        memset(buf, 0, sizeof buf);
        ssize_t n = read(conn, buf, sizeof buf);
        if (n <= 0) { /* error, or a client that left without a word */
            if (n < 0) perror("read");
            close(conn);
            continue;
        }
        char name[sizeof peer.sun_path + 2];
        printf("%s say: %.*s\n", unix_name(&peer, plen, name, sizeof name),
               msg_len(buf, (size_t)n), buf);
        printf("you say: ");
        fflush(stdout);
        memset(buf, 0, sizeof buf);
        if (!fgets(buf, sizeof buf, stdin)) {
            close(conn);
            close(fd);
            if (argv[1][0] != '@') unlink(argv[1]);
            return 0;
        }
        if (write_all(conn, buf, sizeof buf) < 0) perror("write");
        close(conn);
    }
}
