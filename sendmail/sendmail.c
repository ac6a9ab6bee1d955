/*
 * sendmail.c - the sendmail-compatible command: main, options, dispatch.
 *
 *	sendmail [options] [--] [recipient ...]
 *	mailq [options]			(sendmail -bp)
 *	newaliases [options]		(sendmail -bi)
 *
 * The name it is called by chooses the default mode; the options are
 * those of the classic command (docs/sendmail.md, docs/man/sendmail.1).
 * Historic options that mean nothing here are accepted and ignored with
 * a warning.  Runs with its caller's rights only and trusts its caller
 * no more than any user: an ordinary user may name another configuration
 * directory (-C, TERN_CONFIG_DIR) only when the default main.cf lists it
 * in alternate_config_directories (confdir.h), and postdrop checks again.
 * Every refusal is one line on standard error and a sysexits.h status.
 */
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "confdir.h"
#include "config.h"
#include "msg.h"
#include "queue_file.h"
#include "sendmail.h"
#include "submit.h"

#define SENDMAIL_OPTIONS "A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:q::r:tvx"

static struct config *config;

void
sendmail_fail(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vlog("fatal", fmt, ap);
	va_end(ap);
	exit(status);
}

const char *
sendmail_login(void)
{
	static char login[SENDMAIL_LOGIN_MAX];
	struct passwd *pw;

	if (login[0] == '\0') {
		if ((pw = getpwuid(getuid())) == NULL || pw->pw_name[0] == '\0')
			sendmail_fail(EX_NOUSER, "no login name found for user ID %lu",
			        (unsigned long)getuid());
		if (strlen(pw->pw_name) >= sizeof(login))
			sendmail_fail(EX_NOUSER, "login name of user ID %lu is too long",
			        (unsigned long)getuid());
		snprintf(login, sizeof(login), "%s", pw->pw_name);
	}
	return login;
}

static void
usage(void)
{
	fprintf(stderr,
	        "usage: sendmail [-t] [-i] [-f sender] [-F fullname] [-N dsn] "
	        "[-R ret] [-V envid] [-B type] [-C confdir] [--] [recipient ...]\n"
	        "       sendmail -bs | -bp | -bi | -bv address ... | -q[Rsite]\n");
	exit(EX_USAGE);
}

static void
ignored(int ch, const char *arg)
{
	msg_warn("-%c%s ignored: not used by this mail system", ch, arg ? arg : "");
}

/* The ENVID of -V: printable ASCII without blanks, at most 100 octets. */
static int
envid_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > QUEUE_ENVID_MAX)
		return 0;
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			return 0;
	return 1;
}

static void
option_b(struct sendmail_opts *o, const char *arg)
{
	if (strcmp(arg, "m") == 0)
		o->mode = SENDMAIL_DELIVER;
	else if (strcmp(arg, "s") == 0)
		o->mode = SENDMAIL_SMTP;
	else if (strcmp(arg, "p") == 0)
		o->mode = SENDMAIL_PRINT;
	else if (strcmp(arg, "i") == 0)
		o->mode = SENDMAIL_ALIASES;
	else if (strcmp(arg, "v") == 0)
		o->mode = SENDMAIL_VERIFY;
	else if (strcmp(arg, "d") == 0 || strcmp(arg, "D") == 0)
		sendmail_fail(EX_USAGE, "-b%s: use \"tern start\" to run the mail system", arg);
	else if (strcmp(arg, "h") == 0 || strcmp(arg, "H") == 0)
		ignored('b', arg);
	else
		sendmail_fail(EX_USAGE, "-b%s: unsupported mode", arg);
}

static void
option_o(struct sendmail_opts *o, const char *arg)
{
	if (strcmp(arg, "i") == 0)
		o->ignore_dots = 1;
	else
		ignored('o', arg);
}

static void
option_q(struct sendmail_opts *o, const char *arg)
{
	o->mode = SENDMAIL_FLUSH;
	if (arg == NULL || *arg == '\0')
		return;
	if (arg[0] == 'R' && arg[1] != '\0') {
		o->flush_domain = arg + 1;
		return;
	}
	msg_warn("-q%s: only -q and -qRsite are supported; flushing the whole queue", arg);
}

