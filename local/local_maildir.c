/*
 * local_maildir.c - delivery into a maildir, once.
 *
 * The file's name derives from the message and the recipient, not from
 * the clock or the process:
 *
 *	<arrival seconds>.Q<queue ID>R<recipient index>.<host>,S=<size>
 *
 * so a delivery repeated after a crash (local wrote the file, but qmgr
 * never recorded the recipient as done) finds the earlier file in new/,
 * or in cur/ under the same name with ":2,flags" added, and reports the
 * recipient delivered without writing it again.  The steps:
 *
 *	1. open the maildir below its base without following links,
 *	   creating it and tmp/ new/ cur/ when missing;
 *	2. the name in new/ or cur/ already: delivered before, done;
 *	3. quota (local_quota.c);
 *	4. write tmp/<name> (Return-Path:, Delivered-To:, the text), fsync;
 *	5. link it to new/<name> (EEXIST: delivered before, done), remove
 *	   tmp/<name>, fsync new/.
 *
 * Only after step 5 is the result "sent".  In root mode the writes run
 * as the mailbox owner (local_privs.c); in a Drop mailbox root creates
 * the directories first and hands the mailbox directory to the owner.
 * Called by local_recipient.c and for "/dir/" alias targets.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local.h"
#include "msg.h"

struct maildir_task {
	struct local_message *m;
	const struct local_rcpt *r;
	const struct local_mailbox *mb;
	const struct local_copy *c;
	int dirfd;              /* the maildir opened by root, or -1: the task opens it */
	long long domain_usage; /* measured by root, or -1 */
};

/* The host part of a name: "/" and ":" cannot appear (maildir(5)). */
static void
name_host(struct str *name, const char *host)
{
	for (; *host; host++) {
		if (*host == '/')
			str_appendz(name, "\\057");
		else if (*host == ':')
			str_appendz(name, "\\072");
		else if (*host == '.' || *host == '-' || (*host >= '0' && *host <= '9') ||
		        (*host >= 'a' && *host <= 'z') || (*host >= 'A' && *host <= 'Z'))
			str_appendc(name, *host);
		else
			str_appendc(name, '_');
	}
}

static int
in_cur(int curfd, const char *name)
{
	size_t len = strlen(name);
	struct dirent *de;
	DIR *dir;
	int fd, found = 0;

	if ((fd = dup(curfd)) < 0)
		return 0;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	rewinddir(dir);
	while (!found && (de = readdir(dir)) != NULL)
		found = strncmp(de->d_name, name, len) == 0 &&
		        (de->d_name[len] == '\0' || de->d_name[len] == ':');
	closedir(dir);
	return found;
}

/* tmp/ new/ cur/ exist; 0, or -1 with errno. */
static int
make_subdirs(int dirfd)
{
	static const char *const subs[] = {"tmp", "new", "cur"};
	int made = 0;

	for (size_t i = 0; i < 3; i++) {
		if (mkdirat(dirfd, subs[i], 0700) == 0)
			made = 1;
		else if (errno != EEXIST)
			return -1;
	}
	return made ? local_fsync_dir(dirfd) : 0;
}

static int
link_new(int tmpfd, int newfd, const char *name)
{
	if (linkat(tmpfd, name, newfd, name, 0) == 0)
		return 0;
	if (errno != EPERM && errno != ENOTSUP && errno != ENOSYS)
		return -1;
	/* A file system without hard links: rename, never replacing. */
	return renameat2(tmpfd, name, newfd, name, RENAME_NOREPLACE);
}

