/*
 * stream.h - Tern's one buffered stream, for plain text and TLS.
 *
 * A stream owns one connected, non-blocking socket.  It reads into an
 * input buffer of bounded size and writes from an output buffer, either
 * on the descriptor directly or through OpenSSL (non-blocking SSL_read and
 * SSL_write, WANT_READ and WANT_WRITE handled in both directions).
 * docs/streams.md explains the rules; in short:
 *
 * Two ways to drive it, chosen per stream:
 *
 *   Event mode (smtpd, qmgr): stream_attach() registers the descriptor
 *   with the caller's libevent base.  The stream calls back on_read when
 *   new input was buffered, on_drained when its output buffer became
 *   empty, on_tls when a TLS handshake finished, and on_error once, with a
 *   reason, when the connection failed (EOF, I/O, TLS, a deadline, the
 *   data rate).  After on_error no callback follows.  Callbacks run only
 *   from the event loop, never from inside a stream_*() call, and any of
 *   them may free the stream.  The blocking calls below are bugs in this
 *   mode (msg_panic).
 *
 *   Blocking mode (a stream never attached; smtp, cleanup, local): the
 *   *_wait-style calls (stream_fill, stream_read_line, stream_read_exact,
 *   stream_flush, stream_start_tls) poll() until done, until a deadline
 *   passes or the connection fails.  They return -1 on failure, and
 *   stream_error()/stream_error_text() say why.
 *
 * Errors are sticky: once a stream failed, writes and reads of the
 * network return -1.  Input already buffered can still be taken.
 *
 * Lines: stream_get_line() returns one complete line including its
 * terminator exactly as received (CRLF, bare LF; a bare CR is not a
 * terminator and stays inside the line), so the caller can refuse what
 * it does not accept.  A line longer than the caller's maximum is
 * dropped, without being buffered, up to and including its LF, and then
 * reported once as STREAM_LINE_TOO_LONG.  The pointer returned stays
 * valid until the stream next reads from the network (the next blocking
 * read, or the return to the event loop).
 *
 * Deadlines are absolute: stream_set_read_deadline(s, ms) says that what
 * the caller waits for must be complete within ms from now; bytes that
 * trickle in do not extend it.  It applies while input is wanted (blocking
 * reads; event mode while reading is on) and to a TLS handshake.  The
 * write deadline applies while output is pending.  The idle timeout is
 * the classic one: it passes after ms without a byte moving either way.
 * stream_set_min_rate() enforces an average input rate over a transfer.
 * A value <= 0 clears a deadline or timeout.
 *
 * TLS: stream_start_tls() first discards all buffered input (what a peer
 * pipelined before the handshake, CVE-2011-0411) and stops reading plain
 * text; output already buffered (the "220 Ready to start TLS" reply) is
 * still written in plain text, then the handshake begins.  Bytes that
 * arrive from then on, including any that were waiting in the kernel, go
 * to the TLS engine, never to the input buffer as plain text.
 */
#ifndef TERN_STREAM_H
#define TERN_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct event_base;
struct stream;

#define STREAM_INPUT_MAX     (64 * 1024)   /* default input buffer limit, bytes */
#define STREAM_INPUT_INITIAL 4096          /* first allocation; grows to the limit */
#define STREAM_OUTPUT_MAX    (1024 * 1024) /* default output buffer limit, bytes */

enum stream_error {
	STREAM_OK = 0,
	STREAM_ERR_EOF,     /* the peer closed the connection */
	STREAM_ERR_IO,      /* a system call failed (reset, broken pipe, ...) */
	STREAM_ERR_TLS,     /* TLS handshake or record layer failure */
	STREAM_ERR_TIMEOUT, /* a read or write deadline or the idle timeout passed */
	STREAM_ERR_SLOW,    /* input fell below the minimum data rate */
};

enum stream_line_status {
	STREAM_LINE_NONE = 0,    /* no complete line is buffered yet */
	STREAM_LINE_OK = 1,      /* *line, *len hold one line with its terminator */
	STREAM_LINE_TOO_LONG = 2 /* a line over the maximum was discarded through its LF */
};

struct stream_callbacks {
	void (*on_read)(struct stream *s, void *arg);
	void (*on_drained)(struct stream *s, void *arg);
	void (*on_tls)(struct stream *s, void *arg);
	void (*on_error)(struct stream *s, enum stream_error why, void *arg);
};

/* Life cycle.  stream_new takes the descriptor (made non-blocking) and
 * closes it in stream_free.  input_max 0 means STREAM_INPUT_MAX.
 * stream_close sends a TLS close_notify when it can without waiting, then
 * frees.  Both are safe inside the stream's own callbacks. */
