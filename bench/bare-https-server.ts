// The bare node:https server of the benchmark's floors (floor-server.ts, hand-written/server.ts): the
// certificate and connection settings of `daemonguard serve` (TLS 1.2 and up, HTTP/1.1 only, idle
// connections kept 120 s, longer than the apiserver's 90 s), on 127.0.0.1. Prints one line,
// {"port": N}, once listening; exits on SIGTERM. One definition, so the floors cannot drift apart.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface BareServerFiles {
  cert: string;
  key: string;
  port: number;
}

/** `--name value` from the command line. */
export function flag(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? process.argv[index + 1] : undefined;
}

export function listenBare(files: BareServerFiles, handle: (request: IncomingMessage, response: ServerResponse) => void): void {
  const server = createServer(
    {
      cert: readFileSync(files.cert),
      key: readFileSync(files.key),
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['http/1.1'],
      keepAliveTimeout: 120_000,
    },
    handle,
  );
  server.keepAliveTimeout = 120_000;
  server.listen(files.port, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  });
  process.on('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
