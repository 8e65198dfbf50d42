#!/usr/bin/env bash
# Builds the container image (OCI) offline: no base image is pulled. The root holds only
#   /usr/bin/ibkr-sessiond (stripped), the shared libraries `ldd` names (with their symlinks) and the dynamic
#   loader, /etc/ssl/certs/ca-certificates.crt (Debian's ca-certificates) with OpenSSL's default
#   paths pointing at it (/usr/lib/ssl/cert.pem, /usr/lib/ssl/certs, as Debian's openssl has them),
#   /usr/share/zoneinfo (Debian's tzdata, without the leap-second "right/" copies: IBKR's calendar
#   reads America/New_York, Europe/Zurich and Asia/Hong_Kong, TZ= may name any other for the log),
#   /etc/passwd, /etc/group (root and the user sessiond, 65532), /etc/nsswitch.conf (hosts: files
#   dns), and the state directory /var/lib/ibkr-sessiond (owned by 65532, mode 0700, a volume).
#   No shell, no package manager. It runs as 65532 with a read-only root.
# It is committed to local containers storage as localhost/ibkr-sessiond:<version> (the version in
# CMakeLists.txt) and saved as an OCI archive, build/image/ibkr-sessiond-<version>.oci.tar (layers
# gzip-compressed: `podman load -i` it on another machine, or `skopeo copy` it to a registry).
#
# Secrets are files, never environment variables: the image sets CREDENTIALS_DIRECTORY=/run/secrets,
# where the daemon looks for the same credential files systemd's LoadCredential= gives it:
#   /run/secrets/ibkr-private-key        the RSA key PEM (instead of IBKR_PRIVATE_KEY[_FILE])
#   /run/secrets/sessiond-api-token      the API token (instead of SESSIOND_API_TOKEN)
#   /run/secrets/sessiond-gateway-token  the gateway token (instead of SESSIOND_GATEWAY_TOKEN)
# The image listens on 0.0.0.0:4257, beyond loopback: the daemon then refuses to start (exit 78)
# without the API token, and without the gateway token unless SESSIOND_GATEWAY=off.
#   /run/secrets/sessiond-master-key     multi-user mode's master key (sessiond-master-key_<N>:
#                                        version N), as systemd's credential of that name
# podman: `podman secret create ibkr-private-key key.pem`, then `--secret ibkr-private-key,uid=65532`
# and, with --read-only, `--tmpfs /run/secrets` (podman 4.3 mounts an empty read-only /run/secrets
# and cannot place a secret file in it: containers/podman#15541). Or a read-only bind mount of a
# directory: `-v /etc/ibkr-sessiond/secrets:/run/secrets:ro` (files readable by 65532).
# Kubernetes: a Secret volume mounted at /run/secrets whose keys are those names. The other settings
# (IBKR_CLIENT_ID, IBKR_CREDENTIAL, ...) are environment variables, or an env file given as
# `run --env-file PATH` (the arguments after the image name replace "run"). Logs are lines on stderr
# (`podman logs`, `kubectl logs`).
#
#   bash deploy/image.sh              builds build/release (deploy/build.sh release) and packs it
#   bash deploy/image.sh --bin PATH   packs that ibkr-sessiond binary instead (no build)
#   --tag NAME:TAG                    another name than localhost/ibkr-sessiond:<version>
set -euo pipefail
cd "$(dirname "$0")/.."

bin=
tag=
while (($#)); do
  case "$1" in
    --bin) bin=${2:?--bin needs a path}; shift 2 ;;
    --tag) tag=${2:?--tag needs NAME:TAG}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "image.sh: unknown argument '$1' (--bin PATH, --tag NAME:TAG)" >&2; exit 64 ;;
  esac
done

