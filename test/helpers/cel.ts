// A real CEL evaluator for what the API server evaluates in CEL: a webhook's matchConditions, with
// the variables Kubernetes gives them (object, oldObject, request, authorizer). The same library
// Canopy's declared facts use.
import { Environment } from '@marcbachmann/cel-js';

const environment = new Environment({ unlistedVariablesAreDyn: false })
  .registerVariable('object', 'dyn')
  .registerVariable('oldObject', 'dyn')
  .registerVariable('request', 'dyn')
  .registerVariable('authorizer', 'dyn');

/** Evaluates `expression`; throws on a syntax, type or evaluation error, as the API server would. */
export function evaluateCel(expression: string, variables: Record<string, unknown>): unknown {
  const program = environment.parse(expression);
  const checked = program.check();
  if (!checked.valid) throw checked.error ?? new Error(`invalid CEL: ${expression}`);
  return program(variables);
}
