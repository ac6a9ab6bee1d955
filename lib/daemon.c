/*
 * daemon.c - the daemon skeleton: arguments from master, configuration,
 * log, the jail (chroot and privilege switch), and the two service
 * models; see daemon.h.
 *
 * Trusts its command line and descriptors (master set them up) and
 * main.cf; trusts nothing a connection sends: only a complete, small
 * request=wakeup frame is taken as a wakeup, everything else goes to the
 * service.  Called by every daemon's main().
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "unix_connect.h"
#include "clock.h"
#include "attr.h"
#include "config.h"
#include "daemon.h"
#include "mem.h"
#include "msg.h"
#include "parse.h"
#include "table.h"

#define DAEMON_ACCEPT_BURST 64 /* connections taken per listener wake-up */

struct override {
	char *name;
	char *value;
};

static const struct daemon_ops *ops;
static const char *service_name = "-";
static const char *service_type = "unix";
static const char *confdir;
static const char *origin = "master.cf";
static struct override overrides[DAEMON_OVERRIDE_MAX];
static int noverride;
static int nlisten;
static int listen_fd[DAEMON_LISTEN_MAX];
static int status_fd = -1;
static int opt_unpriv, opt_chroot, opt_wakeup, opt_stderr, config_fd = -1;
static pid_t master_pid;

static struct event_base *base;
static struct table *tables[DAEMON_TABLE_MAX];
static int ntables;

static long long max_idle, max_use, stop_grace, table_interval;
static long long use_count;
static int sessions;
static int stopping;

/* Event model state. */
static struct event *listen_ev[DAEMON_LISTEN_MAX];
static struct event *idle_ev, *table_ev, *term_ev, *hup_ev, *grace_ev;

/* Single model: signals arrive only inside ppoll(). */
static volatile sig_atomic_t got_term, got_hup;

const char *
daemon_service(void)
{
	return service_name;
}

const char *
daemon_type(void)
{
	return service_type;
}

struct event_base *
daemon_event_base(void)
{
	return base;
}

int
daemon_stopping(void)
{
	sigset_t set;

	if (stopping)
		return 1;
	/* Single model: the signals wait, blocked, while ops->serve runs. */
	if (ops && ops->model == DAEMON_SINGLE && sigpending(&set) == 0 &&
	        (sigismember(&set, SIGTERM) == 1 || sigismember(&set, SIGHUP) == 1))
		return 1;
	return 0;
}

void
daemon_watch_table(struct table *t)
{
	if (ntables >= DAEMON_TABLE_MAX)
		msg_fatal("more than %d tables to watch", DAEMON_TABLE_MAX);
	tables[ntables++] = t;
}

/* Tell master how this process is doing; a failure means master is gone. */
static void
report(enum daemon_state state)
{
	struct daemon_status s;
	ssize_t n;

	if (status_fd < 0)
		return;
	s.pid = (int32_t)getpid();
	s.state = (int32_t)state;
	do
		n = write(status_fd, &s, sizeof(s));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(s)) {
		close(status_fd);
		status_fd = -1;
		if (!stopping)
			daemon_stop("master is gone");
	}
}

static void
close_listeners(void)
{
	for (int i = 0; i < nlisten; i++) {
		if (listen_ev[i]) {
			event_free(listen_ev[i]);
			listen_ev[i] = NULL;
		}
		if (listen_fd[i] >= 0)
			close(listen_fd[i]);
		listen_fd[i] = -1;
	}
}

void
daemon_stop(const char *reason)
{
	if (stopping)
		return;
	stopping = 1;
	msg_debug("stopping: %s", reason);
	close_listeners();
	report(DAEMON_STATUS_GONE);
	if (ops->model != DAEMON_EVENT)
		return;
	if (idle_ev)
		event_del(idle_ev);
	if (ops->stop)
		ops->stop(reason);
	if (sessions == 0)
		event_base_loopexit(base, NULL);
}

/* ---- wake-ups ---- */

int
daemon_wakeup_frame(const char *buf, size_t len, size_t *used)
{
	struct attr_list l;
	const char *why, *req;
	int rc;

	attr_list_init(&l);
	rc = attr_decode(buf, len, DAEMON_WAKEUP_FRAME_MAX, &l, used, &why);
	if (rc == 0) {
		attr_list_free(&l);
		return -1;
	}
	req = rc == 1 ? attr_get_str(&l, "request") : NULL;
	rc = req && strcmp(req, "wakeup") == 0;
	attr_list_free(&l);
	return rc;
}

