/*
 * smtp_cmd.c - SMTP command line parsing for the server; the contract is
 * smtp_cmd.h, the replies are listed in docs/smtp-protocol.md.
 *
 * Trusts nothing: every line comes straight from a client.  Scans are
 * bounded by the line's length; numbers are checked for overflow; every
 * count has a named limit.  Called by smtpd for each command line it
 * reads (and by anything else that must read SMTP commands).
 */
#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "smtp_cmd.h"

enum arg_rule {
	ARG_NONE,     /* the verb takes no argument */
	ARG_OPTIONAL, /* anything, or nothing */
	ARG_REQUIRED, /* anything, not nothing */
	ARG_SPECIAL   /* parsed by its own function */
};

struct verb_info {
	const char *name;
	enum arg_rule rule;
	const char *usage;
};

static const struct verb_info verbs[SMTP_VERB_COUNT] = {
        [SMTP_VERB_NONE] = {"", ARG_OPTIONAL, "Error: bad syntax"},
        [SMTP_VERB_HELO] = {"HELO", ARG_REQUIRED, "Syntax: HELO hostname"},
        [SMTP_VERB_EHLO] = {"EHLO", ARG_REQUIRED, "Syntax: EHLO hostname"},
        [SMTP_VERB_MAIL] = {"MAIL", ARG_SPECIAL, "Syntax: MAIL FROM:<address>"},
        [SMTP_VERB_RCPT] = {"RCPT", ARG_SPECIAL, "Syntax: RCPT TO:<address>"},
        [SMTP_VERB_DATA] = {"DATA", ARG_NONE, "Syntax: DATA"},
        [SMTP_VERB_BDAT] = {"BDAT", ARG_SPECIAL, "Syntax: BDAT size [LAST]"},
        [SMTP_VERB_RSET] = {"RSET", ARG_NONE, "Syntax: RSET"},
        [SMTP_VERB_NOOP] = {"NOOP", ARG_OPTIONAL, "Syntax: NOOP [text]"},
        [SMTP_VERB_QUIT] = {"QUIT", ARG_NONE, "Syntax: QUIT"},
        [SMTP_VERB_VRFY] = {"VRFY", ARG_REQUIRED, "Syntax: VRFY address"},
        [SMTP_VERB_EXPN] = {"EXPN", ARG_REQUIRED, "Syntax: EXPN name"},
        [SMTP_VERB_HELP] = {"HELP", ARG_OPTIONAL, "Syntax: HELP [topic]"},
        [SMTP_VERB_STARTTLS] = {"STARTTLS", ARG_NONE, "Syntax: STARTTLS"},
        [SMTP_VERB_AUTH] = {"AUTH", ARG_REQUIRED, "Syntax: AUTH mechanism [initial-response]"},
        [SMTP_VERB_ETRN] = {"ETRN", ARG_REQUIRED, "Syntax: ETRN domain"},
        [SMTP_VERB_TURN] = {"TURN", ARG_NONE, "Syntax: TURN"},
        [SMTP_VERB_ATRN] = {"ATRN", ARG_OPTIONAL, "Syntax: ATRN [domain[,domain]...]"},
};

static const char *const cmd_errors[SMTP_CMD_STATUS_COUNT] = {
        [SMTP_CMD_OK] = "ok",
        [SMTP_CMD_ERR_TOO_LONG] = "command line too long",
        [SMTP_CMD_ERR_NO_CRLF] = "command line without CRLF",
        [SMTP_CMD_ERR_BARE_LF] = "bare LF in command line",
        [SMTP_CMD_ERR_BARE_CR] = "bare CR in command line",
        [SMTP_CMD_ERR_NUL] = "NUL in command line",
        [SMTP_CMD_ERR_EMPTY] = "empty command line",
        [SMTP_CMD_ERR_UNKNOWN] = "unknown command",
        [SMTP_CMD_ERR_SYNTAX] = "command syntax error",
        [SMTP_CMD_ERR_ADDRESS] = "bad address",
        [SMTP_CMD_ERR_PARAM_SYNTAX] = "malformed parameter",
        [SMTP_CMD_ERR_PARAM_UNKNOWN] = "unsupported parameter",
        [SMTP_CMD_ERR_PARAM_DUP] = "duplicate parameter",
        [SMTP_CMD_ERR_PARAM_TOO_MANY] = "too many parameters",
        [SMTP_CMD_ERR_SIZE] = "bad SIZE value",
        [SMTP_CMD_ERR_BODY] = "bad BODY value",
        [SMTP_CMD_ERR_SMTPUTF8] = "SMTPUTF8 takes no value",
        [SMTP_CMD_ERR_RET] = "bad RET value",
        [SMTP_CMD_ERR_ENVID] = "bad ENVID value",
        [SMTP_CMD_ERR_AUTH] = "bad AUTH value",
        [SMTP_CMD_ERR_NOTIFY] = "bad NOTIFY value",
        [SMTP_CMD_ERR_ORCPT] = "bad ORCPT value",
        [SMTP_CMD_ERR_BDAT_SIZE] = "bad BDAT chunk size",
};

