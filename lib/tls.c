/*
 * tls.c - OpenSSL server and client contexts; see tls.h.
 *
 * Reads certificate, key and CA files named by the administrator's
 * configuration, all at once when a context is made.  At handshake time
 * it trusts nothing from the client: the SNI name only selects among the
 * certificates that were loaded.  Called by smtpd and smtp at start, and
 * by tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mem.h"
#include "msg.h"
#include "tls.h"

/* The certificates other than the default, kept with the main context. */
struct tls_sni {
	SSL_CTX **alt;
	size_t nalt;
};

static int sni_index = -1;

void
tls_error_append(struct str *err)
{
	unsigned long e;
	char buf[256];
	int first = 1;

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		str_appendz(err, first ? ": " : "; ");
		str_appendz(err, buf);
		first = 0;
	}
}

int
tls_version_parse(const char *name, int *version, const char **why)
{
	static const struct {
		const char *name;
		int version;
	} names[] = {
	        {"TLSv1", TLS1_VERSION},
	        {"TLSv1.0", TLS1_VERSION},
	        {"TLSv1.1", TLS1_1_VERSION},
	        {"TLSv1.2", TLS1_2_VERSION},
	        {"TLSv1.3", TLS1_3_VERSION},
	};
	size_t i;

	if (*name == '\0') {
		*version = TLS_DEFAULT_MIN_VERSION;
		return 0;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*version = names[i].version;
			return 0;
		}
	}
	*why = "unknown TLS version (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3)";
	return -1;
}

const char *
tls_version_name(int version)
{
	switch (version) {
	case TLS1_VERSION:
		return "TLSv1";
	case TLS1_1_VERSION:
		return "TLSv1.1";
	case TLS1_2_VERSION:
		return "TLSv1.2";
	case TLS1_3_VERSION:
		return "TLSv1.3";
	default:
		return "unknown";
	}
}

/* Settings shared by server and client contexts. */
static int
ctx_common(SSL_CTX *ctx, int min_version, const char *ciphers, struct str *err)
{
	if (min_version == 0)
		min_version = TLS_DEFAULT_MIN_VERSION;
	if (!SSL_CTX_set_min_proto_version(ctx, min_version)) {
		str_printf(err, "cannot set the TLS minimum version %s",
		        tls_version_name(min_version));
		tls_error_append(err);
		return -1;
	}
	if (ciphers != NULL && *ciphers != '\0' && !SSL_CTX_set_cipher_list(ctx, ciphers)) {
		str_printf(err, "bad TLS cipher list \"%s\"", ciphers);
		tls_error_append(err);
		return -1;
	}
	if (min_version < TLS1_2_VERSION)
		SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	return 0;
}

static int
load_pair(SSL_CTX *ctx, const char *cert_file, const char *key_file, struct str *err)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		str_printf(err, "cannot load certificate %s", cert_file);
		tls_error_append(err);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		str_printf(err, "cannot load private key %s", key_file);
		tls_error_append(err);
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		str_printf(
		        err, "private key %s does not match certificate %s", key_file, cert_file);
		tls_error_append(err);
		return -1;
	}
	return 0;
}

static int
accept_any_client_cert(int ok, X509_STORE_CTX *store)
{
	(void)ok;
	(void)store;
	return 1; /* the result is recorded for the caller; never fatal here */
}

static SSL_CTX *
server_ctx_one(const struct tls_server_config *c, const struct tls_cert_pair *pair, struct str *err)
{
	static const unsigned char sid_context[] = "tern";
	STACK_OF(X509_NAME) * names;
	SSL_CTX *ctx;

	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		str_appendz(err, "SSL_CTX_new");
		tls_error_append(err);
		return NULL;
	}
	if (ctx_common(ctx, c->min_version, c->ciphers, err) < 0 ||
	        load_pair(ctx, pair->cert_file, pair->key_file, err) < 0)
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_id_context(ctx, sid_context, sizeof(sid_context) - 1);
	if (c->ca_file != NULL && *c->ca_file != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, c->ca_file, NULL) != 1 ||
		        (names = SSL_load_client_CA_file(c->ca_file)) == NULL) {
			str_printf(err, "cannot load CA file %s", c->ca_file);
			tls_error_append(err);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_client_cert);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static void
