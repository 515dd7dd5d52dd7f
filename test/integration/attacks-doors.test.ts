// Attacks on the doors from inside real bottles, as a hostile agent would try
// them: the guest has only `lo`, its doors are Unix sockets of the `bottle`
// process, bind-mounted read-only at /run/claude-bottle/doors, and offered on
// 127.0.0.1 by a root forwarder that holds the lifeline. Every attack must be
// refused or harmless, and every door must still answer afterwards.
//
// One bottle with all three doors (egress, git gate, supervise) runs the
// attacks that need no special setup in one script, section by section (each
// `it` below checks its section); the rest need their own bottle: kill -9 of
// `bottle`, a state dir inside a mounted workspace, an audit flood.
//
// The last two describe the safe behaviour of attacks that succeed today, so
// they fail until the product changes: a host state root inside a `mount`
// workspace is the guest's to read and write (forged audit records, host
// processes signalled by teardown), and every refused request is one more
// synchronous audit line on the host, as many as the guest cares to send.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, execaSync } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, auditEvents, BIN, bottle, leftovers, project, simpleConfig, TEST_IMAGE, type Project } from '../helpers/cli.ts';
import { startSshd, type Sshd } from '../helpers/sshd.ts';

/** The door ports: egress proxy, git gate, supervise. */
const PORTS = [3128, 9418, 8767] as const;

/** Lines `key rest...` of a guest script's output, by key (the last one wins). */
function parse(stdout: string): Map<string, string> {
  return new Map(
    stdout
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => {
        const i = l.indexOf(' ');
        return i === -1 ? [l, ''] : [l.slice(0, i), l.slice(i + 1)];
      }),
  );
}

/**
 * The agent's toolbox: floods against one door port. Modes:
 *   hold N        N idle connections, held open
 *   halfopen N    N connections that send half a request, shut down their write side, never read
 *   slow N        slowloris: N connections that each send one header byte every 200 ms
 *   unread N B    N connections pipelining B bytes of requests, never reading a byte back
 *   upload N B    N connections sending a (claimed) 1 GB body, B bytes in all, never reading
 *   rst N         N connections sent half a request and reset (SO_LINGER 0)
 *   oob N         N requests with TCP urgent (out-of-band) bytes in them, read to the end
 *   pipeline N R  N connections, each R pipelined requests in one write, every answer read
 * Each prints `<mode> <port> <count> ...` when its sockets are set up, then
 * (except rst/oob) holds them until SIGTERM.
 */
const ATTACK_PL = String.raw`
use strict; use warnings;
use IO::Socket::INET; use Socket qw(SOL_SOCKET SO_LINGER SHUT_WR MSG_OOB);
$| = 1; $SIG{PIPE} = 'IGNORE';
my ($mode, $port, $n, $arg) = @ARGV;
my $t0 = time; my $limit = 20;
my $stop = 0; $SIG{TERM} = sub { $stop = 1 };
sub conn { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5) }
my @s;
if ($mode eq 'hold') {
  for (1 .. $n) { my $s = conn() or last; push @s, $s }
  print "hold $port ", scalar(@s), "\n";
  sleep 1 until $stop;
} elsif ($mode eq 'halfopen') {
  for (1 .. $n) { my $s = conn() or last; syswrite($s, "GET http://example.test/ HTTP/1.1\r\nHost: exa"); shutdown($s, SHUT_WR); push @s, $s }
  print "halfopen $port ", scalar(@s), "\n";
  sleep 1 until $stop;
} elsif ($mode eq 'slow') {
  for (1 .. $n) { my $s = conn() or last; push @s, $s }
  print "slow $port ", scalar(@s), "\n";
  my $req = "GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\nX-Slow: " . ('a' x 100000);
  my $i = 0;
  until ($stop) { syswrite($_, substr($req, $i, 1)) for @s; $i++; select(undef, undef, undef, 0.2) }
} elsif ($mode eq 'unread') {
  my $req = "GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n" x 200;
  for (1 .. $n) { my $s = conn() or last; $s->blocking(0); push @s, $s }
  my $sent = 0;
  until ($stop || $sent >= $arg || time - $t0 > $limit) { my $any = 0; for (@s) { my $w = syswrite($_, $req); if ($w) { $sent += $w; $any = 1 } } select(undef, undef, undef, 0.02) unless $any }
  print "unread $port ", scalar(@s), " ", $sent, "\n";
  sleep 1 until $stop;
} elsif ($mode eq 'pipeline') {
  # N connections, each pipelining $arg requests in one write, then reading every answer.
  my $req = "GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n";
  for (1 .. $n) { my $s = conn() or last; push @s, $s }
  my $answers = 0;
  for my $s (@s) { my $all = $req x ($arg - 1) . "GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n"; syswrite($s, $all) }
  for my $s (@s) { my $got = ''; while (sysread($s, my $b, 65536)) { $got .= $b } $answers += () = $got =~ m{HTTP/1\.1 403 }g }
  print "pipeline $port ", scalar(@s), " $answers\n";
} elsif ($mode eq 'upload') {
  my $chunk = 'x' x 65536; my $sent = 0;
  for (1 .. $n) { my $s = conn() or last; $s->blocking(0); syswrite($s, "POST /upload HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nContent-Length: 1073741824\r\n\r\n"); push @s, $s }
  until ($stop || $sent >= $arg || time - $t0 > $limit) { my $any = 0; for (@s) { my $w = syswrite($_, $chunk); if ($w) { $sent += $w; $any = 1 } } select(undef, undef, undef, 0.02) unless $any }
  print "upload $port ", scalar(@s), " ", $sent, "\n";
  sleep 1 until $stop;
} elsif ($mode eq 'rst') {
  my $ok = 0;
  for (1 .. $n) { my $s = conn() or next; syswrite($s, "GET http://example.test/ HTTP/1.1\r\n"); setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)); close $s; $ok++ }
  print "rst $port $ok\n";
} elsif ($mode eq 'oob') {
  my $ok = 0;
  for (1 .. $n) {
    my $s = conn() or next;
    send($s, "GET http://exam", 0); send($s, "!", MSG_OOB); send($s, "ple.test/ HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n", 0);
    my $got = ''; while (sysread($s, my $b, 4096)) { $got .= $b }
    $ok++ if $got =~ m{^HTTP/1\.1 \d{3} };
  }
  print "oob $port $ok\n";
} else { die "mode $mode?" }
`;

