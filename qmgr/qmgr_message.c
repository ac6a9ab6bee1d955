/*
 * qmgr_message.c - one message's pass through active/: load and check
 * the file, move it to active/, resolve its pending recipients, group
 * them into delivery jobs, record each result in the file as it comes
 * (status slot, done mark, fsync), and at the end of the pass remove the
 * file, or give it its next attempt time and move it to deferred/, or
 * carry out the administrator's hold, delete or requeue.
 *
 * Trusts the queue file only after the validating reader accepted it,
 * and trivial-rewrite's replies only as far as rewrite_clnt checked
 * them (a transport that master.cf lacks defers).  A finished recipient
 * (done mark set) is never put into a job.  Called by qmgr.c (intake),
 * qmgr_sched.c and qmgr_deliver.c (results), qmgr_control.c (requests).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "mem.h"
#include "msg.h"
#include "parse.h"
#include "qmgr.h"
#include "rewrite_clnt.h"

static struct qmgr_map *messages; /* queue ID -> struct qmgr_message */

static void maybe_end(struct qmgr_message *m);

/* The recipient is out of the pass: it lets go of its destination. */
static void
rcpt_leave(struct qmgr_rcpt *r, enum qmgr_rcpt_state state)
{
	r->state = state;
	r->msg->open--;
	if (r->dest) {
		qmgr_dest_release(r->dest);
		r->dest = NULL;
	}
}

void
qmgr_message_init(void)
{
	messages = qmgr_map_new();
}

size_t
qmgr_message_count(void)
{
	return messages ? qmgr_map_count(messages) : 0;
}

struct qmgr_message *
qmgr_message_find(const char *id)
{
	return messages ? qmgr_map_get(messages, id) : NULL;
}

const struct queue_rcpt *
qmgr_rcpt_file(const struct qmgr_rcpt *r)
{
	return queue_file_rcpt(r->msg->qf, r->index);
}

const char *
qmgr_rcpt_address(const struct qmgr_rcpt *r)
{
	return qmgr_rcpt_file(r)->address;
}

static void
message_free(struct qmgr_message *m)
{
	while (m->job_list) {
		struct qmgr_job *job = m->job_list;

		m->job_list = job->msg_next;
		if (job->ev)
			event_free(job->ev);
		str_free(&job->fail_reason);
		free(job->rcpts);
		free(job);
	}
	qmgr_dsn_free(m);
	if (m->qf)
		queue_file_close(m->qf);
	free(m->rcpts);
	free(m->flush_domain);
	free(m->flush_request);
	free(m);
}

/* ---- loading ---- */

static void on_resolved(const struct rewrite_reply *reply, void *arg);

/* Open and check the file; corrupt ones go to corrupt/. */
static int
open_file(enum queue_folder folder, const char *id, struct queue_file **qf)
{
	struct str path = STR_INIT, err = STR_INIT, err2 = STR_INIT;
	struct stat st;
	int rc;

	queue_dir_path(&path, "", folder, id);
	if (lstat(str_cstr(&path), &st) < 0) {
		rc = errno == ENOENT ? 1 : -1;
		if (rc < 0)
			msg_warn("%s: %m", str_cstr(&path));
		goto out;
	}
	rc = queue_file_open(str_cstr(&path), QUEUE_OPEN_UPDATE, qf, &err);
	if (rc == QUEUE_CORRUPT) {
		if (queue_dir_to_corrupt("", id, folder, str_cstr(&err), &err2) < 0)
			msg_warn("%s: %s", id, str_cstr(&err2));
		rc = 1;
	} else if (rc != QUEUE_OK) {
		if (lstat(str_cstr(&path), &st) < 0 && errno == ENOENT) {
			rc = 1; /* gone meanwhile */
		} else {
			msg_warn("%s: cannot open: %s", id, str_cstr(&err));
			rc = -1;
		}
	}
out:
	str_free(&path);
	str_free(&err);
	str_free(&err2);
	return rc;
}

int
qmgr_message_load(
        enum queue_folder folder, const char *id, unsigned intake, const char *flush_domain)
{
	struct queue_file *qf = NULL;
	struct qmgr_message *m;
	struct str err = STR_INIT;
	size_t n, pending = 0;
	int rc;

