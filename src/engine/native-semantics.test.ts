// Native policies' semantics the apiserver shows only in its audit log, checked on the engine:
// auditAnnotations as "<policy>/<key>" (deduplicated across bindings, joined with ", "), Audit
// actions as the validation_failure annotation, and failurePolicy Ignore silencing errors entirely.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildAdmissionRequest } from '../apiserver/admission-request.js';
import { parseSourceText } from '../common/yaml-documents.js';
import { compileNativeDocuments } from '../native/compile-native.js';
import { paramObjectOf } from '../native/params.js';
import { buildPolicySet } from '../policy/load-policies.js';
import { VALIDATION_FAILURE_ANNOTATION } from './native-semantics.js';
import { review } from './review.js';

const RULES = '{resourceRules: [{apiGroups: [apps], apiVersions: [v1], resources: [daemonsets], operations: [CREATE]}]}';

function decide(yaml: string, name = 'agent'): ReturnType<typeof review> {
  const sources = parseSourceText('native.yaml', yaml);
  const params = sources.map(paramObjectOf).filter((p) => p !== undefined && p.kind === 'ConfigMap');
  const compiled = compileNativeDocuments(sources, params.filter((p) => p !== undefined));
  assert.deepEqual(compiled.problems, []);
  const daemonSet = {
    apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name, namespace: 'default', labels: { app: 'a' } },
    spec: { selector: { matchLabels: { app: 'a' } }, template: { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'busybox:latest' }] } } },
  };
  const request = buildAdmissionRequest(daemonSet, { operation: 'CREATE', namespace: 'default', oldObject: null });
  return review(request, buildPolicySet(compiled.policies, []), { phase: 'validate', namespaceObject: { metadata: { name: 'default', labels: {} } } });
}

describe('native policies: what the apiserver writes to its audit log', () => {
  it('publishes auditAnnotations as <policy>/<key>, one value per distinct param, blank and null values left out', () => {
    const decision = decide(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: images}
spec:
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints: ${RULES}
  auditAnnotations:
    - {key: image, valueExpression: "object.spec.template.spec.containers[0].image + ' ' + params.data.team"}
    - {key: blank, valueExpression: "'  '"}
    - {key: none, valueExpression: "null"}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: by-selector}
spec:
  policyName: images
  validationActions: [Audit]
  paramRef: {selector: {}, namespace: params, parameterNotFoundAction: Deny}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: params}
data: {team: red}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b, namespace: params}
data: {team: blue}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: params}
data: {team: red}
`);
    assert.equal(decision.allowed, true);
    assert.deepEqual({ ...decision.auditAnnotations }, { 'images/image': 'busybox:latest red, busybox:latest blue' });
  });

  it("writes Audit failures as the validation_failure annotation, in Go's JSON, and Warn as the apiserver words it", () => {
    const decision = decide(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: latest}
spec:
  matchConstraints: ${RULES}
  validations:
    - {expression: "true"}
    - {expression: "!object.spec.template.spec.containers.exists(c, c.image.endsWith(':latest'))", message: "<latest> & co"}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: audit-warn}
spec: {policyName: latest, validationActions: [Warn, Audit]}
`);
    assert.equal(decision.allowed, true);
    assert.deepEqual(decision.warnings, ["Validation failed for ValidatingAdmissionPolicy 'latest' with binding 'audit-warn': <latest> & co"]);
    assert.equal(
      decision.auditAnnotations[VALIDATION_FAILURE_ANNOTATION],
      '[{"message":"\\u003clatest\\u003e \\u0026 co","policy":"latest","binding":"audit-warn","expressionIndex":1,"validationActions":["Warn","Audit"]}]',
    );
  });

  it('failurePolicy Ignore: an evaluation error or missing params leave no trace (no warning), as in the apiserver', () => {
    const decision = decide(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: broken}
spec:
  failurePolicy: Ignore
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints: ${RULES}
  validations:
    - {expression: "object.spec.nodeName == 'x'"}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: no-params}
spec:
  policyName: broken
  validationActions: [Deny]
  paramRef: {name: missing, namespace: x, parameterNotFoundAction: Deny}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: error}
spec: {policyName: broken, validationActions: [Deny, Audit]}
`);
    assert.equal(decision.allowed, true);
    assert.deepEqual(decision.warnings, []);
    assert.deepEqual({ ...decision.auditAnnotations }, {});
    assert.deepEqual(decision.outcomes.map((o) => o.result), ['skip', 'pass']);
  });
});
