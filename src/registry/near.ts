// Edit distance for "did you mean" suggestions (unknown entry ids, hosts, commands, kinds and
// module names), and the wording of the suggestion.

/** Levenshtein distance between `a` and `b` (insertions, deletions, substitutions cost 1). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** ` (did you mean a?)`, ` (did you mean a or b?)`, or '' when nothing is near. */
export function didYouMean(near: readonly string[]): string {
  if (near.length === 0) return '';
  if (near.length === 1) return ` (did you mean ${near[0]}?)`;
  return ` (did you mean ${near.slice(0, -1).join(', ')} or ${near[near.length - 1]}?)`;
}
