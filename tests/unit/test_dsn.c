/*
 * test_dsn.c - delivery status notifications as lib/dsn.c writes them:
 * the MIME structure taken apart again, every field of the header and of
 * the delivery-status part, what is returned of the original (RET=FULL,
 * RET=HDRS, the size fallback), ENVID and ORCPT echoed, the boundary
 * absent from every part, line lengths, and malformed reports refused.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver.h"
#include "dsn.h"
#include "rfc2822_date.h"

#define QID      "0K2QF7B1D3T0A1C4"
#define RID      "0K2QF7B9ZZT0A1C7"
#define HOST     "mx1.tern.test"
#define ARRIVAL  1748959509LL /* Tue, 3 Jun 2025 14:05:09 UTC */
#define NOW      (ARRIVAL + 3600)
#define ORIGINAL "From: alice@example.org\nTo: bob@example.net\nSubject: hi\n\nhello\nworld\n"

static void
utc(void)
{
	setenv("TZ", "UTC", 1);
	rfc2822_date_init();
}

TestSuite(dsn, .init = utc);

/* ---- a small MIME reader for the checks ---- */

struct part {
	char *header; /* field lines, unfolded, each ending in LF */
	char *body;
};

struct report {
	char *header;
	char *boundary;
	struct part parts[8];
	int nparts;
};

/* Unfold "name: value\n\tmore" into "name: value more". */
static char *
unfold(const char *p, size_t len)
{
	char *out = malloc(len + 1);
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n' && i + 1 < len && (p[i + 1] == ' ' || p[i + 1] == '\t')) {
			i++;
			if (n > 0 && out[n - 1] != ' ')
				out[n++] = ' ';
			continue;
		}
		out[n++] = p[i];
	}
	out[n] = '\0';
	return out;
}

