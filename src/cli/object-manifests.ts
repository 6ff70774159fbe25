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

export interface PolicyObjectOptions {
  /** Replaces the validationActions of every policy that validates. */
  validationActions?: ValidationAction[];
  /** Every policy with params reads overrides from the optional ConfigMap `<prefix><policy name>` (spec.paramsFrom). */
  paramsConfigMapPrefix?: string;
}

/** The policies under `paths` as objects. */
export async function policyObjects(paths: readonly string[], options: PolicyObjectOptions = {}): Promise<DaemonSetPolicyDocument[]> {
  const { validationActions, paramsConfigMapPrefix } = options;
  let set;
  try {
    set = await loadPolicySet(paths);
  } catch (error) {
    if (error instanceof PolicyLoadError) throw new InputError(error.message);
    throw error;
  }
  // Native policies (ValidatingAdmissionPolicy and bindings) are objects already: apply their files as they are.
  return set.policies.filter((policy) => policy.native === undefined).map(({ document }) => ({
    ...document,
    metadata: { ...document.metadata, labels: { ...document.metadata.labels, ...LIBRARY_LABELS } },
    spec: {
      ...document.spec,
      ...(validationActions !== undefined && (document.spec.validations?.length ?? 0) > 0 ? { validationActions } : {}),
      ...(paramsConfigMapPrefix !== undefined && document.spec.params !== undefined ? { paramsFrom: { configMap: `${paramsConfigMapPrefix}${document.metadata.name}`, optional: true } } : {}),
    },
  }));
}