	if (qmgr_message_find(id) != NULL)
		return 0;
	if ((rc = open_file(folder, id, &qf)) != 0) {
		if (rc < 0)
			qmgr_scan_schedule(folder, id,
			        qmgr_now_usec() + QMGR_MOVE_RETRY_SECS * 1000000LL, 0, NULL);
		return rc < 0 ? -1 : 0;
	}
	/* No fsync of the folders: a restart rescans incoming/, active/ and
	 * deferred/ alike (lib/queue_dir.h). */
	if (folder != QUEUE_FOLDER_ACTIVE &&
	        queue_dir_move_flags("", id, folder, QUEUE_FOLDER_ACTIVE, 0, &err) != QUEUE_OK) {
		msg_warn("%s: %s", id, str_cstr(&err));
		queue_file_close(qf);
		str_free(&err);
		qmgr_scan_schedule(
		        folder, id, qmgr_now_usec() + QMGR_MOVE_RETRY_SECS * 1000000LL, 0, NULL);
		return -1;
	}
	str_free(&err);

	m = xcalloc(1, sizeof(*m));
	memcpy(m->id, id, QUEUE_ID_SIZE);
	m->qf = qf;
	m->env = queue_file_envelope(qf);
	m->active_usec = qmgr_now_usec();
	m->intake = intake;
	m->flush_domain = flush_domain ? xstrdup(flush_domain) : NULL;
	n = queue_file_rcpt_count(qf);
	for (size_t i = 0; i < n; i++)
		if (queue_file_rcpt(qf, i)->state == QUEUE_RCPT_PENDING &&
		        !qmgr_dsn_bounce_owed(queue_file_rcpt(qf, i)))
			pending++;
	m->rcpts = xcalloc(pending ? pending : 1, sizeof(*m->rcpts));
	for (size_t i = 0; i < n; i++) {
		if (queue_file_rcpt(qf, i)->state != QUEUE_RCPT_PENDING ||
		        qmgr_dsn_bounce_owed(queue_file_rcpt(qf, i)))
			continue;
		m->rcpts[m->nrcpt].msg = m;
		m->rcpts[m->nrcpt].index = i;
		m->rcpts[m->nrcpt].state = QMGR_RCPT_RESOLVING;
		m->nrcpt++;
	}
	qmgr_map_put(messages, id, m);
	msg_info("%s: from=<%s>, size=%llu, nrcpt=%zu (queue active)", id, m->env->sender,
	        queue_file_content_size(qf), n);

	m->open = m->resolving = m->nrcpt;
	for (size_t i = 0; i < m->nrcpt; i++)
		m->rcpts[i].req = rewrite_resolve_async(qmgr_base(),
		        qmgr_rcpt_address(&m->rcpts[i]), m->env->sender, on_resolved, &m->rcpts[i]);
	maybe_end(m);
	return 0;
}

/* ---- grouping into jobs ---- */

static const char *
rcpt_domain(const struct qmgr_rcpt *r)
{
	const char *at = strrchr(qmgr_rcpt_address(r), '@');

	return at ? at + 1 : "";
}

/* The recipient may pass defer_transports (a flush let it through). */
static int
flushed(const struct qmgr_message *m, const struct qmgr_rcpt *r)
{
	if (m->intake & QMGR_FLUSH_ALL)
		return 1;
	return m->flush_domain && strcasecmp(m->flush_domain, rcpt_domain(r)) == 0;
}

static struct qmgr_job *
job_new(struct qmgr_message *m, struct qmgr_dest *d, size_t room)
{
	struct qmgr_job *job = xcalloc(1, sizeof(*job));

	job->msg = m;
	job->dest = d;
	job->rcpts = xcalloc(room, sizeof(*job->rcpts));
	str_init(&job->fail_reason);
	job->msg_next = m->job_list;
	if (m->job_list)
		m->job_list->msg_prev = job;
	m->job_list = job;
	m->jobs++;
	return job;
}

