/*
 * test_spawn.c - running programs: exit codes, signals, timeouts that
 * kill the whole process group (children that ignore SIGTERM, and their
 * children), the exact environment, standard input data, captured and
 * limited output, closed descriptors, ids, working directory, umask, and
 * the non-waiting spawn_start.  Real processes: /bin/sh, /bin/cat,
 * /usr/bin/env, /bin/ls, /usr/bin/id.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spawn.h"

static char *env_none[] = {NULL};

/* Run /bin/sh -c script with an empty environment; capture stdout. */
static int
run_sh(const char *script, int timeout_ms, struct spawn_result *res, struct str *out)
{
	char *argv[] = {"sh", "-c", (char *)script, NULL};
	struct spawn_request req;
	struct str why = STR_INIT;
	int r;

	spawn_request_init(&req);
	req.path = "/bin/sh";
	req.argv = argv;
	req.envp = env_none;
	req.out = out;
	req.timeout_ms = timeout_ms;
	req.kill_grace_ms = 300;
	r = spawn_run(&req, res, &why);
	cr_assert_eq(r, 0, "%s", str_cstr(&why));
	str_free(&why);
	return r;
}

Test(spawn, exit_codes)
{
	struct spawn_result res;
	struct str text = STR_INIT;

	run_sh("exit 0", 0, &res, NULL);
	cr_assert_eq(res.status, SPAWN_EXITED);
	cr_assert_eq(res.exit_code, 0);
	run_sh("exit 42", 0, &res, NULL);
	cr_assert_eq(res.status, SPAWN_EXITED);
	cr_assert_eq(res.exit_code, 42);
	spawn_describe(&res, &text);
	cr_assert_str_eq(str_cstr(&text), "exit 42");
	str_free(&text);
}

Test(spawn, killed_by_signal)
{
	struct spawn_result res;

	run_sh("kill -USR1 $$; exit 3", 0, &res, NULL);
	cr_assert_eq(res.status, SPAWN_SIGNALED);
	cr_assert_eq(res.signal, SIGUSR1);
}

Test(spawn, signal_dispositions_and_mask_reset)
{
	struct spawn_result res;
	sigset_t block;

	/* The parent ignores SIGTERM and blocks SIGUSR2: the child must not. */
	signal(SIGTERM, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, NULL);
	run_sh("kill -TERM $$; exit 3", 0, &res, NULL);
	cr_assert_eq(res.status, SPAWN_SIGNALED, "SIGTERM was still ignored");
	cr_assert_eq(res.signal, SIGTERM);
	run_sh("kill -USR2 $$; exit 3", 0, &res, NULL);
	cr_assert_eq(res.status, SPAWN_SIGNALED, "SIGUSR2 was still blocked");
	cr_assert_eq(res.signal, SIGUSR2);
}

static int
process_gone(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int tries;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (tries = 0; tries < 100; tries++) {
		f = fopen(path, "r");
		if (f == NULL)
			return 1;
		p = fgets(buf, sizeof(buf), f);
		fclose(f);
		/* "pid (comm) S ...": a zombie is dead enough. */
		if (p != NULL && (p = strrchr(buf, ')')) != NULL && (p[2] == 'Z' || p[2] == 'X'))
			return 1;
		usleep(10000);
	}
	return 0;
}

static pid_t
read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	int pid = 0;

	cr_assert_not_null(f, "%s was not written", path);
	cr_assert_eq(fscanf(f, "%d", &pid), 1);
	fclose(f);
	return (pid_t)pid;
}

