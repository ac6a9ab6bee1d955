/*
 * pickup_maildrop.c - take the files of maildrop/ to cleanup.
 *
 * Each file is untrusted input, though postdrop wrote it: it must be a
 * regular file with one link, pass queue_file_open()'s validation of
 * every record, and be a local submission (the local flag, a recorded
 * uid, no client facts, no finished recipient); in root mode its owner
 * must be the uid it records, so no user can pass a file off as another
 * user's.  Such a file goes to cleanup with the local-submission flag,
 * -t's extract flag and the uid; it is removed only after cleanup
 * committed the message.  A file that fails any check goes to corrupt/
 * with a log line; a temporary failure leaves it for the next scan.
 * Files are taken oldest first (queue IDs sort by time).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "mem.h"
#include "msg.h"
#include "pickup.h"
#include "queue_dir.h"
#include "queue_file.h"

#define MAILDROP_QUEUE_DIR "." /* pickup's working directory */

struct content {
	struct queue_file *qf;
};

static ssize_t
read_content(void *arg, char *buf, size_t size, enum pickup_result *result, struct str *why)
{
	struct content *c = arg;
	ssize_t n = queue_file_read_content(c->qf, buf, size, why);

	if (n < 0)
		*result = n == QUEUE_CORRUPT ? PICKUP_CORRUPT : PICKUP_DEFER;
	return n < 0 ? -1 : n;
}

static void
to_corrupt(const char *name, const char *reason)
{
	struct str err = STR_INIT;

	if (queue_dir_to_corrupt(MAILDROP_QUEUE_DIR, name, QUEUE_FOLDER_MAILDROP, reason, &err) !=
	        QUEUE_OK)
		msg_warn("%s: cannot move to corrupt/: %s", name, str_cstr(&err));
	str_free(&err);
}

/* Is this a local submission as postdrop writes them?  NULL, or why not. */
static const char *
not_a_submission(const struct queue_file *qf, const struct stat *st)
{
	const struct queue_envelope *env = queue_file_envelope(qf);

	if (!(env->flags & QUEUE_FLAG_LOCAL))
		return "not a local submission (no local flag)";
	if (env->uid < 0)
		return "no submitting uid recorded";
	if (pickup_root_mode && (long long)st->st_uid != env->uid)
		return "file owner is not the uid it records";
	if (*env->helo || *env->client_name || *env->client_addr || env->client_port ||
	        *env->tls_cipher || *env->auth_login)
		return "client facts in a local submission";
	for (size_t i = 0; i < queue_file_rcpt_count(qf); i++)
		if (queue_file_rcpt(qf, i)->state != QUEUE_RCPT_PENDING)
			return "a recipient marked done";
	return NULL;
}

static void
flags_text(unsigned flags, struct str *out)
{
	str_appendz(out, "local");
	if (flags & QUEUE_FLAG_RCPT_HEADERS)
		str_appendz(out, ",extract");
	if (flags & QUEUE_FLAG_8BITMIME)
		str_appendz(out, ",8bitmime");
	if (flags & QUEUE_FLAG_SMTPUTF8)
		str_appendz(out, ",smtputf8");
}

