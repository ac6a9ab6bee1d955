/*
 * smtpd_cmd.c - the SMTP commands: parse a line (lib/smtp_cmd.c), check
 * the sequence (503 5.5.1), and handle HELO, EHLO, MAIL, RCPT, RSET,
 * NOOP, QUIT, VRFY (252), EXPN (502), HELP, AUTH (not offered yet: 503),
 * ETRN (sequence, syntax and client checks here; the flush request to
 * qmgr is smtpd_etrn.c's), TURN and ATRN (502).  DATA and BDAT are
 * smtpd_data.c's, STARTTLS smtpd_tls.c's.
 *
 * A command line is client text: it is parsed into a struct smtp_cmd
 * before anything looks at it, and refused with the reply the parser
 * names.  A bare CR or LF in a command line ends the session (521), since
 * after one the two sides may disagree about where lines end (SMTP
 * smuggling).  RCPT waits for trivial-rewrite (smtpd_check.c), ETRN for
 * qmgr; while one waits, the session takes no input, so pipelined
 * commands are handled in order.  Called by smtpd_session.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "mem.h"
#include "msg.h"
#include "smtpd.h"
#include "stream.h"

/* ---- the transaction ---- */

static void
rcpt_free(struct smtpd_rcpt *r)
{
	free(r->address);
	free(r->orcpt);
	free(r->notify);
}

void
smtpd_xact_free(struct smtpd_xact *x)
{
	for (size_t i = 0; i < x->nrcpt; i++)
		rcpt_free(&x->rcpt[i]);
	free(x->rcpt);
	str_free(&x->sender);
	str_free(&x->sender_log);
	str_free(&x->envid);
	str_free(&x->content);
	str_free(&x->failure);
	str_free(&x->bdat_refusal);
	memset(x, 0, sizeof(*x));
}

/* End the transaction: RSET, HELO/EHLO, STARTTLS, the end of a message. */
void
smtpd_xact_reset(struct smtpd_session *s)
{
	struct smtpd_xact *x = &s->xact;

	smtpd_data_abort(s);
	smtpd_check_rcpt_cancel(s);
	for (size_t i = 0; i < x->nrcpt; i++)
		rcpt_free(&x->rcpt[i]);
	x->nrcpt = 0;
	x->rcpt_attempts = 0;
	x->active = 0;
	str_reset(&x->sender);
	str_reset(&x->sender_log);
	str_reset(&x->envid);
	str_reset(&x->content);
	str_reset(&x->failure);
	str_reset(&x->bdat_refusal);
	x->size = 0;
	x->body = SMTP_BODY_NONE;
	x->ret = SMTP_RET_NONE;
	x->smtputf8 = 0;
	x->data_verb = SMTP_VERB_NONE;
	x->queue_id[0] = '\0';
	x->cleanup_open = 0;
	x->cleanup_failed = 0;
	x->bdat_left = 0;
	x->bdat_chunk = 0;
	x->bdat_last = 0;
	x->bdat_discard = 0;
}

const char *
smtpd_protocol_name(const struct smtpd_session *s)
{
	if (s->helo_verb == SMTP_VERB_EHLO)
		return s->tls ? "ESMTPS" : "ESMTP";
	return s->tls ? "SMTPS" : "SMTP";
}

/* The internal form of a parsed path: local part unquoted, "@", domain. */
static void
internal_form(const struct addr *a, struct str *out)
{
	str_reset(out);
	if (a->flags & ADDR_IS_NULL)
		return;
	str_append(out, a->local.data, a->local.len);
	if (a->domain.len > 0) {
		str_appendc(out, '@');
		str_append(out, a->domain.data, a->domain.len);
	}
}

/* ---- HELO, EHLO ---- */

static void
ehlo_reply(struct smtpd_session *s)
{
	char size[40];
	const char *lines[12];
	size_t n = 0;

	if (smtpd.message_size_limit > 0)
		snprintf(size, sizeof(size), "SIZE %llu", smtpd.message_size_limit);
	else
		strcpy(size, "SIZE");
	lines[n++] = smtpd.myhostname;
	lines[n++] = "PIPELINING";
	lines[n++] = size;
	lines[n++] = "ETRN";
	if (smtpd.tls_ctx != NULL && !s->tls && smtpd.tls_level != SMTPD_TLS_NONE)
		lines[n++] = "STARTTLS";
	lines[n++] = "ENHANCEDSTATUSCODES";
	lines[n++] = "8BITMIME";
	lines[n++] = "DSN";
	lines[n++] = "SMTPUTF8";
	lines[n++] = "CHUNKING";
	smtpd_reply_lines(s, 250, lines, n);
}

