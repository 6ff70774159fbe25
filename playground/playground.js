// The playground page: reads the form, asks POST /api/review (debounced while typing), and shows the
// answer. Plain DOM, no framework; every text from the server or the user is set with textContent.
// The whole form is kept in the URL fragment, so a link reproduces what was on screen.

const REVIEW_DELAY_MS = 300;
const $ = (id) => document.getElementById(id);

const fields = {
  daemonSet: $('daemonset'),
  operation: $('operation'),
  namespace: $('namespace'),
  namespaceLabels: $('namespace-labels'),
  oldObject: $('old-object'),
  nodes: $('nodes'),
  pastedPolicies: $('pasted-policies'),
};
/** Which textarea each problem source points into. */
const SOURCE_FIELDS = { daemonSet: fields.daemonSet, oldObject: fields.oldObject, nodes: fields.nodes, policies: fields.pastedPolicies };
const SOURCE_NAMES = { daemonSet: 'DaemonSet', oldObject: 'Old object', nodes: 'Nodes', policies: 'Pasted policies' };

let serverPolicies = [];
let reviewTimer;
let inFlight;
let sequence = 0;

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className !== undefined) node.className = className;
  return node;
}

function policyMode() {
  return $('policy-mode-pasted').checked ? 'pasted' : 'built-in';
}

function checkedPolicies() {
  return [...document.querySelectorAll('#builtin-policies input[type=checkbox]')].filter((box) => box.checked).map((box) => box.value);
}

/** "k=v" lines → labels; a line without "=" is left out (the field is free text while typed). */
function parseLabelLines(text) {
  const labels = {};
  for (const line of text.split('\n')) {
    const equals = line.indexOf('=');
    if (equals > 0) labels[line.slice(0, equals).trim()] = line.slice(equals + 1).trim();
  }
  return labels;
}

// ---- state in the URL fragment -----------------------------------------------------------------

function currentState() {
  const state = {
    daemonSet: fields.daemonSet.value,
    operation: fields.operation.value,
    namespace: fields.namespace.value,
    namespaceLabels: fields.namespaceLabels.value,
    oldObject: fields.oldObject.value,
    nodes: fields.nodes.value,
    mode: policyMode(),
    pasted: fields.pastedPolicies.value,
  };
  // Only a choice that differs from "all of them" is kept: a link stays short, and new policies are on.
  const checked = checkedPolicies();
  if (serverPolicies.length > 0 && checked.length !== serverPolicies.length) state.selected = checked;
  for (const key of Object.keys(state)) if (state[key] === '') delete state[key];
  return state;
}

function saveState() {
  const fragment = `#${encodeURIComponent(JSON.stringify(currentState()))}`;
  history.replaceState(null, '', fragment);
  $('share-link').href = fragment;
}

function readState() {
  if (location.hash.length < 2) return {};
  try {
    const state = JSON.parse(decodeURIComponent(location.hash.slice(1)));
    return state !== null && typeof state === 'object' ? state : {};
  } catch {
    return {};
  }
}

function applyState(state) {
  const text = (value) => (typeof value === 'string' ? value : '');
  fields.daemonSet.value = text(state.daemonSet);
  fields.operation.value = state.operation === 'UPDATE' ? 'UPDATE' : 'CREATE';
  fields.namespace.value = text(state.namespace);
  fields.namespaceLabels.value = text(state.namespaceLabels);
  fields.oldObject.value = text(state.oldObject);
  fields.nodes.value = text(state.nodes);
  fields.pastedPolicies.value = text(state.pasted);
  $(state.mode === 'pasted' ? 'policy-mode-pasted' : 'policy-mode-builtin').checked = true;
  if (Array.isArray(state.selected)) {
    const selected = new Set(state.selected);
    for (const box of document.querySelectorAll('#builtin-policies input[type=checkbox]')) box.checked = selected.has(box.value);
  }
  showModeFields();
}

function showModeFields() {
  $('old-object-field').hidden = fields.operation.value !== 'UPDATE';
  const pasted = policyMode() === 'pasted';
  $('pasted-field').hidden = !pasted;
  $('builtin-field').hidden = pasted;
}

// ---- asking the server -------------------------------------------------------------------------

function reviewRequest() {
  const request = { daemonSet: fields.daemonSet.value, operation: fields.operation.value };
  if (fields.namespace.value.trim() !== '') request.namespace = fields.namespace.value.trim();
  if (fields.namespaceLabels.value.trim() !== '') request.namespaceLabels = parseLabelLines(fields.namespaceLabels.value);
  if (request.operation === 'UPDATE') request.oldObject = fields.oldObject.value;
  if (fields.nodes.value.trim() !== '') request.nodes = fields.nodes.value;
  request.policies = policyMode() === 'pasted' ? fields.pastedPolicies.value : checkedPolicies();
  return request;
}

