/*
 * smtpd_log.c - what the SMTP server writes about its sessions:
 *
 * The mail log (lib/msg.c), in the form log analysers read (Postfix's):
 *
 *	connect from host[ip]
 *	ID: client=host[ip]				(smtpd_data.c)
 *	NOQUEUE: reject: RCPT from host[ip]: 550 5.1.1 <b>: ...;
 *		from=<a> to=<b> proto=ESMTP helo=<h>
 *	lost connection after DATA (123 bytes) from host[ip]
 *	timeout after RCPT from host[ip]
 *	disconnect from host[ip] ehlo=1 mail=1 rcpt=1/2 data=1 quit=1
 *		commands=5/6
 *
 * The disconnect line counts each command as accepted/given ("rcpt=1/2"),
 * or just the count when all were accepted; unknown commands are
 * "unknown=0/N".
 *
 * The protocol log (smtpd_protocol_log, off by default): one line per
 * reply in the W3C extended format of IIS's SMTP log, UTC:
 *
 *	#Fields: date time c-ip cs-username s-sitename s-computername
 *		cs-method cs-uri-query sc-status
 *
 * with the HELO name as cs-username, the service as s-sitename, the
 * command's argument as cs-uri-query (spaces as "+", AUTH credentials
 * masked as "***"), written with one write(2) on an O_APPEND descriptor
 * opened before the jail.  Client text in either log is shown as
 * printable ASCII only (msg.c turns control characters into '?').
 * Called by every smtpd file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "smtpd.h"
#include "stream.h"

void
smtpd_log_sanitize(const char *text, size_t len, struct str *out)
{
	str_reset(out);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		str_appendc(out, c >= 32 && c != 127 ? c : '?');
	}
}

void
smtpd_log_client(const struct smtpd_session *s, struct str *out)
{
	str_printf(out, "%s[%s]", s->name, s->addr);
}

void
smtpd_log_connect(struct smtpd_session *s)
{
	msg_info("connect from %s[%s]", s->name, s->addr);
}

/* The order of Postfix's disconnect line. */
static const enum smtp_verb log_order[] = {
        SMTP_VERB_HELO,
        SMTP_VERB_EHLO,
        SMTP_VERB_STARTTLS,
        SMTP_VERB_AUTH,
        SMTP_VERB_MAIL,
        SMTP_VERB_RCPT,
        SMTP_VERB_DATA,
        SMTP_VERB_BDAT,
        SMTP_VERB_RSET,
        SMTP_VERB_NOOP,
        SMTP_VERB_VRFY,
        SMTP_VERB_EXPN,
        SMTP_VERB_HELP,
        SMTP_VERB_ETRN,
        SMTP_VERB_TURN,
        SMTP_VERB_ATRN,
        SMTP_VERB_QUIT,
        SMTP_VERB_NONE,
};

static void
count_field(struct str *out, const char *name, unsigned ok, unsigned total)
{
	if (ok == total)
		str_printf(out, " %s=%u", name, total);
	else
		str_printf(out, " %s=%u/%u", name, ok, total);
}

