/*
 * local.h - the local delivery agent's pieces and what each promises.
 *
 *	local.c			main, configuration, tables, the protocol of
 *				private/local (docs/delivery-protocol.md)
 *	local_recipient.c	one recipient: loop check, aliases, system
 *				accounts, .forward, hosted mailboxes; the
 *				result of an expansion
 *	local_alias.c		alias_maps, owner- aliases, the items of an
 *				alias, :include: and .forward files
 *	local_maildir.c		maildir delivery (idempotent names)
 *	local_mbox.c		mbox delivery into mail_spool_directory, and
 *				the mbox append shared with /file
 *	local_file.c		/file targets
 *	local_command.c		|command targets
 *	local_forward.c		non-local targets: a new message via cleanup
 *	local_quota.c		mailbox and domain usage (maildirsize)
 *	local_copy.c		the message as written: Return-Path,
 *				Delivered-To, From_ line, >From quoting
 *	local_path.c		safe path components, the address encoding
 *	local_privs.c		identities and running a task as one
 *
 * One process serves one qmgr connection at a time (DAEMON_SINGLE).  In
 * root mode the process is root and does every write into a mailbox,
 * file or command as the recipient's uid (or the hosted uid), in a child
 * that switched ids; in unprivileged mode everything runs as the
 * invoking user.  docs/local.md describes the behaviour.
 */
#ifndef TERN_LOCAL_H
#define TERN_LOCAL_H

#include <stddef.h>
#include <sys/types.h>

#include "queue_file.h"
#include "str.h"

struct table;
struct resolver;

/* Limits. */
#define LOCAL_EXPAND_DEPTH     20            /* nesting of aliases, :include: and .forward */
#define LOCAL_EXPAND_MAX       1000          /* targets one recipient may expand to */
#define LOCAL_FILE_SIZE_MAX    (1024 * 1024) /* bytes of an :include: or .forward file */
#define LOCAL_DELIVERED_TO_MAX 1000          /* Delivered-To: fields remembered */
#define LOCAL_OUTPUT_MAX       4096          /* command output kept for a bounce */
#define LOCAL_REASON_SHOWN     200           /* octets of command output in a reason */
#define LOCAL_TASK_TIMEOUT     3600          /* seconds for one mailbox or file write */
#define LOCAL_LOCK_WAIT        60            /* seconds to wait for a mailbox lock */
#define LOCAL_DOTLOCK_STALE    300           /* a dot-lock older than this is removed */
#define LOCAL_RESULT_MAX       (LOCAL_FILE_SIZE_MAX + 65536) /* a task's result, bytes */
#define LOCAL_COPY_BUFFER      65536                         /* bytes per write of a copy */
#define LOCAL_NAME_MAX         255                           /* octets of one path component */
#define LOCAL_MAILDIRSIZE_MAX  5120 /* a bigger maildirsize is recomputed (Maildir++) */
#define LOCAL_PATH_DEFAULT     "/usr/bin:/bin"
#define LOCAL_ID_MAX           4294967294LL /* the largest uid or gid; (uid_t)-1 is none */

/* Where an alias item came from (allow_mail_to_commands, _files). */
#define LOCAL_SRC_ALIAS   0x01u
#define LOCAL_SRC_FORWARD 0x02u
#define LOCAL_SRC_INCLUDE 0x04u

/* ---- results ---- */

enum local_status {
	LOCAL_SENT,
	LOCAL_DEFER,
	LOCAL_BOUNCE,
};

struct local_result {
	enum local_status status;
	char dsn[QUEUE_DSN_MAX + 1]; /* "2.0.0", "4.2.2", "5.1.1", ... */
	struct str reason;           /* "delivered to maildir", ... */
	struct str data;             /* what a task read for its caller */
};

void local_result_init(struct local_result *res);
void local_result_free(struct local_result *res);
__attribute__((format(printf, 4, 5))) void local_result_set(
        struct local_result *res, enum local_status status, const char *dsn, const char *fmt, ...);
/* Defer or bounce by errno: ENOSPC and EDQUOT are 4.2.2 (mailbox full),
 * anything else 4.3.0; what names the step ("write maildir/tmp/x"). */
