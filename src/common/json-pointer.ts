// RFC 6901 JSON pointers. Keys such as `node-role.kubernetes.io/control-plane` must travel as
// `node-role.kubernetes.io~1control-plane`, or the kube-apiserver applies the patch somewhere else.

export function escapePointerSegment(segment: string): string {
  // Most keys have neither character: a search each rather than two replaces (a default's patch
  // formats its pointer on every review that adds it).
  if (!segment.includes('~') && !segment.includes('/')) return segment;
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function formatPointer(segments: readonly (string | number)[]): string {
  let pointer = '';
  for (const segment of segments) pointer += `/${escapePointerSegment(String(segment))}`;
  return pointer;
}

/** Decodes a pointer into its segments; throws on a pointer that does not start with `/` or has a bad escape. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`JSON pointer "${pointer}" must start with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => {
      if (/~[^01]|~$/.test(raw)) throw new Error(`JSON pointer "${pointer}" has an invalid escape (use ~0 for "~" and ~1 for "/")`);
      return raw.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}