static void
timeout_case(int child_ignores_term, int want_signal)
{
	char dir[] = "/tmp/tern-test-spawn-XXXXXX", pidfile[128], script[512];
	struct spawn_result res;
	struct str out = STR_INIT;
	pid_t gc;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(pidfile, sizeof(pidfile), "%s/grandchild.pid", dir);
	snprintf(script, sizeof(script),
	        "%s /bin/sh -c 'trap \"\" TERM; echo $$ > %s.tmp; mv %s.tmp %s; "
	        "exec sleep 60' & echo started; sleep 60",
	        child_ignores_term ? "trap '' TERM;" : "", pidfile, pidfile, pidfile);
	run_sh(script, 400, &res, &out);
	cr_assert_eq(res.status, SPAWN_TIMED_OUT);
	cr_assert_eq(res.signal, want_signal);
	cr_assert(res.elapsed_ms >= 390 && res.elapsed_ms < 3000, "%lld ms", res.elapsed_ms);
	cr_assert_str_eq(str_cstr(&out), "started\n");
	gc = read_pid(pidfile);
	cr_assert(process_gone(gc), "grandchild %d survived", (int)gc);
	cr_assert(process_gone(res.pid));
	unlink(pidfile);
	rmdir(dir);
	str_free(&out);
}

Test(spawn, timeout_kills_child_ignoring_term_and_grandchildren)
{
	timeout_case(1, SIGKILL);
}

Test(spawn, timeout_kills_grandchildren_after_child_dies_of_term)
{
	timeout_case(0, SIGTERM);
}

Test(spawn, environment_is_exactly_given)
{
	char *argv[] = {"env", NULL};
	char *envp[] = {"PATH=/nonexistent", "B=two words", "EMPTY=", NULL};
	struct spawn_request req;
	struct spawn_result res;
	struct str out = STR_INIT, why = STR_INIT;

	setenv("TERN_SHOULD_NOT_LEAK", "1", 1);
	spawn_request_init(&req);
	req.path = "/usr/bin/env";
	req.argv = argv;
	req.envp = envp;
	req.out = &out;
	cr_assert_eq(spawn_run(&req, &res, &why), 0, "%s", str_cstr(&why));
	cr_assert_eq(res.status, SPAWN_EXITED);
	cr_assert_str_eq(str_cstr(&out), "PATH=/nonexistent\nB=two words\nEMPTY=\n");
	req.envp = NULL;
	cr_assert_eq(spawn_run(&req, &res, &why), 0);
	cr_assert_str_eq(str_cstr(&out), "", "NULL means empty");
	str_free(&out);
	str_free(&why);
}

Test(spawn, no_shell_no_path_search)
{
	char *argv[] = {"echo", "$HOME;", "`id`", NULL};
	struct spawn_request req;
	struct spawn_result res;
	struct str out = STR_INIT, why = STR_INIT;

	spawn_request_init(&req);
	req.argv = argv;
	req.out = &out;
	cr_assert_eq(spawn_run(&req, &res, &why), -1, "\"echo\" is not searched for in PATH");
	cr_assert_eq(res.status, SPAWN_FAILED);
	cr_assert(strstr(str_cstr(&why), "execve") != NULL, "%s", str_cstr(&why));
	req.path = "/bin/echo";
	cr_assert_eq(spawn_run(&req, &res, &why), 0);
	cr_assert_str_eq(str_cstr(&out), "$HOME; `id`\n", "arguments reach it verbatim");
	str_free(&out);
	str_free(&why);
}

Test(spawn, stdin_data_reaches_child)
{
	char *argv[] = {"cat", NULL};
	struct spawn_request req;
	struct spawn_result res;
	struct str out = STR_INIT, why = STR_INIT;

	spawn_request_init(&req);
	req.path = "/bin/cat";
	req.argv = argv;
	req.stdin_data = "From: a@example.org\nSubject: hi\n\nbody\n";
	req.stdin_len = strlen(req.stdin_data);
	req.out = &out;
	cr_assert_eq(spawn_run(&req, &res, &why), 0, "%s", str_cstr(&why));
	cr_assert_eq(res.status, SPAWN_EXITED);
	cr_assert_eq(res.exit_code, 0);
	cr_assert_str_eq(str_cstr(&out), req.stdin_data);
	cr_assert_not(res.out_truncated);
	str_free(&out);
	str_free(&why);
}

