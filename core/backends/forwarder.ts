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
// Why Perl: it is Essential in Debian (perl-base, with Socket and Fcntl), so
// it is in node:24-bookworm and a debootstrap minbase alike, and it needs no
// build step and no file in the image: the script travels as the container's
// argv. One process and a raw select loop over file numbers: no fork per
// connection, one read and one write per chunk (bench/egress measures the hop).
import path from 'node:path';
import { BottleError } from '../errors.ts';

/** Written by the forwarder once every door is bound; only root can write in /run. */
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
use Socket qw(PF_INET PF_UNIX SOCK_STREAM SHUT_WR IPPROTO_TCP TCP_NODELAY INADDR_LOOPBACK pack_sockaddr_in pack_sockaddr_un);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
$SIG{PIPE} = 'IGNORE';
my ($ready, $private, $lifeline, @doors) = @ARGV;
sub fail { print STDERR "claude-bottle forwarder: @_\n"; exit ${FORWARDER_FAILED} }
sub nonblock { my $fl = fcntl($_[0], F_GETFL, 0); fcntl($_[0], F_SETFL, $fl | O_NONBLOCK) }
# Everything by file number: the handle, a listener's door socket, the other
# end of a pair, the bytes waiting to be written to it, its read side ended.
my (@fh, @door, @peer, @out, @eof);
my ($rin, $win) = ('', '');
my $life;
socket($life, PF_UNIX, SOCK_STREAM, 0) && connect($life, pack_sockaddr_un($lifeline))
  or fail("cannot reach the lifeline $lifeline: $!");
my $lf = fileno $life;
$fh[$lf] = $life; vec($rin, $lf, 1) = 1;
for my $d (@doors) {
  my ($port, $path) = $d =~ /^(\d+)=(.+)$/ or fail("bad door argument $d");
  # No SO_REUSEADDR or SO_REUSEPORT: nobody may share a door's port.
  my $l;
  socket($l, PF_INET, SOCK_STREAM, 0) && bind($l, pack_sockaddr_in($port, INADDR_LOOPBACK)) && listen($l, 1024)
    or fail("cannot listen on 127.0.0.1:$port: $!");
  nonblock($l);
  my $f = fileno $l;
  $fh[$f] = $l; $door[$f] = $path; vec($rin, $f, 1) = 1;
}
# Only root traverses the doors' mount point: the agent uses the ports.
chmod 0700, $private;
open(my $mark, '>', $ready) or fail("cannot write $ready: $!");
close $mark;
# On the stream the provisioning wrote to, so whoever reads it knows all came first.
print STDERR "${READY_LINE}\n";
my $HIGH = 262144;

sub drop {
  for my $f (@_) {
    next unless defined $f && $fh[$f];
    vec($rin, $f, 1) = 0; vec($win, $f, 1) = 0;
    close $fh[$f];
    $fh[$f] = $peer[$f] = $out[$f] = $eof[$f] = undef;
  }
}
sub done {
  my ($f) = @_;
  my $p = $peer[$f];
  drop($f, $p) if $eof[$f] && $eof[$p] && !length($out[$f]) && !length($out[$p]);
}
# Writes what waits for $f (read from its peer); past $HIGH bytes the peer is not read until it drains.
sub flush {
  my ($f) = @_;
  my $p = $peer[$f];
  while (length $out[$f]) {
    my $n = syswrite($fh[$f], $out[$f]);
    if (!defined $n) {
      if ($!{EAGAIN} || $!{EINTR}) { vec($win, $f, 1) = 1; vec($rin, $p, 1) = 0 if length($out[$f]) > $HIGH; return }
      return drop($f, $p);
    }
    substr($out[$f], 0, $n, '');
  }
  vec($win, $f, 1) = 0;
  if ($eof[$p]) { shutdown($fh[$f], SHUT_WR); done($f) }
  else { vec($rin, $p, 1) = 1 }
}
sub accept_pair {
  my ($lfd) = @_;
  accept(my $c, $fh[$lfd]) or return;
  # A door whose daemon is gone or swamped: the client is closed, never queued.
  my $u;
  unless (socket($u, PF_UNIX, SOCK_STREAM, 0)) { close $c; return }
  nonblock($u);
  unless (connect($u, pack_sockaddr_un($door[$lfd]))) { close $u; close $c; return }
  nonblock($c);
  setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);
  my ($cf, $uf) = (fileno $c, fileno $u);
  $fh[$cf] = $c; $fh[$uf] = $u; $peer[$cf] = $uf; $peer[$uf] = $cf;
  $out[$cf] = $out[$uf] = ''; $eof[$cf] = $eof[$uf] = 0;
  vec($rin, $cf, 1) = 1; vec($rin, $uf, 1) = 1;
}
sub readable {
  my ($f) = @_;
  if ($f == $lf) {
    my $n = sysread($life, my $ignored, 64);
    exit 0 if defined $n ? $n == 0 : !($!{EAGAIN} || $!{EINTR});
    return;
  }
  return accept_pair($f) if defined $door[$f];
  return unless $fh[$f] && defined $peer[$f];
  my $p = $peer[$f];
  my $n = sysread($fh[$f], my $buf, 65536);
  if (!defined $n) { drop($f, $p) unless $!{EAGAIN} || $!{EINTR}; return }
  if ($n == 0) {
    $eof[$f] = 1; vec($rin, $f, 1) = 0;
    if (!length $out[$p]) { shutdown($fh[$p], SHUT_WR); done($f) }
    return;
  }
  $out[$p] .= $buf;
  flush($p);
}
# The ready file numbers of a select result, found by the C of unpack and index.
sub each_set {
  my ($bits, $cb) = @_;
  my $s = unpack('b*', $bits);
  for (my $i = index($s, '1'); $i >= 0; $i = index($s, '1', $i + 1)) { $cb->($i) }
}

while (1) {
  my ($rout, $wout) = ($rin, $win);
  my $writing = $win =~ /[^\0]/;
  next if select($rout, $writing ? $wout : undef, undef, undef) <= 0;
  each_set($wout, sub { flush($_[0]) if $fh[$_[0]] && defined $peer[$_[0]] }) if $writing;
  each_set($rout, \&readable);
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

/** The guest's image has no perl: the forwarder cannot run, so nothing ran (`image` names it when known). */
export function noPerl(image = 'the agent image'): BottleError {
  return new BottleError(`${image === 'the agent image' ? image : `the image "${image}"`} has no perl, which the guest's forwarder needs, so nothing was run in it`, {
    code: 'IMAGE',
    hint: 'use a Debian or Ubuntu based image (perl-base is part of every one), or rebuild the agent image with `bottle image build`',
  });
}

/** The forwarder exited FORWARDER_FAILED: its own `forwarder:` line on stderr says why. */
export function forwarderFailed(stderr: string): BottleError {
  const why = stderr.split('\n').filter((l) => l.includes('forwarder:')).pop();
  return new BottleError(`the guest's forwarder could not start${why ? `: ${why.replace(/^.*forwarder: /, '')}` : ''}, so nothing was run in it`, {
    code: 'BACKEND',
    hint: 'the guest needs perl (perl-base) and free ports for its doors; `bottle image build` makes an image that has what it needs',
  });
}
