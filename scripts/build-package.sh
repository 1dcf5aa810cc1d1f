#!/usr/bin/env bash
# Builds raftkv's Debian package from this tree into OUT_DIR (default build-deb/), without
# touching the tree: the tracked and untracked-but-not-ignored files are copied to
# OUT_DIR/raftkv-<version>/ and `dpkg-buildpackage -us -uc -b` runs there, so the .deb files
# land in OUT_DIR. The copy has no .git, so the commit is passed on in RAFTKV_GIT_SHA1 and
# RAFTKV_GIT_DIRTY (cmake/version.cmake). `make package` and tests/cluster/test_package.py
# use it; building in the repository itself (`dpkg-buildpackage -us -uc -b`) works too and
# leaves the .deb in the parent directory, as Debian's tools do.
#
# DEB_BUILD_OPTIONS defaults to "nocheck parallel=<cores>".
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:-$root/build-deb}" && cd "${1:-$root/build-deb}" && pwd)"
version="$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)"
tree="$out/raftkv-$version"

rm -rf "$tree"
mkdir -p "$tree"
cd "$root"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # (a tracked file deleted in the work tree is left out, as the build would see it)
  git ls-files -z --cached --others --exclude-standard |
    xargs -0 sh -c 'for f; do if [ -e "$f" ]; then printf "%s\0" "$f"; fi; done' sh |
    xargs -0 cp -P --parents -t "$tree"
  export RAFTKV_GIT_SHA1="${RAFTKV_GIT_SHA1:-$(git rev-parse HEAD)}"
  if [ -z "${RAFTKV_GIT_DIRTY:-}" ]; then
    RAFTKV_GIT_DIRTY=0
    git diff --quiet HEAD -- || RAFTKV_GIT_DIRTY=1
    export RAFTKV_GIT_DIRTY
  fi
else
  tar -C "$root" --exclude='./build*' --exclude='./obj-*' --exclude='./data' -cf - . |
    tar -C "$tree" -xf -
fi

cd "$tree"
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-nocheck parallel=$(nproc)}"
dpkg-buildpackage -us -uc -b
echo "build-package: $(ls "$out"/raftkv_"$version"_*.deb)"
