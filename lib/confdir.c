/*
 * confdir.c - choose the configuration directory; see confdir.h.
 * Trusts the environment only as far as the caller's own rights go.
 */
#include <stdlib.h>

#include "confdir.h"
#include "paths.h"

const char *
config_dir_default(void)
{
	return TERN_CONFIG_DIR;
}

const char *
config_dir(const char *option)
{
	const char *env;

	if (option && *option)
		return option;
	env = getenv("TERN_CONFIG_DIR");
	if (env && *env)
		return env;
	return TERN_CONFIG_DIR;
}
