#!/usr/bin/env bash
# Interop with didcomm-rust through the npm package didcomm-node (pinned 0.4.1).
# Installs the package into tests/interop/node_modules (git-ignored) on first use, then runs
# interop.mjs, which packs every supported combination with one side and unpacks it with the other.
#   BIN=path/to/didcomm-gateway  (default build/release/didcomm-gateway)
#   INTEROP_SELF=1   node against itself (harness check, no binary needed)
#   INTEROP_ONLY=re  only the cases whose name matches re
# When node, npm or the registry is unavailable: "interop: SKIP (reason)", exit 0, nothing counted.
set -u
cd "$(dirname "$0")/../.."
export BIN=${BIN:-build/release/didcomm-gateway}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
DIR=tests/interop
PKG=didcomm-node
VER=0.4.1

skip() {
	echo "interop: SKIP ($1)"
	echo "interop: 0 passed, 0 failed, 1 skipped"
	exit 0
}

command -v node >/dev/null 2>&1 || skip "node not found"
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$major" -ge 16 ] 2>/dev/null || skip "node $major is too old (need >= 16 for X25519/secp256k1 JWKs)"

installed() {
	[ -f "$DIR/node_modules/$PKG/package.json" ] &&
		[ "$(node -p "require('./$DIR/node_modules/$PKG/package.json').version" 2>/dev/null)" = "$VER" ]
}

if ! installed; then
	command -v npm >/dev/null 2>&1 || skip "npm not found"
	log=$(mktemp /tmp/dcinterop-npm.XXXXXX)
	# --save-exact keeps tests/interop/package.json byte-identical ("didcomm-node": "0.4.1").
	if ! timeout 300 npm install --no-audit --no-fund --save-exact --fetch-retries=1 \
		--prefix "$DIR" "$PKG@$VER" >"$log" 2>&1 || ! installed; then
		why=$(grep -E 'ERR|error' "$log" | grep -v '^npm warn' | head -n 2 | tr '\n' ' ' | cut -c1-160)
		rm -f "$log"
		skip "npm install $PKG@$VER failed: ${why:-no detail}"
	fi
	rm -f "$log"
fi

# --no-wasm-tier-up: Node 20's V8 deadlocks now and then in the background tier-up of
# didcomm-node's wasm (the main thread waits on a futex forever, with no CPU used; seen in a fresh
# clone, the same files passing elsewhere); the baseline tier is enough for these tests.
exec node --no-wasm-tier-up "$DIR/interop.mjs"