void
smtpd_log_disconnect(struct smtpd_session *s)
{
	struct str line = STR_INIT;
	unsigned ok = 0, total = 0;

	str_printf(&line, "disconnect from %s[%s]", s->name, s->addr);
	for (size_t i = 0; i < sizeof(log_order) / sizeof(log_order[0]); i++) {
		enum smtp_verb v = log_order[i];
		char name[16];
		size_t k;

		if (s->cmd_total[v] == 0)
			continue;
		snprintf(name, sizeof(name), "%s",
		        v == SMTP_VERB_NONE ? "unknown" : smtp_verb_name(v));
		for (k = 0; name[k]; k++)
			name[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
		count_field(&line, name, s->cmd_ok[v], s->cmd_total[v]);
		ok += s->cmd_ok[v];
		total += s->cmd_total[v];
	}
	if (total > 0)
		count_field(&line, "commands", ok, total);
	msg_info("%s", str_cstr(&line));
	str_free(&line);
}

void
smtpd_log_reject(struct smtpd_session *s, const char *stage, const char *from, const char *to,
        const char *fmt, ...)
{
	struct str line = STR_INIT;
	va_list ap;

	str_printf(&line,
	        "%s: reject: %s from %s[%s]: ", s->xact.queue_id[0] ? s->xact.queue_id : "NOQUEUE",
	        stage, s->name, s->addr);
	va_start(ap, fmt);
	str_vprintf(&line, fmt, ap);
	va_end(ap);
	if (from == NULL && s->xact.active)
		from = str_cstr(&s->xact.sender_log);
	str_appendc(&line, ';');
	if (from)
		str_printf(&line, " from=<%s>", from);
	if (to)
		str_printf(&line, " to=<%s>", to);
	str_printf(&line, " proto=%s", smtpd_protocol_name(s));
	if (s->helo.len)
		str_printf(&line, " helo=<%s>", str_cstr(&s->helo));
	msg_info("%s", str_cstr(&line));
	str_free(&line);
}

void
smtpd_log_lost(struct smtpd_session *s, const char *what)
{
	const char *verb = !s->any_command       ? "CONNECT"
	        : s->last_verb == SMTP_VERB_NONE ? "UNKNOWN"
	                                         : smtp_verb_name(s->last_verb);

	if (s->phase == SMTPD_PHASE_DATA)
		msg_info("%s after %s (%llu bytes) from %s[%s]", what, verb,
		        s->xact.data.input_bytes, s->name, s->addr);
	else if (s->phase == SMTPD_PHASE_BDAT)
		msg_info("%s after %s (%llu of %llu bytes) from %s[%s]", what, verb,
		        s->xact.bdat_chunk - s->xact.bdat_left, s->xact.bdat_chunk, s->name,
		        s->addr);
	else
		msg_info("%s after %s from %s[%s]", what, verb, s->name, s->addr);
}

/* ---- the protocol log ---- */

int
smtpd_log_protocol_open(const char *path, struct str *err)
{
	struct stat st;
	struct str head = STR_INIT;
	char date[32];
	time_t now = time(NULL);
	struct tm tm;
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		str_printf(err, "open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && st.st_size == 0) {
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
		str_printf(&head,
		        "#Software: Tern smtpd\r\n#Version: 1.0\r\n#Date: %s\r\n"
		        "#Fields: date time c-ip cs-username s-sitename s-computername cs-method "
		        "cs-uri-query sc-status\r\n",
		        date);
		if (write(fd, head.data, head.len) != (ssize_t)head.len)
			msg_warn("writing %s: %m", path);
	}
	str_free(&head);
	smtpd.protocol_log_fd = fd;
	return 0;
}

/* A W3C field: "-" when empty, spaces as "+", printable ASCII only. */
static void
w3c_field(struct str *out, const char *text, size_t len)
{
	str_appendc(out, ' ');
	if (len == 0) {
		str_appendc(out, '-');
		return;
	}
	if (len > SMTPD_LOG_TEXT_MAX)
		len = SMTPD_LOG_TEXT_MAX;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		str_appendc(out, c == ' ' ? '+' : c > 32 && c < 127 ? c : '?');
	}
}

void
smtpd_log_protocol(struct smtpd_session *s, int code)
{
	struct str line = STR_INIT;
	const char *method = smtp_verb_name(s->cmd.verb), *arg = s->cmd.arg.data;
	size_t arglen = s->cmd.arg.len;
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	const char *sp;

	if (smtpd.protocol_log_fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	str_appendz(&line, stamp);
	w3c_field(&line, s->addr, strlen(s->addr));
	w3c_field(&line, s->helo.data, s->helo.len);
	w3c_field(&line, smtpd.service, strlen(smtpd.service));
	w3c_field(&line, smtpd.myhostname, strlen(smtpd.myhostname));
	if (s->phase == SMTPD_PHASE_CONNECT || s->cmd.verb == SMTP_VERB_NONE) {
		w3c_field(&line, "", 0);
		w3c_field(&line, "", 0);
	} else if (s->cmd.verb == SMTP_VERB_AUTH) {
		w3c_field(&line, method, strlen(method));
		sp = arg ? memchr(arg, ' ', arglen) : NULL;
		w3c_field(&line, arg, sp ? (size_t)(sp - arg) : arglen);
		if (sp)
			str_appendz(&line, "+***");
	} else {
		w3c_field(&line, method, strlen(method));
		w3c_field(&line, arg, arglen);
	}
	str_printf(&line, " %d\r\n", code);
	if (write(smtpd.protocol_log_fd, line.data, line.len) != (ssize_t)line.len)
		msg_warn("writing the protocol log: %m");
	str_free(&line);
}
