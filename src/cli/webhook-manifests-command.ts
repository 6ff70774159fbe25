// `daemonguard manifests`: prints the ValidatingWebhookConfiguration and MutatingWebhookConfiguration
// for a Service (or, with --url, a webhook outside the cluster) and a caBundle, for clusters without
// cert-manager. The objects come from src/deploy/webhook-configurations.ts, like deploy/ and the chart.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { stringify } from 'yaml';
import { splitPemCertificates } from '../certs/inspect-certificate.js';
import {
  DEFAULT_CONFIGURATION_NAME,
  DEFAULT_FAIL_OPEN_NAMESPACES,
  DEFAULT_NAMESPACE,
  DEFAULT_SERVICE,
  DEFAULT_TIMEOUT_SECONDS,
  renderWebhookConfigurations,
  type FailurePolicy,
  type WebhookClient,
  type WebhookConfiguration,
} from '../deploy/webhook-configurations.js';
import { packageFile } from '../common/package-root.js';
import type { ValidationAction } from '../common/vocabulary.js';
import { EXIT_OK, InputError } from './exit-codes.js';
import { choice, collect } from './options.js';

const FAILURE_POLICIES = ['Fail', 'Ignore'] as const;

export interface ManifestsOptions {
  name: string;
  service: string;
  namespace: string;
  port: number;
  url?: string;
  caBundle?: string;
  caBundleFile?: string;
  certsDir?: string;
  injectCaFrom?: string;
  failurePolicy: FailurePolicy;
  mutatingFailurePolicy: FailurePolicy;
  timeout: number;
  excludeNamespace?: string[];
  failOpenNamespaces: string[];
  output: 'yaml' | 'json';
  crds?: boolean;
  /** true: the built-in library; a string: a file or folder. */
  policies?: boolean | string;
  validationActions?: ValidationAction;
  paramsFrom?: boolean;
}

function integerIn(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!/^\d+$/.test(value.trim()) || number < min || number > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}.`);
    return number;
  };
}

function namespaceList(value: string): string[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/** Checks that the PEM text holds certificates and returns its base64. */
function caBundleFromPem(pem: string, source: string): string {
  const certificates = splitPemCertificates(pem);
  if (certificates.length === 0) throw new InputError(`${source} holds no PEM certificate`);
  return Buffer.from(certificates.join('')).toString('base64');
}

async function readCaBundle(options: ManifestsOptions): Promise<string | undefined> {
  const given = [options.caBundle, options.caBundleFile, options.certsDir].filter((value) => value !== undefined);
  if (given.length > 1) throw new InputError('give one of --ca-bundle, --ca-bundle-file and --certs-dir');
  if (options.caBundle !== undefined) {
    return caBundleFromPem(Buffer.from(options.caBundle, 'base64').toString('utf8'), '--ca-bundle (base64 of a PEM bundle)');
  }
  const files = options.caBundleFile !== undefined ? [options.caBundleFile] : options.certsDir !== undefined ? ['ca-bundle.crt', 'ca.crt'].map((name) => path.join(options.certsDir as string, name)) : [];
  for (const file of files) {
    try {
      return caBundleFromPem(await readFile(file, 'utf8'), file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && file !== files.at(-1)) continue;
      if (error instanceof InputError) throw error;
      throw new InputError(`cannot read ${file}: ${(error as Error).message}`);
    }
  }
  return undefined;
}

export async function renderManifests(options: ManifestsOptions): Promise<{ objects: WebhookConfiguration[]; warnings: string[] }> {
  const warnings: string[] = [];
  const caBundle = await readCaBundle(options);
  if (options.injectCaFrom !== undefined && !/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(options.injectCaFrom)) {
    throw new InputError('--inject-ca-from must be <namespace>/<certificate>, the cert-manager Certificate whose CA cainjector copies');
  }
  if (caBundle === undefined && options.injectCaFrom === undefined) {
    warnings.push('no caBundle given (--certs-dir, --ca-bundle-file or --ca-bundle): the kube-apiserver will not trust the webhook until one is set');
  }
  const client: WebhookClient = options.url !== undefined ? { url: options.url } : { service: { name: options.service, namespace: options.namespace, port: options.port } };
  try {
    const objects = renderWebhookConfigurations({
      name: options.name,
      namespace: options.namespace,
      client,
      ...(caBundle === undefined ? {} : { caBundle }),
      validatingFailurePolicy: options.failurePolicy,
      mutatingFailurePolicy: options.mutatingFailurePolicy,
      timeoutSeconds: options.timeout,
      excludeNamespaces: options.excludeNamespace ?? [],
      failOpenNamespaces: options.failOpenNamespaces,
      labels: { 'app.kubernetes.io/name': 'daemonguard', 'app.kubernetes.io/component': 'webhook' },
      ...(options.injectCaFrom === undefined ? {} : { annotations: { 'cert-manager.io/inject-ca-from': options.injectCaFrom } }),
    });
    return { objects, warnings };
  } catch (error) {
    throw new InputError((error as Error).message);
  }
}

export function formatManifests(objects: readonly object[], output: 'yaml' | 'json'): string {
  if (output === 'json') return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`;
  return objects.map((object) => stringify(object, { lineWidth: 0 })).join('---\n');
}

