# Tcl client: the http package (it writes the Host of an IPv6 literal without brackets).
# tclsh cli.tcl DOWN TRACEPARENT
package require http
foreach p {/c1-tcl /c2-tcl} {
	set t [http::geturl "[lindex $argv 0]$p"]
	puts "[http::ncode $t] [string trim [http::data $t]]"
	http::cleanup $t
}
set t [http::geturl "[lindex $argv 0]/own-tcl" -headers [list traceparent [lindex $argv 1]]]
puts "[http::ncode $t] [string trim [http::data $t]]"
http::cleanup $t