async function runReview() {
  if (fields.daemonSet.value.trim() === '') {
    showVerdict('pending', 'Paste a DaemonSet to review it.');
    render(undefined);
    return;
  }
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  const mine = ++sequence;
  showVerdict('pending', 'Reviewing…');
  try {
    const response = await fetch('api/review', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(reviewRequest()),
      signal: controller.signal,
    });
    const answer = await response.json();
    if (mine !== sequence) return;
    if (!response.ok) {
      showVerdict('invalid', `The server refused the request: ${answer.error ?? response.status}`);
      render(undefined);
      return;
    }
    render(answer);
  } catch (error) {
    if (error.name === 'AbortError' || mine !== sequence) return;
    showVerdict('invalid', `Could not reach the playground server: ${error.message}`);
  }
}

function scheduleReview() {
  saveState();
  clearTimeout(reviewTimer);
  reviewTimer = setTimeout(runReview, REVIEW_DELAY_MS);
}

// ---- showing the answer ------------------------------------------------------------------------

function showVerdict(kind, text) {
  const verdict = $('verdict');
  verdict.className = `verdict ${kind}`;
  verdict.textContent = text;
}

function fillList(list, items, build) {
  list.replaceChildren(...items.map(build));
  return items.length > 0;
}

function verdictText(answer) {
  const count = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  if (answer.verdict === 'invalid') return `Not reviewed: ${count(answer.problems.length, 'problem')} in what was pasted`;
  const policies = count(answer.policies.length, 'policy', 'policies');
  if (answer.verdict === 'denied') {
    const denying = new Set(answer.violations.filter((v) => v.actions.includes('Deny')).map((v) => v.policy));
    return `Denied by ${[...denying].join(', ') || 'the policies'} (${policies} run)`;
  }
  const mutated = answer.patch.length > 0 ? `, mutated by ${count(answer.patch.length, 'patch operation')}` : '';
  return `Allowed${mutated} (${policies} run)`;
}

/** A problem with the line it points at and a caret under its column, and a button that goes there. */
function problemItem(problem) {
  const item = element('li');
  const where = problem.line > 0 ? `${SOURCE_NAMES[problem.source]}, line ${problem.line}, column ${problem.column}` : SOURCE_NAMES[problem.source];
  const head = element('p');
  head.append(element('strong', where), document.createTextNode(': '));
  if (problem.policy) head.append(element('span', `policy ${problem.policy}: `, 'policy'));
  if (problem.field) head.append(element('code', problem.field), document.createTextNode(': '));
  head.append(document.createTextNode(problem.message));
  item.append(head);
  const field = SOURCE_FIELDS[problem.source];
  if (problem.line > 0 && field) {
    const lineText = field.value.split('\n')[problem.line - 1] ?? '';
    item.append(element('pre', `${String(problem.line).padStart(4)} | ${lineText}\n     | ${' '.repeat(Math.max(0, problem.column - 1))}^`, 'caret'));
    const go = element('button', `Go to line ${problem.line}`);
    go.type = 'button';
    go.addEventListener('click', () => selectLine(field, problem.line, problem.column));
    item.append(go);
  }
  return item;
}

function selectLine(field, line, column) {
  const lines = field.value.split('\n');
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
  const at = offset + Math.max(0, column - 1);
  if (field.closest('[hidden]')) return;
  field.focus();
  field.setSelectionRange(at, offset + (lines[line - 1]?.length ?? 0));
}

function patchItem(operation) {
  const item = element('li');
  item.append(element('code', operation.op, `op op-${operation.op}`), document.createTextNode(' '), element('code', operation.path));
  if ('from' in operation) item.append(document.createTextNode(' from '), element('code', operation.from));
  if ('value' in operation) item.append(document.createTextNode(' '), element('code', JSON.stringify(operation.value)));
  return item;
}

/** The lines of `before` and `after`, each marked kept, removed or added (a longest common subsequence). */
function lineDiff(before, after) {
  const a = before.split('\n');
  const b = after.split('\n');
  const lengths = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) lengths[i][j] = a[i] === b[j] ? lengths[i + 1][j + 1] + 1 : Math.max(lengths[i + 1][j], lengths[i][j + 1]);
  }
  const left = [];
  const right = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      left.push({ text: a[i++], kind: 'same' });
      right.push({ text: b[j++], kind: 'same' });
    } else if (j < b.length && (i === a.length || lengths[i][j + 1] >= lengths[i + 1][j])) {
      right.push({ text: b[j++], kind: 'added' });
    } else {
      left.push({ text: a[i++], kind: 'removed' });
    }
  }
  return { left, right };
}

