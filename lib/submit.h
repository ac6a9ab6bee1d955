/*
 * submit.h - local submission: the protocol between sendmail and postdrop,
 * and the checks that sendmail, postdrop and pickup share.
 *
 * sendmail runs postdrop with a pipe on its standard input and one on its
 * standard output, and writes attribute frames (attr.h) to it
 * (docs/sendmail.md, "postdrop"):
 *
 *	request=open sender=S [flags=F] [envid=E] [ret=FULL|HDRS]
 *	request=rcpt address=A [notify=N] [orcpt=TYPE;ADDRESS]	one or more
 *	request=data data=<at most SUBMIT_DATA_MAX octets>	zero or more
 *	request=end		(or request=abort at any point)
 *
 * Addresses are in internal form (the local part unquoted, "@", the
 * domain); one without "@" is qualified later by cleanup.  F is a comma-
 * separated list of "extract" (sendmail -t: sendmail sends the addresses
 * it found in the header as rcpt frames too, and cleanup, told to extract,
 * removes Bcc:), "8bitmime", "smtputf8".  The message text has LF line
 * ends.  postdrop writes the queue ID and a newline to its standard
 * output once the maildrop file is committed, and exits 0; any refusal is
 * one line on standard error and a sysexits.h status.  Input that ends
 * before request=end, or request=abort (quietly, EX_DATAERR), leaves
 * nothing behind.
 *
 * The checks trust nothing: every one is made again by the receiver.
 */
#ifndef TERN_SUBMIT_H
#define TERN_SUBMIT_H

#include <stddef.h>

#include "str.h"

#define SUBMIT_DATA_MAX   65536                    /* octets of one data frame */
#define SUBMIT_FRAME_MAX  (SUBMIT_DATA_MAX + 4096) /* one frame: data and names */
#define SUBMIT_TIMEOUT_MS (10 * 60 * 1000)         /* deadline of one frame */
#define SUBMIT_REPLY_MAX  128                      /* postdrop's reply: the queue ID */
#define SUBMIT_FLAGS_MAX  64                       /* octets of the flags attribute */
#define SUBMIT_NOTIFY_MAX 64                       /* octets of the notify attribute */
#define SUBMIT_ORCPT_MAX  (2048 + 32 + 1)          /* type, ";" and address */

/* submit_address_check() result flags */
#define SUBMIT_ADDR_UTF8 0x01 /* the address holds non-ASCII: needs SMTPUTF8 */

/*
 * Check an address in internal form: "" (the null sender) only when
 * null_ok; otherwise a local part, or local@domain, that RFC 5321 can
 * carry (the local part quoted when it must be, a host name or an address
 * literal, the length limits of addr.h, UTF-8 well formed).  Returns 0
 * and ORs SUBMIT_ADDR_* into *flags (when not NULL), or -1 with the
 * reason appended to why (when not NULL).
 */
int submit_address_check(const char *address, int null_ok, unsigned *flags, struct str *why);

/*
 * DSN NOTIFY as sendmail -N and the protocol write it: "never", or a
 * comma-separated set of "success", "failure", "delay" (any case).
 * Returns 0 with QUEUE_NOTIFY_* bits in *notify, or -1.
 */
int submit_notify_parse(const char *text, unsigned *notify);

/* Append the notify bits as the cleanup protocol writes them
 * ("NEVER", "SUCCESS,FAILURE,DELAY"); nothing for 0. */
void submit_notify_format(unsigned notify, struct str *out);

#endif
