// The `coverage` variable as policies see it: typed at load, null without nodes, and computed from
// the object the policy reviews (after earlier mutations).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadPolicySet } from '../policy/load-policies.js';
import { admissionRequest, daemonSet, policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import { review } from './review.js';
import type { JsonObject } from './types.js';

const NODES: JsonObject[] = [
  { apiVersion: 'v1', kind: 'Node', metadata: { name: 'cp-1', labels: { 'node-role.kubernetes.io/control-plane': '' } }, spec: { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] } },
  { apiVersion: 'v1', kind: 'Node', metadata: { name: 'worker-1', labels: {} }, status: { allocatable: { cpu: '4', memory: '8Gi' } } },
  { apiVersion: 'v1', kind: 'Node', metadata: { name: 'worker-2', labels: {} }, status: { allocatable: { cpu: '4', memory: '8Gi' } } },
];

const REPORTING_POLICY = policyYaml(
  'coverage-report',
  `
  validationActions: [Warn]
  validations:
    - expression: "coverage == null"
      messageExpression: >-
        'on ' + coverage.scheduledNodes.map(n, n.name).join(',') + ' of ' + string(coverage.totalNodes) +
        '; excluded ' + coverage.excludedNodes.map(n, n.name + ': ' + n.reason).join(',') +
        '; cpu ' + string(coverage.footprint.total.cpu.isGreaterThan(quantity('199m'))) +
        '; control plane ' + string(coverage.scheduledNodes.exists(n, 'node-role.kubernetes.io/control-plane' in n.labels))
`,
);

async function policies(...documents: string[]) {
  const root = await writeTree(Object.fromEntries(documents.map((d, i) => [`p${i}.yaml`, d])));
  return loadPolicySet([root]);
}

const agent = (): JsonObject => daemonSet({ podSpec: { containers: [{ name: 'agent', image: 'agent:1', resources: { requests: { cpu: '100m' } } }] } });

describe('the coverage variable', () => {
  it('holds the scheduled and excluded nodes, with reasons and labels, and the footprint as quantities', async () => {
    const decision = review(admissionRequest(agent()), await policies(REPORTING_POLICY), { phase: 'validate', nodes: NODES });
    assert.deepEqual(decision.warnings, ['coverage-report: on worker-1,worker-2 of 3; excluded cp-1: taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated; cpu true; control plane false']);
  });

  it('is null without nodes', async () => {
    const decision = review(admissionRequest(agent()), await policies(REPORTING_POLICY), { phase: 'validate' });
    assert.deepEqual(decision.warnings, []);
    assert.deepEqual(decision.outcomes, [{ policy: 'coverage-report', result: 'pass' }]);
  });

  it('follows the object an earlier mutation changed', async () => {
    const tolerate = policyYaml(
      'tolerate-control-plane',
      `
  mutations:
    - name: tolerate
      defaults:
        - path: /spec/template/spec/tolerations
          value: [{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]
`,
    );
    const mutated = review(admissionRequest(agent()), await policies(tolerate), { phase: 'mutate', nodes: NODES });
    assert.ok(mutated.mutatedObject);
    const validated = review(admissionRequest(mutated.mutatedObject), await policies(REPORTING_POLICY), { phase: 'validate', nodes: NODES });
    assert.match(validated.warnings[0]!, /on cp-1,worker-1,worker-2 of 3; excluded ; cpu true; control plane true/);
  });

  it('a typo in a coverage field is a load error', async () => {
    const typo = policyYaml('typo', `
  validations:
    - expression: "coverage == null || size(coverage.scheduledNode) > 0"
`);
    await assert.rejects(policies(typo), /scheduledNode/);
  });

  it('a variable that reads only coverage is evaluated per review, not once at load', async () => {
    const count = policyYaml(
      'count',
      `
  validationActions: [Warn]
  variables:
    - name: nodes
      expression: "coverage == null ? 0 : size(coverage.scheduledNodes)"
  validations:
    - expression: "variables.nodes == 0"
      messageExpression: "'runs on ' + string(variables.nodes)"
`,
    );
    const set = await policies(count);
    assert.deepEqual(review(admissionRequest(agent()), set, { phase: 'validate', nodes: NODES }).warnings, ['count: runs on 2']);
    assert.deepEqual(review(admissionRequest(agent()), set, { phase: 'validate', nodes: NODES.slice(1, 2) }).warnings, ['count: runs on 1']);
  });
});
