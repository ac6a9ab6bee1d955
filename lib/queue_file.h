/*
 * queue_file.h - the queue file: one message, its envelope and content.
 *
 * docs/queue-format.md is the format (version QUEUE_FORMAT_VERSION); in
 * short, a file is a sequence of records "type:u8 length:u32be payload":
 *
 *	MAGIC  envelope...  (RCPT [ORCPT] STATUS)...  CONTENT...  END
 *
 * WRITER (cleanup, and qmgr for bounces through cleanup)
 *
 *	queue_file_create(dir, &w, err)	  O_EXCL "tmp.<queue ID>" in dir
 *					  (the path of incoming/), mode 0600;
 *					  the queue ID is chosen now:
 *	queue_file_id(w)		  for the Received header and logs
 *	queue_file_put_sender(w, ...)	  envelope fields, any order, each
 *	...				  at most once; sender is required
 *	queue_file_put_rcpt(w, ...)	  one or more recipients, after
 *					  the envelope
 *	queue_file_put_content(w, ...)	  the message text, in any slices
 *	queue_file_commit(w, id, err)	  or queue_file_abort(w)
 *
 * A put that refuses its value (too long, a control character, an
 * unknown flag) returns QUEUE_INVALID and writes nothing: the writer can
 * still be used.  A put or commit that meets a system error returns
 * QUEUE_NOSPACE or QUEUE_IOERROR, and so does every later call; the
 * caller then calls queue_file_commit (which reports it again) or
 * queue_file_abort.  Calling the puts in the wrong order (an envelope
 * field after a recipient, content before any recipient, a field twice,
 * no sender, commit without a recipient) is a bug: msg_panic.
 *
 * queue_file_commit follows the commit protocol, in exactly this order:
 * write the END record and what is still buffered, fsync the file,
 * rename it to its queue ID without replacing anything (renameat2
 * RENAME_NOREPLACE, or link+unlink where the file system lacks it),
 * fsync the directory.  It returns QUEUE_OK only when all four steps
 * succeeded.  On any failure nothing is left behind: the temporary, or
 * after a successful rename the queue file itself, is removed (so the
 * client's retry cannot make a duplicate), err says which step failed
 * ("fsync incoming/tmp.X: ...", "rename ...", "fsync directory ...").
 * Commit and abort both free w.  A directory that the writer may write
 * but not read (maildrop/, mode 1730, for the setgid postdrop) is used
 * through an O_PATH descriptor, and its fsync is a syncfs(2) of the file
 * system through the committed file.
 *
 * The message text is stored with LF line ends: put_content turns each
 * CRLF into LF, also across slices; a lone CR or LF is kept.  The text is
 * otherwise stored as given (no dot-stuffing, no final newline added).
 *
 * READER (qmgr, local, smtp, the queue viewer)
 *
 * queue_file_open reads and checks every record before it returns: the
 * magic and version, the record order, each length against its type's
 * limit and against the file, every text field (no control characters),
 * the required records, the counts, the content length and the CRC-32 of
 * END.  Anything else is QUEUE_CORRUPT with the reason in err (the
 * caller moves the file to corrupt/: queue_dir.h).  A file without END,
 * that is, any truncation, is corrupt.  The envelope and recipients are
 * then in memory; the content is streamed with queue_file_read_content.
 *
 * IN-PLACE UPDATES (qmgr, on a file opened with QUEUE_OPEN_UPDATE)
 *
 * Each recipient has a done byte and a status slot at fixed offsets.
 * queue_file_mark_done writes the one done byte with one pwrite and
 * fsyncs: the recipient is finished and is never tried again
 * (DELIVERED, RELAYED or FAILED).
 * queue_file_set_status records delivery facts for DSNs (attempts, last
 * attempt, enhanced status code, reason) in the older of two copies with
 * a sequence number and its own CRC, then fsyncs, so a torn write leaves
 * the previous facts readable.  To finish a recipient with facts, set the
 * status first, then mark it done.  Neither update changes the END CRC,
 * which counts these bytes as zero.  When an update fails (its pwrite or
 * its fsync) the in-memory recipient is left as it was and the caller
 * must treat the update as not made: the byte may or may not be on disk,
 * so the worst case is one more delivery attempt, never a lost one.
 *
 * queue_file_set_notices records, the same way, which notices went out
 * for the whole message (QUEUE_NOTICE_*: qmgr's delay notice, sent at
 * most once).  The writer gives every file a NOTICES record; a file
 * without one (hand-made) reads as notices -1 and cannot record them.
 *
 * queue_file_open reads the whole file once to check it (the CRC covers
 * the text), so a delivery agent reads the text twice; the envelope and
 * recipients stay in memory, the text never does.
 *
 * Return values: QUEUE_OK (0) or one of the negative queue_result codes.
 */
#ifndef TERN_QUEUE_FILE_H
#define TERN_QUEUE_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "queue_id.h"
#include "str.h"

