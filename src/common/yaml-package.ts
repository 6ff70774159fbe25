// The `yaml` package (the position-keeping YAML parser), loaded on its first use. serve never needs it
// for the files it reads at start (the library and the namespaces file take the plain parse,
// yaml-documents.ts; a pod's service account needs no kubeconfig), and would otherwise hold its code,
// about 1 MB of V8 heap, for error messages it may never write. Synchronous, as the parsers' callers
// are: node resolves `yaml` to the same CommonJS build for `import` and `require`.
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

let yamlPackage: typeof Yaml | undefined;

export function yamlPackageOnDemand(): typeof Yaml {
  yamlPackage ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  return yamlPackage;
}
