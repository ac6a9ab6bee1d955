/*
 * check.c - "tern check": validate main.cf, master.cf and what they name.
 *
 * Loads CONFDIR/main.cf and CONFDIR/master.cf; expands and type-checks
 * every parameter; applies each service's -o overrides to a copy of the
 * configuration and checks it as that service will see it; opens every
 * table named by a parameter (table_check); loads the TLS certificates
 * and keys named; checks that queue_directory and drop_directory exist or
 * can be created, and that each service's program is in daemon_directory.
 *
 * Errors are printed on standard error as "file:line: ..." (or "main.cf:
 * parameter X: ... (default value)" for a default), warnings as
 * "warning: ...".  Nothing is printed when all is well.  Exit status 0,
 * or EX_CONFIG when there is any error.
 *
 * What is only a warning: a table, a CA file or a directory that comes
 * from a default value and is missing (a fresh development tree has no
 * /etc/tern/aliases.cdb); a queue or Drop directory that this user cannot
 * create while unprivileged_mode is off (root creates them with `tern
 * setup`); a missing program in daemon_directory (not installed yet); and
 * a listener that requires TLS but has no certificate.  Set explicitly,
 * the same faults are errors.
 *
 * Runs with the invoking user's rights; trusts the files no more than the
 * parsers do.  Called by tern.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "mastercf.h"
#include "mem.h"
#include "msg.h"
#include "str.h"
#include "table.h"
#include "tern.h"

/* Table types that a non-_maps list may hold among its other items. */
static const char *const table_types[] = {
        "cdb", "hash", "btree", "inline", "static", "cidr", "regexp", "pgsql", NULL};

struct check {
	struct str errors;   /* one line each */
	struct str warnings; /* one line each, without "warning: " */
	int nerrors;
	int nwarnings;
	char **seen; /* table specs and files already checked */
	size_t nseen;
};

static void
add_line(struct str *out, int *count, const char *text)
{
	const char *p = text, *eol;

	for (; *p; p = eol + 1) {
		eol = strchr(p, '\n');
		if (eol == NULL)
			eol = p + strlen(p);
		str_append(out, p, (size_t)(eol - p));
		str_appendc(out, '\n');
		++*count;
		if (*eol == '\0')
			break;
	}
}

/* Report about parameter name of c: an error, or a warning when the
 * value is a default and soft is set. */
__attribute__((format(printf, 5, 6))) static void
report(struct check *ck, struct config *c, const char *name, int soft, const char *fmt, ...)
{
	struct str text = STR_INIT;
	va_list ap;
	int is_default = !config_is_set(c, name);

	if (is_default)
		str_printf(&text, "%s: parameter %s: ", config_path(c), name);
	else
		str_printf(&text, "%s: parameter %s: ", config_origin(c, name), name);
	va_start(ap, fmt);
	str_vprintf(&text, fmt, ap);
	va_end(ap);
	if (is_default)
		str_appendz(&text, " (default value)");
	if (is_default && soft)
		add_line(&ck->warnings, &ck->nwarnings, str_cstr(&text));
	else
		add_line(&ck->errors, &ck->nerrors, str_cstr(&text));
	str_free(&text);
}

/* Was key checked before?  Remember it if not. */
static int
seen_before(struct check *ck, const char *key)
{
	for (size_t i = 0; i < ck->nseen; i++)
		if (strcmp(ck->seen[i], key) == 0)
			return 1;
	ck->seen = xreallocarray(ck->seen, ck->nseen + 1, sizeof(*ck->seen));
	ck->seen[ck->nseen++] = xstrdup(key);
	return 0;
}

