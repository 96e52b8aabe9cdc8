// The k6 scripts in load/ are what users run against a deployed Canopy, and k6 cannot be installed here (it is
// neither an npm nor a Debian package). So this test proves them in two steps without k6:
//  1. statically: each file parses as ES2015 (what k6 v0.48's Babel 6 parses; Node would run far newer
//     syntax, so running them in step 2 cannot show this), imports only k6 modules or relative files that
//     exist, calls open() only in the init stage, and the entry scripts export `options` (with the thresholds
//     the README promises) and a default function;
//  2. for real: each script runs in Node against a real `canopy serve`, on a small stand-in for the k6 modules
//     written to a temporary directory. Its default function runs a few iterations and every check it makes,
//     every request and every custom metric is recorded, so the test can see the checks pass, the answers
//     echo the uids that were sent, and every request is distinct (a unique label), over all 88 real reviews
//     that load/bundle-reviews.mjs bundles.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseJavaScript } from 'acorn';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, STARTER_POLICIES, fixture, fixtureNames } from './helpers/fixtures.js';
import { httpsCall, killServers, startServe } from './helpers/serve.js';
import { loadPolicyDirectory } from '../src/policy/set/index.js';
import { AdmissionPipeline } from '../src/pipeline/index.js';

const LOAD_DIR = path.join(REPO_ROOT, 'load');
const ENTRY_SCRIPTS = ['validate.js', 'mutate.js', 'mixed.js', 'soak.js'] as const;
type EntryScript = (typeof ENTRY_SCRIPTS)[number];
/**
 * A review whose decision the shipped set asks Cedar for: the engine decides most of them without it
 * (engine/conditions.ts), and only Cedar's answers go through the decision cache.
 */
async function reviewCedarEvaluates(names: readonly string[]): Promise<string> {
  const pipeline = new AdmissionPipeline({ decisionCacheSize: 0 });
  const set = await pipeline.activate(await loadPolicyDirectory(STARTER_POLICIES));
  const name = names.find((candidate) => !('evaluation' in set.engine.plan(pipeline.cedarRequestFor(fixture(candidate)).cedarRequest, 'validating')));
  if (!name) throw new Error('the shipped set decides every review without Cedar: nothing reaches the decision cache');
  return name;
}

/** The k6 modules the scripts may import; everything else k6 would refuse or fetch from the network. */
const K6_MODULES = new Set(['k6', 'k6/http', 'k6/data', 'k6/metrics']);
const EXAMPLES = path.join(REPO_ROOT, 'examples', 'admission-reviews');
const EXAMPLE_FILES = ['pod.json', 'privileged-pod.json', 'pod-without-resources.json'];
/** The examples as -e REVIEWS names them, relative to load/. */
const EXAMPLE_REVIEWS = EXAMPLE_FILES.map((file) => `../examples/admission-reviews/${file}`).join(',');
/** The label the scripts stamp on the judged object, with the request's uid as its value. */
const UNIQUE_LABEL = 'canopy.io/load';

/** Every .js file under load/, as paths relative to it. */
function loadFiles(dir = LOAD_DIR): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return loadFiles(full);
    return entry.name.endsWith('.js') ? [path.relative(LOAD_DIR, full)] : [];
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Step 1: the module shape, read with the TypeScript parser (already a dev dependency) rather than by regex.

interface Specifier {
  text: string;
  /** Offsets of the string literal including its quotes, for rewriting it. */
  start: number;
  end: number;
}

interface ModuleShape {
  syntaxErrors: string[];
  specifiers: Specifier[];
  /** require() and import(): k6 has neither for ES modules in the way Node does. */
  dynamicLoads: string[];
  exportedNames: string[];
  hasDefaultFunction: boolean;
  openCalls: number;
  /** open() calls inside an exported function, i.e. in VU code, where k6 throws. */
  openCallsInVuCode: number;
}

const isExported = (node: ts.Node): boolean =>
  ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
const isDefault = (node: ts.Node): boolean =>
  ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);

function inspectModule(file: string, text: string): ModuleShape {
  const shape: ModuleShape = {
    syntaxErrors: [],
    specifiers: [],
    dynamicLoads: [],
    exportedNames: [],
    hasDefaultFunction: false,
    openCalls: 0,
    openCallsInVuCode: 0,
  };
  const { diagnostics = [] } = ts.transpileModule(text, {
    fileName: file,
    reportDiagnostics: true,
    compilerOptions: { allowJs: true, module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  shape.syntaxErrors = diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));

  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  for (const statement of source.statements) {
    if ((ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) && statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)) {
      const literal = statement.moduleSpecifier;
      shape.specifiers.push({ text: literal.text, start: literal.getStart(source), end: literal.getEnd() });
    }
    if (!isExported(statement)) continue;
    if (ts.isFunctionDeclaration(statement)) {
      if (isDefault(statement)) shape.hasDefaultFunction = true;
      else if (statement.name) shape.exportedNames.push(statement.name.text);
    } else if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        if (ts.isIdentifier(declaration.name)) shape.exportedNames.push(declaration.name.text);
      }
    } else if (ts.isClassDeclaration(statement) && statement.name) {
      shape.exportedNames.push(statement.name.text);
    }
  }
  const visit = (node: ts.Node, inVuCode: boolean): void => {
    if (ts.isCallExpression(node)) {
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) shape.dynamicLoads.push('import()');
      if (ts.isIdentifier(node.expression) && node.expression.text === 'require') shape.dynamicLoads.push('require()');
      if (ts.isIdentifier(node.expression) && node.expression.text === 'open') {
        shape.openCalls += 1;
        if (inVuCode) shape.openCallsInVuCode += 1;
      }
    }
    const entersVuCode = ts.isFunctionDeclaration(node) && isExported(node);
    ts.forEachChild(node, (child) => visit(child, inVuCode || entersVuCode));
  };
  visit(source, false);
  return shape;
}

