/*
 * test_queue_dir.c - queue folders on a real directory tree: names and
 * paths, moves that never replace, corrupt/ with its log line, the sweep
 * of stale temporaries, the free-space check.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "queue_dir.h"

#define NOW       1700000000
#define STALE_AGE 4000

static char qdir[] = "/tmp/tern-queue-dir-XXXXXX";
static char logpath[sizeof(qdir) + 16];

static void
make_tree(void)
{
	struct str path = STR_INIT, err = STR_INIT;

	cr_assert_not_null(mkdtemp(qdir));
	for (int i = 0; i < QUEUE_FOLDER_COUNT; i++) {
		queue_dir_path(&path, qdir, (enum queue_folder)i, NULL);
		cr_assert_eq(mkdir(str_cstr(&path), 0700), 0);
	}
	snprintf(logpath, sizeof(logpath), "%s/log", qdir);
	msg_to_stderr(0);
	cr_assert_eq(msg_open_file(logpath, &err), 0);
	str_free(&path);
	str_free(&err);
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void
remove_tree(void)
{
	msg_close();
	nftw(qdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(queue_dir, .init = make_tree, .fini = remove_tree);

static const char *
in(enum queue_folder folder, const char *name)
{
	static struct str path;

	queue_dir_path(&path, qdir, folder, name);
	return str_cstr(&path);
}

static void
make_file(enum queue_folder folder, const char *name, const char *text, time_t mtime)
{
	struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
	int fd = open(in(folder, name), O_WRONLY | O_CREAT | O_EXCL, 0600);

	cr_assert_geq(fd, 0, "%s", in(folder, name));
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(futimens(fd, times), 0);
	close(fd);
}

static int
exists(enum queue_folder folder, const char *name)
{
	struct stat st;

	return lstat(in(folder, name), &st) == 0;
}

static char *
log_text(void)
{
	static char buf[8192];
	int fd = open(logpath, O_RDONLY);
	ssize_t n;

	cr_assert_geq(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

Test(queue_dir, folder_names)
{
	const char *names[] = {"maildrop", "incoming", "active", "deferred", "hold", "corrupt"};

	for (int i = 0; i < QUEUE_FOLDER_COUNT; i++) {
		cr_assert_str_eq(queue_folder_name((enum queue_folder)i), names[i]);
		cr_assert_eq(queue_folder_lookup(names[i]), i);
	}
	cr_assert_null(queue_folder_name(QUEUE_FOLDER_COUNT));
	cr_assert_eq(queue_folder_lookup("private"), -1);
	cr_assert_eq(queue_folder_lookup(""), -1);
}

Test(queue_dir, paths)
{
	struct str p = STR_INIT;

	queue_dir_path(&p, "/var/spool/tern", QUEUE_FOLDER_ACTIVE, "0123456789ABCDEF");
	cr_assert_str_eq(str_cstr(&p), "/var/spool/tern/active/0123456789ABCDEF");
	queue_dir_path(&p, "", QUEUE_FOLDER_INCOMING, "X");
	cr_assert_str_eq(str_cstr(&p), "incoming/X", "chrooted: relative");
	queue_dir_path(&p, ".", QUEUE_FOLDER_HOLD, NULL);
	cr_assert_str_eq(str_cstr(&p), "hold");
	queue_dir_path(&p, NULL, QUEUE_FOLDER_CORRUPT, "Y");
	cr_assert_str_eq(str_cstr(&p), "corrupt/Y");
	str_free(&p);
}

Test(queue_dir, move_and_never_replace)
{
	struct str err = STR_INIT;
	char buf[16];
	int fd;

	make_file(QUEUE_FOLDER_INCOMING, "AAAA", "first", NOW);
	cr_assert_eq(queue_dir_move(qdir, "AAAA", QUEUE_FOLDER_INCOMING, QUEUE_FOLDER_ACTIVE, &err),
	        QUEUE_OK, "%s", str_cstr(&err));
	cr_assert(!exists(QUEUE_FOLDER_INCOMING, "AAAA"));
	cr_assert(exists(QUEUE_FOLDER_ACTIVE, "AAAA"));

	make_file(QUEUE_FOLDER_DEFERRED, "AAAA", "second", NOW);
	cr_assert_eq(queue_dir_move(qdir, "AAAA", QUEUE_FOLDER_DEFERRED, QUEUE_FOLDER_ACTIVE, &err),
	        QUEUE_IOERROR);
	cr_assert_not_null(strstr(str_cstr(&err), "File exists"), "%s", str_cstr(&err));
	cr_assert(exists(QUEUE_FOLDER_DEFERRED, "AAAA"), "the source stays");
	fd = open(in(QUEUE_FOLDER_ACTIVE, "AAAA"), O_RDONLY);
	cr_assert_eq(read(fd, buf, sizeof(buf)), 5);
	cr_assert_eq(memcmp(buf, "first", 5), 0, "the target was not replaced");
	close(fd);

	str_reset(&err);
	cr_assert_eq(queue_dir_move(qdir, "NONE", QUEUE_FOLDER_INCOMING, QUEUE_FOLDER_ACTIVE, &err),
	        QUEUE_IOERROR);
	cr_assert_not_null(strstr(str_cstr(&err), "rename incoming/NONE to active/"));
	cr_assert_eq(queue_dir_move(qdir, "../x", QUEUE_FOLDER_INCOMING, QUEUE_FOLDER_ACTIVE, &err),
	        QUEUE_INVALID);
	cr_assert_eq(queue_dir_move(qdir, "..", QUEUE_FOLDER_INCOMING, QUEUE_FOLDER_ACTIVE, &err),
	        QUEUE_INVALID);
	cr_assert_eq(queue_dir_move(qdir, "", QUEUE_FOLDER_INCOMING, QUEUE_FOLDER_ACTIVE, &err),
	        QUEUE_INVALID);
	str_free(&err);
}

Test(queue_dir, move_to_corrupt_logs_a_line)
{
	struct str err = STR_INIT;

	make_file(QUEUE_FOLDER_ACTIVE, "0123456789ABCDEF", "junk", NOW);
	cr_assert_eq(queue_dir_to_corrupt(qdir, "0123456789ABCDEF", QUEUE_FOLDER_ACTIVE,
	                     "no END record (truncated)", &err),
	        QUEUE_OK, "%s", str_cstr(&err));
	cr_assert(exists(QUEUE_FOLDER_CORRUPT, "0123456789ABCDEF"));
	cr_assert(!exists(QUEUE_FOLDER_ACTIVE, "0123456789ABCDEF"));
	cr_assert_not_null(strstr(log_text(),
	                           "warning: 0123456789ABCDEF: moved from active/ to "
	                           "corrupt/: no END record (truncated)\n"),
	        "%s", log_text());
	str_free(&err);
}

Test(queue_dir, sweep_removes_only_stale_temporaries)
{
	struct str err = STR_INIT;
	struct timespec old[2] = {{NOW - STALE_AGE, 0}, {NOW - STALE_AGE, 0}};
	unsigned long removed;

	make_file(QUEUE_FOLDER_INCOMING, "tmp.OLD", "partial", NOW - STALE_AGE);
	make_file(QUEUE_FOLDER_INCOMING, "tmp.EDGE", "partial", NOW - QUEUE_TEMP_MAX_AGE);
	make_file(QUEUE_FOLDER_INCOMING, "tmp.NEW", "partial", NOW - 10);
	make_file(QUEUE_FOLDER_INCOMING, "0123456789ABCDEF", "a queue file", NOW - STALE_AGE);
	make_file(QUEUE_FOLDER_INCOMING, "xtmp.OLD", "not a temporary", NOW - STALE_AGE);
	cr_assert_eq(mkdir(in(QUEUE_FOLDER_INCOMING, "tmp.DIR"), 0700), 0);
	cr_assert_eq(utimensat(AT_FDCWD, in(QUEUE_FOLDER_INCOMING, "tmp.DIR"), old, 0), 0);
	cr_assert_eq(symlink("/etc/passwd", in(QUEUE_FOLDER_INCOMING, "tmp.LINK")), 0);
	cr_assert_eq(utimensat(AT_FDCWD, in(QUEUE_FOLDER_INCOMING, "tmp.LINK"), old,
	                     AT_SYMLINK_NOFOLLOW),
	        0);

	cr_assert_eq(queue_dir_sweep(
	                     qdir, QUEUE_FOLDER_INCOMING, QUEUE_TEMP_MAX_AGE, NOW, &removed, &err),
	        QUEUE_OK, "%s", str_cstr(&err));
	cr_assert_eq(removed, 2);
	cr_assert(!exists(QUEUE_FOLDER_INCOMING, "tmp.OLD"));
	cr_assert(!exists(QUEUE_FOLDER_INCOMING, "tmp.LINK"), "the link, not its target");
	cr_assert_eq(access("/etc/passwd", F_OK), 0);
	cr_assert(exists(QUEUE_FOLDER_INCOMING, "tmp.EDGE"), "exactly max_age is not older");
	cr_assert(exists(QUEUE_FOLDER_INCOMING, "tmp.NEW"));
	cr_assert(exists(QUEUE_FOLDER_INCOMING, "0123456789ABCDEF"));
	cr_assert(exists(QUEUE_FOLDER_INCOMING, "xtmp.OLD"));
	cr_assert(exists(QUEUE_FOLDER_INCOMING, "tmp.DIR"));
	cr_assert_not_null(strstr(log_text(),
	        "warning: removing stale temporary file incoming/tmp.OLD (age 4000 s)\n"));
	cr_assert_not_null(strstr(log_text(),
	        "warning: removing stale temporary file incoming/tmp.LINK (age 4000 s)\n"));
	cr_assert_null(strstr(log_text(), "tmp.NEW"));
	cr_assert(!exists(QUEUE_FOLDER_CORRUPT, "tmp.OLD"), "debris never goes to corrupt/");

	/* A second sweep finds nothing more. */
	cr_assert_eq(queue_dir_sweep(
	                     qdir, QUEUE_FOLDER_INCOMING, QUEUE_TEMP_MAX_AGE, NOW, &removed, &err),
	        QUEUE_OK);
	cr_assert_eq(removed, 0);
	str_free(&err);
}

