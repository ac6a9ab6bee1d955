/*
 * deliver.h - the delivery-agent protocol between qmgr and the delivery
 * agents (local, smtp, tests/tools/testagent); docs/delivery-protocol.md
 * is the protocol, this header its frames.
 *
 * qmgr connects to the agent's UNIX socket (private/<transport>), sends
 * ONE request frame and reads the agent's answers: one frame per
 * recipient as each result is known, then one final frame; then both
 * sides close.  Frames are attribute lists (attr.h).
 *
 *	request	  request=deliver protocol=1 queue_id queue_file transport
 *		  nexthop sender flags rcpt_count, then per recipient
 *		  rcpt_index rcpt_address rcpt_orcpt_type rcpt_orcpt_address
 *		  rcpt_notify
 *	answer	  result=rcpt rcpt_index status dsn reason relay delay_conn
 *		  delay_xmit [conn_use] [dsn_relayed] [dsn_passed]
 *	final	  result=done status=ok|defer dsn reason [relay]
 *
 * The encoders below make valid frames whatever the caller passes in
 * the free text fields (reason, relay): control characters become
 * spaces and overlong text is cut.  The decoders check every field as
 * if it came from the network and refuse the frame (-1, why) on any
 * violation; a peer that sends a refused frame has broken the protocol.
 *
 * Callers: qmgr (request encoder, answer decoder), the agents (request
 * decoder, answer encoders).  Blocking agents use attr_send/attr_recv
 * with DELIVER_REQUEST_MAX as the receive limit.
 */
#ifndef TERN_DELIVER_H
#define TERN_DELIVER_H

#include <stddef.h>

#include "attr.h"
#include "queue_file.h"
#include "queue_id.h"
#include "str.h"

#define DELIVER_PROTOCOL      1                  /* version of the request */
#define DELIVER_RCPT_MAX      1000               /* recipients in one request */
#define DELIVER_REQUEST_MAX   (8 * 1024 * 1024)  /* octets of a request frame */
#define DELIVER_REPLY_MAX     65536              /* octets of an answer or final frame */
#define DELIVER_REASON_MAX    2000               /* octets of a reason */
#define DELIVER_RELAY_MAX     1024               /* octets of a relay ("host[ip]:port") */
#define DELIVER_NEXTHOP_MAX   1024               /* octets of a next hop */
#define DELIVER_TRANSPORT_MAX 64                 /* octets of a transport name */
#define DELIVER_DELAY_MAX     (100LL * 86400000) /* a reported delay, milliseconds */

/* Request flags, on the wire as comma-separated words. */
#define DELIVER_FLAG_8BITMIME 0x01u /* "8bitmime": BODY=8BITMIME (from the envelope) */
#define DELIVER_FLAG_SMTPUTF8 0x02u /* "smtputf8": SMTPUTF8 (from the envelope) */
#define DELIVER_FLAG_FLUSH    0x04u /* "flush": started by a flush or ETRN */
#define DELIVER_FLAG_ALL      0x07u

struct deliver_rcpt {
	size_t index;        /* in the queue file */
	char *address;       /* internal form, never empty */
	char *orcpt_type;    /* "" when no ORCPT */
	char *orcpt_address; /* "" when no ORCPT */
	unsigned notify;     /* QUEUE_NOTIFY_* */
};

struct deliver_request {
	char queue_id[QUEUE_ID_SIZE];
	char *queue_file; /* "active/<queue_id>", relative to queue_directory */
	char *transport;
	char *nexthop;
	char *sender; /* "" is the null sender */
	unsigned flags;
	struct deliver_rcpt *rcpts;
	size_t nrcpt;
	size_t cap;
};

void deliver_request_init(struct deliver_request *r);
void deliver_request_free(struct deliver_request *r);

/* Fill in the request (the strings are copied); the queue file is
 * "active/<queue_id>". */
void deliver_request_set(struct deliver_request *r, const char *queue_id, const char *transport,
        const char *nexthop, const char *sender, unsigned flags);
/* orcpt_type and orcpt_address may be NULL for none. */
void deliver_request_add_rcpt(struct deliver_request *r, size_t index, const char *address,
        const char *orcpt_type, const char *orcpt_address, unsigned notify);

