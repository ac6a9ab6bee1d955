/*
 * smtpd_cleanup.c - the asynchronous client of cleanup (docs/cleanup.md):
 * one connection to private/cleanup per message, non-blocking, on the
 * daemon's event loop through lib/stream.c, frames by lib/attr_stream.c.
 *
 *	open	request=open + envelope		-> status=ok queue_id=ID
 *	rcpt	request=rcpt address [notify] [orcpt]	(no answer)
 *	data	request=data data=<= 64 KiB	(no answer)
 *	end	request=end			-> status=ok queue_id=ID, after
 *						   the queue file is committed
 *	any	status=defer|fail reply=... or status=error reason=...
 *
 * The session learns the outcome through its smtpd_cleanup_events: the
 * queue ID after open, "committed" only after cleanup's final ok (so
 * smtpd answers 250 only then), "refused" with cleanup's reply line
 * (checked: a 4xx or 5xx with a matching enhanced code, else a generic
 * one), "failed" when the connection broke, a deadline (ipc_timeout,
 * at most smtpd_timeout) passed or a reply was malformed: then nothing was committed, and the
 * session answers 4xx.  Freeing the client closes the connection, which
 * makes cleanup remove its file.  Trusts nothing cleanup sends beyond
 * the checks here.  Called by smtpd_data.c.
 */
#include <stdlib.h>
#include <string.h>

#include "attr_stream.h"
#include "mem.h"
#include "msg.h"
#include "smtpd.h"
#include "stream.h"

enum cleanup_state {
	CLEANUP_OPENING, /* waiting for the open reply */
	CLEANUP_SENDING, /* rcpt and data frames */
	CLEANUP_ENDING,  /* waiting for the final reply */
	CLEANUP_DONE,    /* answered or failed: no more callbacks */
};

struct smtpd_cleanup {
	struct smtpd_session *session;
	struct stream *stream;
	const struct smtpd_cleanup_events *ev;
	enum cleanup_state state;
	int busy; /* inside a callback to the session */
	int dead; /* freed by the session meanwhile */
	struct str frame;
	struct attr_list reply;
};

#define GENERIC_DEFER "451 4.3.0 Error: queue file write error"
#define GENERIC_FAIL  "554 5.3.0 Error: message refused"

static void
destroy(struct smtpd_cleanup *c)
{
	stream_free(c->stream);
	str_free(&c->frame);
	attr_list_free(&c->reply);
	free(c);
}

/* Callbacks: the session may free c meanwhile; 1 when it did. */
static int
after_callback(struct smtpd_cleanup *c)
{
	if (--c->busy == 0 && c->dead) {
		destroy(c);
		return 1;
	}
	return c->dead;
}

static int
fail(struct smtpd_cleanup *c, const char *reason)
{
	if (c->state == CLEANUP_DONE)
		return 0;
	c->state = CLEANUP_DONE;
	c->busy++;
	c->ev->failed(c->session, reason);
	return after_callback(c);
}

static void
send_frame(struct smtpd_cleanup *c, const struct attr_list *l)
{
	if (attr_stream_send(c->stream, l, &c->frame) < 0 && stream_error(c->stream) == STREAM_OK)
		msg_warn("cleanup: send buffer full; the message will fail");
}

/* One reply frame; 1 when c was freed. */
static int
handle_reply(struct smtpd_cleanup *c)
{
	const char *status = attr_get_str(&c->reply, "status");
	const char *id = attr_get_str(&c->reply, "queue_id");
	const char *reply = attr_get_str(&c->reply, "reply");
	const char *reason = attr_get_str(&c->reply, "reason");
	int opening = c->state == CLEANUP_OPENING;

	if (status == NULL)
		return fail(c, "reply without status");
	if (strcmp(status, "error") == 0)
		return fail(c, reason ? reason : "protocol error");
	if (c->state != CLEANUP_OPENING && c->state != CLEANUP_ENDING)
		return fail(c, "unexpected reply");
	if (strcmp(status, "ok") == 0) {
		if (id == NULL || !queue_id_valid(id))
			return fail(c, "reply without a valid queue ID");
		c->state = opening ? CLEANUP_SENDING : CLEANUP_DONE;
		stream_set_read_deadline(c->stream, 0);
		c->busy++;
		if (opening)
			c->ev->opened(c->session, id);
		else
			c->ev->committed(c->session, id);
		return after_callback(c);
	}
	if (strcmp(status, "defer") != 0 && strcmp(status, "fail") != 0)
		return fail(c, "unknown status");
	if (reply == NULL || !smtpd_reply_valid(reply) ||
	        reply[0] != (status[0] == 'd' ? '4' : '5'))
		reply = status[0] == 'd' ? GENERIC_DEFER : GENERIC_FAIL;
	c->state = CLEANUP_DONE;
	c->busy++;
	c->ev->refused(c->session, reply, reason ? reason : reply);
	return after_callback(c);
}

