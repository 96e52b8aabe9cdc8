// Canopy's error base and the message of anything thrown.
export { CanopyError, messageOf } from './errors.js';