version=$(sed -nE 's/^project\(ibkr-sessiond VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
[[ -n $version ]] || { echo "image.sh: no version in CMakeLists.txt" >&2; exit 1; }
tag=${tag:-localhost/ibkr-sessiond:$version}
out=$PWD/build/image
archive=$out/ibkr-sessiond-$version.oci.tar

# buildah builds the image, podman runs it (tests/image); ca-certificates and tzdata fill the root.
bash deploy/install-deps.sh buildah podman
if [[ -z $bin ]]; then
  bash deploy/build.sh release
  bin=$PWD/build/release/daemon/ibkr-sessiond
fi
[[ -x $bin ]] || { echo "image.sh: $bin is not an executable" >&2; exit 1; }
bin=$(readlink -f "$bin")
"$bin" --version | grep -qx "ibkr-sessiond $version" ||
  { echo "image.sh: $bin is not ibkr-sessiond $version: $("$bin" --version)" >&2; exit 1; }

mkdir -p "$out"
stage=$(mktemp -d "$out/root.XXXXXX")
ctr=
cleanup() {
  [[ -n $ctr ]] && buildah rm "$ctr" >/dev/null 2>&1
  rm -rf "$stage"
}
trap cleanup EXIT
root=$stage/root
mkdir -p "$root"/usr/{bin,lib/x86_64-linux-gnu,lib64,share} "$root"/etc/ssl/certs "$root"/var/lib/ibkr-sessiond "$root"/tmp
# Debian 12's merged /usr: /lib and /lib64 are links into /usr, so the loader's path and the
# libraries' paths, as ldd prints them, resolve as on the build host.
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
chmod 1777 "$root/tmp"  # a mount point: podman --read-only puts a tmpfs there (the daemon writes none)

# Stripped (the symbol table is 40 % of the file; the daemon prints no stack traces).
install -m 0755 "$bin" "$root/usr/bin/ibkr-sessiond"
strip --strip-unneeded "$root/usr/bin/ibkr-sessiond"

# copy_path PATH: PATH into the root at the same place, following each symlink in the chain (the
# link is copied as a link, then its target), and the directory links on the way (/lib -> usr/lib).
copy_path() {
  local path=$1 dir
  while :; do
    dir=$(readlink -f "$(dirname "$path")")
    path=$dir/$(basename "$path")
    mkdir -p "$root$dir"
    if [[ -L $path ]]; then
      cp -P "$path" "$root$path"
      local target
      target=$(readlink "$path")
      [[ $target == /* ]] || target=$dir/$target
      path=$target
    else
      cp -p "$path" "$root$path"
      return
    fi
  done
}

# The libraries the binary loads, and the loader its PT_INTERP names (/lib64/ld-linux-x86-64.so.2).
mapfile -t libraries < <(ldd "$bin" | sed -nE 's/^\s*\S+ => (\/\S+) \(0x[0-9a-f]+\)$/\1/p; s/^\s*(\/\S+) \(0x[0-9a-f]+\)$/\1/p')
if ldd "$bin" | grep -q "not found"; then
  echo "image.sh: ldd $bin names libraries that are not installed:" >&2
  ldd "$bin" | grep "not found" >&2
  exit 1
fi
((${#libraries[@]} > 0)) || { echo "image.sh: ldd found no libraries in $bin" >&2; exit 1; }
for lib in "${libraries[@]}"; do copy_path "$lib"; done
[[ -e $root/lib64/ld-linux-x86-64.so.2 ]] || { echo "image.sh: no dynamic loader in the root" >&2; exit 1; }

# CA certificates, where the daemon's TLS (OpenSSL's default paths) finds them.
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$root/usr/lib/ssl"
ln -s /etc/ssl/certs/ca-certificates.crt "$root/usr/lib/ssl/cert.pem"
ln -s /etc/ssl/certs "$root/usr/lib/ssl/certs"

# tzdata, all zones but the leap-second variants (unused: TZif files with leap seconds are not POSIX time).
cp -a /usr/share/zoneinfo "$root/usr/share/zoneinfo"
rm -rf "$root/usr/share/zoneinfo/right"
for zone in America/New_York Europe/Zurich Asia/Hong_Kong UTC; do
  [[ -f $root/usr/share/zoneinfo/$zone ]] || { echo "image.sh: tzdata has no $zone" >&2; exit 1; }
done

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
sessiond:x:65532:65532:ibkr-sessiond:/var/lib/ibkr-sessiond:/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
sessiond:x:65532:
EOF
# glibc's default for hosts without this file is "dns [!UNAVAIL=return] files": /etc/hosts first,
# as on any Debian host (podman and Kubernetes write /etc/hosts).
cat >"$root/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
chmod 0644 "$root"/etc/{passwd,group,nsswitch.conf}

# Two archives: the root owned by root, then the state directory owned by sessiond, mode 0700. Sorted
# names and the commit's time as every mtime: the same inputs give the same layer.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
tar_args=(--sort=name --mtime="@$epoch" --numeric-owner --format=gnu)
tar -C "$root" "${tar_args[@]}" --owner=0 --group=0 --exclude=./var/lib/ibkr-sessiond -cf "$stage/root.tar" .
tar -C "$root" "${tar_args[@]}" --owner=65532 --group=65532 --mode=0700 --no-recursion -cf "$stage/state.tar" ./var/lib/ibkr-sessiond

revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- 2>/dev/null || revision="$revision-dirty"
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

ctr=$(buildah from scratch)
buildah add --quiet "$ctr" "$stage/root.tar" / >/dev/null
buildah add --quiet "$ctr" "$stage/state.tar" / >/dev/null
buildah config \
  --os linux --arch amd64 \
  --user 65532:65532 \
  --workingdir /var/lib/ibkr-sessiond \
  --entrypoint '["/usr/bin/ibkr-sessiond"]' \
  --cmd '["run"]' \
  --env SESSIOND_LISTEN=0.0.0.0:4257 \
  --env SESSIOND_STATE_DIR=/var/lib/ibkr-sessiond \
  --env CREDENTIALS_DIRECTORY=/run/secrets \
  --port 4257/tcp \
  --volume /var/lib/ibkr-sessiond \
  --stop-signal SIGTERM \
  --label org.opencontainers.image.title=ibkr-sessiond \
  --label "org.opencontainers.image.description=Keeps an Interactive Brokers Web API session alive" \
  --label org.opencontainers.image.version="$version" \
  --label org.opencontainers.image.revision="$revision" \
  --label org.opencontainers.image.created="$created" \
  --label org.opencontainers.image.base.name=scratch \
  --created-by "deploy/image.sh" \
  "$ctr"
previous=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
buildah commit --quiet --rm --squash --identity-label=false --timestamp "$epoch" "$ctr" "$tag" >/dev/null
ctr=
# The image this tag named before, if no container uses it: rebuilding leaves no unnamed images.
if [[ -n $previous && $previous != $(podman image inspect --format '{{.Id}}' "$tag") ]]; then
  podman rmi "$previous" >/dev/null 2>&1 || true
fi

rm -f "$archive"
buildah push --quiet "$tag" "oci-archive:$archive:$tag" >/dev/null

uncompressed=$(podman image inspect --format '{{.Size}}' "$tag")
compressed=$(stat -c %s "$archive")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "image.sh: $tag ($(podman image inspect --format '{{.Id}}' "$tag" | cut -c1-12))"
echo "  uncompressed: $(mib "$uncompressed") ($uncompressed bytes, the root filesystem)"
echo "  compressed:   $(mib "$compressed") ($compressed bytes, $archive, gzip layer)"