/* Every recipient is resolved: make the jobs, defer what cannot go. */
static void
schedule_message(struct qmgr_message *m)
{
	size_t per_job = (size_t)qmgr_params.rcpt_per_request;
	struct qmgr_map *open_jobs = qmgr_map_new(); /* destination -> job being filled */
	struct qmgr_job *job;

	for (size_t i = 0; i < m->nrcpt; i++) {
		struct qmgr_rcpt *r = &m->rcpts[i];
		const char *dsn, *reason;
		struct str why = STR_INIT;

		if (r->state != QMGR_RCPT_QUEUED)
			continue;
		if (qmgr_dest_transport_deferred(r->dest) && !flushed(m, r)) {
			qmgr_rcpt_defer(r, "4.3.2",
			        "deferred transport: waiting for a flush (ETRN or tern queue "
			        "flush)");
			continue;
		}
		if (qmgr_dest_suspended(r->dest, &dsn, &reason)) {
			str_printf(&why, "delivery temporarily suspended: %s", reason);
			qmgr_rcpt_defer(r, dsn, str_cstr(&why));
			str_free(&why);
			continue;
		}
		job = qmgr_map_get(open_jobs, qmgr_dest_key(r->dest));
		if (job == NULL || job->nrcpt == per_job) {
			if (job)
				qmgr_dest_enqueue(job->dest, job);
			job = job_new(m, r->dest, m->nrcpt - i < per_job ? m->nrcpt - i : per_job);
			qmgr_map_put(open_jobs, qmgr_dest_key(r->dest), job);
		}
		job->rcpts[job->nrcpt++] = r;
	}
	/* The jobs still being filled go out too. */
	for (job = m->job_list; job; job = job->msg_next)
		if (!job->queued && qmgr_map_get(open_jobs, qmgr_dest_key(job->dest)) == job)
			qmgr_dest_enqueue(job->dest, job);
	qmgr_map_free(open_jobs);
	qmgr_kick();
}

static void
on_resolved(const struct rewrite_reply *reply, void *arg)
{
	struct qmgr_rcpt *r = arg;
	struct qmgr_message *m = r->msg;
	struct str why = STR_INIT, text = STR_INIT;

	r->req = NULL;
	m->resolving--;
	if (m->flags & (QMGR_MSG_HOLD | QMGR_MSG_DELETE | QMGR_MSG_REQUEUE)) {
		rcpt_leave(r, QMGR_RCPT_DROPPED);
	} else if (reply->status == RESOLVE_OK) {
		r->dest = qmgr_dest_get(reply->transport.data ? reply->transport.data : "",
		        reply->nexthop.data ? reply->nexthop.data : "", &why);
		if (r->dest == NULL) {
			str_printf(&text, "mail transport unavailable: %s", str_cstr(&why));
			qmgr_rcpt_defer(r, "4.3.5", str_cstr(&text));
		} else {
			r->state = QMGR_RCPT_QUEUED;
			r->local = strcmp(qmgr_dest_transport(r->dest), "local") == 0;
		}
	} else {
		str_printf(&text, "address resolver failure: %s",
		        reply->reason.data ? reply->reason.data : "unknown error");
		qmgr_rcpt_defer(
		        r, reply->status == RESOLVE_DEFER ? "4.3.0" : "4.3.5", str_cstr(&text));
	}
	str_free(&why);
	str_free(&text);
	if (m->resolving == 0 && !(m->flags & (QMGR_MSG_HOLD | QMGR_MSG_DELETE | QMGR_MSG_REQUEUE)))
		schedule_message(m);
	maybe_end(m);
}

/* ---- results ---- */

/* Seconds as the log shows them: 0, 0.03, 1.2, 45, 3600. */
static void
format_seconds(long long usec, char *buf, size_t size)
{
	double s = usec < 0 ? 0 : (double)usec / 1e6;

	if (s >= 100)
		snprintf(buf, size, "%.0f", s);
	else if (s >= 10)
		snprintf(buf, size, "%.1f", s);
	else
		snprintf(buf, size, "%.2f", s);
	if (strchr(buf, '.')) {
		char *end = buf + strlen(buf) - 1;

		while (*end == '0')
			*end-- = '\0';
		if (*end == '.')
			*end = '\0';
	}
}

static long long
lifetime(const struct qmgr_rcpt *r)
{
	if (r->msg->env->sender[0] == '\0')
		return qmgr_params.bounce_lifetime;
	if (r->dest && strcmp(qmgr_dest_transport(r->dest), "local") == 0)
		return qmgr_params.local_lifetime;
	return qmgr_params.max_lifetime;
}

