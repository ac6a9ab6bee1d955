/*
 * test_submit.c - the pieces of local submission that live in lib/:
 * address checks and DSN NOTIFY words (submit.h), the check of a
 * configuration directory against alternate_config_directories
 * (confdir.h), the queue listing of mailq (queue_list.h), and the queue
 * writer in a directory it may write but not read (maildrop/ for the
 * setgid postdrop).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "confdir.h"
#include "queue_dir.h"
#include "queue_file.h"
#include "queue_list.h"
#include "submit.h"

/* ---- submit_address_check ---- */

static int
check(const char *address, int null_ok, unsigned *flags)
{
	struct str why = STR_INIT;
	int rc = submit_address_check(address, null_ok, flags, &why);

	if (rc < 0)
		cr_assert_gt(why.len, 0, "%s: a refusal says why", address);
	str_free(&why);
	return rc;
}

Test(submit, addresses_accepted)
{
	unsigned flags = 0;

	cr_assert_eq(check("user@example.com", 0, &flags), 0);
	cr_assert_eq(check("root", 0, &flags), 0);
	cr_assert_eq(check("john smith@example.com", 0, &flags), 0); /* quoted on the wire */
	cr_assert_eq(check("a@[192.0.2.1]", 0, &flags), 0);
	cr_assert_eq(check("a@b@example.com", 0, &flags), 0); /* a quoted "@" in the local part */
	cr_assert_eq(check("", 1, &flags), 0);
	cr_assert_eq(flags, 0);
	cr_assert_eq(check("j\xc3\xb6rg@example.com", 0, &flags), 0);
	cr_assert_eq(flags, SUBMIT_ADDR_UTF8);
	cr_assert_eq(submit_address_check("bad@", 0, NULL, NULL), -1); /* why may be NULL */
}

Test(submit, addresses_refused)
{
	char longlocal[80];

	memset(longlocal, 'a', sizeof(longlocal) - 1);
	longlocal[sizeof(longlocal) - 1] = '\0';
	cr_assert_eq(check("", 0, NULL), -1);
	cr_assert_eq(check("@example.com", 0, NULL), -1);
	cr_assert_eq(check("user@", 0, NULL), -1);
	cr_assert_eq(check("user@exa mple.com", 0, NULL), -1);
	cr_assert_eq(check("user@123", 0, NULL), -1);
	cr_assert_eq(check("us\ter@example.com", 0, NULL), -1);
	cr_assert_eq(check("user@[999.1.1.1]", 0, NULL), -1);
	cr_assert_eq(check(longlocal, 0, NULL), -1);
	cr_assert_eq(check("bad\xff@example.com", 0, NULL), -1);
}

Test(submit, notify_words)
{
	unsigned n = 0;
	struct str out = STR_INIT;

	cr_assert_eq(submit_notify_parse("never", &n), 0);
	cr_assert_eq(n, QUEUE_NOTIFY_NEVER);
	cr_assert_eq(submit_notify_parse("Success,DELAY", &n), 0);
	cr_assert_eq(n, QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_DELAY);
	submit_notify_format(n, &out);
	cr_assert_str_eq(str_cstr(&out), "SUCCESS,DELAY");
	str_reset(&out);
	submit_notify_format(QUEUE_NOTIFY_NEVER, &out);
	cr_assert_str_eq(str_cstr(&out), "NEVER");
	str_reset(&out);
	submit_notify_format(0, &out);
	cr_assert_eq(out.len, 0);
	cr_assert_eq(submit_notify_parse("", &n), -1);
	cr_assert_eq(submit_notify_parse("never,success", &n), -1);
	cr_assert_eq(submit_notify_parse("success,success", &n), -1);
	cr_assert_eq(submit_notify_parse("success,", &n), -1);
	cr_assert_eq(submit_notify_parse("sometimes", &n), -1);
	str_free(&out);
}

/* ---- a scratch directory ---- */

static char top[] = "/tmp/tern-submit-XXXXXX";

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	chmod(path, 0700);
	return remove(path);
}

static void
make_top(void)
{
	cr_assert_not_null(mkdtemp(top));
}

