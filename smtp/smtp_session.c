/*
 * smtp_session.c - one SMTP conversation with one server: the greeting,
 * EHLO (HELO when EHLO is refused, or for smtp_helo_only_destinations),
 * STARTTLS by the destination's policy, then transactions of MAIL, RCPT
 * and DATA, pipelined when the server offers PIPELINING, RSET between
 * reused transactions, QUIT.
 *
 * Every read has a deadline (smtp_helo_timeout for the greeting, EHLO
 * and STARTTLS, smtp_mail_timeout, smtp_rcpt_timeout,
 * smtp_data_init_timeout, smtp_data_xfer_timeout for each block of text,
 * smtp_data_done_timeout, smtp_rset_timeout, smtp_quit_timeout), every
 * reply line a length limit (SMTP_REPLY_LINE_MAX) and every reply a line
 * count (SMTP_REPLY_LINES_MAX).  The server is not trusted: replies are
 * parsed strictly, text kept for logs is bounded and stripped of control
 * characters, and what the server sent before a TLS handshake is thrown
 * away with the plain-text buffer (lib/stream.c).
 *
 * Classification of what the server says (the recipients' results):
 *
 *	connection refused, timeout, lost	host-level: the recipients stay
 *	  connection, greeting or EHLO not 2xx	pending for the next address
 *	  MAIL 4xx, 421 anywhere		(4xx kept as their last failure;
 *						a 5xx greeting too, so that the
 *						last server's word decides)
 *	MAIL 5xx				every recipient bounced
 *	RCPT 4xx / 5xx				that recipient deferred / bounced
 *	DATA or end of data 4xx / 5xx		accepted recipients deferred /
 *						bounced
 *	lost after the end of data		deferred, never tried elsewhere
 *						(the server may have the mail)
 *	message larger than the peer's SIZE	bounced 5.3.4, nothing sent
 *	SMTPUTF8 needed, not offered		bounced 5.6.7 (see smtp_deliver.c)
 *
 * Called by smtp_deliver.c and smtp_cache.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "mem.h"
#include "msg.h"
#include "smtp.h"
#include "smtp_cmd.h"
#include "smtp_data.h"
#include "stream.h"
#include "table.h"

/* ---- replies ---- */

void
smtp_resp_init(struct smtp_resp *r)
{
	memset(r, 0, sizeof(*r));
}

void
smtp_resp_free(struct smtp_resp *r)
{
	str_free(&r->text);
}

/* Append text to the reply, control characters made '?', within the limit. */
static void
resp_append(struct smtp_resp *r, const char *p, size_t len)
{
	if (r->text.len > 0 && r->text.len < SMTP_REPLY_TEXT_MAX)
		str_appendc(&r->text, ' ');
	for (size_t i = 0; i < len && r->text.len < SMTP_REPLY_TEXT_MAX; i++) {
		unsigned char c = (unsigned char)p[i];

		str_appendc(&r->text, c < 32 || c == 127 ? '?' : (char)c);
	}
}

/* "c.sss.ddd" at the start of text, c the reply's class (RFC 3463). */
static void
resp_enhanced(struct smtp_resp *r, const char *p, size_t len)
{
	size_t i = 2;

	if (len < 5 || p[0] - '0' != r->code / 100 || p[1] != '.')
		return;
	for (int part = 0; part < 2; part++) {
		size_t digits = 0;

		while (i < len && isdigit((unsigned char)p[i]) && digits < 4) {
			i++;
			digits++;
		}
		if (digits == 0 || digits > 3)
			return;
		if (part == 0) {
			if (i >= len || p[i] != '.')
				return;
			i++;
		}
	}
	if (i < len && p[i] != ' ')
		return;
	memcpy(r->dsn, p, i);
	r->dsn[i] = '\0';
}

/*
 * Read one reply within timeout_ms.  0 with r filled (code, dsn, text),
 * -1 when the connection failed, a deadline passed or the reply is
 * malformed (r->code 0; the stream's error says which, or none for a
 * malformed reply).
 */