/* The standard replies, by status (SYNTAX and ADDRESS depend on the verb). */
static const struct smtp_reply cmd_replies[SMTP_CMD_STATUS_COUNT] = {
        [SMTP_CMD_OK] = {250, "2.0.0", "Ok", NULL},
        [SMTP_CMD_ERR_TOO_LONG] = {500, "5.5.2", "Error: line too long", NULL},
        [SMTP_CMD_ERR_NO_CRLF] = {500, "5.5.2", "Error: command line without CRLF", NULL},
        [SMTP_CMD_ERR_BARE_LF] = {521, "5.5.2", "Error: bare <LF> received", NULL},
        [SMTP_CMD_ERR_BARE_CR] = {521, "5.5.2", "Error: bare <CR> received", NULL},
        [SMTP_CMD_ERR_NUL] = {500, "5.5.2", "Error: NUL character in command", NULL},
        [SMTP_CMD_ERR_EMPTY] = {500, "5.5.2", "Error: bad syntax", NULL},
        [SMTP_CMD_ERR_UNKNOWN] = {500, "5.5.2", "Error: command not recognized", NULL},
        [SMTP_CMD_ERR_SYNTAX] = {501, "5.5.4", "Error: bad syntax", NULL},
        [SMTP_CMD_ERR_ADDRESS] = {501, "5.1.3", "Bad address syntax", NULL},
        [SMTP_CMD_ERR_PARAM_SYNTAX] = {555, "5.5.4", "Malformed parameter", NULL},
        [SMTP_CMD_ERR_PARAM_UNKNOWN] = {555, "5.5.4", "Unsupported option", NULL},
        [SMTP_CMD_ERR_PARAM_DUP] = {555, "5.5.4", "Duplicate option", NULL},
        [SMTP_CMD_ERR_PARAM_TOO_MANY] = {555, "5.5.4", "Too many options", NULL},
        [SMTP_CMD_ERR_SIZE] = {555, "5.5.4", "Bad SIZE value", NULL},
        [SMTP_CMD_ERR_BODY] = {555, "5.5.4", "Unsupported BODY value", NULL},
        [SMTP_CMD_ERR_SMTPUTF8] = {555, "5.5.4", "SMTPUTF8 takes no value", NULL},
        [SMTP_CMD_ERR_RET] = {555, "5.5.4", "Bad RET value", NULL},
        [SMTP_CMD_ERR_ENVID] = {555, "5.5.4", "Bad ENVID value", NULL},
        [SMTP_CMD_ERR_AUTH] = {555, "5.5.4", "Bad AUTH value", NULL},
        [SMTP_CMD_ERR_NOTIFY] = {555, "5.5.4", "Bad NOTIFY value", NULL},
        [SMTP_CMD_ERR_ORCPT] = {555, "5.5.4", "Bad ORCPT value", NULL},
        [SMTP_CMD_ERR_BDAT_SIZE] = {501, "5.5.4", "Bad BDAT chunk size", NULL},
};

/* ESMTP parameters and the verb that takes each. */
struct param_info {
	const char *name;
	unsigned bit;
	enum smtp_verb verb;
};