static void
log_result(const struct qmgr_rcpt *r, const struct qmgr_result *res, enum deliver_status status,
        const char *dsn, const char *reason)
{
	const struct qmgr_message *m = r->msg;
	long long now = qmgr_now_usec(), arrival = m->env->arrival_usec;
	char delay[32], a[32], b[32], c[32], d[32], use[48] = "";

	format_seconds(now - arrival, delay, sizeof(delay));
	format_seconds(m->active_usec - arrival, a, sizeof(a));
	format_seconds((res->start_usec ? res->start_usec : now) - m->active_usec, b, sizeof(b));
	format_seconds(res->conn_ms * 1000, c, sizeof(c));
	format_seconds(res->xmit_ms * 1000, d, sizeof(d));
	if (res->conn_use > 0)
		snprintf(use, sizeof(use), "conn_use=%ld, ", res->conn_use);
	msg_info("%s: to=<%s>, relay=%s, %sdelay=%s, delays=%s/%s/%s/%s, dsn=%s, status=%s (%s)",
	        m->id, qmgr_rcpt_address(r), res->relay && *res->relay ? res->relay : "none", use,
	        delay, a, b, c, d, dsn, deliver_status_name(status), reason);
}

static void
record_failed(const struct qmgr_rcpt *r, const char *what, const struct str *err)
{
	msg_warn("%s: recording %s for <%s> failed: %s; it will be tried again", r->msg->id, what,
	        qmgr_rcpt_address(r), err->data ? err->data : "");
}

void
qmgr_rcpt_result(struct qmgr_rcpt *r, const struct qmgr_result *res)
{
	struct qmgr_message *m = r->msg;
	const struct queue_rcpt *qr = qmgr_rcpt_file(r);
	struct queue_rcpt_status st = qr->status;
	enum deliver_status status = res->status;
	long long now = qmgr_now(), age_usec = qmgr_now_usec() - m->env->arrival_usec;
	struct str reason = STR_INIT, err = STR_INIT;
	char dsn[QUEUE_DSN_MAX + 1], age_text[32];
	int ok = 1;

	snprintf(dsn, sizeof(dsn), "%s", res->dsn);
	str_setz(&reason, res->reason ? res->reason : "");
	if (status == DELIVER_DEFERRED && age_usec >= lifetime(r) * 1000000) {
		status = DELIVER_BOUNCED;
		if (deliver_dsn_valid(dsn, '4'))
			dsn[0] = '5';
		else
			snprintf(dsn, sizeof(dsn), "5.4.7");
		format_duration(lifetime(r), age_text, sizeof(age_text));
		str_reset(&reason);
		str_printf(&reason, "message expired after %s in the queue: %s", age_text,
		        res->reason ? res->reason : "");
	}
	if (res->attempted) {
		st.attempts++;
		st.last_attempt = now;
		m->attempted = 1;
	}
	snprintf(st.dsn, sizeof(st.dsn), "%s", dsn);
	deliver_clean_text(&err, str_cstr(&reason), QUEUE_REASON_MAX);
	snprintf(st.reason, sizeof(st.reason), "%s", str_cstr(&err));
	str_reset(&err);
	if (qmgr_dsn_record_status(m, qr, res, status, &st)) {
		if (queue_file_set_status(m->qf, r->index, &st, &err) != QUEUE_OK) {
			record_failed(r, "the delivery status", &err);
			ok = 0;
		}
	}
	/* A failure that owes a bounce keeps done 0 until the bounce is
	 * committed (qmgr_dsn.c). */
	if (ok && qmgr_dsn_done_mark(m, qr, res, status) != QUEUE_RCPT_PENDING) {
		enum queue_rcpt_state done = qmgr_dsn_done_mark(m, qr, res, status);

		str_reset(&err);
		if (queue_file_mark_done(m->qf, r->index, done, &err) != QUEUE_OK)
			record_failed(r, "the done mark", &err);
	}
	log_result(r, res, status, dsn, str_cstr(&reason));
	rcpt_leave(r, status == DELIVER_DEFERRED ? QMGR_RCPT_DEFERRED : QMGR_RCPT_FINISHED);
	str_free(&reason);
	str_free(&err);
}

void
qmgr_rcpt_defer(struct qmgr_rcpt *r, const char *dsn, const char *reason)
{
	struct qmgr_result res = {
	        .status = DELIVER_DEFERRED, .dsn = dsn, .reason = reason, .relay = "none"};

	qmgr_rcpt_result(r, &res);
}

/* ---- the end of a pass ---- */

static void
job_unlink(struct qmgr_message *m, struct qmgr_job *job)
{
	if (job->msg_prev)
		job->msg_prev->msg_next = job->msg_next;
	else
		m->job_list = job->msg_next;
	if (job->msg_next)
		job->msg_next->msg_prev = job->msg_prev;
	m->jobs--;
}

