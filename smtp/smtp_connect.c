/*
 * smtp_connect.c - where a next hop's mail goes: the next hop parsed,
 * MX records in preference order (equal preferences shuffled), their
 * A/AAAA records, our own MX and worse ones dropped, and the TCP
 * connection, from smtp_bind_address(6) when set.
 *
 * Next hops (from trivial-rewrite, relayhost, smtp_fallback_relay):
 *	domain, domain:port	MX lookup (none: the domain's own A/AAAA,
 *				RFC 5321 5.1), then A/AAAA of each MX host
 *	[host], [host]:port	A/AAAA of host, or the address itself; no MX
 * The port defaults to smtp_tcp_port.
 *
 * Outcomes, for the recipients (smtp_fail):
 *	NXDOMAIN of the domain			5.1.2 bounce
 *	null MX (RFC 7505)			5.1.10 bounce
 *	SERVFAIL, timeout, bad answer		4.4.3 defer
 *	no address for any host			5.4.4 bounce (4.4.3 if a lookup
 *						failed temporarily)
 *	only ourselves left			5.4.6 bounce (mail loops back)
 *
 * Our own MX: a host named myhostname, or with an address we listen on
 * (inet_interfaces, or the host of an inet service in master.cf), found
 * at preference P drops every record of preference P and worse.
 *
 * DNS uses lib/dns.c on a private event loop: the resolver is made in
 * pre_jail (smtp_dns_init), the lookups of one next hop run in parallel.
 * Trusts the configuration; DNS answers are checked by lib/dns_rr.c.
 * Called by smtp_deliver.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "dns.h"
#include "mastercf.h"
#include "mem.h"
#include "msg.h"
#include "parse.h"
#include "smtp.h"

#define SMTP_SELF_MAX 256 /* addresses of this host remembered */

struct self_addr {
	int family;
	unsigned char addr[16];
};

static struct event_base *dns_base;
static struct dns_resolver *resolver;
static struct self_addr self[SMTP_SELF_MAX];
static size_t nself;

static void
self_add(int family, const void *addr)
{
	size_t len = family == AF_INET ? 4 : 16;

	if (nself >= SMTP_SELF_MAX || smtp_addr_is_self(family, addr))
		return;
	self[nself].family = family;
	memset(self[nself].addr, 0, sizeof(self[nself].addr));
	memcpy(self[nself].addr, addr, len);
	nself++;
}

int
smtp_addr_is_self(int family, const void *addr)
{
	size_t len = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < nself; i++)
		if (self[i].family == family && memcmp(self[i].addr, addr, len) == 0)
			return 1;
	return 0;
}

/* Add an address in text, or the A/AAAA records of a host name. */
static void
self_add_text(const char *text)
{
	struct in_addr v4;
	struct in6_addr v6;
	struct dns_answer *a = NULL;
	struct str err = STR_INIT;
	static const int types[] = {DNS_T_A, DNS_T_AAAA};

	if (inet_pton(AF_INET, text, &v4) == 1) {
		self_add(AF_INET, &v4);
		return;
	}
	if (inet_pton(AF_INET6, text, &v6) == 1) {
		self_add(AF_INET6, &v6);
		return;
	}
	for (size_t t = 0; t < 2; t++) {
		if (dns_query_sync(resolver, text, types[t], &a, &err) < 0) {
			msg_warn("cannot look up our own address %s: %s", text, str_cstr(&err));
			str_reset(&err);
			continue;
		}
		for (size_t i = 0; a->status == DNS_OK && i < a->n; i++) {
			if (a->rr[i].type == DNS_T_A)
				self_add(AF_INET, &a->rr[i].u.a);
			else if (a->rr[i].type == DNS_T_AAAA)
				self_add(AF_INET6, &a->rr[i].u.aaaa);
		}
		dns_answer_free(a);
		a = NULL;
	}
	str_free(&err);
}

static void
self_add_interfaces(void)
{
	struct ifaddrs *ifa, *p;

	if (getifaddrs(&ifa) < 0) {
		msg_warn("getifaddrs: %m");
		return;
	}
	for (p = ifa; p; p = p->ifa_next) {
		if (p->ifa_addr == NULL)
			continue;
		if (p->ifa_addr->sa_family == AF_INET)
			self_add(AF_INET, &((struct sockaddr_in *)(void *)p->ifa_addr)->sin_addr);
		else if (p->ifa_addr->sa_family == AF_INET6)
			self_add(
			        AF_INET6, &((struct sockaddr_in6 *)(void *)p->ifa_addr)->sin6_addr);
	}
	freeifaddrs(ifa);
}

