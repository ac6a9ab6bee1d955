/*
 * smtpd.h - the SMTP server's state, shared by its files:
 *
 *	smtpd.c		main, configuration, accept, limits per listener
 *			and per client IP, stress mode, stop and expire
 *	smtpd_session.c	one session: its stream, the input loop, waiting
 *			for look-ups, closing
 *	smtpd_cmd.c	each command but DATA, BDAT and STARTTLS
 *	smtpd_data.c	DATA and BDAT: message content to cleanup
 *	smtpd_chat.c	replies: single and multi-line, enhanced codes,
 *			the error count
 *	smtpd_tls.c	STARTTLS, implicit TLS (wrapper mode), require-TLS,
 *			the server context
 *	smtpd_check.c	policy: relay and recipient checks through
 *			trivial-rewrite, mynetworks, the restriction hooks
 *	smtpd_dns.c	the optional reverse-DNS check at connect
 *	smtpd_cleanup.c	the asynchronous client of private/cleanup
 *	smtpd_etrn.c	ETRN: the asynchronous flush request to public/qmgr
 *	smtpd_log.c	the mail log lines and the protocol log
 *
 * One process serves many sessions on one libevent loop (DAEMON_EVENT)
 * and never blocks: trivial-rewrite, cleanup, qmgr (ETRN) and DNS are asked
 * asynchronously, and while a session waits for an answer it reads no
 * input.  Nothing a client sends is trusted; every line, count and time
 * has a limit (docs/smtpd.md lists them).
 */
#ifndef TERN_SMTPD_H
#define TERN_SMTPD_H

#include <netinet/in.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "queue_id.h"
#include "smtp_cmd.h"
#include "smtp_data.h"
#include "str.h"

struct attr_list;
struct dns_query;
struct dns_resolver;
struct event_base;
struct inet_match;
struct rewrite_reply;
struct rewrite_request;
struct stream;
struct smtpd_client;
struct smtpd_cleanup;
struct smtpd_etrn;

#define SMTPD_CLEANUP_PATH       "private/cleanup" /* relative to queue_directory */
#define SMTPD_CLEANUP_CHUNK      (64 * 1024)       /* content octets in one data frame */
#define SMTPD_CLEANUP_HIGH_WATER (256 * 1024)      /* unsent octets to cleanup: stop reading */
#define SMTPD_CLEANUP_FRAME_MAX  8192              /* a reply frame from cleanup */
#define SMTPD_QMGR_PATH          "public/qmgr"     /* relative to queue_directory */
#define SMTPD_QMGR_FRAME_MAX     4096              /* a reply frame from qmgr */
#define SMTPD_QMGR_TIMEOUT_MS    10000             /* qmgr answers a flush at once */
#define SMTPD_FD_RESERVE         64                /* descriptors kept back from sessions */
#define SMTPD_HELO_MAX           512         /* octets of a HELO name passed on (QUEUE_HELO_MAX) */
#define SMTPD_NAME_MAX           255         /* octets of a client host name */
#define SMTPD_REPLY_MAX          512         /* octets of a reply text passed on from cleanup */
#define SMTPD_LOG_TEXT_MAX       256         /* octets of client text in one log field */
#define SMTPD_PTR_NAMES_MAX      4           /* PTR names tried for forward confirmation */
#define SMTPD_CLIENT_BUCKETS_MIN 1024        /* buckets of the per-IP table, at least */
#define SMTPD_INPUT_MIN          (64 * 1024) /* input buffer limit of a session */

enum smtpd_tls_level { SMTPD_TLS_NONE, SMTPD_TLS_MAY, SMTPD_TLS_ENCRYPT };

