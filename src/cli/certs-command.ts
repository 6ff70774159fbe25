// `daemonguard certs`: the CA and serving certificate for clusters without cert-manager, their
// renewal, a CA rotation that never locks the webhook out, and `--check` for expiry. The work is in
// src/certs/certificate-folder.ts; this file is flags and output. stdout carries only the base64
// caBundle (or the --check report), so `CA_BUNDLE=$(daemonguard certs ...)` works.

import { isIP } from 'node:net';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  CertificateFolderError,
  DEFAULT_CA_VALIDITY_DAYS,
  DEFAULT_SERVING_VALIDITY_DAYS,
  DEFAULT_WARN_WITHIN_DAYS,
  checkCertificates,
  createCertificates,
  finishCaRotation,
  renewServingCertificate,
  rotateCertificateAuthority,
  servingNamesForService,
  type CheckReport,
  type FolderState,
  type ServingNames,
} from '../certs/certificate-folder.js';
import type { KeyAlgorithm } from '../certs/certificates.js';
import { DEFAULT_NAMESPACE, DEFAULT_SERVICE } from '../deploy/webhook-configurations.js';
import { EXIT_FAILED, EXIT_OK, InputError } from './exit-codes.js';
import { choice, collect } from './options.js';

const KEY_TYPES = ['ecdsa-p256', 'rsa-2048'] as const;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_NAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i;

export interface CertsOptions {
  dir: string;
  service: string;
  namespace: string;
  clusterDomain: string;
  dns?: string[];
  ip?: string[];
  keyType: KeyAlgorithm;
  days: number;
  caDays: number;
  force?: boolean;
  renew?: boolean;
  rotateCa?: boolean;
  finishCaRotation?: boolean;
  check?: boolean;
  warnWithin: number;
  output: 'text' | 'json';
}

function positiveInteger(name: string, allowZero = false): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!/^\d+$/.test(value.trim()) || (!allowZero && number === 0)) throw new InvalidArgumentError(`${name} must be a whole number of days${allowZero ? '' : ' above 0'}.`);
    return number;
  };
}

function dnsLabel(name: string): (value: string) => string {
  return (value) => {
    if (!DNS_LABEL.test(value) || value.length > 63) throw new InvalidArgumentError(`${name} must be a DNS label (lower-case letters, digits, "-").`);
    return value;
  };
}

function dnsName(value: string, previous: string[] | undefined): string[] {
  if (!DNS_NAME.test(value) || value.length > 253) throw new InvalidArgumentError(`"${value}" is not a DNS name.`);
  return collect(value, previous);
}

function ipAddress(value: string, previous: string[] | undefined): string[] {
  if (isIP(value) === 0) throw new InvalidArgumentError(`"${value}" is not an IPv4 or IPv6 address.`);
  return collect(value, previous);
}

const NAME_OPTIONS = ['service', 'namespace', 'clusterDomain', 'dns', 'ip'] as const;

/** The names from the flags, or undefined when none was given (a renewal then keeps the current names). */
function explicitNames(options: CertsOptions, command: Command): ServingNames | undefined {
  const given = NAME_OPTIONS.some((name) => command.getOptionValueSource(name) === 'cli');
  return given ? namesFrom(options) : undefined;
}

function namesFrom(options: CertsOptions): ServingNames {
  return servingNamesForService(options.service, options.namespace, {
    clusterDomain: options.clusterDomain,
    dnsNames: options.dns ?? [],
    ipAddresses: options.ip ?? [],
  });
}

function explicit<T>(command: Command, name: string, value: T): T | undefined {
  return command.getOptionValueSource(name) === 'cli' ? value : undefined;
}

