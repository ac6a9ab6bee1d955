/*
 * cleanup_commit.c - cleanup's side of the queue: the free-space check,
 * the queue file from create to commit, the wakeup of qmgr, and the
 * sweep of temporaries left by killed cleanups.
 *
 * The durable path is lib/queue_file.c's (docs/queue-format.md, "The
 * commit protocol"): create "incoming/tmp.<ID>" with O_EXCL, write the
 * records, write END, fsync the file, rename it to "<ID>" without
 * replacing anything, fsync incoming/.  cleanup adds the checks around
 * it: queue_minfree before the file is created and again before the
 * commit, and the rule that the client hears "ok" only after
 * queue_file_commit returned QUEUE_OK.  Any failure removes the file, so
 * a temporary failure never leaves mail behind that the client will send
 * again.  Trusts the file system as far as fsync(2) and rename(2)
 * promise.  Called by cleanup.c and cleanup_headers.c.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "daemon.h"
#include "msg.h"
#include "queue_dir.h"
#include "queue_file.h"

#define CLEANUP_QUEUE_DIR "." /* the working directory is queue_directory */

/* 452 4.3.1 for a full disk, 451 4.3.0 for anything else. */
static void
queue_trouble(struct cleanup_state *s, int result, const char *reason)
{
	if (result == QUEUE_NOSPACE)
		cleanup_refuse(
		        s, CLEANUP_DEFER, "452", "4.3.1", "Insufficient system storage", reason);
	else
		cleanup_refuse(
		        s, CLEANUP_DEFER, "451", "4.3.0", "Error: queue file write error", reason);
}

static int
space_ok(struct cleanup_state *s)
{
	struct str err = STR_INIT;
	int rc = queue_dir_check_space(
	        CLEANUP_QUEUE_DIR, (unsigned long long)cleanup_queue_minfree, &err);

	if (rc != QUEUE_OK) {
		msg_warn("%s: %s", s->id[0] ? s->id : "NOQUEUE", str_cstr(&err));
		queue_trouble(s, rc, str_cstr(&err));
	}
	str_free(&err);
	return rc == QUEUE_OK;
}

enum cleanup_status
cleanup_queue_open(struct cleanup_state *s)
{
	struct str err = STR_INIT;
	int rc;

	if (!space_ok(s))
		return s->status;
	rc = queue_file_create(CLEANUP_INCOMING, &s->writer, &err);
	if (rc != QUEUE_OK) {
		msg_warn("NOQUEUE: %s", str_cstr(&err));
		s->writer = NULL;
		queue_trouble(s, rc, str_cstr(&err));
	} else {
		snprintf(s->id, sizeof(s->id), "%s", queue_file_id(s->writer));
	}
	str_free(&err);
	return s->status;
}

int
cleanup_queue_envelope(struct cleanup_state *s, const char **field)
{
	struct queue_writer *w = s->writer;
	struct str cipher = STR_INIT;
	int rc;

	if (*s->tls_protocol || *s->tls_cipher)
		str_printf(&cipher, "%s with cipher %s", *s->tls_protocol ? s->tls_protocol : "TLS",
		        *s->tls_cipher ? s->tls_cipher : "unknown");
#define PUT(name, call)                                                                            \
	do {                                                                                       \
		if ((rc = (call)) != QUEUE_OK) {                                                   \
			*field = name;                                                             \
			goto done;                                                                 \
		}                                                                                  \
	} while (0)
	PUT("sender", queue_file_put_sender(w, s->sender));
	PUT("envid", queue_file_put_envid(w, s->envid));
	PUT("ret", queue_file_put_ret(w, s->ret));
	PUT("flags", queue_file_put_flags(w, s->flags));
	PUT("helo", queue_file_put_helo(w, s->helo));
	/* The name goes into the file only when it is not known to be false. */
	PUT("client_name",
	        queue_file_put_client_name(w, s->client_verified == 0 ? "" : s->client_name));
	PUT("client_addr", queue_file_put_client_addr(w, s->client_addr));
	PUT("client_port", queue_file_put_client_port(w, s->client_port));
	PUT("protocol", queue_file_put_protocol(w, s->protocol));
	PUT("tls_cipher", queue_file_put_tls_cipher(w, str_cstr(&cipher)));
	PUT("auth_login", queue_file_put_auth_login(w, s->auth_login));
	if (s->uid >= 0)
		PUT("submit_uid", queue_file_put_uid(w, s->uid));
#undef PUT
done:
	str_free(&cipher);
	if (rc != QUEUE_OK && rc != QUEUE_INVALID)
		cleanup_queue_failed(s, rc, "write");
	return rc;
}

void
cleanup_queue_failed(struct cleanup_state *s, int result, const char *what)
{
	struct str why = STR_INIT;

	if (result == QUEUE_OK)
		return;
	str_printf(&why, "queue file %s failed: %s", what, queue_result_name(result));
	msg_warn("%s: %s", s->id, str_cstr(&why));
	queue_trouble(s, result, str_cstr(&why));
	str_free(&why);
}

void
cleanup_queue_commit(struct cleanup_state *s)
{
	struct str err = STR_INIT;
	char id[QUEUE_ID_SIZE];
	int rc;

	if (s->status != CLEANUP_OK || s->writer == NULL)
		return;
	if (!space_ok(s))
		return;
	rc = queue_file_commit(s->writer, id, &err);
	s->writer = NULL; /* commit freed it, and removed the file on failure */
	if (rc != QUEUE_OK) {
		msg_warn("%s: %s", s->id, str_cstr(&err));
		queue_trouble(s, rc, str_cstr(&err));
	}
	str_free(&err);
}

void
cleanup_queue_abort(struct cleanup_state *s)
{
	if (s->writer != NULL) {
		queue_file_abort(s->writer);
		s->writer = NULL;
	}
}

void
cleanup_wakeup_qmgr(void)
{
	struct str err = STR_INIT;

	/* qmgr also scans incoming/ by itself: a lost wakeup only delays. */
	if (daemon_wakeup_send(CLEANUP_QMGR_SOCKET, &err) < 0)
		msg_debug("wakeup qmgr: %s", str_cstr(&err));
	str_free(&err);
}

void
cleanup_sweep(int always)
{
	static time_t last;
	struct str err = STR_INIT;
	unsigned long removed = 0;
	time_t now = time(NULL);

	if (!always && now - last < CLEANUP_SWEEP_INTERVAL && now >= last)
		return;
	last = now;
	if (queue_dir_sweep(CLEANUP_QUEUE_DIR, QUEUE_FOLDER_INCOMING, cleanup_temp_max_age, now,
	            &removed, &err) != QUEUE_OK)
		msg_warn("sweep of %s/: %s", CLEANUP_INCOMING, str_cstr(&err));
	else if (removed > 0)
		msg_info("sweep of %s/: removed %lu stale temporary file%s", CLEANUP_INCOMING,
		        removed, removed == 1 ? "" : "s");
	str_free(&err);
}
