// Node.js: the plain http module, no OpenTelemetry. node srv.js PORT DOWN
const http = require('http');
const port = +process.argv[2], down = process.argv[3];
const srv = http.createServer((req, res) => {
	let n = 0;
	req.on('data', c => { n += c.length; });
	req.on('end', () => {
		const reply = (code, body) => {
			res.writeHead(code, {'Content-Type': 'text/plain'});
			res.end(body);
		};
		if (req.url.startsWith('/later')) {
			// Some asynchronous work first, then the downstream call: meanwhile the
			// loop may serve other requests from start to end.
			return setTimeout(() => http.get(down + '/from-node-later', r => {
				r.resume();
				r.on('end', () => reply(200, 'later\n'));
			}), 150);
		}
		if (req.url.startsWith('/err'))
			return reply(500, 'broken\n');
		if (!req.url.startsWith('/call'))
			return reply(200, 'hello ' + n + '\n');
		http.get(down + '/from-node', r => {
			let d = '';
			r.on('data', c => { d += c; });
			r.on('end', () => reply(200, 'down said ' + r.statusCode + ' ' + d.trim() + '\n'));
		});
	});
});
srv.listen(port, '::');
process.on('SIGTERM', () => process.exit(0));
