/*
 * master_listen.c - master's listening sockets.
 *
 * An inet service listens on "host:port", "[v6]:port", or, for a bare
 * port, on every inet_interfaces address ("all" is the IPv4 and IPv6
 * wildcards that inet_protocols allows; "loopback-only" is 127.0.0.1 and
 * ::1).  A UNIX service listens on $queue_directory/private/NAME (mode
 * 0600) or public/NAME (0622), owned by mail_owner in root mode.  Each
 * socket is known by a key ("inet 127.0.0.1:25", "unix /path"), so a
 * reload keeps the sockets whose key did not change.  Listeners are
 * non-blocking: master only watches them; children accept.
 * Trusts master.cf (already validated); called by master.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "master.h"
#include "mem.h"
#include "msg.h"

static void
add_listener(struct master_service *s, const char *key, const char *address, const char *path,
        const struct sockaddr *sa, socklen_t salen, int optional)
{
	struct master_listener *l;

	for (int i = 0; i < s->nlisteners; i++)
		if (strcmp(s->listeners[i]->key, key) == 0)
			return; /* "localhost" may name one address twice */
	l = xcalloc(1, sizeof(*l));
	l->key = xstrdup(key);
	l->address = xstrdup(address);
	l->path = path ? xstrdup(path) : NULL;
	memcpy(&l->sa, sa, salen);
	l->salen = salen;
	l->fd = -1;
	l->optional = optional;
	l->serv = s;
	s->listeners =
	        xreallocarray(s->listeners, (size_t)s->nlisteners + 1, sizeof(*s->listeners));
	s->listeners[s->nlisteners++] = l;
}

