/*
 * master_spawn.c - master's children: start them on demand, read their
 * status, reap them, back off from services that keep failing, and send
 * wakeup requests.
 *
 * Demand: while a service has no process ready to accept (and fewer than
 * maxproc), master watches its listeners; a readable listener starts
 * one process, counted as ready until it reports otherwise (daemon.h).
 * A child that dies abnormally (a signal, a non-zero exit) holds the
 * service back for master_backoff_min, doubling with each consecutive
 * failure up to master_backoff_max; a child that lived longer than
 * master_backoff_max, or exited normally, clears the count.
 *
 * Trusts nothing in a status record but its shape: the pid must be a
 * child of this master and the state one of three values.  Called by
 * master.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "daemon.h"
#include "master.h"
#include "mem.h"
#include "msg.h"

#define MASTER_ARGV_FIXED        24 /* argv entries besides overrides and arguments */
#define MASTER_BACKOFF_SHIFT_MAX 30

static struct event *status_ev;

static const char *const passed_env[] = {
        "TZ", "LANG", "LC_ALL", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", NULL};

static struct master_proc *
proc_find(pid_t pid, struct master_proc ***linkp)
{
	struct master_proc **pp;

	for (pp = &master.procs; *pp; pp = &(*pp)->next) {
		if ((*pp)->pid == pid) {
			if (linkp)
				*linkp = pp;
			return *pp;
		}
	}
	return NULL;
}

const char *
master_proc_state_name(const struct master_proc *p)
{
	if (p->serv == NULL || p->state == PROC_GONE)
		return "exiting";
	return p->state == PROC_BUSY ? "busy" : "ready";
}

int
master_proc_count(void)
{
	int n = 0;

	for (struct master_proc *p = master.procs; p; p = p->next)
		n++;
	return n;
}

/* ---- status records ---- */

static void
status_record(const struct daemon_status *rec)
{
	struct master_proc *p = proc_find((pid_t)rec->pid, NULL);
	struct master_service *s;

	if (p == NULL) {
		msg_debug("status from unknown pid %ld", (long)rec->pid);
		return;
	}
	s = p->serv;
	if (rec->state != DAEMON_STATUS_AVAIL && rec->state != DAEMON_STATUS_BUSY &&
	        rec->state != DAEMON_STATUS_GONE) {
		msg_warn("process %s pid %ld: bad status %ld", p->path, (long)p->pid,
		        (long)rec->state);
		return;
	}
	if (p->state == PROC_GONE)
		return;
	if (s && p->state == PROC_AVAIL)
		s->avail--;
	switch (rec->state) {
	case DAEMON_STATUS_AVAIL:
		p->state = PROC_AVAIL;
		if (s)
			s->avail++;
		break;
	case DAEMON_STATUS_BUSY:
		p->state = PROC_BUSY;
		p->served++;
		break;
	default:
		p->state = PROC_GONE;
		break;
	}
	if (s)
		master_watch(s);
}

static void
on_status(evutil_socket_t fd, short what, void *arg)
{
	struct daemon_status recs[MASTER_STATUS_PIPE_READ];
	ssize_t n;

	(void)what;
	(void)arg;
	n = read((int)fd, recs, sizeof(recs));
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			msg_warn("status pipe: %m");
		return;
	}
	if (n % (ssize_t)sizeof(recs[0]) != 0)
		msg_warn("status pipe: %ld stray octets", (long)(n % (ssize_t)sizeof(recs[0])));
	for (ssize_t i = 0; i < n / (ssize_t)sizeof(recs[0]); i++)
		status_record(&recs[i]);
}

int
master_spawn_init(struct str *err)
{
	if (pipe2(master.status_pipe, O_CLOEXEC) < 0) {
		str_printf(err, "pipe: %s", strerror(errno));
		return -1;
	}
	/* Only master's end is non-blocking: children wait for room. */
	if (fcntl(master.status_pipe[0], F_SETFL, O_NONBLOCK) < 0) {
		str_printf(err, "fcntl: %s", strerror(errno));
		return -1;
	}
	status_ev = event_new(
	        master.base, master.status_pipe[0], EV_READ | EV_PERSIST, on_status, NULL);
	event_add(status_ev, NULL);
	return 0;
}

void
master_spawn_done(void)
{
	if (status_ev)
		event_free(status_ev);
	status_ev = NULL;
	for (int i = 0; i < 2; i++) {
		if (master.status_pipe[i] >= 0)
			close(master.status_pipe[i]);
		master.status_pipe[i] = -1;
	}
}

/* ---- starting a child ---- */

