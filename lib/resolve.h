/*
 * resolve.h - address resolution: what trivial-rewrite knows about an
 * address, as pure logic over a struct config and the tables it names.
 *
 * Addresses are in internal form: the local part unquoted, then "@",
 * then the domain; the domain is what follows the last "@", so a quoted
 * "@" stays in the local part ("a@b"@example.com is "a@b@example.com").
 *
 * Canonical form (resolve_canonical):
 *	- a bare local part gets "@$myorigin" ("postmaster" included);
 *	- one trailing dot of the domain is dropped, the domain's ASCII
 *	  letters are lower-cased; the local part keeps its case.
 *	The domain must be a host name or an address literal ([192.0.2.1],
 *	[IPv6:2001:db8::1]) as RFC 5321 writes them (addr.h); the local part
 *	must be non-empty, well-formed UTF-8 without control characters.
 *	The empty address (the null sender) stays empty.
 *
 * Domain class, first match wins, without regard to case; a subdomain
 * matches only when listed (an item ".example.com" lists every subdomain
 * of example.com):
 *	LOCAL	mydestination (names or type:table specs), and the address
 *		literals of this host's interfaces ([127.0.0.1])
 *	HOSTED	virtual_mailbox_domains, virtual_alias_domains
 *	RELAY	relay_domains
 *	REMOTE	everything else
 *
 * Transport and next hop (resolve_address): transport_maps is searched
 * with the domain, then each ".parent" (".b.example.com", ".example.com",
 * ".com" for "a.b.example.com"), then "*"; the first key found in any of
 * the maps wins, so the most specific entry wins.  Address literals are
 * looked up as themselves and "*" only.  A value is "transport:nexthop";
 * an empty part (or a value without ":", which is a transport alone)
 * takes the default of the class:
 *	LOCAL, HOSTED	transport "local", next hop the recipient domain
 *	RELAY, REMOTE	transport "smtp", next hop the first of
 *			sender_dependent_relayhost_maps (the sender, then
 *			"@sender-domain"; not for the null sender), relayhost,
 *			the recipient domain
 * A next hop is passed on as text: "[host]:port" and "host" keep their
 * meaning for smtp, which interprets them (brackets: no MX lookup).
 *
 * Recipient existence (resolve_verify).  "ext" below is the address
 * extension: with recipient_delimiter "+", "user+ext" has the base
 * "user" (any character of recipient_delimiter separates; a local part
 * that starts with one has no extension).  The local part "postmaster"
 * (any case) exists in every class.
 *	LOCAL	getpwnam(base, lower-cased), alias_maps (local part, then
 *		base), virtual_alias_maps (address, base address, "@domain")
 *	HOSTED	virtual_mailbox_maps or virtual_alias_maps (address, base
 *		address, "@domain")
 *	RELAY	relay_recipient_maps when set (address, base address,
 *		"@domain"), else every recipient exists
 *	REMOTE	exists: not ours to say
 * A hit in any source proves existence; otherwise a table read error (or
 * a failing getpwnam) is RESOLVE_DEFER, never RESOLVE_UNKNOWN.
 *
 * Routing tricks: a local part holding "%", "!" or "@" is never routed
 * elsewhere: it is looked up as it is (and is normally unknown), and the
 * result carries RESOLVE_FLAG_ROUTING_TRICK.
 *
 * Fallback: when fallback_relay is set, an unknown recipient of a LOCAL
 * or HOSTED domain (not a routing trick) resolves to transport "smtp"
 * and next hop "[fallback_relay]" (kept as written when it already has
 * brackets), with RESOLVE_FLAG_FALLBACK; resolve_verify then says
 * RESOLVE_OK.  resolve_address checks existence only in this case.
 *
 * Cache: results other than DEFER and ERROR are kept for a few seconds
 * (RESOLVE_CACHE_TTL_MS) in a bounded, set-associative cache
 * (RESOLVE_CACHE_ENTRIES); the least recently used entry of a set goes.
 *
 * Callers: trivial-rewrite (the service), tests.  Tables named by the
 * configuration are opened by resolver_open (before a daemon's jail).
 */
#ifndef TERN_RESOLVE_H
#define TERN_RESOLVE_H

#include <stddef.h>

#include "str.h"

struct config;
struct table;
struct resolver;

