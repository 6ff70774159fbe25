// The built-in library written by hand: each policy's checks as a plain JavaScript function on the
// review's JSON, with the messages the library gives. `npm run bench` serves them from a bare
// node:https server (bench/hand-written/server.ts) beside the floor and daemonguard, to measure what
// these checks cost in a webhook without any engine: the floor for a server that does the library's
// work. The twins are held to the library's verdicts by test/bench/hand-written-library.test.ts.
import type { JsonObject, ValidationAction } from '../../src/common/vocabulary.js';
import type { PatchOperation } from '../../src/engine/types.js';

/** What a twin reads of an AdmissionReview's request. */
export interface HandWrittenReview {
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  /** The DaemonSet as the request gives it (null for DELETE). */
  object: JsonObject | null;
  /** The stored DaemonSet on UPDATE and DELETE, else null. */
  oldObject: JsonObject | null;
  /** The request's namespace. */
  namespace: string;
  /** The namespace object the server knows (its labels decide namespaceSelectors), null when unknown. */
  namespaceObject: JsonObject | null;
  /** The whole AdmissionReview `request` (userInfo, dryRun, options). */
  request: JsonObject;
}

/** One violation, as the engine reports it: the message the policy's validation (or messageExpression) gives. */
export interface HandWrittenViolation {
  policy: string;
  message: string;
  actions: readonly ValidationAction[];
  /**
   * The failed validation's `reason` (Forbidden, Invalid, ...), which a denial's status carries. Needed
   * only where the policy's validations differ in reason: otherwise the library (library.ts) fills in
   * the policy's one reason from its YAML.
   */
  reason?: string;
}

export interface HandWrittenValidatingPolicy {
  /** The library policy's metadata.name. */
  readonly name: string;
  /**
   * The policy's violations of this review, in the order the engine reports them; empty when it passes
   * or does not apply (its match constraints, matchConditions and namespaceSelector are checked here too).
   */
  validate(review: HandWrittenReview): HandWrittenViolation[];
}

export interface HandWrittenMutatingPolicy {
  readonly name: string;
  /**
   * The RFC 6902 operations this policy adds, against `object` (the request's object after the earlier
   * mutating policies' operations); empty when it changes nothing or does not apply.
   */
  mutate(review: HandWrittenReview, object: JsonObject): PatchOperation[];
}

/** Makes a twin from the library policy's `spec.params` (undefined when it has none), read from its YAML file. */
export type ValidatingTwinFactory = (params: JsonObject | undefined) => HandWrittenValidatingPolicy;
export type MutatingTwinFactory = (params: JsonObject | undefined) => HandWrittenMutatingPolicy;
