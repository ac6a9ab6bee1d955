/*
 * sendmail_smtp.c - sendmail -bs: an SMTP session on standard input and
 * output, for programs that speak SMTP to a local sendmail.
 *
 * A small server of its own on the parsers that smtpd uses (smtp_cmd.h
 * for commands, smtp_data.h for DATA), so it answers like smtpd: the same
 * replies, enhanced status codes, the same refusal of bare CR and LF in
 * commands and data (SMTP wants CRLF), the same limits (line length,
 * recipients, errors, timeouts, message and header sizes).  Each message
 * goes to postdrop as with -bm; the sender of MAIL FROM is taken as -f
 * would be.  No TLS, no AUTH, no BDAT: a local session needs none.
 * Trusts nothing on standard input.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "mem.h"
#include "msg.h"
#include "queue_file.h"
#include "sendmail.h"
#include "smtp_cmd.h"
#include "smtp_data.h"
#include "submit.h"

#define SMTP_READ_SIZE 65536 /* octets read at once */

struct session_rcpt {
	char *address;
	unsigned notify; /* QUEUE_NOTIFY_* */
	char *orcpt;     /* "type;address" or NULL */
};

struct session {
	const struct sendmail_opts *o;
	struct str in;
	int eof;
	int timeout_ms;
	size_t line_max;
	long long errors, error_limit, rcpt_limit;
	struct smtp_data_limits limits;
	/* the transaction */
	int have_mail;
	char *sender;
	int body_8bit, smtputf8;
	char *envid;
	const char *ret;
	struct session_rcpt *rcpts;
	size_t nrcpts;
};

static void
out_write(const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(1, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			exit(EX_IOERR); /* the client went away */
		data += n;
		len -= (size_t)n;
	}
}

static void
reply(int code, const char *dsn, const char *text)
{
	struct smtp_reply r = {code, dsn, text, NULL};
	struct str out = STR_INIT;

	smtp_reply_format(&r, &out);
	out_write(out.data, out.len);
	str_free(&out);
}

static void
reply_r(const struct smtp_reply *r)
{
	struct str out = STR_INIT;

	smtp_reply_format(r, &out);
	out_write(out.data, out.len);
	str_free(&out);
}

static void
transaction_reset(struct session *s)
{
	for (size_t i = 0; i < s->nrcpts; i++) {
		free(s->rcpts[i].address);
		free(s->rcpts[i].orcpt);
	}
	free(s->rcpts);
	free(s->sender);
	free(s->envid);
	s->rcpts = NULL;
	s->nrcpts = 0;
	s->sender = s->envid = NULL;
	s->ret = NULL;
	s->have_mail = s->body_8bit = s->smtputf8 = 0;
}

/* Read more input; 0, or -1 at end of file. */
static int
fill(struct session *s)
{
	struct pollfd p = {.fd = 0, .events = POLLIN};
	char buf[SMTP_READ_SIZE];
	ssize_t n;

	if (s->eof)
		return -1;
	for (;;) {
		int rc = poll(&p, 1, s->timeout_ms);

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0) {
			reply(421, "4.4.2", "Error: timeout exceeded");
			exit(EX_TEMPFAIL);
		}
		n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->eof = 1;
			return -1;
		}
		str_append(&s->in, buf, (size_t)n);
		return 0;
	}
}

static void
count_error(struct session *s)
{
	if (++s->errors > s->error_limit) {
		reply(421, "4.7.0", "Error: too many errors");
		exit(EX_PROTOCOL);
	}
}

/* internal form of a parsed path: local part unquoted, "@", domain */
static char *
internal_address(const struct addr *a)
{
	struct str s = STR_INIT;

	str_append(&s, a->local.data, a->local.len);
	if (a->domain.len) {
		str_appendc(&s, '@');
		str_append(&s, a->domain.data, a->domain.len);
	}
	return str_steal(&s);
}

static void
do_ehlo(int extended)
{
	const char *host = config_str(cfg, "myhostname");
	struct str out = STR_INIT;

	if (!extended) {
		str_printf(&out, "250 %s\r\n", host);
	} else {
		str_printf(&out, "250-%s\r\n250-PIPELINING\r\n250-SIZE %lld\r\n", host,
		        config_size(cfg, "message_size_limit"));
		str_appendz(&out,
		        "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n"
		        "250 SMTPUTF8\r\n");
	}
	out_write(out.data, out.len);
	str_free(&out);
}