/* The addresses we listen on: inet_interfaces and master.cf's inet hosts. */
static void
self_init(struct config *c)
{
	char *const *ifs = config_list(c, "inet_interfaces");
	struct str path = STR_INIT, errors = STR_INIT, warnings = STR_INIT;
	struct mastercf *m;
	int nerr = 0;

	for (size_t i = 0; ifs[i]; i++) {
		if (strcmp(ifs[i], "all") == 0) {
			self_add_interfaces();
		} else if (strcmp(ifs[i], "loopback-only") == 0) {
			self_add_text("127.0.0.1");
			self_add_text("::1");
		} else {
			self_add_text(ifs[i]);
		}
	}
	str_printf(&path, "%s/master.cf", config_str(c, "config_directory"));
	m = mastercf_load(str_cstr(&path), c, &errors, &warnings, &nerr);
	for (int i = 0; m && i < m->count; i++)
		if (m->services[i].type == SERVICE_INET && m->services[i].host != NULL)
			self_add_text(m->services[i].host);
	mastercf_free(m);
	str_free(&path);
	str_free(&errors);
	str_free(&warnings);
}

int
smtp_dns_init(struct config *c, struct str *err)
{
	char *const *servers = config_list(c, "dns_servers");
	struct str list = STR_INIT;
	struct dns_options opt;

	memset(&opt, 0, sizeof(opt));
	for (size_t i = 0; servers[i]; i++) {
		if (i > 0)
			str_appendz(&list, ", ");
		str_appendz(&list, servers[i]);
	}
	if (list.len > 0)
		opt.servers = str_cstr(&list);
	if ((dns_base = event_base_new()) == NULL) {
		str_appendz(err, "event_base_new failed");
		str_free(&list);
		return -1;
	}
	resolver = dns_resolver_new(dns_base, &opt, err);
	str_free(&list);
	if (resolver == NULL)
		return -1;
	self_init(c);
	return 0;
}

void
smtp_dns_free(void)
{
	if (resolver)
		dns_resolver_free(resolver);
	resolver = NULL;
	if (dns_base)
		event_base_free(dns_base);
	dns_base = NULL;
}

/* ---- next hops ---- */

int
smtp_nexthop_parse(const char *nexthop, int default_port, struct smtp_dest *d, struct str *why)
{
	const char *s = nexthop, *end, *port = NULL;
	size_t len;
	long long n;
	const char *perr;
	struct in6_addr v6;
	struct in_addr v4;

	memset(d, 0, sizeof(*d));
	d->port = default_port;
	d->use_mx = 1;
	if (*s == '[') {
		d->use_mx = 0;
		if ((end = strchr(s, ']')) == NULL)
			goto bad;
		s++;
		len = (size_t)(end - s);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			goto bad;
		if (len > 5 && strncasecmp(s, "ipv6:", 5) == 0) {
			s += 5;
			len -= 5;
		}
	} else {
		end = strrchr(s, ':');
		len = end ? (size_t)(end - s) : strlen(s);
		if (end)
			port = end + 1;
	}
	if (len == 0 || len > DNS_NAME_MAX)
		goto bad;
	memcpy(d->host, s, len);
	d->host[len] = '\0';
	if (len > 1 && d->host[len - 1] == '.')
		d->host[len - 1] = '\0';
	if (port && parse_int(port, 1, 65535, &n, &perr) < 0)
		goto bad;
	if (port)
		d->port = (int)n;
	if (inet_pton(AF_INET, d->host, &v4) == 1 || inet_pton(AF_INET6, d->host, &v6) == 1) {
		d->literal = 1;
		d->use_mx = 0;
		return 0;
	}
	if (dns_check_name(d->host, &perr) < 0)
		goto bad;
	return 0;
bad:
	str_printf(why, "malformed next hop \"%s\"", nexthop);
	return -1;
}

/* ---- lookups, run together on the private loop ---- */

struct lookup {
	const char *name;
	int type;
	struct dns_answer *answer;
	int done;
};

struct batch {
	struct lookup *v;
	size_t n;
	size_t pending;
};

struct lookup_arg {
	struct batch *b;
	size_t i;
};

