/*
 * unix_connect.c - connect to a UNIX socket; see unix_connect.h.
 * Trusts the path it is given; called by every client of a service.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "unix_connect.h"

int
unix_connect(const char *path, int flags, struct str *err)
{
	struct sockaddr_un sun;
	size_t len = strlen(path);
	int fd, type = SOCK_STREAM | SOCK_CLOEXEC, saved;

	if (len >= sizeof(sun.sun_path)) {
		str_printf(err, "%s: socket path too long", path);
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, len + 1);
	if (flags & UNIX_CONNECT_NONBLOCK)
		type |= SOCK_NONBLOCK;
	if ((fd = socket(AF_UNIX, type, 0)) < 0) {
		str_printf(err, "%s: socket: %s", path, strerror(errno));
		return -1;
	}
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (errno == EINTR)
			continue;
		saved = errno;
		str_printf(err, "connect %s: %s", path,
		        saved == EAGAIN ? "listen queue full" : strerror(saved));
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}