/* The value of a field (first match, name without case), or NULL. */
static char *
field(const char *header, const char *name)
{
	size_t nl = strlen(name);
	const char *p = header;

	while (p && *p) {
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *e = strchr(v, '\n');

			while (*v == ' ')
				v++;
			return strndup(v, e ? (size_t)(e - v) : strlen(v));
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static void
assert_field(const char *header, const char *name, const char *want)
{
	char *v = field(header, name);

	cr_assert(v != NULL, "no %s: in\n%s", name, header);
	cr_assert_str_eq(v, want, "%s", name);
	free(v);
}

static void
assert_no_field(const char *header, const char *name)
{
	char *v = field(header, name);

	cr_assert(v == NULL, "unexpected %s: %s", name, v);
}

static void
split_part(const char *p, size_t len, struct part *pt)
{
	const char *sep = memmem(p, len, "\n\n", 2);

	cr_assert(sep != NULL, "part without an empty line");
	pt->header = unfold(p, (size_t)(sep - p) + 1);
	pt->body = strndup(sep + 2, len - (size_t)(sep + 2 - p));
}

static void
parse_report(const struct str *s, struct report *r)
{
	const char *text = s->data, *sep, *body, *q, *end;
	char *ct, *b;
	struct str delim = STR_INIT, close = STR_INIT;

	memset(r, 0, sizeof(*r));
	sep = strstr(text, "\n\n");
	cr_assert(sep != NULL);
	r->header = unfold(text, (size_t)(sep - text) + 1);
	ct = field(r->header, "Content-Type");
	cr_assert(ct != NULL);
	b = strstr(ct, "boundary=\"");
	cr_assert(b != NULL, "%s", ct);
	r->boundary = strndup(b + 10, strcspn(b + 10, "\""));
	free(ct);
	str_printf(&delim, "\n--%s\n", r->boundary);
	str_printf(&close, "\n--%s--\n", r->boundary);
	body = sep + 1; /* keep the LF that starts the first delimiter */
	q = strstr(body, str_cstr(&delim));
	cr_assert(q != NULL, "no first boundary");
	for (;;) {
		const char *start = q + delim.len, *next = strstr(start, str_cstr(&delim));

		end = strstr(start, str_cstr(&close));
		cr_assert(end != NULL, "no closing boundary");
		if (next == NULL || next > end) {
			split_part(start, (size_t)(end - start), &r->parts[r->nparts++]);
			break;
		}
		split_part(start, (size_t)(next - start), &r->parts[r->nparts++]);
		q = next;
	}
	cr_assert_str_eq(end + close.len, "", "text after the closing boundary");
	str_free(&delim);
	str_free(&close);
}

static void
free_report(struct report *r)
{
	free(r->header);
	free(r->boundary);
	for (int i = 0; i < r->nparts; i++) {
		free(r->parts[i].header);
		free(r->parts[i].body);
	}
}

/* The blocks of a delivery-status body (separated by empty lines). */
static int
status_blocks(const char *body, char **blocks, int max)
{
	int n = 0;
	const char *p = body;

	while (*p && n < max) {
		const char *e = strstr(p, "\n\n");
		size_t len = e ? (size_t)(e - p) + 1 : strlen(p);

		blocks[n++] = unfold(p, len);
		if (e == NULL)
			break;
		p = e + 2;
	}
	return n;
}

static void
free_blocks(char **blocks, int n)
{
	for (int i = 0; i < n; i++)
		free(blocks[i]);
}

static char *
date_of(long long t)
{
	struct str d = STR_INIT;

	rfc2822_date((time_t)t, &d);
	return str_steal(&d);
}

static void
assert_lines_short(const struct str *s)
{
	size_t line = 0;

	for (size_t i = 0; i < s->len; i++) {
		cr_assert_neq(s->data[i], '\r', "CR at %zu", i);
		cr_assert_neq(s->data[i], '\0', "NUL at %zu", i);
		if (s->data[i] == '\n')
			line = 0;
		else
			cr_assert_leq(++line, DSN_LINE_MAX, "line too long at %zu", i);
	}
	cr_assert(s->len > 0 && s->data[s->len - 1] == '\n');
}

static struct dsn_rcpt two_failed[] = {
        {"bob@example.net", "rfc822", "Bob@Example.NET", DSN_ACTION_FAILED, "5.1.1",
                "host mx.example.net[192.0.2.1]:25 said: 550 5.1.1 <bob@example.net>: user "
                "unknown (in reply to RCPT TO command)",
                ARRIVAL + 60, 0},
        {"carol@tern.test", "", "", DSN_ACTION_FAILED, "5.4.7",
                "message expired after 5d in the queue: connect to mx.tern.test: Connection "
                "refused",
                ARRIVAL + 1800, 0},
};

static void
base_report(struct dsn_report *r, enum dsn_kind kind, struct dsn_rcpt *rcpts, size_t n)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->hostname = HOST;
	r->queue_id = QID;
	r->report_id = RID;
	r->to = "alice@example.org";
	r->envid = "QQ314159";
	r->arrival = ARRIVAL;
	r->date = NOW;
	r->rcpt = rcpts;
	r->nrcpt = n;
	r->ret = DSN_RETURN_FULL;
	r->original = ORIGINAL;
	r->original_len = strlen(ORIGINAL);
}

Test(dsn, failure_report_every_field)
{
	struct dsn_report r;
	struct report p;
	struct str out = STR_INIT;
	char *blocks[8] = {0}, *d;
	unsigned needs = 99;
	int nb;

	base_report(&r, DSN_KIND_FAILURE, two_failed, 2);
	cr_assert_eq(dsn_write_report(&r, &out, &needs), 0);
	cr_assert_eq(needs, 0);
	assert_lines_short(&out);
	parse_report(&out, &p);

	assert_field(p.header, "From", "MAILER-DAEMON@" HOST " (Mail Delivery System)");
	assert_field(p.header, "To", "alice@example.org");
	assert_no_field(p.header, "Reply-To");
	assert_field(p.header, "Subject", "Undelivered Mail Returned to Sender");
	d = date_of(NOW);
	assert_field(p.header, "Date", d);
	free(d);
	assert_field(p.header, "Message-ID", "<" RID "@" HOST ">");
	assert_field(p.header, "Auto-Submitted", "auto-replied");
	assert_field(p.header, "MIME-Version", "1.0");
	assert_field(p.header, "Content-Transfer-Encoding", "7bit");
	cr_assert(strstr(p.header,
	                  "Content-Type: multipart/report; report-type=delivery-status; "
	                  "boundary=\"") != NULL,
	        "%s", p.header);
	cr_assert_str_eq(p.boundary, "=_" RID "." QID);

	cr_assert_eq(p.nparts, 3);
	assert_field(p.parts[0].header, "Content-Type", "text/plain; charset=us-ascii");
	assert_field(p.parts[1].header, "Content-Type", "message/delivery-status");
	assert_field(p.parts[2].header, "Content-Type", "message/rfc822");
	assert_field(p.parts[2].header, "Content-Description", "Undelivered Message");

	/* The text: every recipient with its reason. */
	cr_assert(strstr(p.parts[0].body, "This is the mail system at host " HOST ".") != NULL);
	cr_assert(strstr(p.parts[0].body,
	                  "<bob@example.net> (originally <Bob@Example.NET>): host") != NULL,
	        "%s", p.parts[0].body);
	cr_assert(strstr(p.parts[0].body, "<carol@tern.test>: message expired after 5d") != NULL);
	cr_assert(strstr(p.parts[0].body, "Your message is attached.") != NULL);

	/* The delivery status. */
	nb = status_blocks(p.parts[1].body, blocks, 8);
	cr_assert_geq(nb, 3);
	assert_field(blocks[0], "Reporting-MTA", "dns; " HOST);
	assert_field(blocks[0], "X-Tern-Queue-ID", QID);
	assert_field(blocks[0], "Original-Envelope-Id", "QQ314159");
	d = date_of(ARRIVAL);
	assert_field(blocks[0], "Arrival-Date", d);
	free(d);

	assert_field(blocks[1], "Final-Recipient", "rfc822; bob@example.net");
	assert_field(blocks[1], "Original-Recipient", "rfc822; Bob@Example.NET");
	assert_field(blocks[1], "Action", "failed");
	assert_field(blocks[1], "Status", "5.1.1");
	assert_field(blocks[1], "Remote-MTA", "dns; mx.example.net");
	assert_field(
	        blocks[1], "Diagnostic-Code", "smtp; 550 5.1.1 <bob@example.net>: user unknown");
	d = date_of(ARRIVAL + 60);
	assert_field(blocks[1], "Last-Attempt-Date", d);
	free(d);
	assert_no_field(blocks[1], "Will-Retry-Until");

	assert_field(blocks[2], "Final-Recipient", "rfc822; carol@tern.test");
	assert_no_field(blocks[2], "Original-Recipient");
	assert_field(blocks[2], "Action", "failed");
	assert_field(blocks[2], "Status", "5.4.7");
	assert_no_field(blocks[2], "Remote-MTA");
	assert_field(blocks[2], "Diagnostic-Code",
	        "X-Tern; message expired after 5d in the queue: connect to mx.tern.test: "
	        "Connection refused");

	/* The original, as it was. */
	cr_assert_str_eq(p.parts[2].body, ORIGINAL);
	free_blocks(blocks, nb);
	free_report(&p);
	str_free(&out);
}

Test(dsn, ret_hdrs_returns_the_header_only)
{
	struct dsn_report r;
	struct report p;
	struct str out = STR_INIT;
	size_t hlen = dsn_header_length(ORIGINAL, strlen(ORIGINAL));

	base_report(&r, DSN_KIND_FAILURE, two_failed, 1);
	cr_assert_eq(dsn_return_choice(DSN_KIND_FAILURE, QUEUE_RET_HDRS, 100, 50000, NULL),
	        DSN_RETURN_HEADERS);
	r.ret = DSN_RETURN_HEADERS;
	r.original_len = hlen;
	cr_assert_eq(dsn_write_report(&r, &out, NULL), 0);
	parse_report(&out, &p);
	cr_assert_eq(p.nparts, 3);
	assert_field(p.parts[2].header, "Content-Type", "text/rfc822-headers");
	assert_field(p.parts[2].header, "Content-Description", "Undelivered Message Headers");
	cr_assert_str_eq(p.parts[2].body,
	        "From: alice@example.org\nTo: bob@example.net\n"
	        "Subject: hi\n");
	cr_assert(strstr(p.parts[0].body, "The header of your message is attached.") != NULL);
	cr_assert(strstr(out.data, "hello") == NULL, "the body was returned");
	free_report(&p);
	str_free(&out);
}

Test(dsn, return_choice_and_size_fallback)
{
	int over = -1;

	cr_assert_eq(dsn_return_choice(DSN_KIND_FAILURE, QUEUE_RET_NONE, 50000, 50000, &over),
	        DSN_RETURN_FULL);
	cr_assert_eq(over, 0);
	cr_assert_eq(dsn_return_choice(DSN_KIND_FAILURE, QUEUE_RET_FULL, 50001, 50000, &over),
	        DSN_RETURN_HEADERS);
	cr_assert_eq(over, 1);
	cr_assert_eq(dsn_return_choice(DSN_KIND_FAILURE, QUEUE_RET_NONE, 50001, 50000, &over),
	        DSN_RETURN_HEADERS);
	cr_assert_eq(over, 1);
	cr_assert_eq(dsn_return_choice(DSN_KIND_FAILURE, QUEUE_RET_FULL, 1ULL << 40, 0, &over),
	        DSN_RETURN_FULL);
	cr_assert_eq(over, 0);
	cr_assert_eq(dsn_return_choice(DSN_KIND_DELAY, QUEUE_RET_FULL, 10, 50000, &over),
	        DSN_RETURN_HEADERS);
	cr_assert_eq(over, 0);
	cr_assert_eq(dsn_return_choice(DSN_KIND_SUCCESS, QUEUE_RET_FULL, 10, 50000, NULL),
	        DSN_RETURN_HEADERS);
}

Test(dsn, over_limit_is_said_in_the_text)
{
	struct dsn_report r;
	struct report p;
	struct str out = STR_INIT;

	base_report(&r, DSN_KIND_FAILURE, two_failed, 1);
	r.ret = DSN_RETURN_HEADERS;
	r.over_limit = 1;
	r.size_limit = 50000;
	r.original_len = dsn_header_length(ORIGINAL, strlen(ORIGINAL));
	cr_assert_eq(dsn_write_report(&r, &out, NULL), 0);
	parse_report(&out, &p);
	cr_assert(strstr(p.parts[0].body, "larger than 50000 octets, so only its header") != NULL,
	        "%s", p.parts[0].body);
	free_report(&p);
	str_free(&out);
}

Test(dsn, delay_report)
{
	struct dsn_rcpt rc[] = {{"bob@example.net", NULL, NULL, DSN_ACTION_DELAYED, "4.4.1",
	        "connect to mx.example.net[192.0.2.1]:25: Connection refused", ARRIVAL + 300,
	        ARRIVAL + 5 * 86400}};
	struct dsn_report r;
	struct report p;
	struct str out = STR_INIT;
	char *blocks[4] = {0}, *d;
	int nb;

	base_report(&r, DSN_KIND_DELAY, rc, 1);
	r.envid = NULL;
	r.ret = DSN_RETURN_HEADERS;
	r.original_len = dsn_header_length(ORIGINAL, strlen(ORIGINAL));
	cr_assert_eq(dsn_write_report(&r, &out, NULL), 0);
	parse_report(&out, &p);
	assert_field(p.header, "Subject", "Delayed Mail (still being retried)");
	assert_field(p.parts[2].header, "Content-Type", "text/rfc822-headers");
	cr_assert(strstr(p.parts[0].body, "WARNING ONLY") != NULL);
	nb = status_blocks(p.parts[1].body, blocks, 4);
	cr_assert_eq(nb, 2);
	assert_no_field(blocks[0], "Original-Envelope-Id");
	assert_field(blocks[1], "Action", "delayed");
	assert_field(blocks[1], "Status", "4.4.1");
	d = date_of(ARRIVAL + 5 * 86400);
	assert_field(blocks[1], "Will-Retry-Until", d);
	cr_assert(strstr(p.parts[0].body, "keep trying until") != NULL);
	free(d);
	free_blocks(blocks, nb);
	free_report(&p);
	str_free(&out);
}

Test(dsn, success_report_delivered_and_relayed)
{
	struct dsn_rcpt rc[] = {
	        {"bob@tern.test", NULL, NULL, DSN_ACTION_DELIVERED, "2.0.0", "delivered to maildir",
	                ARRIVAL + 1, 0},
	        {"carol@example.net", "rfc822", "carol@example.net", DSN_ACTION_RELAYED, "",
	                "host mx.example.net[192.0.2.1]:25 said: 250 2.0.0 Ok: queued as 9F3A",
	                ARRIVAL + 2, 0},
	};
	struct dsn_report r;
	struct report p;
	struct str out = STR_INIT;
	char *blocks[4] = {0};
	int nb;

	base_report(&r, DSN_KIND_SUCCESS, rc, 2);
	r.ret = DSN_RETURN_HEADERS;
	r.original_len = dsn_header_length(ORIGINAL, strlen(ORIGINAL));
	cr_assert_eq(dsn_write_report(&r, &out, NULL), 0);
	parse_report(&out, &p);
	assert_field(p.header, "Subject", "Successful Mail Delivery Report");
	cr_assert(strstr(p.parts[0].body, "\"relayed\"") != NULL);
	/* ORCPT equal to the address is not repeated in the text. */
	cr_assert(strstr(p.parts[0].body, "originally") == NULL);
	nb = status_blocks(p.parts[1].body, blocks, 4);
	cr_assert_eq(nb, 3);
	assert_field(blocks[1], "Action", "delivered");
	assert_field(blocks[1], "Status", "2.0.0");
	assert_field(blocks[1], "Diagnostic-Code", "X-Tern; delivered to maildir");
	assert_field(blocks[2], "Action", "relayed");
	assert_field(blocks[2], "Status", "2.0.0");
	assert_field(blocks[2], "Remote-MTA", "dns; mx.example.net");
	assert_field(blocks[2], "Diagnostic-Code", "smtp; 250 2.0.0 Ok: queued as 9F3A");
	assert_field(blocks[2], "Original-Recipient", "rfc822; carol@example.net");
	free_blocks(blocks, nb);
	free_report(&p);
	str_free(&out);
}

Test(dsn, postmaster_copy_has_reply_to)
{
	struct dsn_report r;
	struct report p;
	struct str out = STR_INIT;

	base_report(&r, DSN_KIND_FAILURE, two_failed, 2);
	r.to = "postmaster@tern.test";
	r.reply_to = "alice@example.org";
	r.postmaster_copy = 1;
	cr_assert_eq(dsn_write_report(&r, &out, NULL), 0);
	parse_report(&out, &p);
	assert_field(p.header, "To", "postmaster@tern.test");
	assert_field(p.header, "Reply-To", "alice@example.org");
	assert_field(p.header, "Subject", "Postmaster Copy: Undelivered Mail Returned to Sender");
	free_report(&p);
	str_free(&out);
}

Test(dsn, boundary_is_in_no_part)
{
	const char *evil = "Subject: x\n\n--=_" RID "." QID "\n--=_" RID "." QID ".1--\nbye\n";
	struct dsn_report r;
	struct report p;
	struct str out = STR_INIT, delim = STR_INIT;

	base_report(&r, DSN_KIND_FAILURE, two_failed, 1);
	r.original = evil;
	r.original_len = strlen(evil);
	cr_assert_eq(dsn_write_report(&r, &out, NULL), 0);
	parse_report(&out, &p);
	cr_assert_str_eq(p.boundary, "=_" RID "." QID ".2");
	cr_assert_eq(p.nparts, 3);
	cr_assert_str_eq(p.parts[2].body, evil);
	for (int i = 0; i < p.nparts; i++)
		cr_assert(strstr(p.parts[i].body, p.boundary) == NULL, "part %d", i);
	/* The delimiter appears exactly four times: three parts and the end. */
	str_printf(&delim, "--%s", p.boundary);
	{
		int n = 0;

		for (const char *q = out.data; (q = strstr(q, str_cstr(&delim))) != NULL; q++)
			n++;
		cr_assert_eq(n, 4);
	}
	cr_assert_leq(strlen(p.boundary), DSN_BOUNDARY_MAX);
	free_report(&p);
	str_free(&out);
	str_free(&delim);
}

Test(dsn, long_lines_are_broken)
{
	struct str orig = STR_INIT, out = STR_INIT, addr = STR_INIT, joined = STR_INIT;
	struct dsn_rcpt rc[1];
	struct dsn_report r;
	struct report p;
	char *blocks[4] = {0};
	int nb;

	str_appendz(&orig, "Subject: ");
	for (int i = 0; i < 2500; i++)
		str_appendc(&orig, 'h');
	str_appendz(&orig, "\n\n");
	for (int i = 0; i < 3000; i++)
		str_appendc(&orig, (char)('a' + i % 26));
	str_appendc(&orig, '\n');
	for (int i = 0; i < 1500; i++)
		str_appendc(&addr, 'x');
	str_appendz(&addr, "@example.net");
	rc[0] = two_failed[0];
	rc[0].address = str_cstr(&addr);

	base_report(&r, DSN_KIND_FAILURE, rc, 1);
	r.original = orig.data;
	r.original_len = orig.len;
	cr_assert_eq(dsn_write_report(&r, &out, NULL), 0);
	assert_lines_short(&out);
	parse_report(&out, &p);
	/* The body line comes back whole once the plain breaks are taken out;
	 * the header line once its folds are. */
	for (const char *q = strstr(p.parts[2].body, "\n\n") + 2; *q; q++)
		if (*q != '\n')
			str_appendc(&joined, *q);
	cr_assert_eq(joined.len, 3000);
	cr_assert_eq(strncmp(joined.data, "abcdefghijklmnopqrstuvwxyz", 26), 0);
	{
		char *h = unfold(p.parts[2].body, strlen(p.parts[2].body));
		size_t hs = 0;

		for (const char *q = h + strlen("Subject: "); *q == 'h' || *q == ' '; q++)
			hs += *q == 'h';
		cr_assert_eq(hs, 2500);
		free(h);
	}
	/* The long address survives its folding (without the fold's spaces). */
	nb = status_blocks(p.parts[1].body, blocks, 4);
	{
		char *v = field(blocks[1], "Final-Recipient");
		struct str a = STR_INIT;

		for (const char *q = v; *q; q++)
			if (*q != ' ')
				str_appendc(&a, *q);
		cr_assert_str_eq(str_cstr(&a) + strlen("rfc822;"), str_cstr(&addr));
		str_free(&a);
		free(v);
	}
	free_blocks(blocks, nb);
	free_report(&p);
	str_free(&orig);
	str_free(&out);
	str_free(&addr);
	str_free(&joined);
}

Test(dsn, utf8_makes_global_types)
{
	struct dsn_rcpt rc[] = {{"j\xc3\xb6rg@b\xc3\xbc\x63her.example", NULL, NULL,
	        DSN_ACTION_FAILED, "5.1.1", "user unknown", 0, 0}};
	const char *orig = "Subject: gr\xc3\xbc\xc3\x9f\x65\n\nbody\n";
	struct dsn_report r;
	struct report p;
	struct str out = STR_INIT;
	unsigned needs = 0;
	char *blocks[4] = {0};
	int nb;

	base_report(&r, DSN_KIND_FAILURE, rc, 1);
	r.original = orig;
	r.original_len = strlen(orig);
	cr_assert_eq(dsn_write_report(&r, &out, &needs), 0);
	cr_assert_eq(needs, DSN_NEEDS_8BIT | DSN_NEEDS_SMTPUTF8);
	parse_report(&out, &p);
	assert_field(p.header, "Content-Transfer-Encoding", "8bit");
	cr_assert(strstr(p.header, "report-type=global-delivery-status") != NULL);
	assert_field(p.parts[0].header, "Content-Type", "text/plain; charset=utf-8");
	assert_field(p.parts[1].header, "Content-Type", "message/global-delivery-status");
	assert_field(p.parts[2].header, "Content-Type", "message/global");
	assert_field(p.parts[2].header, "Content-Transfer-Encoding", "8bit");
	nb = status_blocks(p.parts[1].body, blocks, 4);
	assert_field(blocks[1], "Final-Recipient", "utf-8; j\xc3\xb6rg@b\xc3\xbc\x63her.example");
	assert_no_field(blocks[1], "Last-Attempt-Date");
	free_blocks(blocks, nb);
	free_report(&p);
	str_free(&out);
}

Test(dsn, eight_bit_body_only_needs_8bitmime)
{
	const char *orig = "Subject: x\n\ncaf\xc3\xa9\n";
	struct dsn_report r;
	struct report p;
	struct str out = STR_INIT;
	unsigned needs = 0;

	base_report(&r, DSN_KIND_FAILURE, two_failed, 1);
	r.original = orig;
	r.original_len = strlen(orig);
	cr_assert_eq(dsn_write_report(&r, &out, &needs), 0);
	cr_assert_eq(needs, DSN_NEEDS_8BIT);
	parse_report(&out, &p);
	assert_field(p.parts[2].header, "Content-Type", "message/rfc822");
	assert_field(p.parts[2].header, "Content-Transfer-Encoding", "8bit");
	assert_field(p.parts[1].header, "Content-Type", "message/delivery-status");
	free_report(&p);
	str_free(&out);
}

Test(dsn, status_defaults_from_the_action)
{
	struct dsn_rcpt rc[] = {
	        {"a@x.test", NULL, NULL, DSN_ACTION_FAILED, NULL, NULL, 0, 0},
	        {"b@x.test", NULL, NULL, DSN_ACTION_DELAYED, "", "", 0, 0},
	        {"c@x.test", NULL, NULL, DSN_ACTION_DELIVERED, NULL, NULL, 0, 0},
	};
	struct dsn_report r;
	struct report p;
	struct str out = STR_INIT;
	char *blocks[5] = {0};
	int nb;

	base_report(&r, DSN_KIND_FAILURE, rc, 3);
	r.original = NULL;
	r.original_len = 0;
	cr_assert_eq(dsn_write_report(&r, &out, NULL), 0);
	parse_report(&out, &p);
	cr_assert_eq(p.nparts, 2, "no original, no third part");
	nb = status_blocks(p.parts[1].body, blocks, 5);
	cr_assert_eq(nb, 4);
	assert_field(blocks[1], "Status", "5.0.0");
	assert_field(blocks[2], "Status", "4.0.0");
	assert_field(blocks[3], "Status", "2.0.0");
	assert_no_field(blocks[1], "Diagnostic-Code");
	cr_assert(strstr(p.parts[0].body, "<a@x.test>: failed") != NULL);
	free_blocks(blocks, nb);
	free_report(&p);
	str_free(&out);
}

Test(dsn, malformed_reports_are_refused)
{
	struct dsn_rcpt bad = two_failed[0];
	struct dsn_report r;
	struct str out = STR_INIT;

	str_appendz(&out, "keep");
	base_report(&r, DSN_KIND_FAILURE, two_failed, 0);
	cr_assert_eq(dsn_write_report(&r, &out, NULL), -1);
	base_report(&r, DSN_KIND_FAILURE, &bad, 1);
	bad.reason = "550 evil\r\nBcc: x";
	cr_assert_eq(dsn_write_report(&r, &out, NULL), -1);
	bad = two_failed[0];
	bad.address = "";
	cr_assert_eq(dsn_write_report(&r, &out, NULL), -1);
	base_report(&r, DSN_KIND_FAILURE, two_failed, 1);
	r.to = "";
	cr_assert_eq(dsn_write_report(&r, &out, NULL), -1);
	base_report(&r, DSN_KIND_FAILURE, two_failed, 1);
	r.envid = "a\nb";
	cr_assert_eq(dsn_write_report(&r, &out, NULL), -1);
	base_report(&r, DSN_KIND_FAILURE, two_failed, 1);
	r.hostname = NULL;
	cr_assert_eq(dsn_write_report(&r, &out, NULL), -1);
	base_report(&r, DSN_KIND_FAILURE, two_failed, 1);
	r.report_id = "a\"b";
	cr_assert_eq(dsn_write_report(&r, &out, NULL), -1);
	cr_assert_str_eq(str_cstr(&out), "keep");
	str_free(&out);
}

Test(dsn, header_length)
{
	cr_assert_eq(dsn_header_length("A: b\nC: d\n\nbody\n", 16), 10);
	cr_assert_eq(dsn_header_length("A: b\n", 5), 5);
	cr_assert_eq(dsn_header_length("\nbody", 5), 0);
	cr_assert_eq(dsn_header_length("A: b", 4), 4);
	cr_assert_eq(dsn_header_length("", 0), 0);
}

Test(dsn, reason_split)
{
	struct str remote = STR_INIT, smtp = STR_INIT;

	cr_assert_eq(dsn_reason_split("host mx.example.net[192.0.2.1]:25 said: 550 5.1.1 no such "
	                              "user (in reply to RCPT TO command)",
	                     &remote, &smtp),
	        1);
	cr_assert_str_eq(str_cstr(&remote), "mx.example.net");
	cr_assert_str_eq(str_cstr(&smtp), "550 5.1.1 no such user");
	cr_assert_eq(dsn_reason_split("message expired after 5d in the queue: host "
	                              "unknown[2001:db8::1]:25 said: 451 4.3.0 try later (in "
	                              "reply to end of DATA command)",
	                     &remote, &smtp),
	        1);
	cr_assert_str_eq(str_cstr(&remote), "2001:db8::1");
	cr_assert_str_eq(str_cstr(&smtp), "451 4.3.0 try later");
	cr_assert_eq(dsn_reason_split("host a.test[192.0.2.9]:25 said: 250 ok", &remote, &smtp), 1);
	cr_assert_str_eq(str_cstr(&smtp), "250 ok");
	cr_assert_eq(dsn_reason_split("delivered to maildir", &remote, &smtp), 0);
	cr_assert_eq(remote.len + smtp.len, 0);
	cr_assert_eq(dsn_reason_split("ghost a said: x", &remote, &smtp), 0);
	cr_assert_eq(dsn_reason_split("host a.test refused to talk to me: 554", &remote, &smtp), 0);
	cr_assert_eq(dsn_reason_split("host a said: ", &remote, &smtp), 0);
	str_free(&remote);
	str_free(&smtp);
}

Test(dsn, names)
{
	cr_assert_str_eq(dsn_action_name(DSN_ACTION_FAILED), "failed");
	cr_assert_str_eq(dsn_action_name(DSN_ACTION_DELAYED), "delayed");
	cr_assert_str_eq(dsn_action_name(DSN_ACTION_DELIVERED), "delivered");
	cr_assert_str_eq(dsn_action_name(DSN_ACTION_RELAYED), "relayed");
	cr_assert_str_eq(dsn_action_name(DSN_ACTION_EXPANDED), "expanded");
}

/* The delivery-agent protocol carries what a success notice needs:
 * dsn_relayed and dsn_passed, optional, 0 or 1. */
static int
decode_result(const struct deliver_result *res, const char *extra, struct deliver_result *back)
{
	struct attr_list l;
	struct deliver_done done;
	enum deliver_reply_kind kind;
	struct str why = STR_INIT;
	int rc;

	attr_list_init(&l);
	deliver_result_encode(res, &l);
	if (extra)
		attr_put_str(&l, extra, "2");
	deliver_done_init(&done);
	rc = deliver_reply_decode(&l, &kind, back, &done, &why);
	deliver_done_free(&done);
	attr_list_free(&l);
	str_free(&why);
	return rc;
}

Test(dsn, delivery_protocol_carries_relayed_and_passed)
{
	struct deliver_result res, back;

	deliver_result_init(&res);
	deliver_result_init(&back);
	res.index = 3;
	res.status = DELIVER_SENT;
	snprintf(res.dsn, sizeof(res.dsn), "2.0.0");
	str_setz(&res.reason, "250 2.0.0 Ok");
	str_setz(&res.relay, "mx.example.net[192.0.2.1]:25");
	res.dsn_passed = 1;
	cr_assert_eq(decode_result(&res, NULL, &back), 0);
	cr_assert_eq(back.dsn_passed, 1);
	cr_assert_eq(back.dsn_relayed, 0);
	res.dsn_passed = 0;
	res.dsn_relayed = 1;
	cr_assert_eq(decode_result(&res, NULL, &back), 0);
	cr_assert_eq(back.dsn_passed, 0);
	cr_assert_eq(back.dsn_relayed, 1);
	res.dsn_relayed = 0;
	cr_assert_eq(decode_result(&res, "dsn_passed", &back), -1, "2 is not a flag");
	deliver_result_free(&res);
	deliver_result_free(&back);
}
