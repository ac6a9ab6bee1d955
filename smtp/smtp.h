/*
 * smtp.h - the SMTP client's internal interfaces, shared by the files of
 * smtp/ and by nothing else.  docs/smtp-client.md is the user's view.
 *
 *	smtp.c		main, configuration, the request from qmgr and the
 *			per-recipient replies
 *	smtp_deliver.c	one delivery: the next hop, its addresses in order,
 *			the fallback relays, the results of every recipient
 *	smtp_connect.c	next hops, DNS (MX, A/AAAA, null MX, our own MX),
 *			address lists, connecting with a bind address
 *	smtp_session.c	the SMTP dialogue: greeting, EHLO/HELO, STARTTLS,
 *			MAIL/RCPT/DATA with PIPELINING, replies, RSET, QUIT
 *	smtp_tls.c	TLS policy per destination and the client contexts
 *	smtp_rewrite.c	masquerade_domain and smtp_generic_maps
 *	smtp_8bit.c	the MIME walker: 8-bit parts to quoted-printable, and
 *			the scan that says what a message holds
 *	smtp_cache.c	connections kept open for the next message
 *
 * Nothing here trusts a remote server: every reply is read with a
 * deadline and a length limit, and classified.  The queue file has been
 * validated by lib/queue_file.c; the request from qmgr is checked in
 * smtp.c before any of this sees it.
 */
#ifndef TERN_SMTP_SMTP_H
#define TERN_SMTP_SMTP_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#include "clock.h"
#include "dns.h"
#include "queue_file.h"
#include "str.h"

struct stream;
struct table;
struct config;

/* Limits. */
#define SMTP_REPLY_LINE_MAX    2048  /* octets of one reply line read from a server */
#define SMTP_REPLY_LINES_MAX   200   /* lines of one (multi-line) reply */
#define SMTP_REPLY_TEXT_MAX    512   /* octets of a reply kept for logs and DSNs */
#define SMTP_ADDR_LIST_MAX     100   /* addresses kept for one next hop */
#define SMTP_MX_MAX            50    /* MX records used for one domain */
#define SMTP_QUIT_AT_EXIT_MS   1000  /* wait for the QUIT reply when the process exits */
#define SMTP_CACHE_MAX         8     /* connections kept by one process */
#define SMTP_MIME_DEPTH_MAX    20    /* nested multiparts and message/rfc822 parts */
#define SMTP_MIME_PARTS_MAX    10000 /* parts one message may have converted */
#define SMTP_MIME_HEADER_MAX   65536 /* octets of one part's header kept for analysis */
#define SMTP_MIME_LINE_MAX     8192  /* longer lines are handled in pieces */
#define SMTP_MIME_BOUNDARY_MAX 200   /* octets of a multipart boundary (RFC 2046: 70) */
#define SMTP_QP_LINE_MAX       76    /* quoted-printable line length (RFC 2045 6.7) */
#define SMTP_CONTENT_BLOCK     65536 /* message text read and written at a time */

/* ---- configuration (smtp.c), read once before the jail ---- */

struct smtp_conf {
	const char *helo_name;
	const char *myhostname;
	int port; /* smtp_tcp_port */
	long long connect_ms, helo_ms, mail_ms, rcpt_ms, data_init_ms, data_xfer_ms;
	long long data_done_ms, quit_ms, rset_ms;
	long long cache_ms; /* smtp_connection_cache_time; 0: no reuse */
	long long messages_per_connection;
	long long rcpts_per_transaction;
	long long mx_address_limit;
	int use_ipv4, use_ipv6; /* inet_protocols */
	char *const *fallback_relay;
	char *const *helo_only; /* smtp_helo_only_destinations */
	struct table **helo_only_tables;
	size_t helo_only_ntables;
	int bind4_set, bind6_set;
	struct in_addr bind4;
	struct in6_addr bind6;
};

extern struct smtp_conf smtp_conf;

/* ---- recipients and results ---- */

enum smtp_rcpt_status {
	SMTP_RCPT_PENDING = 0, /* no final answer yet in this delivery */
	SMTP_RCPT_SENT,
	SMTP_RCPT_DEFERRED,
	SMTP_RCPT_BOUNCED,
};

