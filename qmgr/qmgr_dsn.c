/*
 * qmgr_dsn.c - delivery status notifications (docs/dsn.md): which
 * recipient is owed which notice, the notices written at the end of a
 * pass, and what is recorded in the queue file once each is committed.
 *
 * The facts live in the queue file, so a restart neither loses nor (but
 * for the window between a commit and its record) repeats a notice:
 *
 *	bounce owed	done 0 and a 5.x.x status: the failure is recorded,
 *			the bounce is not yet committed; never delivered
 *			again.  After the commit: done mark 2 (failed).
 *	success owed	done 1 or 3 (relayed) and a 2.x.x status, recorded
 *			only when a success notice is due.  The notice goes
 *			out when every recipient is finished, and the file
 *			is removed right after its commit.
 *	delay notice	the NOTICES record's delay bit, set after the commit.
 *
 * At the end of a pass (qmgr_dsn_ready, from qmgr_message.c) the notices
 * go out one after another through cleanup (qmgr_dsn_send.c): the bounce
 * and its postmaster copy, the success notice, the delay notice and its
 * copy; the pass ends when they are settled.  Nothing is ever sent to
 * the null sender; its failed mail goes to corrupt/ (qmgr_dsn_finish).
 * Trusts the open queue file (validated when it was loaded) and
 * cleanup's replies as far as qmgr_dsn_send.c checks them.  Called by
 * qmgr_message.c (results, end of a pass), qmgr.c (start, stop).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dsn.h"
#include "mem.h"
#include "msg.h"
#include "qmgr.h"
#include "rfc2822_date.h"

#define DSN_READ_CHUNK 8192 /* octets of original text read at a time */

struct qmgr_dsn_params qmgr_dsn_params;

/* The notices of one pass, in the order they are sent. */
enum dsn_step {
	STEP_BOUNCE,      /* failed recipients, to the sender */
	STEP_BOUNCE_COPY, /* the same to bounce_notice_recipient */
	STEP_SUCCESS,     /* delivered and relayed recipients, to the sender */
	STEP_DELAY,       /* delayed recipients, to the sender, once per message */
	STEP_DELAY_COPY,  /* the same to bounce_notice_recipient */
	STEP_END,
};

struct qmgr_dsn {
	struct qmgr_message *m;
	enum dsn_step step;
	int settled;                /* this pass's notices are done with */
	struct qmgr_dsn_send *send; /* the notice in flight */
	struct dsn_rcpt *rcpt;      /* the recipients of the current notice */
	size_t *index;              /* ... their places in the queue file */
	size_t nrcpt, cap;
	int bounce_sent, delay_sent; /* a copy follows only what was sent */
	int success_sent;            /* the success notice is committed (or refused) */
};

void
qmgr_dsn_init(void)
{
	char *const *classes = config_list(cfg, "notify_classes");

	qmgr_dsn_params.hostname = config_str(cfg, "myhostname");
	qmgr_dsn_params.delay_warning = config_time(cfg, "delay_warning_time");
	qmgr_dsn_params.local_delay_warning = config_time(cfg, "local_delay_warning_time");
	qmgr_dsn_params.size_limit = (unsigned long long)config_size(cfg, "bounce_size_limit");
	qmgr_dsn_params.notice_rcpt = config_str(cfg, "bounce_notice_recipient");
	qmgr_dsn_params.ipc_timeout = config_time(cfg, "ipc_timeout");
	for (; classes && *classes; classes++) {
		if (strcmp(*classes, "bounce") == 0)
			qmgr_dsn_params.copy_bounce = 1;
		else if (strcmp(*classes, "delay") == 0)
			qmgr_dsn_params.copy_delay = 1;
	}
	rfc2822_date_init(); /* the time zone, before the jail */
}

/* ---- what is owed ---- */

static int
null_sender(const struct qmgr_message *m)
{
	return m->env->sender[0] == '\0';
}

int
qmgr_dsn_bounce_owed(const struct queue_rcpt *qr)
{
	return qr->state == QUEUE_RCPT_PENDING && qr->status.seq > 0 && qr->status.dsn[0] == '5';
}

