/*
 * dsn.c - write delivery status notifications (RFC 3461-3464); see dsn.h
 * and docs/dsn.md.
 *
 * Trusts its caller for the facts (qmgr read them from a validated queue
 * file) but not for their form: every text that goes into a field is
 * checked for CR, LF and NUL, every line is kept within DSN_LINE_MAX, and
 * the MIME boundary is checked against every part.  No I/O, no clock.
 * Called by qmgr/qmgr_dsn_send.c and tests/unit/test_dsn.c.
 */
#include <string.h>

#include "dsn.h"
#include "header.h"
#include "rfc2822_date.h"
#include "rfc5322_addr.h"

#define DSN_BOUNDARY_TRIES 1000 /* suffixes tried before the boundary is given up */

/* The parts of one report, made before the boundary is chosen. */
struct parts {
	struct str text;     /* text/plain body */
	struct str status;   /* message/delivery-status body */
	struct str original; /* the original, lines broken where needed */
	int utf8_status;     /* non-ASCII in an address: global-delivery-status */
	int utf8_original;   /* non-ASCII in the original header: message/global */
};

const char *
dsn_action_name(enum dsn_action a)
{
	switch (a) {
	case DSN_ACTION_FAILED:
		return "failed";
	case DSN_ACTION_DELAYED:
		return "delayed";
	case DSN_ACTION_DELIVERED:
		return "delivered";
	case DSN_ACTION_RELAYED:
		return "relayed";
	case DSN_ACTION_EXPANDED:
		return "expanded";
	}
	return "failed";
}

const char *
dsn_kind_subject(enum dsn_kind k)
{
	switch (k) {
	case DSN_KIND_FAILURE:
		return "Undelivered Mail Returned to Sender";
	case DSN_KIND_DELAY:
		return "Delayed Mail (still being retried)";
	case DSN_KIND_SUCCESS:
		return "Successful Mail Delivery Report";
	}
	return "Mail Delivery Report";
}

enum dsn_return
dsn_return_choice(enum dsn_kind kind, enum queue_ret ret, unsigned long long size,
        unsigned long long limit, int *over_limit)
{
	if (over_limit)
		*over_limit = 0;
	if (kind != DSN_KIND_FAILURE || ret == QUEUE_RET_HDRS)
		return DSN_RETURN_HEADERS;
	if (limit > 0 && size > limit) {
		if (over_limit)
			*over_limit = 1;
		return DSN_RETURN_HEADERS;
	}
	return DSN_RETURN_FULL;
}

size_t
dsn_header_length(const char *text, size_t len)
{
	size_t off = 0;

	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);

		if (text[off] == '\n')
			return off; /* the empty line */
		if (nl == NULL)
			return len;
		off = (size_t)(nl - text) + 1;
	}
	return len;
}

/* "NAME[ADDR]:PORT" -> NAME, or ADDR when NAME is "unknown" or empty. */
static void
remote_name(const char *p, size_t len, struct str *remote)
{
	const char *lb = memchr(p, '[', len), *rb;
	size_t nlen = lb ? (size_t)(lb - p) : len;

	if (lb && (nlen == 0 || (nlen == 7 && strncmp(p, "unknown", 7) == 0)) &&
	        (rb = memchr(lb, ']', len - nlen)) != NULL)
		str_append(remote, lb + 1, (size_t)(rb - lb - 1));
	else
		str_append(remote, p, nlen);
}

int
dsn_reason_split(const char *reason, struct str *remote, struct str *smtp)
{
	static const char said[] = " said: ", tail[] = " command)";
	const char *p = reason, *host, *sp, *text, *end;

	str_reset(remote);
	str_reset(smtp);
	for (host = NULL; p && *p; p++) {
		if (strncmp(p, "host ", 5) == 0 && (p == reason || p[-1] == ' ')) {
			host = p + 5;
			break;
		}
	}
	if (host == NULL || (sp = strchr(host, ' ')) == NULL || sp == host ||
	        strncmp(sp, said, sizeof(said) - 1) != 0)
		return 0;
	text = sp + sizeof(said) - 1;
	end = text + strlen(text);
	/* "... (in reply to RCPT TO command)" is ours, not the server's. */
	if ((size_t)(end - text) > sizeof(tail) - 1 &&
	        strcmp(end - (sizeof(tail) - 1), tail) == 0) {
		const char *open = NULL;

		for (const char *q = text; q + 15 <= end; q++)
			if (strncmp(q, " (in reply to ", 14) == 0)
				open = q;
		if (open)
			end = open;
	}
	if (end == text)
		return 0;
	remote_name(host, (size_t)(sp - host), remote);
	str_append(smtp, text, (size_t)(end - text));
	return 1;
}