/* The configuration, read once before the jail (smtpd.c). */
struct smtpd_config {
	const char *myhostname;
	const char *banner;
	const char *service;
	size_t line_limit;
	unsigned hard_error_limit;
	int timeout_ms;
	int stress_timeout_ms;
	unsigned min_data_rate;
	unsigned long long message_size_limit; /* 0: none */
	unsigned long long session_size_limit; /* 0: none */
	unsigned long recipient_limit;
	unsigned long messages_per_session;
	struct smtp_data_limits data_limits;
	unsigned long client_connection_limit; /* 0: none */
	unsigned long connection_limit;        /* effective: never 0 */
	unsigned stress_threshold;             /* percent */
	unsigned long long queue_minfree;
	int helo_required;
	int reverse_dns_check;
	int reject_unverified;
	int ipc_timeout_ms;
	enum smtpd_tls_level tls_level;
	int wrappermode;
	SSL_CTX *tls_ctx; /* NULL: no certificate, no STARTTLS */
	struct inet_match *mynetworks;
	struct inet_match *etrn_clients; /* smtpd_etrn_clients */
	struct dns_resolver *dns;        /* NULL unless a reverse lookup may be needed */
	int protocol_log_fd;             /* -1: none */
};

extern struct smtpd_config smtpd;

enum smtpd_phase {
	SMTPD_PHASE_CONNECT, /* connect checks, TLS wrapper handshake: no greeting yet */
	SMTPD_PHASE_COMMAND, /* reading command lines */
	SMTPD_PHASE_DATA,    /* message data after 354 */
	SMTPD_PHASE_BDAT,    /* the octets of a BDAT chunk */
	SMTPD_PHASE_CLOSING, /* the last reply is on its way; then close */
};

/* smtpd_session.wait: what the session waits for; no input is taken
 * while any bit is set. */
#define SMTPD_WAIT_DNS     0x01 /* the reverse lookup at connect */
#define SMTPD_WAIT_TLS     0x02 /* a TLS handshake */
#define SMTPD_WAIT_REWRITE 0x04 /* trivial-rewrite's answer for RCPT */
#define SMTPD_WAIT_CLEANUP 0x08 /* cleanup's answer to open or end */
#define SMTPD_WAIT_DRAIN   0x10 /* cleanup's send buffer is over its mark */
#define SMTPD_WAIT_QMGR    0x20 /* qmgr's answer to ETRN's flush request */

/* An accepted recipient. */
struct smtpd_rcpt {
	char *address; /* internal form */
	char *orcpt;   /* "type;address" or NULL */
	char *notify;  /* "SUCCESS,FAILURE" or NULL */
};

/* One mail transaction, from MAIL to the end of the message. */
struct smtpd_xact {
	int active;              /* MAIL was accepted */
	struct str sender;       /* internal form; "" is the null sender */
	struct str sender_log;   /* from=<...> in log lines */
	unsigned long long size; /* SIZE=, 0 when none */
	enum smtp_body body;
	enum smtp_ret ret;
	int smtputf8;
	struct str envid;
	struct smtpd_rcpt *rcpt;
	size_t nrcpt, rcpt_cap;
	unsigned long rcpt_attempts;
	struct rewrite_request *rewrite; /* the RCPT in s->cmd is being checked */
	/* The message. */
	enum smtp_verb data_verb; /* SMTP_VERB_DATA or _BDAT once started */
	struct smtp_data data;
	struct str content; /* unstuffed content not yet sent to cleanup */
	struct smtpd_cleanup *cleanup;
	char queue_id[QUEUE_ID_SIZE];
	int cleanup_open;              /* cleanup answered open with ok */
	int cleanup_failed;            /* cleanup refused or failed: discard */
	struct str failure;            /* the reply for that ("451 4.3.0 ...") */
	unsigned long long bdat_left;  /* octets of the current chunk still to read */
	unsigned long long bdat_chunk; /* size of the current chunk */
	int bdat_last;
	int bdat_discard;        /* the current chunk is read and dropped */
	struct str bdat_refusal; /* reply for the refused chunk */
};

