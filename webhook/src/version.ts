import pkg from '../../package.json' with { type: 'json' };

/** The package version; the default init image tag matches it. */
export const VERSION: string = pkg.version;
