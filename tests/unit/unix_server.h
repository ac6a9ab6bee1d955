/*
 * unix_server.h - for unit tests of clients of a UNIX-socket service: a
 * listening socket NAME in a fresh directory /tmp/tern-TAG-XXXXXX, served
 * by serve(lfd) in a child process.  The test kills the child and
 * removes the socket and the directory in its teardown
 * (unix_server_stop).  Used by test_rewrite_clnt.c and
 * test_attr_stream.c.
 */
#ifndef TERN_TEST_UNIX_SERVER_H
#define TERN_TEST_UNIX_SERVER_H

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

struct unix_server {
	char dir[64];
	char path[128];
	pid_t pid;
};

static inline void
unix_server_start(struct unix_server *u, const char *tag, const char *name, void (*serve)(int))
{
	struct sockaddr_un sun;
	int lfd;

	signal(SIGPIPE, SIG_IGN);
	snprintf(u->dir, sizeof(u->dir), "/tmp/tern-%s-XXXXXX", tag);
	cr_assert_not_null(mkdtemp(u->dir));
	snprintf(u->path, sizeof(u->path), "%s/%s", u->dir, name);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	cr_assert_lt(strlen(u->path), sizeof(sun.sun_path));
	memcpy(sun.sun_path, u->path, strlen(u->path) + 1);
	cr_assert((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(lfd, 16), 0);
	if ((u->pid = fork()) == 0) {
		serve(lfd);
		_exit(0);
	}
	cr_assert(u->pid > 0);
	close(lfd);
}

static inline void
unix_server_stop(struct unix_server *u)
{
	if (u->pid > 0) {
		kill(u->pid, SIGKILL);
		waitpid(u->pid, NULL, 0);
		u->pid = 0;
	}
	unlink(u->path);
	rmdir(u->dir);
}

#endif
