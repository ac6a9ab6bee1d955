/*
 * mastercf.h - master.cf: the services master runs, one per line.
 *
 *	# service  type  private unpriv chroot wakeup maxproc command + args
 *	smtp       inet  n       -      -      -      -       smtpd
 *	127.0.0.1:2587 inet n    -      -      -      -       smtpd
 *	    -o smtpd_tls_security_level=encrypt -o smtpd_sasl_auth_enable=yes
 *	qmgr       unix  n       -      n      300    1       qmgr
 *
 * "#" starts a comment line (first non-blank character); a line that
 * starts with white space continues the previous one; blank lines are
 * ignored.  Fields:
 *
 *	service	 unix: a socket name in private/ (or public/ when not private);
 *		 inet: "port", "host:port", "[ipv6]:port" or "*:port", where a
 *		 port is a number or smtp, submission, smtps/submissions
 *	type	 inet or unix
 *	private	 y/n, "-" = y: the socket is in private/, not public/
 *	unpriv	 y/n, "-" = y: run as mail_owner, not root
 *	chroot	 y/n, "-" = y: chroot into queue_directory
 *	wakeup	 seconds between wake-up requests from master, "-" = 0 (none);
 *		 a trailing "?" (Postfix) is accepted and ignored
 *	maxproc	 most processes at once, "-" = default_process_limit, 0 = no limit
 *	command	 program in daemon_directory (no "/"), or an absolute path
 *		 (test services), then its arguments;
 *		 "-o name=value" (joined form only) overrides main.cf for this
 *		 service
 *
 * Errors ("file:line: reason", counted in the return value): too few
 * fields, a bad type, y/n, wakeup or maxproc field, a bad service name,
 * "-o" without name=value, a bad value for a known parameter (values that
 * use "$name" are checked after expansion: mastercf_apply_overrides and
 * config_validate), and a duplicate service (same name and type, or an
 * inet service on the same address and port) naming both lines.  An
 * unknown parameter after "-o" is a warning.  Used by master (to run
 * services), `tern check`, and each daemon (to find its -o overrides).
 */
#ifndef TERN_MASTERCF_H
#define TERN_MASTERCF_H

#include "str.h"

struct config;

#define MASTERCF_LINE_MAX    65536  /* bytes in one logical line */
#define MASTERCF_FIELDS_MAX  1024   /* fields in one logical line */
#define MASTERCF_NAME_MAX    255    /* bytes in a service name */
#define MASTERCF_MAXPROC_MAX 100000 /* largest maxproc */
#define MASTERCF_WAKEUP_MAX  86400  /* largest wakeup, seconds */

enum service_type {
	SERVICE_INET,
	SERVICE_UNIX,
};

struct service_override {
	char *name;
	char *value;
};

struct service {
	char *name; /* the first field as written */
	enum service_type type;
	int private;         /* socket in private/ (unix), 1 or 0 */
	int unpriv;          /* runs as mail_owner */
	int chroot;          /* chroots into queue_directory */
	int wakeup;          /* seconds, 0 = none */
	int maxproc;         /* 0 = no limit; "-" resolved at load */
	int maxproc_default; /* maxproc was "-" */
	char *command;       /* program name in daemon_directory */
	char **argv;         /* command, then its arguments without the -o pairs; NULL-ended */
	int argc;
	struct service_override *overrides; /* in file order */
	int noverrides;
	char *host;         /* inet: host or address, NULL for all interfaces */
	char *port;         /* inet: decimal port number */
	char *file;         /* master.cf path */
	unsigned long line; /* first line of the entry */
	char *where;        /* "file:line", for diagnostics and config_set */
};

struct mastercf {
	struct service *services;
	int count;
};

/*
 * Parse path.  c supplies default_process_limit for maxproc "-" (NULL:
 * the table's default).  Always returns a mastercf (holding the lines that
 * parsed); errors and warnings are appended, one line each, and the error
 * count is stored in *nerrors.
 */
struct mastercf *mastercf_load(
        const char *path, struct config *c, struct str *errors, struct str *warnings, int *nerrors);
void mastercf_free(struct mastercf *m);

/* The service with this name and type, or NULL. */
const struct service *mastercf_find(
        const struct mastercf *m, const char *name, enum service_type type);

/*
 * Apply a service's -o overrides to c (normally a clone of main.cf) with
 * config_set(), origin "file:line".  Returns the error count (also
 * appended to errors).  The caller then runs config_validate(c).
 */
int mastercf_apply_overrides(const struct service *s, struct config *c, struct str *errors);

/*
 * Split an inet service name into host (NULL for "*" or a bare port) and
 * a decimal port.  Returns 0, or -1 with the reason appended to why.
 */
int mastercf_parse_inet(const char *name, char **host, char **port, struct str *why);

const char *service_type_name(enum service_type type);

#endif