function day(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** What was done and what to do next, for a person (stderr). */
function describeState(action: string, state: FolderState, next: string): string {
  const lines = [
    `${action} in ${state.files.dir}:`,
    `  changed:  ${state.changed.join(', ')}`,
    `  serving:  ${[...state.serving.dnsNames, ...state.serving.ipAddresses].join(', ')} (${state.serving.keyType}, until ${day(state.serving.notAfter)})`,
    `  CA:       ${state.ca.subject} (${state.ca.keyType}, until ${day(state.ca.notAfter)})`,
  ];
  if (state.previousCa !== undefined) lines.push(`  previous: ${state.previousCa.subject} (until ${day(state.previousCa.notAfter)}), still in the bundle`);
  lines.push(`  caBundle: ${state.files.caBundleFile} (base64 on stdout)`, '', next, '');
  return lines.join('\n');
}

export function formatCheckReport(report: CheckReport): string {
  const lines: string[] = [`certificates in ${report.dir}:`];
  for (const checked of report.certificates) {
    const { summary } = checked;
    lines.push(
      `  ${checked.role.padEnd(11)} ${checked.file}`,
      `              subject ${summary.subject}; issuer ${summary.issuer}`,
      `              ${summary.keyType}; valid ${day(summary.notBefore)} to ${day(summary.notAfter)} (${checked.expiresInDays} days left)`,
    );
    if (!summary.isCA) lines.push(`              SANs ${[...summary.dnsNames.map((n) => `DNS:${n}`), ...summary.ipAddresses.map((a) => `IP:${a}`)].join(', ') || '(none)'}`);
  }
  for (const finding of report.findings) lines.push(`${finding.severity === 'error' ? 'error' : 'note'}: ${finding.message}`);
  lines.push(report.failed ? 'check failed' : 'check passed');
  return `${lines.join('\n')}\n`;
}

export async function runCerts(options: CertsOptions, command: Command): Promise<number> {
  const modes = (['renew', 'rotateCa', 'finishCaRotation', 'check'] as const).filter((mode) => options[mode] === true);
  if (modes.length > 1) throw new InputError('--renew, --rotate-ca, --finish-ca-rotation and --check are separate steps: give one of them');
  try {
    if (options.check === true) {
      const names = explicitNames(options, command);
      const report = await checkCertificates(options.dir, { warnWithinDays: options.warnWithin, ...(names === undefined ? {} : { expectedNames: names }) });
      process.stdout.write(options.output === 'json' ? `${JSON.stringify(checkReportJson(report), null, 2)}\n` : formatCheckReport(report));
      return report.failed ? EXIT_FAILED : EXIT_OK;
    }
    let state: FolderState;
    let message: string;
    if (options.renew === true) {
      const names = explicitNames(options, command);
      const keyAlgorithm = explicit(command, 'keyType', options.keyType);
      state = await renewServingCertificate(options.dir, {
        validityDays: options.days,
        ...(names === undefined ? {} : { names }),
        ...(keyAlgorithm === undefined ? {} : { keyAlgorithm }),
      });
      message = describeState(
        'Renewed the serving certificate',
        state,
        state.previousCa === undefined
          ? 'Next: update the TLS Secret; running servers reload it, and the caBundle stays the same.'
          : 'CA rotation, step 2 of 3. Next: update the TLS Secret and wait until every pod serves the new certificate,\nthen run `daemonguard certs --finish-ca-rotation`.',
      );
    } else if (options.rotateCa === true) {
      const keyAlgorithm = explicit(command, 'keyType', options.keyType);
      state = await rotateCertificateAuthority(options.dir, { caValidityDays: options.caDays, ...(keyAlgorithm === undefined ? {} : { keyAlgorithm }) });
      message = describeState(
        'Started a CA rotation',
        state,
        'CA rotation, step 1 of 3. Next: apply the webhook configurations with this caBundle (it trusts both CAs),\nthen run `daemonguard certs --renew` for a serving certificate from the new CA.',
      );
    } else if (options.finishCaRotation === true) {
      state = await finishCaRotation(options.dir);
      message = describeState(
        'Finished the CA rotation',
        state,
        'CA rotation, step 3 of 3. Next: apply the webhook configurations with this caBundle (the new CA only).',
      );
    } else {
      state = await createCertificates(options.dir, {
        names: namesFrom(options),
        keyAlgorithm: options.keyType,
        validityDays: options.days,
        caValidityDays: options.caDays,
        force: options.force === true,
      });
      message = describeState(
        'Created a CA and a serving certificate',
        state,
        'Next: load tls.crt, tls.key and ca-bundle.crt as the Secret (deploy/overlays/self-signed does), and put the caBundle\n' +
          'in the webhook configurations (`daemonguard manifests --certs-dir ...`). ca.key stays out of the cluster.',
      );
    }
    process.stderr.write(message);
    process.stdout.write(`${state.caBundleBase64}\n`);
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CertificateFolderError) throw new InputError(error.message);
    throw error;
  }
}

