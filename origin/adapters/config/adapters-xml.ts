/**
 * Reads Lightstreamer's `adapters.xml`: one adapter set per file,
 *
 *   <adapters_conf id="SET">
 *     <metadata_provider> <adapter_class>…</adapter_class> <param name="…">…</param>… </metadata_provider>
 *     <data_provider name="NAME"> <adapter_class>…</adapter_class> <param name="…">…</param>… </data_provider>…
 *   </adapters_conf>
 *
 * with a `data_provider` without a name being `DEFAULT`, and a param value `$env.NAME` standing for
 * the environment variable NAME (as Lightstreamer has it, so secrets stay out of the file). What
 * Lightstreamer's JVM needs and an origin does not (`classloader`, `install_dir`, thread pools) is
 * accepted and ignored; anything else unknown is an error naming the file, the line and the element,
 * so a typo never silently changes what runs. What the adapter classes' params mean is checked where
 * the classes are built (proxy-params.ts, adapter-sets.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { DOMParser, type Element, type Node } from '@xmldom/xmldom';

export interface ConfParam {
  readonly value: string;
  readonly line: number;
}

export interface ProviderConf {
  readonly file: string;
  readonly line: number;
  /** `metadata_provider`, or `data_provider name="…"`. */
  readonly element: string;
  readonly kind: 'metadata' | 'data';
  /** The data provider's name (`DEFAULT` when unnamed); `metadata` for the metadata provider. */
  readonly name: string;
  readonly adapterClass: string;
  readonly adapterClassLine: number;
  readonly params: ReadonlyMap<string, ConfParam>;
}

export interface AdaptersConf {
  readonly file: string;
  /** The adapter set's name (LS_adapter_set). */
  readonly id: string;
  readonly metadata: ProviderConf;
  readonly dataProviders: readonly ProviderConf[];
}

export interface ConfProblem {
  readonly file: string;
  readonly line: number;
  readonly element: string;
  readonly message: string;
}

export class AdaptersConfError extends Error {
  constructor(readonly problems: readonly ConfProblem[]) {
    super(problems.map(describeProblem).join('\n'));
    this.name = 'AdaptersConfError';
  }
}

export function describeProblem(p: ConfProblem): string {
  return `${p.file}:${p.line} <${p.element}>: ${p.message}`;
}

/**
 * Adapter set and data provider names: they name bus items and leases (`<set>/<provider>/<item>`),
 * so no slashes, blanks or braces.
 */
export const ADAPTER_NAME = /^[A-Za-z0-9_.:@-]{1,64}$/;

const IGNORED_SET_ELEMENTS = new Set(['metadata_adapter_initialised_first']);
const IGNORED_PROVIDER_ELEMENTS = new Set(['classloader', 'install_dir', 'authentication_pool', 'messages_pool', 'mpn_pool', 'data_adapter_pool']);

/**
 * The adapters.xml files ADAPTERS_CONF names: a comma-separated list of files, or a folder laid out
 * like Lightstreamer's `adapters/` (each subfolder holding an `adapters.xml`). Throws for a path that
 * is neither.
 */