Test(queue_dir, sweep_of_a_missing_folder)
{
	struct str err = STR_INIT;
	unsigned long removed = 7;

	cr_assert_eq(rmdir(in(QUEUE_FOLDER_HOLD, NULL)), 0);
	cr_assert_eq(
	        queue_dir_sweep(qdir, QUEUE_FOLDER_HOLD, QUEUE_TEMP_MAX_AGE, NOW, &removed, &err),
	        QUEUE_IOERROR);
	cr_assert_eq(removed, 0);
	cr_assert_not_null(strstr(str_cstr(&err), "No such file"));
	str_free(&err);
}

Test(queue_dir, free_space)
{
	struct str err = STR_INIT;

	cr_assert_eq(queue_dir_check_space(qdir, 0, &err), QUEUE_OK);
	cr_assert_eq(queue_dir_check_space(qdir, 1, &err), QUEUE_OK);
	cr_assert_eq(queue_dir_check_space(qdir, ~0ULL, &err), QUEUE_NOSPACE);
	cr_assert_not_null(strstr(str_cstr(&err), "less than queue_minfree"), "%s", str_cstr(&err));
	str_reset(&err);
	cr_assert_eq(queue_dir_check_space("/nonexistent/queue", 0, &err), QUEUE_IOERROR);
	cr_assert_not_null(strstr(str_cstr(&err), "statvfs /nonexistent/queue"));
	str_free(&err);
}
