/*
 * testsvc.c - a small service on lib/daemon for the system tests.
 *
 * Service arguments (after "--" in master's command line, that is after
 * the command in master.cf):
 *
 *	-m single|event	the service model (default single)
 *	-p NAME		report parameter NAME in the greeting (repeatable)
 *	-T SPEC		open table SPEC before the jail and watch it
 *
 * On each connection it writes one greeting line
 *
 *	hello pid=N uid=N gid=N root=PATH service=NAME model=M NAME=VALUE...
 *
 * then reads lines: "crash" aborts the process, "sleep N" waits N
 * seconds and answers "slept N", "get KEY" looks KEY up in the first
 * table ("value V" or "notfound"), "quit" closes; any other line is
 * echoed back.  A wakeup is logged as "testsvc: wakeup received".
 * Trusts its peers: it is a test fixture, never installed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "daemon.h"
#include "mem.h"
#include "msg.h"
#include "table.h"

#define TESTSVC_PARAM_MAX 16
#define TESTSVC_LINE_MAX  1024

#define TESTSVC_TABLE_MAX 8

static const char *params[TESTSVC_PARAM_MAX];
static struct table *opened[TESTSVC_TABLE_MAX];
static int nopened;
static int nparams;
static struct table *table;
static int event_model;

struct session {
	struct bufferevent *bev;
	struct event *timer;
	long long sleep_secs;
	struct session *next, *prev;
};

static struct session *sessions;

static void
greeting(struct str *out)
{
	char root[4096];
	ssize_t n = readlink("/proc/self/root", root, sizeof(root) - 1);

	if (n < 0)
		snprintf(root, sizeof(root), "?");
	else
		root[n] = '\0';
	str_printf(out, "hello pid=%ld uid=%ld gid=%ld root=%s service=%s model=%s", (long)getpid(),
	        (long)getuid(), (long)getgid(), root, daemon_service(),
	        event_model ? "event" : "single");
	for (int i = 0; i < nparams; i++)
		str_printf(out, " %s=%s", params[i], config_str(cfg, params[i]));
	str_appendc(out, '\n');
}

/* Answer one line; returns 1 to keep going, 0 to close. */
static int
answer(const char *line, struct str *out, long long *sleep_secs)
{
	*sleep_secs = 0;
	if (strcmp(line, "crash") == 0)
		abort();
	if (strcmp(line, "quit") == 0)
		return 0;
	if (strncmp(line, "sleep ", 6) == 0) {
		*sleep_secs = atoll(line + 6);
		return 1;
	}
	if (strncmp(line, "get ", 4) == 0) {
		struct str value = STR_INIT;

		if (table && table_lookup(table, line + 4, &value, NULL) == 1)
			str_printf(out, "value %s\n", str_cstr(&value));
		else
			str_appendz(out, "notfound\n");
		str_free(&value);
		return 1;
	}
	str_printf(out, "%s\n", line);
	return 1;
}

/* ---- single model ---- */

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
serve(int fd)
{
	struct str out = STR_INIT, line = STR_INIT;
	char c;
	long long secs;
	int keep = 1;

	greeting(&out);
	if (write_all(fd, out.data, out.len) < 0)
		keep = 0;
	while (keep) {
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (c != '\n') {
			if (line.len < TESTSVC_LINE_MAX && c != '\r')
				str_appendc(&line, c);
			continue;
		}
		str_reset(&out);
		keep = answer(str_cstr(&line), &out, &secs);
		str_reset(&line);
		if (secs > 0) {
			sleep((unsigned)secs);
			str_printf(&out, "slept %lld\n", secs);
		}
		if (out.len && write_all(fd, out.data, out.len) < 0)
			break;
	}
	str_free(&out);
	str_free(&line);
}

/* ---- event model ---- */

static void
session_free(struct session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (s->timer)
		event_free(s->timer);
	bufferevent_free(s->bev);
	free(s);
	daemon_session_end();
}

