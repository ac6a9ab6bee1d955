/*
 * dns.h - asynchronous DNS lookups (MX, A, AAAA, PTR, TXT, TLSA) on a
 * libevent loop; see docs/dns.md.
 *
 * A resolver wraps one libunbound context in its threaded asynchronous
 * mode.  dns_resolver_new() reads every file it needs (resolv.conf, hosts,
 * trust anchor) at once, so a daemon creates its resolver before it
 * chroots; the first query starts libunbound's worker thread.
 *
 * Configuration, in order of precedence:
 *	servers		"127.0.0.1@5353, ::1, [2001:db8::1]:53": forward every
 *			query to these (IP addresses only; the port after '@'
 *			or after "[ip]:"; separators are commas and white space)
 *	resolv_conf	otherwise the nameserver lines of this file
 *			(NULL: /etc/resolv.conf)
 *	hosts		a hosts(5) file answered locally; NULL means
 *			/etc/hosts when servers is NULL and none when it is
 *			set; "" means none
 *	trust_anchor	a file of DS or DNSKEY records in zone-file format
 *			(/usr/share/dns/root.key) enabling DNSSEC validation;
 *			NULL or "" disables it, and then no answer is secure
 *	timeout_ms	per query, enforced by the layer itself
 *			(<= 0: DNS_DEFAULT_TIMEOUT_MS)
 *
 * Queries never go anywhere but the configured servers: there is no
 * recursion from the root and nothing is fetched to prime trust anchors.
 *
 * dns_query() starts a lookup and returns a handle; the callback runs
 * exactly once, later, from the event loop (never from inside
 * dns_query()), unless the query is cancelled first with
 * dns_query_cancel() or the resolver is freed.  The callback owns the
 * answer and frees it with dns_answer_free().  The handle is invalid once
 * the callback has started.  A callback may start or cancel other queries
 * and may free the resolver.
 *
 * dns_query_sync() is for programs without a running loop (commands,
 * tests).  It waits on the resolver's descriptor itself; answers to
 * asynchronous queries on the same resolver that arrive meanwhile are
 * delivered from inside it, and their timeouts wait for the loop.
 *
 * Answers:
 *	DNS_OK		rr[0..n-1] hold the records, in libunbound's order
 *			(dns_mx_sort() orders an MX list)
 *	DNS_NODATA	the name exists, without records of this type
 *	DNS_NXDOMAIN	the name does not exist
 *	DNS_NULLMX	an MX query found a single "0 ." record (RFC 7505):
 *			the domain accepts no mail
 *	DNS_TEMPFAIL	SERVFAIL, REFUSED, any other error code, no answer
 *			within the timeout ("timeout"), a network error
 *	DNS_MALFORMED	the record data does not parse; why says how
 *	DNS_BOGUS	DNSSEC validation failed; why says why
 * why is NULL for DNS_OK; a short text otherwise.  secure and bogus are
 * libunbound's verdicts; canonname is the name at the end of any CNAME
 * chain (NULL when there is none).  Names in answers are in presentation
 * form without the final dot ("mx1.example"; the root is ".") and contain
 * only printable ASCII other than space, '.' inside a label, '\\' and
 * '"'; anything else makes the answer DNS_MALFORMED.
 */
#ifndef TERN_DNS_H
#define TERN_DNS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct str;

#define DNS_DEFAULT_TIMEOUT_MS 10000
#define DNS_NAME_MAX           253 /* presentation form, no final dot */
#define DNS_WIRE_NAME_MAX      255 /* wire form, with the root label */
#define DNS_LABEL_MAX          63
#define DNS_TLSA_MIN           3  /* usage, selector, matching type */
#define DNS_MAX_SERVERS        16 /* entries in the servers list */

/* The record types this layer parses; any other type is kept raw. */
enum dns_type {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_CNAME = 5,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_TLSA = 52,
};

enum dns_status {
	DNS_OK,
	DNS_NODATA,
	DNS_NXDOMAIN,
	DNS_NULLMX,
	DNS_TEMPFAIL,
	DNS_MALFORMED,
	DNS_BOGUS,
};

struct dns_rr {
	int type;
	uint32_t ttl;
	union {
		struct {
			unsigned pref;
			char host[DNS_NAME_MAX + 1];
		} mx;
		struct in_addr a;
		struct in6_addr aaaa;
		char name[DNS_NAME_MAX + 1]; /* PTR, CNAME, NS */
		struct {
			size_t len;
			char *data; /* the strings concatenated, NUL added */
		} txt;
		struct {
			uint8_t usage, selector, mtype;
			size_t len;
			unsigned char *data;
		} tlsa;
		struct {
			size_t len;
			unsigned char *data;
		} raw; /* any other type: the rdata as received */
	} u;
};

struct dns_answer {
	enum dns_status status;
	int rrtype;
	char *qname;
	int rcode;
	int secure;
	int bogus;
	char *canonname;
	char *why;
	uint32_t ttl;
	size_t n;
	struct dns_rr *rr;
};

