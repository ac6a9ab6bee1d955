/*
 * msg.c - diagnostics and the mail log; see msg.h.
 *
 * Trusts its callers' format strings; sanitises the formatted text.
 * Called by every program.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "str.h"

#define MSG_LINE_MAX 4096

int msg_verbose;

static char progname[64] = "tern";
static char ident[80] = "tern";
static char hostname[256] = "localhost";
static int use_stderr = 1;
static int stderr_plain = 1;
static int log_fd = -1;
static int use_syslog;
static void (*fatal_hook)(void);

void
msg_init(const char *name)
{
	const char *slash = strrchr(name, '/');

	if (slash)
		name = slash + 1;
	snprintf(progname, sizeof(progname), "%s", name);
	if (strcmp(progname, "tern") == 0)
		snprintf(ident, sizeof(ident), "tern");
	else
		snprintf(ident, sizeof(ident), "tern/%s", progname);
	if (gethostname(hostname, sizeof(hostname) - 1) != 0)
		snprintf(hostname, sizeof(hostname), "localhost");
	hostname[sizeof(hostname) - 1] = '\0';
	tzset();
}

const char *
msg_progname(void)
{
	return progname;
}

void
msg_set_hostname(const char *name)
{
	snprintf(hostname, sizeof(hostname), "%s", name);
}

void
msg_to_stderr(int on)
{
	use_stderr = on;
}

void
msg_stderr_plain(int on)
{
	stderr_plain = on;
}

int
msg_open_file(const char *path, struct str *err)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0) {
		if (err)
			str_printf(err, "open %s: %s", path, strerror(errno));
		return -1;
	}
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	return 0;
}

void
msg_open_syslog(void)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	use_syslog = 1;
}

void
msg_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	if (use_syslog)
		closelog();
	use_syslog = 0;
}

void
msg_set_fatal_hook(void (*hook)(void))
{
	fatal_hook = hook;
}

static int
syslog_priority(const char *prefix)
{
	if (prefix == NULL)
		return LOG_INFO;
	if (strcmp(prefix, "warning") == 0)
		return LOG_WARNING;
	if (strcmp(prefix, "debug") == 0)
		return LOG_DEBUG;
	return LOG_ERR;
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

void
msg_vlog(const char *prefix, const char *fmt, va_list ap)
{
	char text[MSG_LINE_MAX], line[MSG_LINE_MAX + 512];
	int saved_errno = errno, n;
	time_t now;
	struct tm tm;
	char stamp[32];

	vsnprintf(text, sizeof(text), fmt, ap);
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (use_syslog) {
		if (prefix)
			syslog(syslog_priority(prefix), "%s: %s", prefix, text);
		else
			syslog(LOG_INFO, "%s", text);
	}
	if (log_fd >= 0 || (use_stderr && !stderr_plain)) {
		now = time(NULL);
		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
		n = snprintf(line, sizeof(line), "%s %s %s[%ld]: %s%s%s\n", stamp, hostname, ident,
		        (long)getpid(), prefix ? prefix : "", prefix ? ": " : "", text);
		if (n >= (int)sizeof(line))
			n = (int)sizeof(line) - 1, line[n - 1] = '\n';
		if (log_fd >= 0)
			write_all(log_fd, line, (size_t)n);
		if (use_stderr && !stderr_plain)
			write_all(2, line, (size_t)n);
	}
	if (use_stderr && stderr_plain) {
		n = snprintf(line, sizeof(line), "%s: %s%s%s\n", ident, prefix ? prefix : "",
		        prefix ? ": " : "", text);
		if (n >= (int)sizeof(line))
			n = (int)sizeof(line) - 1, line[n - 1] = '\n';
		write_all(2, line, (size_t)n);
	}
	errno = saved_errno;
}

void
msg_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vlog(NULL, fmt, ap);
	va_end(ap);
}

void
msg_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vlog("warning", fmt, ap);
	va_end(ap);
}

void
msg_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vlog("error", fmt, ap);
	va_end(ap);
}

void
msg_debug(const char *fmt, ...)
{
	va_list ap;

	if (!msg_verbose)
		return;
	va_start(ap, fmt);
	msg_vlog("debug", fmt, ap);
	va_end(ap);
}

void
msg_fatal(const char *fmt, ...)
{
	va_list ap;
	static int dying;

	va_start(ap, fmt);
	msg_vlog("fatal", fmt, ap);
	va_end(ap);
	if (fatal_hook && !dying++)
		fatal_hook();
	exit(1);
}

void
msg_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vlog("panic", fmt, ap);
	va_end(ap);
	abort();
}
