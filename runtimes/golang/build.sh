#!/bin/sh
# The two build steps of a Go function image; only sh and go.
#   build.sh deps    download the modules of go.mod and precompile the
#                    standard library packages (a cached layer)
#   build.sh binary  compile the function binary to /function
set -eu
cd /src

# Both steps compile with the same (default) flags, so that the binary step
# finds the packages the deps step compiled in the build cache; -trimpath or
# -tags would also make Go recompile a preinstalled standard library.

case "${1:-}" in
deps)
  requires=no
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in require*) requires=yes ;; esac
  done <go.mod
  if [ "$requires" = yes ] && [ ! -f go.sum ]; then
    echo "eserveless: go.mod requires modules but there is no go.sum: they are checked against the checksum database (commit go.sum for reproducible builds)"
  fi
  go mod download
  # Best effort: only a speed-up for every later build of this project.
  if go build -mod=mod net/http os/signal reflect runtime/debug encoding/json time/tzdata; then
    echo "eserveless: standard library precompiled"
  else
    echo "eserveless: could not precompile the standard library; the build compiles it"
  fi
  ;;
binary)
  mod=-mod=mod
  if [ -f vendor/modules.txt ]; then mod=-mod=vendor; fi
  if ! go build "$mod" -ldflags "-s -w" -o /function ./_eserveless_main; then
    echo "eserveless: the Go build failed (the compiler's messages are above). The functions must compile as the package next to go.mod." >&2
    exit 1
  fi
  echo "eserveless: built /function"
  ;;
*)
  echo "usage: build.sh deps|binary" >&2
  exit 2
  ;;
esac