static const struct param_info params[] = {
        {"SIZE", SMTP_PARAM_SIZE, SMTP_VERB_MAIL},
        {"BODY", SMTP_PARAM_BODY, SMTP_VERB_MAIL},
        {"SMTPUTF8", SMTP_PARAM_SMTPUTF8, SMTP_VERB_MAIL},
        {"RET", SMTP_PARAM_RET, SMTP_VERB_MAIL},
        {"ENVID", SMTP_PARAM_ENVID, SMTP_VERB_MAIL},
        {"AUTH", SMTP_PARAM_AUTH, SMTP_VERB_MAIL},
        {"NOTIFY", SMTP_PARAM_NOTIFY, SMTP_VERB_RCPT},
        {"ORCPT", SMTP_PARAM_ORCPT, SMTP_VERB_RCPT},
};

/* One parameter as found on the line; value is NULL when there is no "=". */
struct param_text {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
};

static void
params_init(struct smtp_params *p)
{
	p->seen = 0;
	p->size = 0;
	p->body = SMTP_BODY_NONE;
	p->ret = SMTP_RET_NONE;
	str_init(&p->envid);
	p->notify = 0;
	p->orcpt_type = SMTP_ORCPT_NONE;
	str_init(&p->orcpt);
	str_init(&p->orcpt_raw);
}

static void
params_reset(struct smtp_params *p)
{
	p->seen = 0;
	p->size = 0;
	p->body = SMTP_BODY_NONE;
	p->ret = SMTP_RET_NONE;
	str_reset(&p->envid);
	p->notify = 0;
	p->orcpt_type = SMTP_ORCPT_NONE;
	str_reset(&p->orcpt);
	str_reset(&p->orcpt_raw);
}

void
smtp_cmd_init(struct smtp_cmd *cmd)
{
	cmd->verb = SMTP_VERB_NONE;
	cmd->status = SMTP_CMD_OK;
	cmd->addr_status = ADDR_OK;
	str_init(&cmd->arg);
	str_init(&cmd->bad_param);
	addr_init(&cmd->addr);
	params_init(&cmd->params);
	cmd->bdat_size = 0;
	cmd->bdat_last = 0;
}

void
smtp_cmd_free(struct smtp_cmd *cmd)
{
	str_free(&cmd->arg);
	str_free(&cmd->bad_param);
	addr_free(&cmd->addr);
	str_free(&cmd->params.envid);
	str_free(&cmd->params.orcpt);
	str_free(&cmd->params.orcpt_raw);
	smtp_cmd_init(cmd);
}

static void
smtp_cmd_reset(struct smtp_cmd *cmd)
{
	cmd->verb = SMTP_VERB_NONE;
	cmd->status = SMTP_CMD_OK;
	cmd->addr_status = ADDR_OK;
	str_reset(&cmd->arg);
	str_reset(&cmd->bad_param);
	addr_reset(&cmd->addr);
	params_reset(&cmd->params);
	cmd->bdat_size = 0;
	cmd->bdat_last = 0;
}

const char *
smtp_verb_name(enum smtp_verb verb)
{
	if ((unsigned)verb >= SMTP_VERB_COUNT)
		return "";
	return verbs[verb].name;
}

const char *
smtp_cmd_strerror(enum smtp_cmd_status st)
{
	if ((unsigned)st >= SMTP_CMD_STATUS_COUNT)
		return "unknown command error";
	return cmd_errors[st];
}

enum smtp_line_status
smtp_cmd_find_line(const char *buf, size_t len, size_t max, size_t *linelen)
{
	size_t scan = len < max ? len : max;
	const char *lf = memchr(buf, '\n', scan);

	if (lf != NULL) {
		*linelen = (size_t)(lf - buf) + 1;
		return SMTP_LINE_COMPLETE;
	}
	return len >= max ? SMTP_LINE_TOO_LONG : SMTP_LINE_PARTIAL;
}

/*
 * Check the terminator: the line must end in CRLF and hold no other CR or
 * LF.  Sets *content_len to the octets before the terminator.
 */
