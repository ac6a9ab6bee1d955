/*
 * config.h - main.cf: one typed table of every parameter, its default
 * and its validation (config_params.c), and the parser of main.cf.
 *
 * main.cf is "name = value" lines; "#" starts a comment line; a line
 * that starts with white space continues the previous one; "$name" and
 * "${name}" expand to another parameter's value (recursion bounded,
 * loops reported); "$$" is a literal "$".  Values are expanded and
 * checked against their type when read, so a bad value is reported with
 * the file and line it came from.  An unknown name is a warning, not an
 * error (a newer main.cf on an older Tern still starts).
 *
 * Each daemon reads main.cf once at start, applies its master.cf "-o"
 * overrides with config_set(), calls config_validate(), and from then on
 * reads values with the typed getters.  A getter for a name that is not
 * in the parameter table is a bug (msg_panic).
 */
#ifndef TERN_CONFIG_H
#define TERN_CONFIG_H

#include "str.h"

enum param_type {
	PARAM_STR,	/* any text */
	PARAM_INT,	/* decimal integer within [min, max] */
	PARAM_BOOL,	/* yes/no */
	PARAM_TIME,	/* duration, in seconds; bare numbers use time_unit */
	PARAM_SIZE,	/* bytes; k, m, g suffixes */
	PARAM_LIST,	/* items separated by commas and/or white space */
};

struct param_def {
	const char *name;
	enum param_type type;
	const char *defval;	/* before $name expansion */
	long long min, max;	/* PARAM_INT, PARAM_TIME (seconds), PARAM_SIZE (bytes) */
	int time_unit;		/* PARAM_TIME: 's', 'm', 'h' or 'd' */
	const char *summary;	/* one line for `tern config -d` and docs */
};

extern const struct param_def param_table[];
extern const unsigned long param_count;
const struct param_def *param_find(const char *name);

struct config;

struct config *config_new(void);
struct config *config_clone(const struct config *c);
void config_free(struct config *c);

/*
 * Read main.cf.  Errors ("file:line: message") are appended to errors,
 * one per line, and counted in the return value; warnings (unknown
 * parameters) go to warnings.  A missing file is an error.
 */
int config_load(struct config *c, const char *path, struct str *errors, struct str *warnings);

/* Set one parameter (a master.cf -o override or a test).  where names
 * the origin for diagnostics ("master.cf:12").  Returns 0 or -1. */
int config_set(struct config *c, const char *name, const char *value, const char *where,
	struct str *errors);

/* Expand and type-check every parameter; return the error count. */
int config_validate(struct config *c, struct str *errors);

/* Typed getters: values are expanded and valid after config_validate. */
const char *config_str(struct config *c, const char *name);
long long config_int(struct config *c, const char *name);
int config_bool(struct config *c, const char *name);
long long config_time(struct config *c, const char *name);
long long config_size(struct config *c, const char *name);
/* A NULL-terminated list owned by c, valid until c is freed. */
char *const *config_list(struct config *c, const char *name);

const char *config_raw(const struct config *c, const char *name);
int config_is_set(const struct config *c, const char *name);
const char *config_origin(const struct config *c, const char *name);

/* Write "name = value" lines: every parameter, or those set explicitly. */
void config_dump(struct config *c, struct str *out, int only_set);

/* The process's configuration, for daemons that have one. */
extern struct config *cfg;

#endif
