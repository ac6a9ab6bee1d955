/*
 * rewrite_clnt.h - the client of trivial-rewrite, the address resolution
 * service (docs/trivial-rewrite.md; the rules are in resolve.h).
 *
 * Requests and replies are attribute frames (attr.h) on the UNIX socket
 * REWRITE_CLNT_PATH, relative to queue_directory (a daemon's working
 * directory).  One connection carries any number of requests; replies
 * come back in the order of the requests.
 *
 *	request=rewrite address=A		status=ok address=CANON
 *	request=resolve address=A [sender=S]	status=ok class=C transport=T
 *						nexthop=H recipient=CANON flags=F
 *	request=verify address=A		status=ok|unknown|defer class=C
 *						recipient=CANON flags=F [reason=R]
 *	any request, malformed address		status=error reason=R
 *
 * Every failure to talk to the service (no socket, a dropped connection,
 * a deadline passed, a malformed reply) is reported as RESOLVE_DEFER with
 * "rewrite service: ..." in reason: the caller tries again later, never
 * treats it as "unknown".
 *
 * Blocking (cleanup, qmgr, local, tools): one persistent connection per
 * process, opened at the first request; a request that fails on a broken
 * connection is sent once more on a fresh one, within the same deadline.
 *
 * Event-driven (smtpd: never blocks): one persistent non-blocking
 * connection per process on the event base of the first call, a FIFO of
 * requests, the callback called from the event loop (never from inside
 * the *_async call).  When the connection drops, unanswered requests are
 * sent once more on a new one; when the oldest request passes its
 * deadline, the connection is closed and every pending request fails
 * with RESOLVE_DEFER.  A request's deadline counts from its submission
 * or from the answer to the request before it, whichever is later: a
 * service that keeps answering a long burst is never timed out.
 */
#ifndef TERN_REWRITE_CLNT_H
#define TERN_REWRITE_CLNT_H

#include "resolve.h"
#include "str.h"

struct event_base;

#define REWRITE_CLNT_PATH       "private/rewrite" /* the service's socket */
#define REWRITE_FRAME_MAX       16384             /* largest request or reply frame */
#define REWRITE_CLNT_TIMEOUT_MS 20000             /* default deadline of one request */

struct rewrite_reply {
	enum resolve_status status;
	enum resolve_class class; /* resolve, verify */
	unsigned flags;           /* RESOLVE_FLAG_*: resolve, verify */
	struct str address;       /* rewrite: the canonical form; resolve, verify: the recipient */
	struct str transport;     /* resolve; verify with RESOLVE_FLAG_FALLBACK */
	struct str nexthop;       /* the same */
	struct str reason;        /* when status is not RESOLVE_OK */
};

void rewrite_reply_init(struct rewrite_reply *reply);
void rewrite_reply_free(struct rewrite_reply *reply);

/*
 * Where the service listens (NULL: REWRITE_CLNT_PATH) and the deadline of
 * one request in milliseconds (0: REWRITE_CLNT_TIMEOUT_MS).  Applies to
 * both clients; closes the blocking client's connection.
 */
void rewrite_clnt_setup(const char *path, int timeout_ms);

/* ---- blocking: each returns reply->status ---- */

enum resolve_status rewrite_canonical(const char *addr, struct rewrite_reply *reply);
enum resolve_status rewrite_resolve(
        const char *addr, const char *sender, struct rewrite_reply *reply);
enum resolve_status rewrite_verify(const char *addr, struct rewrite_reply *reply);

/* Close the blocking client's connection (it reopens on demand). */
void rewrite_clnt_disconnect(void);

/* ---- event-driven ---- */

struct rewrite_request;

/* Called once per request, from the event loop; reply is valid only
 * during the call. */
typedef void (*rewrite_callback)(const struct rewrite_reply *reply, void *arg);

/*
 * Queue a request; sender may be NULL.  Returns a handle that stays valid
 * until the callback has been called or the request is cancelled.
 */
struct rewrite_request *rewrite_canonical_async(
        struct event_base *base, const char *addr, rewrite_callback cb, void *arg);
struct rewrite_request *rewrite_resolve_async(struct event_base *base, const char *addr,
        const char *sender, rewrite_callback cb, void *arg);
struct rewrite_request *rewrite_verify_async(
        struct event_base *base, const char *addr, rewrite_callback cb, void *arg);

/* The callback of req will not be called (its session went away). */
void rewrite_cancel(struct rewrite_request *req);

/* Requests queued and not yet answered (cancelled ones included). */
unsigned rewrite_async_pending(void);

/* Close the connection and drop every request without calling back
 * (process exit).  Not from inside a callback. */
void rewrite_async_shutdown(void);

#endif
