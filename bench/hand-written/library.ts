// The hand-written library: every policy of policies/ (read with the `yaml` package, as files, in the
// order the engine loads them: folders walked in sorted order, documents in file order) paired with its
// twin from the groups' records, made from the policy's own spec.params. A library policy without a
// twin, or a twin without a library policy, stops it from being built: a hand-written server that
// skipped a policy would be measured doing less than daemonguard.
import { readFileSync, readdirSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { JsonObject } from '../../src/common/vocabulary.js';
import type { PatchOperation } from '../../src/engine/types.js';
import { applyAdd } from './apply-patch.js';
import { defaultsTwins } from './defaults.js';
import { podSecurityTwins } from './pod-security.js';
import { rolloutTwins } from './rollout.js';
import { securityTwins } from './security.js';
import type {
  HandWrittenMutatingPolicy,
  HandWrittenReview,
  HandWrittenValidatingPolicy,
  HandWrittenViolation,
  MutatingTwinFactory,
  ValidatingTwinFactory,
} from './policy.js';

interface TwinGroup {
  validating: Record<string, ValidatingTwinFactory>;
  mutating: Record<string, MutatingTwinFactory>;
}

/** The groups' records, by the file that holds them (for messages). */
const GROUPS: readonly (readonly [string, TwinGroup])[] = [
  ['bench/hand-written/defaults.ts', defaultsTwins],
  ['bench/hand-written/pod-security.ts', podSecurityTwins],
  ['bench/hand-written/rollout.ts', rolloutTwins],
  ['bench/hand-written/security.ts', securityTwins],
];

/** The policy files the engine reads under a folder, in its order (src/common/yaml-documents.ts listManifestFiles). */
function policyFiles(directory: string): string[] {
  const entries = readdirSync(directory, { withFileTypes: true })
    .filter((entry) => !entry.name.startsWith('.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return entries.flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return policyFiles(path);
    return ['.yaml', '.yml', '.json'].includes(extname(entry.name).toLowerCase()) ? [path] : [];
  });
}

interface PolicyDocument {
  kind?: unknown;
  metadata?: { name?: unknown };
  spec?: { params?: JsonObject; validations?: { reason?: unknown }[]; mutations?: unknown[] };
}

export interface HandWrittenLibrary {
  /** The twins of the policies with validations, in the engine's order: what /validate runs. */
  readonly validating: readonly HandWrittenValidatingPolicy[];
  /** The twins of the policies with mutations, in the engine's order: what /mutate runs, each on the last one's result. */
  readonly mutating: readonly HandWrittenMutatingPolicy[];
  /**
   * Per policy, the `reason` all its validations share (the engine's default, Invalid, where one names
   * none); a policy whose validations differ is absent: its twin names each violation's reason.
   */
  readonly reasons: ReadonlyMap<string, string>;
}

export class HandWrittenLibraryError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`the hand-written library does not match the policies:\n${problems.join('\n')}`);
    this.name = 'HandWrittenLibraryError';
  }
}

