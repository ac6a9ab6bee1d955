/*
 * control.c - "tern start | stop | reload | status": run and steer the
 * master process.
 *
 *	tern [-c DIR] start [--foreground]
 *	tern [-c DIR] stop
 *	tern [-c DIR] reload
 *	tern [-c DIR] status [--json]
 *
 * start checks the configuration with the code of `tern check` and
 * refuses to start on any error.  Then, in the foreground, it becomes
 * master; otherwise it starts master in a new session and waits on a
 * pipe until master says that every listener is bound (exit 0), or why
 * it could not start ("tern: fatal: 127.0.0.1:25: Address already in
 * use", exit 1; master has exited and nothing is left running).
 *
 * stop, reload and status talk to master's control socket
 * ($queue_directory/pid/master.sock) with attribute frames (docs/master.md).
 * stop returns once master has exited (its lock on pid/master.pid is
 * gone), waiting at most master_stop_grace plus CONTROL_STOP_EXTRA.
 *
 * Runs with the invoking user's rights: master accepts control requests
 * from root and from its own user only.  Trusts master's replies no more
 * than any frame: the getters validate them.  Called by tern.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "config.h"
#include "mem.h"
#include "msg.h"
#include "tern.h"
#include "unix_connect.h"

#define CONTROL_TIMEOUT_MS         30000 /* a control request and its reply */
#define CONTROL_START_WAIT         120   /* seconds master may take to bind everything */
#define CONTROL_STOP_EXTRA         10    /* seconds beyond master_stop_grace */
#define CONTROL_STOP_GRACE_DEFAULT 3600  /* when main.cf's own value is broken */
#define CONTROL_POLL_MS            100
#define CONTROL_REPLY_MAX          (1024 * 1024)
#define CONTROL_READY_FD           3   /* master's -r descriptor */
#define CONTROL_READY_FD_ARG       "3" /* the same, as master's argument */

/*
 * main.cf.  start needs all of it valid; stop, reload and status need only
 * queue_directory (a main.cf broken since master started must not keep
 * the administrator from stopping it: master reports reload errors).
 */
static struct config *
load_config(const char *confdir, int strict)
{
	struct str errors = STR_INIT, warnings = STR_INIT;
	struct config *c = config_new();
	int nerr = config_load_dir(c, confdir, &errors, &warnings);

	if (strict)
		nerr += config_validate(c, &errors);
	else
		nerr = !config_valid(c, "queue_directory", &errors);
	if (nerr > 0) {
		fprintf(stderr, "%s", str_cstr(&errors));
		msg_fatal("%s/main.cf: configuration errors", confdir);
	}
	str_free(&errors);
	str_free(&warnings);
	return c;
}

static char *
queue_path(struct config *c, const char *name)
{
	struct str p = STR_INIT;

	str_printf(&p, "%s/pid/%s", config_str(c, "queue_directory"), name);
	return str_steal(&p);
}

/* ---- talking to master ---- */

/* Send one request; 0 with the reply in r, -1 when master does not run
 * (not_running set) or does not answer (a message in err). */
int
tern_control_request(
        struct config *c, const char *verb, struct attr_list *r, int *not_running, struct str *err)
{
	char *path = queue_path(c, "master.sock");
	struct attr_list req;
	int fd, rc = -1;

	*not_running = 0;
	if ((fd = unix_connect(path, 0, err)) < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			*not_running = 1;
		free(path);
		return -1;
	}
	attr_list_init(&req);
	attr_put_str(&req, "request", verb);
	if (attr_send(fd, &req, CONTROL_TIMEOUT_MS, err) == 0) {
		rc = attr_recv(fd, r, CONTROL_REPLY_MAX, CONTROL_TIMEOUT_MS, err);
		if (rc == 1) {
			str_appendz(err, "master closed the connection without a reply");
			rc = -1;
		}
	}
	attr_list_free(&req);
	close(fd);
	free(path);
	return rc;
}

