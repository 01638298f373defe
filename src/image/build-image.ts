import type Docker from "dockerode";
import { stripVTControlCharacters } from "node:util";
import { SourceError, UpstreamError } from "../errors.js";
import { baseImageHint } from "./check-base-image.js";
import { sandboxedBuildOptions, watchOutOfMemory, type BuildSandbox } from "./build-sandbox.js";

/**
 * A failed image build caused by the project: a RUN step that exited
 * non-zero or ran out of memory (`build_out_of_memory`), a bad COPY, a build
 * past its time limit (`build_timeout`).
 */
export class BuildError extends SourceError {
  constructor(
    message: string,
    readonly step: string | undefined,
    readonly exitCode: number | undefined,
    code = "build_failed",
  ) {
    super(message, { code });
  }
}

interface BuildEvent {
  stream?: string;
  error?: string;
  errorDetail?: { message?: string; code?: number };
  aux?: { ID?: string };
}

export interface BuiltImage {
  id: string;
  /** Steps answered from the layer cache, e.g. the dependency install on a code-only push. */
  cachedSteps: string[];
  steps: string[];
}

export interface BuildImageOptions {
  tag: string;
  buildArgs: Record<string, string>;
  /** The runtime whose base image BASE_IMAGE names, for the hint when it is missing. */
  runtime?: "node" | "golang";
  /** Each line of the build's output (what the project's install printed included). */
  onLine: (line: string) => void;
  /** Says that the build waits for a build slot; `onLine` when absent. */
  onWait?: (line: string) => void;
  signal?: AbortSignal;
  /**
   * Confines the build: waits for one of the build slots (saying so in
   * `onLine`), runs on the build network with memory, CPU and process
   * limits, and stops and fails it past its time limit.
   */
  sandbox?: BuildSandbox;
}

const MIB = 1024 ** 2;

/**
 * Builds an image from an in-memory build context with the classic builder,
 * streaming each output line to `onLine`. Throws {@link BuildError} when the
 * project's build fails (past the sandbox's memory or time included) and
 * {@link UpstreamError} when Docker itself does.
 */
export async function buildImage(docker: Docker, context: NodeJS.ReadableStream, options: BuildImageOptions): Promise<BuiltImage> {
  const { sandbox } = options;
  if (!sandbox) return runBuild(docker, context, options, {}, {});
  const release = await sandbox.slots.acquire(options.signal, (wait) =>
    (options.onWait ?? options.onLine)(
      `Waiting for a build slot: ${wait.running} of ${wait.max} builds running, ${wait.ahead} waiting before this one (ESERVELESS_MAX_CONCURRENT_BUILDS)`,
    ),
  );
  try {
    const network = await sandbox.network();
    const memory = await watchOutOfMemory(docker).catch((cause: unknown) => {
      throw new UpstreamError(`Docker refused to report events: ${(cause as Error).message}. Is the Docker engine running?`, { cause });
    });
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), sandbox.timeoutMs);
    try {
      return await runBuild(
        docker,
        context,
        { ...options, signal: options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal },
        sandboxedBuildOptions(sandbox, network),
        {
          // Only its own deadline: a deployment cut short (a newer push) is no timeout.
          timedOut: () => timeout.signal.aborted && !options.signal?.aborted,
          timeoutSeconds: Math.round(sandbox.timeoutMs / 1000),
          outOfMemory: (container) => memory.outOfMemory(container),
          memoryMiB: Math.round(sandbox.memoryBytes / MIB),
        },
      );
    } finally {
      clearTimeout(timer);
      memory.stop();
    }
  } finally {
    release();
  }
}

/** How a sandboxed build's end is explained. */
interface Verdicts {
  timedOut?: () => boolean;
  timeoutSeconds?: number;
  outOfMemory?: (container: string) => Promise<boolean>;
  memoryMiB?: number;
}

const stepText = (step: string | undefined) => step?.replace(/^Step \d+\/\d+ : /, "") ?? "the first step";

