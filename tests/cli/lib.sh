#!/usr/bin/env bash
# libdidcomm.so as a library others link: a SONAME, NEEDED entries only for what core uses (the
# queue's sqlite3 and the daemon's curl, libwebsockets and libuv are not), and only the public
# dc_ API exported (no dc__ internals). Checks the release build (LIB=... for another).
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
LIB=${LIB:-build/release/libdidcomm.so}

if [ ! -e "$LIB" ]; then
	bad "library built" "$LIB missing (make build)"
	summary lib
	exit 1
fi
readelf -d "$LIB" >"$T/dyn" 2>"$T/err" || bad "readelf" "$(head -c 300 "$T/err")"
soname=$(sed -nE 's/.*\(SONAME\).*\[(.*)\].*/\1/p' "$T/dyn")
[ -n "$soname" ] && ok "SONAME $soname" || bad "SONAME" "none in $LIB"
[ -n "$soname" ] && [ -e "$(dirname "$LIB")/$soname" ] && ok "$soname beside $LIB" ||
	bad "$soname beside $LIB" "missing"
needed=$(sed -nE 's/.*\(NEEDED\).*\[(.*)\].*/\1/p' "$T/dyn" | tr '\n' ' ')
for l in libsqlite3 libcurl libwebsockets libuv libcunit; do
	case " $needed" in
	*" $l"*) bad "no $l NEEDED" "NEEDED: $needed" ;;
	*) ok "no $l NEEDED" ;;
	esac
done
nm -D --defined-only "$LIB" 2>"$T/err" | awk '{ print $NF }' >"$T/syms" || bad "nm" "$(head -c 300 "$T/err")"
n=$(wc -l <"$T/syms")
[ "$n" -gt 0 ] && ok "$n symbols exported" || bad "symbols exported" "none"
others=$(grep -vE '^dc_[a-z0-9]' "$T/syms" | head -n 5 | tr '\n' ' ')
[ -z "$others" ] && ok "only dc_ symbols exported" || bad "only dc_ symbols exported" "also: $others"
internals=$(grep -E '^dc__' "$T/syms" | head -n 5 | tr '\n' ' ')
[ -z "$internals" ] && ok "no dc__ internals exported" || bad "no dc__ internals exported" "$internals"
# the public API is still there
for s in dc_init dc_pack dc_unpack dc_keystore_load_file; do
	grep -qx "$s" "$T/syms" && ok "exports $s" || bad "exports $s" "missing"
done
grep -q '^dc_queue' "$T/syms" && bad "the queue is not in libdidcomm" "$(grep '^dc_queue' "$T/syms" | head -n 3 | tr '\n' ' ')" ||
	ok "the queue is not in libdidcomm"
summary lib
