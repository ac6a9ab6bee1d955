/*
 * spawn.c - run another program with an explicit environment, explicit
 * descriptors and ids, and a timeout for its whole process group; see
 * spawn.h.
 *
 * Trusts its caller for argv, envp and ids (they come from the
 * administrator's configuration, never from a message) and nothing from
 * the child: its output is bounded, its exit is waited for with a
 * deadline.  Between fork and execve the child calls only
 * async-signal-safe functions, so it is safe in a threaded process.
 * Called by local (|command deliveries) and by commands that run helpers.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "mem.h"
#include "msg.h"
#include "spawn.h"

#define SPAWN_READ_CHUNK  8192
#define SPAWN_POLL_TICK   20    /* ms between exit checks without a pidfd */
#define SPAWN_CLOSE_LIMIT 65536 /* descriptors closed one by one without close_range */

/* The steps of the child's set-up, reported when one fails. */
enum spawn_stage {
	STAGE_SETSID = 1,
	STAGE_DESCRIPTORS,
	STAGE_SETGROUPS,
	STAGE_SETGID,
	STAGE_SETUID,
	STAGE_VERIFY_IDS,
	STAGE_CHDIR,
	STAGE_EXECVE,
};

struct spawn_failure {
	int stage;
	int err;
};

static const char *
stage_name(int stage)
{
	switch (stage) {
	case STAGE_SETSID:
		return "setsid";
	case STAGE_DESCRIPTORS:
		return "set up descriptors";
	case STAGE_SETGROUPS:
		return "setgroups";
	case STAGE_SETGID:
		return "setgid";
	case STAGE_SETUID:
		return "setuid";
	case STAGE_VERIFY_IDS:
		return "verify user and group ids";
	case STAGE_CHDIR:
		return "chdir";
	case STAGE_EXECVE:
		return "execve";
	default:
		return "unknown step";
	}
}

void
spawn_request_init(struct spawn_request *req)
{
	memset(req, 0, sizeof(*req));
	req->umask_value = -1;
	req->stdin_fd = -1;
	req->stdout_fd = -1;
	req->stderr_fd = -1;
}

/*
 * The child.
 */

__attribute__((noreturn)) static void
child_fail(int report, int stage, int err)
{
	struct spawn_failure f = {stage, err};
	ssize_t r;

	do
		r = write(report, &f, sizeof(f));
	while (r < 0 && errno == EINTR);
	_exit(127);
}

static void
close_others(int keep)
{
	struct rlimit rl;
	int fd, max = SPAWN_CLOSE_LIMIT;

	if ((keep == 3 || close_range(3, (unsigned)keep - 1, 0) == 0) &&
	        close_range((unsigned)keep + 1, ~0U, 0) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	        rl.rlim_cur < (rlim_t)max)
		max = (int)rl.rlim_cur;
	for (fd = 3; fd < max; fd++)
		if (fd != keep)
			(void)close(fd);
}

static void
child_ids(const struct spawn_request *req, int report)
{
	if (setgroups(req->ngroups, req->groups) < 0)
		child_fail(report, STAGE_SETGROUPS, errno);
	if (setgid(req->gid) < 0)
		child_fail(report, STAGE_SETGID, errno);
	if (setuid(req->uid) < 0)
		child_fail(report, STAGE_SETUID, errno);
	if (getuid() != req->uid || geteuid() != req->uid || getgid() != req->gid ||
	        getegid() != req->gid || getgroups(0, NULL) != (int)req->ngroups)
		child_fail(report, STAGE_VERIFY_IDS, EPERM);
	if (req->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		child_fail(report, STAGE_VERIFY_IDS, EPERM);
}

/* From fork to execve: async-signal-safe calls only. */
__attribute__((noreturn)) static void
child_run(const struct spawn_request *req, const int src[3], int report)
{
	static char *const empty_env[] = {NULL};
	struct sigaction sa;
	sigset_t none;
	int tmp[3], i, sig;

	if (setsid() < 0)
		child_fail(report, STAGE_SETSID, errno);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* Lift everything above 2 first, so that no dup2 clobbers a source. */
	if (report < 3 && (report = fcntl(report, F_DUPFD_CLOEXEC, 3)) < 0)
		_exit(127);
	for (i = 0; i < 3; i++)
		if ((tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3)) < 0)
			child_fail(report, STAGE_DESCRIPTORS, errno);
	for (i = 0; i < 3; i++)
		if (dup2(tmp[i], i) < 0)
			child_fail(report, STAGE_DESCRIPTORS, errno);
	close_others(report);

	if (req->umask_value >= 0)
		umask((mode_t)req->umask_value);
	if (req->set_ids)
		child_ids(req, report);
	if (req->cwd != NULL && chdir(req->cwd) < 0)
		child_fail(report, STAGE_CHDIR, errno);
	execve(req->path ? req->path : req->argv[0], req->argv, req->envp ? req->envp : empty_env);
	child_fail(report, STAGE_EXECVE, errno);
}

