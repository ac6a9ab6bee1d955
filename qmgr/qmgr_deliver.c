/*
 * qmgr_deliver.c - one delivery: connect to the agent's socket, send the
 * request, read the answers (docs/delivery-protocol.md) and record each
 * as it arrives, then end the job: recipients without an answer are
 * deferred, the destination learns whether it was reached.
 *
 * Trusts nothing the agent sends: every frame goes through the decoder
 * of deliver.h, an answer must name a recipient of the request that has
 * no answer yet, and anything else ends the delivery as a protocol
 * error.  A result is recorded (qmgr_rcpt_result: status slot, done
 * mark, fsync) before the next frame is looked at.  Each delivery in
 * flight counts as a session of the daemon skeleton, so a stop waits for
 * it.  Called by qmgr_sched.c (start) and qmgr.c (abort at the end of
 * the grace period).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon.h"
#include "mem.h"
#include "msg.h"
#include "qmgr.h"
#include "stream.h"
#include "unix_connect.h"

#define REPLY_INPUT_MAX (DELIVER_REPLY_MAX + ATTR_HEADER_SIZE + 64)

static struct qmgr_job *flights; /* deliveries in flight */
static unsigned nflights;

unsigned
qmgr_deliver_count(void)
{
	return nflights;
}

static void
flight_unlink(struct qmgr_job *job)
{
	if (job->fl_prev)
		job->fl_prev->fl_next = job->fl_next;
	else
		flights = job->fl_next;
	if (job->fl_next)
		job->fl_next->fl_prev = job->fl_prev;
	job->fl_next = job->fl_prev = NULL;
	job->in_flight = 0;
	nflights--;
}

/*
 * The end of a delivery: defer what has no answer, tell the
 * destination, let the message go on.
 */
static void
finish(struct qmgr_job *job, int reached, const char *dsn, const char *reason, const char *relay)
{
	struct qmgr_message *m = job->msg;
	struct qmgr_dest *d = job->dest;

	if (job->stream) {
		stream_close(job->stream);
		job->stream = NULL;
	}
	flight_unlink(job);
	for (size_t i = 0; i < job->nrcpt; i++) {
		struct qmgr_rcpt *r = job->rcpts[i];
		struct qmgr_result res = {
		        .status = DELIVER_DEFERRED,
		        .dsn = dsn && *dsn ? dsn : "4.3.0",
		        .reason = reason && *reason ? reason : "delivery agent gave no result",
		        .relay = relay && *relay ? relay : "none",
		        .start_usec = job->start_usec,
		        .attempted = 1,
		};

		if (r->state == QMGR_RCPT_DELIVERING)
			qmgr_rcpt_result(r, &res);
	}
	qmgr_dest_done(d, reached, dsn, reason);
	qmgr_message_job_done(m, job);
	daemon_session_end();
	qmgr_kick();
}

static void
fail(struct qmgr_job *job, const char *reason)
{
	finish(job, 0, "4.3.0", reason, NULL);
}

static void
protocol_error(struct qmgr_job *job, const char *why)
{
	msg_warn("%s: delivery agent %s: protocol error: %s", job->msg->id,
	        qmgr_dest_transport(job->dest), why);
	fail(job, "delivery agent protocol error");
}

static struct qmgr_rcpt *
job_rcpt(struct qmgr_job *job, size_t index)
{
	for (size_t i = 0; i < job->nrcpt; i++)
		if (job->rcpts[i]->index == index)
			return job->rcpts[i];
	return NULL;
}

/* One answer: 0 to read on, 1 when the job ended. */
static int
take_frame(struct qmgr_job *job, const struct attr_list *l)
{
	struct deliver_result res;
	struct deliver_done done;
	enum deliver_reply_kind kind;
	struct str why = STR_INIT;
	struct qmgr_rcpt *r;
	int ended = 0;

	deliver_result_init(&res);
	deliver_done_init(&done);
	if (deliver_reply_decode(l, &kind, &res, &done, &why) < 0) {
		protocol_error(job, str_cstr(&why));
		ended = 1;
	} else if (kind == DELIVER_REPLY_DONE) {
		finish(job, done.status == DELIVER_DONE_OK, done.dsn, str_cstr(&done.reason),
		        str_cstr(&done.relay));
		ended = 1;
	} else if ((r = job_rcpt(job, res.index)) == NULL || r->state != QMGR_RCPT_DELIVERING) {
		str_printf(&why, "answer for recipient %zu %s", res.index,
		        r ? "twice" : "that is not in the request");
		protocol_error(job, str_cstr(&why));
		ended = 1;
	} else {
		struct qmgr_result qr = {
		        .status = res.status,
		        .dsn = res.dsn,
		        .reason = str_cstr(&res.reason),
		        .relay = str_cstr(&res.relay),
		        .start_usec = job->start_usec,
		        .conn_ms = res.delay_conn_ms,
		        .xmit_ms = res.delay_xmit_ms,
		        .conn_use = res.conn_use,
		        .attempted = 1,
		        .relayed = res.dsn_relayed,
		        .passed = res.dsn_passed,
		};

		qmgr_rcpt_result(r, &qr);
		job->answered++;
	}
	deliver_result_free(&res);
	deliver_done_free(&done);
	str_free(&why);
	return ended;
}