int
daemon_wakeup_send(const char *path, struct str *err)
{
	struct attr_list l;
	struct str frame = STR_INIT;
	ssize_t n;
	int fd, rc = -1;

	if ((fd = unix_connect(path, UNIX_CONNECT_NONBLOCK, err)) < 0)
		return -1;
	attr_list_init(&l);
	attr_put_str(&l, "request", "wakeup");
	attr_encode(&l, &frame);
	n = send(fd, frame.data, frame.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == (ssize_t)frame.len)
		rc = 0;
	else
		str_printf(err, "write %s: %s", path, n < 0 ? strerror(errno) : "short write");
	attr_list_free(&l);
	str_free(&frame);
	close(fd);
	return rc;
}

/*
 * Look at what a new connection sent first, without taking it.  A
 * sender of a wakeup writes its frame with one write(2), so one look
 * after the socket turns readable is enough.  Returns 1 (and consumes
 * the frame) for a wakeup, 0 otherwise.
 */
static int
take_wakeup(int fd)
{
	char buf[DAEMON_WAKEUP_FRAME_MAX + ATTR_HEADER_SIZE];
	size_t used;
	ssize_t n;

	n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0 || daemon_wakeup_frame(buf, (size_t)n, &used) != 1)
		return 0;
	if (recv(fd, buf, used, MSG_DONTWAIT) != (ssize_t)used)
		return 0;
	if (ops->wakeup)
		ops->wakeup();
	else
		msg_debug("wakeup");
	return 1;
}

/* ---- tables ---- */

static int
tables_changed(void)
{
	for (int i = 0; i < ntables; i++) {
		if (table_changed(tables[i])) {
			msg_info("table %s has changed; finishing and exiting",
			        table_spec(tables[i]));
			return 1;
		}
	}
	return 0;
}

/* ---- the single model ---- */

static void
single_signal(int sig)
{
	if (sig == SIGTERM)
		got_term = 1;
	else
		got_hup = 1;
}

static void
single_connection(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags >= 0 && (flags & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	report(DAEMON_STATUS_BUSY);
	use_count++;
	if (opt_wakeup) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, DAEMON_WAKEUP_WAIT_MS) > 0 && take_wakeup(fd)) {
			close(fd);
			goto done;
		}
	}
	ops->serve(fd);
	close(fd);
done:
	if (max_use > 0 && use_count >= max_use && !(ops->flags & DAEMON_PERSISTENT))
		daemon_stop("max_use reached");
	if (!stopping)
		report(DAEMON_STATUS_AVAIL);
}

static void
single_loop(void)
{
	struct pollfd pfd[DAEMON_LISTEN_MAX];
	struct sigaction sa;
	sigset_t block, waitmask;
	long long idle_deadline, table_next;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = single_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGHUP);

	idle_deadline = clock_ms() + max_idle * 1000;
	table_next = clock_ms() + table_interval * 1000;
	while (!stopping) {
		long long now = clock_ms(), wait = table_next - now;
		struct timespec ts;
		int n;

		if (max_idle > 0 && !(ops->flags & DAEMON_PERSISTENT)) {
			if (now >= idle_deadline) {
				daemon_stop("idle");
				break;
			}
			if (idle_deadline - now < wait)
				wait = idle_deadline - now;
		}
		if (wait < 0)
			wait = 0;
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = (wait % 1000) * 1000000;
		for (int i = 0; i < nlisten; i++)
			pfd[i] = (struct pollfd){.fd = listen_fd[i], .events = POLLIN};
		n = ppoll(pfd, (nfds_t)nlisten, &ts, &waitmask);
		if (got_term || got_hup) {
			daemon_stop(got_term ? "terminated" : "reload");
			break;
		}
		if (n < 0 && errno != EINTR)
			msg_fatal("poll: %m");
		if (clock_ms() >= table_next) {
			table_next = clock_ms() + table_interval * 1000;
			if (tables_changed()) {
				daemon_stop("table changed");
				break;
			}
		}
		for (int i = 0; n > 0 && i < nlisten && !stopping; i++) {
			int fd;

			if (!(pfd[i].revents & POLLIN))
				continue;
			/* Several processes share the socket: another may win. */
			fd = accept4(listen_fd[i], NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
					msg_warn("accept: %m");
				continue;
			}
			single_connection(fd);
			idle_deadline = clock_ms() + max_idle * 1000;
		}
	}
}

