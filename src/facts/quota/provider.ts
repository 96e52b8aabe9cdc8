// Quota and cost as a fact source: data/prices.yaml and data/budgets.yaml, `context.quota`.
import type { FactProvider } from '../provider.js';
import type { QuotaData } from './data.js';
import { BUDGETS_DATA, PRICES_DATA, readQuotaData } from './data.js';
import { quotaFacts, type QuotaFacts, type QuotaInputs } from './facts.js';

export const quotaProvider: FactProvider<QuotaData, QuotaInputs, QuotaFacts> = {
  name: 'quota',
  dataKeys: ['prices', 'budgets'],
  dataSchemas: { prices: PRICES_DATA, budgets: BUDGETS_DATA },
  contextAttribute: 'quota',
  read: (data) => {
    const read = readQuotaData(data);
    return { data: read.quota, problems: read.problems };
  },
  derive: (request, data, inputs) => quotaFacts(data, request, inputs),
};