static enum smtp_cmd_status
check_terminator(const char *line, size_t len, size_t *content_len)
{
	size_t i;

	*content_len = len;
	if (len >= 2 && line[len - 2] == '\r' && line[len - 1] == '\n')
		*content_len = len - 2;
	else if (len >= 1 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		*content_len = len - 1;
	for (i = 0; i < len; i++)
		if (line[i] == '\n' && (i + 1 != len || i == 0 || line[i - 1] != '\r'))
			return SMTP_CMD_ERR_BARE_LF;
	for (i = 0; i < len; i++)
		if (line[i] == '\r' && (i + 1 >= len || line[i + 1] != '\n'))
			return SMTP_CMD_ERR_BARE_CR;
	if (len < 2 || line[len - 1] != '\n')
		return SMTP_CMD_ERR_NO_CRLF;
	return SMTP_CMD_OK;
}

static enum smtp_verb
lookup_verb(const char *s, size_t len)
{
	int v;

	for (v = SMTP_VERB_NONE + 1; v < SMTP_VERB_COUNT; v++)
		if (strlen(verbs[v].name) == len && strncasecmp(verbs[v].name, s, len) == 0)
			return (enum smtp_verb)v;
	return SMTP_VERB_NONE;
}

/* Case-insensitive: is s[0..len) the word z? */
static int
word_eq(const char *s, size_t len, const char *z)
{
	return strlen(z) == len && strncasecmp(s, z, len) == 0;
}

/* Parse 1..maxdigits decimal digits, the whole of s[0..len); saturate or fail on overflow. */
static int
parse_count(const char *s, size_t len, size_t maxdigits, int saturate, unsigned long long *v)
{
	unsigned long long n = 0;
	size_t i;

	if (len == 0 || len > maxdigits)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (n > (ULLONG_MAX - d) / 10) {
			if (!saturate)
				return -1;
			n = ULLONG_MAX;
		} else if (n != ULLONG_MAX) {
			n = n * 10 + d;
		}
	}
	*v = n;
	return 0;
}

static int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
smtp_xtext_decode(const char *s, size_t len, struct str *out)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = hex_value((unsigned char)s[i + 1]);
			lo = hex_value((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			str_appendc(out, hi * 16 + lo);
			i += 2;
		} else if (c >= 33 && c <= 126 && c != '=') {
			str_appendc(out, c);
		} else {
			return -1;
		}
	}
	return 0;
}

void
smtp_xtext_encode(const char *s, size_t len, struct str *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 33 && c <= 126 && c != '+' && c != '=') {
			str_appendc(out, c);
		} else {
			str_appendc(out, '+');
			str_appendc(out, hex[c >> 4]);
			str_appendc(out, hex[c & 15]);
		}
	}
}

/* Are all octets of s printable ASCII, space included? */
static int
all_printable(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 32 || (unsigned char)s[i] > 126)
			return 0;
	return 1;
}

/* Append code point cp as UTF-8. */
static void
append_utf8(struct str *out, unsigned long cp)
{
	if (cp < 0x80) {
		str_appendc(out, (int)cp);
	} else if (cp < 0x800) {
		str_appendc(out, (int)(0xc0 | (cp >> 6)));
		str_appendc(out, (int)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		str_appendc(out, (int)(0xe0 | (cp >> 12)));
		str_appendc(out, (int)(0x80 | ((cp >> 6) & 0x3f)));
		str_appendc(out, (int)(0x80 | (cp & 0x3f)));
	} else {
		str_appendc(out, (int)(0xf0 | (cp >> 18)));
		str_appendc(out, (int)(0x80 | ((cp >> 12) & 0x3f)));
		str_appendc(out, (int)(0x80 | ((cp >> 6) & 0x3f)));
		str_appendc(out, (int)(0x80 | (cp & 0x3f)));
	}
}

/*
 * RFC 6533 utf-8-addr-xtext / utf-8-addr-unitext: QCHAR (printable ASCII
 * but "+", "=", "\"), "\x{HEX}" for any other code point, and raw UTF-8
 * only when SMTPUTF8 is in effect.  Code points below U+0020, DEL,
 * surrogates and values past U+10FFFF are refused.
 */
static int
utf8_addr_decode(const char *s, size_t len, int smtputf8, struct str *out)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			unsigned long cp = 0;
			size_t j = i + 3, digits = 0;

			if (i + 3 >= len || s[i + 1] != 'x' || s[i + 2] != '{')
				return -1;
			for (; j < len && s[j] != '}'; j++, digits++) {
				int h = hex_value((unsigned char)s[j]);

				if (h < 0 || digits >= 6)
					return -1;
				cp = cp * 16 + (unsigned long)h;
			}
			if (j >= len || digits == 0)
				return -1;
			if (cp < 0x20 || cp == 0x7f || (cp >= 0xd800 && cp <= 0xdfff) ||
			        cp > 0x10ffff)
				return -1;
			append_utf8(out, cp);
			i = j + 1;
		} else if (c >= 0x80) {
			size_t n = 1;

			if (!smtputf8)
				return -1;
			while (i + n < len && ((unsigned char)s[i + n] & 0xc0) == 0x80)
				n++;
			if (!addr_utf8_valid(s + i, n))
				return -1;
			str_append(out, s + i, n);
			i += n;
		} else if (c >= 33 && c <= 126 && c != '+' && c != '=') {
			str_appendc(out, c);
			i++;
		} else {
			return -1;
		}
	}
	return 0;
}

