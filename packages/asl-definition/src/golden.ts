import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { StateMachineDefinition } from './definition.js';

/** Absolute path of the reviewed `state_machine_definition.json` shipped with the package. */
export const GOLDEN_DEFINITION_PATH = fileURLToPath(new URL('../state_machine_definition.json', import.meta.url));

/** The reviewed definition, placeholders unfilled: what CDK deploys and the local engine runs. */
export function readGoldenDefinition(): StateMachineDefinition {
  return JSON.parse(readFileSync(GOLDEN_DEFINITION_PATH, 'utf8')) as StateMachineDefinition;
}
