/*
 * qmgr.h - how the parts of the queue manager fit together.
 * docs/qmgr.md is the behaviour; this header is the contract between
 * the files:
 *
 *	qmgr.c		start-up, parameters, the kick (one event that runs
 *			intake and scheduling from the loop), stop
 *	qmgr_scan.c	incoming/, deferred/ and active/ scans; the intake
 *			FIFOs and the heap of deferred due times
 *	qmgr_message.c	a message's pass through active/: load, resolve,
 *			record each result, end of the pass
 *	qmgr_sched.c	transports, destinations, concurrency, back-off
 *	qmgr_deliver.c	one delivery: the agent connection and its frames
 *	qmgr_control.c	requests on public/qmgr (flush, hold, ...)
 *	qmgr_dsn.c	delivery status notifications: what is owed, the
 *			notices at the end of a pass, their records
 *	qmgr_dsn_send.c	one notification written through cleanup
 *	qmgr_map.c	a hash table of strings
 *
 * Everything runs in the one event loop of lib/daemon.h; no function
 * here blocks on a peer (file system calls on the queue excepted).
 */
#ifndef TERN_QMGR_H
#define TERN_QMGR_H

#include <stddef.h>

#include "attr.h"
#include "deliver.h"
#include "queue_dir.h"
#include "queue_file.h"
#include "queue_id.h"
#include "str.h"

struct event_base;
struct rewrite_request;
struct stream;
struct event;

#define QMGR_INTAKE_BATCH       64    /* messages loaded per turn of the loop */
#define QMGR_FD_SHARE           2     /* at most 1/2 of the descriptors for active messages */
#define QMGR_FD_MIN             64    /* descriptors kept for everything else */
#define QMGR_CONNECT_RETRY_MS   1000  /* after an agent's listen queue was full */
#define QMGR_CONTROL_FRAME_MAX  65536 /* a control request */
#define QMGR_CONTROL_TIMEOUT_MS 10000 /* for a control request to arrive and its reply to leave */
#define QMGR_CONTROL_REPLY_MAX  (4 * 1024 * 1024) /* a control reply */
#define QMGR_DEST_LIST_MAX      400 /* destinations in one reply (9 attributes each < ATTR_COUNT_MAX) */
#define QMGR_MOVE_RETRY_SECS    60 /* a file that could not be moved is tried again */
#define QMGR_SOCKET             "public/qmgr"

/* ---- parameters (qmgr.c), read once at start ---- */

struct qmgr_params {
	long long *retry; /* retry_schedule, seconds */
	size_t nretry;
	long long max_lifetime;    /* maximal_queue_lifetime */
	long long local_lifetime;  /* local_queue_lifetime */
	long long bounce_lifetime; /* bounce_queue_lifetime */
	long long queue_run_delay;
	long long active_limit; /* qmgr_message_active_limit, and descriptors */
	long dest_concurrency;  /* default_destination_concurrency_limit */
	long process_limit;     /* default_process_limit */
	long rcpt_per_request;  /* smtp_recipients_per_transaction, at most DELIVER_RCPT_MAX */
	long failure_limit;     /* destination_failure_limit */
	long long backoff_time; /* destination_backoff_time */
	long long agent_timeout;
	char *const *defer_transports;
	char *const *fast_flush_domains;
};

extern struct qmgr_params qmgr_params;

/* The event base, and whether qmgr is stopping (no new work). */
struct event_base *qmgr_base(void);
int qmgr_stopping(void);
/* Run intake and scheduling from the loop soon (never recursively). */
void qmgr_kick(void);
/* Microseconds and seconds since the epoch. */
long long qmgr_now_usec(void);
long long qmgr_now(void);
/* A domain against fast_flush_domains (names, .parent, tables). */
int qmgr_flush_domain_ok(const char *domain);

/* ---- qmgr_map.c ---- */

struct qmgr_map;
struct qmgr_map *qmgr_map_new(void);
void qmgr_map_free(struct qmgr_map *m); /* the values are the caller's */
void *qmgr_map_get(const struct qmgr_map *m, const char *key);
void qmgr_map_put(struct qmgr_map *m, const char *key, void *value); /* key copied; replaces */
void *qmgr_map_remove(struct qmgr_map *m, const char *key);
size_t qmgr_map_count(const struct qmgr_map *m);
/* Visit every entry; fn must not change the map. */
void qmgr_map_walk(
        const struct qmgr_map *m, void (*fn)(const char *key, void *value, void *arg), void *arg);

