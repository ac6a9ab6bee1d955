/*
 * test_msg.c - the mail log line format, its sanitising, and the choice
 * of configuration directory.
 */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confdir.h"
#include "msg.h"
#include "str.h"

static void
read_file(const char *path, struct str *out)
{
	char buf[4096];
	size_t n;
	FILE *fp = fopen(path, "r");

	cr_assert_not_null(fp);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		str_append(out, buf, n);
	fclose(fp);
}

static int
matches(const char *text, const char *re)
{
	regex_t r;
	int rc;

	cr_assert_eq(regcomp(&r, re, REG_EXTENDED | REG_NEWLINE), 0);
	rc = regexec(&r, text, 0, NULL, 0);
	regfree(&r);
	return rc == 0;
}

Test(msg, log_file_line_format)
{
	char path[] = "/tmp/tern-msg-XXXXXX";
	struct str err = STR_INIT, text = STR_INIT;
	char expect[256];
	int fd = mkstemp(path);

	cr_assert(fd >= 0);
	close(fd);
	msg_init("/usr/libexec/tern/smtpd");
	msg_set_hostname("mx.example");
	msg_to_stderr(0);
	cr_assert_eq(msg_open_file(path, &err), 0);
	msg_info("ABC123: client=host[192.0.2.1]");
	msg_warn("disk %s", "low");
	msg_error("bad\r\nforged line\x1b");
	msg_close();
	read_file(path, &text);
	snprintf(expect, sizeof(expect),
	        "^[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} mx\\.example "
	        "tern/smtpd\\[%ld\\]: ABC123: client=host\\[192\\.0\\.2\\.1\\]$",
	        (long)getpid());
	cr_assert(matches(text.data, expect), "got: %s", text.data);
	cr_assert(matches(text.data, "tern/smtpd\\[[0-9]+\\]: warning: disk low$"));
	cr_assert(matches(text.data, "error: bad\\?\\?forged line\\?$"),
	        "control characters are shown as ?: %s", text.data);
	cr_assert_eq(strcmp(msg_progname(), "smtpd"), 0);
	unlink(path);
	str_free(&err);
	str_free(&text);
}

Test(msg, unopenable_log_file_is_an_error)
{
	struct str err = STR_INIT;

	cr_assert_eq(msg_open_file("/nonexistent-dir/maillog", &err), -1);
	cr_assert(strstr(str_cstr(&err), "/nonexistent-dir/maillog") != NULL);
	str_free(&err);
}

Test(msg, command_name_is_plain_tern)
{
	msg_init("tern");
	cr_assert_str_eq(msg_progname(), "tern");
}

Test(confdir, option_then_environment_then_default)
{
	unsetenv("TERN_CONFIG_DIR");
	cr_assert_str_eq(config_dir("/opt/a"), "/opt/a");
	cr_assert_str_eq(config_dir(NULL), config_dir_default());
	setenv("TERN_CONFIG_DIR", "/opt/env", 1);
	cr_assert_str_eq(config_dir(NULL), "/opt/env");
	cr_assert_str_eq(config_dir("/opt/a"), "/opt/a");
	setenv("TERN_CONFIG_DIR", "", 1);
	cr_assert_str_eq(config_dir(NULL), config_dir_default());
}
