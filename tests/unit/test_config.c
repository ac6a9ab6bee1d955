/*
 * test_config.c - main.cf parsing, $name expansion, typed validation,
 * the parameter table's defaults and overrides.  Files are real files in
 * a fresh temporary directory.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "str.h"

static char tmpdir[64];
static char cfpath[128];
static struct str errors, warnings;

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(cfpath, sizeof(cfpath), "%s/main.cf", tmpdir);
	str_init(&errors);
	str_init(&warnings);
}

static void
teardown(void)
{
	unlink(cfpath);
	rmdir(tmpdir);
	str_free(&errors);
	str_free(&warnings);
}

TestSuite(config, .init = setup, .fini = teardown);

static void
write_cf(const char *text)
{
	FILE *fp = fopen(cfpath, "w");

	cr_assert_not_null(fp);
	fputs(text, fp);
	cr_assert_eq(fclose(fp), 0);
}

/* Load text as main.cf and validate; return the total error count. */
static int
load(struct config *c, const char *text)
{
	write_cf(text);
	return config_load(c, cfpath, &errors, &warnings) + config_validate(c, &errors);
}

/* errors must hold this text, with the file name in front. */
static void
assert_error_line(const char *rest)
{
	struct str want = STR_INIT;

	str_printf(&want, "%s%s", cfpath, rest);
	cr_assert(strstr(str_cstr(&errors), str_cstr(&want)) != NULL, "want \"%s\" in \"%s\"",
	        str_cstr(&want), str_cstr(&errors));
	str_free(&want);
}

Test(config, syntax_comments_continuation)
{
	struct config *c = config_new();

	cr_assert_eq(load(c,
	                     "# a comment\n"
	                     "\n"
	                     "myhostname = mx.example.org\n"
	                     "smtpd_banner = $myhostname  ESMTP # not a comment\n"
	                     "mydestination = a.example,\n"
	                     "    b.example\n"
	                     "  # a comment inside a continued value\n"
	                     "\tc.example\n"
	                     "relay_domains=x.example   \n"
	                     "   \t\n"),
	        0, "%s", str_cstr(&errors));
	cr_assert_str_eq(config_str(c, "smtpd_banner"), "mx.example.org  ESMTP # not a comment");
	cr_assert_str_eq(config_raw(c, "mydestination"), "a.example, b.example c.example");
	cr_assert_str_eq(config_str(c, "relay_domains"), "x.example");
	char *const *l = config_list(c, "mydestination");
	cr_assert_str_eq(l[0], "a.example");
	cr_assert_str_eq(l[1], "b.example");
	cr_assert_str_eq(l[2], "c.example");
	cr_assert_null(l[3]);
	cr_assert_str_eq(str_cstr(&warnings), "");
	config_free(c);
}

Test(config, origin_and_last_setting_wins)
{
	struct config *c = config_new();
	struct str want = STR_INIT;

	cr_assert_eq(load(c, "hopcount_limit = 10\nhopcount_limit = 30\n"), 0);
	cr_assert_eq(config_int(c, "hopcount_limit"), 30);
	str_printf(&want, "%s:2", cfpath);
	cr_assert_str_eq(config_origin(c, "hopcount_limit"), str_cstr(&want));
	cr_assert_str_eq(config_origin(c, "header_count_limit"), "default");
	cr_assert(config_is_set(c, "hopcount_limit"));
	cr_assert_not(config_is_set(c, "header_count_limit"));
	str_free(&want);
	config_free(c);
}

Test(config, expansion_forms_and_dollar_escape)
{
	struct config *c = config_new();

	cr_assert_eq(
	        load(c,
	                "myhostname = mx.example.org\n"
	                "smtpd_banner = ${myhostname} $(myhostname) $myhostname. $$5 $$$myorigin\n"
	                "myorigin = $mydomain\n"),
	        0, "%s", str_cstr(&errors));
	cr_assert_str_eq(config_str(c, "smtpd_banner"),
	        "mx.example.org mx.example.org mx.example.org. $5 $example.org");
	cr_assert_str_eq(config_str(c, "mydomain"), "example.org");
	config_free(c);
}