/** Shell functions the guest scripts share. */
const GUEST_LIB = String.raw`
# The root forwarder: the one root perl in the guest.
forwarder() { for d in /proc/[0-9]*; do if [ "$(awk '/^Uid:/ {print $2}' $d/status 2>/dev/null)" = 0 ] && tr '\0' ' ' < $d/cmdline 2>/dev/null | grep -q '^perl -e'; then basename $d; fi; done | head -1; }
starttime() { awk '{print $22}' /proc/$1/stat 2>/dev/null; }
proxy_code() { curl -s -m 20 -o /dev/null -w '%{http_code}' -x "$HTTP_PROXY" http://example.test/; }
`;

/** The supervise door answers a real MCP `initialize` with a session: 1, else 0. */
const MCP_INIT = String.raw`
mcp_url=$(grep -o 'http://[^"]*' /home/node/.claude.json | head -1)
mcp_init() { curl -s -m 20 -D - -o /dev/null -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}' "$mcp_url" | grep -ci '^mcp-session-id:'; }
git_refs() { timeout 30 git ls-remote "$UP" 2>/dev/null | grep -c 'refs/heads/main'; }
doors() { echo "doors-$1 proxy=$(proxy_code) git=$(git_refs) mcp=$(mcp_init)"; }
# Door connections alive right now: their host-side ends show in the guest's
# /proc/net/unix with the door's host path.
live() { grep -cE '/doors/(proxy|git|supervise)\.sock$' /proc/net/unix; }
`;

