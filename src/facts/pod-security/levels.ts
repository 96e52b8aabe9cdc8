// The Pod Security levels and modes, and the namespace labels that set them, as upstream names them.
export const LEVELS = ['privileged', 'baseline', 'restricted'] as const;
export type Level = (typeof LEVELS)[number];
export const MODES = ['enforce', 'warn', 'audit'] as const;
export type Mode = (typeof MODES)[number];
export const LEVEL_LABEL_PREFIX = 'pod-security.kubernetes.io/';