struct smtp_rcpt {
	size_t index;     /* in the queue file */
	char *address;    /* as queued (internal form) */
	char *wire;       /* after smtp_generic_maps: what RCPT TO says */
	char *orcpt_type; /* "" when none */
	char *orcpt;      /* ORCPT address (decoded) */
	unsigned notify;  /* QUEUE_NOTIFY_* */
	enum smtp_rcpt_status status;
	char dsn[QUEUE_DSN_MAX + 1]; /* for a pending recipient: the last failure */
	struct str reason;           /* reply text or our own words */
	int last_code;               /* 4 or 5: class of the last failure, 0: none */
	int relayed;                 /* sent to a server without DSN while NOTIFY had SUCCESS */
	int reported;                /* the reply for it went to qmgr */
	struct str relay;            /* "host[ip]:port", or "none" */
	int conn_use;                /* the transaction's number on its connection */
	double conn_sec;             /* connection set-up (DNS, connect, greeting, EHLO, TLS) */
	double xfer_sec;             /* the transaction */
};

/* What a message holds, from one pass over its text (smtp_8bit.c). */
struct smtp_mime_scan {
	int header_8bit;              /* an octet >= 0x80 in the top-level header */
	int body_8bit;                /* ... anywhere after it */
	unsigned long long lines;     /* LF-ended lines */
	unsigned long long wire_size; /* octets on the wire with CRLF, before dot-stuffing */
	unsigned char *convert;       /* bit per part: an 8-bit leaf to convert */
	int overflow;                 /* more than SMTP_MIME_PARTS_MAX parts */
};

/* One message on its way: the request and the queue file. */
struct smtp_delivery {
	const char *queue_id;
	const char *nexthop;
	struct queue_file *qf;
	const struct queue_envelope *env;
	struct str sender; /* after smtp_generic_maps and masquerade_domain */
	struct smtp_rcpt *rcpt;
	size_t nrcpt;
	struct smtp_mime_scan scan;
	int need_smtputf8; /* SMTPUTF8 flag, or a non-ASCII address */
	int body_8bitmime; /* declare BODY=8BITMIME to a peer that has it */
	double dns_sec;    /* time spent on DNS for the current next hop */
	size_t answered;   /* recipients reported */
	int aborted;       /* qmgr went away: start nothing new */
	int dest_failed;   /* nobody answered: the final frame defers */
	char fail_dsn[QUEUE_DSN_MAX + 1];
	struct str fail_reason;
	struct str fail_relay;
	/* Called once for each recipient when its result is final. */
	void (*report)(struct smtp_delivery *d, struct smtp_rcpt *r);
};

/*
 * smtp_deliver.c
 *
 * smtp_deliver(d)	every recipient of d gets a result: d->report is
 *	called for each once it is final; when none could be given and the
 *	failure was temporary, d->dest_failed and fail_* say so instead.
 * smtp_rcpt_set(r, st, code, dsn, fmt, ...)	a result or (PENDING) the
 *	last failure: code 2, 4 or 5, the dsn's class forced to match.
 * smtp_pending(d)	recipients without a final result.
 */
void smtp_deliver(struct smtp_delivery *d);
void smtp_rcpt_set(struct smtp_rcpt *r, enum smtp_rcpt_status st, int code, const char *dsn,
        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
size_t smtp_pending(const struct smtp_delivery *d);

/* ---- next hops, DNS and addresses (smtp_connect.c) ---- */

struct smtp_dest {
	char host[DNS_NAME_MAX + 1]; /* name or IP address, without brackets */
	int port;
	int use_mx;  /* no brackets: look up MX */
	int literal; /* host is an IP address */
};

struct smtp_addr {
	char host[DNS_NAME_MAX + 1]; /* the MX host, or the next hop's host */
	char ip[INET6_ADDRSTRLEN];
	unsigned pref;
	int family;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} u;
};

struct smtp_addr_list {
	struct smtp_addr v[SMTP_ADDR_LIST_MAX];
	size_t n;
};

/* A failure before any connection: what the recipients get. */
struct smtp_fail {
	int code; /* 4: defer, 5: bounce */
	char dsn[QUEUE_DSN_MAX + 1];
	struct str reason;
};

/*
 * smtp_dns_init(c, err)	the resolver (dns_servers) and this host's
 *	addresses; before the jail.  -1 with err on failure.
 * smtp_nexthop_parse(nexthop, port, d, why)	"domain", "domain:port",
 *	"[host]", "[host]:port", "[IPv6:addr]"; -1 with why when malformed.
 * smtp_dns_resolve(d, l, f)	the addresses to try, best first: 0, or -1
 *	with f (code 4 defer, 5 bounce; dsn; reason).
 * smtp_addr_is_self(family, addr)	an address this host listens on.
 * smtp_connect_addr(a, port, ms, why)	a connected blocking socket from
 *	smtp_bind_address(6), or -1 with why ("connect to h[ip]:p: ...").
 */
