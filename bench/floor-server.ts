// The physical floor for the webhook benchmark: the least an HTTPS admission webhook can do on this
// machine. node:https with the same certificate and connection settings as `daemonguard serve`; it
// reads the body, parses it, and answers a fixed "allowed" AdmissionReview in the version asked, with
// the request's uid. No policies, no validation of the review, no logging, no metrics.
//
//   node build/bench/floor-server.js --cert tls.crt --key tls.key [--port 0]
// Prints one line, {"port": N}, once listening; exits on SIGTERM.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';

function flag(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? process.argv[index + 1] : undefined;
}

interface ReviewShape {
  apiVersion?: unknown;
  request?: { uid?: unknown };
}

const cert = flag('cert');
const key = flag('key');
if (cert === undefined || key === undefined) {
  process.stderr.write('usage: floor-server --cert FILE --key FILE [--port N]\n');
  process.exit(2);
}

const server = createServer(
  {
    cert: readFileSync(cert),
    key: readFileSync(key),
    minVersion: 'TLSv1.2',
    ALPNProtocols: ['http/1.1'],
    keepAliveTimeout: 120_000,
  },
  (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReviewShape;
      const payload = JSON.stringify({
        apiVersion: review.apiVersion,
        kind: 'AdmissionReview',
        response: { uid: review.request?.uid, allowed: true },
      });
      response.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
      response.end(payload);
    });
  },
);
server.keepAliveTimeout = 120_000;
server.listen(Number(flag('port') ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