struct dns_options {
	const char *servers;
	const char *resolv_conf;
	const char *hosts;
	const char *trust_anchor;
	int timeout_ms;
};

struct dns_resolver;
struct dns_query;

typedef void (*dns_callback)(struct dns_answer *a, void *arg);

/*
 * dns.c: the resolver.
 *
 * dns_resolver_new(base, opt, err)	a resolver on base (NULL: only
 *	dns_query_sync() works); opt NULL means all defaults.  NULL with a
 *	reason in err for a bad server list or an unreadable or unparsable
 *	file.  Call it after fork(), before chroot.
 * dns_resolver_free(r)		end every query without its callback and
 *	free everything; safe from inside a callback.
 * dns_query(r, name, rrtype, cb, arg, err)	start a lookup of class
 *	IN; a handle, or NULL with a reason in err (bad name, no loop,
 *	libunbound refused) and then cb is never called.
 * dns_query_cancel(q)			forget a pending query; no callback.
 * dns_query_sync(r, name, rrtype, &a, err)	0 with *a (the caller
 *	frees it), or -1 with a reason in err as for dns_query().
 * dns_check_name(name, &why)		0 if name may be asked about: labels
 *	of 1 to 63 printable ASCII characters other than '\\' and '"', at
 *	most DNS_NAME_MAX in all, a final dot allowed, or "." alone.
 * dns_parse_servers(list, &v, &n, err)	the servers option in
 *	libunbound's "ip" / "ip@port" forms (a NULL-terminated array the
 *	caller frees, strings too); -1 with a reason in err.
 */
struct dns_resolver *dns_resolver_new(
        struct event_base *base, const struct dns_options *opt, struct str *err);
void dns_resolver_free(struct dns_resolver *r);
struct dns_query *dns_query(struct dns_resolver *r, const char *name, int rrtype, dns_callback cb,
        void *arg, struct str *err);
void dns_query_cancel(struct dns_query *q);
int dns_query_sync(struct dns_resolver *r, const char *name, int rrtype, struct dns_answer **a,
        struct str *err);
int dns_check_name(const char *name, const char **why);
int dns_parse_servers(const char *list, char ***out, size_t *n, struct str *err);

/*
 * dns_rr.c: record data, answers, names.
 *
 * dns_rr_parse(type, data, len, rr, &why)	rdata into *rr (ttl left 0):
 *	exact lengths for A and AAAA; for MX, PTR, CNAME and NS an
 *	uncompressed name filling the rest of the data; TXT strings whose
 *	length bytes stay inside the data; TLSA of at least 3 bytes; any
 *	other type copied raw.  -1 with a static *why, nothing to free.
 * dns_rr_clear(rr)			free what dns_rr_parse() allocated.
 * dns_name_parse(data, len, &used, out, outsize, &why)	one wire name at
 *	data (outsize >= DNS_NAME_MAX + 1); *used gets its length.
 * dns_answer_set_records(a, type, data, len, ttl)	libunbound's
 *	NULL-terminated rdata arrays into a->rr; sets a->status to OK,
 *	NODATA, NULLMX, or MALFORMED (no records kept, why names the
 *	record); -1 when malformed.
 * dns_mx_is_null(a)			a single MX "0 ." (RFC 7505).
 * dns_mx_sort(a)			MX records by preference, equal
 *	preferences in random order; other answers untouched.
 * dns_answer_free(a)			NULL is fine.
 * dns_reverse_name(ip, out)		"4.3.2.1.in-addr.arpa" or the
 *	ip6.arpa nibble name of an address in text; -1 if ip is none.
 * dns_status_name(s), dns_type_name(t), dns_type_code(name)	"NULLMX",
 *	"MX" or "TYPE99" (a static buffer), and back (-1 if unknown).
 * dns_rr_format(rr, out)		append the record as text: "10 mx.example",
 *	"\"text\"" with \DDD escapes, "3 1 1 HEX", "\\# LEN HEX" for others.
 */
int dns_rr_parse(
        int type, const unsigned char *data, size_t len, struct dns_rr *rr, const char **why);
void dns_rr_clear(struct dns_rr *rr);
int dns_name_parse(const unsigned char *data, size_t len, size_t *used, char *out, size_t outsize,
        const char **why);
int dns_answer_set_records(
        struct dns_answer *a, int type, char *const *data, const int *len, uint32_t ttl);
int dns_mx_is_null(const struct dns_answer *a);
void dns_mx_sort(struct dns_answer *a);
void dns_answer_free(struct dns_answer *a);
int dns_reverse_name(const char *ip, struct str *out);
const char *dns_status_name(enum dns_status status);
const char *dns_type_name(int type);
int dns_type_code(const char *name);
void dns_rr_format(const struct dns_rr *rr, struct str *out);

#endif
