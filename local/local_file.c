/*
 * local_file.c - "/file" targets of aliases, :include: files and
 * .forward files: the message appended in mbox format.
 *
 * The file is opened with O_APPEND and O_NOFOLLOW (a symbolic link is
 * refused), created with mode 0600 when missing, and must be a regular
 * file; "/dev/null" discards.  It is locked with a dot-lock where the
 * directory allows one, and with fcntl; the append is fsynced and cut
 * back on failure (local_mbox_append).  The task runs as the identity
 * the caller chose (the .forward's user, the owner of the aliases or of
 * the :include: file, or default_privs instead of root), never as root.
 * Errors that retrying may cure (no space, a busy lock) defer; the
 * others (no such directory, permission, not a file) bounce, 5.2.0.
 * Called by local_recipient.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local.h"
#include "msg.h"

struct file_task {
	struct local_message *m;
	const char *path;
	const struct local_copy *c;
};

static void
file_error(struct local_result *res, int err, const char *what, const char *path)
{
	if (err == ENOSPC || err == EDQUOT)
		local_result_set(res, LOCAL_DEFER, "4.2.2", "cannot %s file %s: %s", what, path,
		        strerror(err));
	else if (err == EAGAIN || err == ESTALE || err == EINTR || err == ETIMEDOUT || err == EIO ||
	        err == ENOMEM || err == EMFILE || err == ENFILE)
		local_result_set(res, LOCAL_DEFER, "4.2.0", "cannot %s file %s: %s", what, path,
		        strerror(err));
	else
		local_result_set(res, LOCAL_BOUNCE, "5.2.0", "cannot %s file %s: %s", what, path,
		        err == ELOOP ? "it is a symbolic link" : strerror(err));
}

static void
file_task(void *arg, struct local_result *res)
{
	struct file_task *t = arg;
	struct str err = STR_INIT;
	struct stat st;
	int fd, dot;

	if (strcmp(t->path, "/dev/null") == 0) {
		local_result_set(res, LOCAL_SENT, "2.0.0", "delivered to file: /dev/null");
		return;
	}
	fd = open(t->path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
	if (fd < 0) {
		file_error(res, errno, "open", t->path);
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		local_result_set(res, LOCAL_BOUNCE, "5.2.0",
		        "cannot append to %s: not a regular file", t->path);
		close(fd);
		return;
	}
	if ((dot = local_dotlock_take(t->path, &err)) < 0) {
		local_result_set(res, LOCAL_DEFER, "4.2.0", "%s", str_cstr(&err));
		close(fd);
		str_free(&err);
		return;
	}
	if (local_lock_fd(fd) < 0)
		file_error(res, errno, "lock", t->path);
	else if (local_mbox_append(fd, t->m, t->c, &err) < 0)
		file_error(res, errno, "append to", t->path);
	else
		local_result_set(res, LOCAL_SENT, "2.0.0", "delivered to file: %s", t->path);
	close(fd);
	if (dot > 0)
		local_dotlock_release(t->path);
	str_free(&err);
}

void
local_file_deliver(struct local_message *m, const char *path, const struct local_identity *privs,
        const struct local_copy *c, struct local_result *res)
{
	struct file_task t = {m, path, c};

	if (privs->switch_ids && privs->uid == 0) {
		local_result_set(
		        res, LOCAL_DEFER, "4.3.0", "refusing to write file %s as root", path);
		return;
	}
	local_run_as(privs, 0, file_task, &t, res);
}