static void
lookup_done(struct dns_answer *a, void *arg)
{
	struct lookup_arg *la = arg;

	la->b->v[la->i].answer = a;
	la->b->v[la->i].done = 1;
	la->b->pending--;
}

/* Run every lookup of b; each ends with an answer (a failure to start
 * one is a TEMPFAIL answer). */
static void
batch_run(struct batch *b)
{
	struct lookup_arg *args = xcalloc(b->n ? b->n : 1, sizeof(*args));
	struct str err = STR_INIT;

	b->pending = 0;
	for (size_t i = 0; i < b->n; i++) {
		args[i].b = b;
		args[i].i = i;
		b->pending++;
		if (dns_query(resolver, b->v[i].name, b->v[i].type, lookup_done, &args[i], &err) ==
		        NULL) {
			struct dns_answer *a = xcalloc(1, sizeof(*a));

			a->status = DNS_TEMPFAIL;
			a->rrtype = b->v[i].type;
			a->why = xstrdup(str_cstr(&err));
			str_reset(&err);
			lookup_done(a, &args[i]);
		}
	}
	while (b->pending > 0)
		if (event_base_loop(dns_base, EVLOOP_ONCE) < 0)
			msg_fatal("DNS event loop failed");
	free(args);
	str_free(&err);
}

static void
batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		dns_answer_free(b->v[i].answer);
	free(b->v);
}

