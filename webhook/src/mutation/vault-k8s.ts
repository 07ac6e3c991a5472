/**
 * The Vault Agent Injector's (vault-k8s) pod annotations, `vault.hashicorp.com/*`
 * (docs/configuration.md#vault-agent-injector-annotations, docs/migrating-from-vault-agent-injector.md).
 * Each has one fate, and none is dropped without a word:
 * - an alias of a row of the annotation table (`agent-inject`, `role`, `auth-path`, …);
 * - files: `agent-inject-secret-NAME` (with `-template-`, `-file-`, `-perms-`,
 *   `preserve-secret-case`) become secret files rendered from Vault Agent templates
 *   (init-binary/src/contract/agent-template.ts), by the same volumes and writes as ours;
 * - met: what the init program always does (`agent-pre-populate: "true"`);
 * - warned: a setting of the agent's containers or a feature we do not have.
 * Pure.
 */
import {
  TemplateError,
  defaultAgentTemplate,
  fileNameProblem,
  parseAgentTemplate,
  parseBoolean,
  parseFileMode,
  type AgentFile,
} from '../../../init-binary/src/contract/index.ts';
import { VAULT_K8S_PREFIX } from './annotation-row.ts';
import { MAX_REFERENCES_PER_POD } from './bounds.ts';
import { quote } from './values.ts';

const P = VAULT_K8S_PREFIX;
const INJECT = `${P}agent-inject`;
const SECRET = `${P}agent-inject-secret-`;
const TEMPLATE = `${P}agent-inject-template-`;
const FILE = `${P}agent-inject-file-`;
const PERMS = `${P}agent-inject-perms-`;
const COMMAND = `${P}agent-inject-command-`;
const PRESERVE_CASE = `${P}preserve-secret-case`;
/** The annotations of one secret, after `agent-inject-secret-NAME`. */
const PER_SECRET = [TEMPLATE, FILE, PERMS] as const;

const MIGRATING = 'docs/migrating-from-vault-agent-injector.md';
const NO_AGENT = `a setting of the Vault Agent containers, which this webhook does not add: the init program in each container logs in and renders the files itself (${MIGRATING})`;
/** Whether the pod asks vault-k8s for injection (`agent-inject` as Go's ParseBool reads it). */
function injectOn(annotations: Readonly<Record<string, string>>): boolean {
  const v = annotations[INJECT];
  return v !== undefined && parseBoolean(v.trim()) === true;
}

/** The files of the agent annotations: templates by file name, and modes set by `-perms-`. */
export interface AgentFiles {
  readonly agent: Record<string, AgentFile>;
  readonly modes: Record<string, number>;
  /** The `secret` calls of the templates so far, bounded like references (bounds.ts). */
  readonly calls: { count: number };
}

/** vault-k8s lower-cases a secret's name unless `preserve-secret-case(-NAME)` is true. */
function fileName(an: Readonly<Record<string, string>>, raw: string): string {
  const own = an[`${PRESERVE_CASE}-${raw}`] ?? an[PRESERVE_CASE];
  const preserve = own !== undefined && parseBoolean(own.trim()) === true;
  return an[`${FILE}${raw}`]?.trim() ?? (preserve ? raw : raw.toLowerCase());
}

/** One `agent-inject-secret-RAW`: its file and template, or the problem (pushed). */
function agentFile(
  an: Readonly<Record<string, string>>,
  raw: string,
  out: AgentFiles,
  problems: string[],
): void {
  const key = `${SECRET}${raw}`;
  const file = fileName(an, raw);
  const nameProblem = fileNameProblem(file);
  if (nameProblem !== undefined) {
    const from = an[`${FILE}${raw}`] === undefined ? key : `${FILE}${raw}`;
    problems.push(`annotation ${quote(from)}: the file name ${quote(file)} ${nameProblem}`);
    return;
  }
  if (Object.hasOwn(out.agent, file)) {
    problems.push(`annotation ${key}: another agent-inject-secret already writes ${file}`);
    return;
  }
  const custom = an[`${TEMPLATE}${raw}`];
  const annotation = custom === undefined ? key : `${TEMPLATE}${raw}`;
  const template = custom ?? defaultAgentTemplate((an[key] ?? '').trim());
  try {
    const { calls } = parseAgentTemplate(template);
    out.calls.count += calls.length;
    if (out.calls.count > MAX_REFERENCES_PER_POD) {
      throw new TemplateError(
        `the pod's templates make more than ${MAX_REFERENCES_PER_POD} secret calls, the most one pod may make`,
      );
    }
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    problems.push(`annotation ${annotation}: ${err.message}`);
    return;
  }
  const perms = an[`${PERMS}${raw}`];
  if (perms !== undefined) {
    const mode = parseFileMode(perms);
    if (mode === undefined) {
      problems.push(`annotation ${PERMS}${raw}: ${quote(perms)} is not an octal file mode (0400)`);
      return;
    }
    out.modes[file] = mode;
  }
  out.agent[file] = { template, annotation };
}

