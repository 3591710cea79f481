# Perl client: HTTP::Tiny, one keep-alive object. perl cli.pl DOWN TRACEPARENT
use strict;
use warnings;
use HTTP::Tiny;

my $h = HTTP::Tiny->new(keep_alive => 1);
for my $p ('/c1-perl', '/c2-perl') {
	my $r = $h->get("$ARGV[0]$p");
	print "$r->{status} ", $r->{content} =~ s/\s+$//r, "\n";
}
my $r = $h->get("$ARGV[0]/own-perl", {headers => {traceparent => $ARGV[1]}});
print "$r->{status} ", $r->{content} =~ s/\s+$//r, "\n";
