// JSON.parse keeps the last of two equal keys without a word, so a config
// with `"allow"` twice silently loses the first list. This finds the first
// key that repeats in an object of a JSON text (one already known to parse).
export interface DuplicateKey {
  /** The object's path, e.g. ['bottles', 'dev', 'egress']; [] for the top level. */
  path: PropertyKey[];
  key: string;
  line: number;
  column: number;
}

type Frame = { kind: 'object'; path: PropertyKey[]; keys: Set<string>; key: string | undefined } | { kind: 'array'; path: PropertyKey[]; index: number };

export function findDuplicateKey(text: string): DuplicateKey | undefined {
  const stack: Frame[] = [];
  /** The path of a value starting now, in the innermost container. */
  const here = (): PropertyKey[] => {
    const top = stack.at(-1);
    if (!top) return [];
    return top.kind === 'object' ? [...top.path, top.key ?? ''] : [...top.path, top.index];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '{') stack.push({ kind: 'object', path: here(), keys: new Set(), key: undefined });
    else if (c === '[') stack.push({ kind: 'array', path: here(), index: 0 });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',') {
      const top = stack.at(-1);
      if (top?.kind === 'array') top.index++;
      else if (top) top.key = undefined;
    } else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack.at(-1);
      if (top?.kind === 'object' && top.key === undefined) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) {
          const before = text.slice(0, i).split('\n');
          return { path: top.path, key, line: before.length, column: before.at(-1)!.length + 1 };
        }
        top.keys.add(key);
        top.key = key;
      }
      i = j;
    }
  }
  return undefined;
}
