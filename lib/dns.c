/*
 * dns.c - the asynchronous resolver: libunbound's threaded asynchronous
 * mode driven by a libevent loop, with a timeout per query; see dns.h
 * and docs/dns.md.
 *
 * Trusts its configuration (it comes from main.cf or the command line)
 * but checks every server address and query name before libunbound sees
 * it; trusts nothing in answers, which dns_rr.c parses.  Called by the
 * daemons that look names up (smtp, smtpd) and by the dnsq test tool.
 *
 * Each query is a struct dns_query on the resolver's list.  It ends in
 * one of three ways: libunbound's answer arrives (through ub_fd() and
 * ub_process()), the query's timer fires, or the caller cancels it.  The
 * last two ub_cancel() it; a query libunbound cannot cancel stays on the
 * list, marked abandoned, until its answer arrives and is dropped, so a
 * late answer never meets freed memory or a callback twice.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <unbound.h>

#include "clock.h"
#include "dns.h"
#include "mem.h"
#include "msg.h"
#include "str.h"

#define DNS_PORT_MAX       65535
#define DNS_SERVER_TEXT    (INET6_ADDRSTRLEN + sizeof("@65535"))
#define DEFAULT_RESOLVCONF "/etc/resolv.conf"
#define DEFAULT_HOSTS      "/etc/hosts"
#define MS_PER_SEC         1000

enum query_state {
	QUERY_PENDING,   /* libunbound has it; the caller awaits the callback */
	QUERY_ABANDONED, /* timed out or cancelled; libunbound may still answer */
};

struct dns_query {
	struct dns_resolver *r;
	struct dns_query *prev, *next;
	enum query_state state;
	int async_id;
	int rrtype;
	char *name;
	dns_callback cb;
	void *arg;
	struct event *timer;
};

struct dns_resolver {
	struct ub_ctx *ctx;
	struct event_base *base;
	struct event *fd_event;
	int timeout_ms;
	struct dns_query *queries;
	int processing;   /* inside ub_process() */
	int free_pending; /* dns_resolver_free() called while processing */
};

static void
list_add(struct dns_resolver *r, struct dns_query *q)
{
	q->prev = NULL;
	q->next = r->queries;
	if (r->queries)
		r->queries->prev = q;
	r->queries = q;
}

static void
list_remove(struct dns_resolver *r, struct dns_query *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		r->queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
}

static void
query_free(struct dns_query *q)
{
	list_remove(q->r, q);
	if (q->timer)
		event_free(q->timer);
	free(q->name);
	free(q);
}

static struct dns_answer *
answer_new(const char *name, int rrtype)
{
	struct dns_answer *a = xcalloc(1, sizeof(*a));

	a->qname = xstrdup(name);
	a->rrtype = rrtype;
	return a;
}

static struct dns_answer *
answer_fail(const char *name, int rrtype, enum dns_status status, const char *why)
{
	struct dns_answer *a = answer_new(name, rrtype);

	a->status = status;
	a->why = xstrdup(why);
	return a;
}

/* A name without its final dot, for comparison and display. */
static char *
name_without_dot(const char *name)
{
	size_t n = strlen(name);

	if (n > 1 && name[n - 1] == '.')
		n--;
	return xstrndup(name, n);
}

static const char *
rcode_text(int rcode)
{
	switch (rcode) {
	case 1:
		return "server reports a format error (FORMERR)";
	case 2:
		return "server failure (SERVFAIL)";
	case 4:
		return "server does not implement the query (NOTIMP)";
	case 5:
		return "server refused the query (REFUSED)";
	default:
		return "server error";
	}
}

