/*
 * test_stream_tls.c - TLS on the buffered stream and the contexts of
 * tls.c: handshakes in event mode (both ends in one event loop) and in
 * blocking mode (the client in a child process), data both ways, SNI
 * certificate selection, verification results, TLS 1.1 refused by
 * default, garbage instead of a ClientHello, and the STARTTLS discard
 * rule for bytes in the stream's buffer and in the kernel.  A test CA and
 * certificates are made at the start of each test with OpenSSL's API.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "stream.h"
#include "tls.h"

/*
 * A small PKI in a temporary directory.
 */

struct pki {
	char dir[64];
	char ca[128];
	char mx_cert[128], mx_key[128];       /* mx.example, localhost, 127.0.0.1 */
	char other_cert[128], other_key[128]; /* other.example, *.wild.example */
};

static EVP_PKEY *
make_key(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");

	cr_assert_not_null(key);
	return key;
}

static void
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	cr_assert_not_null(ext, "extension %s", value);
	cr_assert(X509_add_ext(cert, ext, -1));
	X509_EXTENSION_free(ext);
}

static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, const char *san)
{
	static long serial = 1;
	X509 *cert = X509_new();

	cr_assert_not_null(cert);
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
	        (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(cert, X509_get_subject_name(issuer ? issuer : cert));
	X509_set_pubkey(cert, key);
	add_ext(cert, issuer ? issuer : cert, NID_subject_key_identifier, "hash");
	if (issuer == NULL) {
		add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(cert, issuer, NID_basic_constraints, "CA:FALSE");
		add_ext(cert, issuer, NID_authority_key_identifier, "keyid");
		add_ext(cert, issuer, NID_subject_alt_name, san);
		add_ext(cert, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
	}
	cr_assert(X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	return cert;
}

static void
write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	if (cert)
		cr_assert(PEM_write_X509(f, cert));
	if (key)
		cr_assert(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
	fclose(f);
}

static void
pki_make(struct pki *p)
{
	EVP_PKEY *ca_key, *mx_key, *other_key;
	X509 *ca, *mx, *other;

	snprintf(p->dir, sizeof(p->dir), "/tmp/tern-test-tls-XXXXXX");
	cr_assert_not_null(mkdtemp(p->dir));
	snprintf(p->ca, sizeof(p->ca), "%s/ca.pem", p->dir);
	snprintf(p->mx_cert, sizeof(p->mx_cert), "%s/mx.pem", p->dir);
	snprintf(p->mx_key, sizeof(p->mx_key), "%s/mx.key", p->dir);
	snprintf(p->other_cert, sizeof(p->other_cert), "%s/other.pem", p->dir);
	snprintf(p->other_key, sizeof(p->other_key), "%s/other.key", p->dir);
	ca_key = make_key();
	mx_key = make_key();
	other_key = make_key();
	ca = make_cert(ca_key, "Tern Test CA", NULL, NULL, NULL);
	mx = make_cert(
	        mx_key, "mx.example", ca, ca_key, "DNS:mx.example,DNS:localhost,IP:127.0.0.1");
	other = make_cert(
	        other_key, "other.example", ca, ca_key, "DNS:other.example,DNS:*.wild.example");
	write_pem(p->ca, ca, NULL);
	write_pem(p->mx_cert, mx, NULL);
	write_pem(p->mx_key, NULL, mx_key);
	write_pem(p->other_cert, other, NULL);
	write_pem(p->other_key, NULL, other_key);
	X509_free(ca);
	X509_free(mx);
	X509_free(other);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(mx_key);
	EVP_PKEY_free(other_key);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
pki_remove(struct pki *p)
{
	nftw(p->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static SSL_CTX *
server_ctx(struct pki *p, int with_other, int min_version)
{
	struct tls_cert_pair pairs[2] = {
	        {p->mx_cert, p->mx_key},
	        {p->other_cert, p->other_key},
	};
	struct tls_server_config c = {pairs, with_other ? 2 : 1, min_version, NULL, NULL};
	struct str err = STR_INIT;
	SSL_CTX *ctx;

	ctx = tls_server_ctx_new(&c, &err);
	cr_assert_not_null(ctx, "%s", str_cstr(&err));
	str_free(&err);
	return ctx;
}

static SSL_CTX *
client_ctx(struct pki *p, int verify)
{
	struct tls_client_config c = {p->ca, verify, 0, NULL, NULL, NULL};
	struct str err = STR_INIT;
	SSL_CTX *ctx;

	ctx = tls_client_ctx_new(&c, &err);
	cr_assert_not_null(ctx, "%s", str_cstr(&err));
	str_free(&err);
	return ctx;
}

/*
 * Both ends in one event loop.
 */

struct end {
	struct stream *s;
	int tls_done;
	int errors;
	enum stream_error why;
	char err_text[512];
	char lines[4096];
	int starttls_on_line; /* server: reply 220 and start TLS on "STARTTLS" */
	int starttls_on_220;  /* client: start TLS when the 220 arrives */
	SSL_CTX *ctx;
	const char *sni;
	const char *send_on_tls;
	int free_on_tls;
	size_t bulk_want; /* read this many bytes of bulk data, then stop */
	size_t bulk_got;
};

struct duo {
	struct event_base *base;
	struct end server;
	struct end client;
	int done_when_client_has;
};

static struct duo *the_duo;

static void
end_on_read(struct stream *s, void *arg)
{
	struct end *e = arg;
	const char *line;
	size_t len;
	char buf[65536];
	size_t n;

	if (e->bulk_want) {
		while ((n = stream_read_bytes(s, buf, sizeof(buf))) > 0)
			e->bulk_got += n;
		if (e->bulk_got >= e->bulk_want)
			event_base_loopbreak(the_duo->base);
		return;
	}
	while (stream_get_line(s, 0, &line, &len) == STREAM_LINE_OK) {
		strncat(e->lines, line, len);
		if (e->starttls_on_line && len == 10 && memcmp(line, "STARTTLS\r\n", 10) == 0) {
			stream_printf(s, "220 2.0.0 go ahead\r\n");
			cr_assert_eq(stream_start_tls(s, e->ctx, 1, NULL), 0);
			return;
		}
		if (e->starttls_on_220 && len >= 4 && memcmp(line, "220 ", 4) == 0) {
			cr_assert_eq(stream_start_tls(s, e->ctx, 0, e->sni), 0);
			return;
		}
		if (e == &the_duo->server)
			stream_printf(s, "echo %.*s", (int)len, line);
		if (e == &the_duo->client && the_duo->done_when_client_has &&
		        strstr(e->lines, "echo QUIT\r\n") != NULL)
			event_base_loopbreak(the_duo->base);
	}
}

static void
end_on_tls(struct stream *s, void *arg)
{
	struct end *e = arg;

	e->tls_done = 1;
	if (e->free_on_tls) {
		stream_free(s);
		e->s = NULL;
		event_base_loopbreak(the_duo->base);
		return;
	}
	if (e->send_on_tls)
		stream_printf(s, "%s", e->send_on_tls);
}

static void
end_on_error(struct stream *s, enum stream_error why, void *arg)
{
	struct end *e = arg;

	e->errors++;
	e->why = why;
	snprintf(e->err_text, sizeof(e->err_text), "%s", stream_error_text(s));
	event_base_loopbreak(the_duo->base);
}

static const struct stream_callbacks end_callbacks = {
        end_on_read,
        NULL,
        end_on_tls,
        end_on_error,
};

static void
duo_setup(struct duo *d)
{
	int fds[2];

	memset(d, 0, sizeof(*d));
	the_duo = d;
	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	d->base = event_base_new();
	d->server.s = stream_new(fds[0], 0);
	d->client.s = stream_new(fds[1], 0);
	cr_assert_eq(stream_attach(d->server.s, d->base, &end_callbacks, &d->server), 0);
	cr_assert_eq(stream_attach(d->client.s, d->base, &end_callbacks, &d->client), 0);
	stream_set_read_deadline(d->server.s, 10000);
	stream_set_read_deadline(d->client.s, 10000);
}

static void
duo_run(struct duo *d)
{
	event_base_dispatch(d->base);
}

static void
duo_teardown(struct duo *d)
{
	stream_free(d->server.s);
	stream_free(d->client.s);
	event_base_free(d->base);
}

static char *
peer_cn(struct stream *s, char *buf, size_t size)
{
	X509 *cert = SSL_get0_peer_certificate(stream_ssl(s));

	cr_assert_not_null(cert);
	X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, (int)size);
	return buf;
}

Test(stream_tls, event_mode_handshake_and_data)
{
	struct pki p;
	struct duo d;
	SSL_CTX *sctx, *cctx;
	char cn[128];

	pki_make(&p);
	sctx = server_ctx(&p, 0, 0);
	cctx = client_ctx(&p, 1);
	duo_setup(&d);
	d.client.send_on_tls = "EHLO client.example\r\nQUIT\r\n";
	d.done_when_client_has = 1;
	cr_assert_eq(stream_start_tls(d.server.s, sctx, 1, NULL), 0);
	cr_assert_eq(stream_start_tls(d.client.s, cctx, 0, "mx.example"), 0);
	cr_assert_not(stream_tls_active(d.client.s), "event mode: not done yet");
	duo_run(&d);
	cr_assert_eq(d.server.errors + d.client.errors, 0, "%s / %s", d.server.err_text,
	        d.client.err_text);
	cr_assert(d.server.tls_done && d.client.tls_done);
	cr_assert_str_eq(d.server.lines, "EHLO client.example\r\nQUIT\r\n");
	cr_assert_str_eq(d.client.lines, "echo EHLO client.example\r\necho QUIT\r\n");
	cr_assert_str_eq(stream_tls_version(d.server.s), "TLSv1.3");
	cr_assert_str_eq(stream_tls_version(d.client.s), "TLSv1.3");
	cr_assert_str_eq(stream_tls_cipher(d.server.s), stream_tls_cipher(d.client.s));
	cr_assert(stream_tls_cipher_bits(d.server.s) >= 128);
	cr_assert_str_eq(stream_tls_sni(d.server.s), "mx.example");
	cr_assert(stream_tls_peer_verified(d.client.s));
	cr_assert_eq(stream_tls_verify_result(d.client.s), X509_V_OK);
	cr_assert_not(stream_tls_peer_has_cert(d.server.s), "no client certificate asked");
	cr_assert_str_eq(peer_cn(d.client.s, cn, sizeof(cn)), "mx.example");
	duo_teardown(&d);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	pki_remove(&p);
}

Test(stream_tls, bulk_data_both_ways)
{
	struct pki p;
	struct duo d;
	SSL_CTX *sctx, *cctx;
	static char big[900000];

	pki_make(&p);
	sctx = server_ctx(&p, 0, 0);
	cctx = client_ctx(&p, 1);
	duo_setup(&d);
	memset(big, 'q', sizeof(big));
	cr_assert_eq(stream_start_tls(d.server.s, sctx, 1, NULL), 0);
	cr_assert_eq(stream_start_tls(d.client.s, cctx, 0, "localhost"), 0);
	/* Written before the handshake ends: it must go out encrypted after. */
	cr_assert_eq(stream_write(d.client.s, big, sizeof(big)), 0);
	d.server.bulk_want = sizeof(big);
	duo_run(&d);
	cr_assert_eq(d.server.errors + d.client.errors, 0, "%s", d.server.err_text);
	cr_assert_eq(d.server.bulk_got, sizeof(big));
	cr_assert_eq(stream_bytes_in(d.server.s), sizeof(big));
	cr_assert_eq(stream_write(d.server.s, big, sizeof(big)), 0);
	d.client.bulk_want = sizeof(big);
	duo_run(&d);
	cr_assert_eq(d.client.bulk_got, sizeof(big));
	cr_assert_eq(stream_bytes_out(d.server.s), sizeof(big));
	duo_teardown(&d);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	pki_remove(&p);
}

static void
sni_case(struct pki *p, const char *sni, const char *want_cn, int want_verified)
{
	struct duo d;
	SSL_CTX *sctx, *cctx;
	char cn[128];

	sctx = server_ctx(p, 1, 0);
	cctx = client_ctx(p, 0);
	duo_setup(&d);
	d.client.send_on_tls = "QUIT\r\n";
	d.done_when_client_has = 1;
	cr_assert_eq(stream_start_tls(d.server.s, sctx, 1, NULL), 0);
	cr_assert_eq(stream_start_tls(d.client.s, cctx, 0, sni), 0);
	duo_run(&d);
	cr_assert_eq(d.server.errors + d.client.errors, 0, "%s", d.client.err_text);
	cr_assert_str_eq(peer_cn(d.client.s, cn, sizeof(cn)), want_cn, "SNI %s", sni);
	cr_assert_eq(stream_tls_peer_verified(d.client.s), want_verified, "SNI %s", sni);
	cr_assert_str_eq(stream_tls_sni(d.server.s), sni);
	duo_teardown(&d);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

Test(stream_tls, sni_selects_certificate)
{
	struct pki p;

	pki_make(&p);
	sni_case(&p, "other.example", "other.example", 1);
	sni_case(&p, "a.wild.example", "other.example", 1);
	sni_case(&p, "mx.example", "mx.example", 1);
	/* Unknown name: the default certificate, which does not verify. */
	sni_case(&p, "unknown.example", "mx.example", 0);
	pki_remove(&p);
}

Test(stream_tls, verification_failure_recorded_or_fatal)
{
	struct pki p;
	struct duo d;
	SSL_CTX *sctx, *cctx;

	pki_make(&p);
	sctx = server_ctx(&p, 0, 0);

	/* Recorded only. */
	cctx = client_ctx(&p, 0);
	duo_setup(&d);
	d.client.send_on_tls = "QUIT\r\n";
	d.done_when_client_has = 1;
	stream_start_tls(d.server.s, sctx, 1, NULL);
	stream_start_tls(d.client.s, cctx, 0, "wrong.example");
	duo_run(&d);
	cr_assert_eq(d.client.errors, 0);
	cr_assert(stream_tls_peer_has_cert(d.client.s));
	cr_assert_not(stream_tls_peer_verified(d.client.s));
	cr_assert_eq(stream_tls_verify_result(d.client.s), X509_V_ERR_HOSTNAME_MISMATCH);
	duo_teardown(&d);
	SSL_CTX_free(cctx);

	/* Required: the handshake fails. */
	cctx = client_ctx(&p, 1);
	duo_setup(&d);
	stream_start_tls(d.server.s, sctx, 1, NULL);
	stream_start_tls(d.client.s, cctx, 0, "wrong.example");
	duo_run(&d);
	cr_assert_eq(d.client.errors, 1);
	cr_assert_eq(d.client.why, STREAM_ERR_TLS);
	cr_assert(strstr(d.client.err_text, "hostname mismatch") != NULL, "%s", d.client.err_text);
	cr_assert_not(d.client.tls_done);
	duo_teardown(&d);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	pki_remove(&p);
}

static void
tls11_case(struct pki *p, int server_min, int want_ok)
{
	struct tls_client_config cc = {p->ca, 0, TLS1_1_VERSION, NULL, NULL, NULL};
	struct str err = STR_INIT;
	struct duo d;
	SSL_CTX *sctx, *cctx;

	sctx = server_ctx(p, 0, server_min);
	cctx = tls_client_ctx_new(&cc, &err);
	cr_assert_not_null(cctx, "%s", str_cstr(&err));
	cr_assert(SSL_CTX_set_max_proto_version(cctx, TLS1_1_VERSION));
	duo_setup(&d);
	d.client.send_on_tls = "QUIT\r\n";
	d.done_when_client_has = 1;
	stream_start_tls(d.server.s, sctx, 1, NULL);
	stream_start_tls(d.client.s, cctx, 0, "mx.example");
	duo_run(&d);
	if (want_ok) {
		cr_assert_eq(d.client.errors + d.server.errors, 0, "%s", d.server.err_text);
		cr_assert_str_eq(stream_tls_version(d.server.s), "TLSv1.1");
	} else {
		cr_assert(d.server.errors == 1 || d.client.errors == 1);
		cr_assert(d.server.why == STREAM_ERR_TLS || d.client.why == STREAM_ERR_TLS);
		cr_assert_not(d.server.tls_done);
	}
	duo_teardown(&d);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	str_free(&err);
}

Test(stream_tls, tls11_refused_by_default)
{
	struct pki p;

	pki_make(&p);
	tls11_case(&p, 0, 0);
	/* The same client succeeds when the minimum is lowered on purpose. */
	tls11_case(&p, TLS1_1_VERSION, 1);
	pki_remove(&p);
}

Test(stream_tls, garbage_instead_of_client_hello)
{
	struct pki p;
	struct duo d;
	SSL_CTX *sctx;

	pki_make(&p);
	sctx = server_ctx(&p, 0, 0);
	duo_setup(&d);
	cr_assert_eq(stream_start_tls(d.server.s, sctx, 1, NULL), 0);
	stream_printf(d.client.s, "EHLO i.do.not.speak.tls\r\n");
	duo_run(&d);
	cr_assert_eq(d.server.errors, 1);
	cr_assert_eq(
	        d.server.why, STREAM_ERR_TLS, "an error, not a timeout: %s", d.server.err_text);
	cr_assert_str_eq(d.server.lines, "");
	duo_teardown(&d);
	SSL_CTX_free(sctx);
	pki_remove(&p);
}

Test(stream_tls, starttls_discards_pipelined_input)
{
	struct pki p;
	struct duo d;
	SSL_CTX *sctx, *cctx;

	pki_make(&p);
	sctx = server_ctx(&p, 0, 0);
	cctx = client_ctx(&p, 1);
	duo_setup(&d);
	d.server.starttls_on_line = 1;
	d.server.ctx = sctx;
	d.client.starttls_on_220 = 1;
	d.client.ctx = cctx;
	d.client.sni = "mx.example";
	d.client.send_on_tls = "EHLO again\r\nQUIT\r\n";
	d.done_when_client_has = 1;
	/* One write: the injected command sits in the server's buffer. */
	stream_printf(d.client.s, "STARTTLS\r\nMAIL FROM:<injected@example>\r\n");
	duo_run(&d);
	cr_assert_eq(d.server.errors + d.client.errors, 0, "%s", d.server.err_text);
	cr_assert_str_eq(d.server.lines, "STARTTLS\r\nEHLO again\r\nQUIT\r\n");
	cr_assert_str_eq(d.client.lines, "220 2.0.0 go ahead\r\necho EHLO again\r\necho QUIT\r\n");
	cr_assert(stream_tls_active(d.server.s));
	duo_teardown(&d);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	pki_remove(&p);
}

Test(stream_tls, starttls_kernel_bytes_never_become_commands)
{
	struct pki p;
	struct duo d;
	SSL_CTX *sctx, *cctx;
	const char *line;
	size_t len;
	int fds[2];

	pki_make(&p);
	sctx = server_ctx(&p, 0, 0);
	cctx = client_ctx(&p, 0);
	memset(&d, 0, sizeof(d));
	the_duo = &d;
	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	d.server.s = stream_new(fds[0], 0);
	d.client.s = stream_new(fds[1], 0);

	/* The server reads STARTTLS alone; then more plain text arrives
	 * into the kernel buffer before the handshake starts. */
	cr_assert_eq(write(fds[1], "STARTTLS\r\n", 10), 10);
	cr_assert_eq(stream_read_line(d.server.s, 0, &line, &len), STREAM_LINE_OK);
	cr_assert_eq(write(fds[1], "RSET\r\n", 6), 6);

	d.base = event_base_new();
	cr_assert_eq(stream_attach(d.server.s, d.base, &end_callbacks, &d.server), 0);
	cr_assert_eq(stream_attach(d.client.s, d.base, &end_callbacks, &d.client), 0);
	stream_set_read_deadline(d.server.s, 10000);
	stream_set_read_deadline(d.client.s, 10000);
	d.client.starttls_on_220 = 1;
	d.client.ctx = cctx;
	d.client.sni = "mx.example";
	stream_printf(d.server.s, "220 2.0.0 go ahead\r\n");
	cr_assert_eq(stream_start_tls(d.server.s, sctx, 1, NULL), 0);
	duo_run(&d);
	/* The TLS engine saw "RSET\r\n" before the ClientHello: it fails. */
	cr_assert_eq(d.server.errors, 1);
	cr_assert_eq(d.server.why, STREAM_ERR_TLS, "%s", d.server.err_text);
	cr_assert_str_eq(d.server.lines, "", "no plain text reached the command reader");
	cr_assert_not(d.server.tls_done);
	duo_teardown(&d);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	pki_remove(&p);
}

Test(stream_tls, free_inside_on_tls)
{
	struct pki p;
	struct duo d;
	SSL_CTX *sctx, *cctx;

	pki_make(&p);
	sctx = server_ctx(&p, 0, 0);
	cctx = client_ctx(&p, 0);
	duo_setup(&d);
	d.server.free_on_tls = 1;
	stream_start_tls(d.server.s, sctx, 1, NULL);
	stream_start_tls(d.client.s, cctx, 0, "mx.example");
	duo_run(&d);
	cr_assert_null(d.server.s);
	cr_assert(d.server.tls_done);
	duo_teardown(&d);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	pki_remove(&p);
}

/*
 * Blocking mode: the client runs in a child process.
 */

static int
blocking_client(int fd, SSL_CTX *cctx)
{
	struct stream *s = stream_new(fd, 0);
	const char *line;
	size_t len;
	static char big[300000];

	stream_set_read_deadline(s, 10000);
	stream_set_write_deadline(s, 10000);
	if (stream_read_line(s, 0, &line, &len) != STREAM_LINE_OK || len != 20 ||
	        memcmp(line, "220 2.0.0 go ahead\r\n", 20) != 0)
		return 10;
	if (stream_start_tls(s, cctx, 0, "127.0.0.1") < 0)
		return 11;
	if (!stream_tls_peer_verified(s))
		return 12;
	memset(big, 'c', sizeof(big));
	if (stream_printf(s, "HELLO\r\n") < 0 || stream_write(s, big, sizeof(big)) < 0 ||
	        stream_flush(s) < 0)
		return 13;
	if (stream_read_exact(s, big, sizeof(big)) < 0)
		return 14;
	for (size_t i = 0; i < sizeof(big); i++)
		if (big[i] != 's')
			return 15;
	if (stream_read_line(s, 0, &line, &len) != STREAM_LINE_OK || len != 5 ||
	        memcmp(line, "BYE\r\n", 5) != 0)
		return 16;
	stream_close(s);
	return 0;
}

Test(stream_tls, blocking_mode_handshake_and_data)
{
	struct pki p;
	SSL_CTX *sctx, *cctx;
	struct stream *s;
	static char big[300000];
	const char *line;
	size_t len;
	int fds[2], status;
	pid_t pid;

	pki_make(&p);
	sctx = server_ctx(&p, 0, 0);
	cctx = client_ctx(&p, 1);
	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(blocking_client(fds[1], cctx));
	}
	close(fds[1]);
	s = stream_new(fds[0], 0);
	stream_set_read_deadline(s, 10000);
	stream_set_write_deadline(s, 10000);
	stream_printf(s, "220 2.0.0 go ahead\r\n");
	cr_assert_eq(stream_start_tls(s, sctx, 1, NULL), 0, "%s", stream_error_text(s));
	cr_assert(stream_tls_active(s));
	cr_assert_null(stream_tls_sni(s), "an IP address is never sent as SNI");
	cr_assert_eq(stream_read_line(s, 0, &line, &len), STREAM_LINE_OK);
	cr_assert_eq(len, 7);
	cr_assert(memcmp(line, "HELLO\r\n", 7) == 0);
	cr_assert_eq(stream_read_exact(s, big, sizeof(big)), 0, "%s", stream_error_text(s));
	for (size_t i = 0; i < sizeof(big); i++)
		cr_assert_eq(big[i], 'c');
	memset(big, 's', sizeof(big));
	cr_assert_eq(stream_write(s, big, sizeof(big)), 0);
	cr_assert_eq(stream_printf(s, "BYE\r\n"), 0);
	cr_assert_eq(stream_flush(s), 0, "%s", stream_error_text(s));
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "client failed at step %d", WEXITSTATUS(status));
	cr_assert_eq(stream_fill(s), -1, "the client closed");
	cr_assert_eq(stream_error(s), STREAM_ERR_EOF, "%s", stream_error_text(s));
	stream_free(s);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	pki_remove(&p);
}

Test(stream_tls, blocking_handshake_deadline_with_silent_peer)
{
	struct pki p;
	SSL_CTX *sctx;
	struct stream *s;
	int fds[2];

	pki_make(&p);
	sctx = server_ctx(&p, 0, 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	s = stream_new(fds[0], 0);
	stream_set_read_deadline(s, 200);
	cr_assert_eq(stream_start_tls(s, sctx, 1, NULL), -1);
	cr_assert_eq(stream_error(s), STREAM_ERR_TIMEOUT);
	stream_free(s);
	close(fds[1]);
	SSL_CTX_free(sctx);
	pki_remove(&p);
}

Test(tls, context_errors_and_versions)
{
	struct pki p;
	struct tls_cert_pair bad[1];
	struct tls_server_config c = {bad, 1, 0, NULL, NULL};
	struct str err = STR_INIT;
	const char *why;
	int v;

	pki_make(&p);
	bad[0].cert_file = p.mx_cert;
	bad[0].key_file = p.other_key;
	cr_assert_null(tls_server_ctx_new(&c, &err));
	cr_assert(strstr(str_cstr(&err), "other.key") != NULL, "%s", str_cstr(&err));
	str_reset(&err);
	bad[0].cert_file = "/nonexistent/cert.pem";
	cr_assert_null(tls_server_ctx_new(&c, &err));
	cr_assert(strstr(str_cstr(&err), "/nonexistent/cert.pem") != NULL);
	c.npairs = 0;
	cr_assert_null(tls_server_ctx_new(&c, &err));
	cr_assert_eq(tls_version_parse("TLSv1.3", &v, &why), 0);
	cr_assert_eq(v, TLS1_3_VERSION);
	cr_assert_eq(tls_version_parse("tlsv1.1", &v, &why), 0);
	cr_assert_eq(v, TLS1_1_VERSION);
	cr_assert_eq(tls_version_parse("", &v, &why), 0);
	cr_assert_eq(v, TLS1_2_VERSION);
	cr_assert_eq(tls_version_parse("SSLv3", &v, &why), -1);
	str_free(&err);
	pki_remove(&p);
}
