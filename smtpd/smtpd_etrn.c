/*
 * smtpd_etrn.c - ETRN (RFC 1985): the flush request to qmgr and the reply
 * to the client.  smtpd_cmd.c has already checked the sequence, the
 * syntax and the client (smtpd_etrn_clients); here one request
 *
 *	request=flush domain=D etrn=1		(docs/qmgr.md)
 *
 * goes to public/qmgr on a fresh non-blocking connection (lib/attr_stream.h),
 * and its answer becomes the reply:
 *
 *	status=ok		250 2.0.0 Queuing for node D started
 *	status=refused		459 4.7.1 D: not eligible for ETRN
 *				(not in qmgr's fast_flush_domains)
 *	status=fail, no qmgr, a dropped connection, a malformed reply, or
 *	no answer within SMTPD_QMGR_TIMEOUT_MS (at most ipc_timeout and
 *	smtpd_timeout)		458 4.3.0 Unable to queue messages for node D
 *
 * One log line per ETRN: "ETRN D from host[ip]: queuing started", the
 * reject line for 459, a warning with the reason for 458.  The session
 * reads no input until the answer is in (SMTPD_WAIT_QMGR).  Trusts
 * nothing qmgr sends: only the status word decides, and its reason is
 * logged sanitised and bounded, never sent to the client.  Called by
 * smtpd_cmd.c (the command) and smtpd_session.c (cancel at the end).
 */
#include <stdlib.h>
#include <string.h>

#include "attr_stream.h"
#include "mem.h"
#include "msg.h"
#include "smtpd.h"

struct smtpd_etrn {
	struct smtpd_session *session;
	struct attr_call *call;
	char *domain;
};

static int
etrn_deadline(void)
{
	int ipc = smtpd_ipc_timeout_ms();

	return ipc < SMTPD_QMGR_TIMEOUT_MS ? ipc : SMTPD_QMGR_TIMEOUT_MS;
}

static void
request_failed(struct smtpd_session *s, const char *domain, const char *why)
{
	msg_warn("ETRN %s from %s[%s]: flush request failed: %s", domain, s->name, s->addr, why);
	smtpd_reply(s, 458, "4.3.0", "Unable to queue messages for node %s", domain);
}

/* The answer to the client for qmgr's reply (NULL: the call failed). */
static void
answer(struct smtpd_session *s, const char *domain, const struct attr_list *reply, const char *why)
{
	const char *status = reply ? attr_get_str(reply, "status") : NULL;
	const char *reason = reply ? attr_get_str(reply, "reason") : NULL;
	struct str text = STR_INIT;

	if (reason != NULL) {
		smtpd_log_sanitize(reason, strnlen(reason, SMTPD_LOG_TEXT_MAX), &text);
		reason = str_cstr(&text);
	}
	if (reply == NULL) {
		request_failed(s, domain, why);
	} else if (status != NULL && strcmp(status, "ok") == 0) {
		msg_info("ETRN %s from %s[%s]: queuing started", domain, s->name, s->addr);
		smtpd_reply(s, 250, "2.0.0", "Queuing for node %s started", domain);
	} else if (status != NULL && strcmp(status, "refused") == 0) {
		smtpd_log_reject(s, "ETRN", NULL, NULL, "459 4.7.1 %s: not eligible for ETRN (%s)",
		        domain, reason ? reason : "refused by the queue manager");
		smtpd_reply(s, 459, "4.7.1", "%s: not eligible for ETRN", domain);
	} else if (status != NULL && strcmp(status, "fail") == 0) {
		request_failed(s, domain, reason ? reason : "qmgr answered fail");
	} else {
		request_failed(s, domain, "malformed reply");
	}
	str_free(&text);
}

static void
etrn_free(struct smtpd_etrn *e)
{
	free(e->domain);
	free(e);
}

static void
on_reply(const struct attr_list *reply, const char *why, void *arg)
{
	struct smtpd_etrn *e = arg;
	struct smtpd_session *s = e->session;

	smtpd_session_enter(s);
	s->etrn = NULL;
	answer(s, e->domain, reply, why);
	etrn_free(e);
	smtpd_session_resume(s, SMTPD_WAIT_QMGR);
	smtpd_session_leave(s);
}

void
smtpd_etrn_flush(struct smtpd_session *s, const char *domain)
{
	struct smtpd_etrn *e;
	struct attr_list req;
	struct str err = STR_INIT;

	attr_list_init(&req);
	attr_put_str(&req, "request", "flush");
	attr_put_str(&req, "domain", domain);
	attr_put_str(&req, "etrn", "1");
	e = xcalloc(1, sizeof(*e));
	e->session = s;
	e->domain = xstrdup(domain);
	e->call = attr_call_start(smtpd_base(), SMTPD_QMGR_PATH, &req, SMTPD_QMGR_FRAME_MAX,
	        etrn_deadline(), on_reply, e, &err);
	if (e->call == NULL) {
		request_failed(s, domain, str_cstr(&err));
		etrn_free(e);
	} else {
		s->etrn = e;
		smtpd_session_wait(s, SMTPD_WAIT_QMGR);
	}
	attr_list_free(&req);
	str_free(&err);
}

void
smtpd_etrn_cancel(struct smtpd_session *s)
{
	if (s->etrn != NULL) {
		attr_call_cancel(s->etrn->call);
		etrn_free(s->etrn);
		s->etrn = NULL;
	}
	s->wait &= ~SMTPD_WAIT_QMGR;
}
