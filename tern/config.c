/*
 * config.c - "tern config": print main.cf parameters.
 *
 *	tern config [-d | -n] [-x] [NAME...]
 *		every parameter (or the NAMEs) as "name = value": the value
 *		in effect, the default (-d), or only those set in main.cf
 *		(-n); -x expands $name references
 *	tern config -m
 *		the parameter table as a Markdown table (docs/)
 *
 * Exit status: 0; EX_USAGE bad options; EX_CONFIG main.cf has errors
 * (reported on standard error, the values are printed anyway) or a NAME
 * is not a parameter.  Runs with the invoking user's rights.  Called by
 * tern.c.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "msg.h"
#include "parse.h"
#include "str.h"
#include "tern.h"

/* Bounds from here up are shown as "no upper bound". */
#define TYPE_NO_MAX 1000000000LL

static int
config_usage(void)
{
	fprintf(stderr,
	        "usage: tern config [-d | -n] [-x] [NAME...]\n"
	        "       tern config -m\n");
	return EX_USAGE;
}

static const char *
type_name(enum param_type t)
{
	switch (t) {
	case PARAM_STR:
		return "text";
	case PARAM_INT:
		return "number";
	case PARAM_BOOL:
		return "yes/no";
	case PARAM_TIME:
		return "time";
	case PARAM_SIZE:
		return "size";
	case PARAM_LIST:
		return "list";
	}
	return "?";
}

/* The parameter table in Markdown, for docs/configuration.md. */
static void
print_markdown(void)
{
	printf("| parameter | type | default | meaning |\n|---|---|---|---|\n");
	for (unsigned long i = 0; i < param_count; i++) {
		const struct param_def *p = &param_table[i];
		char lo[32], hi[32];

		printf("| `%s` | %s", p->name, type_name(p->type));
		if ((p->type == PARAM_INT || p->type == PARAM_SIZE) && p->max >= TYPE_NO_MAX)
			printf(" >= %lld", p->min);
		else if (p->type == PARAM_INT || p->type == PARAM_SIZE)
			printf(" %lld..%lld", p->min, p->max);
		else if (p->type == PARAM_TIME) {
			format_duration(p->min, lo, sizeof(lo));
			format_duration(p->max, hi, sizeof(hi));
			printf(" %s..%s", lo, hi);
		}
		printf(" | %s%s%s | %s |\n", *p->defval ? "`" : "",
		        *p->defval ? p->defval : "(empty)", *p->defval ? "`" : "", p->summary);
	}
}

static int
print_one(struct config *c, const char *name, int expand)
{
	struct str why = STR_INIT;
	const char *value;

	if (expand) {
		if (!config_valid(c, name, &why)) {
			msg_error("%s: parameter %s: %s", config_origin(c, name), name,
			        str_cstr(&why));
			str_free(&why);
			return -1;
		}
		value = param_find(name) ? config_str(c, name) : config_raw(c, name);
	} else {
		value = config_raw(c, name);
	}
	printf("%s =%s%s\n", name, *value ? " " : "", value);
	str_free(&why);
	return 0;
}

int
tern_config(int argc, char **argv, const char *confdir)
{
	struct str errors = STR_INIT, warnings = STR_INIT;
	int ch, defaults = 0, only_set = 0, expand = 0, status = EX_OK;
	struct config *c;

	optind = 0; /* glibc: start afresh on this argument vector */
	while ((ch = getopt(argc, argv, "+dmnx")) != -1) {
		switch (ch) {
		case 'd':
			defaults = 1;
			break;
		case 'm':
			print_markdown();
			return EX_OK;
		case 'n':
			only_set = 1;
			break;
		case 'x':
			expand = 1;
			break;
		default:
			return config_usage();
		}
	}
	if (defaults && only_set)
		return config_usage();
	c = config_new();
	if (!defaults && config_load_dir(c, confdir, &errors, &warnings) > 0)
		status = EX_CONFIG;
	fputs(str_cstr(&warnings), stderr);
	fputs(str_cstr(&errors), stderr);
	if (optind < argc) {
		for (int i = optind; i < argc; i++) {
			if (config_raw(c, argv[i]) == NULL) {
				msg_error("unknown parameter %s", argv[i]);
				status = EX_CONFIG;
			} else if (print_one(c, argv[i], expand) < 0) {
				status = EX_CONFIG;
			}
		}
	} else {
		for (unsigned long i = 0; i < param_count; i++) {
			const char *name = param_table[i].name;

			if (only_set && !config_is_set(c, name))
				continue;
			if (print_one(c, name, expand) < 0)
				status = EX_CONFIG;
		}
		if (!defaults) {
			/* Names set in main.cf that Tern does not know. */
			struct str dump = STR_INIT;
			const char *line, *eol;

			config_dump(c, &dump, 1);
			for (line = str_cstr(&dump); *line; line = eol + 1) {
				char name[CONFIG_NAME_MAX + 1];
				size_t n = strcspn(line, " ");

				eol = strchr(line, '\n');
				if (n <= CONFIG_NAME_MAX) {
					memcpy(name, line, n);
					name[n] = '\0';
					if (param_find(name) == NULL)
						printf("%.*s\n", (int)(eol - line), line);
				}
			}
			str_free(&dump);
		}
	}
	if (fflush(stdout) != 0)
		status = EX_IOERR;
	config_free(c);
	str_free(&errors);
	str_free(&warnings);
	return status;
}
