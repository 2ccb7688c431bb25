/**
 * Names and constants of a deployment (`@fibbars/infra-cdk/names`). They live
 * in `@fibbars/asl-definition/names` so that the published `fibbars` command
 * (`@fibbars/ops-cli`, which cannot depend on this private app) derives the
 * same stack, state machine and schedule names the stack creates.
 */
export * from '@fibbars/asl-definition/names';