static void
parse_options(int argc, char **argv, struct sendmail_opts *o, const char **confdir_opt)
{
	int ch;

	while ((ch = getopt(argc, argv, SENDMAIL_OPTIONS)) != -1) {
		switch (ch) {
		case 'B':
			if (strcasecmp(optarg, "8BITMIME") == 0)
				o->body_8bit = 1;
			else if (strcasecmp(optarg, "7BIT") != 0)
				sendmail_fail(EX_USAGE, "-B %s: use 7BIT or 8BITMIME", optarg);
			break;
		case 'C':
			*confdir_opt = optarg;
			break;
		case 'F':
			o->fullname = optarg;
			break;
		case 'I':
			o->mode = SENDMAIL_ALIASES;
			break;
		case 'N':
			if (submit_notify_parse(optarg, &o->notify) < 0)
				sendmail_fail(EX_USAGE,
				        "-N %s: use never, or any of success, delay, failure",
				        optarg);
			break;
		case 'R':
			if (strcasecmp(optarg, "full") == 0)
				o->ret = "FULL";
			else if (strcasecmp(optarg, "hdrs") == 0)
				o->ret = "HDRS";
			else
				sendmail_fail(EX_USAGE, "-R %s: use full or hdrs", optarg);
			break;
		case 'V':
			if (!envid_ok(optarg))
				sendmail_fail(EX_USAGE,
				        "-V: bad envelope ID (printable text, at most %d "
				        "characters)",
				        QUEUE_ENVID_MAX);
			o->envid = optarg;
			break;
		case 'b':
			option_b(o, optarg);
			break;
		case 'f':
		case 'r':
			o->sender = optarg;
			break;
		case 'i':
			o->ignore_dots = 1;
			break;
		case 'o':
			option_o(o, optarg);
			break;
		case 'q':
			option_q(o, optarg);
			break;
		case 't':
			o->extract = 1;
			break;
		case 'v':
			msg_verbose++;
			break;
		case 'A':
		case 'L':
		case 'O':
		case 'X':
		case 'e':
		case 'h':
		case 'p':
			ignored(ch, optarg);
			break;
		case 'G':
		case 'U':
		case 'c':
		case 'm':
		case 'n':
		case 'x':
			ignored(ch, NULL);
			break;
		default:
			usage();
		}
	}
	o->rcpts = argv + optind;
	o->nrcpts = argc - optind;
}

/* The configuration directory, checked for an ordinary user. */
static const char *
choose_confdir(const char *option)
{
	const char *dir = config_dir(option);
	struct str why = STR_INIT, main_cf = STR_INIT;
	struct stat st;

	if (getuid() != 0 && !config_dir_allowed(dir, &why)) {
		/* Without an installed default there is nothing to protect
		 * (and a postdrop run setgid refuses the directory itself). */
		str_printf(&main_cf, "%s/main.cf", config_dir_default());
		if (stat(str_cstr(&main_cf), &st) == 0)
			sendmail_fail(EX_NOPERM, "-C %s: not allowed: %s", dir, str_cstr(&why));
	}
	str_free(&why);
	str_free(&main_cf);
	return dir;
}

static void
load_config(const char *dir)
{
	struct str errors = STR_INIT, warnings = STR_INIT, why = STR_INIT;
	const char *log;

	config = config_new();
	if (config_load_dir(config, dir, &errors, &warnings) + config_validate(config, &errors) >
	        0) {
		fprintf(stderr, "%s", str_cstr(&errors));
		sendmail_fail(EX_CONFIG, "%s/main.cf: configuration errors", dir);
	}
	cfg = config;
	msg_set_hostname(config_str(config, "myhostname"));
	log = config_str(config, "maillog_file");
	if (*log == '\0' || access(log, W_OK) < 0 || msg_open_file(log, &why) < 0)
		msg_open_syslog();
	str_free(&errors);
	str_free(&warnings);
	str_free(&why);
}

static enum sendmail_mode
mode_of_name(const char *argv0)
{
	const char *base = strrchr(argv0, '/');

	base = base ? base + 1 : argv0;
	if (strcmp(base, "mailq") == 0)
		return SENDMAIL_PRINT;
	if (strcmp(base, "newaliases") == 0)
		return SENDMAIL_ALIASES;
	return SENDMAIL_DELIVER;
}

int
main(int argc, char **argv)
{
	struct sendmail_opts o;
	const char *confdir_opt = NULL;
	int status;

	signal(SIGPIPE, SIG_IGN);
	umask(022);
	msg_init(argc > 0 ? argv[0] : "sendmail");
	msg_to_stderr(1);
	msg_stderr_plain(1);
	memset(&o, 0, sizeof(o));
	o.mode = mode_of_name(argc > 0 ? argv[0] : "sendmail");
	parse_options(argc, argv, &o, &confdir_opt);
	o.confdir = choose_confdir(confdir_opt);
	load_config(o.confdir);

	switch (o.mode) {
	case SENDMAIL_DELIVER:
		status = sendmail_deliver(&o);
		break;
	case SENDMAIL_SMTP:
		if (o.nrcpts > 0)
			msg_warn("-bs: recipient arguments ignored");
		status = sendmail_smtp(&o);
		break;
	case SENDMAIL_PRINT:
		status = sendmail_print_queue(&o);
		break;
	case SENDMAIL_ALIASES:
		status = sendmail_build_aliases(&o);
		break;
	case SENDMAIL_VERIFY:
		status = sendmail_verify(&o);
		break;
	case SENDMAIL_FLUSH:
		status = sendmail_flush(&o);
		break;
	default:
		status = EX_SOFTWARE;
	}
	config_free(config);
	return status;
}