static int
is_known_table(const char *item)
{
	size_t n = strcspn(item, ":");

	if (item[n] != ':')
		return 0;
	for (size_t i = 0; table_types[i]; i++)
		if (strlen(table_types[i]) == n && strncmp(item, table_types[i], n) == 0)
			return 1;
	return 0;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Open every table that a list parameter names. */
static void
check_tables(struct check *ck, struct config *c)
{
	struct str err = STR_INIT;

	for (unsigned long i = 0; i < param_count; i++) {
		const struct param_def *p = &param_table[i];
		char *const *items;

		if (p->type != PARAM_LIST || !config_valid(c, p->name, NULL))
			continue;
		items = config_list(c, p->name);
		for (size_t k = 0; items[k]; k++) {
			if (!ends_with(p->name, "_maps") && !is_known_table(items[k]))
				continue;
			if (seen_before(ck, items[k]))
				continue;
			str_reset(&err);
			if (table_check(items[k], &err) < 0)
				report(ck, c, p->name, 1, "%s", str_cstr(&err));
		}
	}
	str_free(&err);
}

/* A readable regular file. */
static int
check_readable(const char *path, struct str *why)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		str_printf(why, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		str_printf(why, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void
openssl_reason(struct str *why)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		str_printf(why, " (%s)", buf);
	}
	ERR_clear_error();
}

/* Load a certificate (chain) and its key, as smtpd and smtp will. */
static int
check_cert_key(const char *cert, const char *key, struct str *why)
{
	SSL_CTX *ctx;
	int ret = -1;

	if (check_readable(cert, why) < 0 || check_readable(key, why) < 0)
		return -1;
	if ((ctx = SSL_CTX_new(TLS_method())) == NULL) {
		str_appendz(why, "cannot create a TLS context");
		openssl_reason(why);
		return -1;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		str_printf(why, "%s: no usable PEM certificate", cert);
		openssl_reason(why);
	} else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		str_printf(why, "%s: no usable PEM private key", key);
		openssl_reason(why);
	} else if (SSL_CTX_check_private_key(ctx) != 1) {
		str_printf(why, "%s does not match the certificate in %s", key, cert);
		openssl_reason(why);
	} else {
		ret = 0;
	}
	SSL_CTX_free(ctx);
	return ret;
}

/* One certificate parameter with its key parameter. */
static void
check_cert_param(struct check *ck, struct config *c, const char *cert_param, const char *key_param)
{
	struct str key = STR_INIT, why = STR_INIT;
	const char *cert, *keyfile;

	if (!config_valid(c, cert_param, NULL) || !config_valid(c, key_param, NULL))
		return;
	cert = config_str(c, cert_param);
	keyfile = config_str(c, key_param);
	if (*cert == '\0') {
		if (*keyfile)
			report(ck, c, key_param, 0, "a key without %s", cert_param);
		return;
	}
	if (*keyfile == '\0')
		keyfile = cert;
	str_printf(&key, "%s\n%s", cert, keyfile);
	if (!seen_before(ck, str_cstr(&key)) && check_cert_key(cert, keyfile, &why) < 0)
		report(ck, c, cert_param, 0, "%s", str_cstr(&why));
	str_free(&key);
	str_free(&why);
}

static void
check_tls_files(struct check *ck, struct config *c)
{
	struct str why = STR_INIT;
	char *const *chains;

	check_cert_param(ck, c, "smtpd_tls_cert_file", "smtpd_tls_key_file");
	check_cert_param(ck, c, "smtp_tls_cert_file", "smtp_tls_key_file");
	if (config_valid(c, "smtpd_tls_chain_files", NULL)) {
		chains = config_list(c, "smtpd_tls_chain_files");
		for (size_t i = 0; chains[i]; i++) {
			str_reset(&why);
			if (!seen_before(ck, chains[i]) &&
			        check_cert_key(chains[i], chains[i], &why) < 0)
				report(ck, c, "smtpd_tls_chain_files", 0, "%s", str_cstr(&why));
		}
	}
	if (config_valid(c, "smtp_tls_CAfile", NULL)) {
		const char *ca = config_str(c, "smtp_tls_CAfile");

		str_reset(&why);
		if (*ca && !seen_before(ck, ca) && check_readable(ca, &why) < 0)
			report(ck, c, "smtp_tls_CAfile", 1, "%s", str_cstr(&why));
	}
	str_free(&why);
}

