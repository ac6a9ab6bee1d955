/*
 * tern.c - the administrator's command: "tern [-c CONFDIR] COMMAND ...".
 *
 * Dispatches to one file per subcommand (check.c, map.c, ...).  Runs with
 * the invoking user's rights; trusts its arguments no more than any user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "confdir.h"
#include "msg.h"
#include "tern.h"

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv, const char *confdir);
	const char *usage;
};

static const struct subcommand subcommands[] = {
        {"check", tern_check, "check                 validate main.cf, master.cf and every table"},
        {"map", tern_map, "map build [-t cdb|hash|btree] [-a] FILE | map query SPEC KEY"},
        {"init", tern_init, "init RUNDIR           write the development configuration"},
        {"config", tern_config, "config [-d|-n] [-x] [NAME...]   print parameters (-m: markdown)"},
        {"start", tern_start, "start [--foreground]  start the master process"},
        {"stop", tern_stop, "stop                  stop master and every daemon, and wait"},
        {"reload", tern_reload, "reload                re-read main.cf and master.cf"},
        {"status", tern_status, "status [--json]       processes and listeners"},
        {"setup", tern_setup,
                "setup                 root mode: create the tern user and the queue"},
        {"queue", tern_queue,
                "queue list|show ID|hold ID|release ID|delete ID|requeue ID|flush [DOMAIN]"},
};

static void
usage(void)
{
	fprintf(stderr, "usage: tern [-c CONFDIR] COMMAND [ARGS]\ncommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(stderr, "  %s\n", subcommands[i].usage);
	exit(EX_USAGE);
}

int
main(int argc, char **argv)
{
	const char *confdir_opt = NULL;
	int ch;

	msg_init("tern");
	while ((ch = getopt(argc, argv, "+c:hv")) != -1) {
		switch (ch) {
		case 'c':
			confdir_opt = optarg;
			break;
		case 'v':
			msg_verbose++;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[0], subcommands[i].name) == 0)
			return subcommands[i].run(argc, argv, config_dir(confdir_opt));
	msg_error("unknown command \"%s\"", argv[0]);
	usage();
}
