/**
 * What the webhook and the init program share, and all the webhook may import from init-binary
 * (eslint.config.js enforces it): the names of the pod spec and the init program's environment,
 * the reference grammar, the value parsers and the error base. Pure: no I/O, no process state.
 */
export * from './errors.ts';
export * from './limits.ts';
export * from './names.ts';
export * from './paths.ts';
export * from './references.ts';
export * from './templates.ts';
export * from './values.ts';
export * from './proxy.ts';
export * from './secret-files.ts';
export * from './agent-template.ts';
export * from './agent-render.ts';
export * from './refresh.ts';
