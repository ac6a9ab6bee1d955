/*
 * resolve.c - address resolution for trivial-rewrite: canonical form,
 * domain class, transport and next hop, recipient existence, and a small
 * cache of results; see resolve.h for the rules.
 *
 * Trusts main.cf (validated by config.c) and the tables it names; trusts
 * nothing about the addresses it is asked about: each is checked for
 * length, control characters, UTF-8 and domain syntax before any lookup.
 * Called by trivial-rewrite and the unit tests.
 */
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "addr.h"
#include "config.h"
#include "mem.h"
#include "msg.h"
#include "resolve.h"
#include "table.h"

/* A list of tables searched in order (transport_maps, alias_maps, ...). */
struct maplist {
	const char *param;
	struct table **v;
	size_t n;
};

/* A list of domains: names, ".parent" patterns or tables (mydestination, ...). */
struct domitem {
	const char *param;   /* where it is listed */
	char *name;          /* lower-cased name or ".parent"; NULL for a table */
	struct table *table; /* or a table of domains */
};

struct domlist {
	struct domitem *v;
	size_t n;
};

struct own_addr {
	int family;
	unsigned char addr[16];
};

struct cache_entry {
	int valid;
	uint64_t hash;
	struct str key;
	long long stored_ms;
	unsigned long long used; /* tick of the last use */
	struct resolve_result res;
};

struct resolver {
	struct config *cfg;
	struct table *tables[RESOLVE_TABLE_MAX];
	size_t ntables;
	struct domlist mydestination, hosted, relay;
	struct maplist transport, sender_relayhost, vmailbox, valias, aliases, relay_rcpt;
	const char *myorigin, *relayhost, *delimiter;
	struct str fallback; /* next hop for unknown local recipients, "" when off */
	struct own_addr *own;
	size_t nown;
	/* cache */
	struct cache_entry *cache;
	size_t cache_sets;
	long long cache_ttl_ms;
	unsigned long long tick;
	unsigned long hits, misses;
};

/* An address taken apart by canonicalize(). */
struct parsed {
	struct str canon;  /* local "@" domain, canonical */
	size_t at;         /* offset of the "@" in canon */
	struct addr check; /* the domain as addr.c parsed it (literal facts) */
};

/* ---- names on the wire ---- */

static const char *const status_names[] = {"ok", "unknown", "defer", "error"};
static const char *const class_names[] = {"local", "hosted", "relay", "remote"};
static const struct {
	unsigned flag;
	const char *name;
} flag_names[] = {
        {RESOLVE_FLAG_ROUTING_TRICK, "routing_trick"},
        {RESOLVE_FLAG_FALLBACK, "fallback"},
};

const char *
resolve_status_name(enum resolve_status st)
{
	return (unsigned)st < 4 ? status_names[st] : "error";
}

const char *
resolve_class_name(enum resolve_class cl)
{
	return (unsigned)cl < 4 ? class_names[cl] : "remote";
}

int
resolve_status_parse(const char *name, enum resolve_status *st)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, status_names[i]) == 0) {
			*st = (enum resolve_status)i;
			return 0;
		}
	}
	return -1;
}

int
resolve_class_parse(const char *name, enum resolve_class *cl)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, class_names[i]) == 0) {
			*cl = (enum resolve_class)i;
			return 0;
		}
	}
	return -1;
}

void
resolve_flags_format(unsigned flags, struct str *out)
{
	int first = 1;

	for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if (!(flags & flag_names[i].flag))
			continue;
		if (!first)
			str_appendc(out, ',');
		str_appendz(out, flag_names[i].name);
		first = 0;
	}
}

