/*
 * master.c - Tern's master process: start-up, signals, reload, stop.
 *
 *	master -C CONFDIR [-f] [-r FD] [-v]
 *
 *	-C CONFDIR	configuration directory (main.cf, master.cf)
 *	-f		foreground: log to standard error too, and have the
 *			children do the same
 *	-r FD		when every listener is bound, write "ok\n" to FD and
 *			close it; when start-up fails, write the reason
 *			instead and exit (tern start waits for this)
 *
 * Start-up: read and validate main.cf and master.cf, open the log,
 * create the queue directories, lock $queue_directory/pid/master.pid (a
 * second master refuses to start), bind every listener, open the control
 * socket, then start services on demand.  SIGHUP (or the control
 * request) reloads; SIGTERM, SIGINT or the control request stops:
 * listeners close, children get SIGTERM, and after master_stop_grace
 * the ones left get SIGKILL.
 *
 * Runs as root in root mode (it never drops privileges: it binds
 * privileged ports and starts children that drop their own), as the
 * invoking user in unprivileged mode.  Trusts its configuration files;
 * see master.h for what it trusts of its children.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "master.h"
#include "mem.h"
#include "msg.h"
#include "parse.h"
#include "queue_layout.h"

struct master_state master;

static struct event *sig_ev[4];
static struct event *grace_ev;
static int pid_fd = -1;
static int ready_fd = -1;
static char *log_file;

static void
usage(void)
{
	msg_fatal("usage: master -C confdir [-f] [-r fd] [-v]");
}

/* ---- settings that only a restart can change ---- */

static int
read_settings(struct config *c, struct str *err)
{
	const char *owner = config_str(c, "mail_owner");
	const char *group = config_str(c, "setgid_group");
	struct passwd *pw;
	struct group *gr;

	master.root_mode = !config_bool(c, "unprivileged_mode");
	master.queue_dir = xstrdup(config_str(c, "queue_directory"));
	if (!master.root_mode) {
		master.owner_uid = geteuid();
		master.owner_gid = getegid();
		master.setgid_gid = getegid();
		return 0;
	}
	if (geteuid() != 0) {
		str_appendz(err,
		        "unprivileged_mode = no needs root: run as root, or set "
		        "unprivileged_mode = yes in main.cf");
		return -1;
	}
	pw = getpwnam(owner);
	if (pw == NULL || pw->pw_uid == 0) {
		str_printf(err, "mail_owner %s: %s; run \"tern setup\"", owner,
		        pw ? "must not be root" : "no such user");
		return -1;
	}
	gr = getgrnam(group);
	if (gr == NULL) {
		str_printf(err, "setgid_group %s: no such group; run \"tern setup\"", group);
		return -1;
	}
	master.owner_uid = pw->pw_uid;
	master.owner_gid = pw->pw_gid;
	master.setgid_gid = gr->gr_gid;
	return 0;
}

static int
open_log(struct config *c, struct str *err)
{
	const char *file = config_str(c, "maillog_file");

	msg_set_hostname(config_str(c, "myhostname"));
	if (log_file && strcmp(log_file, file) == 0)
		return 0;
	msg_close();
	free(log_file);
	log_file = xstrdup(file);
	msg_to_stderr(master.foreground);
	msg_stderr_plain(0);
	if (*file)
		return msg_open_file(file, err);
	msg_open_syslog();
	return 0;
}

static int
lock_pid_file(struct str *err)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char buf[32];
	int n;

	pid_fd = open(master.pid_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (pid_fd < 0) {
		str_printf(err, "%s: %s", master.pid_path, strerror(errno));
		return -1;
	}
	if (fcntl(pid_fd, F_SETLK, &fl) < 0) {
		if (errno == EAGAIN || errno == EACCES) {
			n = (int)pread(pid_fd, buf, sizeof(buf) - 1, 0);
			buf[n > 0 ? n : 0] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			str_printf(err, "the master is already running (pid %s, %s)",
			        *buf ? buf : "?", master.pid_path);
		} else {
			str_printf(err, "%s: lock: %s", master.pid_path, strerror(errno));
		}
		close(pid_fd);
		pid_fd = -1;
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(pid_fd, 0) < 0 || pwrite(pid_fd, buf, (size_t)n, 0) != n) {
		str_printf(err, "%s: %s", master.pid_path, strerror(errno));
		return -1;
	}
	return 0;
}