static void
maildir_task(void *arg, struct local_result *res)
{
	struct maildir_task *t = arg;
	struct str err = STR_INIT, name = STR_INIT;
	int dirfd, tmpfd = -1, newfd = -1, curfd = -1, fd = -1, saved, rc;
	unsigned long long size = local_copy_size(t->m, t->c);

	if (t->dirfd >= 0)
		dirfd = dup(t->dirfd);
	else
		dirfd = local_path_open(t->mb->base, &t->mb->path, 1, NULL, &err);
	if (dirfd < 0) {
		local_result_fail(res, errno, err.len ? str_cstr(&err) : "dup");
		str_free(&err);
		return;
	}
	if (make_subdirs(dirfd) < 0 ||
	        (tmpfd = openat(dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
	                0 ||
	        (newfd = openat(dirfd, "new", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
	                0 ||
	        (curfd = openat(dirfd, "cur", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
	                0) {
		str_printf(&err, "maildir %s: tmp/, new/ or cur/", t->mb->display.data);
		local_result_errno(res, errno, str_cstr(&err));
		goto done;
	}
	str_printf(&name, "%lld.Q%sR%zu.", t->m->arrival_sec, t->m->queue_id, t->r->index);
	name_host(&name, local_cfg.myhostname);
	str_printf(&name, ",S=%llu", size);
	if (faccessat(newfd, name.data, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	        in_cur(curfd, name.data)) {
		/* A crash after step 5's link may have left the temporary. */
		(void)unlinkat(tmpfd, name.data, 0);
		local_result_set(res, LOCAL_SENT, "2.0.0", "delivered to maildir (already there)");
		goto done;
	}
	if (local_quota_check(t->m, t->mb, dirfd, 0, t->domain_usage, size, res) != 0)
		goto done;
	fd = openat(tmpfd, name.data, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		str_printf(&err, "create maildir %s/tmp file", t->mb->display.data);
		local_result_errno(res, errno, str_cstr(&err));
		goto done;
	}
	rc = local_copy_write(fd, t->m, t->c, &err);
	if (rc == 0 && fsync(fd) < 0)
		rc = -1;
	saved = errno;
	if (close(fd) < 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	fd = -1;
	if (rc < 0) {
		(void)unlinkat(tmpfd, name.data, 0);
		str_reset(&err);
		str_printf(&err, "write maildir %s file", t->mb->display.data);
		local_result_errno(res, saved, str_cstr(&err));
		goto done;
	}
	if (link_new(tmpfd, newfd, name.data) < 0 && errno != EEXIST) {
		saved = errno;
		(void)unlinkat(tmpfd, name.data, 0);
		str_printf(&err, "link into maildir %s/new", t->mb->display.data);
		local_result_errno(res, saved, str_cstr(&err));
		goto done;
	}
	(void)unlinkat(tmpfd, name.data, 0);
	if (local_fsync_dir(newfd) < 0) {
		str_printf(&err, "fsync maildir %s/new", t->mb->display.data);
		local_result_errno(res, errno, str_cstr(&err));
		goto done;
	}
	local_quota_note(dirfd, size);
	local_result_set(res, LOCAL_SENT, "2.0.0", "delivered to maildir");
done:
	if (fd >= 0)
		close(fd);
	if (tmpfd >= 0)
		close(tmpfd);
	if (newfd >= 0)
		close(newfd);
	if (curfd >= 0)
		close(curfd);
	close(dirfd);
	str_free(&err);
	str_free(&name);
}

void
local_maildir_deliver(struct local_message *m, const struct local_rcpt *r,
        const struct local_mailbox *mb, const struct local_copy *c, struct local_result *res)
{
	struct maildir_task t = {m, r, mb, c, -1, -1};
	struct str err = STR_INIT;

	if (mb->owner->switch_ids && mb->owner->uid == 0) {
		local_result_set(res, LOCAL_DEFER, "4.3.0",
		        "refusing to deliver to maildir %s as root", mb->display.data);
		return;
	}
	/* Drop mailboxes: root makes the path and opens it, so the owner needs
	 * no access to the directories above its mailbox. */
	if (mb->root_creates && mb->owner->switch_ids &&
	        (t.dirfd = local_path_open(mb->base, &mb->path, 1, mb->owner, &err)) < 0) {
		local_result_fail(res, errno, str_cstr(&err));
		goto done;
	}
	if (mb->domain_limit > 0 && mb->domain_dir.len > 0 &&
	        local_quota_domain_usage(mb->domain_dir.data, &t.domain_usage, &err) < 0) {
		local_result_set(res, LOCAL_DEFER, "4.3.0", "domain quota: %s", str_cstr(&err));
		goto done;
	}
	local_run_as(mb->owner, 0, maildir_task, &t, res);
done:
	if (res->status != LOCAL_SENT)
		msg_info("%s: maildir %s: %s", m->queue_id, mb->display.data,
		        str_cstr(&res->reason));
	if (t.dirfd >= 0)
		close(t.dirfd);
	str_free(&err);
}
