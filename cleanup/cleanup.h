/*
 * cleanup.h - the cleanup daemon's state, shared by its files:
 *
 *	cleanup.c		main, configuration, the protocol of
 *				private/cleanup (docs/cleanup.md)
 *	cleanup_headers.c	the message: header fields, limits, Received:,
 *				missing headers, recipients from the headers,
 *				then the body
 *	cleanup_rewrite.c	canonical and virtual alias maps, duplicate
 *				recipients
 *	cleanup_commit.c	the queue file: free space, create, commit,
 *				qmgr's wakeup, the sweep of stale temporaries
 *
 * One process serves one client at a time (DAEMON_SINGLE); one struct
 * cleanup_state holds one message from request=open to the final reply.
 * Nothing a client sends is trusted: every attribute is checked before
 * use, every count and buffer is bounded.
 */
#ifndef TERN_CLEANUP_H
#define TERN_CLEANUP_H

#include <stddef.h>

#include "queue_file.h"
#include "str.h"

#define CLEANUP_FRAME_MAX        (64 * 1024 + 4096) /* one request frame: a data chunk and names */
#define CLEANUP_DATA_MAX         (64 * 1024)        /* octets of one data attribute */
#define CLEANUP_RCPT_MAX         QUEUE_RCPT_MAX     /* recipients of one message, after expansion */
#define CLEANUP_SWEEP_INTERVAL   600                /* seconds between sweeps of incoming/ */
#define CLEANUP_LOG_HEADER_MAX   200                /* octets of a header quoted in a log line */
#define CLEANUP_MESSAGE_ID_MAX   998                /* octets of a Message-ID value logged */
#define CLEANUP_TLS_PROTOCOL_MAX 32                 /* octets of tls_protocol */
#define CLEANUP_FULLNAME_MAX     256                /* octets of the sender's full name */
#define CLEANUP_FLAGS_MAX        256                /* octets of the flags attribute */
#define CLEANUP_INCOMING         "incoming"         /* relative to queue_directory */
#define CLEANUP_QMGR_SOCKET      "public/qmgr"      /* where qmgr takes wakeups */

/* The outcome of a message, and of each step on its way. */
enum cleanup_status {
	CLEANUP_OK = 0,
	CLEANUP_DEFER = 1, /* temporary: the client may try again (4xx) */
	CLEANUP_FAIL = 2,  /* permanent (5xx) */
};

/* A recipient as the client gave it (rcpt frames, or -t headers). */
struct cleanup_rcpt {
	char *address;    /* internal form */
	char *orcpt_type; /* "" when none */
	char *orcpt_addr;
	unsigned notify; /* QUEUE_NOTIFY_* */
};

struct cleanup_rcpt_list {
	struct cleanup_rcpt *v;
	size_t n;
	size_t cap;
};

/* A recipient after rewriting, with the address it came from. */
struct cleanup_final_rcpt {
	char *address;
	const struct cleanup_rcpt *from;
};

struct cleanup_final_list {
	struct cleanup_final_rcpt *v;
	size_t n;
	size_t cap;
};

enum cleanup_phase {
	CLEANUP_PHASE_HEADERS, /* reading header fields */
	CLEANUP_PHASE_BODY,    /* copying the body to the queue file */
	CLEANUP_PHASE_DISCARD, /* refused or failed: reading on to the end */
};

