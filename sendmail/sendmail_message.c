/*
 * sendmail_message.c - sendmail -bm, the default: read one message from
 * standard input and hand it to postdrop.
 *
 * The text is cleaned as it is read: CRLF and LF end a line (stored as
 * LF, the queue's form); a CR that is not followed by LF becomes a space
 * (RFC 5322 2.3 forbids it; cleanup does the same), so nothing passed on
 * holds a bare CR.  Without -i a line holding only "." ends the message
 * (the rest of the input is not read).  The header is held until it is
 * complete (at most header_size_limit octets): -t takes the recipients
 * from it (Resent-To:, -Cc:, -Bcc: when there are any, else To:, Cc:,
 * Bcc:) and -F adds "From: fullname <sender>" when it has no From:.  The
 * body is then streamed; past message_size_limit the submission is
 * abandoned and nothing is queued.  Trusts nothing on standard input; the
 * caller's options were checked by sendmail.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "header.h"
#include "mem.h"
#include "msg.h"
#include "queue_file.h"
#include "rfc5322_addr.h"
#include "sendmail.h"
#include "submit.h"

#define SENDMAIL_READ_SIZE 65536 /* octets read from standard input at once */

struct reader {
	int ignore_dots;
	int at_bol;      /* the next octet starts a line */
	int dot_pending; /* the line so far is "." */
	int cr_pending;  /* the last octet was a CR */
	int ended;       /* a lone dot ended the message */
};

/* ---- recipients ---- */

void
sendmail_free_rcpts(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
rcpt_append(char ***v, size_t *n, const char *address)
{
	*v = xreallocarray(*v, *n + 2, sizeof(**v));
	(*v)[(*n)++] = xstrdup(address);
	(*v)[*n] = NULL;
}

int
sendmail_parse_rcpts(const char *arg, char ***out, size_t *n, struct str *why)
{
	struct rfc5322_addr_list l;
	size_t skipped = 0, found;
	int rc = 0;

	rfc5322_addr_list_init(&l);
	found = rfc5322_addr_parse(arg, strlen(arg), &l, QUEUE_RCPT_MAX, &skipped);
	if (found == 0 || skipped > 0) {
		str_printf(why, "bad address syntax: %s", arg);
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		if (submit_address_check(str_cstr(&l.v[i].addr), 0, NULL, why) < 0) {
			str_printf(why, ": <%s>", str_cstr(&l.v[i].addr));
			rc = -1;
		} else {
			rcpt_append(out, n, str_cstr(&l.v[i].addr));
		}
	}
	rfc5322_addr_list_free(&l);
	return rc;
}

/* The envelope sender in internal form ("" for <>). */
static char *
parse_sender(const char *given)
{
	struct rfc5322_addr_list l;
	struct str why = STR_INIT;
	size_t skipped = 0;
	char *sender;

	if (given == NULL) {
		if (submit_address_check(sendmail_login(), 0, NULL, &why) < 0)
			sendmail_fail(EX_DATAERR, "login name %s cannot be a sender address: %s",
			        sendmail_login(), str_cstr(&why));
		str_free(&why);
		return xstrdup(sendmail_login());
	}
	if (*given == '\0' || strcmp(given, "<>") == 0)
		return xstrdup("");
	rfc5322_addr_list_init(&l);
	if (rfc5322_addr_parse(given, strlen(given), &l, 2, &skipped) != 1 || skipped > 0)
		sendmail_fail(EX_DATAERR, "-f %s: bad sender address syntax", given);
	if (submit_address_check(str_cstr(&l.v[0].addr), 0, NULL, &why) < 0)
		sendmail_fail(EX_DATAERR, "-f %s: %s", given, str_cstr(&why));
	sender = xstrdup(str_cstr(&l.v[0].addr));
	rfc5322_addr_list_free(&l);
	str_free(&why);
	return sender;
}

/* ---- the text ---- */

static void
emit(struct reader *r, int c, struct str *out)
{
	if (r->dot_pending) {
		str_appendc(out, '.');
		r->dot_pending = 0;
	}
	if (r->at_bol && c == '.' && !r->ignore_dots) {
		r->dot_pending = 1;
		r->at_bol = 0;
		return;
	}
	str_appendc(out, c);
	r->at_bol = 0;
}

static void
end_line(struct reader *r, struct str *out)
{
	if (r->dot_pending) {
		r->dot_pending = 0;
		r->ended = 1;
		return;
	}
	str_appendc(out, '\n');
	r->at_bol = 1;
}

/* Clean buf into out; stops at a lone dot (r->ended).  eof: no more. */
static void
clean_text(struct reader *r, const char *buf, size_t len, int eof, struct str *out)
{
	for (size_t i = 0; i < len && !r->ended; i++) {
		int c = (unsigned char)buf[i];

		if (r->cr_pending) {
			r->cr_pending = 0;
			if (c == '\n') {
				end_line(r, out);
				continue;
			}
			emit(r, ' ', out);
		}
		if (c == '\r')
			r->cr_pending = 1;
		else if (c == '\n')
			end_line(r, out);
		else
			emit(r, c, out);
	}
	if (eof && !r->ended) {
		if (r->cr_pending)
			emit(r, ' ', out);
		r->cr_pending = 0;
		if (r->dot_pending)
			r->ended = 1; /* a last line "." without its line end */
	}
}

/* ---- the header ---- */

/*
 * The length of the header at the start of text[0..len): through the
 * line before the first empty line or the first line that is neither a
 * field nor a continuation.  -1 when no such line is there yet (and
 * more text may come: !eof).
 */
static long
header_end(const char *text, size_t len, int eof)
{
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t line_len = nl ? (size_t)(nl - (text + pos)) : len - pos;

		if (nl == NULL && !eof)
			return -1;
		if (line_len == 0)
			return (long)pos;
		if (!header_field_name(text + pos, line_len) &&
		        !(pos > 0 && header_is_continuation(text + pos, line_len)))
			return (long)pos;
		pos += line_len + (nl ? 1 : 0);
	}
	return eof ? (long)pos : -1;
}

