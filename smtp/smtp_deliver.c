/*
 * smtp_deliver.c - one delivery request, start to finish: the next hop's
 * addresses tried in order until every recipient has an answer, then the
 * smtp_fallback_relay hosts for what direct delivery could only defer.
 *
 *	1. a kept connection to the same next hop (smtp_cache.c), if any;
 *	2. DNS (smtp_connect.c): a permanent failure bounces every
 *	   recipient, a temporary one leaves them deferred;
 *	3. each address in turn, at most smtp_mx_address_limit of them: a
 *	   host-level failure (refused, timed out, greeting or EHLO refused,
 *	   4xx to MAIL, 421, TLS required and missing) moves the pending
 *	   recipients to the next address; with TLS level may, a failed
 *	   handshake is followed by one more connection to the same address
 *	   in plain text; a connection that has carried
 *	   smtp_messages_per_connection transactions is closed and a new one
 *	   made to the same address; recipients go in transactions of at
 *	   most smtp_recipients_per_transaction;
 *	4. when recipients are still pending with a temporary failure, the
 *	   same for each smtp_fallback_relay host (not for a next hop that is
 *	   itself one of them);
 *	5. what is still pending takes its last failure: bounced when the
 *	   last server said 5xx, else deferred.
 *
 * Results go to d->report as soon as they are final, except when no
 * recipient got any answer and the last failure was temporary: then the
 * destination as a whole failed, and smtp.c says so in the final frame
 * (d->dest_failed) instead of one deferral per recipient.
 *
 * Trusts the request (checked by smtp.c) and the configuration.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "msg.h"
#include "smtp.h"
#include "stream.h"

void
smtp_rcpt_set(struct smtp_rcpt *r, enum smtp_rcpt_status st, int code, const char *dsn,
        const char *fmt, ...)
{
	va_list ap;
	struct str text = STR_INIT;
	char cls;

	va_start(ap, fmt);
	str_vprintf(&text, fmt, ap);
	va_end(ap);
	r->status = st;
	r->last_code = code;
	snprintf(r->dsn, sizeof(r->dsn), "%s", dsn && dsn[0] ? dsn : "4.0.0");
	/* The class follows the result, whatever a server claimed. */
	cls = st == SMTP_RCPT_SENT ? '2' : st == SMTP_RCPT_BOUNCED ? '5' : code == 5 ? '5' : '4';
	r->dsn[0] = cls;
	str_set(&r->reason, text.data, text.len);
	str_free(&text);
}

size_t
smtp_pending(const struct smtp_delivery *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->nrcpt; i++)
		if (d->rcpt[i].status == SMTP_RCPT_PENDING)
			n++;
	return n;
}

/* Tell qmgr about every recipient that became final. */
static void
report_new(struct smtp_delivery *d)
{
	for (size_t i = 0; i < d->nrcpt; i++) {
		struct smtp_rcpt *r = &d->rcpt[i];

		if (r->status != SMTP_RCPT_PENDING && !r->reported) {
			r->reported = 1;
			d->answered++;
			if (d->report)
				d->report(d, r);
		}
	}
}

/* Every pending recipient gets the same result (final or pending). */
static void
set_pending(struct smtp_delivery *d, enum smtp_rcpt_status st, const struct smtp_fail *f)
{
	for (size_t i = 0; i < d->nrcpt; i++) {
		struct smtp_rcpt *r = &d->rcpt[i];

		if (r->status != SMTP_RCPT_PENDING)
			continue;
		if (r->relay.len == 0)
			str_setz(&r->relay, "none");
		r->conn_sec = d->dns_sec;
		smtp_rcpt_set(r, st, f->code, f->dsn, "%s", f->reason.data ? f->reason.data : "");
	}
}

enum session_end {
	SESSION_DONE,    /* nothing left for it, or it was kept */
	SESSION_USED_UP, /* closed at smtp_messages_per_connection: connect again */
	SESSION_FAILED,  /* host-level failure: next address */
};

