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

#endif
