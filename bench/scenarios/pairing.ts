// PLACEHOLDER: the pairing benchmark scenarios.
import type { Scenario } from '../types.js'

export const scenarios: Scenario[] = []
