/**
 * Vault's error texts are printed in the failure line, and a server (or a proxy in front of it)
 * may echo what it was sent. Before printing, every credential this run holds (the token, the
 * login's JWT, role ID and secret ID) is cut out where it appears, and so is anything shaped like
 * one (a Vault or OpenBao token, a JWT, a UUID such as an AppRole secret ID).
 */

export const REDACTED = '[redacted]';

const SHAPES: readonly RegExp[] = [
  // Vault and OpenBao tokens: service, batch and recovery (hvs., hvb., hvr.; legacy s., b., r.).
  /\b(?:hv[sbr]|[sbr])\.[A-Za-z0-9_-]{16,}/g,
  // A JWT (a service account token): base64url header and payload, signature.
  /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g,
  // A UUID: AppRole secret IDs and role IDs, accessor-less legacy tokens.
  /\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b/g,
];

/** `text` with every one of `secrets` (those of 4 characters or more) and every shape cut out. */
export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  // Longest first, so a secret that contains another is cut whole.
  const known = [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  for (const secret of known) out = out.split(secret).join(REDACTED);
  for (const shape of SHAPES) out = out.replace(shape, REDACTED);
  return out;
}