/*
 * The parent.
 */

static int
check_request(const struct spawn_request *req, struct str *why)
{
	if (req->argv == NULL || req->argv[0] == NULL) {
		str_appendz(why, "spawn: empty argument list");
		return -1;
	}
	if (req->set_ids && req->ngroups > SPAWN_GROUPS_MAX) {
		str_printf(why, "spawn: more than %d groups", SPAWN_GROUPS_MAX);
		return -1;
	}
	return 0;
}

/* Fork and exec with the child's standard descriptors src[0..2]; wait
 * until execve succeeded or the child reported why it did not. */
static pid_t
launch(const struct spawn_request *req, const int src[3], struct str *why)
{
	const char *prog = req->path ? req->path : req->argv[0];
	struct spawn_failure f;
	sigset_t all, old;
	int report[2];
	ssize_t r;
	pid_t pid;

	if (pipe2(report, O_CLOEXEC) < 0) {
		str_printf(why, "spawn %s: pipe: %s", prog, strerror(errno));
		return -1;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		close(report[0]);
		child_run(req, src, report[1]);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(report[1]);
	if (pid < 0) {
		str_printf(why, "spawn %s: fork: %s", prog, strerror(errno));
		close(report[0]);
		return -1;
	}
	do
		r = read(report[0], &f, sizeof(f));
	while (r < 0 && errno == EINTR);
	close(report[0]);
	if (r == 0)
		return pid;
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (r == (ssize_t)sizeof(f))
		str_printf(why, "spawn %s: %s: %s", prog, stage_name(f.stage), strerror(f.err));
	else
		str_printf(why, "spawn %s: the child failed before execve", prog);
	return -1;
}

static int
open_devnull(int *devnull, struct str *why)
{
	if (*devnull >= 0)
		return *devnull;
	*devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (*devnull < 0)
		str_printf(why, "spawn: /dev/null: %s", strerror(errno));
	return *devnull;
}

pid_t
spawn_start(const struct spawn_request *req, struct str *why)
{
	int src[3], devnull = -1;
	pid_t pid;

	if (check_request(req, why) < 0)
		return -1;
	if (req->stdin_data != NULL || req->out != NULL || req->err != NULL || req->timeout_ms) {
		str_appendz(why, "spawn_start: no capture, input data or timeout without waiting");
		return -1;
	}
	src[0] = req->stdin_fd >= 0 ? req->stdin_fd : open_devnull(&devnull, why);
	src[1] = req->stdout_fd >= 0 ? req->stdout_fd : open_devnull(&devnull, why);
	src[2] = req->stderr_to_stdout ? src[1]
	        : req->stderr_fd >= 0  ? req->stderr_fd
	                               : open_devnull(&devnull, why);
	pid = -1;
	if (src[0] >= 0 && src[1] >= 0 && src[2] >= 0)
		pid = launch(req, src, why);
	if (devnull >= 0)
		close(devnull);
	return pid;
}

/* What the parent holds while the child runs. */
struct run {
	int in_w;
	int out_r;
	int err_r;
	int pidfd;
	size_t in_off;
	int exited;
	int timed_out;
	long long deadline;
	long long kill_at;
	long long drain_until;
};

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void
capture(int *fd, struct str *s, size_t limit, int *truncated)
{
	char buf[SPAWN_READ_CHUNK];
	size_t take;
	ssize_t r;

	r = read(*fd, buf, sizeof(buf));
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0) {
		close_fd(fd);
		return;
	}
	take = (size_t)r;
	if (s->len + take > limit) {
		take = limit > s->len ? limit - s->len : 0;
		*truncated = 1;
	}
	str_append(s, buf, take);
}

