# Perl: a hand-written keep-alive server on IO::Socket::IP (buffered reads), the downstream
# call with HTTP::Tiny. perl srv.pl PORT DOWN
use strict;
use warnings;
use IO::Socket::IP;
use HTTP::Tiny;

my $l = IO::Socket::IP->new(LocalHost => '::', LocalPort => $ARGV[0], Listen => 16, ReuseAddr => 1)
	or die "listen: $!";
$SIG{TERM} = sub { exit 0 };
while (my $c = $l->accept) {
	while (defined(my $line = <$c>)) {
		my (undef, $path) = split ' ', $line;
		my %h;
		while (my $x = <$c>) {
			last if $x =~ /^\r?\n$/;
			$h{lc $1} = $2 if $x =~ /^([^:]+):\s*(.*?)\r?$/;
		}
		my $body = '';
		read($c, $body, $h{'content-length'}) if $h{'content-length'};
		my ($code, $out) = (200, "hello " . length($body) . "\n");
		($code, $out) = (500, "broken\n") if $path =~ m{^/err};
		if ($path =~ m{^/call}) {
			my $r = HTTP::Tiny->new->get("$ARGV[1]/from-perl");
			$out = "down said $r->{status} " . ($r->{content} =~ s/\s+$//r) . "\n";
		}
		print $c "HTTP/1.1 $code X\r\nContent-Type: text/plain\r\nContent-Length: " . length($out) . "\r\n\r\n$out";
		$c->flush;
	}
	close $c;
}
