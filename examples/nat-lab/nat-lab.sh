#!/usr/bin/env bash
# Viaduct NAT lab: two peers, each behind its own port-randomizing NAT, and a "public" relay host.
# Shows (a) a direct UDP hole punch between the peers failing, and (b) the same peers exchanging data
# through Viaduct's pairing relay (TCP, UDP and a file with a hash check).
#
# Linux, root, iproute2 (ip netns), nftables (or iptables). Builds only namespaces of its own (named
# vdlab<PID>-*) with addresses from 10.201.0.0/16 (private, behind the NATs) and 198.18.0.0/15
# (the "internet", a benchmarking range); touches nothing in the host namespace; removes everything on
# exit (trap). Run `npm run build` first.
#
#   sudo examples/nat-lab/nat-lab.sh           exit 0 when (a) failed and (b) worked, as it should
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN="$ROOT/dist/bin/viaduct.js"
NODE=${NODE:-$(command -v node)}
SECRET=${LAB_SECRET:-nat-lab-secret-0123456789}
PUNCH_SECONDS=${PUNCH_SECONDS:-3}
TAG="vdlab$$"
NS_INET="$TAG-inet" NS_RELAY="$TAG-relay" NS_NATA="$TAG-nata" NS_NATB="$TAG-natb" NS_A="$TAG-peera" NS_B="$TAG-peerb"
ALL_NS=("$NS_A" "$NS_B" "$NS_NATA" "$NS_NATB" "$NS_RELAY" "$NS_INET")
RELAY_IP=198.18.0.2
RELAY_PORT=7070
WORK=$(mktemp -d "${TMPDIR:-/tmp}/viaduct-nat-lab.XXXXXX")
PIDS=()

say() { printf '\n== %s\n' "$*"; }
die() { echo "nat-lab: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
command -v ip >/dev/null || die "needs iproute2 (ip)"
[ -f "$BIN" ] || die "$BIN is missing: run npm run build first"

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  # Anything still running inside our namespaces was started by this script: end it by PID.
  for ns in "${ALL_NS[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  done
  for ns in "${ALL_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# A veth pair between two namespaces, created inside them (never in the host namespace).
link() { # ns1 if1 addr1 ns2 if2 addr2
  ip -n "$1" link add "$2" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3" dev "$2"; ip -n "$1" link set "$2" up
  ip -n "$4" addr add "$6" dev "$5"; ip -n "$4" link set "$5" up
}

# Masquerade with fully random source ports (symmetric-like NAT): every new destination gets a new,
# unpredictable public port; unsolicited inbound connections are dropped, also those addressed to the
# NAT box itself (dropping them in input keeps their conntrack entries unconfirmed, so an early punch
# packet cannot occupy the tuple a later outbound mapping needs).
nat() { # ns wan-if
  if command -v nft >/dev/null; then
    in_ns "$1" nft -f - <<NFT
table ip lab_nat {
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; oifname "$2" masquerade fully-random; }
}
table ip lab_filter {
  chain forward { type filter hook forward priority filter; policy accept; iifname "$2" ct state new drop; }
  chain input { type filter hook input priority filter; policy accept; iifname "$2" ct state new drop; }
}
NFT
  else
    in_ns "$1" iptables -t nat -A POSTROUTING -o "$2" -j MASQUERADE --random-fully
    in_ns "$1" iptables -A FORWARD -i "$2" -m conntrack --ctstate NEW -j DROP
    in_ns "$1" iptables -A INPUT -i "$2" -m conntrack --ctstate NEW -j DROP
  fi
}

