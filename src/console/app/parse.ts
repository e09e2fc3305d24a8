/** Parsers of what operators type (no DOM: unit-tested in node). */

const SEARCH_OPS: Record<string, string> = { '=': 'eq', '!=': 'ne', '^=': 'prefix', '<': 'lt', '>': 'gt', '<=': 'lte', '>=': 'gte' };

/**
 * Reads the quick search box: `Name=value` (or !=, ^=, <, >, <=, >=, or `Name eq value`) becomes a
 * parameter condition; anything else searches device ids.
 */
export function parseSearch(text: string): { q?: string; where?: string } {
  const t = text.trim();
  if (!t) return {};
  const symbolic = /^([A-Za-z_][\w-]*(?:\.[\w-]+)+)\s*(!=|\^=|<=|>=|=|<|>)\s*(.*)$/.exec(t);
  if (symbolic) return { where: `${symbolic[1]} ${SEARCH_OPS[symbolic[2]]} ${symbolic[3]}` };
  const worded = /^([A-Za-z_][\w-]*(?:\.[\w-]+)+)\s+(eq|ne|prefix|lt|gt|lte|gte)\s+(.*)$/.exec(t);
  if (worded) return { where: `${worded[1]} ${worded[2]} ${worded[3]}` };
  return { q: t };
}

/** Reads "1, 10%, 100%" into stages. @returns the stages, or a sentence saying what is wrong. */
export function parseStages(text: string): { stages: { count?: number; percent?: number }[] } | { error: string } {
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) return { error: 'Give at least one stage, e.g. "1, 10%, 100%".' };
  const stages: { count?: number; percent?: number }[] = [];
  for (const p of parts) {
    const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(p);
    if (!m) return { error: `"${p}" is not a device count or a percentage.` };
    stages.push(m[2] ? { percent: Number(m[1]) } : { count: Number(m[1]) });
  }
  return { stages };
}
