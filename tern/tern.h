/*
 * tern.h - the administration command's subcommands, one file each.
 *
 * Each subcommand takes its own argv (argv[0] is the subcommand's name)
 * and the configuration directory chosen by -c, TERN_CONFIG_DIR or the
 * installed default, and returns the process exit status (sysexits.h).
 */
#ifndef TERN_TERN_H
#define TERN_TERN_H

int tern_check(int argc, char **argv, const char *confdir);
int tern_map(int argc, char **argv, const char *confdir);
int tern_init(int argc, char **argv, const char *confdir);
int tern_config(int argc, char **argv, const char *confdir);
int tern_start(int argc, char **argv, const char *confdir);
int tern_stop(int argc, char **argv, const char *confdir);
int tern_reload(int argc, char **argv, const char *confdir);
int tern_status(int argc, char **argv, const char *confdir);
int tern_setup(int argc, char **argv, const char *confdir);
int tern_queue(int argc, char **argv, const char *confdir);

struct attr_list;
struct config;
struct str;

/*
 * Send request=VERB to master's control socket and read its reply into
 * r.  Returns 0, or -1 with err set; *not_running says that no master
 * listens (the socket is missing or refuses connections).
 */
int tern_control_request(
        struct config *c, const char *verb, struct attr_list *r, int *not_running, struct str *err);

#endif
