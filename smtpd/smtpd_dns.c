/*
 * smtpd_dns.c - the optional reverse-DNS check at connect
 * (smtpd_reverse_dns_check; also when smtpd_reject_unverified_client is
 * set or mynetworks names hosts): the client's PTR names (at most
 * SMTPD_PTR_NAMES_MAX), then the A or AAAA records of each until one
 * holds the client's address.  A confirmed name becomes the client's
 * name in logs and Received:; otherwise the client stays "unknown" and
 * is marked unverified (client_verified=0 to cleanup, which writes
 * "(unverified)" in Received:), with the PTR name, if any, shown there.
 * A lookup that fails for now sets dns_tempfail.
 *
 * Asynchronous (lib/dns.h on the daemon's loop): the session waits with
 * SMTPD_WAIT_DNS and reads nothing meanwhile; the resolver's own timeout
 * bounds each query.  Trusts DNS answers only as names and addresses that
 * lib/dns_rr.c parsed.  Called by smtpd.c at accept.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "dns.h"
#include "msg.h"
#include "smtpd.h"

static void forward_query(struct smtpd_session *s);

static void
finish(struct smtpd_session *s, int verified, int tempfail)
{
	s->verified = verified;
	s->dns_tempfail = tempfail;
	if (verified != 1)
		strcpy(s->name, "unknown");
	s->wait &= ~SMTPD_WAIT_DNS;
	smtpd_session_connected(s);
}

/* The index-th NUL-terminated name in s->dns_names, or NULL. */
static const char *
nth_name(struct smtpd_session *s, size_t index)
{
	size_t off = 0;

	for (size_t i = 0; off < s->dns_names.len; i++) {
		const char *name = s->dns_names.data + off;

		if (i == index)
			return name;
		off += strlen(name) + 1;
	}
	return NULL;
}

static int
answer_has_client(struct smtpd_session *s, const struct dns_answer *a)
{
	unsigned char want[16];
	int family = strchr(s->addr, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(family, s->addr, want) != 1)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		if (a->rr[i].type == DNS_T_A && family == AF_INET &&
		        memcmp(&a->rr[i].u.a, want, 4) == 0)
			return 1;
		if (a->rr[i].type == DNS_T_AAAA && family == AF_INET6 &&
		        memcmp(&a->rr[i].u.aaaa, want, 16) == 0)
			return 1;
	}
	return 0;
}

static void
on_forward(struct dns_answer *a, void *arg)
{
	struct smtpd_session *s = arg;
	const char *name = nth_name(s, s->dns_index);

	smtpd_session_enter(s);
	s->dns_query = NULL;
	if (a->status == DNS_OK && name && answer_has_client(s, a)) {
		snprintf(s->name, sizeof(s->name), "%s", name);
		finish(s, 1, 0);
	} else {
		if (a->status == DNS_TEMPFAIL)
			s->dns_tempfail = 1;
		s->dns_index++;
		forward_query(s);
	}
	dns_answer_free(a);
	smtpd_session_leave(s);
}

static void
forward_query(struct smtpd_session *s)
{
	const char *name = nth_name(s, s->dns_index);
	struct str err = STR_INIT;

	if (name == NULL) {
		finish(s, 0, s->dns_tempfail);
		return;
	}
	s->dns_query = dns_query(
	        smtpd.dns, name, strchr(s->addr, ':') ? DNS_T_AAAA : DNS_T_A, on_forward, s, &err);
	if (s->dns_query == NULL) {
		msg_warn("%s: forward lookup of %s: %s", s->addr, name, str_cstr(&err));
		s->dns_index++;
		forward_query(s);
	}
	str_free(&err);
}

static void
on_ptr(struct dns_answer *a, void *arg)
{
	struct smtpd_session *s = arg;
	size_t names = 0;

	smtpd_session_enter(s);
	s->dns_query = NULL;
	if (a->status == DNS_OK) {
		for (size_t i = 0; i < a->n && names < SMTPD_PTR_NAMES_MAX; i++) {
			if (a->rr[i].type != DNS_T_PTR || strlen(a->rr[i].u.name) > SMTPD_NAME_MAX)
				continue;
			if (names == 0)
				snprintf(s->ptr_name, sizeof(s->ptr_name), "%s", a->rr[i].u.name);
			str_appendz(&s->dns_names, a->rr[i].u.name);
			str_appendc(&s->dns_names, '\0');
			names++;
		}
		s->dns_index = 0;
		forward_query(s);
	} else {
		finish(s, 0, a->status == DNS_TEMPFAIL || a->status == DNS_BOGUS);
	}
	dns_answer_free(a);
	smtpd_session_leave(s);
}

void
smtpd_dns_check(struct smtpd_session *s)
{
	struct str name = STR_INIT, err = STR_INIT;

	if (smtpd.dns == NULL) {
		smtpd_session_connected(s);
		return;
	}
	if (dns_reverse_name(s->addr, &name) < 0) {
		finish(s, 0, 0);
		str_free(&name);
		return;
	}
	s->dns_query = dns_query(smtpd.dns, str_cstr(&name), DNS_T_PTR, on_ptr, s, &err);
	if (s->dns_query == NULL) {
		msg_warn("%s: reverse lookup: %s", s->addr, str_cstr(&err));
		finish(s, 0, 1);
	} else {
		smtpd_session_wait(s, SMTPD_WAIT_DNS);
	}
	str_free(&name);
	str_free(&err);
}

void
smtpd_dns_cancel(struct smtpd_session *s)
{
	if (s->dns_query) {
		dns_query_cancel(s->dns_query);
		s->dns_query = NULL;
	}
	s->wait &= ~SMTPD_WAIT_DNS;
}
