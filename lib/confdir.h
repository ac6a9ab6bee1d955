/*
 * confdir.h - which configuration directory a command uses.
 *
 * The -c/-C option when given, else the TERN_CONFIG_DIR environment
 * variable, else the installed default (TERN_CONFIG_DIR in paths.h).
 * Programs that run with privileges the caller lacks (postdrop, sendmail
 * run by an ordinary user) must also check the choice against
 * alternate_config_directories (config_dir_allowed).
 */
#ifndef TERN_CONFDIR_H
#define TERN_CONFDIR_H

const char *config_dir(const char *option);
const char *config_dir_default(void);

struct str;

/*
 * May dir be used by a program that runs with privileges its caller
 * lacks?  1 when dir is the installed default or is listed in the
 * alternate_config_directories of the default main.cf (compared as
 * text, trailing slashes ignored); else 0 with the reason in why.  A
 * missing or broken default main.cf allows only the default.
 */
int config_dir_allowed(const char *dir, struct str *why);
/* The same with default_dir in place of the installed default (tests). */
int config_dir_allowed_by(const char *default_dir, const char *dir, struct str *why);

#endif