async function runBuild(
  docker: Docker,
  context: NodeJS.ReadableStream,
  options: BuildImageOptions,
  limits: Record<string, string | number>,
  verdicts: Verdicts,
): Promise<BuiltImage> {
  const steps: string[] = [];
  const timeoutError = () =>
    new BuildError(
      `The build did not finish within ${verdicts.timeoutSeconds} s and was stopped at ${stepText(steps.at(-1))} (the limit is ESERVELESS_BUILD_TIMEOUT): make the install faster, or ask the operator to raise it`,
      steps.at(-1),
      undefined,
      "build_timeout",
    );
  let response: NodeJS.ReadableStream;
  try {
    response = await docker.buildImage(context, {
      t: options.tag,
      buildargs: options.buildArgs,
      rm: true,
      forcerm: true,
      ...limits,
      // dockerode forwards abortSignal to the request; the type lacks it.
      ...(options.signal ? { abortSignal: options.signal } : {}),
    } as Docker.ImageBuildOptions);
  } catch (cause) {
    if (verdicts.timedOut?.()) throw timeoutError();
    throw new UpstreamError(`Docker refused the build: ${(cause as Error).message}. Is the Docker engine running?`, { cause });
  }

  const cachedSteps: string[] = [];
  /** The container of the step running now, as "Running in <id>" says. */
  let stepContainer: string | undefined;
  let id: string | undefined;
  let failure: string | undefined;
  let pending = "";
  const emit = (text: string) => {
    pending += text;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const raw of lines) {
      // Colour codes of npm, go and the like would be noise in the stored log and on every page showing it.
      const line = stripVTControlCharacters(raw).trimEnd();
      if (line === "") continue;
      if (line.startsWith("Step ")) {
        steps.push(line);
        stepContainer = undefined;
      } else if (line.includes("---> Using cache") && steps.length > 0) cachedSteps.push(steps.at(-1)!);
      else stepContainer = /---> Running in ([0-9a-f]{12,64})$/.exec(line)?.[1] ?? stepContainer;
      options.onLine(line);
    }
  };

  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      response,
      (error: Error | null) => {
        if (!error) return resolve();
        // Cut short (its deadline, a newer push, a shutdown): the step's container must not run on.
        if (options.signal?.aborted) return void removeStepContainer(docker, stepContainer).then(() => reject(verdicts.timedOut?.() ? timeoutError() : error));
        reject(new UpstreamError(`The image build stream broke: ${error.message}`, { cause: error }));
      },
      (event: BuildEvent) => {
        if (event.stream) emit(event.stream);
        if (event.aux?.ID) id = event.aux.ID;
        if (event.error) failure = event.errorDetail?.message ?? event.error;
      },
    );
  });
  if (pending) emit("\n");
  // Stopped by its deadline: the stream ended early, with or without an error event.
  if (verdicts.timedOut?.() && (failure !== undefined || id === undefined)) {
    await removeStepContainer(docker, stepContainer);
    throw timeoutError();
  }

  const step = steps.at(-1);
  if (failure) {
    // A base image that cannot be found is the operator's setting, not the commit's fault.
    // The deployment's failure says it once, with what to do.
    if (step && /^Step \d+\/\d+ : FROM /.test(step)) {
      throw new UpstreamError(`The base image is not available (${failure}). ${baseImageHint(options.runtime ?? "node")}.`, { code: "base_image_missing" });
    }
    options.onLine(`error: ${failure}`);
    const exitCode = /returned a non-zero code: (\d+)/.exec(failure)?.[1];
    if (stepContainer && (await verdicts.outOfMemory?.(stepContainer))) {
      throw new BuildError(
        `The build ran out of memory at ${stepText(step)}: it may use ${verdicts.memoryMiB} MiB (ESERVELESS_BUILD_MEMORY), and a process was killed for using more`,
        step,
        exitCode === undefined ? undefined : Number(exitCode),
        "build_out_of_memory",
      );
    }
    throw new BuildError(`Build failed at ${stepText(step)}: ${failure}`, step, exitCode === undefined ? undefined : Number(exitCode));
  }
  if (!id) throw new UpstreamError("Docker finished the build without reporting an image id", { code: "build_incomplete" });
  return { id, steps, cachedSteps };
}

/**
 * Removes the container of a build step that was cut short and waits until
 * it is gone. Docker stops it too once the build's request ends, but on its
 * own time; a deployment that says its build was stopped must mean it.
 */
async function removeStepContainer(docker: Docker, id: string | undefined): Promise<void> {
  if (!id) return;
  const container = docker.getContainer(id);
  try {
    await container.remove({ force: true });
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    // 409: the builder is removing it already; wait for that (404 when it is done by now).
    if (status === 409) await container.wait({ condition: "removed" }).catch(() => undefined);
  }
}