/* Transactions on s until nothing is pending or it fails. */
static enum session_end
run_session(struct smtp_delivery *d, struct smtp_session *s)
{
	size_t *idx = xcalloc(d->nrcpt ? d->nrcpt : 1, sizeof(*idx));
	enum session_end end = SESSION_DONE;

	while (smtp_pending(d) > 0 && !d->aborted) {
		size_t n = 0;

		if (s->conn_use >= smtp_conf.messages_per_connection) {
			smtp_session_quit(s, smtp_conf.quit_ms);
			s = NULL;
			end = SESSION_USED_UP;
			break;
		}
		for (size_t i = 0; i < d->nrcpt && n < (size_t)smtp_conf.rcpts_per_transaction; i++)
			if (d->rcpt[i].status == SMTP_RCPT_PENDING)
				idx[n++] = i;
		if (smtp_session_transact(s, d, idx, n) == SMTP_TRANS_CLOSED) {
			report_new(d);
			if (s->broken)
				smtp_session_free(s);
			else
				smtp_session_quit(s, smtp_conf.quit_ms);
			s = NULL;
			end = SESSION_FAILED;
			break;
		}
		report_new(d);
	}
	if (s != NULL)
		smtp_cache_put(s);
	free(idx);
	return end;
}

/* Try one next hop for every pending recipient. */
static void
try_nexthop(struct smtp_delivery *d, const char *nexthop)
{
	struct smtp_dest dest;
	struct smtp_addr_list *list = NULL;
	struct smtp_fail f = {0, "", STR_INIT};
	struct str why = STR_INIT;
	enum smtp_tls_level level;
	struct smtp_session *s;
	long long start;
	size_t tried = 0;

	if (smtp_nexthop_parse(nexthop, smtp_conf.port, &dest, &why) < 0) {
		msg_warn("%s: %s", d->queue_id, str_cstr(&why));
		f.code = 4;
		snprintf(f.dsn, sizeof(f.dsn), "4.3.5");
		str_setz(&f.reason, str_cstr(&why));
		set_pending(d, SMTP_RCPT_DEFERRED, &f);
		goto done;
	}
	level = smtp_tls_policy(nexthop, &dest);
	if (level == SMTP_TLS_VERIFY || level == SMTP_TLS_DANE || level == SMTP_TLS_INVALID) {
		f.code = 4;
		snprintf(f.dsn, sizeof(f.dsn), "4.7.5");
		str_printf(&f.reason, "TLS security level \"%s\" for %s is not supported yet",
		        smtp_tls_level_name(level), nexthop);
		msg_warn("%s: %s", d->queue_id, str_cstr(&f.reason));
		set_pending(d, SMTP_RCPT_PENDING, &f);
		goto done;
	}

	/* A kept connection first. */
	d->dns_sec = 0;
	if ((s = smtp_cache_take(nexthop)) != NULL) {
		msg_debug("%s: reusing the connection to %s", d->queue_id, s->relay);
		(void)run_session(d, s);
		if (smtp_pending(d) == 0 || d->aborted)
			goto done;
	}

	start = clock_ms();
	list = xmalloc(sizeof(*list));
	if (smtp_dns_resolve(&dest, list, &f) < 0) {
		d->dns_sec = smtp_seconds_since(start);
		set_pending(d, f.code == 5 ? SMTP_RCPT_BOUNCED : SMTP_RCPT_PENDING, &f);
		goto done;
	}
	d->dns_sec = smtp_seconds_since(start);

	for (size_t i = 0; i < list->n && tried < (size_t)smtp_conf.mx_address_limit &&
	        smtp_pending(d) > 0 && !d->aborted;
	        i++) {
		int plain = level == SMTP_TLS_NONE;
		enum smtp_open_status st;
		enum session_end end;

		tried++;
	again:
		st = smtp_session_open(&s, nexthop, &list->v[i], dest.port, level, plain, &f);
		if (st == SMTP_OPEN_TLS_FAIL && !plain) {
			msg_info("%s: %s; trying again in plain text", d->queue_id,
			        str_cstr(&f.reason));
			plain = 1;
			goto again;
		}
		if (st != SMTP_OPEN_OK) {
			msg_debug("%s: %s", d->queue_id, str_cstr(&f.reason));
			for (size_t k = 0; k < d->nrcpt; k++) {
				struct smtp_rcpt *r = &d->rcpt[k];

				if (r->status != SMTP_RCPT_PENDING)
					continue;
				str_printf(&why, "%s[%s]:%d", list->v[i].host, list->v[i].ip,
				        dest.port);
				str_set(&r->relay, why.data, why.len);
				str_reset(&why);
				r->conn_sec = d->dns_sec;
				smtp_rcpt_set(r, SMTP_RCPT_PENDING, f.code, f.dsn, "%s",
				        str_cstr(&f.reason));
			}
			continue;
		}
		if (s->tls)
			msg_info("%s: TLS connection established to %s: %s with cipher %s",
			        d->queue_id, s->relay, stream_tls_version(s->stream),
			        stream_tls_cipher(s->stream));
		end = run_session(d, s);
		if (end == SESSION_USED_UP && smtp_pending(d) > 0)
			goto again;
	}
done:
	free(list);
	str_free(&f.reason);
	str_free(&why);
	report_new(d);
}

