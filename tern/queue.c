/*
 * queue.c - "tern queue": the queue viewer and the administrator's
 * requests to qmgr.
 *
 *	tern [-c DIR] queue list [--json]
 *	tern [-c DIR] queue show ID [--json]
 *	tern [-c DIR] queue hold ID | release ID | delete ID | requeue ID
 *	tern [-c DIR] queue flush [DOMAIN]
 *
 * list reads every queue file (lib/queue_list.h, the listing mailq
 * prints) and asks qmgr for the destinations it is backing off
 * (request=destinations on public/qmgr); show reads one file.  hold,
 * release, delete, requeue and flush are requests to qmgr
 * (docs/qmgr.md).  When qmgr's socket is absent or refuses (master is
 * not running), hold, release, delete and requeue change the files
 * themselves, which is safe because nothing else moves them then; flush
 * needs qmgr.
 *
 * Exit status: 0; EX_USAGE; EX_NOINPUT no such message; EX_UNAVAILABLE
 * qmgr needed and not running; EX_TEMPFAIL qmgr did not answer or
 * refused; EX_IOERR the queue could not be read or changed.  Runs with
 * the invoking user's rights (root, or mail_owner, for the queue and
 * qmgr's socket); trusts nothing it reads: the queue files go through
 * the validating reader and qmgr's replies through the typed getters.
 * Called by tern.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "config.h"
#include "deliver.h"
#include "mem.h"
#include "msg.h"
#include "queue_dir.h"
#include "queue_file.h"
#include "queue_id.h"
#include "queue_list.h"
#include "tern.h"
#include "unix_connect.h"

#define QUEUE_CMD_TIMEOUT_MS 30000     /* a request to qmgr and its reply */
#define QUEUE_CMD_REPLY_MAX  (4 << 20) /* octets of qmgr's reply */
#define QUEUE_CMD_TIME_SIZE  32        /* a formatted time */
#define QUEUE_CMD_DEST_MAX   100000    /* destinations shown */

static const char *queue_dir;

static int
queue_usage(void)
{
	fprintf(stderr,
	        "usage: tern [-c DIR] queue list [--json] | show ID [--json] | hold ID |"
	        " release ID | delete ID | requeue ID | flush [DOMAIN]\n");
	return EX_USAGE;
}

/* ---- output helpers ---- */

static void
json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void
format_time(long long secs, char *buf, size_t size)
{
	time_t t = (time_t)secs;
	struct tm tm;

	if (secs <= 0 || localtime_r(&t, &tm) == NULL ||
	        strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "-");
}

/* ---- talking to qmgr ---- */

/*
 * One request to qmgr.  0 with the reply in r; -1 with err set, and
 * *absent when nobody listens (no master: the socket is gone or refuses).
 */
static int
qmgr_request(const struct attr_list *req, struct attr_list *r, int *absent, struct str *err)
{
	struct str path = STR_INIT;
	int fd, rc = -1;

	*absent = 0;
	str_printf(&path, "%s/public/qmgr", queue_dir);
	fd = unix_connect(str_cstr(&path), 0, err);
	if (fd < 0) {
		*absent = errno == ENOENT || errno == ECONNREFUSED;
		str_free(&path);
		return -1;
	}
	if (attr_send(fd, req, QUEUE_CMD_TIMEOUT_MS, err) == 0) {
		rc = attr_recv(fd, r, QUEUE_CMD_REPLY_MAX, QUEUE_CMD_TIMEOUT_MS, err);
		if (rc == 1) {
			str_appendz(err, "qmgr closed the connection without a reply");
			rc = -1;
		}
	}
	close(fd);
	str_free(&path);
	return rc;
}

/* ---- list ---- */

struct dest_row {
	const char *transport, *nexthop, *state, *reason;
	long long active, queued, failures, since, until;
};

