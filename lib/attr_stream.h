/*
 * attr_stream.h - attribute frames (attr.h) on an event-mode stream
 * (stream.h): how an event-driven daemon talks to another process's UNIX
 * socket without ever blocking.
 *
 * The pieces, for a client that keeps its own state (smtpd's cleanup
 * client sends many frames and reads two replies):
 *
 *	attr_stream_connect()	a non-blocking connection (unix_connect.h)
 *				with a stream attached to the caller's event
 *				base and callbacks
 *	attr_stream_send()	queue one frame on the stream
 *	attr_stream_read()	take one complete frame out of the stream's
 *				input buffer, decoded within a size limit
 *
 * And the whole of the simplest exchange built on them, attr_call: a
 * fresh connection, one request frame, one reply frame within a deadline,
 * then the connection is closed (smtpd's ETRN request to qmgr).  The
 * reply frame is decoded and checked for form only (attr_decode); what
 * its attributes mean is the caller's to check.
 *
 * Nothing here trusts the peer: frames longer than the caller's limit,
 * malformed frames, silence past the deadline and a dropped connection are
 * all reported as failures with a reason.  Callers: smtpd, qmgr (notifications
 * through cleanup).
 */
#ifndef TERN_ATTR_STREAM_H
#define TERN_ATTR_STREAM_H

#include <stddef.h>

#include "attr.h"
#include "str.h"

struct event_base;
struct stream;
struct stream_callbacks;

/*
 * Connect to the UNIX socket path (relative paths are taken from the
 * working directory: a daemon's queue_directory) without blocking, and
 * attach a stream with an input buffer of input_max octets (0: the
 * stream's default) to base with cb and arg.  Returns the stream, or NULL
 * with "connect PATH: reason" (or why the stream could not be attached)
 * appended to err; errno tells ENOENT and ECONNREFUSED (no service) from
 * EAGAIN (listen queue full) after a failed connect.
 */
struct stream *attr_stream_connect(struct event_base *base, const char *path, size_t input_max,
        const struct stream_callbacks *cb, void *arg, struct str *err);

/*
 * Encode l into buf (reset first; the caller keeps it to save
 * allocations) and append the frame to the stream's output.  0, or -1
 * when the output buffer is over its limit (stream_write: the frame is
 * not queued) or the stream has failed.
 */
int attr_stream_send(struct stream *s, const struct attr_list *l, struct str *buf);

/*
 * Decode the first frame of the stream's input buffer into l and consume
 * it: 1 when a frame was taken, 0 when more input is needed, -1 when the
 * input is malformed or the frame is longer than max_frame (*why says
 * how; the input is left as it was).
 */
int attr_stream_read(struct stream *s, size_t max_frame, struct attr_list *l, const char **why);

/* ---- one request, one reply ---- */

struct attr_call;

/*
 * The outcome of a call, from the event loop: reply is the decoded reply
 * frame, or NULL when the call failed, and then why says how
 * ("connection closed by the service", "no answer within 10s", a
 * malformed frame).  reply is valid only during the call.  The call's
 * handle is already gone when the callback runs: do not cancel it there.
 */
typedef void (*attr_call_callback)(const struct attr_list *reply, const char *why, void *arg);

/*
 * Connect to path, send request, and wait for one reply frame of at most
 * reply_max octets within timeout_ms (> 0) for the whole exchange.
 * Returns a handle, valid until the callback has been called or the call
 * is cancelled; or NULL, with the reason appended to err and errno from
 * the failed connect, when no connection could be made (the callback is
 * never called then, and never from inside attr_call_start).
 */
struct attr_call *attr_call_start(struct event_base *base, const char *path,
        const struct attr_list *request, size_t reply_max, int timeout_ms, attr_call_callback cb,
        void *arg, struct str *err);

/* Close the connection; the callback will not be called. */
void attr_call_cancel(struct attr_call *c);

#endif