int
smtp_read_reply(struct stream *st, long long timeout_ms, struct smtp_resp *r)
{
	const char *line;
	size_t len;

	r->code = 0;
	r->dsn[0] = '\0';
	str_reset(&r->text);
	stream_set_read_deadline(st, (int)timeout_ms);
	for (int n = 0; n < SMTP_REPLY_LINES_MAX; n++) {
		int rc = stream_read_line(st, SMTP_REPLY_LINE_MAX, &line, &len);
		int code;

		if (rc < 0)
			return -1;
		if (rc == STREAM_LINE_TOO_LONG) {
			r->code = 0;
			return -1;
		}
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (len < 3 || !isdigit((unsigned char)line[0]) ||
		        !isdigit((unsigned char)line[1]) || !isdigit((unsigned char)line[2]) ||
		        line[0] < '2' || line[0] > '5' ||
		        (len > 3 && line[3] != ' ' && line[3] != '-')) {
			r->code = 0;
			return -1;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (n == 0) {
			r->code = code;
			resp_enhanced(r, len > 4 ? line + 4 : "", len > 4 ? len - 4 : 0);
		}
		resp_append(r, len > 4 ? line + 4 : "", len > 4 ? len - 4 : 0);
		if (len == 3 || line[3] == ' ')
			return 0;
	}
	r->code = 0;
	return -1;
}

/* "250 2.0.0 Ok" as one text, for reasons and logs. */
static void
resp_format(const struct smtp_resp *r, struct str *out)
{
	str_printf(out, "%d %s", r->code, r->text.data ? r->text.data : "");
}

/* The enhanced code for a result: the server's, else class.0.0. */
static const char *
resp_dsn(const struct smtp_resp *r, char buf[QUEUE_DSN_MAX + 1])
{
	if (r->dsn[0] != '\0')
		return r->dsn;
	snprintf(buf, QUEUE_DSN_MAX + 1, "%c.0.0",
	        r->code / 100 == 2           ? '2'
	                : r->code / 100 == 5 ? '5'
	                                     : '4');
	return buf;
}

/* ---- addresses on the wire ---- */

void
smtp_format_path(const char *address, struct str *out)
{
	const char *at = strrchr(address, '@');

	str_appendc(out, '<');
	if (*address != '\0') {
		addr_quote_local(address, at ? (size_t)(at - address) : strlen(address), out);
		if (at)
			str_appendz(out, at);
	}
	str_appendc(out, '>');
}

/* ---- HELO-only destinations ---- */

static int
name_matches(const char *item, const char *name)
{
	size_t il = strlen(item), nl = strlen(name);

	if (name[0] == '\0')
		return 0;
	if (item[0] == '.')
		return nl > il && strcasecmp(name + nl - il, item) == 0;
	return strcasecmp(item, name) == 0;
}

int
smtp_helo_only(const char *nexthop_host, const char *mx_host)
{
	const char *names[2] = {nexthop_host, mx_host};

	for (size_t i = 0; smtp_conf.helo_only && smtp_conf.helo_only[i]; i++) {
		if (strchr(smtp_conf.helo_only[i], ':') != NULL)
			continue; /* a table: below */
		for (size_t k = 0; k < 2; k++)
			if (names[k] && name_matches(smtp_conf.helo_only[i], names[k]))
				return 1;
	}
	for (size_t t = 0; t < smtp_conf.helo_only_ntables; t++)
		for (size_t k = 0; k < 2; k++)
			if (names[k] && names[k][0] &&
			        table_lookup(smtp_conf.helo_only_tables[t], names[k], NULL, NULL) >
			                0)
				return 1;
	return 0;
}

/* ---- the session ---- */

static void session_fail(struct smtp_fail *f, int code, const char *dsn, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
session_fail(struct smtp_fail *f, int code, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	f->code = code;
	snprintf(f->dsn, sizeof(f->dsn), "%s", dsn);
	str_reset(&f->reason);
	va_start(ap, fmt);
	str_vprintf(&f->reason, fmt, ap);
	va_end(ap);
}

/* Why the stream failed, as in "lost connection with X while Y". */
static void
io_fail(struct smtp_session *s, struct smtp_fail *f, const char *while_doing)
{
	if (stream_error(s->stream) == STREAM_ERR_TIMEOUT)
		session_fail(f, 4, "4.4.2", "conversation with %s timed out while %s", s->relay,
		        while_doing);
	else if (stream_error(s->stream) == STREAM_OK)
		session_fail(
		        f, 4, "4.5.0", "malformed reply from %s while %s", s->relay, while_doing);
	else
		session_fail(
		        f, 4, "4.4.2", "lost connection with %s while %s", s->relay, while_doing);
	s->broken = 1;
}

/* Send one command line and flush it, under deadline ms. */
static int send_command(struct smtp_session *s, long long ms, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int
send_command(struct smtp_session *s, long long ms, const char *fmt, ...)
{
	struct str line = STR_INIT;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	str_vprintf(&line, fmt, ap);
	va_end(ap);
	str_appendz(&line, "\r\n");
	stream_set_write_deadline(s->stream, (int)ms);
	rc = stream_write(s->stream, line.data, line.len) < 0 || stream_flush(s->stream) < 0 ? -1
	                                                                                     : 0;
	str_free(&line);
	return rc;
}

/* EHLO with the lines read one by one, so that keywords are whole lines. */
static int
ehlo(struct smtp_session *s, const char *verb, struct smtp_resp *r)
{
	static const struct {
		const char *word;
		unsigned flag;
	} words[] = {
	        {"PIPELINING", SMTP_FEATURE_PIPELINING},
	        {"SIZE", SMTP_FEATURE_SIZE},
	        {"8BITMIME", SMTP_FEATURE_8BITMIME},
	        {"SMTPUTF8", SMTP_FEATURE_SMTPUTF8},
	        {"DSN", SMTP_FEATURE_DSN},
	        {"STARTTLS", SMTP_FEATURE_STARTTLS},
	        {"ENHANCEDSTATUSCODES", SMTP_FEATURE_ENHANCED},
	        {"CHUNKING", SMTP_FEATURE_CHUNKING},
	        {"AUTH", SMTP_FEATURE_AUTH},
	};
	const char *line;
	size_t len;
	unsigned features = 0;
	unsigned long long size_max = 0;

	if (send_command(s, smtp_conf.helo_ms, "%s %s", verb, smtp_conf.helo_name) < 0)
		return -1;
	r->code = 0;
	r->dsn[0] = '\0';
	str_reset(&r->text);
	stream_set_read_deadline(s->stream, (int)smtp_conf.helo_ms);
	for (int n = 0; n < SMTP_REPLY_LINES_MAX; n++) {
		int rc = stream_read_line(s->stream, SMTP_REPLY_LINE_MAX, &line, &len);

		if (rc < 0 || rc == STREAM_LINE_TOO_LONG)
			return -1;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (len < 3 || !isdigit((unsigned char)line[0]) ||
		        !isdigit((unsigned char)line[1]) || !isdigit((unsigned char)line[2]) ||
		        line[0] < '2' || line[0] > '5' ||
		        (len > 3 && line[3] != ' ' && line[3] != '-'))
			return -1;
		if (n == 0)
			r->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		resp_append(r, len > 4 ? line + 4 : "", len > 4 ? len - 4 : 0);
		if (n > 0 && len > 4) {
			const char *kw = line + 4;
			size_t kl = 0;

			while (kl < len - 4 && kw[kl] != ' ' && kw[kl] != '=')
				kl++;
			for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
				if (strlen(words[i].word) == kl &&
				        strncasecmp(kw, words[i].word, kl) == 0)
					features |= words[i].flag;
			}
			if (kl == 4 && strncasecmp(kw, "SIZE", 4) == 0 && len - 4 > 5) {
				char num[32];
				size_t nl = len - 4 - 5 < sizeof(num) - 1 ? len - 4 - 5
				                                          : sizeof(num) - 1;

				memcpy(num, kw + 5, nl);
				num[nl] = '\0';
				size_max = strtoull(num, NULL, 10);
			}
		}
		if (len == 3 || line[3] == ' ') {
			if (r->code / 100 == 2 && strcmp(verb, "EHLO") == 0) {
				s->features = features | SMTP_FEATURE_ESMTP;
				s->size_max = size_max;
			}
			return 0;
		}
	}
	return -1;
}

static void
session_new(
        struct smtp_session **sp, const char *nexthop, const struct smtp_addr *a, int port, int fd)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));

	s->stream = stream_new(fd, 0);
	s->nexthop = xstrdup(nexthop);
	s->addr = *a;
	s->port = port;
	snprintf(s->relay, sizeof(s->relay), "%s[%s]:%d", a->host, a->ip, port);
	*sp = s;
}