static void
remove_top(void)
{
	chmod(top, 0700);
	nftw(top, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static const char *
sub(const char *name)
{
	static char path[4][256];
	static int next;
	char *p = path[next++ % 4];

	snprintf(p, sizeof(path[0]), "%s/%s", top, name);
	return p;
}

/* ---- config_dir_allowed ---- */

TestSuite(confdir, .init = make_top, .fini = remove_top);

Test(confdir, only_listed_directories)
{
	struct str why = STR_INIT;

	cr_assert_eq(mkdir(sub("default"), 0755), 0);
	write_file(sub("default/main.cf"),
	        "alternate_config_directories = /srv/tern/one, /srv/tern/two/\n");
	cr_assert_eq(config_dir_allowed_by(sub("default"), sub("default"), &why), 1);
	cr_assert_eq(config_dir_allowed_by(sub("default"), "/srv/tern/one", &why), 1);
	cr_assert_eq(config_dir_allowed_by(sub("default"), "/srv/tern/one/", &why), 1);
	cr_assert_eq(config_dir_allowed_by(sub("default"), "/srv/tern/two", &why), 1);
	cr_assert_eq(why.len, 0);
	cr_assert_eq(config_dir_allowed_by(sub("default"), "/srv/tern", &why), 0);
	cr_assert_not_null(strstr(str_cstr(&why), "alternate_config_directories"));
	str_reset(&why);
	cr_assert_eq(config_dir_allowed_by(sub("default"), "/srv/tern/one/../x", &why), 0);
	str_free(&why);
}

Test(confdir, missing_default_allows_only_itself)
{
	struct str why = STR_INIT;

	cr_assert_eq(config_dir_allowed_by(sub("nothing"), sub("nothing/"), &why), 1);
	cr_assert_eq(config_dir_allowed_by(sub("nothing"), "/etc", &why), 0);
	str_free(&why);
}

/* ---- queue_list ---- */

TestSuite(queue_list, .init = make_top, .fini = remove_top);

static void
make_folders(void)
{
	struct str path = STR_INIT;

	for (int i = 0; i < QUEUE_FOLDER_COUNT; i++) {
		queue_dir_path(&path, top, (enum queue_folder)i, NULL);
		cr_assert_eq(mkdir(str_cstr(&path), 0700), 0);
	}
	str_free(&path);
}

/* A queue file in folder; returns its ID in id. */
static void
make_message(enum queue_folder folder, const char *sender, const char *const *rcpts,
        const char *text, char id[QUEUE_ID_SIZE])
{
	struct str dir = STR_INIT, err = STR_INIT;
	struct queue_writer *w;

	queue_dir_path(&dir, top, QUEUE_FOLDER_INCOMING, NULL);
	cr_assert_eq(queue_file_create(str_cstr(&dir), &w, &err), QUEUE_OK, "%s", str_cstr(&err));
	cr_assert_eq(queue_file_put_sender(w, sender), QUEUE_OK);
	for (; *rcpts; rcpts++)
		cr_assert_eq(queue_file_put_rcpt(w, *rcpts, NULL, NULL, 0), QUEUE_OK);
	cr_assert_eq(queue_file_put_content(w, text, strlen(text)), QUEUE_OK);
	cr_assert_eq(queue_file_commit(w, id, &err), QUEUE_OK, "%s", str_cstr(&err));
	if (folder != QUEUE_FOLDER_INCOMING)
		cr_assert_eq(
		        queue_dir_move(top, id, QUEUE_FOLDER_INCOMING, folder, &err), QUEUE_OK);
	str_free(&dir);
	str_free(&err);
}

Test(queue_list, empty_queue)
{
	struct queue_list l;
	struct str out = STR_INIT, err = STR_INIT;

	make_folders();
	queue_list_init(&l);
	cr_assert_eq(queue_list_read(top, &l, &err), 0);
	queue_list_format(&l, &out);
	cr_assert_str_eq(str_cstr(&out), "Mail queue is empty\n");
	queue_list_free(&l);
	str_free(&out);
	str_free(&err);
}

Test(queue_list, lists_folders_with_marks_and_totals)
{
	static const char *const one[] = {"bob@example.net", NULL};
	static const char *const two[] = {"carol@example.org", "dave@example.org", NULL};
	char a[QUEUE_ID_SIZE], b[QUEUE_ID_SIZE], c[QUEUE_ID_SIZE], line[256];
	struct queue_list l;
	struct str out = STR_INIT, err = STR_INIT, path = STR_INIT;
	const char *text = "Subject: x\n\nbody\n";

	make_folders();
	make_message(QUEUE_FOLDER_ACTIVE, "alice@example.com", one, text, a);
	make_message(QUEUE_FOLDER_HOLD, "", two, text, b);
	make_message(QUEUE_FOLDER_MAILDROP, "root", one, text, c);
	/* strays and temporaries are not listed; a broken file is, with why */
	queue_dir_path(&path, top, QUEUE_FOLDER_DEFERRED, "tmp.X");
	write_file(str_cstr(&path), "junk");
	queue_dir_path(&path, top, QUEUE_FOLDER_DEFERRED, "0000000000000000");
	write_file(str_cstr(&path), "junk");

	queue_list_init(&l);
	cr_assert_eq(queue_list_read(top, &l, &err), 0, "%s", str_cstr(&err));
	cr_assert_eq(l.n, 4);
	cr_assert_str_eq(l.v[0].id, "0000000000000000"); /* the oldest ID first */
	cr_assert_not_null(l.v[0].error);
	queue_list_format(&l, &out);
	snprintf(line, sizeof(line), "%s*", a);
	cr_assert_not_null(strstr(str_cstr(&out), line), "%s", str_cstr(&out));
	snprintf(line, sizeof(line), "%s!", b);
	cr_assert_not_null(strstr(str_cstr(&out), line));
	snprintf(line, sizeof(line), "%s#", c);
	cr_assert_not_null(strstr(str_cstr(&out), line));
	cr_assert_not_null(strstr(str_cstr(&out), "  alice@example.com\n"));
	cr_assert_not_null(strstr(str_cstr(&out), "  MAILER-DAEMON\n"));
	cr_assert_not_null(strstr(str_cstr(&out),
	        "\n                                                 dave@example.org\n"));
	cr_assert_not_null(strstr(str_cstr(&out), "(unreadable: "));
	cr_assert_not_null(strstr(str_cstr(&out), "-- 1 Kbytes in 4 Requests.\n"));
	cr_assert_eq(strncmp(str_cstr(&out), "-Queue ID--", 11), 0);
	queue_list_free(&l);
	str_free(&out);
	str_free(&err);
	str_free(&path);
}

Test(queue_list, unreadable_folder_is_an_error)
{
	struct queue_list l;
	struct str err = STR_INIT, path = STR_INIT;

	if (geteuid() == 0)
		cr_skip_test("root reads every folder");
	make_folders();
	queue_dir_path(&path, top, QUEUE_FOLDER_ACTIVE, NULL);
	chmod(str_cstr(&path), 0);
	queue_list_init(&l);
	cr_assert_eq(queue_list_read(top, &l, &err), -1);
	cr_assert_not_null(strstr(str_cstr(&err), "active"));
	queue_list_free(&l);
	str_free(&err);
	str_free(&path);
}

/* ---- the writer in a write-only directory ---- */

TestSuite(maildrop, .init = make_top, .fini = remove_top);

/* As an unprivileged user (a child that drops to nobody when run as
 * root): create, write and commit a queue file in a directory mode 0330. */
Test(maildrop, writer_commits_in_unreadable_directory)
{
	struct str err = STR_INIT;
	char id[QUEUE_ID_SIZE], path[512];
	struct queue_writer *w;
	struct stat st;
	pid_t pid;
	int status, fd;

	cr_assert_eq(mkdir(sub("drop"), 0700), 0);
	if (geteuid() == 0) {
		chmod(top, 0755);
		cr_assert_eq(chown(sub("drop"), 65534, 65534), 0);
	}
	cr_assert_eq(chmod(sub("drop"), 0330), 0);
	fd = open(sub("id"), O_WRONLY | O_CREAT, 0666);
	cr_assert_geq(fd, 0);
	fchmod(fd, 0666);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(10);
		if (open(sub("drop"), O_RDONLY | O_DIRECTORY) >= 0)
			_exit(11); /* the test needs an unreadable directory */
		if (queue_file_create(sub("drop"), &w, &err) != QUEUE_OK)
			_exit(12);
		if (queue_file_put_sender(w, "a@example.com") != QUEUE_OK ||
		        queue_file_put_rcpt(w, "b@example.com", NULL, NULL, 0) != QUEUE_OK ||
		        queue_file_put_content(w, "x\n", 2) != QUEUE_OK)
			_exit(13);
		if (queue_file_commit(w, id, &err) != QUEUE_OK)
			_exit(14);
		if (write(fd, id, QUEUE_ID_LEN) != QUEUE_ID_LEN)
			_exit(15);
		_exit(0);
	}
	close(fd);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "child step %d failed", WEXITSTATUS(status));
	fd = open(sub("id"), O_RDONLY);
	cr_assert_eq(read(fd, id, QUEUE_ID_LEN), QUEUE_ID_LEN);
	id[QUEUE_ID_LEN] = '\0';
	close(fd);
	chmod(sub("drop"), 0700);
	snprintf(path, sizeof(path), "%s/%s", sub("drop"), id);
	cr_assert_eq(stat(path, &st), 0, "%s committed", path);
	str_free(&err);
}
