#!/usr/bin/env bash
# Builds the node image's base, faultline/base:bookworm, without any registry: Debian's
# debootstrap (minbase) with iptables, iproute2 and ca-certificates, imported with `docker import`.
# The base changes rarely; `faultline image build` adds the faultline binary as a thin layer on top.
#
# Usage: docker/build-base.sh [TAG]        (default TAG: faultline/base:bookworm)
# Env:   MIRROR (default http://deb.debian.org/debian), SUITE (default bookworm)
set -euo pipefail

tag="${1:-faultline/base:bookworm}"
suite="${SUITE:-bookworm}"
mirror="${MIRROR:-http://deb.debian.org/debian}"
packages="iptables,iproute2,ca-certificates"

say() { printf 'build-base: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v docker >/dev/null || die "docker CLI not found; install Docker Engine first"

# Several first runs at once (parallel `faultline test`s on a fresh machine) would each run
# apt-get and debootstrap and race on dpkg's lock: one builds, the others wait for it and use
# what it built. A rebuild asked for by hand (the image already there) still rebuilds.
had_image=0
docker image inspect "$tag" >/dev/null 2>&1 && had_image=1
lock="${TMPDIR:-/tmp}/faultline-build-base.lock"
if command -v flock >/dev/null && touch "$lock" 2>/dev/null; then
    exec 9>>"$lock"
    flock 9
    if [ "$had_image" = 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
        say "$tag was built by another run meanwhile"
        exit 0
    fi
fi

if ! command -v debootstrap >/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        say "installing debootstrap with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2; } \
            || die "could not install debootstrap; run: sudo apt-get install debootstrap"
    else
        die "debootstrap is missing; run: sudo apt-get install debootstrap (then run this script as root)"
    fi
fi
[ "$(id -u)" -eq 0 ] || die "debootstrap needs root; run: sudo $0 $*"

root="$(mktemp -d /tmp/faultline-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
start=$(now)
say "debootstrap --variant=minbase --include=$packages $suite ($mirror)"
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >&2 \
    || die "debootstrap failed (is $mirror reachable?); see the output above"
boot=$(now)

# Trim what a container never needs; the image stays a plain root filesystem.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/locale/*

say "docker import as $tag"
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    --change "LABEL io.faultline.base=$suite" \
    - "$tag" >/dev/null
end=$(now)

say "built $tag in $(secs "$start" "$end") s (debootstrap $(secs "$start" "$boot") s, import $(secs "$boot" "$end") s)"