static void
on_read(struct stream *st, void *arg)
{
	struct smtpd_cleanup *c = arg;
	const char *why = NULL;
	int rc;

	while (c->state != CLEANUP_DONE) {
		rc = attr_stream_read(st, SMTPD_CLEANUP_FRAME_MAX, &c->reply, &why);
		if (rc == 0)
			return;
		if (rc < 0) {
			(void)fail(c, why);
			return;
		}
		if (handle_reply(c))
			return;
	}
	stream_discard_input(st);
}

static void
on_drained(struct stream *st, void *arg)
{
	struct smtpd_cleanup *c = arg;

	(void)st;
	if (c->state != CLEANUP_SENDING)
		return;
	c->busy++;
	c->ev->drained(c->session);
	(void)after_callback(c);
}

static void
on_error(struct stream *st, enum stream_error why, void *arg)
{
	struct smtpd_cleanup *c = arg;
	struct str reason = STR_INIT;

	str_printf(&reason, "%s (%s)",
	        why == STREAM_ERR_EOF ? "lost connection to cleanup" : "talking to cleanup",
	        stream_error_text(st));
	(void)fail(c, str_cstr(&reason));
	str_free(&reason);
}

static const struct stream_callbacks callbacks = {
        .on_read = on_read,
        .on_drained = on_drained,
        .on_error = on_error,
};

struct smtpd_cleanup *
smtpd_cleanup_open(struct smtpd_session *s, const struct attr_list *open,
        const struct smtpd_cleanup_events *ev, struct str *err)
{
	struct smtpd_cleanup *c = xcalloc(1, sizeof(*c));

	c->session = s;
	c->ev = ev;
	c->state = CLEANUP_OPENING;
	attr_list_init(&c->reply);
	c->stream = attr_stream_connect(
	        smtpd_base(), SMTPD_CLEANUP_PATH, 2 * SMTPD_CLEANUP_FRAME_MAX, &callbacks, c, err);
	if (c->stream == NULL) {
		attr_list_free(&c->reply);
		free(c);
		return NULL;
	}
	send_frame(c, open);
	stream_set_read_deadline(c->stream, smtpd_ipc_timeout_ms());
	stream_set_write_deadline(c->stream, smtpd_ipc_timeout_ms());
	return c;
}

void
smtpd_cleanup_rcpt(struct smtpd_cleanup *c, const struct smtpd_rcpt *r)
{
	struct attr_list l;

	attr_list_init(&l);
	attr_put_str(&l, "request", "rcpt");
	attr_put_str(&l, "address", r->address);
	if (r->notify)
		attr_put_str(&l, "notify", r->notify);
	if (r->orcpt)
		attr_put_str(&l, "orcpt", r->orcpt);
	send_frame(c, &l);
	attr_list_free(&l);
}

void
smtpd_cleanup_data(struct smtpd_cleanup *c, const char *p, size_t n)
{
	struct attr_list l;

	attr_list_init(&l);
	while (n > 0) {
		size_t take = n < SMTPD_CLEANUP_CHUNK ? n : SMTPD_CLEANUP_CHUNK;

		attr_list_reset(&l);
		attr_put_str(&l, "request", "data");
		attr_put(&l, "data", p, take);
		if (stream_output_pending(c->stream) == 0)
			stream_set_write_deadline(c->stream, smtpd_ipc_timeout_ms());
		send_frame(c, &l);
		p += take;
		n -= take;
	}
	attr_list_free(&l);
}

void
smtpd_cleanup_end(struct smtpd_cleanup *c)
{
	struct attr_list l;

	attr_list_init(&l);
	attr_put_str(&l, "request", "end");
	if (stream_output_pending(c->stream) == 0)
		stream_set_write_deadline(c->stream, smtpd_ipc_timeout_ms());
	send_frame(c, &l);
	attr_list_free(&l);
	c->state = CLEANUP_ENDING;
	stream_set_read_deadline(c->stream, smtpd_ipc_timeout_ms());
}

size_t
smtpd_cleanup_pending(const struct smtpd_cleanup *c)
{
	return stream_output_pending(c->stream);
}

void
smtpd_cleanup_free(struct smtpd_cleanup *c)
{
	if (c == NULL)
		return;
	c->state = CLEANUP_DONE;
	if (c->busy > 0)
		c->dead = 1;
	else
		destroy(c);
}
