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
      const path = [...base, 'applyConfiguration', 'expression'];
      const compiled = cel.compile(path, mutation.applyConfiguration.expression, 'any');
      if (!compiled) return;
      // The apiserver wants exactly its Object type, which daemonguard's checker knows as the DaemonSet schema type.
      const type = compiled.program.resultType;
      if (type !== 'DaemonSet') {
        cel.problemAt(path, `must evaluate to Object but got ${type} (the apiserver refuses it): return Object{...}`);
        return;
      }
      mutations.push({ name: field, field, applyConfiguration: compiled });
      return;
    }
    if (mutation.applyConfiguration !== undefined) cel.problemAt([...base, 'applyConfiguration'], 'must not be set when patchType is JSONPatch');
    if (mutation.jsonPatch === undefined) {
      cel.problemAt([...base], 'jsonPatch is required when patchType is JSONPatch');
      return;
    }
    const path = [...base, 'jsonPatch', 'expression'];
    const compiled = cel.compile(path, mutation.jsonPatch.expression, 'list');
    if (!compiled) return;
    // The apiserver wants exactly list<JSONPatch>: a list of maps (or of dyn) is a compile error there.
    const type = compiled.program.resultType;
    if (type !== 'list<JSONPatch>') {
      cel.problemAt(path, `must evaluate to list(JSONPatch) but got ${type.replace(/<(.*)>/, '($1)')} (the apiserver refuses it): return [JSONPatch{op: ..., path: ..., value: ...}, ...]`);
      return;
    }
    mutations.push({ name: field, field, jsonPatch: compiled });
  });
  return { mutations };
}