/* ---- qmgr_scan.c: what waits to come into active/ ---- */

/* Intake flags, carried into the message's pass. */
#define QMGR_FLUSH_ALL 0x01u /* let every recipient through defer_transports */

void qmgr_scan_init(void);
void qmgr_scan_free(void);
/* At start: active/, incoming/, deferred/. */
void qmgr_scan_startup(void);
void qmgr_scan_incoming(void);
/* Every deferred/ file: due ones to intake, future ones to the heap. */
void qmgr_scan_deferred(void);
/* A flush: deferred/ messages for domain (NULL: all) become due now. */
void qmgr_scan_flush(const char *domain);
/* A message waits in folder until due (microseconds since the epoch;
 * 0: now).  A flush (flags or domain) is due at once. */
void qmgr_scan_schedule(enum queue_folder folder, const char *id, long long due, unsigned flags,
        const char *domain);
/* Take the next message to load; 0 when there is none (now). */
int qmgr_scan_next(
        enum queue_folder *folder, char id[QUEUE_ID_SIZE], unsigned *flags, struct str *domain);
/* Messages waiting in the intake FIFOs (not the heap). */
size_t qmgr_scan_waiting(void);

/* ---- qmgr_message.c ---- */

enum qmgr_rcpt_state {
	QMGR_RCPT_RESOLVING,  /* asked trivial-rewrite */
	QMGR_RCPT_QUEUED,     /* in a job that waits for its destination */
	QMGR_RCPT_DELIVERING, /* in a job in flight */
	QMGR_RCPT_FINISHED,   /* sent or failed in this pass */
	QMGR_RCPT_DEFERRED,   /* deferred in this pass */
	QMGR_RCPT_DROPPED,    /* taken out of the pass (hold, delete, requeue) */
};

struct qmgr_message;
struct qmgr_dest;

struct qmgr_rcpt {
	struct qmgr_message *msg;
	size_t index; /* in the queue file */
	enum qmgr_rcpt_state state;
	struct qmgr_dest *dest;
	struct rewrite_request *req;
	int local; /* resolved to the local transport (local_delay_warning_time) */
};

/* Requests of the administrator, done at the end of the pass. */
#define QMGR_MSG_HOLD    0x01u
#define QMGR_MSG_DELETE  0x02u
#define QMGR_MSG_REQUEUE 0x04u
#define QMGR_MSG_FLUSH   0x08u /* a flush arrived during the pass: due again at once */

struct qmgr_job;

struct qmgr_message {
	char id[QUEUE_ID_SIZE];
	struct queue_file *qf; /* open for update while active */
	const struct queue_envelope *env;
	long long active_usec; /* when this pass began */
	struct qmgr_rcpt *rcpts;
	size_t nrcpt;
	size_t open;         /* recipients resolving, queued or delivering */
	size_t resolving;    /* recipients waiting for trivial-rewrite */
	unsigned jobs;       /* jobs queued or in flight */
	unsigned flags;      /* QMGR_MSG_* */
	unsigned intake;     /* QMGR_FLUSH_ALL */
	char *flush_domain;  /* recipients of this domain pass defer_transports */
	char *flush_request; /* a flush during the pass: its domain ("" all) */
	int attempted;       /* some delivery was attempted in this pass */
	struct qmgr_job *job_list;
	struct qmgr_dsn *dsn; /* qmgr_dsn.c: the notices of this pass */
};

void qmgr_message_init(void);
void qmgr_message_free_all(void);
size_t qmgr_message_count(void);
struct qmgr_message *qmgr_message_find(const char *id);

/*
 * Bring one message into active/ and start its pass.  0 when it was
 * taken (or is gone, or went to corrupt/), -1 when it must wait (an I/O
 * error was logged; it is scheduled again).
 */
int qmgr_message_load(
        enum queue_folder folder, const char *id, unsigned intake, const char *flush_domain);

/* The recipient's address (in the open queue file). */
const char *qmgr_rcpt_address(const struct qmgr_rcpt *r);
const struct queue_rcpt *qmgr_rcpt_file(const struct qmgr_rcpt *r);

