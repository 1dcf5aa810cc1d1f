/*
 * notify.c — sd_notify(3)'s datagram protocol, which systemd documents as stable: the manager
 * passes the path of a Unix datagram socket in $NOTIFY_SOCKET (a leading '@' names one in the
 * abstract namespace), and the service sends newline-separated "NAME=value" assignments to it,
 * one datagram each time. Nothing is read back. The send never blocks the loop: it is a single
 * non-blocking sendto of a few bytes.
 */
#include "server/notify.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int notify_service_manager(const char *state, char *error, size_t error_bytes)
{
    assert(state != NULL && state[0] != '\0');
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0') {
        return 1;
    }
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    size_t path_length = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || path_length >= sizeof address.sun_path) {
        snprintf(error, error_bytes, "NOTIFY_SOCKET '%s' is not a socket path", path);
        return -1;
    }
    memcpy(address.sun_path, path, path_length);
    if (path[0] == '@') {
        address.sun_path[0] = '\0'; /* the abstract namespace: no terminating byte counts */
    }
    socklen_t address_length =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_length + (path[0] == '/'));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(error, error_bytes, "cannot open a socket to tell systemd %s: %s", state,
                 strerror(errno));
        return -1;
    }
    ssize_t sent = sendto(fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
                          (const struct sockaddr *)&address, address_length);
    int saved_errno = errno;
    close(fd);
    if (sent < 0 || (size_t)sent != strlen(state)) {
        snprintf(error, error_bytes, "cannot tell systemd %s through %s: %s", state, path,
                 sent < 0 ? strerror(saved_errno) : "short send");
        return -1;
    }
    return 0;
}