static void
on_read(struct stream *s, void *arg)
{
	struct qmgr_job *job = arg;
	struct attr_list l;

	attr_list_init(&l);
	for (;;) {
		size_t len, used;
		const char *why;
		const char *p = stream_peek(s, &len);
		int rc = attr_decode(p, len, DELIVER_REPLY_MAX, &l, &used, &why);

		if (rc == 0)
			break;
		if (rc < 0) {
			protocol_error(job, why);
			break;
		}
		stream_consume(s, used);
		if (take_frame(job, &l))
			break;
	}
	attr_list_free(&l);
}

static void
on_error(struct stream *s, enum stream_error why, void *arg)
{
	struct qmgr_job *job = arg;
	struct str reason = STR_INIT;

	(void)s;
	if (why == STREAM_ERR_TIMEOUT)
		str_printf(&reason, "delivery agent %s timed out after %llds",
		        qmgr_dest_transport(job->dest), qmgr_params.agent_timeout);
	else
		str_printf(&reason, "delivery agent %s failed: %s", qmgr_dest_transport(job->dest),
		        why == STREAM_ERR_EOF ? "lost connection" : stream_error_text(s));
	fail(job, str_cstr(&reason));
	str_free(&reason);
}

static void
on_connect_failed(evutil_socket_t fd, short what, void *arg)
{
	struct qmgr_job *job = arg;
	struct str reason = STR_INIT;

	(void)fd;
	(void)what;
	str_printf(&reason, "delivery agent %s unavailable: %s", qmgr_dest_transport(job->dest),
	        str_cstr(&job->fail_reason));
	fail(job, str_cstr(&reason));
	str_free(&reason);
}

static void
build_request(struct qmgr_job *job, struct str *frame)
{
	struct qmgr_message *m = job->msg;
	struct deliver_request req;
	struct attr_list l;
	unsigned flags = 0;

	if (m->env->flags & QUEUE_FLAG_8BITMIME)
		flags |= DELIVER_FLAG_8BITMIME;
	if (m->env->flags & QUEUE_FLAG_SMTPUTF8)
		flags |= DELIVER_FLAG_SMTPUTF8;
	if (m->intake & QMGR_FLUSH_ALL || m->flush_domain)
		flags |= DELIVER_FLAG_FLUSH;
	deliver_request_init(&req);
	deliver_request_set(&req, m->id, qmgr_dest_transport(job->dest),
	        qmgr_dest_nexthop(job->dest), m->env->sender, flags);
	for (size_t i = 0; i < job->nrcpt; i++) {
		const struct queue_rcpt *qr = qmgr_rcpt_file(job->rcpts[i]);

		deliver_request_add_rcpt(&req, job->rcpts[i]->index, qr->address, qr->orcpt_type,
		        qr->orcpt_addr, qr->notify);
	}
	attr_list_init(&l);
	deliver_request_encode(&req, &l);
	attr_encode(&l, frame);
	attr_list_free(&l);
	deliver_request_free(&req);
}

int
qmgr_deliver_start(struct qmgr_job *job)
{
	static const struct stream_callbacks cb = {.on_read = on_read, .on_error = on_error};
	struct str err = STR_INIT, frame = STR_INIT;
	int fd;

	fd = unix_connect(qmgr_dest_socket(job->dest), UNIX_CONNECT_NONBLOCK, &err);
	if (fd < 0 && errno == EAGAIN) {
		str_free(&err);
		return -1;
	}
	job->start_usec = qmgr_now_usec();
	for (size_t i = 0; i < job->nrcpt; i++)
		job->rcpts[i]->state = QMGR_RCPT_DELIVERING;
	job->fl_next = flights;
	job->fl_prev = NULL;
	if (flights)
		flights->fl_prev = job;
	flights = job;
	job->in_flight = 1;
	nflights++;
	daemon_session_begin();
	if (fd < 0) {
		struct timeval now = {0, 0};

		str_setz(&job->fail_reason, str_cstr(&err));
		job->ev = evtimer_new(qmgr_base(), on_connect_failed, job);
		evtimer_add(job->ev, &now);
		str_free(&err);
		return 0;
	}
	job->stream = stream_new(fd, REPLY_INPUT_MAX);
	stream_set_output_max(job->stream, DELIVER_REQUEST_MAX + ATTR_HEADER_SIZE);
	if (stream_attach(job->stream, qmgr_base(), &cb, job) < 0) {
		struct timeval now = {0, 0};

		stream_free(job->stream);
		job->stream = NULL;
		str_setz(&job->fail_reason, "cannot watch the connection");
		job->ev = evtimer_new(qmgr_base(), on_connect_failed, job);
		evtimer_add(job->ev, &now);
		str_free(&err);
		return 0;
	}
	stream_set_idle_timeout(job->stream, (int)(qmgr_params.agent_timeout * 1000));
	build_request(job, &frame);
	if (stream_write(job->stream, frame.data, frame.len) < 0)
		msg_panic("%s: request frame larger than the output buffer", job->msg->id);
	str_free(&frame);
	str_free(&err);
	return 0;
}

void
qmgr_deliver_abort_all(void)
{
	while (flights) {
		struct qmgr_job *job = flights;

		if (job->stream) {
			stream_free(job->stream);
			job->stream = NULL;
		}
		if (job->ev)
			evtimer_del(job->ev);
		flight_unlink(job);
		daemon_session_end();
	}
}