function showLines(pre, lines) {
  pre.replaceChildren(...lines.map((line) => element('span', `${line.kind === 'added' ? '+ ' : line.kind === 'removed' ? '- ' : '  '}${line.text}\n`, `line ${line.kind}`)));
}

function formatAmount(resources) {
  return `cpu ${resources.cpu}, memory ${resources.memory}`;
}

function render(answer) {
  const sections = ['problems', 'violations', 'warnings', 'exceptions', 'patch', 'coverage'];
  if (answer === undefined) {
    for (const name of sections) $(`${name}-section`).hidden = true;
    return;
  }
  showVerdict(answer.verdict, verdictText(answer));
  $('problems-section').hidden = !fillList($('problems'), answer.problems, problemItem);
  $('violations-section').hidden = !fillList($('violations'), answer.violations, (violation) => {
    const row = element('tr');
    row.append(element('td', violation.policy, 'policy'), element('td', violation.actions.join(', ')), element('td', violation.message));
    return row;
  });
  const notEvaluated = answer.notEvaluated === undefined ? [] : [`Not evaluated: ${answer.notEvaluated}`];
  $('warnings-section').hidden = !fillList($('warnings'), [...answer.warnings, ...notEvaluated], (warning) => element('li', warning));
  const exceptionLines = [
    ...answer.exceptions.map((use) => `${use.namespace}/${use.name} excepts ${use.policy}: ${use.reason}`),
    ...answer.expiredExceptions.map((use) => `${use.namespace}/${use.name} for ${use.policy} expired at ${use.expires}`),
  ];
  $('exceptions-section').hidden = !fillList($('exceptions'), exceptionLines, (line) => element('li', line));

  $('patch-section').hidden = !fillList($('patch'), answer.patch, patchItem);
  if (answer.patch.length > 0 && answer.object && answer.mutated) {
    const { left, right } = lineDiff(JSON.stringify(answer.object, null, 2), JSON.stringify(answer.mutated, null, 2));
    showLines($('diff-before'), left);
    showLines($('diff-after'), right);
  }

  const coverage = answer.coverage;
  $('coverage-section').hidden = coverage === undefined;
  if (coverage !== undefined) {
    $('coverage-summary').textContent = `Runs on ${coverage.scheduled.length} of ${coverage.totalNodes} nodes; one pod requests ${formatAmount(coverage.footprint.pod)}, all pods ${formatAmount(coverage.footprint.total)}.`;
    fillList($('coverage-scheduled'), coverage.scheduled, (node) => element('li', node.name));
    fillList($('coverage-excluded'), coverage.excluded, (node) => {
      const item = element('li');
      item.append(element('strong', node.name), document.createTextNode(`: ${node.reason}`));
      return item;
    });
    $('coverage-unfit-block').hidden = !fillList($('coverage-unfit'), coverage.unfit, (node) => element('li', `${node.name}: ${node.reason}`));
  }
}

// ---- start -------------------------------------------------------------------------------------

async function loadServerPolicies() {
  const response = await fetch('api/policies');
  const answer = await response.json();
  serverPolicies = answer.policies;
  fillList($('builtin-policies'), serverPolicies, (policy) => {
    const item = element('li');
    const label = element('label');
    const box = element('input');
    box.type = 'checkbox';
    box.value = policy.name;
    box.checked = true;
    label.append(box, document.createTextNode(` ${policy.name}`));
    if (policy.mutates) label.append(element('span', ' mutates', 'tag'));
    item.append(label);
    if (policy.description) item.title = policy.description;
    return item;
  });
  $('nodes-help').textContent = answer.nodes > 0
    ? `Empty: the server's ${answer.nodes} nodes (--nodes).`
    : 'Empty: no coverage (the server was started without --nodes).';
}

async function start() {
  try {
    await loadServerPolicies();
  } catch (error) {
    showVerdict('invalid', `Could not load the server's policies: ${error.message}`);
  }
  applyState(readState());
  const form = $('input');
  form.addEventListener('input', () => {
    showModeFields();
    scheduleReview();
  });
  form.addEventListener('change', () => {
    showModeFields();
    scheduleReview();
  });
  form.addEventListener('submit', (event) => event.preventDefault());
  for (const [id, checked] of [['select-all', true], ['select-none', false]]) {
    $(id).addEventListener('click', () => {
      for (const box of document.querySelectorAll('#builtin-policies input[type=checkbox]')) box.checked = checked;
      scheduleReview();
    });
  }
  window.addEventListener('hashchange', () => {
    applyState(readState());
    scheduleReview();
  });
  saveState();
  if (fields.daemonSet.value.trim() !== '') await runReview();
}

void start();
