/*
 * local_privs.c - who a delivery writes as, and running a task as them.
 *
 * In root mode (unprivileged_mode = no) the local process is root.  It
 * never writes a mailbox, a file or a command's world as root: each such
 * task runs in a child that switches to the recipient's uid and gid
 * (setgroups, setgid, setuid, each verified, and root must not come
 * back) and sends its result back on a pipe.  A task that needs root
 * for one step (the dot-lock of /var/mail) is run with
 * LOCAL_RUN_KEEP_ROOT and switches only its effective ids around its
 * writes.  A uid of 0 is never switched to: the task is refused.  In
 * unprivileged mode a task runs in this process as the invoking user.
 *
 * Trusts the password file and the configuration; the child's result is
 * checked like any other input.  Called by the delivery files of local/.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "local.h"
#include "mem.h"
#include "msg.h"

/* The result as the child sends it. */
struct wire_result {
	int32_t status;
	char dsn[QUEUE_DSN_MAX + 1];
	uint32_t reason_len;
	uint32_t data_len;
};

static struct local_identity *
identity_new(uid_t uid, gid_t gid, const char *user, const char *home, const char *shell)
{
	struct local_identity *id = xcalloc(1, sizeof(*id));

	id->switch_ids = !local_cfg.unprivileged;
	id->uid = uid;
	id->gid = gid;
	id->user = xstrdup(user ? user : "");
	id->home = xstrdup(home && *home ? home : "/");
	id->shell = xstrdup(shell && *shell ? shell : "/bin/sh");
	return id;
}

int
local_identity_user(const char *name, struct local_identity **id, struct str *err)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(name);
	if (pw == NULL) {
		if (errno == 0 || errno == ENOENT || errno == ESRCH || errno == EBADF ||
		        errno == EPERM)
			return 0;
		str_printf(err, "password file lookup of %s: %s", name, strerror(errno));
		return -1;
	}
	*id = identity_new(pw->pw_uid, pw->pw_gid, pw->pw_name, pw->pw_dir, pw->pw_shell);
	return 1;
}

struct local_identity *
local_identity_uid(uid_t uid, gid_t gid)
{
	struct passwd *pw = getpwuid(uid);

	if (pw != NULL)
		return identity_new(uid, gid, pw->pw_name, pw->pw_dir, pw->pw_shell);
	return identity_new(uid, gid, "", "/", "/bin/sh");
}

struct local_identity *
local_identity_owner(uid_t uid, gid_t gid)
{
	struct passwd *pw = getpwuid(uid);

	if (pw != NULL)
		return identity_new(uid, pw->pw_gid, pw->pw_name, pw->pw_dir, pw->pw_shell);
	return identity_new(uid, gid, "", "/", "/bin/sh");
}

int
local_identity_group(uid_t uid, gid_t *gid)
{
	struct passwd *pw = getpwuid(uid);

	if (pw == NULL)
		return -1;
	*gid = pw->pw_gid;
	return 0;
}

struct local_identity *
local_identity_copy(const struct local_identity *id)
{
	struct local_identity *c = identity_new(id->uid, id->gid, id->user, id->home, id->shell);

	c->switch_ids = id->switch_ids;
	return c;
}

void
local_identity_free(struct local_identity *id)
{
	if (id == NULL)
		return;
	free(id->user);
	free(id->home);
	free(id->shell);
	free(id);
}

struct local_identity *
local_identity_unroot(const struct local_identity *id)
{
	if (id->switch_ids && id->uid == 0 && local_cfg.default_privs != NULL)
		return local_identity_copy(local_cfg.default_privs);
	return local_identity_copy(id);
}

/* ---- the switch ---- */

static int
switch_ids(const struct local_identity *id, struct str *err)
{
	gid_t groups[1];

	if (id->uid == 0) {
		str_appendz(err, "refusing to deliver as root");
		return -1;
	}
	groups[0] = id->gid;
	if (setgroups(1, groups) < 0 || setgid(id->gid) < 0 || setuid(id->uid) < 0) {
		str_printf(err, "switch to uid %lu gid %lu: %s", (unsigned long)id->uid,
		        (unsigned long)id->gid, strerror(errno));
		return -1;
	}
	if (getuid() != id->uid || geteuid() != id->uid || getgid() != id->gid ||
	        getegid() != id->gid || setuid(0) == 0) {
		str_printf(err, "switch to uid %lu did not hold", (unsigned long)id->uid);
		return -1;
	}
	return 0;
}

