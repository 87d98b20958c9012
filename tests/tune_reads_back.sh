#!/usr/bin/env bash
# tilecopy-tune --quick writes a profile to a temporary path; an engine there reads it back:
# tilecopy-info must report every threshold the profile sets as coming from that file.
#   usage: tune_reads_back.sh TILECOPY_TUNE TILECOPY_INFO
set -euo pipefail
tune=$1
info=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
profile=$dir/sub/profile
"$tune" --quick --profile "$profile"
grep -q '^version 1$' "$profile"
grep -q '^nt_threshold ' "$profile"
out=$(TILECOPY_PROFILE=$profile "$info")
echo "$out"
grep -qF "profile: profile $profile (measured on this machine)" <<<"$out"
grep -qE "^(non-temporal stores from: .*|non-temporal stores: never) \(profile $profile\)$" <<<"$out"
grep -qE "^inline below: .*\(no tasks; profile $profile\)$" <<<"$out"
grep -qE "^tile: .*, block: .* \(profile $profile\)$" <<<"$out"
# A malformed profile is an error naming the file and line.
printf 'version 1\ncpu x\nmachine y\nblock_bytes lots\n' >"$profile"
if err=$(TILECOPY_PROFILE=$profile "$info" 2>&1); then echo "a malformed profile was accepted"; exit 1; fi
grep -qF "$profile:4" <<<"$err"
echo "tune_reads_back: ok"