void
smtp_session_free(struct smtp_session *s)
{
	if (s == NULL)
		return;
	if (s->stream)
		stream_free(s->stream);
	free(s->nexthop);
	free(s);
}

/* The greeting, EHLO or HELO; 0, or -1 with f set. */
static int
session_hello(
        struct smtp_session *s, const char *dest_host, struct smtp_resp *r, struct smtp_fail *f)
{
	struct str text = STR_INIT;
	char dsn[QUEUE_DSN_MAX + 1];
	int helo_only = smtp_helo_only(dest_host, s->addr.host);

	if (!helo_only) {
		if (ehlo(s, "EHLO", r) < 0) {
			io_fail(s, f, "receiving the EHLO reply");
			return -1;
		}
		if (r->code / 100 == 2)
			return 0;
		if (r->code / 100 == 4 || r->code == 421) {
			resp_format(r, &text);
			session_fail(f, 4, resp_dsn(r, dsn), "host %s refused to talk to me: %s",
			        s->relay, str_cstr(&text));
			str_free(&text);
			return -1;
		}
	}
	/* HELO: by configuration, or because EHLO was refused with 5xx. */
	s->features = 0;
	s->size_max = 0;
	if (send_command(s, smtp_conf.helo_ms, "HELO %s", smtp_conf.helo_name) < 0 ||
	        smtp_read_reply(s->stream, smtp_conf.helo_ms, r) < 0) {
		io_fail(s, f, "receiving the HELO reply");
		return -1;
	}
	if (r->code / 100 != 2) {
		resp_format(r, &text);
		session_fail(f, r->code / 100 == 5 ? 5 : 4, resp_dsn(r, dsn),
		        "host %s refused to talk to me: %s (in reply to HELO command)", s->relay,
		        str_cstr(&text));
		str_free(&text);
		return -1;
	}
	return 0;
}

/* STARTTLS by the level; 0 on (TLS or allowed plain text), else -1 with
 * f set and *handshake_failed when the handshake itself failed. */