static void fail_set(struct smtp_fail *f, int code, const char *dsn, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
fail_set(struct smtp_fail *f, int code, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	f->code = code;
	snprintf(f->dsn, sizeof(f->dsn), "%s", dsn);
	str_reset(&f->reason);
	va_start(ap, fmt);
	str_vprintf(&f->reason, fmt, ap);
	va_end(ap);
}

static const char *
answer_why(const struct dns_answer *a)
{
	return a->why ? a->why : dns_status_name(a->status);
}

/* Append the addresses of one host (answers to A and AAAA) to l. */
static void
add_addresses(struct smtp_addr_list *l, const char *host, unsigned pref, const struct lookup *lk,
        size_t nlk)
{
	for (size_t k = 0; k < nlk; k++) {
		const struct dns_answer *a = lk[k].answer;

		for (size_t i = 0; a && a->status == DNS_OK && i < a->n; i++) {
			struct smtp_addr *x;

			if (l->n >= SMTP_ADDR_LIST_MAX)
				return;
			if (a->rr[i].type != DNS_T_A && a->rr[i].type != DNS_T_AAAA)
				continue;
			x = &l->v[l->n++];
			memset(x, 0, sizeof(*x));
			snprintf(x->host, sizeof(x->host), "%s", host);
			x->pref = pref;
			if (a->rr[i].type == DNS_T_A) {
				x->family = AF_INET;
				x->u.v4 = a->rr[i].u.a;
			} else {
				x->family = AF_INET6;
				x->u.v6 = a->rr[i].u.aaaa;
			}
			inet_ntop(x->family, &x->u, x->ip, sizeof(x->ip));
		}
	}
}

/* The address types to ask for, by inet_protocols. */
static size_t
address_types(int types[2])
{
	size_t n = 0;

	if (smtp_conf.use_ipv4)
		types[n++] = DNS_T_A;
	if (smtp_conf.use_ipv6)
		types[n++] = DNS_T_AAAA;
	return n;
}

/* A/AAAA of one host, the next hop itself ([host] or a domain without MX). */
static int
resolve_host(const struct smtp_dest *d, unsigned pref, int check_self, struct smtp_addr_list *l,
        struct smtp_fail *f)
{
	int types[2];
	size_t nt = address_types(types);
	struct batch b = {0};
	int tempfail = 0, nxdomain = 0;
	const char *why = NULL;

	b.v = xcalloc(2, sizeof(*b.v));
	for (size_t t = 0; t < nt; t++) {
		b.v[b.n].name = d->host;
		b.v[b.n++].type = types[t];
	}
	batch_run(&b);
	for (size_t i = 0; i < b.n; i++) {
		enum dns_status st = b.v[i].answer->status;

		if (st == DNS_NXDOMAIN)
			nxdomain = 1;
		else if (st != DNS_OK && st != DNS_NODATA) {
			tempfail = 1;
			why = answer_why(b.v[i].answer);
		}
	}
	add_addresses(l, d->host, pref, b.v, b.n);
	batch_free(&b);
	if (l->n > 0) {
		if (check_self) {
			for (size_t i = 0; i < l->n; i++) {
				if (smtp_addr_is_self(l->v[i].family, &l->v[i].u)) {
					l->n = 0;
					fail_set(f, 5, "5.4.6", "mail for %s loops back to myself",
					        d->host);
					return -1;
				}
			}
		}
		return 0;
	}
	if (tempfail)
		fail_set(f, 4, "4.4.3", "Host or domain name lookup failed: %s: %s", d->host, why);
	else if (nxdomain)
		fail_set(f, 5, "5.1.2", "Host or domain name not found: %s: NXDOMAIN", d->host);
	else
		fail_set(f, 5, "5.4.4", "Host or domain name has no address: %s", d->host);
	return -1;
}

/* The MX records, sorted, with our own and worse ones dropped. */
static int
resolve_mx(const struct smtp_dest *d, struct smtp_addr_list *l, struct smtp_fail *f)
{
	struct dns_answer *mx = NULL;
	struct batch b = {0};
	struct str err = STR_INIT;
	int types[2];
	size_t nt = address_types(types), nmx, i, j;
	unsigned self_pref = 0;
	int have_self = 0, tempfail = 0;
	const char *why = NULL;
	struct lookup one = {0};

	b.v = &one;
	b.n = 1;
	one.name = d->host;
	one.type = DNS_T_MX;
	batch_run(&b);
	mx = one.answer;
	str_free(&err);
	switch (mx->status) {
	case DNS_OK:
		break;
	case DNS_NODATA:
		/* No MX: the domain itself is the implicit MX (RFC 5321 5.1). */
		dns_answer_free(mx);
		return resolve_host(d, 0, 1, l, f);
	case DNS_NXDOMAIN:
		fail_set(f, 5, "5.1.2", "Host or domain name not found: %s: NXDOMAIN", d->host);
		dns_answer_free(mx);
		return -1;
	case DNS_NULLMX:
		fail_set(f, 5, "5.1.10", "Recipient address has null MX: %s accepts no mail",
		        d->host);
		dns_answer_free(mx);
		return -1;
	default:
		fail_set(f, 4, "4.4.3", "Host or domain name lookup failed: %s: %s", d->host,
		        answer_why(mx));
		dns_answer_free(mx);
		return -1;
	}
	dns_mx_sort(mx);
	nmx = mx->n < SMTP_MX_MAX ? mx->n : SMTP_MX_MAX;

	/* Our own name among the MX hosts. */
	for (i = 0; i < nmx; i++) {
		if (mx->rr[i].type == DNS_T_MX &&
		        strcasecmp(mx->rr[i].u.mx.host, smtp_conf.myhostname) == 0) {
			have_self = 1;
			self_pref = mx->rr[i].u.mx.pref;
			break;
		}
	}

	/* Addresses of every MX host, all asked at once. */
	b.v = xcalloc(nmx * 2 + 1, sizeof(*b.v));
	b.n = 0;
	for (i = 0; i < nmx; i++) {
		if (mx->rr[i].type != DNS_T_MX)
			continue;
		if (have_self && mx->rr[i].u.mx.pref >= self_pref)
			continue;
		for (size_t t = 0; t < nt; t++) {
			b.v[b.n].name = mx->rr[i].u.mx.host;
			b.v[b.n++].type = types[t];
		}
	}
	batch_run(&b);

	/* Our own addresses among them. */
	for (i = 0; i < b.n; i++) {
		const struct dns_answer *a = b.v[i].answer;
		unsigned pref = 0;

		for (j = 0; j < nmx; j++)
			if (mx->rr[j].type == DNS_T_MX && b.v[i].name == mx->rr[j].u.mx.host)
				pref = mx->rr[j].u.mx.pref;
		for (j = 0; a->status == DNS_OK && j < a->n; j++) {
			const void *p = a->rr[j].type == DNS_T_A ? (const void *)&a->rr[j].u.a
			                                         : (const void *)&a->rr[j].u.aaaa;
			int fam = a->rr[j].type == DNS_T_A ? AF_INET : AF_INET6;

			if ((a->rr[j].type == DNS_T_A || a->rr[j].type == DNS_T_AAAA) &&
			        smtp_addr_is_self(fam, p) && (!have_self || pref < self_pref)) {
				have_self = 1;
				self_pref = pref;
			}
		}
	}

	/* The list, in MX order; each host's addresses A first, then AAAA. */
	for (i = 0; i < nmx; i++) {
		const char *host = mx->rr[i].u.mx.host;
		unsigned pref = mx->rr[i].u.mx.pref;
		size_t first = SIZE_MAX, count = 0;

		if (mx->rr[i].type != DNS_T_MX || (have_self && pref >= self_pref))
			continue;
		for (j = 0; j < b.n; j++) {
			if (b.v[j].name != host)
				continue;
			if (first == SIZE_MAX)
				first = j;
			count++;
			if (b.v[j].answer->status != DNS_OK &&
			        b.v[j].answer->status != DNS_NODATA &&
			        b.v[j].answer->status != DNS_NXDOMAIN) {
				tempfail = 1;
				why = answer_why(b.v[j].answer);
			}
		}
		if (first != SIZE_MAX)
			add_addresses(l, host, pref, b.v + first, count);
	}
	if (l->n == 0) {
		if (have_self)
			fail_set(f, 5, "5.4.6", "mail for %s loops back to myself", d->host);
		else if (tempfail)
			fail_set(f, 4, "4.4.3",
			        "Host or domain name lookup failed: MX host of %s: %s", d->host,
			        why);
		else
			fail_set(f, 5, "5.4.4", "no address found for the MX hosts of %s", d->host);
	}
	batch_free(&b);
	dns_answer_free(mx);
	return l->n > 0 ? 0 : -1;
}

/*
 * The addresses to try for d, best first.  0 with l filled, or -1 with f
 * saying what the recipients get.
 */
int
smtp_dns_resolve(const struct smtp_dest *d, struct smtp_addr_list *l, struct smtp_fail *f)
{
	l->n = 0;
	if (d->literal) {
		struct smtp_addr *x = &l->v[0];

		memset(x, 0, sizeof(*x));
		snprintf(x->host, sizeof(x->host), "%s", d->host);
		if (inet_pton(AF_INET, d->host, &x->u.v4) == 1)
			x->family = AF_INET;
		else if (inet_pton(AF_INET6, d->host, &x->u.v6) == 1)
			x->family = AF_INET6;
		inet_ntop(x->family, &x->u, x->ip, sizeof(x->ip));
		l->n = 1;
		return 0;
	}
	if (!d->use_mx)
		return resolve_host(d, 0, 0, l, f);
	return resolve_mx(d, l, f);
}

/* ---- connecting ---- */

/*
 * Connect to a, port, within timeout_ms, from the bind address of a's
 * family when one is set.  Returns a blocking descriptor, or -1 with the
 * reason in why.
 */
int
smtp_connect_addr(const struct smtp_addr *a, int port, long long timeout_ms, struct str *why)
{
	struct sockaddr_storage ss, bs;
	socklen_t sl, bl = 0;
	int fd, err = 0, flags;
	socklen_t errlen = sizeof(err);
	struct pollfd p;

	memset(&ss, 0, sizeof(ss));
	memset(&bs, 0, sizeof(bs));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sin->sin_addr = a->u.v4;
		sl = sizeof(*sin);
		if (smtp_conf.bind4_set) {
			struct sockaddr_in *b = (struct sockaddr_in *)&bs;

			b->sin_family = AF_INET;
			b->sin_addr = smtp_conf.bind4;
			bl = sizeof(*b);
		}
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sin6->sin6_addr = a->u.v6;
		sl = sizeof(*sin6);
		if (smtp_conf.bind6_set) {
			struct sockaddr_in6 *b = (struct sockaddr_in6 *)&bs;

			b->sin6_family = AF_INET6;
			b->sin6_addr = smtp_conf.bind6;
			bl = sizeof(*b);
		}
	}
	if ((fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		str_printf(why, "socket: %s", strerror(errno));
		return -1;
	}
	if (bl > 0 && bind(fd, (struct sockaddr *)&bs, bl) < 0) {
		str_printf(why, "cannot bind to the source address: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto failed;
		}
		p.fd = fd;
		p.events = POLLOUT;
		for (;;) {
			int n = poll(&p, 1, (int)timeout_ms);

			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0) {
				str_printf(why, "connect to %s[%s]:%d: Connection timed out",
				        a->host, a->ip, port);
				close(fd);
				return -1;
			}
			if (n < 0) {
				err = errno;
				goto failed;
			}
			break;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
			err = errno;
		if (err != 0)
			goto failed;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		(void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return fd;
failed:
	str_printf(why, "connect to %s[%s]:%d: %s", a->host, a->ip, port, strerror(err));
	close(fd);
	return -1;
}
