/*
 * smtpd_data.c - message content: DATA (RFC 5321) and BDAT (RFC 3030),
 * streamed to cleanup as it arrives.
 *
 * DATA: the sequence is checked, cleanup is opened (the envelope and the
 * recipients go with it), and only when it answered with a queue ID does
 * the client get 354.  The content is cut by lib/smtp_data.c, which ends
 * it only at CRLF.CRLF, unstuffs dots, refuses bare CR and LF, and counts
 * the size, header and hop limits; it goes to cleanup in frames of at most
 * SMTPD_CLEANUP_CHUNK octets.  When cleanup falls behind by more than
 * SMTPD_CLEANUP_HIGH_WATER octets the session stops reading until it
 * catches up.  At the end: an error found in the data (554 5.5.2 bare
 * CR/LF, 552 5.3.4 size, header limits, 554 5.4.6 hops) aborts the file;
 * otherwise "end" goes to cleanup and "250 2.0.0 Ok: queued as ID" is sent
 * only after cleanup's commit.  Whatever goes wrong with cleanup (refusal,
 * a dropped connection: kill -9) is answered with 4xx or cleanup's own
 * reply after the client's data was read to its end, and nothing is
 * queued.
 *
 * BDAT: each chunk's octets are read by count, whatever the verdict: a
 * refused chunk (no MAIL, no recipients, TLS required, a failed message)
 * is read and dropped, then answered, so the input stays in step.  Text
 * bodies get the same bare CR/LF refusal as DATA (BODY=BINARYMIME is not
 * offered).  A non-LAST chunk that fails ends the transaction.
 *
 * Message data must arrive at smtpd_min_data_rate on average (after a
 * grace of smtpd_timeout), or within smtpd_timeout of silence when no
 * rate is set.  Called by smtpd_cmd.c and smtpd_session.c.
 */
#include <stdio.h>
#include <string.h>

#include "attr.h"
#include "msg.h"
#include "smtpd.h"
#include "stream.h"

static void on_opened(struct smtpd_session *s, const char *queue_id);
static void on_refused(struct smtpd_session *s, const char *reply, const char *reason);
static void on_committed(struct smtpd_session *s, const char *queue_id);
static void on_failed(struct smtpd_session *s, const char *reason);
static void on_drained(struct smtpd_session *s);

static const struct smtpd_cleanup_events events = {
        .opened = on_opened,
        .refused = on_refused,
        .committed = on_committed,
        .failed = on_failed,
        .drained = on_drained,
};

/* ---- deadlines of the data phase ---- */

static void
data_deadlines(struct smtpd_session *s)
{
	stream_set_read_deadline(s->stream, 0);
	if (smtpd.min_data_rate > 0)
		stream_set_min_rate(s->stream, smtpd.min_data_rate, smtpd_timeout_ms());
	else
		stream_set_idle_timeout(s->stream, smtpd_timeout_ms());
}

static void
command_deadlines(struct smtpd_session *s)
{
	stream_set_min_rate(s->stream, 0, 0);
	stream_set_idle_timeout(s->stream, 0);
	s->need_deadline = 1;
}

/* ---- cleanup ---- */

static const char *
client_name_for_cleanup(const struct smtpd_session *s)
{
	if (s->verified == 1)
		return s->name;
	if (s->verified == 0)
		return s->ptr_name;
	return "";
}