#define QUEUE_FORMAT_VERSION 1
#define QUEUE_MAGIC          "TERN-QUEUE"

/* Limits of the format: bytes of text in one field. */
#define QUEUE_ADDR_MAX        2048   /* sender, recipient, ORCPT address */
#define QUEUE_ENVID_MAX       100    /* DSN ENVID (RFC 3461) */
#define QUEUE_HELO_MAX        512    /* HELO/EHLO argument */
#define QUEUE_HOSTNAME_MAX    255    /* client host name */
#define QUEUE_CLIENT_ADDR_MAX 64     /* client IP address as text */
#define QUEUE_PROTOCOL_MAX    16     /* "ESMTPSA", "local", ... */
#define QUEUE_CIPHER_MAX      128    /* TLS cipher description */
#define QUEUE_LOGIN_MAX       512    /* AUTH login name */
#define QUEUE_ORCPT_TYPE_MAX  32     /* ORCPT address type: "rfc822", "utf-8" */
#define QUEUE_DSN_MAX         9      /* enhanced status code "5.123.123" */
#define QUEUE_REASON_MAX      255    /* delivery status reason */
#define QUEUE_CHUNK_MAX       65536  /* message text in one CONTENT record */
#define QUEUE_RCPT_MAX        100000 /* recipients in one file */
#define QUEUE_FILE_MODE       0600
#define QUEUE_TEMP_PREFIX     "tmp." /* the writer's temporaries: "tmp.<queue ID>" */

enum queue_result {
	QUEUE_OK = 0,
	QUEUE_NOSPACE = -1, /* ENOSPC, EDQUOT, or below queue_minfree: 452 4.3.1 */
	QUEUE_IOERROR = -2, /* any other system error: 451 4.3.0 */
	QUEUE_INVALID = -3, /* a value the format refuses, or a wrong update */
	QUEUE_CORRUPT = -4, /* reader: the file breaks the format */
};

/* DSN RET */
enum queue_ret {
	QUEUE_RET_NONE = 0,
	QUEUE_RET_FULL = 1,
	QUEUE_RET_HDRS = 2,
};

/* Envelope flags */
#define QUEUE_FLAG_8BITMIME     0x01u /* BODY=8BITMIME */
#define QUEUE_FLAG_SMTPUTF8     0x02u /* SMTPUTF8 */
#define QUEUE_FLAG_LOCAL        0x04u /* local submission (sendmail, pickup) */
#define QUEUE_FLAG_RCPT_HEADERS 0x08u /* recipients from the headers (-t) */
#define QUEUE_FLAG_ALL          0x0fu

/* DSN NOTIFY of a recipient; 0 when the client gave none. */
#define QUEUE_NOTIFY_SUCCESS 0x01u
#define QUEUE_NOTIFY_FAILURE 0x02u
#define QUEUE_NOTIFY_DELAY   0x04u
#define QUEUE_NOTIFY_NEVER   0x08u /* alone */

/* The done byte of a recipient. */
enum queue_rcpt_state {
	QUEUE_RCPT_PENDING = 0,   /* still to be delivered */
	QUEUE_RCPT_DELIVERED = 1, /* delivered: finished */
	QUEUE_RCPT_FAILED = 2,    /* failed for good (bounced, expired): finished */
	QUEUE_RCPT_RELAYED = 3,   /* delivered to a next hop without DSN: finished */
};

/* Notices sent for the whole message (the NOTICES record, docs/dsn.md). */
#define QUEUE_NOTICE_DELAY 0x01u /* the delay notice went out */
#define QUEUE_NOTICE_ALL   0x01u

/* Delivery facts of one recipient (status slot). */
struct queue_rcpt_status {
	unsigned long seq;                 /* 0: never recorded */
	unsigned long attempts;            /* delivery attempts so far */
	long long last_attempt;            /* seconds since the epoch, 0: none */
	char dsn[QUEUE_DSN_MAX + 1];       /* "4.4.1", "" when none */
	char reason[QUEUE_REASON_MAX + 1]; /* "" when none */
};

struct queue_rcpt {
	const char *address;    /* never empty */
	const char *orcpt_type; /* "" when no ORCPT */
	const char *orcpt_addr; /* as the client gave it (xtext decoded) */
	unsigned notify;        /* QUEUE_NOTIFY_* */
	enum queue_rcpt_state state;
	struct queue_rcpt_status status;
};

struct queue_envelope {
	long long arrival_usec; /* microseconds since the epoch */
	const char *sender;     /* "" is the null sender */
	const char *envid;      /* "" when none */
	enum queue_ret ret;
	const char *helo; /* "" when none, as for every text below */
	const char *client_name;
	const char *client_addr;
	int client_port;      /* 0 when none */
	const char *protocol; /* "ESMTP", "ESMTPS", "ESMTPSA", "local", ... */
	const char *tls_cipher;
	const char *auth_login;
	unsigned flags; /* QUEUE_FLAG_* */
	long long uid;  /* submitting user of local mail, -1 when none */
};

