#!/bin/sh
# bench/run.sh BUILD - every benchmark of bench/ ("make bench"): the
# shell scripts and the Python scripts (run by Debian's /usr/bin/python3),
# one after the other, then the summary table of their figures
# (bench/summary.py).  Everything printed is also kept in
# BUILD/bench/bench.log.  BENCH_ONLY="accept e2e" runs only those.
set -u
build=${1:?usage: run.sh BUILD}
dir=$(dirname "$0")
log=$build/bench/bench.log
mkdir -p "$build/bench"
: > "$log"
status=0
for b in "$dir"/*.sh "$dir"/*.py; do
	name=$(basename "$b")
	case "$name" in
	run.sh | common.sh | benchlib.py | *_instance.py | summary.py) continue ;;
	esac
	if [ -n "${BENCH_ONLY:-}" ]; then
		case " $BENCH_ONLY " in *" ${name%.*} "*) ;; *) continue ;; esac
	fi
	echo "== $name" | tee -a "$log"
	(
		case "$b" in
		*.py) PYTHONUNBUFFERED=1 /usr/bin/python3 "$b" "$build" ;;
		*) sh "$b" "$build" ;;
		esac
		echo "== $name: exit $?"
	) 2>&1 | tee -a "$log"
	tail -n 1 "$log" | grep -q ': exit 0$' || status=1
done
/usr/bin/python3 "$dir/summary.py" "$log"
exit $status
