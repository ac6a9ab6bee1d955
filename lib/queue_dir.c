/*
 * queue_dir.c - queue folders: names, paths, moves, the sweep of stale
 * temporaries and the free-space check; see queue_dir.h and
 * docs/queue.md.
 *
 * Trusts the names it is given to be single path components (a queue ID
 * or a "tmp." name: anything with a "/" is refused) and nothing found in
 * a folder: the sweep looks only at "tmp.*" entries, never follows a
 * symbolic link and never enters a directory.  Called by cleanup (space
 * check, sweep of incoming/), qmgr (moves, corrupt/) and `tern queue`.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "msg.h"
#include "queue_dir.h"

static const char *const folder_names[QUEUE_FOLDER_COUNT] = {
        "maildrop",
        "incoming",
        "active",
        "deferred",
        "hold",
        "corrupt",
};

const char *
queue_folder_name(enum queue_folder folder)
{
	if ((int)folder < 0 || folder >= QUEUE_FOLDER_COUNT)
		return NULL;
	return folder_names[folder];
}

int
queue_folder_lookup(const char *name)
{
	for (int i = 0; i < QUEUE_FOLDER_COUNT; i++)
		if (strcmp(name, folder_names[i]) == 0)
			return i;
	return -1;
}

static int
errno_result(int err)
{
	return err == ENOSPC || err == EDQUOT ? QUEUE_NOSPACE : QUEUE_IOERROR;
}

void
queue_dir_path(struct str *out, const char *queue_dir, enum queue_folder folder, const char *name)
{
	const char *folder_name = queue_folder_name(folder);

	if (folder_name == NULL)
		msg_panic("queue_dir_path: folder %d", (int)folder);
	str_reset(out);
	if (queue_dir != NULL && *queue_dir != '\0' && strcmp(queue_dir, ".") != 0)
		str_printf(out, "%s/", queue_dir);
	str_appendz(out, folder_name);
	if (name != NULL)
		str_printf(out, "/%s", name);
}

static int
open_folder(const char *queue_dir, enum queue_folder folder, struct str *err)
{
	struct str path = STR_INIT;
	int fd;

	queue_dir_path(&path, queue_dir, folder, NULL);
	fd = open(str_cstr(&path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		str_printf(err, "open directory %s: %s", str_cstr(&path), strerror(errno));
	str_free(&path);
	return fd;
}

static int
name_ok(const char *name, struct str *err)
{
	if (*name == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
	        strcmp(name, "..") == 0) {
		str_printf(err, "bad queue file name \"%s\"", name);
		return 0;
	}
	return 1;
}

/* Rename without replacing: renameat2, or link+unlink where unsupported. */
static int
move_noreplace(int fromfd, int tofd, const char *name)
{
	if (renameat2(fromfd, name, tofd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (linkat(fromfd, name, tofd, name, 0) != 0)
		return -1;
	if (unlinkat(fromfd, name, 0) != 0) {
		int e = errno;

		(void)unlinkat(tofd, name, 0);
		errno = e;
		return -1;
	}
	return 0;
}

int
queue_dir_move(const char *queue_dir, const char *name, enum queue_folder from,
        enum queue_folder to, struct str *err)
{
	return queue_dir_move_flags(queue_dir, name, from, to, QUEUE_MOVE_DURABLE, err);
}

int
queue_dir_move_flags(const char *queue_dir, const char *name, enum queue_folder from,
        enum queue_folder to, int flags, struct str *err)
{
	int fromfd = -1, tofd = -1, status = QUEUE_IOERROR;
	const char *what = NULL;

	if (queue_folder_name(from) == NULL || queue_folder_name(to) == NULL)
		msg_panic("queue_dir_move: folder %d or %d", (int)from, (int)to);
	if (!name_ok(name, err))
		return QUEUE_INVALID;
	if ((fromfd = open_folder(queue_dir, from, err)) < 0 ||
	        (tofd = open_folder(queue_dir, to, err)) < 0)
		goto out;
	/* The new name is durable before the old one goes. */
	if (move_noreplace(fromfd, tofd, name) != 0)
		what = "rename";
	else if ((flags & QUEUE_MOVE_DURABLE) && fsync(tofd) != 0)
		what = "fsync directory";
	else if ((flags & QUEUE_MOVE_DURABLE) && fsync(fromfd) != 0)
		what = "fsync directory";
	if (what != NULL) {
		status = errno_result(errno);
		str_printf(err, "%s %s/%s to %s/: %s", what, folder_names[from], name,
		        folder_names[to], strerror(errno));
		goto out;
	}
	status = QUEUE_OK;
out:
	if (fromfd >= 0)
		close(fromfd);
	if (tofd >= 0)
		close(tofd);
	return status;
}

int
queue_dir_to_corrupt(const char *queue_dir, const char *name, enum queue_folder from,
        const char *reason, struct str *err)
{
	int status = queue_dir_move(queue_dir, name, from, QUEUE_FOLDER_CORRUPT, err);

	if (status == QUEUE_OK)
		msg_warn("%s: moved from %s/ to corrupt/: %s", name, folder_names[from], reason);
	return status;
}

int
queue_dir_sweep(const char *queue_dir, enum queue_folder folder, long long max_age, time_t now,
        unsigned long *removed, struct str *err)
{
	struct dirent *e;
	struct stat st;
	long long age;
	DIR *d;
	int fd, status = QUEUE_OK;

	*removed = 0;
	if ((fd = open_folder(queue_dir, folder, err)) < 0)
		return QUEUE_IOERROR;
	if ((d = fdopendir(fd)) == NULL) {
		str_printf(err, "opendir %s/: %s", folder_names[folder], strerror(errno));
		close(fd);
		return QUEUE_IOERROR;
	}
	while ((errno = 0, e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, QUEUE_TEMP_PREFIX, sizeof(QUEUE_TEMP_PREFIX) - 1) != 0)
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* gone meanwhile */
		if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
			continue;
		age = (long long)now - (long long)st.st_mtime;
		if (age <= max_age)
			continue;
		if (unlinkat(fd, e->d_name, 0) != 0) {
			if (errno == ENOENT)
				continue;
			if (status == QUEUE_OK)
				str_printf(err, "unlink %s/%s: %s", folder_names[folder], e->d_name,
				        strerror(errno));
			status = QUEUE_IOERROR;
			continue;
		}
		msg_warn("removing stale temporary file %s/%s (age %lld s)", folder_names[folder],
		        e->d_name, age);
		(*removed)++;
	}
	if (errno != 0 && status == QUEUE_OK) {
		str_printf(err, "readdir %s/: %s", folder_names[folder], strerror(errno));
		status = QUEUE_IOERROR;
	}
	if (*removed > 0 && fsync(fd) != 0 && status == QUEUE_OK) {
		str_printf(err, "fsync directory %s/: %s", folder_names[folder], strerror(errno));
		status = QUEUE_IOERROR;
	}
	closedir(d);
	return status;
}

int
queue_dir_check_space(const char *queue_dir, unsigned long long minfree, struct str *err)
{
	struct statvfs vfs;
	unsigned long long avail;
	const char *path = queue_dir != NULL && *queue_dir != '\0' ? queue_dir : ".";

	if (statvfs(path, &vfs) != 0) {
		str_printf(err, "statvfs %s: %s", path, strerror(errno));
		return QUEUE_IOERROR;
	}
	avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
	if (avail < minfree) {
		str_printf(err,
		        "queue file system has %llu bytes free, less than queue_minfree (%llu)",
		        avail, minfree);
		return QUEUE_NOSPACE;
	}
	return QUEUE_OK;
}
