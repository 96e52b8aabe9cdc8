// Mutations: Cedar decides when, a reviewed patch says what.
export { findStaticConflicts } from './conflicts.js';
export { templateContext } from './context.js';
export { renderTemplates, TemplateError } from '../templates/index.js';
export { MUTATORS } from './mutators/index.js';
export { MutationError, runMutations, type MutationInputs, type MutationRun } from './run.js';
export { readMutationSpec, type MutationChange, type MutationSpec, type PatchOperationTemplate } from './spec.js';