static int
success_owed(const struct queue_rcpt *qr)
{
	return (qr->state == QUEUE_RCPT_DELIVERED || qr->state == QUEUE_RCPT_RELAYED) &&
	        qr->status.dsn[0] == '2';
}

/* No NOTIFY is NOTIFY=FAILURE,DELAY (RFC 3461 4.1, as Postfix). */
static int
notify_failure(unsigned notify)
{
	return notify == 0 || (notify & QUEUE_NOTIFY_FAILURE);
}

static int
notify_delay(unsigned notify)
{
	return notify == 0 || (notify & QUEUE_NOTIFY_DELAY);
}

/* "name[address]:port": the agent handed the mail to an SMTP server
 * (for the Remote-MTA of a "relayed" notice). */
static int
remote_relay(const char *relay)
{
	const char *lb, *rb;

	if (relay == NULL || (lb = strchr(relay, '[')) == NULL || lb == relay)
		return 0;
	return (rb = strchr(lb, ']')) != NULL && rb[1] == ':';
}

int
qmgr_dsn_record_status(const struct qmgr_message *m, const struct queue_rcpt *qr,
        const struct qmgr_result *res, enum deliver_status status, struct queue_rcpt_status *st)
{
	struct str text = STR_INIT, clean = STR_INIT;

	if (status != DELIVER_SENT)
		return 1;
	if (null_sender(m) || !(qr->notify & QUEUE_NOTIFY_SUCCESS))
		return 0;
	/* Passed on to a server that speaks DSN: it reports success itself. */
	if (res->passed && !res->relayed)
		return 0;
	if (res->relayed && remote_relay(res->relay)) {
		str_printf(&text, "host %s said: %s", res->relay, st->reason);
		deliver_clean_text(&clean, str_cstr(&text), QUEUE_REASON_MAX);
		snprintf(st->reason, sizeof(st->reason), "%s", str_cstr(&clean));
	}
	str_free(&text);
	str_free(&clean);
	return 1;
}

enum queue_rcpt_state
qmgr_dsn_done_mark(const struct qmgr_message *m, const struct queue_rcpt *qr,
        const struct qmgr_result *res, enum deliver_status status)
{
	switch (status) {
	case DELIVER_SENT:
		return res->relayed ? QUEUE_RCPT_RELAYED : QUEUE_RCPT_DELIVERED;
	case DELIVER_BOUNCED:
		/* A bounce is owed: the done mark follows its commit. */
		return !null_sender(m) && notify_failure(qr->notify) ? QUEUE_RCPT_PENDING
		                                                     : QUEUE_RCPT_FAILED;
	case DELIVER_DEFERRED:
		break;
	}
	return QUEUE_RCPT_PENDING;
}

/* ---- the recipients of one notice ---- */

static void
list_reset(struct qmgr_dsn *d)
{
	d->nrcpt = 0;
}

static struct dsn_rcpt *
list_add(struct qmgr_dsn *d, size_t index, enum dsn_action action)
{
	const struct queue_rcpt *qr = queue_file_rcpt(d->m->qf, index);
	struct dsn_rcpt *p;

	if (d->nrcpt == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 8;
		d->rcpt = xreallocarray(d->rcpt, d->cap, sizeof(*d->rcpt));
		d->index = xreallocarray(d->index, d->cap, sizeof(*d->index));
	}
	d->index[d->nrcpt] = index;
	p = &d->rcpt[d->nrcpt++];
	memset(p, 0, sizeof(*p));
	p->address = qr->address;
	p->orcpt_type = qr->orcpt_type;
	p->orcpt_addr = qr->orcpt_addr;
	p->action = action;
	p->status = qr->status.dsn;
	p->reason = qr->status.reason;
	p->last_attempt = qr->status.last_attempt;
	return p;
}