int
local_privs_become(const struct local_identity *id, struct str *err)
{
	gid_t groups[1];

	if (!id->switch_ids)
		return 0;
	if (id->uid == 0) {
		str_appendz(err, "refusing to deliver as root");
		return -1;
	}
	groups[0] = id->gid;
	if (setgroups(1, groups) < 0 || setegid(id->gid) < 0 || seteuid(id->uid) < 0) {
		str_printf(err, "switch to uid %lu gid %lu: %s", (unsigned long)id->uid,
		        (unsigned long)id->gid, strerror(errno));
		return -1;
	}
	return 0;
}

int
local_privs_restore(const struct local_identity *id, struct str *err)
{
	if (!id->switch_ids)
		return 0;
	if (seteuid(0) < 0 || setegid(0) < 0 || setgroups(0, NULL) < 0) {
		str_printf(err, "switch back to root: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- the child and its result ---- */

static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
send_result(int fd, const struct local_result *res)
{
	struct wire_result w;
	size_t reason_len = res->reason.len, data_len = res->data.len;

	if (reason_len > 65536)
		reason_len = 65536;
	if (data_len > LOCAL_FILE_SIZE_MAX + 1024)
		data_len = LOCAL_FILE_SIZE_MAX + 1024;
	memset(&w, 0, sizeof(w));
	w.status = (int32_t)res->status;
	memcpy(w.dsn, res->dsn, sizeof(w.dsn));
	w.reason_len = (uint32_t)reason_len;
	w.data_len = (uint32_t)data_len;
	if (write_all(fd, &w, sizeof(w)) < 0 || write_all(fd, res->reason.data, reason_len) < 0 ||
	        write_all(fd, res->data.data, data_len) < 0)
		_exit(1);
}

static void
run_child(int fd, const struct local_identity *id, unsigned flags, local_task task, void *arg)
{
	struct local_result res;
	struct str err = STR_INIT;
	sigset_t none;

	signal(SIGALRM, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	alarm(LOCAL_TASK_TIMEOUT);
	local_result_init(&res);
	if (!(flags & LOCAL_RUN_KEEP_ROOT) && switch_ids(id, &err) < 0)
		local_result_set(&res, LOCAL_DEFER, "4.3.0", "%s", str_cstr(&err));
	else
		task(arg, &res);
	send_result(fd, &res);
	_exit(0);
}

/* Read what the child sent: 0, or -1 when it is short or malformed. */
static int
read_result(int fd, struct local_result *res)
{
	struct str buf = STR_INIT;
	struct wire_result w;
	char chunk[8192];
	ssize_t n;
	int rc = -1;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf.len + (size_t)n > LOCAL_RESULT_MAX)
			break;
		str_append(&buf, chunk, (size_t)n);
	}
	if (buf.len >= sizeof(w)) {
		memcpy(&w, buf.data, sizeof(w));
		if ((w.status == LOCAL_SENT || w.status == LOCAL_DEFER ||
		            w.status == LOCAL_BOUNCE) &&
		        memchr(w.dsn, '\0', sizeof(w.dsn)) != NULL &&
		        (size_t)w.reason_len + w.data_len == buf.len - sizeof(w)) {
			res->status = (enum local_status)w.status;
			memcpy(res->dsn, w.dsn, sizeof(res->dsn));
			str_set(&res->reason, buf.data + sizeof(w), w.reason_len);
			str_set(&res->data, buf.data + sizeof(w) + w.reason_len, w.data_len);
			rc = 0;
		}
	}
	str_free(&buf);
	return rc;
}

void
local_run_as(const struct local_identity *id, unsigned flags, local_task task, void *arg,
        struct local_result *res)
{
	int fds[2], status;
	pid_t pid;

	if (!id->switch_ids) {
		task(arg, res);
		return;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		local_result_errno(res, errno, "pipe");
		return;
	}
	if ((pid = fork()) < 0) {
		local_result_errno(res, errno, "fork");
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		run_child(fds[1], id, flags, task, arg);
	}
	close(fds[1]);
	if (read_result(fds[0], res) < 0)
		local_result_set(res, LOCAL_DEFER, "4.3.0", "delivery process sent no result");
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			status = 0;
			break;
		}
	if (WIFSIGNALED(status))
		local_result_set(res, LOCAL_DEFER, "4.3.0",
		        "delivery process killed by signal %d%s", WTERMSIG(status),
		        WTERMSIG(status) == SIGALRM ? " (time limit exceeded)" : "");
}
