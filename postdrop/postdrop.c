/*
 * postdrop.c - the only privileged step of local submission: write one
 * message into maildrop/ and wake pickup.
 *
 *	postdrop [-C CONFDIR] [-v] < frames
 *
 * sendmail runs it with the message as attribute frames on standard
 * input (submit.h, docs/sendmail.md).  In root mode postdrop is setgid
 * setgid_group ("ternpost"), the one group that may write into
 * maildrop/ (mode 1730); it records the real uid of its caller in the
 * maildrop file, which is an ordinary queue file (queue_file.h) made by
 * the same commit protocol: O_EXCL temporary, fsync, rename, directory
 * synced.  pickup then reads it as untrusted input.
 *
 * Trusts nothing it is given: not its environment (a configuration
 * directory other than the default must be listed in the default
 * main.cf's alternate_config_directories when postdrop runs with ids its
 * caller lacks), not its input (every frame, attribute and address is
 * checked, the recipients and octets counted against their limits).
 * Input that ends before request=end leaves nothing behind.  Works
 * while the mail system is down: waking pickup through public/pickup
 * may fail, and the message waits in maildrop/ until pickup runs.
 *
 * Exit status (sysexits.h): 0 and the queue ID on standard output, or
 * one line on standard error and EX_USAGE, EX_NOPERM, EX_CONFIG,
 * EX_DATAERR (bad input, too large), EX_TEMPFAIL (no space, write error).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "attr.h"
#include "confdir.h"
#include "config.h"
#include "daemon.h"
#include "mem.h"
#include "msg.h"
#include "queue_dir.h"
#include "queue_file.h"
#include "submit.h"
#include "table.h"

#define POSTDROP_FILE_MODE     0444 /* root mode: pickup, as mail_owner, must read it */
#define POSTDROP_PICKUP_SOCKET "public/pickup"

struct message {
	struct queue_writer *w;
	const char *queue_dir;
	long long size_limit; /* message_size_limit, 0: none */
	unsigned long long size;
	unsigned long rcpts;
	unsigned flags;
	struct str sender;
};

static struct config *config;

static void
usage(void)
{
	fprintf(stderr, "usage: postdrop [-C CONFDIR] [-v] < frames\n");
	exit(EX_USAGE);
}

/* One refusal: one line, the writer's temporary removed, the status. */
__attribute__((noreturn, format(printf, 3, 4))) static void
refuse(struct message *m, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vlog("error", fmt, ap);
	va_end(ap);
	if (m && m->w)
		queue_file_abort(m->w);
	exit(status);
}

static int
queue_status(int result)
{
	return result == QUEUE_INVALID || result == QUEUE_CORRUPT ? EX_DATAERR : EX_TEMPFAIL;
}

/* ---- who may submit ---- */

static int
list_item_allows(const char *item, const char *login)
{
	struct str err = STR_INIT;
	struct table *t;
	int found = 0;

	if (strchr(item, ':') == NULL)
		return strcmp(item, login) == 0;
	if ((t = table_open(item, TABLE_READ, &err)) == NULL) {
		msg_warn("authorized_submit_users: %s", str_cstr(&err));
	} else {
		found = table_lookup(t, login, NULL, NULL) == 1;
		table_close(t);
	}
	str_free(&err);
	return found;
}

static void
check_authorized(uid_t uid)
{
	char *const *items = config_list(config, "authorized_submit_users");
	struct passwd *pw = getpwuid(uid);
	char login[64];

	if (uid == 0)
		return;
	if (pw)
		snprintf(login, sizeof(login), "%s", pw->pw_name);
	else
		snprintf(login, sizeof(login), "%lu", (unsigned long)uid);
	for (; *items; items++)
		if (list_item_allows(*items, login))
			return;
	refuse(NULL, EX_NOPERM, "user %s (uid %lu) is not in authorized_submit_users", login,
	        (unsigned long)uid);
}

/* ---- configuration ---- */

static int
runs_privileged(void)
{
	return getuid() != 0 && (getegid() != getgid() || geteuid() != getuid());
}

static void
load_config(const char *option)
{
	struct str errors = STR_INIT, warnings = STR_INIT, why = STR_INIT;
	const char *dir = config_dir(option);
	const char *log;

	if (runs_privileged() && !config_dir_allowed(dir, &why))
		refuse(NULL, EX_NOPERM, "%s", str_cstr(&why));
	config = config_new();
	if (config_load_dir(config, dir, &errors, &warnings) + config_validate(config, &errors) >
	        0) {
		fprintf(stderr, "%s", str_cstr(&errors));
		refuse(NULL, EX_CONFIG, "%s/main.cf: configuration errors", dir);
	}
	cfg = config;
	msg_set_hostname(config_str(config, "myhostname"));
	log = config_str(config, "maillog_file");
	if (*log == '\0' || msg_open_file(log, &why) < 0)
		msg_open_syslog();
	str_free(&errors);
	str_free(&warnings);
	str_free(&why);
}

/* ---- the frames ---- */