static void
collect_delay(struct qmgr_dsn *d)
{
	struct qmgr_message *m = d->m;
	long long arrival = m->env->arrival_usec / 1000000, age = qmgr_now() - arrival;
	int notices = queue_file_notices(m->qf);

	/* Without the NOTICES record the notice could not be recorded: the
	 * message gets none rather than one per pass. */
	if (notices < 0 || (notices & QUEUE_NOTICE_DELAY))
		return;
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct qmgr_rcpt *r = &m->rcpts[i];
		const struct queue_rcpt *qr = qmgr_rcpt_file(r);
		long long warn = r->local ? qmgr_dsn_params.local_delay_warning
		                          : qmgr_dsn_params.delay_warning;
		long long life = r->local ? qmgr_params.local_lifetime : qmgr_params.max_lifetime;
		struct dsn_rcpt *p;

		if (r->state != QMGR_RCPT_DEFERRED || qr->state != QUEUE_RCPT_PENDING ||
		        qmgr_dsn_bounce_owed(qr) || !notify_delay(qr->notify) || warn <= 0 ||
		        age < warn)
			continue;
		p = list_add(d, r->index, DSN_ACTION_DELAYED);
		p->retry_until = arrival + life;
		if (p->status[0] != '4')
			p->status = "4.0.0";
	}
}

/* The recipients of the notice of d->step; a copy keeps the list of the
 * notice it copies. */
static void
collect(struct qmgr_dsn *d)
{
	const struct queue_file *qf = d->m->qf;

	switch (d->step) {
	case STEP_BOUNCE:
		list_reset(d);
		for (size_t i = 0; i < queue_file_rcpt_count(qf); i++)
			if (qmgr_dsn_bounce_owed(queue_file_rcpt(qf, i)))
				list_add(d, i, DSN_ACTION_FAILED);
		break;
	case STEP_SUCCESS:
		list_reset(d);
		for (size_t i = 0; i < queue_file_rcpt_count(qf); i++)
			if (queue_file_rcpt(qf, i)->state == QUEUE_RCPT_PENDING)
				return; /* not before every recipient is finished */
		for (size_t i = 0; i < queue_file_rcpt_count(qf); i++) {
			const struct queue_rcpt *qr = queue_file_rcpt(qf, i);

			if (success_owed(qr))
				list_add(d, i,
				        qr->state == QUEUE_RCPT_RELAYED ? DSN_ACTION_RELAYED
				                                        : DSN_ACTION_DELIVERED);
		}
		break;
	case STEP_DELAY:
		list_reset(d);
		collect_delay(d);
		break;
	case STEP_BOUNCE_COPY:
		if (!qmgr_dsn_params.copy_bounce || !d->bounce_sent)
			list_reset(d);
		break;
	case STEP_DELAY_COPY:
		if (!qmgr_dsn_params.copy_delay || !d->delay_sent)
			list_reset(d);
		break;
	case STEP_END:
		list_reset(d);
		break;
	}
}

/* ---- one notice ---- */

static int
is_copy(enum dsn_step step)
{
	return step == STEP_BOUNCE_COPY || step == STEP_DELAY_COPY;
}

static enum dsn_kind
step_kind(enum dsn_step step)
{
	return step == STEP_BOUNCE || step == STEP_BOUNCE_COPY ? DSN_KIND_FAILURE
	        : step == STEP_SUCCESS                         ? DSN_KIND_SUCCESS
	                                                       : DSN_KIND_DELAY;
}

/* For the log: "sender non-delivery notification". */
static void
step_name(enum dsn_step step, struct str *out)
{
	enum dsn_kind k = step_kind(step);

	str_printf(out, "%s %s notification", is_copy(step) ? "postmaster" : "sender",
	        k == DSN_KIND_FAILURE         ? "non-delivery"
	                : k == DSN_KIND_DELAY ? "delay"
	                                      : "delivery status");
}

/* The original's text, whole or its header; -1 when it cannot be read. */
static int
read_original(struct qmgr_message *m, enum dsn_return ret, struct str *out)
{
	char buf[DSN_READ_CHUNK];
	struct str err = STR_INIT;
	ssize_t n;

	queue_file_rewind(m->qf);
	while ((n = queue_file_read_content(m->qf, buf, sizeof(buf), &err)) > 0) {
		str_append(out, buf, (size_t)n);
		if (ret == DSN_RETURN_HEADERS &&
		        (dsn_header_length(out->data, out->len) < out->len ||
		                out->len >= DSN_HEADERS_MAX))
			break;
	}
	queue_file_rewind(m->qf);
	if (n < 0) {
		msg_warn("%s: reading the message for a notification: %s", m->id, str_cstr(&err));
		str_free(&err);
		return -1;
	}
	if (ret == DSN_RETURN_HEADERS) {
		size_t h = dsn_header_length(out->data, out->len);

		str_truncate(out, h < DSN_HEADERS_MAX ? h : DSN_HEADERS_MAX);
	}
	str_free(&err);
	return 0;
}

