// What the kube-apiserver hands the validating webhooks after a mutating webhook answered with a patch:
// it applies the patch (evanphx/json-patch: an operation whose path or parent is missing fails the
// whole request, even under failurePolicy Ignore), then decodes the result into its Go types again,
// which defaults whatever the patch added (a container gets its terminationMessagePath, …).
import type { AdmissionRequest, PatchOperation } from '../engine/types.js';
import { EvaluationFailure } from '../engine/evaluate.js';
import { applyPatch } from '../engine/mutate.js';
import { applyApiserverDefaults } from './daemonset-defaults.js';

/** The request the validating webhooks see once `patch` (the mutating webhook's answer) is applied. */
export function requestAfterMutation(request: AdmissionRequest, patch: readonly PatchOperation[]): AdmissionRequest {
  if (patch.length === 0 || request.object === null) return request;
  let patched;
  try {
    // The engine's own strict applier: the apiserver's rules, on copies of the touched paths only.
    patched = applyPatch(request.object, [...patch], 'the mutating webhook\'s patch');
  } catch (error) {
    if (!(error instanceof EvaluationFailure)) throw error;
    // The engine checks every operation as it mutates, so this is a daemonguard bug, not a user's.
    throw new Error(`the kube-apiserver would refuse the mutating webhook's patch (${error.detail}); please report this`);
  }
  return { ...request, object: applyApiserverDefaults(patched, { namespace: request.namespace ?? '' }) };
}
