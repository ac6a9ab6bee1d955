/*
 * cleanup_headers.c - the message as cleanup writes it: the header fields
 * with their limits, the Received: field, the fields that local
 * submissions lack, the recipients of "sendmail -t", then the body.
 *
 * Trusts nothing in the message: the header is held in memory only up to
 * header_size_limit, each line end is normalised (CRLF or LF ends a line;
 * a CR alone is replaced by a space, which RFC 5322 2.3 forbids anyway,
 * and so is a NUL in a header field), and what cleanup adds is folded to
 * legal line lengths.  The body is copied as it comes, never held whole.
 * Called by cleanup.c for each data frame and at request=end.
 *
 * The header ends at the first empty line, or at the first line that is
 * neither a header field nor a continuation; in that case cleanup puts
 * the empty line in front of it.  The queue file then receives, in order:
 * the recipients (now that "-t" headers are known), Received:, the
 * message's fields without Return-Path: (and without Bcc: for -t), the
 * missing From:, Date: and Message-ID: of local submissions, the empty
 * line, the body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "header.h"
#include "mem.h"
#include "msg.h"
#include "queue_file.h"
#include "rfc2822_date.h"
#include "rfc5322_addr.h"

static int
write_content(struct cleanup_state *s, const char *p, size_t len)
{
	int rc;

	if (s->status != CLEANUP_OK || len == 0)
		return s->status == CLEANUP_OK ? 0 : -1;
	if ((rc = queue_file_put_content(s->writer, p, len)) != QUEUE_OK) {
		cleanup_queue_failed(s, rc, "write");
		return -1;
	}
	return 0;
}

/* ---- the body ---- */

/* Copy body octets: CRLF and LF end lines, a CR alone becomes a space. */
static void
body_data(struct cleanup_state *s, const char *p, size_t len)
{
	struct str out = STR_INIT;

	for (size_t i = 0; i < len; i++) {
		char c = p[i];

		if (s->pending_cr) {
			s->pending_cr = 0;
			if (c != '\n')
				str_appendc(&out, ' ');
		}
		if (c == '\r') {
			s->pending_cr = 1;
			continue;
		}
		str_appendc(&out, c);
	}
	if (out.len > 0) {
		s->body_started = 1;
		s->at_line_start = out.data[out.len - 1] == '\n';
	}
	write_content(s, out.data, out.len);
	str_free(&out);
}

static void
body_end(struct cleanup_state *s)
{
	if (s->pending_cr) {
		s->pending_cr = 0;
		body_data(s, " ", 1);
	}
	/* The last line gets its line end. */
	if (s->body_started && !s->at_line_start)
		body_data(s, "\n", 1);
}

/* ---- recipients from the headers (-t) ---- */

static int
is_rcpt_field(const struct str *f, int resent)
{
	static const char *const plain[] = {"To", "Cc", "Bcc", NULL};
	static const char *const re[] = {"Resent-To", "Resent-Cc", "Resent-Bcc", NULL};
	const char *const *names = resent ? re : plain;

	for (int i = 0; names[i]; i++)
		if (header_field_is(f->data, f->len, names[i]))
			return 1;
	return 0;
}

static void
add_rcpt(struct cleanup_state *s, const char *address)
{
	struct cleanup_rcpt *r;
	struct str q = STR_INIT;

	if (s->rcpts.n == s->rcpts.cap) {
		s->rcpts.cap = s->rcpts.cap ? s->rcpts.cap * 2 : 8;
		s->rcpts.v = xreallocarray(s->rcpts.v, s->rcpts.cap, sizeof(*s->rcpts.v));
	}
	cleanup_qualify(address, &q);
	r = &s->rcpts.v[s->rcpts.n++];
	r->address = str_steal(&q);
	r->orcpt_type = xstrdup("");
	r->orcpt_addr = xstrdup("");
	r->notify = 0;
}

/* Resent-To/Cc/Bcc when the message has any, else To/Cc/Bcc (RFC 5322 3.6.6). */
static void
rcpts_from_headers(struct cleanup_state *s)
{
	struct rfc5322_addr_list list;
	struct str value = STR_INIT;
	size_t skipped = 0, bad = 0;
	int resent = 0;

	for (size_t i = 0; i < s->nfields; i++)
		if (is_rcpt_field(&s->fields[i], 1))
			resent = 1;
	rfc5322_addr_list_init(&list);
	for (size_t i = 0; i < s->nfields; i++) {
		size_t room = CLEANUP_RCPT_MAX > s->rcpts.n + list.n
		        ? CLEANUP_RCPT_MAX - s->rcpts.n - list.n
		        : 0;

		if (!is_rcpt_field(&s->fields[i], resent))
			continue;
		str_reset(&value);
		header_field_value(s->fields[i].data, s->fields[i].len, &value);
		rfc5322_addr_parse(value.data ? value.data : "", value.len, &list, room, &skipped);
		bad += skipped;
	}
	if (bad > 0)
		msg_warn("%s: %zu malformed address%s in the recipient headers skipped", s->id, bad,
		        bad == 1 ? "" : "es");
	for (size_t i = 0; i < list.n; i++)
		add_rcpt(s, str_cstr(&list.v[i].addr));
	rfc5322_addr_list_free(&list);
	str_free(&value);
}