/* ---- checks ---- */

static int
nonascii(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] > 0x7f)
			return 1;
	return 0;
}

static int
nonascii_z(const char *s)
{
	return s ? nonascii(s, strlen(s)) : 0;
}

/* Text that may go into a field: no CR, LF or NUL (a NUL cannot be in a
 * C string anyway). */
static int
field_ok(const char *s)
{
	return s == NULL || strpbrk(s, "\r\n") == NULL;
}

static int
empty(const char *s)
{
	return s == NULL || *s == '\0';
}

static int
report_ok(const struct dsn_report *r)
{
	if (r->nrcpt == 0 || r->rcpt == NULL || empty(r->hostname) || empty(r->queue_id) ||
	        empty(r->report_id) || empty(r->to))
		return 0;
	if (!field_ok(r->hostname) || !field_ok(r->queue_id) || !field_ok(r->report_id) ||
	        !field_ok(r->to) || !field_ok(r->reply_to) || !field_ok(r->envid))
		return 0;
	if (strpbrk(r->report_id, "\" \t\\") || strpbrk(r->queue_id, "\" \t\\"))
		return 0;
	for (size_t i = 0; i < r->nrcpt; i++) {
		const struct dsn_rcpt *p = &r->rcpt[i];

		if (empty(p->address) || !field_ok(p->address) || !field_ok(p->orcpt_type) ||
		        !field_ok(p->orcpt_addr) || !field_ok(p->status) || !field_ok(p->reason))
			return 0;
	}
	return r->original != NULL || r->original_len == 0;
}

/* ---- lines ---- */

/* A field whose value cannot be folded at its blanks (a word longer
 * than a line): cut it, continuing with a space. */
static void
put_field_cut(struct str *out, const char *name, const char *value)
{
	size_t line, len = strlen(value);

	str_appendz(out, name);
	str_append(out, ": ", 2);
	line = strlen(name) + 2;
	for (size_t i = 0; i < len; i++) {
		if (line == DSN_LINE_MAX) {
			str_append(out, "\n ", 2);
			line = 1;
		}
		str_appendc(out, value[i]);
		line++;
	}
	str_appendc(out, '\n');
}

/* "Name: value", folded at blanks near 78 octets, never over a line. */
static void
put_field(struct str *out, const char *name, const char *value)
{
	if (header_fold(out, name, value) < 0)
		put_field_cut(out, name, value);
}

