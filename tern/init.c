/*
 * init.c - "tern [-c CONFDIR] init RUNDIR": write the development
 * configuration that "make run" uses.
 *
 * Creates CONFDIR and RUNDIR (and RUNDIR/log) when missing, and writes
 * CONFDIR/main.cf and CONFDIR/master.cf unless they exist (an existing
 * file is never touched): unprivileged mode, queue, Drop and log under
 * RUNDIR, daemon_directory the directory of this tern binary, listeners
 * on 127.0.0.1 ports 2525 (SMTP), 2587 (submission) and 2465 (SMTPS),
 * and the internal services as conf/master.cf has them.  The TLS
 * listeners get a self-signed certificate for localhost, written to
 * CONFDIR/smtpd-cert.pem and CONFDIR/smtpd-key.pem (mode 0600) unless
 * they exist.  Each file is written under a temporary name and linked
 * into place, so a crash leaves no half-written configuration.
 *
 * Exit status: 0; EX_USAGE; EX_CANTCREAT a directory or file could not be
 * made; EX_OSERR the binary's location is unknown or TLS key generation
 * failed.  Runs with the invoking user's rights.  Called by tern.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "msg.h"
#include "str.h"
#include "tern.h"

#define INIT_CERT_DAYS 3650 /* lifetime of the self-signed certificate */

/* The internal services, as in conf/master.cf. */
static const char init_internal_services[] =
        "# Internal services.\n"
        "pickup      unix  n       -       -       60      1       pickup\n"
        "cleanup     unix  -       -       -       -       0       cleanup\n"
        "qmgr        unix  n       -       -       300     1       qmgr\n"
        "rewrite     unix  -       -       n       -       -       trivial-rewrite\n"
        "smtp        unix  -       -       -       -       -       smtp\n"
        "local       unix  -       n       n       -       -       local\n";

static const char init_listeners[] =
        "# Tern development master.cf, written by \"tern init\" for \"make run\".\n"
        "# The production file is conf/master.cf; docs/configuration.md explains\n"
        "# the fields.\n"
        "#\n"
        "# service   type  private unpriv  chroot  wakeup  maxproc command + args\n"
        "# SMTP, as port 25 would be.\n"
        "127.0.0.1:2525 inet n     -       -       -       -       smtpd\n"
        "# Submission, as port 587 would be: STARTTLS and AUTH required.\n"
        "127.0.0.1:2587 inet n     -       -       -       -       smtpd\n"
        "    -o smtpd_tls_security_level=encrypt\n"
        "    -o smtpd_sasl_auth_enable=yes\n"
        "    -o smtpd_tls_auth_only=yes\n"
        "    -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n"
        "    -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n"
        "# Submission over implicit TLS, as port 465 would be.\n"
        "127.0.0.1:2465 inet n     -       -       -       -       smtpd\n"
        "    -o smtpd_tls_wrappermode=yes\n"
        "    -o smtpd_sasl_auth_enable=yes\n"
        "    -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n"
        "    -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n";

static int
init_usage(void)
{
	fprintf(stderr, "usage: tern [-c CONFDIR] init RUNDIR\n");
	return EX_USAGE;
}

/* mkdir -p, mode 0755. */
static int
make_dirs(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf)) {
		msg_error("%s: bad directory name", path);
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;

			*p = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
				msg_error("mkdir %s: %s", buf, strerror(errno));
				return -1;
			}
			*p = saved;
			if (saved == '\0')
				return 0;
		}
	}
}

/* An absolute form of path (without resolving links). */
static int
absolute(const char *path, struct str *out)
{
	char cwd[PATH_MAX];

	str_reset(out);
	if (path[0] != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL) {
			msg_error("getcwd: %s", strerror(errno));
			return -1;
		}
		str_printf(out, "%s/", cwd);
	}
	str_appendz(out, path);
	while (out->len > 1 && out->data[out->len - 1] == '/')
		str_truncate(out, out->len - 1);
	return 0;
}

