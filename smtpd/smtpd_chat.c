/*
 * smtpd_chat.c - the server's replies: one line or several ("250-" lines
 * then "250 "), always CRLF, never a bare CR or LF, and printable ASCII
 * only (client text quoted in a reply is shown with '?' for anything
 * else).  Enhanced status codes (RFC 3463) go on every reply except where
 * RFC 2034 says not: the greeting, HELO/EHLO and 3xx replies; the caller
 * passes dsn NULL for those.
 *
 * Every 4xx or 5xx reply (except 421, which ends the session anyway)
 * counts as an error of the session; smtpd_session.c ends a session with
 * more than smtpd_hard_error_limit of them.  Replies go into the stream's
 * output buffer; the event loop writes them, so the replies to pipelined
 * commands leave together.  A client that lets more than the stream's
 * output limit pile up without reading is dropped.  Trusts its callers
 * for codes; reply lines that come from cleanup are checked with
 * smtpd_reply_valid() first.  Called by every smtpd file.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "smtpd.h"
#include "stream.h"

/* Append text with every octet outside printable ASCII shown as '?'. */
static void
append_printable(struct str *out, const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		str_appendc(out, c >= 32 && c < 127 ? c : '?');
	}
}

static void
emit(struct smtpd_session *s, int code, const struct str *out)
{
	if (s->dead)
		return;
	s->last_code = code;
	if (code >= 400 && code != 421)
		s->errors++;
	/* The final reply to a command says whether it was accepted (a
	 * 354 is not final). */
	if (code < 300 && s->phase != SMTPD_PHASE_CONNECT && s->cmd.verb != SMTP_VERB_NONE)
		s->cmd_ok[s->cmd.verb]++;
	smtpd_log_protocol(s, code);
	if (stream_output_pending(s->stream) == 0)
		stream_set_write_deadline(s->stream, smtpd_timeout_ms());
	if (stream_write(s->stream, out->data, out->len) < 0 &&
	        stream_error(s->stream) == STREAM_OK)
		smtpd_session_abort(s, "lost connection (the client does not read its replies)");
}

void
smtpd_reply(struct smtpd_session *s, int code, const char *dsn, const char *fmt, ...)
{
	struct str text = STR_INIT, out = STR_INIT;
	va_list ap;

	va_start(ap, fmt);
	str_vprintf(&text, fmt, ap);
	va_end(ap);
	str_printf(&out, "%03d ", code);
	if (dsn)
		str_printf(&out, "%s ", dsn);
	append_printable(&out, text.data ? text.data : "", text.len);
	str_appendz(&out, "\r\n");
	emit(s, code, &out);
	str_free(&text);
	str_free(&out);
}

void
smtpd_reply_lines(struct smtpd_session *s, int code, const char *const *lines, size_t n)
{
	struct str out = STR_INIT;

	for (size_t i = 0; i < n; i++) {
		str_printf(&out, "%03d%c", code, i + 1 < n ? '-' : ' ');
		append_printable(&out, lines[i], strlen(lines[i]));
		str_appendz(&out, "\r\n");
	}
	emit(s, code, &out);
	str_free(&out);
}

void
smtpd_reply_parsed(struct smtpd_session *s, const struct smtp_reply *r)
{
	struct str out = STR_INIT;

	smtp_reply_format(r, &out);
	emit(s, r->code, &out);
	str_free(&out);
}

/* A reply line from elsewhere ("452 4.3.1 text"), already checked. */
void
smtpd_reply_text(struct smtpd_session *s, const char *line)
{
	struct str out = STR_INIT;

	append_printable(&out, line, strlen(line));
	str_appendz(&out, "\r\n");
	emit(s, atoi(line), &out);
	str_free(&out);
}

/*
 * Is line a reply we may pass on: "4xx 4.d.d text" or "5xx 5.d.d text"
 * (the class of the code and of the enhanced code agree), printable
 * ASCII, at most SMTPD_REPLY_MAX octets?
 */
int
smtpd_reply_valid(const char *line)
{
	size_t len = strlen(line), i = 5, digits;

	if (len < 10 || len > SMTPD_REPLY_MAX)
		return 0;
	if ((line[0] != '4' && line[0] != '5') || !isdigit((unsigned char)line[1]) ||
	        !isdigit((unsigned char)line[2]) || line[3] != ' ' || line[4] != line[0] ||
	        line[5] != '.')
		return 0;
	for (int part = 0; part < 2; part++) {
		i++;
		for (digits = 0; isdigit((unsigned char)line[i]); i++)
			digits++;
		if (digits < 1 || digits > 3 || line[i] != (part == 0 ? '.' : ' '))
			return 0;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 32 || (unsigned char)line[i] >= 127)
			return 0;
	return 1;
}
