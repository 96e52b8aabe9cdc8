// The one interface every source of facts keeps (sovereignty, quota, supply chain; declared facts and
// the fleet context have the same parts, wired where their inputs are): the policy data it reads and
// checks when a set loads, the attribute of the Cedar context it fills (its schema fragment: the
// schema must declare it), and a pure derivation from the request, its data and what the pipeline
// gathered and derived before it. Asynchronous gathering (informers, registry look-ups) happens
// before, within the request's deadline, behind the pipeline's `facts` option.
import type { TSchema } from 'typebox';
import type { AdmissionRequest } from '../kubernetes/admission/index.js';

export interface FactProvider<Data, Inputs, Derived> {
  /** Its name in messages, and where its data is kept in a checked policy set. */
  readonly name: string;
  /** The policy data files it reads: data/<file>.yaml (or .json), by the key the data tree uses. */
  readonly dataKeys: readonly string[];
  /**
   * The shape of each of those files, by the same key: `read` checks the data against it, and it is
   * published as policies/schemas/<key>.schema.json for editors (npm run schemas).
   */
  readonly dataSchemas: Readonly<Record<string, TSchema>>;
  /** The optional attribute of k8s::AdmissionContext that its derivation fills (`context.sovereignty`). */
  readonly contextAttribute: string;
  /** Reads and checks its policy data at load; any problem refuses the set, naming the data file. */
  read(data: Readonly<Record<string, unknown>>): { data?: Data; problems: string[] };
  /** Derives its facts for one request; undefined when it has nothing to say about it. Throws only on unreadable input. */
  derive(request: AdmissionRequest, data: Data | undefined, inputs: Inputs): Derived | undefined;
}
