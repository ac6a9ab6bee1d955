/*
 * stream.c - buffered plain-text and TLS streams: the input and output
 * buffers, lines, deadlines, blocking waits and the event-mode machinery;
 * see stream.h and docs/streams.md.  OpenSSL is driven from stream_tls.c.
 *
 * Trusts nothing it reads: every byte from the peer is bounded by the
 * input limit and the caller's line limit, and an over-long line is
 * dropped as it arrives.  Called by every process that talks over a
 * socket: smtpd and qmgr in event mode, smtp, cleanup and local blocking.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "msg.h"
#include "stream_private.h"

#define OUTPUT_COMPACT_MIN 4096 /* move unsent output down once this much was sent */

struct stream *
stream_new(int fd, size_t input_max)
{
	struct stream *s;
	int flags;

	s = xcalloc(1, sizeof(*s));
	s->fd = fd;
	s->in_max = input_max ? input_max : STREAM_INPUT_MAX;
	if (s->in_max > INT_MAX)
		s->in_max = INT_MAX;
	s->out_max = STREAM_OUTPUT_MAX;
	str_init(&s->out);
	str_init(&s->err_text);
	s->reading = 1;
	s->last_io = clock_ms();
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		stream_set_error(s, STREAM_ERR_IO, "fcntl: %s", strerror(errno));
	return s;
}

static void
events_off(struct stream *s)
{
	if (s->ev_read_on)
		event_del(s->ev_read);
	if (s->ev_write_on)
		event_del(s->ev_write);
	if (s->ev_timer)
		event_del(s->ev_timer);
	s->ev_read_on = 0;
	s->ev_write_on = 0;
	s->timer_at = 0;
}

static void
stream_destroy(struct stream *s)
{
	if (s->ev_read)
		event_free(s->ev_read);
	if (s->ev_write)
		event_free(s->ev_write);
	if (s->ev_timer)
		event_free(s->ev_timer);
	stream_tls_free(s);
	if (s->fd >= 0)
		close(s->fd);
	free(s->in);
	str_free(&s->out);
	str_free(&s->err_text);
	free(s);
}

/* Inside a callback the stream is only marked; the event code frees it
 * when the callback returns. */
void
stream_free(struct stream *s)
{
	if (s == NULL)
		return;
	if (s->in_callback > 0) {
		if (s->base)
			events_off(s);
		s->dead = 1;
		return;
	}
	stream_destroy(s);
}

void
stream_close(struct stream *s)
{
	if (s == NULL)
		return;
	if (!s->dead)
		stream_tls_shutdown(s);
	stream_free(s);
}

int
stream_fd(const struct stream *s)
{
	return s->fd;
}

void
stream_set_output_max(struct stream *s, size_t output_max)
{
	s->out_max = output_max ? output_max : STREAM_OUTPUT_MAX;
}

void
stream_set_error(struct stream *s, enum stream_error why, const char *fmt, ...)
{
	va_list ap;

	if (s->err != STREAM_OK)
		return;
	s->err = why;
	str_reset(&s->err_text);
	va_start(ap, fmt);
	str_vprintf(&s->err_text, fmt, ap);
	va_end(ap);
}

enum stream_error
stream_error(const struct stream *s)
{
	return s->err;
}

const char *
stream_error_text(const struct stream *s)
{
	if (s->err == STREAM_OK || s->err_text.data == NULL)
		return "";
	return s->err_text.data;
}

const char *
stream_error_name(enum stream_error why)
{
	switch (why) {
	case STREAM_OK:
		return "ok";
	case STREAM_ERR_EOF:
		return "lost connection";
	case STREAM_ERR_IO:
		return "I/O error";
	case STREAM_ERR_TLS:
		return "TLS error";
	case STREAM_ERR_TIMEOUT:
		return "timeout";
	case STREAM_ERR_SLOW:
		return "data rate too low";
	}
	return "unknown error";
}

/*
 * Deadlines.
 */

