<?php
// PHP client: file_get_contents, then curl (a connection each). php cli.php DOWN TRACEPARENT
$down = $argv[1];
$a = file_get_contents("$down/c1-php");
printf("%s %s\n", explode(' ', $http_response_header[0])[1], trim($a));
$c = curl_init("$down/c2-php");
curl_setopt($c, CURLOPT_RETURNTRANSFER, true);
$b = curl_exec($c);
printf("%d %s\n", curl_getinfo($c, CURLINFO_RESPONSE_CODE), trim($b));
curl_setopt_array($c, [CURLOPT_URL => "$down/own-php", CURLOPT_HTTPHEADER => ["traceparent: $argv[2]"]]);
$b = curl_exec($c);
printf("%d %s\n", curl_getinfo($c, CURLINFO_RESPONSE_CODE), trim($b));
curl_close($c);
