// `--namespace-labels k=v,...`: what a cluster would say of a namespace, for commands that run without one.

/** "team=a,canopy.io/data-class=restricted" → labels. */
export function parseLabels(text: string): Record<string, string> | string {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',').map((part) => part.trim()).filter((part) => part !== '')) {
    const equals = pair.indexOf('=');
    if (equals <= 0) return `expected key=value[,key=value...], got ${JSON.stringify(pair)}`;
    labels[pair.slice(0, equals).trim()] = pair.slice(equals + 1).trim();
  }
  return labels;
}