static int
open_cleanup(struct smtpd_session *s)
{
	struct smtpd_xact *x = &s->xact;
	struct attr_list l;
	struct str err = STR_INIT, flags = STR_INIT;

	attr_list_init(&l);
	attr_put_str(&l, "request", "open");
	attr_put_str(&l, "sender", str_cstr(&x->sender));
	if (x->body == SMTP_BODY_8BITMIME)
		str_appendz(&flags, "8bitmime");
	if (x->smtputf8)
		str_appendz(&flags, flags.len ? ",smtputf8" : "smtputf8");
	if (flags.len)
		attr_put_str(&l, "flags", str_cstr(&flags));
	if (x->envid.len)
		attr_put_str(&l, "envid", str_cstr(&x->envid));
	if (x->ret != SMTP_RET_NONE)
		attr_put_str(&l, "ret", x->ret == SMTP_RET_FULL ? "FULL" : "HDRS");
	if (s->helo.len)
		attr_put_str(&l, "helo", str_cstr(&s->helo));
	if (*client_name_for_cleanup(s))
		attr_put_str(&l, "client_name", client_name_for_cleanup(s));
	attr_put_str(&l, "client_addr", s->addr);
	attr_put_int(&l, "client_port", s->port);
	if (s->verified >= 0)
		attr_put_int(&l, "client_verified", s->verified);
	attr_put_str(&l, "protocol", smtpd_protocol_name(s));
	if (s->tls) {
		attr_put_str(&l, "tls_protocol", stream_tls_version(s->stream));
		attr_put_str(&l, "tls_cipher", stream_tls_cipher(s->stream));
	}
	x->cleanup = smtpd_cleanup_open(s, &l, &events, &err);
	if (x->cleanup == NULL) {
		msg_warn("NOQUEUE: %s[%s]: cleanup: %s", s->name, s->addr, str_cstr(&err));
	} else {
		for (size_t i = 0; i < x->nrcpt; i++)
			smtpd_cleanup_rcpt(x->cleanup, &x->rcpt[i]);
		smtpd_session_wait(s, SMTPD_WAIT_CLEANUP);
	}
	attr_list_free(&l);
	str_free(&err);
	str_free(&flags);
	return x->cleanup ? 0 : -1;
}

void
smtpd_data_abort(struct smtpd_session *s)
{
	if (s->xact.cleanup) {
		smtpd_cleanup_free(s->xact.cleanup);
		s->xact.cleanup = NULL;
	}
	s->wait &= ~(SMTPD_WAIT_CLEANUP | SMTPD_WAIT_DRAIN);
}

static void
send_content(struct smtpd_session *s, int all)
{
	struct smtpd_xact *x = &s->xact;

	if (x->data.errors || x->cleanup_failed || x->cleanup == NULL) {
		str_reset(&x->content);
		return;
	}
	if (x->content.len == 0 || (!all && x->content.len < SMTPD_CLEANUP_CHUNK))
		return;
	smtpd_cleanup_data(x->cleanup, x->content.data, x->content.len);
	str_reset(&x->content);
	if (smtpd_cleanup_pending(x->cleanup) > SMTPD_CLEANUP_HIGH_WATER)
		smtpd_session_wait(s, SMTPD_WAIT_DRAIN);
}

/* The reply for a failed message, in the log and to the client. */
static void
refuse_message(struct smtpd_session *s, const char *line)
{
	const char *to = s->xact.nrcpt ? s->xact.rcpt[0].address : NULL;

	smtpd_log_reject(s, "END-OF-MESSAGE", NULL, to, "%s", line);
	smtpd_reply_text(s, line);
}

static void
set_failure(struct smtpd_session *s, const char *reply)
{
	s->xact.cleanup_failed = 1;
	str_setz(&s->xact.failure, reply);
	smtpd_data_abort(s);
}

/* 503 (bad sequence) is the client's confusion, not a policy refusal:
 * not logged as "reject". */
static int
sequence_error(const char *line)
{
	return strncmp(line, "503 ", 4) == 0;
}

/* ---- the end of the message ---- */

static void
message_done(struct smtpd_session *s)
{
	struct smtpd_xact *x = &s->xact;
	struct smtp_reply r;
	struct str line = STR_INIT;

	command_deadlines(s);
	s->phase = SMTPD_PHASE_COMMAND;
	if (smtp_data_reply(&x->data, &r) < 0) {
		smtp_reply_format(&r, &line);
		str_truncate(&line, line.len - 2);
		refuse_message(s, str_cstr(&line));
		smtpd_xact_reset(s);
	} else if (x->cleanup_failed || x->cleanup == NULL) {
		refuse_message(s,
		        x->failure.len ? str_cstr(&x->failure)
		                       : "451 4.3.0 Error: "
		                         "queue file write error");
		smtpd_xact_reset(s);
	} else {
		send_content(s, 1);
		smtpd_cleanup_end(x->cleanup);
		smtpd_session_wait(s, SMTPD_WAIT_CLEANUP);
	}
	str_free(&line);
}

/* ---- DATA ---- */

/* Can a message start (DATA, first BDAT)?  0, or a reply in *refusal. */
static int
message_allowed(struct smtpd_session *s, struct str *refusal)
{
	struct smtpd_verdict v;
	int rc = 0;

	if (!s->xact.active) {
		str_setz(refusal, "503 5.5.1 Error: need MAIL command");
		return -1;
	}
	if (s->xact.nrcpt == 0) {
		str_setz(refusal,
		        s->xact.rcpt_attempts ? "554 5.5.1 Error: no valid recipients"
		                              : "503 5.5.1 Error: need RCPT command");
		return -1;
	}
	smtpd_verdict_init(&v);
	if (smtpd_check_data(s, &v) == SMTPD_CHECK_REJECT) {
		str_printf(refusal, "%d %s %s", v.code, v.dsn, str_cstr(&v.text));
		rc = -1;
	}
	smtpd_verdict_free(&v);
	return rc;
}

