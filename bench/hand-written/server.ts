// The hand-written webhook: the built-in library's checks written by hand (bench/hand-written/, no
// engine, no CEL), served from a bare node:https server with the floor's TLS and keep-alive settings
// (bench/floor-server.ts). It reads the body, parses it, runs the twins of the endpoint's phase and
// answers the AdmissionReview as `daemonguard serve` answers it: the same allowed, denial status,
// warnings and patch, byte for byte (test/bench/hand-written-server.test.ts). What a webhook doing the
// library's work costs without an engine: the floor for the checks in `npm run bench`, not a product.
// So: no check of the review's shape (a malformed one gets a 400 naming the parse error, or a 500),
// no body limits, no deadline, no logging, no metrics, no reloading.
//
//   node build/bench/hand-written/server.js --cert tls.crt --key tls.key [--port 0] [--namespaces FILE] [--policies DIR]
// --namespaces: the Namespace objects serve is given (their labels decide namespaceSelectors);
// --policies: the library the twins are checked against and take their params from (default: policies/).
// Prints one line, {"port": N}, once listening; exits on SIGTERM.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { flag, listenBare } from '../bare-https-server.js';
import { answerReview, type ReviewShape } from './answer.js';
import { loadHandWrittenLibrary, type HandWrittenLibrary } from './library.js';

const BUILT_IN_POLICIES = fileURLToPath(new URL('../../../policies', import.meta.url));

/** The Namespace objects of a file as serve reads them (a List, or documents), by name. */
function readNamespaces(file: string): Map<string, JsonObject> {
  const namespaces = new Map<string, JsonObject>();
  for (const document of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (!('toJS' in document)) continue;
    const value = document.toJS() as JsonObject | null;
    if (value === null) continue;
    const items = Array.isArray(value.items) ? (value.items as JsonObject[]) : [value];
    for (const item of items) {
      const name = (item.metadata as JsonObject | undefined)?.name;
      if (item.kind !== 'Namespace' || typeof name !== 'string') throw new Error(`${file}: expected Namespace objects (kind: Namespace with metadata.name), or a List of them`);
      namespaces.set(name, item);
    }
  }
  return namespaces;
}

function main(): void {
  const cert = flag('cert');
  const key = flag('key');
  if (cert === undefined || key === undefined) {
    process.stderr.write('usage: hand-written server --cert FILE --key FILE [--port N] [--namespaces FILE] [--policies DIR]\n');
    process.exit(2);
  }
  let library: HandWrittenLibrary;
  let namespaces = new Map<string, JsonObject>();
  try {
    library = loadHandWrittenLibrary(flag('policies') ?? BUILT_IN_POLICIES);
    const namespacesFile = flag('namespaces');
    if (namespacesFile !== undefined) namespaces = readNamespaces(namespacesFile);
  } catch (error) {
    // A policy without a twin (or a broken file): the server would do less than daemonguard; it does not start.
    process.stderr.write(`hand-written server: ${(error as Error).message}\n`);
    process.exit(1);
  }

  const answer = (phase: 'validate' | 'mutate', request: IncomingMessage, response: ServerResponse): void => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      let payload: string;
      let code = 200;
      try {
        payload = answerReview(library, namespaces, phase, JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReviewShape);
      } catch (error) {
        code = error instanceof SyntaxError ? 400 : 500;
        payload = JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, message: (error as Error).message });
      }
      response.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
      response.end(payload);
    });
  };

  listenBare({ cert, key, port: Number(flag('port') ?? 0) }, (request, response) => {
    const url = request.url ?? '';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    if (request.method === 'POST' && (path === '/validate' || path === '/mutate')) {
      answer(path === '/validate' ? 'validate' : 'mutate', request, response);
      return;
    }
    request.resume();
    response.writeHead(404, { 'Content-Type': 'text/plain' });
    response.end('not found: POST /validate or /mutate\n');
  });
}

main();
