#!/usr/bin/env bash
# Builds the Debian packages with Debian's own tooling (debian/: debhelper compat 13, dh, cmake+ninja,
# dh_installsystemd) and checks them with lintian; any lintian error or warning fails (overrides only
# in debian/*lintian-overrides, each with its reason).
#   build/package/ibkr-sessiond_<version>_amd64.deb   the daemon, its unit, its settings conffile
#   build/package/ibkr-sim_<version>_amd64.deb        the IBKR simulator: a test tool, not for production
#   build/package/  also the -dbgsym packages, the source package (.dsc, .orig.tar.xz, .debian.tar.xz),
#                   .buildinfo and .changes
# The build runs on a copy of the tree (build/package/work/), so the worktree gets no obj dirs or
# debian/ leftovers. Offline: every build dependency is a Debian package installed beforehand.
# JOBS (default 2): parallel compile jobs.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=${JOBS:-2}
out=build/package
work=$out/work

bash deploy/install-deps.sh debhelper dpkg-dev fakeroot lintian

version=$(dpkg-parsechangelog -S Version)
upstream=${version%-*}
project_version=$(sed -n 's/^project(ibkr-sessiond VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
if [[ $upstream != "$project_version" ]]; then
  echo "package.sh: debian/changelog says $version, CMakeLists.txt $project_version: add a changelog entry (dch -v $project_version-1)" >&2
  exit 1
fi

rm -rf "$out"
src=$work/ibkr-sessiond-$upstream
mkdir -p "$src"
# The tree as git sees it (tracked and new files, without what .gitignore excludes: build/, node_modules/...).
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -xf - -C "$src"
else
  tar --exclude=./build --exclude='./build-*' --exclude=./.cache --exclude=node_modules -cf - . | tar -xf - -C "$src"
fi

# The upstream tarball of the 3.0 (quilt) source package: the tree without debian/, reproducible.
mtime=$(dpkg-parsechangelog -S Timestamp)
tar -C "$work" --exclude="ibkr-sessiond-$upstream/debian" --sort=name --mtime="@$mtime" \
    --owner=0 --group=0 --numeric-owner -cf - "ibkr-sessiond-$upstream" | xz -T1 -6 > "$work/ibkr-sessiond_$upstream.orig.tar.xz"

# In a network namespace of its own when the kernel allows: proof that the build downloads nothing.
offline=()
if unshare --net true 2>/dev/null; then
  offline=(unshare --net)
else
  echo "package.sh: no network namespace here (not root?): building with the network visible" >&2
fi
echo "package.sh: building ibkr-sessiond $version with $jobs jobs" >&2
(cd "$src" && "${offline[@]}" dpkg-buildpackage --build=full -us -uc -j"$jobs")

changes=$work/ibkr-sessiond_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).changes
for f in $(sed -n '/^Files:/,/^[^ ]/{/^ /s/.* //p}' "$changes") "$(basename "$changes")"; do
  mv "$work/$f" "$out/"
done
rm -rf "$work"

echo "package.sh: lintian" >&2
# --fail-on error,warning: the exit status; --display-info: the informational tags are shown too.
lintian --fail-on error,warning --display-info "$out/$(basename "$changes")"
echo "package.sh: lintian: no errors, no warnings" >&2

for deb in "$out"/*.deb; do
  printf '%8s  %s\n' "$(du -h --apparent-size "$deb" | cut -f1)" "$deb"
done