/* ---- recipients into the queue file ---- */

static int
write_rcpts(struct cleanup_state *s, const struct cleanup_final_list *final)
{
	struct str orcpt = STR_INIT;
	int rc = QUEUE_OK;

	for (size_t i = 0; i < final->n && rc == QUEUE_OK; i++) {
		const struct cleanup_final_rcpt *f = &final->v[i];
		const char *type = f->from->orcpt_type, *oaddr = f->from->orcpt_addr;

		str_reset(&orcpt);
		/* Rewriting changed the address: ORCPT keeps the one given. */
		if (*type == '\0' && strcmp(f->address, f->from->address) != 0) {
			rfc5322_format_mailbox(NULL, f->from->address, &orcpt);
			type = "rfc822";
			oaddr = str_cstr(&orcpt);
		}
		rc = queue_file_put_rcpt(s->writer, f->address, type, oaddr, f->from->notify);
		if (rc == QUEUE_INVALID && *f->from->orcpt_type == '\0' && *type != '\0')
			rc = queue_file_put_rcpt(
			        s->writer, f->address, NULL, NULL, f->from->notify);
		if (rc == QUEUE_INVALID) {
			str_reset(&orcpt);
			str_printf(&orcpt, "recipient address <%s> is not valid in a queue file",
			        f->address);
			cleanup_refuse(s, CLEANUP_FAIL, "554", "5.1.3",
			        "Bad recipient address syntax", str_cstr(&orcpt));
		} else if (rc != QUEUE_OK) {
			cleanup_queue_failed(s, rc, "write");
		}
	}
	str_free(&orcpt);
	return rc == QUEUE_OK ? 0 : -1;
}

/* ---- the fields cleanup adds ---- */

/*
 * Received: (RFC 5321 4.4), in clauses that fold as wholes:
 *
 *	from HELO (NAME [ADDR] (unverified))	remote: the client
 *	(using PROTOCOL with cipher CIPHER)	when TLS was on
 *	by HOST (Tern) with PROTO id ID		local: by HOST (Tern, from
 *						userid N) id ID
 *	for <RCPT>;				exactly one recipient given
 *	DATE
 */
static int
received_field(struct cleanup_state *s, const char *for_rcpt, struct str *field)
{
	struct str from = STR_INIT, tls = STR_INIT, by = STR_INIT, rcpt = STR_INIT;
	struct str date = STR_INIT;
	const char *name = *s->client_name ? s->client_name : "unknown";
	const char *phrases[5];
	int rc;

	if (*s->client_addr == '\0') {
		str_printf(&by, "by %s (Tern", cleanup_myhostname);
		if (s->uid >= 0)
			str_printf(&by, ", from userid %lld", s->uid);
		str_appendz(&by, ")");
	} else {
		str_printf(&from, "from %s (%s [%s%s]%s)", *s->helo ? s->helo : name, name,
		        strchr(s->client_addr, ':') ? "IPv6:" : "", s->client_addr,
		        s->client_verified == 0 ? " (unverified)" : "");
		if (*s->tls_protocol || *s->tls_cipher)
			str_printf(&tls, "(using %s with cipher %s)",
			        *s->tls_protocol ? s->tls_protocol : "TLS",
			        *s->tls_cipher ? s->tls_cipher : "unknown");
		str_printf(&by, "by %s (Tern)", cleanup_myhostname);
		if (*s->protocol)
			str_printf(&by, " with %s", s->protocol);
	}
	str_printf(&by, " id %s", s->id);
	if (for_rcpt) {
		str_appendz(&rcpt, "for <");
		rfc5322_format_mailbox(NULL, for_rcpt, &rcpt);
		str_appendz(&rcpt, ">;");
	} else {
		str_appendc(&by, ';');
	}
	rfc2822_date(time(NULL), &date);
	phrases[0] = str_cstr(&from);
	phrases[1] = str_cstr(&tls);
	phrases[2] = str_cstr(&by);
	phrases[3] = str_cstr(&rcpt);
	phrases[4] = str_cstr(&date);
	rc = header_fold_phrases(field, "Received", phrases, 5);
	str_free(&from);
	str_free(&tls);
	str_free(&by);
	str_free(&rcpt);
	str_free(&date);
	return rc;
}

