/*
 * smtpd_check.c - the server's policy.
 *
 * Relay control and recipient validation at RCPT, through trivial-rewrite
 * (lib/rewrite_clnt.h, asynchronous): its verify request says the
 * address's class and whether the recipient exists.
 *
 *	<postmaster>		always accepted, no look-up
 *	LOCAL, HOSTED		accepted if the recipient exists (postmaster
 *				always does); else 550 5.1.1 User unknown
 *	RELAY (relay_domains)	from any client; checked against
 *				relay_recipient_maps when set (550 5.1.1)
 *	REMOTE			only from mynetworks; else 550 5.7.1 Relay
 *				access denied
 *	look-up failure		451 4.3.0 Temporary lookup failure (never a
 *				permanent refusal)
 *	malformed address	501 5.1.3
 *
 * Address tricks ("%", "!", a quoted "@", source routes, literals) are
 * trivial-rewrite's to classify: such local parts in our domains stay
 * local there, so they can never open the relay here.
 *
 * ETRN is allowed to the clients in smtpd_etrn_clients (per listener,
 * default $mynetworks); others get 554 5.7.1.
 *
 * The restriction lists of later work (smtpd_client_restrictions, _helo_,
 * _sender_, _recipient_, _data_, _etrn_: access tables, DNSBL, sender
 * login maps) hook in at the smtpd_check_* functions below, which for now
 * permit, except for the reverse-DNS refusal (smtpd_reject_unverified_client)
 * and smtpd_etrn_clients.
 * Trusts trivial-rewrite's answers only as far as lib/rewrite_clnt.c
 * checked them.  Called by smtpd_cmd.c, smtpd_data.c, smtpd_session.c.
 */
#include <string.h>

#include "inet_match.h"
#include "msg.h"
#include "resolve.h"
#include "rewrite_clnt.h"
#include "smtpd.h"

void
smtpd_check_init(void)
{
}

void
smtpd_verdict_init(struct smtpd_verdict *v)
{
	v->code = 0;
	v->dsn = NULL;
	str_init(&v->text);
}

void
smtpd_verdict_free(struct smtpd_verdict *v)
{
	str_free(&v->text);
}

/* 1 in mynetworks, 0 not, -1 a table failed (computed once a session). */
int
smtpd_check_mynetworks(struct smtpd_session *s)
{
	if (s->in_mynetworks < 0) {
		int rc = inet_match_client(
		        smtpd.mynetworks, s->addr, s->verified == 1 ? s->name : NULL, NULL);

		if (rc < 0)
			return -1;
		s->in_mynetworks = rc;
	}
	return s->in_mynetworks;
}

/* ---- the hooks ---- */

int
smtpd_check_client(struct smtpd_session *s, struct smtpd_verdict *v)
{
	if (smtpd.reject_unverified && s->verified == 0) {
		if (s->dns_tempfail) {
			v->code = 421;
			v->dsn = "4.7.25";
			str_printf(&v->text,
			        "%s Client host rejected: cannot find your hostname, [%s]; "
			        "try again later",
			        smtpd.myhostname, s->addr);
		} else {
			v->code = 554;
			v->dsn = "5.7.25";
			str_printf(&v->text,
			        "Client host rejected: cannot find your hostname, [%s]", s->addr);
		}
		return SMTPD_CHECK_REJECT;
	}
	return SMTPD_CHECK_PERMIT;
}

int
smtpd_check_helo(struct smtpd_session *s, const char *helo, struct smtpd_verdict *v)
{
	(void)s;
	(void)helo;
	(void)v;
	return SMTPD_CHECK_PERMIT;
}

int
smtpd_check_sender(struct smtpd_session *s, const struct addr *sender, struct smtpd_verdict *v)
{
	(void)s;
	(void)sender;
	(void)v;
	return SMTPD_CHECK_PERMIT;
}

int
smtpd_check_data(struct smtpd_session *s, struct smtpd_verdict *v)
{
	(void)s;
	(void)v;
	return SMTPD_CHECK_PERMIT;
}