/* A main.cf value: "$" doubled; newlines cannot be written. */
static int
cf_value(struct str *out, const char *value)
{
	if (strchr(value, '\n') != NULL) {
		msg_error("\"%s\": a path with a newline cannot go into main.cf", value);
		return -1;
	}
	for (; *value; value++) {
		if (*value == '$')
			str_appendc(out, '$');
		str_appendc(out, *value);
	}
	return 0;
}

/* Write data to path unless it exists: 1 written, 0 kept, -1 error. */
static int
write_new_file(const char *path, const void *data, size_t len, mode_t mode)
{
	struct str tmp = STR_INIT;
	int fd, ret = -1;

	if (access(path, F_OK) == 0)
		return 0;
	str_printf(&tmp, "%s.%ld.tmp", path, (long)getpid());
	if ((fd = open(str_cstr(&tmp), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0) {
		msg_error("create %s: %s", str_cstr(&tmp), strerror(errno));
		str_free(&tmp);
		return -1;
	}
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0)
		msg_error("write %s: %s", str_cstr(&tmp), strerror(errno));
	else if (close(fd) < 0)
		msg_error("close %s: %s", str_cstr(&tmp), strerror(errno));
	else if (link(str_cstr(&tmp), path) < 0)
		ret = errno == EEXIST ? 0 : (msg_error("link %s: %s", path, strerror(errno)), -1);
	else
		ret = 1;
	if (ret < 0 && fd >= 0)
		close(fd);
	unlink(str_cstr(&tmp));
	str_free(&tmp);
	return ret;
}

/* A self-signed certificate for localhost and 127.0.0.1, as PEM. */
static int
make_certificate(struct str *cert_pem, struct str *key_pem)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	X509V3_CTX ctx;
	X509_EXTENSION *ext = NULL;
	X509_NAME *name;
	BIO *bio = NULL;
	BUF_MEM *mem;
	unsigned char serial[8];
	int ok = 0;

	if ((key = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL ||
	        RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	if (X509_set_version(x, 2) != 1 ||
	        ASN1_INTEGER_set_uint64(X509_get_serialNumber(x),
	                ((uint64_t)serial[0] << 56) | ((uint64_t)serial[1] << 48) |
	                        ((uint64_t)serial[2] << 40) | ((uint64_t)serial[3] << 32) |
	                        ((uint64_t)serial[4] << 24) | ((uint64_t)serial[5] << 16) |
	                        ((uint64_t)serial[6] << 8) | serial[7]) != 1 ||
	        X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	        X509_gmtime_adj(X509_getm_notAfter(x), 86400L * INIT_CERT_DAYS) == NULL ||
	        X509_set_pubkey(x, key) != 1)
		goto out;
	name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(
	            name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0) != 1 ||
	        X509_set_issuer_name(x, name) != 1)
		goto out;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
	             "DNS:localhost,IP:127.0.0.1,IP:::1")) == NULL ||
	        X509_add_ext(x, ext, -1) != 1 || X509_sign(x, key, EVP_sha256()) == 0)
		goto out;
	if ((bio = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_X509(bio, x) != 1)
		goto out;
	BIO_get_mem_ptr(bio, &mem);
	str_append(cert_pem, mem->data, mem->length);
	BIO_free(bio);
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	        PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
		goto out;
	BIO_get_mem_ptr(bio, &mem);
	str_append(key_pem, mem->data, mem->length);
	ok = 1;
out:
	BIO_free(bio);
	X509_EXTENSION_free(ext);
	X509_free(x);
	EVP_PKEY_free(key);
	return ok ? 0 : -1;
}

/* Write the certificate and key unless both exist. */
static int
write_certificate(const char *cert, const char *key)
{
	struct str cert_pem = STR_INIT, key_pem = STR_INIT;
	int ret = 0;

	if (access(cert, F_OK) == 0 && access(key, F_OK) == 0)
		return 0;
	unlink(cert);
	unlink(key);
	if (make_certificate(&cert_pem, &key_pem) < 0) {
		msg_error("cannot make a self-signed certificate");
		ret = -1;
	} else if (write_new_file(key, key_pem.data, key_pem.len, 0600) < 0 ||
	        write_new_file(cert, cert_pem.data, cert_pem.len, 0644) < 0) {
		ret = -1;
	}
	str_free(&cert_pem);
	str_free(&key_pem);
	return ret;
}