/* The destinations qmgr reports; -1 when qmgr does not answer. */
static int
get_destinations(struct attr_list *r, struct dest_row **rows, size_t *n)
{
	struct attr_list req;
	struct str err = STR_INIT;
	int absent, rc;

	*rows = NULL;
	*n = 0;
	attr_list_init(&req);
	attr_put_str(&req, "request", "destinations");
	rc = qmgr_request(&req, r, &absent, &err);
	attr_list_free(&req);
	str_free(&err);
	if (rc < 0 || attr_get_str(r, "status") == NULL || strcmp(attr_get_str(r, "status"), "ok"))
		return -1;
	for (size_t i = 0; i < r->n && *n < QUEUE_CMD_DEST_MAX; i++) {
		const char *name = attr_name(r, &r->v[i]);
		const char *value = attr_value(r, &r->v[i]);
		struct dest_row *d;
		long long *num = NULL;

		if (strcmp(name, "dest_transport") == 0) {
			*rows = xreallocarray(*rows, *n + 1, sizeof(**rows));
			memset(&(*rows)[*n], 0, sizeof(**rows));
			(*rows)[(*n)++].transport = value;
			continue;
		}
		if (*n == 0)
			continue;
		d = &(*rows)[*n - 1];
		if (strcmp(name, "dest_nexthop") == 0)
			d->nexthop = value;
		else if (strcmp(name, "dest_state") == 0)
			d->state = value;
		else if (strcmp(name, "dest_reason") == 0)
			d->reason = value;
		else if (strcmp(name, "dest_active") == 0)
			num = &d->active;
		else if (strcmp(name, "dest_queued") == 0)
			num = &d->queued;
		else if (strcmp(name, "dest_failures") == 0)
			num = &d->failures;
		else if (strcmp(name, "dest_since") == 0)
			num = &d->since;
		else if (strcmp(name, "dest_until") == 0)
			num = &d->until;
		if (num)
			*num = strtoll(value, NULL, 10);
	}
	return 0;
}

static const char *
nz(const char *s)
{
	return s ? s : "";
}

/* deferred/: the next attempt time, the file's mtime; 0 when unknown. */
static long long
next_attempt(const char *id)
{
	struct str path = STR_INIT;
	struct stat st;
	long long t = 0;

	queue_dir_path(&path, queue_dir, QUEUE_FOLDER_DEFERRED, id);
	if (lstat(str_cstr(&path), &st) == 0)
		t = (long long)st.st_mtime;
	str_free(&path);
	return t;
}

static void
list_json(const struct queue_list *l, const struct dest_row *d, size_t nd, int qmgr_up)
{
	printf("{\"qmgr\": \"%s\", \"messages\": [", qmgr_up ? "running" : "not running");
	for (size_t i = 0; i < l->n; i++) {
		const struct queue_list_entry *e = &l->v[i];

		printf("%s\n  {\"queue_id\": \"%s\", \"folder\": \"%s\", \"arrival\": %lld, "
		       "\"size\": %llu, \"sender\": ",
		        i ? "," : "", e->id, queue_folder_name(e->folder),
		        e->arrival_usec / 1000000, e->size);
		json_string(nz(e->sender));
		if (e->folder == QUEUE_FOLDER_DEFERRED)
			printf(", \"next_attempt\": %lld", next_attempt(e->id));
		if (e->error) {
			printf(", \"error\": ");
			json_string(e->error);
		}
		printf(", \"recipients\": [");
		for (size_t k = 0; k < e->nrcpts; k++) {
			printf("%s{\"address\": ", k ? ", " : "");
			json_string(e->rcpts[k].address);
			printf(", \"reason\": ");
			json_string(e->rcpts[k].reason);
			printf("}");
		}
		printf("]}");
	}
	printf("%s],\n \"destinations\": [", l->n ? "\n" : "");
	for (size_t i = 0; i < nd; i++) {
		printf("%s\n  {\"transport\": ", i ? "," : "");
		json_string(nz(d[i].transport));
		printf(", \"nexthop\": ");
		json_string(nz(d[i].nexthop));
		printf(", \"state\": ");
		json_string(nz(d[i].state));
		printf(", \"active\": %lld, \"queued\": %lld, \"failures\": %lld, \"since\": %lld, "
		       "\"until\": %lld, \"reason\": ",
		        d[i].active, d[i].queued, d[i].failures, d[i].since, d[i].until);
		json_string(nz(d[i].reason));
		printf("}");
	}
	printf("%s]}\n", nd ? "\n" : "");
}

static void
list_text(const struct queue_list *l, const struct dest_row *d, size_t nd, int qmgr_up)
{
	struct str out = STR_INIT;
	int header = 0;

	queue_list_format(l, &out);
	fputs(str_cstr(&out), stdout);
	str_free(&out);
	if (!qmgr_up) {
		printf("-- qmgr is not running: no destination states.\n");
		return;
	}
	for (size_t i = 0; i < nd; i++) {
		char until[QUEUE_CMD_TIME_SIZE];

		if (strcmp(nz(d[i].state), "ready") == 0 && d[i].failures == 0)
			continue;
		if (!header)
			printf("\n-Destination---------------- -State-- -Failures- "
			       "-Until-------------\n");
		header = 1;
		format_time(d[i].until, until, sizeof(until));
		printf("%s:%s %s %lld %s\n   (%s)\n", nz(d[i].transport), nz(d[i].nexthop),
		        nz(d[i].state), d[i].failures, until, nz(d[i].reason));
	}
}