/* 1 while some process holds the lock on the pid file. */
static int
master_locked(const char *pid_path, long *pid)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int fd = open(pid_path, O_RDONLY | O_CLOEXEC);

	*pid = 0;
	if (fd < 0)
		return 0;
	if (fcntl(fd, F_GETLK, &fl) < 0)
		fl.l_type = F_UNLCK;
	close(fd);
	*pid = fl.l_type == F_UNLCK ? 0 : (long)fl.l_pid;
	return fl.l_type != F_UNLCK;
}

/* 1 while process pid exists and is not a zombie (master is not our
 * child: once it exits, whoever inherited it reaps it). */
static int
process_alive(long pid)
{
	char path[64], buf[512], *paren;
	ssize_t n;
	int fd;

	if (pid <= 0 || (kill((pid_t)pid, 0) < 0 && errno == ESRCH))
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	paren = strrchr(buf, ')');
	return !(paren && paren[1] == ' ' && paren[2] == 'Z');
}

/* ---- start ---- */

static int
exec_foreground(const char *master_path, const char *confdir)
{
	execl(master_path, master_path, "-C", confdir, "-f", msg_verbose ? "-v" : (char *)NULL,
	        (char *)NULL);
	msg_fatal("exec %s: %m", master_path);
}

/* In the child: master in its own session, stdio away from the caller.
 * Its standard error goes to maillog_file, where a crash report is seen. */
static void
exec_background(const char *master_path, const char *confdir, const char *log, int ready)
{
	int null = open("/dev/null", O_RDWR);
	int errfd = *log ? open(log, O_WRONLY | O_APPEND | O_CREAT, 0640) : -1;

	(void)setsid();
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
	        dup2(errfd >= 0 ? errfd : null, 2) < 0 || dup2(ready, CONTROL_READY_FD) < 0)
		_exit(EX_OSERR);
	(void)close_range(CONTROL_READY_FD + 1, ~0U, 0);
	execl(master_path, master_path, "-C", confdir, "-r", CONTROL_READY_FD_ARG,
	        msg_verbose ? "-v" : (char *)NULL, (char *)NULL);
	_exit(EX_OSERR);
}

/* Read master's one answer, bounded in time. */
static void
read_ready(int fd, struct str *answer)
{
	time_t deadline = time(NULL) + CONTROL_START_WAIT;
	char buf[1024];

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (time(NULL) >= deadline) {
			str_appendz(answer, "master did not report within the start-up time\n");
			return;
		}
		if (poll(&p, 1, 1000) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || answer->len > CONTROL_REPLY_MAX)
			return;
		str_append(answer, buf, (size_t)n);
	}
}

static void
fatal_lines(const char *text)
{
	const char *p = text, *nl;

	while (*p) {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		if (nl > p)
			fprintf(stderr, "tern: fatal: %.*s\n", (int)(nl - p), p);
		p = *nl ? nl + 1 : nl;
	}
}