function checkReportJson(report: CheckReport): unknown {
  return {
    dir: report.dir,
    failed: report.failed,
    rotation: report.rotation,
    certificates: report.certificates.map(({ role, file, summary, expiresInDays }) => ({
      role,
      file,
      subject: summary.subject,
      issuer: summary.issuer,
      serialNumber: summary.serialNumber,
      notBefore: summary.notBefore.toISOString(),
      notAfter: summary.notAfter.toISOString(),
      expiresInDays,
      isCA: summary.isCA,
      keyType: summary.keyType,
      dnsNames: summary.dnsNames,
      ipAddresses: summary.ipAddresses,
      fingerprint256: summary.fingerprint256,
    })),
    findings: report.findings,
  };
}

export function registerCertsCommand(program: Command): Command {
  return program
    .command('certs')
    .summary('create, renew, rotate or check the webhook certificates (clusters without cert-manager)')
    .description(
      'Create a CA and a serving certificate for the webhook Service in --dir (ca.crt, ca.key, tls.crt, tls.key, ca-bundle.crt) ' +
        'and print the base64 caBundle. The serving certificate covers <service>, <service>.<namespace>, <service>.<namespace>.svc ' +
        'and <service>.<namespace>.svc.<cluster-domain>, plus --dns and --ip.\n\n' +
        '--renew issues a new serving certificate from the same CA (the caBundle does not change). A new CA takes three steps, ' +
        'each rolled out before the next, so the kube-apiserver always trusts the certificate the webhook presents: ' +
        '--rotate-ca (the bundle trusts the old and the new CA), --renew (serve from the new CA), --finish-ca-rotation ' +
        '(the bundle trusts the new CA only).\n\n' +
        '--check reports expiry, SANs and key types and fails when a certificate has expired or expires within --warn-within days.',
    )
    .requiredOption('--dir <dir>', 'the certificate folder')
    .addOption(new Option('--service <name>', 'the webhook Service').default(DEFAULT_SERVICE).argParser(dnsLabel('--service')))
    .addOption(new Option('--namespace <namespace>', "the Service's namespace").default(DEFAULT_NAMESPACE).argParser(dnsLabel('--namespace')))
    .addOption(new Option('--cluster-domain <domain>', 'the cluster DNS domain').default('cluster.local'))
    .addOption(new Option('--dns <name>', 'another DNS name for the serving certificate (repeatable)').argParser(dnsName))
    .addOption(new Option('--ip <address>', 'an IP address for the serving certificate (repeatable), e.g. 127.0.0.1 for a webhook outside the cluster').argParser(ipAddress))
    .addOption(new Option('--key-type <type>', 'key type of new keys (renewals keep the current type)').default('ecdsa-p256').argParser(choice(KEY_TYPES, '--key-type')))
    .addOption(new Option('--days <days>', 'validity of the serving certificate').default(DEFAULT_SERVING_VALIDITY_DAYS).argParser(positiveInteger('--days')))
    .addOption(new Option('--ca-days <days>', 'validity of a new CA').default(DEFAULT_CA_VALIDITY_DAYS).argParser(positiveInteger('--ca-days')))
    .addOption(new Option('--force', 'replace existing files with a new CA and certificate (the caBundle changes at once)'))
    .addOption(new Option('--renew', 'a new serving certificate from the current CA, keeping its names unless name flags are given'))
    .addOption(new Option('--rotate-ca', 'CA rotation step 1: a new CA; the bundle trusts both old and new'))
    .addOption(new Option('--finish-ca-rotation', 'CA rotation step 3: the bundle trusts the new CA only'))
    .addOption(new Option('--check', 'report on the files; exit 1 when one expired or expires within --warn-within days'))
    .addOption(new Option('--warn-within <days>', 'with --check: fail when a certificate expires within this many days').default(DEFAULT_WARN_WITHIN_DAYS).argParser(positiveInteger('--warn-within', true)))
    .addOption(new Option('-o, --output <format>', 'with --check: text or json').default('text').argParser(choice(['text', 'json'] as const, '--output')))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ daemonguard certs --dir deploy/overlays/self-signed/certs\n' +
        '  $ daemonguard certs --dir certs/e2e --ip 127.0.0.1          # a webhook outside the cluster\n' +
        '  $ daemonguard certs --dir deploy/overlays/self-signed/certs --check --warn-within 60\n' +
        '  $ daemonguard certs --dir deploy/overlays/self-signed/certs --renew\n' +
        '\nExit codes: 0 done (or --check passed), 1 --check found a problem, 2 usage or a step out of order.',
    )
    .action(async (options: CertsOptions, command: Command) => {
      process.exitCode = await runCerts(options, command);
    });
}