/* ---- the event model ---- */

static void
arm_idle(void)
{
	struct timeval tv = {.tv_sec = (time_t)max_idle};

	if (max_idle > 0 && !(ops->flags & DAEMON_PERSISTENT) && !stopping && sessions == 0)
		event_add(idle_ev, &tv);
}

void
daemon_session_end(void)
{
	if (sessions <= 0)
		msg_panic("daemon_session_end without a session");
	sessions--;
	if (sessions > 0)
		return;
	if (stopping)
		event_base_loopexit(base, NULL);
	else
		arm_idle();
}

void
daemon_session_begin(void)
{
	sessions++;
	if (idle_ev)
		event_del(idle_ev);
}

const char *
daemon_confdir(void)
{
	return confdir;
}

static void
event_take(int fd)
{
	use_count++;
	sessions++;
	event_del(idle_ev);
	ops->accept(fd);
}

struct wakeup_wait {
	int fd;
	struct event *ev;
	struct wakeup_wait *next, *prev;
};

static struct wakeup_wait *waits;

static void
wait_unlink(struct wakeup_wait *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		waits = w->next;
	if (w->next)
		w->next->prev = w->prev;
	event_free(w->ev);
	free(w);
}

static void
on_wakeup_wait(evutil_socket_t fd, short what, void *arg)
{
	struct wakeup_wait *w = arg;

	(void)what;
	wait_unlink(w);
	sessions--;
	if (take_wakeup((int)fd)) {
		close((int)fd);
		if (sessions == 0 && stopping)
			event_base_loopexit(base, NULL);
		else
			arm_idle();
		return;
	}
	use_count--;
	event_take((int)fd);
}

static void
on_listen(evutil_socket_t lfd, short what, void *arg)
{
	(void)what;
	(void)arg;
	for (int i = 0; i < DAEMON_ACCEPT_BURST && !stopping; i++) {
		int fd = accept4((int)lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				msg_warn("accept: %m");
			break;
		}
		if (opt_wakeup) {
			struct wakeup_wait *w = xcalloc(1, sizeof(*w));
			struct timeval tv = {0, DAEMON_WAKEUP_WAIT_MS * 1000};

			/* Counted as a session while we look at it. */
			use_count++;
			sessions++;
			event_del(idle_ev);
			w->fd = fd;
			w->ev = event_new(base, fd, EV_READ, on_wakeup_wait, w);
			w->next = waits;
			if (waits)
				waits->prev = w;
			waits = w;
			event_add(w->ev, &tv);
		} else {
			event_take(fd);
		}
		if (max_use > 0 && use_count >= max_use && !(ops->flags & DAEMON_PERSISTENT))
			daemon_stop("max_use reached");
	}
}

static void
on_idle(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (sessions == 0)
		daemon_stop("idle");
}

static void
on_table_check(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (!stopping && tables_changed())
		daemon_stop("table changed");
}

static void
on_grace(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (sessions > 0)
		msg_info("grace period over: closing %d session%s", sessions,
		        sessions == 1 ? "" : "s");
	if (ops->expire)
		ops->expire();
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (sig == SIGTERM) {
		struct timeval tv = {.tv_sec = (time_t)(stop_grace > 1 ? stop_grace - 1 : 0)};

		if (!grace_ev) {
			grace_ev = evtimer_new(base, on_grace, NULL);
			evtimer_add(grace_ev, &tv);
		}
		daemon_stop("terminated");
	} else {
		daemon_stop("reload");
	}
}