static void
feed_stdin(struct run *run, const struct spawn_request *req)
{
	const char *p = req->stdin_data;
	ssize_t r;

	r = write(run->in_w, p + run->in_off, req->stdin_len - run->in_off);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r < 0) { /* EPIPE: the child does not read it all, its business */
		close_fd(&run->in_w);
		return;
	}
	run->in_off += (size_t)r;
	if (run->in_off == req->stdin_len)
		close_fd(&run->in_w);
}

/* Has the child exited?  Leaves it unreaped, so its process group id
 * stays reserved for kill(-pid).  -1: not our child any more. */
static int
child_exited(pid_t pid)
{
	siginfo_t info;

	memset(&info, 0, sizeof(info));
	if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno == EINTR ? 0 : -1;
	return info.si_pid == pid;
}

static int
poll_timeout(const struct run *run, long long now)
{
	long long at = 0, t;

	if (run->deadline && !run->timed_out)
		at = run->deadline;
	if (run->kill_at && (at == 0 || run->kill_at < at))
		at = run->kill_at;
	if (run->exited && (at == 0 || run->drain_until < at))
		at = run->drain_until;
	if (!run->exited && run->pidfd < 0 && (at == 0 || now + SPAWN_POLL_TICK < at))
		at = now + SPAWN_POLL_TICK;
	if (at == 0)
		return -1;
	t = at - now;
	return t < 0 ? 0 : t > INT_MAX ? INT_MAX : (int)t;
}

static void
run_timers(struct run *run, pid_t pid, int grace_ms, long long now)
{
	if (run->deadline && !run->timed_out && now >= run->deadline) {
		run->timed_out = 1;
		kill(-pid, SIGTERM);
		run->kill_at = now + grace_ms;
	}
	if (run->kill_at && now >= run->kill_at) {
		kill(-pid, SIGKILL);
		run->kill_at = 0;
	}
}

/* Wait for the child, feeding and draining its pipes. */
static int
supervise(struct run *run, const struct spawn_request *req, struct spawn_result *res, pid_t pid)
{
	struct pollfd pfd[4];
	int grace = req->kill_grace_ms > 0 ? req->kill_grace_ms : SPAWN_KILL_GRACE_MS;
	int n, e, i;
	long long now;

	for (;;) {
		now = clock_ms();
		if (!run->exited) {
			if ((e = child_exited(pid)) < 0)
				return -1;
			if (e) {
				run->exited = 1;
				run->drain_until = now + SPAWN_DRAIN_MS;
				if (run->timed_out) /* and its group, which may ignore SIGTERM */
					kill(-pid, SIGKILL);
				run->kill_at = 0;
				close_fd(&run->in_w);
			}
		}
		if (run->exited && ((run->out_r < 0 && run->err_r < 0) || now >= run->drain_until))
			return 0;
		run_timers(run, pid, grace, now);

		n = 0;
		if (run->in_w >= 0)
			pfd[n++] = (struct pollfd){run->in_w, POLLOUT, 0};
		if (run->out_r >= 0)
			pfd[n++] = (struct pollfd){run->out_r, POLLIN, 0};
		if (run->err_r >= 0)
			pfd[n++] = (struct pollfd){run->err_r, POLLIN, 0};
		if (run->pidfd >= 0 && !run->exited)
			pfd[n++] = (struct pollfd){run->pidfd, POLLIN, 0};
		if (poll(pfd, (nfds_t)n, poll_timeout(run, now)) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (pfd[i].fd == run->in_w)
				feed_stdin(run, req);
			else if (pfd[i].fd == run->out_r)
				capture(&run->out_r, req->out,
				        req->out_limit ? req->out_limit : SPAWN_CAPTURE_MAX,
				        &res->out_truncated);
			else if (pfd[i].fd == run->err_r)
				capture(&run->err_r, req->err,
				        req->err_limit ? req->err_limit : SPAWN_CAPTURE_MAX,
				        &res->err_truncated);
		}
	}
}