static int
session_tls(struct smtp_session *s, enum smtp_tls_level level, const char *dest_host,
        struct smtp_resp *r, struct smtp_fail *f, int *handshake_failed)
{
	struct str text = STR_INIT;
	struct in6_addr dummy;
	const char *sni = s->addr.host;

	*handshake_failed = 0;
	if (!(s->features & SMTP_FEATURE_STARTTLS)) {
		if (level == SMTP_TLS_MAY)
			return 0;
		session_fail(
		        f, 4, "4.7.4", "TLS is required, but was not offered by host %s", s->relay);
		return -1;
	}
	if (send_command(s, smtp_conf.helo_ms, "STARTTLS") < 0 ||
	        smtp_read_reply(s->stream, smtp_conf.helo_ms, r) < 0) {
		io_fail(s, f, "receiving the STARTTLS reply");
		return -1;
	}
	if (r->code != 220) {
		if (level == SMTP_TLS_MAY)
			return 0;
		resp_format(r, &text);
		session_fail(f, 4, "4.7.4", "TLS is required, but host %s refused to start it: %s",
		        s->relay, str_cstr(&text));
		str_free(&text);
		return -1;
	}
	if (inet_pton(AF_INET6, sni, &dummy) == 1 || inet_pton(AF_INET, sni, &dummy) == 1 ||
	        sni[0] == '\0')
		sni = dest_host;
	stream_set_read_deadline(s->stream, (int)smtp_conf.helo_ms);
	stream_set_write_deadline(s->stream, (int)smtp_conf.helo_ms);
	if (stream_start_tls(s->stream, smtp_tls_ctx(level), 0, sni) < 0) {
		session_fail(f, 4, "4.7.5", "TLS handshake with %s failed: %s", s->relay,
		        stream_error_text(s->stream));
		s->broken = 1;
		*handshake_failed = 1;
		return -1;
	}
	s->tls = 1;
	return 0;
}

enum smtp_open_status
smtp_session_open(struct smtp_session **sp, const char *nexthop, const struct smtp_addr *a,
        int port, enum smtp_tls_level level, int plain, struct smtp_fail *f)
{
	struct smtp_session *s = NULL;
	struct smtp_resp r;
	struct str why = STR_INIT, text = STR_INIT;
	char dsn[QUEUE_DSN_MAX + 1];
	struct smtp_dest dest;
	long long start = clock_ms();
	int fd, handshake_failed = 0;
	enum smtp_open_status st = SMTP_OPEN_FAIL;

	*sp = NULL;
	if (smtp_nexthop_parse(nexthop, smtp_conf.port, &dest, &why) < 0)
		dest.host[0] = '\0';
	str_reset(&why);
	if ((fd = smtp_connect_addr(a, port, smtp_conf.connect_ms, &why)) < 0) {
		session_fail(f, 4, "4.4.1", "%s", str_cstr(&why));
		str_free(&why);
		return SMTP_OPEN_FAIL;
	}
	str_free(&why);
	session_new(&s, nexthop, a, port, fd);
	s->tls_level = plain ? SMTP_TLS_NONE : level;
	smtp_resp_init(&r);

	if (smtp_read_reply(s->stream, smtp_conf.helo_ms, &r) < 0) {
		io_fail(s, f, "receiving the initial server greeting");
		goto done;
	}
	if (r.code / 100 != 2) {
		resp_format(&r, &text);
		session_fail(f, r.code / 100 == 5 ? 5 : 4, resp_dsn(&r, dsn),
		        "host %s refused to talk to me: %s", s->relay, str_cstr(&text));
		smtp_session_quit(s, smtp_conf.quit_ms);
		s = NULL;
		goto done;
	}
	if (session_hello(s, dest.host, &r, f) < 0)
		goto done;
	if (s->tls_level == SMTP_TLS_MAY || s->tls_level == SMTP_TLS_ENCRYPT) {
		if (session_tls(s, s->tls_level, dest.host, &r, f, &handshake_failed) < 0) {
			if (handshake_failed && s->tls_level == SMTP_TLS_MAY)
				st = SMTP_OPEN_TLS_FAIL;
			goto done;
		}
		if (s->tls && session_hello(s, dest.host, &r, f) < 0)
			goto done;
	}
	s->setup_sec = smtp_seconds_since(start);
	st = SMTP_OPEN_OK;
	*sp = s;
	s = NULL;
done:
	if (s != NULL) {
		if (s->broken)
			smtp_session_free(s);
		else
			smtp_session_quit(s, smtp_conf.quit_ms);
	}
	smtp_resp_free(&r);
	str_free(&text);
	return st;
}

int
smtp_session_rset(struct smtp_session *s)
{
	struct smtp_resp r;
	int rc = -1;

	smtp_resp_init(&r);
	if (send_command(s, smtp_conf.rset_ms, "RSET") == 0 &&
	        smtp_read_reply(s->stream, smtp_conf.rset_ms, &r) == 0 && r.code / 100 == 2)
		rc = 0;
	if (rc == 0)
		s->need_rset = 0;
	else
		s->broken = 1;
	smtp_resp_free(&r);
	return rc;
}