static enum smtp_cmd_status
param_orcpt(struct smtp_params *p, const struct param_text *t, unsigned opts)
{
	const char *semi;
	size_t type_len;

	if (t->value == NULL || t->value_len > SMTP_CMD_ORCPT_MAX)
		return SMTP_CMD_ERR_ORCPT;
	semi = memchr(t->value, ';', t->value_len);
	if (semi == NULL)
		return SMTP_CMD_ERR_ORCPT;
	type_len = (size_t)(semi - t->value);
	semi++;
	if (word_eq(t->value, type_len, "rfc822")) {
		p->orcpt_type = SMTP_ORCPT_RFC822;
		if (smtp_xtext_decode(semi, t->value_len - type_len - 1, &p->orcpt) < 0 ||
		        !all_printable(p->orcpt.data, p->orcpt.len))
			return SMTP_CMD_ERR_ORCPT;
	} else if (word_eq(t->value, type_len, "utf-8")) {
		p->orcpt_type = SMTP_ORCPT_UTF8;
		if (utf8_addr_decode(semi, t->value_len - type_len - 1,
		            (opts & SMTP_CMD_OPT_SMTPUTF8) != 0, &p->orcpt) < 0)
			return SMTP_CMD_ERR_ORCPT;
	} else {
		return SMTP_CMD_ERR_ORCPT;
	}
	if (p->orcpt.len == 0)
		return SMTP_CMD_ERR_ORCPT;
	str_set(&p->orcpt_raw, t->value, t->value_len);
	return SMTP_CMD_OK;
}

static enum smtp_cmd_status
param_notify(struct smtp_params *p, const struct param_text *t)
{
	const char *s = t->value, *end = t->value + t->value_len;

	if (s == NULL)
		return SMTP_CMD_ERR_NOTIFY;
	for (;;) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		size_t n = (size_t)((comma ? comma : end) - s);
		unsigned bit;

		if (word_eq(s, n, "NEVER"))
			bit = SMTP_NOTIFY_NEVER;
		else if (word_eq(s, n, "SUCCESS"))
			bit = SMTP_NOTIFY_SUCCESS;
		else if (word_eq(s, n, "FAILURE"))
			bit = SMTP_NOTIFY_FAILURE;
		else if (word_eq(s, n, "DELAY"))
			bit = SMTP_NOTIFY_DELAY;
		else
			return SMTP_CMD_ERR_NOTIFY;
		if (p->notify & bit)
			return SMTP_CMD_ERR_NOTIFY;
		p->notify |= bit;
		if (comma == NULL)
			break;
		s = comma + 1;
	}
	if ((p->notify & SMTP_NOTIFY_NEVER) && p->notify != SMTP_NOTIFY_NEVER)
		return SMTP_CMD_ERR_NOTIFY;
	return SMTP_CMD_OK;
}