/**
 * The files the pod's `agent-inject-secret-NAME` annotations ask for, or undefined when there
 * are none (or `agent-inject` is not true: see the warnings). Problems (a bad file name, a
 * template construct we do not have, a bad mode) are pushed, naming the annotation.
 */
export function agentFilesOf(
  annotations: Readonly<Record<string, string>> | undefined,
  problems: string[],
): AgentFiles | undefined {
  const an = annotations ?? {};
  if (!injectOn(an)) return undefined;
  const out: AgentFiles = { agent: {}, modes: {}, calls: { count: 0 } };
  for (const key of Object.keys(an)) {
    if (!key.startsWith(SECRET)) continue;
    const raw = key.slice(SECRET.length);
    if (raw !== '') agentFile(an, raw, out, problems);
  }
  return Object.keys(out.agent).length === 0 ? undefined : out;
}

/** The warning for one annotation of the secret-files family, or undefined when it is used. */
function fileFamilyWarning(an: Readonly<Record<string, string>>, key: string): string | undefined {
  if (!injectOn(an)) {
    return `annotation ${key} ignored: ${INJECT} is not "true" (the Vault Agent Injector would not act on it either)`;
  }
  const family = PER_SECRET.find((p) => key.startsWith(p));
  if (family === undefined) return undefined;
  const raw = key.slice(family.length);
  if (an[`${SECRET}${raw}`] !== undefined) return undefined;
  return `annotation ${key} ignored: there is no ${SECRET}${raw}`;
}

function boolWarning(key: string, value: string, want: boolean, why: string): string | undefined {
  return parseBoolean(value.trim()) === want
    ? undefined
    : `annotation ${key}: ${quote(value)} ignored: ${why}`;
}

/** What the webhook says of one `vault.hashicorp.com/` annotation it does not read as an alias. */
function warningOf(
  an: Readonly<Record<string, string>>,
  key: string,
  value: string,
): string | undefined {
  const templateFile = key.startsWith(`${TEMPLATE}file-`);
  if (!templateFile && (key.startsWith(SECRET) || PER_SECRET.some((p) => key.startsWith(p)))) {
    return fileFamilyWarning(an, key);
  }
  if (key === PRESERVE_CASE || key.startsWith(`${PRESERVE_CASE}-`)) return undefined;
  if (key.startsWith(`${TEMPLATE}file-`)) {
    return `annotation ${key} ignored: a template is not read from a file in the container; write it in ${TEMPLATE}NAME`;
  }
  if (key.startsWith(`${P}secret-volume-path-`)) {
    return `annotation ${key} ignored: every file goes to the pod's secrets directory (${P}secret-volume-path or vault-inject.dev/secrets-dir)`;
  }
  if (key.startsWith(COMMAND)) {
    return `annotation ${key} ignored: no command runs after a file is rendered; the files are whole before the app starts, so run it at the start of the app's command instead`;
  }
  switch (key) {
    case `${P}agent-pre-populate`:
      return boolWarning(key, value, true, 'the files are always rendered before the app starts');
    case `${P}agent-inject-default-template`:
      return value.trim() === 'map'
        ? undefined
        : `annotation ${key}: ${quote(value)} ignored: only the default "map" rendering is supported; write an agent-inject-template-NAME (e.g. {{ .Data.data | toJSON }})`;
    case `${P}agent-inject-status`:
      return `annotation ${key} ignored: it is written by the Vault Agent Injector, which does not run here`;
  }
  return `annotation ${key} ignored: ${NO_AGENT}`;
}

/**
 * The warnings the pod's `vault.hashicorp.com/` annotations call for, one per annotation;
 * `honoured` holds the names (after the prefix) the annotation table reads as aliases.
 */
export function vaultK8sWarnings(
  annotations: Readonly<Record<string, string>> | undefined,
  honoured: ReadonlySet<string>,
): string[] {
  const an = annotations ?? {};
  const out: string[] = [];
  for (const [key, value] of Object.entries(an)) {
    if (!key.startsWith(P) || honoured.has(key.slice(P.length))) continue;
    const w = warningOf(an, key, value);
    if (w !== undefined) out.push(w);
  }
  return out;
}