static int
write_received(struct cleanup_state *s)
{
	struct str field = STR_INIT;
	const char *one = s->rcpts.n == 1 ? s->rcpts.v[0].address : NULL;
	int rc;

	/* An address too long for a line is left out. */
	if (received_field(s, one, &field) < 0 && received_field(s, NULL, &field) < 0)
		msg_panic("%s: Received: does not fold", s->id);
	rc = write_content(s, field.data, field.len);
	str_free(&field);
	return rc;
}

static int
has_field(const struct cleanup_state *s, const char *name)
{
	for (size_t i = 0; i < s->nfields; i++)
		if (header_field_is(s->fields[i].data, s->fields[i].len, name))
			return 1;
	return 0;
}

static void
add_field(struct cleanup_state *s, const char *name, const char *value)
{
	struct str field = STR_INIT;

	if (header_fold(&field, name, value) < 0)
		msg_warn("%s: %s: header too long to add; left out", s->id, name);
	else
		write_content(s, field.data, field.len);
	str_free(&field);
}

/* From:, Date: and Message-ID: of a local submission, when missing. */
static void
write_missing(struct cleanup_state *s)
{
	struct str v = STR_INIT;

	if (!has_field(s, "From")) {
		if (*s->sender)
			rfc5322_format_mailbox(s->fullname, s->sender, &v);
		else
			str_printf(&v, "MAILER-DAEMON@%s", cleanup_myhostname);
		add_field(s, "From", str_cstr(&v));
	}
	if (!has_field(s, "Date")) {
		str_reset(&v);
		rfc2822_date(time(NULL), &v);
		add_field(s, "Date", str_cstr(&v));
	}
	if (!has_field(s, "Message-ID")) {
		str_reset(&v);
		str_printf(&v, "<%s@%s>", s->id, cleanup_myhostname);
		add_field(s, "Message-ID", str_cstr(&v));
		str_set(&s->message_id, v.data, v.len);
	}
	str_free(&v);
}

static int
field_dropped(const struct cleanup_state *s, const struct str *f)
{
	if (header_field_is(f->data, f->len, "Return-Path"))
		return 1;
	if (s->flags & QUEUE_FLAG_RCPT_HEADERS)
		return header_field_is(f->data, f->len, "Bcc") ||
		        header_field_is(f->data, f->len, "Resent-Bcc");
	return 0;
}

/* The header is complete: recipients, then every field, in order. */
static void
headers_done(struct cleanup_state *s, int blank_line_follows)
{
	struct cleanup_final_list final = {NULL, 0, 0};
	struct str err = STR_INIT;

	if (s->phase != CLEANUP_PHASE_HEADERS)
		return;
	s->phase = CLEANUP_PHASE_BODY;
	if (s->flags & QUEUE_FLAG_RCPT_HEADERS)
		rcpts_from_headers(s);
	if (s->rcpts.n == 0) {
		cleanup_refuse(s, CLEANUP_FAIL, "554", "5.5.1",
		        s->flags & QUEUE_FLAG_RCPT_HEADERS
		                ? "No recipient addresses found in message header"
		                : "No recipients specified",
		        NULL);
		return;
	}
	if (cleanup_rewrite_rcpts(s->id, &s->rcpts, &final, &err) != CLEANUP_OK) {
		cleanup_refuse(s, CLEANUP_DEFER, "451", "4.3.0",
		        "Error: address rewriting failed; try again later", str_cstr(&err));
	} else if (write_rcpts(s, &final) == 0 && write_received(s) == 0) {
		for (size_t i = 0; i < s->nfields && s->status == CLEANUP_OK; i++) {
			if (field_dropped(s, &s->fields[i]))
				continue;
			write_content(s, s->fields[i].data, s->fields[i].len);
			write_content(s, "\n", 1);
		}
		if (s->flags & QUEUE_FLAG_LOCAL)
			write_missing(s);
		if (blank_line_follows)
			write_content(s, "\n", 1);
		if (s->status == CLEANUP_OK)
			msg_info("%s: message-id=%s", s->id,
			        s->message_id.len ? str_cstr(&s->message_id) : "<>");
	}
	cleanup_final_list_free(&final);
	str_free(&err);
}

/* ---- header fields ---- */

static void
reject_header(struct cleanup_state *s, const struct str *f, const char *code, const char *dsn,
        const char *text)
{
	struct str why = STR_INIT;
	size_t n = 0;

	/* The first line of the field, shortened, names it in the log. */
	while (n < f->len && f->data[n] != '\n' && n < CLEANUP_LOG_HEADER_MAX)
		n++;
	str_printf(&why, "header %.*s", (int)n, f->data);
	if (*s->client_addr)
		str_printf(&why, " from %s[%s]", *s->client_name ? s->client_name : "unknown",
		        s->client_addr);
	cleanup_refuse(s, CLEANUP_FAIL, code, dsn, text, str_cstr(&why));
	str_free(&why);
}