/* Check one parameter's value and store it. */
static enum smtp_cmd_status
param_value(struct smtp_params *p, unsigned bit, const struct param_text *t, unsigned opts)
{
	const char *v = t->value;
	size_t n = t->value_len;
	struct str scratch = STR_INIT;
	int bad;

	switch (bit) {
	case SMTP_PARAM_SIZE:
		if (v == NULL || parse_count(v, n, SMTP_CMD_SIZE_DIGITS, 1, &p->size) < 0)
			return SMTP_CMD_ERR_SIZE;
		return SMTP_CMD_OK;
	case SMTP_PARAM_BODY:
		if (v != NULL && word_eq(v, n, "7BIT"))
			p->body = SMTP_BODY_7BIT;
		else if (v != NULL && word_eq(v, n, "8BITMIME"))
			p->body = SMTP_BODY_8BITMIME;
		else if (v != NULL && word_eq(v, n, "BINARYMIME"))
			p->body = SMTP_BODY_BINARYMIME;
		else
			return SMTP_CMD_ERR_BODY;
		return SMTP_CMD_OK;
	case SMTP_PARAM_SMTPUTF8:
		return v == NULL ? SMTP_CMD_OK : SMTP_CMD_ERR_SMTPUTF8;
	case SMTP_PARAM_RET:
		if (v != NULL && word_eq(v, n, "FULL"))
			p->ret = SMTP_RET_FULL;
		else if (v != NULL && word_eq(v, n, "HDRS"))
			p->ret = SMTP_RET_HDRS;
		else
			return SMTP_CMD_ERR_RET;
		return SMTP_CMD_OK;
	case SMTP_PARAM_ENVID:
		if (v == NULL || n > SMTP_CMD_ENVID_MAX || smtp_xtext_decode(v, n, &p->envid) < 0 ||
		        !all_printable(p->envid.data, p->envid.len))
			return SMTP_CMD_ERR_ENVID;
		return SMTP_CMD_OK;
	case SMTP_PARAM_AUTH:
		/* RFC 4954 5: checked for syntax, then ignored. */
		bad = v == NULL || smtp_xtext_decode(v, n, &scratch) < 0;
		str_free(&scratch);
		return bad ? SMTP_CMD_ERR_AUTH : SMTP_CMD_OK;
	case SMTP_PARAM_NOTIFY:
		return param_notify(p, t);
	case SMTP_PARAM_ORCPT:
		return param_orcpt(p, t, opts);
	}
	return SMTP_CMD_ERR_PARAM_UNKNOWN;
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static int
keyword_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || !isalnum((unsigned char)s[0]))
		return 0;
	for (i = 1; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

/* esmtp-value = 1*(%d33-60 / %d62-126), and UTF-8 octets (RFC 6531). */
static int
value_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 33 || c == '=' || c == 127)
			return 0;
	}
	return 1;
}

/* Split s[0..len) (after the path) into parameters and check them all. */
static enum smtp_cmd_status
parse_params(struct smtp_cmd *cmd, const char *s, size_t len, unsigned opts)
{
	const char *p = s, *end = s + len;
	unsigned count = 0;
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && (i == 0 || s[i - 1] == ' '))
			count++;
	if (count > SMTP_CMD_PARAMS_MAX)
		return SMTP_CMD_ERR_PARAM_TOO_MANY;
	for (;;) {
		struct param_text t;
		const char *tok, *eq;
		enum smtp_cmd_status st;

		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			return SMTP_CMD_OK;
		tok = p;
		while (p < end && *p != ' ')
			p++;
		str_set(&cmd->bad_param, tok, (size_t)(p - tok));
		eq = memchr(tok, '=', (size_t)(p - tok));
		t.key = tok;
		t.key_len = (size_t)((eq ? eq : p) - tok);
		t.value = eq ? eq + 1 : NULL;
		t.value_len = eq ? (size_t)(p - eq - 1) : 0;
		if (!keyword_ok(t.key, t.key_len) || (eq && !value_ok(t.value, t.value_len)))
			return SMTP_CMD_ERR_PARAM_SYNTAX;
		for (i = 0; i < sizeof(params) / sizeof(params[0]); i++)
			if (params[i].verb == cmd->verb &&
			        word_eq(t.key, t.key_len, params[i].name))
				break;
		if (i == sizeof(params) / sizeof(params[0]))
			return SMTP_CMD_ERR_PARAM_UNKNOWN;
		if (cmd->params.seen & params[i].bit)
			return SMTP_CMD_ERR_PARAM_DUP;
		cmd->params.seen |= params[i].bit;
		if ((st = param_value(&cmd->params, params[i].bit, &t, opts)) != SMTP_CMD_OK)
			return st;
		str_reset(&cmd->bad_param);
	}
}

