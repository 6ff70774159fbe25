// `daemonguard coverage` and `daemonguard test --nodes`, run as subprocesses of the built CLI.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, runCli } from '../../test/support/cli-process.js';
import type { CoverageJsonReport } from './coverage-command.js';
import type { JsonReport } from './report/model.js';

const NODES = 'src/cli/testdata/coverage/nodes.yaml';
const AGENT = 'src/cli/testdata/coverage/agent.yaml';
const EXCLUDED = [
  { node: 'cp-1', reason: 'taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated' },
  { node: 'win-1', reason: 'nodeSelector kubernetes.io/os=linux does not match (windows)' },
];

describe('daemonguard coverage', () => {
  it('prints the JSON shape scripts read, quantities as Kubernetes writes them', async () => {
    const run = await runCli(['coverage', '--nodes', NODES, '-o', 'json', AGENT]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout) as CoverageJsonReport, {
      results: [
        {
          file: AGENT,
          name: 'log-shipper',
          namespace: 'logging',
          nodes: { total: 4, scheduled: ['worker-1', 'worker-2'], excluded: EXCLUDED },
          footprint: { pod: { cpu: '250m', memory: '1Gi' }, total: { cpu: '500m', memory: '2Gi' } },
          unfit: [],
        },
      ],
    });
  });

  it('prints a table with each excluded node and its reason', async () => {
    const run = await runCli(['coverage', '--nodes', NODES, AGENT]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      [
        `logging/log-shipper (${AGENT}:1)`,
        '  runs on 2 of 4 nodes: worker-1, worker-2',
        '  excluded:',
        `    cp-1   ${EXCLUDED[0]!.reason}`,
        `    win-1  ${EXCLUDED[1]!.reason}`,
        '  footprint: 250m CPU, 1Gi memory per pod; 500m CPU, 2Gi memory on 2 nodes',
        '',
      ].join('\n'),
    );
  });

  it('reads the nodes from stdin and YAML output', async () => {
    const run = await runCli(['coverage', '--nodes', '-', '-o', 'yaml', AGENT], { input: await readFile(join(REPO_ROOT, NODES), 'utf8') });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /scheduled:\n {8}- worker-1\n {8}- worker-2\n/);
  });

  for (const [what, args, message] of [
    ['no node source', [AGENT], /--nodes FILE \(kubectl get nodes -o yaml\) or --nodes-from-cluster/],
    ['both node sources', ['--nodes', NODES, '--nodes-from-cluster', AGENT], /exclude each other/],
    ['an unknown output format', ['--nodes', NODES, '-o', 'junit', AGENT], /--output must be one of: table, json, yaml/],
    ['no DaemonSet path', ['--nodes', NODES], /missing required argument/],
    ['stdin for both', ['--nodes', '-', '-'], /stdin can hold the nodes or the DaemonSets, not both/],
  ] as const) {
    it(`${what} is a usage error (exit 2, with the usage)`, async () => {
      const run = await runCli(['coverage', ...args]);
      assert.equal(run.code, 2);
      assert.match(run.stderr, message);
      assert.match(run.stderr, /Usage: daemonguard coverage/);
    });
  }

  it('a nodes file without Node objects is an input error naming it', async () => {
    const run = await runCli(['coverage', '--nodes', AGENT, AGENT]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /agent\.yaml: holds no Node objects \(give the output of `kubectl get nodes -o yaml`\)/);
  });
});

describe('daemonguard test --nodes', () => {
  it('adds one line per DaemonSet to the table and the nodes object to the JSON', async () => {
    const table = await runCli(['test', '-p', 'src/cli/testdata/policies', '--nodes', NODES, AGENT]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      /\n {4}nodes runs on 2 of 4 nodes; 2 excluded: 1× taint node-role\.kubernetes\.io\/control-plane:NoSchedule not tolerated, 1× nodeSelector kubernetes\.io\/os=linux does not match \(windows\); requests 500m CPU, 2Gi memory in all\n/,
    );
    const json = await runCli(['test', '-p', 'src/cli/testdata/policies', '--nodes', NODES, '-o', 'json', AGENT]);
    const report = JSON.parse(json.stdout) as JsonReport;
    assert.deepEqual(report.results[0]!.nodes, { total: 4, scheduled: ['worker-1', 'worker-2'], excluded: EXCLUDED });
  });

  it('without --nodes the JSON has no nodes object', async () => {
    const json = await runCli(['test', '-p', 'src/cli/testdata/policies', '-o', 'json', AGENT]);
    assert.equal((JSON.parse(json.stdout) as JsonReport).results[0]!.nodes, undefined);
  });
});
