// Canopy's error base and the message of anything thrown.
export { CanopyError, inBackground, messageOf } from './errors.js';