static int
queue_list_cmd(int json)
{
	struct queue_list l;
	struct attr_list r;
	struct str err = STR_INIT;
	struct dest_row *rows = NULL;
	size_t nrows = 0;
	int up, rc = 0;

	queue_list_init(&l);
	if (queue_list_read(queue_dir, &l, &err) < 0) {
		msg_error("%s", str_cstr(&err));
		rc = EX_IOERR;
	} else {
		attr_list_init(&r);
		up = get_destinations(&r, &rows, &nrows) == 0;
		if (json)
			list_json(&l, rows, nrows, up);
		else
			list_text(&l, rows, nrows, up);
		free(rows);
		attr_list_free(&r);
	}
	queue_list_free(&l);
	str_free(&err);
	return rc;
}

/* ---- show ---- */

static const enum queue_folder search_order[] = {QUEUE_FOLDER_INCOMING, QUEUE_FOLDER_ACTIVE,
        QUEUE_FOLDER_DEFERRED, QUEUE_FOLDER_HOLD, QUEUE_FOLDER_CORRUPT, QUEUE_FOLDER_MAILDROP};

/* The folder that holds id, or -1. */
static int
find_message(const char *id)
{
	struct str path = STR_INIT;
	struct stat st;
	int found = -1;

	for (size_t i = 0; i < sizeof(search_order) / sizeof(search_order[0]) && found < 0; i++) {
		str_reset(&path);
		queue_dir_path(&path, queue_dir, search_order[i], id);
		if (lstat(str_cstr(&path), &st) == 0)
			found = (int)search_order[i];
	}
	str_free(&path);
	return found;
}

static const char *const state_names[] = {"pending", "delivered", "failed", "relayed"};

static void
show_text(const char *id, int folder, struct queue_file *qf)
{
	const struct queue_envelope *env = queue_file_envelope(qf);
	char when[QUEUE_CMD_TIME_SIZE];
	struct str words = STR_INIT;

	printf("queue_id: %s\nfolder: %s\n", id, queue_folder_name(folder));
	format_time(env->arrival_usec / 1000000, when, sizeof(when));
	printf("arrival: %s\n", when);
	if (folder == QUEUE_FOLDER_DEFERRED) {
		format_time(next_attempt(id), when, sizeof(when));
		printf("next_attempt: %s\n", when);
	}
	printf("sender: <%s>\nsize: %llu\n", env->sender, queue_file_content_size(qf));
	if (*env->envid)
		printf("envid: %s\n", env->envid);
	if (env->ret)
		printf("ret: %s\n", env->ret == QUEUE_RET_FULL ? "full" : "hdrs");
	if (*env->protocol)
		printf("protocol: %s\n", env->protocol);
	if (*env->client_addr)
		printf("client: %s[%s]\n", *env->client_name ? env->client_name : "unknown",
		        env->client_addr);
	if (*env->helo)
		printf("helo: %s\n", env->helo);
	if (*env->auth_login)
		printf("auth_login: %s\n", env->auth_login);
	for (size_t i = 0; i < queue_file_rcpt_count(qf); i++) {
		const struct queue_rcpt *r = queue_file_rcpt(qf, i);

		deliver_notify_format(r->notify, &words);
		format_time(r->status.last_attempt, when, sizeof(when));
		printf("recipient %zu: <%s> %s attempts=%lu last_attempt=%s dsn=%s "
		       "notify=%s%s%s%s\n",
		        i, r->address, state_names[r->state], r->status.attempts, when,
		        *r->status.dsn ? r->status.dsn : "-", words.len ? str_cstr(&words) : "-",
		        *r->orcpt_type ? " orcpt=" : "", r->orcpt_type, r->orcpt_addr);
		if (*r->status.reason)
			printf("   (%s)\n", r->status.reason);
	}
	str_free(&words);
}