/* The request frame's attributes (l is reset first).  A request with
 * no recipient, more than DELIVER_RCPT_MAX or a field that the decoder
 * would refuse is a bug: msg_panic. */
void deliver_request_encode(const struct deliver_request *r, struct attr_list *l);
/* 0, or -1 with the reason in why (r is then empty). */
int deliver_request_decode(const struct attr_list *l, struct deliver_request *r, struct str *why);

/* One recipient's result. */
enum deliver_status {
	DELIVER_SENT,     /* delivered: finished; dsn 2.X.Y */
	DELIVER_DEFERRED, /* try again later; dsn 4.X.Y */
	DELIVER_BOUNCED,  /* failed for good: finished; dsn 5.X.Y */
};

struct deliver_result {
	size_t index;
	enum deliver_status status;
	char dsn[QUEUE_DSN_MAX + 1];
	struct str reason;       /* remote reply or local text */
	struct str relay;        /* "host[ip]:port", "local", "none" */
	long long delay_conn_ms; /* delays "c": connection set-up */
	long long delay_xmit_ms; /* delays "d": transmission */
	long conn_use;           /* smtp: the message's place on a reused connection; 0: none */
	int dsn_relayed;         /* delivered to a next hop without DSN support */
	int dsn_passed;          /* the DSN request went on to a next hop that reports itself */
};

/* The final frame. */
enum deliver_done_status {
	DELIVER_DONE_OK,    /* the destination was reached (whatever each recipient's result) */
	DELIVER_DONE_DEFER, /* the destination failed as a whole: counts toward its back-off */
};

struct deliver_done {
	enum deliver_done_status status;
	char dsn[QUEUE_DSN_MAX + 1]; /* for recipients without an answer; "" when none */
	struct str reason;           /* the same; "" when none */
	struct str relay;            /* "" when none */
};

void deliver_result_init(struct deliver_result *r);
void deliver_result_free(struct deliver_result *r);
void deliver_done_init(struct deliver_done *d);
void deliver_done_free(struct deliver_done *d);

/*
 * The answer and final frames (l is reset first).  A dsn whose class
 * does not match the status, or an index the caller made up, is the
 * caller's bug: the encoder panics on a malformed dsn (class 2, 4, 5 as
 * the status says; "" for a final frame picks 4.0.0 when status=defer).
 */
void deliver_result_encode(const struct deliver_result *r, struct attr_list *l);
void deliver_done_encode(const struct deliver_done *d, struct attr_list *l);

/* What an agent sent: an answer (res filled) or the final frame (done
 * filled).  Returns 0, or -1 with the reason in why. */
enum deliver_reply_kind {
	DELIVER_REPLY_RCPT,
	DELIVER_REPLY_DONE,
};
int deliver_reply_decode(const struct attr_list *l, enum deliver_reply_kind *kind,
        struct deliver_result *res, struct deliver_done *done, struct str *why);

/* Blocking helpers for agents: encode and attr_send in one step. */
int deliver_send_result(int fd, const struct deliver_result *r, int timeout_ms, struct str *err);
int deliver_send_done(int fd, const struct deliver_done *d, int timeout_ms, struct str *err);

/* Names on the wire. */
const char *deliver_status_name(enum deliver_status st); /* "sent", "deferred", "bounced" */
int deliver_status_parse(const char *name, enum deliver_status *st);
/* "success,failure,delay", "never" or "". */
void deliver_notify_format(unsigned notify, struct str *out);
int deliver_notify_parse(const char *text, unsigned *notify);
void deliver_flags_format(unsigned flags, struct str *out);
/* Unknown words are skipped (a newer qmgr talks to an older agent). */
unsigned deliver_flags_parse(const char *text);

/* 1 when dsn is "c.s.d" (c is 2, 4 or 5; s and d 1-3 digits) and, when
 * class is not 0, c is class ('2', '4', '5'); else 0. */
int deliver_dsn_valid(const char *dsn, int class);

/* Copy text into out, control characters as spaces, cut at max octets. */
void deliver_clean_text(struct str *out, const char *text, size_t max);

#endif
