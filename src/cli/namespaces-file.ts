// `--namespaces FILE` for the commands that review offline: the Namespace objects of the cluster as
// `kubectl get namespaces -o yaml` prints them (or a List, or Namespace documents: the format of
// `serve --namespaces`), so that `namespaceObject` holds what the webhook would see in the cluster
// (annotations, spec.finalizers, status.phase...), not only a name and labels.
import { readFile } from 'node:fs/promises';
import { namespaceObjectFromFile, namespaceObjectOf } from '../apiserver/namespace-object.js';
import type { JsonObject } from '../common/vocabulary.js';
import { parseNamespaces } from '../server/namespace-catalog.js';
import { InputError } from './exit-codes.js';

/** The Namespace objects of a file by name; any problem (unreadable, not YAML, not Namespaces) is an InputError naming the file. */
export async function readNamespacesFile(file: string): Promise<Map<string, JsonObject>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InputError(`--namespaces ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  try {
    return parseNamespaces(text, file);
  } catch (error) {
    throw new InputError(`--namespaces ${(error as Error).message.startsWith(file) ? '' : `${file}: `}${(error as Error).message}`);
  }
}

/**
 * The `namespaceObject` of a request: the namespace's object from the file when one was given, else
 * one holding only the name and `labels`. Undefined when a file was given without this namespace.
 */
export function namespaceObjectFor(namespace: string, labels: Readonly<Record<string, string>>, file: ReadonlyMap<string, JsonObject> | undefined): JsonObject | null | undefined {
  if (file === undefined || namespace === '') return namespaceObjectOf(namespace, labels);
  const stored = file.get(namespace);
  return stored === undefined ? undefined : namespaceObjectFromFile(stored, labels);
}

/** The error for DaemonSets whose namespace the --namespaces file lacks (in a cluster, their create would fail: namespace not found). */
export function missingNamespacesError(file: string, missing: ReadonlyMap<string, readonly string[]>): InputError {
  const lines = [...missing].map(([namespace, where]) => `  namespace "${namespace}" (${where.join(', ')})`);
  return new InputError(
    `--namespaces ${file} has no Namespace for:\n${lines.join('\n')}\n` +
      `add them to the file (kubectl get namespace NAME -o yaml), or choose the request's namespace with -n`,
  );
}