static void
event_loop(void)
{
	struct timeval check = {.tv_sec = (time_t)table_interval};

	for (int i = 0; i < nlisten; i++) {
		listen_ev[i] = event_new(base, listen_fd[i], EV_READ | EV_PERSIST, on_listen, NULL);
		event_add(listen_ev[i], NULL);
	}
	idle_ev = evtimer_new(base, on_idle, NULL);
	table_ev = event_new(base, -1, EV_PERSIST, on_table_check, NULL);
	event_add(table_ev, &check);
	term_ev = evsignal_new(base, SIGTERM, on_signal, NULL);
	hup_ev = evsignal_new(base, SIGHUP, on_signal, NULL);
	event_add(term_ev, NULL);
	event_add(hup_ev, NULL);
	arm_idle();
	if (!stopping)
		event_base_dispatch(base);
	close_listeners();
	while (waits) {
		close(waits->fd);
		wait_unlink(waits);
	}
	event_free(idle_ev);
	event_free(table_ev);
	event_free(term_ev);
	event_free(hup_ev);
	if (grace_ev)
		event_free(grace_ev);
}

/* ---- start-up ---- */

static void
usage(void)
{
	msg_fatal("usage: %s -C confdir -n service -t inet|unix -s nlisten [-u] [-c] [-w] [-e] "
	          "[-v] [-l origin] [-o name=value]... [-- args]",
	        msg_progname());
}

static int
parse_args(int argc, char **argv)
{
	const char *why;
	long long v;
	int ch;

	opterr = 0;
	while ((ch = getopt(argc, argv, "+C:n:t:s:mucwevl:o:")) != -1) {
		switch (ch) {
		case 'C':
			confdir = optarg;
			break;
		case 'n':
			service_name = optarg;
			break;
		case 't':
			if (strcmp(optarg, "inet") != 0 && strcmp(optarg, "unix") != 0)
				msg_fatal("bad service type: %s", optarg);
			service_type = optarg;
			break;
		case 's':
			if (parse_int(optarg, 0, DAEMON_LISTEN_MAX, &v, &why) < 0)
				msg_fatal("-s %s: %s", optarg, why);
			nlisten = (int)v;
			break;
		case 'm':
			config_fd = 0; /* placed by take_descriptors() */
			break;
		case 'u':
			opt_unpriv = 1;
			break;
		case 'c':
			opt_chroot = 1;
			break;
		case 'w':
			opt_wakeup = 1;
			break;
		case 'e':
			opt_stderr = 1;
			break;
		case 'v':
			msg_verbose++;
			break;
		case 'l':
			origin = optarg;
			break;
		case 'o': {
			char *eq = strchr(optarg, '=');

			if (eq == NULL || eq == optarg)
				msg_fatal("-o %s: expected name=value", optarg);
			if (noverride >= DAEMON_OVERRIDE_MAX)
				msg_fatal("more than %d -o overrides", DAEMON_OVERRIDE_MAX);
			overrides[noverride].name = xstrndup(optarg, (size_t)(eq - optarg));
			overrides[noverride].value = eq + 1;
			noverride++;
			break;
		}
		default:
			usage();
		}
	}
	if (confdir == NULL)
		usage();
	return optind;
}

static void
load_config(void)
{
	struct str errors = STR_INIT, warnings = STR_INIT, path = STR_INIT;
	int nerr;

	if (config_fd >= 0)
		str_printf(&path, "/proc/self/fd/%d", config_fd);
	else
		str_printf(&path, "%s/main.cf", confdir);
	cfg = config_new();
	nerr = config_load(cfg, str_cstr(&path), &errors, &warnings);
	for (int i = 0; i < noverride; i++)
		if (config_set(cfg, overrides[i].name, overrides[i].value, origin, &errors) < 0)
			nerr++;
	if (nerr == 0)
		nerr = config_validate(cfg, &errors);
	if (nerr > 0) {
		char *line = errors.data, *nl;

		while (line && *line) {
			nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			msg_error("%s", line);
			line = nl ? nl + 1 : NULL;
		}
		msg_fatal("%s: %d configuration error%s", str_cstr(&path), nerr,
		        nerr == 1 ? "" : "s");
	}
	if (config_fd >= 0)
		close(config_fd);
	config_fd = -1;
	max_idle = config_time(cfg, "max_idle");
	max_use = config_int(cfg, "max_use");
	stop_grace = config_time(cfg, "master_stop_grace");
	table_interval = config_time(cfg, "table_change_check_interval");
	str_free(&errors);
	str_free(&warnings);
	str_free(&path);
}