static void on_sent(void *arg, enum qmgr_dsn_sent status, const char *report_id, const char *why);

/* Write the notice of d->step and start sending it: 0, or -1 when it
 * cannot be made now (logged). */
static int
start(struct qmgr_dsn *d)
{
	struct qmgr_message *m = d->m;
	struct dsn_report r;
	struct str original = STR_INIT, report = STR_INIT, what = STR_INIT;
	char report_id[QUEUE_ID_SIZE];
	unsigned needs = 0;
	int over = 0, rc = 0;

	memset(&r, 0, sizeof(r));
	r.kind = step_kind(d->step);
	r.ret = dsn_return_choice(r.kind, m->env->ret, queue_file_content_size(m->qf),
	        qmgr_dsn_params.size_limit, &over);
	if (is_copy(d->step)) {
		r.ret = DSN_RETURN_HEADERS; /* the postmaster sees the header only */
		over = 0;
	}
	if (read_original(m, r.ret, &original) < 0)
		return -1;
	queue_id_new(report_id);
	r.hostname = qmgr_dsn_params.hostname;
	r.queue_id = m->id;
	r.report_id = report_id;
	r.to = is_copy(d->step) ? qmgr_dsn_params.notice_rcpt : m->env->sender;
	r.reply_to = is_copy(d->step) ? m->env->sender : NULL;
	r.postmaster_copy = is_copy(d->step);
	r.envid = m->env->envid;
	r.arrival = m->env->arrival_usec / 1000000;
	r.date = qmgr_now();
	r.rcpt = d->rcpt;
	r.nrcpt = d->nrcpt;
	r.original = original.data;
	r.original_len = original.len;
	r.over_limit = over;
	r.size_limit = qmgr_dsn_params.size_limit;
	if (dsn_write_report(&r, &report, &needs) < 0) {
		step_name(d->step, &what);
		msg_warn("%s: cannot write the %s: malformed facts", m->id, str_cstr(&what));
		rc = -1;
	} else {
		d->send = qmgr_dsn_send_start(m->id, r.to, &report, needs, on_sent, d);
	}
	str_free(&original);
	str_free(&report);
	str_free(&what);
	return rc;
}

/* ---- recording ---- */

static void
record_failed(const struct qmgr_dsn *d, size_t index, const char *what, const struct str *err)
{
	msg_warn("%s: recording %s for <%s> failed: %s", d->m->id, what,
	        queue_file_rcpt(d->m->qf, index)->address, err->data ? err->data : "");
}

/* The notice of d->step is committed (or refused for good). */
static void
record(struct qmgr_dsn *d)
{
	struct queue_file *qf = d->m->qf;
	struct str err = STR_INIT;
	int notices;

	switch (d->step) {
	case STEP_BOUNCE:
		for (size_t i = 0; i < d->nrcpt; i++) {
			str_reset(&err);
			if (queue_file_mark_done(qf, d->index[i], QUEUE_RCPT_FAILED, &err) !=
			        QUEUE_OK)
				record_failed(d, d->index[i], "the done mark", &err);
		}
		d->bounce_sent = 1;
		break;
	case STEP_SUCCESS:
		d->success_sent = 1; /* the file is removed next */
		break;
	case STEP_DELAY:
		notices = queue_file_notices(qf);
		if (queue_file_set_notices(qf, (unsigned)notices | QUEUE_NOTICE_DELAY, &err) !=
		        QUEUE_OK)
			msg_warn("%s: recording the delay notice failed: %s", d->m->id,
			        str_cstr(&err));
		d->delay_sent = 1;
		break;
	default:
		break;
	}
	str_free(&err);
}

/* Start the next notice that has recipients: 0 when one is in flight, 1
 * when the pass's notices are settled. */
