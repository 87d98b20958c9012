#!/usr/bin/env bash
# tilecopy-tune measures with the engine's default linger whatever $TILECOPY_LINGER_US says
# (each variant waits out the previous one's linger, so the environment's would set the run's
# length, and the thresholds are for engines that linger as usual). Its first line names the
# linger it measured with; tilecopy-info, with no profile and no $TILECOPY_LINGER_US, gives the
# default.
#   usage: tune_sets_linger.sh TILECOPY_TUNE TILECOPY_INFO
set -euo pipefail
tune=$1
info=$2
described=$(env -u TILECOPY_LINGER_US TILECOPY_PROFILE=/dev/null/no-profile "$info")
default=$(sed -n 's/^helpers linger: \([0-9]*\) us .*/\1/p' <<<"$described")
[ -n "$default" ] || { echo "tilecopy-info names no linger:"; echo "$described"; exit 1; }
[ "$default" != 200000 ] || { echo "the default linger is the one this test sets"; exit 1; }
out=$(TILECOPY_LINGER_US=200000 "$tune" --quick --dry-run)
echo "$out"
grep -qE "^tilecopy-tune on .*, helpers linger $default us, " <<<"$out" ||
  { echo "tilecopy-tune did not measure with the default linger ($default us)"; exit 1; }
echo "tune_sets_linger: ok"
