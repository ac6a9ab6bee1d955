/*
 * dnsq.c - query DNS through lib/dns for the system tests.
 *
 *	dnsq [-CFSu] [-s servers] [-r resolv.conf] [-H hosts] [-a anchor]
 *	     [-t timeout_ms] [-l linger_ms] [-n repeat] [-j dir] TYPE NAME...
 *
 * Starts every query at once on one event loop (or, with -S, one after
 * the other with dns_query_sync) and prints one line per answer, in the
 * order the answers arrive:
 *
 *	NAME TYPE STATUS rcode=N secure=0|1 bogus=0|1 canon=NAME|- ms=N
 *	    [why="TEXT"] [ ; RECORD]...
 *
 * (on one line), where ms counts from the start and RECORD is
 * dns_rr_format()'s text.  A NAME of the form OTHERTYPE/NAME asks for
 * OTHERTYPE instead; a PTR query for an IP address asks for its reverse
 * name.  MX answers are sorted with dns_mx_sort() unless -u.  -n asks
 * each question that many times.  -C cancels every query as soon as it
 * is started (printing "cancelled NAME TYPE"); -F frees the resolver from
 * inside the first answer's callback; -l keeps the loop running that
 * long after the last answer, so late answers arrive and are dropped.
 * -j chroots to dir once the resolver exists, before the first query.
 * Exits 0 when every query was answered or cancelled, 1 on a setup or
 * query error, 2 on a usage error.  A test fixture, never installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "dns.h"
#include "mem.h"
#include "msg.h"
#include "str.h"

#define DNSQ_REPEAT_MAX 10000
#define MS_PER_SEC      1000
#define NS_PER_MS       1000000L

struct dnsq {
	struct event_base *base;
	struct dns_resolver *r;
	int outstanding;
	int sort_mx;
	int free_in_callback;
	int linger_ms;
	long long start_ms;
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * MS_PER_SEC + ts.tv_nsec / NS_PER_MS;
}

static void
usage(void)
{
	fprintf(stderr,
	        "usage: dnsq [-CFSu] [-s servers] [-r resolv.conf] [-H hosts] "
	        "[-a anchor] [-t timeout_ms] [-l linger_ms] [-n repeat] [-j dir] "
	        "TYPE NAME...\n");
	exit(2);
}

static void
print_answer(struct dnsq *d, struct dns_answer *a)
{
	struct str line = STR_INIT;

	if (d->sort_mx)
		dns_mx_sort(a);
	str_printf(&line, "%s %s %s rcode=%d secure=%d bogus=%d canon=%s ms=%lld", a->qname,
	        dns_type_name(a->rrtype), dns_status_name(a->status), a->rcode, a->secure, a->bogus,
	        a->canonname ? a->canonname : "-", now_ms() - d->start_ms);
	if (a->why) {
		str_appendz(&line, " why=\"");
		for (const char *p = a->why; *p; p++)
			str_appendc(&line, *p == '"' || (unsigned char)*p < 0x20 ? '?' : *p);
		str_appendc(&line, '"');
	}
	for (size_t i = 0; i < a->n; i++) {
		str_appendz(&line, " ; ");
		dns_rr_format(&a->rr[i], &line);
	}
	printf("%s\n", str_cstr(&line));
	fflush(stdout);
	str_free(&line);
}

static void
linger_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static void
maybe_finish(struct dnsq *d)
{
	struct timeval tv;

	if (d->outstanding > 0)
		return;
	tv.tv_sec = d->linger_ms / MS_PER_SEC;
	tv.tv_usec = (d->linger_ms % MS_PER_SEC) * 1000;
	event_base_once(d->base, -1, EV_TIMEOUT, linger_done, d->base, &tv);
}

static void
answered(struct dns_answer *a, void *arg)
{
	struct dnsq *d = arg;

	print_answer(d, a);
	dns_answer_free(a);
	d->outstanding--;
	if (d->free_in_callback && d->r != NULL) {
		dns_resolver_free(d->r);
		d->r = NULL;
		d->outstanding = 0;
	}
	maybe_finish(d);
}

/* TYPE/NAME overrides the type; a PTR query for an address reverses it. */
static int
question(const char *arg, int deftype, struct str *name)
{
	const char *slash = strchr(arg, '/');
	int type = deftype;

	if (slash != NULL) {
		char *t = xstrndup(arg, (size_t)(slash - arg));
		int code = dns_type_code(t);

		free(t);
		if (code > 0) {
			type = code;
			arg = slash + 1;
		}
	}
	if (type != DNS_T_PTR || dns_reverse_name(arg, name) < 0)
		str_setz(name, arg);
	return type;
}

