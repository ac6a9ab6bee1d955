/*
 * queue_dir.h - the queue folders, and moving files between them.
 *
 * Under queue_directory each folder is flat: a queue file is
 * "<folder>/<queue ID>" (docs/queue.md tells the life cycle); the tree
 * itself is made by queue_layout.h.  A daemon
 * chrooted into the queue directory passes "" or "." as queue_dir and
 * uses relative paths.  Every function returns QUEUE_OK (0) or a
 * negative queue_result of queue_file.h with one line of reason in err;
 * none of them is fatal.
 *
 *	queue_dir_path		"<queue_dir>/<folder>/<name>"
 *	queue_dir_move		rename to another folder, never replacing a
 *				file there, then fsync both folders
 *	queue_dir_move_flags	the same; without QUEUE_MOVE_DURABLE the
 *				folders are not fsynced.  For qmgr's own moves
 *				between incoming/, active/ and deferred/ only:
 *				after a crash the file is in one of them (or,
 *				with the link+unlink fallback, in two: one
 *				inode, so its done marks are shared) and qmgr
 *				rescans all three at start
 *	queue_dir_to_corrupt	the same to corrupt/, with the log line
 *				"warning: NAME: moved to corrupt/: REASON"
 *	queue_dir_sweep		remove "tmp.*" files older than max_age
 *				(temporary_file_max_age, default 1h), each
 *				with "warning: removing stale temporary file
 *				NAME (age N s)"; they never go to corrupt/
 *	queue_dir_check_space	QUEUE_NOSPACE when the file system has less
 *				than minfree bytes (queue_minfree) free to
 *				an unprivileged user: a temporary failure
 */
#ifndef TERN_QUEUE_DIR_H
#define TERN_QUEUE_DIR_H

#include <time.h>

#include "queue_file.h"
#include "str.h"

enum queue_folder {
	QUEUE_FOLDER_MAILDROP,
	QUEUE_FOLDER_INCOMING,
	QUEUE_FOLDER_ACTIVE,
	QUEUE_FOLDER_DEFERRED,
	QUEUE_FOLDER_HOLD,
	QUEUE_FOLDER_CORRUPT,
	QUEUE_FOLDER_COUNT,
};

#define QUEUE_TEMP_MAX_AGE    3600      /* temporary_file_max_age, seconds */
#define QUEUE_MINFREE_DEFAULT 104857600 /* queue_minfree, bytes (100 MiB) */

/* "maildrop", "incoming", ...; NULL for a value out of range. */
const char *queue_folder_name(enum queue_folder folder);
/* The folder of that name, or -1. */
int queue_folder_lookup(const char *name);

void queue_dir_path(
        struct str *out, const char *queue_dir, enum queue_folder folder, const char *name);

#define QUEUE_MOVE_DURABLE 0x01 /* fsync both folders after the rename */

int queue_dir_move(const char *queue_dir, const char *name, enum queue_folder from,
        enum queue_folder to, struct str *err);
int queue_dir_move_flags(const char *queue_dir, const char *name, enum queue_folder from,
        enum queue_folder to, int flags, struct str *err);
int queue_dir_to_corrupt(const char *queue_dir, const char *name, enum queue_folder from,
        const char *reason, struct str *err);

/* Sweep one folder; *removed counts the files removed.  A file that
 * vanishes meanwhile is not an error.  now: time(NULL) except in tests. */
int queue_dir_sweep(const char *queue_dir, enum queue_folder folder, long long max_age, time_t now,
        unsigned long *removed, struct str *err);

int queue_dir_check_space(const char *queue_dir, unsigned long long minfree, struct str *err);

#endif