/**
 * Why `text` would not start under k6 v0.48, or '' when it would. k6 before v0.53 compiles every ES module with
 * Babel 6, whose parser knows ES2015 (and ES modules) but not object spread, `?.`, `??`, `**`, async functions,
 * trailing commas in calls or class fields; acorn held to ecmaVersion 2015 refuses the same.
 */
function es2015SyntaxError(text: string): string {
  try {
    parseJavaScript(text, { ecmaVersion: 2015, sourceType: 'module' });
    return '';
  } catch (error) {
    // acorn's SyntaxError says where, as "(line:column)"; the line itself shows what.
    const line = error instanceof Error ? /\((\d+):\d+\)$/.exec(error.message)?.[1] : undefined;
    const source = line === undefined ? '' : `: ${text.split('\n')[Number(line) - 1]?.trim() ?? ''}`;
    return `${error instanceof Error ? error.message : String(error)}${source}`;
  }
}

describe('the k6 scripts in load/ as modules', () => {
  const files = loadFiles();

  it('are the four scripts and their shared helper', () => {
    expect(files.sort()).toEqual([...ENTRY_SCRIPTS, path.join('lib', 'common.js')].sort());
  });

  it.each(files)('%s keeps to ES2015 syntax, so k6 v0.48 (Babel 6) can compile it', (file) => {
    expect(es2015SyntaxError(readFileSync(path.join(LOAD_DIR, file), 'utf8')), file).toBe('');
  });

  it.each([
    // What load/mixed.js held when k6 v0.48 refused it with `SyntaxError ... Unexpected token`.
    ['an object spread', "export const options = { thresholds: { ...thresholds(), extra: ['p(99)<50'] } };"],
    ['object rest', 'const { a, ...rest } = options;'],
    ['optional chaining', 'const v = options?.scenarios;'],
    ['nullish coalescing', "const v = __ENV.RATE ?? '200';"],
    ['exponentiation', 'const v = 2 ** 10;'],
    ['a trailing comma in a call', 'f(a, b,);'],
    ['an async function', 'export async function setup() {}'],
    ['a class field', 'class A { count = 0; }'],
    ['an optional catch binding', 'try { f(); } catch { g(); }'],
  ])('the ES2015 check refuses %s', (_what, text) => {
    expect(es2015SyntaxError(text)).not.toBe('');
  });

  it('the ES2015 check accepts what k6 v0.48 runs: ES2015 with modules', () => {
    const text = [
      "import { check } from 'k6';",
      'const [first, ...others] = [1, 2, 3];',
      'const { a, b: { c } } = { a: 1, b: { c: 2 } };',
      'export const options = Object.assign({}, { v: `${first}${others.length}` }, { a, c });',
      'export default function (x = 1, ...more) { for (const y of more) check(y, { ok: () => y > x }); }',
      'class Counter { constructor() { this.n = 0; } *[Symbol.iterator]() { yield this.n; } }',
    ].join('\n');
    expect(es2015SyntaxError(text)).toBe('');
  });

  it.each(files)('%s parses and imports only k6 modules and relative files that exist', (file) => {
    const full = path.join(LOAD_DIR, file);
    const shape = inspectModule(full, readFileSync(full, 'utf8'));
    expect(shape.syntaxErrors).toEqual([]);
    expect(shape.dynamicLoads).toEqual([]);
    for (const { text } of shape.specifiers) {
      if (K6_MODULES.has(text)) continue;
      // k6 resolves imports like a browser: relative, with the file name in full.
      expect(text, `import '${text}' in ${file}`).toMatch(/^\.\.?\/.*\.js$/);
      expect(existsSync(path.resolve(path.dirname(full), text)), `import '${text}' in ${file}`).toBe(true);
    }
  });

  it.each(ENTRY_SCRIPTS)('%s exports options and a default function, and opens files only in the init stage', (file) => {
    const shape = inspectModule(file, readFileSync(path.join(LOAD_DIR, file), 'utf8'));
    expect(shape.exportedNames).toContain('options');
    expect(shape.hasDefaultFunction).toBe(true);
    expect(shape.openCalls).toBeGreaterThan(0);
    expect(shape.openCallsInVuCode).toBe(0);
  });

  it('keeps open() out of the shared helper, where a relative path would mean a different directory', () => {
    // k6 resolves a relative open() against the entry script today and against the calling module later;
    // with every open() in the entry scripts both mean load/.
    const file = path.join(LOAD_DIR, 'lib', 'common.js');
    expect(inspectModule(file, readFileSync(file, 'utf8')).openCalls).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Step 2: run the scripts. The stand-in modules write what happens into this record on globalThis.

interface CheckRecord {
  name: string;
  ok: boolean;
  tags: Record<string, string>;
}

interface RequestRecord {
  method: string;
  url: string;
  requestBody: string | null;
  tags: Record<string, string>;
  status: number;
  responseBody: string | null;
}

interface MetricRecord {
  metric: string;
  type: string;
  value: number;
  tags: Record<string, string>;
}

interface ShimRecord {
  stage: 'init' | 'vu';
  checks: CheckRecord[];
  requests: RequestRecord[];
  metrics: MetricRecord[];
  opened: string[];
}

// k6's http.post is synchronous; Node cannot wait for a socket synchronously, so the stand-in sends each
// request from a worker thread and waits for its answer with Atomics.wait, then takes it off a message port
// with receiveMessageOnPort. A request costs a millisecond or two (a child process for each cost ~50 ms).
const HTTP_CALL = `
import { request } from 'node:https';
import { parentPort, workerData } from 'node:worker_threads';
const { port } = workerData;
parentPort.on('message', ({ input, signal }) => {
  const { method, url, body, headers, timeoutMs } = JSON.parse(input);
  const started = performance.now();
  let answered = false;
  const done = (answer) => {
    if (answered) return;
    answered = true;
    port.postMessage({ ...answer, durationMs: performance.now() - started });
    Atomics.store(signal, 0, 1);
    Atomics.notify(signal, 0);
  };
  // Canopy's certificate is signed by the CA it generated, as in the scripts' insecureSkipTLSVerify. A new
  // connection for each request, as each k6 iteration here stands for another client.
  const req = request(url, { method, headers, agent: false, rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => (text += chunk));
    res.on('end', () => done({ status: res.statusCode, body: text, error: '' }));
  });
  req.on('timeout', () => req.destroy(new Error('request timeout')));
  req.on('error', (err) => done({ status: 0, body: null, error: String(err.message) }));
  if (body !== null) req.write(body);
  req.end();
});
`;

const SHIM_K6 = `
const shim = () => globalThis.__k6shim;
// Like k6: every condition is recorded, an exception in one propagates and ends the iteration.
export function check(value, sets, tags) {
  let all = true;
  for (const [name, condition] of Object.entries(sets)) {
    const ok = Boolean(condition(value));
    shim().checks.push({ name, ok, tags: { ...(tags || {}) } });
    all = all && ok;
  }
  return all;
}
export function sleep() {}
export function group(_name, fn) { return fn(); }
export function fail(message) { throw new Error(message); }
export default { check, sleep, group, fail };
`;

const SHIM_METRICS = `
const shim = () => globalThis.__k6shim;
class Metric {
  constructor(name, isTime) {
    // k6 refuses other names, and custom metrics may only be made in the init stage.
    if (!/^[a-zA-Z_][a-zA-Z0-9_]{1,127}$/.test(name)) throw new Error('invalid metric name ' + name);
    if (shim().stage !== 'init') throw new Error('metrics can only be created in the init stage: ' + name);
    this.name = name;
    this.isTime = Boolean(isTime);
  }
  add(value, tags) {
    shim().metrics.push({ metric: this.name, type: this.type, value: Number(value), tags: { ...(tags || {}) } });
  }
}
export class Rate extends Metric { get type() { return 'rate'; } }
export class Trend extends Metric { get type() { return 'trend'; } }
export class Counter extends Metric { get type() { return 'counter'; } }
export class Gauge extends Metric { get type() { return 'gauge'; } }
export default { Rate, Trend, Counter, Gauge };
`;

const SHIM_DATA = `
export class SharedArray {
  constructor(name, make) {
    if (globalThis.__k6shim.stage !== 'init') throw new Error('SharedArray ' + name + ' made outside the init stage');
    const data = make();
    if (!Array.isArray(data)) throw new Error('SharedArray ' + name + ': the function must return an array');
    // k6 keeps the elements as JSON and hands out frozen copies.
    return Object.freeze(JSON.parse(JSON.stringify(data)).map((item) => Object.freeze(item)));
  }
}
export default { SharedArray };
`;

const SHIM_HTTP = `
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
const helper = fileURLToPath(new URL('./http-call.mjs', import.meta.url));
let caller;
/** One request, sent by the worker thread while this thread waits (see HTTP_CALL). */
function callSync(input, limit) {
  if (!caller) {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(helper, { workerData: { port: port2 }, transferList: [port2] });
    worker.unref();
    caller = { worker, port: port1 };
    // The test ends the worker when it is done (afterAll).
    globalThis.__k6http = { close: () => caller.worker.terminate() };
  }
  const signal = new Int32Array(new SharedArrayBuffer(4));
  caller.worker.postMessage({ input, signal });
  if (Atomics.wait(signal, 0, 0, limit + 5000) === 'timed-out') throw new Error('the k6 stand-in got no answer within ' + (limit + 5000) + ' ms');
  const received = receiveMessageOnPort(caller.port);
  if (!received) throw new Error('the k6 stand-in was woken without an answer');
  return received.message;
}
const seconds = { ms: 0.001, s: 1, m: 60 };
function timeoutMs(timeout) {
  if (typeof timeout === 'number') return timeout;
  const match = /^(\\d+(?:\\.\\d+)?)(ms|s|m)$/.exec(timeout || '60s');
  if (!match) throw new Error('bad timeout ' + timeout);
  return Number(match[1]) * seconds[match[2]] * 1000;
}
function request(method, url, body, params) {
  const shim = globalThis.__k6shim;
  if (shim.stage !== 'vu') throw new Error('k6 allows requests only in VU code, not in the init stage');
  const target = new URL(url);
  // This test calls only the canopy serve it started.
  if (target.protocol !== 'https:' || target.hostname !== '127.0.0.1') throw new Error('the k6 stand-in calls only https://127.0.0.1, not ' + url);
  const options = params || {};
  const limit = Math.min(timeoutMs(options.timeout), 10000);
  const input = JSON.stringify({ method, url, body: body === undefined ? null : body, headers: options.headers || {}, timeoutMs: limit });
  const answer = callSync(input, limit);
  shim.requests.push({ method, url, requestBody: body === undefined ? null : body, tags: { ...(options.tags || {}) }, status: answer.status, responseBody: answer.body });
  return {
    status: answer.status,
    body: answer.body,
    error: answer.error,
    timings: { duration: answer.durationMs },
    json(selector) {
      if (selector !== undefined) throw new Error('the stand-in supports res.json() without a selector only');
      if (typeof this.body !== 'string') throw new Error('the response has no body');
      return JSON.parse(this.body);
    },
  };
}
export function post(url, body, params) { return request('POST', url, body, params); }
export function get(url, params) { return request('GET', url, undefined, params); }
export default { post, get, request };
`;

const SHIMS: Record<string, string> = { k6: 'k6.js', 'k6/http': 'k6-http.js', 'k6/metrics': 'k6-metrics.js', 'k6/data': 'k6-data.js' };

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

interface Scenario {
  executor: string;
  rate: number;
  timeUnit: string;
  duration: string;
  preAllocatedVUs: number;
  maxVUs: number;
  exec: string;
}

interface K6Options {
  insecureSkipTLSVerify: boolean;
  scenarios: Record<string, Scenario>;
  thresholds: Record<string, string[]>;
}

interface LoadedScript {
  options: K6Options;
  /** The exported functions, by name; the default function is `default`. */
  functions: Map<string, () => unknown>;
}

/** Reads `options` after checking the parts this test relies on, so the casts below are earned. */
function readOptions(value: unknown): K6Options {
  if (!isRecord(value) || !isRecord(value['scenarios']) || !isRecord(value['thresholds'])) throw new Error('options needs scenarios and thresholds');
  for (const [name, scenario] of Object.entries(value['scenarios'])) {
    if (!isRecord(scenario) || typeof scenario['executor'] !== 'string' || typeof scenario['exec'] !== 'string') throw new Error(`scenario ${name} is malformed`);
  }
  for (const [metric, list] of Object.entries(value['thresholds'])) {
    if (!Array.isArray(list) || !list.every((t) => typeof t === 'string')) throw new Error(`threshold ${metric} is not a list of strings`);
  }
  return value as unknown as K6Options;
}

describe('the k6 scripts in load/ against canopy serve', () => {
  let workDir = '';
  let shimDir = '';
  let record: ShimRecord;
  let canopyUrl = '';
  let canopyPort = 0;
  let canopyCa = '';
  /** A stand-in for a user's load/ after `node load/bundle-reviews.mjs`: it holds reviews.json, the 88 real reviews. */
  let bundleDir = '';
  let copies = 0;

  beforeAll(async () => {
    workDir = mkdtempSync(path.join(tmpdir(), 'canopy-k6-'));
    shimDir = path.join(workDir, 'shim');
    mkdirSync(shimDir, { recursive: true });
    // The copies are ES modules whatever Node or Vite would otherwise guess for a .js file in /tmp.
    writeFileSync(path.join(workDir, 'package.json'), '{"type":"module"}\n');
    writeFileSync(path.join(shimDir, 'http-call.mjs'), HTTP_CALL);
    writeFileSync(path.join(shimDir, 'k6.js'), SHIM_K6);
    writeFileSync(path.join(shimDir, 'k6-http.js'), SHIM_HTTP);
    writeFileSync(path.join(shimDir, 'k6-metrics.js'), SHIM_METRICS);
    writeFileSync(path.join(shimDir, 'k6-data.js'), SHIM_DATA);
    // The bundle command as a user runs it, with no input named (the real reviews beside the checkout); only
    // the output goes elsewhere, so the test leaves load/ alone.
    bundleDir = path.join(workDir, 'bundled-load');
    mkdirSync(bundleDir);
    execFileSync(process.execPath, [path.join(LOAD_DIR, 'bundle-reviews.mjs'), '-o', path.join(bundleDir, 'reviews.json')], { cwd: REPO_ROOT, stdio: 'pipe' });
    const stateDir = path.join(workDir, 'state');
    const server = await startServe(['--policies', STARTER_POLICIES, '--state-dir', stateDir, '--log-level', 'warn']);
    canopyPort = server.port;
    canopyUrl = `https://127.0.0.1:${server.port}`;
    canopyCa = readFileSync(path.join(stateDir, 'tls', 'ca.crt'), 'utf8');
  });

  afterAll(async () => {
    killServers();
    await (globalThis as { __k6http?: { close: () => Promise<number> } }).__k6http?.close();
    for (const name of ['__k6shim', '__k6http', '__ENV', '__VU', '__ITER', 'open']) Reflect.deleteProperty(globalThis, name);
    rmSync(workDir, { recursive: true, force: true });
  });

  /**
   * Imports a fresh copy of load/ with its k6 imports pointed at the stand-ins, as one k6 VU would load
   * `script` with these `-e` variables. Each load gets its own copy so module state (the uid counter, settings
   * read at import) is not shared between loads, as it is not between k6 VUs.
   */
  async function loadScript(script: EntryScript, env: Record<string, string>, { loadDir = LOAD_DIR } = {}): Promise<LoadedScript> {
    copies += 1;
    const copyDir = path.join(workDir, `copy-${copies}`, 'load');
    for (const file of loadFiles()) {
      const from = path.join(LOAD_DIR, file);
      const to = path.join(copyDir, file);
      let text = readFileSync(from, 'utf8');
      // Rewrite from the end so earlier offsets stay valid.
      const specifiers = inspectModule(from, text).specifiers.filter((s) => s.text in SHIMS).reverse();
      for (const specifier of specifiers) {
        const shimFile = path.join(shimDir, SHIMS[specifier.text] ?? '');
        const relative = path.relative(path.dirname(to), shimFile).split(path.sep).join('/');
        text = `${text.slice(0, specifier.start)}'${relative.startsWith('.') ? relative : `./${relative}`}'${text.slice(specifier.end)}`;
      }
      mkdirSync(path.dirname(to), { recursive: true });
      writeFileSync(to, text);
    }

    record = { stage: 'init', checks: [], requests: [], metrics: [], opened: [] };
    Reflect.set(globalThis, '__k6shim', record);
    Reflect.set(globalThis, '__ENV', { ...env });
    Reflect.set(globalThis, '__VU', 0); // 0 in the init stage, as in k6
    Reflect.set(globalThis, '__ITER', 0);
    // k6's open(): init stage only, relative paths against the entry script's directory, which for the copies
    // stands for the real load/ (so ../examples/... paths are the ones users give), or for `loadDir`, a folder
    // holding a reviews.json made by load/bundle-reviews.mjs, as a user's load/ does after running it.
    Reflect.set(globalThis, 'open', (file: string): string => {
      if (record.stage !== 'init') throw new Error(`open(${file}) outside the init stage`);
      const resolved = path.resolve(loadDir, file);
      record.opened.push(resolved);
      return readFileSync(resolved, 'utf8');
    });

    const module: unknown = await import(/* @vite-ignore */ pathToFileURL(path.join(copyDir, script)).href);
    record.stage = 'vu';
    Reflect.set(globalThis, '__VU', 1);
    if (!isRecord(module)) throw new Error(`${script} is not a module`);
    const functions = new Map<string, () => unknown>();
    for (const [name, value] of Object.entries(module)) {
      if (typeof value === 'function') functions.set(name, value as () => unknown);
    }
    return { options: readOptions(module['options']), functions };
  }

  /** Runs one exported function `iterations` times, as k6 iterations of one VU. */
  function iterate(script: LoadedScript, name: string, iterations: number): void {
    const fn = script.functions.get(name);
    if (!fn) throw new Error(`no exported function ${name}`);
    for (let i = 0; i < iterations; i += 1) {
      Reflect.set(globalThis, '__ITER', i);
      fn();
    }
  }

  /** The uid each request sent and the answer it got, for the admission requests recorded so far. */
  function exchanges(): { webhook: string; review: string; sent: unknown; sentUid: unknown; label: unknown; status: number; answer: Record<string, unknown> }[] {
    return record.requests
      .filter((r) => r.method === 'POST')
      .map((r) => {
        const sent: unknown = JSON.parse(r.requestBody ?? 'null');
        const answer: unknown = JSON.parse(r.responseBody ?? 'null');
        const response = isRecord(answer) && isRecord(answer['response']) ? answer['response'] : {};
        const request = isRecord(sent) && isRecord(sent['request']) ? sent['request'] : {};
        // The object the policies judge: the old one of a DELETE.
        const judged = request[request['operation'] === 'DELETE' ? 'oldObject' : 'object'];
        const metadata = isRecord(judged) && isRecord(judged['metadata']) ? judged['metadata'] : {};
        const label = isRecord(metadata['labels']) ? metadata['labels'][UNIQUE_LABEL] : undefined;
        return { webhook: new URL(r.url).pathname, review: r.tags['review'] ?? '', sent, sentUid: request['uid'], label, status: r.status, answer: response };
      });
  }

  /** The review as read from its file, stamped as the scripts stamp it: `uid` as request.uid and as UNIQUE_LABEL. */
  function stamped(review: unknown, uid: unknown): unknown {
    const copy: unknown = structuredClone(review);
    if (!isRecord(copy) || !isRecord(copy['request'])) throw new Error('not an AdmissionReview');
    const request = copy['request'];
    request['uid'] = uid;
    const key = request['operation'] === 'DELETE' ? 'oldObject' : 'object';
    const object = isRecord(request[key]) ? request[key] : {};
    request[key] = object;
    const metadata = isRecord(object['metadata']) ? object['metadata'] : {};
    object['metadata'] = { ...metadata, labels: { ...(isRecord(metadata['labels']) ? metadata['labels'] : {}), [UNIQUE_LABEL]: uid } };
    return copy;
  }

  /** Canopy's decision cache counters, from GET /status (answered on loopback). */
  async function decisionCache(): Promise<{ hits: number; misses: number }> {
    const answer = await httpsCall(canopyPort, canopyCa, 'GET', '/status');
    expect(answer.status).toBe(200);
    const status: unknown = JSON.parse(answer.body);
    const cache = isRecord(status) && isRecord(status['engine']) ? status['engine']['decisionCache'] : undefined;
    if (!isRecord(cache) || typeof cache['hits'] !== 'number' || typeof cache['misses'] !== 'number') throw new Error(`no decision cache in /status: ${answer.body}`);
    return { hits: cache['hits'], misses: cache['misses'] };
  }

  const exampleUids = EXAMPLE_FILES.map((file) => {
    const review: unknown = JSON.parse(readFileSync(path.join(EXAMPLES, file), 'utf8'));
    return isRecord(review) && isRecord(review['request']) ? review['request']['uid'] : undefined;
  });

  /**
   * What every run must show: all checks passed, 200s that echo fresh, unique uids, the same uid as the unique
   * label's value (so no two bodies are alike), only to 127.0.0.1.
   */
  function expectGoodRun(expectedRequests: number): void {
    expect(record.checks.length).toBeGreaterThan(0);
    expect(record.checks.filter((c) => !c.ok)).toEqual([]);
    const seen = exchanges();
    expect(seen).toHaveLength(expectedRequests);
    for (const exchange of seen) {
      expect(exchange.status).toBe(200);
      expect(typeof exchange.sentUid).toBe('string');
      expect(exchange.answer['uid']).toBe(exchange.sentUid);
      expect(exchange.label).toBe(exchange.sentUid);
      expect(exampleUids).not.toContain(exchange.sentUid);
    }
    expect(new Set(seen.map((e) => e.sentUid)).size).toBe(seen.length);
    expect(new Set(record.requests.filter((r) => r.method === 'POST').map((r) => r.requestBody)).size).toBe(seen.length);
    for (const r of record.requests) expect(new URL(r.url).origin).toBe(canopyUrl);
  }

  const values = (metric: string, tags: Record<string, string> = {}): number[] =>
    record.metrics.filter((m) => m.metric === metric && Object.entries(tags).every(([k, v]) => m.tags[k] === v)).map((m) => m.value);

  it.each(ENTRY_SCRIPTS)('%s takes its rate, duration, VUs and thresholds from -e variables', async (script) => {
    const loaded = await loadScript(script, { RATE: '7', DURATION: '3s', VUS: '2', MAX_VUS: '4', P99_MS: '123', ERROR_RATE: '0.02' }, { loadDir: bundleDir });
    const { options } = loaded;
    expect(options.insecureSkipTLSVerify).toBe(true);
    const main = options.scenarios[Object.keys(options.scenarios)[0] ?? ''];
    expect(main).toMatchObject({ executor: 'constant-arrival-rate', rate: 7, timeUnit: '1s', duration: '3s', preAllocatedVUs: 2, maxVUs: 4, exec: 'default' });
    for (const scenario of Object.values(options.scenarios)) {
      expect(scenario.executor).toBe('constant-arrival-rate');
      expect(loaded.functions.has(scenario.exec)).toBe(true);
    }
    expect(options.thresholds['http_req_duration']).toEqual(['p(99)<123']);
    expect(options.thresholds['http_req_failed']).toEqual(['rate<=0.02']);
    expect(options.thresholds['checks']).toEqual(['rate>=0.98']);
    // Loading the script made no request: k6 allows them only in VU code.
    expect(record.requests).toEqual([]);
  });

  it.each([
    ['validate.js', '1m', 'rate<=0.001'],
    ['mutate.js', '1m', 'rate<=0.001'],
    ['mixed.js', '1m', 'rate<=0.001'],
    // The soak fails on any error at all.
    ['soak.js', '30m', 'rate<=0'],
  ] as const)('%s defaults to %s and http_req_failed %s, with the bundle load/reviews.json', async (script, duration, failed) => {
    const { options } = await loadScript(script, {}, { loadDir: bundleDir });
    expect(Object.values(options.scenarios).map((s) => s.duration)).toContain(duration);
    expect(options.thresholds['http_req_failed']).toEqual([failed]);
    expect(options.thresholds['http_req_duration']).toEqual(['p(99)<50']);
    expect(record.opened).toEqual([path.join(bundleDir, 'reviews.json')]);
  });

  it('load/bundle-reviews.mjs bundles the 88 real reviews, in order, each under its file name', () => {
    const bundle: unknown = JSON.parse(readFileSync(path.join(bundleDir, 'reviews.json'), 'utf8'));
    const names = fixtureNames();
    expect(names).toHaveLength(88);
    expect(bundle).toEqual(names.map((name) => ({ name, review: fixture(name) })));
  });

  it('without REVIEWS and without load/reviews.json, the scripts stop in the init stage and say how to make it', async () => {
    const empty = path.join(workDir, 'load-without-bundle');
    mkdirSync(empty, { recursive: true });
    await expect(loadScript('validate.js', { CANOPY_URL: canopyUrl }, { loadDir: empty })).rejects.toThrow(/node load\/bundle-reviews\.mjs/);
  });

  it('validate.js sends each of the 88 real reviews once, every body unique, and Canopy evaluates each: no decision-cache hit', async () => {
    const names = fixtureNames();
    const script = await loadScript('validate.js', { CANOPY_URL: canopyUrl }, { loadDir: bundleDir });
    const before = await decisionCache();
    iterate(script, 'default', names.length);
    const after = await decisionCache();
    expectGoodRun(names.length);
    const sent = exchanges();
    expect(sent.map((e) => e.review).sort()).toEqual(names);
    const realUids = names.map((name) => fixture(name).request.uid);
    for (const exchange of sent) {
      expect(realUids).not.toContain(exchange.sentUid);
      // The body is the real review but for the uid and the label.
      expect(exchange.sent).toEqual(stamped(fixture(exchange.review), exchange.sentUid));
    }
    expect(after.misses).toBeGreaterThan(before.misses);
    expect(after.hits).toBe(before.hits);

    // The control: the same body twice is answered from the cache, which is what the unique label prevents.
    const body = JSON.stringify(fixture(await reviewCedarEvaluates(names)));
    for (let i = 0; i < 2; i += 1) expect((await httpsCall(canopyPort, canopyCa, 'POST', '/validate', body)).status).toBe(200);
    expect((await decisionCache()).hits).toBeGreaterThan(after.hits);
  }, 180_000);

  it('validate.js: the checks pass, the uids are echoed, and the privileged pod counts as denied, not failed', async () => {
    const script = await loadScript('validate.js', { CANOPY_URL: canopyUrl, REVIEWS: EXAMPLE_REVIEWS });
    iterate(script, 'default', EXAMPLE_FILES.length);
    expectGoodRun(EXAMPLE_FILES.length);
    expect(new Set(exchanges().map((e) => `${e.webhook} ${e.review}`))).toEqual(new Set(EXAMPLE_FILES.map((file) => `/validate ${file}`)));
    expect(values('canopy_denied', { review: 'privileged-pod.json' })).toEqual([1]);
    expect(values('canopy_denied').sort()).toEqual([0, 0, 1]);
    expect(values('canopy_denied_duration')).toHaveLength(1);
    expect(values('canopy_allowed_duration')).toHaveLength(2);
  });

  it('mutate.js: the checks pass, including patchType JSONPatch on the one review that gets a patch', async () => {
    const script = await loadScript('mutate.js', { CANOPY_URL: canopyUrl, REVIEWS: EXAMPLE_REVIEWS });
    iterate(script, 'default', EXAMPLE_FILES.length);
    expectGoodRun(EXAMPLE_FILES.length);
    expect(record.checks.filter((c) => c.name === 'a patch is a JSONPatch')).toHaveLength(EXAMPLE_FILES.length);
    const patchedAnswers = exchanges().filter((e) => e.answer['patch'] !== undefined);
    expect(patchedAnswers.map((e) => e.review)).toEqual(['pod-without-resources.json']);
    expect(patchedAnswers[0]?.answer['patchType']).toBe('JSONPatch');
    expect(values('canopy_patched', { review: 'pod-without-resources.json' })).toEqual([1]);
    expect(values('canopy_patched').sort()).toEqual([0, 0, 1]);
    expect(values('canopy_patched_duration')).toHaveLength(1);
  });

  it('mixed.js: one cycle sends every review to both webhooks, in the weights given', async () => {
    const script = await loadScript('mixed.js', { CANOPY_URL: canopyUrl, REVIEWS: EXAMPLE_REVIEWS, VALIDATE_WEIGHT: '2', MUTATE_WEIGHT: '1' });
    const cycle = EXAMPLE_FILES.length * 3;
    iterate(script, 'default', cycle);
    expectGoodRun(cycle);
    const sent = exchanges();
    for (const file of EXAMPLE_FILES) {
      expect(sent.filter((e) => e.review === file && e.webhook === '/validate')).toHaveLength(2);
      expect(sent.filter((e) => e.review === file && e.webhook === '/mutate')).toHaveLength(1);
    }
    expect(script.options.thresholds['http_req_duration{endpoint:validate}']).toEqual(['p(99)<50']);
    expect(script.options.thresholds['http_req_duration{endpoint:mutate}']).toEqual(['p(99)<50']);
  });

  it('soak.js: the mixed load passes its checks and the RSS scrape reads process_resident_memory_bytes', async () => {
    const script = await loadScript('soak.js', { CANOPY_URL: canopyUrl, REVIEWS: EXAMPLE_REVIEWS, RSS_MB: '4096' });
    expect(script.options.scenarios['rss']).toMatchObject({ executor: 'constant-arrival-rate', rate: 1, timeUnit: '30s', exec: 'rss' });
    expect(script.options.thresholds['canopy_rss_bytes']).toEqual([`max<${4096 * 1024 * 1024}`]);
    iterate(script, 'default', EXAMPLE_FILES.length * 2);
    iterate(script, 'rss', 1);
    expectGoodRun(EXAMPLE_FILES.length * 2);
    expect(record.requests.filter((r) => r.method === 'GET').map((r) => [new URL(r.url).pathname, r.status])).toEqual([['/metrics', 200]]);
    const rss = values('canopy_rss_bytes');
    expect(rss).toHaveLength(1);
    expect(rss[0]).toBeGreaterThan(1024 * 1024);
  });

  it('soak.js leaves the scrape out with SCRAPE_EVERY=off', async () => {
    const script = await loadScript('soak.js', { CANOPY_URL: canopyUrl, SCRAPE_EVERY: 'off' }, { loadDir: bundleDir });
    expect(Object.keys(script.options.scenarios)).toEqual(['soak']);
  });

  it('REVIEWS takes a bundle made from other reviews, and a plain JSON array of reviews', async () => {
    const examples = path.join(workDir, 'examples-bundle.json');
    execFileSync(process.execPath, [path.join(LOAD_DIR, 'bundle-reviews.mjs'), EXAMPLES, '-o', examples], { cwd: REPO_ROOT, stdio: 'pipe' });
    const plain = path.join(workDir, 'plain-array.json');
    writeFileSync(plain, JSON.stringify([fixture(2), fixture(88)]));
    const script = await loadScript('validate.js', { CANOPY_URL: canopyUrl, REVIEWS: `${examples},${plain}` });
    expect(record.opened).toEqual([examples, plain]);
    iterate(script, 'default', 5);
    expectGoodRun(5);
    expect(exchanges().map((e) => e.review).sort()).toEqual([...EXAMPLE_FILES, 'plain-array.json#1', 'plain-array.json#2'].sort());
    expect(values('canopy_denied', { review: 'privileged-pod.json' })).toEqual([1]);
  });

  it('REVIEWS replaces the bundle with other files, given by absolute path', async () => {
    const capture = path.join(workDir, 'capture.json');
    writeFileSync(capture, readFileSync(path.join(EXAMPLES, 'privileged-pod.json')));
    const script = await loadScript('validate.js', { CANOPY_URL: canopyUrl, REVIEWS: `${capture}, ../examples/admission-reviews/pod.json` });
    expect(record.opened).toEqual([capture, path.join(EXAMPLES, 'pod.json')]);
    iterate(script, 'default', 2);
    expectGoodRun(2);
    expect(values('canopy_denied', { review: 'capture.json' })).toEqual([1]);
    expect(values('canopy_denied', { review: 'pod.json' })).toEqual([0]);
  });

  it('a body that is not an AdmissionReview stops the script in the init stage', async () => {
    const bogus = path.join(workDir, 'bogus.json');
    writeFileSync(bogus, '{"kind":"Pod"}');
    await expect(loadScript('validate.js', { CANOPY_URL: canopyUrl, REVIEWS: bogus })).rejects.toThrow(/is not an AdmissionReview with a request/);
  });

  it.each([
    ['RATE', '2.5', /-e RATE=2.5 must be a whole number/],
    ['P99_MS', 'fast', /-e P99_MS=fast is not a non-negative number/],
    ['MUTATE_WEIGHT', '0.5', /the mutate weight must be a whole number/],
  ])('-e %s=%s stops mixed.js in the init stage, before any request', async (name, value, message) => {
    await expect(loadScript('mixed.js', { CANOPY_URL: canopyUrl, [name]: value }, { loadDir: bundleDir })).rejects.toThrow(message);
  });

  it('the stand-in refuses any host but 127.0.0.1', async () => {
    const script = await loadScript('validate.js', { CANOPY_URL: 'https://localhost:1' }, { loadDir: bundleDir });
    expect(() => iterate(script, 'default', 1)).toThrow(/calls only https:\/\/127\.0\.0\.1/);
    expect(record.requests).toEqual([]);
  });
});
