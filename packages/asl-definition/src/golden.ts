import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { StateMachineDefinition } from './definition.js';

/** Absolute path of the reviewed `state_machine_definition.json` shipped with the package. */
export const GOLDEN_DEFINITION_PATH = fileURLToPath(new URL('../state_machine_definition.json', import.meta.url));

/** The reviewed definition with four ticker partitions (`buildDefinition({ partitions: 4 })`). */
export const GOLDEN_PARTITIONED_DEFINITION_PATH = fileURLToPath(new URL('../state_machine_definition.p4.json', import.meta.url));

/** The reviewed definition, placeholders unfilled: what CDK deploys and the local engine runs (`partitioned`: the P = 4 golden). */
export function readGoldenDefinition(options: { partitioned?: boolean } = {}): StateMachineDefinition {
  return JSON.parse(readFileSync(options.partitioned ? GOLDEN_PARTITIONED_DEFINITION_PATH : GOLDEN_DEFINITION_PATH, 'utf8')) as StateMachineDefinition;
}
