/*
 * test_daemon.c - the daemon skeleton's wakeup frames (recognised only
 * when whole, small and exactly request=wakeup; sent without blocking)
 * and the queue layout (modes, idempotence, refusal of non-directories).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "attr.h"
#include "daemon.h"
#include "queue_layout.h"

static void
frame(struct str *out, const char *name, const char *value)
{
	struct attr_list l;

	attr_list_init(&l);
	attr_put_str(&l, name, value);
	attr_encode(&l, out);
	attr_list_free(&l);
}

Test(daemon, wakeup_frame_recognised)
{
	struct str f = STR_INIT;
	size_t used = 0;

	frame(&f, "request", "wakeup");
	str_append(&f, "trailing", 8); /* what follows belongs to nobody */
	cr_assert_eq(daemon_wakeup_frame(f.data, f.len, &used), 1);
	cr_assert_eq(used, f.len - 8);
	str_free(&f);
}

Test(daemon, wakeup_frame_every_prefix_needs_more)
{
	struct str f = STR_INIT;
	size_t used;

	frame(&f, "request", "wakeup");
	for (size_t n = 0; n < f.len; n++)
		cr_assert_eq(daemon_wakeup_frame(f.data, n, &used), -1, "prefix %zu", n);
	str_free(&f);
}

Test(daemon, other_frames_are_clients)
{
	struct str f = STR_INIT, big = STR_INIT, value = STR_INIT;
	size_t used;

	frame(&f, "request", "commit");
	cr_assert_eq(daemon_wakeup_frame(f.data, f.len, &used), 0);
	str_reset(&f);
	frame(&f, "status", "wakeup");
	cr_assert_eq(daemon_wakeup_frame(f.data, f.len, &used), 0);
	str_reset(&f);
	frame(&f, "request", "wakeupx");
	cr_assert_eq(daemon_wakeup_frame(f.data, f.len, &used), 0);
	/* A large frame is never a wakeup, however it starts. */
	for (int i = 0; i < 200; i++)
		str_appendc(&value, 'x');
	frame(&big, "request", str_cstr(&value));
	cr_assert_eq(daemon_wakeup_frame(big.data, 8, &used), 0);
	/* Text (an SMTP client's EHLO) is not a frame. */
	cr_assert_eq(daemon_wakeup_frame("EHLO example.com\r\n", 18, &used), 0);
	/* A bad attribute name inside a small frame. */
	str_reset(&f);
	frame(&f, "request", "wakeup");
	f.data[5] = 'R';
	cr_assert_eq(daemon_wakeup_frame(f.data, f.len, &used), 0);
	str_free(&f);
	str_free(&big);
	str_free(&value);
}

static char *
temp_dir(void)
{
	char *dir = strdup("/tmp/tern-test-daemon-XXXXXX");

	cr_assert_not_null(mkdtemp(dir));
	return dir;
}

Test(daemon, wakeup_send_reaches_a_listener)
{
	char *dir = temp_dir(), path[256], buf[128];
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct str err = STR_INIT;
	size_t used;
	ssize_t n;
	int l, c;

	snprintf(path, sizeof(path), "%s/sock", dir);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(l, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(l, 4), 0);
	cr_assert_eq(daemon_wakeup_send(path, &err), 0, "%s", str_cstr(&err));
	c = accept(l, NULL, NULL);
	n = recv(c, buf, sizeof(buf), 0);
	cr_assert_gt(n, 0);
	cr_assert_eq(daemon_wakeup_frame(buf, (size_t)n, &used), 1);
	cr_assert_eq(used, (size_t)n);
	cr_assert_eq(recv(c, buf, sizeof(buf), 0), 0, "the sender closes after one frame");
	close(c);
	close(l);
	unlink(path);

	/* Nobody listening: an error with the reason, not a hang. */
	str_reset(&err);
	cr_assert_eq(daemon_wakeup_send(path, &err), -1);
	cr_assert(strstr(str_cstr(&err), "No such file or directory"), "%s", str_cstr(&err));
	rmdir(dir);
	free(dir);
	str_free(&err);
}

static mode_t
mode_of(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_eq(lstat(path, &st), 0, "%s", path);
	cr_assert(S_ISDIR(st.st_mode));
	return st.st_mode & 07777;
}

static void
remove_tree(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

Test(queue_layout, creates_every_directory_with_its_mode)
{
	char *dir = temp_dir(), queue[256], drop[256];
	struct queue_owner o = {.root_mode = 0};
	struct str err = STR_INIT;

	snprintf(queue, sizeof(queue), "%s/a/b/spool", dir);
	snprintf(drop, sizeof(drop), "%s/drop", dir);
	cr_assert_eq(queue_layout_create(queue, drop, &o, &err), 0, "%s", str_cstr(&err));
	cr_assert_eq(mode_of(queue, "maildrop"), 01730);
	cr_assert_eq(mode_of(queue, "public"), 02710);
	cr_assert_eq(mode_of(queue, "private"), 0700);
	cr_assert_eq(mode_of(queue, "incoming"), 0700);
	cr_assert_eq(mode_of(queue, "active"), 0700);
	cr_assert_eq(mode_of(queue, "deferred"), 0700);
	cr_assert_eq(mode_of(queue, "hold"), 0700);
	cr_assert_eq(mode_of(queue, "corrupt"), 0700);
	cr_assert_eq(mode_of(queue, "pid"), 0755);
	cr_assert_eq(mode_of(queue, "."), 0755);
	cr_assert_eq(mode_of(dir, "drop"), 0755);

	/* Idempotent: a wrong mode is put right; the Drop is left alone. */
	snprintf(drop, sizeof(drop), "%s/a/b/spool/private", dir);
	cr_assert_eq(chmod(drop, 0755), 0);
	snprintf(drop, sizeof(drop), "%s/drop", dir);
	cr_assert_eq(chmod(drop, 0711), 0);
	cr_assert_eq(queue_layout_create(queue, drop, &o, &err), 0, "%s", str_cstr(&err));
	cr_assert_eq(mode_of(queue, "private"), 0700);
	cr_assert_eq(mode_of(dir, "drop"), 0711);
	remove_tree(dir);
	free(dir);
	str_free(&err);
}

Test(queue_layout, refuses_a_symbolic_link)
{
	char *dir = temp_dir(), queue[256], link_path[300];
	struct queue_owner o = {.root_mode = 0};
	struct str err = STR_INIT;

	snprintf(queue, sizeof(queue), "%s/spool", dir);
	cr_assert_eq(mkdir(queue, 0755), 0);
	snprintf(link_path, sizeof(link_path), "%s/incoming", queue);
	cr_assert_eq(symlink("/tmp", link_path), 0);
	cr_assert_eq(queue_layout_create(queue, NULL, &o, &err), -1);
	cr_assert(strstr(str_cstr(&err), "incoming: exists and is not a directory"), "%s",
	        str_cstr(&err));
	remove_tree(dir);
	free(dir);
	str_free(&err);
}
