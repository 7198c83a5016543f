#!/usr/bin/env bash
# make install DESTDIR=...: every file where it belongs; the man pages pass `mandoc -T lint`
# (or `groff -z -wall`) and `man -l` renders them; the unit passes `systemd-analyze verify`
# (where there is one), its paths pointing into DESTDIR; a program builds against the
# installed libdidcomm through its pkg-config file and runs; the installed program and
# configuration work (--version, run -t).
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
D="$T/stage"
# (a make of its own: not the jobserver of a `make test` that may be running this)
MK="env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s"
if $MK install DESTDIR="$D" PREFIX=/usr/local > "$T/install.log" 2>&1; then ok "make install DESTDIR"; else
	bad "make install" "$(tail -5 "$T/install.log")"; summary cli-install; exit 1; fi
P=$D/usr/local
for f in bin/didcomm-gateway lib/libdidcomm.so.0 lib/libdidcomm.so include/didcomm.h lib/pkgconfig/libdidcomm.pc \
	etc/didcomm-gateway/gateway.conf etc/didcomm-gateway/rules.conf lib/systemd/system/didcomm-gateway.service \
	share/man/man1/didcomm-gateway.1 share/man/man5/didcomm-gateway.conf.5 share/man/man5/didcomm-gateway-rules.5; do
	[ -e "$P/$f" ] || bad "installed: $f"
done
ok "program, library, header, pkg-config file, configuration, unit and man pages installed"
# a second install keeps the operator's configuration
echo "# mine" >> "$P/etc/didcomm-gateway/gateway.conf"
$MK install DESTDIR="$D" PREFIX=/usr/local > "$T/install2.log" 2>&1
grep -q '^# mine' "$P/etc/didcomm-gateway/gateway.conf" && grep -q 'not replaced' "$T/install2.log" &&
	ok "a second install keeps the configuration there" || bad "config kept" "$(cat "$T/install2.log")"

for m in "$P"/share/man/man1/*.1 "$P"/share/man/man5/*.5; do
	n=$(basename "$m")
	if command -v mandoc > /dev/null; then
		mandoc -T lint -W warning "$m" > "$T/lint" 2>&1 && ok "mandoc -T lint $n" || bad "lint $n" "$(head -3 "$T/lint")"
	elif command -v groff > /dev/null; then
		groff -z -wall -mdoc "$m" > "$T/lint" 2>&1 && [ ! -s "$T/lint" ] && ok "groff -z -wall $n" || bad "groff $n" "$(head -3 "$T/lint")"
	else
		known "lint $n" "neither mandoc nor groff installed"
	fi
	if command -v man > /dev/null; then
		MANWIDTH=80 MANPAGER=cat man -l "$m" > "$T/rendered" 2> "$T/man.err" && [ "$(wc -l < "$T/rendered")" -gt 20 ] &&
			ok "man -l renders $n" || bad "man -l $n" "$(head -3 "$T/man.err")"
	fi
done

UNIT=$P/lib/systemd/system/didcomm-gateway.service
grep -q '^Type=notify' "$UNIT" && grep -q '^WatchdogSec=' "$UNIT" && grep -q '^ProtectSystem=strict' "$UNIT" &&
	grep -q '^NoNewPrivileges=yes' "$UNIT" && grep -q '^DynamicUser=yes' "$UNIT" && grep -q '^StateDirectory=' "$UNIT" &&
	grep -q '^Restart=on-failure' "$UNIT" && ok "unit: Type=notify, watchdog, hardened, DynamicUser, StateDirectory" ||
	bad "unit keys"
grep -q "^ExecStart=/usr/local/bin/didcomm-gateway run -c /usr/local/etc/didcomm-gateway/gateway.conf" "$UNIT" &&
	ok "unit: the PREFIX's paths" || bad "unit paths" "$(grep ^Exec "$UNIT")"
if command -v systemd-analyze > /dev/null; then
	# verify checks that ExecStart's program exists: the same unit with its paths in DESTDIR
	mkdir -p "$T/unit"
	sed "s|/usr/local/|$P/|g" "$UNIT" > "$T/unit/didcomm-gateway.service"
	MANPATH=$P/share/man systemd-analyze verify "$T/unit/didcomm-gateway.service" > "$T/verify" 2>&1 &&
		ok "systemd-analyze verify (Documentation= man pages found too)" || bad "systemd-analyze verify" "$(head -5 "$T/verify")"
else
	known "systemd-analyze verify" "no systemd-analyze here"
fi

# the library through its pkg-config file
cat > "$T/x.c" <<'C'
#include <didcomm.h>
#include <stdio.h>
int main(void) { if (dc_init() != DC_OK) return 1; puts(dc_strerror(DC_ERR_CRYPTO)); return 0; }
C
FLAGS=$(PKG_CONFIG_PATH=$P/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D pkg-config --cflags --libs libdidcomm 2>"$T/pc.err")
if [ -n "$FLAGS" ] && cc -o "$T/x" "$T/x.c" $FLAGS 2> "$T/cc.err" && LD_LIBRARY_PATH=$P/lib "$T/x" > /dev/null; then
	ok "pkg-config libdidcomm: builds and runs against the installed library"
else
	bad "pkg-config build" "$FLAGS $(cat "$T/pc.err" "$T/cc.err" | head -3)"
fi

"$P/bin/didcomm-gateway" --version | grep -q "^didcomm-gateway [0-9]" && ok "installed program: --version" || bad "--version"
"$P/bin/didcomm-gateway" run -t -c "$P/etc/didcomm-gateway/gateway.conf" > "$T/t" 2>&1 &&
	grep -q "state_dir /var/lib/didcomm-gateway" "$T/t" && ok "the installed configuration passes run -t, state in /var/lib" ||
	bad "run -t installed conf" "$(head -3 "$T/t")"
summary cli-install