/* Call fn for each field of header[0..len) (lines joined by LF). */
static void
each_field(const char *header, size_t len, void (*fn)(const char *field, size_t flen, void *arg),
        void *arg)
{
	size_t start = 0, pos = 0;

	while (pos < len) {
		const char *nl = memchr(header + pos, '\n', len - pos);
		size_t next = nl ? (size_t)(nl - header) + 1 : len;

		if (pos > start && !header_is_continuation(header + pos, next - pos)) {
			fn(header + start, pos - start - 1, arg);
			start = pos;
		}
		pos = next;
	}
	if (pos > start)
		fn(header + start, (header[pos - 1] == '\n' ? pos - 1 : pos) - start, arg);
}

struct header_facts {
	int has_from;
	int has_resent;
	struct str resent; /* values of Resent-To/Cc/Bcc, joined by "," */
	struct str plain;  /* values of To/Cc/Bcc */
};

static void
note_field(const char *field, size_t len, void *arg)
{
	static const char *const plain[] = {"To", "Cc", "Bcc"};
	static const char *const resent[] = {"Resent-To", "Resent-Cc", "Resent-Bcc"};
	struct header_facts *f = arg;

	if (header_field_is(field, len, "From"))
		f->has_from = 1;
	for (size_t i = 0; i < 3; i++) {
		if (header_field_is(field, len, plain[i])) {
			str_appendc(&f->plain, ',');
			header_field_value(field, len, &f->plain);
		}
		if (header_field_is(field, len, resent[i])) {
			f->has_resent = 1;
			str_appendc(&f->resent, ',');
			header_field_value(field, len, &f->resent);
		}
	}
}

/* -t: the addresses of the header into rcpts; returns how many. */
static size_t
extract_rcpts(const struct header_facts *f, char ***rcpts, size_t *n, unsigned *addr_flags)
{
	const struct str *list = f->has_resent ? &f->resent : &f->plain;
	struct rfc5322_addr_list l;
	struct str why = STR_INIT;
	size_t found = 0;

	rfc5322_addr_list_init(&l);
	rfc5322_addr_parse(list->data ? list->data : "", list->len, &l, QUEUE_RCPT_MAX, NULL);
	for (size_t i = 0; i < l.n; i++) {
		str_reset(&why);
		if (submit_address_check(str_cstr(&l.v[i].addr), 0, addr_flags, &why) < 0) {
			msg_warn("-t: address <%s> in the header skipped: %s",
			        str_cstr(&l.v[i].addr), str_cstr(&why));
			continue;
		}
		rcpt_append(rcpts, n, str_cstr(&l.v[i].addr));
		found++;
	}
	rfc5322_addr_list_free(&l);
	str_free(&why);
	return found;
}

/* "From: fullname <sender>" for -F, qualified as cleanup would. */
static void
from_field(const char *fullname, const char *sender, struct str *out)
{
	struct str addr = STR_INIT, value = STR_INIT;

	str_setz(&addr, sender);
	if (strchr(sender, '@') == NULL)
		str_printf(&addr, "@%s", config_str(cfg, "myorigin"));
	rfc5322_format_mailbox(fullname, str_cstr(&addr), &value);
	if (header_fold(out, "From", str_cstr(&value)) < 0)
		str_printf(out, "From: %s\n", str_cstr(&value));
	str_free(&addr);
	str_free(&value);
}

/* ---- the submission ---- */

struct submission {
	const struct sendmail_opts *o;
	char *sender;
	char **rcpts;
	size_t nrcpts;
	unsigned addr_flags;
	long long size_limit;
	unsigned long long size;
	struct postdrop_client *pc;
};

