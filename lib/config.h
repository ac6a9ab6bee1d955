/*
 * config.h - main.cf: one typed table of every parameter, its default
 * and its validation (config_params.c), and the parser of main.cf.
 *
 * main.cf is "name = value" lines; "#" starts a comment line; a line
 * that starts with white space continues the previous one; "$name" and
 * "${name}" or "$(name)" expand to another parameter's value (recursion
 * bounded at CONFIG_EXPAND_DEPTH, loops reported); "$$" is a literal "$"
 * and any other "$" is an error.  config_load() checks the syntax;
 * config_validate() expands every value and checks it against its type,
 * so a bad value is reported with the file and line it came from.  An
 * unknown name is a warning, not an error (a newer main.cf on an older
 * Tern still starts).  A list is split on commas and white space, except
 * inside balanced braces: "inline:{a=1, b=2}" is one item.
 *
 * Each daemon reads main.cf once at start, applies its master.cf "-o"
 * overrides with config_set(), calls config_validate(), and from then on
 * reads values with the typed getters.  A getter for a name that is not
 * in the parameter table is a bug (msg_panic).
 */
#ifndef TERN_CONFIG_H
#define TERN_CONFIG_H

#include "str.h"

#define CONFIG_LINE_MAX     65536 /* bytes in one main.cf line, logical or physical */
#define CONFIG_NAME_MAX     100   /* bytes in one parameter name */
#define CONFIG_EXPAND_DEPTH 20    /* nested $name expansions */

enum param_type {
	PARAM_STR,  /* any text */
	PARAM_INT,  /* decimal integer within [min, max] */
	PARAM_BOOL, /* yes/no */
	PARAM_TIME, /* duration, in seconds; bare numbers use time_unit */
	PARAM_SIZE, /* bytes; k, m, g suffixes */
	PARAM_LIST, /* items separated by commas and/or white space */
};

struct param_def {
	const char *name;
	enum param_type type;
	const char *defval;  /* before $name expansion */
	long long min, max;  /* PARAM_INT, PARAM_TIME (seconds), PARAM_SIZE (bytes) */
	int time_unit;       /* PARAM_TIME: 's', 'm', 'h' or 'd' */
	const char *summary; /* one line for `tern config -d` and docs */
	/* Optional check of the expanded value beyond its type: 0, or -1
	 * with the reason appended to why (a fixed set of words, a list of
	 * durations, network syntax, ...). */
	int (*check)(const char *value, struct str *why);
};

extern const struct param_def param_table[];
extern const unsigned long param_count;
const struct param_def *param_find(const char *name);

/* Check an expanded value against p's type, bounds and check: 0, or -1
 * with the reason appended to why. */
int param_check_value(const struct param_def *p, const char *value, struct str *why);

/* Split a list value as config_list does: a NULL-terminated array of
 * xstrdup'ed items; free with param_list_free(). */
char **param_list_split(const char *value);
void param_list_free(char **items);

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

/*
 * Read DIR/main.cf, with config_directory's default made DIR (absolute,
 * so that "$config_directory/..." works from any working directory).
 * Same results as config_load.
 */
int config_load_dir(struct config *c, const char *dir, struct str *errors, struct str *warnings);

/*
 * Set one parameter (a master.cf -o override or a test).  where names
 * the origin for diagnostics ("master.cf:12").  Returns 0, or -1 with
 * "where: parameter NAME: reason" appended to errors for a bad name, a
 * bad "$" escape, or (values without "$") a value its type refuses.  An
 * unknown name is accepted (the caller warns).
 */
int config_set(struct config *c, const char *name, const char *value, const char *where,
        struct str *errors);

/* Expand and type-check every parameter; return the error count. */
int config_validate(struct config *c, struct str *errors);

/*
 * Typed getters: values are expanded and valid after config_validate.
 * A getter expands on first use and caches the result; a value that does
 * not expand or parse is fatal (msg_fatal), a name that is not in the
 * table or a getter of the wrong type is a bug (msg_panic).  config_str
 * works for every type; config_size also reads PARAM_INT values.  An
 * empty myhostname reads as gethostname(); an unset mydomain as
 * myhostname without its first label ("localdomain" when it has none).
 */
const char *config_str(struct config *c, const char *name);
long long config_int(struct config *c, const char *name);
int config_bool(struct config *c, const char *name);
long long config_time(struct config *c, const char *name);
long long config_size(struct config *c, const char *name);
/* A NULL-terminated list owned by c, valid until c is freed. */
char *const *config_list(struct config *c, const char *name);

/* 1 when name's value expands and passes its checks, else 0 (with the
 * reason appended to why when not NULL); never fatal. */
int config_valid(struct config *c, const char *name, struct str *why);

const char *config_raw(const struct config *c, const char *name);
int config_is_set(const struct config *c, const char *name);
/* "file:line" of the setting, the config_set() where, or "default". */
const char *config_origin(const struct config *c, const char *name);
/* The main.cf path given to config_load, or "main.cf" before one. */
const char *config_path(const struct config *c);

/* Write "name = value" lines: every parameter, or those set explicitly. */
void config_dump(struct config *c, struct str *out, int only_set);

/* The process's configuration, for daemons that have one. */
extern struct config *cfg;

#endif
