// Kubernetes resource quantities ("500m", "1.5", "128Mi", "1e3") as integers: Canopy compares numbers,
// never strings. Values are in thousandths of the base unit (millicores for CPU, millibytes for memory),
// the resolution Kubernetes itself keeps.

const DECIMAL_SUFFIXES: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?\d+))?$/;

/**
 * The quantity in thousandths of its unit, rounded up as Kubernetes rounds (1n CPU counts as 1m), or
 * undefined when `text` is not a quantity.
 */
export function parseQuantityMilli(text: string): number | undefined {
  const match = QUANTITY.exec(text.trim());
  if (!match) return undefined;
  const [, number = '', suffix = '', exponent] = match;
  const value = Number(number);
  let milli: number;
  if (suffix in BINARY_SUFFIXES) milli = value * 2 ** (BINARY_SUFFIXES[suffix] ?? 0) * 1000;
  else if (exponent !== undefined) milli = value * 10 ** (Number(exponent) + 3);
  else milli = value * 10 ** ((DECIMAL_SUFFIXES[suffix] ?? 0) + 3);
  if (!Number.isFinite(milli)) return undefined;
  return Math.ceil(milli - 1e-9);
}

export function isQuantity(value: unknown): boolean {
  return (typeof value === 'string' && parseQuantityMilli(value) !== undefined) || (typeof value === 'number' && Number.isFinite(value));
}