void local_result_errno(struct local_result *res, int err, const char *what);
/* The same dsn choice, with text that already says why. */
void local_result_fail(struct local_result *res, int err, const char *text);
const char *local_status_name(enum local_status st);

/* ---- configuration (local.c) ---- */

/* A list of tables; a lookup asks each in order, the first hit wins. */
struct local_maps {
	struct table **t;
	size_t n;
};

/* 1 found (value set), 0 not found, -1 a table failed (err). */
int local_maps_lookup(struct local_maps *m, const char *key, struct str *value, struct str *err);

struct local_identity;

struct local_config {
	int unprivileged; /* unprivileged_mode: no id switches */
	const char *myhostname;
	const char *drop_directory;
	const char *home_mailbox;
	const char *mail_spool_directory;
	const char *recipient_delimiter;
	char *const *forward_path;
	int drop_system_mailboxes;
	unsigned allow_commands; /* LOCAL_SRC_* */
	unsigned allow_files;
	long long mailbox_size_limit;
	long long domain_size_limit;
	long long local_queue_lifetime;
	long long command_time_limit;
	long long header_size_limit;
	long long virtual_minimum_uid;
	int ipc_timeout_ms;
	struct local_maps alias_maps;
	struct local_identity **alias_privs; /* per alias table: its file's owner */
	struct local_maps virtual_mailbox_maps;
	struct local_maps virtual_uid_maps;
	struct local_maps virtual_gid_maps;
	struct local_maps mailbox_size_limit_maps;
	struct local_maps domain_size_limit_maps;
	struct resolver *resolver;
	struct local_identity *default_privs; /* root mode: for root-owned aliases */
	struct local_identity *self;          /* the invoking user */
};

extern struct local_config local_cfg;

/* ---- the message of one request ---- */

struct local_message {
	const char *queue_id;
	const char *sender; /* the envelope sender, "" for <> */
	struct queue_file *qf;
	const struct queue_envelope *env;
	char **delivered_to; /* Delivered-To: values, lower-cased */
	size_t ndelivered_to;
	long long arrival_sec;
	int expired; /* older than local_queue_lifetime */
};

/* One recipient of the request, as qmgr named it. */
struct local_rcpt {
	size_t index; /* in the queue file */
	const char *address;
	const char *orcpt; /* "type;address", or "" */
	unsigned notify;   /* QUEUE_NOTIFY_* */
};

/* ---- local_recipient.c ---- */

/* Deliver one recipient, with its whole expansion; the single result
 * qmgr hears about it. */
void local_deliver_rcpt(
        struct local_message *m, const struct local_rcpt *r, struct local_result *res);

/* ---- local_copy.c: the message as written ---- */

struct local_copy {
	const char *return_path;  /* envelope sender: "Return-Path: <...>" */
	const char *delivered_to; /* "Delivered-To: ..."; NULL: none */
	int from_line;            /* an mbox "From sender date" line first */
	int quote_from;           /* ">From " for body lines that start "From " */
	int mbox_end;             /* end with an empty line (mbox) */
};

/* Read the message header; remember its Delivered-To: values.  0, or -1
 * with err (the queue file could not be read). */
int local_copy_scan(struct local_message *m, struct str *err);
/* 1 when the message carries "Delivered-To: address" (any case). */
int local_copy_delivered_to(const struct local_message *m, const char *address);
/* The lines written before the message text. */
void local_copy_prefix(const struct local_message *m, const struct local_copy *c, struct str *out);
/* Octets of a copy without quoting: prefix and text. */
unsigned long long local_copy_size(const struct local_message *m, const struct local_copy *c);
/* Write a copy to fd; 0, or -1 with err and errno. */
int local_copy_write(int fd, struct local_message *m, const struct local_copy *c, struct str *err);
/* Append text to out with line ends and TAB as spaces and other control
 * characters as '?', at most max octets ("..." when cut). */
void local_text_sanitize(struct str *out, const char *text, size_t len, size_t max);

/* ---- local_privs.c: who a write happens as ---- */

struct local_identity {
	int switch_ids; /* root mode: a child switches to uid/gid */
	uid_t uid;
	gid_t gid;
	char *user; /* for USER; "" when the uid has no name */
	char *home;
	char *shell;
};