/* Submit an opened, checked file; PICKUP_OK when cleanup has it. */
static enum pickup_result
submit_file(const char *name, struct queue_file *qf, struct str *why)
{
	const struct queue_envelope *env = queue_file_envelope(qf);
	size_t n = queue_file_rcpt_count(qf);
	struct pickup_rcpt *rcpts = xcalloc(n, sizeof(*rcpts));
	struct pickup_message m = {0};
	struct content c = {qf};
	struct str flags = STR_INIT;
	char id[QUEUE_ID_SIZE];
	enum pickup_result result;

	for (size_t i = 0; i < n; i++) {
		const struct queue_rcpt *r = queue_file_rcpt(qf, i);

		rcpts[i].address = r->address;
		rcpts[i].notify = r->notify;
		rcpts[i].orcpt_type = *r->orcpt_type ? r->orcpt_type : NULL;
		rcpts[i].orcpt_addr = r->orcpt_addr;
	}
	flags_text(env->flags, &flags);
	m.sender = env->sender;
	m.flags = str_cstr(&flags);
	m.envid = env->envid;
	m.ret = env->ret == QUEUE_RET_FULL ? "FULL" : env->ret == QUEUE_RET_HDRS ? "HDRS" : NULL;
	m.uid = env->uid;
	m.rcpts = rcpts;
	m.nrcpts = n;
	m.read = read_content;
	m.arg = &c;
	result = pickup_submit(&m, id, why);
	if (result == PICKUP_OK)
		msg_info("%s: uid=%lld from=<%s> (maildrop %s)", id, env->uid, env->sender, name);
	free(rcpts);
	str_free(&flags);
	return result;
}

/* One file; returns -1 when the scan should stop (a temporary failure). */
static int
take_file(const char *name)
{
	struct str path = STR_INIT, why = STR_INIT;
	struct queue_file *qf = NULL;
	const char *bad;
	struct stat st;
	int rc = 0;

	queue_dir_path(&path, MAILDROP_QUEUE_DIR, QUEUE_FOLDER_MAILDROP, name);
	if (lstat(str_cstr(&path), &st) < 0) {
		if (errno != ENOENT)
			msg_warn("%s: %m", str_cstr(&path));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		to_corrupt(name, "not a regular file with one link");
		goto out;
	}
	switch (queue_file_open(str_cstr(&path), QUEUE_OPEN_READ, &qf, &why)) {
	case QUEUE_OK:
		break;
	case QUEUE_CORRUPT:
	case QUEUE_INVALID:
		to_corrupt(name, str_cstr(&why));
		goto out;
	default:
		if (time(NULL) - st.st_mtime > PICKUP_UNREADABLE_WAIT)
			to_corrupt(name, str_cstr(&why));
		else
			msg_warn("%s: %s; will try again", name, str_cstr(&why));
		goto out;
	}
	if ((bad = not_a_submission(qf, &st)) != NULL) {
		to_corrupt(name, bad);
		goto out;
	}
	str_reset(&why);
	switch (submit_file(name, qf, &why)) {
	case PICKUP_OK:
		if (unlink(str_cstr(&path)) < 0)
			msg_warn("%s: remove after pickup: %m", str_cstr(&path));
		break;
	case PICKUP_FAIL:
	case PICKUP_CORRUPT:
		to_corrupt(name, str_cstr(&why));
		break;
	case PICKUP_DEFER:
		msg_warn("%s: %s; will try again", name, str_cstr(&why));
		rc = -1;
		break;
	}
out:
	if (qf)
		queue_file_close(qf);
	str_free(&path);
	str_free(&why);
	return rc;
}

int
pickup_maildrop_scan(void)
{
	struct str path = STR_INIT;
	struct dirent *d;
	char **names = NULL;
	size_t n = 0;
	int rc = 0;
	DIR *dir;

	queue_dir_path(&path, MAILDROP_QUEUE_DIR, QUEUE_FOLDER_MAILDROP, NULL);
	if ((dir = opendir(str_cstr(&path))) == NULL) {
		msg_warn("open directory %s: %m", str_cstr(&path));
		str_free(&path);
		return -1;
	}
	while ((d = readdir(dir)) != NULL && n < PICKUP_FILES_MAX) {
		if (d->d_name[0] == '.' ||
		        strncmp(d->d_name, QUEUE_TEMP_PREFIX, strlen(QUEUE_TEMP_PREFIX)) == 0)
			continue; /* postdrop at work; the sweep takes what it left */
		if (!queue_id_valid(d->d_name)) {
			to_corrupt(d->d_name, "not a queue file name");
			continue;
		}
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(d->d_name);
	}
	closedir(dir);
	rc = pickup_take_names(names, n, take_file);
	str_free(&path);
	return rc;
}
