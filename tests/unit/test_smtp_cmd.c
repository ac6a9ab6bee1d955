/*
 * test_smtp_cmd.c - SMTP command line parsing (lib/smtp_cmd.c): tables of
 * command lines and what each must give, every ESMTP parameter alone, in
 * every combination and in every way it can be wrong, xtext, BDAT, line
 * finding and the standard replies.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "smtp_cmd.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))
#define UTF       SMTP_CMD_OPT_SMTPUTF8

struct line_case {
	const char *line;
	unsigned opts;
	enum smtp_verb verb;
	enum smtp_cmd_status want;
	const char *arg; /* NULL: not checked */
	enum addr_status addr;
};

static const struct line_case line_cases[] = {
        /* terminators */
        {"QUIT\r\n", 0, SMTP_VERB_QUIT, SMTP_CMD_OK, "", 0},
        {"QUIT\n", 0, SMTP_VERB_QUIT, SMTP_CMD_ERR_BARE_LF, NULL, 0},
        {"QUIT\r", 0, SMTP_VERB_QUIT, SMTP_CMD_ERR_BARE_CR, NULL, 0},
        {"QUIT", 0, SMTP_VERB_QUIT, SMTP_CMD_ERR_NO_CRLF, NULL, 0},
        {"QU\nIT\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_BARE_LF, NULL, 0},
        {"QU\rIT\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_BARE_CR, NULL, 0},
        {"QUIT\r\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_BARE_CR, NULL, 0},
        {"QUIT\n\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_BARE_LF, NULL, 0},
        {"QUIT\r\n\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_BARE_LF, NULL, 0},
        {"RSET\r\nMAIL FROM:<a@b.c>\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_BARE_LF, NULL, 0},
        {"RSET\nMAIL FROM:<a@b.c>\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_BARE_LF, NULL, 0},
        {"MAIL FROM:<a@b.c>\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_BARE_LF, NULL, 0},
        {"MAIL FROM:<a@b.c>\r", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_BARE_CR, NULL, 0},
        {"MAIL FROM:<a@b.c>", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_NO_CRLF, NULL, 0},
        {"DATA\r\n.\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_BARE_LF, NULL, 0},
        {"\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_EMPTY, NULL, 0},
        {"   \r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_EMPTY, NULL, 0},
        {"\t\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_EMPTY, NULL, 0},
        {"\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_BARE_LF, NULL, 0},
        {"\r", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_BARE_CR, NULL, 0},
        {"", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_NO_CRLF, NULL, 0},
        /* verbs */
        {"quit\r\n", 0, SMTP_VERB_QUIT, SMTP_CMD_OK, "", 0},
        {"QuIt\r\n", 0, SMTP_VERB_QUIT, SMTP_CMD_OK, "", 0},
        {"QUIT \r\n", 0, SMTP_VERB_QUIT, SMTP_CMD_OK, "", 0},
        {"QUIT\t\r\n", 0, SMTP_VERB_QUIT, SMTP_CMD_OK, "", 0},
        {"QUIT  \t \r\n", 0, SMTP_VERB_QUIT, SMTP_CMD_OK, "", 0},
        {"QUIT x\r\n", 0, SMTP_VERB_QUIT, SMTP_CMD_ERR_SYNTAX, "x", 0},
        {"QUITX\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_UNKNOWN, NULL, 0},
        {"QUI\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_UNKNOWN, NULL, 0},
        {" QUIT\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_UNKNOWN, NULL, 0},
        {"QUIT\tx\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_UNKNOWN, NULL, 0},
        {"XYZZY\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_UNKNOWN, NULL, 0},
        {"GET / HTTP/1.0\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_UNKNOWN, NULL, 0},
        {"POST /cgi HTTP/1.1\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_UNKNOWN, NULL, 0},
        {"\x16\x03\x01\x02\x01\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_UNKNOWN, NULL, 0},
        {"\xc3\xbc\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_UNKNOWN, NULL, 0},
        {"HELO\r\n", 0, SMTP_VERB_HELO, SMTP_CMD_ERR_SYNTAX, "", 0},
        {"HELO \r\n", 0, SMTP_VERB_HELO, SMTP_CMD_ERR_SYNTAX, "", 0},
        {"HELO example.com\r\n", 0, SMTP_VERB_HELO, SMTP_CMD_OK, "example.com", 0},
        {"helo example.com\r\n", 0, SMTP_VERB_HELO, SMTP_CMD_OK, "example.com", 0},
        {"EHLO\r\n", 0, SMTP_VERB_EHLO, SMTP_CMD_ERR_SYNTAX, "", 0},
        {"EHLO mx.example.com\r\n", 0, SMTP_VERB_EHLO, SMTP_CMD_OK, "mx.example.com", 0},
        {"EHLO [192.0.2.1]\r\n", 0, SMTP_VERB_EHLO, SMTP_CMD_OK, "[192.0.2.1]", 0},
        {"EHLO  host\r\n", 0, SMTP_VERB_EHLO, SMTP_CMD_OK, "host", 0},
        {"EHLO host extra\r\n", 0, SMTP_VERB_EHLO, SMTP_CMD_OK, "host extra", 0},
        {"EHLO host \r\n", 0, SMTP_VERB_EHLO, SMTP_CMD_OK, "host", 0},
        {"DATA\r\n", 0, SMTP_VERB_DATA, SMTP_CMD_OK, "", 0},
        {"data\r\n", 0, SMTP_VERB_DATA, SMTP_CMD_OK, "", 0},
        {"DATA x\r\n", 0, SMTP_VERB_DATA, SMTP_CMD_ERR_SYNTAX, "x", 0},
        {"RSET\r\n", 0, SMTP_VERB_RSET, SMTP_CMD_OK, "", 0},
        {"RSET now\r\n", 0, SMTP_VERB_RSET, SMTP_CMD_ERR_SYNTAX, "now", 0},
        {"STARTTLS\r\n", 0, SMTP_VERB_STARTTLS, SMTP_CMD_OK, "", 0},
        {"starttls\r\n", 0, SMTP_VERB_STARTTLS, SMTP_CMD_OK, "", 0},
        {"STARTTLS x\r\n", 0, SMTP_VERB_STARTTLS, SMTP_CMD_ERR_SYNTAX, "x", 0},
        {"TURN\r\n", 0, SMTP_VERB_TURN, SMTP_CMD_OK, "", 0},
        {"TURN x\r\n", 0, SMTP_VERB_TURN, SMTP_CMD_ERR_SYNTAX, "x", 0},
        {"NOOP\r\n", 0, SMTP_VERB_NOOP, SMTP_CMD_OK, "", 0},
        {"NOOP anything at all\r\n", 0, SMTP_VERB_NOOP, SMTP_CMD_OK, "anything at all", 0},
        {"HELP\r\n", 0, SMTP_VERB_HELP, SMTP_CMD_OK, "", 0},
        {"HELP MAIL\r\n", 0, SMTP_VERB_HELP, SMTP_CMD_OK, "MAIL", 0},
        {"ATRN\r\n", 0, SMTP_VERB_ATRN, SMTP_CMD_OK, "", 0},
        {"ATRN a.example,b.example\r\n", 0, SMTP_VERB_ATRN, SMTP_CMD_OK, "a.example,b.example", 0},
        {"VRFY\r\n", 0, SMTP_VERB_VRFY, SMTP_CMD_ERR_SYNTAX, "", 0},
        {"VRFY user\r\n", 0, SMTP_VERB_VRFY, SMTP_CMD_OK, "user", 0},
        {"VRFY <user@example.com>\r\n", 0, SMTP_VERB_VRFY, SMTP_CMD_OK, "<user@example.com>", 0},
        {"EXPN\r\n", 0, SMTP_VERB_EXPN, SMTP_CMD_ERR_SYNTAX, "", 0},
        {"EXPN staff\r\n", 0, SMTP_VERB_EXPN, SMTP_CMD_OK, "staff", 0},
        {"ETRN\r\n", 0, SMTP_VERB_ETRN, SMTP_CMD_ERR_SYNTAX, "", 0},
        {"ETRN example.com\r\n", 0, SMTP_VERB_ETRN, SMTP_CMD_OK, "example.com", 0},
        {"ETRN @example.com\r\n", 0, SMTP_VERB_ETRN, SMTP_CMD_OK, "@example.com", 0},
        {"AUTH\r\n", 0, SMTP_VERB_AUTH, SMTP_CMD_ERR_SYNTAX, "", 0},
        {"AUTH PLAIN\r\n", 0, SMTP_VERB_AUTH, SMTP_CMD_OK, "PLAIN", 0},
        {"AUTH PLAIN AHVzZXIAcGFzcw==\r\n", 0, SMTP_VERB_AUTH, SMTP_CMD_OK,
                "PLAIN AHVzZXIAcGFzcw==", 0},
        /* MAIL */
        {"MAIL FROM:<a@b.c>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_OK, "FROM:<a@b.c>", 0},
        {"mail from:<a@b.c>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_OK, "from:<a@b.c>", 0},
        {"MAIL FROM: <a@b.c>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_OK, NULL, 0},
        {"MAIL  FROM:<a@b.c>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_OK, "FROM:<a@b.c>", 0},
        {"MAIL FROM:<a@b.c> \r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_OK, "FROM:<a@b.c>", 0},
        {"MAIL FROM:<>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_OK, NULL, 0},
        {"MAIL FROM:<> SIZE=100\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_OK, NULL, 0},
        {"MAIL FROM:  <a@b.c>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL,
                ADDR_ERR_NO_OPEN},
        {"MAIL FROM:a@b.c\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL, ADDR_ERR_NO_OPEN},
        {"MAIL FROM:\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL, ADDR_ERR_NO_OPEN},
        {"MAIL FROM: \r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL, ADDR_ERR_NO_OPEN},
        {"MAIL FROM:Joe <a@b.c>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL,
                ADDR_ERR_NO_OPEN},
        {"MAIL FROM:<a@b.c\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL, ADDR_ERR_NO_CLOSE},
        {"MAIL FROM:<\"a>b@c.d\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL,
                ADDR_ERR_NO_CLOSE},
        {"MAIL FROM:<a@b.c>x\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL,
                ADDR_ERR_TRAILING},
        {"MAIL FROM:<a@b.c>>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL,
                ADDR_ERR_TRAILING},
        {"MAIL FROM:<a@b.c><d@e.f>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL,
                ADDR_ERR_TRAILING},
        {"MAIL FROM:<postmaster>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL,
                ADDR_ERR_NO_DOMAIN},
        {"MAIL FROM:<a b@c.d>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL, ADDR_ERR_LOCAL},
        {"MAIL FROM:<a@1.2.3.4>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL,
                ADDR_ERR_NUMERIC_DOMAIN},
        {"MAIL FROM:<\"a b\"@c.d> SIZE=5\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_OK, NULL, 0},
        {"MAIL FROM:<\"a>b\"@c.d>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_OK, NULL, 0},
        {"MAIL FROM:<\"a\\\">b\"@c.d>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_OK, NULL, 0},
        {"MAIL FROM:<@r:a@b.c>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_OK, NULL, 0},
        {"MAIL FROM:<\xc3\xbcser@x.org>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL,
                ADDR_ERR_UTF8_NOT_ALLOWED},
        {"MAIL FROM:<\xc3\xbcser@x.org> SMTPUTF8\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_OK, NULL, 0},
        {"MAIL FROM:<\xc3\xbcser@x.org> BODY=8BITMIME SMTPUTF8\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_OK,
                NULL, 0},
        {"MAIL FROM:<\xc3\xbcser@x.org>\r\n", UTF, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL,
                ADDR_ERR_UTF8_NOT_ALLOWED},
        {"MAIL FROM:<\xc3@x.org> SMTPUTF8\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL,
                ADDR_ERR_UTF8_INVALID},
        {"MAIL FROM:<\xc3@x.org>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_ADDRESS, NULL,
                ADDR_ERR_UTF8_NOT_ALLOWED},
        {"MAIL FROM:<a b@c.d> SIZE=abc\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_SIZE, NULL, 0},
        {"MAIL\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_SYNTAX, "", 0},
        {"MAIL TO:<a@b.c>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_SYNTAX, NULL, 0},
        {"MAIL FROM <a@b.c>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_SYNTAX, NULL, 0},
        {"MAIL FROM<a@b.c>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_SYNTAX, NULL, 0},
        {"MAIL FRO:<a@b.c>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_SYNTAX, NULL, 0},
        {"MAIL <a@b.c>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_SYNTAX, NULL, 0},
        {"MAILFROM:<a@b.c>\r\n", 0, SMTP_VERB_NONE, SMTP_CMD_ERR_UNKNOWN, NULL, 0},
        {"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n", 0, SMTP_VERB_MAIL, SMTP_CMD_ERR_BARE_LF, NULL,
                0},
        /* RCPT */
        {"RCPT TO:<a@b.c>\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_OK, "TO:<a@b.c>", 0},
        {"rcpt to:<a@b.c>\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_OK, NULL, 0},
        {"RCPT TO: <a@b.c>\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_OK, NULL, 0},
        {"RCPT TO:<postmaster>\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_OK, NULL, 0},
        {"RCPT TO:<Postmaster>\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_OK, NULL, 0},
        {"RCPT TO:<@a,@b:c@d.e>\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_OK, NULL, 0},
        {"RCPT TO:<>\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_ERR_ADDRESS, NULL,
                ADDR_ERR_NULL_NOT_ALLOWED},
        {"RCPT TO:<user>\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_ERR_ADDRESS, NULL, ADDR_ERR_NO_DOMAIN},
        {"RCPT TO:user@x.org\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_ERR_ADDRESS, NULL, ADDR_ERR_NO_OPEN},
        {"RCPT TO:<\xc3\xbcser@x.org>\r\n", UTF, SMTP_VERB_RCPT, SMTP_CMD_OK, NULL, 0},
        {"RCPT TO:<\xc3\xbcser@x.org>\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_ERR_ADDRESS, NULL,
                ADDR_ERR_UTF8_NOT_ALLOWED},
        {"RCPT TO:<\xc3\xbcser@x.org> SMTPUTF8\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_ERR_PARAM_UNKNOWN,
                NULL, 0},
        {"RCPT TO:<a@b.c> SIZE=1\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_ERR_PARAM_UNKNOWN, NULL, 0},
        {"RCPT FROM:<a@b.c>\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_ERR_SYNTAX, NULL, 0},
        {"RCPT\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_ERR_SYNTAX, NULL, 0},
        {"RCPT TO:\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_ERR_ADDRESS, NULL, ADDR_ERR_NO_OPEN},
        {"RCPT TO:<a@b.c> NOTIFY=NEVER\r\n", 0, SMTP_VERB_RCPT, SMTP_CMD_OK, NULL, 0},
        /* BDAT */
        {"BDAT 10\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_OK, "10", 0},
        {"BDAT 0 LAST\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_OK, NULL, 0},
        {"BDAT 10 last\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_OK, NULL, 0},
        {"BDAT 10  LAST\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_OK, NULL, 0},
        {"BDAT\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_ERR_SYNTAX, NULL, 0},
        {"BDAT LAST\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_ERR_BDAT_SIZE, NULL, 0},
        {"BDAT -1\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_ERR_BDAT_SIZE, NULL, 0},
        {"BDAT +1\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_ERR_BDAT_SIZE, NULL, 0},
        {"BDAT 1x\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_ERR_BDAT_SIZE, NULL, 0},
        {"BDAT 0x10\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_ERR_BDAT_SIZE, NULL, 0},
        {"BDAT 1LAST\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_ERR_BDAT_SIZE, NULL, 0},
        {"BDAT 1.5\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_ERR_BDAT_SIZE, NULL, 0},
        {"BDAT 10 LAST x\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_ERR_SYNTAX, NULL, 0},
        {"BDAT 10 FIRST\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_ERR_SYNTAX, NULL, 0},
        {"BDAT 10 LASTX\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_ERR_SYNTAX, NULL, 0},
        {"BDAT 10 20\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_ERR_SYNTAX, NULL, 0},
        {"BDAT 18446744073709551615\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_OK, NULL, 0},
        {"BDAT 18446744073709551616\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_ERR_BDAT_SIZE, NULL, 0},
        {"BDAT 99999999999999999999\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_ERR_BDAT_SIZE, NULL, 0},
        {"BDAT 000000000000000000001\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_ERR_BDAT_SIZE, NULL, 0},
        {"BDAT 00000000000000000001 LAST\r\n", 0, SMTP_VERB_BDAT, SMTP_CMD_OK, NULL, 0},
};

Test(smtp_cmd, line_table)
{
	struct smtp_cmd cmd;
	size_t i;

	smtp_cmd_init(&cmd);
	for (i = 0; i < NCASES(line_cases); i++) {
		const struct line_case *c = &line_cases[i];
		enum smtp_cmd_status st = smtp_cmd_parse(&cmd, c->line, strlen(c->line), c->opts);

		cr_expect_eq(st, c->want, "\"%s\": got %s, want %s", c->line, smtp_cmd_strerror(st),
		        smtp_cmd_strerror(c->want));
		cr_expect_eq(cmd.status, st);
		cr_expect_eq(
		        cmd.verb, c->verb, "\"%s\": verb %d, want %d", c->line, cmd.verb, c->verb);
		if (c->arg != NULL && st == c->want)
			cr_expect_str_eq(str_cstr(&cmd.arg), c->arg, "\"%s\"", c->line);
		if (st == SMTP_CMD_ERR_ADDRESS)
			cr_expect_eq(cmd.addr_status, c->addr, "\"%s\": %s", c->line,
			        addr_strerror(cmd.addr_status));
	}
	smtp_cmd_free(&cmd);
}

Test(smtp_cmd, nul_in_line)
{
	struct smtp_cmd cmd;

	smtp_cmd_init(&cmd);
	cr_expect_eq(smtp_cmd_parse(&cmd, "QU\0IT\r\n", 7, 0), SMTP_CMD_ERR_NUL);
	cr_expect_eq(smtp_cmd_parse(&cmd, "NOOP \0\r\n", 8, 0), SMTP_CMD_ERR_NUL);
	cr_expect_eq(cmd.verb, SMTP_VERB_NOOP);
	cr_expect_eq(smtp_cmd_parse(&cmd, "MAIL FROM:<a@b.c>\0\r\n", 20, 0), SMTP_CMD_ERR_NUL);
	cr_expect_eq(smtp_cmd_parse(&cmd, "\0\r\n", 3, 0), SMTP_CMD_ERR_NUL);
	smtp_cmd_free(&cmd);
}

/* Every verb by its own name, in upper and lower case. */
Test(smtp_cmd, every_verb)
{
	struct smtp_cmd cmd;
	char line[64], lower[64];
	int v;

	smtp_cmd_init(&cmd);
	cr_expect_str_eq(smtp_verb_name(SMTP_VERB_NONE), "");
	cr_expect_str_eq(smtp_verb_name(SMTP_VERB_COUNT), "");
	for (v = SMTP_VERB_NONE + 1; v < SMTP_VERB_COUNT; v++) {
		const char *name = smtp_verb_name((enum smtp_verb)v);
		size_t i;

		cr_assert(strlen(name) >= 4);
		snprintf(line, sizeof(line), "%s\r\n", name);
		for (i = 0; line[i]; i++)
			lower[i] = (char)tolower((unsigned char)line[i]);
		lower[i] = '\0';
		smtp_cmd_parse(&cmd, line, strlen(line), 0);
		cr_expect_eq(cmd.verb, v, "%s", name);
		smtp_cmd_parse(&cmd, lower, strlen(lower), 0);
		cr_expect_eq(cmd.verb, v, "%s", lower);
	}
	smtp_cmd_free(&cmd);
}

/* MAIL and RCPT with their parameters. */
struct param_case {
	const char *line;
	unsigned opts;
	enum smtp_cmd_status want;
	const char *bad; /* expected cmd.bad_param for parameter errors */
	unsigned seen;
	unsigned long long size;
	enum smtp_body body;
	enum smtp_ret ret;
	const char *envid;
	unsigned notify;
	enum smtp_orcpt_type orcpt_type;
	const char *orcpt;
};

#define MAILP   "MAIL FROM:<a@b.c> "
#define RCPTP   "RCPT TO:<a@b.c> "
#define ST_SIZE SMTP_PARAM_SIZE
#define ST_BODY SMTP_PARAM_BODY
#define ST_UTF8 SMTP_PARAM_SMTPUTF8
#define ST_RET  SMTP_PARAM_RET
#define ST_ENV  SMTP_PARAM_ENVID
#define ST_AUTH SMTP_PARAM_AUTH
#define ST_NOT  SMTP_PARAM_NOTIFY
#define ST_ORC  SMTP_PARAM_ORCPT

static const struct param_case param_cases[] = {
        /* SIZE */
        {.line = MAILP "SIZE=0\r\n", .seen = ST_SIZE, .size = 0},
        {.line = MAILP "SIZE=10240000\r\n", .seen = ST_SIZE, .size = 10240000},
        {.line = MAILP "size=42\r\n", .seen = ST_SIZE, .size = 42},
        {.line = MAILP "Size=42\r\n", .seen = ST_SIZE, .size = 42},
        {.line = MAILP "SIZE=18446744073709551615\r\n", .seen = ST_SIZE, .size = ULLONG_MAX},
        {.line = MAILP "SIZE=18446744073709551616\r\n", .seen = ST_SIZE, .size = ULLONG_MAX},
        {.line = MAILP "SIZE=99999999999999999999\r\n", .seen = ST_SIZE, .size = ULLONG_MAX},
        {.line = MAILP "SIZE=00000000000000000042\r\n", .seen = ST_SIZE, .size = 42},
        {.line = MAILP "SIZE=000000000000000000042\r\n",
                .want = SMTP_CMD_ERR_SIZE,
                .bad = "SIZE=000000000000000000042"},
        {.line = MAILP "SIZE\r\n", .want = SMTP_CMD_ERR_SIZE, .bad = "SIZE"},
        {.line = MAILP "SIZE=\r\n", .want = SMTP_CMD_ERR_PARAM_SYNTAX, .bad = "SIZE="},
        {.line = MAILP "SIZE=-1\r\n", .want = SMTP_CMD_ERR_SIZE, .bad = "SIZE=-1"},
        {.line = MAILP "SIZE=+1\r\n", .want = SMTP_CMD_ERR_SIZE, .bad = "SIZE=+1"},
        {.line = MAILP "SIZE=1k\r\n", .want = SMTP_CMD_ERR_SIZE, .bad = "SIZE=1k"},
        {.line = MAILP "SIZE=1.5\r\n", .want = SMTP_CMD_ERR_SIZE, .bad = "SIZE=1.5"},
        {.line = MAILP "SIZE=0x10\r\n", .want = SMTP_CMD_ERR_SIZE, .bad = "SIZE=0x10"},
        {.line = MAILP "SIZE=abc\r\n", .want = SMTP_CMD_ERR_SIZE, .bad = "SIZE=abc"},
        {.line = MAILP "SIZE==1\r\n", .want = SMTP_CMD_ERR_PARAM_SYNTAX, .bad = "SIZE==1"},
        {.line = MAILP "SIZE=1=2\r\n", .want = SMTP_CMD_ERR_PARAM_SYNTAX, .bad = "SIZE=1=2"},
        {.line = MAILP "SIZE=1 SIZE=2\r\n", .want = SMTP_CMD_ERR_PARAM_DUP, .bad = "SIZE=2"},
        {.line = MAILP "SIZE=1 size=1\r\n", .want = SMTP_CMD_ERR_PARAM_DUP, .bad = "size=1"},
        {.line = RCPTP "SIZE=1\r\n", .want = SMTP_CMD_ERR_PARAM_UNKNOWN, .bad = "SIZE=1"},
        /* BODY */
        {.line = MAILP "BODY=7BIT\r\n", .seen = ST_BODY, .body = SMTP_BODY_7BIT},
        {.line = MAILP "BODY=8BITMIME\r\n", .seen = ST_BODY, .body = SMTP_BODY_8BITMIME},
        {.line = MAILP "BODY=BINARYMIME\r\n", .seen = ST_BODY, .body = SMTP_BODY_BINARYMIME},
        {.line = MAILP "body=8bitmime\r\n", .seen = ST_BODY, .body = SMTP_BODY_8BITMIME},
        {.line = MAILP "BODY=8BIT\r\n", .want = SMTP_CMD_ERR_BODY, .bad = "BODY=8BIT"},
        {.line = MAILP "BODY=8BITMIMEX\r\n", .want = SMTP_CMD_ERR_BODY, .bad = "BODY=8BITMIMEX"},
        {.line = MAILP "BODY=7BIT,8BITMIME\r\n",
                .want = SMTP_CMD_ERR_BODY,
                .bad = "BODY=7BIT,8BITMIME"},
        {.line = MAILP "BODY\r\n", .want = SMTP_CMD_ERR_BODY, .bad = "BODY"},
        {.line = MAILP "BODY=\r\n", .want = SMTP_CMD_ERR_PARAM_SYNTAX, .bad = "BODY="},
        {.line = MAILP "BODY=7BIT BODY=7BIT\r\n",
                .want = SMTP_CMD_ERR_PARAM_DUP,
                .bad = "BODY=7BIT"},
        {.line = RCPTP "BODY=7BIT\r\n", .want = SMTP_CMD_ERR_PARAM_UNKNOWN, .bad = "BODY=7BIT"},
        /* SMTPUTF8 */
        {.line = MAILP "SMTPUTF8\r\n", .seen = ST_UTF8},
        {.line = MAILP "smtputf8\r\n", .seen = ST_UTF8},
        {.line = MAILP "SMTPUTF8=yes\r\n", .want = SMTP_CMD_ERR_SMTPUTF8, .bad = "SMTPUTF8=yes"},
        {.line = MAILP "SMTPUTF8 SMTPUTF8\r\n", .want = SMTP_CMD_ERR_PARAM_DUP, .bad = "SMTPUTF8"},
        /* RET */
        {.line = MAILP "RET=FULL\r\n", .seen = ST_RET, .ret = SMTP_RET_FULL},
        {.line = MAILP "RET=HDRS\r\n", .seen = ST_RET, .ret = SMTP_RET_HDRS},
        {.line = MAILP "ret=hdrs\r\n", .seen = ST_RET, .ret = SMTP_RET_HDRS},
        {.line = MAILP "RET=NONE\r\n", .want = SMTP_CMD_ERR_RET, .bad = "RET=NONE"},
        {.line = MAILP "RET=FULL,HDRS\r\n", .want = SMTP_CMD_ERR_RET, .bad = "RET=FULL,HDRS"},
        {.line = MAILP "RET\r\n", .want = SMTP_CMD_ERR_RET, .bad = "RET"},
        {.line = MAILP "RET=FULL RET=HDRS\r\n", .want = SMTP_CMD_ERR_PARAM_DUP, .bad = "RET=HDRS"},
        {.line = RCPTP "RET=FULL\r\n", .want = SMTP_CMD_ERR_PARAM_UNKNOWN, .bad = "RET=FULL"},
        /* ENVID */
        {.line = MAILP "ENVID=abc\r\n", .seen = ST_ENV, .envid = "abc"},
        {.line = MAILP "ENVID=QQ314159\r\n", .seen = ST_ENV, .envid = "QQ314159"},
        {.line = MAILP "ENVID=a+2Bb\r\n", .seen = ST_ENV, .envid = "a+b"},
        {.line = MAILP "ENVID=a+2bb\r\n", .seen = ST_ENV, .envid = "a+b"},
        {.line = MAILP "ENVID=a+3Db+20c\r\n", .seen = ST_ENV, .envid = "a=b c"},
        {.line = MAILP "ENVID=<id@host>\r\n", .seen = ST_ENV, .envid = "<id@host>"},
        {.line = MAILP "ENVID=a+00\r\n", .want = SMTP_CMD_ERR_ENVID, .bad = "ENVID=a+00"},
        {.line = MAILP "ENVID=a+0\r\n", .want = SMTP_CMD_ERR_ENVID, .bad = "ENVID=a+0"},
        {.line = MAILP "ENVID=a+\r\n", .want = SMTP_CMD_ERR_ENVID, .bad = "ENVID=a+"},
        {.line = MAILP "ENVID=a+zz\r\n", .want = SMTP_CMD_ERR_ENVID, .bad = "ENVID=a+zz"},
        {.line = MAILP "ENVID=a+0A\r\n", .want = SMTP_CMD_ERR_ENVID, .bad = "ENVID=a+0A"},
        {.line = MAILP "ENVID=a+7F\r\n", .want = SMTP_CMD_ERR_ENVID, .bad = "ENVID=a+7F"},
        {.line = MAILP "ENVID=a+C3+BC\r\n", .want = SMTP_CMD_ERR_ENVID, .bad = "ENVID=a+C3+BC"},
        {.line = MAILP "ENVID=\xc3\xbc\r\n", .want = SMTP_CMD_ERR_ENVID, .bad = "ENVID=\xc3\xbc"},
        {.line = MAILP "ENVID\r\n", .want = SMTP_CMD_ERR_ENVID, .bad = "ENVID"},
        {.line = MAILP "ENVID=a ENVID=b\r\n", .want = SMTP_CMD_ERR_PARAM_DUP, .bad = "ENVID=b"},
        {.line = RCPTP "ENVID=a\r\n", .want = SMTP_CMD_ERR_PARAM_UNKNOWN, .bad = "ENVID=a"},
        /* AUTH */
        {.line = MAILP "AUTH=<>\r\n", .seen = ST_AUTH},
        {.line = MAILP "AUTH=user+40example.com\r\n", .seen = ST_AUTH},
        {.line = MAILP "AUTH=a+zz\r\n", .want = SMTP_CMD_ERR_AUTH, .bad = "AUTH=a+zz"},
        {.line = MAILP "AUTH\r\n", .want = SMTP_CMD_ERR_AUTH, .bad = "AUTH"},
        {.line = MAILP "AUTH=<> AUTH=<>\r\n", .want = SMTP_CMD_ERR_PARAM_DUP, .bad = "AUTH=<>"},
        {.line = RCPTP "AUTH=<>\r\n", .want = SMTP_CMD_ERR_PARAM_UNKNOWN, .bad = "AUTH=<>"},
        /* NOTIFY */
        {.line = RCPTP "NOTIFY=NEVER\r\n", .seen = ST_NOT, .notify = SMTP_NOTIFY_NEVER},
        {.line = RCPTP "NOTIFY=SUCCESS\r\n", .seen = ST_NOT, .notify = SMTP_NOTIFY_SUCCESS},
        {.line = RCPTP "NOTIFY=FAILURE\r\n", .seen = ST_NOT, .notify = SMTP_NOTIFY_FAILURE},
        {.line = RCPTP "NOTIFY=DELAY\r\n", .seen = ST_NOT, .notify = SMTP_NOTIFY_DELAY},
        {.line = RCPTP "NOTIFY=SUCCESS,FAILURE\r\n",
                .seen = ST_NOT,
                .notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE},
        {.line = RCPTP "NOTIFY=FAILURE,DELAY\r\n",
                .seen = ST_NOT,
                .notify = SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY},
        {.line = RCPTP "NOTIFY=SUCCESS,FAILURE,DELAY\r\n",
                .seen = ST_NOT,
                .notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY},
        {.line = RCPTP "NOTIFY=delay,success\r\n",
                .seen = ST_NOT,
                .notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY},
        {.line = RCPTP "notify=never\r\n", .seen = ST_NOT, .notify = SMTP_NOTIFY_NEVER},
        {.line = RCPTP "NOTIFY=NEVER,SUCCESS\r\n",
                .want = SMTP_CMD_ERR_NOTIFY,
                .bad = "NOTIFY=NEVER,SUCCESS"},
        {.line = RCPTP "NOTIFY=DELAY,NEVER\r\n",
                .want = SMTP_CMD_ERR_NOTIFY,
                .bad = "NOTIFY=DELAY,NEVER"},
        {.line = RCPTP "NOTIFY=NEVER,NEVER\r\n",
                .want = SMTP_CMD_ERR_NOTIFY,
                .bad = "NOTIFY=NEVER,NEVER"},
        {.line = RCPTP "NOTIFY=SUCCESS,SUCCESS\r\n",
                .want = SMTP_CMD_ERR_NOTIFY,
                .bad = "NOTIFY=SUCCESS,SUCCESS"},
        {.line = RCPTP "NOTIFY=SUCCESS,\r\n",
                .want = SMTP_CMD_ERR_NOTIFY,
                .bad = "NOTIFY=SUCCESS,"},
        {.line = RCPTP "NOTIFY=,SUCCESS\r\n",
                .want = SMTP_CMD_ERR_NOTIFY,
                .bad = "NOTIFY=,SUCCESS"},
        {.line = RCPTP "NOTIFY=SUCCESS,,FAILURE\r\n",
                .want = SMTP_CMD_ERR_NOTIFY,
                .bad = "NOTIFY=SUCCESS,,FAILURE"},
        {.line = RCPTP "NOTIFY=ALWAYS\r\n", .want = SMTP_CMD_ERR_NOTIFY, .bad = "NOTIFY=ALWAYS"},
        {.line = RCPTP "NOTIFY\r\n", .want = SMTP_CMD_ERR_NOTIFY, .bad = "NOTIFY"},
        {.line = RCPTP "NOTIFY=NEVER NOTIFY=NEVER\r\n",
                .want = SMTP_CMD_ERR_PARAM_DUP,
                .bad = "NOTIFY=NEVER"},
        {.line = MAILP "NOTIFY=NEVER\r\n",
                .want = SMTP_CMD_ERR_PARAM_UNKNOWN,
                .bad = "NOTIFY=NEVER"},
        /* ORCPT */
        {.line = RCPTP "ORCPT=rfc822;a@b.c\r\n",
                .seen = ST_ORC,
                .orcpt_type = SMTP_ORCPT_RFC822,
                .orcpt = "a@b.c"},
        {.line = RCPTP "ORCPT=RFC822;a@b.c\r\n",
                .seen = ST_ORC,
                .orcpt_type = SMTP_ORCPT_RFC822,
                .orcpt = "a@b.c"},
        {.line = RCPTP "ORCPT=rfc822;a+2Bb@c\r\n",
                .seen = ST_ORC,
                .orcpt_type = SMTP_ORCPT_RFC822,
                .orcpt = "a+b@c"},
        {.line = RCPTP "ORCPT=rfc822;\"a+20b\"@c\r\n",
                .seen = ST_ORC,
                .orcpt_type = SMTP_ORCPT_RFC822,
                .orcpt = "\"a b\"@c"},
        {.line = RCPTP "ORCPT=rfc822;\r\n", .want = SMTP_CMD_ERR_ORCPT, .bad = "ORCPT=rfc822;"},
        {.line = RCPTP "ORCPT=rfc822\r\n", .want = SMTP_CMD_ERR_ORCPT, .bad = "ORCPT=rfc822"},
        {.line = RCPTP "ORCPT=;a@b.c\r\n", .want = SMTP_CMD_ERR_ORCPT, .bad = "ORCPT=;a@b.c"},
        {.line = RCPTP "ORCPT=x400;a\r\n", .want = SMTP_CMD_ERR_ORCPT, .bad = "ORCPT=x400;a"},
        {.line = RCPTP "ORCPT=rfc822;a+0Ab\r\n",
                .want = SMTP_CMD_ERR_ORCPT,
                .bad = "ORCPT=rfc822;a+0Ab"},
        {.line = RCPTP "ORCPT=rfc822;a+C3+BC\r\n",
                .want = SMTP_CMD_ERR_ORCPT,
                .bad = "ORCPT=rfc822;a+C3+BC"},
        {.line = RCPTP "ORCPT=rfc822;a+\r\n", .want = SMTP_CMD_ERR_ORCPT, .bad = "ORCPT=rfc822;a+"},
        {.line = RCPTP "ORCPT\r\n", .want = SMTP_CMD_ERR_ORCPT, .bad = "ORCPT"},
        {.line = RCPTP "ORCPT=utf-8;\\x{FC}ser@x.org\r\n",
                .seen = ST_ORC,
                .orcpt_type = SMTP_ORCPT_UTF8,
                .orcpt = "\xc3\xbcser@x.org"},
        {.line = RCPTP "ORCPT=UTF-8;a\\x{2B}b@c\r\n",
                .seen = ST_ORC,
                .orcpt_type = SMTP_ORCPT_UTF8,
                .orcpt = "a+b@c"},
        {.line = RCPTP "ORCPT=utf-8;\\x{1F600}@c\r\n",
                .seen = ST_ORC,
                .orcpt_type = SMTP_ORCPT_UTF8,
                .orcpt = "\xf0\x9f\x98\x80@c"},
        {.line = RCPTP "ORCPT=utf-8;\\x{10FFFF}@c\r\n",
                .seen = ST_ORC,
                .orcpt_type = SMTP_ORCPT_UTF8,
                .orcpt = "\xf4\x8f\xbf\xbf@c"},
        {.line = RCPTP "ORCPT=utf-8;\\x{20}@c\r\n",
                .seen = ST_ORC,
                .orcpt_type = SMTP_ORCPT_UTF8,
                .orcpt = " @c"},
        {.line = RCPTP "ORCPT=utf-8;\xc3\xbcser@x.org\r\n",
                .opts = UTF,
                .seen = ST_ORC,
                .orcpt_type = SMTP_ORCPT_UTF8,
                .orcpt = "\xc3\xbcser@x.org"},
        {.line = RCPTP "ORCPT=utf-8;\xc3\xbcser@x.org\r\n",
                .want = SMTP_CMD_ERR_ORCPT,
                .bad = "ORCPT=utf-8;\xc3\xbcser@x.org"},
        {.line = RCPTP "ORCPT=utf-8;\xc3@x.org\r\n",
                .opts = UTF,
                .want = SMTP_CMD_ERR_ORCPT,
                .bad = "ORCPT=utf-8;\xc3@x.org"},
        {.line = RCPTP "ORCPT=utf-8;a+2Bb@c\r\n",
                .want = SMTP_CMD_ERR_ORCPT,
                .bad = "ORCPT=utf-8;a+2Bb@c"},
        {.line = RCPTP "ORCPT=utf-8;\\x{D800}@c\r\n",
                .want = SMTP_CMD_ERR_ORCPT,
                .bad = "ORCPT=utf-8;\\x{D800}@c"},
        {.line = RCPTP "ORCPT=utf-8;\\x{110000}@c\r\n",
                .want = SMTP_CMD_ERR_ORCPT,
                .bad = "ORCPT=utf-8;\\x{110000}@c"},
        {.line = RCPTP "ORCPT=utf-8;\\x{}@c\r\n",
                .want = SMTP_CMD_ERR_ORCPT,
                .bad = "ORCPT=utf-8;\\x{}@c"},
        {.line = RCPTP "ORCPT=utf-8;\\x{0000041}@c\r\n",
                .want = SMTP_CMD_ERR_ORCPT,
                .bad = "ORCPT=utf-8;\\x{0000041}@c"},
        {.line = RCPTP "ORCPT=utf-8;\\x{0}@c\r\n",
                .want = SMTP_CMD_ERR_ORCPT,
                .bad = "ORCPT=utf-8;\\x{0}@c"},
        {.line = RCPTP "ORCPT=utf-8;\\x{A}@c\r\n",
                .want = SMTP_CMD_ERR_ORCPT,
                .bad = "ORCPT=utf-8;\\x{A}@c"},
        {.line = RCPTP "ORCPT=utf-8;\\x{41\r\n",
                .want = SMTP_CMD_ERR_ORCPT,
                .bad = "ORCPT=utf-8;\\x{41"},
        {.line = RCPTP "ORCPT=utf-8;\\y{41}\r\n",
                .want = SMTP_CMD_ERR_ORCPT,
                .bad = "ORCPT=utf-8;\\y{41}"},
        {.line = RCPTP "ORCPT=utf-8;a\\\r\n", .want = SMTP_CMD_ERR_ORCPT, .bad = "ORCPT=utf-8;a\\"},
        {.line = RCPTP "ORCPT=utf-8;\r\n", .want = SMTP_CMD_ERR_ORCPT, .bad = "ORCPT=utf-8;"},
        {.line = RCPTP "ORCPT=rfc822;a ORCPT=rfc822;b\r\n",
                .want = SMTP_CMD_ERR_PARAM_DUP,
                .bad = "ORCPT=rfc822;b"},
        {.line = MAILP "ORCPT=rfc822;a@b.c\r\n",
                .want = SMTP_CMD_ERR_PARAM_UNKNOWN,
                .bad = "ORCPT=rfc822;a@b.c"},
        /* both RCPT parameters */
        {.line = RCPTP "NOTIFY=SUCCESS,DELAY ORCPT=rfc822;x@y.z\r\n",
                .seen = ST_NOT | ST_ORC,
                .notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY,
                .orcpt_type = SMTP_ORCPT_RFC822,
                .orcpt = "x@y.z"},
        {.line = RCPTP "ORCPT=rfc822;x@y.z  NOTIFY=NEVER\r\n",
                .seen = ST_NOT | ST_ORC,
                .notify = SMTP_NOTIFY_NEVER,
                .orcpt_type = SMTP_ORCPT_RFC822,
                .orcpt = "x@y.z"},
        /* unknown, malformed */
        {.line = MAILP "FOO=bar\r\n", .want = SMTP_CMD_ERR_PARAM_UNKNOWN, .bad = "FOO=bar"},
        {.line = MAILP "FOO\r\n", .want = SMTP_CMD_ERR_PARAM_UNKNOWN, .bad = "FOO"},
        {.line = MAILP "X-FOO=bar\r\n", .want = SMTP_CMD_ERR_PARAM_UNKNOWN, .bad = "X-FOO=bar"},
        {.line = MAILP "XFORWARD\r\n", .want = SMTP_CMD_ERR_PARAM_UNKNOWN, .bad = "XFORWARD"},
        {.line = MAILP "SIZE=1 FOO=bar\r\n", .want = SMTP_CMD_ERR_PARAM_UNKNOWN, .bad = "FOO=bar"},
        {.line = MAILP "SIZEX=1\r\n", .want = SMTP_CMD_ERR_PARAM_UNKNOWN, .bad = "SIZEX=1"},
        {.line = MAILP "SIZ=1\r\n", .want = SMTP_CMD_ERR_PARAM_UNKNOWN, .bad = "SIZ=1"},
        {.line = RCPTP "FOO=bar\r\n", .want = SMTP_CMD_ERR_PARAM_UNKNOWN, .bad = "FOO=bar"},
        {.line = MAILP "=x\r\n", .want = SMTP_CMD_ERR_PARAM_SYNTAX, .bad = "=x"},
        {.line = MAILP "-SIZE=1\r\n", .want = SMTP_CMD_ERR_PARAM_SYNTAX, .bad = "-SIZE=1"},
        {.line = MAILP "SI_ZE=1\r\n", .want = SMTP_CMD_ERR_PARAM_SYNTAX, .bad = "SI_ZE=1"},
        {.line = MAILP "SIZE=\x7f\r\n", .want = SMTP_CMD_ERR_PARAM_SYNTAX, .bad = "SIZE=\x7f"},
        {.line = MAILP "SIZE=1\tBODY=7BIT\r\n",
                .want = SMTP_CMD_ERR_PARAM_SYNTAX,
                .bad = "SIZE=1\tBODY=7BIT"},
        {.line = MAILP "\xc3\xbc=1\r\n", .want = SMTP_CMD_ERR_PARAM_SYNTAX, .bad = "\xc3\xbc=1"},
        {.line = MAILP "<d@e.f>\r\n", .want = SMTP_CMD_ERR_PARAM_SYNTAX, .bad = "<d@e.f>"},
        {.line = "MAIL FROM:<a@b.c>     \r\n"},
        {.line = "MAIL FROM:<a@b.c>  SIZE=7  BODY=7BIT\r\n",
                .seen = ST_SIZE | ST_BODY,
                .size = 7,
                .body = SMTP_BODY_7BIT},
        /* too many */
        {.line = MAILP "SIZE=1 A B C D E F G H I J K L M N O P\r\n",
                .want = SMTP_CMD_ERR_PARAM_TOO_MANY},
        {.line = MAILP "A B C D E F G H I J K L M N O P\r\n",
                .want = SMTP_CMD_ERR_PARAM_UNKNOWN,
                .bad = "A"},
};

static void
check_param_case(const struct param_case *c, struct smtp_cmd *cmd)
{
	enum smtp_cmd_status st = smtp_cmd_parse(cmd, c->line, strlen(c->line), c->opts);

	cr_expect_eq(st, c->want, "\"%s\": got %s, want %s", c->line, smtp_cmd_strerror(st),
	        smtp_cmd_strerror(c->want));
	if (st != c->want)
		return;
	if (st != SMTP_CMD_OK) {
		if (c->bad != NULL)
			cr_expect_str_eq(str_cstr(&cmd->bad_param), c->bad, "\"%s\"", c->line);
		return;
	}
	cr_expect_eq(cmd->bad_param.len, 0, "\"%s\"", c->line);
	cr_expect_eq(cmd->params.seen, c->seen, "\"%s\": seen %#x", c->line, cmd->params.seen);
	cr_expect_eq(cmd->params.size, c->size, "\"%s\": size %llu", c->line, cmd->params.size);
	cr_expect_eq(cmd->params.body, c->body, "\"%s\"", c->line);
	cr_expect_eq(cmd->params.ret, c->ret, "\"%s\"", c->line);
	cr_expect_str_eq(str_cstr(&cmd->params.envid), c->envid ? c->envid : "", "\"%s\"", c->line);
	cr_expect_eq(cmd->params.notify, c->notify, "\"%s\"", c->line);
	cr_expect_eq(cmd->params.orcpt_type, c->orcpt_type, "\"%s\"", c->line);
	cr_expect_str_eq(str_cstr(&cmd->params.orcpt), c->orcpt ? c->orcpt : "", "\"%s\"", c->line);
	cr_expect_str_eq(str_cstr(&cmd->addr.local), "a", "\"%s\"", c->line);
	cr_expect_str_eq(str_cstr(&cmd->addr.domain), "b.c", "\"%s\"", c->line);
}

Test(smtp_cmd, param_table)
{
	struct smtp_cmd cmd;
	size_t i;

	smtp_cmd_init(&cmd);
	for (i = 0; i < NCASES(param_cases); i++)
		check_param_case(&param_cases[i], &cmd);
	smtp_cmd_free(&cmd);
}

/* The ORCPT limit: 500 octets of value. */
Test(smtp_cmd, orcpt_and_envid_length)
{
	struct smtp_cmd cmd;
	struct str line = STR_INIT;
	size_t i;

	smtp_cmd_init(&cmd);
	str_setz(&line, RCPTP "ORCPT=rfc822;");
	for (i = 0; i < 500 - 7 - 4; i++)
		str_appendc(&line, 'x');
	str_appendz(&line, "@y.z\r\n");
	cr_expect_eq(smtp_cmd_parse(&cmd, line.data, line.len, 0), SMTP_CMD_OK);
	cr_expect_eq(cmd.params.orcpt.len, 500 - 7);
	str_setz(&line, RCPTP "ORCPT=rfc822;");
	for (i = 0; i < 500 - 7 - 3; i++)
		str_appendc(&line, 'x');
	str_appendz(&line, "@y.z\r\n");
	cr_expect_eq(smtp_cmd_parse(&cmd, line.data, line.len, 0), SMTP_CMD_ERR_ORCPT);

	str_setz(&line, MAILP "ENVID=");
	for (i = 0; i < 100; i++)
		str_appendc(&line, 'e');
	str_appendz(&line, "\r\n");
	cr_expect_eq(smtp_cmd_parse(&cmd, line.data, line.len, 0), SMTP_CMD_OK);
	cr_expect_eq(cmd.params.envid.len, 100);
	str_setz(&line, MAILP "ENVID=");
	for (i = 0; i < 101; i++)
		str_appendc(&line, 'e');
	str_appendz(&line, "\r\n");
	cr_expect_eq(smtp_cmd_parse(&cmd, line.data, line.len, 0), SMTP_CMD_ERR_ENVID);
	smtp_cmd_free(&cmd);
	str_free(&line);
}

/*
 * Every combination of the six MAIL parameters, in two orders, each
 * giving exactly its own values; and each one given twice is refused.
 */
Test(smtp_cmd, mail_param_combinations)
{
	static const struct {
		const char *text;
		unsigned bit;
	} p[] = {
	        {"SIZE=12345", SMTP_PARAM_SIZE},
	        {"BODY=8BITMIME", SMTP_PARAM_BODY},
	        {"SMTPUTF8", SMTP_PARAM_SMTPUTF8},
	        {"RET=HDRS", SMTP_PARAM_RET},
	        {"ENVID=id+2B1", SMTP_PARAM_ENVID},
	        {"AUTH=<>", SMTP_PARAM_AUTH},
	};
	struct smtp_cmd cmd;
	struct str line = STR_INIT;
	unsigned mask;
	int order, i, dup, count = 0;

	smtp_cmd_init(&cmd);
	for (mask = 0; mask < 64; mask++) {
		for (order = 0; order < 2; order++) {
			str_setz(&line, "MAIL FROM:<\xc3\xbc@x.org>");
			for (i = 0; i < 6; i++) {
				int k = order ? 5 - i : i;

				if (mask & (1u << k))
					str_printf(&line, " %s", p[k].text);
			}
			str_appendz(&line, "\r\n");
			smtp_cmd_parse(&cmd, line.data, line.len, 0);
			count++;
			if (!(mask & 4)) {
				/* a UTF-8 address needs SMTPUTF8 */
				cr_expect_eq(cmd.status, SMTP_CMD_ERR_ADDRESS, "%s", line.data);
				cr_expect_eq(cmd.addr_status, ADDR_ERR_UTF8_NOT_ALLOWED);
				continue;
			}
			cr_expect_eq(cmd.status, SMTP_CMD_OK, "%s", line.data);
			cr_expect_eq(
			        cmd.params.seen, mask == 0 ? 0 : (unsigned)mask, "%s", line.data);
			cr_expect_eq(cmd.params.size, (mask & 1) ? 12345ULL : 0ULL);
			cr_expect_eq(
			        cmd.params.body, (mask & 2) ? SMTP_BODY_8BITMIME : SMTP_BODY_NONE);
			cr_expect_eq(cmd.params.ret, (mask & 8) ? SMTP_RET_HDRS : SMTP_RET_NONE);
			cr_expect_str_eq(str_cstr(&cmd.params.envid), (mask & 16) ? "id+1" : "");
			cr_expect(cmd.addr.flags & ADDR_HAS_UTF8);
		}
		/* each parameter of the combination once more */
		for (dup = 0; dup < 6; dup++) {
			if (!(mask & (1u << dup)))
				continue;
			str_setz(&line, "MAIL FROM:<a@b.c>");
			for (i = 0; i < 6; i++)
				if (mask & (1u << i))
					str_printf(&line, " %s", p[i].text);
			str_printf(&line, " %s\r\n", p[dup].text);
			cr_expect_eq(smtp_cmd_parse(&cmd, line.data, line.len, 0),
			        SMTP_CMD_ERR_PARAM_DUP, "%s", line.data);
			cr_expect_str_eq(str_cstr(&cmd.bad_param), p[dup].text);
			count++;
		}
	}
	cr_expect_eq(count, 128 + 192);
	smtp_cmd_free(&cmd);
	str_free(&line);
}

Test(smtp_cmd, address_results)
{
	struct smtp_cmd cmd;

	smtp_cmd_init(&cmd);
	cr_assert_eq(smtp_cmd_parse(&cmd, "MAIL FROM:<>\r\n", 14, 0), SMTP_CMD_OK);
	cr_expect(cmd.addr.flags & ADDR_IS_NULL);
	cr_assert_eq(smtp_cmd_parse(&cmd, "RCPT TO:<Postmaster>\r\n", 22, 0), SMTP_CMD_OK);
	cr_expect(cmd.addr.flags & ADDR_IS_POSTMASTER);
	cr_assert_eq(
	        smtp_cmd_parse(&cmd, "RCPT TO:<@hop:\"a b\"@X.Example> NOTIFY=NEVER\r\n", 45, 0),
	        SMTP_CMD_OK);
	cr_expect_str_eq(cmd.addr.local.data, "a b");
	cr_expect_str_eq(cmd.addr.domain_lc.data, "x.example");
	cr_expect(cmd.addr.flags & ADDR_HAD_ROUTE);
	cr_expect_eq(cmd.params.notify, SMTP_NOTIFY_NEVER);
	/* a failed parse leaves nothing from the previous one */
	cr_assert_eq(smtp_cmd_parse(&cmd, "RCPT TO:<a b@c.d>\r\n", 19, 0), SMTP_CMD_ERR_ADDRESS);
	cr_expect_eq(cmd.addr.local.len, 0);
	cr_expect_eq(cmd.params.seen, 0);
	cr_expect_eq(cmd.params.notify, 0);
	smtp_cmd_free(&cmd);
}

Test(smtp_cmd, bdat_values)
{
	static const struct {
		const char *line;
		unsigned long long size;
		int last;
	} cases[] = {
	        {"BDAT 0\r\n", 0, 0},
	        {"BDAT 0 LAST\r\n", 0, 1},
	        {"BDAT 4096\r\n", 4096, 0},
	        {"bdat 4096 last\r\n", 4096, 1},
	        {"BDAT 18446744073709551615 LAST\r\n", ULLONG_MAX, 1},
	        {"BDAT 00000000000000000001 LAST\r\n", 1, 1},
	};
	struct smtp_cmd cmd;
	size_t i;

	smtp_cmd_init(&cmd);
	for (i = 0; i < NCASES(cases); i++) {
		cr_assert_eq(smtp_cmd_parse(&cmd, cases[i].line, strlen(cases[i].line), 0),
		        SMTP_CMD_OK, "%s", cases[i].line);
		cr_expect_eq(cmd.bdat_size, cases[i].size, "%s", cases[i].line);
		cr_expect_eq(cmd.bdat_last, cases[i].last, "%s", cases[i].line);
	}
	smtp_cmd_free(&cmd);
}

Test(smtp_cmd, find_line)
{
	size_t n = 0;

	cr_expect_eq(smtp_cmd_find_line("QUIT\r\nNOOP\r\n", 12, 2048, &n), SMTP_LINE_COMPLETE);
	cr_expect_eq(n, 6);
	cr_expect_eq(smtp_cmd_find_line("QUI", 3, 2048, &n), SMTP_LINE_PARTIAL);
	cr_expect_eq(smtp_cmd_find_line("", 0, 2048, &n), SMTP_LINE_PARTIAL);
	cr_expect_eq(smtp_cmd_find_line("QUIT\n", 5, 2048, &n), SMTP_LINE_COMPLETE);
	cr_expect_eq(n, 5);
	cr_expect_eq(smtp_cmd_find_line("\n", 1, 2048, &n), SMTP_LINE_COMPLETE);
	cr_expect_eq(n, 1);
	/* the limit counts the terminator */
	cr_expect_eq(smtp_cmd_find_line("QUIT\r\n", 6, 6, &n), SMTP_LINE_COMPLETE);
	cr_expect_eq(smtp_cmd_find_line("QUIT\r\n", 6, 5, &n), SMTP_LINE_TOO_LONG);
	cr_expect_eq(smtp_cmd_find_line("QUIT\r", 5, 5, &n), SMTP_LINE_TOO_LONG);
	cr_expect_eq(smtp_cmd_find_line("QUIT\r", 5, 6, &n), SMTP_LINE_PARTIAL);
	/* a CR alone ends nothing */
	cr_expect_eq(smtp_cmd_find_line("QUIT\rNOOP", 9, 2048, &n), SMTP_LINE_PARTIAL);
}

Test(smtp_cmd, xtext)
{
	static const struct {
		const char *in;
		const char *out; /* NULL: malformed */
	} decode[] = {
	        {"", ""},
	        {"abc", "abc"},
	        {"a+2Bb", "a+b"},
	        {"a+2bb", "a+b"},
	        {"+3D", "="},
	        {"+20+7E", " ~"},
	        {"+FF", "\xff"},
	        {"!~", "!~"},
	        {"+41", "A"},
	        {"a+", NULL},
	        {"a+2", NULL},
	        {"a+G0", NULL},
	        {"a+0G", NULL},
	        {"a+00", NULL},
	        {"a=b", NULL},
	        {"a b", NULL},
	        {"a\x7f", NULL},
	        {"a\xc3\xbc", NULL},
	        {"a\tb", NULL},
	};
	struct str s = STR_INIT, back = STR_INIT;
	char all[255];
	size_t i;

	for (i = 0; i < NCASES(decode); i++) {
		int r;

		str_reset(&s);
		r = smtp_xtext_decode(decode[i].in, strlen(decode[i].in), &s);
		if (decode[i].out == NULL) {
			cr_expect_eq(r, -1, "\"%s\"", decode[i].in);
		} else {
			cr_expect_eq(r, 0, "\"%s\"", decode[i].in);
			cr_expect_str_eq(str_cstr(&s), decode[i].out, "\"%s\"", decode[i].in);
		}
	}
	str_reset(&s);
	smtp_xtext_encode("a+b=c d\xc3\xbc", 9, &s);
	cr_expect_str_eq(str_cstr(&s), "a+2Bb+3Dc+20d+C3+BC");
	/* every octet but NUL survives encoding and decoding */
	for (i = 0; i < 255; i++)
		all[i] = (char)(i + 1);
	str_reset(&s);
	smtp_xtext_encode(all, 255, &s);
	for (i = 0; i < s.len; i++)
		cr_assert(s.data[i] >= 33 && s.data[i] <= 126 && s.data[i] != '=');
	cr_expect_eq(smtp_xtext_decode(s.data, s.len, &back), 0);
	cr_expect_eq(back.len, 255);
	cr_expect(memcmp(back.data, all, 255) == 0);
	str_free(&s);
	str_free(&back);
}

static void
reply_of(const char *line, unsigned opts, struct str *out)
{
	struct smtp_cmd cmd;
	struct smtp_reply r;

	smtp_cmd_init(&cmd);
	smtp_cmd_parse(&cmd, line, strlen(line), opts);
	smtp_cmd_reply(&cmd, &r);
	str_reset(out);
	smtp_reply_format(&r, out);
	smtp_cmd_free(&cmd);
}

Test(smtp_cmd, replies)
{
	static const struct {
		const char *line;
		const char *reply;
	} cases[] = {
	        {"QUIT\r\n", "250 2.0.0 Ok\r\n"},
	        {"QUIT\n", "521 5.5.2 Error: bare <LF> received\r\n"},
	        {"QU\rIT\r\n", "521 5.5.2 Error: bare <CR> received\r\n"},
	        {"QUIT", "500 5.5.2 Error: command line without CRLF\r\n"},
	        {"\r\n", "500 5.5.2 Error: bad syntax\r\n"},
	        {"XYZZY\r\n", "500 5.5.2 Error: command not recognized\r\n"},
	        {"EHLO\r\n", "501 Syntax: EHLO hostname\r\n"},
	        {"HELO\r\n", "501 Syntax: HELO hostname\r\n"},
	        {"DATA x\r\n", "501 5.5.4 Syntax: DATA\r\n"},
	        {"MAIL TO:<a@b.c>\r\n", "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"},
	        {"RCPT\r\n", "501 5.5.4 Syntax: RCPT TO:<address>\r\n"},
	        {"BDAT\r\n", "501 5.5.4 Syntax: BDAT size [LAST]\r\n"},
	        {"BDAT x\r\n", "501 5.5.4 Bad BDAT chunk size\r\n"},
	        {"VRFY\r\n", "501 5.5.4 Syntax: VRFY address\r\n"},
	        {"MAIL FROM:<a@b.c\r\n",
	                "501 5.1.7 Bad sender address syntax: missing \">\" after the address\r\n"},
	        {"RCPT TO:<a b@c.d>\r\n",
	                "501 5.1.3 Bad recipient address syntax: invalid character in local "
	                "part\r\n"},
	        {"RCPT TO:<>\r\n",
	                "501 5.1.3 Bad recipient address syntax: null address not allowed "
	                "here\r\n"},
	        {"MAIL FROM:<\xc3\xbc@x.org>\r\n",
	                "553 5.6.7 Must declare SMTPUTF8 to send a non-ASCII address\r\n"},
	        {"RCPT TO:<\xc3\xbc@x.org>\r\n",
	                "553 5.6.7 Must declare SMTPUTF8 to send a non-ASCII address\r\n"},
	        {"MAIL FROM:<a@b.c> FOO=bar\r\n", "555 5.5.4 Unsupported option: FOO=bar\r\n"},
	        {"MAIL FROM:<a@b.c> SIZE=1 SIZE=1\r\n", "555 5.5.4 Duplicate option: SIZE=1\r\n"},
	        {"MAIL FROM:<a@b.c> =\r\n", "555 5.5.4 Malformed parameter: =\r\n"},
	        {"MAIL FROM:<a@b.c> SIZE=x\r\n", "555 5.5.4 Bad SIZE value: SIZE=x\r\n"},
	        {"MAIL FROM:<a@b.c> BODY=x\r\n", "555 5.5.4 Unsupported BODY value: BODY=x\r\n"},
	        {"MAIL FROM:<a@b.c> SMTPUTF8=x\r\n",
	                "555 5.5.4 SMTPUTF8 takes no value: SMTPUTF8=x\r\n"},
	        {"MAIL FROM:<a@b.c> RET=x\r\n", "555 5.5.4 Bad RET value: RET=x\r\n"},
	        {"MAIL FROM:<a@b.c> ENVID=+\r\n", "555 5.5.4 Bad ENVID value: ENVID=+\r\n"},
	        {"MAIL FROM:<a@b.c> AUTH=+\r\n", "555 5.5.4 Bad AUTH value: AUTH=+\r\n"},
	        {"RCPT TO:<a@b.c> NOTIFY=x\r\n", "555 5.5.4 Bad NOTIFY value: NOTIFY=x\r\n"},
	        {"RCPT TO:<a@b.c> ORCPT=x\r\n", "555 5.5.4 Bad ORCPT value: ORCPT=x\r\n"},
	        {"MAIL FROM:<a@b.c> A B C D E F G H I J K L M N O P Q\r\n",
	                "555 5.5.4 Too many options\r\n"},
	        /* client text in a reply: only printable ASCII, and not too much */
	        {"MAIL FROM:<a@b.c> FOO=\xc3\xbc\r\n", "555 5.5.4 Unsupported option: FOO=??\r\n"},
	        {"MAIL FROM:<a@b.c> "
	         "FOO=0123456789012345678901234567890123456789012345678901234567890123456789\r\n",
	                "555 5.5.4 Unsupported option: "
	                "FOO=012345678901234567890123456789012345678901234567890123456789\r\n"},
	};
	struct str out = STR_INIT;
	size_t i;

	for (i = 0; i < NCASES(cases); i++) {
		reply_of(cases[i].line, 0, &out);
		cr_expect_str_eq(str_cstr(&out), cases[i].reply, "\"%s\"", cases[i].line);
	}
	str_free(&out);
}

/* Every status has a reply that a client can read, and a log text. */
Test(smtp_cmd, every_status_has_a_reply)
{
	struct smtp_reply r;
	struct str out = STR_INIT;
	int st, v;

	for (st = 0; st < SMTP_CMD_STATUS_COUNT; st++) {
		cr_expect_str_neq(
		        smtp_cmd_strerror((enum smtp_cmd_status)st), "unknown command error");
		for (v = 0; v < SMTP_VERB_COUNT; v++) {
			smtp_cmd_status_reply(
			        (enum smtp_cmd_status)st, (enum smtp_verb)v, ADDR_ERR_LOCAL, &r);
			cr_expect_not_null(r.text);
			if (st == SMTP_CMD_OK)
				cr_expect_eq(r.code, 250);
			else
				cr_expect(r.code >= 500 && r.code <= 555, "status %d", st);
			if (r.dsn != NULL)
				cr_expect_eq(r.dsn[0], r.code == 250 ? '2' : '5');
			str_reset(&out);
			smtp_reply_format(&r, &out);
			cr_expect(out.len >= 6 && memcmp(out.data + out.len - 2, "\r\n", 2) == 0);
			cr_expect_null(memchr(out.data, '\n', out.len - 1));
			cr_expect_null(memchr(out.data, '\r', out.len - 2));
		}
	}
	smtp_cmd_status_reply(SMTP_CMD_ERR_ADDRESS, SMTP_VERB_MAIL, ADDR_ERR_UTF8_NOT_ALLOWED, &r);
	cr_expect_eq(r.code, 553);
	cr_expect_str_eq(r.dsn, "5.6.7");
	smtp_cmd_status_reply(SMTP_CMD_ERR_ADDRESS, SMTP_VERB_MAIL, ADDR_ERR_DOMAIN, &r);
	cr_expect_str_eq(r.dsn, "5.1.7");
	smtp_cmd_status_reply(SMTP_CMD_ERR_ADDRESS, SMTP_VERB_RCPT, ADDR_ERR_DOMAIN, &r);
	cr_expect_str_eq(r.dsn, "5.1.3");
	smtp_cmd_status_reply(SMTP_CMD_ERR_TOO_LONG, SMTP_VERB_NONE, ADDR_OK, &r);
	cr_expect_eq(r.code, 500);
	cr_expect_str_eq(r.dsn, "5.5.2");
	str_free(&out);
}

/* Arbitrary octets never crash the parser and always get a status. */
Test(smtp_cmd, random_lines)
{
	struct smtp_cmd cmd;
	unsigned seed = 12345;
	char line[300];
	int i;

	smtp_cmd_init(&cmd);
	for (i = 0; i < 20000; i++) {
		size_t n = 0, len, j;
		static const char *starts[] = {"MAIL FROM:<", "RCPT TO:<", "BDAT ", "EHLO ", ""};

		seed = seed * 1103515245 + 12345;
		len = (seed >> 16) % 200;
		n = strlen(starts[i % 5]);
		memcpy(line, starts[i % 5], n);
		for (j = 0; j < len; j++) {
			seed = seed * 1103515245 + 12345;
			line[n++] = (char)((seed >> 16) & 0xff);
		}
		line[n++] = '\r';
		line[n++] = '\n';
		smtp_cmd_parse(&cmd, line, n, (unsigned)i & 1);
		cr_assert(cmd.status < SMTP_CMD_STATUS_COUNT);
	}
	smtp_cmd_free(&cmd);
}