/* Facts of one result, for recording and the log. */
struct qmgr_result {
	enum deliver_status status;
	const char *dsn;
	const char *reason;
	const char *relay;    /* "none" when no server was reached */
	long long start_usec; /* when the delivery started; 0: not attempted */
	long long conn_ms;    /* delays c */
	long long xmit_ms;    /* delays d */
	long conn_use;        /* 0: none */
	int attempted;        /* counts as a delivery attempt */
	int relayed;          /* sent to a next hop without DSN (dsn_relayed) */
	int passed;           /* the next hop took the DSN request (dsn_passed) */
};

/* Record a recipient's result in the file and log it; a deferral of an
 * expired message becomes a failure.  The recipient leaves the pass. */
void qmgr_rcpt_result(struct qmgr_rcpt *r, const struct qmgr_result *res);
/* Defer without an attempt (dsn, reason). */
void qmgr_rcpt_defer(struct qmgr_rcpt *r, const char *dsn, const char *reason);
/* A job of the message ended (its recipients are all out of it). */
void qmgr_message_job_done(struct qmgr_message *m, struct qmgr_job *job);
/* The administrator's requests on an active message (QMGR_MSG_*). */
void qmgr_message_request(struct qmgr_message *m, unsigned what);
/* A flush (domain NULL: all) while messages are active: those with a
 * pending recipient in domain are due again at once after their pass. */
void qmgr_message_flush_active(const char *domain);
/* Stop every pass: close the files without recording anything (exit). */
void qmgr_message_abandon_all(void);
/* End the pass if nothing of it is open (qmgr_dsn.c, notices settled). */
void qmgr_message_maybe_end(struct qmgr_message *m);

/* ---- qmgr_sched.c ---- */

enum qmgr_dest_state {
	QMGR_DEST_READY,
	QMGR_DEST_BACKOFF,
	QMGR_DEST_PROBING,
};

struct qmgr_transport;

struct qmgr_job {
	struct qmgr_message *msg;
	struct qmgr_dest *dest;
	struct qmgr_rcpt **rcpts;
	size_t nrcpt;
	struct qmgr_job *next;                /* in the destination's FIFO */
	struct qmgr_job *msg_next, *msg_prev; /* in the message's list */
	int queued;                           /* in the FIFO */
	/* In flight (qmgr_deliver.c). */
	struct stream *stream;
	struct event *ev; /* a failure reported from the loop */
	struct qmgr_job *fl_next, *fl_prev;
	long long start_usec;
	size_t answered;
	int in_flight;
	struct str fail_reason;
};

/* Read master.cf: the unix services are the transports. */
void qmgr_sched_init(const char *confdir);
/* The destination of a transport and next hop (made on demand), with a
 * reference for the caller; NULL with the reason in why when the
 * transport does not exist. */
struct qmgr_dest *qmgr_dest_get(const char *transport, const char *nexthop, struct str *why);
/* Let go of a reference (an idle destination without trouble goes). */
void qmgr_dest_release(struct qmgr_dest *d);
const char *qmgr_dest_key(const struct qmgr_dest *d); /* "transport:nexthop" */
const char *qmgr_dest_transport(const struct qmgr_dest *d);
const char *qmgr_dest_nexthop(const struct qmgr_dest *d);
const char *qmgr_dest_socket(const struct qmgr_dest *d);
int qmgr_dest_transport_deferred(const struct qmgr_dest *d); /* in defer_transports */
/* Backed off: the dsn and reason to defer with, else 0. */
int qmgr_dest_suspended(const struct qmgr_dest *d, const char **dsn, const char **reason);
/* Queue a job (it is started by qmgr_sched_run). */
void qmgr_dest_enqueue(struct qmgr_dest *d, struct qmgr_job *job);
/* Take a queued job out (hold, delete). */
void qmgr_dest_dequeue(struct qmgr_job *job);
/* Start what the limits allow. */
void qmgr_sched_run(void);
/* A delivery ended: reached (ok) or failed as a whole (with dsn and
 * reason); frees the slot. */
void qmgr_dest_done(struct qmgr_dest *d, int ok, const char *dsn, const char *reason);
/* End the back-off of destinations whose next hop is domain (NULL: all). */
void qmgr_dest_flush(const char *domain);
/* The destinations, for the control request. */
void qmgr_dest_list(struct attr_list *out);
/* Forget idle destinations whose failures are old (periodic). */
void qmgr_dest_forget_idle(void);

