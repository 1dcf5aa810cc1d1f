/*
 * notify.h — telling systemd about the node's state (sd_notify's protocol, without libsystemd):
 * READY=1 once the node has opened its storage and listens, STOPPING=1 when it shuts down, for
 * the packaged unit's Type=notify (debian/raftkv.service).
 *
 * Only a process started with $NOTIFY_SOCKET sends anything; without it every call is a no-op,
 * so a node run by hand, by the tests or by another supervisor behaves as before. A message
 * that cannot be sent is reported to the caller and never stops the node.
 */
#ifndef RAFTKV_SERVER_NOTIFY_H
#define RAFTKV_SERVER_NOTIFY_H

#include <stddef.h>

/* Sends `state` ("READY=1", "STOPPING=1", "STATUS=...") as one datagram to $NOTIFY_SOCKET.
 * Returns 1 when there is no socket to tell, 0 when sent, -1 with the reason in error. */
int notify_service_manager(const char *state, char *error, size_t error_bytes);

#endif
