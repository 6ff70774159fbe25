// The objects `daemonguard manifests --crds` and `--policies` print: the CRDs (rendered from schema/),
// and a policy library as DaemonSetPolicy objects for `serve --policies-from-cluster`. The policies are
// loaded first, so what is printed is a set the server accepts; nothing is edited but the labels that
// let `kubectl get dsp -l app.kubernetes.io/part-of=daemonguard` find them and, on request, the
// validation actions (install in Warn first: see deploy/README.md).

import { renderCustomResourceDefinitions } from '../deploy/custom-resource-definitions.js';
import type { ValidationAction } from '../common/vocabulary.js';
import { loadPolicySet, PolicyLoadError } from '../policy/load-policies.js';
import type { DaemonSetPolicyDocument } from '../policy/types.js';
import { InputError } from './exit-codes.js';

export const LIBRARY_LABELS: Readonly<Record<string, string>> = { 'app.kubernetes.io/part-of': 'daemonguard' };

/** The CRDs of every daemonguard kind. */
export function crdObjects(): object[] {
  return renderCustomResourceDefinitions();
}

/** The policies under `paths` as objects; `validationActions` replaces those of every policy that validates. */
export async function policyObjects(paths: readonly string[], validationActions?: ValidationAction[]): Promise<DaemonSetPolicyDocument[]> {
  let set;
  try {
    set = await loadPolicySet(paths);
  } catch (error) {
    if (error instanceof PolicyLoadError) throw new InputError(error.message);
    throw error;
  }
  return set.policies.map(({ document }) => ({
    ...document,
    metadata: { ...document.metadata, labels: { ...document.metadata.labels, ...LIBRARY_LABELS } },
    spec: validationActions !== undefined && (document.spec.validations?.length ?? 0) > 0 ? { ...document.spec, validationActions } : document.spec,
  }));
}
