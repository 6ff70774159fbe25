// The admission server as the server's own tests start it: TLS on 127.0.0.1 at a free port, a fixed
// policy set, the engine's review, a silent logger and metrics of its own. (Not a test file itself.)

import path from 'node:path';
import { after, before } from 'node:test';
import { review } from '../../src/engine/review.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import type { PolicySet } from '../../src/policy/types.js';
import { startAdmissionServer, type AdmissionServer, type AdmissionServerOptions } from '../../src/server/admission-server.js';
import { createServerMetrics } from '../../src/server/metrics.js';
import { StaticPolicyStore } from '../../src/server/policy-store.js';
import type { TlsFiles } from '../../src/server/tls-material.js';
import { captureLogger, temporaryDirectory, TEST_POLICIES, writeFiles, writeTestCertificates, type TestCertificates } from './server-fixtures.js';

export function startTestAdmissionServer(policySet: PolicySet, tls: TlsFiles, overrides: Partial<AdmissionServerOptions<PolicySet>> = {}): Promise<AdmissionServer> {
  return startAdmissionServer<PolicySet>({
    address: '127.0.0.1',
    port: 0,
    tls,
    policies: new StaticPolicyStore(policySet),
    review,
    logger: captureLogger('silent').logger,
    metrics: createServerMetrics({ defaultMetrics: false }),
    ...overrides,
  });
}

export interface AdmissionServerTestBed {
  /** TEST_POLICIES, loaded from a file (set once the suite's `before` hook has run). */
  readonly policySet: PolicySet;
  /** A CA and a certificate for localhost, written to files (likewise). */
  readonly certificates: TestCertificates;
  /** Starts a server on the test bed's policies and certificate; it is closed after the suite. */
  start(overrides?: Partial<AdmissionServerOptions<PolicySet>>): Promise<AdmissionServer>;
}

/** Registers the suite's hooks: writes the policies and certificates before it, closes every server started after it. */
export function admissionServerTestBed(): AdmissionServerTestBed {
  let policySet: PolicySet | undefined;
  let certificates: TestCertificates | undefined;
  const servers: AdmissionServer[] = [];
  before(async () => {
    const dir = await temporaryDirectory();
    await writeFiles(dir, { 'policies/all.yaml': TEST_POLICIES });
    policySet = await loadPolicySet([path.join(dir, 'policies')]);
    certificates = await writeTestCertificates(dir);
  });
  after(async () => {
    await Promise.all(servers.map((server) => server.close(100)));
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the test bed is used before its before() hook ran');
    return value;
  };
  return {
    get policySet() {
      return ready(policySet);
    },
    get certificates() {
      return ready(certificates);
    },
    async start(overrides = {}) {
      const { certFile, keyFile } = ready(certificates);
      const server = await startTestAdmissionServer(ready(policySet), { certFile, keyFile }, overrides);
      servers.push(server);
      return server;
    },
  };
}
