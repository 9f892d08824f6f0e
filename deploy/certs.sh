#!/usr/bin/env bash
# Makes a certificate authority and the certificates of a swift-raft cluster with openssl
# (README, "Transport security"). ECDSA P-256 keys; files are PEM.
#
#   deploy/certs.sh [--dir DIR] [--members 1,2,3] [--hosts H,...] [--days N]
#       a CA in DIR (kept if DIR/ca.pem exists), a certificate for each member and one client
#       certificate: DIR/ca.pem, DIR/member-<id>.pem + member-<id>-key.pem, DIR/client.pem +
#       client-key.pem. Defaults: DIR ./.cluster/certs, members 1,2,3, hosts 127.0.0.1,localhost,
#       365 days.
#   deploy/certs.sh member ID [--dir DIR] [--hosts H,...] [--days N] [--out NAME]
#       one member's certificate, signed by DIR's CA: for a member added or replaced, for a
#       member on its own host (--hosts: every name and address it is dialled at), or to rotate.
#       --out NAME writes NAME.pem and NAME-key.pem instead of member-<id>.
#   deploy/certs.sh client NAME [--dir DIR] [--days N]
#       a client certificate (CN NAME) for raftctl, raft-bench or Prometheus.
#   deploy/certs.sh ca [--dir DIR] [--days N]
#       a new CA (replacing DIR/ca.pem; every certificate must then be made again).
#
# A member's certificate names it: subject CN member-<id>, and carries SANs for the hosts it is
# reached at; it serves its peer port, client port and metrics page and is its client
# certificate when it dials other members. --days may be negative (an expired certificate, for
# tests). Keys are written readable by their owner only.
set -euo pipefail

die() { echo "certs.sh: $*" >&2; exit 1; }
usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64; }
command -v openssl >/dev/null || die "openssl is not installed (Debian: apt-get install openssl)"

command=all
case "${1:-}" in
  member|client|ca) command=$1; shift ;;
  -h|--help) usage ;;
esac
name=""
if [ "$command" = member ] || [ "$command" = client ]; then
  [ $# -ge 1 ] && [ "${1#-}" = "$1" ] || usage
  name=$1; shift
fi
dir=./.cluster/certs
members=1,2,3
hosts=127.0.0.1,localhost
days=365
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || usage; dir=$2; shift 2 ;;
    --members) [ $# -ge 2 ] || usage; members=$2; shift 2 ;;
    --hosts) [ $# -ge 2 ] || usage; hosts=$2; shift 2 ;;
    --days) [ $# -ge 2 ] || usage; days=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    *) usage ;;
  esac
done
[[ "$days" =~ ^-?[0-9]+$ ]] || die "--days takes a whole number, not '$days'"
mkdir -p "$dir"
umask 077

make_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" -days "${1:-3650}" -subj "/CN=swift-raft CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null \
    || die "openssl could not make the CA"
  chmod 644 "$dir/ca.pem"
  echo "CA: $dir/ca.pem"
}

# sign BASENAME CN EXTENDED_KEY_USAGE [SAN]
sign() {
  local base=$1 cn=$2 usage=$3 san=${4:-}
  [ -f "$dir/ca.pem" ] && [ -f "$dir/ca-key.pem" ] || die "no CA in $dir (run: deploy/certs.sh ca --dir $dir)"
  local extensions
  extensions=$(mktemp)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$usage"
    [ -z "$san" ] || echo "subjectAltName=$san"
  } >"$extensions"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -keyout "$dir/$base-key.pem" -out "$dir/$base.csr" -subj "/CN=$cn" 2>/dev/null \
    || die "openssl could not make the key of $cn"
  openssl x509 -req -in "$dir/$base.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -CAcreateserial \
    -sha256 -days "$days" -extfile "$extensions" -out "$dir/$base.pem" 2>/dev/null \
    || { rm -f "$extensions" "$dir/$base.csr"; die "openssl could not sign the certificate of $cn"; }
  rm -f "$extensions" "$dir/$base.csr"
  chmod 644 "$dir/$base.pem"
  echo "$cn: $dir/$base.pem, key $dir/$base-key.pem"
}

san_of() {
  local list="" host
  IFS=, read -r -a parts <<<"$1"
  for host in "${parts[@]}"; do
    [ -n "$host" ] || continue
    if [[ "$host" =~ ^[0-9.]+$ ]] || [[ "$host" == *:* ]]; then list+="${list:+,}IP:$host"
    else list+="${list:+,}DNS:$host"; fi
  done
  echo "$list"
}

member() {
  [[ "$1" =~ ^[1-9][0-9]*$ ]] || die "a member id is a positive number, not '$1'"
  sign "${out:-member-$1}" "member-$1" "serverAuth,clientAuth" "$(san_of "$hosts")"
}

case "$command" in
  ca) make_ca "$days" ;;
  member) member "$name" ;;
  client)
    [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || die "a client name is letters, digits, '.', '_' or '-'"
    sign "${out:-client-$name}" "$name" "clientAuth" ;;
  all)
    [ -f "$dir/ca.pem" ] || make_ca 3650
    IFS=, read -r -a ids <<<"$members"
    for id in "${ids[@]}"; do member "$id"; done
    out=client; sign client client "clientAuth" ;;
esac
