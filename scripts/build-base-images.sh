#!/usr/bin/env bash
# Build local stand-ins for eserveless' production base images (node:20-alpine,
# golang) on a machine that cannot pull from any container registry.
#
# Each stand-in is a minimal root filesystem assembled from the host's own
# binaries (Node.js + npm, Debian's golang-go, dash, env, CA certificates),
# tarred deterministically and fed to `docker import`.
#
#   eserveless-local/node:<node major>   e.g. eserveless-local/node:20
#   eserveless-local/go:<go major.minor> e.g. eserveless-local/go:1.19
#
# Usage: scripts/build-base-images.sh [--force] [--check] [--only node|go] [--print-env]
#   --force      rebuild even if the image exists and is up to date
#   --check      run the smoke tests against existing images too
#   --only X     build just the node or just the go stand-in
#   --print-env  only print ESERVELESS_NODE_IMAGE=... / ESERVELESS_GO_IMAGE=...
#                lines (one per line, no quoting) and exit; builds nothing
#
# An existing image is reused when its fingerprint label (this script + host
# toolchain versions) matches; otherwise it is rebuilt. Freshly imported images
# are smoke-tested (as root and as 65534:65534) and removed again on failure.
set -euo pipefail

readonly REPO_PREFIX=eserveless-local
readonly LABEL_KEY=org.eserveless.standin.fingerprint
readonly BASE_PATH=/usr/local/bin:/usr/bin:/bin
readonly CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
readonly -a CORE_TOOLS=(cat chmod chown cp ln ls mkdir mv rm sleep touch)
# Deterministic tar stream (https://reproducible-builds.org/docs/archives/).
# shellcheck disable=SC2054 # the commas belong to --pax-option
readonly -a TAR_OPTS=(
  --sort=name --format=posix
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime
  --mtime=@0 --numeric-owner --no-acls --no-xattrs --no-selinux
)