static int
run_sync(struct dnsq *d, int deftype, char **names, int count, long repeat)
{
	struct str name = STR_INIT, err = STR_INIT;
	int status = 0;

	for (long k = 0; k < repeat; k++) {
		for (int i = 0; i < count; i++) {
			int type = question(names[i], deftype, &name);
			struct dns_answer *a;

			if (dns_query_sync(d->r, str_cstr(&name), type, &a, &err) < 0) {
				fprintf(stderr, "dnsq: %s\n", str_cstr(&err));
				str_reset(&err);
				status = 1;
				continue;
			}
			print_answer(d, a);
			dns_answer_free(a);
		}
	}
	str_free(&name);
	str_free(&err);
	return status;
}

static int
run_async(struct dnsq *d, int deftype, char **names, int count, long repeat, int cancel)
{
	struct str name = STR_INIT, err = STR_INIT;
	int status = 0;

	for (long k = 0; k < repeat; k++) {
		for (int i = 0; i < count; i++) {
			int type = question(names[i], deftype, &name);
			struct dns_query *q;

			q = dns_query(d->r, str_cstr(&name), type, answered, d, &err);
			if (q == NULL) {
				fprintf(stderr, "dnsq: %s\n", str_cstr(&err));
				str_reset(&err);
				status = 1;
				continue;
			}
			if (cancel) {
				dns_query_cancel(q);
				printf("cancelled %s %s\n", str_cstr(&name), dns_type_name(type));
				continue;
			}
			d->outstanding++;
		}
	}
	fflush(stdout);
	maybe_finish(d);
	event_base_dispatch(d->base);
	str_free(&name);
	str_free(&err);
	return status;
}

int
main(int argc, char **argv)
{
	struct dns_options opt = {0};
	struct dnsq d = {0};
	struct str err = STR_INIT;
	int c, sync = 0, cancel = 0, type, status;
	long repeat = 1;
	char *end, *jail = NULL;

	msg_init("dnsq");
	d.sort_mx = 1;
	while ((c = getopt(argc, argv, "CFSa:H:j:l:n:r:s:t:u")) != -1) {
		switch (c) {
		case 'C':
			cancel = 1;
			break;
		case 'F':
			d.free_in_callback = 1;
			break;
		case 'S':
			sync = 1;
			break;
		case 'a':
			opt.trust_anchor = optarg;
			break;
		case 'H':
			opt.hosts = optarg;
			break;
		case 'j':
			jail = optarg;
			break;
		case 'l':
			d.linger_ms = atoi(optarg);
			break;
		case 'n':
			repeat = strtol(optarg, &end, 10);
			if (*end != '\0' || repeat < 1 || repeat > DNSQ_REPEAT_MAX)
				usage();
			break;
		case 'r':
			opt.resolv_conf = optarg;
			break;
		case 's':
			opt.servers = optarg;
			break;
		case 't':
			opt.timeout_ms = atoi(optarg);
			break;
		case 'u':
			d.sort_mx = 0;
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 2 || (type = dns_type_code(argv[optind])) <= 0)
		usage();
	d.start_ms = now_ms();
	if (!sync && (d.base = event_base_new()) == NULL)
		msg_fatal("cannot create an event loop");
	if ((d.r = dns_resolver_new(d.base, &opt, &err)) == NULL) {
		fprintf(stderr, "dnsq: %s\n", str_cstr(&err));
		return 1;
	}
	if (jail != NULL && (chroot(jail) < 0 || chdir("/") < 0))
		msg_fatal("chroot %s: %m", jail);
	if (sync)
		status = run_sync(&d, type, argv + optind + 1, argc - optind - 1, repeat);
	else
		status = run_async(&d, type, argv + optind + 1, argc - optind - 1, repeat, cancel);
	dns_resolver_free(d.r);
	if (d.base)
		event_base_free(d.base);
	str_free(&err);
	return status;
}
