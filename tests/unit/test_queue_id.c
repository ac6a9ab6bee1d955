/*
 * test_queue_id.c - queue IDs: format, validation, decoding, order by
 * time, uniqueness in a loop and across fork()ed processes.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queue_id.h"

#define LOOP_IDS     100000
#define CHILDREN     4
#define CHILD_IDS    20000
#define USEC_PER_SEC 1000000LL

static long long
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

static int
compare_ids(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

Test(queue_id, new_is_valid_and_decodes_to_now)
{
	char id[QUEUE_ID_SIZE];
	long long before = now_usec(), after, usec;

	queue_id_new(id);
	after = now_usec();
	cr_assert_eq(strlen(id), QUEUE_ID_LEN);
	cr_assert(queue_id_valid(id), "%s", id);
	for (size_t i = 0; i < QUEUE_ID_LEN; i++)
		cr_assert_not_null(strchr(QUEUE_ID_ALPHABET, id[i]));
	usec = queue_id_usec(id);
	/* The first ID of this process carries the clock's time. */
	cr_assert(usec >= before && usec <= after + 1, "%lld not in [%lld, %lld]", usec, before,
	        after);
	cr_assert_eq(queue_id_time(id), usec / USEC_PER_SEC);
}

Test(queue_id, make_round_trip)
{
	const long long times[] = {0, 1, 31, 32, 1700000000123456LL, (1LL << 55) - 1};
	char id[QUEUE_ID_SIZE];

	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		queue_id_make(id, times[i], 4194303);
		cr_assert(queue_id_valid(id));
		cr_assert_eq(queue_id_usec(id), times[i], "%s", id);
	}
	queue_id_make(id, 0, 0);
	cr_assert_str_eq(id, "0000000000000000");
	queue_id_make(id, 32, 33);
	cr_assert_str_eq(id, "0000000001000011");
	queue_id_make(id, (1LL << 55) - 1, 0);
	cr_assert_str_eq(id, "ZZZZZZZZZZZ00000");
}

Test(queue_id, validation)
{
	const char *bad[] = {
	        "",
	        "000000000000000",   /* 15 */
	        "00000000000000000", /* 17 */
	        "000000000000000a",  /* lower case */
	        "000000000000000I",
	        "000000000000000L",
	        "000000000000000O",
	        "000000000000000U",
	        "00000000000000.0",
	        "tmp.000000000000",
	        "0000000000000 00",
	        "../0000000000000",
	};
	char nul_inside[QUEUE_ID_SIZE + 1] = "00000000\0"
	                                     "0000000";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_not(queue_id_valid(bad[i]), "\"%s\" accepted", bad[i]);
		cr_assert_eq(queue_id_usec(bad[i]), -1);
		cr_assert_eq(queue_id_time(bad[i]), -1);
	}
	cr_assert_not(queue_id_valid(nul_inside));
	cr_assert(queue_id_valid("0123456789ABCDEF"));
	cr_assert(queue_id_valid("GHJKMNPQRSTVWXYZ"));
}

Test(queue_id, sorted_by_time)
{
	const long long times[] = {5, 31, 32, 1000, 999999, 1000000, 1700000000000000LL,
	        1700000000000001LL, 4102444800000000LL};
	char a[QUEUE_ID_SIZE], b[QUEUE_ID_SIZE];

	for (size_t i = 0; i + 1 < sizeof(times) / sizeof(times[0]); i++) {
		/* A later time sorts later whatever the process IDs. */
		queue_id_make(a, times[i], 4194303);
		queue_id_make(b, times[i + 1], 0);
		cr_assert_lt(strcmp(a, b), 0, "%s !< %s", a, b);
	}
}

Test(queue_id, unique_and_increasing_in_a_loop)
{
	char(*ids)[QUEUE_ID_SIZE] = malloc(LOOP_IDS * sizeof(*ids));
	long long start = now_usec(), end;

	cr_assert_not_null(ids);
	for (size_t i = 0; i < LOOP_IDS; i++)
		queue_id_new(ids[i]);
	end = now_usec();
	for (size_t i = 1; i < LOOP_IDS; i++)
		cr_assert_lt(strcmp(ids[i - 1], ids[i]), 0, "%s then %s", ids[i - 1], ids[i]);
	qsort(ids, LOOP_IDS, sizeof(*ids), compare_ids);
	for (size_t i = 1; i < LOOP_IDS; i++)
		cr_assert_str_neq(ids[i - 1], ids[i]);
	/* Times stay within the loop's run, plus at most one microsecond an ID. */
	cr_assert_geq(queue_id_usec(ids[0]), start);
	cr_assert_leq(queue_id_usec(ids[LOOP_IDS - 1]), end + LOOP_IDS);
	free(ids);
}

Test(queue_id, unique_across_processes)
{
	size_t total = (CHILDREN + 1) * CHILD_IDS, n = 0;
	char(*ids)[QUEUE_ID_SIZE] = malloc(total * sizeof(*ids));
	int fds[CHILDREN][2];
	pid_t pids[CHILDREN];
	ssize_t got;
	int status;

	cr_assert_not_null(ids);
	queue_id_new(ids[n++]); /* the children inherit this process's state */
	for (int c = 0; c < CHILDREN; c++) {
		cr_assert_eq(pipe(fds[c]), 0);
		pids[c] = fork();
		cr_assert_neq(pids[c], -1);
		if (pids[c] == 0) {
			char id[QUEUE_ID_SIZE];

			close(fds[c][0]);
			for (int i = 0; i < CHILD_IDS; i++) {
				queue_id_new(id);
				if (write(fds[c][1], id, sizeof(id)) != (ssize_t)sizeof(id))
					_exit(1);
			}
			_exit(0);
		}
		close(fds[c][1]);
	}
	for (int i = 1; i < CHILD_IDS; i++)
		queue_id_new(ids[n++]);
	for (int c = 0; c < CHILDREN; c++) {
		size_t want = CHILD_IDS * QUEUE_ID_SIZE, have = 0;
		char *p = (char *)ids[n];

		while (have < want && (got = read(fds[c][0], p + have, want - have)) > 0)
			have += (size_t)got;
		cr_assert_eq(have, want);
		n += CHILD_IDS;
		close(fds[c][0]);
		cr_assert_eq(waitpid(pids[c], &status, 0), pids[c]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	qsort(ids, n, sizeof(*ids), compare_ids);
	for (size_t i = 0; i < n; i++)
		cr_assert(queue_id_valid(ids[i]));
	for (size_t i = 1; i < n; i++)
		cr_assert_str_neq(ids[i - 1], ids[i], "duplicate %s", ids[i]);
	free(ids);
}
