import type Docker from "dockerode";
import { SourceError, UpstreamError } from "../errors.js";

/** A failed image build caused by the project (a RUN step that exited non-zero, a bad COPY). */
export class BuildError extends SourceError {
  constructor(
    message: string,
    readonly step: string | undefined,
    readonly exitCode: number | undefined,
  ) {
    super(message, { code: "build_failed" });
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

/**
 * Builds an image from an in-memory build context with the classic builder,
 * streaming each output line to `onLine`. Throws {@link BuildError} when the
 * project's build fails and {@link UpstreamError} when Docker itself does.
 */
export async function buildImage(
  docker: Docker,
  context: NodeJS.ReadableStream,
  options: { tag: string; buildArgs: Record<string, string>; onLine: (line: string) => void; signal?: AbortSignal },
): Promise<BuiltImage> {
  let response: NodeJS.ReadableStream;
  try {
    response = await docker.buildImage(context, {
      t: options.tag,
      buildargs: options.buildArgs,
      rm: true,
      forcerm: true,
      // dockerode forwards abortSignal to the request; the type lacks it.
      ...(options.signal ? { abortSignal: options.signal } : {}),
    } as Docker.ImageBuildOptions);
  } catch (cause) {
    throw new UpstreamError(`Docker refused the build: ${(cause as Error).message}. Is the Docker engine running?`, { cause });
  }

  const steps: string[] = [];
  const cachedSteps: string[] = [];
  let id: string | undefined;
  let failure: string | undefined;
  let pending = "";
  const emit = (text: string) => {
    pending += text;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const raw of lines) {
      const line = raw.trimEnd();
      if (line === "") continue;
      if (line.startsWith("Step ")) steps.push(line);
      else if (line.includes("---> Using cache") && steps.length > 0) cachedSteps.push(steps.at(-1)!);
      options.onLine(line);
    }
  };

  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      response,
      (error: Error | null) => (error ? reject(new UpstreamError(`The image build stream broke: ${error.message}`, { cause: error })) : resolve()),
      (event: BuildEvent) => {
        if (event.stream) emit(event.stream);
        if (event.aux?.ID) id = event.aux.ID;
        if (event.error) failure = event.errorDetail?.message ?? event.error;
      },
    );
  });
  if (pending) emit("\n");

  const step = steps.at(-1);
  if (failure) {
    options.onLine(`error: ${failure}`);
    // A base image that cannot be found is the operator's setting, not the commit's fault.
    if (step && /^Step \d+\/\d+ : FROM /.test(step)) {
      throw new UpstreamError(
        `The base image is not available (${failure}). Pull it on the Docker host, or set ESERVELESS_NODE_IMAGE / ESERVELESS_GO_IMAGE to an image that is.`,
        { code: "base_image_missing" },
      );
    }
    const exitCode = /returned a non-zero code: (\d+)/.exec(failure)?.[1];
    throw new BuildError(
      `Build failed at ${step?.replace(/^Step \d+\/\d+ : /, "") ?? "the first step"}: ${failure}`,
      step,
      exitCode === undefined ? undefined : Number(exitCode),
    );
  }
  if (!id) throw new UpstreamError("Docker finished the build without reporting an image id", { code: "build_incomplete" });
  return { id, steps, cachedSteps };
}