static int
plan_unix(struct master_service *s, struct str *err)
{
	struct sockaddr_un sun;
	struct str path = STR_INIT, key = STR_INIT, address = STR_INIT;
	const char *dir = s->private ? "private" : "public";

	str_printf(&path, "%s/%s/%s", master.queue_dir, dir, s->name);
	if (path.len >= sizeof(sun.sun_path)) {
		str_printf(err, "%s: socket path %s is too long", s->where, str_cstr(&path));
		str_free(&path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path.data, path.len + 1);
	str_printf(&key, "unix %s", str_cstr(&path));
	str_printf(&address, "%s/%s", dir, s->name);
	add_listener(s, str_cstr(&key), str_cstr(&address), str_cstr(&path),
	        (struct sockaddr *)&sun, sizeof(sun), 0);
	str_free(&path);
	str_free(&key);
	str_free(&address);
	return 0;
}

static void
add_inet(struct master_service *s, const struct sockaddr *sa, socklen_t salen, int optional)
{
	char host[INET6_ADDRSTRLEN], serv[16];
	struct str key = STR_INIT, address = STR_INIT;

	if (getnameinfo(sa, salen, host, sizeof(host), serv, sizeof(serv),
	            NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	if (sa->sa_family == AF_INET6)
		str_printf(&address, "[%s]:%s", host, serv);
	else
		str_printf(&address, "%s:%s", host, serv);
	str_printf(&key, "inet %s", str_cstr(&address));
	add_listener(s, str_cstr(&key), str_cstr(&address), NULL, sa, salen, optional);
	str_free(&key);
	str_free(&address);
}

/* Resolve host for the families inet_protocols allows; optional: both
 * families come from "all", and one the kernel lacks is skipped. */
static int
resolve(struct master_service *s, const char *host, const char *port, int want4, int want6,
        int optional, struct str *err)
{
	struct addrinfo hints, *res, *ai;
	int rc, found = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	hints.ai_family = want4 && want6 ? AF_UNSPEC : want4 ? AF_INET : AF_INET6;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		str_printf(err, "%s: %s: %s", s->where, host ? host : "*", gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		if ((ai->ai_family == AF_INET && want4) || (ai->ai_family == AF_INET6 && want6)) {
			add_inet(s, ai->ai_addr, ai->ai_addrlen, optional);
			found++;
		}
	}
	freeaddrinfo(res);
	if (found == 0) {
		str_printf(err, "%s: %s: no address of an enabled protocol (inet_protocols)",
		        s->where, host ? host : "*");
		return -1;
	}
	return 0;
}

static int
plan_inet(struct master_service *s, struct config *c, struct str *err)
{
	char *const *protocols = config_list(c, "inet_protocols");
	char *const *interfaces = config_list(c, "inet_interfaces");
	char *host = NULL, *port = NULL;
	struct str why = STR_INIT;
	int want4 = 0, want6 = 0, all = 0, rc = 0;

	for (int i = 0; protocols[i]; i++) {
		if (strcmp(protocols[i], "all") == 0)
			want4 = want6 = all = 1;
		else if (strcmp(protocols[i], "ipv4") == 0)
			want4 = 1;
		else if (strcmp(protocols[i], "ipv6") == 0)
			want6 = 1;
	}
	if (!want4 && !want6)
		want4 = want6 = all = 1;
	if (mastercf_parse_inet(s->name, &host, &port, &why) < 0) {
		str_printf(err, "%s: %s", s->where, str_cstr(&why));
		str_free(&why);
		return -1;
	}
	if (host) {
		rc = resolve(s, host, port, want4, want6, 0, err);
	} else if (interfaces[0] == NULL || strcmp(interfaces[0], "all") == 0) {
		if (want4)
			rc = resolve(s, "0.0.0.0", port, 1, 0, all, err);
		if (rc == 0 && want6)
			rc = resolve(s, "::", port, 0, 1, all, err);
	} else {
		for (int i = 0; interfaces[i] && rc == 0; i++) {
			if (strcmp(interfaces[i], "loopback-only") == 0) {
				if (want4)
					rc = resolve(s, "127.0.0.1", port, 1, 0, all, err);
				if (rc == 0 && want6)
					rc = resolve(s, "::1", port, 0, 1, all, err);
			} else {
				rc = resolve(s, interfaces[i], port, want4, want6, 0, err);
			}
		}
	}
	free(host);
	free(port);
	str_free(&why);
	return rc;
}

int
master_listen_plan(struct master_service *s, struct config *c, struct str *err)
{
	if (s->type == SERVICE_UNIX)
		return plan_unix(s, err);
	return plan_inet(s, c, err);
}

static int
open_fail(struct master_listener *l, struct str *err)
{
	str_printf(err, "%s: %s", l->address, strerror(errno));
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	return -1;
}

/* A stale socket file of an earlier master: remove it; refuse others. */
static int
clear_path(struct master_listener *l, struct str *err)
{
	struct stat st;

	if (lstat(l->path, &st) < 0)
		return errno == ENOENT ? 0 : open_fail(l, err);
	if (!S_ISSOCK(st.st_mode)) {
		str_printf(err, "%s: %s exists and is not a socket", l->address, l->path);
		return -1;
	}
	if (unlink(l->path) < 0)
		return open_fail(l, err);
	return 0;
}

int
master_listen_open(struct master_listener *l, struct str *err)
{
	int on = 1, family = l->sa.ss_family;

	if (family == AF_UNIX && clear_path(l, err) < 0)
		return -1;
	l->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0 && l->optional && errno == EAFNOSUPPORT)
		return 1;
	if (l->fd < 0)
		return open_fail(l, err);
	if (family != AF_UNIX && setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0)
		return open_fail(l, err);
	if (family == AF_INET6 && setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0)
		return open_fail(l, err);
	if (bind(l->fd, (struct sockaddr *)&l->sa, l->salen) < 0) {
		if (l->optional && errno == EADDRNOTAVAIL) {
			close(l->fd);
			l->fd = -1;
			return 1;
		}
		return open_fail(l, err);
	}
	if (family == AF_UNIX) {
		mode_t mode = l->serv->private ? 0600 : 0622;

		if (chmod(l->path, mode) < 0)
			return open_fail(l, err);
		if (master.root_mode &&
		        chown(l->path, master.owner_uid,
		                l->serv->private ? master.owner_gid : master.setgid_gid) < 0)
			return open_fail(l, err);
	}
	if (listen(l->fd, MASTER_LISTEN_BACKLOG) < 0)
		return open_fail(l, err);
	return 0;
}

void
master_listener_close(struct master_listener *l)
{
	if (l->ev) {
		event_free(l->ev);
		l->ev = NULL;
	}
	if (l->fd >= 0) {
		close(l->fd);
		if (l->path)
			(void)unlink(l->path);
	}
	l->fd = -1;
}

void
master_listener_free(struct master_listener *l)
{
	master_listener_close(l);
	free(l->key);
	free(l->address);
	free(l->path);
	free(l);
}