/* A directory that exists, or that this user can create. */
static void
check_directory(struct check *ck, struct config *c, const char *param)
{
	char path[PATH_MAX], *slash;
	const char *dir;
	struct stat st;

	memset(&st, 0, sizeof(st));
	if (!config_valid(c, param, NULL))
		return;
	dir = config_str(c, param);
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			report(ck, c, param, 0, "%s: not a directory", dir);
		return;
	}
	if (errno != ENOENT) {
		report(ck, c, param, 0, "%s: %s", dir, strerror(errno));
		return;
	}
	/* The nearest existing ancestor decides whether it can be made. */
	snprintf(path, sizeof(path), "%s", dir);
	while ((slash = strrchr(path, '/')) != NULL) {
		if (slash == path)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(path, &st) == 0)
			break;
		if (slash == path)
			break;
	}
	if (S_ISDIR(st.st_mode) && access(path, W_OK | X_OK) == 0)
		return;
	if (config_valid(c, "unprivileged_mode", NULL) && config_bool(c, "unprivileged_mode")) {
		report(ck, c, param, 0, "%s does not exist, and this user cannot create it", dir);
	} else {
		struct str text = STR_INIT;

		str_printf(&text, "%s: parameter %s: %s does not exist (tern setup creates it)",
		        config_is_set(c, param) ? config_origin(c, param) : config_path(c), param,
		        dir);
		add_line(&ck->warnings, &ck->nwarnings, str_cstr(&text));
		str_free(&text);
	}
}

/* Each service's program should be in daemon_directory. */
static void
check_programs(struct check *ck, struct config *c, const struct mastercf *m)
{
	struct str path = STR_INIT, text = STR_INIT;
	const char *dir;

	if (!config_valid(c, "daemon_directory", NULL))
		return;
	dir = config_str(c, "daemon_directory");
	if (access(dir, X_OK) < 0) {
		str_printf(&text, "%s: parameter daemon_directory: %s: %s",
		        config_is_set(c, "daemon_directory") ? config_origin(c, "daemon_directory")
		                                             : config_path(c),
		        dir, strerror(errno));
		add_line(&ck->warnings, &ck->nwarnings, str_cstr(&text));
		str_free(&text);
		return;
	}
	for (int i = 0; i < m->count; i++) {
		const struct service *s = &m->services[i];

		str_reset(&path);
		if (s->command[0] == '/')
			str_appendz(&path, s->command);
		else
			str_printf(&path, "%s/%s", dir, s->command);
		if (access(str_cstr(&path), X_OK) == 0 || seen_before(ck, str_cstr(&path)))
			continue;
		str_reset(&text);
		str_printf(&text, "%s: service %s: program %s: %s", s->where, s->name,
		        str_cstr(&path), strerror(errno));
		add_line(&ck->warnings, &ck->nwarnings, str_cstr(&text));
	}
	str_free(&path);
	str_free(&text);
}

/* An smtpd listener that requires TLS but has no certificate. */
static void
check_listener_tls(struct check *ck, struct config *c, const struct service *s)
{
	struct str text = STR_INIT;
	const char *need = NULL;

	if (strcmp(s->command, "smtpd") != 0)
		return;
	if (!config_valid(c, "smtpd_tls_cert_file", NULL) ||
	        !config_valid(c, "smtpd_tls_chain_files", NULL) ||
	        *config_str(c, "smtpd_tls_cert_file") || config_list(c, "smtpd_tls_chain_files")[0])
		return;
	if (config_valid(c, "smtpd_tls_wrappermode", NULL) &&
	        config_bool(c, "smtpd_tls_wrappermode"))
		need = "smtpd_tls_wrappermode = yes";
	else if (config_valid(c, "smtpd_tls_security_level", NULL) &&
	        strcmp(config_str(c, "smtpd_tls_security_level"), "encrypt") == 0)
		need = "smtpd_tls_security_level = encrypt";
	if (need == NULL)
		return;
	str_printf(&text,
	        "%s: service %s: %s but no smtpd_tls_cert_file or smtpd_tls_chain_files: "
	        "no client can use this service",
	        s->where, s->name, need);
	add_line(&ck->warnings, &ck->nwarnings, str_cstr(&text));
	str_free(&text);
}

