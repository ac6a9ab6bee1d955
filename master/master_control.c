/*
 * master_control.c - the control socket of the tern command.
 *
 * $queue_directory/pid/master.sock, mode 0600, accepts connections from
 * root and from master's own user only (SO_PEERCRED).  One request per
 * connection, as an attribute frame (docs/master.md):
 *
 *	request=status	reply status=ok, master facts, then one group of
 *			proc_* attributes per process and listener_* per
 *			listening socket
 *	request=reload	re-read the configuration; status=ok, or
 *			status=fail with reason (the errors, one per line)
 *	request=stop	status=ok, then master stops
 *
 * Anything else gets status=fail reason="unknown request".  A request is
 * read without blocking master, bounded by MASTER_CONTROL_FRAME_MAX and
 * MASTER_CONTROL_TIMEOUT; replies are small and sent with a deadline.
 * Called by master.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "attr.h"
#include "config.h"
#include "master.h"
#include "mem.h"
#include "msg.h"

struct control_conn {
	int fd;
	struct event *ev;
	struct str in;
};

static int control_fd = -1;
static struct event *control_ev;

static void
conn_free(struct control_conn *c)
{
	event_free(c->ev);
	close(c->fd);
	str_free(&c->in);
	free(c);
}

static void
put_status(struct attr_list *r)
{
	attr_put_str(r, "status", "ok");
	attr_put_int(r, "pid", (long long)getpid());
	attr_put_int(r, "started", (long long)master.started);
	attr_put_str(r, "config_directory", master.confdir);
	attr_put_str(r, "queue_directory", master.queue_dir);
	attr_put_str(r, "mode", master.root_mode ? "root" : "unprivileged");
	attr_put_str(r, "state", master.stopping ? "stopping" : "running");
	for (struct master_proc *p = master.procs; p; p = p->next) {
		attr_put_int(r, "proc_pid", (long long)p->pid);
		attr_put_str(r, "proc_service", p->service);
		attr_put_str(r, "proc_type", p->type);
		attr_put_str(r, "proc_state", master_proc_state_name(p));
		attr_put_int(r, "proc_started", (long long)p->started);
		attr_put_int(r, "proc_served", (long long)p->served);
	}
	for (struct master_service *s = master.services; s; s = s->next) {
		for (int i = 0; i < s->nlisteners; i++) {
			const char *state = s->throttle_until ? "throttled" : "listening";

			attr_put_str(r, "listener_service", s->name);
			attr_put_str(r, "listener_type", service_type_name(s->type));
			attr_put_str(r, "listener_address", s->listeners[i]->address);
			attr_put_str(r, "listener_state", state);
			attr_put_int(r, "listener_processes", s->total);
		}
	}
}

static void
handle(struct control_conn *c, const struct attr_list *req)
{
	const char *verb = attr_get_str(req, "request");
	struct attr_list reply;
	struct str err = STR_INIT;
	int stop = 0;

	attr_list_init(&reply);
	if (verb && strcmp(verb, "status") == 0) {
		put_status(&reply);
	} else if (verb && strcmp(verb, "reload") == 0) {
		if (master_reload(&err) == 0) {
			attr_put_str(&reply, "status", "ok");
		} else {
			attr_put_str(&reply, "status", "fail");
			attr_put_str(&reply, "reason", str_cstr(&err));
		}
	} else if (verb && strcmp(verb, "stop") == 0) {
		attr_put_str(&reply, "status", "ok");
		stop = 1;
	} else {
		attr_put_str(&reply, "status", "fail");
		attr_put_str(&reply, "reason", "unknown request");
	}
	str_reset(&err);
	if (attr_send(c->fd, &reply, MASTER_CONTROL_TIMEOUT, &err) < 0)
		msg_warn("control: reply: %s", str_cstr(&err));
	attr_list_free(&reply);
	str_free(&err);
	if (stop)
		master_stop("stop requested");
}

static void
on_conn(evutil_socket_t fd, short what, void *arg)
{
	struct control_conn *c = arg;
	struct attr_list req;
	char buf[4096];
	const char *why = NULL;
	size_t used;
	ssize_t n;
	int rc;

	if (what & EV_TIMEOUT) {
		msg_warn("control: request timed out");
		conn_free(c);
		return;
	}
	n = recv((int)fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0 || c->in.len > 0)
			msg_warn("control: %s",
			        n < 0 ? strerror(errno) : "end of file in a request");
		conn_free(c);
		return;
	}
	str_append(&c->in, buf, (size_t)n);
	attr_list_init(&req);
	rc = attr_decode(c->in.data, c->in.len, MASTER_CONTROL_FRAME_MAX, &req, &used, &why);
	if (rc < 0)
		msg_warn("control: %s", why);
	else if (rc == 1)
		handle(c, &req);
	attr_list_free(&req);
	if (rc != 0)
		conn_free(c);
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct control_conn *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct timeval tv = {.tv_sec = MASTER_CONTROL_TIMEOUT / 1000};
	int fd;

	(void)what;
	(void)arg;
	fd = accept4((int)lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			msg_warn("control: accept: %m");
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	        (cred.uid != 0 && cred.uid != geteuid())) {
		msg_warn("control: connection from uid %ld refused",
		        len == sizeof(cred) ? (long)cred.uid : -1L);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->ev = event_new(master.base, fd, EV_READ | EV_PERSIST, on_conn, c);
	event_add(c->ev, &tv);
}

int
master_control_open(struct str *err)
{
	struct sockaddr_un sun;
	size_t len = strlen(master.control_path);
	struct stat st;

	if (len >= sizeof(sun.sun_path)) {
		str_printf(err, "%s: path too long for a socket", master.control_path);
		return -1;
	}
	/* We hold the pid file lock: a socket left here is stale. */
	if (lstat(master.control_path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(master.control_path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, master.control_path, len + 1);
	control_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (control_fd < 0 || bind(control_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	        chmod(master.control_path, 0600) < 0 || listen(control_fd, 16) < 0) {
		str_printf(err, "%s: %s", master.control_path, strerror(errno));
		if (control_fd >= 0)
			close(control_fd);
		control_fd = -1;
		return -1;
	}
	control_ev = event_new(master.base, control_fd, EV_READ | EV_PERSIST, on_accept, NULL);
	event_add(control_ev, NULL);
	return 0;
}

void
master_control_close(void)
{
	if (control_ev)
		event_free(control_ev);
	control_ev = NULL;
	if (control_fd >= 0) {
		close(control_fd);
		(void)unlink(master.control_path);
	}
	control_fd = -1;
}