void
smtpd_cmd_data(struct smtpd_session *s)
{
	struct smtpd_xact *x = &s->xact;
	struct str refusal = STR_INIT;

	if (x->data_verb == SMTP_VERB_BDAT) {
		smtpd_reply(s, 503, "5.5.1", "Error: DATA after BDAT");
	} else if (message_allowed(s, &refusal) < 0) {
		if (!sequence_error(str_cstr(&refusal)))
			smtpd_log_reject(s, "DATA", NULL, NULL, "%s", str_cstr(&refusal));
		smtpd_reply_text(s, str_cstr(&refusal));
	} else {
		x->data_verb = SMTP_VERB_DATA;
		smtp_data_init(&x->data, SMTP_DATA_DOT, &smtpd.data_limits);
		if (open_cleanup(s) < 0) {
			smtpd_reply(s, 451, "4.3.0", "Error: queue file write error");
			smtpd_xact_reset(s);
		}
	}
	str_free(&refusal);
}

/* Message data after 354: 0 when more input is needed. */
int
smtpd_data_input(struct smtpd_session *s)
{
	struct smtpd_xact *x = &s->xact;
	const char *buf;
	size_t len, used;

	buf = stream_peek(s->stream, &len);
	if (len == 0)
		return 0;
	if (len > SMTPD_CLEANUP_CHUNK)
		len = SMTPD_CLEANUP_CHUNK;
	used = smtp_data_feed(&x->data, buf, len, &x->content);
	stream_consume(s->stream, used);
	s->session_bytes += used;
	send_content(s, 0);
	if (x->data.done)
		message_done(s);
	return 1;
}

/* ---- BDAT ---- */

void
smtpd_cmd_bdat(struct smtpd_session *s)
{
	struct smtpd_xact *x = &s->xact;

	x->bdat_left = s->cmd.bdat_size;
	x->bdat_chunk = s->cmd.bdat_size;
	x->bdat_last = s->cmd.bdat_last;
	x->bdat_discard = 0;
	str_reset(&x->bdat_refusal);
	s->phase = SMTPD_PHASE_BDAT;
	data_deadlines(s);
	if (smtpd_tls_required(s)) {
		str_setz(&x->bdat_refusal, "530 5.7.0 Must issue a STARTTLS command first");
	} else if (x->data_verb == SMTP_VERB_NONE) {
		if (message_allowed(s, &x->bdat_refusal) == 0) {
			x->data_verb = SMTP_VERB_BDAT;
			smtp_data_init(&x->data, SMTP_DATA_BDAT, &smtpd.data_limits);
			if (open_cleanup(s) < 0)
				set_failure(s, "451 4.3.0 Error: queue file write error");
		}
	}
	if (x->bdat_refusal.len > 0)
		x->bdat_discard = 1;
}

static void
chunk_done(struct smtpd_session *s)
{
	struct smtpd_xact *x = &s->xact;
	struct smtp_reply r;
	struct str line = STR_INIT;

	if (x->bdat_discard) {
		command_deadlines(s);
		s->phase = SMTPD_PHASE_COMMAND;
		if (!sequence_error(str_cstr(&x->bdat_refusal)))
			smtpd_log_reject(s, "BDAT", NULL, NULL, "%s", str_cstr(&x->bdat_refusal));
		smtpd_reply_text(s, str_cstr(&x->bdat_refusal));
		return;
	}
	if (x->bdat_last) {
		smtp_data_finish(&x->data, &x->content);
		message_done(s);
		return;
	}
	command_deadlines(s);
	s->phase = SMTPD_PHASE_COMMAND;
	if (smtp_data_reply(&x->data, &r) < 0) {
		smtp_reply_format(&r, &line);
		str_truncate(&line, line.len - 2);
		refuse_message(s, str_cstr(&line));
		smtpd_xact_reset(s);
	} else if (x->cleanup_failed) {
		refuse_message(s, str_cstr(&x->failure));
		smtpd_xact_reset(s);
	} else {
		smtpd_reply(s, 250, "2.0.0", "Ok: %llu octets received", x->bdat_chunk);
	}
	str_free(&line);
}