static int
next_notice(struct qmgr_dsn *d)
{
	/* An administrator's request or a stop meanwhile: no more now. */
	if ((d->m->flags & (QMGR_MSG_HOLD | QMGR_MSG_DELETE | QMGR_MSG_REQUEUE)) || qmgr_stopping())
		d->step = STEP_END;
	for (; d->step < STEP_END; d->step++) {
		collect(d);
		if (d->nrcpt == 0)
			continue;
		if (start(d) == 0)
			return 0;
		if (!is_copy(d->step))
			break; /* try again in a later pass */
	}
	d->settled = 1;
	return 1;
}

static void
on_sent(void *arg, enum qmgr_dsn_sent status, const char *report_id, const char *why)
{
	struct qmgr_dsn *d = arg;
	struct qmgr_message *m = d->m;
	struct str what = STR_INIT;

	d->send = NULL;
	if (status == QMGR_DSN_SENT_ABORTED)
		return; /* qmgr is exiting; the file stays as it is */
	step_name(d->step, &what);
	switch (status) {
	case QMGR_DSN_SENT_OK:
		msg_info("%s: %s: %s", m->id, str_cstr(&what), report_id);
		record(d);
		break;
	case QMGR_DSN_SENT_FAIL:
		/* Refused for good: recorded anyway, or it would be tried forever. */
		msg_warn("%s: %s refused by cleanup: %s; not sent", m->id, str_cstr(&what), why);
		record(d);
		break;
	default:
		msg_warn("%s: cannot send the %s: %s%s", m->id, str_cstr(&what), why,
		        is_copy(d->step) ? "" : "; it will be tried again");
		if (!is_copy(d->step)) {
			d->settled = 1;
			str_free(&what);
			qmgr_message_maybe_end(m);
			return;
		}
		break;
	}
	str_free(&what);
	d->step++;
	if (next_notice(d))
		qmgr_message_maybe_end(m); /* may free m and d */
}

/* ---- the hooks of qmgr_message.c ---- */

/* A message from the null sender gets nothing: what failed is final. */
static void
fail_silently(struct qmgr_message *m)
{
	struct str err = STR_INIT;

	for (size_t i = 0; i < queue_file_rcpt_count(m->qf); i++) {
		if (!qmgr_dsn_bounce_owed(queue_file_rcpt(m->qf, i)))
			continue;
		str_reset(&err);
		if (queue_file_mark_done(m->qf, i, QUEUE_RCPT_FAILED, &err) != QUEUE_OK)
			msg_warn("%s: recording the done mark failed: %s", m->id, str_cstr(&err));
	}
	str_free(&err);
}

int
qmgr_dsn_ready(struct qmgr_message *m)
{
	struct qmgr_dsn *d = m->dsn;

	if (d && d->send)
		return 0;
	if (d && d->settled)
		return 1;
	if (d == NULL) {
		d = m->dsn = xcalloc(1, sizeof(*d));
		d->m = m;
		d->step = STEP_BOUNCE;
	}
	if (null_sender(m)) {
		fail_silently(m);
		d->settled = 1;
		return 1;
	}
	return next_notice(d);
}

enum qmgr_dsn_action
qmgr_dsn_finish(struct qmgr_message *m)
{
	const struct queue_file *qf = m->qf;

	if (null_sender(m)) {
		for (size_t i = 0; i < queue_file_rcpt_count(qf); i++)
			if (queue_file_rcpt(qf, i)->state == QUEUE_RCPT_FAILED)
				return QMGR_DSN_CORRUPT;
		return QMGR_DSN_REMOVE;
	}
	if (m->dsn && m->dsn->success_sent)
		return QMGR_DSN_REMOVE;
	for (size_t i = 0; i < queue_file_rcpt_count(qf); i++)
		if (success_owed(queue_file_rcpt(qf, i)))
			return QMGR_DSN_DEFER; /* its notice could not go yet */
	return QMGR_DSN_REMOVE;
}

void
qmgr_dsn_free(struct qmgr_message *m)
{
	struct qmgr_dsn *d = m->dsn;

	if (d == NULL)
		return;
	qmgr_dsn_send_cancel(d->send);
	free(d->rcpt);
	free(d->index);
	free(d);
	m->dsn = NULL;
}

void
qmgr_dsn_abort_all(void)
{
	qmgr_dsn_send_abort_all();
}
