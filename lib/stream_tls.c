/*
 * stream_tls.c - the TLS half of a stream (stream.h): starting TLS on a
 * connected stream, non-blocking handshake, SSL_read and SSL_write steps
 * with WANT_READ/WANT_WRITE in both directions, and what the session
 * negotiated.  stream.c calls the steps from its loops and events.
 *
 * OpenSSL talks to the socket through a small BIO of our own that uses
 * send(MSG_NOSIGNAL) and recv(), so a peer that resets the connection can
 * never raise SIGPIPE.  Trusts nothing from the peer; what the handshake
 * verified is reported, and acting on it is the caller's policy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "msg.h"
#include "stream_private.h"

#define TLS_ERROR_TEXT_MAX 512 /* bytes of OpenSSL error text kept per failure */

/*
 * The socket BIO.
 */

static int
bio_fd(BIO *b)
{
	return (int)(intptr_t)BIO_get_data(b);
}

static int
bio_sock_write(BIO *b, const char *p, int n)
{
	ssize_t r;

	BIO_clear_retry_flags(b);
	do {
		r = send(bio_fd(b), p, (size_t)n, MSG_NOSIGNAL);
		if (r < 0 && errno == ENOTSOCK)
			r = write(bio_fd(b), p, (size_t)n);
	} while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_write(b);
	return (int)r;
}

static int
bio_sock_read(BIO *b, char *p, int n)
{
	ssize_t r;

	BIO_clear_retry_flags(b);
	do {
		r = recv(bio_fd(b), p, (size_t)n, 0);
		if (r < 0 && errno == ENOTSOCK)
			r = read(bio_fd(b), p, (size_t)n);
	} while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_read(b);
	return (int)r;
}

static long
bio_sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_C_GET_FD:
		if (ptr != NULL)
			*(int *)ptr = bio_fd(b);
		return bio_fd(b);
	default:
		return 0;
	}
}

static int
bio_sock_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

/* Made once and kept for the life of the process (TLS is started from one
 * thread in every Tern process). */
static BIO_METHOD *
bio_method(void)
{
	static BIO_METHOD *method;

	if (method != NULL)
		return method;
	method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
	        "tern stream socket");
	if (method == NULL || !BIO_meth_set_write(method, bio_sock_write) ||
	        !BIO_meth_set_read(method, bio_sock_read) ||
	        !BIO_meth_set_ctrl(method, bio_sock_ctrl) ||
	        !BIO_meth_set_create(method, bio_sock_create))
		msg_fatal("stream: cannot create the OpenSSL socket method");
	return method;
}

/*
 * Failures.
 */

/* The OpenSSL error queue as one line (emptied). */
static void
ssl_error_text(char *buf, size_t size)
{
	unsigned long e;
	size_t used = 0;
	char one[256];

	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, one, sizeof(one));
		if (used + strlen(one) + 3 >= size)
			continue;
		if (used > 0) {
			memcpy(buf + used, "; ", 2);
			used += 2;
		}
		memcpy(buf + used, one, strlen(one) + 1);
		used += strlen(one);
	}
	if (used == 0)
		snprintf(buf, size, "unknown TLS error");
}

/* Record why an SSL call failed; always returns -1. */
static int
tls_fail(struct stream *s, int ssl_err, int saved_errno, const char *during)
{
	char text[TLS_ERROR_TEXT_MAX];
	long vr;

	if (ssl_err == SSL_ERROR_ZERO_RETURN ||
	        (ssl_err == SSL_ERROR_SYSCALL && saved_errno == 0)) {
		ERR_clear_error();
		if (s->tls == TLS_HANDSHAKE)
			stream_set_error(
			        s, STREAM_ERR_TLS, "%s: connection closed by peer", during);
		else
			stream_set_error(s, STREAM_ERR_EOF, "connection closed by peer");
		return -1;
	}
	if (ssl_err == SSL_ERROR_SYSCALL) {
		ERR_clear_error();
		stream_set_error(s, s->tls == TLS_HANDSHAKE ? STREAM_ERR_TLS : STREAM_ERR_IO,
		        "%s: %s", during, strerror(saved_errno));
		return -1;
	}
	ssl_error_text(text, sizeof(text));
	vr = SSL_get_verify_result(s->ssl);
	if (s->tls == TLS_HANDSHAKE && vr != X509_V_OK)
		stream_set_error(s, STREAM_ERR_TLS, "%s: %s (certificate: %s)", during, text,
		        X509_verify_cert_error_string(vr));
	else
		stream_set_error(s, STREAM_ERR_TLS, "%s: %s", during, text);
	return -1;
}

