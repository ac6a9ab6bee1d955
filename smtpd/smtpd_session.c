/*
 * smtpd_session.c - one SMTP session: its stream, the loop that takes
 * command lines and message data from the input buffer, the waits for
 * look-ups (no input is taken while one is pending), deadlines, and the
 * end of the session.
 *
 * Lifetime: every entry point (stream callbacks, look-up callbacks, the
 * accept) brackets its work with smtpd_session_enter()/_leave(); code
 * that ends the session only marks it dead, and the outermost leave
 * destroys it, so no caller ever touches freed memory.  Trusts nothing in
 * the input: lines are bounded by smtpd_line_length_limit and parsed by
 * lib/smtp_cmd.c, data by lib/smtp_data.c.  Called by smtpd.c (accept)
 * and by the other smtpd files.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "mem.h"
#include "msg.h"
#include "smtpd.h"
#include "stream.h"

#define SMTPD_CLOSE_WAIT_MS  10000 /* for the last reply to leave */
#define SMTPD_EXPIRE_WAIT_MS 500   /* the same when the process must stop */

static void destroy(struct smtpd_session *s);

void
smtpd_session_enter(struct smtpd_session *s)
{
	s->depth++;
}

void
smtpd_session_leave(struct smtpd_session *s)
{
	if (--s->depth == 0 && s->dead)
		destroy(s);
}

/* Tell the stream whether input is wanted, and arm the command deadline. */
static void
update_reading(struct smtpd_session *s)
{
	int want;

	if (s->dead)
		return;
	want = s->wait == 0 &&
	        (s->phase == SMTPD_PHASE_COMMAND || s->phase == SMTPD_PHASE_DATA ||
	                s->phase == SMTPD_PHASE_BDAT);
	if (want != s->reading) {
		stream_set_reading(s->stream, want);
		s->reading = want;
	}
	if (want && s->need_deadline && s->phase == SMTPD_PHASE_COMMAND) {
		stream_set_read_deadline(s->stream, smtpd_timeout_ms());
		s->need_deadline = 0;
	}
}

static void
too_many_errors(struct smtpd_session *s)
{
	smtpd_log_lost(s, "too many errors");
	smtpd_reply(s, 421, "4.7.0", "%s Error: too many errors", smtpd.myhostname);
	smtpd_session_close(s, 1);
}

void
smtpd_session_process(struct smtpd_session *s)
{
	const char *line;
	size_t len;
	int rc;

	while (!s->dead && s->wait == 0) {
		/* After the reply that went over the limit, also when it came
		 * from a look-up's callback. */
		if (s->phase == SMTPD_PHASE_COMMAND && s->errors > smtpd.hard_error_limit) {
			too_many_errors(s);
			break;
		}
		if (s->phase == SMTPD_PHASE_DATA) {
			if (!smtpd_data_input(s))
				break;
			continue;
		}
		if (s->phase == SMTPD_PHASE_BDAT) {
			if (!smtpd_bdat_input(s))
				break;
			continue;
		}
		if (s->phase != SMTPD_PHASE_COMMAND)
			break;
		rc = stream_get_line(s->stream, smtpd.line_limit, &line, &len);
		if (rc == STREAM_LINE_NONE)
			break;
		s->need_deadline = 1;
		if (rc == STREAM_LINE_TOO_LONG)
			smtpd_reply(s, 500, "5.5.2", "Error: line too long");
		else
			smtpd_command(s, line, len);
	}
	update_reading(s);
}

void
smtpd_session_wait(struct smtpd_session *s, unsigned what)
{
	s->wait |= what;
	update_reading(s);
}

/* From a look-up's callback (never from inside a command). */
void
smtpd_session_resume(struct smtpd_session *s, unsigned what)
{
	s->wait &= ~what;
	if (s->wait == 0)
		smtpd_session_process(s);
	else
		update_reading(s);
}

/* The connect checks are done (smtpd_dns.c): log, then TLS or greet. */
void
smtpd_session_connected(struct smtpd_session *s)
{
	smtpd_log_connect(s);
	if (smtpd.wrappermode && s->refusal.len > 0)
		s->dead = 1; /* no handshake for a client that is refused anyway */
	else if (smtpd.wrappermode)
		smtpd_tls_wrapper_start(s);
	else
		smtpd_session_greet(s);
}

void
smtpd_session_greet(struct smtpd_session *s)
{
	struct smtpd_verdict v;

	if (s->refusal.len > 0) {
		smtpd_reply_text(s, str_cstr(&s->refusal));
		smtpd_session_close(s, 1);
		return;
	}
	smtpd_verdict_init(&v);
	if (smtpd_check_client(s, &v) == SMTPD_CHECK_REJECT) {
		smtpd_log_reject(
		        s, "CONNECT", NULL, NULL, "%d %s %s", v.code, v.dsn, str_cstr(&v.text));
		smtpd_reply(s, v.code, v.dsn, "%s", str_cstr(&v.text));
		smtpd_verdict_free(&v);
		smtpd_session_close(s, 1);
		return;
	}
	smtpd_verdict_free(&v);
	s->phase = SMTPD_PHASE_COMMAND;
	s->need_deadline = 1;
	smtpd_reply(s, 220, NULL, "%s", smtpd.banner);
	smtpd_session_process(s);
}

/* Forget HELO and the transaction (RFC 3207 4.2, after STARTTLS). */
void
smtpd_session_reset(struct smtpd_session *s)
{
	smtpd_xact_reset(s);
	s->helo_verb = SMTP_VERB_NONE;
	str_reset(&s->helo);
}

