/*
 * local_command.c - "|command" targets of aliases and .forward files.
 *
 * The command text comes only from the aliases table or a .forward (or,
 * when allow_mail_to_commands says so, an :include:) file, and runs as
 * "/bin/sh -c TEXT" through lib/spawn.c: no PATH search, a fresh
 * environment that holds the envelope and nothing else from the message
 * (SENDER, RECIPIENT, ORIGINAL_RECIPIENT, QUEUE_ID, plus HOME, USER,
 * SHELL and PATH of the identity), working directory "/", umask 077, the
 * message on standard input (From_ line, Return-Path:, Delivered-To:,
 * the text), standard output and error captured for a bounce.  Nothing
 * from the envelope or the message is ever put into the command text.
 *
 * It runs as the identity chosen by the caller (the .forward's user; the
 * owner of the aliases or :include: file; default_privs instead of
 * root), with the time limit command_time_limit, after which its whole
 * process group is killed.  Results by sysexits.h: 0 delivered;
 * EX_TEMPFAIL (75), a signal or the time limit defers; any other status
 * bounces with a code from the sysexits table and the command's output
 * in the reason.  Called by local_recipient.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sysexits.h>
#include <unistd.h>

#include "local.h"
#include "mem.h"
#include "msg.h"
#include "spawn.h"

#define COMMAND_SHOWN   LOCAL_REASON_SHOWN /* octets of the command text in a reason */
#define COMMAND_ENV_MAX 9                  /* environment entries, with the NULL */

/* Enhanced status codes of the sysexits, as Postfix uses them. */
static const char *
exit_dsn(int code)
{
	switch (code) {
	case EX_USAGE:
	case EX_DATAERR:
		return "5.3.0";
	case EX_NOUSER:
		return "5.1.1";
	case EX_NOHOST:
		return "5.1.2";
	case EX_CANTCREAT:
		return "5.2.0";
	case EX_PROTOCOL:
		return "5.5.0";
	case EX_NOPERM:
		return "5.7.0";
	case EX_CONFIG:
		return "5.3.5";
	default:
		return "5.3.0";
	}
}

static char *
env_entry(const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);
	char *e = xmalloc(n + v + 2);

	memcpy(e, name, n);
	e[n] = '=';
	memcpy(e + n + 1, value, v + 1);
	return e;
}

/* The message for standard input, in an anonymous file. */
static int
message_fd(struct local_message *m, const struct local_copy *c, struct local_result *res)
{
	struct str err = STR_INIT;
	int fd = memfd_create("tern-local", MFD_CLOEXEC);

	if (fd < 0) {
		local_result_errno(res, errno, "memfd_create");
		return -1;
	}
	if (local_copy_write(fd, m, c, &err) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		local_result_errno(res, errno, "copy the message for a command");
		close(fd);
		fd = -1;
	}
	str_free(&err);
	return fd;
}

static void
command_result(const char *command, const struct spawn_result *sr, const struct str *out,
        struct local_result *res)
{
	struct str cmd = STR_INIT, text = STR_INIT;

	local_text_sanitize(&cmd, command, strlen(command), COMMAND_SHOWN);
	if (out->len > 0) {
		str_appendz(&text, "; output: ");
		local_text_sanitize(&text, out->data, out->len, LOCAL_REASON_SHOWN);
	}
	switch (sr->status) {
	case SPAWN_EXITED:
		if (sr->exit_code == 0)
			local_result_set(res, LOCAL_SENT, "2.0.0", "delivered to command: %s",
			        str_cstr(&cmd));
		else if (sr->exit_code == EX_TEMPFAIL)
			local_result_set(res, LOCAL_DEFER, "4.3.0",
			        "temporary failure of command %s (status %d)%s", str_cstr(&cmd),
			        sr->exit_code, str_cstr(&text));
		else
			local_result_set(res, LOCAL_BOUNCE, exit_dsn(sr->exit_code),
			        "command %s failed with status %d%s", str_cstr(&cmd), sr->exit_code,
			        str_cstr(&text));
		break;
	case SPAWN_SIGNALED:
		local_result_set(res, LOCAL_DEFER, "4.3.0", "command %s killed by signal %d%s",
		        str_cstr(&cmd), sr->signal, str_cstr(&text));
		break;
	case SPAWN_TIMED_OUT:
		local_result_set(res, LOCAL_DEFER, "4.3.0",
		        "command %s exceeded the time limit of %llds%s", str_cstr(&cmd),
		        local_cfg.command_time_limit, str_cstr(&text));
		break;
	case SPAWN_FAILED:
		local_result_set(res, LOCAL_DEFER, "4.3.0", "command %s could not be started",
		        str_cstr(&cmd));
		break;
	}
	str_free(&cmd);
	str_free(&text);
}

void
local_command_deliver(struct local_message *m, const char *command,
        const struct local_identity *privs, const struct local_command_env *e,
        const struct local_copy *c, struct local_result *res)
{
	char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};
	char *envp[COMMAND_ENV_MAX];
	struct spawn_request req;
	struct spawn_result sr;
	struct str out = STR_INIT, why = STR_INIT;
	gid_t groups[1];
	int fd, n = 0;

	if (privs->switch_ids && privs->uid == 0) {
		local_result_set(res, LOCAL_DEFER, "4.3.0", "refusing to run a command as root");
		return;
	}
	if ((fd = message_fd(m, c, res)) < 0)
		return;
	envp[n++] = env_entry("SENDER", e->sender);
	envp[n++] = env_entry("RECIPIENT", e->recipient);
	envp[n++] = env_entry("ORIGINAL_RECIPIENT", e->original_recipient);
	envp[n++] = env_entry("QUEUE_ID", m->queue_id);
	envp[n++] = env_entry("HOME", privs->home);
	envp[n++] = env_entry("USER", privs->user);
	envp[n++] = env_entry("SHELL", privs->shell);
	envp[n++] = env_entry("PATH", LOCAL_PATH_DEFAULT);
	envp[n] = NULL;

	spawn_request_init(&req);
	req.path = "/bin/sh";
	req.argv = argv;
	req.envp = envp;
	req.cwd = "/";
	req.umask_value = 077;
	req.stdin_fd = fd;
	req.out = &out;
	req.out_limit = LOCAL_OUTPUT_MAX;
	req.stderr_to_stdout = 1;
	req.timeout_ms = (int)(local_cfg.command_time_limit * 1000);
	if (privs->switch_ids) {
		groups[0] = privs->gid;
		req.set_ids = 1;
		req.uid = privs->uid;
		req.gid = privs->gid;
		req.groups = groups;
		req.ngroups = 1;
	}
	if (spawn_run(&req, &sr, &why) < 0)
		msg_warn("%s: command for %s: %s", m->queue_id, e->recipient, str_cstr(&why));
	command_result(command, &sr, &out, res);
	close(fd);
	for (int i = 0; i < n; i++)
		free(envp[i]);
	str_free(&out);
	str_free(&why);
}