void
smtp_session_quit(struct smtp_session *s, long long timeout_ms)
{
	struct smtp_resp r;

	if (s == NULL)
		return;
	if (!s->broken && send_command(s, timeout_ms, "QUIT") == 0) {
		smtp_resp_init(&r);
		(void)smtp_read_reply(s->stream, timeout_ms, &r);
		smtp_resp_free(&r);
	}
	if (s->stream) {
		stream_close(s->stream);
		s->stream = NULL;
	}
	smtp_session_free(s);
}

/* ---- one transaction ---- */

struct trans {
	struct smtp_session *s;
	struct smtp_delivery *d;
	size_t *idx; /* recipients of this transaction, pending */
	size_t n;
	size_t *acc; /* accepted by RCPT */
	size_t nacc;
	long long start;
};

/* Record the facts of one finished (or failed) recipient. */
static void
note(struct trans *t, struct smtp_rcpt *r)
{
	str_setz(&r->relay, t->s->relay);
	r->conn_use = t->s->conn_use;
	r->conn_sec = t->d->dns_sec + (t->s->conn_use <= 1 ? t->s->setup_sec : 0);
	r->xfer_sec = smtp_seconds_since(t->start);
}

static void
final(struct trans *t, size_t i, enum smtp_rcpt_status st, int code, const char *dsn,
        const char *reason)
{
	struct smtp_rcpt *r = &t->d->rcpt[i];

	if (r->status != SMTP_RCPT_PENDING)
		return;
	note(t, r);
	smtp_rcpt_set(r, st, code, dsn, "%s", reason);
}

/* A host-level failure: every recipient of the transaction still pending
 * keeps its place for the next address, with this as its last failure. */
static void
host_fail(struct trans *t, const struct smtp_fail *f)
{
	for (size_t k = 0; k < t->n; k++) {
		struct smtp_rcpt *r = &t->d->rcpt[t->idx[k]];

		if (r->status != SMTP_RCPT_PENDING)
			continue;
		note(t, r);
		smtp_rcpt_set(r, SMTP_RCPT_PENDING, f->code, f->dsn, "%s",
		        f->reason.data ? f->reason.data : "");
	}
}

/* Every recipient in list gets the same final result. */
static void
final_all(struct trans *t, const size_t *list, size_t n, enum smtp_rcpt_status st, int code,
        const char *dsn, const char *reason)
{
	for (size_t k = 0; k < n; k++)
		final(t, list[k], st, code, dsn, reason);
}

/* "host X said: 550 ... (in reply to RCPT TO command)" */
static void
said(struct trans *t, const struct smtp_resp *r, const char *command, struct str *out)
{
	str_reset(out);
	str_printf(out, "host %s said: %d %s (in reply to %s command)", t->s->relay, r->code,
	        r->text.data ? r->text.data : "", command);
}

/* Classify a failed reply for a group of recipients. */
static enum smtp_trans_status
reply_fail(struct trans *t, const struct smtp_resp *r, const char *command, const size_t *list,
        size_t n)
{
	struct str reason = STR_INIT;
	char dsnbuf[QUEUE_DSN_MAX + 1];
	const char *dsn = resp_dsn(r, dsnbuf);

	said(t, r, command, &reason);
	if (r->code == 421) {
		struct smtp_fail f = {4, "", STR_INIT};

		snprintf(f.dsn, sizeof(f.dsn), "%s", dsn);
		str_setz(&f.reason, str_cstr(&reason));
		host_fail(t, &f);
		str_free(&f.reason);
		str_free(&reason);
		t->s->broken = 1;
		return SMTP_TRANS_CLOSED;
	}
	final_all(t, list, n, r->code / 100 == 5 ? SMTP_RCPT_BOUNCED : SMTP_RCPT_DEFERRED,
	        r->code / 100, dsn, str_cstr(&reason));
	str_free(&reason);
	return SMTP_TRANS_OK;
}

static enum smtp_trans_status
trans_io_fail(struct trans *t, const char *while_doing)
{
	struct smtp_fail f = {0, "", STR_INIT};

	io_fail(t->s, &f, while_doing);
	host_fail(t, &f);
	str_free(&f.reason);
	return SMTP_TRANS_CLOSED;
}