/* The octets of a BDAT chunk: 0 when more input is needed. */
int
smtpd_bdat_input(struct smtpd_session *s)
{
	struct smtpd_xact *x = &s->xact;
	const char *buf;
	size_t len;

	if (x->bdat_left == 0) {
		chunk_done(s);
		return 1;
	}
	buf = stream_peek(s->stream, &len);
	if (len == 0)
		return 0;
	if (len > x->bdat_left)
		len = (size_t)x->bdat_left;
	if (len > SMTPD_CLEANUP_CHUNK)
		len = SMTPD_CLEANUP_CHUNK;
	if (!x->bdat_discard)
		(void)smtp_data_feed(&x->data, buf, len, &x->content);
	stream_consume(s->stream, len);
	x->bdat_left -= len;
	s->session_bytes += len;
	if (!x->bdat_discard)
		send_content(s, 0);
	return 1;
}

/* ---- cleanup's answers ---- */

static void
on_opened(struct smtpd_session *s, const char *queue_id)
{
	struct smtpd_xact *x = &s->xact;

	smtpd_session_enter(s);
	snprintf(x->queue_id, sizeof(x->queue_id), "%s", queue_id);
	x->cleanup_open = 1;
	msg_info("%s: client=%s[%s]", x->queue_id, s->name, s->addr);
	if (x->data_verb == SMTP_VERB_DATA) {
		s->phase = SMTPD_PHASE_DATA;
		smtpd_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	}
	data_deadlines(s);
	smtpd_session_resume(s, SMTPD_WAIT_CLEANUP);
	smtpd_session_leave(s);
}

static void
on_refused(struct smtpd_session *s, const char *reply, const char *reason)
{
	struct smtpd_xact *x = &s->xact;
	int at_open = !x->cleanup_open;

	smtpd_session_enter(s);
	msg_debug("%s: cleanup refused: %s", x->queue_id[0] ? x->queue_id : "NOQUEUE", reason);
	set_failure(s, reply);
	if (at_open && x->data_verb == SMTP_VERB_DATA) {
		/* No 354 was sent: the refusal is DATA's reply. */
		smtpd_log_reject(s, "DATA", NULL, NULL, "%s", reply);
		smtpd_reply_text(s, reply);
		smtpd_xact_reset(s);
	} else if (!at_open) {
		/* The final answer: the data has been read. */
		refuse_message(s, reply);
		smtpd_xact_reset(s);
	}
	/* BDAT at open: the chunk is read and dropped, then refused. */
	smtpd_session_resume(s, SMTPD_WAIT_CLEANUP | SMTPD_WAIT_DRAIN);
	smtpd_session_leave(s);
}

static void
on_failed(struct smtpd_session *s, const char *reason)
{
	struct smtpd_xact *x = &s->xact;
	int waiting = (s->wait & SMTPD_WAIT_CLEANUP) != 0;

	smtpd_session_enter(s);
	msg_warn("%s: %s[%s]: %s", x->queue_id[0] ? x->queue_id : "NOQUEUE", s->name, s->addr,
	        reason);
	if (waiting && (x->cleanup_open || x->data_verb == SMTP_VERB_DATA)) {
		/* The open or end reply will not come: answer now. */
		on_refused(s, "451 4.3.0 Error: queue file write error", reason);
	} else {
		/* Later: at the end of the data (or of this BDAT chunk). */
		set_failure(s, "451 4.3.0 Error: queue file write error");
		smtpd_session_resume(s, SMTPD_WAIT_CLEANUP | SMTPD_WAIT_DRAIN);
	}
	smtpd_session_leave(s);
}

static void
on_committed(struct smtpd_session *s, const char *queue_id)
{
	smtpd_session_enter(s);
	s->messages++;
	s->errors = 0;
	smtpd_reply(s, 250, "2.0.0", "Ok: queued as %s", queue_id);
	smtpd_xact_reset(s);
	command_deadlines(s);
	smtpd_session_resume(s, SMTPD_WAIT_CLEANUP);
	smtpd_session_leave(s);
}

static void
on_drained(struct smtpd_session *s)
{
	smtpd_session_enter(s);
	if (s->wait & SMTPD_WAIT_DRAIN) {
		data_deadlines(s); /* the wait does not count against the client's rate */
		smtpd_session_resume(s, SMTPD_WAIT_DRAIN);
	}
	smtpd_session_leave(s);
}