static char **
child_argv(const struct master_service *s)
{
	char **argv =
	        xcalloc((size_t)(MASTER_ARGV_FIXED + 2 * s->noverrides + s->nargs), sizeof(char *));
	struct str n = STR_INIT;
	int i = 0;

	str_printf(&n, "%d", s->nlisteners);
	argv[i++] = s->path;
	argv[i++] = "-C";
	argv[i++] = (char *)master.confdir;
	argv[i++] = "-n";
	argv[i++] = s->name;
	argv[i++] = "-t";
	argv[i++] = (char *)service_type_name(s->type);
	argv[i++] = "-s";
	argv[i++] = str_steal(&n);
	argv[i++] = "-m";
	if (s->unpriv)
		argv[i++] = "-u";
	if (s->chroot)
		argv[i++] = "-c";
	if (s->wakeup > 0)
		argv[i++] = "-w";
	if (master.foreground)
		argv[i++] = "-e";
	if (msg_verbose)
		argv[i++] = "-v";
	argv[i++] = "-l";
	argv[i++] = s->where;
	for (int k = 0; k < s->noverrides; k++) {
		argv[i++] = "-o";
		argv[i++] = s->overrides[k];
	}
	argv[i++] = "--";
	for (int k = 0; k < s->nargs; k++)
		argv[i++] = s->args[k];
	argv[i] = NULL;
	return argv;
}

static char **
child_env(void)
{
	char **env = xcalloc(sizeof(passed_env) / sizeof(passed_env[0]) + 3, sizeof(char *));
	struct str e = STR_INIT;
	int n = 0;

	env[n++] = "PATH=/usr/bin:/bin:/usr/sbin:/sbin";
	str_printf(&e, "TERN_CONFIG_DIR=%s", master.confdir);
	env[n++] = str_steal(&e);
	for (int i = 0; passed_env[i]; i++) {
		const char *v = getenv(passed_env[i]);

		if (v) {
			str_printf(&e, "%s=%s", passed_env[i], v);
			env[n++] = str_steal(&e);
		}
	}
	env[n] = NULL;
	return env;
}

/* In the child: descriptors 3.. are the listeners, then the status pipe,
 * then master's copy of main.cf; nothing else stays open.  Never returns. */
static void
child_exec(const struct master_service *s)
{
	int n = s->nlisteners, high = DAEMON_LISTEN_FD + n + 2;
	int tmp[DAEMON_LISTEN_MAX + 2];
	sigset_t none;
	char **argv, **env;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)signal(sig, SIG_DFL);
	(void)setsid();
	for (int i = 0; i <= n + 1; i++) {
		int fd = i < n   ? s->listeners[i]->fd
		        : i == n ? master.status_pipe[1]
		                 : master.config_fd;

		tmp[i] = fcntl(fd, F_DUPFD, high);
		if (tmp[i] < 0) {
			msg_error("%s: dup: %m", s->path);
			_exit(1);
		}
	}
	for (int i = 0; i <= n + 1; i++) {
		if (dup2(tmp[i], DAEMON_LISTEN_FD + i) < 0) {
			msg_error("%s: dup2: %m", s->path);
			_exit(1);
		}
	}
	msg_close();
	(void)close_range((unsigned)high, ~0U, 0);
	argv = child_argv(s);
	env = child_env();
	execve(s->path, argv, env);
	msg_error("exec %s: %m", s->path);
	_exit(1);
}

static void
spawn(struct master_service *s)
{
	struct master_proc *p;
	pid_t pid;

	if (s->nlisteners > DAEMON_LISTEN_MAX) {
		msg_warn("%s: service %s: more than %d listeners", s->where, s->name,
		        DAEMON_LISTEN_MAX);
		return;
	}
	pid = fork();
	if (pid < 0) {
		msg_warn("fork: %m");
		s->failures++;
		return;
	}
	if (pid == 0)
		child_exec(s);
	p = xcalloc(1, sizeof(*p));
	p->pid = pid;
	p->serv = s;
	p->service = xstrdup(s->name);
	p->type = xstrdup(service_type_name(s->type));
	p->path = xstrdup(s->path);
	p->started = time(NULL);
	p->state = PROC_AVAIL;
	p->next = master.procs;
	master.procs = p;
	s->total++;
	s->avail++;
	msg_debug("service %s: started %s pid %ld", s->name, s->path, (long)pid);
	master_watch(s);
}

/* ---- demand ---- */

static void
on_demand(evutil_socket_t fd, short what, void *arg)
{
	struct master_listener *l = arg;

	(void)fd;
	(void)what;
	spawn(l->serv);
}

void
master_watch(struct master_service *s)
{
	int want = !master.stopping && s->throttle_until == 0 && s->avail <= 0 &&
	        (s->maxproc == 0 || s->total < s->maxproc);

	if (want == s->watching)
		return;
	for (int i = 0; i < s->nlisteners; i++) {
		struct master_listener *l = s->listeners[i];

		if (l->fd < 0)
			continue;
		if (l->ev == NULL)
			l->ev = event_new(master.base, l->fd, EV_READ | EV_PERSIST, on_demand, l);
		if (want)
			event_add(l->ev, NULL);
		else
			event_del(l->ev);
	}
	s->watching = want;
}

/* ---- back-off ---- */

static void on_wakeup(evutil_socket_t fd, short what, void *arg);

