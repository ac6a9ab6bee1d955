/*
 * smtpd_tls.c - TLS in the SMTP server: the server context (certificate
 * and key per listener through -o, several chain files selected by SNI),
 * STARTTLS (RFC 3207), implicit TLS from the first octet
 * (smtpd_tls_wrappermode, port 465), and "require TLS"
 * (smtpd_tls_security_level = encrypt: 530 5.7.0 before STARTTLS).
 *
 * STARTTLS: "220 2.0.0 Ready to start TLS" goes out in plain text, then
 * lib/stream.c discards whatever the client pipelined after the command
 * (CVE-2011-0411) and runs the handshake; afterwards the session forgets
 * HELO and any transaction (RFC 3207 4.2) and waits for a new EHLO.  The
 * handshake is bounded by smtpd_timeout.  Certificates are read once
 * before the jail; a context that cannot be made is logged and TLS is
 * then unavailable (a listener that requires it accepts no mail, a
 * wrapper-mode listener closes every connection).  Called by smtpd.c,
 * smtpd_cmd.c and smtpd_session.c.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mem.h"
#include "msg.h"
#include "smtpd.h"
#include "stream.h"
#include "tls.h"

/* The lowest version a protocols list allows: ">=X", else the lowest
 * one not excluded with "!X", else the default. */
static int
min_version(char *const *items)
{
	static const char *const names[] = {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};
	int excluded[4] = {0, 0, 0, 0}, any_excluded = 0, version;
	const char *why;

	for (size_t i = 0; items && items[i]; i++) {
		const char *p = items[i];

		if (strncmp(p, ">=", 2) == 0 && tls_version_parse(p + 2, &version, &why) == 0)
			return version;
		if (*p != '!')
			continue;
		for (size_t k = 0; k < 4; k++) {
			if (strcmp(p + 1, names[k]) == 0) {
				excluded[k] = 1;
				any_excluded = 1;
			}
		}
	}
	if (!any_excluded)
		return TLS_DEFAULT_MIN_VERSION;
	for (size_t k = 0; k < 4; k++)
		if (!excluded[k] && tls_version_parse(names[k], &version, &why) == 0)
			return version;
	return TLS_DEFAULT_MIN_VERSION;
}

SSL_CTX *
smtpd_tls_context(void)
{
	struct tls_cert_pair pairs[TLS_CERT_PAIRS_MAX];
	struct tls_server_config conf;
	struct str err = STR_INIT;
	const char *cert = config_str(cfg, "smtpd_tls_cert_file");
	char *const *chains = config_list(cfg, "smtpd_tls_chain_files");
	size_t n = 0;
	SSL_CTX *ctx;

	if (config_list(cfg, "smtpd_tls_sni_maps")[0] != NULL)
		msg_warn("smtpd_tls_sni_maps is not supported: list the certificates in "
		         "smtpd_tls_chain_files (SNI picks among them by name)");
	if (*cert) {
		pairs[n].cert_file = cert;
		pairs[n].key_file = config_str(cfg, "smtpd_tls_key_file");
		n++;
	}
	for (size_t i = 0; chains[i] && n < TLS_CERT_PAIRS_MAX; i++, n++) {
		pairs[n].cert_file = chains[i];
		pairs[n].key_file = chains[i];
	}
	if (n == 0) {
		if (smtpd.wrappermode || smtpd.tls_level == SMTPD_TLS_ENCRYPT)
			msg_warn("service %s requires TLS, but no certificate is configured "
			         "(smtpd_tls_cert_file, smtpd_tls_chain_files)",
			        smtpd.service);
		return NULL;
	}
	memset(&conf, 0, sizeof(conf));
	conf.pairs = pairs;
	conf.npairs = n;
	conf.min_version = min_version(config_list(cfg,
	        smtpd.tls_level == SMTPD_TLS_ENCRYPT ? "smtpd_tls_mandatory_protocols"
	                                             : "smtpd_tls_protocols"));
	ctx = tls_server_ctx_new(&conf, &err);
	if (ctx == NULL)
		msg_warn("TLS is not available on service %s: %s", smtpd.service, str_cstr(&err));
	str_free(&err);
	return ctx;
}

int
smtpd_tls_required(const struct smtpd_session *s)
{
	return smtpd.tls_level == SMTPD_TLS_ENCRYPT && !s->tls;
}

static void
start(struct smtpd_session *s)
{
	smtpd_session_wait(s, SMTPD_WAIT_TLS);
	stream_set_read_deadline(s->stream, smtpd_timeout_ms());
	/* A failure is reported through the stream's on_error. */
	(void)stream_start_tls(s->stream, smtpd.tls_ctx, 1, NULL);
}

void
smtpd_cmd_starttls(struct smtpd_session *s)
{
	if (s->tls) {
		smtpd_reply(s, 554, "5.5.1", "Error: TLS already active");
		return;
	}
	if (smtpd.tls_level == SMTPD_TLS_NONE ||
	        (smtpd.tls_ctx == NULL && smtpd.tls_level != SMTPD_TLS_ENCRYPT)) {
		smtpd_reply(s, 502, "5.5.1", "Error: command not implemented");
		return;
	}
	if (smtpd.tls_ctx == NULL) {
		smtpd_reply(s, 454, "4.7.0", "TLS not available due to local problem");
		return;
	}
	if (s->xact.active) {
		smtpd_reply(s, 503, "5.5.1", "Error: MAIL transaction in progress");
		return;
	}
	smtpd_reply(s, 220, "2.0.0", "Ready to start TLS");
	start(s);
}

void
smtpd_tls_wrapper_start(struct smtpd_session *s)
{
	if (smtpd.tls_ctx == NULL) {
		smtpd_session_abort(s, "no TLS certificate for wrapper mode");
		return;
	}
	start(s);
}

/* The handshake finished (the stream's on_tls). */
void
smtpd_tls_done(struct smtpd_session *s)
{
	s->tls = 1;
	msg_info("TLS connection established from %s[%s]: %s with cipher %s (%d bits)", s->name,
	        s->addr, stream_tls_version(s->stream), stream_tls_cipher(s->stream),
	        stream_tls_cipher_bits(s->stream));
	s->wait &= ~SMTPD_WAIT_TLS;
	if (s->phase == SMTPD_PHASE_CONNECT) {
		smtpd_session_greet(s);
		return;
	}
	smtpd_session_reset(s);
	s->need_deadline = 1;
	smtpd_session_process(s);
}