force=0 check=0 only="" print_env=0
while (($#)); do
  case $1 in
    --force) force=1 ;;
    --check) check=1 ;;
    --only)
      [[ $# -ge 2 && ($2 == node || $2 == go) ]] || { echo "--only takes 'node' or 'go'" >&2; exit 2; }
      only=$2; shift ;;
    --print-env) print_env=1 ;;
    -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

export PATH="$PATH:/usr/sbin:/sbin" # chroot, mknod

log() { printf '[build-base-images] %s\n' "$*" >&2; }
die() { printf '[build-base-images] ERROR: %s\n' "$*" >&2; exit 1; }
now() { printf '%s' "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# ---------------------------------------------------------------- host facts
# Executable paths are resolved on the host but placed at alpine-like paths.
node_bin=$(readlink -f "$(command -v node)") || die "node not found on PATH"
node_version=$("$node_bin" -p 'process.versions.node')
node_major=${node_version%%.*}
npm_dir=""
for d in /usr/lib/node_modules/npm /usr/local/lib/node_modules/npm "$(dirname "$node_bin")/../lib/node_modules/npm"; do
  if [[ -f $d/bin/npm-cli.js ]]; then npm_dir=$(readlink -f "$d"); break; fi
done
NODE_IMAGE=$REPO_PREFIX/node:$node_major

go_bin=$(command -v go || true)
if [[ -n $go_bin ]]; then
  goroot=$("$go_bin" env GOROOT)
  go_version=$("$go_bin" env GOVERSION)   # e.g. go1.19.8
  go_minor=$(sed -E 's/^go([0-9]+\.[0-9]+).*/\1/' <<<"$go_version")
  [[ $go_minor =~ ^[0-9]+\.[0-9]+$ ]] || die "cannot parse go version '$go_version'"
else
  goroot="" go_version="" go_minor=""
fi
GO_IMAGE=$REPO_PREFIX/go:${go_minor:-unknown}

if ((print_env)); then
  printf 'ESERVELESS_NODE_IMAGE=%s\n' "$NODE_IMAGE"
  printf 'ESERVELESS_GO_IMAGE=%s\n' "$GO_IMAGE"
  exit 0
fi

docker info >/dev/null 2>&1 || die "docker daemon not reachable (run scripts/start-docker.sh first)"
[[ -n $npm_dir ]] || die "npm not found under /usr/lib/node_modules or /usr/local/lib/node_modules"

script_sum=$(sha256sum "$0" | cut -c1-16)

# One build at a time per machine; a waiting run then finds the images fresh.
exec 9>"${TMPDIR:-/tmp}/eserveless-build-base-images.lock"
flock -n 9 || { log "another build-base-images.sh is running: waiting for it"; flock 9; }

workdir=$(mktemp -d "${TMPDIR:-/tmp}/eserveless-rootfs.XXXXXX")
cleanup() { rm -rf -- "$workdir"; }
trap cleanup EXIT

# -------------------------------------------------------------- rootfs helpers
# Libraries (and the ELF interpreter) that the dynamic executable $1 needs.
libs_of() {
  local out
  if ! out=$(ldd -- "$1" 2>&1); then
    [[ $out == *"not a dynamic executable"* || $out == *"statically linked"* ]] && return 0
    die "ldd $1 failed: $out"
  fi
  [[ $out != *"not found"* ]] || die "unresolved libraries for $1: $out"
  awk '$2 == "=>" { if ($3 ~ /^\//) print $3; next } $1 ~ /^\// { print $1 }' <<<"$out"
}

# Copy host file $2 (dereferenced) into rootfs $1 at the same path, under the
# host's canonical directory (so /lib/x/libc.so.6 lands in usr/lib/x, which the
# rootfs' merged-/usr links make reachable under /lib/x as well).
copy_same_path() {
  local dir
  dir=$(readlink -f -- "$(dirname -- "$2")")
  mkdir -p -- "$1$dir"
  cp -L --preserve=mode -- "$2" "$1$dir/"
}

# Copy host tree $2 (which must be canonical) into rootfs $1 at the same path.
copy_tree() {
  mkdir -p -- "$1$(dirname -- "$2")"
  cp -a -- "$2" "$1$2"
}

# Copy every library the given executables need into rootfs $1.
copy_libs() {
  local root=$1 bin lib libs; shift
  for bin in "$@"; do
    libs=$(libs_of "$bin") # not in a process substitution, so a failure aborts
    while IFS= read -r lib; do
      if [[ -n $lib ]]; then copy_same_path "$root" "$lib"; fi
    done <<<"$libs"
  done
}

# Skeleton shared by both stand-ins: merged-/usr layout, dash as /bin/sh,
# /usr/bin/env, CA certificates, passwd/group, nsswitch, /tmp 1777.
make_skeleton() {
  local root=$1 f
  install -d -m 0755 "$root"/usr/{bin,sbin,lib,lib64,local/bin} "$root"/etc/ssl/certs \
    "$root"/{dev,proc,sys,run,var,home}
  ln -s usr/bin "$root/bin"
  ln -s usr/sbin "$root/sbin"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  install -d -m 0700 "$root/root"
  install -d -m 1777 "$root/tmp" "$root/var/tmp"

  local dash env
  dash=$(readlink -f /bin/dash) env=$(readlink -f "$(command -v env)")
  install -m 0755 "$dash" "$root/usr/bin/dash"
  ln -s dash "$root/usr/bin/sh"
  install -m 0755 "$env" "$root/usr/bin/env"
  copy_libs "$root" "$dash" "$env"
  # A few coreutils that busybox provides in the real alpine/golang images, so
  # a template's `RUN mkdir -p …` or `RUN rm -rf …` does not break locally.
  local tool path
  for tool in "${CORE_TOOLS[@]}"; do
    path=$(command -v "$tool") || continue
    path=$(readlink -f "$path")
    install -m 0755 "$path" "$root/usr/bin/$tool"
    copy_libs "$root" "$path"
  done

  # CA certificates: regular files are copied; links pointing outside the
  # directory (Debian links *.pem to /usr/share/ca-certificates) are
  # dereferenced, hash links (relative, inside the directory) are kept.
  [[ -f $CA_BUNDLE ]] || die "$CA_BUNDLE missing on the host (apt-get install ca-certificates)"
  for f in /etc/ssl/certs/*; do
    [[ -d $f ]] && continue
    local name=${f##*/} target
    if [[ -L $f ]]; then
      target=$(readlink -- "$f")
      if [[ $target != */* && -e /etc/ssl/certs/$target ]]; then
        ln -s -- "$target" "$root/etc/ssl/certs/$name"
        continue
      fi
      [[ -e $f ]] || continue # dangling on the host: skip
    fi
    install -m 0644 -- "$f" "$root/etc/ssl/certs/$name"
  done

  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/:/sbin/nologin
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:root
nogroup:x:65534:
nobody:x:65534:
EOF
  printf 'hosts: files dns\npasswd: files\ngroup: files\n' >"$root/etc/nsswitch.conf"
  chmod 0644 "$root"/etc/{passwd,group,nsswitch.conf}
  # No /etc/hosts, /etc/resolv.conf or /etc/hostname: Docker bind-mounts them.
}

# Tar rootfs $1 and import it as $2 with Dockerfile-style --change args $3...
import_rootfs() {
  local root=$1 tag=$2; shift 2
  local -a changes=()
  local c
  for c in "$@"; do changes+=(--change "$c"); done
  tar "${TAR_OPTS[@]}" -C "$root" -cf - . |
    docker import "${changes[@]}" --message "eserveless local stand-in" - "$tag" >/dev/null
}

image_fingerprint() {
  docker image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$1" 2>/dev/null || true
}

# Returns 0 when $1 must be (re)built for fingerprint $2.
needs_build() {
  local tag=$1 want=$2 have
  ((force)) && return 0
  docker image inspect "$tag" >/dev/null 2>&1 || return 0
  have=$(image_fingerprint "$tag")
  [[ $have == "$want" ]] && return 1
  log "$tag exists but is stale (fingerprint '$have', want '$want'): rebuilding"
  return 0
}

declare -A import_secs=() assemble_secs=() status=()

# ----------------------------------------------------------------- Node image
build_node() {
  local tag=$NODE_IMAGE npm_version
  npm_version=$("$node_bin" "$npm_dir/bin/npm-cli.js" --version 2>/dev/null) || die "cannot run host npm"
  local fp="$script_sum node-$node_version npm-$npm_version"
  if ! needs_build "$tag" "$fp"; then
    log "$tag is up to date (node $node_version, npm $npm_version): skipping (use --force to rebuild)"
    status[node]=reused
    return 0
  fi
  log "assembling $tag from host node $node_version ($node_bin) and npm $npm_version"
  local t0 t1 t2 root=$workdir/node
  t0=$(now)
  make_skeleton "$root"

  # Alpine-like layout: the real binary is /usr/local/bin/node so npm's
  # prefix (derived from process.execPath) is /usr/local, as in node:20-alpine.
  install -m 0755 "$node_bin" "$root/usr/local/bin/node"
  ln -s ../local/bin/node "$root/usr/bin/node"
  copy_libs "$root" "$node_bin"

  install -d -m 0755 "$root/usr/local/lib/node_modules"
  cp -a -- "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  # npm's bundled CA list lacks any TLS-intercepting proxy's root: point it at
  # the system bundle copied above (global npmrc of prefix /usr/local).
  install -d -m 0755 "$root/usr/local/etc"
  printf 'cafile=%s\n' "$CA_BUNDLE" >"$root/usr/local/etc/npmrc"

  # node:20-alpine also has a `node` user (1000) that templates may use.
  printf 'node:x:1000:1000:Linux User,,,:/home/node:/bin/sh\n' >>"$root/etc/passwd"
  printf 'node:x:1000:node\n' >>"$root/etc/group"
  install -d -m 0755 "$root/home/node"
  chown -R 0:0 "$root"
  chown 1000:1000 "$root/home/node"

  t1=$(now)
  import_rootfs "$root" "$tag" \
    "ENV PATH=$BASE_PATH" \
    "ENV NODE_VERSION=$node_version" \
    "LABEL $LABEL_KEY=\"$fp\"" \
    'CMD ["node"]'
  t2=$(now)
  assemble_secs[node]=$(elapsed "$t0" "$t1")
  import_secs[node]=$(elapsed "$t1" "$t2")
  log "imported $tag: assemble ${assemble_secs[node]} s, tar+import ${import_secs[node]} s"
  status[node]=built
}

# ------------------------------------------------------------------- Go image
# Debian ships GOROOT/pkg compiled with cgo on; with CGO_ENABLED=0 (as in the
# image) net, os/user, crypto/* and everything above them are stale, which adds
# ~10 s to every function build. Recompile std for CGO_ENABLED=0 in place, in a
# chroot of the new rootfs so GOROOT has its final path (build IDs depend on it).
precompile_std() {
  local root=$1 goroot=$2 t0
  t0=$(now)
  # Not fatal: each .a is replaced atomically, so a failure here only means
  # slower builds (e.g. TMPDIR mounted nodev, where /dev/null cannot be opened).
  if mknod -m 0666 "$root/dev/null" c 1 3 &&
    chroot "$root" /usr/bin/env -i PATH="$goroot/bin:$BASE_PATH" HOME=/root \
      GOROOT="$goroot" GOPATH=/go GOCACHE=/tmp/go-cache CGO_ENABLED=0 GOFLAGS= \
      go install std >&2; then
    log "precompiled std for CGO_ENABLED=0 in $(elapsed "$t0" "$(now)") s"
  else
    log "WARNING: could not precompile std for CGO_ENABLED=0; Go builds in the image will be ~10 s slower"
  fi
  rm -f -- "$root/dev/null"
  find "$root/tmp" "$root/go" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +
}

build_go() {
  [[ -n $go_bin ]] || die "go not found on PATH (apt-get install golang-go, or run scripts/start-docker.sh)"
  local tag=$GO_IMAGE fp="$script_sum $go_version $goroot"
  if ! needs_build "$tag" "$fp"; then
    log "$tag is up to date ($go_version): skipping (use --force to rebuild)"
    status[go]=reused
    return 0
  fi
  log "assembling $tag from host $go_version (GOROOT $goroot)"
  local t0 t1 t2 root=$workdir/go real_goroot link target
  t0=$(now)
  make_skeleton "$root"

  # The whole toolchain tree at its host path. Debian's GOROOT links src, api,
  # misc, test and pkg/include into /usr/share/go-X.Y: copy those targets too
  # (at their own paths) so the relative links resolve inside the image.
  real_goroot=$(readlink -f "$goroot")
  copy_tree "$root" "$real_goroot"
  while IFS= read -r -d '' link; do
    target=$(readlink -f -- "$link") || continue
    [[ $target == "$real_goroot"/* || -e $root$target ]] && continue
    [[ -e $target ]] || die "dangling link in GOROOT: $link"
    copy_tree "$root" "$target"
  done < <(find "$real_goroot" -type l -print0)
  local -a exes=()
  while IFS= read -r -d '' f; do exes+=("$f"); done \
    < <(find "$real_goroot/bin" "$real_goroot/pkg/tool" -type f -perm -u+x -print0)
  copy_libs "$root" "${exes[@]}"
  # Official golang images keep the toolchain at /usr/local/go.
  [[ $real_goroot == /usr/* ]] && ln -s "../${real_goroot#/usr/}" "$root/usr/local/go" # -> ../lib/go-1.19
  install -d -m 1777 "$root/go"
  precompile_std "$root" "$real_goroot"
  chown -R 0:0 "$root"

  t1=$(now)
  import_rootfs "$root" "$tag" \
    "ENV GOROOT=$real_goroot" \
    "ENV GOPATH=/go" \
    "ENV GOCACHE=/tmp/go-cache" \
    "ENV CGO_ENABLED=0" \
    "ENV GOLANG_VERSION=${go_version#go}" \
    "ENV PATH=/go/bin:/usr/local/go/bin:$BASE_PATH" \
    "WORKDIR /go" \
    "LABEL $LABEL_KEY=\"$fp\"" \
    'CMD ["go", "version"]'
  t2=$(now)
  assemble_secs[go]=$(elapsed "$t0" "$t1")
  import_secs[go]=$(elapsed "$t1" "$t2")
  log "imported $tag: assemble ${assemble_secs[go]} s, tar+import ${import_secs[go]} s"
  status[go]=built
}

# ---------------------------------------------------------------- smoke tests
run_in() { docker run --rm --network none "$@"; }

# expect WANT CMD...: run CMD, fail unless its stdout matches the glob WANT.
expect() {
  local want=$1 out; shift
  # shellcheck disable=SC2053 # $want is a glob on purpose
  if ! out=$("$@") || [[ $out != $want ]]; then
    log "smoke test: '$*' printed '$out'"
    return 1
  fi
}

smoke_node() {
  local tag=$NODE_IMAGE
  expect "v$node_version" run_in --user 65534:65534 --read-only --tmpfs /tmp --cap-drop ALL \
    --security-opt no-new-privileges "$tag" node -e 'console.log(process.version)' &&
    expect '[0-9]*.*' run_in "$tag" npm --version &&
    expect '[0-9]*.*' run_in --user 65534:65534 "$tag" npx --version &&
    expect ok run_in --user 65534:65534 "$tag" sh -c 'echo ok' &&
    expect "*PATH=$BASE_PATH*" run_in --user 65534:65534 "$tag" env
}

smoke_go() {
  local tag=$GO_IMAGE user
  local prog='package main

import (
	"fmt"
	"net/http"
	"runtime"
)

var _ = http.StatusOK

func main() { fmt.Println("hello from", runtime.Version()) }
'
  for user in 0:0 65534:65534; do
    # Only shell builtins + go: write the source with printf, build, run.
    # shellcheck disable=SC2016 # $PROG is expanded by the container's sh
    expect "hello from $go_version" run_in -e "PROG=$prog" --user "$user" "$tag" sh -c \
      'set -e; printf "%s" "$PROG" >/tmp/main.go; go build -o /tmp/hello /tmp/main.go; /tmp/hello' ||
      return 1
  done
}

smoke() { # $1 = node|go
  local t0 t1
  t0=$(now)
  if ! "smoke_$1"; then
    if [[ ${status[$1]} == built ]]; then
      docker image rm "$([[ $1 == node ]] && echo "$NODE_IMAGE" || echo "$GO_IMAGE")" >/dev/null 2>&1 || true
    fi
    die "smoke test of the $1 stand-in failed"
  fi
  t1=$(now)
  log "smoke test of the $1 stand-in passed ($(elapsed "$t0" "$t1") s)"
}

# ----------------------------------------------------------------------- main
targets=(node go)
[[ -n $only ]] && targets=("$only")
for t in "${targets[@]}"; do
  "build_$t"
  if [[ ${status[$t]} == built ]] || ((check)); then smoke "$t"; fi
done

echo
printf '%-32s %-10s %10s %12s %12s\n' IMAGE STATUS SIZE ASSEMBLE_S IMPORT_S
for t in "${targets[@]}"; do
  tag=$([[ $t == node ]] && echo "$NODE_IMAGE" || echo "$GO_IMAGE")
  size=$(docker image inspect --format '{{.Size}}' "$tag")
  printf '%-32s %-10s %9sM %12s %12s\n' "$tag" "${status[$t]}" "$((size / 1000000))" \
    "${assemble_secs[$t]:--}" "${import_secs[$t]:--}"
done
echo
echo "export ESERVELESS_NODE_IMAGE=$NODE_IMAGE ESERVELESS_GO_IMAGE=$GO_IMAGE"