/* Turn libunbound's result into an answer; frees the result. */
static struct dns_answer *
answer_from_result(const char *name, int rrtype, int err, struct ub_result *res)
{
	struct dns_answer *a;
	struct str why = STR_INIT;

	if (err != 0 || res == NULL) {
		str_printf(&why, "resolver error: %s", ub_strerror(err));
		a = answer_fail(name, rrtype, DNS_TEMPFAIL, str_cstr(&why));
		str_free(&why);
		if (res)
			ub_resolve_free(res);
		return a;
	}
	a = answer_new(name, rrtype);
	a->rcode = res->rcode;
	a->secure = res->secure != 0;
	a->bogus = res->bogus != 0;
	a->ttl = res->ttl > 0 ? (uint32_t)res->ttl : 0;
	if (res->canonname) {
		char *canon = name_without_dot(res->canonname);
		char *asked = name_without_dot(name);

		if (strcasecmp(canon, asked) != 0)
			a->canonname = canon;
		else
			free(canon);
		free(asked);
	}
	if (res->bogus) {
		a->status = DNS_BOGUS;
		a->why = xstrdup(res->why_bogus ? res->why_bogus : "DNSSEC validation failed");
	} else if (res->rcode == 3 || res->nxdomain) {
		a->status = DNS_NXDOMAIN;
		a->why = xstrdup("no such domain (NXDOMAIN)");
	} else if (res->rcode != 0) {
		a->status = DNS_TEMPFAIL;
		a->why = xstrdup(rcode_text(res->rcode));
	} else if (!res->havedata) {
		a->status = DNS_NODATA;
		a->why = xstrdup("no records of this type");
	} else {
		(void)dns_answer_set_records(a, rrtype, res->data, res->len, a->ttl);
	}
	ub_resolve_free(res);
	return a;
}

/* libunbound's callback, called from ub_process() in the loop's thread. */
static void
query_done(void *arg, int err, struct ub_result *res)
{
	struct dns_query *q = arg;
	struct dns_answer *a;
	dns_callback cb = q->cb;
	void *cb_arg = q->arg;

	if (q->state == QUERY_ABANDONED) {
		if (res)
			ub_resolve_free(res);
		query_free(q);
		return;
	}
	a = answer_from_result(q->name, q->rrtype, err, res);
	query_free(q);
	cb(a, cb_arg);
}

/*
 * Take the query away from libunbound.  If libunbound no longer knows it
 * (its answer is already on the way), keep it, abandoned, for query_done
 * to drop.
 */
static void
query_abandon(struct dns_query *q)
{
	if (q->timer)
		event_del(q->timer);
	if (ub_cancel(q->r->ctx, q->async_id) == 0)
		query_free(q);
	else
		q->state = QUERY_ABANDONED;
}

static void
query_expire(struct dns_query *q)
{
	struct dns_answer *a = answer_fail(q->name, q->rrtype, DNS_TEMPFAIL, "timeout");
	dns_callback cb = q->cb;
	void *cb_arg = q->arg;

	query_abandon(q);
	cb(a, cb_arg);
}

static void
timer_fired(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	query_expire(arg);
}

static void
resolver_destroy(struct dns_resolver *r)
{
	if (r->fd_event)
		event_free(r->fd_event);
	/* Outstanding queries die with the context, without callbacks. */
	if (r->ctx)
		ub_ctx_delete(r->ctx);
	while (r->queries)
		query_free(r->queries);
	free(r);
}

/* Run ub_process(); a callback may have asked for the resolver's end. */
static int
resolver_process(struct dns_resolver *r)
{
	int rc;

	r->processing++;
	rc = ub_process(r->ctx);
	r->processing--;
	if (rc != 0)
		msg_warn("dns: ub_process: %s", ub_strerror(rc));
	if (r->free_pending && r->processing == 0) {
		resolver_destroy(r);
		return -1;
	}
	return 0;
}

static void
fd_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)resolver_process(arg);
}

/*
 * dns_check_name - a name fit to ask about: 1 to DNS_NAME_MAX characters
 * (a final dot allowed), labels of 1 to DNS_LABEL_MAX printable ASCII
 * characters other than space, '\\' and '"'; or "." alone.
 */
int
dns_check_name(const char *name, const char **why)
{
	size_t n = strlen(name), lab = 0;

	if (strcmp(name, ".") == 0)
		return 0;
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0) {
		*why = "empty domain name";
		return -1;
	}
	if (n > DNS_NAME_MAX) {
		*why = "domain name too long";
		return -1;
	}
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (i == n || c == '.') {
			if (lab == 0) {
				*why = "empty label in domain name";
				return -1;
			}
			lab = 0;
			continue;
		}
		if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '"') {
			*why = "bad character in domain name";
			return -1;
		}
		if (++lab > DNS_LABEL_MAX) {
			*why = "label in domain name too long";
			return -1;
		}
	}
	return 0;
}

