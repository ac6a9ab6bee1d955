/*
 * unix_connect.h - connect to a service's UNIX socket.
 *
 * unix_connect() returns a connected stream socket (close-on-exec, and
 * non-blocking with UNIX_CONNECT_NONBLOCK), or -1 with "PATH: reason"
 * appended to err as "connect PATH: reason", errno kept from the failing call, so callers can
 * tell a service that is not running (ENOENT, ECONNREFUSED) from a full
 * listen queue (EAGAIN, reported as "listen queue full").
 */
#ifndef TERN_UNIX_CONNECT_H
#define TERN_UNIX_CONNECT_H

#include "str.h"

#define UNIX_CONNECT_NONBLOCK 0x01

int unix_connect(const char *path, int flags, struct str *err);

#endif
