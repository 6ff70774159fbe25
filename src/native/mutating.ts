// The MutatingAdmissionPolicy part of a native policy: mutations (ApplyConfiguration, JSONPatch) and
// reinvocationPolicy, compiled for the engine (evaluated by src/engine/native-mutation.ts).
//
// reinvocationPolicy is accepted and not acted on: daemonguard runs every mutating policy once, in
// order, each seeing the object the previous ones produced, which is what a single pass of the
// apiserver's admission chain does when no webhook changes the object afterwards.
import type { SourceDocument } from '../common/yaml-documents.js';
import type { CompiledMutation } from '../policy/types.js';
import type { MutatingAdmissionPolicyDocument, NativeMutation } from './documents.js';
import type { NativeCel } from './native-cel.js';
import { STRING, type Shape } from './shape.js';

type PatchField = Exclude<keyof NativeMutation, 'patchType'>;

/** What the apiserver wants of each patchType: its field, and exactly one result type for its expression. */
interface PatchForm {
  field: PatchField;
  /** What the expression must be for daemonguard's checker to compile it at all. */
  compileAs: 'any' | 'list';
  /** The checker's name of the one result type the apiserver accepts, and the apiserver's. */
  resultType: string;
  apiserverType: string;
  /** How to write it, shown after a wrong result type. */
  hint: string;
}

const PATCH_FORMS: Readonly<Record<NativeMutation['patchType'], PatchForm>> = {
  // The apiserver's Object type is what daemonguard's checker knows as the DaemonSet schema type.
  ApplyConfiguration: { field: 'applyConfiguration', compileAs: 'any', resultType: 'DaemonSet', apiserverType: 'Object', hint: 'return Object{...}' },
  // A list of maps (or of dyn) is a compile error in the apiserver: it wants exactly list<JSONPatch>.
  JSONPatch: { field: 'jsonPatch', compileAs: 'list', resultType: 'list<JSONPatch>', apiserverType: 'list(JSONPatch)', hint: 'return [JSONPatch{op: ..., path: ..., value: ...}, ...]' },
};

const PATCH_FIELDS: readonly PatchField[] = Object.values(PATCH_FORMS).map((form) => form.field);

export const MUTATING_SPEC_FIELDS: Readonly<Record<string, Shape>> = {
  mutations: {
    type: 'list',
    items: {
      type: 'object',
      fields: {
        patchType: { type: 'string', enum: Object.keys(PATCH_FORMS) },
        ...Object.fromEntries(PATCH_FIELDS.map((field) => [field, { type: 'object', fields: { expression: STRING }, required: ['expression'] } satisfies Shape])),
      },
      required: ['patchType'],
    },
  },
  reinvocationPolicy: { type: 'string', enum: ['Never', 'IfNeeded'] },
};

export interface MutatingParts {
  mutations: CompiledMutation[];
}

/** A checker type as cel-go spells it in the apiserver's messages: list(map(string, string)). */
function apiserverSpelling(type: string): string {
  return type.replace(/<(.*)>/, '($1)');
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
    const form = PATCH_FORMS[mutation.patchType];
    for (const other of PATCH_FIELDS.filter((f) => f !== form.field)) {
      if (mutation[other] !== undefined) cel.problemAt([...base, other], `must not be set when patchType is ${mutation.patchType}`);
    }
    const patch = mutation[form.field];
    if (patch === undefined) {
      cel.problemAt([...base], `${form.field} is required when patchType is ${mutation.patchType}`);
      return;
    }
    const path = [...base, form.field, 'expression'];
    const compiled = cel.compile(path, patch.expression, form.compileAs);
    if (!compiled) return;
    const type = compiled.program.resultType;
    if (type !== form.resultType) {
      cel.problemAt(path, `must evaluate to ${form.apiserverType} but got ${apiserverSpelling(type)} (the apiserver refuses it): ${form.hint}`);
      return;
    }
    mutations.push({ name: field, field, [form.field]: compiled });
  });
  return { mutations };
}