static void
remove_pid_file(void)
{
	if (pid_fd < 0)
		return;
	(void)unlink(master.pid_path);
	close(pid_fd);
	pid_fd = -1;
}

/*
 * Keep a copy of the validated main.cf for the children: they read this
 * copy, not the file, so a main.cf edited but not yet reloaded (or one
 * a reload refused) never reaches a process master starts.
 */
static int
snapshot_config(struct config *c, struct str *err)
{
	struct str text = STR_INIT;
	size_t done = 0;
	int fd = memfd_create("main.cf", MFD_CLOEXEC);

	if (fd < 0) {
		str_printf(err, "memfd_create: %s", strerror(errno));
		return -1;
	}
	config_dump(c, &text, 1);
	while (done < text.len) {
		ssize_t n = write(fd, text.data + done, text.len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			str_printf(err, "main.cf copy: %s", strerror(errno));
			close(fd);
			str_free(&text);
			return -1;
		}
		done += (size_t)n;
	}
	str_free(&text);
	if (master.config_fd >= 0)
		close(master.config_fd);
	master.config_fd = fd;
	return 0;
}

/* ---- listeners across a reload ---- */

/* Plan every service's sockets; a service that cannot be planned is
 * dropped with its reason in err. */
static void
plan_all(struct master_service **list, struct config *c, struct str *err)
{
	struct master_service **sp = list;

	while (*sp) {
		struct master_service *s = *sp;

		if (master_listen_plan(s, c, err) < 0) {
			str_appendc(err, '\n');
			*sp = s->next;
			master_service_free(s);
			continue;
		}
		sp = &s->next;
	}
}

/* Hand the sockets that did not change from the old services to the new. */
static void
take_over(struct master_service *list, struct master_service *old)
{
	for (struct master_service *s = list; s; s = s->next) {
		for (int i = 0; i < s->nlisteners; i++) {
			struct master_listener *l = s->listeners[i];

			for (struct master_service *o = old; o && l->fd < 0; o = o->next) {
				for (int k = 0; k < o->nlisteners; k++) {
					struct master_listener *ol = o->listeners[k];

					if (ol->fd >= 0 && strcmp(ol->key, l->key) == 0) {
						l->fd = ol->fd;
						ol->fd = -1;
						break;
					}
				}
			}
		}
	}
}

/* Bind what is not bound yet; a service that fails is dropped. */
static int
bind_all(struct master_service **list, struct str *err)
{
	struct master_service **sp = list;
	int failed = 0;

	while (*sp) {
		struct master_service *s = *sp;
		int rc = 0;

		for (int i = 0; i < s->nlisteners && rc >= 0; i++) {
			if (s->listeners[i]->fd >= 0)
				continue;
			rc = master_listen_open(s->listeners[i], err);
			if (rc == 1) {
				/* An address family this host does not have. */
				msg_info("%s: service %s: %s: skipped (%s)", s->where, s->name,
				        s->listeners[i]->address, strerror(errno));
				master_listener_free(s->listeners[i]);
				s->listeners[i] = s->listeners[--s->nlisteners];
				i--;
				rc = 0;
			}
		}
		if (rc < 0 || s->nlisteners == 0) {
			if (rc == 0)
				str_printf(err, "%s: service %s: no address to listen on", s->where,
				        s->name);
			str_appendc(err, '\n');
			failed++;
			*sp = s->next;
			master_service_free(s);
			continue;
		}
		sp = &s->next;
	}
	return failed ? -1 : 0;
}

static void
trim(struct str *s)
{
	while (s->len > 0 && s->data[s->len - 1] == '\n')
		str_truncate(s, s->len - 1);
}

static void
log_errors(const char *what, const struct str *err)
{
	const char *p = err->data, *nl;

	while (p && *p) {
		nl = strchr(p, '\n');
		msg_error("%s: %.*s", what, nl ? (int)(nl - p) : (int)strlen(p), p);
		p = nl ? nl + 1 : NULL;
	}
}