/*
 * Steps, called by stream.c.
 */

ssize_t
stream_tls_read(struct stream *s, char *buf, size_t n)
{
	int r, e;

	if (n > INT_MAX)
		n = INT_MAX;
	ERR_clear_error();
	errno = 0;
	r = SSL_read(s->ssl, buf, (int)n);
	s->read_wants_write = 0;
	if (r > 0)
		return r;
	e = SSL_get_error(s->ssl, r);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		return 0;
	case SSL_ERROR_WANT_WRITE:
		s->read_wants_write = 1;
		return 0;
	default:
		return tls_fail(s, e, errno, "TLS read");
	}
}

ssize_t
stream_tls_write(struct stream *s, const char *buf, size_t n)
{
	int r, e;

	if (n > INT_MAX)
		n = INT_MAX;
	ERR_clear_error();
	errno = 0;
	r = SSL_write(s->ssl, buf, (int)n);
	s->write_wants_read = 0;
	if (r > 0)
		return r;
	e = SSL_get_error(s->ssl, r);
	switch (e) {
	case SSL_ERROR_WANT_WRITE:
		return 0;
	case SSL_ERROR_WANT_READ:
		s->write_wants_read = 1;
		return 0;
	default:
		return tls_fail(s, e, errno, "TLS write");
	}
}

int
stream_tls_handshake_step(struct stream *s)
{
	int r, e;

	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(s->ssl);
	if (r == 1) {
		s->tls = TLS_ON;
		s->handshake_want = WANT_NOTHING;
		s->last_io = clock_ms();
		return 1;
	}
	e = SSL_get_error(s->ssl, r);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		s->handshake_want = WANT_READABLE;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		s->handshake_want = WANT_WRITABLE;
		return 0;
	default:
		return tls_fail(s, e, errno, "TLS handshake");
	}
}

void
stream_tls_shutdown(struct stream *s)
{
	if (s->ssl == NULL || s->tls != TLS_ON || s->err != STREAM_OK)
		return;
	ERR_clear_error();
	(void)SSL_shutdown(s->ssl);
	ERR_clear_error();
}

void
stream_tls_free(struct stream *s)
{
	if (s->ssl != NULL)
		SSL_free(s->ssl);
	s->ssl = NULL;
}

/*
 * Starting TLS.
 */

static int
blocking_handshake(struct stream *s)
{
	int r;

	while (s->tls == TLS_FLUSHING) {
		r = stream_write_plain(s, s->plain_end);
		if (r < 0)
			return -1;
		if (r > 0)
			s->tls = TLS_HANDSHAKE;
		else if (stream_wait(s, WANT_WRITABLE, 1, 1) < 0)
			return -1;
	}
	for (;;) {
		r = stream_tls_handshake_step(s);
		if (r > 0)
			return 0;
		if (r < 0)
			return -1;
		if (stream_wait(s, s->handshake_want, 1, 1) < 0)
			return -1;
	}
}