/* The earliest deadline that applies, or 0; *why and *what describe it. */
static long long
next_deadline(const struct stream *s, int for_read, int for_write, enum stream_error *why,
        const char **what)
{
	long long at = 0, t;

#define EARLIER(when, reason, text)                                                                \
	do {                                                                                       \
		t = (when);                                                                        \
		if (at == 0 || t < at) {                                                           \
			at = t;                                                                    \
			*why = (reason);                                                           \
			*what = (text);                                                            \
		}                                                                                  \
	} while (0)

	if (for_read && s->read_deadline)
		EARLIER(s->read_deadline, STREAM_ERR_TIMEOUT, "read deadline passed");
	if (for_write && s->write_deadline)
		EARLIER(s->write_deadline, STREAM_ERR_TIMEOUT, "write deadline passed");
	if (s->idle_ms)
		EARLIER(s->last_io + s->idle_ms, STREAM_ERR_TIMEOUT, "idle timeout");
	if (for_read && s->min_rate)
		EARLIER(s->rate_start + s->rate_grace +
		                (long long)((s->bytes_in - s->rate_bytes0) * 1000 / s->min_rate),
		        STREAM_ERR_SLOW, "input below the minimum data rate");
#undef EARLIER
	return at;
}

/* Set the failure and return 1 when a deadline that applies has passed. */
static int
deadline_passed(struct stream *s, int for_read, int for_write)
{
	enum stream_error why = STREAM_OK;
	const char *what = "";
	long long at;

	at = next_deadline(s, for_read, for_write, &why, &what);
	if (at == 0 || clock_ms() < at)
		return 0;
	stream_set_error(s, why, "%s", what);
	return 1;
}

void
stream_set_read_deadline(struct stream *s, int ms)
{
	s->read_deadline = ms > 0 ? clock_ms() + ms : 0;
	stream_update_events(s);
}

void
stream_set_write_deadline(struct stream *s, int ms)
{
	s->write_deadline = ms > 0 ? clock_ms() + ms : 0;
	stream_update_events(s);
}

void
stream_set_idle_timeout(struct stream *s, int ms)
{
	s->idle_ms = ms > 0 ? ms : 0;
	s->last_io = clock_ms();
	stream_update_events(s);
}

void
stream_rate_start(struct stream *s)
{
	s->rate_start = clock_ms();
	s->rate_bytes0 = s->bytes_in;
}

uint64_t
stream_rate_bytes(const struct stream *s)
{
	return s->bytes_in - s->rate_bytes0;
}

long long
stream_rate_elapsed_ms(const struct stream *s)
{
	return s->rate_start ? clock_ms() - s->rate_start : 0;
}

void
stream_set_min_rate(struct stream *s, unsigned bytes_per_sec, int grace_ms)
{
	stream_rate_start(s);
	s->min_rate = bytes_per_sec;
	s->rate_grace = grace_ms > 0 ? grace_ms : 0;
	stream_update_events(s);
}

uint64_t
stream_bytes_in(const struct stream *s)
{
	return s->bytes_in;
}

uint64_t
stream_bytes_out(const struct stream *s)
{
	return s->bytes_out;
}

/*
 * Input.
 */

/* Make contiguous room at the end of the input buffer; return its size. */
static size_t
input_room(struct stream *s)
{
	size_t cap;

	if (s->in_len == 0)
		s->in_off = 0;
	if (s->in_off + s->in_len < s->in_cap)
		return s->in_cap - s->in_off - s->in_len;
	if (s->in_cap < s->in_max && (s->in_off == 0 || s->in_len >= s->in_cap / 2)) {
		cap = s->in_cap ? s->in_cap * 2 : STREAM_INPUT_INITIAL;
		if (cap > s->in_max)
			cap = s->in_max;
		s->in = xrealloc(s->in, cap);
		s->in_cap = cap;
	} else if (s->in_off > 0) {
		memmove(s->in, s->in + s->in_off, s->in_len);
		s->in_off = 0;
	}
	return s->in_cap - s->in_off - s->in_len;
}

