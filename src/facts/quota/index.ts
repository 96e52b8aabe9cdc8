// Quota and cost admission: what a request adds, what its tenant uses, against the tenant's budget.
export { OPENCOST_PRICES, readQuotaData, type Budget, type Prices, type QuotaData } from './data.js';
export { monthlyCost, quotaFacts, shortfall, tenantOf, tenantUsage, TENANT_LABEL, TEAM_LABEL, type QuotaFacts } from './facts.js';
export { NO_FLEET_STORE, type FleetShares, type FleetTenant, type FleetView } from './fleet.js';
export { DEFAULT_RESERVATION_TTL_MS, QuotaLedger, type ObservedClaim, type ObservedPod, type UsageLedger } from './ledger.js';
export { quotaProvider } from './provider.js';
export type { QuotaInputs } from './facts.js';
export { claimDevices, requestedBy, type Claim, type DeviceCounts, type Requested, type ScaleTemplate } from './requested.js';
export { isZero, podUsage, QuantityError, ZERO, type Usage } from './usage.js';
