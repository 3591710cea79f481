// Node.js client: one keep-alive agent for both bare requests. node cli.js DOWN TRACEPARENT
const http = require('http');
const [down, tp] = process.argv.slice(2);
const agent = new http.Agent({keepAlive: true});
const get = (path, headers) => new Promise((ok, ko) => {
	http.get(down + path, {agent, headers}, r => {
		let d = '';
		r.on('data', c => { d += c; });
		r.on('end', () => { console.log(r.statusCode, d.trim()); ok(); });
	}).on('error', ko);
});
(async () => {
	await get('/c1-node', {});
	await get('/c2-node', {});
	await get('/own-node', {traceparent: tp});
	agent.destroy();
})();