static void
show_json(const char *id, int folder, struct queue_file *qf)
{
	const struct queue_envelope *env = queue_file_envelope(qf);
	struct str words = STR_INIT;

	printf("{\"queue_id\": \"%s\", \"folder\": \"%s\", \"arrival\": %lld, ", id,
	        queue_folder_name(folder), env->arrival_usec / 1000000);
	if (folder == QUEUE_FOLDER_DEFERRED)
		printf("\"next_attempt\": %lld, ", next_attempt(id));
	printf("\"size\": %llu, \"sender\": ", queue_file_content_size(qf));
	json_string(env->sender);
	printf(", \"envid\": ");
	json_string(env->envid);
	printf(", \"protocol\": ");
	json_string(env->protocol);
	printf(", \"client_addr\": ");
	json_string(env->client_addr);
	printf(", \"recipients\": [");
	for (size_t i = 0; i < queue_file_rcpt_count(qf); i++) {
		const struct queue_rcpt *r = queue_file_rcpt(qf, i);

		deliver_notify_format(r->notify, &words);
		printf("%s\n  {\"index\": %zu, \"address\": ", i ? "," : "", i);
		json_string(r->address);
		printf(", \"state\": \"%s\", \"attempts\": %lu, \"last_attempt\": %lld, \"dsn\": ",
		        state_names[r->state], r->status.attempts, r->status.last_attempt);
		json_string(r->status.dsn);
		printf(", \"reason\": ");
		json_string(r->status.reason);
		printf(", \"notify\": ");
		json_string(str_cstr(&words));
		printf(", \"orcpt\": ");
		json_string(r->orcpt_addr);
		printf("}");
	}
	printf("\n]}\n");
	str_free(&words);
}

static int
queue_show_cmd(const char *id, int json)
{
	struct str path = STR_INIT, err = STR_INIT;
	struct queue_file *qf;
	int folder, rc = 0;

	if (!queue_id_valid(id)) {
		msg_error("%s: not a queue ID", id);
		return EX_USAGE;
	}
	if ((folder = find_message(id)) < 0) {
		msg_error("%s: no such message", id);
		return EX_NOINPUT;
	}
	queue_dir_path(&path, queue_dir, (enum queue_folder)folder, id);
	if (queue_file_open(str_cstr(&path), QUEUE_OPEN_READ, &qf, &err) != QUEUE_OK) {
		msg_error("%s: %s", id, str_cstr(&err));
		rc = EX_IOERR;
	} else {
		if (json)
			show_json(id, folder, qf);
		else
			show_text(id, folder, qf);
		queue_file_close(qf);
	}
	str_free(&path);
	str_free(&err);
	return rc;
}

/* ---- hold, release, delete, requeue ---- */

/* Make a file's modification time now (due at once in deferred/). */
static int
touch(enum queue_folder folder, const char *id, struct str *err)
{
	struct str path = STR_INIT;
	int rc;

	queue_dir_path(&path, queue_dir, folder, id);
	rc = utimensat(AT_FDCWD, str_cstr(&path), NULL, AT_SYMLINK_NOFOLLOW);
	if (rc < 0)
		str_printf(err, "%s: %s", str_cstr(&path), strerror(errno));
	str_free(&path);
	return rc;
}

/* qmgr does not run: change the files ourselves.  Returns an exit status. */
static int
act_directly(const char *verb, const char *id)
{
	struct str err = STR_INIT, path = STR_INIT;
	int folder = find_message(id), rc = 0;
	const char *done = NULL;

	if (folder < 0 || folder == QUEUE_FOLDER_MAILDROP) {
		msg_error("%s: no such message", id);
		return EX_NOINPUT;
	}
	if (strcmp(verb, "hold") == 0) {
		if (folder == QUEUE_FOLDER_CORRUPT)
			str_appendz(&err, "message is in corrupt/");
		else if (folder != QUEUE_FOLDER_HOLD &&
		        queue_dir_move(queue_dir, id, folder, QUEUE_FOLDER_HOLD, &err) == QUEUE_OK)
			done = "placed on hold";
		else if (folder == QUEUE_FOLDER_HOLD)
			done = "already on hold";
	} else if (strcmp(verb, "release") == 0) {
		if (folder != QUEUE_FOLDER_HOLD)
			str_appendz(&err, "message is not on hold");
		else if (touch(folder, id, &err) == 0 &&
		        queue_dir_move(queue_dir, id, folder, QUEUE_FOLDER_DEFERRED, &err) ==
		                QUEUE_OK)
			done = "released from hold";
	} else if (strcmp(verb, "delete") == 0) {
		queue_dir_path(&path, queue_dir, (enum queue_folder)folder, id);
		if (unlink(str_cstr(&path)) < 0)
			str_printf(&err, "remove %s: %s", str_cstr(&path), strerror(errno));
		else
			done = "removed";
	} else { /* requeue */
		if (folder == QUEUE_FOLDER_CORRUPT)
			str_appendz(&err, "message is in corrupt/");
		else if (folder == QUEUE_FOLDER_INCOMING)
			done = "requeued";
		else if (touch(folder, id, &err) == 0 &&
		        (folder == QUEUE_FOLDER_DEFERRED ||
		                queue_dir_move(queue_dir, id, folder, QUEUE_FOLDER_DEFERRED,
		                        &err) == QUEUE_OK))
			done = "requeued";
	}
	if (done) {
		printf("%s: %s (qmgr is not running)\n", id, done);
	} else {
		msg_error("%s: %s", id, str_cstr(&err));
		rc = err.len && strstr(str_cstr(&err), "not on hold") ? EX_NOINPUT : EX_IOERR;
	}
	str_free(&err);
	str_free(&path);
	return rc;
}

