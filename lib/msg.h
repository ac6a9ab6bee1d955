/*
 * msg.h - diagnostics and the mail log.
 *
 * One line per event, in the format that log analysers read:
 *
 *	Mon DD HH:MM:SS host tern/smtpd[pid]: text
 *
 * Lines go to any of: standard error (commands and foreground runs),
 * syslog (facility mail), and a log file (maillog_file), opened before a
 * daemon chroots.  A file line is written with one write(2) on an
 * O_APPEND descriptor, so processes sharing the file never interleave.
 *
 * msg_warn() and msg_error() prefix "warning: " and "error: ";
 * msg_fatal() logs "fatal: ..." and exits 1; msg_panic() logs
 * "panic: ..." and aborts (a bug).  Control characters in the text are
 * shown as '?', so nothing from the network can forge a log line.
 */
#ifndef TERN_MSG_H
#define TERN_MSG_H

#include <stdarg.h>

struct str;

void msg_init(const char *progname);
const char *msg_progname(void);
void msg_set_hostname(const char *hostname);
void msg_to_stderr(int on);
void msg_stderr_plain(int on);
int msg_open_file(const char *path, struct str *err);
void msg_open_syslog(void);
void msg_close(void);
void msg_set_fatal_hook(void (*hook)(void));

extern int msg_verbose;

__attribute__((format(printf, 1, 2))) void msg_info(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void msg_warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void msg_error(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void msg_debug(const char *fmt, ...);
__attribute__((format(printf, 1, 2), noreturn)) void msg_fatal(const char *fmt, ...);
__attribute__((format(printf, 1, 2), noreturn)) void msg_panic(const char *fmt, ...);
__attribute__((format(printf, 2, 0))) void msg_vlog(
        const char *prefix, const char *fmt, va_list ap);

#endif
