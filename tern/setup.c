/*
 * setup.c - "tern setup": the root-mode installation.
 *
 * Creates, when missing, the system group setgid_group ("ternpost") and
 * the system user mail_owner ("tern", its own group, home the queue
 * directory, no login shell), with groupadd and useradd; then the queue
 * directories with their owners and modes (queue_layout.h) and the Drop;
 * in root mode $command_directory/postdrop becomes root:setgid_group,
 * mode 2755.  Idempotent: run again, it creates nothing and puts modes right.  With
 * unprivileged_mode = yes it only creates the directories, as the
 * invoking user.
 *
 * Must run as root in root mode.  Runs the account tools by absolute
 * path with a fixed environment; no name reaches a shell.  Called by
 * tern.c (and by "make install" as root).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "msg.h"
#include "queue_layout.h"
#include "tern.h"

#define SETUP_NOLOGIN "/usr/sbin/nologin"

static const char *const setup_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};

/* Run an account tool; 0 when it exits 0. */
static int
run(const char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		msg_error("fork: %m");
		return -1;
	}
	if (pid == 0) {
		execve(argv[0], (char *const *)argv, (char *const *)setup_env);
		msg_error("exec %s: %m", argv[0]);
		_exit(EX_OSERR);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		msg_error("%s failed (status %d)", argv[0], status);
		return -1;
	}
	return 0;
}

static int
ensure_group(const char *group)
{
	const char *argv[] = {"/usr/sbin/groupadd", "--system", group, NULL};

	if (getgrnam(group))
		return 0;
	if (run(argv) < 0 || getgrnam(group) == NULL) {
		msg_error("could not create group %s", group);
		return -1;
	}
	printf("tern setup: created group %s\n", group);
	return 0;
}

static int
ensure_user(const char *user, const char *home)
{
	const char *argv[] = {"/usr/sbin/useradd", "--system", "--user-group", "--home-dir", home,
	        "--no-create-home", "--shell", SETUP_NOLOGIN, "--comment", "Tern mail system", user,
	        NULL};
	struct passwd *pw = getpwnam(user);

	if (pw) {
		if (pw->pw_uid == 0) {
			msg_error("mail_owner %s has uid 0; it must be an unprivileged user", user);
			return -1;
		}
		return 0;
	}
	if (run(argv) < 0 || getpwnam(user) == NULL) {
		msg_error("could not create user %s", user);
		return -1;
	}
	printf("tern setup: created user %s\n", user);
	return 0;
}

/*
 * postdrop: root-owned, setgid setgid_group, mode 2755, so that any user
 * can write into maildrop/ through it and through nothing else.
 */
static int
setup_postdrop(const char *command_dir, gid_t gid)
{
	char path[4096];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/postdrop", command_dir);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		printf("tern setup: %s: %s (install it, then run tern setup again)\n", path,
		        strerror(errno));
		return 0;
	}
	if (fchown(fd, 0, gid) < 0 || fchmod(fd, 02755) < 0) {
		msg_error("%s: %m", path);
		rc = -1;
	} else {
		printf("tern setup: %s is setgid group %lu\n", path, (unsigned long)gid);
	}
	close(fd);
	return rc;
}

int
tern_setup(int argc, char **argv, const char *confdir)
{
	struct str errors = STR_INIT, warnings = STR_INIT, err = STR_INIT;
	struct queue_owner owner = {0};
	struct config *c = config_new();
	const char *user, *group, *queue, *drop;
	struct passwd *pw;
	int rc = EX_OK;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: tern [-c CONFDIR] setup\n");
		return EX_USAGE;
	}
	if (config_load_dir(c, confdir, &errors, &warnings) + config_validate(c, &errors) > 0) {
		fprintf(stderr, "%s", str_cstr(&errors));
		msg_fatal("%s/main.cf: configuration errors", confdir);
	}
	user = config_str(c, "mail_owner");
	group = config_str(c, "setgid_group");
	queue = config_str(c, "queue_directory");
	drop = config_str(c, "drop_directory");
	if (config_bool(c, "unprivileged_mode")) {
		owner.root_mode = 0;
	} else {
		if (geteuid() != 0)
			msg_fatal("setup must run as root (or set unprivileged_mode = yes)");
		if (ensure_group(group) < 0 || ensure_user(user, queue) < 0) {
			rc = EX_OSERR;
			goto out;
		}
		pw = getpwnam(user);
		owner.root_mode = 1;
		owner.owner_uid = pw->pw_uid;
		owner.owner_gid = pw->pw_gid;
		owner.setgid_gid = getgrnam(group)->gr_gid;
	}
	if (queue_layout_create(queue, drop, &owner, &err) < 0) {
		msg_error("%s", str_cstr(&err));
		rc = EX_CANTCREAT;
		goto out;
	}
	printf("tern setup: queue directory %s ready (%s mode)\n", queue,
	        owner.root_mode ? "root" : "unprivileged");
	if (owner.root_mode &&
	        setup_postdrop(config_str(c, "command_directory"), owner.setgid_gid) < 0)
		rc = EX_CANTCREAT;
out:
	config_free(c);
	str_free(&errors);
	str_free(&warnings);
	str_free(&err);
	return rc;
}
