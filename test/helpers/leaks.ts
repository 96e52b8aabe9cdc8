// Looking for planted secrets in what a program wrote: the plaintext, and its base64 at every alignment
// (a Secret's data is base64; a Basic auth header is base64 of "user:password"), so a secret is found
// however it was embedded.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * The plaintext, and the part of its base64 (standard and URL-safe) that does not depend on the
 * bytes around it, for each of the three offsets it can start at within a 3-byte group.
 */
export function encodedForms(secret: string): string[] {
  const forms = new Set([secret]);
  for (let offset = 0; offset < 3; offset++) {
    const bytes = Buffer.concat([Buffer.alloc(offset), Buffer.from(secret, 'utf8')]);
    let text = bytes.toString('base64').replace(/=+$/, '');
    // The first group mixes in the bytes before; a last partial group, the bytes after.
    if (bytes.length % 3 !== 0) text = text.slice(0, Math.floor(bytes.length / 3) * 4);
    if (offset > 0) text = text.slice(4);
    forms.add(text);
    forms.add(text.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return [...forms];
}

export interface Leak {
  /** Which output: a process's stream, an HTTP answer, a file. */
  output: string;
  /** The planted secret's label. */
  secret: string;
  /** The text found: the plaintext or one of its base64 forms. */
  form: string;
  /** Where in the output. */
  at: number;
  /** About 100 characters around it. */
  context: string;
}

/** Every occurrence of every form of every secret in every output. */
export function findLeaks(outputs: ReadonlyMap<string, string>, secrets: Readonly<Record<string, string>>): Leak[] {
  const leaks: Leak[] = [];
  for (const [label, secret] of Object.entries(secrets)) {
    for (const form of encodedForms(secret)) {
      for (const [output, text] of outputs) {
        for (let at = text.indexOf(form); at >= 0; at = text.indexOf(form, at + 1)) {
          const context = text.slice(Math.max(0, at - 50), at + form.length + 50).replace(/\s+/g, ' ');
          leaks.push({ output, secret: label, form: form === secret ? 'plaintext' : `base64 ${form}`, at, context });
        }
      }
    }
  }
  return leaks;
}

export function describeLeaks(leaks: readonly Leak[]): string {
  return leaks.map((leak) => `${leak.secret} (${leak.form}) in ${leak.output}:\n    …${leak.context}…`).join('\n');
}

/** Every file under `dir` (recursively) as text, by path; nothing when it does not exist. */
export function readTree(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return files;
  }
  for (const name of names.sort()) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) for (const [inner, text] of readTree(file)) files.set(inner, text);
    else files.set(file, readFileSync(file).toString('latin1'));
  }
  return files;
}
