/** Replaces every secret value in a line with ******** before it leaves the executor. */
export function createMasker(secrets: string[]): (line: string) => string {
  const values = [...new Set(secrets.flatMap((s) => [s, ...s.split('\n').map((part) => part.trim())]))]
    .filter((value) => value.length >= 3)
    .sort((a, b) => b.length - a.length);
  if (values.length === 0) return (line) => line;
  return (line) => {
    let out = line;
    for (const value of values) if (out.includes(value)) out = out.split(value).join('********');
    return out;
  };
}