int
master_reload(struct str *err)
{
	struct master_service *list = NULL, *old = master.services, *s, *next;
	struct config *c = NULL;
	struct str why = STR_INIT;

	if (master.stopping) {
		str_appendz(err, "master is stopping");
		return -1;
	}
	if (master_conf_load(master.confdir, &c, &list, err) < 0) {
		log_errors("reload refused", err);
		return -1;
	}
	if (strcmp(config_str(c, "queue_directory"), master.queue_dir) != 0 ||
	        config_bool(c, "unprivileged_mode") == master.root_mode) {
		str_appendz(err,
		        "queue_directory or unprivileged_mode changed: "
		        "stop and start instead of reloading");
		log_errors("reload refused", err);
		while (list) {
			next = list->next;
			master_service_free(list);
			list = next;
		}
		config_free(c);
		return -1;
	}
	if (snapshot_config(c, err) < 0) {
		log_errors("reload refused", err);
		while (list) {
			next = list->next;
			master_service_free(list);
			list = next;
		}
		config_free(c);
		return -1;
	}
	plan_all(&list, c, &why);
	take_over(list, old);
	for (s = old; s; s = next) {
		next = s->next;
		master_service_halt(s);
		master_retire(s);
		master_service_free(s);
	}
	master.services = NULL;
	(void)bind_all(&list, &why);
	config_free(master.cfg);
	master.cfg = cfg = c;
	if (open_log(c, err) < 0)
		msg_warn("%s", str_cstr(err));
	str_reset(err);
	master.services = list;
	for (s = list; s; s = s->next)
		master_service_start(s);
	trim(&why);
	if (why.len > 0) {
		log_errors("reload", &why);
		str_printf(err, "reloaded, except: %s", str_cstr(&why));
		str_free(&why);
		return -1;
	}
	msg_info("reload -- configuration %s", master.confdir);
	str_free(&why);
	return 0;
}

/* ---- stop ---- */

static void
finish(void)
{
	event_base_loopexit(master.base, NULL);
}

static void
on_grace_end(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = {.tv_sec = MASTER_STOP_EXTRA_MS / 1000,
	        .tv_usec = (MASTER_STOP_EXTRA_MS % 1000) * 1000};

	(void)fd;
	(void)what;
	if (arg) {
		/* Second time: whatever is left did not die of SIGKILL in time. */
		msg_warn("%d processes did not exit; leaving", master_proc_count());
		finish();
		return;
	}
	msg_warn("stop: grace period over: killing %d process%s", master_proc_count(),
	        master_proc_count() == 1 ? "" : "es");
	master_signal_all(SIGKILL);
	event_free(grace_ev);
	grace_ev = evtimer_new(master.base, on_grace_end, &master);
	evtimer_add(grace_ev, &tv);
}

void
master_stop(const char *why)
{
	struct timeval tv = {.tv_sec = (time_t)config_time(master.cfg, "master_stop_grace")};

	if (master.stopping)
		return;
	master.stopping = 1;
	msg_info("stopping: %s", why);
	for (struct master_service *s = master.services; s; s = s->next) {
		master_service_halt(s);
		for (int i = 0; i < s->nlisteners; i++)
			master_listener_close(s->listeners[i]);
	}
	master_signal_all(SIGTERM);
	if (master.procs == NULL) {
		finish();
		return;
	}
	grace_ev = evtimer_new(master.base, on_grace_end, NULL);
	evtimer_add(grace_ev, &tv);
}

/* ---- signals ---- */

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct str err = STR_INIT;

	(void)what;
	(void)arg;
	switch (sig) {
	case SIGHUP:
		(void)master_reload(&err);
		break;
	case SIGCHLD:
		master_reap();
		if (master.stopping && master.procs == NULL)
			finish();
		break;
	default:
		master_stop(sig == SIGINT ? "interrupted" : "terminated");
		break;
	}
	str_free(&err);
}

static void
add_signals(void)
{
	static const int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGCHLD};

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sig_ev[i] = evsignal_new(master.base, sigs[i], on_signal, NULL);
		event_add(sig_ev[i], NULL);
	}
}

