/*
 * pickup.h - the pickup daemon's parts, shared by its files:
 *
 *	pickup.c		main, configuration, the wakeup that starts a
 *				scan, the sweep of maildrop/ temporaries
 *	pickup_maildrop.c	maildrop/: the files postdrop wrote
 *	pickup_folder.c		the IIS-style Pickup folder (pickup_directory)
 *	pickup_cleanup.c	the client of cleanup (docs/cleanup.md)
 *
 * pickup runs as mail_owner, chrooted into the queue directory (its
 * working directory either way), one process (DAEMON_SINGLE, maxproc 1),
 * woken by master's timer and by postdrop through public/pickup.  What
 * it reads is untrusted: a maildrop file is validated completely by the
 * queue file reader and checked to be a local submission of the uid it
 * records; a Pickup folder file is whatever a user dropped there.  A
 * file is removed only after cleanup committed its message; one that
 * cannot be taken goes to corrupt/ (maildrop) or bad/ (the folder) with
 * a log line, and one that meets a temporary failure stays for the next
 * scan.  docs/sendmail.md tells the whole story.
 */
#ifndef TERN_PICKUP_H
#define TERN_PICKUP_H

#include <stddef.h>
#include <sys/types.h>

#include "queue_id.h"
#include "str.h"

#define PICKUP_CLEANUP_SOCKET  "private/cleanup" /* relative to queue_directory */
#define PICKUP_REPLY_MAX       65536             /* one reply frame from cleanup */
#define PICKUP_CHUNK           65536             /* octets of one data frame */
#define PICKUP_SWEEP_INTERVAL  600               /* seconds between sweeps of maildrop/ */
#define PICKUP_FILES_MAX       100000            /* files taken by one scan of a folder */
#define PICKUP_BAD_FOLDER      "bad"             /* below pickup_directory */
#define PICKUP_FOLDER_SUFFIX   ".eml"            /* the Pickup folder's files */
#define PICKUP_UNREADABLE_WAIT 3600              /* seconds an unreadable maildrop file may wait */

/* The outcome of one submission. */
enum pickup_result {
	PICKUP_OK,      /* cleanup committed it */
	PICKUP_DEFER,   /* try again later: cleanup away or deferring, a read error */
	PICKUP_FAIL,    /* cleanup refused it for good */
	PICKUP_CORRUPT, /* the source broke its format while being read */
};

struct pickup_rcpt {
	const char *address;
	unsigned notify;        /* QUEUE_NOTIFY_*, 0: none */
	const char *orcpt_type; /* NULL: none */
	const char *orcpt_addr;
};

struct pickup_message {
	const char *sender; /* internal form, "" for <> */
	const char *flags;  /* cleanup's flags attribute: "local[,extract]..." */
	const char *envid;  /* NULL: none */
	const char *ret;    /* "FULL", "HDRS" or NULL */
	long long uid;      /* the submitting user */
	const struct pickup_rcpt *rcpts;
	size_t nrcpts;
	/* The message text: up to size octets into buf; 0 at the end, -1 on
	 * failure with *result PICKUP_DEFER or PICKUP_CORRUPT and why. */
	ssize_t (*read)(
	        void *arg, char *buf, size_t size, enum pickup_result *result, struct str *why);
	void *arg;
};

/* pickup.c */
extern int pickup_root_mode;      /* unprivileged_mode = no */
extern int pickup_ipc_timeout_ms; /* ipc_timeout */

/* pickup_cleanup.c: hand one message to cleanup.  On PICKUP_OK id is
 * the new queue ID; otherwise why says what happened. */
enum pickup_result pickup_submit(
        const struct pickup_message *m, char id[QUEUE_ID_SIZE], struct str *why);

/* pickup_maildrop.c: take every file of maildrop/; returns 0, or -1
 * when the scan stopped at a temporary failure. */
int pickup_maildrop_scan(void);

/* Take the named files oldest name first with take(), stopping at the
 * first failure or when the daemon stops; frees names and each name. */
int pickup_take_names(char **names, size_t n, int (*take)(const char *name));

/* pickup_folder.c */
/* Before the jail: open pickup_directory (when set); 0 or -1. */
int pickup_folder_open(const char *path);
/* Take every *.eml file of the folder; 0, or -1 as above. */
int pickup_folder_scan(void);

#endif