/** Builds the twins of every policy under `directory` (the built-in library). Throws HandWrittenLibraryError listing every mismatch. */
export function loadHandWrittenLibrary(directory: string): HandWrittenLibrary {
  const validatingFactories = new Map<string, { factory: ValidatingTwinFactory; group: string }>();
  const mutatingFactories = new Map<string, { factory: MutatingTwinFactory; group: string }>();
  const problems: string[] = [];
  for (const [group, twins] of GROUPS) {
    for (const [name, factory] of Object.entries(twins.validating)) {
      const earlier = validatingFactories.get(name);
      if (earlier !== undefined) problems.push(`policy "${name}": validating twins in both ${earlier.group} and ${group}`);
      validatingFactories.set(name, { factory, group });
    }
    for (const [name, factory] of Object.entries(twins.mutating)) {
      const earlier = mutatingFactories.get(name);
      if (earlier !== undefined) problems.push(`policy "${name}": mutating twins in both ${earlier.group} and ${group}`);
      mutatingFactories.set(name, { factory, group });
    }
  }

  const validating: HandWrittenValidatingPolicy[] = [];
  const mutating: HandWrittenMutatingPolicy[] = [];
  const reasons = new Map<string, string>();
  const seen = new Set<string>();
  for (const file of policyFiles(directory)) {
    const where = relative(process.cwd(), file) || file;
    for (const parsed of parseAllDocuments(readFileSync(file, 'utf8'))) {
      if (!('toJS' in parsed)) {
        problems.push(`${where}: more than one YAML stream`);
        continue;
      }
      if (parsed.errors.length > 0) {
        problems.push(`${where}: ${parsed.errors[0]!.message}`);
        continue;
      }
      const document = parsed.toJS() as PolicyDocument | null;
      if (document === null) continue;
      const name = document.metadata?.name;
      if (document.kind !== 'DaemonSetPolicy' || typeof name !== 'string') {
        problems.push(`${where}: a ${String(document.kind)} document; the hand-written library has twins for DaemonSetPolicies only`);
        continue;
      }
      seen.add(name);
      const params = document.spec?.params;
      const needs = { validating: (document.spec?.validations?.length ?? 0) > 0, mutating: (document.spec?.mutations?.length ?? 0) > 0 };
      const validatingTwin = validatingFactories.get(name);
      const mutatingTwin = mutatingFactories.get(name);
      if (needs.validating && validatingTwin === undefined) problems.push(`${where}: policy "${name}" has validations but no validating twin; write one in bench/hand-written/ and list it in its group's record`);
      if (needs.mutating && mutatingTwin === undefined) problems.push(`${where}: policy "${name}" has mutations but no mutating twin; write one in bench/hand-written/ and list it in its group's record`);
      if (!needs.validating && validatingTwin !== undefined) problems.push(`${where}: policy "${name}" has no validations, but ${validatingTwin.group} has a validating twin for it`);
      if (!needs.mutating && mutatingTwin !== undefined) problems.push(`${where}: policy "${name}" has no mutations, but ${mutatingTwin.group} has a mutating twin for it`);
      // As src/policy/compile-policy.ts: a validation without a reason has Invalid.
      const validationReasons = new Set((document.spec?.validations ?? []).map((validation) => (typeof validation.reason === 'string' ? validation.reason : 'Invalid')));
      if (validationReasons.size === 1) reasons.set(name, [...validationReasons][0]!);
      try {
        if (needs.validating && validatingTwin !== undefined) validating.push(validatingTwin.factory(params));
        if (needs.mutating && mutatingTwin !== undefined) mutating.push(mutatingTwin.factory(params));
      } catch (error) {
        problems.push(`${where}: policy "${name}": ${(error as Error).message}`);
      }
    }
  }
  for (const [kind, factories] of [['validating', validatingFactories], ['mutating', mutatingFactories]] as const) {
    for (const [name, { group }] of factories) {
      if (!seen.has(name)) problems.push(`${group}: a ${kind} twin for "${name}", which no policy under ${directory} is named`);
    }
  }
  if (problems.length > 0) throw new HandWrittenLibraryError(problems);
  return { validating, mutating, reasons };
}

/** The `reason` of a violation's validation: the twin's, else the policy's one reason. */
export function reasonOf(library: HandWrittenLibrary, violation: HandWrittenViolation): string {
  const reason = violation.reason ?? library.reasons.get(violation.policy);
  if (reason === undefined) throw new Error(`policy "${violation.policy}": its validations differ in reason, so its twin must give each violation's reason`);
  return reason;
}

/** The violations of every validating twin, in the library's order (what the engine's validate phase reports). */
export function validateAll(library: Pick<HandWrittenLibrary, 'validating'>, review: HandWrittenReview): HandWrittenViolation[] {
  const { validating } = library;
  let violations: HandWrittenViolation[] | undefined;
  for (let i = 0; i < validating.length; i++) {
    const found = validating[i]!.validate(review);
    if (found.length > 0) (violations ??= []).push(...found);
  }
  return violations ?? [];
}

/** What the mutating twins did to a review: their operations in order, the object after them, and how many each added. */
export interface TwinsMutation {
  patch: PatchOperation[];
  /** The review's object with the patch applied (null when the review had none). */
  object: JsonObject | null;
  /** Per twin, in the library's order: the operations it added (none for a review without an object). */
  operationsByTwin: number[];
}

/** Every mutating twin, each run on the object after the earlier twins' operations. */
export function mutateEach(library: Pick<HandWrittenLibrary, 'mutating'>, review: HandWrittenReview): TwinsMutation {
  let working = review.object;
  const patch: PatchOperation[] = [];
  const operationsByTwin = new Array<number>(library.mutating.length).fill(0);
  if (working === null) return { patch, object: null, operationsByTwin };
  for (let t = 0; t < library.mutating.length; t++) {
    const operations = library.mutating[t]!.mutate(review, working);
    for (let i = 0; i < operations.length; i++) {
      working = applyAdd(working, operations[i]!);
      patch.push(operations[i]!);
    }
    operationsByTwin[t] = operations.length;
  }
  return { patch, object: working, operationsByTwin };
}

/** The patch of every mutating twin (mutateEach's). */
export function mutateAll(library: Pick<HandWrittenLibrary, 'mutating'>, review: HandWrittenReview): PatchOperation[] {
  return mutateEach(library, review).patch;
}
