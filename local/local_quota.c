/*
 * local_quota.c - mailbox and domain quotas.
 *
 * The usage of a maildir is the sum of the sizes of the files in cur/
 * and new/ (tmp/ does not count).  To avoid a scan per delivery it is
 * cached as Maildir++ does, in the maildir's "maildirsize" file: a first
 * line with the quota ("NS"), then lines "bytes count" that readers sum;
 * local appends one line per delivered file, and IMAP servers that speak
 * Maildir++ append theirs when they expunge.  The cache is rebuilt by a
 * scan when it is missing, longer than LOCAL_MAILDIRSIZE_MAX octets, or
 * when it says a delivery would pass the quota (so that deletions by
 * programs that do not update it are noticed before mail is refused).
 * A file name with ",S=size" gives its size without a stat.
 *
 * The usage of a hosted domain (the Drop quota) is the sum of the maildirs
 * directly below drop_directory/<domain>/, each from its own cache.
 *
 * Trusts nothing in a maildirsize file beyond its numbers (malformed:
 * rebuilt).  Called by local_maildir.c and local_mbox.c, in the task
 * that runs as the mailbox owner.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local.h"
#include "mem.h"
#include "msg.h"

#define QUOTA_FILE "maildirsize"

/* Sum the lines of a maildirsize file: 0, or -1 when it is unusable. */
static int
read_cache(int dirfd, long long *bytes)
{
	char buf[LOCAL_MAILDIRSIZE_MAX + 1], *line, *save = NULL;
	struct stat st;
	ssize_t n;
	long long sum = 0;
	int fd, first = 1;

	if ((fd = openat(dirfd, QUOTA_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size >= LOCAL_MAILDIRSIZE_MAX) {
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || (size_t)n >= sizeof(buf) - 1 || buf[n - 1] != '\n')
		return -1;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		long long b, c;
		char *end;

		if (first) { /* the quota definition */
			first = 0;
			continue;
		}
		errno = 0;
		b = strtoll(line, &end, 10);
		if (errno || *end != ' ')
			return -1;
		c = strtoll(end + 1, &end, 10);
		if (errno || *end != '\0' || c < -1000000000LL)
			return -1;
		if ((b > 0 && sum > LLONG_MAX - b) || (b < 0 && sum < LLONG_MIN - b))
			return -1;
		sum += b;
	}
	*bytes = sum < 0 ? 0 : sum;
	return 0;
}

/* The size a maildir file name states (",S=1234"), or -1. */
static long long
name_size(const char *name)
{
	const char *s = strstr(name, ",S=");
	long long v = 0;

	if (s == NULL)
		return -1;
	for (s += 3; *s >= '0' && *s <= '9'; s++) {
		if (v > (LLONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return (*s == '\0' || *s == ',' || *s == ':') ? v : -1;
}

/* Add the sizes of the files in dirfd/sub. */
static int
scan_dir(int dirfd, const char *sub, long long *bytes, long long *count, struct str *err)
{
	struct dirent *de;
	DIR *dir;
	int fd;

	if ((fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		str_printf(err, "open %s/: %s", sub, strerror(errno));
		return -1;
	}
	if ((dir = fdopendir(fd)) == NULL) {
		str_printf(err, "read %s/: %s", sub, strerror(errno));
		close(fd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		long long size;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if ((size = name_size(de->d_name)) < 0) {
			if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			        !S_ISREG(st.st_mode))
				continue;
			size = (long long)st.st_size;
		}
		*bytes += size;
		*count += 1;
	}
	closedir(dir);
	return 0;
}

/* Replace maildirsize with the quota and one total line. */
static void
write_cache(int dirfd, long long limit, long long bytes, long long count)
{
	char tmp[64], line[128];
	int fd, len;

	snprintf(tmp, sizeof(tmp), "tmp/" QUOTA_FILE ".%ld", (long)getpid());
	len = snprintf(line, sizeof(line), "%lldS\n%lld %lld\n", limit, bytes, count);
	if ((fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) <
	        0)
		return;
	if (write(fd, line, (size_t)len) != len || close(fd) < 0 ||
	        renameat(dirfd, tmp, dirfd, QUOTA_FILE) < 0)
		(void)unlinkat(dirfd, tmp, 0);
}

int
local_quota_usage(
        int dirfd, long long limit, int fresh, int may_write, long long *bytes, struct str *err)
{
	long long count = 0;

	*bytes = 0;
	if (!fresh && read_cache(dirfd, bytes) == 0)
		return 0;
	*bytes = 0;
	if (scan_dir(dirfd, "cur", bytes, &count, err) < 0 ||
	        scan_dir(dirfd, "new", bytes, &count, err) < 0)
		return -1;
	if (may_write)
		write_cache(dirfd, limit, *bytes, count);
	return 0;
}

int
local_quota_domain_usage(const char *domain_dir, long long *bytes, struct str *err)
{
	struct dirent *de;
	DIR *dir;
	int fd;

	*bytes = 0;
	if ((fd = open(domain_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		str_printf(err, "open %s: %s", domain_dir, strerror(errno));
		return -1;
	}
	if ((dir = fdopendir(fd)) == NULL) {
		str_printf(err, "read %s: %s", domain_dir, strerror(errno));
		close(fd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		long long one = 0;
		struct str why = STR_INIT;
		int sub;

		if (de->d_name[0] == '.')
			continue;
		sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		if (local_quota_usage(sub, 0, 0, 0, &one, &why) < 0)
			msg_warn("domain quota of %s: %s: %s", domain_dir, de->d_name,
			        str_cstr(&why));
		*bytes += one;
		close(sub);
		str_free(&why);
	}
	closedir(dir);
	return 0;
}

static void
over_quota(struct local_message *m, struct local_result *res, const char *what, long long usage,
        long long limit)
{
	local_result_set(res, m->expired ? LOCAL_BOUNCE : LOCAL_DEFER,
	        m->expired ? "5.2.2" : "4.2.2", "%s is over quota (%lld of %lld bytes used)", what,
	        usage, limit);
}

int
local_quota_check(struct local_message *m, const struct local_mailbox *mb, int dirfd,
        long long mbox_size, long long domain_usage, unsigned long long size,
        struct local_result *res)
{
	struct str err = STR_INIT;
	long long usage = 0;
	int rc = 0;

	if (mb->mailbox_limit > 0) {
		if (dirfd < 0) {
			usage = mbox_size;
		} else if (local_quota_usage(dirfd, mb->mailbox_limit, 0, 1, &usage, &err) == 0 &&
		        (unsigned long long)usage + size > (unsigned long long)mb->mailbox_limit) {
			/* Over by the cache: count again before refusing. */
			(void)local_quota_usage(dirfd, mb->mailbox_limit, 1, 1, &usage, &err);
		}
		if (err.len > 0) {
			local_result_set(
			        res, LOCAL_DEFER, "4.3.0", "mailbox quota: %s", str_cstr(&err));
			rc = -1;
		} else if ((unsigned long long)usage + size >
		        (unsigned long long)mb->mailbox_limit) {
			over_quota(m, res, "mailbox", usage, mb->mailbox_limit);
			rc = 1;
		}
	}
	if (rc == 0 && mb->domain_limit > 0 && domain_usage >= 0 &&
	        (unsigned long long)domain_usage + size > (unsigned long long)mb->domain_limit) {
		over_quota(m, res, "domain", domain_usage, mb->domain_limit);
		rc = 1;
	}
	str_free(&err);
	return rc;
}

void
local_quota_note(int dirfd, unsigned long long size)
{
	char line[64];
	int fd, len;

	if ((fd = openat(dirfd, QUOTA_FILE, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return;
	len = snprintf(line, sizeof(line), "%llu 1\n", size);
	if (write(fd, line, (size_t)len) != len)
		msg_warn("append to maildirsize: %m");
	close(fd);
}
