/**
 * `${NAME}` substitution as Asterisk evaluates a `GET FULL VARIABLE` expression, for the fakes: nested (the name
 * is substituted first, then looked up), with `LEN(x)` the one function evaluated (bytes, as Asterisk's strlen).
 */
export function substituteExpression(template: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let i = 0;
  while (i < template.length) {
    if (!template.startsWith('${', i)) {
      out += template[i];
      i++;
      continue;
    }
    let depth = 1;
    let j = i + 2;
    for (; j < template.length && depth > 0; j++) {
      if (template.startsWith('${', j)) {
        depth++;
        j++;
      } else if (template[j] === '}') depth--;
    }
    const name = substituteExpression(template.slice(i + 2, j - 1), lookup);
    const len = /^LEN\((.*)\)$/s.exec(name);
    out += len ? String(Buffer.byteLength(len[1] ?? '')) : (lookup(name) ?? '');
    i = j;
  }
  return out;
}
