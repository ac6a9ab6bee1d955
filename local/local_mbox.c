/*
 * local_mbox.c - mbox files: the system mailboxes in
 * mail_spool_directory (home_mailbox empty), and the append that /file
 * targets share.
 *
 * An mbox message is a "From sender date" line, Return-Path: and
 * Delivered-To:, the text with ">From " quoting, and an empty line.  The
 * file is locked with a dot-lock (FILE.lock, created with O_EXCL; stale
 * after LOCAL_DOTLOCK_STALE seconds) and an fcntl lock; the append is
 * fsynced, and on any failure the file is cut back to its old size, so a
 * reader never sees half a message.
 *
 * In root mode the spool task keeps root only for the dot-lock and for
 * creating a missing mailbox (then given to the user): it switches its
 * effective ids to the user for the open and every write.  Called by
 * local_recipient.c and local_file.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "local.h"
#include "msg.h"

#define LOCK_RETRY_MS 200 /* between attempts to take a lock */

static void
pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int
local_lock_fd(int fd)
{
	time_t deadline = time(NULL) + LOCAL_LOCK_WAIT;
	struct flock fl;

	for (;;) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			return -1;
		if (time(NULL) >= deadline) {
			errno = EAGAIN;
			return -1;
		}
		pause_ms(LOCK_RETRY_MS);
	}
}

int
local_dotlock_take(const char *path, struct str *err)
{
	time_t deadline = time(NULL) + LOCAL_LOCK_WAIT;
	struct str lock = STR_INIT;
	struct stat st;
	int fd, rc;

	str_printf(&lock, "%s.lock", path);
	for (;;) {
		fd = open(lock.data, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			close(fd);
			rc = 1;
			break;
		}
		if (errno == EACCES || errno == EPERM || errno == EROFS) {
			rc = 0;
			break;
		}
		if (errno != EEXIST) {
			str_printf(err, "create %s: %s", lock.data, strerror(errno));
			rc = -1;
			break;
		}
		if (lstat(lock.data, &st) == 0 && time(NULL) - st.st_mtime > LOCAL_DOTLOCK_STALE) {
			msg_warn("removing stale lock %s", lock.data);
			(void)unlink(lock.data);
			continue;
		}
		if (time(NULL) >= deadline) {
			str_printf(err, "%s is locked (%s exists)", path, lock.data);
			rc = -1;
			break;
		}
		pause_ms(LOCK_RETRY_MS);
	}
	str_free(&lock);
	return rc;
}

void
local_dotlock_release(const char *path)
{
	struct str lock = STR_INIT;

	str_printf(&lock, "%s.lock", path);
	if (unlink(lock.data) < 0 && errno != ENOENT)
		msg_warn("remove %s: %m", lock.data);
	str_free(&lock);
}

int
local_mbox_append(int fd, struct local_message *m, const struct local_copy *c, struct str *err)
{
	struct stat st;
	int saved;

	if (fstat(fd, &st) < 0) {
		saved = errno;
		str_printf(err, "fstat: %s", strerror(saved));
		errno = saved;
		return -1;
	}
	if (local_copy_write(fd, m, c, err) == 0 && fsync(fd) == 0)
		return 0;
	saved = errno;
	if (err->len == 0)
		str_printf(err, "fsync: %s", strerror(saved));
	if (ftruncate(fd, st.st_size) < 0 || fsync(fd) < 0)
		msg_warn("cannot cut an mbox back to %lld bytes: %m", (long long)st.st_size);
	errno = saved;
	return -1;
}

struct mbox_task {
	struct local_message *m;
	const struct local_mailbox *mb;
	const struct local_copy *c;
};

/* Open the mailbox as the owner, creating it (as root in root mode, then
 * given to the owner, when the owner cannot create it); -1 with res set. */
static int
open_mailbox(const struct local_mailbox *mb, const char *path, struct local_result *res)
{
	const struct local_identity *id = mb->owner;
	struct str err = STR_INIT;
	int fd, saved;

	fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		        0600);
	if (fd < 0 && errno == EACCES && id->switch_ids) {
		if (local_privs_restore(id, &err) == 0) {
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (fd >= 0 && fchown(fd, id->uid, id->gid) < 0) {
				saved = errno;
				(void)unlink(path);
				close(fd);
				fd = -1;
				errno = saved;
			}
			saved = errno;
			if (fd >= 0)
				close(fd);
			if (local_privs_become(id, &err) < 0) {
				local_result_set(res, LOCAL_DEFER, "4.3.0", "%s", str_cstr(&err));
				str_free(&err);
				return -1;
			}
			errno = saved;
			if (fd >= 0)
				fd = open(path,
				        O_WRONLY | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
		}
	}
	if (fd < 0) {
		str_printf(&err, "open mailbox %s", path);
		local_result_errno(res, errno, str_cstr(&err));
	}
	str_free(&err);
	return fd;
}

static void
mbox_task(void *arg, struct local_result *res)
{
	struct mbox_task *t = arg;
	const char *path = t->mb->display.data;
	struct str err = STR_INIT;
	struct stat st;
	int dot, fd = -1, saved;

	if ((dot = local_dotlock_take(path, &err)) < 0) {
		local_result_set(res, LOCAL_DEFER, "4.2.0", "%s", str_cstr(&err));
		str_free(&err);
		return;
	}
	if (local_privs_become(t->mb->owner, &err) < 0) {
		local_result_set(res, LOCAL_DEFER, "4.3.0", "%s", str_cstr(&err));
		goto done;
	}
	if ((fd = open_mailbox(t->mb, path, res)) < 0)
		goto restore;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	        (t->mb->owner->switch_ids && st.st_uid != t->mb->owner->uid)) {
		local_result_set(res, LOCAL_DEFER, "4.2.0",
		        "mailbox %s is not a regular file with one link owned by its user", path);
		goto restore;
	}
	if (local_lock_fd(fd) < 0) {
		str_printf(&err, "lock mailbox %s", path);
		local_result_errno(res, errno, str_cstr(&err));
		goto restore;
	}
	if (local_quota_check(t->m, t->mb, -1, (long long)st.st_size, -1,
	            local_copy_size(t->m, t->c), res) != 0)
		goto restore;
	if (local_mbox_append(fd, t->m, t->c, &err) < 0) {
		saved = errno;
		str_reset(&err);
		str_printf(&err, "append to mailbox %s", path);
		local_result_errno(res, saved, str_cstr(&err));
		goto restore;
	}
	local_result_set(res, LOCAL_SENT, "2.0.0", "delivered to mailbox");
restore:
	if (fd >= 0)
		close(fd);
	str_reset(&err);
	if (local_privs_restore(t->mb->owner, &err) < 0)
		msg_warn("%s", str_cstr(&err));
done:
	if (dot > 0)
		local_dotlock_release(path);
	str_free(&err);
}

void
local_mbox_deliver(struct local_message *m, const struct local_mailbox *mb,
        const struct local_copy *c, struct local_result *res)
{
	struct mbox_task t = {m, mb, c};

	if (mb->owner->switch_ids && mb->owner->uid == 0) {
		local_result_set(res, LOCAL_DEFER, "4.3.0",
		        "refusing to deliver to mailbox %s as root", mb->display.data);
		return;
	}
	local_run_as(mb->owner, LOCAL_RUN_KEEP_ROOT, mbox_task, &t, res);
	if (res->status != LOCAL_SENT)
		msg_info("%s: mailbox %s: %s", m->queue_id, mb->display.data,
		        str_cstr(&res->reason));
}
