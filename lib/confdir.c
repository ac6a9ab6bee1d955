/*
 * confdir.c - choose the configuration directory; see confdir.h.
 * Trusts the environment only as far as the caller's own rights go;
 * config_dir_allowed() trusts only the default main.cf, for the setgid
 * postdrop and for sendmail run by an ordinary user.
 */
#include <stdlib.h>
#include <string.h>

#include "confdir.h"
#include "config.h"
#include "paths.h"
#include "str.h"

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

/* The length of path without trailing slashes (but "/" stays "/"). */
static size_t
trimmed_len(const char *path)
{
	size_t len = strlen(path);

	while (len > 1 && path[len - 1] == '/')
		len--;
	return len;
}

static int
same_dir(const char *a, const char *b)
{
	size_t la = trimmed_len(a), lb = trimmed_len(b);

	return la == lb && memcmp(a, b, la) == 0;
}

int
config_dir_allowed_by(const char *default_dir, const char *dir, struct str *why)
{
	struct str errors = STR_INIT, warnings = STR_INIT;
	struct config *c;
	char *const *list;
	int allowed = 0;

	if (same_dir(dir, default_dir))
		return 1;
	c = config_new();
	if (config_load_dir(c, default_dir, &errors, &warnings) == 0 &&
	        config_valid(c, "alternate_config_directories", NULL)) {
		list = config_list(c, "alternate_config_directories");
		for (; *list && !allowed; list++)
			allowed = (*list)[0] == '/' && same_dir(*list, dir);
	}
	if (!allowed)
		str_printf(why,
		        "%s is not the default configuration directory %s and not listed in "
		        "its alternate_config_directories",
		        dir, default_dir);
	config_free(c);
	str_free(&errors);
	str_free(&warnings);
	return allowed;
}

int
config_dir_allowed(const char *dir, struct str *why)
{
	return config_dir_allowed_by(TERN_CONFIG_DIR, dir, why);
}