/* ---- start ---- */

static void
report_ready(const struct str *err)
{
	const char *text = err ? str_cstr((struct str *)err) : "ok";
	size_t len = strlen(text);

	if (ready_fd < 0)
		return;
	if (write(ready_fd, text, len) != (ssize_t)len || write(ready_fd, "\n", 1) != 1)
		msg_warn("start-up pipe: %m");
	close(ready_fd);
	ready_fd = -1;
}

static int
start(struct str *err)
{
	struct master_service *list = NULL;
	struct queue_owner owner;
	struct config *c = NULL;
	struct str path = STR_INIT;

	if (master_conf_load(master.confdir, &c, &list, err) < 0)
		return -1;
	master.cfg = cfg = c;
	master.services = list;
	if (open_log(c, err) < 0 || read_settings(c, err) < 0 || snapshot_config(c, err) < 0)
		return -1;
	owner.root_mode = master.root_mode;
	owner.owner_uid = master.owner_uid;
	owner.owner_gid = master.owner_gid;
	owner.setgid_gid = master.setgid_gid;
	if (queue_layout_create(master.queue_dir, config_str(c, "drop_directory"), &owner, err) < 0)
		return -1;
	str_printf(&path, "%s/pid/master.pid", master.queue_dir);
	master.pid_path = str_steal(&path);
	str_printf(&path, "%s/pid/master.sock", master.queue_dir);
	master.control_path = str_steal(&path);
	if (lock_pid_file(err) < 0 || master_spawn_init(err) < 0)
		return -1;
	plan_all(&master.services, c, err);
	if (err->len == 0)
		(void)bind_all(&master.services, err);
	trim(err);
	if (err->len > 0 || master_control_open(err) < 0)
		return -1;
	add_signals();
	for (struct master_service *s = master.services; s; s = s->next)
		master_service_start(s);
	return 0;
}

static void
cleanup(void)
{
	struct master_service *s, *next;

	master_control_close();
	for (s = master.services; s; s = next) {
		next = s->next;
		master_service_halt(s);
		master_service_free(s);
	}
	master.services = NULL;
	for (size_t i = 0; i < sizeof(sig_ev) / sizeof(sig_ev[0]); i++)
		if (sig_ev[i])
			event_free(sig_ev[i]);
	if (grace_ev)
		event_free(grace_ev);
	master_spawn_done();
	if (master.config_fd >= 0)
		close(master.config_fd);
	master.config_fd = -1;
	remove_pid_file();
}

int
main(int argc, char **argv)
{
	struct str err = STR_INIT;
	const char *why;
	long long v;
	int ch;

	msg_init("master");
	while ((ch = getopt(argc, argv, "C:fr:v")) != -1) {
		switch (ch) {
		case 'C':
			master.confdir = optarg;
			break;
		case 'f':
			master.foreground = 1;
			break;
		case 'r':
			if (parse_int(optarg, 0, 1024, &v, &why) < 0)
				msg_fatal("-r %s: %s", optarg, why);
			ready_fd = (int)v;
			if (fcntl(ready_fd, F_SETFD, FD_CLOEXEC) < 0)
				msg_fatal("-r %d: %m", ready_fd);
			break;
		case 'v':
			msg_verbose++;
			break;
		default:
			usage();
		}
	}
	if (master.confdir == NULL || optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);
	umask(022);
	master.started = time(NULL);
	master.status_pipe[0] = master.status_pipe[1] = -1;
	master.config_fd = -1;
	master.base = event_base_new();
	if (master.base == NULL)
		msg_fatal("event_base_new failed");
	if (start(&err) < 0) {
		trim(&err);
		report_ready(&err);
		log_errors("not started", &err);
		cleanup();
		str_free(&err);
		return 1;
	}
	msg_info("daemon started -- configuration %s, %s mode", master.confdir,
	        master.root_mode ? "root" : "unprivileged");
	report_ready(NULL);
	event_base_dispatch(master.base);
	cleanup();
	msg_info("terminated");
	event_base_free(master.base);
	config_free(master.cfg);
	str_free(&err);
	return 0;
}