static void
cmd_helo(struct smtpd_session *s)
{
	struct smtpd_verdict v;
	struct str name = STR_INIT;

	smtpd_log_sanitize(s->cmd.arg.data, s->cmd.arg.len, &name);
	if (name.len > SMTPD_HELO_MAX)
		str_truncate(&name, SMTPD_HELO_MAX);
	smtpd_verdict_init(&v);
	if (smtpd_check_helo(s, str_cstr(&name), &v) == SMTPD_CHECK_REJECT) {
		smtpd_log_reject(s, smtp_verb_name(s->cmd.verb), NULL, NULL, "%d %s %s", v.code,
		        v.dsn, str_cstr(&v.text));
		smtpd_reply(s, v.code, v.dsn, "%s", str_cstr(&v.text));
	} else {
		smtpd_xact_reset(s);
		s->helo_verb = s->cmd.verb;
		str_set(&s->helo, name.data, name.len);
		if (s->cmd.verb == SMTP_VERB_EHLO)
			ehlo_reply(s);
		else
			smtpd_reply(s, 250, NULL, "%s", smtpd.myhostname);
	}
	smtpd_verdict_free(&v);
	str_free(&name);
}

/* ---- MAIL ---- */

/* Is there room in the queue file system for size more octets? */
static int
queue_has_room(unsigned long long size)
{
	struct statvfs fs;
	unsigned long long avail;

	if (smtpd.queue_minfree == 0 && size == 0)
		return 1;
	if (statvfs(".", &fs) < 0) {
		msg_warn("statvfs of the queue directory: %m");
		return 1; /* cleanup checks again, and answers for itself */
	}
	avail = (unsigned long long)fs.f_bavail * fs.f_frsize;
	return avail >= smtpd.queue_minfree && avail - smtpd.queue_minfree >= size;
}

static void
mail_reject(struct smtpd_session *s, int code, const char *dsn, const char *text)
{
	struct str from = STR_INIT;

	addr_format(&s->cmd.addr, &from);
	smtpd_log_reject(s, "MAIL", str_cstr(&from), NULL, "%d %s %s", code, dsn, text);
	smtpd_reply(s, code, dsn, "%s", text);
	str_free(&from);
}

