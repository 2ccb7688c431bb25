/**
 * The state machine definition comes from `@fibbars/asl-definition`: the
 * reviewed golden `state_machine_definition.json` is what gets deployed. This
 * module checks that its placeholders are exactly the ones the stack fills
 * through `definitionSubstitutions`.
 */
import {
  MAX_DEFINITION_PARTITIONS,
  SUBSTITUTION_KEYS,
  buildDefinition,
  readGoldenDefinition,
  type StateMachineDefinition,
  type SubstitutionKey,
} from '@fibbars/asl-definition';

export { SUBSTITUTION_KEYS, type SubstitutionKey };

export type AslDefinition = StateMachineDefinition;

/** Every `${Name}` placeholder in a definition, sorted and unique. */
export function placeholdersOf(definition: AslDefinition): string[] {
  const found = new Set<string>();
  for (const match of JSON.stringify(definition).matchAll(/\$\{([A-Za-z0-9_]+)\}/g)) {
    if (match[1] !== undefined) found.add(match[1]);
  }
  return [...found].sort();
}

/** Throws when the definition uses a placeholder the stack does not fill. */
export function checkPlaceholders(definition: AslDefinition): void {
  const known = new Set<string>(SUBSTITUTION_KEYS);
  const unknown = placeholdersOf(definition).filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new Error(`state machine definition uses placeholders the stack does not fill: ${unknown.join(', ')}`);
  }
}

/**
 * The reviewed golden definition of `@fibbars/asl-definition`, checked; with
 * `partitions` > 1 (CDK context `partitions`), the definition generated for
 * that many ticker partitions (its P = 4 form is the package's second golden).
 */
export function loadDefinition(options: { partitions?: number; maxConcurrency?: number } = {}): AslDefinition {
  const partitions = options.partitions ?? 1;
  const definition =
    partitions === 1 && options.maxConcurrency === undefined
      ? readGoldenDefinition()
      : buildDefinition({ partitions, ...(options.maxConcurrency !== undefined ? { maxConcurrency: options.maxConcurrency } : {}) });
  checkPlaceholders(definition);
  return definition;
}

/** Whether the definition holds a Distributed Map (its child executions need their own permissions). */
export function usesDistributedMap(definition: AslDefinition): boolean {
  return JSON.stringify(definition).includes('"Mode":"DISTRIBUTED"');
}

/**
 * The partition settings from CDK context: `partitions` (default 1) and
 * `mapMaxConcurrency` (default: all partitions at once), e.g. `-c partitions=4`.
 */
export function partitionContext(context: (key: string) => unknown): { partitions: number; maxConcurrency?: number } {
  const read = (key: string): number | undefined => {
    const value = context(key);
    if (value === undefined) return undefined;
    const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > MAX_DEFINITION_PARTITIONS) {
      throw new Error(`context ${key} must be a whole number from 1 to ${MAX_DEFINITION_PARTITIONS}, got ${JSON.stringify(value)}`);
    }
    return n as number;
  };
  const partitions = read('partitions') ?? 1;
  const maxConcurrency = read('mapMaxConcurrency');
  if (maxConcurrency !== undefined && partitions === 1) throw new Error('context mapMaxConcurrency needs partitions > 1');
  return { partitions, ...(maxConcurrency !== undefined ? { maxConcurrency } : {}) };
}