static void
do_mail(struct session *s, const struct smtp_cmd *cmd)
{
	long long limit = config_size(cfg, "message_size_limit");

	if (s->have_mail) {
		reply(503, "5.5.1", "Error: nested MAIL command");
		count_error(s);
		return;
	}
	if ((cmd->params.seen & SMTP_PARAM_SIZE) && limit > 0 &&
	        cmd->params.size > (unsigned long long)limit) {
		reply(552, "5.3.4", "Message size exceeds fixed limit");
		return;
	}
	s->sender = (cmd->addr.flags & ADDR_IS_NULL) ? xstrdup("") : internal_address(&cmd->addr);
	s->body_8bit = cmd->params.body == SMTP_BODY_8BITMIME;
	s->smtputf8 = (cmd->params.seen & SMTP_PARAM_SMTPUTF8) != 0;
	if (cmd->params.seen & SMTP_PARAM_ENVID)
		s->envid = xstrndup(cmd->params.envid.data ? cmd->params.envid.data : "",
		        cmd->params.envid.len);
	if (cmd->params.ret == SMTP_RET_FULL)
		s->ret = "FULL";
	else if (cmd->params.ret == SMTP_RET_HDRS)
		s->ret = "HDRS";
	s->have_mail = 1;
	reply(250, "2.1.0", "Ok");
}

static unsigned
queue_notify(unsigned smtp_notify)
{
	unsigned n = 0;

	if (smtp_notify & SMTP_NOTIFY_NEVER)
		return QUEUE_NOTIFY_NEVER;
	if (smtp_notify & SMTP_NOTIFY_SUCCESS)
		n |= QUEUE_NOTIFY_SUCCESS;
	if (smtp_notify & SMTP_NOTIFY_FAILURE)
		n |= QUEUE_NOTIFY_FAILURE;
	if (smtp_notify & SMTP_NOTIFY_DELAY)
		n |= QUEUE_NOTIFY_DELAY;
	return n;
}