export function registerManifestsCommand(program: Command): Command {
  return program
    .command('manifests')
    .summary('print the webhook configurations for a Service or URL and a caBundle')
    .description(
      'Print the ValidatingWebhookConfiguration and MutatingWebhookConfiguration for daemonguard (apps/v1 daemonsets, CREATE and UPDATE), ' +
        'for clusters without cert-manager or for a webhook outside the cluster (--url).\n\n' +
        'Lock-out safety: daemonguard\'s own namespace and namespaces labelled daemonguard.dev/ignore=true are never sent to the webhook; ' +
        'validation fails closed except in the --fail-open-namespaces (default kube-system), which are validated with failurePolicy Ignore; ' +
        'mutation fails open; objects being deleted are skipped.',
    )
    .addOption(new Option('--name <name>', 'metadata.name of both configurations').default(DEFAULT_CONFIGURATION_NAME))
    .addOption(new Option('--service <name>', 'the webhook Service').default(DEFAULT_SERVICE))
    .addOption(new Option('--namespace <namespace>', "daemonguard's namespace (the Service's; always excluded)").default(DEFAULT_NAMESPACE))
    .addOption(new Option('--port <port>', 'the Service port').default(443).argParser(integerIn('--port', 1, 65535)))
    .addOption(new Option('--url <url>', 'call https://host:port/validate and /mutate instead of a Service (a webhook outside the cluster)').conflicts(['service', 'port']))
    .addOption(new Option('--certs-dir <dir>', 'caBundle from ca-bundle.crt (or ca.crt) in a `daemonguard certs` folder'))
    .addOption(new Option('--ca-bundle-file <file>', 'caBundle from a PEM file'))
    .addOption(new Option('--ca-bundle <base64>', 'caBundle as base64 of PEM, as `daemonguard certs` prints it'))
    .addOption(new Option('--inject-ca-from <namespace/certificate>', "annotate for cert-manager's cainjector instead of giving a caBundle"))
    .addOption(new Option('--failure-policy <policy>', 'failurePolicy of the validating webhook').default('Fail').argParser(choice(FAILURE_POLICIES, '--failure-policy')))
    .addOption(
      new Option('--mutating-failure-policy <policy>', 'failurePolicy of the mutating webhook').default('Ignore').argParser(choice(FAILURE_POLICIES, '--mutating-failure-policy')),
    )
    .addOption(new Option('--timeout <seconds>', 'timeoutSeconds of each webhook').default(DEFAULT_TIMEOUT_SECONDS).argParser(integerIn('--timeout', 1, 30)))
    .addOption(new Option('--exclude-namespace <namespace>', 'another namespace never sent to daemonguard (repeatable)').argParser(collect))
    .addOption(
      new Option('--fail-open-namespaces <list>', 'comma-separated namespaces validated with failurePolicy Ignore; "" for none')
        .default([...DEFAULT_FAIL_OPEN_NAMESPACES], DEFAULT_FAIL_OPEN_NAMESPACES.join(','))
        .argParser(namespaceList),
    )
    .addOption(new Option('--crds', 'print the CustomResourceDefinitions (DaemonSetPolicy) instead of the webhook configurations').conflicts('policies'))
    .addOption(
      new Option('--policies [path]', 'print a policy file or folder (default: the built-in library) as DaemonSetPolicy objects, for serve --policies-from-cluster'),
    )
    .addOption(
      new Option('--validation-actions <action>', 'with --policies: set validationActions of every validating policy (Warn to roll out, then Deny)').argParser(
        choice(['Deny', 'Warn', 'Audit'] as const, '--validation-actions'),
      ),
    )
    .addOption(
      new Option('--params-from', 'with --policies: each policy with params also reads the optional ConfigMap params-<policy> in daemonguard\'s namespace (spec.paramsFrom)'),
    )
    .addOption(new Option('-o, --output <format>', 'yaml or json (a List)').default('yaml').argParser(choice(['yaml', 'json'] as const, '--output')))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ daemonguard manifests --certs-dir deploy/overlays/self-signed/certs | kubectl apply -f -\n' +
        '  $ daemonguard manifests --url https://127.0.0.1:8443 --ca-bundle-file certs/ca.crt\n' +
        '  $ daemonguard manifests --ca-bundle "$(daemonguard certs --dir certs/cluster)" --failure-policy Ignore\n' +
        '  $ daemonguard manifests --crds | kubectl apply --server-side -f -\n' +
        '  $ daemonguard manifests --policies --validation-actions Warn | kubectl apply -f -',
    )
    .action(async (options: ManifestsOptions) => {
      if ((options.validationActions !== undefined || options.paramsFrom === true) && options.policies === undefined) {
        throw new InputError(`${options.paramsFrom === true ? '--params-from' : '--validation-actions'} goes with --policies`);
      }
      if (options.crds === true || options.policies !== undefined) {
        // Loaded only here: the policy compiler is not needed for the webhook configurations.
        const { crdObjects, policyObjects } = await import('./object-manifests.js');
        const paths = typeof options.policies === 'string' ? [options.policies] : [packageFile('policies')];
        const objects = options.crds === true ? crdObjects() : await policyObjects(paths, {
              ...(options.validationActions === undefined ? {} : { validationActions: [options.validationActions] }),
              ...(options.paramsFrom === true ? { paramsConfigMapPrefix: 'params-' } : {}),
            });
        process.stdout.write(formatManifests(objects, options.output));
        process.exitCode = EXIT_OK;
        return;
      }
      const { objects, warnings } = await renderManifests(options);
      for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
      process.stdout.write(formatManifests(objects, options.output));
      process.exitCode = EXIT_OK;
    });
}