static int
queue_message_cmd(const char *verb, const char *id)
{
	struct attr_list req, r;
	struct str err = STR_INIT;
	const char *status, *reason;
	int absent, rc = 0;

	if (!queue_id_valid(id)) {
		msg_error("%s: not a queue ID", id);
		return EX_USAGE;
	}
	attr_list_init(&req);
	attr_list_init(&r);
	attr_put_str(&req, "request", verb);
	attr_put_str(&req, "queue_id", id);
	if (qmgr_request(&req, &r, &absent, &err) < 0) {
		if (absent) {
			rc = act_directly(verb, id);
		} else {
			msg_error("qmgr: %s", str_cstr(&err));
			rc = EX_TEMPFAIL;
		}
	} else if ((status = attr_get_str(&r, "status")) != NULL && strcmp(status, "ok") == 0) {
		printf("%s: %s\n", id,
		        strcmp(verb, "hold") == 0              ? "placed on hold"
		                : strcmp(verb, "release") == 0 ? "released from hold"
		                : strcmp(verb, "delete") == 0  ? "removed"
		                                               : "requeued");
	} else {
		reason = attr_get_str(&r, "reason");
		msg_error("%s: %s", id, reason ? reason : "qmgr refused");
		rc = reason && (strstr(reason, "no such") || strstr(reason, "not on hold"))
		        ? EX_NOINPUT
		        : EX_TEMPFAIL;
	}
	attr_list_free(&req);
	attr_list_free(&r);
	str_free(&err);
	return rc;
}

/* ---- flush ---- */

static int
queue_flush_cmd(const char *domain)
{
	struct attr_list req, r;
	struct str err = STR_INIT;
	const char *status, *reason;
	int absent, rc = 0;

	attr_list_init(&req);
	attr_list_init(&r);
	attr_put_str(&req, "request", "flush");
	if (domain)
		attr_put_str(&req, "domain", domain);
	if (qmgr_request(&req, &r, &absent, &err) < 0) {
		msg_error("qmgr: %s", absent ? "not running (tern start)" : str_cstr(&err));
		rc = absent ? EX_UNAVAILABLE : EX_TEMPFAIL;
	} else if ((status = attr_get_str(&r, "status")) == NULL || strcmp(status, "ok") != 0) {
		reason = attr_get_str(&r, "reason");
		msg_error("flush: %s", reason ? reason : "qmgr refused");
		rc = EX_TEMPFAIL;
	} else {
		printf("flush started%s%s\n", domain ? " for " : "", domain ? domain : "");
	}
	attr_list_free(&req);
	attr_list_free(&r);
	str_free(&err);
	return rc;
}

/* ---- dispatch ---- */

int
tern_queue(int argc, char **argv, const char *confdir)
{
	struct str errors = STR_INIT, warnings = STR_INIT;
	struct config *c = config_new();
	int json = 0, rc, nargs = 0;
	const char *args[3] = {NULL, NULL, NULL};

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (nargs < 3)
			args[nargs++] = argv[i];
		else
			return queue_usage();
	}
	if (nargs == 0)
		return queue_usage();
	config_load_dir(c, confdir, &errors, &warnings);
	if (!config_valid(c, "queue_directory", &errors)) {
		fprintf(stderr, "%s", str_cstr(&errors));
		msg_error("%s/main.cf: configuration errors", confdir);
		config_free(c);
		str_free(&errors);
		str_free(&warnings);
		return EX_CONFIG;
	}
	queue_dir = config_str(c, "queue_directory");
	if (strcmp(args[0], "list") == 0 && nargs == 1)
		rc = queue_list_cmd(json);
	else if (strcmp(args[0], "show") == 0 && nargs == 2)
		rc = queue_show_cmd(args[1], json);
	else if ((strcmp(args[0], "hold") == 0 || strcmp(args[0], "release") == 0 ||
	                 strcmp(args[0], "delete") == 0 || strcmp(args[0], "requeue") == 0) &&
	        nargs == 2 && !json)
		rc = queue_message_cmd(args[0], args[1]);
	else if (strcmp(args[0], "flush") == 0 && nargs <= 2 && !json)
		rc = queue_flush_cmd(args[1]);
	else
		rc = queue_usage();
	config_free(c);
	str_free(&errors);
	str_free(&warnings);
	return rc;
}