/* The MAIL FROM command with its parameters. */
static void
mail_command(struct trans *t, struct str *cmd)
{
	struct smtp_delivery *d = t->d;
	const struct queue_envelope *env = d->env;
	unsigned f = t->s->features;

	str_appendz(cmd, "MAIL FROM:");
	smtp_format_path(str_cstr(&d->sender), cmd);
	if (f & SMTP_FEATURE_SIZE)
		str_printf(cmd, " SIZE=%llu", d->scan.wire_size);
	if ((f & SMTP_FEATURE_8BITMIME) && d->body_8bitmime)
		str_appendz(cmd, " BODY=8BITMIME");
	if ((f & SMTP_FEATURE_SMTPUTF8) && d->need_smtputf8)
		str_appendz(cmd, " SMTPUTF8");
	if (f & SMTP_FEATURE_DSN) {
		if (env->ret == QUEUE_RET_FULL)
			str_appendz(cmd, " RET=FULL");
		else if (env->ret == QUEUE_RET_HDRS)
			str_appendz(cmd, " RET=HDRS");
		if (env->envid[0] != '\0') {
			str_appendz(cmd, " ENVID=");
			smtp_xtext_encode(env->envid, strlen(env->envid), cmd);
		}
	}
	str_appendz(cmd, "\r\n");
}

/* ORCPT's utf-8-addr-xtext (RFC 6533): "\x{HEX}" for '+', '=', '\\' and
 * controls; other octets, UTF-8 included, as they are. */
static void
utf8_xtext(const char *s, struct str *out)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '+' || c == '=' || c == '\\' || c < 33 || c == 127)
			str_printf(out, "\\x{%02X}", c);
		else
			str_appendc(out, (char)c);
	}
}

static void
rcpt_command(struct trans *t, const struct smtp_rcpt *r, struct str *cmd)
{
	unsigned f = t->s->features;

	str_appendz(cmd, "RCPT TO:");
	smtp_format_path(r->wire, cmd);
	if (f & SMTP_FEATURE_DSN) {
		if (r->notify & QUEUE_NOTIFY_NEVER) {
			str_appendz(cmd, " NOTIFY=NEVER");
		} else if (r->notify) {
			const char *sep = " NOTIFY=";

			if (r->notify & QUEUE_NOTIFY_SUCCESS) {
				str_printf(cmd, "%sSUCCESS", sep);
				sep = ",";
			}
			if (r->notify & QUEUE_NOTIFY_FAILURE) {
				str_printf(cmd, "%sFAILURE", sep);
				sep = ",";
			}
			if (r->notify & QUEUE_NOTIFY_DELAY)
				str_printf(cmd, "%sDELAY", sep);
		}
		if (r->orcpt_type[0] != '\0' && r->orcpt[0] != '\0') {
			int ascii = addr_is_ascii(r->orcpt, strlen(r->orcpt));

			if (ascii) {
				str_appendz(cmd, " ORCPT=rfc822;");
				smtp_xtext_encode(r->orcpt, strlen(r->orcpt), cmd);
			} else if (f & SMTP_FEATURE_SMTPUTF8) {
				str_appendz(cmd, " ORCPT=utf-8;");
				utf8_xtext(r->orcpt, cmd);
			}
		}
	}
	str_appendz(cmd, "\r\n");
}

static int
write_all(struct smtp_session *s, const struct str *buf, long long ms)
{
	if (buf->len == 0)
		return 0;
	stream_set_write_deadline(s->stream, (int)ms);
	return stream_write(s->stream, buf->data, buf->len);
}

static int
header_hook(const char *field, size_t len, struct str *out)
{
	return smtp_rewrite_header(field, len, out);
}

/* The message text, converted and stuffed, then "."; 0, -1 on a network
 * failure, -2 when the queue file could not be read. */
static int
send_content(struct trans *t)
{
	struct smtp_session *s = t->s;
	struct smtp_delivery *d = t->d;
	struct smtp_data_stuffer st;
	struct smtp_mime *m = NULL;
	struct str out = STR_INIT, mid = STR_INIT, err = STR_INIT;
	char *buf = xmalloc(SMTP_CONTENT_BLOCK);
	int convert = !(s->features & SMTP_FEATURE_8BITMIME) && d->scan.convert != NULL;
	int rc = 0;
	ssize_t n;

	if (convert)
		m = smtp_mime_new(
		        &d->scan, SMTP_MIME_CONVERT, smtp_rewrite_active() ? header_hook : NULL);
	else if (smtp_rewrite_active())
		m = smtp_mime_new(&d->scan, SMTP_MIME_COPY, header_hook);
	smtp_data_stuff_init(&st, 1);
	queue_file_rewind(d->qf);
	for (;;) {
		n = queue_file_read_content(d->qf, buf, SMTP_CONTENT_BLOCK, &err);
		if (n < 0) {
			msg_warn("%s: reading the queue file: %s", d->queue_id, str_cstr(&err));
			rc = -2;
			break;
		}
		str_reset(&out);
		if (n == 0) {
			if (m) {
				str_reset(&mid);
				smtp_mime_end(m, &mid);
				smtp_data_stuff(&st, mid.data, mid.len, &out);
			}
			smtp_data_stuff_end(&st, &out);
		} else if (m) {
			str_reset(&mid);
			smtp_mime_feed(m, buf, (size_t)n, &mid);
			smtp_data_stuff(&st, mid.data, mid.len, &out);
		} else {
			smtp_data_stuff(&st, buf, (size_t)n, &out);
		}
		if (write_all(s, &out, smtp_conf.data_xfer_ms) < 0) {
			rc = -1;
			break;
		}
		if (n == 0)
			break;
	}
	if (rc == 0) {
		stream_set_write_deadline(s->stream, (int)smtp_conf.data_xfer_ms);
		if (stream_flush(s->stream) < 0)
			rc = -1;
	}
	smtp_mime_free(m);
	str_free(&out);
	str_free(&mid);
	str_free(&err);
	free(buf);
	return rc;
}