Test(spawn, big_stdin_output_limited)
{
	char *argv[] = {"cat", NULL};
	struct spawn_request req;
	struct spawn_result res;
	struct str out = STR_INIT, why = STR_INIT;
	size_t n = 2 * 1024 * 1024;
	char *big = malloc(n);

	memset(big, 'm', n);
	spawn_request_init(&req);
	req.path = "/bin/cat";
	req.argv = argv;
	req.stdin_data = big;
	req.stdin_len = n;
	req.out = &out;
	req.out_limit = 1000;
	req.timeout_ms = 20000;
	cr_assert_eq(spawn_run(&req, &res, &why), 0, "%s", str_cstr(&why));
	cr_assert_eq(res.status, SPAWN_EXITED, "cat ran to the end");
	cr_assert_eq(res.exit_code, 0);
	cr_assert_eq(out.len, 1000);
	cr_assert(res.out_truncated);
	free(big);
	str_free(&out);
	str_free(&why);
}

Test(spawn, child_not_reading_stdin)
{
	char *argv[] = {"true", NULL};
	struct spawn_request req;
	struct spawn_result res;
	struct str why = STR_INIT;
	size_t n = 4 * 1024 * 1024;
	char *big = calloc(1, n);

	spawn_request_init(&req);
	req.path = "/bin/true";
	req.argv = argv;
	req.stdin_data = big;
	req.stdin_len = n;
	cr_assert_eq(spawn_run(&req, &res, &why), 0, "%s", str_cstr(&why));
	cr_assert_eq(res.status, SPAWN_EXITED);
	cr_assert_eq(res.exit_code, 0);
	free(big);
	str_free(&why);
}

Test(spawn, stdout_and_stderr)
{
	char *argv[] = {"sh", "-c", "echo out; echo err >&2; echo out2", NULL};
	struct spawn_request req;
	struct spawn_result res;
	struct str out = STR_INIT, err = STR_INIT, why = STR_INIT;

	spawn_request_init(&req);
	req.path = "/bin/sh";
	req.argv = argv;
	req.out = &out;
	req.err = &err;
	cr_assert_eq(spawn_run(&req, &res, &why), 0);
	cr_assert_str_eq(str_cstr(&out), "out\nout2\n");
	cr_assert_str_eq(str_cstr(&err), "err\n");
	req.err = NULL;
	req.stderr_to_stdout = 1;
	cr_assert_eq(spawn_run(&req, &res, &why), 0);
	cr_assert_str_eq(str_cstr(&out), "out\nerr\nout2\n");
	str_free(&out);
	str_free(&err);
	str_free(&why);
}

Test(spawn, descriptors_not_leaked)
{
	char *argv[] = {"ls", "/proc/self/fd", NULL};
	struct spawn_request req;
	struct spawn_result res;
	struct str out = STR_INIT, why = STR_INIT;
	int fd;

	/* Descriptors without close-on-exec, in odd places. */
	fd = open("/dev/null", O_RDONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(dup2(fd, 50), 50);
	cr_assert_eq(dup2(fd, 200), 200);
	spawn_request_init(&req);
	req.path = "/bin/ls";
	req.argv = argv;
	req.out = &out;
	cr_assert_eq(spawn_run(&req, &res, &why), 0, "%s", str_cstr(&why));
	/* 0-2, and 3 is ls's own directory handle. */
	cr_assert_str_eq(str_cstr(&out), "0\n1\n2\n3\n");
	close(fd);
	close(50);
	close(200);
	str_free(&out);
	str_free(&why);
}

Test(spawn, stdin_fd_may_be_a_standard_descriptor)
{
	char *argv[] = {"cat", NULL};
	struct spawn_request req;
	struct spawn_result res;
	struct str out = STR_INIT, why = STR_INIT;
	int p[2];

	/* The caller hands its own fd 1 as the child's stdin. */
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "via fd\n", 7), 7);
	close(p[1]);
	int saved = dup(1);
	cr_assert_eq(dup2(p[0], 1), 1);
	close(p[0]);
	spawn_request_init(&req);
	req.path = "/bin/cat";
	req.argv = argv;
	req.stdin_fd = 1;
	req.out = &out;
	cr_assert_eq(spawn_run(&req, &res, &why), 0, "%s", str_cstr(&why));
	dup2(saved, 1);
	close(saved);
	cr_assert_str_eq(str_cstr(&out), "via fd\n");
	str_free(&out);
	str_free(&why);
}

