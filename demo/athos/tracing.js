// tracing.js - OpenTelemetry SDK set-up for athos, loaded with
// `node --require ./tracing.js server.js` so that the http module is
// instrumented before the application loads it. This is ordinary
// OpenTelemetry: nothing in athos knows about CLT or IOAM. The shim
// (LD_PRELOAD) reads the traceparent header this instrumentation writes.
'use strict';

const { NodeTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

const endpoint = (process.env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://localhost:4318').replace(/\/$/, '');

// SimpleSpanProcessor exports each span as it ends: a demo wants its
// traces on screen at once, not after a batching delay.
const provider = new NodeTracerProvider({
	resource: resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME || 'athos' }),
	spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: endpoint + '/v1/traces' }))],
});
provider.register();

registerInstrumentations({
	instrumentations: [
		new HttpInstrumentation({
			// Only the API is traced, not the page and its assets.
			ignoreIncomingRequestHook: (req) => !(req.url || '').startsWith('/api/'),
		}),
	],
});

function shutdown() {
	provider.shutdown().finally(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