/** Host addresses (IPv4) of every interface, loopback and docker0 included (Node skips an interface that is down; `ip` does not). */
function hostV4(): string[] {
  const fromNode = Object.values(networkInterfaces()).flat().filter((a) => a?.family === 'IPv4').map((a) => a!.address);
  const fromIp = [...String(execaSync('ip', ['-o', '-4', 'addr', 'show'], { reject: false }).stdout ?? '').matchAll(/ inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!);
  return [...new Set([...fromNode, ...fromIp])];
}

/** Names of the host's Unix sockets (abstract ones as `\0name`), from its /proc/net/unix. */
function hostUnixNames(): string[] {
  const names = readFileSync('/proc/net/unix', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[7])
    .filter((n): n is string => Boolean(n))
    .map((n) => (n.startsWith('@') ? `\0${n.slice(1)}` : n));
  const wellKnown = ['/run/docker.sock', '/var/run/docker.sock', '/run/containerd/containerd.sock', '/run/dbus/system_bus_socket', '/run/systemd/private'];
  return [...new Set([...wellKnown, ...names])].slice(0, 400);
}

/** Whether this test may listen on the host's ports 80 and 443 (root, or unprivileged ports from 0). */
function bridgePortsFree(): boolean {
  const start = Number(existsSync('/proc/sys/net/ipv4/ip_unprivileged_port_start') ? readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8') : 1024);
  return process.getuid?.() === 0 || start <= 80;
}

describe.skipIf(!dockerAvailable)('attacks on the doors from inside a bottle', () => {
  let sshd: Sshd;
  let upstream = '';
  let p: Project;
  let agent: string;
  let out = new Map<string, string>();
  let stdout = '';
  let stderr = '';
  let exitCode: number | undefined;
  const abstractName = `claude-bottle-attack-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let abstractServer: net.Server;
  let abstractHits = 0;
  // Host services on the ports the proxy dials (80 for http://, 443 for CONNECT), on every address.
  const bridges: net.Server[] = [];
  let bridgePorts: number[] = [];
  let bridgeHits = 0;
  let bridgeTargets: string[] = [];
  let audit: Array<Record<string, unknown>> = [];
  const planted: string[] = [];
  const plantTag = `pwned-${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    // A host abstract socket, which only the host's network namespace can reach.
    abstractServer = net.createServer((c) => {
      abstractHits++;
      c.end('reached');
    });
    await new Promise<void>((r) => abstractServer.listen(`\0${abstractName}`, r));
    // A host service on every address, as a dev server would listen.
    for (const port of [80, 443]) {
      const srv = net.createServer((c) => {
        bridgeHits++;
        c.end('HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nreached');
      });
      // Taken or not ours to bind: that port is not tried (the proxy refuses other ports before dialling).
      const ok = await new Promise<boolean>((r) => {
        srv.once('error', () => r(false));
        srv.listen(port, '0.0.0.0', () => r(true));
      });
      if (ok) {
        bridges.push(srv);
        bridgePorts.push(port);
      }
    }

    sshd = await startSshd();
    upstream = sshd.url(sshd.bareRepo('app', { commits: 2 }));

    p = project('bottle-attacks-');
    agent = agentName('attack');
    const v4 = hostV4();
    p.config({
      image: TEST_IMAGE,
      agents: { [agent]: { bottle: 'dev' } },
      bottles: {
        dev: {
          workspace: 'copy',
          supervise: true,
          // example.test is not on the list: the proxy answers 403 for it. So
          // is the host itself (allowing it by name or address is a config
          // error now: tested with the egress config).
          egress: { allow: [], dlp: false },
          git: { remotes: { app: { upstream, identityFile: sshd.identityFile, knownHosts: sshd.knownHosts } } },
        },
      },
    });
    writeFileSync(path.join(p.dir, 'attack.pl'), ATTACK_PL);
    writeFileSync(path.join(p.dir, 'names.hex'), hostUnixNames().concat(`\0${abstractName}`).map((n) => Buffer.from(n).toString('hex')).join('\n') + '\n');

    bridgeTargets = ['localhost', '127.0.0.1', '127.1', '2130706433', '0x7f000001', '[::1]', '[::ffff:127.0.0.1]', ...v4.filter((a) => a !== '127.0.0.1')];
    const script = [
      'set -u',
      'cd /home/node/workspace',
      `UP='${upstream}'`,
      GUEST_LIB,
      MCP_INIT,
      'fwd=$(forwarder); fwd_start=$(starttime $fwd)',
      'echo "forwarder-uid $(awk \'/^Uid:/ {print $2}\' /proc/$fwd/status)"',
      'doors before',

      // --- 1. Host sockets: none in the guest; no host path or abstract socket reachable; no Docker API.
      `echo "guest-sockets $(find / -xdev -type s 2>/dev/null | wc -l)"`,
      String.raw`perl -MSocket -e 'my ($n, $ok) = (0, 0); while (my $h = <STDIN>) { chomp $h; my $name = pack("H*", $h); for my $type (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET) { socket(my $s, PF_UNIX, $type, 0) or next; $n++; if (connect($s, pack_sockaddr_un($name))) { $ok++; (my $shown = $name) =~ s/\0/@/g; print "unix-reached-one $shown\n" } } } print "unix-tried $n\nunix-reached $ok\n"' < names.hex`,
      // Whatever the guest's /proc/net/unix names (the doors' host paths among them).
      String.raw`awk 'NR > 1 && $8 != "" {print $8}' /proc/net/unix | sort -u > /tmp/seen.txt; n=0; ok=0; while read -r s; do n=$((n+1)); if perl -MSocket -e 'socket(my $s, PF_UNIX, SOCK_STREAM, 0) or exit 1; exit(connect($s, pack_sockaddr_un($ARGV[0])) ? 0 : 1)' "$s"; then ok=$((ok+1)); fi; done < /tmp/seen.txt; echo "guest-listed-tried $n"; echo "guest-listed-reached $ok"`,
      `for port in 2375 2376; do echo "docker-tcp-$port $(curl -s -m 3 -o /dev/null -w '%{http_code}' --noproxy '*' http://127.0.0.1:$port/version)"; done`,

      // --- 2. The forwarder, the lifeline, the doors mount, the ready mark.
      'for sig in TERM KILL STOP HUP INT USR1; do kill -$sig $fwd 2>/dev/null && echo "signal-$sig sent" || echo "signal-$sig refused"; done',
      'kill -KILL 1 2>/dev/null && echo "signal-init sent" || echo "signal-init refused"',
      String.raw`perl -e '$! = 0; my $r = syscall(101, 16, $ARGV[0], 0, 0); print "ptrace ", ($r == 0 ? "attached" : "refused"), "\n"' $fwd`,
      String.raw`perl -e 'my $buf = "x" x 16; my $local = pack("QQ", unpack("Q", pack("p", $buf)), 16); my $remote = pack("QQ", 0x400000, 16); my $r = syscall(310, $ARGV[0], $local, 1, $remote, 1, 0); print "process_vm_readv ", ($r > 0 ? "read" : "refused"), "\n"' $fwd`,
      String.raw`perl -e 'my $pfd = syscall(434, $ARGV[0], 0); if ($pfd < 0) { print "pidfd_getfd refused\npidfd_send_signal refused\n"; exit } my $got = 0; for my $fd (0 .. 64) { $got++ if syscall(438, $pfd, $fd, 0) >= 0 } print "pidfd_getfd ", ($got ? "got $got" : "refused"), "\n"; print "pidfd_send_signal ", (syscall(424, $pfd, 9, 0, 0) == 0 ? "sent" : "refused"), "\n"' $fwd`,
      'prlimit --pid $fwd --nofile=8:8 2>/dev/null && echo "prlimit lowered" || echo "prlimit refused"',
      'echo -1000 2>/dev/null > /proc/$fwd/oom_score_adj && echo "oom-adj written" || echo "oom-adj refused"',
      'n=0; for f in mem environ maps; do if cat /proc/$fwd/$f >/dev/null 2>&1; then n=$((n+1)); fi; done; for f in fd root cwd; do if ls /proc/$fwd/$f/ >/dev/null 2>&1; then n=$((n+1)); fi; done; echo "proc-forwarder-open $n"',
      'for ns in U m n p i; do unshare -$ns true 2>/dev/null && echo "unshare-$ns worked" || echo "unshare-$ns refused"; done',
      'mount -o remount,rw /run/claude-bottle/doors 2>/dev/null && echo "remount worked" || echo "remount refused"',
      'ls /run/claude-bottle/doors >/dev/null 2>&1 && echo "doors-list worked" || echo "doors-list refused"',
      'touch /run/claude-bottle/doors/x 2>/dev/null && echo "doors-write worked" || echo "doors-write refused"',
      String.raw`perl -MSocket -e 'socket(my $s, PF_UNIX, SOCK_STREAM, 0); print connect($s, pack_sockaddr_un("/run/claude-bottle/doors/lifeline.sock")) ? "lifeline connected\n" : "lifeline refused\n"'`,
      String.raw`for f in proxy git supervise lifeline; do for root in /proc/1/root /proc/$fwd/root /proc/$fwd/cwd/..; do perl -MSocket -e 'socket(my $s, PF_UNIX, SOCK_STREAM, 0); exit(connect($s, pack_sockaddr_un($ARGV[0])) ? 0 : 1)' "$root/run/claude-bottle/doors/$f.sock" && echo "door-by-proc reached $root $f"; done; done; echo "door-by-proc-done"`,
      // The host path of the doors dir is no secret (mountinfo), but writing there only writes the guest's own disk.
      `hostdoors=$(awk '$5 == "/run/claude-bottle/doors" {print $4}' /proc/self/mountinfo); echo "host-doors-path $hostdoors"`,
      `for d in "$hostdoors" "$(dirname "$hostdoors")"; do mkdir -p "$d" 2>/dev/null; touch "$d/${plantTag}" 2>/dev/null; done; echo "planted-attempt done"`,
      '( : > /run/claude-bottle-ready ) 2>/dev/null && echo "ready-write worked" || echo "ready-write refused"',
      'rm -f /run/claude-bottle-ready 2>/dev/null; [ -e /run/claude-bottle-ready ] && echo "ready-rm refused" || echo "ready-rm worked"',
      String.raw`perl -MSocket -e 'print socket(my $s, PF_INET, SOCK_RAW, 6) ? "raw-tcp opened\n" : "raw-tcp refused\n"'`,
      'doors after-forwarder',
      'echo "forwarder-same $([ "$(forwarder)" = "$fwd" ] && [ "$(starttime $fwd)" = "$fwd_start" ] && echo yes || echo no)"',

      // --- 3. Decoys: other loopback addresses, the door ports shared, IPv6.
      String.raw`perl -MIO::Socket::INET -MIO::Select -e '$| = 1; my @l; for my $p (3128, 9418, 8767) { for my $a ("127.0.0.2", "127.0.1.1", "127.255.255.254") { my $s = IO::Socket::INET->new(LocalAddr => $a, LocalPort => $p, Listen => 16, ReuseAddr => 1) or next; push @l, $s } } open(my $c, ">", "/tmp/decoy.count"); print $c scalar(@l), "\n"; close $c; my $sel = IO::Select->new(@l); while (1) { for my $s ($sel->can_read) { my $x = $s->accept or next; open(my $log, ">>", "/tmp/decoy.log"); print $log "hit\n"; close $log; close $x } }' & decoy=$!`,
      'sleep 0.5; echo "decoys $(cat /tmp/decoy.count)"',
      String.raw`for a in 127.0.0.1 0.0.0.0; do for port in 3128 9418 8767; do perl -MSocket -e 'socket(my $s, PF_INET, SOCK_STREAM, 0); setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1); setsockopt($s, SOL_SOCKET, SO_REUSEPORT, 1); print bind($s, pack_sockaddr_in($ARGV[1], inet_aton($ARGV[0]))) && listen($s, 1) ? "bind-$ARGV[0]-$ARGV[1] worked\n" : "bind-$ARGV[0]-$ARGV[1] refused\n"' $a $port; done; done`,
      String.raw`for a in ::1 ::; do perl -MIO::Socket::IP -e 'print IO::Socket::IP->new(LocalHost => $ARGV[0], LocalPort => 3128, Listen => 1, ReuseAddr => 1) ? "bind6-$ARGV[0] worked\n" : "bind6-$ARGV[0] refused\n"' $a; done`,
      String.raw`echo "door-urls $HTTP_PROXY $(git config --global --get-regexp 'url\..*\.insteadof' | awk '{print $1}' | sed 's/^url\.//; s/\.insteadof$//') $mcp_url"`,
      'doors decoyed',
      'kill $decoy; wait $decoy 2>/dev/null',
      'echo "decoy-hits $(cat /tmp/decoy.log 2>/dev/null | wc -l)"',

      // --- 4. The egress door as a bridge to the host: allowed by name, never dialled.
      ...(bridgePorts.includes(80) ? bridgeTargets.map((t, i) => `echo "bridge-http-${i} $(curl -s -m 10 --noproxy '' -x "$HTTP_PROXY" -o /dev/null -w '%{http_code}' http://${t}/)"`) : []),
      ...(bridgePorts.includes(443) ? bridgeTargets.map((t, i) => `echo "bridge-connect-${i} $(curl -s -m 10 --noproxy '' -x "$HTTP_PROXY" -o /dev/null -w '%{http_connect}' https://${t}/)"`) : []),

      // --- 5. Floods against every door at once, then every door again, nothing left behind.
      'for port in 3128 9418 8767; do perl attack.pl rst $port 500 > /tmp/f-rst-$port; perl attack.pl oob $port 20 > /tmp/f-oob-$port; done',
      'pids=""',
      'for port in 3128 9418 8767; do perl attack.pl hold $port 1000 > /tmp/f-hold-$port & pids="$pids $!"; perl attack.pl halfopen $port 100 > /tmp/f-half-$port & pids="$pids $!"; perl attack.pl slow $port 100 > /tmp/f-slow-$port & pids="$pids $!"; done',
      'perl attack.pl unread 3128 10 2000000 > /tmp/f-unread & pids="$pids $!"',
      'perl attack.pl upload 9418 10 30000000 > /tmp/f-up-git & pids="$pids $!"',
      'perl attack.pl upload 8767 10 30000000 > /tmp/f-up-mcp & pids="$pids $!"',
      'for i in $(seq 60); do [ "$(cat /tmp/f-* 2>/dev/null | wc -l)" -ge 18 ] && break; sleep 0.5; done',
      'cat /tmp/f-* | sed "s/^/flood-/" | awk \'{print $1 "-" $2, $3, $4}\'',
      'echo "flood-live $(live)"',
      'kill $pids 2>/dev/null; wait 2>/dev/null',
      'for i in $(seq 40); do [ "$(live)" = 0 ] && break; sleep 0.5; done',
      'echo "live-after $(live)"',
      'doors after-flood',
      'for i in $(seq 20); do [ "$(live)" = 0 ] && break; sleep 0.5; done',
      'echo "live-end $(live)"',
      String.raw`echo "tcp-left $(awk 'NR > 1 { split($2, a, ":"); p = a[2]; if ((p == "0C38" || p == "24CA" || p == "223F") && $4 != "0A" && $4 != "06") n++ } END { print n + 0 }' /proc/net/tcp)"`,
      'echo "forwarder-peak-kb $(awk \'/^VmHWM:/ {print $2}\' /proc/$fwd/status)"',
      'echo "forwarder-same-end $([ "$(forwarder)" = "$fwd" ] && [ "$(starttime $fwd)" = "$fwd_start" ] && echo yes || echo no)"',
    ].join('\n');

    // While the bottle runs: does anything the agent "planted" show up in the host's state dir?
    const run = bottle(p, ['run', '--', 'bash', '-c', script]);
    let finished = false;
    void run.finally(() => (finished = true));
    while (!finished) {
      const root = path.join(p.stateRoot, 'bottles');
      for (const slug of existsSync(root) ? readdirSync(root) : []) {
        for (const dir of [path.join(root, slug), path.join(root, slug, 'doors')]) {
          if (existsSync(path.join(dir, plantTag)) && !planted.includes(dir)) planted.push(dir);
        }
      }
      await sleep(100);
    }
    const r = await run;
    stdout = r.stdout;
    stderr = r.stderr;
    exitCode = r.exitCode;
    out = parse(stdout);
    if (exitCode === 0) audit = auditEvents(p);
  }, 170_000);

  afterAll(async () => {
    abstractServer?.close();
    for (const b of bridges) b.close();
    await sshd?.stop();
    p?.cleanup();
  });

  it('ran, and every door answered before the attacks', () => {
    expect(exitCode, `${stderr}\n${stdout}`).toBe(0);
    expect(out.get('forwarder-uid')).toBe('0');
    expect(out.get('doors-before')).toBe('proxy=403 git=1 mcp=1');
  });

  it('reaches no host socket: none in the guest, no host path or abstract socket, no Docker API', () => {
    expect(out.get('guest-sockets')).toBe('0');
    expect(Number(out.get('unix-tried'))).toBeGreaterThan(3);
    expect(out.get('unix-reached'), stdout).toBe('0');
    // The guest lists the doors' host paths in its /proc/net/unix, but none is a path it can open.
    expect(Number(out.get('guest-listed-tried'))).toBeGreaterThanOrEqual(1);
    expect(out.get('guest-listed-reached')).toBe('0');
    expect(abstractHits).toBe(0);
    expect(out.get('docker-tcp-2375')).toBe('000');
    expect(out.get('docker-tcp-2376')).toBe('000');
  });

  it('cannot signal, trace, read or limit the root forwarder', () => {
    for (const sig of ['TERM', 'KILL', 'STOP', 'HUP', 'INT', 'USR1']) expect(out.get(`signal-${sig}`), sig).toBe('refused');
    expect(out.get('signal-init')).toBe('refused');
    expect(out.get('ptrace')).toBe('refused');
    expect(out.get('process_vm_readv')).toBe('refused');
    expect(out.get('pidfd_getfd')).toBe('refused');
    expect(out.get('pidfd_send_signal')).toBe('refused');
    expect(out.get('prlimit')).toBe('refused');
    expect(out.get('oom-adj')).toBe('refused');
    expect(out.get('proc-forwarder-open')).toBe('0');
    expect(out.get('raw-tcp')).toBe('refused');
    expect(out.get('forwarder-same')).toBe('yes');
    expect(out.get('doors-after-forwarder')).toBe('proxy=403 git=1 mcp=1');
  });

  it('cannot reach the lifeline or the doors dir, nor write the ready mark or the host state dir', () => {
    for (const ns of ['U', 'm', 'n', 'p', 'i']) expect(out.get(`unshare-${ns}`), ns).toBe('refused');
    expect(out.get('remount')).toBe('refused');
    expect(out.get('doors-list')).toBe('refused');
    expect(out.get('doors-write')).toBe('refused');
    expect(out.get('lifeline')).toBe('refused');
    expect(stdout).not.toContain('door-by-proc reached');
    expect(out.get('ready-write')).toBe('refused');
    expect(out.get('ready-rm')).toBe('refused');
    // The guest knows where the doors are on the host; writing "there" lands in its own disk.
    expect(out.get('host-doors-path')).toContain(p.stateRoot);
    expect(out.get('planted-attempt')).toBe('done');
    expect(planted).toEqual([]);
  });

  it('cannot pre-empt or stand in for a door: decoys see nothing, the ports cannot be shared', () => {
    expect(Number(out.get('decoys'))).toBeGreaterThan(0);
    for (const a of ['127.0.0.1', '0.0.0.0']) for (const port of PORTS) expect(out.get(`bind-${a}-${port}`), `${a}:${port}`).toBe('refused');
    expect(out.get('bind6-::1')).toBe('refused');
    expect(out.get('bind6-::')).toBe('refused');
    // Every door URL the guest is given names 127.0.0.1, which the forwarder holds.
    const urls = (out.get('door-urls') ?? '').split(' ');
    expect(urls).toHaveLength(3);
    for (const u of urls) expect(u).toMatch(/^http:\/\/127\.0\.0\.1:(3128|9418|8767)(\/|$)/);
    expect(out.get('doors-decoyed')).toBe('proxy=403 git=1 mcp=1');
    expect(out.get('decoy-hits')).toBe('0');
  });

  it.skipIf(!bridgePortsFree())('the egress door is no bridge to host services, however the host is spelled', () => {
    const lines = [...out.entries()].filter(([k]) => k.startsWith('bridge-'));
    expect(lines.length).toBe(bridgePorts.length * bridgeTargets.length);
    for (const [k, v] of lines) {
      if (k.startsWith('bridge-http-')) expect(v, k).toMatch(/^(4\d\d|5\d\d)$/);
      // A CONNECT the proxy refuses: no 200 for the tunnel.
      else expect(v, k).not.toBe('200');
    }
    expect(bridgeHits).toBe(0);
    // Refused (no spelling of the host is on the allowlist, nor can be: the
    // config refuses them; a name that resolves to one is refused at the dial,
    // unit-tested in dial.test.ts), never let through.
    const bridgeAudit = audit.filter((e) => e.host !== 'example.test' && String(e.type).startsWith('egress.'));
    expect(bridgeAudit.filter((e) => e.type === 'egress.allow')).toEqual([]);
    expect(bridgeAudit.filter((e) => e.type === 'egress.deny' && /^(forbidden address|not allowed)/.test(String(e.reason))).length).toBeGreaterThanOrEqual(lines.length - 2);
  });

  it('survives floods on every door (idle, half-open, slowloris, unread, uploads, resets, OOB) and leaks nothing', () => {
    const count = (k: string) => Number((out.get(k) ?? '').split(' ')[0]);
    for (const port of PORTS) {
      // Connections the forwarder took (a slow machine may time a few out).
      expect(count(`flood-hold-${port}`), stdout).toBeGreaterThan(500);
      expect(count(`flood-halfopen-${port}`)).toBeGreaterThan(50);
      expect(count(`flood-slow-${port}`)).toBeGreaterThan(50);
      expect(out.get(`flood-rst-${port}`)).toBe('500 ');
      expect(out.get(`flood-oob-${port}`)).toBe('20 ');
    }
    // Door connections were up through to the host during the flood (how many depends on how fast the host accepts).
    expect(Number(out.get('flood-live'))).toBeGreaterThan(0);
    // Afterwards: every connection gone on both sides, every door answering, the same forwarder, small.
    expect(out.get('live-after')).toBe('0');
    expect(out.get('doors-after-flood')).toBe('proxy=403 git=1 mcp=1');
    expect(out.get('live-end')).toBe('0');
    expect(out.get('tcp-left')).toBe('0');
    expect(out.get('forwarder-same-end')).toBe('yes');
    expect(Number(out.get('forwarder-peak-kb'))).toBeLessThan(64 * 1024);
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
  });
});

describe.skipIf(!dockerAvailable)('kill -9 of `bottle`', () => {
  it('stops the guest at once: a setsid, nohup, TERM-ignoring process in it dies too', async () => {
    const p = project('bottle-attack-kill-');
    const agent = agentName('killed');
    try {
      p.config(simpleConfig(agent, { workspace: 'none', egress: { allow: [], dlp: false } }));
      // The heartbeat writes to the exec's stdout, which outlives `bottle` (docker exec's
      // own pipe to this test): it stops only when nothing in the guest is left to write.
      const script = [
        GUEST_LIB,
        String.raw`setsid nohup bash -c 'trap "" TERM HUP INT; while :; do echo "beat $(date +%s%3N)"; sleep 0.1; done' 2>/dev/null &`,
        String.raw`( ( trap "" TERM HUP; while :; do sleep 0.1; echo "beat2 $(date +%s%3N)"; done ) & ) 2>/dev/null`,
        'echo "armed proxy=$(proxy_code)"',
        'sleep 600',
      ].join('\n');
      const run = bottle(p, ['run', '--', 'bash', '-c', script]);
      let seen = '';
      run.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
      for (let i = 0; i < 300 && !/beat2 /.test(seen); i++) await sleep(100);
      expect(seen).toContain('armed proxy=403');
      expect(seen).toMatch(/beat2 /);
      const names = execaSync('docker', ['ps', '--filter', `label=claude-bottle.agent=${agent}`, '--format', '{{.Names}}']).stdout.trim();
      expect(names).toMatch(/^claude-bottle-/);

      const killedAt = Date.now();
      process.kill(run.pid!, 'SIGKILL');
      // The pipe closes once every writer in the guest is gone.
      const ended = await Promise.race([run.then(() => Date.now()), sleep(15_000).then(() => undefined)]);
      expect(ended, 'the guest still writes 15 s after bottle was killed').toBeDefined();
      expect(ended! - killedAt).toBeLessThan(5_000);
      const beats = [...seen.matchAll(/beat2? (\d+)/g)].map((m) => Number(m[1]));
      expect(Math.max(...beats) - killedAt).toBeLessThan(3_000);
      const state = execaSync('docker', ['inspect', '--format', '{{.State.Running}}', names], { reject: false }).stdout.trim();
      expect(state === 'false' || state === '').toBe(true);
      // No host process still names the guest (the attached `docker run` client included).
      const naming = () => execaSync('ps', ['-eo', 'args'], { reject: false }).stdout.split('\n').filter((l) => l.includes(names) && !l.startsWith('ps '));
      for (let i = 0; i < 30 && naming().length; i++) await sleep(100);
      expect(naming()).toEqual([]);
    } finally {
      for (const id of leftovers(agent).containers) execaSync('docker', ['rm', '-f', id], { reject: false });
      p.cleanup();
    }
  }, 90_000);
});

/**
 * How to run the CLI as uid 1000, the agent's uid, as a developer on a laptop
 * would be: directly when that is who we are, through setpriv (with the
 * docker socket's group) when we are root, else not at all.
 */
function asUid1000(): { ok: boolean; setpriv?: string[] } {
  const uid = process.getuid?.();
  if (uid === 1000) return { ok: true };
  if (uid !== 0 || execaSync('sh', ['-c', 'command -v setpriv'], { reject: false }).exitCode !== 0) return { ok: false };
  const sock = ['/var/run/docker.sock', '/run/docker.sock'].find((s) => existsSync(s));
  if (!sock) return { ok: false };
  return { ok: true, setpriv: ['--reuid=1000', '--regid=1000', `--groups=${statSync(sock).gid}`, '--'] };
}

describe.skipIf(!dockerAvailable)('the host state dir inside a mounted workspace (a developer who is uid 1000)', () => {
  const who = asUid1000();
  it.skipIf(!who.ok)('the guest can neither read nor write the state dir: no forged audit record, no host process signalled', async () => {
    // A short path: the doors dir stays in the state dir (a long one moves it to the temp dir).
    const base = mkdtempSync(path.join(tmpdir(), 'bas-'));
    const agent = agentName('statedir');
    let victim: ReturnType<typeof spawn> | undefined;
    try {
      const dir = path.join(base, 'work');
      // The state root inside the project, e.g. BOTTLE_STATE_HOME=.bottle-state from a per-project .envrc.
      const stateRoot = path.join(dir, '.bottle-state');
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'bottle.config.json'), JSON.stringify(simpleConfig(agent, { workspace: 'mount', supervise: true, egress: { allow: [], dlp: false } }), null, 2));
      // The node binary where uid 1000 can run it (root's home is usually 0700).
      let node = process.execPath;
      if (who.setpriv) {
        node = path.join(base, 'node');
        copyFileSync(process.execPath, node);
        chmodSync(node, 0o755);
        chmodSync(base, 0o755);
        execFileSync('chown', ['-R', '1000:1000', dir]);
      }
      const home = path.join(base, 'home');
      mkdirSync(home);
      if (who.setpriv) chownSync(home, 1000, 1000);
      const cmd = (argv: string[]) => (who.setpriv ? (['setpriv', [...who.setpriv, ...argv]] as const) : ([argv[0]!, argv.slice(1)] as const));
      // A process of the same user on the host: what a forged record would make `bottle` signal.
      const [vbin, vargs] = cmd(['sleep', '120']);
      victim = spawn(vbin, [...vargs], { stdio: 'ignore' });
      await sleep(200);
      const vpid = victim.pid!;
      const script = [
        // The bottle's state dir is wherever its owner.json is (the doors' host path, in mountinfo, says where to look).
        'state=$(dirname "$(find /home/node/workspace -path "*/bottles/*/owner.json" 2>/dev/null | head -1)" 2>/dev/null); [ "$state" = . ] && state=""',
        'if [ -n "$state" ] && ls "$state" >/dev/null 2>&1; then echo "state-dir reachable $state"; else echo "state-dir unreachable"; fi',
        `if [ -n "$state" ] && mkdir -p "$state/procs" 2>/dev/null && echo '{"pid":${vpid},"token":"${vpid}:0","label":"forged"}' > "$state/procs/${vpid}.json" 2>/dev/null; then echo "procs planted"; else echo "procs refused"; fi`,
        `if [ -n "$state" ] && echo '{"type":"forged-by-guest"}' >> "$state/audit.jsonl" 2>/dev/null; then echo "audit forged"; else echo "audit refused"; fi`,
        String.raw`if [ -n "$state" ] && perl -MSocket -e 'socket(my $s, PF_UNIX, SOCK_STREAM, 0); exit(connect($s, pack_sockaddr_un($ARGV[0])) ? 0 : 1)' "$state/doors/lifeline.sock"; then echo "lifeline connected"; else echo "lifeline refused"; fi`,
      ].join('\n');
      const [bin, args] = cmd([node, BIN, 'run', '--', 'bash', '-c', script]);
      const r = await execa(bin, [...args], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, BOTTLE_STATE_HOME: stateRoot, BOTTLE_QUIET: '1' },
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
      });
      await sleep(500);
      const victimAlive = victim.exitCode === null && victim.signalCode === null;
      const logs = path.join(stateRoot, 'logs');
      const audit = existsSync(logs) ? readdirSync(logs).map((f) => readFileSync(path.join(logs, f), 'utf8')).join('') : '';
      const problems: string[] = [];
      if (r.exitCode === 0) {
        // It ran: then nothing of the state dir may be in the guest's reach.
        const o = parse(r.stdout);
        if (o.get('state-dir') !== 'unreachable') problems.push(`the guest lists the host state dir (${o.get('state-dir')})`);
        if (o.get('procs') !== 'refused') problems.push('the guest planted a host-process record in <state>/procs');
        if (o.get('audit') !== 'refused') problems.push('the guest appended to <state>/audit.jsonl');
        if (o.get('lifeline') !== 'refused') problems.push('the guest connected to the lifeline socket');
      } else if (!/state/i.test(r.stderr)) {
        // Or it refused to run, saying why.
        problems.push(`bottle failed for another reason: ${r.stderr}`);
      }
      if (audit.includes('forged-by-guest')) problems.push('the kept audit trail (logs/) carries a record the guest wrote');
      if (!victimAlive) problems.push(`bottle's teardown sent SIGTERM to host pid ${vpid} (a process of the user's), as the record the guest planted asked`);
      expect(problems).toEqual([]);
    } finally {
      victim?.kill('SIGKILL');
      for (const id of leftovers(agent).containers) execaSync('docker', ['rm', '-f', id], { reject: false });
      rmSync(base, { recursive: true, force: true });
    }
  }, 90_000);
});

