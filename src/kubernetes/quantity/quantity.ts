// Kubernetes resource quantities ("500m", "1.5", "128Mi", "1e3", "2Ei") as exact integers: Canopy
// compares numbers, never strings. Parsing is exact (BigInt), in thousandths of the base unit (the
// resolution Kubernetes keeps), rounding up as Kubernetes does; callers convert to millicores, bytes
// or counts.

const DECIMAL_EXPONENTS: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_EXPONENTS: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

// <sign><digits>[.<digits>] then a binary suffix, a decimal suffix, or an exponent (e3, E-2).
const QUANTITY = /^([+-]?)(\d*)(?:\.(\d*))?(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?\d+))?$/;

/** a / b rounded up (toward +infinity for a >= 0, as Kubernetes rounds quantities). */
export const ceilDiv = (a: bigint, b: bigint): bigint => (a >= 0n ? (a + b - 1n) / b : a / b);

/** The quantity in thousandths of its unit (1 → 1000, 500m → 500, 1Ki → 1024000), or undefined. */
export function parseQuantity(text: string): bigint | undefined {
  const match = QUANTITY.exec(text.trim());
  if (!match) return undefined;
  const [, sign = '', whole = '', fraction = '', suffix = '', exponent] = match;
  if (whole === '' && fraction === '') return undefined;
  let numerator = BigInt(`${whole}${fraction}` || '0') * 1000n;
  let denominator = 10n ** BigInt(fraction.length);
  if (suffix in BINARY_EXPONENTS) numerator *= 2n ** BigInt(BINARY_EXPONENTS[suffix] ?? 0);
  else {
    const power = exponent !== undefined ? Number(exponent) : (DECIMAL_EXPONENTS[suffix] ?? 0);
    if (Math.abs(power) > 100) return undefined;
    if (power >= 0) numerator *= 10n ** BigInt(power);
    else denominator *= 10n ** BigInt(-power);
  }
  const milli = ceilDiv(numerator, denominator);
  return sign === '-' ? -milli : milli;
}

/** As parseQuantity, as a Number; undefined also when it is too large to be exact. */
export function parseQuantityMilli(text: string): number | undefined {
  const milli = parseQuantity(text);
  if (milli === undefined || milli > BigInt(Number.MAX_SAFE_INTEGER) || milli < -BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return Number(milli);
}

export function isQuantity(value: unknown): boolean {
  return (typeof value === 'string' && parseQuantity(value) !== undefined) || (typeof value === 'number' && Number.isFinite(value));
}

/** A quantity value from an object (a string, or a number as YAML writes `cpu: 2`) in thousandths. */
export function quantityValue(value: unknown): bigint | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return parseQuantity(String(value));
  return typeof value === 'string' ? parseQuantity(value) : undefined;
}

/** Thousandths → whole units, rounding up: bytes from memory, a count from GPUs. */
export const wholeUnits = (milli: bigint): bigint => ceilDiv(milli, 1000n);

/** Millicores as Kubernetes writes them: "1500m", or "2" when whole. */
export function formatCpu(millicores: bigint | number): string {
  const value = BigInt(millicores);
  return value % 1000n === 0n ? `${value / 1000n}` : `${value}m`;
}

/** Bytes in the largest binary unit that keeps them exact ("3Gi", "1536Mi"), or plain bytes. */
export function formatBytes(bytes: bigint | number): string {
  let value = BigInt(bytes);
  if (value === 0n) return '0';
  for (const unit of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const size = 2n ** BigInt(BINARY_EXPONENTS[unit] ?? 0);
    if (value % size === 0n) return `${value / size}${unit}`;
  }
  return `${value}`;
}

/** A decimal amount ("0.031611", 0.5) → micro-units, exactly; undefined when not one with at most 6 decimals. Prices and budgets' money. */
export function micros(value: unknown): bigint | undefined {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^\d+(\.\d{1,6})?$/.test(text)) return undefined;
  const [whole = '0', fraction = ''] = text.split('.');
  return BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
}
