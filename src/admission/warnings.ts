// Warnings as the kube-apiserver accepts them: it silently drops a warning that holds control characters,
// cuts each one at 256 characters and stops adding them past about 4 KiB in total. We clean them up
// ourselves so that what the user sees is what the policy meant, not a truncated or missing line.

/** The apiserver cuts each warning at this many characters (runes). */
export const MAX_WARNING_CHARACTERS = 256;
/** Warnings are meant to be read in a terminal: keep generated ones under this where possible. */
export const PREFERRED_WARNING_CHARACTERS = 120;
/** The apiserver truncates the warning header once all warnings together pass this many characters. */
export const MAX_TOTAL_WARNING_CHARACTERS = 4096;

// C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;
const RUNS_OF_SPACES = / {2,}/g;

function characterCount(text: string): number {
  let surrogates = 0;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit >= 0xdc00 && unit <= 0xdfff) surrogates++;
  }
  return text.length - surrogates;
}

/** Cuts `text` to at most `limit` characters (code points, like Go's runes), ending with an ellipsis when cut. */
export function truncateCharacters(text: string, limit: number): string {
  if (text.length <= limit) return text; // UTF-16 length >= code point count
  const characters = Array.from(text);
  if (characters.length <= limit) return text;
  return `${characters.slice(0, limit - 1).join('').trimEnd()}…`;
}

/** What makes sanitizeWarning change a warning of at most 256 UTF-16 units: a control character, two spaces, whitespace at an end. */
const NEEDS_CLEANING = new RegExp(`${CONTROL_CHARACTERS.source}| {2}|^\\s|\\s$`);

/** One warning made safe: control characters become spaces, spaces are collapsed, the text is cut at 256. */
export function sanitizeWarning(text: string): string {
  // Most warnings are clean already (the policies' messages are made one line): one scan, no copies.
  if (text.length <= MAX_WARNING_CHARACTERS && !NEEDS_CLEANING.test(text)) return text;
  const flat = text.replace(CONTROL_CHARACTERS, ' ').replace(RUNS_OF_SPACES, ' ').trim();
  return truncateCharacters(flat, MAX_WARNING_CHARACTERS);
}

/**
 * Cleans, deduplicates (after cleaning, keeping the first occurrence's order) and bounds a list of warnings.
 * When the total would pass the apiserver's header budget, the rest is summarised in one last warning.
 */
export function sanitizeWarnings(warnings: Iterable<string>): string[] {
  // One warning (the usual case when there is any): nothing to deduplicate, and one cleaned warning
  // (at most 256 characters) is far inside the total.
  if (Array.isArray(warnings) && warnings.length === 1) {
    const warning = sanitizeWarning(warnings[0] as string);
    return warning === '' ? [] : [warning];
  }
  const seen = new Set<string>();
  const result: string[] = [];
  let total = 0;
  let omitted = 0;
  for (const raw of warnings) {
    const warning = sanitizeWarning(raw);
    if (warning === '' || seen.has(warning)) continue;
    seen.add(warning);
    const size = characterCount(warning);
    // Keep room for the summary line.
    if (omitted > 0 || total + size > MAX_TOTAL_WARNING_CHARACTERS - 64) {
      omitted++;
      continue;
    }
    total += size;
    result.push(warning);
  }
  if (omitted > 0) result.push(`${omitted} more warning${omitted === 1 ? '' : 's'} omitted`);
  return result;
}