static void
do_rcpt(struct session *s, const struct smtp_cmd *cmd)
{
	struct session_rcpt *r;
	struct str orcpt = STR_INIT;

	if (!s->have_mail) {
		reply(503, "5.5.1", "Error: need MAIL command");
		count_error(s);
		return;
	}
	if ((long long)s->nrcpts >= s->rcpt_limit) {
		reply(452, "4.5.3", "Error: too many recipients");
		return;
	}
	s->rcpts = xreallocarray(s->rcpts, s->nrcpts + 1, sizeof(*s->rcpts));
	r = &s->rcpts[s->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->address = (cmd->addr.flags & ADDR_IS_POSTMASTER) ? xstrdup("postmaster")
	                                                    : internal_address(&cmd->addr);
	r->notify = queue_notify(cmd->params.notify);
	if (cmd->params.orcpt_type != SMTP_ORCPT_NONE) {
		str_printf(&orcpt, "%s;",
		        cmd->params.orcpt_type == SMTP_ORCPT_UTF8 ? "utf-8" : "rfc822");
		str_append(&orcpt, cmd->params.orcpt.data, cmd->params.orcpt.len);
		r->orcpt = str_steal(&orcpt);
	}
	reply(250, "2.1.5", "Ok");
}

/* postdrop's status as a reply to the end of data */
static void
reply_status(int status, const char *id)
{
	struct str text = STR_INIT;

	switch (status) {
	case EX_OK:
		str_printf(&text, "Ok: queued as %s", id);
		reply(250, "2.0.0", str_cstr(&text));
		break;
	case EX_NOPERM:
		reply(553, "5.7.1", "Error: not authorized to submit mail");
		break;
	case EX_DATAERR:
	case EX_USAGE:
		reply(554, "5.6.0", "Error: message refused");
		break;
	default:
		reply(451, "4.3.0", "Error: queue file write error");
	}
	str_free(&text);
}

/* Send the data machine's output on, without its CRs: the machine lets
 * through only CRLF line ends, and the queue keeps LF. */
static void
pass_text(struct postdrop_client *pc, struct str *out)
{
	size_t j = 0;

	for (size_t i = 0; i < out->len; i++)
		if (out->data[i] != '\r')
			out->data[j++] = out->data[i];
	if (j > 0 && pc)
		(void)postdrop_send_data(pc, out->data, j);
	str_reset(out);
}

static void
start_postdrop(struct session *s, struct postdrop_client **pc)
{
	struct str err = STR_INIT, flags = STR_INIT;

	if ((*pc = postdrop_start(s->o->confdir, &err)) == NULL) {
		msg_error("cannot run postdrop: %s", str_cstr(&err));
		str_free(&err);
		return;
	}
	if (s->body_8bit)
		str_appendz(&flags, "8bitmime");
	if (s->smtputf8)
		str_appendz(&flags, flags.len ? ",smtputf8" : "smtputf8");
	(void)postdrop_send_open(*pc, s->sender, str_cstr(&flags), s->envid, s->ret);
	for (size_t i = 0; i < s->nrcpts; i++)
		(void)postdrop_send_rcpt(
		        *pc, s->rcpts[i].address, s->rcpts[i].notify, s->rcpts[i].orcpt);
	str_free(&err);
	str_free(&flags);
}

static void
do_data(struct session *s)
{
	struct postdrop_client *pc = NULL;
	struct smtp_data d;
	struct smtp_reply r;
	struct str out = STR_INIT;
	char id[QUEUE_ID_SIZE];

	if (!s->have_mail || s->nrcpts == 0) {
		reply(503, "5.5.1",
		        s->have_mail ? "Error: need RCPT command" : "Error: need MAIL command");
		count_error(s);
		return;
	}
	start_postdrop(s, &pc);
	if (pc == NULL) {
		reply(451, "4.3.0", "Error: queue file write error");
		return;
	}
	reply(354, NULL, "End data with <CR><LF>.<CR><LF>");
	smtp_data_init(&d, SMTP_DATA_DOT, &s->limits);
	for (;;) {
		size_t used = smtp_data_feed(&d, s->in.data, s->in.len, &out);

		str_consume(&s->in, used);
		if (d.errors == 0)
			pass_text(pc, &out);
		else
			str_reset(&out);
		if (d.done)
			break;
		if (fill(s) < 0) {
			postdrop_abort(pc);
			exit(EX_PROTOCOL); /* lost the client inside DATA */
		}
	}
	str_free(&out);
	if (smtp_data_reply(&d, &r) < 0) {
		postdrop_abort(pc);
		reply_r(&r);
	} else {
		reply_status(postdrop_finish(pc, id), id);
	}
	transaction_reset(s);
}

/* One command; returns 0 at QUIT. */
static int
command(struct session *s, const char *line, size_t len)
{
	struct smtp_cmd cmd;
	struct smtp_reply r;
	int go_on = 1;

	smtp_cmd_init(&cmd);
	if (smtp_cmd_parse(&cmd, line, len, s->smtputf8 ? SMTP_CMD_OPT_SMTPUTF8 : 0) !=
	        SMTP_CMD_OK) {
		smtp_cmd_reply(&cmd, &r);
		reply_r(&r);
		count_error(s);
		smtp_cmd_free(&cmd);
		return 1;
	}
	switch (cmd.verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		transaction_reset(s);
		do_ehlo(cmd.verb == SMTP_VERB_EHLO);
		break;
	case SMTP_VERB_MAIL:
		do_mail(s, &cmd);
		break;
	case SMTP_VERB_RCPT:
		do_rcpt(s, &cmd);
		break;
	case SMTP_VERB_DATA:
		do_data(s);
		break;
	case SMTP_VERB_RSET:
		transaction_reset(s);
		reply(250, "2.0.0", "Ok");
		break;
	case SMTP_VERB_NOOP:
		reply(250, "2.0.0", "Ok");
		break;
	case SMTP_VERB_QUIT:
		reply(221, "2.0.0", "Bye");
		go_on = 0;
		break;
	case SMTP_VERB_VRFY:
		reply(252, "2.0.0", "Send some mail, I'll try my best");
		break;
	case SMTP_VERB_HELP:
		reply(214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY");
		break;
	default: /* EXPN, BDAT, STARTTLS, AUTH, ETRN, TURN, ATRN */
		reply(502, "5.5.1", "Error: command not implemented");
		count_error(s);
	}
	smtp_cmd_free(&cmd);
	return go_on;
}

/* Discard the rest of an over-long line; 0, or -1 at end of file. */
static int
skip_line(struct session *s)
{
	for (;;) {
		const char *nl = memchr(s->in.data, '\n', s->in.len);

		if (nl) {
			str_consume(&s->in, (size_t)(nl - s->in.data) + 1);
			return 0;
		}
		str_reset(&s->in);
		if (fill(s) < 0)
			return -1;
	}
}

int
sendmail_smtp(const struct sendmail_opts *o)
{
	struct session s;
	struct str greeting = STR_INIT, line = STR_INIT;
	size_t linelen;

	memset(&s, 0, sizeof(s));
	s.o = o;
	s.timeout_ms = (int)(config_time(cfg, "smtpd_timeout") * 1000);
	s.line_max = (size_t)config_int(cfg, "smtpd_line_length_limit");
	s.error_limit = config_int(cfg, "smtpd_hard_error_limit");
	s.rcpt_limit = config_int(cfg, "smtpd_recipient_limit");
	s.limits.message_size = (unsigned long long)config_size(cfg, "message_size_limit");
	s.limits.header_size = (unsigned long long)config_size(cfg, "header_size_limit");
	s.limits.header_count = (unsigned long)config_int(cfg, "header_count_limit");
	s.limits.hop_count = (unsigned long)config_int(cfg, "hopcount_limit");
	str_printf(&greeting, "%s", config_str(cfg, "smtpd_banner"));
	reply(220, NULL, str_cstr(&greeting));
	str_free(&greeting);
	for (;;) {
		enum smtp_line_status ls = smtp_cmd_find_line(
		        s.in.data ? s.in.data : "", s.in.len, s.line_max, &linelen);

		if (ls == SMTP_LINE_PARTIAL) {
			if (fill(&s) < 0)
				break;
			continue;
		}
		if (ls == SMTP_LINE_TOO_LONG) {
			reply(500, "5.5.2", "Error: line too long");
			count_error(&s);
			if (skip_line(&s) < 0)
				break;
			continue;
		}
		str_set(&line, s.in.data, linelen);
		str_consume(&s.in, linelen);
		if (!command(&s, line.data, line.len))
			break;
	}
	transaction_reset(&s);
	str_free(&s.in);
	str_free(&line);
	return EX_OK;
}
