#!/usr/bin/env bash
# A Docker Swarm lab on one machine: a manager, N workers and a registry, each a
# "docker-in-docker" node container on a network of its own, for trying and
# testing eserveless's Swarm mode without a second host.
#
# Usage: scripts/swarm-lab.sh up|down|env|load [--name NAME] [--workers N] [IMAGE...]
#   up         build the node image (cached), start the registry and the nodes,
#              `swarm init` on the manager, join the workers, make an attachable
#              overlay with a /16; prints step timings on stderr and `env` on stdout.
#              A failed `up` tears down what it made.
#   down       remove the lab's containers, volumes, networks and socket folder
#              (by label, so only this lab's; safe to run twice or after a failed up)
#   env        print KEY=VALUE lines (no quoting needed; lists are comma-separated):
#                SWARM_LAB_NAME               the lab's name
#                SWARM_LAB_MANAGER_SOCKET     host path of the manager's Docker socket
#                SWARM_LAB_DOCKER_HOST        the same as unix://… for DOCKER_HOST
#                SWARM_LAB_WORKER_SOCKETS     host paths of the workers' Docker sockets
#                SWARM_LAB_MANAGER_CONTAINER  the manager node's container (host engine)
#                SWARM_LAB_WORKER_CONTAINERS  the workers' node containers (host engine)
#                SWARM_LAB_REGISTRY           the registry as nodes see it (host:port)
#                SWARM_LAB_OVERLAY            the attachable overlay `up` made
#                SWARM_LAB_DOCKER_GID         the group of /var/run/docker.sock in a node
#                SWARM_LAB_SERVER_PORT        host port on 127.0.0.1 published to the
#                                             manager node's port 3000 (eserveless)
#                SWARM_LAB_SERVER_URL         http://127.0.0.1:SWARM_LAB_SERVER_PORT
#   load IMAGE...  copy images from the host's engine into the manager's
#              (docker save | docker load), e.g. the eserveless image and the
#              base image stand-ins that function builds start from
#   --name NAME    prefix of every object the lab makes (default eserveless-swarm);
#                  two labs with different names coexist
#   --workers N    number of workers, 0-8 (default 2)
#
# The node image (eserveless-swarm-lab/node:<fingerprint>) is assembled with
# `docker import` from the host's own Docker binaries (docker.io), iptables (nft),
# `ip`, Debian's static busybox and the registry binary of Debian's
# docker-registry package (both fetched with `apt-get download`, unpacked with
# `dpkg-deb -x`, never installed), plus their libraries. It is shared by all
# labs and kept by `down`; remove it with `docker image rm`.
#
# Nodes run without --privileged (it fails where CAP_SYS_RESOURCE is not in the
# bounding set): every other capability, no seccomp/AppArmor profile, /sys and
# the cgroup mounts remounted read-write by the entrypoint. Each node's dockerd
# runs with --no-new-privileges and --insecure-registry for the lab registry,
# keeps /var/lib/docker on a volume of its own, and listens on its
# /var/run/docker.sock and on $SWARM_LAB_DIR/NAME/NODE/docker.sock on the host
# (default SWARM_LAB_DIR: ${TMPDIR:-/tmp}/eserveless-swarm-lab).
set -euo pipefail

readonly LABEL=org.eserveless.swarm-lab              # value: the lab's name
readonly IMAGE_LABEL=org.eserveless.swarm-lab.image  # value: the image's fingerprint
readonly IMAGE_REPO=eserveless-swarm-lab/node
readonly REGISTRY_PORT=5000
readonly SERVER_PORT=3000   # eserveless's port, published by the manager node
readonly OVERLAY_SUBNET=10.230.0.0/16
readonly MAX_WORKERS=8
readonly SCRIPT=${BASH_SOURCE[0]}

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { printf '[swarm-lab] %s\n' "$*" >&2; }
die() { printf '[swarm-lab] ERROR: %s\n' "$*" >&2; exit 1; }
now() { printf '%s' "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$SCRIPT"; }

