/*
 * dsn.h - delivery status notifications (RFC 3461-3464): the message that
 * tells a sender what became of the recipients of one of its messages.
 * docs/dsn.md says when qmgr sends which; this module only writes them.
 *
 * One report covers one message and one event (a failure, a delay, a
 * success) and lists every recipient concerned, never one report per
 * recipient.  dsn_write_report() appends the whole report, header and
 * body, to a struct str, with LF line ends (the form of the queue file;
 * cleanup takes LF for line ends):
 *
 *	From: MAILER-DAEMON@HOST (Mail Delivery System)
 *	To, [Reply-To], Subject, Date, Message-ID, Auto-Submitted:
 *	auto-replied, MIME-Version, Content-Type: multipart/report;
 *	report-type=delivery-status; boundary="..."
 *
 *	1. text/plain: what happened, per recipient the reason
 *	2. message/delivery-status: Reporting-MTA, X-Tern-Queue-ID,
 *	   [Original-Envelope-Id], Arrival-Date; per recipient
 *	   Final-Recipient, [Original-Recipient], Action, Status,
 *	   [Remote-MTA], [Diagnostic-Code], [Last-Attempt-Date],
 *	   [Will-Retry-Until]
 *	3. the original: message/rfc822 (the whole message) or
 *	   text/rfc822-headers (its header only)
 *
 * With non-ASCII addresses or header text (SMTPUTF8 mail) parts 2 and 3
 * become message/global-delivery-status and message/global or
 * message/global-headers (RFC 6533).  Every line is at most DSN_LINE_MAX
 * octets: fields are folded, and an original line longer than that is
 * broken (in the original's header with a folding space).  The boundary
 * is made of the two queue IDs and occurs in no part.
 *
 * Pure: no I/O, no clock, no configuration; everything comes in the
 * struct dsn_report.  Called by qmgr (qmgr_dsn_send.c) and the unit tests.
 */
#ifndef TERN_DSN_H
#define TERN_DSN_H

#include <stddef.h>

#include "queue_file.h"
#include "str.h"

#define DSN_LINE_MAX     998          /* octets in one line, line end excluded (RFC 5322) */
#define DSN_TEXT_WIDTH   76           /* the human-readable part is wrapped near this */
#define DSN_BOUNDARY_MAX 70           /* octets of a MIME boundary (RFC 2046) */
#define DSN_HEADERS_MAX  (256 * 1024) /* octets of an original header returned */
#define DSN_SENDER_NAME  "MAILER-DAEMON"

enum dsn_kind {
	DSN_KIND_FAILURE, /* "Undelivered Mail Returned to Sender" */
	DSN_KIND_DELAY,   /* "Delayed Mail (still being retried)" */
	DSN_KIND_SUCCESS, /* "Successful Mail Delivery Report" */
};

/* Action: (RFC 3464 2.3.3) */
enum dsn_action {
	DSN_ACTION_FAILED,
	DSN_ACTION_DELAYED,
	DSN_ACTION_DELIVERED,
	DSN_ACTION_RELAYED, /* to a next hop that does not speak DSN */
	DSN_ACTION_EXPANDED,
};

/* What the report carries of the original message. */
enum dsn_return {
	DSN_RETURN_HEADERS, /* text/rfc822-headers */
	DSN_RETURN_FULL,    /* message/rfc822 */
};

struct dsn_rcpt {
	const char *address;    /* Final-Recipient, internal form */
	const char *orcpt_type; /* Original-Recipient type, "" or NULL: none */
	const char *orcpt_addr;
	enum dsn_action action;
	const char *status;     /* "5.1.1"; "" or NULL: the action's class with .0.0 */
	const char *reason;     /* recorded reason ("host X said: ...", "..."); "" none */
	long long last_attempt; /* seconds since the epoch; 0: none */
	long long retry_until;  /* Will-Retry-Until (delayed only); 0: none */
};

struct dsn_report {
	enum dsn_kind kind;
	const char *hostname;  /* myhostname: Reporting-MTA, From:, Message-ID */
	const char *queue_id;  /* the original's queue ID */
	const char *report_id; /* the report's own queue ID */
	const char *to;        /* To: the original sender, or the postmaster */
	const char *reply_to;  /* NULL or "": none (the postmaster's copy: the sender) */
	int postmaster_copy;   /* "Postmaster Copy: " before the subject */
	const char *envid;     /* Original-Envelope-Id; NULL or "": none */
	long long arrival;     /* Arrival-Date, seconds since the epoch */
	long long date;        /* Date:, seconds since the epoch */
	const struct dsn_rcpt *rcpt;
	size_t nrcpt; /* at least one */
	/* The original: the whole text, or its header (dsn_header_length),
	 * LF line ends, as the queue file holds it. */
	enum dsn_return ret;
	const char *original;
	size_t original_len;
	int over_limit;                /* headers only because the message exceeds size_limit */
	unsigned long long size_limit; /* bounce_size_limit, for the text part */
};

/* dsn_write_report() results, ORed into *needs. */
#define DSN_NEEDS_8BIT     0x01u /* an octet over 127: send as 8BITMIME */
#define DSN_NEEDS_SMTPUTF8 0x02u /* a non-ASCII address or header: SMTPUTF8 */

/*
 * Append the report to out.  Returns 0, or -1 (out unchanged) when the
 * report is malformed: no recipient, a missing address or hostname or
 * queue ID, text with a CR, LF or NUL where a field goes.  *needs (when
 * not NULL) gets DSN_NEEDS_* of what the report holds.
 */
int dsn_write_report(const struct dsn_report *r, struct str *out, unsigned *needs);

/*
 * What a report returns of a message of size octets (RFC 3461 4.3):
 * failures return the message when ret is FULL or unset and it is at most
 * limit octets (0: no limit), else its header; delay and success
 * reports always return the header only.  *over_limit (when not NULL) is
 * set when the size alone made it headers.
 */
enum dsn_return dsn_return_choice(enum dsn_kind kind, enum queue_ret ret, unsigned long long size,
        unsigned long long limit, int *over_limit);

/*
 * The length of the header section at the start of text[0..len): up to
 * and including the LF before the first empty line (len when there is
 * none).  The empty line itself is not counted.
 */
size_t dsn_header_length(const char *text, size_t len);

/*
 * Split a recorded reason: when it holds "host NAME[ADDR]:PORT said: TEXT"
 * (the form of the smtp agent, possibly after "message expired ...: "),
 * remote gets NAME (ADDR when NAME is "unknown") and smtp gets TEXT
 * without a trailing "(in reply to ... command)"; returns 1.  Else both
 * stay empty and it returns 0.
 */
int dsn_reason_split(const char *reason, struct str *remote, struct str *smtp);

const char *dsn_action_name(enum dsn_action a);
const char *dsn_kind_subject(enum dsn_kind k);

#endif
