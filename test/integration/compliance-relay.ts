/** Relay drivers for the compliance suite: TURN allocations and pairings over each transport. */
import type { Driver } from './compliance.test.js'
import { turnDriver } from './turn-compliance.js'

export const drivers: Driver[] = [turnDriver]