/* From the password file: 1 found, 0 no such user, -1 error (err). */
int local_identity_user(const char *name, struct local_identity **id, struct str *err);
/* For a uid (and gid); the name, home and shell when the uid has them. */
struct local_identity *local_identity_uid(uid_t uid, gid_t gid);
/* The owner of a file: the account's group when the uid has one, else
 * gid. */
struct local_identity *local_identity_owner(uid_t uid, gid_t gid);
/* The primary group of uid's account: 0, or -1 when it has none. */
int local_identity_group(uid_t uid, gid_t *gid);
struct local_identity *local_identity_copy(const struct local_identity *id);
void local_identity_free(struct local_identity *id);
/* For root-owned sources (aliases, :include:) in root mode:
 * default_privs; otherwise a copy of id. */
struct local_identity *local_identity_unroot(const struct local_identity *id);

/* A task runs as an identity: in root mode in a child after the switch
 * (or, with LOCAL_RUN_KEEP_ROOT, still root: the task calls
 * local_privs_become around its writes), else in this process. */
typedef void (*local_task)(void *arg, struct local_result *res);
#define LOCAL_RUN_KEEP_ROOT 0x01u
void local_run_as(const struct local_identity *id, unsigned flags, local_task task, void *arg,
        struct local_result *res);
/* Inside a LOCAL_RUN_KEEP_ROOT task: effective ids to id and back.  0,
 * or -1 with err.  No-ops without switch_ids. */
int local_privs_become(const struct local_identity *id, struct str *err);
int local_privs_restore(const struct local_identity *id, struct str *err);

/* ---- local_path.c ---- */

/* Append the encoding of name[0..len) as one path component: ASCII
 * letters lower-cased; [a-z0-9], "-", "_", "+", "=" and "." kept, but a
 * leading "." becomes "%2E"; every other octet "%XX".  The result never
 * holds "/" and is never "." or "..".  -1 when it would be empty or
 * longer than LOCAL_NAME_MAX. */
int local_path_encode(const char *name, size_t len, struct str *out);

/* Components of a mailbox path from a map: relative to base, or absolute
 * below base; empty and "." components dropped; "..", any other
 * absolute path, or a component over LOCAL_NAME_MAX refused (-1, why). */
struct local_path {
	char **v;
	size_t n;
};
int local_path_parse(const char *value, const char *base, struct local_path *p, struct str *why);
void local_path_push(struct local_path *p, const char *component);
void local_path_free(struct local_path *p);

/*
 * Open the directory base/c1/.../cn: base as given (a trusted path), each
 * component with O_NOFOLLOW.  Missing components are created when create
 * is set (mode 0755, the last one 0700); with owner (root mode), the last
 * component, when created here, is given to owner's uid and gid.  Returns
 * the descriptor, or -1 with err and errno.
 */
int local_path_open(const char *base, const struct local_path *p, int create,
        const struct local_identity *owner, struct str *err);
/* fsync of a directory; 0 or -1 (errno). */
int local_fsync_dir(int dirfd);

/* ---- mailboxes ---- */

enum local_mailbox_kind {
	LOCAL_MAILDIR,
	LOCAL_MBOX,
};

struct local_mailbox {
	enum local_mailbox_kind kind;
	const char *base;             /* trusted start of the path */
	struct local_path path;       /* below base, opened without following links */
	int root_creates;             /* root mode: root creates the path, owner gets the last */
	struct str display;           /* the whole path, for reasons and logs */
	struct local_identity *owner; /* the writes happen as */
	long long mailbox_limit;      /* bytes, 0: none */
	long long domain_limit;       /* bytes, 0: none */
	struct str domain_dir;        /* the domain's directory for domain_limit */
};

void local_mailbox_init(struct local_mailbox *mb);
void local_mailbox_free(struct local_mailbox *mb);

/* local_maildir.c */
void local_maildir_deliver(struct local_message *m, const struct local_rcpt *r,
        const struct local_mailbox *mb, const struct local_copy *c, struct local_result *res);

/* local_mbox.c */
void local_mbox_deliver(struct local_message *m, const struct local_mailbox *mb,
        const struct local_copy *c, struct local_result *res);