static int
main_cf_text(
        struct str *out, const char *rundir, const char *bindir, const char *cert, const char *key)
{
	str_appendz(out,
	        "# Tern development main.cf, written by \"tern init\" for \"make run\".\n"
	        "# Every process runs as you, without chroot; everything lives under\n"
	        "# the run directory.  Production defaults: conf/main.cf.\n"
	        "unprivileged_mode = yes\nqueue_directory = ");
	if (cf_value(out, rundir) < 0)
		return -1;
	str_appendz(out, "/spool\ndrop_directory = ");
	cf_value(out, rundir);
	str_appendz(out, "/drop\nmaillog_file = ");
	cf_value(out, rundir);
	str_appendz(out, "/log/maillog\n# The programs of this build.\ndaemon_directory = ");
	if (cf_value(out, bindir) < 0)
		return -1;
	str_appendz(out,
	        "\n# Listeners are on 127.0.0.1 (master.cf).\n"
	        "inet_interfaces = 127.0.0.1\n"
	        "# A self-signed certificate for localhost, made by tern init.\n"
	        "smtpd_tls_cert_file = ");
	if (cf_value(out, cert) < 0)
		return -1;
	str_appendz(out, "\nsmtpd_tls_key_file = ");
	if (cf_value(out, key) < 0)
		return -1;
	str_appendz(out, "\n# No aliases table in a development tree.\nalias_maps =\n");
	return 0;
}

/* The directory of the running tern binary. */
static int
binary_directory(struct str *out)
{
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0) {
		msg_error("readlink /proc/self/exe: %s", strerror(errno));
		return -1;
	}
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL || slash == exe) {
		msg_error("%s: cannot tell its directory", exe);
		return -1;
	}
	*slash = '\0';
	str_setz(out, exe);
	return 0;
}

int
tern_init(int argc, char **argv, const char *confdir)
{
	struct str conf = STR_INIT, run = STR_INIT, bin = STR_INIT, text = STR_INIT;
	struct str cert = STR_INIT, key = STR_INIT, path = STR_INIT;
	int status = EX_CANTCREAT;

	if (argc != 2 || argv[1][0] == '\0')
		return init_usage();
	if (absolute(confdir, &conf) < 0 || absolute(argv[1], &run) < 0)
		goto out;
	if (binary_directory(&bin) < 0) {
		status = EX_OSERR;
		goto out;
	}
	str_printf(&path, "%s/log", str_cstr(&run));
	if (make_dirs(str_cstr(&conf)) < 0 || make_dirs(str_cstr(&path)) < 0)
		goto out;
	str_printf(&cert, "%s/smtpd-cert.pem", str_cstr(&conf));
	str_printf(&key, "%s/smtpd-key.pem", str_cstr(&conf));
	if (main_cf_text(&text, str_cstr(&run), str_cstr(&bin), str_cstr(&cert), str_cstr(&key)) <
	        0)
		goto out;
	if (write_certificate(str_cstr(&cert), str_cstr(&key)) < 0) {
		status = EX_OSERR;
		goto out;
	}
	str_reset(&path);
	str_printf(&path, "%s/main.cf", str_cstr(&conf));
	if (write_new_file(str_cstr(&path), text.data, text.len, 0644) < 0)
		goto out;
	str_reset(&text);
	str_appendz(&text, init_listeners);
	str_appendz(&text, init_internal_services);
	str_reset(&path);
	str_printf(&path, "%s/master.cf", str_cstr(&conf));
	if (write_new_file(str_cstr(&path), text.data, text.len, 0644) < 0)
		goto out;
	status = EX_OK;
out:
	str_free(&conf);
	str_free(&run);
	str_free(&bin);
	str_free(&text);
	str_free(&cert);
	str_free(&key);
	str_free(&path);
	return status;
}
