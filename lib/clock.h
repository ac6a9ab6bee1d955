/*
 * clock.h - the monotonic clock in milliseconds, for deadlines and
 * timers.  It never steps back when the wall clock is changed.
 */
#ifndef TERN_CLOCK_H
#define TERN_CLOCK_H

long long clock_ms(void);

#endif