struct smtpd_session {
	struct stream *stream;
	struct smtpd_session *prev, *next; /* every session of the process */
	struct smtpd_client *client;       /* per-IP count; NULL when refused at connect */
	char addr[INET6_ADDRSTRLEN];
	int port;
	char name[SMTPD_NAME_MAX + 1];     /* verified name, or "unknown" */
	char ptr_name[SMTPD_NAME_MAX + 1]; /* the PTR name, verified or not; "" */
	int verified;                      /* -1 not checked, 0 no, 1 forward-confirmed */
	int in_mynetworks;
	struct str refusal; /* a reply instead of the greeting ("421 4.3.2 ...") */
	struct dns_query *dns_query;
	int dns_tempfail; /* the reverse lookup failed for now */
	size_t dns_index; /* smtpd_dns.c: the PTR name being confirmed */
	struct str dns_names;

	enum smtpd_phase phase;
	unsigned wait;
	int depth;         /* entry points active: destroy when 0 */
	int dead;          /* to be destroyed */
	int reading;       /* what was last told to the stream */
	int need_deadline; /* a new command line is wanted: set the deadline */

	/* The protocol. */
	enum smtp_verb helo_verb; /* NONE, HELO or EHLO */
	struct str helo;
	int tls;                  /* TLS is on */
	enum smtp_verb last_verb; /* for "lost connection after X" */
	int any_command;          /* last_verb is set (NONE: unknown) */
	int last_code;            /* of the last reply */
	unsigned errors;
	unsigned long messages;
	unsigned long long session_bytes;
	unsigned cmd_total[SMTP_VERB_COUNT]; /* [SMTP_VERB_NONE]: unknown */
	unsigned cmd_ok[SMTP_VERB_COUNT];
	struct smtp_cmd cmd;     /* the command being handled */
	struct smtpd_etrn *etrn; /* ETRN's request to qmgr, while it waits */
	struct smtpd_xact xact;
};

/* smtpd.c */
struct event_base *smtpd_base(void);
int smtpd_timeout_ms(void);     /* smtpd_timeout, or the stress timeout */
int smtpd_ipc_timeout_ms(void); /* ipc_timeout, at most smtpd_timeout_ms() */
void smtpd_client_release(struct smtpd_session *s);
void smtpd_session_list_remove(struct smtpd_session *s);

/* smtpd_session.c */
struct smtpd_session *smtpd_session_new(int fd, const struct sockaddr *sa);
void smtpd_session_enter(struct smtpd_session *s);
void smtpd_session_leave(struct smtpd_session *s);
void smtpd_session_process(struct smtpd_session *s);
void smtpd_session_connected(struct smtpd_session *s);
void smtpd_session_greet(struct smtpd_session *s);
void smtpd_session_close(struct smtpd_session *s, int after_reply);
void smtpd_session_abort(struct smtpd_session *s, const char *why);
void smtpd_session_wait(struct smtpd_session *s, unsigned what);
void smtpd_session_resume(struct smtpd_session *s, unsigned what);
void smtpd_session_reset(struct smtpd_session *s);
void smtpd_session_expire(struct smtpd_session *s);

/* smtpd_chat.c */
__attribute__((format(printf, 4, 5))) void smtpd_reply(
        struct smtpd_session *s, int code, const char *dsn, const char *fmt, ...);
void smtpd_reply_lines(struct smtpd_session *s, int code, const char *const *lines, size_t n);
void smtpd_reply_parsed(struct smtpd_session *s, const struct smtp_reply *r);
void smtpd_reply_text(struct smtpd_session *s, const char *line);
int smtpd_reply_valid(const char *line);

/* smtpd_cmd.c */
void smtpd_command(struct smtpd_session *s, const char *line, size_t len);
void smtpd_rcpt_verdict(struct smtpd_session *s, int code, const char *dsn, const char *text);
void smtpd_xact_reset(struct smtpd_session *s);
void smtpd_xact_free(struct smtpd_xact *x);
const char *smtpd_protocol_name(const struct smtpd_session *s);

/* smtpd_data.c */
void smtpd_cmd_data(struct smtpd_session *s);
void smtpd_cmd_bdat(struct smtpd_session *s);
int smtpd_data_input(struct smtpd_session *s);
int smtpd_bdat_input(struct smtpd_session *s);
void smtpd_data_abort(struct smtpd_session *s);

