/**
 * Request encoding for RetailCRM API v5 (contract §1.3).
 * POST: application/x-www-form-urlencoded; top-level fields are plain strings and every entity object/array is
 * ONE field whose value is a JSON string (`event={"type":"in",…}`), never nested form fields (RetailCRM then
 * answers "Parameter 'event' is missing").
 * GET: bracket notation for nested values (`filter[ids][]=1`), booleans as 1/0 (the official PHP client's form).
 */

export type QueryScalar = string | number | boolean | null | undefined;
export type QueryValue = QueryScalar | readonly QueryValue[] | { readonly [key: string]: QueryValue };
export type QueryParams = { readonly [key: string]: QueryValue };

/** A POST field: scalars go as plain text, objects and arrays as JSON text; undefined/null fields are left out. */
export type FormValue = string | number | boolean | null | undefined | object;
export type FormFields = { readonly [key: string]: FormValue };

function scalarText(value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new TypeError(`cannot encode non-finite number ${value}`);
  }
  return String(value);
}

/** Encodes a POST body. Objects/arrays become JSON strings in their field (contract: JSON-in-field). */
export function encodeForm(fields: FormFields): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    const text =
      typeof value === 'object' ? JSON.stringify(value) : scalarText(value as string | number | boolean);
    parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(text)}`);
  }
  return parts.join('&');
}

// Brackets stay literal for readability in logs and recorded requests; PHP accepts both forms.
function encodeKey(key: string): string {
  return encodeURIComponent(key).replace(/%5B/gi, '[').replace(/%5D/gi, ']');
}

function appendQuery(parts: string[], key: string, value: QueryValue): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value as readonly QueryValue[]) {
      if (item !== null && typeof item === 'object') {
        throw new TypeError(`cannot encode nested structure inside array ${key}[]`);
      }
      appendQuery(parts, `${key}[]`, item);
    }
    return;
  }
  if (typeof value === 'object') {
    for (const [child, childValue] of Object.entries(value as { readonly [key: string]: QueryValue })) {
      appendQuery(parts, `${key}[${child}]`, childValue);
    }
    return;
  }
  parts.push(`${encodeKey(key)}=${encodeURIComponent(scalarText(value as string | number | boolean))}`);
}

/** Encodes GET parameters without the leading `?`; an empty string when nothing is left. */
export function encodeQuery(params: QueryParams): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(params)) appendQuery(parts, key, value);
  return parts.join('&');
}