static const char *
need_text(struct message *m, const struct attr_list *l, const char *name, size_t max)
{
	const char *v = attr_get_str(l, name);

	if (v == NULL)
		refuse(m, EX_DATAERR, "request without a valid %s attribute", name);
	if (strlen(v) > max)
		refuse(m, EX_DATAERR, "%s attribute too long", name);
	return v;
}

static unsigned
parse_flags(struct message *m, const char *text)
{
	unsigned flags = QUEUE_FLAG_LOCAL;
	char *copy = xstrdup(text), *word, *save = NULL;

	for (word = strtok_r(copy, ",", &save); word; word = strtok_r(NULL, ",", &save)) {
		if (strcmp(word, "extract") == 0)
			flags |= QUEUE_FLAG_RCPT_HEADERS;
		else if (strcmp(word, "8bitmime") == 0)
			flags |= QUEUE_FLAG_8BITMIME;
		else if (strcmp(word, "smtputf8") == 0)
			flags |= QUEUE_FLAG_SMTPUTF8;
		else
			refuse(m, EX_DATAERR, "unknown flag \"%s\"", word);
	}
	free(copy);
	return flags;
}

static void
put(struct message *m, int result, const char *what)
{
	if (result == QUEUE_INVALID)
		refuse(m, EX_DATAERR, "invalid %s", what);
	if (result != QUEUE_OK)
		refuse(m, EX_TEMPFAIL, "maildrop file write error (%s): %s", what,
		        queue_result_name(result));
}

static void
do_open(struct message *m, const struct attr_list *l)
{
	const char *sender = need_text(m, l, "sender", QUEUE_ADDR_MAX);
	const char *flags = attr_get_str(l, "flags");
	const char *envid = attr_get_str(l, "envid");
	const char *ret = attr_get_str(l, "ret");
	struct str path = STR_INIT, why = STR_INIT, err = STR_INIT;
	unsigned addr_flags = 0;
	int rc;

	if (submit_address_check(sender, 1, &addr_flags, &why) < 0)
		refuse(m, EX_DATAERR, "bad sender address <%s>: %s", sender, str_cstr(&why));
	m->flags = parse_flags(m, flags ? flags : "");
	if (addr_flags & SUBMIT_ADDR_UTF8)
		m->flags |= QUEUE_FLAG_SMTPUTF8;
	str_setz(&m->sender, sender);
	rc = queue_dir_check_space(
	        m->queue_dir, (unsigned long long)config_size(config, "queue_minfree"), &err);
	if (rc != QUEUE_OK)
		refuse(m, EX_TEMPFAIL, "%s", str_cstr(&err));
	queue_dir_path(&path, m->queue_dir, QUEUE_FOLDER_MAILDROP, NULL);
	if ((rc = queue_file_create(str_cstr(&path), &m->w, &err)) != QUEUE_OK)
		refuse(m, queue_status(rc), "%s", str_cstr(&err));
	if (!config_bool(config, "unprivileged_mode")) {
		queue_dir_path(
		        &path, m->queue_dir, QUEUE_FOLDER_MAILDROP, queue_file_temp_name(m->w));
		if (chmod(str_cstr(&path), POSTDROP_FILE_MODE) < 0)
			refuse(m, EX_TEMPFAIL, "chmod %s: %m", str_cstr(&path));
	}
	put(m, queue_file_put_sender(m->w, sender), "sender");
	put(m, queue_file_put_flags(m->w, m->flags), "flags");
	put(m, queue_file_put_uid(m->w, (long long)getuid()), "uid");
	put(m, queue_file_put_protocol(m->w, "local"), "protocol");
	if (envid && *envid)
		put(m, queue_file_put_envid(m->w, envid), "envid");
	if (ret && strcmp(ret, "FULL") == 0)
		put(m, queue_file_put_ret(m->w, QUEUE_RET_FULL), "ret");
	else if (ret && strcmp(ret, "HDRS") == 0)
		put(m, queue_file_put_ret(m->w, QUEUE_RET_HDRS), "ret");
	else if (ret && *ret)
		refuse(m, EX_DATAERR, "bad ret attribute");
	str_free(&path);
	str_free(&why);
	str_free(&err);
}

static void
do_rcpt(struct message *m, const struct attr_list *l)
{
	const char *address = need_text(m, l, "address", QUEUE_ADDR_MAX);
	const char *notify_text = attr_get_str(l, "notify");
	const char *orcpt = attr_get_str(l, "orcpt");
	struct str why = STR_INIT, type = STR_INIT;
	const char *semi, *orcpt_addr = NULL;
	unsigned notify = 0, addr_flags = 0;

	if (++m->rcpts > QUEUE_RCPT_MAX)
		refuse(m, EX_DATAERR, "too many recipients (limit %d)", QUEUE_RCPT_MAX);
	if (submit_address_check(address, 0, &addr_flags, &why) < 0)
		refuse(m, EX_DATAERR, "bad recipient address <%s>: %s", address, str_cstr(&why));
	if ((addr_flags & SUBMIT_ADDR_UTF8) && !(m->flags & QUEUE_FLAG_SMTPUTF8))
		refuse(m, EX_DATAERR, "recipient address <%s> needs the smtputf8 flag", address);
	if (notify_text && *notify_text && submit_notify_parse(notify_text, &notify) < 0)
		refuse(m, EX_DATAERR, "bad notify attribute");
	if (orcpt && *orcpt) {
		if (strlen(orcpt) > SUBMIT_ORCPT_MAX || (semi = strchr(orcpt, ';')) == NULL ||
		        semi == orcpt || semi[1] == '\0')
			refuse(m, EX_DATAERR, "bad orcpt attribute");
		str_set(&type, orcpt, (size_t)(semi - orcpt));
		orcpt_addr = semi + 1;
	}
	put(m,
	        queue_file_put_rcpt(
	                m->w, address, orcpt_addr ? str_cstr(&type) : NULL, orcpt_addr, notify),
	        "recipient");
	str_free(&why);
	str_free(&type);
}

