/*
 * attr_stream.c - attribute frames on an event-mode stream, and the
 * one-request-one-reply call built on them; see attr_stream.h.
 *
 * Trusts nothing the peer sends: every frame is decoded by attr_decode
 * within the caller's limit; a call's deadline covers the connection,
 * the request and the whole reply.  A call frees its connection before
 * it calls back, so a callback may do anything but cancel its own call.
 * Called by smtpd (smtpd_cleanup.c, smtpd_etrn.c).
 */
#include <errno.h>
#include <stdlib.h>

#include "attr_stream.h"
#include "mem.h"
#include "msg.h"
#include "stream.h"
#include "unix_connect.h"

struct stream *
attr_stream_connect(struct event_base *base, const char *path, size_t input_max,
        const struct stream_callbacks *cb, void *arg, struct str *err)
{
	struct stream *s;
	int fd;

	if ((fd = unix_connect(path, UNIX_CONNECT_NONBLOCK, err)) < 0)
		return NULL;
	s = stream_new(fd, input_max);
	if (stream_attach(s, base, cb, arg) < 0) {
		str_printf(err, "%s: cannot register the connection with the event loop", path);
		stream_free(s);
		errno = ENOMEM;
		return NULL;
	}
	return s;
}

int
attr_stream_send(struct stream *s, const struct attr_list *l, struct str *buf)
{
	str_reset(buf);
	attr_encode(l, buf);
	return stream_write(s, buf->data, buf->len);
}

int
attr_stream_read(struct stream *s, size_t max_frame, struct attr_list *l, const char **why)
{
	const char *buf;
	size_t len, used;
	int rc;

	buf = stream_peek(s, &len);
	rc = attr_decode(buf, len, max_frame, l, &used, why);
	if (rc == 1)
		stream_consume(s, used);
	return rc;
}

/* ---- one request, one reply ---- */

struct attr_call {
	struct stream *stream;
	size_t reply_max;
	int timeout_ms;
	attr_call_callback cb;
	void *arg;
	struct attr_list reply;
};

static void
call_free(struct attr_call *c)
{
	stream_free(c->stream);
	attr_list_free(&c->reply);
	free(c);
}

/* The end of a call: free it first, then tell the caller. */
static void
call_done(struct attr_call *c, int ok, const char *why)
{
	attr_call_callback cb = c->cb;
	void *arg = c->arg;
	struct attr_list reply = c->reply;

	attr_list_init(&c->reply);
	call_free(c);
	cb(ok ? &reply : NULL, why, arg);
	attr_list_free(&reply);
}

static void
call_read(struct stream *s, void *arg)
{
	struct attr_call *c = arg;
	const char *why = NULL;
	int rc;

	rc = attr_stream_read(s, c->reply_max, &c->reply, &why);
	if (rc == 1)
		call_done(c, 1, NULL);
	else if (rc < 0)
		call_done(c, 0, why);
}

static void
call_error(struct stream *s, enum stream_error err, void *arg)
{
	struct attr_call *c = arg;
	struct str why = STR_INIT;

	if (err == STREAM_ERR_TIMEOUT && c->timeout_ms % 1000 == 0)
		str_printf(&why, "no reply within %ds", c->timeout_ms / 1000);
	else if (err == STREAM_ERR_TIMEOUT)
		str_printf(&why, "no reply within %dms", c->timeout_ms);
	else if (err == STREAM_ERR_EOF)
		str_appendz(&why, "connection closed by the service");
	else
		str_appendz(&why, stream_error_text(s));
	call_done(c, 0, str_cstr(&why));
	str_free(&why);
}

struct attr_call *
attr_call_start(struct event_base *base, const char *path, const struct attr_list *request,
        size_t reply_max, int timeout_ms, attr_call_callback cb, void *arg, struct str *err)
{
	static const struct stream_callbacks callbacks = {
	        .on_read = call_read,
	        .on_error = call_error,
	};
	struct attr_call *c;
	struct str frame = STR_INIT;
	int rc;

	if (timeout_ms <= 0)
		msg_panic("attr_call_start: no deadline for %s", path);
	c = xcalloc(1, sizeof(*c));

	c->reply_max = reply_max;
	c->timeout_ms = timeout_ms;
	c->cb = cb;
	c->arg = arg;
	attr_list_init(&c->reply);
	c->stream =
	        attr_stream_connect(base, path, reply_max + ATTR_HEADER_SIZE, &callbacks, c, err);
	if (c->stream == NULL) {
		attr_list_free(&c->reply);
		free(c);
		return NULL;
	}
	rc = attr_stream_send(c->stream, request, &frame);
	str_free(&frame);
	if (rc < 0) {
		str_printf(err, "%s: request larger than the output buffer", path);
		call_free(c);
		errno = EMSGSIZE;
		return NULL;
	}
	stream_set_read_deadline(c->stream, timeout_ms);
	stream_set_write_deadline(c->stream, timeout_ms);
	return c;
}

void
attr_call_cancel(struct attr_call *c)
{
	if (c != NULL)
		call_free(c);
}