static void
open_log(void)
{
	const char *file = config_str(cfg, "maillog_file");
	struct str err = STR_INIT;

	msg_set_hostname(config_str(cfg, "myhostname"));
	if (file && *file) {
		if (msg_open_file(file, &err) < 0)
			msg_fatal("%s", str_cstr(&err));
	} else {
		msg_open_syslog();
	}
	msg_to_stderr(opt_stderr);
	msg_stderr_plain(0);
	str_free(&err);
}

/*
 * Root mode: chroot when master.cf says so, switch to mail_owner when
 * master.cf says unpriv, and prove the switch cannot be undone.
 * Unprivileged mode: only the working directory changes.
 */
static void
enter_jail(void)
{
	const char *queue = config_str(cfg, "queue_directory");
	const char *owner = config_str(cfg, "mail_owner");
	struct passwd *pw = NULL;
	uid_t uid = 0;
	gid_t gid = 0;

	if (chdir(queue) < 0)
		msg_fatal("chdir %s: %m", queue);
	if (config_bool(cfg, "unprivileged_mode"))
		return;
	if (geteuid() != 0)
		msg_fatal("unprivileged_mode = no needs root; run as root or set "
		          "unprivileged_mode = yes");
	if (opt_unpriv) {
		pw = getpwnam(owner);
		if (pw == NULL)
			msg_fatal("mail_owner %s: no such user; run \"tern setup\"", owner);
		if (pw->pw_uid == 0)
			msg_fatal(
			        "mail_owner %s has uid 0; it must be an unprivileged user", owner);
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (opt_chroot) {
#ifdef TERN_SANITIZER
		msg_info("sanitizer build (%s): not chrooting to %s", TERN_SANITIZER, queue);
#else
		if (chroot(".") < 0)
			msg_fatal("chroot %s: %m", queue);
		if (chdir("/") < 0)
			msg_fatal("chdir / in %s: %m", queue);
#endif
	}
	if (opt_unpriv) {
		if (setgroups(1, &gid) < 0)
			msg_fatal("setgroups %ld: %m", (long)gid);
		if (setgid(gid) < 0)
			msg_fatal("setgid %ld: %m", (long)gid);
		if (setuid(uid) < 0)
			msg_fatal("setuid %ld: %m", (long)uid);
		if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid)
			msg_fatal("privilege switch to %s did not take", owner);
		if (setuid(0) == 0)
			msg_fatal("privilege switch to %s can be undone", owner);
	}
}

static void
take_descriptors(void)
{
	for (int i = 0; i < nlisten; i++) {
		listen_fd[i] = DAEMON_LISTEN_FD + i;
		if (fcntl(listen_fd[i], F_SETFD, FD_CLOEXEC) < 0)
			msg_fatal("listening socket %d: %m", listen_fd[i]);
	}
	status_fd = DAEMON_LISTEN_FD + nlisten;
	if (fcntl(status_fd, F_SETFD, FD_CLOEXEC) < 0)
		status_fd = -1; /* started by hand, not by master */
	if (config_fd >= 0) {
		config_fd = DAEMON_LISTEN_FD + nlisten + 1;
		if (fcntl(config_fd, F_SETFD, FD_CLOEXEC) < 0)
			msg_fatal("main.cf copy on descriptor %d: %m", config_fd);
	}
}

int
daemon_main(int argc, char **argv, const struct daemon_ops *daemon_ops)
{
	char **args;
	int first, nargs;

	ops = daemon_ops;
	msg_init(argv[0]);
	master_pid = getppid();
	first = parse_args(argc, argv);
	take_descriptors();
	load_config();
	open_log();
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	if (base == NULL)
		msg_fatal("event_base_new failed");

	nargs = argc - first + 1;
	args = xcalloc((size_t)nargs + 1, sizeof(*args));
	args[0] = argv[0];
	for (int i = 1; i < nargs; i++)
		args[i] = argv[first + i - 1];
	if (ops->pre_jail)
		ops->pre_jail(nargs, args);
	enter_jail();
	/* Finish gracefully when master dies; it may already have. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (status_fd >= 0 && getppid() != master_pid)
		msg_fatal("master is gone");
	if (ops->post_jail)
		ops->post_jail();

	if (ops->model == DAEMON_EVENT)
		event_loop();
	else
		single_loop();

	free(args);
	event_base_free(base);
	base = NULL;
	for (int i = 0; i < noverride; i++)
		free(overrides[i].name);
	config_free(cfg);
	cfg = NULL;
	return 0;
}
