/*
 * smtp_cache.c - connections kept open between deliveries, so that the
 * next message for the same next hop goes over the same connection.
 *
 * After a delivery, smtp_deliver.c offers its session here when the
 * session is healthy, has carried fewer than
 * smtp_messages_per_connection transactions, and reuse is on
 * (smtp_connection_cache_time > 0).  The process keeps at most
 * SMTP_CACHE_MAX sessions (the oldest is closed to make room).  A session
 * that is not kept is closed with QUIT only after the final answer went
 * to qmgr (smtp_cache_retire), so that a slow QUIT never delays it.  A later
 * request for the same next hop (the text qmgr sent, so "example.com"
 * and "[mx.example.com]" are different) takes the session back if it has
 * been idle for less than smtp_connection_cache_time and is still alive;
 * otherwise it is closed with QUIT and the delivery connects anew.
 * Alive means: it answers RSET when its last transaction was left
 * unfinished, or it is a TLS session (TLS records may arrive unasked);
 * a plain-text session whose last transaction ended cleanly is alive
 * when the server has sent nothing since (no end of file, no 421), which
 * a poll() tells without a round trip.  A session that dies anyway
 * between this check and its next command fails like any other, and
 * the delivery moves on to a new connection.  Idle
 * sessions cannot be watched while the process waits for its next client
 * (the daemon skeleton owns that wait), so expiry happens when the next
 * request arrives and at exit (smtp_cache_close_all, from atexit).
 *
 * Trusts nothing from the server: a session that fails its RSET is
 * dropped without further ado.  Called by smtp_deliver.c and smtp.c.
 */
#include <poll.h>
#include <string.h>

#include "msg.h"
#include "smtp.h"
#include "stream.h"

static struct smtp_session *cache[SMTP_CACHE_MAX];
static struct smtp_session *retired[SMTP_CACHE_MAX];

/* Close s after qmgr has its answer (smtp_cache_retire), not before. */
static void
retire(struct smtp_session *s)
{
	if (s->broken) {
		smtp_session_free(s);
		return;
	}
	for (size_t i = 0; i < SMTP_CACHE_MAX; i++) {
		if (retired[i] == NULL) {
			retired[i] = s;
			return;
		}
	}
	smtp_session_quit(s, smtp_conf.quit_ms);
}

void
smtp_cache_retire(void)
{
	for (size_t i = 0; i < SMTP_CACHE_MAX; i++) {
		if (retired[i]) {
			smtp_session_quit(retired[i], smtp_conf.quit_ms);
			retired[i] = NULL;
		}
	}
}

void
smtp_cache_put(struct smtp_session *s)
{
	size_t oldest = 0;

	if (s->broken || smtp_conf.cache_ms <= 0 ||
	        s->conn_use >= smtp_conf.messages_per_connection) {
		retire(s);
		return;
	}
	s->idle_since_ms = clock_ms();
	for (size_t i = 0; i < SMTP_CACHE_MAX; i++) {
		if (cache[i] == NULL) {
			cache[i] = s;
			return;
		}
		if (cache[i]->idle_since_ms < cache[oldest]->idle_since_ms)
			oldest = i;
	}
	retire(cache[oldest]);
	cache[oldest] = s;
}

/* Close sessions idle for longer than the cache time. */
void
smtp_cache_expire(void)
{
	long long now = clock_ms();

	for (size_t i = 0; i < SMTP_CACHE_MAX; i++) {
		if (cache[i] && now - cache[i]->idle_since_ms >= smtp_conf.cache_ms) {
			msg_debug("closing idle connection to %s", cache[i]->relay);
			smtp_session_quit(cache[i], smtp_conf.quit_ms);
			cache[i] = NULL;
		}
	}
}

/* Nothing buffered, nothing waiting: the peer has not closed or spoken. */
static int
quiet(struct smtp_session *s)
{
	struct pollfd p = {.fd = stream_fd(s->stream), .events = POLLIN};
	size_t len = 0;

	(void)stream_peek(s->stream, &len);
	return len == 0 && poll(&p, 1, 0) == 0;
}

struct smtp_session *
smtp_cache_take(const char *nexthop)
{
	smtp_cache_expire();
	for (size_t i = 0; i < SMTP_CACHE_MAX; i++) {
		struct smtp_session *s = cache[i];

		if (s == NULL || strcmp(s->nexthop, nexthop) != 0)
			continue;
		cache[i] = NULL;
		if (!s->need_rset && !s->tls && quiet(s))
			return s;
		if (smtp_session_rset(s) < 0) {
			msg_debug("kept connection to %s is gone", s->relay);
			smtp_session_free(s);
			continue;
		}
		return s;
	}
	return NULL;
}

void
smtp_cache_close_all(void)
{
	for (size_t i = 0; i < SMTP_CACHE_MAX; i++) {
		if (cache[i]) {
			smtp_session_quit(cache[i], SMTP_QUIT_AT_EXIT_MS);
			cache[i] = NULL;
		}
		if (retired[i]) {
			smtp_session_quit(retired[i], SMTP_QUIT_AT_EXIT_MS);
			retired[i] = NULL;
		}
	}
}