Test(config, unknown_parameter_warns_and_counts_as_defined)
{
	struct config *c = config_new();

	cr_assert_eq(load(c, "my_own_thing = support\nbounce_notice_recipient = $my_own_thing\n"),
	        0, "%s", str_cstr(&errors));
	cr_assert_str_eq(config_str(c, "bounce_notice_recipient"), "support");
	struct str want = STR_INIT;
	str_printf(&want, "%s:1: unknown parameter my_own_thing\n", cfpath);
	cr_assert_str_eq(str_cstr(&warnings), str_cstr(&want));
	str_free(&want);
	config_free(c);
}

Test(config, undefined_parameter)
{
	struct config *c = config_new();

	cr_assert_eq(load(c, "# x\n\nrelayhost = [${nowhere}]\n"), 1);
	assert_error_line(":3: parameter relayhost: undefined parameter $nowhere");
	config_free(c);
}

Test(config, recursive_expansion)
{
	struct config *c = config_new();

	cr_assert_eq(load(c,
	                     "myorigin = $mydomain\nmydomain = $myorigin\n"
	                     "smtpd_banner = $smtpd_banner x\n"),
	        3);
	assert_error_line(":1: parameter myorigin: recursive expansion of $myorigin");
	assert_error_line(":2: parameter mydomain: recursive expansion of $mydomain");
	assert_error_line(":3: parameter smtpd_banner: recursive expansion of $smtpd_banner");
	config_free(c);
}

Test(config, expansion_depth_limit)
{
	struct config *c = config_new();
	struct str text = STR_INIT;

	/* A chain of 25 names without a loop: deeper than the limit. */
	str_appendz(&text, "smtpd_banner = $p0\n");
	for (int i = 0; i < 25; i++)
		str_printf(&text, "p%d = $p%d\n", i, i + 1);
	str_appendz(&text, "p25 = end\n");
	cr_assert_eq(load(c, str_cstr(&text)), 1);
	cr_assert(strstr(str_cstr(&errors),
	                  ":1: parameter smtpd_banner: recursive expansion of $p") != NULL);
	cr_assert(strstr(str_cstr(&errors), "more than 20 levels") != NULL);
	/* 19 levels are fine. */
	config_free(c);
	c = config_new();
	str_reset(&errors);
	str_reset(&text);
	str_appendz(&text, "smtpd_banner = $p0\n");
	for (int i = 0; i < 18; i++)
		str_printf(&text, "p%d = $p%d\n", i, i + 1);
	str_appendz(&text, "p18 = end\n");
	cr_assert_eq(load(c, str_cstr(&text)), 0, "%s", str_cstr(&errors));
	cr_assert_str_eq(config_str(c, "smtpd_banner"), "end");
	str_free(&text);
	config_free(c);
}

Test(config, bad_dollar_escapes)
{
	struct config *c = config_new();

	cr_assert_eq(load(c,
	                     "smtpd_banner = cost: $ 5\n"
	                     "myorigin = ${myhostname\n"
	                     "relayhost = $\n"
	                     "bounce_notice_recipient = ${}\n"),
	        4);
	assert_error_line(":1: parameter smtpd_banner: bad \"$\" escape \"$ \" (use $$ for a "
	                  "literal $)");
	assert_error_line(":2: parameter myorigin: bad \"${\" reference (expected ${name})");
	assert_error_line(":3: parameter relayhost: \"$\" at the end of the value (use $$ for a "
	                  "literal $)");
	assert_error_line(":4: parameter bounce_notice_recipient: bad \"${\" reference (expected "
	                  "${name})");
	/* The bad settings were not stored. */
	cr_assert_str_eq(config_raw(c, "smtpd_banner"), "$myhostname ESMTP");
	config_free(c);
}

Test(config, malformed_lines)
{
	struct config *c = config_new();

	cr_assert_eq(load(c,
	                     "  leading = continuation\nmyhostname mx\n= value\nmy-name = 1\n"
	                     "queue_minfree = 1m\n"),
	        4);
	assert_error_line(":1: continuation line without a parameter before it");
	assert_error_line(":2: missing \"=\" after the parameter name");
	assert_error_line(":3: expected a parameter name at the start of the line");
	assert_error_line(":4: missing \"=\" after the parameter name");
	cr_assert_eq(config_size(c, "queue_minfree"), 1024 * 1024);
	config_free(c);
}