static void put_fieldf(struct str *out, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
put_fieldf(struct str *out, const char *name, const char *fmt, ...)
{
	struct str v = STR_INIT;
	va_list ap;

	va_start(ap, fmt);
	str_vprintf(&v, fmt, ap);
	va_end(ap);
	put_field(out, name, str_cstr(&v));
	str_free(&v);
}

static void
put_date(struct str *out, const char *name, long long when)
{
	struct str d = STR_INIT;

	rfc2822_date((time_t)when, &d);
	put_field(out, name, str_cstr(&d));
	str_free(&d);
}

/*
 * Append text as a paragraph wrapped near DSN_TEXT_WIDTH, continuation
 * lines indented by indent spaces; a word too long for a line is cut.
 */
static void
newline_indent(struct str *out, size_t indent, size_t *col)
{
	str_appendc(out, '\n');
	for (*col = 0; *col < indent; (*col)++)
		str_appendc(out, ' ');
}

static void
put_wrapped(struct str *out, const char *text, size_t indent)
{
	size_t col = 0, word;
	const char *p = text;
	int first = 1; /* no word on this line yet */

	for (;;) {
		while (*p == ' ')
			p++;
		if ((word = strcspn(p, " ")) == 0)
			break;
		if (!first && col + 1 + word > DSN_TEXT_WIDTH) {
			newline_indent(out, indent, &col);
			first = 1;
		}
		if (!first) {
			str_appendc(out, ' ');
			col++;
		}
		for (size_t i = 0; i < word; i++) {
			if (col >= DSN_LINE_MAX)
				newline_indent(out, indent, &col);
			str_appendc(out, p[i]);
			col++;
		}
		first = 0;
		p += word;
	}
	str_appendc(out, '\n');
}

/*
 * The original, line by line: a line longer than DSN_LINE_MAX is broken,
 * in the header with a folding space, in the body plainly.  The copy
 * always ends with a line end.
 */
static void
copy_original(struct str *out, const char *p, size_t len)
{
	size_t hlen = dsn_header_length(p, len), off = 0;

	while (off < len) {
		const char *nl = memchr(p + off, '\n', len - off);
		size_t end = nl ? (size_t)(nl - p) : len, line = 0;
		int in_header = off < hlen;

		for (size_t i = off; i < end; i++) {
			if (line == DSN_LINE_MAX) {
				str_appendc(out, '\n');
				line = 0;
				if (in_header) {
					str_appendc(out, ' ');
					line = 1;
				}
			}
			str_appendc(out, p[i]);
			line++;
		}
		str_appendc(out, '\n');
		off = end + 1;
	}
}

/* ---- the parts ---- */

static const char *
rcpt_status(const struct dsn_rcpt *p, char buf[16])
{
	static const char cls[] = {'5', '4', '2', '2', '2'};

	if (!empty(p->status))
		return p->status;
	buf[0] = cls[p->action];
	memcpy(buf + 1, ".0.0", 5);
	return buf;
}

static void
text_intro(const struct dsn_report *r, struct str *t)
{
	struct str d = STR_INIT, s = STR_INIT;
	long long until = 0;
	int relayed = 0;

	str_printf(t, "This is the mail system at host %s.\n\n", r->hostname);
	switch (r->kind) {
	case DSN_KIND_FAILURE:
		put_wrapped(t,
		        "Your message could not be delivered to one or more of its "
		        "recipients. This is a permanent error; the reasons are listed below.",
		        0);
		str_appendc(t, '\n');
		if (r->ret == DSN_RETURN_FULL) {
			put_wrapped(t, "Your message is attached.", 0);
		} else if (r->over_limit) {
			str_printf(&s,
			        "Your message was larger than %llu octets, so only its header "
			        "is attached.",
			        r->size_limit);
			put_wrapped(t, str_cstr(&s), 0);
		} else {
			put_wrapped(t, "The header of your message is attached.", 0);
		}
		break;
	case DSN_KIND_DELAY:
		put_wrapped(t,
		        "THIS IS A WARNING ONLY. YOU DO NOT NEED TO SEND YOUR MESSAGE AGAIN.", 0);
		str_appendc(t, '\n');
		for (size_t i = 0; i < r->nrcpt; i++)
			if (r->rcpt[i].retry_until > until)
				until = r->rcpt[i].retry_until;
		if (until > 0) {
			rfc2822_date((time_t)until, &d);
			str_printf(&s,
			        "Your message could not be delivered yet to the recipients below. "
			        "The mail system will keep trying until %s.",
			        str_cstr(&d));
		} else {
			str_appendz(&s,
			        "Your message could not be delivered yet to the recipients "
			        "below. The mail system will keep trying.");
		}
		put_wrapped(t, str_cstr(&s), 0);
		str_appendc(t, '\n');
		put_wrapped(t, "If it fails for good, you will get another report.", 0);
		break;
	case DSN_KIND_SUCCESS:
		put_wrapped(
		        t, "Your message was delivered to the recipients below, as you asked.", 0);
		for (size_t i = 0; i < r->nrcpt; i++)
			relayed |= r->rcpt[i].action == DSN_ACTION_RELAYED;
		if (relayed) {
			str_appendc(t, '\n');
			put_wrapped(t,
			        "Where it says \"relayed\", your message was passed on to a mail "
			        "system that does not send delivery reports, so no further report "
			        "will come from there.",
			        0);
		}
		break;
	}
	str_appendc(t, '\n');
	put_wrapped(t,
	        "For help, please write to the postmaster of this system and include this "
	        "report.",
	        0);
	str_appendz(t, "\n                   The mail system\n\n");
	str_free(&d);
	str_free(&s);
}

static void
text_rcpt(const struct dsn_rcpt *p, struct str *t)
{
	struct str line = STR_INIT;

	str_printf(&line, "<%s>", p->address);
	if (!empty(p->orcpt_type) && !empty(p->orcpt_addr) && strcmp(p->orcpt_addr, p->address))
		str_printf(&line, " (originally <%s>)", p->orcpt_addr);
	str_printf(&line, ": %s", !empty(p->reason) ? p->reason : dsn_action_name(p->action));
	put_wrapped(t, str_cstr(&line), 4);
	str_appendc(t, '\n');
	str_free(&line);
}

static void
status_rcpt(const struct dsn_rcpt *p, struct str *s)
{
	struct str remote = STR_INIT, smtp = STR_INIT;
	char buf[16];

	str_appendc(s, '\n');
	put_fieldf(s, "Final-Recipient", "%s; %s", nonascii_z(p->address) ? "utf-8" : "rfc822",
	        p->address);
	if (!empty(p->orcpt_type) && !empty(p->orcpt_addr))
		put_fieldf(s, "Original-Recipient", "%s; %s", p->orcpt_type, p->orcpt_addr);
	put_field(s, "Action", dsn_action_name(p->action));
	put_field(s, "Status", rcpt_status(p, buf));
	if (!empty(p->reason)) {
		if (dsn_reason_split(p->reason, &remote, &smtp)) {
			put_fieldf(s, "Remote-MTA", "dns; %s", str_cstr(&remote));
			put_fieldf(s, "Diagnostic-Code", "smtp; %s", str_cstr(&smtp));
		} else {
			put_fieldf(s, "Diagnostic-Code", "X-Tern; %s", p->reason);
		}
	}
	if (p->last_attempt > 0)
		put_date(s, "Last-Attempt-Date", p->last_attempt);
	if (p->action == DSN_ACTION_DELAYED && p->retry_until > 0)
		put_date(s, "Will-Retry-Until", p->retry_until);
	str_free(&remote);
	str_free(&smtp);
}

static void
make_parts(const struct dsn_report *r, struct parts *pt)
{
	text_intro(r, &pt->text);
	for (size_t i = 0; i < r->nrcpt; i++)
		text_rcpt(&r->rcpt[i], &pt->text);

	put_fieldf(&pt->status, "Reporting-MTA", "dns; %s", r->hostname);
	put_field(&pt->status, "X-Tern-Queue-ID", r->queue_id);
	if (!empty(r->envid))
		put_field(&pt->status, "Original-Envelope-Id", r->envid);
	put_date(&pt->status, "Arrival-Date", r->arrival);
	for (size_t i = 0; i < r->nrcpt; i++) {
		status_rcpt(&r->rcpt[i], &pt->status);
		pt->utf8_status |=
		        nonascii_z(r->rcpt[i].address) || nonascii_z(r->rcpt[i].orcpt_addr);
	}
	pt->utf8_status |= nonascii_z(r->envid);

	if (r->original_len > 0)
		copy_original(&pt->original, r->original, r->original_len);
	pt->utf8_original = nonascii(r->original, dsn_header_length(r->original, r->original_len));
}

/* A boundary that no part holds. */
static int
choose_boundary(const struct dsn_report *r, const struct parts *pt, struct str *b)
{
	const struct str *bodies[] = {&pt->text, &pt->status, &pt->original};

	for (unsigned n = 0; n < DSN_BOUNDARY_TRIES; n++) {
		int found = 0;

		str_reset(b);
		str_printf(b, "=_%s.%s", r->report_id, r->queue_id);
		if (n > 0)
			str_printf(b, ".%u", n);
		if (b->len > DSN_BOUNDARY_MAX)
			str_truncate(b, DSN_BOUNDARY_MAX);
		for (size_t i = 0; i < 3 && !found; i++)
			found = bodies[i]->len > 0 &&
			        memmem(bodies[i]->data, bodies[i]->len, b->data, b->len) != NULL;
		if (!found)
			return 0;
	}
	return -1;
}

static void
put_part(struct str *out, struct str *b, const char *description, const char *type,
        const struct str *body)
{
	str_printf(out, "--%s\n", str_cstr(b));
	put_field(out, "Content-Description", description);
	put_field(out, "Content-Type", type);
	if (nonascii(body->data, body->len))
		put_field(out, "Content-Transfer-Encoding", "8bit");
	str_appendc(out, '\n');
	str_append(out, body->data, body->len);
	str_appendc(out, '\n');
}

static const char *
original_description(const struct dsn_report *r)
{
	if (r->kind == DSN_KIND_FAILURE)
		return r->ret == DSN_RETURN_FULL ? "Undelivered Message"
		                                 : "Undelivered Message Headers";
	if (r->kind == DSN_KIND_DELAY)
		return "Delayed Message Headers";
	return "Message Headers";
}

static const char *
original_type(const struct dsn_report *r, const struct parts *pt)
{
	if (r->ret == DSN_RETURN_FULL)
		return pt->utf8_original ? "message/global" : "message/rfc822";
	return pt->utf8_original ? "message/global-headers" : "text/rfc822-headers";
}

static void
put_header(const struct dsn_report *r, const struct parts *pt, struct str *b, struct str *out)
{
	struct str v = STR_INIT;
	int eight = nonascii(pt->text.data, pt->text.len) ||
	        nonascii(pt->status.data, pt->status.len) ||
	        nonascii(pt->original.data, pt->original.len);

	put_fieldf(out, "From", "%s@%s (Mail Delivery System)", DSN_SENDER_NAME, r->hostname);
	rfc5322_format_mailbox(NULL, r->to, &v);
	put_field(out, "To", str_cstr(&v));
	if (!empty(r->reply_to)) {
		str_reset(&v);
		rfc5322_format_mailbox(NULL, r->reply_to, &v);
		put_field(out, "Reply-To", str_cstr(&v));
	}
	put_fieldf(out, "Subject", "%s%s", r->postmaster_copy ? "Postmaster Copy: " : "",
	        dsn_kind_subject(r->kind));
	put_date(out, "Date", r->date);
	put_fieldf(out, "Message-ID", "<%s@%s>", r->report_id, r->hostname);
	put_field(out, "Auto-Submitted", "auto-replied");
	put_field(out, "MIME-Version", "1.0");
	put_fieldf(out, "Content-Type", "multipart/report; report-type=%s; boundary=\"%s\"",
	        pt->utf8_status ? "global-delivery-status" : "delivery-status", str_cstr(b));
	put_field(out, "Content-Transfer-Encoding", eight ? "8bit" : "7bit");
	str_appendz(out, "\nThis is a MIME-encapsulated message.\n\n");
	str_free(&v);
}

int
dsn_write_report(const struct dsn_report *r, struct str *out, unsigned *needs)
{
	struct parts pt;
	struct str b = STR_INIT;
	size_t start = out->len;
	int rc = 0;

	if (needs)
		*needs = 0;
	if (!report_ok(r))
		return -1;
	memset(&pt, 0, sizeof(pt));
	make_parts(r, &pt);
	if (choose_boundary(r, &pt, &b) < 0) {
		rc = -1;
		goto out;
	}
	put_header(r, &pt, &b, out);
	put_part(out, &b, "Notification",
	        nonascii(pt.text.data, pt.text.len) ? "text/plain; charset=utf-8"
	                                            : "text/plain; charset=us-ascii",
	        &pt.text);
	put_part(out, &b, "Delivery report",
	        pt.utf8_status ? "message/global-delivery-status" : "message/delivery-status",
	        &pt.status);
	if (pt.original.len > 0)
		put_part(out, &b, original_description(r), original_type(r, &pt), &pt.original);
	str_printf(out, "--%s--\n", str_cstr(&b));
	if (needs) {
		if (nonascii(out->data + start, out->len - start))
			*needs |= DSN_NEEDS_8BIT;
		if (pt.utf8_status || pt.utf8_original || nonascii_z(r->to) ||
		        nonascii_z(r->reply_to))
			*needs |= DSN_NEEDS_SMTPUTF8;
	}
out:
	str_free(&pt.text);
	str_free(&pt.status);
	str_free(&pt.original);
	str_free(&b);
	return rc;
}