say "building namespaces ($TAG-*)"
for ns in "${ALL_NS[@]}"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
link "$NS_INET" r0 198.18.0.1/30 "$NS_RELAY" eth0 $RELAY_IP/30
link "$NS_INET" a0 198.18.1.1/30 "$NS_NATA" wan0 198.18.1.2/30
link "$NS_INET" b0 198.18.2.1/30 "$NS_NATB" wan0 198.18.2.2/30
link "$NS_NATA" lan0 10.201.1.1/24 "$NS_A" eth0 10.201.1.2/24
link "$NS_NATB" lan0 10.201.2.1/24 "$NS_B" eth0 10.201.2.2/24
ip -n "$NS_RELAY" route add default via 198.18.0.1
ip -n "$NS_NATA" route add default via 198.18.1.1
ip -n "$NS_NATB" route add default via 198.18.2.1
ip -n "$NS_A" route add default via 10.201.1.1
ip -n "$NS_B" route add default via 10.201.2.1
for ns in "$NS_INET" "$NS_NATA" "$NS_NATB"; do in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1; done
nat "$NS_NATA" wan0
nat "$NS_NATB" wan0
echo "peer A 10.201.1.2 behind NAT A (public 198.18.1.2); peer B 10.201.2.2 behind NAT B (public 198.18.2.2); relay $RELAY_IP"
if command -v ping >/dev/null; then
  in_ns "$NS_A" ping -c1 -W2 -q $RELAY_IP >/dev/null && echo "peer A reaches the relay through its NAT"
  if in_ns "$NS_A" ping -c1 -W1 -q 10.201.2.2 >/dev/null 2>&1; then die "peer A reaches peer B's private address: the lab is broken"; fi
  echo "peer A cannot reach peer B's private address (as on the real internet)"
fi

say "starting Viaduct's relay in the relay namespace"
# ip netns exec execs node, so $! is node's PID (a bash function in the background would be a subshell)
ip netns exec "$NS_RELAY" "$NODE" "$BIN" start --relay "$RELAY_IP:$RELAY_PORT" --relay-secret "$SECRET" \
  --http off --socks off --mixed off --turn off --admin off --log-level warn --drain-timeout 500 2>"$WORK/relay.log" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q 'pairing-udp' "$WORK/relay.log" 2>/dev/null && break; sleep 0.1; done
grep -q 'pairing-udp' "$WORK/relay.log" || { cat "$WORK/relay.log"; die "the relay did not start"; }
sed -n '1,3p' "$WORK/relay.log"
token() { "$NODE" "$BIN" token --secret "$SECRET" --id "$1" --ttl 600; }

say "(a) direct UDP hole punch: each peer learns the other's public address from the relay and sends to it"
T=$(token punch)
LAB_NAME="peer A" in_ns "$NS_A" "$NODE" "$HERE/punch.mjs" $RELAY_IP $RELAY_PORT punch "$T" 40000 "$PUNCH_SECONDS" >"$WORK/punch-a" 2>&1 &
PA=$!
sleep 0.3
LAB_NAME="peer B" in_ns "$NS_B" "$NODE" "$HERE/punch.mjs" $RELAY_IP $RELAY_PORT punch "$T" 40000 "$PUNCH_SECONDS" >"$WORK/punch-b" 2>&1 &
PB=$!
set +e; wait $PA; RA=$?; wait $PB; RB=$?; set -e
cat "$WORK/punch-a" "$WORK/punch-b"
if [ $RA = 0 ] && [ $RB = 0 ]; then
  PUNCH=failed
  echo "RESULT (a): hole punch FAILED: no datagram got through either NAT directly"
elif [ $RA = 10 ] || [ $RB = 10 ]; then
  PUNCH=worked
  echo "RESULT (a): the hole punch got through (the NATs are not port-randomizing?)"
else
  die "the punch attempt itself failed (exit $RA/$RB)"
fi

# The control: the same punch behind port-PRESERVING masquerade works, so it is the randomization
# that defeats it (set PUNCH_CONTROL=0 to skip).
CONTROL=skipped
if [ "${PUNCH_CONTROL:-1}" = 1 ]; then
  say "(a') control: the same punch behind NATs that keep source ports (plain masquerade)"
  for ns in "$NS_NATA" "$NS_NATB"; do
    if command -v nft >/dev/null; then
      in_ns "$ns" nft delete table ip lab_nat
      in_ns "$ns" nft -f - <<NFT
