/*
 * qmgr_dsn_send.c - write one delivery status notification through
 * cleanup (docs/cleanup.md), without blocking the loop: connect to
 * private/cleanup, request=open with the null sender, wait for ok, send
 * the recipient, the report in data frames and request=end, and wait for
 * the final reply.  The report is made (lib/dsn.c) before the connection
 * opens; it is at most bounce_size_limit of original text plus the
 * recipients, so it is held in memory whole.
 *
 * The caller learns the outcome once: committed (cleanup's final ok,
 * with the new queue ID), deferred (cleanup unreachable, a deadline, a
 * temporary refusal, a reply that does not decode) or refused
 * (status=fail).  Only "committed" means the report is in the queue.
 * Each report in flight counts as a session of the daemon skeleton, so a
 * stop waits for it.  Trusts nothing cleanup sends beyond the checks
 * here.  Called by qmgr_dsn.c; qmgr.c aborts what is left at the end of
 * the grace period.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "attr_stream.h"
#include "daemon.h"
#include "dsn.h"
#include "mem.h"
#include "msg.h"
#include "qmgr.h"
#include "stream.h"

#define SEND_REPLY_MAX   65536 /* octets of a reply frame from cleanup */
#define SEND_INPUT_MAX   (SEND_REPLY_MAX + ATTR_HEADER_SIZE + 64)
#define SEND_DATA_CHUNK  65536 /* octets of report in one data frame */
#define SEND_FRAME_SLACK 4096  /* names and lengths around the data */

enum send_state {
	SEND_OPENING, /* waiting for the reply to request=open */
	SEND_ENDING,  /* the report is sent; waiting for the final reply */
};

struct qmgr_dsn_send {
	char queue_id[QUEUE_ID_SIZE]; /* the original's, for the log */
	char *to;
	unsigned flags; /* DSN_NEEDS_* */
	struct str report;
	struct stream *stream;
	struct event *ev; /* a failure reported from the loop */
	struct str fail_reason;
	enum send_state state;
	qmgr_dsn_sent_fn *done;
	void *arg;
	struct qmgr_dsn_send *next, *prev;
};

static struct qmgr_dsn_send *sends; /* in flight */

static void
unlink_send(struct qmgr_dsn_send *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		sends = s->next;
	if (s->next)
		s->next->prev = s->prev;
}

static void
destroy(struct qmgr_dsn_send *s)
{
	unlink_send(s);
	if (s->stream)
		stream_close(s->stream);
	if (s->ev)
		event_free(s->ev);
	str_free(&s->report);
	str_free(&s->fail_reason);
	free(s->to);
	free(s);
	daemon_session_end();
}

/* The end: tell the caller once, then go. */
static void
finish(struct qmgr_dsn_send *s, enum qmgr_dsn_sent status, const char *id, const char *why)
{
	qmgr_dsn_sent_fn *done = s->done;
	void *arg = s->arg;
	char idcopy[QUEUE_ID_SIZE] = "";

	if (id)
		snprintf(idcopy, sizeof(idcopy), "%s", id);
	destroy(s);
	done(arg, status, idcopy, why ? why : "");
}

/* One frame out; the output buffer was sized for all of them. */
static void
send_frame(struct qmgr_dsn_send *s, const struct attr_list *l, struct str *buf)
{
	if (attr_stream_send(s->stream, l, buf) < 0)
		msg_panic("%s: notification frame does not fit the output buffer", s->queue_id);
}

/* After open's ok: the recipient, the report, end. */
static void
send_frames(struct qmgr_dsn_send *s)
{
	size_t chunks = s->report.len / SEND_DATA_CHUNK + 1;
	struct attr_list l;
	struct str buf = STR_INIT;

	stream_set_output_max(s->stream, s->report.len + (chunks + 2) * SEND_FRAME_SLACK);
	attr_list_init(&l);
	attr_put_str(&l, "request", "rcpt");
	attr_put_str(&l, "address", s->to);
	send_frame(s, &l, &buf);
	for (size_t off = 0; off < s->report.len; off += SEND_DATA_CHUNK) {
		size_t n = s->report.len - off < SEND_DATA_CHUNK ? s->report.len - off
		                                                 : SEND_DATA_CHUNK;

		attr_list_reset(&l);
		attr_put_str(&l, "request", "data");
		attr_put(&l, "data", s->report.data + off, n);
		send_frame(s, &l, &buf);
	}
	attr_list_reset(&l);
	attr_put_str(&l, "request", "end");
	send_frame(s, &l, &buf);
	attr_list_free(&l);
	str_free(&buf);
	s->state = SEND_ENDING;
}