static void
do_data(struct message *m, const struct attr_list *l)
{
	const struct attr *a = attr_find(l, "data");

	if (a == NULL || a->value_len > SUBMIT_DATA_MAX)
		refuse(m, EX_DATAERR, "request=data without a valid data attribute");
	if (m->rcpts == 0)
		refuse(m, EX_USAGE, "no recipients specified");
	m->size += a->value_len;
	if (m->size_limit > 0 && m->size > (unsigned long long)m->size_limit)
		refuse(m, EX_DATAERR, "message too large: message_size_limit is %lld bytes",
		        m->size_limit);
	put(m, queue_file_put_content(m->w, attr_value(l, a), a->value_len), "content");
}

/* Read the frames; returns when request=end was taken. */
static void
read_frames(struct message *m)
{
	struct attr_list l;
	struct str err = STR_INIT;
	int opened = 0, rc;

	attr_list_init(&l);
	for (;;) {
		const char *req;

		rc = attr_recv(0, &l, SUBMIT_FRAME_MAX, SUBMIT_TIMEOUT_MS, &err);
		if (rc == 1)
			refuse(m, EX_DATAERR, "input ended before the end of the message");
		if (rc < 0)
			refuse(m, EX_DATAERR, "reading standard input: %s", str_cstr(&err));
		if ((req = attr_get_str(&l, "request")) == NULL)
			refuse(m, EX_DATAERR, "frame without a request");
		if (!opened && strcmp(req, "open") != 0)
			refuse(m, EX_DATAERR, "first request is not open");
		if (strcmp(req, "open") == 0) {
			if (opened)
				refuse(m, EX_DATAERR, "request=open twice");
			do_open(m, &l);
			opened = 1;
		} else if (strcmp(req, "rcpt") == 0) {
			if (m->size > 0)
				refuse(m, EX_DATAERR, "request=rcpt after data");
			do_rcpt(m, &l);
		} else if (strcmp(req, "data") == 0) {
			do_data(m, &l);
		} else if (strcmp(req, "end") == 0) {
			break;
		} else if (strcmp(req, "abort") == 0) {
			if (m->w)
				queue_file_abort(m->w);
			exit(EX_DATAERR); /* sendmail has said why */
		} else {
			refuse(m, EX_DATAERR, "unknown request \"%s\"", req);
		}
	}
	attr_list_free(&l);
	str_free(&err);
}

int
main(int argc, char **argv)
{
	struct message m;
	struct str err = STR_INIT, path = STR_INIT;
	char id[QUEUE_ID_SIZE];
	const char *confdir = NULL;
	int ch, rc;

	umask(077);
	signal(SIGPIPE, SIG_IGN);
	msg_init("postdrop");
	msg_to_stderr(1);
	msg_stderr_plain(1);
	while ((ch = getopt(argc, argv, "C:v")) != -1) {
		switch (ch) {
		case 'C':
			confdir = optarg;
			break;
		case 'v':
			msg_verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	load_config(confdir);
	check_authorized(getuid());

	memset(&m, 0, sizeof(m));
	m.queue_dir = config_str(config, "queue_directory");
	m.size_limit = config_size(config, "message_size_limit");
	read_frames(&m);
	if (m.rcpts == 0)
		refuse(&m, EX_USAGE, "no recipients specified");
	rc = queue_file_commit(m.w, id, &err);
	m.w = NULL;
	if (rc != QUEUE_OK)
		refuse(NULL, queue_status(rc), "maildrop file not written: %s", str_cstr(&err));
	msg_to_stderr(0);
	msg_info("%s: uid=%lu from=<%s> nrcpt=%lu size=%llu", id, (unsigned long)getuid(),
	        str_cstr(&m.sender), m.rcpts, m.size);
	printf("%s\n", id);
	fflush(stdout);
	str_setz(&path, m.queue_dir);
	str_appendz(&path, "/" POSTDROP_PICKUP_SOCKET);
	str_reset(&err);
	if (daemon_wakeup_send(str_cstr(&path), &err) < 0 && msg_verbose)
		msg_debug("pickup not woken: %s", str_cstr(&err));
	str_free(&err);
	str_free(&path);
	str_free(&m.sender);
	config_free(config);
	return EX_OK;
}