/* smtpd_tls.c */
SSL_CTX *smtpd_tls_context(void);
void smtpd_cmd_starttls(struct smtpd_session *s);
void smtpd_tls_wrapper_start(struct smtpd_session *s);
void smtpd_tls_done(struct smtpd_session *s);
int smtpd_tls_required(const struct smtpd_session *s);

/* smtpd_check.c: each stage says SMTPD_CHECK_PERMIT (go on) or fills a
 * reply and says SMTPD_CHECK_REJECT. */
#define SMTPD_CHECK_PERMIT 0
#define SMTPD_CHECK_REJECT 1
struct smtpd_verdict {
	int code;
	const char *dsn;
	struct str text;
};
void smtpd_check_init(void);
int smtpd_check_client(struct smtpd_session *s, struct smtpd_verdict *v);
int smtpd_check_helo(struct smtpd_session *s, const char *helo, struct smtpd_verdict *v);
int smtpd_check_sender(struct smtpd_session *s, const struct addr *sender, struct smtpd_verdict *v);
void smtpd_check_rcpt(struct smtpd_session *s);
void smtpd_check_rcpt_cancel(struct smtpd_session *s);
int smtpd_check_data(struct smtpd_session *s, struct smtpd_verdict *v);
int smtpd_check_etrn(struct smtpd_session *s, const char *domain, struct smtpd_verdict *v);
int smtpd_check_mynetworks(struct smtpd_session *s);
void smtpd_verdict_init(struct smtpd_verdict *v);
void smtpd_verdict_free(struct smtpd_verdict *v);

/* smtpd_dns.c */
void smtpd_dns_check(struct smtpd_session *s);
void smtpd_dns_cancel(struct smtpd_session *s);

/* smtpd_cleanup.c: one connection to cleanup per message. */
struct smtpd_cleanup_events {
	void (*opened)(struct smtpd_session *s, const char *queue_id);
	/* cleanup refused (status defer or fail): reply is a valid reply
	 * line ("452 4.3.1 Insufficient system storage"). */
	void (*refused)(struct smtpd_session *s, const char *reply, const char *reason);
	void (*committed)(struct smtpd_session *s, const char *queue_id);
	/* The connection failed: no answer will come. */
	void (*failed)(struct smtpd_session *s, const char *reason);
	/* The send buffer went below its mark. */
	void (*drained)(struct smtpd_session *s);
};
struct smtpd_cleanup *smtpd_cleanup_open(struct smtpd_session *s, const struct attr_list *open,
        const struct smtpd_cleanup_events *ev, struct str *err);
void smtpd_cleanup_rcpt(struct smtpd_cleanup *c, const struct smtpd_rcpt *r);
void smtpd_cleanup_data(struct smtpd_cleanup *c, const char *p, size_t n);
void smtpd_cleanup_end(struct smtpd_cleanup *c);
size_t smtpd_cleanup_pending(const struct smtpd_cleanup *c);
void smtpd_cleanup_free(struct smtpd_cleanup *c);

/* smtpd_etrn.c: ask qmgr to flush domain (checked by the caller), then
 * answer the client; the session takes no input meanwhile. */
void smtpd_etrn_flush(struct smtpd_session *s, const char *domain);
void smtpd_etrn_cancel(struct smtpd_session *s);

/* smtpd_log.c */
void smtpd_log_connect(struct smtpd_session *s);
void smtpd_log_disconnect(struct smtpd_session *s);
__attribute__((format(printf, 5, 6))) void smtpd_log_reject(struct smtpd_session *s,
        const char *stage, const char *from, const char *to, const char *fmt, ...);
void smtpd_log_lost(struct smtpd_session *s, const char *what);
void smtpd_log_protocol(struct smtpd_session *s, int code);
int smtpd_log_protocol_open(const char *path, struct str *err);
void smtpd_log_client(const struct smtpd_session *s, struct str *out);
void smtpd_log_sanitize(const char *text, size_t len, struct str *out);

#endif
