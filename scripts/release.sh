#!/bin/sh
# Static binaries for the gateways and the server, into dist/ (git-ignored), with SHA256SUMS:
#   dist/edge-agent-linux-amd64, dist/edge-agent-linux-arm64, dist/edge-agent-linux-armv7, …
# CGO_ENABLED=0: no libc dependency, so one file runs on any Linux of that architecture
# (Debian, Yocto, OpenWrt-like gateway images). -trimpath and -s -w: no build paths, no
# symbol tables (smaller; stack traces keep function names and lines).
# Overrides: DIST=dir, BINARIES="edge-agent", PLATFORMS="linux/arm/7 linux/arm64", GO=go1.26.
set -eu
cd "$(dirname "$0")/.."
DIST=${DIST:-dist}
BINARIES=${BINARIES:-edge-agent park-collector parkctl}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 linux/arm/7}
GO=${GO:-go}

mkdir -p "$DIST"
built=""
for platform in $PLATFORMS; do
	goos=${platform%%/*}
	rest=${platform#*/}
	goarch=${rest%%/*}
	goarm=""
	suffix=$goarch
	case $rest in
	arm/*)
		goarm=${rest#arm/}
		suffix=armv$goarm
		;;
	esac
	for bin in $BINARIES; do
		name="$bin-$goos-$suffix"
		echo "release: $DIST/$name"
		CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch GOARM=$goarm \
			"$GO" build -trimpath -ldflags "-s -w" -o "$DIST/$name" "./cmd/$bin"
		built="$built $name"
	done
done
# shellcheck disable=SC2086 # word splitting of the file list is intended
(cd "$DIST" && sha256sum $built >SHA256SUMS)
echo "release: $DIST/SHA256SUMS"