struct stream *stream_new(int fd, size_t input_max);
void stream_free(struct stream *s);
void stream_close(struct stream *s);
int stream_fd(const struct stream *s);
void stream_set_output_max(struct stream *s, size_t output_max);

/* Event mode.  Returns 0, or -1 when libevent cannot register the fd. */
int stream_attach(
        struct stream *s, struct event_base *base, const struct stream_callbacks *cb, void *arg);
void stream_set_reading(struct stream *s, int on);

/* Input already buffered: never blocks.  max is the longest line
 * accepted, terminator included (0 or more than input_max: input_max). */
int stream_get_line(struct stream *s, size_t max, const char **line, size_t *len);
const char *stream_peek(const struct stream *s, size_t *len);
void stream_consume(struct stream *s, size_t n);
size_t stream_read_bytes(struct stream *s, void *buf, size_t n);
void stream_discard_input(struct stream *s);

/* Blocking input.  stream_fill returns the number of bytes added (> 0),
 * 0 when the input buffer is full, -1 on failure.  stream_read_line
 * returns STREAM_LINE_OK or STREAM_LINE_TOO_LONG, or -1 on failure. */
int stream_fill(struct stream *s);
int stream_read_line(struct stream *s, size_t max, const char **line, size_t *len);
int stream_read_exact(struct stream *s, void *buf, size_t n);

/* Output.  stream_write appends; in blocking mode it flushes first when
 * the buffer would pass its limit; in event mode it returns -1 (errno
 * ENOBUFS, the stream stays usable) instead.  Event mode writes when the
 * socket is writable, so the replies to pipelined commands made in one
 * callback leave together; stream_cork holds all output until
 * stream_uncork or stream_flush.  Blocking stream_flush writes all
 * pending output, under the write deadline. */
int stream_write(struct stream *s, const void *p, size_t n);
__attribute__((format(printf, 2, 3))) int stream_printf(struct stream *s, const char *fmt, ...);
int stream_flush(struct stream *s);
void stream_cork(struct stream *s);
void stream_uncork(struct stream *s);
size_t stream_output_pending(const struct stream *s);

/* Deadlines, in milliseconds from now; <= 0 clears. */
void stream_set_read_deadline(struct stream *s, int ms);
void stream_set_write_deadline(struct stream *s, int ms);
void stream_set_idle_timeout(struct stream *s, int ms);

/* Data rate.  stream_rate_start marks the start of a transfer; the two
 * counters report plaintext bytes read and milliseconds since then.
 * stream_set_min_rate(s, r, grace_ms) also marks a start and then fails
 * the stream (STREAM_ERR_SLOW) once bytes_read < r * (elapsed - grace),
 * i.e. the average since the start fell below r bytes/s after a grace
 * period.  r == 0 turns the check off. */
void stream_rate_start(struct stream *s);
uint64_t stream_rate_bytes(const struct stream *s);
long long stream_rate_elapsed_ms(const struct stream *s);
void stream_set_min_rate(struct stream *s, unsigned bytes_per_sec, int grace_ms);

/* Counters of plaintext bytes moved since stream_new. */
uint64_t stream_bytes_in(const struct stream *s);
uint64_t stream_bytes_out(const struct stream *s);

enum stream_error stream_error(const struct stream *s);
const char *stream_error_text(const struct stream *s);
const char *stream_error_name(enum stream_error why);

/*
 * TLS (stream_tls.c).  stream_start_tls makes an SSL from ctx; a client
 * sends sni_hostname (unless it is an IP address) and checks the server
 * certificate against it.  stream_start_tls_ssl takes a caller-made SSL
 * (for DANE and the like) and owns it from then on.  Blocking mode: the
 * handshake completes (0) or fails (-1) before the call returns.  Event
 * mode: 0 means started, and on_tls or on_error follows.  -1 leaves the
 * stream failed: STREAM_ERR_TLS, or a timeout (the read deadline and idle
 * timeout apply to the handshake; set one, or a silent peer waits forever).
 */
int stream_start_tls(struct stream *s, SSL_CTX *ctx, int is_server, const char *sni_hostname);
int stream_start_tls_ssl(struct stream *s, SSL *ssl, int is_server);
int stream_tls_active(const struct stream *s);
const char *stream_tls_version(const struct stream *s);
const char *stream_tls_cipher(const struct stream *s);
int stream_tls_cipher_bits(const struct stream *s);
int stream_tls_peer_has_cert(const struct stream *s);
long stream_tls_verify_result(const struct stream *s);
int stream_tls_peer_verified(const struct stream *s);
const char *stream_tls_sni(const struct stream *s);
SSL *stream_ssl(const struct stream *s);

#endif