static ssize_t
read_plain(struct stream *s, char *buf, size_t n)
{
	ssize_t r;

	for (;;) {
		r = read(s->fd, buf, n);
		if (r > 0)
			return r;
		if (r == 0) {
			stream_set_error(s, STREAM_ERR_EOF, "connection closed by peer");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		stream_set_error(s, STREAM_ERR_IO, "read: %s", strerror(errno));
		return -1;
	}
}

/*
 * Read what is available without waiting.  Returns the bytes added; sets
 * *failed when the connection failed (possibly after adding some).
 */
static size_t
fill_nowait(struct stream *s, int *failed)
{
	size_t room, total = 0;
	ssize_t n;

	*failed = 0;
	if (s->err != STREAM_OK) {
		*failed = 1;
		return 0;
	}
	for (;;) {
		room = input_room(s);
		if (room == 0) {
			s->input_stalled = 1;
			break;
		}
		if (s->tls == TLS_ON)
			n = stream_tls_read(s, s->in + s->in_off + s->in_len, room);
		else
			n = read_plain(s, s->in + s->in_off + s->in_len, room);
		if (n < 0) {
			*failed = 1;
			break;
		}
		if (n == 0)
			break;
		s->in_len += (size_t)n;
		s->bytes_in += (uint64_t)n;
		total += (size_t)n;
		s->last_io = clock_ms();
		if (s->tls != TLS_ON && (size_t)n < room)
			break;
	}
	return total;
}

/* The caller took input: reading may resume (event mode). */
static void
input_taken(struct stream *s)
{
	if (s->base == NULL || s->dead)
		return;
	/* Register first: libevent does not register an event that is
	 * active, so activating before adding would lose it for good. */
	stream_update_events(s);
	if (s->input_stalled) {
		/* TLS may hold decrypted bytes the socket will not announce. */
		s->input_stalled = 0;
		event_active(s->ev_read, EV_READ, 1);
	}
}

static void
drop_input(struct stream *s, size_t n)
{
	s->in_off += n;
	s->in_len -= n;
	if (s->in_len == 0)
		s->in_off = 0;
}

int
stream_get_line(struct stream *s, size_t max, const char **line, size_t *len)
{
	char *p, *nl;
	size_t n, scan;

	if (max == 0 || max > s->in_max)
		max = s->in_max;
	if (s->in_len == 0)
		return STREAM_LINE_NONE;
	p = s->in + s->in_off;
	if (s->discarding) {
		nl = memchr(p, '\n', s->in_len);
		if (nl == NULL) {
			drop_input(s, s->in_len);
			input_taken(s);
			return STREAM_LINE_NONE;
		}
		drop_input(s, (size_t)(nl - p) + 1);
		s->discarding = 0;
		input_taken(s);
		return STREAM_LINE_TOO_LONG;
	}
	scan = s->in_len < max ? s->in_len : max;
	nl = memchr(p, '\n', scan);
	if (nl != NULL) {
		n = (size_t)(nl - p) + 1;
		*line = p;
		*len = n;
		drop_input(s, n);
		input_taken(s);
		return STREAM_LINE_OK;
	}
	if (s->in_len < max)
		return STREAM_LINE_NONE;
	/* Too long: drop it through its LF, or all of it and the rest later. */
	nl = memchr(p + max, '\n', s->in_len - max);
	if (nl != NULL) {
		drop_input(s, (size_t)(nl - p) + 1);
		input_taken(s);
		return STREAM_LINE_TOO_LONG;
	}
	drop_input(s, s->in_len);
	s->discarding = 1;
	input_taken(s);
	return STREAM_LINE_NONE;
}

const char *
stream_peek(const struct stream *s, size_t *len)
{
	*len = s->in_len;
	return s->in_len ? s->in + s->in_off : "";
}

void
stream_consume(struct stream *s, size_t n)
{
	if (n > s->in_len)
		msg_panic("stream_consume: %zu bytes, %zu buffered", n, s->in_len);
	drop_input(s, n);
	input_taken(s);
}

size_t
stream_read_bytes(struct stream *s, void *buf, size_t n)
{
	if (n > s->in_len)
		n = s->in_len;
	if (n == 0)
		return 0;
	memcpy(buf, s->in + s->in_off, n);
	drop_input(s, n);
	input_taken(s);
	return n;
}

void
stream_discard_input(struct stream *s)
{
	s->in_off = 0;
	s->in_len = 0;
	s->discarding = 0;
	input_taken(s);
}

/*
 * Output.
 */

size_t
stream_output_pending(const struct stream *s)
{
	return s->out.len - s->out_off;
}

static void
compact_output(struct stream *s)
{
	if (s->out_off == s->out.len) {
		str_reset(&s->out);
		s->plain_end = 0;
		s->out_off = 0;
	} else if (s->out_off >= OUTPUT_COMPACT_MIN && s->out_off >= s->out.len / 2) {
		str_consume(&s->out, s->out_off);
		s->plain_end = s->plain_end > s->out_off ? s->plain_end - s->out_off : 0;
		s->out_off = 0;
	}
}

/* Write output up to limit without TLS.  1 when done, 0 to wait, -1 failed. */
int
stream_write_plain(struct stream *s, size_t limit)
{
	ssize_t r;

	while (s->out_off < limit) {
		r = send(s->fd, s->out.data + s->out_off, limit - s->out_off, MSG_NOSIGNAL);
		if (r < 0 && errno == ENOTSOCK)
			r = write(s->fd, s->out.data + s->out_off, limit - s->out_off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			stream_set_error(s, STREAM_ERR_IO, "write: %s", strerror(errno));
			return -1;
		}
		s->out_off += (size_t)r;
		s->bytes_out += (uint64_t)r;
		s->last_io = clock_ms();
	}
	return 1;
}

/* Write all pending output, through TLS when it is on. */
static int
write_out(struct stream *s)
{
	ssize_t r;
	int done;

	if (s->err != STREAM_OK)
		return -1;
	if (s->tls != TLS_ON) {
		done = stream_write_plain(s, s->out.len);
	} else {
		done = 1;
		while (s->out_off < s->out.len) {
			r = stream_tls_write(s, s->out.data + s->out_off, s->out.len - s->out_off);
			if (r < 0)
				return -1;
			if (r == 0) {
				done = 0;
				break;
			}
			s->out_off += (size_t)r;
			s->bytes_out += (uint64_t)r;
			s->last_io = clock_ms();
		}
	}
	if (done > 0)
		compact_output(s);
	return done;
}

static void
assert_blocking(const struct stream *s, const char *fn)
{
	if (s->base != NULL)
		msg_panic("%s: blocking call on a stream in event mode", fn);
}

int
stream_write(struct stream *s, const void *p, size_t n)
{
	const char *cp = p;
	size_t take;

	if (s->err != STREAM_OK || s->dead) {
		errno = EPIPE;
		return -1;
	}
	if (s->base && stream_output_pending(s) + n > s->out_max) {
		errno = ENOBUFS;
		return -1;
	}
	while (n > 0) {
		if (stream_output_pending(s) > 0 && stream_output_pending(s) + n > s->out_max &&
		        stream_flush(s) < 0)
			return -1;
		take = n;
		if (s->base == NULL && take > s->out_max)
			take = s->out_max;
		compact_output(s);
		str_append(&s->out, cp, take);
		cp += take;
		n -= take;
	}
	stream_update_events(s);
	return 0;
}

int
stream_printf(struct stream *s, const char *fmt, ...)
{
	struct str buf = STR_INIT;
	va_list ap;
	int r;

	va_start(ap, fmt);
	str_vprintf(&buf, fmt, ap);
	va_end(ap);
	r = stream_write(s, buf.data, buf.len);
	str_free(&buf);
	return r;
}

int
stream_flush(struct stream *s)
{
	int r;

	if (s->err != STREAM_OK)
		return -1;
	if (s->base) {
		s->corked = 0;
		stream_update_events(s);
		return 0;
	}
	for (;;) {
		r = write_out(s);
		if (r > 0)
			return 0;
		if (r < 0)
			return -1;
		if (stream_wait(s, s->write_wants_read ? WANT_READABLE : WANT_WRITABLE, 0, 1) < 0)
			return -1;
	}
}

void
stream_cork(struct stream *s)
{
	s->corked = 1;
	stream_update_events(s);
}

void
stream_uncork(struct stream *s)
{
	s->corked = 0;
	stream_update_events(s);
}

/*
 * Blocking mode.
 */

/* Wait until the descriptor is ready as wanted or a deadline that applies
 * passes.  0: try again; -1: failed (deadline or poll error). */
int
stream_wait(struct stream *s, enum stream_want want, int for_read, int for_write)
{
	enum stream_error why = STREAM_OK;
	const char *what = "";
	struct pollfd pfd;
	long long at, now;
	int timeout;

	at = next_deadline(s, for_read, for_write, &why, &what);
	now = clock_ms();
	if (at != 0 && now >= at) {
		stream_set_error(s, why, "%s", what);
		return -1;
	}
	timeout = -1;
	if (at != 0)
		timeout = at - now > INT_MAX ? INT_MAX : (int)(at - now);
	pfd.fd = s->fd;
	pfd.events = want == WANT_WRITABLE ? POLLOUT : POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, timeout) < 0 && errno != EINTR) {
		stream_set_error(s, STREAM_ERR_IO, "poll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int
stream_fill(struct stream *s)
{
	size_t n;
	int failed;

	assert_blocking(s, "stream_fill");
	if (s->err != STREAM_OK)
		return -1;
	if (s->tls == TLS_FLUSHING || s->tls == TLS_HANDSHAKE)
		msg_panic("stream_fill: TLS handshake not finished");
	for (;;) {
		if (deadline_passed(s, 1, 0))
			return -1;
		if (input_room(s) == 0)
			return 0;
		n = fill_nowait(s, &failed);
		if (n > 0)
			return (int)n;
		if (failed)
			return -1;
		if (stream_wait(s, s->read_wants_write ? WANT_WRITABLE : WANT_READABLE, 1, 0) < 0)
			return -1;
	}
}

int
stream_read_line(struct stream *s, size_t max, const char **line, size_t *len)
{
	int r;

	for (;;) {
		r = stream_get_line(s, max, line, len);
		if (r != STREAM_LINE_NONE)
			return r;
		r = stream_fill(s);
		if (r < 0)
			return -1;
		if (r == 0)
			msg_panic("stream_read_line: input buffer full without a line");
	}
}

int
stream_read_exact(struct stream *s, void *buf, size_t n)
{
	char *p = buf;
	size_t got = 0;

	for (;;) {
		got += stream_read_bytes(s, p + got, n - got);
		if (got == n)
			return 0;
		if (stream_fill(s) < 0)
			return -1;
	}
}

/*
 * Event mode.
 */

static void
set_event(struct event *ev, int *on, int want)
{
	if (want && !*on) {
		if (event_add(ev, NULL) < 0)
			msg_warn("stream: event_add failed");
		else
			*on = 1;
	} else if (!want && *on) {
		event_del(ev);
		*on = 0;
	}
}

static int
event_for_read(const struct stream *s)
{
	return s->reading || s->tls == TLS_HANDSHAKE;
}

static int
event_for_write(const struct stream *s)
{
	return (!s->corked && stream_output_pending(s) > 0) || s->tls == TLS_FLUSHING ||
	        s->tls == TLS_HANDSHAKE;
}

/* Register interest in what the stream needs next, and its next deadline. */
void
stream_update_events(struct stream *s)
{
	enum stream_error why = STREAM_OK;
	const char *what = "";
	int want_read = 0, want_write = 0;
	long long at, now;
	struct timeval tv;

	if (s->base == NULL || s->dead || s->error_reported)
		return;
	if (s->err != STREAM_OK) {
		/* A failure found outside the loop: report it from the loop. */
		events_off(s);
		event_active(s->ev_timer, EV_TIMEOUT, 1);
		return;
	}
	switch (s->tls) {
	case TLS_FLUSHING:
		want_write = 1;
		break;
	case TLS_HANDSHAKE:
		want_read = s->handshake_want == WANT_READABLE;
		want_write = s->handshake_want == WANT_WRITABLE;
		break;
	case TLS_OFF:
	case TLS_ON:
		if (s->reading && s->in_len < s->in_max) {
			if (s->read_wants_write)
				want_write = 1;
			else
				want_read = 1;
		}
		if (!s->corked && stream_output_pending(s) > 0) {
			if (s->write_wants_read)
				want_read = 1;
			else
				want_write = 1;
		}
		break;
	}
	set_event(s->ev_read, &s->ev_read_on, want_read);
	set_event(s->ev_write, &s->ev_write_on, want_write);

	/* The timer may fire early (a deadline moved later); it re-arms. */
	at = next_deadline(s, event_for_read(s), event_for_write(s), &why, &what);
	if (at == 0) {
		if (s->timer_at != 0)
			event_del(s->ev_timer);
		s->timer_at = 0;
	} else if (s->timer_at == 0 || at < s->timer_at) {
		now = clock_ms();
		at = at > now ? at : now;
		tv.tv_sec = (at - now) / 1000;
		tv.tv_usec = ((at - now) % 1000) * 1000;
		if (event_add(s->ev_timer, &tv) < 0)
			msg_warn("stream: event_add (timer) failed");
		s->timer_at = at;
	}
}

/* After a callback: 1 when the stream was freed and must not be touched. */
static int
callback_done(struct stream *s)
{
	s->in_callback--;
	if (!s->dead)
		return 0;
	if (s->in_callback == 0)
		stream_destroy(s);
	return 1;
}

/* Report the failure once; 1 when the stream was freed. */
static int
report_error(struct stream *s)
{
	if (s->error_reported)
		return 0;
	s->error_reported = 1;
	events_off(s);
	if (s->cb.on_error == NULL)
		return 0;
	s->in_callback++;
	s->cb.on_error(s, s->err, s->cb_arg);
	return callback_done(s);
}

/* Do all I/O possible now, then tell the caller what happened. */
static void
service(struct stream *s)
{
	size_t got;
	int r, failed;

	if (s->dead || s->error_reported)
		return;
	if (s->err != STREAM_OK)
		goto fail;
	if (s->tls == TLS_FLUSHING) {
		r = stream_write_plain(s, s->plain_end);
		if (r < 0)
			goto fail;
		if (r > 0) {
			compact_output(s);
			s->tls = TLS_HANDSHAKE;
		}
	}
	if (s->tls == TLS_HANDSHAKE) {
		r = stream_tls_handshake_step(s);
		if (r < 0)
			goto fail;
		if (r == 0)
			goto out;
		if (s->cb.on_tls) {
			s->in_callback++;
			s->cb.on_tls(s, s->cb_arg);
			if (callback_done(s))
				return;
			if (s->err != STREAM_OK)
				goto fail;
		}
	}
	if (s->tls != TLS_ON && s->tls != TLS_OFF)
		goto out;
	if (!s->corked && stream_output_pending(s) > 0) {
		r = write_out(s);
		if (r < 0)
			goto fail;
		if (r > 0 && s->cb.on_drained) {
			s->in_callback++;
			s->cb.on_drained(s, s->cb_arg);
			if (callback_done(s))
				return;
			if (s->err != STREAM_OK)
				goto fail;
		}
	}
	/* A callback may have started TLS: no plain-text reads after that. */
	if (s->reading && (s->tls == TLS_ON || s->tls == TLS_OFF)) {
		got = fill_nowait(s, &failed);
		if (got > 0 && s->cb.on_read) {
			s->in_callback++;
			s->cb.on_read(s, s->cb_arg);
			if (callback_done(s))
				return;
		}
		if (failed || s->err != STREAM_OK)
			goto fail;
	}
out:
	if (s->err != STREAM_OK)
		goto fail;
	stream_update_events(s);
	return;
fail:
	report_error(s);
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	service(arg);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;

	(void)fd;
	(void)what;
	s->timer_at = 0;
	if (s->dead || s->error_reported)
		return;
	if (s->err != STREAM_OK || deadline_passed(s, event_for_read(s), event_for_write(s))) {
		report_error(s);
		return;
	}
	stream_update_events(s);
}

int
stream_attach(
        struct stream *s, struct event_base *base, const struct stream_callbacks *cb, void *arg)
{
	if (s->base != NULL)
		msg_panic("stream_attach: already attached");
	s->ev_read = event_new(base, s->fd, EV_READ | EV_PERSIST, on_io, s);
	s->ev_write = event_new(base, s->fd, EV_WRITE | EV_PERSIST, on_io, s);
	s->ev_timer = evtimer_new(base, on_timer, s);
	if (s->ev_read == NULL || s->ev_write == NULL || s->ev_timer == NULL) {
		if (s->ev_read)
			event_free(s->ev_read);
		if (s->ev_write)
			event_free(s->ev_write);
		if (s->ev_timer)
			event_free(s->ev_timer);
		s->ev_read = s->ev_write = s->ev_timer = NULL;
		return -1;
	}
	s->base = base;
	s->cb = *cb;
	s->cb_arg = arg;
	stream_update_events(s);
	return 0;
}

void
stream_set_reading(struct stream *s, int on)
{
	s->reading = on != 0;
	/* Register before activating (see input_taken). */
	stream_update_events(s);
	if (s->base && on && s->ssl && !s->dead && !s->err)
		event_active(s->ev_read, EV_READ, 1);
}