/*
 * Where the path ends: the first ">" outside a quoted string (in which
 * "\" escapes the next octet).  Returns the length through ">", or 0.
 */
static size_t
path_extent(const char *s, size_t len)
{
	size_t i;
	int quoted = 0;

	for (i = 1; i < len; i++) {
		if (quoted && s[i] == '\\')
			i++;
		else if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && s[i] == '>')
			return i + 1;
	}
	return 0;
}

static enum smtp_cmd_status
addr_error(struct smtp_cmd *cmd, enum addr_status ast)
{
	cmd->addr_status = ast;
	return SMTP_CMD_ERR_ADDRESS;
}

/* MAIL FROM:<path> params, or RCPT TO:<path> params. */
static enum smtp_cmd_status
parse_mail_rcpt(struct smtp_cmd *cmd, unsigned opts)
{
	const char *prefix = cmd->verb == SMTP_VERB_MAIL ? "FROM:" : "TO:";
	size_t plen = strlen(prefix), path_len, used;
	const char *p = cmd->arg.data, *end = cmd->arg.data + cmd->arg.len;
	enum addr_path_type type;
	enum smtp_cmd_status st;
	enum addr_status ast;
	unsigned aopts = 0;

	if (cmd->arg.len < plen || strncasecmp(p, prefix, plen) != 0)
		return SMTP_CMD_ERR_SYNTAX;
	p += plen;
	if (p < end && *p == ' ')
		p++; /* "MAIL FROM: <a@b>": common, harmless */
	if (p >= end || *p != '<')
		return addr_error(cmd, ADDR_ERR_NO_OPEN);
	if ((path_len = path_extent(p, (size_t)(end - p))) == 0)
		return addr_error(cmd, ADDR_ERR_NO_CLOSE);
	if (p + path_len < end && p[path_len] != ' ')
		return addr_error(cmd, ADDR_ERR_TRAILING);
	st = parse_params(cmd, p + path_len, (size_t)(end - p - path_len), opts);
	if (st != SMTP_CMD_OK)
		return st;
	if (cmd->verb == SMTP_VERB_MAIL) {
		type = ADDR_REVERSE_PATH;
		if (cmd->params.seen & SMTP_PARAM_SMTPUTF8)
			aopts |= ADDR_OPT_SMTPUTF8;
	} else {
		type = ADDR_FORWARD_PATH;
		if (opts & SMTP_CMD_OPT_SMTPUTF8)
			aopts |= ADDR_OPT_SMTPUTF8;
	}
	ast = addr_parse_path(p, path_len, type, aopts, &cmd->addr, &used);
	if (ast != ADDR_OK)
		return addr_error(cmd, ast);
	if (used != path_len)
		return addr_error(cmd, ADDR_ERR_TRAILING);
	return SMTP_CMD_OK;
}

/* BDAT chunk-size [ SP "LAST" ] */
static enum smtp_cmd_status
parse_bdat(struct smtp_cmd *cmd)
{
	const char *p = cmd->arg.data, *end = cmd->arg.data + cmd->arg.len, *num;
	size_t n;

	if (cmd->arg.len == 0)
		return SMTP_CMD_ERR_SYNTAX;
	num = p;
	while (p < end && *p != ' ')
		p++;
	n = (size_t)(p - num);
	if (parse_count(num, n, SMTP_CMD_BDAT_DIGITS, 0, &cmd->bdat_size) < 0)
		return SMTP_CMD_ERR_BDAT_SIZE;
	while (p < end && *p == ' ')
		p++;
	if (p == end)
		return SMTP_CMD_OK;
	if (!word_eq(p, (size_t)(end - p), "LAST"))
		return SMTP_CMD_ERR_SYNTAX;
	cmd->bdat_last = 1;
	return SMTP_CMD_OK;
}