describe.skipIf(!dockerAvailable)('a flood of refused requests', () => {
  it('does not grow the host audit trail with every request the guest sends', async () => {
    const p = project('bottle-attack-audit-');
    const agent = agentName('auditflood');
    try {
      p.config(simpleConfig(agent, { workspace: 'copy', egress: { allow: [], dlp: false } }));
      writeFileSync(path.join(p.dir, 'attack.pl'), ATTACK_PL);
      // 40 connections, 1000 pipelined requests each (~2.2 MB from the guest), every answer read.
      const script = [GUEST_LIB, 'cd /home/node/workspace', 'perl attack.pl pipeline 3128 40 1000', 'echo "proxy-after $(proxy_code)"'].join('\n');
      const r = await bottle(p, ['run', '--', 'bash', '-c', script]);
      expect(r.exitCode, r.stderr).toBe(0);
      const o = parse(r.stdout);
      const refused = Number((o.get('pipeline') ?? '').split(' ')[2]);
      expect(refused, r.stdout).toBe(40_000);
      expect(o.get('proxy-after')).toBe('403');
      const logs = path.join(p.stateRoot, 'logs');
      const size = readdirSync(logs).reduce((n, f) => n + statSync(path.join(logs, f)).size, 0);
      const denials = auditEvents(p).filter((e) => e.type === 'egress.deny').length;
      // A record of the flood, yes (the same refusal, counted); one host record per request, which the guest can repeat at will, no.
      expect(denials).toBeGreaterThan(0);
      expect(size, `${refused} refused requests (~2.2 MB) from the guest left ${(size / 1e6).toFixed(1)} MB of audit trail (${denials} records) on the host`).toBeLessThan(1_000_000);
    } finally {
      p.cleanup();
    }
  }, 120_000);
});
