/*
 * test_mastercf.c - master.cf parsing: fields and their defaults, -o
 * overrides, inet service names, and every malformed line reported with
 * its file:line.  Files are real files in a fresh temporary directory.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mastercf.h"
#include "str.h"

static char tmpdir[64];
static char path[128];
static struct str errors, warnings;

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_mastercf.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/master.cf", tmpdir);
	str_init(&errors);
	str_init(&warnings);
}

static void
teardown(void)
{
	unlink(path);
	rmdir(tmpdir);
	str_free(&errors);
	str_free(&warnings);
}

TestSuite(mastercf, .init = setup, .fini = teardown);

static struct mastercf *
load(const char *text, struct config *c, int *nerr)
{
	FILE *fp = fopen(path, "w");

	cr_assert_not_null(fp);
	fputs(text, fp);
	cr_assert_eq(fclose(fp), 0);
	return mastercf_load(path, c, &errors, &warnings, nerr);
}

static void
assert_has(const struct str *s, const char *rest)
{
	struct str want = STR_INIT;

	str_printf(&want, "%s%s", path, rest);
	cr_assert(strstr(s->data ? s->data : "", str_cstr(&want)) != NULL, "want \"%s\" in \"%s\"",
	        str_cstr(&want), s->data ? s->data : "");
	str_free(&want);
}

Test(mastercf, good_file)
{
	struct mastercf *m;
	const struct service *s;
	int nerr;

	m = load("# comment\n"
	         "\n"
	         "smtp      inet  n - - - - smtpd\n"
	         "submission inet n - - - - smtpd\n"
	         "    -o smtpd_tls_security_level=encrypt\n"
	         "  # comment inside an entry\n"
	         "\t-o smtpd_sasl_auth_enable=yes -v\n"
	         "qmgr      unix  n - n 300? 1 qmgr\n"
	         "cleanup   unix  - - - - 0 cleanup\n"
	         "[::1]:2525 inet n y y 0 5 smtpd -o smtpd_banner=$myhostname\n",
	        NULL, &nerr);
	cr_assert_eq(nerr, 0, "%s", str_cstr(&errors));
	cr_assert_str_eq(str_cstr(&warnings), "");
	cr_assert_eq(m->count, 5);

	s = mastercf_find(m, "smtp", SERVICE_INET);
	cr_assert_not_null(s);
	cr_assert_eq(s->private, 0);
	cr_assert_eq(s->unpriv, 1);
	cr_assert_eq(s->chroot, 1);
	cr_assert_eq(s->wakeup, 0);
	cr_assert_eq(s->maxproc, 100);
	cr_assert(s->maxproc_default);
	cr_assert_null(s->host);
	cr_assert_str_eq(s->port, "25");
	cr_assert_eq(s->line, 3);

	s = mastercf_find(m, "submission", SERVICE_INET);
	cr_assert_str_eq(s->port, "587");
	cr_assert_eq(s->noverrides, 2);
	cr_assert_str_eq(s->overrides[0].name, "smtpd_tls_security_level");
	cr_assert_str_eq(s->overrides[0].value, "encrypt");
	cr_assert_str_eq(s->overrides[1].name, "smtpd_sasl_auth_enable");
	cr_assert_eq(s->argc, 2);
	cr_assert_str_eq(s->argv[0], "smtpd");
	cr_assert_str_eq(s->argv[1], "-v");
	cr_assert_null(s->argv[2]);
	cr_assert_eq(s->line, 4);

	s = mastercf_find(m, "qmgr", SERVICE_UNIX);
	cr_assert_eq(s->private, 0);
	cr_assert_eq(s->chroot, 0);
	cr_assert_eq(s->wakeup, 300);
	cr_assert_eq(s->maxproc, 1);
	cr_assert_not(s->maxproc_default);
	cr_assert_eq(s->line, 8);
	cr_assert_null(mastercf_find(m, "qmgr", SERVICE_INET));

	s = mastercf_find(m, "cleanup", SERVICE_UNIX);
	cr_assert_eq(s->private, 1);
	cr_assert_eq(s->maxproc, 0);

	s = mastercf_find(m, "[::1]:2525", SERVICE_INET);
	cr_assert_str_eq(s->host, "::1");
	cr_assert_str_eq(s->port, "2525");
	cr_assert_str_eq(s->overrides[0].value, "$myhostname");
	mastercf_free(m);
}

Test(mastercf, maxproc_default_from_config)
{
	struct config *c = config_new();
	struct mastercf *m;
	int nerr;

	cr_assert_eq(config_set(c, "default_process_limit", "7", "test", &errors), 0);
	m = load("smtp unix - - - - - smtp\n", c, &nerr);
	cr_assert_eq(nerr, 0);
	cr_assert_eq(m->services[0].maxproc, 7);
	mastercf_free(m);
	config_free(c);
}

Test(mastercf, too_few_fields)
{
	int nerr;
	struct mastercf *m = load("smtp inet n - - - -\nqmgr unix n - n 300 1 qmgr\n", NULL, &nerr);

	cr_assert_eq(nerr, 1);
	assert_has(&errors,
	        ":1: expected at least 8 fields (service type private unpriv chroot "
	        "wakeup maxproc command), found 7\n");
	cr_assert_eq(m->count, 1);
	cr_assert_str_eq(m->services[0].name, "qmgr");
	mastercf_free(m);
}

Test(mastercf, bad_fields)
{
	int nerr;
	struct mastercf *m = load("a unix yes - - - - a\n"
	                          "b unix - - - soon - b\n"
	                          "c unix - - - - -1 c\n"
	                          "d unix - - - - 100001 d\n"
	                          "e fifo - - - - - e\n"
	                          "f unix - - - - - ../bin/sh\n"
	                          "g/h unix - - - - - g\n"
	                          "i unix - - - 86401 - i\n",
	        NULL, &nerr);

	cr_assert_eq(nerr, 8, "%s", str_cstr(&errors));
	assert_has(&errors,
	        ":1: private, unpriv and chroot must each be y, n or -, not \"yes - -\"\n");
	assert_has(&errors, ":2: bad wakeup \"soon\": not a number (0..86400 or -)\n");
	assert_has(&errors, ":3: bad maxproc \"-1\": number out of range (0..100000 or -)\n");
	assert_has(&errors, ":4: bad maxproc \"100001\": number out of range (0..100000 or -)\n");
	assert_has(&errors, ":5: unknown service type \"fifo\" (use inet or unix)\n");
	assert_has(&errors, ":6: bad command \"../bin/sh\" (a program in daemon_directory)\n");
	assert_has(&errors, ":7: bad unix service name \"g/h\"\n");
	assert_has(&errors, ":8: bad wakeup \"86401\": number out of range (0..86400 or -)\n");
	cr_assert_eq(m->count, 0);
	mastercf_free(m);
}

Test(mastercf, duplicate_services)
{
	int nerr;
	struct mastercf *m = load("smtp inet n - - - - smtpd\n"
	                          "smtp unix - - - - - smtp\n"
	                          "# again\n"
	                          "smtp inet n - - - - smtpd\n"
	                          "25 inet n - - - - smtpd\n"
	                          "127.0.0.1:25 inet n - - - - smtpd\n"
	                          "127.0.0.1:2525 inet n - - - - smtpd\n"
	                          "127.0.0.2:2525 inet n - - - - smtpd\n",
	        NULL, &nerr);

	cr_assert_eq(nerr, 3, "%s", str_cstr(&errors));
	struct str want = STR_INIT;
	str_printf(&want, "%s:4: duplicate service \"smtp\" (inet), first defined at %s:1\n", path,
	        path);
	cr_assert(strstr(str_cstr(&errors), str_cstr(&want)) != NULL, "%s", str_cstr(&errors));
	str_reset(&want);
	str_printf(&want, "%s:5: service \"25\" listens on the port of service \"smtp\" at %s:1\n",
	        path, path);
	cr_assert(strstr(str_cstr(&errors), str_cstr(&want)) != NULL, "%s", str_cstr(&errors));
	assert_has(&errors, ":6: service \"127.0.0.1:25\" listens on the port of service \"smtp\"");
	cr_assert_eq(m->count, 4);
	str_free(&want);
	mastercf_free(m);
}

Test(mastercf, overrides_checked)
{
	int nerr;
	struct mastercf *m = load("a unix - - - - - a -o smtpd_timeout=10q\n"
	                          "b unix - - - - - b -o no_such_param=1\n"
	                          "c unix - - - - - c -o\n"
	                          "d unix - - - - - d -o smtpd_timeout\n"
	                          "e unix - - - - - e -o smtpd_timeout = 5s\n"
	                          "f unix - - - - - f -o hopcount_limit=$smtpd_banner\n",
	        NULL, &nerr);

	cr_assert_eq(nerr, 4, "%s", str_cstr(&errors));
	assert_has(&errors,
	        ":1: parameter smtpd_timeout: \"10q\": bad time unit (use s, m, h, d "
	        "or w)\n");
	assert_has(&warnings, ":2: unknown parameter no_such_param in -o\n");
	assert_has(&errors, ":3: \"-o\" without name=value\n");
	assert_has(&errors, ":4: expected -o name=value, not \"-o smtpd_timeout\"\n");
	assert_has(&errors, ":5: expected -o name=value, not \"-o smtpd_timeout\"\n");
	/* b (a warning only) and f ($name: checked after expansion) load. */
	cr_assert_eq(m->count, 2);
	mastercf_free(m);
}

