/**
 * The configuration of `vault-inject webhook`, parsed once into a frozen, typed object from flags
 * and environment variables (the flag wins). One section per concern under config/: injection
 * (what goes into a pod), server (listeners, certificates, deadline, connection limits), registry
 * (image lookups). A bad configuration is refused with one error that names every bad flag or
 * variable and why. docs/configuration.md lists every flag; a unit test keeps the two in step.
 */
import type { InjectionConfig } from './mutation/settings.ts';
import { ErrorCode, WebhookError } from './errors.ts';
import {
  Problems,
  readArgs,
  type FlagSection,
  type FlagSpec,
  type FlagValues,
} from './config/flags.ts';
import { E, INJECTION_FLAGS, INJECTION_SECTIONS, readInjection } from './config/injection.ts';
import { REGISTRY_FLAGS, readRegistry, type RegistryConfig } from './config/registry.ts';
import {
  SERVER_FLAGS,
  SERVER_SECTIONS,
  listenAddress,
  readServer,
  type ListenAddress,
  type ServerConfig,
} from './config/server.ts';

export { FlagValues, type FlagSpec } from './config/flags.ts';
export { injectionConfig } from './config/injection.ts';
export { registryConfig, type RegistryConfig } from './config/registry.ts';
export {
  serverConfig,
  type ConnectionLimits,
  type ListenAddress,
  type ServerConfig,
} from './config/server.ts';
export { parseDuration } from './config/values.ts';

export interface Config {
  readonly injection: InjectionConfig;
  readonly server: ServerConfig;
  readonly registry: RegistryConfig;
  readonly logLevel: string;
}

const LOG_FLAGS = [
  {
    flag: 'log-level',
    env: E('LOG_LEVEL'),
    default: 'info',
    help: 'trace, debug, info, warn, error',
  },
] as const satisfies readonly FlagSpec[];

/** Every flag of `vault-inject webhook` (the first section is also `vault-inject mutate`'s). */
export const FLAGS = [
  ...INJECTION_FLAGS,
  ...SERVER_FLAGS,
  ...REGISTRY_FLAGS,
  ...LOG_FLAGS,
] as const satisfies readonly FlagSpec[];

export type FlagName = (typeof FLAGS)[number]['flag'];

/** The webhook's flags in the groups `vault-inject webhook --help` shows. */
export const FLAG_SECTIONS: readonly FlagSection[] = [
  ...INJECTION_SECTIONS,
  ...SERVER_SECTIONS,
  { title: 'registry (the command of a container without one)', flags: REGISTRY_FLAGS },
  { title: 'logging', flags: LOG_FLAGS },
];

/**
 * The webhook's flags (plus `extra`) from `argv` and `env`. Never throws: what is wrong with argv
 * is reported by the section parsers together with the values' problems.
 */
export function readFlags(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  extra: readonly FlagSpec[] = [],
): { flags: FlagValues; positional: string[] } {
  return readArgs([...FLAGS, ...extra], argv, env);
}

/** `HOST:PORT` → address; throws E_CONFIG naming `flag` otherwise. */
export function parseListen(text: string, flag = 'listen'): ListenAddress {
  const address = listenAddress(text);
  if (!address) throw new WebhookError(ErrorCode.CONFIG, `--${flag}: "${text}" is not HOST:PORT`);
  return address;
}

/** The whole configuration of `vault-inject webhook`; throws naming every bad value. */
export function parseConfig(flags: FlagValues): Config {
  const p = new Problems<FlagName>(flags);
  const server = readServer(p);
  const registry = readRegistry(p);
  const injection = readInjection(p);
  const logLevel = p.oneOf('log-level', ['trace', 'debug', 'info', 'warn', 'error']);
  // A lookup that may outlive the review would turn a slow registry into E_DEADLINE, whatever
  // the failure policy says.
  if (registry.timeoutMs >= server.requestDeadlineMs) {
    p.addText(
      `--registry-timeout (${registry.timeoutMs} ms) must be shorter than --request-deadline (${server.requestDeadlineMs} ms)`,
    );
  }
  p.throwIfAny();
  return Object.freeze({ injection, server, registry, logLevel });
}