/* Writer */
struct queue_writer;

int queue_file_create(const char *dir, struct queue_writer **w, struct str *err);
const char *queue_file_id(const struct queue_writer *w);
const char *queue_file_temp_name(const struct queue_writer *w); /* "tmp.…" */

/* Arrival defaults to the time in the queue ID when not put. */
int queue_file_put_arrival(struct queue_writer *w, long long usec);
int queue_file_put_sender(struct queue_writer *w, const char *address);
int queue_file_put_envid(struct queue_writer *w, const char *envid);
int queue_file_put_ret(struct queue_writer *w, enum queue_ret ret);
int queue_file_put_helo(struct queue_writer *w, const char *helo);
int queue_file_put_client_name(struct queue_writer *w, const char *name);
int queue_file_put_client_addr(struct queue_writer *w, const char *addr);
int queue_file_put_client_port(struct queue_writer *w, int port);
int queue_file_put_protocol(struct queue_writer *w, const char *protocol);
int queue_file_put_tls_cipher(struct queue_writer *w, const char *cipher);
int queue_file_put_auth_login(struct queue_writer *w, const char *login);
int queue_file_put_flags(struct queue_writer *w, unsigned flags);
int queue_file_put_uid(struct queue_writer *w, long long uid);

/* orcpt_type and orcpt_addr: both NULL (or "") for none, else both set. */
int queue_file_put_rcpt(struct queue_writer *w, const char *address, const char *orcpt_type,
        const char *orcpt_addr, unsigned notify);
int queue_file_put_content(struct queue_writer *w, const void *data, size_t len);

int queue_file_commit(struct queue_writer *w, char id[QUEUE_ID_SIZE], struct str *err);
void queue_file_abort(struct queue_writer *w);

/* Reader */
struct queue_file;

#define QUEUE_OPEN_READ   0 /* read only */
#define QUEUE_OPEN_UPDATE 1 /* read and write: for the in-place updates */

int queue_file_open(const char *path, int mode, struct queue_file **qf, struct str *err);
void queue_file_close(struct queue_file *qf);

const struct queue_envelope *queue_file_envelope(const struct queue_file *qf);
size_t queue_file_rcpt_count(const struct queue_file *qf);
const struct queue_rcpt *queue_file_rcpt(const struct queue_file *qf, size_t index);
unsigned long long queue_file_content_size(const struct queue_file *qf);

/*
 * Stream the message text: up to size bytes into buf.  Returns the count,
 * 0 at the end, or a negative queue_result with the reason in err:
 * QUEUE_IOERROR for a failed read, QUEUE_CORRUPT when a content record no
 * longer matches what open checked.  queue_file_rewind starts again at
 * the first byte of the text.
 */
ssize_t queue_file_read_content(struct queue_file *qf, void *buf, size_t size, struct str *err);
void queue_file_rewind(struct queue_file *qf);

/*
 * In-place updates (QUEUE_OPEN_UPDATE).  mark_done accepts DELIVERED,
 * RELAYED or FAILED for a PENDING recipient; anything else is
 * QUEUE_INVALID.
 * set_status records attempts, last_attempt, dsn and reason of st (seq is
 * ignored; the new one is returned in the recipient's status).  A dsn
 * that is not "" or "d.ddd.ddd" with d in 2, 4, 5, or a reason with a
 * control character or over QUEUE_REASON_MAX, is QUEUE_INVALID.
 */
int queue_file_mark_done(
        struct queue_file *qf, size_t index, enum queue_rcpt_state state, struct str *err);
int queue_file_set_status(
        struct queue_file *qf, size_t index, const struct queue_rcpt_status *st, struct str *err);
/* The notices sent (QUEUE_NOTICE_*), or -1 when the file has no NOTICES
 * record.  set_notices writes the whole set (QUEUE_INVALID for unknown
 * bits or a file without the record). */
int queue_file_notices(const struct queue_file *qf);
int queue_file_set_notices(struct queue_file *qf, unsigned notices, struct str *err);

/*
 * Test hook.  When set, it is called before each system call of the
 * writer's and updater's durable path with the step and the file or
 * directory name; returning an errno value makes that step fail with
 * it, as if the system call had.  NULL in production.
 */
enum queue_step {
	QUEUE_STEP_CREATE,     /* open O_EXCL of the temporary */
	QUEUE_STEP_WRITE,      /* each write(2) of records */
	QUEUE_STEP_FSYNC_FILE, /* fsync of the file */
	QUEUE_STEP_RENAME,     /* rename to the queue ID */
	QUEUE_STEP_FSYNC_DIR,  /* fsync of the directory */
	QUEUE_STEP_UPDATE,     /* pwrite of a done byte or status copy */
};
extern int (*queue_file_fault_hook)(enum queue_step step, const char *name);

const char *queue_result_name(int result);

#endif