# ------------------------------------------------------------------ arguments
cmd=${1:-}
[[ -n $cmd ]] || { usage >&2; exit 2; }
shift
name=eserveless-swarm workers=2
declare -a images=()
while (($#)); do
  case $1 in
    --name)
      [[ $# -ge 2 ]] || die "--name takes a value"
      name=$2; shift ;;
    --workers)
      [[ $# -ge 2 ]] || die "--workers takes a value"
      workers=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option: $1 (try --help)" ;;
    *) images+=("$1") ;;
  esac
  shift
done
case $cmd in
  up | down | env) ((${#images[@]} == 0)) || die "$cmd takes no image names" ;;
  load) ((${#images[@]} > 0)) || die "load takes one or more image names" ;;
  -h | --help | help) usage; exit 0 ;;
  *) die "unknown command: $cmd (up, down, env or load)" ;;
esac
# The name prefixes container, volume and network names and a host folder.
[[ $name =~ ^[a-z0-9][a-z0-9-]{0,31}$ ]] || die "--name must be 1-32 characters of a-z, 0-9 and '-', starting with a letter or digit"
if ! [[ $workers =~ ^[0-9]+$ ]] || ((workers > MAX_WORKERS)); then die "--workers must be a number from 0 to $MAX_WORKERS"; fi

readonly lab_root=${SWARM_LAB_DIR:-${TMPDIR:-/tmp}/eserveless-swarm-lab}
readonly lab_dir=$lab_root/$name
readonly net=$name-net
readonly registry=$name-registry
readonly registry_addr=$registry:$REGISTRY_PORT
readonly manager=$name-manager
readonly overlay=$name-overlay
node_names() {
  printf '%s\n' "$manager"
  local i
  for ((i = 1; i <= workers; i++)); do printf '%s\n' "$name-worker-$i"; done
}
socket_of() { printf '%s/%s/docker.sock' "$lab_dir" "${1#"$name-"}"; }
# The docker CLI talking to node $1's engine.
node_docker() { local node=$1; shift; docker --host "unix://$(socket_of "$node")" "$@"; }

# A Unix socket's path holds at most 107 bytes.
longest_socket="$lab_dir/worker-$MAX_WORKERS/docker.sock"
((${#longest_socket} <= 107)) || die "socket paths under $lab_dir would be longer than 107 bytes: set SWARM_LAB_DIR to a shorter folder"
docker info >/dev/null 2>&1 || die "the host's Docker engine does not answer (run scripts/start-docker.sh)"

# ----------------------------------------------------------------------- down
lab_ids() { # $1 = container|volume|network
  case $1 in
    container) docker ps -aq --filter "label=$LABEL=$name" ;;
    volume) docker volume ls -q --filter "label=$LABEL=$name" ;;
    network) docker network ls -q --filter "label=$LABEL=$name" ;;
  esac
}

lab_down() {
  local t0 ids
  t0=$(now)
  mapfile -t ids < <(lab_ids container)
  ((${#ids[@]} == 0)) || docker rm -f --volumes "${ids[@]}" >/dev/null
  mapfile -t ids < <(lab_ids volume)
  ((${#ids[@]} == 0)) || docker volume rm "${ids[@]}" >/dev/null
  mapfile -t ids < <(lab_ids network)
  ((${#ids[@]} == 0)) || docker network rm "${ids[@]}" >/dev/null
  # Only this lab's folder of sockets, under the lab root.
  [[ -d $lab_dir ]] && rm -rf -- "$lab_dir"
  rmdir -- "$lab_root" 2>/dev/null || true
  log "down: lab '$name' removed in $(elapsed "$t0") s"
}

# ------------------------------------------------------------------------ env
lab_env() {
  local c port gid
  docker container inspect "$manager" >/dev/null 2>&1 || die "no lab named '$name' (run: $SCRIPT up --name $name)"
  port=$(docker container inspect --format "{{ (index (index .NetworkSettings.Ports \"$SERVER_PORT/tcp\") 0).HostPort }}" "$manager")
  gid=$(docker exec "$manager" stat -c %g /var/run/docker.sock)
  local -a worker_containers=() worker_sockets=()
  while IFS= read -r c; do
    [[ -n $c ]] || continue
    worker_containers+=("$c")
    worker_sockets+=("$(socket_of "$c")")
  done < <(docker ps -a --filter "label=$LABEL=$name" --filter "label=$LABEL.role=worker" --format '{{.Names}}' | sort -V)
  local IFS=,
  printf 'SWARM_LAB_NAME=%s\n' "$name"
  printf 'SWARM_LAB_MANAGER_SOCKET=%s\n' "$(socket_of "$manager")"
  printf 'SWARM_LAB_DOCKER_HOST=unix://%s\n' "$(socket_of "$manager")"
  printf 'SWARM_LAB_WORKER_SOCKETS=%s\n' "${worker_sockets[*]}"
  printf 'SWARM_LAB_MANAGER_CONTAINER=%s\n' "$manager"
  printf 'SWARM_LAB_WORKER_CONTAINERS=%s\n' "${worker_containers[*]}"
  printf 'SWARM_LAB_REGISTRY=%s\n' "$registry_addr"
  printf 'SWARM_LAB_OVERLAY=%s\n' "$overlay"
  printf 'SWARM_LAB_DOCKER_GID=%s\n' "$gid"
  printf 'SWARM_LAB_SERVER_PORT=%s\n' "$port"
  printf 'SWARM_LAB_SERVER_URL=http://127.0.0.1:%s\n' "$port"
}

# ----------------------------------------------------------------------- load
lab_load() {
  local t0
  docker container inspect "$manager" >/dev/null 2>&1 || die "no lab named '$name' (run: $SCRIPT up --name $name)"
  t0=$(now)
  docker save "${images[@]}" | node_docker "$manager" load >&2
  log "load: ${images[*]} into $manager in $(elapsed "$t0") s"
}

# ----------------------------------------------------------------- node image
# Libraries (and the ELF interpreter) that the dynamic executable or library $1 needs.
libs_of() {
  local out
  if ! out=$(ldd -- "$1" 2>&1); then
    [[ $out == *"not a dynamic executable"* || $out == *"statically linked"* ]] && return 0
    die "ldd $1 failed: $out"
  fi
  [[ $out != *"not found"* ]] || die "unresolved libraries for $1: $out"
  awk '$2 == "=>" { if ($3 ~ /^\//) print $3; next } $1 ~ /^\// { print $1 }' <<<"$out"
}

# Copy host file $2 (dereferenced) into rootfs $1 under its canonical folder.
copy_same_path() {
  local dir
  dir=$(readlink -f -- "$(dirname -- "$2")")
  mkdir -p -- "$1$dir"
  cp -L --preserve=mode -- "$2" "$1$dir/"
}

copy_libs() {
  local root=$1 file lib libs; shift
  for file in "$@"; do
    libs=$(libs_of "$file") # not in a process substitution, so a failure aborts
    while IFS= read -r lib; do
      if [[ -n $lib ]]; then copy_same_path "$root" "$lib"; fi
    done <<<"$libs"
  done
}

# The host packages whose binaries go into the node image: installed with apt
# when one is missing (as root), so a fresh CI machine needs nothing by hand.
ensure_host_packages() {
  local -a missing=()
  local b
  for b in dockerd containerd containerd-shim-runc-v2 runc docker-init docker-proxy; do
    command -v "$b" >/dev/null 2>&1 || { missing+=(docker.io); break; }
  done
  command -v xtables-nft-multi >/dev/null 2>&1 || missing+=(iptables)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  ((${#missing[@]} == 0)) && return 0
  [[ $(id -u) == 0 ]] || die "missing ${missing[*]}: apt-get install ${missing[*]} (as root)"
  log "installing ${missing[*]} with apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed"
  apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
  hash -r
}

host_bin() { # the host path of executable $1, or die
  local path
  path=$(command -v -- "$1") || die "$1 not found on the host (apt-get install docker.io iptables iproute2)"
  readlink -f -- "$path"
}

# Fetch Debian package $1 into the cache with `apt-get download` (not installed).
debian_package() {
  local pkg=$1 cache=$2 deb
  deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
  if [[ -z $deb ]]; then
    log "downloading Debian's $pkg (apt-get download; not installed)"
    if ! (cd "$cache" && apt-get download -qq "$pkg" >&2 2>/dev/null); then
      apt-get update -qq >&2 || die "apt-get update failed"
      (cd "$cache" && apt-get download -qq "$pkg" >&2) || die "apt-get download $pkg failed"
    fi
    deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
    [[ -n $deb ]] || die "apt-get download $pkg left no .deb in $cache"
  fi
  printf '%s' "$deb"
}

# The node's entrypoint (busybox sh): "registry" serves the registry; anything
# else makes /sys and the cgroup mounts writable and starts dockerd.
# shellcheck disable=SC2016 # expanded by the node's shell
readonly ENTRYPOINT='#!/bin/sh
set -eu
if [ "${1:-}" = registry ]; then
  mkdir -p /var/lib/registry
  exec docker-registry serve /etc/docker/registry/config.yml
fi
mount -o remount,rw /sys
# Docker mounts these read-only without --privileged. Only the read-only flag
# changes: a cgroup v1 remount that leaves out its controllers is refused.
for m in $(awk '\''$2 == "/sys/fs/cgroup" { print $2 } $3 == "cgroup" || $3 == "cgroup2" { print $2 }'\'' /proc/self/mounts); do
  mount -o remount,bind,rw "$m"
done
mkdir -p /lab /run /tmp
rm -f /run/docker.pid /lab/docker.sock
exec dockerd --host unix:///var/run/docker.sock --host unix:///lab/docker.sock \
  --no-new-privileges --insecure-registry "$LAB_REGISTRY" \
  --bip 10.210.0.1/24 --default-address-pool base=10.213.0.0/16,size=24 "$@"
'

readonly REGISTRY_CONFIG='version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
'

node_image="" scratch="" tearing_down_on_failure=0
on_exit() {
  local status=$?
  [[ -z $scratch ]] || rm -rf -- "$scratch" "$scratch.deb"
  if ((status != 0 && tearing_down_on_failure)); then
    log "up failed: tearing the lab down"
    lab_down
  fi
}
trap on_exit EXIT

build_node_image() {
  local t0 cache root tag fp
  t0=$(now)
  ensure_host_packages
  local -a bins=(dockerd containerd containerd-shim-runc-v2 runc docker-init docker-proxy docker xtables-nft-multi ip)
  local -A paths=()
  local b
  for b in "${bins[@]}"; do paths[$b]=$(host_bin "$b"); done
  local xtables_dir=/usr/lib/x86_64-linux-gnu/xtables
  xtables_dir=$(dirname "$(libs_of "${paths[xtables-nft-multi]}" | grep -m1 /libxtables)")/xtables
  [[ -d $xtables_dir ]] || die "iptables' extensions not found at $xtables_dir"

  cache=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/eserveless-swarm-lab
  mkdir -p -- "$cache"
  local busybox_deb registry_deb
  busybox_deb=$(debian_package busybox-static "$cache")
  registry_deb=$(debian_package docker-registry "$cache")

  # The image changes when this script, a binary or a package does.
  fp=$({
    sha256sum "$SCRIPT"
    for b in "${bins[@]}"; do stat -c '%n %s %Y' -- "${paths[$b]}"; done
    printf '%s\n' "${busybox_deb##*/}" "${registry_deb##*/}"
  } | sha256sum | cut -c1-16)
  tag=$IMAGE_REPO:$fp
  node_image=$tag
  if docker image inspect "$tag" >/dev/null 2>&1; then
    log "node image $tag: cached"
    return 0
  fi

  # One build at a time per machine; a waiting lab then finds the image made.
  exec 8>"${TMPDIR:-/tmp}/eserveless-swarm-lab-image.lock"
  flock -n 8 || { log "another lab is building the node image: waiting for it"; flock 8; }
  if docker image inspect "$tag" >/dev/null 2>&1; then
    exec 8>&-
    log "node image $tag: built by the other lab, $(elapsed "$t0") s"
    return 0
  fi

  root=$(mktemp -d "${TMPDIR:-/tmp}/eserveless-swarm-lab-rootfs.XXXXXX")
  scratch=$root
  install -d -m 0755 "$root"/usr/{bin,sbin,lib,lib64} "$root"/{dev,proc,sys,run,lab,etc/docker/registry,var/lib/docker}
  ln -s usr/bin "$root/bin"
  ln -s usr/sbin "$root/sbin"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  ln -s ../run "$root/var/run"
  install -d -m 1777 "$root/tmp"

  for b in "${bins[@]}"; do install -m 0755 -- "${paths[$b]}" "$root/usr/bin/$b"; done
  copy_libs "$root" "${paths[@]}"
  # iptables: the nft multi-call binary under each name dockerd calls, and its extensions.
  for b in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -s xtables-nft-multi "$root/usr/bin/$b"
  done
  mkdir -p -- "$root$(readlink -f "$xtables_dir")"
  cp -L --preserve=mode -- "$xtables_dir"/*.so "$root$(readlink -f "$xtables_dir")/"
  copy_libs "$root" "$xtables_dir"/*.so

  local unpack=$root.deb
  mkdir -p -- "$unpack"
  dpkg-deb -x "$busybox_deb" "$unpack/busybox"
  dpkg-deb -x "$registry_deb" "$unpack/registry"
  install -m 0755 "$unpack/busybox/bin/busybox" "$root/usr/bin/busybox"
  install -m 0755 "$unpack/registry/usr/bin/docker-registry" "$root/usr/bin/docker-registry"
  copy_libs "$root" "$unpack/registry/usr/bin/docker-registry"
  rm -rf -- "$unpack"
  # busybox applets (sh, mount, awk, stat…) for what the host binaries do not provide.
  local applet
  while IFS= read -r applet; do
    applet=${applet##*/}
    [[ -e $root/usr/bin/$applet || -L $root/usr/bin/$applet ]] || ln -s busybox "$root/usr/bin/$applet"
  done < <("$root/usr/bin/busybox" --list)

  printf '%s' "$ENTRYPOINT" >"$root/usr/bin/lab-node"
  chmod 0755 "$root/usr/bin/lab-node"
  printf '%s' "$REGISTRY_CONFIG" >"$root/etc/docker/registry/config.yml"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  # dockerd gives its sockets to the group "docker", as on a Debian host.
  printf 'root:x:0:\ndocker:x:998:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf 'hosts: files dns\npasswd: files\ngroup: files\n' >"$root/etc/nsswitch.conf"
  install -d -m 0700 "$root/root"
  chown -R 0:0 "$root"

  tar --sort=name --mtime=@0 --numeric-owner -C "$root" -cf - . |
    docker import \
      --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
      --change 'ENTRYPOINT ["/usr/bin/lab-node"]' \
      --change "LABEL $IMAGE_LABEL=$fp" \
      --message "eserveless swarm lab node" - "$tag" >/dev/null
  rm -rf -- "$root"
  scratch=""
  exec 8>&-
  log "node image $tag: built in $(elapsed "$t0") s"
}

# ------------------------------------------------------------------------- up
# Waits until node $1's dockerd answers on its host socket; prints the seconds.
wait_for_engine() {
  local node=$1 t0=$2 deadline=$((SECONDS + 60))
  until node_docker "$node" version --format '{{.Server.Version}}' >/dev/null 2>&1; do
    if ((SECONDS >= deadline)) || [[ $(docker inspect --format '{{.State.Running}}' "$node" 2>/dev/null) != true ]]; then
      log "last lines of $node's log:"
      docker logs --tail 30 "$node" >&2 2>&1 || true
      die "$node's dockerd did not answer"
    fi
    sleep 0.05
  done
  log "$node: dockerd answering after $(elapsed "$t0") s"
}

ip_of() { docker inspect --format "{{ (index .NetworkSettings.Networks \"$net\").IPAddress }}" "$1"; }

lab_up() {
  local t_up t0 node
  t_up=$(now)
  [[ -z $(lab_ids container) ]] || die "a lab named '$name' exists: run '$SCRIPT down --name $name' first, or pick another --name"
  build_node_image

  # From here on a failure removes what was made.
  tearing_down_on_failure=1

  mkdir -p -- "$lab_dir"
  chmod 0700 -- "$lab_root" "$lab_dir"
  docker network create --label "$LABEL=$name" "$net" >/dev/null

  local -a common=(--detach --label "$LABEL=$name" --network "$net")
  docker volume create --label "$LABEL=$name" "$registry" >/dev/null
  # The registry needs no privilege at all.
  docker run "${common[@]}" --name "$registry" --hostname "$registry" --label "$LABEL.role=registry" \
    --cap-drop ALL --security-opt no-new-privileges --read-only \
    --volume "$registry:/var/lib/registry" "$node_image" registry >/dev/null

  local -a node_opts=(
    --cap-add ALL --cap-drop SYS_RESOURCE
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined
    --init --env "LAB_REGISTRY=$registry_addr"
  )
  local -a waiting=()
  while IFS= read -r node; do
    local role=worker extra=()
    if [[ $node == "$manager" ]]; then role=manager extra=(--publish "127.0.0.1::$SERVER_PORT"); fi
    mkdir -p -- "$lab_dir/${node#"$name-"}"
    docker volume create --label "$LABEL=$name" "$node-docker" >/dev/null
    docker run "${common[@]}" --name "$node" --hostname "$node" --label "$LABEL.role=$role" \
      "${node_opts[@]}" "${extra[@]}" \
      --volume "$node-docker:/var/lib/docker" --volume "$lab_dir/${node#"$name-"}:/lab" \
      "$node_image" >/dev/null
    # Timed from the container's start, each node on its own while the next one starts.
    wait_for_engine "$node" "$(now)" &
    waiting+=($!)
  done < <(node_names)
  local pid failed=0
  for pid in "${waiting[@]}"; do wait "$pid" || failed=1; done
  ((failed == 0)) || die "not every node's dockerd answered"

  t0=$(now)
  local manager_ip token
  manager_ip=$(ip_of "$manager")
  node_docker "$manager" swarm init --advertise-addr "$manager_ip" >/dev/null
  log "swarm init: $(elapsed "$t0") s"
  token=$(node_docker "$manager" swarm join-token --quiet worker)
  while IFS= read -r node; do
    [[ $node == "$manager" ]] && continue
    t0=$(now)
    node_docker "$node" swarm join --token "$token" --advertise-addr "$(ip_of "$node")" "$manager_ip:2377" >/dev/null
    log "$node joined: $(elapsed "$t0") s"
  done < <(node_names)

  t0=$(now)
  local deadline=$((SECONDS + 60)) ready
  until ready=$(node_docker "$manager" node ls --format '{{.Status}}' | grep -cx Ready) && ((ready == workers + 1)); do
    ((SECONDS < deadline)) || die "only ${ready:-0} of $((workers + 1)) nodes Ready after 60 s"
    sleep 0.1
  done
  log "all $((workers + 1)) nodes Ready: $(elapsed "$t0") s"

  t0=$(now)
  node_docker "$manager" network create --driver overlay --attachable --subnet "$OVERLAY_SUBNET" \
    --label "$LABEL=$name" "$overlay" >/dev/null
  log "overlay $overlay ($OVERLAY_SUBNET): $(elapsed "$t0") s"

  t0=$(now)
  deadline=$((SECONDS + 30))
  until docker exec "$manager" wget -q -O /dev/null "http://$registry_addr/v2/" 2>/dev/null; do
    ((SECONDS < deadline)) || die "the registry $registry_addr does not answer from $manager"
    sleep 0.1
  done
  log "registry $registry_addr answering from $manager: $(elapsed "$t0") s"
  tearing_down_on_failure=0
  log "up: lab '$name' ready in $(elapsed "$t_up") s"
  lab_env
}

case $cmd in
  up) lab_up ;;
  down) lab_down ;;
  env) lab_env ;;
  load) lab_load ;;
esac
