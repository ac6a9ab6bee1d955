/*
 * check.c - "tern check": validate main.cf, master.cf and every table.
 */
#include <sysexits.h>

#include "msg.h"
#include "tern.h"

int
tern_check(int argc, char **argv, const char *confdir)
{
	(void)argc;
	(void)argv;
	msg_error("%s: check is not built yet", confdir);
	return EX_SOFTWARE;
}