int smtp_dns_init(struct config *c, struct str *err);
void smtp_dns_free(void);
int smtp_nexthop_parse(const char *nexthop, int default_port, struct smtp_dest *d, struct str *why);
int smtp_dns_resolve(const struct smtp_dest *d, struct smtp_addr_list *l, struct smtp_fail *f);
int smtp_addr_is_self(int family, const void *addr);
int smtp_connect_addr(const struct smtp_addr *a, int port, long long timeout_ms, struct str *why);

/* ---- the SMTP dialogue (smtp_session.c) ---- */

#define SMTP_FEATURE_ESMTP      0x001
#define SMTP_FEATURE_PIPELINING 0x002
#define SMTP_FEATURE_SIZE       0x004
#define SMTP_FEATURE_8BITMIME   0x008
#define SMTP_FEATURE_SMTPUTF8   0x010
#define SMTP_FEATURE_DSN        0x020
#define SMTP_FEATURE_STARTTLS   0x040
#define SMTP_FEATURE_ENHANCED   0x080
#define SMTP_FEATURE_CHUNKING   0x100
#define SMTP_FEATURE_AUTH       0x200

enum smtp_tls_level {
	SMTP_TLS_NONE,
	SMTP_TLS_MAY,
	SMTP_TLS_ENCRYPT,
	SMTP_TLS_VERIFY,
	SMTP_TLS_DANE,
	SMTP_TLS_INVALID, /* a policy entry we do not understand: defer */
};

/* A server reply. */
struct smtp_resp {
	int code;                    /* 3 digits; 0 when none could be read */
	char dsn[QUEUE_DSN_MAX + 1]; /* the enhanced code it gave, "" if none */
	struct str text;             /* all lines, "code[- ]" removed, joined by " " */
};

struct smtp_session {
	struct stream *stream;
	char *nexthop; /* the cache key */
	struct smtp_addr addr;
	int port;
	char relay[DNS_NAME_MAX + INET6_ADDRSTRLEN + 16]; /* host[ip]:port */
	unsigned features;
	unsigned long long size_max; /* the peer's SIZE, 0: none given */
	enum smtp_tls_level tls_level;
	int tls;                 /* TLS is on */
	int conn_use;            /* transactions started on it */
	int need_rset;           /* a transaction was left unfinished */
	int broken;              /* unusable: close without QUIT */
	double setup_sec;        /* connect, greeting, EHLO, TLS */
	long long idle_since_ms; /* for the cache */
};

/* smtp_session_open results */
enum smtp_open_status {
	SMTP_OPEN_OK,
	SMTP_OPEN_FAIL,     /* host-level failure: try the next address */
	SMTP_OPEN_TLS_FAIL, /* the TLS handshake failed: try again in plain text (may) */
};

/* smtp_session_transact results */
enum smtp_trans_status {
	SMTP_TRANS_OK,     /* the session can take another transaction */
	SMTP_TRANS_CLOSED, /* the session ended: recipients still pending go elsewhere */
};

/*
 * smtp_session_open(&s, nexthop, a, port, level, plain, f)	connect,
 *	greeting, EHLO/HELO, STARTTLS by level (none when plain); OK with
 *	*sp, else f says why (TLS_FAIL: level may, the handshake failed).
 * smtp_session_transact(s, d, idx, n)	one MAIL transaction for the
 *	pending recipients d->rcpt[idx[0..n)]; their results are set (a
 *	host-level failure leaves them pending with it); CLOSED when the
 *	session can carry no more (broken set when it must not get QUIT).
 * smtp_session_rset(s)	RSET; 0, or -1 with s broken.
 * smtp_session_quit(s, ms)	QUIT (unless broken), then free.
 * smtp_read_reply(st, ms, r)	one reply; -1 on failure or a malformed one.
 * smtp_format_path(address, out)	"<local@domain>", the local part quoted
 *	as RFC 5321 needs; "<>" for the null sender.
 * smtp_helo_only(host, mx)	either is in smtp_helo_only_destinations.
 */
enum smtp_open_status smtp_session_open(struct smtp_session **sp, const char *nexthop,
        const struct smtp_addr *a, int port, enum smtp_tls_level level, int plain,
        struct smtp_fail *f);
enum smtp_trans_status smtp_session_transact(
        struct smtp_session *s, struct smtp_delivery *d, size_t *idx, size_t n);
int smtp_session_rset(struct smtp_session *s);
void smtp_session_quit(struct smtp_session *s, long long timeout_ms);
void smtp_session_free(struct smtp_session *s);
int smtp_read_reply(struct stream *st, long long timeout_ms, struct smtp_resp *r);
void smtp_resp_init(struct smtp_resp *r);
void smtp_resp_free(struct smtp_resp *r);
void smtp_format_path(const char *address, struct str *out);
int smtp_helo_only(const char *nexthop_host, const char *mx_host);

