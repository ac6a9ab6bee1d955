/*
 * map.c - "tern map build": compile a text table.
 */
#include <sysexits.h>

#include "msg.h"
#include "tern.h"

int
tern_map(int argc, char **argv, const char *confdir)
{
	(void)argc;
	(void)argv;
	(void)confdir;
	msg_error("map is not built yet");
	return EX_SOFTWARE;
}