/*
 * One entry of the servers list, "ip", "ip@port", "[ip]" or "[ip]:port",
 * into libunbound's "ip" or "ip@port".
 */
static int
parse_server(const char *item, size_t len, struct str *out, struct str *err)
{
	char text[DNS_SERVER_TEXT + 2];
	unsigned char addr[sizeof(struct in6_addr)];
	char *ip = text, *port = NULL, *p, *end;
	unsigned long v;

	if (len >= sizeof(text))
		goto bad;
	memcpy(text, item, len);
	text[len] = '\0';
	if (text[0] == '[') {
		ip = text + 1;
		if ((p = strchr(ip, ']')) == NULL)
			goto bad;
		*p++ = '\0';
		if (*p == ':')
			port = p + 1;
		else if (*p != '\0')
			goto bad;
	} else if ((p = strchr(text, '@')) != NULL) {
		*p = '\0';
		port = p + 1;
	}
	if (inet_pton(AF_INET, ip, addr) != 1 && inet_pton(AF_INET6, ip, addr) != 1)
		goto bad;
	str_reset(out);
	str_appendz(out, ip);
	if (port != NULL) {
		if (*port < '0' || *port > '9')
			goto bad;
		v = strtoul(port, &end, 10);
		if (*end != '\0' || v == 0 || v > DNS_PORT_MAX)
			goto bad;
		str_printf(out, "@%lu", v);
	}
	return 0;
bad:
	str_printf(err, "bad DNS server address \"%.*s\"", (int)len, item);
	return -1;
}

/*
 * dns_parse_servers - split a dns_servers list into libunbound's forms
 * ("ip" or "ip@port"), at most DNS_MAX_SERVERS of them.  *out is a
 * NULL-terminated array the caller frees, with each string.  Returns 0,
 * or -1 with a reason in err.
 */
int
dns_parse_servers(const char *list, char ***out, size_t *n, struct str *err)
{
	char **v = xcalloc(DNS_MAX_SERVERS + 1, sizeof(*v));
	size_t count = 0;
	const char *p = list;
	struct str one = STR_INIT;

	for (;;) {
		size_t len;

		p += strspn(p, ", \t\r\n");
		if (*p == '\0')
			break;
		len = strcspn(p, ", \t\r\n");
		if (count == DNS_MAX_SERVERS) {
			str_printf(err, "more than %d DNS servers", DNS_MAX_SERVERS);
			goto fail;
		}
		if (parse_server(p, len, &one, err) < 0)
			goto fail;
		v[count++] = str_steal(&one);
		p += len;
	}
	if (count == 0) {
		str_appendz(err, "empty DNS server list");
		goto fail;
	}
	str_free(&one);
	*out = v;
	*n = count;
	return 0;
fail:
	str_free(&one);
	for (size_t i = 0; i < count; i++)
		free(v[i]);
	free(v);
	return -1;
}

static int
ub_fail(struct str *err, const char *what, const char *arg, int rc)
{
	str_printf(err, "DNS resolver: %s%s%s: %s", what, arg ? " " : "", arg ? arg : "",
	        rc == UB_READFILE ? strerror(errno) : ub_strerror(rc));
	return -1;
}

