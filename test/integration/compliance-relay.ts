/** Relay drivers for the compliance suite (filled in as the relay services land). */
import type { Driver } from './compliance.test.js'

export const drivers: Driver[] = []
