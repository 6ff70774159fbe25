// Flag parsers shared by the commands: each throws commander's InvalidArgumentError, so a bad value is
// a usage error (exit 2) with the flag named.
import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../server/duration.js';

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** --namespace-labels k=v,k2=v2 (repeatable; later values win). */
export function parseLabels(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const labels = { ...(previous ?? {}) };
  for (const pair of value.split(',')) {
    if (pair.trim() === '') continue;
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new InvalidArgumentError(`"${pair}" is not key=value`);
    const key = pair.slice(0, equals).trim();
    if (!LABEL_KEY.test(key) || key.split('/').at(-1)!.length > 63 || key.length > 253 + 1 + 63) throw new InvalidArgumentError(`"${key}" is not a valid label key`);
    const labelValue = pair.slice(equals + 1).trim();
    if (!LABEL_VALUE.test(labelValue) || labelValue.length > 63) {
      throw new InvalidArgumentError(`"${labelValue}" (of ${key}) is not a valid label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`);
    }
    labels[key] = labelValue;
  }
  return labels;
}

export function parseGroups(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((g) => g.trim()).filter((g) => g !== '')];
}

export function choice<T extends string>(allowed: readonly T[], name: string): (value: string) => T {
  return (value) => {
    const match = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
    if (match === undefined) throw new InvalidArgumentError(`${name} must be one of: ${allowed.join(', ')}`);
    return match;
  };
}

export { packageVersion } from '../common/package-root.js';

/** --port: 0 to 65535 (0: any free port). */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError('expected a port number between 0 and 65535.');
  }
  return port;
}

/** A duration flag: 500ms, 2s, 1m. */
export function parseDurationFlag(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms < 0) throw new InvalidArgumentError('expected a duration such as 500ms, 2s or 1m.');
  return ms;
}