/* Append one mbox message to fd (locked by the caller): From_ line,
 * quoting, final empty line, fsync; on failure the file is cut back to
 * its old size.  0, or -1 with err and errno. */
int local_mbox_append(int fd, struct local_message *m, const struct local_copy *c, struct str *err);
/* fcntl write lock, waiting up to LOCAL_LOCK_WAIT; 0, or -1 (errno). */
int local_lock_fd(int fd);
/* PATH.lock created with O_EXCL, waiting up to LOCAL_LOCK_WAIT, stale
 * locks removed.  1 taken, 0 not possible here (no permission: fcntl
 * alone then), -1 busy or failed (err). */
int local_dotlock_take(const char *path, struct str *err);
void local_dotlock_release(const char *path);

/* local_file.c */
void local_file_deliver(struct local_message *m, const char *path,
        const struct local_identity *privs, const struct local_copy *c, struct local_result *res);

/* local_command.c: the envelope only in the environment. */
struct local_command_env {
	const char *sender;
	const char *recipient;
	const char *original_recipient;
};
void local_command_deliver(struct local_message *m, const char *command,
        const struct local_identity *privs, const struct local_command_env *e,
        const struct local_copy *c, struct local_result *res);

/* local_forward.c: one new message through private/cleanup. */
void local_forward_send(struct local_message *m, const struct local_rcpt *r, const char *sender,
        const char *delivered_to, char *const *addresses, size_t n, struct local_result *res);

/* local_quota.c */
/* Usage of the maildir open at dirfd: from maildirsize when it is
 * usable, else by scanning cur/ and new/ (and maildirsize rewritten when
 * may_write).  0, or -1 with err. */
int local_quota_usage(
        int dirfd, long long limit, int fresh, int may_write, long long *bytes, struct str *err);
/* Sum of the usage of the maildirs directly below domain_dir. */
int local_quota_domain_usage(const char *domain_dir, long long *bytes, struct str *err);
/* Check mb's limits before writing size octets into the maildir at
 * dirfd (or the mbox of mbox_size octets when dirfd < 0), with the
 * domain's usage measured by the caller (-1: not measured).  0 within
 * the limits; 1 over (res set: 4.2.2, or 5.2.2 once the message has
 * expired); -1 error (res set). */
int local_quota_check(struct local_message *m, const struct local_mailbox *mb, int dirfd,
        long long mbox_size, long long domain_usage, unsigned long long size,
        struct local_result *res);
/* Account a new file of size octets in maildirsize, if there is one. */
void local_quota_note(int dirfd, unsigned long long size);

/* ---- local_alias.c ---- */

/* One item of an alias, :include: or .forward. */
enum local_item_kind {
	LOCAL_ITEM_ADDRESS,  /* user, user@domain */
	LOCAL_ITEM_NOEXPAND, /* \user: the mailbox, no more expansion */
	LOCAL_ITEM_COMMAND,  /* |command */
	LOCAL_ITEM_FILE,     /* /file, or /dir/ for a maildir */
	LOCAL_ITEM_INCLUDE,  /* :include:/file */
};

struct local_item {
	enum local_item_kind kind;
	char *text; /* without |, \ or :include:; unquoted */
};

struct local_items {
	struct local_item *v;
	size_t n;
	size_t cap;
};

/* Split items separated by commas (and newlines when lines is set,
 * where "#" starts a comment line); double quotes protect commas. */
void local_items_parse(const char *text, int lines, struct local_items *items);
void local_items_free(struct local_items *items);

/* alias_maps: 1 found (value, and privs: the owner of the table's file
 * with local_identity_unroot applied), 0 not found, -1 error (err). */
int local_alias_lookup(
        const char *key, struct str *value, struct local_identity **privs, struct str *err);
/* Read a file as id: 1 read (text; its owner and group in *uid, *gid),
 * 0 absent or ignored (.forward only), -1 failed (res set).  forward: the
 * .forward rules (owned by id's uid or root, not group or world
 * writable, not a symbolic link). */
int local_read_file(const char *path, const struct local_identity *id, int forward,
        struct str *text, uid_t *uid, gid_t *gid, struct local_result *res);

#endif