/* One reply: 1 when the conversation ended (s is gone). */
static int
take_reply(struct qmgr_dsn_send *s, const struct attr_list *l)
{
	const char *status = attr_get_str(l, "status"), *id = attr_get_str(l, "queue_id");
	const char *why = attr_get_str(l, "reply");

	if (why == NULL)
		why = attr_get_str(l, "reason");
	if (status && strcmp(status, "ok") == 0 && id && queue_id_valid(id)) {
		if (s->state == SEND_OPENING) {
			send_frames(s);
			return 0;
		}
		finish(s, QMGR_DSN_SENT_OK, id, NULL);
		return 1;
	}
	finish(s, status && strcmp(status, "fail") == 0 ? QMGR_DSN_SENT_FAIL : QMGR_DSN_SENT_DEFER,
	        NULL, why ? why : "malformed reply from cleanup");
	return 1;
}

static void
on_read(struct stream *st, void *arg)
{
	struct qmgr_dsn_send *s = arg;
	struct attr_list l;

	attr_list_init(&l);
	for (;;) {
		const char *why;
		int rc = attr_stream_read(st, SEND_REPLY_MAX, &l, &why);

		if (rc == 0)
			break;
		if (rc < 0) {
			finish(s, QMGR_DSN_SENT_DEFER, NULL, why);
			break;
		}
		if (take_reply(s, &l))
			break;
	}
	attr_list_free(&l);
}

static void
on_error(struct stream *st, enum stream_error why, void *arg)
{
	struct qmgr_dsn_send *s = arg;
	struct str reason = STR_INIT;

	str_printf(&reason, "cleanup: %s",
	        why == STREAM_ERR_EOF ? "lost connection" : stream_error_text(st));
	finish(s, QMGR_DSN_SENT_DEFER, NULL, str_cstr(&reason));
	str_free(&reason);
}

static void
on_connect_failed(evutil_socket_t fd, short what, void *arg)
{
	struct qmgr_dsn_send *s = arg;
	struct str reason = STR_INIT;

	(void)fd;
	(void)what;
	str_printf(&reason, "cleanup unavailable: %s", str_cstr(&s->fail_reason));
	finish(s, QMGR_DSN_SENT_DEFER, NULL, str_cstr(&reason));
	str_free(&reason);
}

/* Report the failure from the loop, never from inside the caller. */
static void
fail_later(struct qmgr_dsn_send *s, const char *why)
{
	struct timeval now = {0, 0};

	str_setz(&s->fail_reason, why);
	s->ev = evtimer_new(qmgr_base(), on_connect_failed, s);
	evtimer_add(s->ev, &now);
}

struct qmgr_dsn_send *
qmgr_dsn_send_start(const char *queue_id, const char *to, struct str *report, unsigned needs,
        qmgr_dsn_sent_fn *done, void *arg)
{
	static const struct stream_callbacks cb = {.on_read = on_read, .on_error = on_error};
	struct qmgr_dsn_send *s = xcalloc(1, sizeof(*s));
	struct str err = STR_INIT, flags = STR_INIT, frame = STR_INIT;
	struct attr_list l;

	snprintf(s->queue_id, sizeof(s->queue_id), "%s", queue_id);
	s->to = xstrdup(to);
	s->flags = needs;
	s->report = *report; /* taken over */
	str_init(report);
	s->done = done;
	s->arg = arg;
	s->state = SEND_OPENING;
	s->next = sends;
	if (sends)
		sends->prev = s;
	sends = s;
	daemon_session_begin();

	s->stream =
	        attr_stream_connect(qmgr_base(), QMGR_CLEANUP_SOCKET, SEND_INPUT_MAX, &cb, s, &err);
	if (s->stream == NULL) {
		fail_later(s, str_cstr(&err));
		str_free(&err);
		return s;
	}
	stream_set_idle_timeout(s->stream, (int)(qmgr_dsn_params.ipc_timeout * 1000));
	if (needs & DSN_NEEDS_8BIT)
		str_appendz(&flags, "8bitmime");
	if (needs & DSN_NEEDS_SMTPUTF8)
		str_appendz(&flags, flags.len ? ",smtputf8" : "smtputf8");
	attr_list_init(&l);
	attr_put_str(&l, "request", "open");
	attr_put_str(&l, "sender", "");
	if (flags.len)
		attr_put_str(&l, "flags", str_cstr(&flags));
	send_frame(s, &l, &frame);
	attr_list_free(&l);
	str_free(&err);
	str_free(&flags);
	str_free(&frame);
	return s;
}

void
qmgr_dsn_send_cancel(struct qmgr_dsn_send *s)
{
	if (s)
		destroy(s);
}

void
qmgr_dsn_send_abort_all(void)
{
	while (sends)
		finish(sends, QMGR_DSN_SENT_ABORTED, NULL, "qmgr is stopping");
}