Test(mastercf, apply_overrides_to_a_clone)
{
	struct config *c = config_new(), *sc;
	struct mastercf *m;
	int nerr;

	cr_assert_eq(config_set(c, "myhostname", "mx.example.org", "test", &errors), 0);
	m = load("x unix - - - - - x -o hopcount_limit=$smtpd_banner -o smtpd_timeout=9s\n", c,
	        &nerr);
	cr_assert_eq(nerr, 0);
	sc = config_clone(c);
	cr_assert_eq(mastercf_apply_overrides(&m->services[0], sc, &errors), 0);
	cr_assert_eq(config_validate(sc, &errors), 1);
	assert_has(
	        &errors, ":1: parameter hopcount_limit: \"mx.example.org ESMTP\": not a number\n");
	cr_assert_eq(config_time(sc, "smtpd_timeout"), 9);
	cr_assert_eq(config_time(c, "smtpd_timeout"), 300);
	config_free(sc);
	mastercf_free(m);
	config_free(c);
}

Test(mastercf, inet_names)
{
	struct str why = STR_INIT;
	char *host, *port;

	cr_assert_eq(mastercf_parse_inet("2525", &host, &port, &why), 0);
	cr_assert_null(host);
	cr_assert_str_eq(port, "2525");
	free(port);
	cr_assert_eq(mastercf_parse_inet("*:smtps", &host, &port, &why), 0);
	cr_assert_null(host);
	cr_assert_str_eq(port, "465");
	free(port);
	cr_assert_eq(mastercf_parse_inet("mail.example.org:submission", &host, &port, &why), 0);
	cr_assert_str_eq(host, "mail.example.org");
	cr_assert_str_eq(port, "587");
	free(host);
	free(port);
	cr_assert_eq(mastercf_parse_inet("[2001:db8::1]:25", &host, &port, &why), 0);
	cr_assert_str_eq(host, "2001:db8::1");
	free(host);
	free(port);

	cr_assert_eq(mastercf_parse_inet("::1:25", &host, &port, &why), -1);
	cr_assert_eq(mastercf_parse_inet("[::1]25", &host, &port, &why), -1);
	cr_assert_eq(mastercf_parse_inet(":25", &host, &port, &why), -1);
	cr_assert_eq(mastercf_parse_inet("65536", &host, &port, &why), -1);
	cr_assert_eq(mastercf_parse_inet("0", &host, &port, &why), -1);
	cr_assert_eq(mastercf_parse_inet("no-such-service-name", &host, &port, &why), -1);
	cr_assert(strstr(str_cstr(&why), "unknown port \"no-such-service-name\"") != NULL, "%s",
	        str_cstr(&why));
	str_free(&why);
}

