/**
 * Builds the CDK app: one stack per environment (dev, prod), or only the one
 * chosen with `-c env=dev|prod`, with cdk-nag's AwsSolutions checks applied.
 */
import { App, Validations, type AppProps } from 'aws-cdk-lib';
import { ArtifactStoreStack } from './artifact-store.js';
import type { Artifacts } from './artifacts.js';
import type { AslDefinition } from './definition.js';
import type { ReleaseManifest } from './release.js';
import { awsSolutionsChecks } from './nag.js';
import { resolveSettings, selectedEnvironments, stackName } from './settings.js';
import { FibbarsStack } from './stack.js';

export { FEATURE_FLAGS } from './stack.js';

export interface CreateAppOptions {
  readonly definition: AslDefinition;
  /** Local build outputs, for the deployables `release` does not name. */
  readonly artifacts?: Artifacts;
  /** The published artifacts (`release.ts`). */
  readonly release?: ReleaseManifest;
  /** Extra CDK context (tests); `cdk -c key=value` reaches the app the usual way. */
  readonly context?: Record<string, unknown>;
  readonly outdir?: string;
  /**
   * CDK's built-in CloudFormation template validation (on by default, as in
   * `cdk synth`). It loads a WASM rule engine for several seconds, so tests
   * that only inspect the template turn it off; one test keeps it on.
   */
  readonly cloudFormationValidation?: boolean;
}

export interface FibbarsApp {
  readonly app: App;
  /** One stack per selected environment, in `ENVIRONMENT_NAMES` order. */
  readonly stacks: FibbarsStack[];
  /** Where releases publish the artifacts (`nx run infra:bootstrap`), shared by the environments. */
  readonly artifactStore: ArtifactStoreStack;
}

/** Creates the app and its stacks; synthesize with `app.synth()`. */
export function createApp(options: CreateAppOptions): FibbarsApp {
  const props: AppProps = {
    ...(options.context ? { context: options.context } : {}),
    ...(options.cloudFormationValidation === false ? { builtinCloudFormationValidation: false } : {}),
    ...(options.outdir ? { outdir: options.outdir } : {}),
  };
  const app = new App(props);
  const context = (key: string): unknown => app.node.tryGetContext(key);
  const stacks = selectedEnvironments(context).map((envName) => {
    const settings = resolveSettings(envName, context);
    return new FibbarsStack(app, stackName(envName), {
      settings,
      definition: options.definition,
      ...(options.artifacts ? { artifacts: options.artifacts } : {}),
      ...(options.release ? { release: options.release } : {}),
      description: `fibbars daily OHLCV pipeline (${envName})`,
    });
  });
  const artifactStore = new ArtifactStoreStack(app);
  Validations.of(app).addPlugins(awsSolutionsChecks(app));
  return { app, stacks, artifactStore };
}