int
resolve_flags_parse(const char *text, unsigned *flags)
{
	const char *p = text;

	*flags = 0;
	while (*p) {
		size_t len = strcspn(p, ","), i;

		for (i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
			if (strlen(flag_names[i].name) == len &&
			        strncmp(p, flag_names[i].name, len) == 0)
				break;
		}
		if (i == sizeof(flag_names) / sizeof(flag_names[0]))
			return -1;
		*flags |= flag_names[i].flag;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* ---- results ---- */

void
resolve_result_init(struct resolve_result *res)
{
	memset(res, 0, sizeof(*res));
	res->status = RESOLVE_ERROR;
	res->class = RESOLVE_CLASS_REMOTE;
}

void
resolve_result_free(struct resolve_result *res)
{
	str_free(&res->recipient);
	str_free(&res->transport);
	str_free(&res->nexthop);
	str_free(&res->reason);
}

static void
result_reset(struct resolve_result *res)
{
	res->status = RESOLVE_ERROR;
	res->class = RESOLVE_CLASS_REMOTE;
	res->flags = 0;
	str_reset(&res->recipient);
	str_reset(&res->transport);
	str_reset(&res->nexthop);
	str_reset(&res->reason);
}

static void
result_copy(struct resolve_result *dst, const struct resolve_result *src)
{
	dst->status = src->status;
	dst->class = src->class;
	dst->flags = src->flags;
	str_set(&dst->recipient, src->recipient.data, src->recipient.len);
	str_set(&dst->transport, src->transport.data, src->transport.len);
	str_set(&dst->nexthop, src->nexthop.data, src->nexthop.len);
	str_set(&dst->reason, src->reason.data, src->reason.len);
}

/* ---- opening ---- */

/* Is s "type:name" with a lower-case type (a table, as config_params.c says)? */
static int
is_table_spec(const char *s)
{
	const char *p = s;

	while (islower((unsigned char)*p) || isdigit((unsigned char)*p))
		p++;
	return p > s && *p == ':' && p[1] != '\0';
}

static struct table *
open_table(struct resolver *r, const char *param, const char *spec, struct str *err)
{
	struct str why = STR_INIT;
	struct table *t;

	if (r->ntables >= RESOLVE_TABLE_MAX) {
		str_printf(err, "%s: more than %d tables", param, RESOLVE_TABLE_MAX);
		return NULL;
	}
	if ((t = table_open(spec, TABLE_READ, &why)) == NULL) {
		str_printf(err, "%s: %s", param, str_cstr(&why));
		str_free(&why);
		return NULL;
	}
	str_free(&why);
	r->tables[r->ntables++] = t;
	return t;
}

static int
open_maplist(struct resolver *r, struct maplist *m, const char *param, struct str *err)
{
	char *const *items = config_list(r->cfg, param);
	size_t n = 0;

	m->param = param;
	while (items[n])
		n++;
	m->v = n ? xcalloc(n, sizeof(*m->v)) : NULL;
	for (size_t i = 0; i < n; i++) {
		if ((m->v[i] = open_table(r, param, items[i], err)) == NULL)
			return -1;
		m->n++;
	}
	return 0;
}

static int
add_domains(struct resolver *r, struct domlist *d, const char *param, struct str *err)
{
	char *const *items = config_list(r->cfg, param);
	size_t n = 0;

	while (items[n])
		n++;
	d->v = xreallocarray(d->v, d->n + n + 1, sizeof(*d->v));
	for (size_t i = 0; i < n; i++) {
		struct domitem *it = &d->v[d->n];

		memset(it, 0, sizeof(*it));
		it->param = param;
		if (is_table_spec(items[i])) {
			if ((it->table = open_table(r, param, items[i], err)) == NULL)
				return -1;
		} else {
			struct str name = STR_INIT;
			size_t len = strlen(items[i]);

			/* "example.com." names example.com */
			if (len > 1 && items[i][len - 1] == '.')
				len--;
			str_set(&name, items[i], len);
			str_lower(&name);
			it->name = str_steal(&name);
		}
		d->n++;
	}
	return 0;
}

static void
add_own(struct resolver *r, int family, const void *addr)
{
	struct own_addr *o;

	r->own = xreallocarray(r->own, r->nown + 1, sizeof(*r->own));
	o = &r->own[r->nown++];
	memset(o, 0, sizeof(*o));
	o->family = family;
	memcpy(o->addr, addr, family == AF_INET ? 4 : 16);
}

/* The addresses of this host's interfaces: literals of them are local. */
static void
find_own_addresses(struct resolver *r)
{
	static const unsigned char v4_loopback[4] = {127, 0, 0, 1};
	struct ifaddrs *list, *ifa;

	add_own(r, AF_INET, v4_loopback);
	add_own(r, AF_INET6, &in6addr_loopback);
	if (getifaddrs(&list) < 0) {
		msg_warn("getifaddrs: %m; only loopback literals are local");
		return;
	}
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		if (ifa->ifa_addr == NULL)
			continue;
		if (ifa->ifa_addr->sa_family == AF_INET)
			add_own(r, AF_INET,
			        &((struct sockaddr_in *)(void *)ifa->ifa_addr)->sin_addr);
		else if (ifa->ifa_addr->sa_family == AF_INET6)
			add_own(r, AF_INET6,
			        &((struct sockaddr_in6 *)(void *)ifa->ifa_addr)->sin6_addr);
	}
	freeifaddrs(list);
}

/* "host" -> "[host]", "host:port" -> "[host]:port", "[...]..." unchanged. */
static void
fallback_nexthop(const char *value, struct str *out)
{
	const char *colon;

	str_reset(out);
	if (*value == '\0' || *value == '[') {
		str_appendz(out, value);
		return;
	}
	colon = strrchr(value, ':');
	str_appendc(out, '[');
	str_append(out, value, colon ? (size_t)(colon - value) : strlen(value));
	str_appendc(out, ']');
	if (colon)
		str_appendz(out, colon);
}

struct resolver *
resolver_open(struct config *c, struct str *err)
{
	struct resolver *r = xcalloc(1, sizeof(*r));

	r->cfg = c;
	r->myorigin = config_str(c, "myorigin");
	r->relayhost = config_str(c, "relayhost");
	r->delimiter = config_str(c, "recipient_delimiter");
	fallback_nexthop(config_str(c, "fallback_relay"), &r->fallback);
	if (add_domains(r, &r->mydestination, "mydestination", err) < 0 ||
	        add_domains(r, &r->hosted, "virtual_mailbox_domains", err) < 0 ||
	        add_domains(r, &r->hosted, "virtual_alias_domains", err) < 0 ||
	        add_domains(r, &r->relay, "relay_domains", err) < 0 ||
	        open_maplist(r, &r->transport, "transport_maps", err) < 0 ||
	        open_maplist(r, &r->sender_relayhost, "sender_dependent_relayhost_maps", err) < 0 ||
	        open_maplist(r, &r->vmailbox, "virtual_mailbox_maps", err) < 0 ||
	        open_maplist(r, &r->valias, "virtual_alias_maps", err) < 0 ||
	        open_maplist(r, &r->aliases, "alias_maps", err) < 0 ||
	        open_maplist(r, &r->relay_rcpt, "relay_recipient_maps", err) < 0) {
		resolver_close(r);
		return NULL;
	}
	find_own_addresses(r);
	resolver_cache_setup(r, RESOLVE_CACHE_ENTRIES, RESOLVE_CACHE_TTL_MS);
	return r;
}

static void
cache_free(struct resolver *r)
{
	for (size_t i = 0; i < r->cache_sets * RESOLVE_CACHE_WAYS; i++) {
		str_free(&r->cache[i].key);
		resolve_result_free(&r->cache[i].res);
	}
	free(r->cache);
	r->cache = NULL;
	r->cache_sets = 0;
}

static void
domlist_free(struct domlist *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
}

void
resolver_close(struct resolver *r)
{
	if (r == NULL)
		return;
	cache_free(r);
	for (size_t i = 0; i < r->ntables; i++)
		table_close(r->tables[i]);
	domlist_free(&r->mydestination);
	domlist_free(&r->hosted);
	domlist_free(&r->relay);
	free(r->transport.v);
	free(r->sender_relayhost.v);
	free(r->vmailbox.v);
	free(r->valias.v);
	free(r->aliases.v);
	free(r->relay_rcpt.v);
	str_free(&r->fallback);
	free(r->own);
	free(r);
}

size_t
resolver_table_count(const struct resolver *r)
{
	return r->ntables;
}

struct table *
resolver_table(const struct resolver *r, size_t i)
{
	return i < r->ntables ? r->tables[i] : NULL;
}

const char *
resolver_changed(struct resolver *r)
{
	for (size_t i = 0; i < r->ntables; i++)
		if (table_changed(r->tables[i]))
			return table_spec(r->tables[i]);
	return NULL;
}

/* ---- the cache ---- */

void
resolver_cache_setup(struct resolver *r, size_t entries, long long ttl_ms)
{
	cache_free(r);
	r->cache_ttl_ms = ttl_ms;
	if (entries == 0 || ttl_ms <= 0)
		return;
	r->cache_sets = (entries + RESOLVE_CACHE_WAYS - 1) / RESOLVE_CACHE_WAYS;
	r->cache = xcalloc(r->cache_sets * RESOLVE_CACHE_WAYS, sizeof(*r->cache));
}

void
resolver_cache_stats(const struct resolver *r, unsigned long *hits, unsigned long *misses)
{
	*hits = r->hits;
	*misses = r->misses;
}

/* FNV-1a */
static uint64_t
hash_key(const struct str *key)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < key->len; i++) {
		h ^= (unsigned char)key->data[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* "op\0address\0sender" */
static void
cache_key(struct str *key, int op, const char *addr, const char *sender)
{
	str_reset(key);
	str_appendc(key, op);
	str_append(key, addr, strlen(addr) + 1);
	if (sender)
		str_appendz(key, sender);
}

static int
cache_get(struct resolver *r, const struct str *key, struct resolve_result *res)
{
	uint64_t h;
	struct cache_entry *set;
	long long now;

	if (r->cache == NULL)
		return 0;
	h = hash_key(key);
	set = &r->cache[(h % r->cache_sets) * RESOLVE_CACHE_WAYS];
	now = clock_ms();
	for (int i = 0; i < RESOLVE_CACHE_WAYS; i++) {
		struct cache_entry *e = &set[i];

		if (!e->valid || e->hash != h || e->key.len != key->len ||
		        memcmp(e->key.data, key->data, key->len) != 0)
			continue;
		if (now - e->stored_ms >= r->cache_ttl_ms) {
			e->valid = 0;
			break;
		}
		e->used = ++r->tick;
		result_copy(res, &e->res);
		r->hits++;
		return 1;
	}
	r->misses++;
	return 0;
}

static void
cache_put(struct resolver *r, const struct str *key, const struct resolve_result *res)
{
	uint64_t h;
	struct cache_entry *set, *victim;

	if (r->cache == NULL || res->status == RESOLVE_DEFER || res->status == RESOLVE_ERROR)
		return;
	h = hash_key(key);
	set = &r->cache[(h % r->cache_sets) * RESOLVE_CACHE_WAYS];
	victim = &set[0];
	for (int i = 0; i < RESOLVE_CACHE_WAYS; i++) {
		if (!set[i].valid) {
			victim = &set[i];
			break;
		}
		if (set[i].used < victim->used)
			victim = &set[i];
	}
	victim->valid = 1;
	victim->hash = h;
	str_set(&victim->key, key->data, key->len);
	victim->stored_ms = clock_ms();
	victim->used = ++r->tick;
	result_copy(&victim->res, res);
}

/* ---- canonical form ---- */

static enum resolve_status
canonicalize(struct resolver *r, const char *addr, struct parsed *p, struct str *reason)
{
	const char *at, *domain;
	size_t len = strlen(addr), llen, dlen;
	struct str check = STR_INIT;
	enum addr_status ast;

	str_reset(&p->canon);
	if (len > RESOLVE_ADDRESS_MAX) {
		str_printf(reason, "address longer than %d octets", RESOLVE_ADDRESS_MAX);
		return RESOLVE_ERROR;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (c < 0x20 || c == 0x7f) {
			str_appendz(reason, "control character in address");
			return RESOLVE_ERROR;
		}
	}
	if (!addr_utf8_valid(addr, len)) {
		str_appendz(reason, "malformed UTF-8 in address");
		return RESOLVE_ERROR;
	}
	if ((at = strrchr(addr, '@')) != NULL) {
		llen = (size_t)(at - addr);
		domain = at + 1;
	} else {
		llen = len;
		domain = r->myorigin;
	}
	dlen = strlen(domain);
	if (dlen > 1 && domain[dlen - 1] == '.')
		dlen--;
	if (llen == 0) {
		str_appendz(reason, "empty local part");
		return RESOLVE_ERROR;
	}
	if (dlen == 0) {
		str_appendz(reason, "empty domain");
		return RESOLVE_ERROR;
	}
	str_appendz(&check, "x@");
	str_append(&check, domain, dlen);
	ast = addr_parse_mailbox(check.data, check.len, ADDR_OPT_SMTPUTF8, &p->check);
	str_free(&check);
	if (ast != ADDR_OK) {
		str_printf(reason, "bad domain: %s", addr_strerror(ast));
		return RESOLVE_ERROR;
	}
	str_append(&p->canon, addr, llen);
	p->at = llen;
	str_appendc(&p->canon, '@');
	for (size_t i = 0; i < dlen; i++)
		str_appendc(&p->canon, tolower((unsigned char)domain[i]));
	return RESOLVE_OK;
}

static void
parsed_init(struct parsed *p)
{
	str_init(&p->canon);
	p->at = 0;
	addr_init(&p->check);
}

static void
parsed_free(struct parsed *p)
{
	str_free(&p->canon);
	addr_free(&p->check);
}

enum resolve_status
resolve_canonical(struct resolver *r, const char *addr, struct str *canon, struct str *reason)
{
	struct parsed p;
	enum resolve_status st;

	if (*addr == '\0') {
		str_reset(canon);
		return RESOLVE_OK;
	}
	parsed_init(&p);
	st = canonicalize(r, addr, &p, reason);
	if (st == RESOLVE_OK)
		str_set(canon, p.canon.data, p.canon.len);
	parsed_free(&p);
	return st;
}

/* ---- lookups ---- */

/* Search the maps in order: 1 found, 0 not found, -1 error (reason set). */
static int
maplist_find(const struct maplist *m, const char *key, struct str *value, struct str *reason)
{
	for (size_t i = 0; i < m->n; i++) {
		struct str err = STR_INIT;
		int rc = table_lookup(m->v[i], key, value, &err);

		if (rc < 0) {
			str_reset(reason);
			str_printf(reason, "%s lookup error: %s", m->param, str_cstr(&err));
		}
		str_free(&err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* 1 when domain (lower-cased) is in the list, 0 when not, -1 on error. */
static int
domlist_match(const struct domlist *d, const char *domain, struct str *reason)
{
	size_t dlen = strlen(domain);

	for (size_t i = 0; i < d->n; i++) {
		const struct domitem *it = &d->v[i];

		if (it->table) {
			struct str err = STR_INIT;
			int rc = table_lookup(it->table, domain, NULL, &err);

			if (rc < 0)
				str_printf(
				        reason, "%s lookup error: %s", it->param, str_cstr(&err));
			str_free(&err);
			if (rc != 0)
				return rc;
			continue;
		}
		if (it->name[0] == '.') {
			size_t nlen = strlen(it->name);

			if (dlen > nlen && strcmp(domain + dlen - nlen, it->name) == 0)
				return 1;
		} else if (strcmp(domain, it->name) == 0) {
			return 1;
		}
	}
	return 0;
}

static int
is_own_literal(const struct resolver *r, const struct addr *a)
{
	if (!(a->flags & ADDR_IS_LITERAL))
		return 0;
	for (size_t i = 0; i < r->nown; i++)
		if (r->own[i].family == a->literal_family &&
		        memcmp(r->own[i].addr, a->literal_addr,
		                a->literal_family == AF_INET ? 4 : 16) == 0)
			return 1;
	return 0;
}

/* The class of p's domain: RESOLVE_OK, or RESOLVE_DEFER with reason set. */
static enum resolve_status
classify(struct resolver *r, const struct parsed *p, enum resolve_class *cl, struct str *reason)
{
	const char *domain = p->canon.data + p->at + 1;
	int rc;

	if (is_own_literal(r, &p->check)) {
		*cl = RESOLVE_CLASS_LOCAL;
		return RESOLVE_OK;
	}
	if ((rc = domlist_match(&r->mydestination, domain, reason)) != 0) {
		*cl = RESOLVE_CLASS_LOCAL;
	} else if ((rc = domlist_match(&r->hosted, domain, reason)) != 0) {
		*cl = RESOLVE_CLASS_HOSTED;
	} else if ((rc = domlist_match(&r->relay, domain, reason)) != 0) {
		*cl = RESOLVE_CLASS_RELAY;
	} else {
		*cl = RESOLVE_CLASS_REMOTE;
	}
	return rc < 0 ? RESOLVE_DEFER : RESOLVE_OK;
}

/* The transport_maps entry for domain: 1 found (value set), 0 none, -1 error. */
static int
transport_lookup(struct resolver *r, const struct parsed *p, struct str *value, struct str *reason)
{
	const char *domain = p->canon.data + p->at + 1, *dot;
	int rc;

	if (r->transport.n == 0)
		return 0;
	if ((rc = maplist_find(&r->transport, domain, value, reason)) != 0)
		return rc;
	if (!(p->check.flags & ADDR_IS_LITERAL)) {
		for (dot = strchr(domain, '.'); dot; dot = strchr(dot + 1, '.'))
			if ((rc = maplist_find(&r->transport, dot, value, reason)) != 0)
				return rc;
	}
	return maplist_find(&r->transport, "*", value, reason);
}

/* Split "transport:nexthop"; 0, or -1 with reason for a bad value. */
static int
transport_split(const char *value, struct str *transport, struct str *nexthop, struct str *reason)
{
	const char *colon = strchr(value, ':'), *hop;
	size_t tlen = colon ? (size_t)(colon - value) : strlen(value);

	str_reset(transport);
	str_reset(nexthop);
	if (tlen > RESOLVE_TRANSPORT_MAX)
		goto bad;
	for (size_t i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)value[i];

		if (!isalnum(c) && c != '-' && c != '_')
			goto bad;
	}
	str_append(transport, value, tlen);
	if (colon == NULL)
		return 0;
	hop = colon + 1;
	for (const char *q = hop; *q; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			goto bad;
	if (strlen(hop) > RESOLVE_ADDRESS_MAX)
		goto bad;
	str_appendz(nexthop, hop);
	return 0;
bad:
	str_printf(
	        reason, "transport_maps: bad value \"%.100s\": expected transport:nexthop", value);
	msg_warn("%s", str_cstr(reason));
	return -1;
}

/* The relay host of a sender: 1 found (host set), 0 none, -1 error or malformed sender. */
static int
sender_relayhost(struct resolver *r, const char *sender, struct str *host, struct str *reason,
        enum resolve_status *st)
{
	struct parsed s;
	struct str key = STR_INIT;
	int rc;

	if (sender == NULL || *sender == '\0' || r->sender_relayhost.n == 0)
		return 0;
	parsed_init(&s);
	if (canonicalize(r, sender, &s, &key) != RESOLVE_OK) {
		str_printf(reason, "malformed sender: %s", str_cstr(&key));
		str_free(&key);
		parsed_free(&s);
		*st = RESOLVE_ERROR;
		return -1;
	}
	rc = maplist_find(&r->sender_relayhost, s.canon.data, host, reason);
	if (rc == 0) {
		str_append(&key, s.canon.data + s.at, s.canon.len - s.at);
		rc = maplist_find(&r->sender_relayhost, key.data, host, reason);
	}
	if (rc < 0)
		*st = RESOLVE_DEFER;
	str_free(&key);
	parsed_free(&s);
	return rc;
}

/* ---- existence ---- */

/* Where the extension of local[0..len) starts, or len when it has none. */
static size_t
extension_start(const struct resolver *r, const char *local, size_t len)
{
	if (*r->delimiter == '\0')
		return len;
	for (size_t i = 1; i < len; i++)
		if (strchr(r->delimiter, local[i]) != NULL)
			return i;
	return len;
}

struct probe {
	struct resolver *r;
	int errors;
	struct str reason; /* the first error */
};

/* Look key up in m; 1 when found.  Errors are counted, the first kept. */
static int
probe_map(struct probe *pr, const struct maplist *m, const char *key)
{
	struct str why = STR_INIT;
	int rc = maplist_find(m, key, NULL, &why);

	if (rc < 0 && pr->errors++ == 0)
		str_set(&pr->reason, why.data, why.len);
	str_free(&why);
	return rc == 1;
}

/* address, base address (extension removed), "@domain" */
static int
probe_address(struct probe *pr, const struct maplist *m, const struct parsed *p, size_t ext)
{
	struct str key = STR_INIT;
	int found;

	if (m->n == 0)
		return 0;
	found = probe_map(pr, m, p->canon.data);
	if (!found && ext < p->at) {
		str_append(&key, p->canon.data, ext);
		str_append(&key, p->canon.data + p->at, p->canon.len - p->at);
		found = probe_map(pr, m, key.data);
	}
	if (!found) {
		str_reset(&key);
		str_append(&key, p->canon.data + p->at, p->canon.len - p->at);
		found = probe_map(pr, m, key.data);
	}
	str_free(&key);
	return found;
}

/* A system account named by the base of the local part, lower-cased. */
static int
probe_account(struct probe *pr, const struct parsed *p, size_t ext)
{
	struct str name = STR_INIT;
	struct passwd *pw;
	int saved;

	str_set(&name, p->canon.data, ext);
	str_lower(&name);
	errno = 0;
	pw = getpwnam(name.data);
	saved = errno;
	str_free(&name);
	if (pw != NULL)
		return 1;
	/* Not found is NULL with errno 0, ENOENT, ESRCH, EBADF or EPERM. */
	if (saved != 0 && saved != ENOENT && saved != ESRCH && saved != EBADF && saved != EPERM) {
		if (pr->errors++ == 0)
			str_printf(&pr->reason, "system account lookup error: %s", strerror(saved));
	}
	return 0;
}

static int
probe_aliases(struct probe *pr, const struct parsed *p, size_t ext)
{
	struct str key = STR_INIT;
	int found;

	if (pr->r->aliases.n == 0)
		return 0;
	str_set(&key, p->canon.data, p->at);
	found = probe_map(pr, &pr->r->aliases, key.data);
	if (!found && ext < p->at) {
		str_truncate(&key, ext);
		found = probe_map(pr, &pr->r->aliases, key.data);
	}
	str_free(&key);
	return found;
}

static int
is_postmaster(const struct parsed *p)
{
	return p->at == 10 && strncasecmp(p->canon.data, "postmaster", 10) == 0;
}

/* Does the recipient exist in its class?  Sets res->status and reason. */
static void
check_existence(struct resolver *r, const struct parsed *p, struct resolve_result *res)
{
	struct probe pr = {.r = r, .errors = 0, .reason = STR_INIT};
	size_t ext = extension_start(r, p->canon.data, p->at);
	int found = 0;

	if (is_postmaster(p)) {
		res->status = RESOLVE_OK;
		return;
	}
	switch (res->class) {
	case RESOLVE_CLASS_LOCAL:
		found = probe_account(&pr, p, ext) || probe_aliases(&pr, p, ext) ||
		        probe_address(&pr, &r->valias, p, ext);
		break;
	case RESOLVE_CLASS_HOSTED:
		found = probe_address(&pr, &r->vmailbox, p, ext) ||
		        probe_address(&pr, &r->valias, p, ext);
		break;
	case RESOLVE_CLASS_RELAY:
		found = r->relay_rcpt.n == 0 || probe_address(&pr, &r->relay_rcpt, p, ext);
		break;
	case RESOLVE_CLASS_REMOTE:
		found = 1;
		break;
	}
	if (found) {
		res->status = RESOLVE_OK;
	} else if (pr.errors > 0) {
		res->status = RESOLVE_DEFER;
		str_set(&res->reason, pr.reason.data, pr.reason.len);
	} else {
		res->status = RESOLVE_UNKNOWN;
		str_printf(&res->reason, "%s: unknown recipient in %s domain", p->canon.data,
		        resolve_class_name(res->class));
	}
	str_free(&pr.reason);
}

/* An unknown LOCAL or HOSTED recipient goes to fallback_relay when set. */
static int
use_fallback(const struct resolver *r, struct resolve_result *res)
{
	if (res->status != RESOLVE_UNKNOWN || r->fallback.len == 0 ||
	        (res->flags & RESOLVE_FLAG_ROUTING_TRICK) ||
	        (res->class != RESOLVE_CLASS_LOCAL && res->class != RESOLVE_CLASS_HOSTED))
		return 0;
	res->status = RESOLVE_OK;
	res->flags |= RESOLVE_FLAG_FALLBACK;
	str_reset(&res->reason);
	str_setz(&res->transport, "smtp");
	str_set(&res->nexthop, r->fallback.data, r->fallback.len);
	return 1;
}

/* ---- the requests ---- */

/* Canonical form, class and flags into res; RESOLVE_OK or the failure. */
static enum resolve_status
resolve_common(struct resolver *r, const char *addr, struct parsed *p, struct resolve_result *res)
{
	if (*addr == '\0') {
		str_setz(&res->reason, "empty address");
		return res->status = RESOLVE_ERROR;
	}
	if ((res->status = canonicalize(r, addr, p, &res->reason)) != RESOLVE_OK)
		return res->status;
	str_set(&res->recipient, p->canon.data, p->canon.len);
	if (addr_local_has_routing(p->canon.data, p->at))
		res->flags |= RESOLVE_FLAG_ROUTING_TRICK;
	return res->status = classify(r, p, &res->class, &res->reason);
}

static enum resolve_status
resolve_route(
        struct resolver *r, const struct parsed *p, const char *sender, struct resolve_result *res)
{
	struct str value = STR_INIT;
	enum resolve_status st = RESOLVE_OK;
	int rc;

	rc = transport_lookup(r, p, &value, &res->reason);
	if (rc < 0)
		st = RESOLVE_DEFER;
	else if (rc == 1 &&
	        transport_split(value.data, &res->transport, &res->nexthop, &res->reason) < 0)
		st = RESOLVE_ERROR;
	str_free(&value);
	if (st != RESOLVE_OK)
		return st;
	if (res->transport.len == 0)
		str_setz(&res->transport,
		        res->class == RESOLVE_CLASS_LOCAL || res->class == RESOLVE_CLASS_HOSTED
		                ? "local"
		                : "smtp");
	if (res->nexthop.len > 0)
		return RESOLVE_OK;
	if (res->class == RESOLVE_CLASS_RELAY || res->class == RESOLVE_CLASS_REMOTE) {
		if (sender_relayhost(r, sender, &res->nexthop, &res->reason, &st) != 0)
			return st;
		if (*r->relayhost) {
			str_setz(&res->nexthop, r->relayhost);
			return RESOLVE_OK;
		}
	}
	str_set(&res->nexthop, p->canon.data + p->at + 1, p->canon.len - p->at - 1);
	return RESOLVE_OK;
}

enum resolve_status
resolve_address(
        struct resolver *r, const char *addr, const char *sender, struct resolve_result *res)
{
	struct str key = STR_INIT;
	struct parsed p;

	result_reset(res);
	cache_key(&key, 'R', addr, sender ? sender : "");
	if (cache_get(r, &key, res)) {
		str_free(&key);
		return res->status;
	}
	parsed_init(&p);
	if (resolve_common(r, addr, &p, res) != RESOLVE_OK)
		goto done;
	if ((res->status = resolve_route(r, &p, sender, res)) != RESOLVE_OK)
		goto done;
	if (r->fallback.len > 0 &&
	        (res->class == RESOLVE_CLASS_LOCAL || res->class == RESOLVE_CLASS_HOSTED)) {
		check_existence(r, &p, res);
		if (res->status == RESOLVE_UNKNOWN && !use_fallback(r, res)) {
			res->status = RESOLVE_OK; /* resolving is not verifying */
			str_reset(&res->reason);
		}
	}
done:
	if (res->status != RESOLVE_OK) {
		str_reset(&res->transport);
		str_reset(&res->nexthop);
	}
	cache_put(r, &key, res);
	parsed_free(&p);
	str_free(&key);
	return res->status;
}

enum resolve_status
resolve_verify(struct resolver *r, const char *addr, struct resolve_result *res)
{
	struct str key = STR_INIT;
	struct parsed p;

	result_reset(res);
	cache_key(&key, 'V', addr, NULL);
	if (cache_get(r, &key, res)) {
		str_free(&key);
		return res->status;
	}
	parsed_init(&p);
	if (resolve_common(r, addr, &p, res) == RESOLVE_OK) {
		check_existence(r, &p, res);
		use_fallback(r, res);
	}
	cache_put(r, &key, res);
	parsed_free(&p);
	str_free(&key);
	return res->status;
}