void
qmgr_message_job_done(struct qmgr_message *m, struct qmgr_job *job)
{
	job_unlink(m, job);
	if (job->ev)
		event_free(job->ev);
	str_free(&job->fail_reason);
	free(job->rcpts);
	free(job);
	maybe_end(m);
}

static int
all_finished(const struct qmgr_message *m)
{
	for (size_t i = 0; i < queue_file_rcpt_count(m->qf); i++)
		if (queue_file_rcpt(m->qf, i)->state == QUEUE_RCPT_PENDING)
			return 0;
	return 1;
}

/* The gap before the next attempt (docs/qmgr.md). */
static long long
retry_gap(const struct qmgr_message *m)
{
	unsigned long attempts = 0;
	size_t k;

	for (size_t i = 0; i < queue_file_rcpt_count(m->qf); i++) {
		const struct queue_rcpt *qr = queue_file_rcpt(m->qf, i);

		if (qr->state == QUEUE_RCPT_PENDING && qr->status.attempts > attempts)
			attempts = qr->status.attempts;
	}
	k = m->attempted && attempts > 0 ? attempts - 1 : 0;
	if (k >= qmgr_params.nretry)
		k = qmgr_params.nretry - 1;
	return qmgr_params.retry[k];
}

/* Give active/ID the modification time due (microseconds), durably. */
static int
set_due(const char *id, long long due)
{
	struct str path = STR_INIT;
	struct timespec times[2];
	int fd, rc = -1;

	queue_dir_path(&path, "", QUEUE_FOLDER_ACTIVE, id);
	fd = open(str_cstr(&path), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	times[0].tv_sec = times[1].tv_sec = (time_t)(due / 1000000);
	times[0].tv_nsec = times[1].tv_nsec = (long)(due % 1000000) * 1000;
	if (fd < 0 || futimens(fd, times) < 0 || fsync(fd) < 0)
		msg_warn("%s: setting the next attempt time: %m", id);
	else
		rc = 0;
	if (fd >= 0)
		close(fd);
	str_free(&path);
	return rc;
}

static void
remove_file(struct qmgr_message *m)
{
	struct str path = STR_INIT;

	queue_dir_path(&path, "", QUEUE_FOLDER_ACTIVE, m->id);
	if (unlink(str_cstr(&path)) < 0 && errno != ENOENT) {
		msg_warn("%s: remove %s: %m", m->id, str_cstr(&path));
		qmgr_scan_schedule(QUEUE_FOLDER_ACTIVE, m->id,
		        qmgr_now_usec() + QMGR_MOVE_RETRY_SECS * 1000000LL, 0, NULL);
	} else {
		msg_info("%s: removed", m->id);
	}
	str_free(&path);
}

static void
move_to(struct qmgr_message *m, enum queue_folder to, const char *what)
{
	struct str err = STR_INIT;

	if (queue_dir_move("", m->id, QUEUE_FOLDER_ACTIVE, to, &err) != QUEUE_OK) {
		msg_warn("%s: %s", m->id, str_cstr(&err));
		qmgr_scan_schedule(QUEUE_FOLDER_ACTIVE, m->id,
		        qmgr_now_usec() + QMGR_MOVE_RETRY_SECS * 1000000LL, 0, NULL);
	} else if (what) {
		msg_info("%s: %s", m->id, what);
	}
	str_free(&err);
}

static void
defer_message(struct qmgr_message *m)
{
	long long now = qmgr_now_usec(), due = now + retry_gap(m) * 1000000;
	int flush = (m->flags & QMGR_MSG_FLUSH) != 0;
	struct str err = STR_INIT;

	if (m->flags & (QMGR_MSG_REQUEUE | QMGR_MSG_FLUSH))
		due = now;
	set_due(m->id, due);
	if (queue_dir_move_flags("", m->id, QUEUE_FOLDER_ACTIVE, QUEUE_FOLDER_DEFERRED, 0, &err) !=
	        QUEUE_OK) {
		msg_warn("%s: %s", m->id, str_cstr(&err));
		qmgr_scan_schedule(QUEUE_FOLDER_ACTIVE, m->id,
		        now + QMGR_MOVE_RETRY_SECS * 1000000LL, 0, NULL);
	} else if (flush) {
		const char *d = m->flush_request;

		qmgr_scan_schedule(
		        QUEUE_FOLDER_DEFERRED, m->id, 0, *d ? 0 : QMGR_FLUSH_ALL, *d ? d : NULL);
	} else {
		if (m->flags & QMGR_MSG_REQUEUE)
			msg_info("%s: requeued", m->id);
		qmgr_scan_schedule(QUEUE_FOLDER_DEFERRED, m->id, due, 0, NULL);
	}
	str_free(&err);
}

static void
pass_end(struct qmgr_message *m)
{
	qmgr_map_remove(messages, m->id);
	if (m->flags & QMGR_MSG_DELETE) {
		remove_file(m);
	} else if (all_finished(m)) {
		enum qmgr_dsn_action what = qmgr_dsn_finish(m);

		if (what == QMGR_DSN_CORRUPT) {
			struct str err = STR_INIT;

			if (queue_dir_to_corrupt("", m->id, QUEUE_FOLDER_ACTIVE,
			            "undeliverable notification", &err) < 0)
				msg_warn("%s: %s", m->id, str_cstr(&err));
			str_free(&err);
		} else if (what == QMGR_DSN_DEFER) {
			defer_message(m);
		} else {
			remove_file(m);
		}
	} else if (m->flags & QMGR_MSG_HOLD) {
		move_to(m, QUEUE_FOLDER_HOLD, "placed on hold");
	} else {
		defer_message(m);
	}
	message_free(m);
	qmgr_kick();
}

/* The pass ends when nothing of it is open and its notices are
 * settled (qmgr_dsn_ready may start them and call back later). */
static void
maybe_end(struct qmgr_message *m)
{
	if (m->open == 0 && m->jobs == 0 && m->resolving == 0 && qmgr_dsn_ready(m))
		pass_end(m);
}

void
qmgr_message_maybe_end(struct qmgr_message *m)
{
	maybe_end(m);
}

/* ---- the administrator's requests ---- */

void
qmgr_message_request(struct qmgr_message *m, unsigned what)
{
	struct qmgr_job *job, *next;

	m->flags |= what;
	for (size_t i = 0; i < m->nrcpt; i++) {
		struct qmgr_rcpt *r = &m->rcpts[i];

		if (r->state == QMGR_RCPT_RESOLVING && r->req) {
			rewrite_cancel(r->req);
			r->req = NULL;
			m->resolving--;
			rcpt_leave(r, QMGR_RCPT_DROPPED);
		}
	}
	for (job = m->job_list; job; job = next) {
		next = job->msg_next;
		if (!job->queued)
			continue;
		qmgr_dest_dequeue(job);
		for (size_t i = 0; i < job->nrcpt; i++)
			rcpt_leave(job->rcpts[i], QMGR_RCPT_DROPPED);
		job_unlink(m, job);
		str_free(&job->fail_reason);
		free(job->rcpts);
		free(job);
	}
	/* Recipients resolved but not yet in a job (schedule_message, which
	 * the flags now stop, has not run) leave the pass too. */
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpts[i].state == QMGR_RCPT_QUEUED)
			rcpt_leave(&m->rcpts[i], QMGR_RCPT_DROPPED);
	maybe_end(m);
}

