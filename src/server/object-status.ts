// The status daemonguard writes on its custom objects, in the shape of Kubernetes conditions: what
// the status should say (ObjectStatus), and the status object to write when the one the apiserver holds
// says something else. Writes are skipped when nothing changed, so a resync writes nothing, and a
// condition's lastTransitionTime moves only when its status flips.

import { isDeepStrictEqual } from 'node:util';

/**
 * What the last background audit says a policy does to the DaemonSets already in the cluster.
 * wouldDeny: DaemonSets that violate it whatever its validationActions (those its Deny would refuse
 * on their next update; an excepted DaemonSet is not counted). wouldWarn: those of them it warns
 * about as it is configured now (its actions include Warn). sample: the first of them, namespace/name.
 */
export interface PolicyImpact {
  wouldDeny: number;
  wouldWarn: number;
  sample: string[];
}

/** What an object's status should say. */
export interface ObjectStatus {
  observedGeneration: number;
  ready: boolean;
  /** CamelCase, e.g. Loaded, LoadFailed, DuplicateName. */
  reason: string;
  message: string;
  /** CEL expressions of the version being enforced (0 when none is). */
  expressions: number;
  /** Policies only, once a background audit ran on this replica. */
  impact?: PolicyImpact;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

export interface StatusBody {
  observedGeneration: number;
  expressions: number;
  conditions: Condition[];
  impact?: PolicyImpact;
}

function readyCondition(status: unknown): Partial<Condition> | undefined {
  const conditions = (status as { conditions?: unknown } | undefined)?.conditions;
  if (!Array.isArray(conditions)) return undefined;
  return conditions.find((c): c is Partial<Condition> => typeof c === 'object' && c !== null && (c as { type?: unknown }).type === 'Ready');
}

/** The status to write, or undefined when `current` (the object's status as stored) already says `desired`. */
export function statusToWrite(current: unknown, desired: ObjectStatus, now: Date): StatusBody | undefined {
  const previous = readyCondition(current);
  const status = desired.ready ? 'True' : 'False';
  const stored = current as { observedGeneration?: unknown; expressions?: unknown; impact?: unknown } | undefined;
  const same =
    stored?.observedGeneration === desired.observedGeneration &&
    stored.expressions === desired.expressions &&
    previous?.status === status &&
    previous.reason === desired.reason &&
    previous.message === desired.message &&
    previous.observedGeneration === desired.observedGeneration &&
    (desired.impact === undefined || isDeepStrictEqual(stored.impact, desired.impact));
  if (same) return undefined;
  const lastTransitionTime =
    previous?.status === status && typeof previous.lastTransitionTime === 'string' ? previous.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    observedGeneration: desired.observedGeneration,
    expressions: desired.expressions,
    conditions: [{ type: 'Ready', status, reason: desired.reason, message: desired.message, observedGeneration: desired.observedGeneration, lastTransitionTime }],
    ...(desired.impact === undefined ? {} : { impact: desired.impact }),
  };
}