/* ETRN for domain: only clients in smtpd_etrn_clients (RFC 1985). */
int
smtpd_check_etrn(struct smtpd_session *s, const char *domain, struct smtpd_verdict *v)
{
	int rc = inet_match_client(
	        smtpd.etrn_clients, s->addr, s->verified == 1 ? s->name : NULL, NULL);

	if (rc < 0) {
		v->code = 458;
		v->dsn = "4.3.0";
		str_printf(&v->text,
		        "Unable to queue messages for node %s: temporary lookup failure", domain);
		return SMTPD_CHECK_REJECT;
	}
	if (rc == 0) {
		v->code = 554;
		v->dsn = "5.7.1";
		str_printf(&v->text, "%s: ETRN access denied", domain);
		return SMTPD_CHECK_REJECT;
	}
	return SMTPD_CHECK_PERMIT;
}

/* smtpd_recipient_restrictions, after relay control and existence. */
static int
check_recipient_restrictions(struct smtpd_session *s, struct smtpd_verdict *v)
{
	(void)s;
	(void)v;
	return SMTPD_CHECK_PERMIT;
}

/* ---- RCPT ---- */

static void
verdict_for(struct smtpd_session *s, const struct rewrite_reply *r, const char *to,
        struct smtpd_verdict *v)
{
	int mynet;

	switch (r->status) {
	case RESOLVE_ERROR:
		v->code = 501;
		v->dsn = "5.1.3";
		str_printf(&v->text, "<%s>: Bad recipient address syntax", to);
		return;
	case RESOLVE_DEFER:
		msg_warn("%s[%s]: recipient <%s>: %.*s", s->name, s->addr, to, (int)r->reason.len,
		        r->reason.data ? r->reason.data : "");
		v->code = 451;
		v->dsn = "4.3.0";
		str_printf(&v->text, "<%s>: Temporary lookup failure", to);
		return;
	case RESOLVE_UNKNOWN:
		v->code = 550;
		v->dsn = "5.1.1";
		str_printf(&v->text, "<%s>: Recipient address rejected: User unknown in %s", to,
		        r->class == RESOLVE_CLASS_RELAY            ? "relay recipient table"
		                : r->class == RESOLVE_CLASS_HOSTED ? "virtual mailbox table"
		                                                   : "local recipient table");
		return;
	case RESOLVE_OK:
		break;
	}
	if (r->class == RESOLVE_CLASS_REMOTE) {
		mynet = smtpd_check_mynetworks(s);
		if (mynet < 0) {
			v->code = 451;
			v->dsn = "4.3.0";
			str_printf(&v->text, "<%s>: Temporary lookup failure", to);
			return;
		}
		if (mynet == 0) {
			v->code = 550;
			v->dsn = "5.7.1";
			str_printf(&v->text, "<%s>: Relay access denied", to);
			return;
		}
	}
	if (check_recipient_restrictions(s, v) == SMTPD_CHECK_REJECT)
		return;
	v->code = 250;
}

static void
on_verify(const struct rewrite_reply *r, void *arg)
{
	struct smtpd_session *s = arg;
	struct smtpd_verdict v;
	struct str to = STR_INIT;

	smtpd_session_enter(s);
	s->xact.rewrite = NULL;
	smtpd_verdict_init(&v);
	addr_format(&s->cmd.addr, &to);
	verdict_for(s, r, str_cstr(&to), &v);
	smtpd_rcpt_verdict(s, v.code, v.dsn, str_cstr(&v.text));
	smtpd_verdict_free(&v);
	str_free(&to);
	smtpd_session_resume(s, SMTPD_WAIT_REWRITE);
	smtpd_session_leave(s);
}

/* Check the RCPT in s->cmd: smtpd_rcpt_verdict() follows, now or later. */
void
smtpd_check_rcpt(struct smtpd_session *s)
{
	const struct addr *a = &s->cmd.addr;
	struct str address = STR_INIT;

	if (a->flags & ADDR_IS_POSTMASTER) {
		smtpd_rcpt_verdict(s, 250, NULL, NULL);
		return;
	}
	str_append(&address, a->local.data, a->local.len);
	str_appendc(&address, '@');
	str_append(&address, a->domain.data, a->domain.len);
	s->xact.rewrite = rewrite_verify_async(smtpd_base(), str_cstr(&address), on_verify, s);
	smtpd_session_wait(s, SMTPD_WAIT_REWRITE);
	str_free(&address);
}

void
smtpd_check_rcpt_cancel(struct smtpd_session *s)
{
	if (s->xact.rewrite) {
		rewrite_cancel(s->xact.rewrite);
		s->xact.rewrite = NULL;
	}
	s->wait &= ~SMTPD_WAIT_REWRITE;
}