void
smtpd_session_close(struct smtpd_session *s, int after_reply)
{
	if (s->dead || s->phase == SMTPD_PHASE_CLOSING)
		return;
	smtpd_data_abort(s);
	smtpd_check_rcpt_cancel(s);
	smtpd_dns_cancel(s);
	smtpd_etrn_cancel(s);
	if (after_reply && stream_output_pending(s->stream) > 0 &&
	        stream_error(s->stream) == STREAM_OK) {
		s->phase = SMTPD_PHASE_CLOSING;
		s->wait = 0;
		update_reading(s);
		stream_set_min_rate(s->stream, 0, 0);
		stream_set_idle_timeout(s->stream, 0);
		stream_set_write_deadline(s->stream, SMTPD_CLOSE_WAIT_MS);
		return;
	}
	s->dead = 1;
}

void
smtpd_session_abort(struct smtpd_session *s, const char *why)
{
	if (why)
		smtpd_log_lost(s, why);
	s->dead = 1;
}

void
smtpd_session_expire(struct smtpd_session *s)
{
	if (s->dead)
		return;
	smtpd_session_enter(s);
	if (s->phase != SMTPD_PHASE_CLOSING && stream_error(s->stream) == STREAM_OK &&
	        !(s->wait & SMTPD_WAIT_TLS) && s->phase != SMTPD_PHASE_CONNECT) {
		smtpd_reply(s, 421, "4.3.2", "%s Service shutting down, closing connection",
		        smtpd.myhostname);
		smtpd_session_close(s, 1);
		if (!s->dead)
			stream_set_write_deadline(s->stream, SMTPD_EXPIRE_WAIT_MS);
	} else {
		s->dead = 1;
	}
	smtpd_session_leave(s);
}

/* ---- stream callbacks ---- */

static void
on_read(struct stream *st, void *arg)
{
	struct smtpd_session *s = arg;

	(void)st;
	smtpd_session_enter(s);
	smtpd_session_process(s);
	smtpd_session_leave(s);
}

static void
on_drained(struct stream *st, void *arg)
{
	struct smtpd_session *s = arg;

	(void)st;
	if (s->phase == SMTPD_PHASE_CLOSING) {
		smtpd_session_enter(s);
		s->dead = 1;
		smtpd_session_leave(s);
	}
}

static void
on_tls(struct stream *st, void *arg)
{
	struct smtpd_session *s = arg;

	(void)st;
	smtpd_session_enter(s);
	smtpd_tls_done(s);
	smtpd_session_leave(s);
}

static void
on_error(struct stream *st, enum stream_error why, void *arg)
{
	struct smtpd_session *s = arg;
	struct str what = STR_INIT;

	smtpd_session_enter(s);
	if (!s->dead && s->phase != SMTPD_PHASE_CLOSING) {
		switch (why) {
		case STREAM_ERR_TIMEOUT:
			str_appendz(&what, "timeout");
			break;
		case STREAM_ERR_SLOW:
			str_appendz(&what, "timeout (data rate below smtpd_min_data_rate)");
			break;
		case STREAM_ERR_TLS:
			str_printf(&what, "TLS failure (%s)", stream_error_text(st));
			break;
		default:
			str_appendz(&what, "lost connection");
			break;
		}
		smtpd_log_lost(s, str_cstr(&what));
	}
	s->dead = 1;
	str_free(&what);
	smtpd_session_leave(s);
}

static const struct stream_callbacks callbacks = {
        .on_read = on_read,
        .on_drained = on_drained,
        .on_tls = on_tls,
        .on_error = on_error,
};

/* ---- birth and death ---- */

static void
peer_address(struct smtpd_session *s, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, s->addr, sizeof(s->addr));
		s->port = ntohs(in->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], s->addr, sizeof(s->addr));
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, s->addr, sizeof(s->addr));
		s->port = ntohs(in6->sin6_port);
	}
}

struct smtpd_session *
smtpd_session_new(int fd, const struct sockaddr *sa)
{
	struct smtpd_session *s = xcalloc(1, sizeof(*s));
	size_t input_max = smtpd.line_limit > SMTPD_INPUT_MIN ? smtpd.line_limit : SMTPD_INPUT_MIN;

	peer_address(s, sa);
	strcpy(s->name, "unknown");
	s->verified = -1;
	s->in_mynetworks = -1;
	s->phase = SMTPD_PHASE_CONNECT;
	s->last_verb = SMTP_VERB_NONE;
	smtp_cmd_init(&s->cmd);
	s->stream = stream_new(fd, input_max);
	if (stream_attach(s->stream, smtpd_base(), &callbacks, s) < 0) {
		msg_warn("%s: cannot register the connection with the event loop", s->addr);
		stream_free(s->stream);
		smtp_cmd_free(&s->cmd);
		free(s);
		return NULL;
	}
	stream_set_reading(s->stream, 0);
	return s;
}

static void
destroy(struct smtpd_session *s)
{
	smtpd_data_abort(s);
	smtpd_check_rcpt_cancel(s);
	smtpd_dns_cancel(s);
	smtpd_etrn_cancel(s);
	smtpd_log_disconnect(s);
	smtpd_client_release(s);
	smtpd_session_list_remove(s);
	stream_close(s->stream);
	smtpd_xact_free(&s->xact);
	smtp_cmd_free(&s->cmd);
	str_free(&s->helo);
	str_free(&s->refusal);
	str_free(&s->dns_names);
	free(s);
	daemon_session_end();
}
