// The offline inventory of `daemonguard audit --input`: a dump of `kubectl get ds,ns -A -o yaml` (a v1
// List of DaemonSets and Namespaces), or the same objects as several YAML or JSON documents.
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import type { SourceDocument } from '../common/yaml-documents.js';
import type { AuditInventory } from './audit.js';
import { collectDaemonSets } from './manifest-reader.js';

function isNamespace(value: unknown): value is JsonObject {
  return isJsonObject(value) && value.apiVersion === 'v1' && value.kind === 'Namespace';
}

/** The Namespace objects among the documents, Lists expanded. */
function namespaceObjects(documents: readonly SourceDocument[]): JsonObject[] {
  const found: JsonObject[] = [];
  const visit = (value: unknown): void => {
    if (isJsonObject(value) && Array.isArray(value.items) && typeof value.kind === 'string' && value.kind.endsWith('List')) {
      for (const item of value.items) visit(item);
    } else if (isNamespace(value)) {
      found.push(value);
    }
  };
  for (const document of documents) visit(document.value);
  return found;
}

/** Namespace objects by name. */
export function namespacesByName(namespaces: readonly JsonObject[]): Map<string, JsonObject> {
  const byName = new Map<string, JsonObject>();
  for (const namespace of namespaces) {
    const metadata = namespace.metadata;
    const name = isJsonObject(metadata) ? metadata.name : undefined;
    if (typeof name === 'string' && name !== '') byName.set(name, namespace);
  }
  return byName;
}

/** The audit's inventory from dump documents: all DaemonSets as one page, and the Namespaces beside them. */
export function inventoryFromDocuments(documents: readonly SourceDocument[]): AuditInventory {
  const { daemonSets, skipped, problems } = collectDaemonSets(documents);
  const namespaces = namespaceObjects(documents);
  // collectDaemonSets counts the Namespaces among the documents it skipped; the audit reads them.
  return { namespaces: namespacesByName(namespaces), daemonSetPages: [daemonSets], problems, skipped: skipped - namespaces.length };
}