Test(config, overlong_lines)
{
	struct config *c = config_new();
	struct str text = STR_INIT;

	str_appendz(&text, "hopcount_limit = 7\nsmtpd_banner = ");
	for (int i = 0; i < CONFIG_LINE_MAX; i++)
		str_appendc(&text, 'x');
	str_appendz(&text, "\nheader_count_limit = 9\nmydestination = a\n");
	/* A logical line too long only through its continuations. */
	for (int i = 0; i < 40; i++) {
		str_appendc(&text, ' ');
		for (int k = 0; k < 2000; k++)
			str_appendc(&text, 'y');
		str_appendc(&text, '\n');
	}
	str_appendz(&text, "myorigin = example.net\n");
	cr_assert_eq(load(c, str_cstr(&text)), 2, "%s", str_cstr(&errors));
	assert_error_line(":2: line longer than 65536 bytes");
	assert_error_line(":37: line longer than 65536 bytes");
	cr_assert_eq(config_int(c, "hopcount_limit"), 7);
	cr_assert_eq(config_int(c, "header_count_limit"), 9);
	cr_assert_str_eq(config_str(c, "myorigin"), "example.net");
	cr_assert_str_eq(config_raw(c, "mydestination"), "$myhostname, localhost");
	str_free(&text);
	config_free(c);
}

Test(config, missing_file)
{
	struct config *c = config_new();

	cr_assert_eq(config_load(c, "/nonexistent/main.cf", &errors, &warnings), 1);
	cr_assert_str_eq(str_cstr(&errors),
	        "/nonexistent/main.cf: cannot open: No such file or directory\n");
	config_free(c);
}

Test(config, type_validation)
{
	struct config *c = config_new();

	cr_assert_eq(load(c,
	                     "hopcount_limit = 0\n"                 /* 1: below 1 */
	                     "smtpd_recipient_limit = 12x\n"        /* 2 */
	                     "smtpd_tls_wrappermode = maybe\n"      /* 3 */
	                     "smtpd_timeout = 2h\n"                 /* 4: above 1h */
	                     "anvil_rate_time_unit = 10y\n"         /* 5 */
	                     "message_size_limit = 10t\n"           /* 6 */
	                     "header_size_limit = 100\n"            /* 7: below 1024 */
	                     "smtpd_tls_security_level = must\n"    /* 8 */
	                     "retry_schedule = 10m, soon\n"         /* 9 */
	                     "mynetworks = 10.0.0.0/33\n"           /* 10 */
	                     "queue_directory = spool\n"            /* 11 */
	                     "smtpd_stress_threshold = 101\n"       /* 12 */
	                     "virtual_alias_maps = /etc/virtual\n"  /* 13 */
	                     "inet_protocols = ipv5\n"              /* 14 */
	                     "smtpd_tls_protocols = >=TLSv9\n"      /* 15 */
	                     "smtp_bind_address = ::1\n"            /* 16 */
	                     "relayhost = [mail.example]:99999\n"), /* 17 */
	        18, "%s", str_cstr(&errors)); /* 18: smtpd_etrn_clients = $mynetworks */
	assert_error_line(":1: parameter hopcount_limit: number 0 is below the minimum 1\n");
	assert_error_line(":2: parameter smtpd_recipient_limit: \"12x\": not a number");
	assert_error_line(":3: parameter smtpd_tls_wrappermode: \"maybe\": not a boolean (use yes "
	                  "or no)");
	assert_error_line(":4: parameter smtpd_timeout: time 2h is above the maximum 1h\n");
	assert_error_line(
	        ":5: parameter anvil_rate_time_unit: \"10y\": bad time unit (use s, m, h, "
	        "d or w)");
	assert_error_line(
	        ":6: parameter message_size_limit: \"10t\": bad size unit (use k, m or g)");
	assert_error_line(":7: parameter header_size_limit: size 100 is below the minimum 1024\n");
	assert_error_line(":8: parameter smtpd_tls_security_level: \"must\": expected one of: "
	                  "\"none\", \"may\", \"encrypt\"");
	assert_error_line(":9: parameter retry_schedule: \"soon\": not a number");
	assert_error_line(":10: parameter mynetworks: \"10.0.0.0/33\": expected an address");
	assert_error_line(":11: parameter queue_directory: \"spool\": expected an absolute path");
	assert_error_line(
	        ":12: parameter smtpd_stress_threshold: number 101 is above the maximum 100\n");
	assert_error_line(":13: parameter virtual_alias_maps: \"/etc/virtual\": expected a table");
	assert_error_line(":14: parameter inet_protocols: \"ipv5\": expected one of");
	assert_error_line(":15: parameter smtpd_tls_protocols: \">=TLSv9\": expected a protocol");
	assert_error_line(":16: parameter smtp_bind_address: \"::1\": expected an IPv4 address");
	assert_error_line(":17: parameter relayhost: \"[mail.example]:99999\": expected host");
	assert_error_line(": parameter smtpd_etrn_clients: \"10.0.0.0/33\": expected an address");
	config_free(c);
}