static void
read_failed(struct submission *s, const char *what)
{
	if (s->pc)
		postdrop_abort(s->pc);
	sendmail_fail(EX_IOERR, "error reading standard input: %s", what);
}

static void
send_text(struct submission *s, const char *data, size_t len)
{
	s->size += len;
	if (s->size_limit > 0 && s->size > (unsigned long long)s->size_limit) {
		postdrop_abort(s->pc);
		sendmail_fail(EX_DATAERR, "message too large: message_size_limit is %lld bytes",
		        s->size_limit);
	}
	(void)postdrop_send_data(s->pc, data, len);
}

/* The header is complete: decide the recipients and start postdrop. */
static void
start_submission(struct submission *s, const char *header, size_t len)
{
	struct header_facts f = {0};
	struct str flags = STR_INIT, err = STR_INIT, from = STR_INIT;

	each_field(header, len, note_field, &f);
	if (s->o->extract && extract_rcpts(&f, &s->rcpts, &s->nrcpts, &s->addr_flags) == 0 &&
	        s->nrcpts == 0)
		sendmail_fail(EX_USAGE, "No recipient addresses found in message header");
	if (s->o->extract)
		str_appendz(&flags, "extract,");
	if (s->o->body_8bit)
		str_appendz(&flags, "8bitmime,");
	if (s->addr_flags & SUBMIT_ADDR_UTF8)
		str_appendz(&flags, "smtputf8,");
	str_truncate(&flags, flags.len ? flags.len - 1 : 0);
	if ((s->pc = postdrop_start(s->o->confdir, &err)) == NULL)
		sendmail_fail(EX_UNAVAILABLE, "cannot run postdrop: %s", str_cstr(&err));
	(void)postdrop_send_open(s->pc, s->sender, str_cstr(&flags), s->o->envid, s->o->ret);
	for (size_t i = 0; i < s->nrcpts; i++)
		(void)postdrop_send_rcpt(s->pc, s->rcpts[i], s->o->notify, NULL);
	if (s->o->fullname && !f.has_from && *s->sender) {
		from_field(s->o->fullname, s->sender, &from);
		send_text(s, from.data, from.len);
	}
	if (len > 0)
		send_text(s, header, len);
	str_free(&f.resent);
	str_free(&f.plain);
	str_free(&flags);
	str_free(&err);
	str_free(&from);
}

static void
collect_rcpts(struct submission *s)
{
	struct str why = STR_INIT;

	for (int i = 0; i < s->o->nrcpts; i++) {
		if (sendmail_parse_rcpts(s->o->rcpts[i], &s->rcpts, &s->nrcpts, &why) < 0)
			sendmail_fail(EX_DATAERR, "%s", str_cstr(&why));
	}
	for (size_t i = 0; i < s->nrcpts; i++)
		(void)submit_address_check(s->rcpts[i], 0, &s->addr_flags, &why);
	str_free(&why);
}

/* Read standard input through the header, then stream the rest. */
static void
read_message(struct submission *s, struct reader *r)
{
	struct str text = STR_INIT;
	long long header_limit = config_size(cfg, "header_size_limit");
	char *buf = xmalloc(SENDMAIL_READ_SIZE);
	int eof = 0;
	long hlen = -1;

	while (!eof) {
		ssize_t n = read(0, buf, SENDMAIL_READ_SIZE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			read_failed(s, strerror(errno));
		eof = n == 0;
		clean_text(r, buf, (size_t)n, eof, &text);
		eof = eof || r->ended;
		if (s->pc == NULL) {
			hlen = header_end(text.data, text.len, eof);
			if ((hlen < 0 && (long long)text.len > header_limit) || hlen > header_limit)
				sendmail_fail(EX_DATAERR,
				        "message header too big: header_size_limit is %lld bytes",
				        header_limit);
			if (hlen < 0)
				continue;
			start_submission(s, text.data, (size_t)hlen);
			str_consume(&text, (size_t)hlen);
		}
		if (text.len > 0)
			send_text(s, text.data, text.len);
		str_reset(&text);
	}
	free(buf);
	str_free(&text);
}

int
sendmail_deliver(const struct sendmail_opts *o)
{
	struct submission s = {0};
	struct reader r = {0};
	char id[QUEUE_ID_SIZE];
	int status;

	if (o->nrcpts == 0 && !o->extract)
		sendmail_fail(EX_USAGE, "Recipient names must be specified");
	s.o = o;
	s.sender = parse_sender(o->sender);
	(void)submit_address_check(s.sender, 1, &s.addr_flags, NULL);
	s.size_limit = config_size(cfg, "message_size_limit");
	collect_rcpts(&s);
	r.ignore_dots = o->ignore_dots;
	r.at_bol = 1;
	read_message(&s, &r);
	status = postdrop_finish(s.pc, id);
	if (status == EX_OK && msg_verbose)
		msg_info("queued as %s", id);
	sendmail_free_rcpts(s.rcpts, s.nrcpts);
	free(s.sender);
	return status;
}
