// The MutatingAdmissionPolicy part of a native policy: mutations (ApplyConfiguration, JSONPatch) and
// reinvocationPolicy, compiled for the engine. Not evaluated yet: until it is, a MutatingAdmissionPolicy
// is a load problem naming what is missing, never a policy that silently does nothing.
import type { SourceDocument } from '../common/yaml-documents.js';
import type { CompiledMutation } from '../policy/types.js';
import type { MutatingAdmissionPolicyDocument } from './documents.js';
import type { NativeCel } from './native-cel.js';
import { STRING, type Shape } from './shape.js';

export const MUTATING_SPEC_FIELDS: Readonly<Record<string, Shape>> = {
  mutations: {
    type: 'list',
    items: {
      type: 'object',
      fields: {
        patchType: { type: 'string', enum: ['ApplyConfiguration', 'JSONPatch'] },
        applyConfiguration: { type: 'object', fields: { expression: STRING }, required: ['expression'] },
        jsonPatch: { type: 'object', fields: { expression: STRING }, required: ['expression'] },
      },
      required: ['patchType'],
    },
  },
  reinvocationPolicy: { type: 'string', enum: ['Never', 'IfNeeded'] },
};

export interface MutatingParts {
  mutations: CompiledMutation[];
}

/** Compiles spec.mutations. Filled in by the MutatingAdmissionPolicy work; until then a load problem. */
export function compileMutatingParts(_source: SourceDocument, _document: MutatingAdmissionPolicyDocument, cel: NativeCel): MutatingParts {
  cel.problemAt(['kind'], 'MutatingAdmissionPolicy is not supported by this daemonguard yet: it would not be evaluated, so it is refused rather than skipped');
  return { mutations: [] };
}
