/** The device models the benchmarks simulate. */

/** Periodic-session benchmarks: every Grandstream profile, round-robin (their Informs differ slightly). */
export const SESSION_MODELS = ['HT502', 'HT503', 'GXW4004', 'GXW4008', 'GXP2110', 'GXP2120', 'GXP2130', 'GXP2140', 'GXP2160', 'GXP2170', 'GXV3140'];

/** The storm provisions one SIP account on line 1 of an HT502 (TR-104 paths of sip-accounts.ts). */
export const STORM_MODEL = 'HT502';