Test(config, good_typed_values)
{
	struct config *c = config_new();

	cr_assert_eq(load(c,
	                     "smtpd_timeout = 5m\n"
	                     "delay_warning_time = 4\n" /* bare number: hours */
	                     "message_size_limit = 20m\n"
	                     "smtpd_tls_wrappermode = YES\n"
	                     "mynetworks = 10.0.0.0/8 [2001:db8::]/32, 2001:db8::/48 host.example "
	                     "cidr:/etc/tern/nets\n"
	                     "virtual_alias_maps = cdb:/etc/tern/virtual, inline:{a=b, c=d}\n"
	                     "relayhost = [192.0.2.1]:587\n"
	                     "smtpd_tls_protocols = >=TLSv1.3, !SSLv3\n"),
	        0, "%s", str_cstr(&errors));
	cr_assert_eq(config_time(c, "smtpd_timeout"), 300);
	cr_assert_eq(config_time(c, "delay_warning_time"), 4 * 3600);
	cr_assert_eq(config_size(c, "message_size_limit"), 20LL * 1024 * 1024);
	cr_assert_eq(config_bool(c, "smtpd_tls_wrappermode"), 1);
	char *const *m = config_list(c, "virtual_alias_maps");
	cr_assert_str_eq(m[0], "cdb:/etc/tern/virtual");
	cr_assert_str_eq(m[1], "inline:{a=b, c=d}");
	cr_assert_null(m[2]);
	char *const *n = config_list(c, "mynetworks");
	cr_assert_str_eq(n[4], "cidr:/etc/tern/nets");
	config_free(c);
}

Test(config, spec_defaults)
{
	struct config *c = config_new();
	char host[256];

	cr_assert_eq(config_validate(c, &errors), 0, "%s", str_cstr(&errors));
	cr_assert_eq(config_size(c, "message_size_limit"), 10240000);
	cr_assert_eq(config_size(c, "smtpd_session_size_limit"), 51200000);
	cr_assert_eq(config_int(c, "smtpd_line_length_limit"), 2048);
	cr_assert_eq(config_int(c, "smtpd_hard_error_limit"), 20);
	cr_assert_eq(config_int(c, "hopcount_limit"), 100);
	cr_assert_eq(config_int(c, "smtpd_client_connection_limit"), 50);
	cr_assert_eq(config_time(c, "smtpd_timeout"), 300);
	cr_assert_eq(config_time(c, "maximal_queue_lifetime"), 5 * 86400);
	cr_assert_eq(config_time(c, "delay_warning_time"), 12 * 3600);
	cr_assert_eq(config_time(c, "smtp_data_done_timeout"), 600);
	cr_assert_eq(config_size(c, "queue_minfree"), 100LL * 1024 * 1024);
	cr_assert_eq(config_bool(c, "unprivileged_mode"), 0);
	cr_assert_eq(config_bool(c, "smtpd_tls_auth_only"), 1);
	cr_assert_str_eq(config_str(c, "smtpd_tls_security_level"), "may");
	cr_assert_str_eq(config_str(c, "relay_domains"), "");
	cr_assert_str_eq(config_str(c, "home_mailbox"), "Maildir/");
	char *const *r = config_list(c, "retry_schedule");
	const char *want[] = {"10m", "10m", "10m", "15m", "30m", "1h", "2h", "4h"};
	for (int i = 0; i < 8; i++)
		cr_assert_str_eq(r[i], want[i]);
	cr_assert_null(r[8]);
	char *const *n = config_list(c, "mynetworks");
	cr_assert_str_eq(n[0], "127.0.0.0/8");
	cr_assert_str_eq(n[1], "[::1]/128");
	/* myhostname is gethostname(); mydestination follows it. */
	cr_assert_eq(gethostname(host, sizeof(host)), 0);
	cr_assert_str_eq(config_str(c, "myhostname"), host);
	char *const *d = config_list(c, "mydestination");
	cr_assert_str_eq(d[0], host);
	cr_assert_str_eq(d[1], "localhost");
	config_free(c);
}

