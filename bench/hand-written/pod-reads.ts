// What the library's hand-written twins read of a review, written once: the shapes of the DaemonSet
// fields they look at (type-only: a twin reads the JSON directly), the pod's containers, which
// operations a policy without a `match` applies to, the params a factory checks, and a violation
// worded as the engine words it.
import type { JsonObject, JsonValue, ValidationAction } from '../../src/common/vocabulary.js';
import type { HandWrittenReview, HandWrittenValidatingPolicy, HandWrittenViolation } from './policy.js';

export interface PortShape {
  containerPort?: number;
  hostPort?: number;
  protocol?: string;
}

export interface ContainerShape {
  name: string;
  image?: string;
  ports?: PortShape[];
  restartPolicy?: string;
  volumeMounts?: { name: string; readOnly?: boolean }[];
  resources?: { requests?: Record<string, JsonValue>; limits?: Record<string, JsonValue> };
  securityContext?: {
    privileged?: boolean;
    procMount?: string;
    seLinuxOptions?: { type?: string };
    capabilities?: { add?: string[] };
  };
}

export interface VolumeShape {
  name: string;
  hostPath?: { path: string };
}

export interface TolerationShape {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}

export interface PodSpecShape {
  containers: ContainerShape[];
  initContainers?: ContainerShape[];
  volumes?: VolumeShape[];
  tolerations?: TolerationShape[];
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  hostUsers?: boolean;
  securityContext?: { seLinuxOptions?: { type?: string } };
}

export interface DaemonSetShape {
  metadata: { name?: string; labels?: Record<string, string> };
  spec: {
    template: { spec: PodSpecShape };
    updateStrategy?: { type?: string; rollingUpdate?: { maxUnavailable?: number | string; maxSurge?: number | string } };
  };
}

/**
 * The DaemonSet a policy without a `match` block reviews: the object of a CREATE or an UPDATE (the
 * library's default operations), else null (the twin then reports nothing, as the engine skips it).
 */
export function reviewedDaemonSet(review: HandWrittenReview): DaemonSetShape | null {
  if (review.object === null || (review.operation !== 'CREATE' && review.operation !== 'UPDATE')) return null;
  return review.object as unknown as DaemonSetShape;
}

/**
 * A twin of a policy without a `match` block: `check` decides the DaemonSet of a CREATE or an UPDATE
 * (see reviewedDaemonSet); other reviews get no violations.
 */
export function reviewingTwin(name: string, check: (daemonSet: DaemonSetShape, review: HandWrittenReview) => HandWrittenViolation[]): HandWrittenValidatingPolicy {
  return {
    name,
    validate(review: HandWrittenReview): HandWrittenViolation[] {
      const daemonSet = reviewedDaemonSet(review);
      return daemonSet === null ? [] : check(daemonSet, review);
    },
  };
}

/** The init containers, then the containers: the order the library's policies list them in. */
export function containersOf(pod: PodSpecShape): ContainerShape[] {
  const init = pod.initContainers;
  return init === undefined || init.length === 0 ? pod.containers : init.concat(pod.containers);
}

/** A label of an object's metadata, '' when absent (CEL: `metadata.?labels[?key].orValue('')`). */
export function labelOf(metadata: { labels?: Record<string, string> } | undefined, key: string): string {
  const labels = metadata?.labels;
  if (labels === undefined || labels === null || !Object.hasOwn(labels, key)) return '';
  return labels[key]!;
}

/** What the engine does to every message (src/engine/review.ts oneLine): warnings and statuses hold one line. */
export function oneLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ').trim();
}

export function violation(policy: string, message: string, actions: readonly ValidationAction[]): HandWrittenViolation {
  return { policy, message: oneLine(message), actions };
}

/** CEL's upperAscii (only a-z change: 'ß' and 'ı' stay as they are, unlike toUpperCase). */
export function upperAscii(text: string): string {
  return /[a-z]/.test(text) ? text.replace(/[a-z]+/g, (run) => run.toUpperCase()) : text;
}

/** CEL's lowerAscii (only A-Z change). */
export function lowerAscii(text: string): string {
  return /[A-Z]/.test(text) ? text.replace(/[A-Z]+/g, (run) => run.toLowerCase()) : text;
}

/** Reads a twin's params, naming the policy and the param when one is missing or of the wrong type. */
export class TwinParams {
  constructor(
    private readonly policy: string,
    private readonly params: JsonObject | undefined,
  ) {}

  private value(name: string, expected: string, ok: (value: JsonValue) => boolean): JsonValue {
    const value = this.params?.[name];
    if (value === undefined || !ok(value)) {
      throw new Error(`policy "${this.policy}": spec.params.${name} must be ${expected} (its hand-written twin reads it); fix the policy's YAML`);
    }
    return value;
  }

  strings(name: string): string[] {
    return this.value(name, 'a list of strings', (v) => Array.isArray(v) && v.every((s) => typeof s === 'string')) as string[];
  }

  integers(name: string): number[] {
    return this.value(name, 'a list of integers', (v) => Array.isArray(v) && v.every((n) => Number.isInteger(n))) as number[];
  }

  string(name: string): string {
    return this.value(name, 'a string', (v) => typeof v === 'string') as string;
  }

  integer(name: string): number {
    return this.value(name, 'an integer', (v) => Number.isInteger(v)) as number;
  }

  boolean(name: string): boolean {
    return this.value(name, 'true or false', (v) => typeof v === 'boolean') as boolean;
  }
}
