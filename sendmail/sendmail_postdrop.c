/*
 * sendmail_postdrop.c - run postdrop and hand it one message as
 * attribute frames (submit.h).
 *
 * postdrop is looked for in command_directory, then daemon_directory,
 * and run without a shell, with a fixed environment and the
 * configuration directory as -C.  Its standard error is ours (its
 * refusals reach the user as they are); its standard output is the
 * queue ID.  Trusts postdrop's exit status and nothing else: the ID is
 * checked before it is shown.  Used by -bm and -bs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "attr.h"
#include "config.h"
#include "mem.h"
#include "msg.h"
#include "sendmail.h"
#include "spawn.h"
#include "submit.h"

struct postdrop_client {
	pid_t pid;
	int in;  /* its standard input */
	int out; /* its standard output */
	int broken;
	struct attr_list l;
	struct str data; /* text not yet sent */
};

static const char *
find_postdrop(struct str *path)
{
	static const char *const dirs[] = {"command_directory", "daemon_directory"};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		str_reset(path);
		str_printf(path, "%s/postdrop", config_str(cfg, dirs[i]));
		if (access(str_cstr(path), X_OK) == 0)
			return str_cstr(path);
	}
	return NULL;
}

struct postdrop_client *
postdrop_start(const char *confdir, struct str *err)
{
	static char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
	struct spawn_request req;
	struct postdrop_client *pc;
	struct str path = STR_INIT;
	int in[2], out[2];
	char *argv[5];

	if (find_postdrop(&path) == NULL) {
		str_printf(err, "postdrop not found in command_directory %s or daemon_directory %s",
		        config_str(cfg, "command_directory"), config_str(cfg, "daemon_directory"));
		str_free(&path);
		return NULL;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		str_printf(err, "pipe: %s", strerror(errno));
		str_free(&path);
		return NULL;
	}
	argv[0] = "postdrop";
	argv[1] = "-C";
	argv[2] = (char *)confdir;
	argv[3] = msg_verbose ? "-v" : NULL;
	argv[4] = NULL;
	spawn_request_init(&req);
	req.path = str_cstr(&path);
	req.argv = argv;
	req.envp = envp;
	req.stdin_fd = in[0];
	req.stdout_fd = out[1];
	req.stderr_fd = 2;
	pc = xcalloc(1, sizeof(*pc));
	pc->pid = spawn_start(&req, err);
	close(in[0]);
	close(out[1]);
	str_free(&path);
	if (pc->pid < 0) {
		close(in[1]);
		close(out[0]);
		free(pc);
		return NULL;
	}
	pc->in = in[1];
	pc->out = out[0];
	attr_list_init(&pc->l);
	return pc;
}

static int
send_frame(struct postdrop_client *pc)
{
	struct str err = STR_INIT;

	if (!pc->broken && attr_send(pc->in, &pc->l, SUBMIT_TIMEOUT_MS, &err) < 0) {
		msg_debug("postdrop: %s", str_cstr(&err));
		pc->broken = 1;
	}
	str_free(&err);
	attr_list_reset(&pc->l);
	return pc->broken ? -1 : 0;
}

int
postdrop_send_open(struct postdrop_client *pc, const char *sender, const char *flags,
        const char *envid, const char *ret)
{
	attr_put_str(&pc->l, "request", "open");
	attr_put_str(&pc->l, "sender", sender);
	if (flags && *flags)
		attr_put_str(&pc->l, "flags", flags);
	if (envid)
		attr_put_str(&pc->l, "envid", envid);
	if (ret)
		attr_put_str(&pc->l, "ret", ret);
	return send_frame(pc);
}

int
postdrop_send_rcpt(
        struct postdrop_client *pc, const char *address, unsigned notify, const char *orcpt)
{
	struct str text = STR_INIT;

	attr_put_str(&pc->l, "request", "rcpt");
	attr_put_str(&pc->l, "address", address);
	if (notify) {
		submit_notify_format(notify, &text);
		attr_put_str(&pc->l, "notify", str_cstr(&text));
	}
	if (orcpt && *orcpt)
		attr_put_str(&pc->l, "orcpt", orcpt);
	str_free(&text);
	return send_frame(pc);
}

static int
flush_data(struct postdrop_client *pc, size_t keep_below)
{
	while (pc->data.len > 0 && pc->data.len >= keep_below) {
		size_t n = pc->data.len < SUBMIT_DATA_MAX ? pc->data.len : SUBMIT_DATA_MAX;

		attr_put_str(&pc->l, "request", "data");
		attr_put(&pc->l, "data", pc->data.data, n);
		str_consume(&pc->data, n);
		if (send_frame(pc) < 0)
			return -1;
	}
	return 0;
}

int
postdrop_send_data(struct postdrop_client *pc, const void *data, size_t len)
{
	str_append(&pc->data, data, len);
	return flush_data(pc, SUBMIT_DATA_MAX);
}

/* Wait for postdrop; its exit status as ours. */
static int
reap(struct postdrop_client *pc)
{
	int status;

	while (waitpid(pc->pid, &status, 0) < 0)
		if (errno != EINTR)
			return EX_OSERR;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	msg_error("postdrop was killed by signal %d", WTERMSIG(status));
	return EX_TEMPFAIL;
}

static void
client_free(struct postdrop_client *pc)
{
	if (pc->in >= 0)
		close(pc->in);
	close(pc->out);
	attr_list_free(&pc->l);
	str_free(&pc->data);
	free(pc);
}

int
postdrop_finish(struct postdrop_client *pc, char id[QUEUE_ID_SIZE])
{
	char reply[SUBMIT_REPLY_MAX];
	size_t got = 0;
	ssize_t n;
	int status;

	if (flush_data(pc, 1) == 0) {
		attr_put_str(&pc->l, "request", "end");
		(void)send_frame(pc);
	}
	close(pc->in);
	pc->in = -1;
	while (got < sizeof(reply) - 1 &&
	        ((n = read(pc->out, reply + got, sizeof(reply) - 1 - got)) > 0 ||
	                (n < 0 && errno == EINTR)))
		if (n > 0)
			got += (size_t)n;
	reply[got] = '\0';
	status = reap(pc);
	client_free(pc);
	id[0] = '\0';
	if (status != EX_OK)
		return status;
	reply[strcspn(reply, "\n")] = '\0';
	if (!queue_id_valid(reply)) {
		msg_error("postdrop gave no queue ID");
		return EX_SOFTWARE;
	}
	memcpy(id, reply, QUEUE_ID_SIZE);
	return EX_OK;
}

void
postdrop_abort(struct postdrop_client *pc)
{
	attr_put_str(&pc->l, "request", "abort");
	(void)send_frame(pc);
	close(pc->in);
	pc->in = -1;
	(void)reap(pc);
	client_free(pc);
}