int
tern_start(int argc, char **argv, const char *confdir)
{
	char *check_argv[] = {"check", NULL};
	char abs_confdir[PATH_MAX];
	struct str master_path = STR_INIT, answer = STR_INIT;
	struct config *c;
	int foreground = 0, p[2], status;
	long running;
	char *pid_path;
	pid_t pid;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--foreground") == 0 || strcmp(argv[i], "-f") == 0)
			foreground = 1;
		else {
			fprintf(stderr, "usage: tern [-c CONFDIR] start [--foreground]\n");
			return EX_USAGE;
		}
	}
	/* master and its children must find the directory from anywhere. */
	if (realpath(confdir, abs_confdir) == NULL)
		msg_fatal("%s: %m", confdir);
	confdir = abs_confdir;
	if (tern_check(1, check_argv, confdir) != EX_OK) {
		fprintf(stderr, "tern: fatal: the configuration has errors; not started\n");
		return EX_CONFIG;
	}
	c = load_config(confdir, 1);
	pid_path = queue_path(c, "master.pid");
	if (master_locked(pid_path, &running))
		msg_fatal("the master is already running (pid %ld)", running);
	free(pid_path);
	str_printf(&master_path, "%s/master", config_str(c, "daemon_directory"));
	if (access(str_cstr(&master_path), X_OK) < 0)
		msg_fatal("%s: %m", str_cstr(&master_path));
	if (foreground)
		return exec_foreground(str_cstr(&master_path), confdir);

	if (pipe2(p, O_CLOEXEC) < 0)
		msg_fatal("pipe: %m");
	pid = fork();
	if (pid < 0)
		msg_fatal("fork: %m");
	if (pid == 0)
		exec_background(
		        str_cstr(&master_path), confdir, config_str(c, "maillog_file"), p[1]);
	close(p[1]);
	read_ready(p[0], &answer);
	close(p[0]);
	if (strcmp(str_cstr(&answer), "ok\n") == 0) {
		msg_info("started, pid %ld", (long)pid);
		str_free(&answer);
		str_free(&master_path);
		config_free(c);
		return EX_OK;
	}
	if (answer.len == 0) {
		if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
			str_printf(&answer, "%s exited with status %d before it was ready",
			        str_cstr(&master_path), WEXITSTATUS(status));
		else
			str_printf(&answer, "%s died before it was ready", str_cstr(&master_path));
	} else {
		/* master reported a failure and exits; do not leave it behind. */
		if (kill(pid, 0) == 0)
			(void)waitpid(pid, &status, 0);
	}
	fatal_lines(str_cstr(&answer));
	str_free(&answer);
	str_free(&master_path);
	config_free(c);
	return 1;
}

/* ---- stop, reload ---- */

int
tern_stop(int argc, char **argv, const char *confdir)
{
	struct config *c;
	struct attr_list r;
	struct str err = STR_INIT;
	char *pid_path;
	long pid, locker;
	int not_running;
	time_t deadline;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: tern [-c CONFDIR] stop\n");
		return EX_USAGE;
	}
	c = load_config(confdir, 0);
	pid_path = queue_path(c, "master.pid");
	(void)master_locked(pid_path, &pid);
	attr_list_init(&r);
	if (tern_control_request(c, "stop", &r, &not_running, &err) < 0) {
		if (not_running)
			msg_fatal("the master is not running");
		msg_fatal("%s", str_cstr(&err));
	}
	deadline = time(NULL) + CONTROL_STOP_EXTRA;
	deadline += config_valid(c, "master_stop_grace", NULL) ? config_time(c, "master_stop_grace")
	                                                       : CONTROL_STOP_GRACE_DEFAULT;
	/* The lock goes when master has reaped its children; the process
	 * itself a moment later. */
	while (master_locked(pid_path, &locker) || process_alive(pid)) {
		if (time(NULL) >= deadline)
			msg_fatal("the master (pid %ld) did not stop in time", pid);
		poll(NULL, 0, CONTROL_POLL_MS);
	}
	free(pid_path);
	attr_list_free(&r);
	str_free(&err);
	config_free(c);
	return EX_OK;
}

int
tern_reload(int argc, char **argv, const char *confdir)
{
	struct config *c;
	struct attr_list r;
	struct str err = STR_INIT;
	const char *status, *reason;
	int not_running, rc = EX_OK;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: tern [-c CONFDIR] reload\n");
		return EX_USAGE;
	}
	c = load_config(confdir, 0);
	attr_list_init(&r);
	if (tern_control_request(c, "reload", &r, &not_running, &err) < 0)
		msg_fatal("%s", not_running ? "the master is not running" : str_cstr(&err));
	status = attr_get_str(&r, "status");
	if (status == NULL || strcmp(status, "ok") != 0) {
		reason = attr_get_str(&r, "reason");
		fatal_lines(reason ? reason : "reload failed");
		rc = 1;
	}
	attr_list_free(&r);
	str_free(&err);
	config_free(c);
	return rc;
}