int
stream_start_tls_ssl(struct stream *s, SSL *ssl, int is_server)
{
	BIO *bio;

	if (s->err != STREAM_OK || s->ssl != NULL) {
		SSL_free(ssl);
		stream_set_error(s, STREAM_ERR_TLS, "TLS already started");
		stream_update_events(s);
		return -1;
	}
	bio = BIO_new(bio_method());
	if (bio == NULL) {
		SSL_free(ssl);
		stream_set_error(s, STREAM_ERR_TLS, "cannot make a TLS socket BIO");
		stream_update_events(s);
		return -1;
	}
	BIO_set_data(bio, (void *)(intptr_t)s->fd);
	SSL_set_bio(ssl, bio, bio);
	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (is_server)
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	s->ssl = ssl;
	s->is_server = is_server;

	/* What the peer sent before the handshake is never a command. */
	stream_discard_input(s);
	s->read_wants_write = 0;
	s->write_wants_read = 0;
	s->plain_end = s->out.len;
	s->tls = s->out_off < s->plain_end ? TLS_FLUSHING : TLS_HANDSHAKE;
	s->handshake_want = is_server ? WANT_READABLE : WANT_WRITABLE;
	if (s->base != NULL) {
		stream_update_events(s);
		return 0;
	}
	return blocking_handshake(s);
}

static int
is_ip_address(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

int
stream_start_tls(struct stream *s, SSL_CTX *ctx, int is_server, const char *sni_hostname)
{
	char text[TLS_ERROR_TEXT_MAX];
	SSL *ssl;
	int ok = 1;

	if (s->err != STREAM_OK)
		return -1;
	ERR_clear_error();
	ssl = SSL_new(ctx);
	if (ssl == NULL) {
		ssl_error_text(text, sizeof(text));
		stream_set_error(s, STREAM_ERR_TLS, "SSL_new: %s", text);
		stream_update_events(s);
		return -1;
	}
	if (!is_server && sni_hostname != NULL && *sni_hostname != '\0') {
		if (is_ip_address(sni_hostname)) {
			ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), sni_hostname);
		} else {
			ok = SSL_set_tlsext_host_name(ssl, sni_hostname) &&
			        SSL_set1_host(ssl, sni_hostname);
		}
	}
	if (!ok) {
		ssl_error_text(text, sizeof(text));
		SSL_free(ssl);
		stream_set_error(s, STREAM_ERR_TLS, "TLS server name %s: %s", sni_hostname, text);
		stream_update_events(s);
		return -1;
	}
	return stream_start_tls_ssl(s, ssl, is_server);
}

/*
 * What was negotiated.
 */

int
stream_tls_active(const struct stream *s)
{
	return s->ssl != NULL && s->tls == TLS_ON;
}

const char *
stream_tls_version(const struct stream *s)
{
	return stream_tls_active(s) ? SSL_get_version(s->ssl) : NULL;
}

const char *
stream_tls_cipher(const struct stream *s)
{
	return stream_tls_active(s) ? SSL_get_cipher_name(s->ssl) : NULL;
}

int
stream_tls_cipher_bits(const struct stream *s)
{
	return stream_tls_active(s) ? SSL_get_cipher_bits(s->ssl, NULL) : 0;
}

int
stream_tls_peer_has_cert(const struct stream *s)
{
	return stream_tls_active(s) && SSL_get0_peer_certificate(s->ssl) != NULL;
}

long
stream_tls_verify_result(const struct stream *s)
{
	if (!stream_tls_active(s))
		return X509_V_ERR_UNSPECIFIED;
	return SSL_get_verify_result(s->ssl);
}

int
stream_tls_peer_verified(const struct stream *s)
{
	return stream_tls_peer_has_cert(s) && SSL_get_verify_result(s->ssl) == X509_V_OK;
}

const char *
stream_tls_sni(const struct stream *s)
{
	if (s->ssl == NULL || !s->is_server)
		return NULL;
	return SSL_get_servername(s->ssl, TLSEXT_NAMETYPE_host_name);
}

SSL *
stream_ssl(const struct stream *s)
{
	return s->ssl;
}