static void
decode_status(struct spawn_result *res, int status, int timed_out)
{
	if (WIFEXITED(status)) {
		res->status = SPAWN_EXITED;
		res->exit_code = WEXITSTATUS(status);
	} else {
		res->status = SPAWN_SIGNALED;
		res->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	}
	if (timed_out)
		res->status = SPAWN_TIMED_OUT;
}

/* Make the pipes for what is captured or fed; src gets the child ends. */
static int
make_pipes(const struct spawn_request *req, struct run *run, int src[3], int child_end[3],
        int *devnull, struct str *why)
{
	int p[2], i;

	for (i = 0; i < 3; i++)
		child_end[i] = -1;
	if (req->stdin_data != NULL) {
		if (pipe2(p, O_CLOEXEC) < 0)
			goto fail;
		child_end[0] = src[0] = p[0];
		run->in_w = p[1];
		fcntl(run->in_w, F_SETFL, O_NONBLOCK);
	} else {
		src[0] = req->stdin_fd >= 0 ? req->stdin_fd : open_devnull(devnull, why);
	}
	if (req->out != NULL) {
		if (pipe2(p, O_CLOEXEC) < 0)
			goto fail;
		run->out_r = p[0];
		child_end[1] = src[1] = p[1];
	} else {
		src[1] = req->stdout_fd >= 0 ? req->stdout_fd : open_devnull(devnull, why);
	}
	if (req->stderr_to_stdout) {
		src[2] = src[1];
	} else if (req->err != NULL) {
		if (pipe2(p, O_CLOEXEC) < 0)
			goto fail;
		run->err_r = p[0];
		child_end[2] = src[2] = p[1];
	} else {
		src[2] = req->stderr_fd >= 0 ? req->stderr_fd : open_devnull(devnull, why);
	}
	if (src[0] < 0 || src[1] < 0 || src[2] < 0)
		return -1;
	return 0;
fail:
	str_printf(why, "spawn: pipe: %s", strerror(errno));
	return -1;
}

int
spawn_run(const struct spawn_request *req, struct spawn_result *res, struct str *why)
{
	struct run run = {-1, -1, -1, -1, 0, 0, 0, 0, 0, 0};
	int src[3], child_end[3], devnull = -1, status = 0, pipe_was_pending, i, ret = -1;
	sigset_t pipe_set, old, pending;
	struct timespec zero = {0, 0};
	long long start = clock_ms();
	pid_t pid = -1;

	memset(res, 0, sizeof(*res));
	res->status = SPAWN_FAILED;
	if (check_request(req, why) < 0)
		return -1;
	if (req->out)
		str_reset(req->out);
	if (req->err)
		str_reset(req->err);
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	pipe_was_pending = sigismember(&pending, SIGPIPE);

	if (make_pipes(req, &run, src, child_end, &devnull, why) == 0)
		pid = launch(req, src, why);
	for (i = 0; i < 3; i++)
		if (child_end[i] >= 0)
			close(child_end[i]);
	if (devnull >= 0)
		close(devnull);
	if (pid > 0) {
		res->pid = pid;
		run.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (req->timeout_ms > 0)
			run.deadline = start + req->timeout_ms;
		if (supervise(&run, req, res, pid) < 0) {
			str_printf(why, "spawn %s: child %d was reaped elsewhere", req->argv[0],
			        (int)pid);
		} else {
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			decode_status(res, status, run.timed_out);
			ret = 0;
		}
	}
	close_fd(&run.in_w);
	close_fd(&run.out_r);
	close_fd(&run.err_r);
	close_fd(&run.pidfd);

	/* A SIGPIPE from feeding stdin is ours; swallow it. */
	sigpending(&pending);
	if (!pipe_was_pending && sigismember(&pending, SIGPIPE))
		sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	res->elapsed_ms = clock_ms() - start;
	return ret;
}

void
spawn_describe(const struct spawn_result *res, struct str *text)
{
	switch (res->status) {
	case SPAWN_EXITED:
		str_printf(text, "exit %d", res->exit_code);
		break;
	case SPAWN_SIGNALED:
		str_printf(text, "signal %d (%s)", res->signal, strsignal(res->signal));
		break;
	case SPAWN_TIMED_OUT:
		str_printf(text, "timed out");
		break;
	case SPAWN_FAILED:
		str_printf(text, "not started");
		break;
	}
}
