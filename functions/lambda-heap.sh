#!/bin/sh
# Lambda wrapper script (AWS_LAMBDA_EXEC_WRAPPER) for the exporters: sets V8's young generation.
#
# Lambda starts a wrapper with the interpreter path and all of the runtime's own arguments. The Node.js
# runtimes start node with --max-semi-space-size = memory / 20 and --max-old-space-size = memory × 0.9
# (their /var/runtime/bootstrap): 51 MB semi-spaces at 1,024 MB, so V8 lets its young generation grow to
# 128 MB. Measured on 1M EDR events (S3 sink), the exporter then peaks at 258–261 MB; with 16 MB semi-spaces
# (Node's own default) at 159–171 MB with 10 % less CPU; 100k Mobile assets 213–240 → 141–151 MB for 11 % more
# CPU (docs/benchmarks.md, "Peak RSS").
#
# QEXPORT_SEMI_SPACE_MB (a whole number of MB, 1–256) replaces the runtime's value where it gives one, and is
# added before the runtime's entry point (the last argument) where it does not. Unset or empty: the runtime's
# command runs unchanged. Anything else is reported and ignored, so a bad value never stops the function.
# POSIX sh (no bash arrays): /bin/sh is in every Lambda runtime image; bash need not be.
set -u
if [ "$#" -eq 0 ]; then
  echo "lambda-heap.sh: no command to run" >&2
  exit 64
fi
mb="${QEXPORT_SEMI_SPACE_MB:-}"
if [ -z "$mb" ]; then
  exec "$@"
fi
case "$mb" in
  '' | *[!0-9]* | 0*) ok=0 ;;
  *) if [ "${#mb}" -le 3 ] && [ "$mb" -le 256 ]; then ok=1; else ok=0; fi ;;
esac
if [ "$ok" -ne 1 ]; then
  echo "lambda-heap.sh: QEXPORT_SEMI_SPACE_MB='$mb' is not a whole number of MB from 1 to 256; running with the runtime's own setting" >&2
  exec "$@"
fi
flag="--max-semi-space-size=$mb"
# Rebuilds "$@": the loop reads the original arguments (expanded once), appends the new list after them, and
# the originals are shifted off at the end.
count=$#
i=0
replaced=0
skip_value=0
for a in "$@"; do
  i=$((i + 1))
  if [ "$skip_value" -eq 1 ]; then
    # The value of a separate '--max-semi-space-size N' form: dropped with its flag.
    skip_value=0
    continue
  fi
  case "$a" in
    --max-semi-space-size=* | --max_semi_space_size=*)
      set -- "$@" "$flag"
      replaced=1
      ;;
    --max-semi-space-size | --max_semi_space_size)
      set -- "$@" "$flag"
      replaced=1
      skip_value=1
      ;;
    *)
      if [ "$i" -eq "$count" ] && [ "$i" -gt 1 ] && [ "$replaced" -eq 0 ]; then
        # As AWS's own wrapper example does: options go before the last argument, the runtime's entry point.
        set -- "$@" "$flag" "$a"
        replaced=1
      else
        set -- "$@" "$a"
      fi
      ;;
  esac
done
shift "$count"
if [ "$replaced" -eq 0 ]; then
  set -- "$@" "$flag"
fi
exec "$@"