Test(config, table_is_sound)
{
	cr_assert_gt(param_count, 100);
	for (unsigned long i = 0; i < param_count; i++) {
		const struct param_def *p = &param_table[i];

		cr_assert_not_null(p->summary, "%s", p->name);
		cr_assert_gt(strlen(p->summary), 5, "%s", p->name);
		cr_assert_eq(param_find(p->name), p, "duplicate %s", p->name);
		if (p->type == PARAM_INT || p->type == PARAM_TIME || p->type == PARAM_SIZE)
			cr_assert_leq(p->min, p->max, "%s", p->name);
		if (p->type == PARAM_TIME)
			cr_assert(strchr("smhd", p->time_unit) != NULL, "%s", p->name);
	}
	cr_assert_null(param_find("no_such_parameter"));
}

Test(config, mydomain_without_dots)
{
	struct config *c = config_new();

	cr_assert_eq(load(c, "myhostname = mailhost\n"), 0);
	cr_assert_str_eq(config_str(c, "mydomain"), "localdomain");
	config_free(c);
}

Test(config, set_override_and_clone)
{
	struct config *c = config_new(), *d;

	cr_assert_eq(load(c, "smtpd_timeout = 60s\nmyhostname = mx.example.org\n"), 0);
	char *const *before = config_list(c, "mydestination");
	d = config_clone(c);
	cr_assert_eq(config_set(d, "smtpd_timeout", "10s", "master.cf:12", &errors), 0);
	cr_assert_eq(config_set(d, "myhostname", "other.example.org", "master.cf:12", &errors), 0);
	cr_assert_eq(config_validate(d, &errors), 0, "%s", str_cstr(&errors));
	cr_assert_eq(config_time(d, "smtpd_timeout"), 10);
	cr_assert_str_eq(config_origin(d, "smtpd_timeout"), "master.cf:12");
	cr_assert_str_eq(config_list(d, "mydestination")[0], "other.example.org");
	cr_assert_eq(config_time(c, "smtpd_timeout"), 60);
	cr_assert_str_eq(before[0], "mx.example.org");
	/* Lists handed out before a config_set stay valid. */
	cr_assert_eq(config_set(c, "myhostname", "new.example.org", "test", &errors), 0);
	cr_assert_str_eq(before[0], "mx.example.org");
	cr_assert_str_eq(config_list(c, "mydestination")[0], "new.example.org");

	cr_assert_eq(config_set(d, "smtpd_timeout", "10q", "master.cf:14", &errors), -1);
	cr_assert_eq(config_set(d, "bad-name", "1", "master.cf:15", &errors), -1);
	cr_assert_eq(config_set(d, "smtpd_banner", "$", "master.cf:16", &errors), -1);
	cr_assert_str_eq(str_cstr(&errors),
	        "master.cf:14: parameter smtpd_timeout: \"10q\": bad time unit (use s, m, h, d or "
	        "w)\n"
	        "master.cf:15: bad parameter name \"bad-name\"\n"
	        "master.cf:16: parameter smtpd_banner: \"$\" at the end of the value (use $$ for a "
	        "literal $)\n");
	/* A value with $name is checked when validated, with its origin. */
	str_reset(&errors);
	cr_assert_eq(config_set(d, "hopcount_limit", "$smtpd_banner", "master.cf:17", &errors), 0);
	cr_assert_eq(config_validate(d, &errors), 1);
	cr_assert(strncmp(str_cstr(&errors), "master.cf:17: parameter hopcount_limit: \"", 41) == 0,
	        "%s", str_cstr(&errors));
	config_free(d);
	config_free(c);
}

