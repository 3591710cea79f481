// server.js - athos, the API entry point of the CLT login demo.
//
// Serves the login page (app_login.html) and POST /api/login, which asks
// the login server aramis (POST /login) across the router porthos. It is
// instrumented with the OpenTelemetry SDK (tracing.js) and contains no CLT
// code: run under LD_PRELOAD=libcltshim.so, its request to aramis carries
// its trace IDs in an IPv6 IOAM option all the same.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const { trace } = require('@opentelemetry/api');

const PORT = Number(process.env.ATHOS_PORT || 15123);
const ARAMIS = process.env.ARAMIS_HOST || 'db02::2';
const ARAMIS_PORT = Number(process.env.ARAMIS_PORT || 80);
const MAX_BODY = 4096;
const page = fs.readFileSync(path.join(__dirname, 'app_login.html'));

function reply(res, code, type, body) {
	res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
	res.end(body);
}

// POST to aramis; the http instrumentation adds a client span and the
// traceparent header.
function askAramis(creds, done) {
	const body = JSON.stringify(creds);
	const req = http.request({
		host: ARAMIS, port: ARAMIS_PORT, path: '/login', method: 'POST',
		headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
		timeout: 20000,
	}, (res) => {
		let data = '';
		res.setEncoding('utf8');
		res.on('data', (c) => { if (data.length < MAX_BODY) data += c; });
		res.on('end', () => {
			try { done(null, JSON.parse(data).msg || 'FAILED'); } catch (e) { done(e); }
		});
	});
	req.on('timeout', () => req.destroy(new Error('aramis timed out')));
	req.on('error', done);
	req.end(body);
}

function login(req, res) {
	let raw = '';
	let tooBig = false;
	req.setEncoding('utf8');
	req.on('data', (c) => {
		raw += c;
		if (raw.length > MAX_BODY) { tooBig = true; req.destroy(); }
	});
	req.on('end', () => {
		let creds;
		try { creds = JSON.parse(raw); } catch (e) { creds = null; }
		if (tooBig || !creds || typeof creds !== 'object') {
			return reply(res, 400, 'application/json', '{"msg":"BAD REQUEST"}');
		}
		const user = String(creds.username || '');
		const span = trace.getActiveSpan();
		if (span) span.setAttribute('login.username', user);
		askAramis({ username: user, password: String(creds.password || '') }, (err, msg) => {
			if (err) {
				if (span) span.setAttribute('login.result', 'ERROR');
				return reply(res, 502, 'application/json', JSON.stringify({ msg: 'ERROR', error: err.message }));
			}
			if (span) span.setAttribute('login.result', msg);
			reply(res, 200, 'application/json', JSON.stringify({ msg }));
		});
	});
}

const server = http.createServer((req, res) => {
	const url = (req.url || '/').split('?')[0];
	if (req.method === 'GET' && (url === '/' || url === '/app_login.html')) {
		return reply(res, 200, 'text/html; charset=utf-8', page);
	}
	if (req.method === 'POST' && url === '/api/login') return login(req, res);
	reply(res, 404, 'application/json', '{"msg":"NOT FOUND"}');
});

server.listen(PORT, '::', () => {
	console.log(`athos: listening on [::]:${PORT}, aramis at [${ARAMIS}]:${ARAMIS_PORT}`);
});
