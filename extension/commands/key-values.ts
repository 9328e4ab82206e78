/** "key=value key2 ..." as typed in an input box (a bare key is `true`). */
export function parseKeyValues(s: string): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (const part of s.split(/\s+/).filter(Boolean)) {
    const m = /^([A-Za-z][A-Za-z0-9]*)(?:=(.*))?$/.exec(part);
    if (!m) throw new Error(`"${part}" is not key=value`);
    out[m[1]] = m[2] === undefined ? true : m[2];
  }
  return out;
}