#define RESOLVE_ADDRESS_MAX   1024 /* octets of an address in internal form */
#define RESOLVE_CACHE_ENTRIES 4096 /* cached results (a multiple of RESOLVE_CACHE_WAYS) */
#define RESOLVE_CACHE_WAYS    4    /* entries per cache set */
#define RESOLVE_CACHE_TTL_MS  5000 /* lifetime of a cached result */
#define RESOLVE_TRANSPORT_MAX 64   /* octets of a transport name */
#define RESOLVE_TABLE_MAX     64   /* tables one resolver opens */

enum resolve_status {
	RESOLVE_OK,      /* resolved; for verify: the recipient exists */
	RESOLVE_UNKNOWN, /* verify: no such recipient in our domain */
	RESOLVE_DEFER,   /* a table or account lookup failed: try again later */
	RESOLVE_ERROR,   /* malformed address or configuration value */
};

enum resolve_class {
	RESOLVE_CLASS_LOCAL,
	RESOLVE_CLASS_HOSTED,
	RESOLVE_CLASS_RELAY,
	RESOLVE_CLASS_REMOTE,
};

/* result flags */
#define RESOLVE_FLAG_ROUTING_TRICK 0x01 /* "%", "!" or "@" in the local part */
#define RESOLVE_FLAG_FALLBACK      0x02 /* unknown local recipient sent to fallback_relay */

struct resolve_result {
	enum resolve_status status;
	enum resolve_class class;
	unsigned flags;
	struct str recipient; /* canonical address */
	struct str transport; /* resolve_address only */
	struct str nexthop;   /* resolve_address only */
	struct str reason;    /* why, when not RESOLVE_OK */
};

void resolve_result_init(struct resolve_result *res);
void resolve_result_free(struct resolve_result *res);

/*
 * Open every table the resolver needs, as named by c (which must stay
 * valid while the resolver lives).  Returns NULL with "parameter: spec:
 * reason" appended to err when a table cannot be opened.
 */
struct resolver *resolver_open(struct config *c, struct str *err);
void resolver_close(struct resolver *r);

/* The tables opened (for daemon_watch_table). */
size_t resolver_table_count(const struct resolver *r);
struct table *resolver_table(const struct resolver *r, size_t i);

/* The spec of the first table whose file changed since it was opened, or
 * NULL. */
const char *resolver_changed(struct resolver *r);

/*
 * The canonical form of addr into canon (replaced).  RESOLVE_OK, or
 * RESOLVE_ERROR with the reason in reason.
 */
enum resolve_status resolve_canonical(
        struct resolver *r, const char *addr, struct str *canon, struct str *reason);

/*
 * Class, transport and next hop of a recipient; sender (may be NULL or
 * "") selects a sender-dependent relay host.  Fills res and returns
 * res->status: RESOLVE_OK, RESOLVE_DEFER (a table failed) or
 * RESOLVE_ERROR (malformed address, sender or transport_maps value).
 */
enum resolve_status resolve_address(
        struct resolver *r, const char *addr, const char *sender, struct resolve_result *res);

/*
 * Does a recipient exist?  Fills res (class, recipient, flags, and the
 * fallback transport and next hop when used) and returns res->status:
 * RESOLVE_OK, RESOLVE_UNKNOWN, RESOLVE_DEFER or RESOLVE_ERROR.
 */
enum resolve_status resolve_verify(
        struct resolver *r, const char *addr, struct resolve_result *res);

/* Cache size and lifetime (entries 0 or ttl_ms 0: no cache); drops the
 * cache.  entries is rounded up to a multiple of RESOLVE_CACHE_WAYS. */
void resolver_cache_setup(struct resolver *r, size_t entries, long long ttl_ms);
void resolver_cache_stats(const struct resolver *r, unsigned long *hits, unsigned long *misses);

/* Names on the wire: "ok", "unknown", "defer", "error"; "local", "hosted",
 * "relay", "remote"; flags as a comma-separated list of "routing_trick"
 * and "fallback". */
const char *resolve_status_name(enum resolve_status st);
const char *resolve_class_name(enum resolve_class cl);
int resolve_status_parse(const char *name, enum resolve_status *st);
int resolve_class_parse(const char *name, enum resolve_class *cl);
void resolve_flags_format(unsigned flags, struct str *out);
/* 0, or -1 for an unknown word. */
int resolve_flags_parse(const char *text, unsigned *flags);

#endif
