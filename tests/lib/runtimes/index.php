<?php
// PHP's built-in server (php -S ADDR index.php), DOWN from the environment.
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if (strncmp($path, '/err', 4) === 0) {
	http_response_code(500);
	echo "broken\n";
} elseif (strncmp($path, '/call', 5) === 0) {
	$c = curl_init(getenv('DOWN') . '/from-php');
	curl_setopt($c, CURLOPT_RETURNTRANSFER, true);
	$body = curl_exec($c);
	$a = file_get_contents(getenv('DOWN') . '/from-php-fgc');
	printf("down said %d %s %s\n", curl_getinfo($c, CURLINFO_RESPONSE_CODE), trim($body), trim($a));
	curl_close($c);
} else {
	echo "hello " . strlen(file_get_contents('php://input')) . "\n";
}
