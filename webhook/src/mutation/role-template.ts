/**
 * The `role` setting as a Go template, rendered as Bank-Vaults' webhook renders `vault-role`
 * (text/template with `missingkey=error` over five fields: `authmethod`, `name`, `namespace`,
 * `path`, `serviceaccount`), e.g. `{{.namespace}}-app`. The webhook renders it, so the init
 * program gets a plain role. Only field actions (`{{.namespace}}`, `{{ .name }}`, with `{{-`/`-}}`
 * trimming) and comments are supported: any other action is refused, as is a field Bank-Vaults
 * does not offer, so a role never goes to Vault half rendered.
 */
import { ValueError, quote } from './values.ts';

/** The fields Bank-Vaults offers, and what each holds. */
export const ROLE_FIELDS = ['authmethod', 'name', 'namespace', 'path', 'serviceaccount'] as const;
export type RoleFields = Readonly<Record<(typeof ROLE_FIELDS)[number], string>>;

const ACTION = /\{\{(-[ \t\r\n])?([\s\S]*?)([ \t\r\n]-)?\}\}/g;
const FIELD = /^\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*$/;
const COMMENT = /^\/\*[\s\S]*\*\/$/;

/** Whether `role` holds a template action at all (a plain role is left as written). */
export function isTemplate(role: string): boolean {
  return role.includes('{{');
}

function field(inner: string, fields: RoleFields, used: Set<string>): string {
  if (COMMENT.test(inner)) return '';
  const m = FIELD.exec(inner);
  if (!m) {
    throw new ValueError(
      `template action ${quote(`{{${inner}}}`)} is not supported: only fields such as {{.namespace}} (${ROLE_FIELDS.join(', ')})`,
    );
  }
  const name = m[1] as string;
  if (!(ROLE_FIELDS as readonly string[]).includes(name)) {
    throw new ValueError(
      `template names the field ${quote(name)}, which does not exist (fields: ${ROLE_FIELDS.join(', ')})`,
    );
  }
  used.add(name);
  return fields[name as keyof RoleFields];
}

/**
 * `template` rendered with `fields`; the names of the fields it used. Throws a ValueError for an
 * unclosed action, an unsupported action or an unknown field.
 */
export function renderRole(
  template: string,
  fields: RoleFields,
): { role: string; used: ReadonlySet<string> } {
  const used = new Set<string>();
  let out = '';
  let last = 0;
  for (const m of template.matchAll(ACTION)) {
    let before = template.slice(last, m.index);
    if (m[1] !== undefined) before = before.trimEnd();
    out += before + field(m[2] ?? '', fields, used);
    last = m.index + m[0].length;
    if (m[3] !== undefined) {
      const rest = template.slice(last);
      last += rest.length - rest.trimStart().length;
    }
  }
  const tail = template.slice(last);
  if (tail.includes('{{')) throw new ValueError('template has an unclosed action ({{ without }})');
  return { role: out + tail, used };
}
