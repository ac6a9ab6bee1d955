/*
 * stream_private.h - the inside of a stream, shared by stream.c (buffers,
 * events, deadlines) and stream_tls.c (OpenSSL).  Not for other modules:
 * they use stream.h.
 */
#ifndef TERN_STREAM_PRIVATE_H
#define TERN_STREAM_PRIVATE_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clock.h"
#include "stream.h"
#include "str.h"

enum stream_tls_state {
	TLS_OFF = 0,   /* plain text */
	TLS_FLUSHING,  /* writing the last plain-text output before the handshake */
	TLS_HANDSHAKE, /* handshake in progress */
	TLS_ON,        /* handshake done: all I/O through SSL */
};

/* What a non-blocking step needs next before it can go on. */
enum stream_want {
	WANT_NOTHING = 0,
	WANT_READABLE,
	WANT_WRITABLE,
};

struct stream {
	int fd;

	/* Input: bytes at in[in_off .. in_off + in_len). */
	char *in;
	size_t in_off;
	size_t in_len;
	size_t in_cap;
	size_t in_max;
	int discarding;    /* inside an over-long line: drop through LF */
	int input_stalled; /* the last fill stopped because the buffer was full */

	/* Output: bytes at out.data[out_off .. out.len). */
	struct str out;
	size_t out_off;
	size_t out_max;
	size_t plain_end; /* TLS_FLUSHING: output up to here goes out in plain text */
	int corked;

	/* TLS. */
	SSL *ssl;
	enum stream_tls_state tls;
	int is_server;
	enum stream_want handshake_want;
	int read_wants_write;
	int write_wants_read;

	/* Failure. */
	enum stream_error err;
	struct str err_text;
	int error_reported;

	/* Event mode. */
	struct event_base *base;
	struct event *ev_read;
	struct event *ev_write;
	struct event *ev_timer;
	int ev_read_on;
	int ev_write_on;
	long long timer_at;
	struct stream_callbacks cb;
	void *cb_arg;
	int reading;
	int in_callback;
	int dead;

	/* Deadlines, absolute monotonic milliseconds; 0 = none. */
	long long read_deadline;
	long long write_deadline;
	long long idle_ms;
	long long last_io;
	unsigned min_rate;
	long long rate_grace;
	long long rate_start;
	uint64_t rate_bytes0;

	uint64_t bytes_in;
	uint64_t bytes_out;
};

/* stream.c */
void stream_set_error(struct stream *s, enum stream_error why, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
int stream_wait(struct stream *s, enum stream_want want, int for_read, int for_write);
void stream_update_events(struct stream *s);
int stream_write_plain(struct stream *s, size_t limit);

/* stream_tls.c: non-blocking steps.  Each returns > 0 (bytes, or 1 for
 * done), 0 when it must wait (the want is recorded), -1 after
 * stream_set_error. */
ssize_t stream_tls_read(struct stream *s, char *buf, size_t n);
ssize_t stream_tls_write(struct stream *s, const char *buf, size_t n);
int stream_tls_handshake_step(struct stream *s);
void stream_tls_free(struct stream *s);
void stream_tls_shutdown(struct stream *s);

#endif
