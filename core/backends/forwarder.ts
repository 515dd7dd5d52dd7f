// The guest's init: the forwarder that offers each door on 127.0.0.1.
//
// It is the container's main process (root, under Docker's --init), started
// before anything else runs in the guest: it connects to the lifeline door,
// binds every door's port on 127.0.0.1, and only then writes the ready mark
// that every exec of ours waits for, so the agent can never bind a door's port
// first. It relays each connection to its door's Unix socket. It stops (and
// with it the guest) when the lifeline closes, i.e. when the `bottle` process
// is gone. Fail closed: if it cannot start, the guest has no door at all.
//
// Why Perl: it is Essential in Debian (perl-base, with IO::Socket and
// IO::Select), so it is in node:24-bookworm and a debootstrap minbase alike,
// and it needs no build step and no file in the image: the script travels as
// the container's argv. One process and a select loop: no fork per
// connection, a few syscalls per chunk (bench/egress measures the hop).

/** Written by the forwarder once every door is bound; only root can write in /run. */
import path from 'node:path';

export const READY_MARK = '/run/claude-bottle-ready';

/** The line the forwarder writes to stderr once it is ready. */
export const READY_LINE = '__bottle_ready__';

/** Exit status of a forwarder that could not start (no lifeline, a port taken, ...). */
export const FORWARDER_FAILED = 86;

/**
 * The guest's init before the forwarder: the provisioning script (its first
 * argument; empty for none) with the container's stdin, then the forwarder.
 * A provisioning failure ends the guest with that script's status.
 */
export const INIT_SCRIPT = 'p="$1"; shift; if [ -n "$p" ]; then sh -c "$p" || exit $?; fi; exec "$@" </dev/null';

export const FORWARDER_SCRIPT = String.raw`
use strict; use warnings;
use IO::Socket::INET; use IO::Socket::UNIX; use IO::Select;
use Socket qw(PF_UNIX SOCK_STREAM SHUT_WR IPPROTO_TCP TCP_NODELAY pack_sockaddr_un);
$SIG{PIPE} = 'IGNORE';
my ($ready, $private, $lifeline, @doors) = @ARGV;
sub fail { print STDERR "claude-bottle forwarder: @_\n"; exit ${FORWARDER_FAILED} }
my $life = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $lifeline)
  or fail("cannot reach the lifeline $lifeline: $!");
my %door;
for my $d (@doors) {
  my ($port, $path) = $d =~ /^(\d+)=(.+)$/ or fail("bad door argument $d");
  my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Proto => 'tcp', Listen => 1024)
    or fail("cannot listen on 127.0.0.1:$port: $!");
  $l->blocking(0);
  $door{fileno $l} = [$l, $path];
}
# Only root traverses the doors' mount point: the agent uses the ports.
chmod 0700, $private;
open(my $mark, '>', $ready) or fail("cannot write $ready: $!");
close $mark;
# On the stream the provisioning wrote to, so whoever reads it knows all came first.
print STDERR "${READY_LINE}\n";
my $rsel = IO::Select->new($life, map { $_->[0] } values %door);
my $wsel = IO::Select->new;
# By file number: the other end of the pair, bytes waiting to be written to
# this socket, and whether this socket's read side has reached its end.
my (%peer, %out, %eof);
my $HIGH = 262144;

sub drop {
  for my $s (@_) {
    next unless $s && defined fileno $s;
    my $f = fileno $s;
    $rsel->remove($s); $wsel->remove($s);
    delete $peer{$f}; delete $out{$f}; delete $eof{$f};
    close $s;
  }
}
sub pair_done {
  my ($s) = @_;
  my $p = $peer{fileno $s};
  drop($s, $p) if $eof{fileno $s} && $eof{fileno $p} && !length($out{fileno $s}) && !length($out{fileno $p});
}
# Writes what waits for $s; false when the pair was dropped.
sub flush {
  my ($s) = @_;
  my $f = fileno $s;
  my $p = $peer{$f};
  while (length $out{$f}) {
    my $n = syswrite($s, $out{$f});
    if (!defined $n) {
      if ($!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR}) { $wsel->add($s); $rsel->remove($p) if length($out{$f}) > $HIGH; return 1 }
      drop($s, $p); return 0;
    }
    substr($out{$f}, 0, $n, '');
  }
  $wsel->remove($s);
  if ($eof{fileno $p}) { shutdown($s, SHUT_WR); pair_done($s); }
  elsif (!$rsel->exists($p)) { $rsel->add($p) }
  return 1;
}
sub open_pair {
  my ($l, $path) = @_;
  my $c = $l->accept or return;
  my $u;
  unless (socket($u, PF_UNIX, SOCK_STREAM, 0)) { close $c; return }
  $u->blocking(0);
  # A door whose daemon is gone or swamped: the client is closed, never queued.
  unless (connect($u, pack_sockaddr_un($path))) { close $u; close $c; return }
  $c->blocking(0);
  setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);
  $peer{fileno $c} = $u; $peer{fileno $u} = $c;
  $out{fileno $c} = ''; $out{fileno $u} = '';
  $eof{fileno $c} = 0; $eof{fileno $u} = 0;
  $rsel->add($c, $u);
}

while (1) {
  my ($r, $w) = IO::Select->select($rsel, $wsel->count ? $wsel : undef, undef);
  next unless $r;
  for my $s (@$w) { flush($s) if defined fileno $s && exists $peer{fileno $s} }
  for my $s (@$r) {
    next unless defined fileno $s;
    if ($s == $life) {
      my $n = sysread($life, my $ignored, 64);
      exit 0 if !defined $n ? !($!{EAGAIN} || $!{EINTR}) : $n == 0;
      next;
    }
    if (my $d = $door{fileno $s}) { open_pair(@$d); next }
    my $f = fileno $s;
    next unless exists $peer{$f};
    my $p = $peer{$f};
    my $n = sysread($s, my $buf, 65536);
    if (!defined $n) { drop($s, $p) unless $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR}; next }
    if ($n == 0) {
      $eof{$f} = 1; $rsel->remove($s);
      if (!length $out{fileno $p}) { shutdown($p, SHUT_WR); pair_done($s) }
      next;
    }
    $out{fileno $p} .= $buf;
    flush($p);
  }
}
`;

export interface ForwarderSpec {
  /** Where the doors' sockets are (in the guest); its parent is made root-only. */
  doorsDir: string;
  /** File name of the lifeline socket in `doorsDir`. */
  lifeline: string;
  forwards: ReadonlyArray<{ port: number; /** file name in `doorsDir` */ socket: string }>;
  /** Default {@link READY_MARK}; host tests put it elsewhere. */
  readyMark?: string;
}

/** The guest's main command: the forwarder, with the lifeline and each door's port and socket. */
export function forwarderArgv(f: ForwarderSpec): string[] {
  const at = (name: string) => path.posix.join(f.doorsDir, name);
  return ['perl', '-e', FORWARDER_SCRIPT, f.readyMark ?? READY_MARK, path.posix.dirname(f.doorsDir), at(f.lifeline), ...f.forwards.map((d) => `${d.port}=${at(d.socket)}`)];
}