/* ---- qmgr_deliver.c ---- */

/* Connect and send the request; the job's results come back through
 * qmgr_rcpt_result and its end through qmgr_message_job_done.  Returns
 * 0, or -1 when the agent's listen queue is full (the job is untouched). */
int qmgr_deliver_start(struct qmgr_job *job);
/* Close every delivery in flight without recording (the grace period
 * is over). */
void qmgr_deliver_abort_all(void);
unsigned qmgr_deliver_count(void);

/* ---- qmgr_control.c ---- */

void qmgr_control_accept(int fd);
void qmgr_control_close_all(void);

/* ---- qmgr_dsn.c: delivery status notifications (docs/dsn.md) ---- */

struct qmgr_dsn;

struct qmgr_dsn_params {
	const char *hostname;          /* myhostname */
	long long delay_warning;       /* delay_warning_time; 0: none */
	long long local_delay_warning; /* local_delay_warning_time; 0: none */
	unsigned long long size_limit; /* bounce_size_limit; 0: no limit */
	const char *notice_rcpt;       /* bounce_notice_recipient */
	int copy_bounce, copy_delay;   /* notify_classes has bounce, delay */
	long long ipc_timeout;         /* for the conversation with cleanup */
};

extern struct qmgr_dsn_params qmgr_dsn_params;

enum qmgr_dsn_action {
	QMGR_DSN_REMOVE,  /* the message may be removed */
	QMGR_DSN_CORRUPT, /* an undeliverable notification: to corrupt/ */
	QMGR_DSN_DEFER,   /* a notice is still owed: to deferred/, sent next pass */
};

/* Parameters, before the jail. */
void qmgr_dsn_init(void);
/* A pending recipient whose failure is recorded and whose bounce is not
 * yet committed: it is never delivered again. */
int qmgr_dsn_bounce_owed(const struct queue_rcpt *qr);
/* Results (qmgr_rcpt_result): whether to record the status slot of a
 * sent recipient (only when a success notice is due; st->reason may be
 * rewritten), and the done mark to write (PENDING: none yet). */
int qmgr_dsn_record_status(const struct qmgr_message *m, const struct queue_rcpt *qr,
        const struct qmgr_result *res, enum deliver_status status, struct queue_rcpt_status *st);
enum queue_rcpt_state qmgr_dsn_done_mark(const struct qmgr_message *m, const struct queue_rcpt *qr,
        const struct qmgr_result *res, enum deliver_status status);
/* The end of a pass: 1 when it may end now; 0 while notices are being
 * written (qmgr_message_maybe_end is called when they are settled). */
int qmgr_dsn_ready(struct qmgr_message *m);
/* A message whose recipients are all finished, before it is removed. */
enum qmgr_dsn_action qmgr_dsn_finish(struct qmgr_message *m);
/* The message is freed: cancel its notice in flight (nothing recorded). */
void qmgr_dsn_free(struct qmgr_message *m);
/* The grace period is over. */
void qmgr_dsn_abort_all(void);

/* ---- qmgr_dsn_send.c: one notification through cleanup ---- */

#define QMGR_CLEANUP_SOCKET "private/cleanup"

enum qmgr_dsn_sent {
	QMGR_DSN_SENT_OK,      /* committed: report_id is its queue ID */
	QMGR_DSN_SENT_DEFER,   /* not committed; try again later (why) */
	QMGR_DSN_SENT_FAIL,    /* refused for good by cleanup (why) */
	QMGR_DSN_SENT_ABORTED, /* qmgr is exiting */
};

typedef void qmgr_dsn_sent_fn(
        void *arg, enum qmgr_dsn_sent status, const char *report_id, const char *why);
struct qmgr_dsn_send;

/* Send report (taken over; LF line ends) from the null sender to "to";
 * needs is DSN_NEEDS_* for the open flags.  done is called once, from
 * the loop, unless the send is cancelled. */
struct qmgr_dsn_send *qmgr_dsn_send_start(const char *queue_id, const char *to, struct str *report,
        unsigned needs, qmgr_dsn_sent_fn *done, void *arg);
void qmgr_dsn_send_cancel(struct qmgr_dsn_send *s); /* NULL is fine */
void qmgr_dsn_send_abort_all(void);                 /* done(ABORTED) for each */

#endif