static void
flush_one(const char *key, void *value, void *arg)
{
	struct qmgr_message *m = value;
	const char *domain = arg;
	int match = domain == NULL;

	(void)key;
	for (size_t i = 0; i < m->nrcpt && !match; i++)
		match = m->rcpts[i].state != QMGR_RCPT_FINISHED &&
		        strcasecmp(rcpt_domain(&m->rcpts[i]), domain) == 0;
	if (!match)
		return;
	if (m->flush_request && strcasecmp(m->flush_request, domain ? domain : "") != 0) {
		free(m->flush_request);
		m->flush_request = xstrdup("");
	} else if (m->flush_request == NULL) {
		m->flush_request = xstrdup(domain ? domain : "");
	}
	m->flags |= QMGR_MSG_FLUSH;
}

void
qmgr_message_flush_active(const char *domain)
{
	qmgr_map_walk(messages, flush_one, (void *)domain);
}

static void
abandon(const char *key, void *value, void *arg)
{
	struct qmgr_message *m = value;

	(void)key;
	(void)arg;
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpts[i].req)
			rewrite_cancel(m->rcpts[i].req);
	message_free(m);
}

void
qmgr_message_abandon_all(void)
{
	if (messages == NULL)
		return;
	qmgr_map_walk(messages, abandon, NULL);
	qmgr_map_free(messages);
	messages = NULL;
}
