/* unix_client.c: the seed conversation client over AF_UNIX SOCK_STREAM.
 *
 *   usage: unix_client <path | @abstract-name>
 *
 * The same conversation as client.cpp: for ever connect, prompt "you say: ",
 * read a line from stdin (stop with status 0 on "q" or EOF), write the whole
 * 1024-byte buffer, read the reply, print "<address> say: <reply>", close.
 */
#include "utils.h"
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <path | @name>\n", argv[0]);
        return 2;
    }
    for (;;) {
        int fd = connect_unix_socket(argv[1]);
        if (fd < 0) {
            perror("connect_unix_socket");
            return 1;
        }
        char buf[1024];
        memset(buf, 0, sizeof buf);
        printf("you say: ");
        fflush(stdout);
        if (!fgets(buf, sizeof buf, stdin) || strcmp(buf, "q\n") == 0 || strcmp(buf, "q") == 0) {
            close(fd);
            return 0;
        }
        if (write_all(fd, buf, sizeof buf) < 0) {
            perror("write");
            return 1;
        }
        /* The server writes its 1024-byte buffer and closes: read until full or EOF. */
        memset(buf, 0, sizeof buf);
        size_t got = 0;
        while (got < sizeof buf) {
            ssize_t n = read(fd, buf + got, sizeof buf - got);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                perror("read");
                return 1;
            }
            if (n == 0) break;
            got += (size_t)n;
        }
        if (got == 0) {
            fprintf(stderr, "server closed the connection\n");
            return 1;
        }
        printf("%s say: %.*s\n", argv[1], msg_len(buf, got), buf);
        close(fd);
    }
}
