// The MutatingAdmissionPolicy part of a native policy: mutations (ApplyConfiguration, JSONPatch) and
// reinvocationPolicy, compiled for the engine (evaluated by src/engine/native-mutation.ts).
//
// reinvocationPolicy is accepted and not acted on: daemonguard runs every mutating policy once, in
// order, each seeing the object the previous ones produced, which is what a single pass of the
// apiserver's admission chain does when no webhook changes the object afterwards.
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

/** Compiles spec.mutations, refusing what the apiserver's validation refuses (a patchType without its expression, or with the other one). */
export function compileMutatingParts(_source: SourceDocument, document: MutatingAdmissionPolicyDocument, cel: NativeCel): MutatingParts {
  const spec = document.spec;
  if (spec.reinvocationPolicy === undefined) cel.problemAt(['spec'], 'spec.reinvocationPolicy is required: Never or IfNeeded (the apiserver refuses a MutatingAdmissionPolicy without it)');
  if ((spec.mutations ?? []).length === 0) cel.problemAt(['spec'], 'a MutatingAdmissionPolicy needs at least one entry in spec.mutations (the apiserver refuses one without)');
  const mutations: CompiledMutation[] = [];
  (spec.mutations ?? []).forEach((mutation, i) => {
    const base = ['spec', 'mutations', i] as const;
    const field = `spec.mutations[${i}]`;
    if (mutation.patchType === 'ApplyConfiguration') {
      if (mutation.jsonPatch !== undefined) cel.problemAt([...base, 'jsonPatch'], 'must not be set when patchType is ApplyConfiguration');
      if (mutation.applyConfiguration === undefined) {
        cel.problemAt([...base], 'applyConfiguration is required when patchType is ApplyConfiguration');
        return;
      }
      const compiled = cel.compile([...base, 'applyConfiguration', 'expression'], mutation.applyConfiguration.expression, 'any');
      if (compiled) mutations.push({ name: field, field, applyConfiguration: compiled });
      return;
    }
    if (mutation.applyConfiguration !== undefined) cel.problemAt([...base, 'applyConfiguration'], 'must not be set when patchType is JSONPatch');
    if (mutation.jsonPatch === undefined) {
      cel.problemAt([...base], 'jsonPatch is required when patchType is JSONPatch');
      return;
    }
    const compiled = cel.compile([...base, 'jsonPatch', 'expression'], mutation.jsonPatch.expression, 'list');
    if (!compiled) return;
    // The apiserver types the result as list<JSONPatch>: a list of maps is a compile error there.
    if (/^list<map</.test(compiled.program.resultType)) {
      cel.problemAt([...base, 'jsonPatch', 'expression'], `must return a list of JSONPatch{op: ..., path: ..., value: ...}, not ${compiled.program.resultType} (the apiserver refuses maps here)`);
      return;
    }
    mutations.push({ name: field, field, jsonPatch: compiled });
  });
  return { mutations };
}
