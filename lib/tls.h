/*
 * tls.h - OpenSSL contexts for Tern's servers and clients.
 *
 * Every file (certificates, keys, CA file) is read when the context is
 * made, before a daemon chroots; nothing is read later.  Streams use the
 * contexts through stream_start_tls() (stream.h).
 *
 * Server: one or more certificate/key pairs.  The first is the default;
 * when a client sends SNI, the first pair whose certificate matches the
 * name (subjectAltName DNS names, wildcards in the leftmost label) is
 * used instead.  With a CA file the server asks for, but does not
 * require, client certificates, and records whether they verified.
 * Renegotiation and compression are off.
 *
 * Client: with a CA file, the server certificate is checked against it;
 * with verify set, a certificate that does not verify (or does not match
 * the name given to stream_start_tls) fails the handshake, otherwise the
 * result is only recorded (stream_tls_peer_verified).  An optional client
 * certificate is offered.
 *
 * Both: min_version 0 means TLS_DEFAULT_MIN_VERSION (TLS 1.2).  A minimum
 * below TLS 1.2 also lowers OpenSSL's security level to 0, since OpenSSL
 * 3 refuses TLS 1.0/1.1 signatures at any higher level.  ciphers (NULL:
 * OpenSSL's default) is the cipher list for TLS 1.2 and below.
 *
 * Functions return NULL or -1 on failure, with the reason (including
 * OpenSSL's error queue) appended to err.  Free a context with
 * SSL_CTX_free(); the SNI alternates go with it.
 */
#ifndef TERN_TLS_H
#define TERN_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "str.h"

#define TLS_DEFAULT_MIN_VERSION TLS1_2_VERSION
#define TLS_CERT_PAIRS_MAX      64 /* certificate/key pairs per server context */

struct tls_cert_pair {
	const char *cert_file; /* PEM: the certificate, then its chain */
	const char *key_file;  /* PEM private key */
};

struct tls_server_config {
	const struct tls_cert_pair *pairs;
	size_t npairs;
	int min_version;
	const char *ciphers;
	const char *ca_file; /* NULL: do not ask for client certificates */
};

struct tls_client_config {
	const char *ca_file; /* NULL: no trust anchors; nothing verifies */
	int verify;          /* fail the handshake unless the server verifies */
	int min_version;
	const char *ciphers;
	const char *cert_file; /* optional client certificate ... */
	const char *key_file;  /* ... and its key */
};

SSL_CTX *tls_server_ctx_new(const struct tls_server_config *config, struct str *err);
SSL_CTX *tls_client_ctx_new(const struct tls_client_config *config, struct str *err);

/* "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3" (case-insensitive; also
 * "TLSv1.0"); "" gives TLS_DEFAULT_MIN_VERSION. */
int tls_version_parse(const char *name, int *version, const char **why);
const char *tls_version_name(int version);

/* Append OpenSSL's error queue to err (emptying it). */
void tls_error_append(struct str *err);

#endif