static void
new_field(struct cleanup_state *s, const char *line, size_t len)
{
	struct str *f;

	if (s->nfields == s->fields_cap) {
		s->fields_cap = s->fields_cap ? s->fields_cap * 2 : 32;
		s->fields = xreallocarray(s->fields, s->fields_cap, sizeof(*s->fields));
	}
	f = &s->fields[s->nfields++];
	str_init(f);
	str_set(f, line, len);
	if ((long long)s->nfields > cleanup_header_count_limit) {
		reject_header(s, f, "552", "5.3.4", "Too many message header fields");
		return;
	}
	if (header_field_is(line, len, "Received") &&
	        (long long)++s->received >= cleanup_hopcount_limit) {
		reject_header(s, f, "554", "5.4.6", "Too many hops");
		return;
	}
	if (header_field_is(line, len, "Message-ID") && s->message_id.len == 0) {
		header_field_value(line, len, &s->message_id);
		str_truncate(&s->message_id, CLEANUP_MESSAGE_ID_MAX);
	}
}

/* One line of the header without its line end (CRs already spaces). */
static void
header_line(struct cleanup_state *s, char *line, size_t len, const char *raw, size_t raw_len)
{
	if (len == 0) {
		headers_done(s, 1);
		return;
	}
	if (header_is_continuation(line, len) && s->nfields > 0) {
		struct str *f = &s->fields[s->nfields - 1];

		str_appendc(f, '\n');
		str_append(f, line, len);
		if (header_field_is(f->data, f->len, "Message-ID")) {
			str_reset(&s->message_id);
			header_field_value(f->data, f->len, &s->message_id);
			str_truncate(&s->message_id, CLEANUP_MESSAGE_ID_MAX);
		}
		return;
	}
	if (header_field_name(line, len) > 0) {
		new_field(s, line, len);
		return;
	}
	/* The first line of the body, without the empty line before it. */
	headers_done(s, 1);
	if (s->status == CLEANUP_OK)
		body_data(s, raw, raw_len);
}

/* The line in s->line is complete (it ends in LF, or the data ended). */
static void
line_done(struct cleanup_state *s)
{
	struct str clean = STR_INIT;
	size_t len = s->line.len;

	if (len > 0 && s->line.data[len - 1] == '\n')
		len--;
	if (len > 0 && s->line.data[len - 1] == '\r')
		len--;
	str_set(&clean, s->line.data, len);
	for (size_t i = 0; i < clean.len; i++)
		if (clean.data[i] == '\r' || clean.data[i] == '\0')
			clean.data[i] = ' ';
	s->header_bytes += s->line.len;
	if ((long long)s->header_bytes > cleanup_header_size_limit &&
	        (header_field_name(clean.data, clean.len) > 0 ||
	                (header_is_continuation(clean.data, clean.len) && s->nfields > 0))) {
		struct str why = STR_INIT;

		str_printf(&why, "message header is larger than header_size_limit (%lld)",
		        cleanup_header_size_limit);
		cleanup_refuse(
		        s, CLEANUP_FAIL, "552", "5.3.4", "Message header too big", str_cstr(&why));
		str_free(&why);
	} else {
		header_line(s, clean.data, clean.len, s->line.data, s->line.len);
	}
	str_reset(&s->line);
	str_free(&clean);
}

void
cleanup_message_data(struct cleanup_state *s, const char *data, size_t len)
{
	size_t i = 0;

	s->size += len;
	if (cleanup_message_size_limit > 0 &&
	        s->size > (unsigned long long)cleanup_message_size_limit) {
		struct str why = STR_INIT;

		str_printf(&why, "message is larger than message_size_limit (%lld)",
		        cleanup_message_size_limit);
		cleanup_refuse(s, CLEANUP_FAIL, "552", "5.3.4", "Message size exceeds fixed limit",
		        str_cstr(&why));
		str_free(&why);
	}
	while (i < len && s->phase == CLEANUP_PHASE_HEADERS) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (data + i)) + 1 : len - i;

		str_append(&s->line, data + i, n);
		i += n;
		/* A line longer than the header may be only a body line. */
		if (nl != NULL || (long long)s->line.len > cleanup_header_size_limit)
			line_done(s);
	}
	if (s->phase == CLEANUP_PHASE_BODY && i < len)
		body_data(s, data + i, len - i);
}

void
cleanup_message_end(struct cleanup_state *s)
{
	if (s->phase == CLEANUP_PHASE_HEADERS && s->line.len > 0)
		line_done(s);
	if (s->phase == CLEANUP_PHASE_HEADERS)
		headers_done(s, 0);
	if (s->phase == CLEANUP_PHASE_BODY)
		body_end(s);
}