static int
is_fallback(const char *nexthop)
{
	for (size_t i = 0; smtp_conf.fallback_relay && smtp_conf.fallback_relay[i]; i++)
		if (strcmp(smtp_conf.fallback_relay[i], nexthop) == 0)
			return 1;
	return 0;
}

/* Pending recipients whose last failure was permanent are bounced now. */
static void
bounce_permanent(struct smtp_delivery *d)
{
	for (size_t i = 0; i < d->nrcpt; i++) {
		struct smtp_rcpt *r = &d->rcpt[i];

		if (r->status == SMTP_RCPT_PENDING && r->last_code == 5)
			r->status = SMTP_RCPT_BOUNCED;
	}
}

void
smtp_deliver(struct smtp_delivery *d)
{
	try_nexthop(d, d->nexthop);
	bounce_permanent(d);
	report_new(d);
	if (smtp_pending(d) > 0 && !is_fallback(d->nexthop)) {
		for (size_t i = 0; smtp_conf.fallback_relay && smtp_conf.fallback_relay[i] &&
		        smtp_pending(d) > 0 && !d->aborted;
		        i++) {
			msg_info("%s: trying the fallback relay %s", d->queue_id,
			        smtp_conf.fallback_relay[i]);
			try_nexthop(d, smtp_conf.fallback_relay[i]);
			bounce_permanent(d);
			report_new(d);
		}
	}
	if (smtp_pending(d) == 0)
		return;

	/* Nobody answered for anyone: the destination failed as a whole. */
	if (d->answered == 0) {
		for (size_t i = 0; i < d->nrcpt; i++) {
			struct smtp_rcpt *r = &d->rcpt[i];

			if (r->status != SMTP_RCPT_PENDING)
				continue;
			d->dest_failed = 1;
			snprintf(d->fail_dsn, sizeof(d->fail_dsn), "%s", r->dsn);
			str_set(&d->fail_reason, r->reason.data, r->reason.len);
			str_set(&d->fail_relay, r->relay.data, r->relay.len);
			if (d->fail_reason.len == 0)
				str_setz(&d->fail_reason, "delivery temporarily suspended");
			break;
		}
		return;
	}
	for (size_t i = 0; i < d->nrcpt; i++) {
		struct smtp_rcpt *r = &d->rcpt[i];

		if (r->status == SMTP_RCPT_PENDING)
			r->status = SMTP_RCPT_DEFERRED;
		if (r->reason.len == 0)
			str_setz(&r->reason, "delivery temporarily suspended");
	}
	report_new(d);
}
