# Tcl: an event-driven keep-alive server on socket -server, the downstream call with the
# http package. tclsh srv.tcl PORT DOWN
package require http
proc serve {c addr port} {
	fconfigure $c -translation crlf -buffering full
	fileevent $c readable [list request $c]
}
proc request {c} {
	if {[gets $c line] < 0} {
		if {[eof $c]} { close $c }
		return
	}
	set path [lindex $line 1]
	set len 0
	while {[gets $c h] > 0} {
		regexp -nocase {^content-length:\s*(\d+)} $h -> len
	}
	fconfigure $c -translation binary
	set body [read $c $len]
	set code 200
	set out "hello [string length $body]\n"
	if {[string match /err* $path]} {
		set code 500
		set out "broken\n"
	} elseif {[string match /call* $path]} {
		set t [http::geturl "[lindex $::argv 1]/from-tcl"]
		set out "down said [http::ncode $t] [string trim [http::data $t]]\n"
		http::cleanup $t
	}
	puts -nonewline $c "HTTP/1.1 $code X\r\nContent-Type: text/plain\r\nContent-Length: [string length $out]\r\n\r\n$out"
	flush $c
	fconfigure $c -translation crlf
}
socket -server serve -myaddr :: [lindex $argv 0]
vwait forever
