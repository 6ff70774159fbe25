// The admission server as the server's own tests start it: TLS on 127.0.0.1 at a free port, a fixed
// policy set, the engine's review, a silent logger and metrics of its own. (Not a test file itself.)

import { review } from '../../src/engine/review.js';
import type { PolicySet } from '../../src/policy/types.js';
import { startAdmissionServer, type AdmissionServer, type AdmissionServerOptions } from '../../src/server/admission-server.js';
import { createServerMetrics } from '../../src/server/metrics.js';
import { StaticPolicyStore } from '../../src/server/policy-store.js';
import type { TlsFiles } from '../../src/server/tls-material.js';
import { captureLogger } from './server-fixtures.js';

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
