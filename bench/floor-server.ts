// The physical floor for the webhook benchmark: the least an HTTPS admission webhook can do on this
// machine. node:https with the same certificate and connection settings as `daemonguard serve`; it
// reads the body, parses it, and answers a fixed "allowed" AdmissionReview in the version asked, with
// the request's uid. No policies, no validation of the review, no logging, no metrics.
//
//   node build/bench/floor-server.js --cert tls.crt --key tls.key [--port 0]
// Prints one line, {"port": N}, once listening; exits on SIGTERM.
import { flag, listenBare } from './bare-https-server.js';

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

listenBare({ cert, key, port: Number(flag('port') ?? 0) }, (request, response) => {
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
});
