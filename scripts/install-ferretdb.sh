#!/usr/bin/env bash
# Build FerretDB v1.24.2 from the Go module proxy into .local/bin/ferretdb (once; skipped when it is there).
# The Go module pins the version (tools/ferretdb/go.mod). FerretDB's version package panics unless the source tree
# carries build/version/version.txt, which module downloads lack, so we build from a vendored copy that has it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/.local/bin/ferretdb"
version=v1.24.2
# Not "--version | grep -q": under pipefail, grep's early exit kills ferretdb with SIGPIPE and the check fails.
if [ -x "$bin" ]; then
  case "$("$bin" --version 2>/dev/null)" in *"version: $version"*) exit 0 ;; esac
fi
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "install-ferretdb: Go >= 1.24 is needed (not found in PATH or /usr/local/go/bin)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$top/tools/ferretdb/go.mod" "$top/tools/ferretdb/go.sum" "$work/"
cd "$work"
go mod vendor
echo "$version" > vendor/github.com/FerretDB/FerretDB/build/version/version.txt
mkdir -p "$(dirname "$bin")"
CGO_ENABLED=0 go build -mod=vendor -trimpath -o "$bin" github.com/FerretDB/FerretDB/cmd/ferretdb
echo "install-ferretdb: built $("$bin" --version 2>&1 | head -1)"
