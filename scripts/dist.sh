#!/bin/sh
# dist.sh builds kauth's release archives: for each target GOOS/GOARCH, the
# kauth binary that build.sh makes (static, stamped, reproducible) packed
# with LICENSE and README.md (tar.gz, or zip for windows), and a SHA256SUMS
# file over the archives. The archives hold sorted names with the commit's
# time and owner 0, so the same commit gives the same bytes.
#
# Usage (make dist runs it):
#
#   scripts/dist.sh                       # every target, into dist/
#   OUT=/tmp/rel TARGETS="linux/amd64 windows/arm64" VERSION=v1.2.0 scripts/dist.sh
#
# OUT        default: dist
# TARGETS    default: linux, darwin and windows on amd64 and arm64
# VERSION, COMMIT, SOURCE_DATE_EPOCH, GO: as for build.sh
set -eu
cd "$(dirname "$0")/.."
export LC_ALL=C

GO=${GO:-go}
OUT=${OUT:-dist}
TARGETS=${TARGETS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64}

die() { echo "dist: $*" >&2; exit 1; }

# VERSION, COMMIT, SOURCE_DATE_EPOCH and DATE, checked to be plain words.
stamp=$(scripts/build.sh -env) || exit 1
eval "$stamp"
export VERSION COMMIT SOURCE_DATE_EPOCH

mkdir -p "$OUT"
stage=$(mktemp -d "${TMPDIR:-/tmp}/kauth-dist.XXXXXX")
trap 'rm -rf "$stage"' EXIT
trap 'exit 1' INT TERM

# The archiver is built once, for this machine, from the same module cache.
GOOS= GOARCH= GOPROXY=off GOFLAGS=-mod=readonly "$GO" build -o "$stage/archive" ./scripts/archive ||
	die "building the archiver failed"

archives=
for t in $TARGETS; do
	os=${t%/*} arch=${t#*/}
	case $t in [a-z]*/[a-z0-9]*) ;; *) die "target $t: want GOOS/GOARCH such as linux/amd64" ;; esac
	case $arch in */* | *[!a-z0-9]*) die "target $t: want GOOS/GOARCH such as linux/amd64" ;; esac
	name=kauth_${VERSION}_${os}_${arch}
	exe=kauth ext=tar.gz
	if [ "$os" = windows ]; then exe=kauth.exe ext=zip; fi
	mkdir -p "$stage/$name"
	echo "dist: $OUT/$name.$ext"
	GOOS=$os GOARCH=$arch GO=$GO scripts/build.sh "$stage/$name/$exe"
	cp LICENSE README.md "$stage/$name/"
	chmod 0644 "$stage/$name/LICENSE" "$stage/$name/README.md"
	chmod 0755 "$stage/$name/$exe"
	"$stage/archive" -o "$OUT/$name.$ext" -dir "$name" -mtime "$SOURCE_DATE_EPOCH" \
		"$stage/$name/$exe" "$stage/$name/LICENSE" "$stage/$name/README.md"
	archives="$archives $name.$ext"
done

# SHA256SUMS in the format sha256sum -c (and shasum -a 256 -c) reads.
(
	cd "$OUT"
	# shellcheck disable=SC2086 # one word per archive
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum $archives
	else
		shasum -a 256 $archives
	fi
) | sort -k 2 >"$OUT/SHA256SUMS.tmp"
mv "$OUT/SHA256SUMS.tmp" "$OUT/SHA256SUMS"
echo "dist: $OUT/SHA256SUMS (version $VERSION, commit $COMMIT, date $DATE)"