/* Forward to the servers list, or to resolv.conf's nameservers. */
static int
configure_servers(struct ub_ctx *ctx, const struct dns_options *opt, struct str *err)
{
	const char *conf = opt->resolv_conf ? opt->resolv_conf : DEFAULT_RESOLVCONF;
	char **servers;
	size_t n;
	int rc = 0;

	if (opt->servers == NULL) {
		errno = 0;
		if ((rc = ub_ctx_resolvconf(ctx, conf)) != 0)
			return ub_fail(err, "cannot read", conf, rc);
		return 0;
	}
	if (dns_parse_servers(opt->servers, &servers, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++)
		if ((rc = ub_ctx_set_fwd(ctx, servers[i])) != 0)
			(void)ub_fail(err, "forwarder", servers[i], rc);
	for (size_t i = 0; i < n; i++)
		free(servers[i]);
	free(servers);
	return rc == 0 ? 0 : -1;
}

static int
configure(struct ub_ctx *ctx, const struct dns_options *opt, struct str *err)
{
	const char *hosts = opt->hosts;
	int rc;

	/* Threads, not processes: a daemon's resolver lives in its own pid. */
	if ((rc = ub_ctx_async(ctx, 1)) != 0)
		return ub_fail(err, "async mode", NULL, rc);
	/* Local forwarders (127.0.0.1, ::1) are normal for an MTA. */
	if ((rc = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no")) != 0)
		return ub_fail(err, "option do-not-query-localhost", NULL, rc);
	/*
	 * Reverse zones of private address ranges go to the servers like
	 * any other name: the site's resolver knows its own networks.
	 */
	if ((rc = ub_ctx_set_option(ctx, "unblock-lan-zones:", "yes")) != 0 ||
	        (rc = ub_ctx_set_option(ctx, "insecure-lan-zones:", "yes")) != 0)
		return ub_fail(err, "option unblock-lan-zones", NULL, rc);
	if (opt->trust_anchor == NULL || opt->trust_anchor[0] == '\0') {
		/* No anchor, nothing to validate: skip the validator. */
		if ((rc = ub_ctx_set_option(ctx, "module-config:", "iterator")) != 0)
			return ub_fail(err, "option module-config", NULL, rc);
	} else {
		FILE *fp = fopen(opt->trust_anchor, "r");

		if (fp == NULL) {
			str_printf(err, "DNS resolver: cannot read trust anchor %s: %s",
			        opt->trust_anchor, strerror(errno));
			return -1;
		}
		fclose(fp);
		/* No RFC 8145 signalling queries to the servers. */
		if ((rc = ub_ctx_set_option(ctx, "trust-anchor-signaling:", "no")) != 0)
			return ub_fail(err, "option trust-anchor-signaling", NULL, rc);
		if ((rc = ub_ctx_add_ta_file(ctx, opt->trust_anchor)) != 0)
			return ub_fail(err, "trust anchor", opt->trust_anchor, rc);
	}
	if (configure_servers(ctx, opt, err) < 0)
		return -1;
	if (hosts == NULL && opt->servers == NULL)
		hosts = DEFAULT_HOSTS;
	if (hosts != NULL && hosts[0] != '\0') {
		errno = 0;
		if ((rc = ub_ctx_hosts(ctx, hosts)) != 0)
			return ub_fail(err, "cannot read", hosts, rc);
	}
	/*
	 * Make libunbound apply its configuration now, reading the trust
	 * anchor file before any chroot and reporting errors here rather
	 * than at the first query.  Removing a zone that does not exist has
	 * no other effect; libunbound finalizes before it looks.
	 */
	if ((rc = ub_ctx_zone_remove(ctx, "tern-dns-init.invalid.")) != 0)
		return ub_fail(err, "configuration", opt->trust_anchor, rc);
	return 0;
}

/*
 * dns_resolver_new - a resolver on base (NULL for dns_query_sync() use
 * only).  Returns NULL with a reason in err on a bad configuration or an
 * unreadable file.
 */
struct dns_resolver *
dns_resolver_new(struct event_base *base, const struct dns_options *opt, struct str *err)
{
	struct dns_options none = {0};
	struct dns_resolver *r = xcalloc(1, sizeof(*r));

	if (opt == NULL)
		opt = &none;
	r->base = base;
	r->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : DNS_DEFAULT_TIMEOUT_MS;
	if ((r->ctx = ub_ctx_create()) == NULL) {
		str_appendz(err, "DNS resolver: cannot create a libunbound context");
		free(r);
		return NULL;
	}
	if (configure(r->ctx, opt, err) < 0) {
		resolver_destroy(r);
		return NULL;
	}
	if (base != NULL) {
		r->fd_event = event_new(base, ub_fd(r->ctx), EV_READ | EV_PERSIST, fd_readable, r);
		if (r->fd_event == NULL || event_add(r->fd_event, NULL) < 0) {
			str_appendz(err, "DNS resolver: cannot watch the libunbound descriptor");
			resolver_destroy(r);
			return NULL;
		}
	}
	return r;
}

/*
 * dns_resolver_free - stop everything; pending queries end without their
 * callbacks.  Safe from inside a callback.
 */
void
dns_resolver_free(struct dns_resolver *r)
{
	if (r == NULL)
		return;
	if (r->processing > 0) {
		struct dns_query *q, *next;

		for (q = r->queries; q; q = next) {
			next = q->next;
			if (q->state == QUERY_PENDING)
				query_abandon(q);
		}
		r->free_pending = 1;
		return;
	}
	resolver_destroy(r);
}

static struct dns_query *
query_start(struct dns_resolver *r, const char *name, int rrtype, dns_callback cb, void *arg,
        int with_timer, struct str *err)
{
	struct dns_query *q;
	const char *why;
	int rc;

	if (r->free_pending) {
		str_appendz(err, "DNS resolver is shutting down");
		return NULL;
	}
	if (dns_check_name(name, &why) < 0) {
		str_printf(err, "%s: \"%s\"", why, name);
		return NULL;
	}
	if (rrtype <= 0 || rrtype > DNS_PORT_MAX) {
		str_printf(err, "bad DNS record type %d", rrtype);
		return NULL;
	}
	q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->state = QUERY_PENDING;
	q->rrtype = rrtype;
	q->name = xstrdup(name);
	q->cb = cb;
	q->arg = arg;
	if (with_timer) {
		struct timeval tv = {
		        r->timeout_ms / MS_PER_SEC, (r->timeout_ms % MS_PER_SEC) * 1000};

		q->timer = evtimer_new(r->base, timer_fired, q);
		if (q->timer == NULL || evtimer_add(q->timer, &tv) < 0) {
			str_appendz(err, "DNS query: cannot set its timer");
			if (q->timer)
				event_free(q->timer);
			free(q->name);
			free(q);
			return NULL;
		}
	}
	list_add(r, q);
	rc = ub_resolve_async(r->ctx, q->name, rrtype, 1 /* IN */, q, query_done, &q->async_id);
	if (rc != 0) {
		str_printf(err, "DNS query %s: %s", name, ub_strerror(rc));
		query_free(q);
		return NULL;
	}
	return q;
}

/*
 * dns_query - look name up (type rrtype, class IN).  Returns a handle for
 * dns_query_cancel(), or NULL with a reason in err (a bad name, no event
 * loop, libunbound refused) and then cb is never called.
 */
struct dns_query *
dns_query(struct dns_resolver *r, const char *name, int rrtype, dns_callback cb, void *arg,
        struct str *err)
{
	if (r->base == NULL) {
		str_appendz(err, "DNS resolver has no event loop");
		return NULL;
	}
	return query_start(r, name, rrtype, cb, arg, 1, err);
}

/* dns_query_cancel - forget a pending query; its callback is not called. */
void
dns_query_cancel(struct dns_query *q)
{
	if (q != NULL && q->state == QUERY_PENDING)
		query_abandon(q);
}

struct sync_wait {
	int done;
	struct dns_answer *answer;
};

static void
sync_done(struct dns_answer *a, void *arg)
{
	struct sync_wait *w = arg;

	w->done = 1;
	w->answer = a;
}

/*
 * dns_query_sync - look name up and wait for the answer, at most the
 * resolver's timeout.  Returns 0 with *a set (the caller frees it), or -1
 * with a reason in err as for dns_query().
 */
int
dns_query_sync(struct dns_resolver *r, const char *name, int rrtype, struct dns_answer **a,
        struct str *err)
{
	struct sync_wait w = {0, NULL};
	struct dns_query *q;
	long long deadline = clock_ms() + r->timeout_ms;

	*a = NULL;
	if ((q = query_start(r, name, rrtype, sync_done, &w, 0, err)) == NULL)
		return -1;
	while (!w.done) {
		struct pollfd pfd = {ub_fd(r->ctx), POLLIN, 0};
		long long left = deadline - clock_ms();

		if (left <= 0) {
			query_expire(q);
			break;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
			str_printf(err, "DNS query %s: poll: %s", name, strerror(errno));
			query_abandon(q);
			return -1;
		}
		if (pfd.revents != 0 && resolver_process(r) < 0) {
			/* A callback freed the resolver; q went with it. */
			if (!w.done)
				w.answer = answer_fail(
				        name, rrtype, DNS_TEMPFAIL, "resolver shut down");
			break;
		}
	}
	*a = w.answer;
	return 0;
}