static void on_read(struct bufferevent *bev, void *arg);

static void
on_slept(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;
	evbuffer_add_printf(bufferevent_get_output(s->bev), "slept %lld\n", s->sleep_secs);
	s->sleep_secs = 0;
	bufferevent_enable(s->bev, EV_READ);
	on_read(s->bev, s);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct str out = STR_INIT;
	char *line;
	size_t len;

	while (s->sleep_secs == 0 && (line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF))) {
		long long secs;
		int keep = answer(line, &out, &secs);

		free(line);
		evbuffer_add(bufferevent_get_output(bev), out.data, out.len);
		str_reset(&out);
		if (!keep) {
			str_free(&out);
			session_free(s);
			return;
		}
		if (secs > 0) {
			struct timeval tv = {.tv_sec = (time_t)secs};

			s->sleep_secs = secs;
			bufferevent_disable(bev, EV_READ);
			if (s->timer == NULL)
				s->timer = evtimer_new(daemon_event_base(), on_slept, s);
			evtimer_add(s->timer, &tv);
		}
	}
	str_free(&out);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		session_free(arg);
}

static void
accept_session(int fd)
{
	struct session *s = xcalloc(1, sizeof(*s));
	struct str out = STR_INIT;

	s->bev = bufferevent_socket_new(daemon_event_base(), fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->bev, on_read, NULL, on_event, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	greeting(&out);
	evbuffer_add(bufferevent_get_output(s->bev), out.data, out.len);
	str_free(&out);
	s->next = sessions;
	if (sessions)
		sessions->prev = s;
	sessions = s;
}

static void
on_stop(const char *reason)
{
	msg_info("testsvc: stopping (%s), %s", reason, sessions ? "sessions open" : "no sessions");
}

static void
on_expire(void)
{
	while (sessions)
		session_free(sessions);
}

/* ---- both ---- */

static void
on_wakeup(void)
{
	msg_info("testsvc: wakeup received");
}

static void
pre_jail(int argc, char **argv)
{
	struct str err = STR_INIT;
	int ch;

	optind = 1;
	while ((ch = getopt(argc, argv, "m:p:T:")) != -1) {
		switch (ch) {
		case 'm':
			if (strcmp(optarg, "event") != 0 && strcmp(optarg, "single") != 0)
				msg_fatal("-m %s: expected single or event", optarg);
			break;
		case 'p':
			if (nparams >= TESTSVC_PARAM_MAX)
				msg_fatal("too many -p options");
			params[nparams++] = optarg;
			break;
		case 'T': {
			struct table *t = table_open(optarg, TABLE_READ, &err);

			if (t == NULL)
				msg_fatal("%s", str_cstr(&err));
			if (nopened >= TESTSVC_TABLE_MAX)
				msg_fatal("too many -T options");
			opened[nopened++] = t;
			if (table == NULL)
				table = t;
			daemon_watch_table(t);
			break;
		}
		default:
			msg_fatal("usage: testsvc [-m single|event] [-p param]... [-T table]...");
		}
	}
	str_free(&err);
}

int
main(int argc, char **argv)
{
	struct daemon_ops ops = {
	        .model = DAEMON_SINGLE,
	        .pre_jail = pre_jail,
	        .serve = serve,
	        .accept = accept_session,
	        .wakeup = on_wakeup,
	        .stop = on_stop,
	        .expire = on_expire,
	};
	int status;

	/* The model must be known before daemon_main: look for "-m event"
	 * among the service arguments, after "--". */
	for (int i = 1, args = 0; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			args = 1;
		if (args && strcmp(argv[i], "-m") == 0 && strcmp(argv[i + 1], "event") == 0) {
			ops.model = DAEMON_EVENT;
			event_model = 1;
		}
	}
	status = daemon_main(argc, argv, &ops);
	while (nopened > 0)
		table_close(opened[--nopened]);
	return status;
}
