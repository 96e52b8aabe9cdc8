// Fleet-wide budgets: this cluster's shares of FleetBudgets kept in the fleet store (leases.ts), and the
// arithmetic of their ledgers (grant.ts).
export { DEFAULT_FLEET_TIMEOUT_MS, DEFAULT_LEASE_SECONDS, FleetBudgetLeases, type FleetLeasesOptions } from './leases.js';
export { currentGrant, defaultStep, entryFor, grantFor, othersHeld, withSample, type GrantOutcome } from './grant.js';