Test(mastercf, malformed_continuation_and_missing_file)
{
	int nerr;
	struct mastercf *m = load("  -o x=y\nqmgr unix n - n 300 1 qmgr\n", NULL, &nerr);

	cr_assert_eq(nerr, 1);
	assert_has(&errors, ":1: continuation line without a service before it\n");
	cr_assert_eq(m->count, 1);
	mastercf_free(m);
	str_reset(&errors);
	m = mastercf_load("/nonexistent/master.cf", NULL, &errors, &warnings, &nerr);
	cr_assert_eq(nerr, 1);
	cr_assert_str_eq(str_cstr(&errors),
	        "/nonexistent/master.cf: cannot open: No such file or directory\n");
	cr_assert_eq(m->count, 0);
	mastercf_free(m);
}

Test(mastercf, overlong_entry)
{
	struct str text = STR_INIT;
	struct mastercf *m;
	int nerr;

	str_appendz(&text, "a unix - - - - - a\n");
	for (int i = 0; i < 40; i++) {
		str_appendz(&text, "  -o smtpd_banner=");
		for (int k = 0; k < 2000; k++)
			str_appendc(&text, 'x');
		str_appendc(&text, '\n');
	}
	str_appendz(&text, "b unix - - - - - b\n");
	m = load(str_cstr(&text), NULL, &nerr);
	cr_assert_eq(nerr, 1);
	assert_has(&errors, ":34: line longer than 65536 bytes\n");
	cr_assert_eq(m->count, 1);
	cr_assert_str_eq(m->services[0].name, "b");
	str_free(&text);
	mastercf_free(m);
}