static void
cmd_mail(struct smtpd_session *s)
{
	const struct smtp_params *p = &s->cmd.params;
	struct smtpd_xact *x = &s->xact;
	struct smtpd_verdict v;

	if (smtpd.helo_required && s->helo_verb == SMTP_VERB_NONE) {
		smtpd_reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	if (x->active) {
		smtpd_reply(s, 503, "5.5.1", "Error: nested MAIL command");
		return;
	}
	if (s->messages >= smtpd.messages_per_session) {
		smtpd_log_lost(s, "too many messages");
		smtpd_reply(s, 421, "4.7.0", "%s Error: too many messages in this session",
		        smtpd.myhostname);
		smtpd_session_close(s, 1);
		return;
	}
	if (smtpd.session_size_limit > 0 && s->session_bytes >= smtpd.session_size_limit) {
		smtpd_log_lost(s, "session size limit reached");
		smtpd_reply(s, 421, "4.7.0", "%s Error: too much mail data in this session",
		        smtpd.myhostname);
		smtpd_session_close(s, 1);
		return;
	}
	if (p->body == SMTP_BODY_BINARYMIME) {
		smtpd_reply(s, 555, "5.5.4", "Unsupported option: BODY=BINARYMIME");
		return;
	}
	if (smtpd.message_size_limit > 0 && (p->seen & SMTP_PARAM_SIZE) &&
	        p->size > smtpd.message_size_limit) {
		mail_reject(s, 552, "5.3.4", "Message size exceeds fixed limit");
		return;
	}
	if (!queue_has_room((p->seen & SMTP_PARAM_SIZE) ? p->size : 0)) {
		mail_reject(s, 452, "4.3.1", "Insufficient system storage");
		return;
	}
	smtpd_verdict_init(&v);
	if (smtpd_check_sender(s, &s->cmd.addr, &v) == SMTPD_CHECK_REJECT) {
		mail_reject(s, v.code, v.dsn, str_cstr(&v.text));
		smtpd_verdict_free(&v);
		return;
	}
	smtpd_verdict_free(&v);
	smtpd_xact_reset(s);
	x->active = 1;
	internal_form(&s->cmd.addr, &x->sender);
	addr_format(&s->cmd.addr, &x->sender_log);
	x->size = (p->seen & SMTP_PARAM_SIZE) ? p->size : 0;
	x->body = p->body;
	x->ret = p->ret;
	x->smtputf8 = (p->seen & SMTP_PARAM_SMTPUTF8) != 0;
	if (p->seen & SMTP_PARAM_ENVID)
		str_set(&x->envid, p->envid.data, p->envid.len);
	smtpd_reply(s, 250, "2.1.0", "Ok");
}

/* ---- RCPT ---- */

static void
cmd_rcpt(struct smtpd_session *s)
{
	struct smtpd_xact *x = &s->xact;

	if (!x->active) {
		smtpd_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	x->rcpt_attempts++;
	if (x->nrcpt >= smtpd.recipient_limit) {
		smtpd_reply(s, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	smtpd_check_rcpt(s);
}

static char *
notify_text(unsigned notify)
{
	struct str t = STR_INIT;

	if (notify & SMTP_NOTIFY_NEVER)
		str_appendz(&t, "NEVER");
	if (notify & SMTP_NOTIFY_SUCCESS)
		str_appendz(&t, t.len ? ",SUCCESS" : "SUCCESS");
	if (notify & SMTP_NOTIFY_FAILURE)
		str_appendz(&t, t.len ? ",FAILURE" : "FAILURE");
	if (notify & SMTP_NOTIFY_DELAY)
		str_appendz(&t, t.len ? ",DELAY" : "DELAY");
	return str_steal(&t);
}

static char *
orcpt_text(const struct smtp_params *p)
{
	struct str t = STR_INIT;

	str_appendz(&t, p->orcpt_type == SMTP_ORCPT_UTF8 ? "utf-8;" : "rfc822;");
	for (size_t i = 0; i < p->orcpt.len; i++) {
		unsigned char c = (unsigned char)p->orcpt.data[i];

		if (c < 32 || c == 127) { /* not storable: the parameter is dropped */
			str_free(&t);
			return NULL;
		}
	}
	str_append(&t, p->orcpt.data, p->orcpt.len);
	return str_steal(&t);
}

/*
 * The outcome of smtpd_check_rcpt() for the RCPT in s->cmd: code 250
 * accepts it, anything else refuses it with that reply (logged).
 */
void
smtpd_rcpt_verdict(struct smtpd_session *s, int code, const char *dsn, const char *text)
{
	struct smtpd_xact *x = &s->xact;
	const struct smtp_params *p = &s->cmd.params;
	struct smtpd_rcpt *r;
	struct str to = STR_INIT;

	if (code != 250) {
		addr_format(&s->cmd.addr, &to);
		smtpd_log_reject(s, "RCPT", NULL, str_cstr(&to), "%d %s %s", code, dsn, text);
		smtpd_reply(s, code, dsn, "%s", text);
		str_free(&to);
		return;
	}
	if (x->nrcpt == x->rcpt_cap) {
		x->rcpt_cap = x->rcpt_cap ? x->rcpt_cap * 2 : 4;
		x->rcpt = xreallocarray(x->rcpt, x->rcpt_cap, sizeof(*x->rcpt));
	}
	r = &x->rcpt[x->nrcpt++];
	internal_form(&s->cmd.addr, &to);
	r->address = str_steal(&to);
	r->notify = (p->seen & SMTP_PARAM_NOTIFY) ? notify_text(p->notify) : NULL;
	r->orcpt = (p->seen & SMTP_PARAM_ORCPT) ? orcpt_text(p) : NULL;
	smtpd_reply(s, 250, "2.1.5", "Ok");
}

/* ---- the others ---- */

static void
cmd_rset(struct smtpd_session *s)
{
	smtpd_xact_reset(s);
	smtpd_reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_quit(struct smtpd_session *s)
{
	smtpd_reply(s, 221, "2.0.0", "Bye");
	smtpd_session_close(s, 1);
}

/* ETRN argument: domain, "@domain" or "#queue". */
static int
etrn_arg_valid(const char *arg)
{
	if (*arg == '@' || *arg == '#')
		arg++;
	if (*arg == '\0' || strlen(arg) > 255)
		return 0;
	for (; *arg; arg++)
		if (!((*arg >= 'a' && *arg <= 'z') || (*arg >= 'A' && *arg <= 'Z') ||
		            (*arg >= '0' && *arg <= '9') || *arg == '-' || *arg == '.' ||
		            *arg == '_'))
			return 0;
	return 1;
}

static void
cmd_etrn(struct smtpd_session *s)
{
	struct smtpd_verdict v;
	const char *arg = str_cstr(&s->cmd.arg);

	if (s->helo_verb == SMTP_VERB_NONE) {
		smtpd_reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	if (s->xact.active) {
		smtpd_reply(s, 503, "5.5.1", "Error: MAIL transaction in progress");
		return;
	}
	if (!etrn_arg_valid(arg)) {
		smtpd_reply(s, 501, "5.5.4", "Error: invalid parameter syntax");
		return;
	}
	if (*arg == '@' || *arg == '#')
		arg++; /* qmgr takes the name alone */
	smtpd_verdict_init(&v);
	if (smtpd_check_etrn(s, arg, &v) == SMTPD_CHECK_REJECT) {
		smtpd_log_reject(
		        s, "ETRN", NULL, NULL, "%d %s %s", v.code, v.dsn, str_cstr(&v.text));
		smtpd_reply(s, v.code, v.dsn, "%s", str_cstr(&v.text));
	} else {
		smtpd_etrn_flush(s, arg);
	}
	smtpd_verdict_free(&v);
}

/* Commands allowed before STARTTLS when TLS is required. */
static int
allowed_before_tls(enum smtp_verb v)
{
	return v == SMTP_VERB_HELO || v == SMTP_VERB_EHLO || v == SMTP_VERB_STARTTLS ||
	        v == SMTP_VERB_NOOP || v == SMTP_VERB_RSET || v == SMTP_VERB_QUIT ||
	        v == SMTP_VERB_HELP;
}

static void
parse_error(struct smtpd_session *s, enum smtp_cmd_status st)
{
	struct smtp_reply r;

	smtp_cmd_reply(&s->cmd, &r);
	if (st == SMTP_CMD_ERR_BARE_LF || st == SMTP_CMD_ERR_BARE_CR) {
		smtpd_log_lost(s,
		        st == SMTP_CMD_ERR_BARE_LF ? "bare <LF> received" : "bare <CR> received");
		smtpd_reply_parsed(s, &r);
		smtpd_session_close(s, 1);
		return;
	}
	if (st == SMTP_CMD_ERR_ADDRESS &&
	        (s->cmd.verb == SMTP_VERB_MAIL || s->cmd.verb == SMTP_VERB_RCPT)) {
		struct str line = STR_INIT;

		smtp_reply_format(&r, &line);
		str_truncate(&line, line.len >= 2 ? line.len - 2 : 0);
		smtpd_log_reject(s, smtp_verb_name(s->cmd.verb), NULL, NULL, "%s", str_cstr(&line));
		str_free(&line);
	}
	smtpd_reply_parsed(s, &r);
}

void
smtpd_command(struct smtpd_session *s, const char *line, size_t len)
{
	enum smtp_cmd_status st;
	enum smtp_verb v;

	st = smtp_cmd_parse(&s->cmd, line, len, s->xact.smtputf8 ? SMTP_CMD_OPT_SMTPUTF8 : 0);
	v = s->cmd.verb;
	s->cmd_total[v]++;
	s->last_verb = v;
	s->any_command = 1;
	if (st != SMTP_CMD_OK) {
		parse_error(s, st);
		return;
	}
	if (smtpd_tls_required(s) && !allowed_before_tls(v)) {
		if (v == SMTP_VERB_BDAT) {
			smtpd_cmd_bdat(s); /* reads and drops the chunk, answers 530 */
			return;
		}
		smtpd_reply(s, 530, "5.7.0", "Must issue a STARTTLS command first");
		return;
	}
	switch (v) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		cmd_helo(s);
		break;
	case SMTP_VERB_MAIL:
		cmd_mail(s);
		break;
	case SMTP_VERB_RCPT:
		cmd_rcpt(s);
		break;
	case SMTP_VERB_DATA:
		smtpd_cmd_data(s);
		break;
	case SMTP_VERB_BDAT:
		smtpd_cmd_bdat(s);
		break;
	case SMTP_VERB_RSET:
		cmd_rset(s);
		break;
	case SMTP_VERB_NOOP:
		smtpd_reply(s, 250, "2.0.0", "Ok");
		break;
	case SMTP_VERB_QUIT:
		cmd_quit(s);
		break;
	case SMTP_VERB_VRFY:
		smtpd_reply(s, 252, "2.0.0", "Cannot VRFY user; try RCPT to attempt delivery");
		break;
	case SMTP_VERB_EXPN:
	case SMTP_VERB_TURN:
	case SMTP_VERB_ATRN:
		smtpd_reply(s, 502, "5.5.1", "Error: command not implemented");
		break;
	case SMTP_VERB_HELP:
		smtpd_reply(s, 214, "2.0.0",
		        "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP "
		        "STARTTLS ETRN");
		break;
	case SMTP_VERB_STARTTLS:
		smtpd_cmd_starttls(s);
		break;
	case SMTP_VERB_AUTH:
		smtpd_reply(s, 503, "5.5.1", "Error: authentication not enabled");
		break;
	case SMTP_VERB_ETRN:
		cmd_etrn(s);
		break;
	default:
		smtpd_reply(s, 500, "5.5.2", "Error: command not recognized");
		break;
	}
}