/*
 * A service with a wakeup timer (qmgr, pickup) has work even when nobody
 * connects: when its last process died, wake it as soon as it may start
 * again, not at the next tick of its timer.
 */
static void
wake_if_gone(struct master_service *s)
{
	if (s->wakeup_ev != NULL && s->total == 0 && s->throttle_until == 0 && !master.stopping)
		on_wakeup(-1, 0, s);
}

static void
on_throttle_end(evutil_socket_t fd, short what, void *arg)
{
	struct master_service *s = arg;

	(void)fd;
	(void)what;
	s->throttle_until = 0;
	master_watch(s);
	wake_if_gone(s);
}

static void
backoff(struct master_service *s, const struct master_proc *p)
{
	long long min = config_time(master.cfg, "master_backoff_min");
	long long max = config_time(master.cfg, "master_backoff_max");
	time_t now = time(NULL), lived = now - p->started;
	long long delay;
	struct timeval tv;

	if (lived >= max)
		s->failures = 0;
	s->failures++;
	delay = min;
	for (int i = 1; i < s->failures && i < MASTER_BACKOFF_SHIFT_MAX && delay < max; i++)
		delay *= 2;
	if (delay > max)
		delay = max;
	if (p->served == 0 && lived < min)
		msg_warn("%s: service %s: %s died right after start (%d in a row); throttling",
		        s->where, s->name, s->path, s->failures);
	msg_warn("service %s (%s): next process no sooner than in %lld s (failure %d)", s->name,
	        service_type_name(s->type), delay, s->failures);
	s->throttle_until = now + (time_t)delay;
	if (s->throttle_ev == NULL)
		s->throttle_ev = evtimer_new(master.base, on_throttle_end, s);
	tv.tv_sec = (time_t)delay;
	tv.tv_usec = 0;
	evtimer_add(s->throttle_ev, &tv);
	master_watch(s);
}

void
master_reap(void)
{
	struct master_proc *p, **link;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct master_service *s;
		int abnormal = 0;

		p = proc_find(pid, &link);
		if (p == NULL)
			continue;
		*link = p->next;
		if (WIFSIGNALED(status)) {
			msg_warn("process %s pid %ld killed by signal %d", p->path, (long)pid,
			        WTERMSIG(status));
			abnormal = 1;
		} else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
			msg_warn("process %s pid %ld exit status %d", p->path, (long)pid,
			        WEXITSTATUS(status));
			abnormal = 1;
		}
		s = p->serv;
		if (s) {
			s->total--;
			if (p->state == PROC_AVAIL)
				s->avail--;
			if (abnormal && !master.stopping)
				backoff(s, p);
			else if (!abnormal)
				s->failures = 0;
			master_watch(s);
			wake_if_gone(s);
		}
		free(p->service);
		free(p->type);
		free(p->path);
		free(p);
	}
}

/* ---- wakeup ---- */

static void
on_wakeup(evutil_socket_t fd, short what, void *arg)
{
	struct master_service *s = arg;
	struct str err = STR_INIT;

	(void)fd;
	(void)what;
	if (master.stopping || s->nlisteners == 0 || s->listeners[0]->path == NULL)
		return;
	if (daemon_wakeup_send(s->listeners[0]->path, &err) < 0)
		msg_warn("service %s: wakeup: %s", s->name, str_cstr(&err));
	str_free(&err);
}

void
master_service_start(struct master_service *s)
{
	if (s->wakeup > 0) {
		struct timeval tv = {.tv_sec = s->wakeup};

		if (s->type != SERVICE_UNIX) {
			msg_warn("%s: service %s: wakeup works only for unix services; ignored",
			        s->where, s->name);
		} else {
			s->wakeup_ev = event_new(master.base, -1, EV_PERSIST, on_wakeup, s);
			event_add(s->wakeup_ev, &tv);
			on_wakeup(-1, 0, s);
		}
	}
	master_watch(s);
}

void
master_service_halt(struct master_service *s)
{
	if (s->wakeup_ev) {
		event_free(s->wakeup_ev);
		s->wakeup_ev = NULL;
	}
	if (s->throttle_ev) {
		event_free(s->throttle_ev);
		s->throttle_ev = NULL;
	}
	for (int i = 0; i < s->nlisteners; i++) {
		if (s->listeners[i]->ev) {
			event_free(s->listeners[i]->ev);
			s->listeners[i]->ev = NULL;
		}
	}
	s->watching = 0;
}

/* A reload: this service's processes finish what they do and exit. */
void
master_retire(struct master_service *s)
{
	for (struct master_proc *p = master.procs; p; p = p->next) {
		if (p->serv != s)
			continue;
		p->serv = NULL;
		if (kill(p->pid, SIGHUP) < 0 && errno != ESRCH)
			msg_warn("kill %ld: %m", (long)p->pid);
	}
}

void
master_signal_all(int sig)
{
	for (struct master_proc *p = master.procs; p; p = p->next)
		if (kill(p->pid, sig) < 0 && errno != ESRCH)
			msg_warn("kill %ld: %m", (long)p->pid);
}