/* End the DATA phase without a message: "." after an unwanted 354. */
static void
abort_data(struct trans *t)
{
	struct smtp_resp r;

	smtp_resp_init(&r);
	if (send_command(t->s, smtp_conf.data_xfer_ms, ".") < 0 ||
	        smtp_read_reply(t->s->stream, smtp_conf.data_done_ms, &r) < 0)
		t->s->broken = 1;
	smtp_resp_free(&r);
}

/* Pre-checks that need no command: SIZE and SMTPUTF8.  Returns the
 * number of recipients left in t->idx. */
static size_t
precheck(struct trans *t)
{
	struct smtp_session *s = t->s;
	struct smtp_delivery *d = t->d;
	struct str reason = STR_INIT;
	size_t k, left = 0;

	if ((s->features & SMTP_FEATURE_SIZE) && s->size_max > 0 &&
	        d->scan.wire_size > s->size_max) {
		str_printf(&reason, "message size %llu exceeds size limit %llu of server %s",
		        d->scan.wire_size, s->size_max, s->relay);
		final_all(t, t->idx, t->n, SMTP_RCPT_BOUNCED, 5, "5.3.4", str_cstr(&reason));
		str_free(&reason);
		return 0;
	}
	if (d->need_smtputf8 && !(s->features & SMTP_FEATURE_SMTPUTF8)) {
		int all = smtp_str_has_8bit(str_cstr(&d->sender)) || d->scan.header_8bit;

		str_printf(
		        &reason, "SMTPUTF8 is required, but was not offered by host %s", s->relay);
		for (k = 0; k < t->n; k++) {
			struct smtp_rcpt *r = &d->rcpt[t->idx[k]];

			if (all || smtp_str_has_8bit(r->wire))
				final(t, t->idx[k], SMTP_RCPT_BOUNCED, 5, "5.6.7",
				        str_cstr(&reason));
		}
	}
	for (k = 0; k < t->n; k++)
		if (d->rcpt[t->idx[k]].status == SMTP_RCPT_PENDING)
			t->idx[left++] = t->idx[k];
	t->n = left;
	str_free(&reason);
	return left;
}

/* After the end of data: the accepted recipients' results. */
static enum smtp_trans_status
end_of_data(struct trans *t)
{
	struct smtp_session *s = t->s;
	struct smtp_resp r;
	struct str reason = STR_INIT;
	char dsnbuf[QUEUE_DSN_MAX + 1];
	enum smtp_trans_status st = SMTP_TRANS_OK;

	smtp_resp_init(&r);
	if (smtp_read_reply(s->stream, smtp_conf.data_done_ms, &r) < 0) {
		struct smtp_fail f = {0, "", STR_INIT};

		io_fail(s, &f, "sending end of data -- message may be sent more than once");
		final_all(t, t->acc, t->nacc, SMTP_RCPT_DEFERRED, 4, f.dsn, str_cstr(&f.reason));
		str_free(&f.reason);
		smtp_resp_free(&r);
		return SMTP_TRANS_CLOSED;
	}
	if (r.code / 100 == 2) {
		str_printf(&reason, "%d %s", r.code, r.text.data ? r.text.data : "");
		for (size_t k = 0; k < t->nacc; k++) {
			struct smtp_rcpt *rc = &t->d->rcpt[t->acc[k]];

			if (!(s->features & SMTP_FEATURE_DSN) &&
			        (rc->notify & QUEUE_NOTIFY_SUCCESS))
				rc->relayed = 1;
			final(t, t->acc[k], SMTP_RCPT_SENT, 2, resp_dsn(&r, dsnbuf),
			        str_cstr(&reason));
		}
	} else {
		/* Deferred or bounced here, never tried elsewhere: after the
		 * end of data a 421 may still mean the server has the mail. */
		said(t, &r, "end of DATA", &reason);
		final_all(t, t->acc, t->nacc,
		        r.code / 100 == 5 ? SMTP_RCPT_BOUNCED : SMTP_RCPT_DEFERRED, r.code / 100,
		        resp_dsn(&r, dsnbuf), str_cstr(&reason));
		if (r.code == 421) {
			s->broken = 1;
			st = SMTP_TRANS_CLOSED;
		}
	}
	str_free(&reason);
	smtp_resp_free(&r);
	return st;
}

/*
 * One transaction for the recipients d->rcpt[idx[0..n)], all pending.
 * Results are recorded in the recipients; host-level failures leave them
 * pending.  Returns SMTP_TRANS_OK when the session can go on.
 */