sni_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct tls_sni *sni = ptr;
	size_t i;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (sni == NULL)
		return;
	for (i = 0; i < sni->nalt; i++)
		SSL_CTX_free(sni->alt[i]);
	free(sni->alt);
	free(sni);
}

static int
cert_matches(SSL_CTX *ctx, const char *name)
{
	X509 *cert = SSL_CTX_get0_certificate(ctx);

	return cert != NULL && X509_check_host(cert, name, strlen(name), 0, NULL) == 1;
}

/* The servername callback: switch to the first certificate for the name. */
static int
sni_select(SSL *ssl, int *alert, void *arg)
{
	struct tls_sni *sni = arg;
	const char *name;
	size_t i;

	(void)alert;
	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name == NULL || cert_matches(SSL_get_SSL_CTX(ssl), name))
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < sni->nalt; i++) {
		if (cert_matches(sni->alt[i], name)) {
			SSL_set_SSL_CTX(ssl, sni->alt[i]);
			break;
		}
	}
	return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *
tls_server_ctx_new(const struct tls_server_config *c, struct str *err)
{
	struct tls_sni *sni;
	SSL_CTX *ctx;
	size_t i;

	if (c->npairs == 0 || c->npairs > TLS_CERT_PAIRS_MAX) {
		str_printf(err, "a TLS server needs 1 to %d certificate/key pairs",
		        TLS_CERT_PAIRS_MAX);
		return NULL;
	}
	ERR_clear_error();
	ctx = server_ctx_one(c, &c->pairs[0], err);
	if (ctx == NULL || c->npairs == 1)
		return ctx;
	if (sni_index < 0)
		sni_index = CRYPTO_get_ex_new_index(
		        CRYPTO_EX_INDEX_SSL_CTX, 0, NULL, NULL, NULL, sni_free);
	sni = xcalloc(1, sizeof(*sni));
	sni->alt = xcalloc(c->npairs - 1, sizeof(*sni->alt));
	if (sni_index < 0 || !SSL_CTX_set_ex_data(ctx, sni_index, sni)) {
		str_appendz(err, "cannot attach SNI certificates");
		tls_error_append(err);
		free(sni->alt);
		free(sni);
		SSL_CTX_free(ctx);
		return NULL;
	}
	for (i = 1; i < c->npairs; i++) {
		sni->alt[i - 1] = server_ctx_one(c, &c->pairs[i], err);
		if (sni->alt[i - 1] == NULL) {
			SSL_CTX_free(ctx); /* frees the alternates made so far */
			return NULL;
		}
		sni->nalt = i;
	}
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_select);
	SSL_CTX_set_tlsext_servername_arg(ctx, sni);
	return ctx;
}

SSL_CTX *
tls_client_ctx_new(const struct tls_client_config *c, struct str *err)
{
	SSL_CTX *ctx;
	int have_cert, have_key;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		str_appendz(err, "SSL_CTX_new");
		tls_error_append(err);
		return NULL;
	}
	if (ctx_common(ctx, c->min_version, c->ciphers, err) < 0)
		goto fail;
	if (c->ca_file != NULL && *c->ca_file != '\0' &&
	        SSL_CTX_load_verify_locations(ctx, c->ca_file, NULL) != 1) {
		str_printf(err, "cannot load CA file %s", c->ca_file);
		tls_error_append(err);
		goto fail;
	}
	SSL_CTX_set_verify(ctx, c->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	have_cert = c->cert_file != NULL && *c->cert_file != '\0';
	have_key = c->key_file != NULL && *c->key_file != '\0';
	if (have_cert != have_key) {
		str_appendz(err, "a client certificate needs both a certificate and a key file");
		goto fail;
	}
	if (have_cert && load_pair(ctx, c->cert_file, c->key_file, err) < 0)
		goto fail;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
