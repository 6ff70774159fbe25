// The Node objects `coverage` and `test --nodes` compute with: read from files (`kubectl get nodes -o
// yaml`, a List, several documents, a folder) or listed once from the cluster.
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import { InputError } from './exit-codes.js';
import { readManifestSources } from './manifest-reader.js';

function isNode(value: unknown): value is JsonObject {
  return isJsonObject(value) && value.kind === 'Node' && (value.apiVersion === 'v1' || value.apiVersion === undefined);
}

function nameOf(node: JsonObject): string | undefined {
  const name = isJsonObject(node.metadata) ? node.metadata.name : undefined;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/**
 * Every Node in the files (List items included; kubectl writes `kind: List` with Node items). Other
 * documents are ignored; a path without any Node, a Node without a name or a name given twice is
 * an InputError naming the file.
 */
export async function readNodeFiles(paths: readonly string[], readStdin: () => Promise<string>): Promise<JsonObject[]> {
  const nodes: JsonObject[] = [];
  const seen = new Map<string, string>();
  for (const path of paths) {
    const found: JsonObject[] = [];
    for (const document of await readManifestSources([path], readStdin)) {
      const listed = isJsonObject(document.value) && Array.isArray(document.value.items);
      const values = listed ? (document.value as { items: unknown[] }).items : [document.value];
      values.forEach((value, index) => {
        if (!isNode(value)) return;
        const line = document.positionOf(listed ? ['items', index] : []).line;
        const name = nameOf(value);
        if (name === undefined) throw new InputError(`${document.file}:${line}: a Node without metadata.name`);
        const earlier = seen.get(name);
        if (earlier !== undefined) throw new InputError(`${document.file}:${line}: node "${name}" is given twice (first at ${earlier})`);
        seen.set(name, `${document.file}:${line}`);
        found.push(value);
      });
    }
    if (found.length === 0) throw new InputError(`${path}: holds no Node objects (give the output of \`kubectl get nodes -o yaml\`)`);
    nodes.push(...found);
  }
  return nodes;
}

/** Lists the cluster's nodes once, through the default kubeconfig (in-cluster account, $KUBECONFIG, ~/.kube/config). */
export async function readClusterNodes(): Promise<JsonObject[]> {
  const { listClusterNodes } = await import('../kube/node-informer.js');
  try {
    return await listClusterNodes();
  } catch (error) {
    throw new InputError(`--nodes-from-cluster: ${(error as Error).message}`);
  }
}
