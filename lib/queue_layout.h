/*
 * queue_layout.h - create the queue directory tree with its owners and
 * modes (tern setup in root mode; master in unprivileged mode).
 *
 *	$queue_directory	root		0755
 *	maildrop/		owner:setgid	1730
 *	public/			owner:setgid	2710
 *	private/		owner		0700
 *	incoming/ active/ deferred/ hold/ corrupt/
 *				owner		0700
 *	pid/			root		0755
 *	$drop_directory		root		0755 (created when missing;
 *						an existing one is left alone)
 *
 * In root mode "owner" is mail_owner and its group, "setgid" the
 * setgid_group; in unprivileged mode nothing is chowned and every
 * directory belongs to the invoking user.  Idempotent: existing
 * directories get their owner and mode put right; anything that is not
 * a directory (a symbolic link included) is an error.
 */
#ifndef TERN_QUEUE_LAYOUT_H
#define TERN_QUEUE_LAYOUT_H

#include <sys/types.h>

#include "str.h"

struct queue_owner {
	int root_mode;    /* chown as below; otherwise leave ownership alone */
	uid_t owner_uid;  /* mail_owner */
	gid_t owner_gid;  /* its primary group */
	gid_t setgid_gid; /* setgid_group */
};

/* Returns 0, or -1 with "path: reason" appended to err. */
int queue_layout_create(
        const char *queue_dir, const char *drop_dir, const struct queue_owner *o, struct str *err);

#endif
