// The guest side of `bottle selftest`: one Perl script (perl-base is in every
// agent image: the guest's forwarder needs it) run as the agent (uid 1000,
// the agent's env). It only tries and reports; the host judges. Each result
// is one line: `R <tab> id <tab> outcome <tab> detail`. Dumps for the
// credential scan are framed: `F <tab> where <tab> bytes <newline>` then the
// bytes, so the host scans them without the real values entering the guest.
export const PROBE = String.raw`
use strict; use warnings;
use Socket qw(:all);
use IO::Socket::IP;
use IO::Select;
$| = 1;
binmode STDOUT;
sub clean { my $s = defined $_[0] ? "$_[0]" : ''; $s =~ s/[\t\r\n]+/ /g; $s =~ s/[^\x20-\x7e]/?/g; return substr($s, 0, 400); }
sub out { print join("\t", 'R', map { clean($_) } @_), "\n"; }
sub err { my $e = $!; for my $n (keys %!) { return "$n ($e)" if $!{$n}; } return "$e"; }
my $mode = shift @ARGV // '';

sub sockaddr_of {
  my ($addr, $port, $socktype, $proto) = @_;
  my ($e, @r) = getaddrinfo($addr, $port, { flags => AI_NUMERICHOST, socktype => $socktype, ($proto ? (protocol => $proto) : ()) });
  return (undef, "getaddrinfo: $e") if $e || !@r;
  return ($r[0], '');
}

sub wait_read { my ($fh, $t) = @_; return IO::Select->new($fh)->can_read($t); }

sub tcp {
  my ($id, $addr, $port, $token) = @_;
  my $s = IO::Socket::IP->new(PeerHost => $addr, PeerPort => $port, Proto => 'tcp', Timeout => 3);
  if (!$s) { my $e = err(); out($id, 'error', $e =~ /^\S+ \(/ ? $e : ($@ || $e)); return; }
  print $s "$token:$id\n"; close $s;
  out($id, 'connected', '');
}

sub udp {
  my ($id, $addr, $port, $token) = @_;
  my ($ai, $why) = sockaddr_of($addr, $port, SOCK_DGRAM);
  return out($id, 'error', $why) unless $ai;
  socket(my $s, $ai->{family}, SOCK_DGRAM, 0) or return out($id, 'error', 'socket: ' . err());
  my $n = send($s, "$token:$id\n", 0, $ai->{addr});
  return out($id, 'error', 'send: ' . err()) unless defined $n;
  out($id, 'sent', "$n bytes");
}

sub icmp {
  my ($id, $addr) = @_;
  my $v6 = $addr =~ /:/;
  my ($ai, $why) = sockaddr_of($addr, 0, SOCK_DGRAM);
  return out($id, 'error', $why) unless $ai;
  socket(my $s, $ai->{family}, SOCK_DGRAM, $v6 ? 58 : 1) or return out($id, 'nosocket', 'ping socket: ' . err());
  my $pkt = pack('CCnnn', $v6 ? 128 : 8, 0, 0, 0, 1) . 'bottle-selftest';
  defined send($s, $pkt, 0, $ai->{addr}) or return out($id, 'error', 'send: ' . err());
  if (wait_read($s, 2)) { my $buf; recv($s, $buf, 1500, 0); return out($id, 'reply', length($buf) . ' bytes'); }
  out($id, 'noreply', 'echo request sent, no reply in 2 s');
}

sub dns53 {
  my ($id, $addr, $token) = @_;
  my ($ai, $why) = sockaddr_of($addr, 53, SOCK_DGRAM);
  return out($id, 'error', $why) unless $ai;
  socket(my $s, $ai->{family}, SOCK_DGRAM, 0) or return out($id, 'error', 'socket: ' . err());
  my $q = pack('nnnnnn', 0x5e1f, 0x0100, 1, 0, 0, 0) . join('', map { chr(length $_) . $_ } ('bottle-selftest-' . $token, 'invalid')) . "\0" . pack('nn', 1, 1);
  defined send($s, $q, 0, $ai->{addr}) or return out($id, 'error', 'send: ' . err());
  if (wait_read($s, 2)) { my $buf; recv($s, $buf, 1500, 0); return out($id, 'reply', length($buf) . ' bytes'); }
  out($id, 'noreply', 'query sent, no answer in 2 s');
}

if ($mode eq 'net') {
  my ($port, $token, @addrs) = @ARGV;
  for my $a (@addrs) {
    tcp("tcp:$a", $a, $port, $token);
    udp("udp:$a", $a, $port, $token);
    icmp("icmp:$a", $a);
    dns53("dns:$a", $a, $token);
  }
  for my $a (@addrs) { }
} elsif ($mode eq 'local') {
  my ($token, $port, @outside) = @ARGV;
  opendir(my $d, '/sys/class/net'); my @ifs = sort grep { !/^\./ } readdir($d); closedir $d;
  out('interfaces', join(',', @ifs), '');
  my @routes;
  if (open(my $r, '<', '/proc/net/route')) { <$r>; while (<$r>) { my @f = split; push @routes, "$f[0] $f[1]" if @f; } }
  if (open(my $r, '<', '/proc/net/ipv6_route')) { while (<$r>) { my @f = split; push @routes, "$f[9] $f[0]" if @f >= 10 && $f[9] ne 'lo'; } }
  out('routes', scalar(@routes), join(', ', @routes));
  my ($e, @res) = getaddrinfo("bottle-selftest-$token.invalid", '80', { socktype => SOCK_STREAM });
  my $code = $e ? $e + 0 : 0;
  my $kind = !$e ? 'resolved' : $code == EAI_NONAME ? 'nxdomain' : $code == EAI_AGAIN ? 'again' : 'failed';
  out('dns-resolve', $kind, $e ? "$e" : scalar(@res) . ' address(es)');
  for my $a (@outside) { tcp("tcp:$a", $a, $port, $token); udp("udp:$a", $a, $port, $token); }
  my (@found, @open);
  my $walked = 0;
  my @todo = ('/');
  while (@todo && $walked < 300000) {
    my $dir = shift @todo;
    opendir(my $dh, $dir) or next;
    for my $n (readdir $dh) {
      next if $n eq '.' || $n eq '..';
      my $p = $dir eq '/' ? "/$n" : "$dir/$n";
      next if $p eq '/proc' || $p eq '/sys';
      $walked++;
      my @st = lstat($p) or next;
      if (-S _) { push @found, $p; }
      elsif (-d _) { push @todo, $p; }
    }
    closedir $dh;
  }
  for my $p (@found) {
    for my $type (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET) {
      socket(my $s, AF_UNIX, $type, 0) or next;
      if (connect($s, pack_sockaddr_un($p))) { push @open, $p; close $s; last; }
    }
  }
  out('unix-sockets', scalar(@open), join(', ', @open) . (@found ? ' (found: ' . join(', ', @found) . ')' : ''));
} elsif ($mode eq 'proxy') {
  my ($proxy, $token, @specs) = @ARGV;
  for my $spec (@specs) {
    my ($id, $method, $target) = split /\x1f/, $spec;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $proxy, Proto => 'tcp', Timeout => 5);
    if (!$s) { out($id, 'error', 'proxy: ' . err()); next; }
    if ($method eq 'CONNECT') { print $s "CONNECT $target HTTP/1.1\r\nHost: $target\r\n\r\n"; }
    else { my ($auth) = $target =~ m{^http://([^/]+)}; print $s "GET $target HTTP/1.1\r\nHost: $auth\r\nConnection: close\r\n\r\n"; }
    my $buf = ''; my $deadline = time + 10;
    while (time < $deadline && wait_read($s, 2)) { my $n = sysread($s, my $chunk, 4096); last unless $n; $buf .= $chunk; last if $method eq 'CONNECT' && $buf =~ /^HTTP\/1\.[01] 200/ && $buf =~ /\r\n\r\n/; }
    my ($status) = $buf =~ /^HTTP\/1\.[01] (\d{3})/;
    my $body = $buf =~ /\r\n\r\n(.*)$/s ? $1 : '';
    if ($method eq 'CONNECT' && defined $status && $status eq '200') { print $s "$token:$id\n"; }
    close $s;
    out($id, defined $status ? "status $status" : 'no-response', $body);
  }
} elsif ($mode eq 'dump') {
  my ($maxFile, @roots) = @ARGV;
  my $emit = sub { my ($where, $data) = @_; print "F\t$where\t" . length($data) . "\n" . $data; };
  $emit->('env', join("\0", map { "$_=$ENV{$_}" } sort keys %ENV));
  opendir(my $pd, '/proc'); my @pids = grep { /^\d+$/ } readdir $pd; closedir $pd;
  for my $pid (@pids) {
    for my $f ('environ', 'cmdline') {
      open(my $fh, '<', "/proc/$pid/$f") or next; binmode $fh; local $/; my $d = <$fh>; close $fh;
      $emit->("/proc/$pid/$f", $d // '');
    }
  }
  my (%seen, $skipped); my @todo = @roots;
  while (@todo) {
    my $p = shift @todo;
    next if $seen{$p}++ || $p =~ m{^/(proc|sys)(/|$)};
    my @st = lstat($p) or next;
    if (-d _) { opendir(my $dh, $p) or next; push @todo, map { "$p/$_" } grep { $_ ne '.' && $_ ne '..' } readdir $dh; closedir $dh; next; }
    next unless -f _;
    if ($st[7] > $maxFile) { $skipped++; next; }
    open(my $fh, '<', $p) or next; binmode $fh; local $/; my $d = <$fh>; close $fh;
    $emit->($p, $d // '');
  }
  print "S\t" . ($skipped // 0) . "\n";
} else {
  print STDERR "bottle selftest probe: unknown mode '$mode'\n"; exit 2;
}
`;
