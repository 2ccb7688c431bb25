/**
 * The state machine definition comes from `@fibbars/asl-definition`: the
 * reviewed golden `state_machine_definition.json` is what gets deployed. This
 * module checks that its placeholders are exactly the ones the stack fills
 * through `definitionSubstitutions`.
 */
import {
  SUBSTITUTION_KEYS,
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

/** The reviewed golden definition of `@fibbars/asl-definition`, checked. */
export function loadDefinition(): AslDefinition {
  const definition = readGoldenDefinition();
  checkPlaceholders(definition);
  return definition;
}