table ip lab_nat {
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; oifname "wan0" masquerade; }
}
NFT
    else
      in_ns "$ns" iptables -t nat -F POSTROUTING
      in_ns "$ns" iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE
    fi
  done
  T=$(token control)
  LAB_NAME="peer A" in_ns "$NS_A" "$NODE" "$HERE/punch.mjs" $RELAY_IP $RELAY_PORT control "$T" 40001 "$PUNCH_SECONDS" >"$WORK/ctl-a" 2>&1 &
  PA=$!
  sleep 0.3
  LAB_NAME="peer B" in_ns "$NS_B" "$NODE" "$HERE/punch.mjs" $RELAY_IP $RELAY_PORT control "$T" 40001 "$PUNCH_SECONDS" >"$WORK/ctl-b" 2>&1 &
  PB=$!
  set +e; wait $PA; RA=$?; wait $PB; RB=$?; set -e
  cat "$WORK/ctl-a" "$WORK/ctl-b"
  if [ $RA = 10 ] && [ $RB = 10 ]; then CONTROL=worked; else CONTROL=failed; fi
  echo "RESULT (a'): without port randomization the direct punch $CONTROL"
  # back to port-randomizing NATs for (b)
  for ns in "$NS_NATA" "$NS_NATB"; do
    if command -v nft >/dev/null; then in_ns "$ns" nft delete table ip lab_nat; in_ns "$ns" nft delete table ip lab_filter; else in_ns "$ns" iptables -t nat -F POSTROUTING; in_ns "$ns" iptables -F FORWARD; in_ns "$ns" iptables -F INPUT; fi
    nat "$ns" wan0
  done
fi

say "(b) the same peers through Viaduct's relay (port-randomizing NATs again)"
T=$(token lab-tcp)
printf 'hello from A over tcp\n' | in_ns "$NS_A" "$NODE" "$BIN" peer --relay $RELAY_IP:$RELAY_PORT --id lab-tcp --token "$T" >"$WORK/tcp-a" 2>"$WORK/tcp-a.err" &
P1=$!
sleep 0.3
printf 'hello from B over tcp\n' | in_ns "$NS_B" "$NODE" "$BIN" peer --relay $RELAY_IP:$RELAY_PORT --id lab-tcp --token "$T" >"$WORK/tcp-b" 2>"$WORK/tcp-b.err"
wait $P1 || true
grep -h paired "$WORK/tcp-a.err" "$WORK/tcp-b.err" || true
echo "A received: $(cat "$WORK/tcp-a")"; echo "B received: $(cat "$WORK/tcp-b")"
TCP=fail; grep -q 'hello from B over tcp' "$WORK/tcp-a" && grep -q 'hello from A over tcp' "$WORK/tcp-b" && TCP=ok

T=$(token lab-udp)
printf 'hello from A over udp' | in_ns "$NS_A" "$NODE" "$BIN" peer --udp --idle-exit 1500 --relay $RELAY_IP:$RELAY_PORT --id lab-udp --token "$T" >"$WORK/udp-a" 2>/dev/null &
P1=$!
sleep 0.3
{ sleep 0.5; printf 'hello from B over udp'; } | in_ns "$NS_B" "$NODE" "$BIN" peer --udp --idle-exit 1500 --relay $RELAY_IP:$RELAY_PORT --id lab-udp --token "$T" >"$WORK/udp-b" 2>/dev/null
wait $P1 || true
echo "A received: $(cat "$WORK/udp-a")"; echo "B received: $(cat "$WORK/udp-b")"
UDP=fail; grep -q 'hello from B over udp' "$WORK/udp-a" && grep -q 'hello from A over udp' "$WORK/udp-b" && UDP=ok

T=$(token lab-file)
head -c 2000000 /dev/urandom >"$WORK/file.in"
in_ns "$NS_B" "$NODE" "$BIN" peer --relay $RELAY_IP:$RELAY_PORT --id lab-file --token "$T" --receive "$WORK/file.out" 2>"$WORK/file-b.err" &
P1=$!
sleep 0.3
FILE=fail
in_ns "$NS_A" "$NODE" "$BIN" peer --ws --relay $RELAY_IP:$RELAY_PORT --id lab-file --token "$T" --send "$WORK/file.in" 2>"$WORK/file-a.err" && wait $P1 && cmp -s "$WORK/file.in" "$WORK/file.out" && FILE=ok
cat "$WORK/file-a.err" "$WORK/file-b.err" | grep -E 'sent|received' || true

say "summary"
echo "RESULT: direct hole punch: $PUNCH (control without port randomization: $CONTROL); through the relay: tcp $TCP, udp $UDP, file (ws -> tcp) $FILE"
[ "$CONTROL" != failed ] && [ "$PUNCH" = failed ] && [ "$TCP" = ok ] && [ "$UDP" = ok ] && [ "$FILE" = ok ]