static enum smtp_cmd_status
parse_line(struct smtp_cmd *cmd, const char *line, size_t len, unsigned opts)
{
	size_t content_len, vlen, i;
	enum smtp_cmd_status term;
	const char *p;

	term = check_terminator(line, len, &content_len);
	while (content_len > 0 && (line[content_len - 1] == ' ' || line[content_len - 1] == '\t'))
		content_len--;
	for (vlen = 0; vlen < content_len && line[vlen] != ' '; vlen++)
		;
	cmd->verb = lookup_verb(line, vlen);
	if (term != SMTP_CMD_OK)
		return term;
	if (memchr(line, '\0', len) != NULL)
		return SMTP_CMD_ERR_NUL;
	if (content_len == 0)
		return SMTP_CMD_ERR_EMPTY;
	if (cmd->verb == SMTP_VERB_NONE)
		return SMTP_CMD_ERR_UNKNOWN;
	for (i = vlen; i < content_len && line[i] == ' '; i++)
		;
	p = line + i;
	str_set(&cmd->arg, p, content_len - i);
	switch (verbs[cmd->verb].rule) {
	case ARG_NONE:
		return cmd->arg.len == 0 ? SMTP_CMD_OK : SMTP_CMD_ERR_SYNTAX;
	case ARG_REQUIRED:
		return cmd->arg.len != 0 ? SMTP_CMD_OK : SMTP_CMD_ERR_SYNTAX;
	case ARG_OPTIONAL:
		return SMTP_CMD_OK;
	case ARG_SPECIAL:
		break;
	}
	if (cmd->verb == SMTP_VERB_BDAT)
		return parse_bdat(cmd);
	return parse_mail_rcpt(cmd, opts);
}

enum smtp_cmd_status
smtp_cmd_parse(struct smtp_cmd *cmd, const char *line, size_t len, unsigned opts)
{
	smtp_cmd_reset(cmd);
	cmd->status = parse_line(cmd, line, len, opts);
	if (cmd->status == SMTP_CMD_OK) {
		str_reset(&cmd->bad_param);
	} else if (cmd->status != SMTP_CMD_ERR_ADDRESS) {
		addr_reset(&cmd->addr);
	}
	return cmd->status;
}

void
smtp_cmd_status_reply(
        enum smtp_cmd_status st, enum smtp_verb verb, enum addr_status ast, struct smtp_reply *r)
{
	if ((unsigned)st >= SMTP_CMD_STATUS_COUNT)
		st = SMTP_CMD_ERR_SYNTAX;
	if ((unsigned)verb >= SMTP_VERB_COUNT)
		verb = SMTP_VERB_NONE;
	*r = cmd_replies[st];
	if (st == SMTP_CMD_ERR_SYNTAX) {
		r->text = verbs[verb].usage;
		/* RFC 2034: no enhanced code on HELO and EHLO replies. */
		if (verb == SMTP_VERB_HELO || verb == SMTP_VERB_EHLO)
			r->dsn = NULL;
	} else if (st == SMTP_CMD_ERR_ADDRESS) {
		if (ast == ADDR_ERR_UTF8_NOT_ALLOWED) {
			r->code = 553;
			r->dsn = "5.6.7";
			r->text = "Must declare SMTPUTF8 to send a non-ASCII address";
			return;
		}
		if (verb == SMTP_VERB_MAIL) {
			r->dsn = "5.1.7";
			r->text = "Bad sender address syntax";
		} else {
			r->dsn = "5.1.3";
			r->text = "Bad recipient address syntax";
		}
		r->detail = addr_strerror(ast);
	}
}

void
smtp_cmd_reply(const struct smtp_cmd *cmd, struct smtp_reply *r)
{
	smtp_cmd_status_reply(cmd->status, cmd->verb, cmd->addr_status, r);
	if (cmd->status != SMTP_CMD_ERR_ADDRESS && cmd->bad_param.len > 0)
		r->detail = cmd->bad_param.data;
}

void
smtp_reply_format(const struct smtp_reply *r, struct str *out)
{
	size_t i;

	str_printf(out, "%03d ", r->code);
	if (r->dsn != NULL)
		str_printf(out, "%s ", r->dsn);
	str_appendz(out, r->text);
	if (r->detail != NULL) {
		str_appendz(out, ": ");
		for (i = 0; r->detail[i] != '\0' && i < SMTP_CMD_DETAIL_MAX; i++) {
			unsigned char c = (unsigned char)r->detail[i];

			str_appendc(out, (c < 32 || c > 126) ? '?' : c);
		}
	}
	str_appendz(out, "\r\n");
}
