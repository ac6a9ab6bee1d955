/*
 * spawn.h - run another program safely.
 *
 * spawn_run() runs one program and waits for it:
 *
 *  - execve() of path with argv, never through a shell (a caller that
 *    wants one passes "/bin/sh", "-c", ... itself) and without a PATH
 *    search; the environment is exactly envp (NULL: empty);
 *  - standard input: stdin_data (written, then end of file), else
 *    stdin_fd, else /dev/null;
 *  - standard output: captured into *out up to out_limit bytes (the rest
 *    is read and thrown away, and out_truncated is set), else stdout_fd,
 *    else /dev/null; standard error the same with err, err_limit and
 *    stderr_fd, or merged into standard output (stderr_to_stdout);
 *  - every other descriptor is closed; all signals are unblocked and at
 *    their default action; the child leads a new session and process
 *    group; umask and working directory as asked;
 *  - with set_ids: setgroups(groups), setgid(gid), setuid(uid) in that
 *    order, each verified (real and effective ids, group count, and that
 *    root cannot be regained), or the program is not run;
 *  - after timeout_ms the whole process group gets SIGTERM, and
 *    kill_grace_ms later SIGKILL; a group member still alive when the
 *    child itself has exited after the SIGTERM is killed too.
 *
 * After the child exits, its output is read for at most SPAWN_DRAIN_MS
 * more (a background grandchild may hold the pipes open).
 *
 * spawn_run returns 0 when the program ran, whatever its fate
 * (res->status says: exited with a code, killed by a signal, or timed
 * out), and -1 when it could not be started (res->status SPAWN_FAILED),
 * with the reason (which step failed, and errno) in why.
 *
 * spawn_start() is the same child set-up without waiting: no capture, no
 * stdin_data, no timeout.  It returns the pid, or -1 with why; the caller
 * reaps the child.
 *
 * The caller must not reap children with waitpid(-1) while spawn_run
 * waits.  spawn_run blocks SIGPIPE in the calling thread while it runs.
 */
#ifndef TERN_SPAWN_H
#define TERN_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "str.h"

#define SPAWN_CAPTURE_MAX   (64 * 1024) /* default limit of captured output, bytes */
#define SPAWN_KILL_GRACE_MS 2000        /* SIGTERM to SIGKILL after a timeout */
#define SPAWN_DRAIN_MS      1000        /* output read after the child exits */
#define SPAWN_GROUPS_MAX    1024        /* supplementary groups */

struct spawn_request {
	const char *path;  /* program; NULL: argv[0] */
	char *const *argv; /* NULL-terminated, argv[0] included */
	char *const *envp; /* the whole environment; NULL: empty */
	const char *cwd;   /* NULL: the caller's */
	int umask_value;   /* -1: the caller's */

	const void *stdin_data; /* spawn_run only */
	size_t stdin_len;
	int stdin_fd; /* -1: /dev/null */

	struct str *out; /* spawn_run only: captured standard output */
	size_t out_limit;
	int stdout_fd;   /* when out is NULL; -1: /dev/null */
	struct str *err; /* spawn_run only: captured standard error */
	size_t err_limit;
	int stderr_fd; /* when err is NULL; -1: /dev/null */
	int stderr_to_stdout;

	int set_ids;
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups; ngroups 0: none */
	size_t ngroups;

	int timeout_ms;    /* 0: none */
	int kill_grace_ms; /* 0: SPAWN_KILL_GRACE_MS */
};

enum spawn_status {
	SPAWN_EXITED,    /* exit_code is valid */
	SPAWN_SIGNALED,  /* signal is valid */
	SPAWN_TIMED_OUT, /* killed after the timeout; signal says which signal ended it */
	SPAWN_FAILED,    /* never ran: see why */
};

struct spawn_result {
	enum spawn_status status;
	int exit_code;
	int signal;
	int out_truncated;
	int err_truncated;
	long long elapsed_ms;
	pid_t pid;
};

/* Defaults: every descriptor -1, umask -1, everything else empty. */
void spawn_request_init(struct spawn_request *req);

int spawn_run(const struct spawn_request *req, struct spawn_result *res, struct str *why);
pid_t spawn_start(const struct spawn_request *req, struct str *why);

/* "exit 3", "signal 9 (Killed)", "timed out", "not started" */
void spawn_describe(const struct spawn_result *res, struct str *text);

#endif