Test(config, default_value_errors_name_the_default)
{
	struct config *c = config_new();

	/* smtp_helo_name defaults to $myhostname, which is now no host name. */
	cr_assert_eq(load(c, "myhostname = bad..name\n"), 5, "%s", str_cstr(&errors));
	assert_error_line(":1: parameter myhostname: \"bad..name\": expected a host name");
	assert_error_line(
	        ": parameter smtp_helo_name: \"bad..name\": expected a host name (default "
	        "value \"$myhostname\")");
	config_free(c);
}

Test(config, valid_and_dump)
{
	struct config *c = config_new();
	struct str out = STR_INIT, why = STR_INIT;

	cr_assert_eq(load(c, "smtpd_timeout = 1x\nextra_thing = a $$b\n"), 1);
	cr_assert_eq(config_valid(c, "smtpd_timeout", &why), 0);
	cr_assert_str_eq(str_cstr(&why), "\"1x\": bad time unit (use s, m, h, d or w)");
	cr_assert_eq(config_valid(c, "hopcount_limit", NULL), 1);
	config_dump(c, &out, 1);
	cr_assert_str_eq(str_cstr(&out), "smtpd_timeout = 1x\nextra_thing = a $$b\n");
	str_reset(&out);
	config_dump(c, &out, 0);
	cr_assert(strstr(str_cstr(&out), "\nrelay_domains =\n") != NULL);
	cr_assert(strstr(str_cstr(&out), "\nhopcount_limit = 100\n") != NULL);
	str_free(&out);
	str_free(&why);
	config_free(c);
}

Test(config, load_dir_sets_config_directory)
{
	struct config *c = config_new();
	struct str want = STR_INIT;

	write_cf("alias_maps = cdb:$config_directory/aliases\n");
	cr_assert_eq(config_load_dir(c, tmpdir, &errors, &warnings), 0);
	cr_assert_eq(config_validate(c, &errors), 0, "%s", str_cstr(&errors));
	str_printf(&want, "cdb:%s/aliases", tmpdir);
	cr_assert_str_eq(config_str(c, "alias_maps"), str_cstr(&want));
	cr_assert_not(config_is_set(c, "config_directory"));
	str_free(&want);
	config_free(c);
}

Test(config_getter, unknown_name_panics, .signal = SIGABRT)
{
	struct config *c = config_new();

	config_str(c, "no_such_parameter");
}

Test(config_getter, wrong_type_panics, .signal = SIGABRT)
{
	struct config *c = config_new();

	config_int(c, "smtpd_timeout");
}

Test(config_getter, bad_value_is_fatal, .exit_code = 1)
{
	struct config *c = config_new();
	struct str err = STR_INIT;

	cr_assert_eq(config_set(c, "smtpd_timeout", "$smtpd_banner", "test", &err), 0);
	config_time(c, "smtpd_timeout");
}

Test(config, list_split_braces)
{
	char **l = param_list_split(" a,b  c,, {x y, z} inline:{k=v, k2=v2},last ");
	const char *want[] = {"a", "b", "c", "{x y, z}", "inline:{k=v, k2=v2}", "last"};

	for (int i = 0; i < 6; i++)
		cr_assert_str_eq(l[i], want[i]);
	cr_assert_null(l[6]);
	param_list_free(l);
	l = param_list_split("   ");
	cr_assert_null(l[0]);
	param_list_free(l);
}