/* Lines of b that are not lines of a. */
static void
add_new_lines(struct check *ck, const char *a, const char *b, const struct service *s)
{
	const char *p, *eol;
	struct str line = STR_INIT;

	for (p = b; *p; p = eol + 1) {
		eol = strchr(p, '\n');
		if (eol == NULL)
			eol = p + strlen(p);
		str_reset(&line);
		str_append(&line, p, (size_t)(eol - p));
		str_appendc(&line, '\n');
		if (strstr(a, str_cstr(&line)) == NULL) {
			str_truncate(&line, line.len - 1);
			if (strncmp(line.data, s->where, strlen(s->where)) != 0)
				str_printf(&line, " (in service %s of %s)", s->name, s->where);
			add_line(&ck->errors, &ck->nerrors, str_cstr(&line));
		}
		if (*eol == '\0')
			break;
	}
	str_free(&line);
}

/* The configuration as service s sees it. */
static void
check_service(struct check *ck, struct config *c, const char *main_errors, const struct service *s)
{
	struct str errors = STR_INIT;
	struct config *sc;

	if (s->noverrides == 0) {
		check_listener_tls(ck, c, s);
		return;
	}
	sc = config_clone(c);
	mastercf_apply_overrides(s, sc, &errors);
	config_validate(sc, &errors);
	add_new_lines(ck, main_errors, str_cstr(&errors), s);
	check_tables(ck, sc);
	check_tls_files(ck, sc);
	check_listener_tls(ck, sc, s);
	config_free(sc);
	str_free(&errors);
}

static void
print_lines(const char *prefix, const char *text)
{
	const char *p, *eol;

	for (p = text; *p; p = eol + 1) {
		eol = strchr(p, '\n');
		if (eol == NULL)
			break;
		fprintf(stderr, "%s%.*s\n", prefix, (int)(eol - p), p);
	}
}

int
tern_check(int argc, char **argv, const char *confdir)
{
	struct check ck = {.errors = STR_INIT, .warnings = STR_INIT};
	struct str main_errors = STR_INIT, path = STR_INIT;
	struct config *c;
	struct mastercf *m;
	int nerr;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: tern [-c CONFDIR] check\n");
		return EX_USAGE;
	}
	c = config_new();
	config_load_dir(c, confdir, &main_errors, &ck.warnings);
	config_validate(c, &main_errors);
	add_line(&ck.errors, &ck.nerrors, str_cstr(&main_errors));

	str_printf(&path, "%s/master.cf", confdir);
	m = mastercf_load(str_cstr(&path), c, &ck.errors, &ck.warnings, &nerr);
	ck.nerrors += nerr;
	for (int i = 0; i < m->count; i++)
		check_service(&ck, c, str_cstr(&main_errors), &m->services[i]);

	check_tables(&ck, c);
	check_tls_files(&ck, c);
	check_directory(&ck, c, "queue_directory");
	check_directory(&ck, c, "drop_directory");
	check_programs(&ck, c, m);

	print_lines("warning: ", str_cstr(&ck.warnings));
	print_lines("", str_cstr(&ck.errors));
	if (ck.nerrors > 0)
		fprintf(stderr, "tern check: %d error%s\n", ck.nerrors, ck.nerrors == 1 ? "" : "s");
	for (size_t i = 0; i < ck.nseen; i++)
		free(ck.seen[i]);
	free(ck.seen);
	mastercf_free(m);
	config_free(c);
	str_free(&main_errors);
	str_free(&path);
	str_free(&ck.errors);
	str_free(&ck.warnings);
	return ck.nerrors > 0 ? EX_CONFIG : EX_OK;
}
