#!/bin/sh
# run.sh BUILD: "make run".  Creates ./run/ with the embedded default
# configuration (loopback, high ports, queue and Drop under ./run/,
# unprivileged mode) and starts Tern in the foreground.
set -eu
build=$1
top=$(pwd)
run=$top/run
mkdir -p "$run/etc" "$run/spool" "$run/drop" "$run/log"
if [ ! -e "$run/etc/main.cf" ]; then
	"$build/bin/tern" -c "$run/etc" init "$run" || exit 1
fi
"$build/bin/tern" -c "$run/etc" check
if [ ! -x "$build/bin/master" ]; then
	echo "make run: configuration in $run/etc is valid; the master process is not built yet, so nothing was started"
	exit 0
fi
exec "$build/bin/tern" -c "$run/etc" start --foreground
