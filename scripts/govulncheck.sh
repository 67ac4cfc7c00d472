#!/usr/bin/env bash
# Dependency audit: govulncheck against a local copy of the Go vulnerability
# database, built from the golang.org/x/vulndb module that the Go module proxy
# serves (vuln.go.dev itself is not reachable from CI).
#
#   scripts/govulncheck.sh [govulncheck arguments]     (default: ./...)
#
# Exit status: 1 on any finding, the Go standard library included (move
# go.mod's toolchain line to the Go release the report names); 0 when there
# is none. Anything else going wrong (no database, a package that does not
# build) exits non-zero too.
#
# Environment:
#   BULWARK_VULNDB_VERSION  golang.org/x/vulndb version (the pinned one below);
#                           bump it to pick up newer reports
#   BULWARK_VULNDB_CACHE    where databases are kept, one folder per version
#                           (default ${XDG_CACHE_HOME:-$HOME/.cache}/bulwark-vulndb)
#   BULWARK_VULNDB_INDEXER  builtin (default: scripts/vulncheck, standard
#                           library only, about 1 s) or official (go run
#                           golang.org/x/vulndb/cmd/indexdb@VERSION: same bytes,
#                           but about 900 MB of modules and a minute when cold)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

version=${BULWARK_VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
cache=${BULWARK_VULNDB_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/bulwark-vulndb}
indexer=${BULWARK_VULNDB_INDEXER:-builtin}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/vulncheck" ./scripts/vulncheck
db=$("$tmp/vulncheck" db -version "$version" -cache "$cache" -indexer "$indexer")

[ $# -gt 0 ] || set -- ./...
rc=0
go tool govulncheck -db "file://$db" -format json "$@" >"$tmp/govulncheck.json" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "ERROR: govulncheck failed (exit $rc)" >&2
	exit "$rc"
fi
"$tmp/vulncheck" report <"$tmp/govulncheck.json"