/* ---- TLS (smtp_tls.c) ---- */

/*
 * smtp_tls_init(c, err)	contexts and smtp_tls_policy_maps, before the
 *	jail.  smtp_tls_policy(nexthop, d)	the level for a destination.
 * smtp_tls_ctx(level)	the context for may (smtp_tls_protocols) or for
 *	the mandatory levels (smtp_tls_mandatory_protocols).
 */
struct ssl_ctx_st;
int smtp_tls_init(struct config *c, struct str *err);
void smtp_tls_free(void);
enum smtp_tls_level smtp_tls_policy(const char *nexthop, const struct smtp_dest *d);
struct ssl_ctx_st *smtp_tls_ctx(enum smtp_tls_level level);
const char *smtp_tls_level_name(enum smtp_tls_level level);

/* ---- outbound address rewriting (smtp_rewrite.c) ---- */

/*
 * smtp_rewrite_init(c, err)	open smtp_generic_maps, before the jail.
 * smtp_rewrite_active()	1 when generic maps are configured.
 * smtp_rewrite_address(a, out)	generic maps: 1 rewritten, 0 not, -1 a
 *	table failed (out holds the address as it was).
 * smtp_rewrite_sender(s, out)	generic maps then masquerade_domain; -1
 *	when a table failed.
 * smtp_rewrite_header(field, len, out)	a top-level header field (LF
 *	between lines, no final line end): 1 with the new field in out, 0
 *	unchanged, -1 a table failed.  A smtp_header_hook.
 */
int smtp_rewrite_init(struct config *c, struct str *err);
void smtp_rewrite_free(void);
int smtp_rewrite_active(void);
int smtp_rewrite_sender(const char *sender, struct str *out);
int smtp_rewrite_address(const char *address, struct str *out);
int smtp_rewrite_header(const char *field, size_t len, struct str *out);

/* ---- MIME: scan and 8-bit conversion (smtp_8bit.c) ---- */

struct smtp_mime;
typedef int (*smtp_header_hook)(const char *field, size_t len, struct str *out);

enum smtp_mime_mode {
	SMTP_MIME_SCAN,    /* fill the scan; output only for the hook's sake */
	SMTP_MIME_COPY,    /* the text as it is, the hook applied */
	SMTP_MIME_CONVERT, /* the parts the scan marked in quoted-printable */
};

/*
 * smtp_mime_new(scan, mode, hook)	a walker; SCAN resets and fills scan,
 *	the other modes read it.  hook (may be NULL) gets each top-level
 *	header field and may replace it (see smtp_rewrite_header).
 * smtp_mime_feed(m, buf, len, out)	text in any pieces (LF line ends);
 *	the text to send is appended to out (LF line ends).
 * smtp_mime_end(m, out)	the end of the text.
 * smtp_mime_hook_failed(m)	the hook returned -1 at least once.
 * smtp_qp_encode_line(p, len, eol, &col, out)	quoted-printable of one
 *	line or piece (eol: the line ends here); col carries the column.
 */
struct smtp_mime *smtp_mime_new(
        struct smtp_mime_scan *scan, enum smtp_mime_mode mode, smtp_header_hook hook);
int smtp_mime_hook_failed(const struct smtp_mime *m);
void smtp_mime_feed(struct smtp_mime *m, const char *buf, size_t len, struct str *out);
void smtp_mime_end(struct smtp_mime *m, struct str *out);
void smtp_mime_free(struct smtp_mime *m);
void smtp_mime_scan_free(struct smtp_mime_scan *scan);
void smtp_qp_encode_line(const char *p, size_t len, int eol, size_t *col, struct str *out);

/* ---- kept connections (smtp_cache.c) ---- */

/*
 * smtp_cache_take(nexthop)	a kept, live session to that next hop, or
 *	NULL.  smtp_cache_put(s)	keep s, or retire it (QUIT later).
 * smtp_cache_expire()	close sessions idle past the cache time.
 * smtp_cache_retire()	QUIT the sessions not kept (after the answer).
 * smtp_cache_close_all()	QUIT everything (at exit).
 */
struct smtp_session *smtp_cache_take(const char *nexthop);
void smtp_cache_put(struct smtp_session *s);
void smtp_cache_expire(void);
void smtp_cache_retire(void);
void smtp_cache_close_all(void);

/* ---- helpers (smtp.c) ---- */

double smtp_seconds_since(long long start_ms);
int smtp_str_has_8bit(const char *s);

#endif
