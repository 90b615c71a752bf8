#!/bin/sh
# build.sh builds one static kauth binary for $GOOS/$GOARCH (default: this
# machine's), stamped with the version, commit and date through -ldflags,
# the same bytes for the same commit: -trimpath, no cgo, the date is the
# commit's time (SOURCE_DATE_EPOCH) and never the clock's. Nothing is
# fetched: modules come from the module cache (go mod download fills it), and
# a missing one fails the build rather than reach the network. dist.sh and
# the Dockerfile build with it, so that both ship the same binary.
#
# Usage:
#
#   scripts/build.sh OUTPUT     build ./cmd/kauth into OUTPUT
#   scripts/build.sh -env       print VERSION, COMMIT, SOURCE_DATE_EPOCH and DATE
#                               as shell assignments (dist.sh reads them)
#
# VERSION    default: git describe --tags --always --dirty
# COMMIT     default: git rev-parse HEAD
# SOURCE_DATE_EPOCH  default: the commit's time (git log -1 --format=%ct)
# GO         default: go
# Outside a git checkout (a container build), set all three.
set -eu
cd "$(dirname "$0")/.."
export LC_ALL=C
GO=${GO:-go}

die() { echo "build: $*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: scripts/build.sh OUTPUT | -env"

ingit=false
git rev-parse --git-dir >/dev/null 2>&1 && ingit=true
nogit="not a git checkout: set VERSION, COMMIT and SOURCE_DATE_EPOCH"
if [ -z "${VERSION:-}" ]; then
	$ingit || die "$nogit"
	VERSION=$(git describe --tags --always --dirty)
fi
if [ -z "${COMMIT:-}" ]; then
	$ingit || die "$nogit"
	COMMIT=$(git rev-parse HEAD)
fi
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	$ingit || die "$nogit"
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct HEAD)
fi
# The version and commit end up in file names and -ldflags: no spaces or
# quotes, which would split the flags.
case $VERSION in *[!A-Za-z0-9._+-]* | '') die "VERSION=$VERSION: use letters, digits and . _ + - only" ;; esac
case $COMMIT in *[!A-Za-z0-9._+-]* | '') die "COMMIT=$COMMIT: use letters, digits and . _ + - only" ;; esac
case $SOURCE_DATE_EPOCH in *[!0-9]* | '') die "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH: want seconds since 1970" ;; esac
DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null ||
	date -u -r "$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ) || die "cannot format SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"

if [ "$1" = -env ]; then
	printf 'VERSION=%s\nCOMMIT=%s\nSOURCE_DATE_EPOCH=%s\nDATE=%s\n' "$VERSION" "$COMMIT" "$SOURCE_DATE_EPOCH" "$DATE"
	exit 0
fi

# The build reads nothing but the checkout, the module cache and the local
# toolchain: no proxy, no toolchain download, no go.work, no cgo, and the
# default instruction set of each GOARCH.
export CGO_ENABLED=0 GOPROXY=off GOTOOLCHAIN=local GOWORK=off GOFLAGS='-mod=readonly -buildvcs=false'
unset GOAMD64 GOARM64 GOEXPERIMENT

P=github.com/kauth/kauth/internal/buildinfo
"$GO" build -trimpath -ldflags "-s -w -X $P.version=$VERSION -X $P.commit=$COMMIT -X $P.date=$DATE" -o "$1" ./cmd/kauth ||
	die "building ${GOOS:-this OS}/${GOARCH:-this arch} failed (a missing module? run go mod download first)"
