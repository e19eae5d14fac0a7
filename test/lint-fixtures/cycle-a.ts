// A deliberate import cycle for test/lint/layers.test.ts (lint ignores this folder otherwise).
import { b } from './cycle-b'
export const a = (): number => b() + 1