export function adaptersConfFiles(value: string, cwd = process.cwd()): string[] {
  const entries = value.split(',').map((p) => p.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error('names no file');
  const files: string[] = [];
  for (const entry of entries) {
    const full = path.resolve(cwd, entry);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(full);
    } catch (err) {
      throw new Error(`${entry} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (stat.isFile()) {
      files.push(full);
      continue;
    }
    if (!stat.isDirectory()) throw new Error(`${entry} is neither a file nor a folder`);
    const found = fs
      .readdirSync(full, { withFileTypes: true })
      .filter((d) => d.isDirectory() && fs.existsSync(path.join(full, d.name, 'adapters.xml')))
      .map((d) => path.join(full, d.name, 'adapters.xml'))
      .sort();
    if (found.length === 0) throw new Error(`the folder ${entry} has no subfolder with an adapters.xml`);
    files.push(...found);
  }
  return files;
}

/** Reads every file; throws AdaptersConfError listing every problem of every file. */
export function readAdaptersConfs(files: readonly string[], env: Readonly<Record<string, string | undefined>>): AdaptersConf[] {
  const problems: ConfProblem[] = [];
  const confs: AdaptersConf[] = [];
  for (const file of files) {
    const conf = readAdaptersConf(file, env, problems);
    if (conf) confs.push(conf);
  }
  const ids = new Map<string, string>();
  for (const conf of confs) {
    const other = ids.get(conf.id);
    if (other) problems.push({ file: conf.file, line: 1, element: `adapters_conf id="${conf.id}"`, message: `the adapter set ${conf.id} is also defined in ${other}` });
    ids.set(conf.id, conf.file);
  }
  if (problems.length > 0) throw new AdaptersConfError(problems);
  return confs;
}

function readAdaptersConf(file: string, env: Readonly<Record<string, string | undefined>>, problems: ConfProblem[]): AdaptersConf | null {
  const relative = path.relative(process.cwd(), file);
  const shown = relative && !relative.startsWith('..') ? relative : file;
  const problem = (node: Node | null, element: string, message: string) =>
    void problems.push({ file: shown, line: node?.lineNumber ?? 1, element, message });
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    problem(null, 'adapters_conf', `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return null;
  }
  let parseError: { line: number; message: string } | null = null;
  let doc;
  try {
    doc = new DOMParser({
      onError: (level, message) => {
        if (level === 'warning' || parseError) return;
        const at = /line:(\d+)/.exec(message);
        parseError = { line: at ? Number(at[1]) : 1, message: message.replace(/\n?@#\[line:\d+,col:\d+\]/, '').trim() };
      },
    }).parseFromString(text, 'text/xml');
  } catch {
    // A fatal error: reported through onError already.
  }
  if (parseError || !doc) {
    const e = parseError ?? { line: 1, message: 'not XML' };
    problems.push({ file: shown, line: e.line, element: 'adapters_conf', message: `not well-formed XML: ${e.message}` });
    return null;
  }
  const root = doc.documentElement;
  if (!root || root.nodeName !== 'adapters_conf') {
    problem(root, root?.nodeName ?? 'adapters_conf', 'the root element must be <adapters_conf id="…">');
    return null;
  }
  const id = root.getAttribute('id') ?? '';
  if (!ADAPTER_NAME.test(id)) problem(root, 'adapters_conf', `id ${JSON.stringify(id)} must be 1-64 characters of A-Z a-z 0-9 _ . : @ -`);
  let metadata: ProviderConf | null = null;
  const dataProviders: ProviderConf[] = [];
  for (const child of elements(root)) {
    const name = child.nodeName;
    if (name === 'metadata_provider') {
      if (metadata) problem(child, name, 'an adapter set has one metadata_provider');
      else metadata = readProvider(child, shown, 'metadata', env, problem);
    } else if (name === 'data_provider') {
      const provider = readProvider(child, shown, 'data', env, problem);
      if (!provider) continue;
      if (dataProviders.some((p) => p.name === provider.name)) problem(child, provider.element, `a second data_provider named ${provider.name}`);
      else dataProviders.push(provider);
    } else if (!IGNORED_SET_ELEMENTS.has(name)) {
      problem(child, name, 'unknown element of <adapters_conf>');
    }
  }
  if (!metadata) problem(root, 'adapters_conf', 'no <metadata_provider>');
  if (dataProviders.length === 0) problem(root, 'adapters_conf', 'no <data_provider>');
  if (!metadata || dataProviders.length === 0) return null;
  return { file: shown, id, metadata, dataProviders };
}

function readProvider(
  el: Element,
  file: string,
  kind: 'metadata' | 'data',
  env: Readonly<Record<string, string | undefined>>,
  problem: (node: Node | null, element: string, message: string) => void,
): ProviderConf | null {
  const name = kind === 'metadata' ? 'metadata' : el.getAttribute('name') || 'DEFAULT';
  const element = kind === 'metadata' ? 'metadata_provider' : `data_provider name="${name}"`;
  if (kind === 'data' && !ADAPTER_NAME.test(name)) {
    problem(el, element, `name ${JSON.stringify(name)} must be 1-64 characters of A-Z a-z 0-9 _ . : @ -`);
    return null;
  }
  let adapterClass: string | null = null;
  let adapterClassLine = el.lineNumber ?? 1;
  const params = new Map<string, ConfParam>();
  for (const child of elements(el)) {
    const childName = child.nodeName;
    if (childName === 'adapter_class') {
      adapterClass = textOf(child);
      adapterClassLine = child.lineNumber ?? adapterClassLine;
    } else if (childName === 'param') {
      const paramName = child.getAttribute('name');
      const at = `param name="${paramName ?? ''}"`;
      if (!paramName) {
        problem(child, 'param', 'a <param> needs a name attribute');
        continue;
      }
      if (params.has(paramName)) {
        problem(child, at, `appears twice in <${element}>`);
        continue;
      }
      let value = textOf(child);
      const envName = /^\$env\.(.+)$/.exec(value)?.[1];
      if (envName !== undefined) {
        const fromEnv = env[envName];
        if (fromEnv === undefined) {
          problem(child, at, `names the environment variable ${envName}, which is not set`);
          continue;
        }
        value = fromEnv;
      }
      params.set(paramName, { value, line: child.lineNumber ?? 1 });
    } else if (!IGNORED_PROVIDER_ELEMENTS.has(childName)) {
      problem(child, childName, `unknown element of <${element}>`);
    }
  }
  if (!adapterClass) {
    problem(el, element, 'no <adapter_class>');
    return null;
  }
  return { file, line: el.lineNumber ?? 1, element, kind, name, adapterClass, adapterClassLine, params };
}

function elements(parent: Element): Element[] {
  const out: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) if (node.nodeType === 1) out.push(node as Element);
  return out;
}

function textOf(el: Element): string {
  return (el.textContent ?? '').trim();
}
