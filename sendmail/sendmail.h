/*
 * sendmail.h - the sendmail-compatible front end, shared by its files:
 *
 *	sendmail.c		main: the name it was called by, options,
 *				configuration directory, dispatch
 *	sendmail_message.c	-bm (the default): read the message from
 *				standard input, line ends, the lone dot,
 *				-t and -F, and submit it
 *	sendmail_postdrop.c	the client side of postdrop (submit.h)
 *	sendmail_smtp.c		-bs: SMTP on standard input and output
 *	sendmail_query.c	-bp (mailq), -bi (newaliases), -bv, -q
 *
 * sendmail runs with its caller's rights only; everything privileged is
 * postdrop's.  docs/sendmail.md is the manual.
 */
#ifndef TERN_SENDMAIL_H
#define TERN_SENDMAIL_H

#include <stddef.h>

#include "queue_id.h"
#include "str.h"

#define SENDMAIL_LOGIN_MAX 256 /* octets of a login name used as the sender */

enum sendmail_mode {
	SENDMAIL_DELIVER, /* -bm: a message on standard input */
	SENDMAIL_SMTP,    /* -bs */
	SENDMAIL_PRINT,   /* -bp, mailq */
	SENDMAIL_ALIASES, /* -bi, -I, newaliases */
	SENDMAIL_VERIFY,  /* -bv */
	SENDMAIL_FLUSH,   /* -q */
};

struct sendmail_opts {
	enum sendmail_mode mode;
	const char *confdir;      /* the directory chosen, absolute or as given */
	const char *sender;       /* -f/-r, NULL: the caller's login name */
	const char *fullname;     /* -F, NULL: none */
	const char *envid;        /* -V, NULL: none */
	const char *ret;          /* -R: "FULL" or "HDRS", NULL: none */
	unsigned notify;          /* -N: QUEUE_NOTIFY_*, 0: none */
	int extract;              /* -t */
	int ignore_dots;          /* -i, -oi */
	int body_8bit;            /* -B 8BITMIME */
	const char *flush_domain; /* -qR: only this site */
	char **rcpts;             /* the arguments after the options */
	int nrcpts;
};

/* sendmail.c: the caller's login name (the default sender). */
const char *sendmail_login(void);

/* sendmail.c: one line "fatal: ..." on standard error (and the log),
 * then exit with status (sysexits.h). */
__attribute__((noreturn, format(printf, 2, 3))) void sendmail_fail(
        int status, const char *fmt, ...);

/* sendmail_message.c: -bm.  Returns the exit status. */
int sendmail_deliver(const struct sendmail_opts *o);

/*
 * Parse a recipient argument (an RFC 5322 address list: "a@b, Name
 * <c@d>") into internal-form addresses appended to out (NULL-terminated
 * array of xstrdup'ed strings, *n counts them).  Returns 0, or -1 with the
 * reason in why.
 */
int sendmail_parse_rcpts(const char *arg, char ***out, size_t *n, struct str *why);
void sendmail_free_rcpts(char **v, size_t n);

/* sendmail_postdrop.c: one submission through postdrop. */
struct postdrop_client;

struct postdrop_client *postdrop_start(const char *confdir, struct str *err);
/* The envelope: flags words as submit.h; envid and ret may be NULL. */
int postdrop_send_open(struct postdrop_client *pc, const char *sender, const char *flags,
        const char *envid, const char *ret);
int postdrop_send_rcpt(
        struct postdrop_client *pc, const char *address, unsigned notify, const char *orcpt);
/* Message text with LF line ends, in any slices. */
int postdrop_send_data(struct postdrop_client *pc, const void *data, size_t len);
/*
 * Send request=end, wait for postdrop; returns its exit status (EX_OK
 * with the queue ID in id) or EX_TEMPFAIL/EX_OSERR when it could not be
 * run.  Frees pc.
 */
int postdrop_finish(struct postdrop_client *pc, char id[QUEUE_ID_SIZE]);
/* Give up: postdrop sees the input end early and writes nothing. */
void postdrop_abort(struct postdrop_client *pc);

/* sendmail_smtp.c: -bs */
int sendmail_smtp(const struct sendmail_opts *o);

/* sendmail_query.c */
int sendmail_print_queue(const struct sendmail_opts *o);
int sendmail_build_aliases(const struct sendmail_opts *o);
int sendmail_verify(const struct sendmail_opts *o);
int sendmail_flush(const struct sendmail_opts *o);

#endif
