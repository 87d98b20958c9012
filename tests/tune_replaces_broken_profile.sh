#!/usr/bin/env bash
# tilecopy-tune repairs a corrupt profile: it reads none, so a profile at $TILECOPY_PROFILE that
# stops every engine (a version this build does not know) stops neither `--profile NEWFILE`
# nor a run that writes over the corrupt file itself.
#   usage: tune_replaces_broken_profile.sh TILECOPY_TUNE TILECOPY_INFO
set -euo pipefail
tune=$1
info=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
broken=$dir/broken
printf 'version 2\n' >"$broken"
# The file is corrupt to an engine: tilecopy-info refuses it, naming it.
if err=$(TILECOPY_PROFILE=$broken "$info" 2>&1); then echo "tilecopy-info accepted a version 2 profile"; exit 1; fi
grep -qF "$broken" <<<"$err"

TILECOPY_PROFILE=$broken "$tune" --quick --profile "$dir/new"
grep -qx 'version 1' "$dir/new"
grep -q '^nt_threshold ' "$dir/new"

# Without --profile the tuner writes where $TILECOPY_PROFILE points: over the corrupt file,
# which an engine then reads.
TILECOPY_PROFILE=$broken "$tune" --quick
grep -qx 'version 1' "$broken"
out=$(TILECOPY_PROFILE=$broken "$info")
grep -qF "profile: profile $broken (measured on this machine)" <<<"$out"
echo "tune_replaces_broken_profile: ok"