struct cleanup_state {
	/* The queue file. */
	struct queue_writer *writer;
	char id[QUEUE_ID_SIZE];
	/* The envelope (request=open). */
	char *sender;       /* after canonical rewriting; "" is <> */
	char *orig_sender;  /* as given, for log lines */
	char *fullname;     /* "" when none */
	char *envid;        /* DSN ENVID, "" when none */
	enum queue_ret ret; /* DSN RET */
	char *helo;         /* "" when none, as below */
	char *client_name;
	char *client_addr;
	char *protocol;
	char *tls_protocol;
	char *tls_cipher;
	char *auth_login;
	int client_port;                /* 0 when none */
	int client_verified;            /* 1, 0, or -1 when not checked */
	long long uid;                  /* -1 when none */
	unsigned flags;                 /* QUEUE_FLAG_* */
	struct cleanup_rcpt_list rcpts; /* as given */
	/* The message. */
	enum cleanup_phase phase;
	struct str line;    /* a header line being read */
	struct str *fields; /* the header fields read, lines joined by LF */
	size_t nfields, fields_cap;
	unsigned long long header_bytes;
	unsigned long received;  /* Received: fields seen */
	unsigned long long size; /* octets of message data received */
	int pending_cr;          /* body: the data so far ends in CR */
	int at_line_start;       /* body: the last octet written was LF (or none) */
	int body_started;        /* the body has a first octet */
	struct str message_id;   /* the Message-ID value, logged */
	/* The outcome: the first refusal or failure wins. */
	enum cleanup_status status;
	struct str reply;  /* "554 5.4.6 Too many hops" */
	struct str dsn;    /* "5.4.6" */
	struct str reason; /* for the log */
};

/* cleanup.c */
extern const char *cleanup_myhostname;
extern const char *cleanup_myorigin;
extern char *const *cleanup_mydestination;
extern long long cleanup_hopcount_limit;
extern long long cleanup_header_size_limit;
extern long long cleanup_header_count_limit;
extern long long cleanup_message_size_limit;
extern long long cleanup_queue_minfree;
extern long long cleanup_temp_max_age;
extern long long cleanup_recursion_limit;
extern long long cleanup_expansion_limit;

/*
 * Record the outcome, unless one is recorded already: code and dsn
 * ("554", "5.4.6"), the reply text, and a reason for the log (NULL: the
 * reply text).  From then on the message is only read to its end.
 */
void cleanup_refuse(struct cleanup_state *s, enum cleanup_status status, const char *code,
        const char *dsn, const char *text, const char *reason);

/* Qualify an address without "@" with myorigin (local submissions). */
void cleanup_qualify(const char *address, struct str *out);

/* cleanup_headers.c */
void cleanup_message_data(struct cleanup_state *s, const char *data, size_t len);
void cleanup_message_end(struct cleanup_state *s);

/* cleanup_rewrite.c */
void cleanup_rewrite_init(void);
/* Canonical rewriting of the sender into out: CLEANUP_OK, or
 * CLEANUP_DEFER when a table could not be read (err says why). */
enum cleanup_status cleanup_rewrite_sender(const char *sender, struct str *out, struct str *err);
/* Canonical rewriting, virtual alias expansion and duplicate removal of
 * every recipient in in, into out. */
enum cleanup_status cleanup_rewrite_rcpts(const char *id, const struct cleanup_rcpt_list *in,
        struct cleanup_final_list *out, struct str *err);
void cleanup_final_list_free(struct cleanup_final_list *l);

/* cleanup_commit.c */
/* Check the free space and create the queue file; the reply on failure. */
enum cleanup_status cleanup_queue_open(struct cleanup_state *s);
/*
 * Write the envelope (after open, before any recipient).  Returns
 * QUEUE_OK; QUEUE_INVALID with *field naming the attribute that the
 * queue file refuses (a protocol error); or a system error, which is
 * then recorded in s.
 */
int cleanup_queue_envelope(struct cleanup_state *s, const char **field);
/* Map a queue writer result to the outcome (no-op for QUEUE_OK). */
void cleanup_queue_failed(struct cleanup_state *s, int result, const char *what);
/* The commit protocol; the outcome is in s. */
void cleanup_queue_commit(struct cleanup_state *s);
/* Remove the temporary, if any. */
void cleanup_queue_abort(struct cleanup_state *s);
void cleanup_wakeup_qmgr(void);
/* Sweep incoming/ when CLEANUP_SWEEP_INTERVAL has passed (or always). */
void cleanup_sweep(int always);

#endif