Test(spawn, working_directory_and_umask)
{
	char *argv[] = {"sh", "-c", "pwd; umask", NULL};
	struct spawn_request req;
	struct spawn_result res;
	struct str out = STR_INIT, why = STR_INIT;

	spawn_request_init(&req);
	req.path = "/bin/sh";
	req.argv = argv;
	req.cwd = "/usr";
	req.umask_value = 027;
	req.out = &out;
	cr_assert_eq(spawn_run(&req, &res, &why), 0, "%s", str_cstr(&why));
	cr_assert_str_eq(str_cstr(&out), "/usr\n0027\n");
	req.cwd = "/nonexistent-dir";
	cr_assert_eq(spawn_run(&req, &res, &why), -1);
	cr_assert(strstr(str_cstr(&why), "chdir") != NULL, "%s", str_cstr(&why));
	str_free(&out);
	str_free(&why);
}

Test(spawn, user_and_groups)
{
	char *argv[] = {"id", NULL};
	gid_t groups[] = {65534, 100};
	struct spawn_request req;
	struct spawn_result res;
	struct str out = STR_INIT, why = STR_INIT;

	spawn_request_init(&req);
	req.path = "/usr/bin/id";
	req.argv = argv;
	req.out = &out;
	req.set_ids = 1;
	req.uid = 65534;
	req.gid = 65534;
	req.groups = groups;
	req.ngroups = 2;
	if (geteuid() != 0) {
		cr_assert_eq(spawn_run(&req, &res, &why), -1, "only root can switch");
		cr_assert(strstr(str_cstr(&why), "setgroups") != NULL, "%s", str_cstr(&why));
		cr_skip_test("not root: the switch itself is not tested");
	}
	cr_assert_eq(spawn_run(&req, &res, &why), 0, "%s", str_cstr(&why));
	cr_assert_eq(res.exit_code, 0);
	cr_assert(strncmp(str_cstr(&out), "uid=65534(", 10) == 0, "%s", str_cstr(&out));
	cr_assert(strstr(str_cstr(&out), " gid=65534(") != NULL, "%s", str_cstr(&out));
	cr_assert(strstr(str_cstr(&out), " groups=65534(") != NULL, "%s", str_cstr(&out));
	cr_assert(strstr(str_cstr(&out), ",100(") != NULL, "%s", str_cstr(&out));
	cr_assert(strstr(str_cstr(&out), "(root)") == NULL, "%s", str_cstr(&out));
	str_free(&out);
	str_free(&why);
}

Test(spawn, start_without_waiting)
{
	char *argv[] = {"sh", "-c", "echo started; exit 7", NULL};
	struct spawn_request req;
	struct str why = STR_INIT;
	char buf[64];
	int p[2], status;
	ssize_t n;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	spawn_request_init(&req);
	req.path = "/bin/sh";
	req.argv = argv;
	req.stdout_fd = p[1];
	pid = spawn_start(&req, &why);
	cr_assert(pid > 0, "%s", str_cstr(&why));
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	cr_assert_eq(n, 8);
	buf[n] = '\0';
	cr_assert_str_eq(buf, "started\n");
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 7);
	cr_assert_eq(getpgid(pid) < 0 || getpgid(pid) == pid, 1);
	close(p[0]);

	req.path = "/nonexistent/prog";
	cr_assert_eq(spawn_start(&req, &why), -1);
	cr_assert(strstr(str_cstr(&why), "No such file") != NULL, "%s", str_cstr(&why));
	str_free(&why);
}