enum smtp_trans_status
smtp_session_transact(struct smtp_session *s, struct smtp_delivery *d, size_t *idx, size_t n)
{
	struct trans t = {s, d, idx, n, NULL, 0, clock_ms()};
	struct str cmds = STR_INIT;
	struct smtp_resp r;
	int pipelining = (s->features & SMTP_FEATURE_PIPELINING) != 0;
	enum smtp_trans_status st = SMTP_TRANS_OK;
	int mail_ok = 0, rc;
	size_t k;

	smtp_resp_init(&r);
	if (precheck(&t) == 0)
		goto done;
	if (s->need_rset && smtp_session_rset(s) < 0) {
		st = trans_io_fail(&t, "sending RSET");
		goto done;
	}
	s->conn_use++;
	t.acc = xcalloc(t.n, sizeof(*t.acc));
	s->need_rset = 1;

	/* MAIL, RCPT..., DATA: at once when pipelining, else one by one. */
	mail_command(&t, &cmds);
	if (pipelining) {
		for (k = 0; k < t.n; k++)
			rcpt_command(&t, &d->rcpt[t.idx[k]], &cmds);
		str_appendz(&cmds, "DATA\r\n");
	}
	if (write_all(s, &cmds, smtp_conf.mail_ms) < 0 || stream_flush(s->stream) < 0) {
		st = trans_io_fail(&t, "sending MAIL FROM");
		goto done;
	}
	if (smtp_read_reply(s->stream, smtp_conf.mail_ms, &r) < 0) {
		st = trans_io_fail(&t, "receiving the MAIL FROM reply");
		goto done;
	}
	if (r.code / 100 == 2) {
		mail_ok = 1;
	} else if (r.code / 100 == 4) {
		/* 4xx and 421 to MAIL: this server, not these recipients. */
		struct smtp_fail f = {4, "", STR_INIT};
		char dsnbuf[QUEUE_DSN_MAX + 1];

		said(&t, &r, "MAIL FROM", &f.reason);
		snprintf(f.dsn, sizeof(f.dsn), "%s", resp_dsn(&r, dsnbuf));
		host_fail(&t, &f);
		str_free(&f.reason);
		if (r.code == 421)
			s->broken = 1;
		st = SMTP_TRANS_CLOSED;
		goto done;
	} else {
		(void)reply_fail(&t, &r, "MAIL FROM", t.idx, t.n);
	}

	for (k = 0; k < t.n && (mail_ok || pipelining); k++) {
		struct smtp_rcpt *rc_ = &d->rcpt[t.idx[k]];

		if (!pipelining) {
			str_reset(&cmds);
			rcpt_command(&t, rc_, &cmds);
			if (write_all(s, &cmds, smtp_conf.rcpt_ms) < 0 ||
			        stream_flush(s->stream) < 0) {
				st = trans_io_fail(&t, "sending RCPT TO");
				goto done;
			}
		}
		if (smtp_read_reply(s->stream, smtp_conf.rcpt_ms, &r) < 0) {
			st = trans_io_fail(&t, "receiving the RCPT TO reply");
			goto done;
		}
		if (!mail_ok)
			continue;
		if (r.code / 100 == 2) {
			t.acc[t.nacc++] = t.idx[k];
		} else if (reply_fail(&t, &r, "RCPT TO", &t.idx[k], 1) == SMTP_TRANS_CLOSED) {
			st = SMTP_TRANS_CLOSED;
			goto done;
		}
	}

	/* DATA */
	if (!pipelining) {
		if (t.nacc == 0)
			goto done;
		if (send_command(s, smtp_conf.data_init_ms, "DATA") < 0) {
			st = trans_io_fail(&t, "sending DATA");
			goto done;
		}
	}
	if (smtp_read_reply(s->stream, smtp_conf.data_init_ms, &r) < 0) {
		st = trans_io_fail(&t, "receiving the DATA reply");
		goto done;
	}
	if (r.code != 354) {
		if (t.nacc > 0)
			st = reply_fail(&t, &r, "DATA", t.acc, t.nacc);
		goto done;
	}
	if (t.nacc == 0) {
		abort_data(&t);
		goto done;
	}
	rc = send_content(&t);
	if (rc == -2) {
		/* Our own failure: the transaction must not end with ".". */
		final_all(&t, t.acc, t.nacc, SMTP_RCPT_DEFERRED, 4, "4.3.0",
		        "error reading the queue file");
		s->broken = 1;
		st = SMTP_TRANS_CLOSED;
		goto done;
	}
	if (rc < 0) {
		st = trans_io_fail(&t, "sending message body");
		goto done;
	}
	st = end_of_data(&t);
	if (st == SMTP_TRANS_OK)
		s->need_rset = 0;
done:
	if (s->broken)
		st = SMTP_TRANS_CLOSED;
	free(t.acc);
	str_free(&cmds);
	smtp_resp_free(&r);
	return st;
}
