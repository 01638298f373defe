import { Cron } from "croner";
import type Docker from "dockerode";
import type { Logger } from "pino";
import { EserveslessError, NotFoundError } from "../errors.js";
import { containerEnvironment } from "../manifest/function-environment.js";
import type { ContainerBudget } from "../run/container-budget.js";
import type { SecretValues } from "../run/container-pool.js";
import type { ProjectNetworks } from "../run/project-networks.js";
import { RunOnceError, runOnce, type RunOnceInput, type RunOnceResult } from "../run/run-once.js";
import { LABEL, eserveslessLabels, sandboxDefaults } from "../run/sandbox.js";
import { MAX_RUN_OUTPUT_CHARS, type CronRun, type CronRunState, type CronRunStore } from "../store/cron-run-store.js";
import { PRODUCTION } from "../store/deployment-store.js";
import type { LiveCronFunction, LiveFunctionStore } from "../store/live-function-store.js";
import { slug } from "../slug.js";

/** The label that ties a cron container to its run. */
export const CRON_RUN_LABEL = `${LABEL}.cron-run`;

export interface CronSchedulerOptions {
  /** This eserveless's id, on every container it starts. */
  instance: string;
  store: LiveFunctionStore & CronRunStore;
  docker: Docker;
  /** Each run joins its project's network. */
  networks: ProjectNetworks;
  log: Logger;
  /** The clock of run records, in milliseconds. */
  now?: () => number;
  /** The server-wide budget each run takes room from while its container exists (shared with the http functions). */
  budget?: ContainerBudget;
  /** CPUs each run's container may use (ESERVELESS_MAX_CPUS); the sandbox's default when absent. */
  cpus?: number;
  /** Where the values of a function's declared secrets come from, read as each run's container is created; none when absent. */
  secretValues?: SecretValues;
  /** What runs one tick to its end: a container on this engine unless given (a Swarm job in swarm mode). */
  run?: (input: RunOnceInput) => Promise<RunOnceResult>;
}

/** A cron function as the scheduler runs it, from its live manifest entry. */
export interface CronSettings {
  schedule: string;
  timezone: string;
  timeoutSeconds: number;
  memoryBytes: number;
  env: Record<string, string>;
}

/** One scheduled cron function, for status pages and tests. */
export interface ScheduledFunction {
  repository: string;
  function: string;
  schedule: string;
  timezone: string;
  timeoutSeconds: number;
  deploymentId: string;
  commit: string;
  /** The next tick, or null when the expression never matches again. */
  nextRun: Date | null;
}

interface Job {
  fn: LiveCronFunction;
  schedule: string;
  timezone: string;
  cron: Cron;
}

interface ActiveRun {
  run: CronRun;
  abort: AbortController;
  done: Promise<void>;
}

const lower = (text: string) => text.toLowerCase();
const runKey = (repository: string, name: string, environment: string) => lower(`${environment}:${repository}/${name}`);

/** The schedule, limits and environment of a live cron function, from its stored manifest entry, with the values of its declared `secrets`. */
export function cronSettings(fn: LiveCronFunction, secrets: Record<string, string> = {}): CronSettings {
  const { spec } = fn;
  return {
    schedule: spec.schedule,
    timezone: spec.timezone,
    timeoutSeconds: spec.timeout,
    memoryBytes: spec.memory,
    env: { ...containerEnvironment(spec, spec), ...secrets, ESERVELESS_FUNCTION: fn.name, ESERVELESS_FUNCTION_TYPE: "cron" },
  };
}

/**
 * Runs the cron functions of the live deployments. Each function has one
 * croner job, read from the store's live functions (`sync` after a
 * deployment switches, `start` at startup). Each tick runs the function once
 * in a fresh sandboxed container of the live image, bounded by the function's
 * timeout, and records the run (exit code, duration, the end of its output).
 * A function never runs twice at once: a tick that finds it running is
 * recorded as `skipped`, and `runNow` answers 409.
 */
export class CronScheduler {
  readonly #instance: string;
  readonly #store: LiveFunctionStore & CronRunStore;
  readonly #docker: Docker;
  readonly #run: (input: RunOnceInput) => Promise<RunOnceResult>;
  readonly #networks: ProjectNetworks;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #budget: ContainerBudget | undefined;
  readonly #nanoCpus: number | undefined;
  readonly #secretValues: SecretValues | undefined;
  /** Jobs by lower-cased repository, then lower-cased function name. */
  readonly #jobs = new Map<string, Map<string, Job>>();
  /** Runs in progress, by lower-cased `environment:repository/function`. */
  readonly #running = new Map<string, ActiveRun>();
  #started = false;
  #stopped = false;

  constructor(options: CronSchedulerOptions) {
    this.#instance = options.instance;
    this.#store = options.store;
    this.#docker = options.docker;
    this.#run = options.run ?? ((input) => runOnce(this.#docker, input));
    this.#networks = options.networks;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#budget = options.budget;
    this.#nanoCpus = options.cpus === undefined ? undefined : Math.round(options.cpus * 1e9);
    this.#secretValues = options.secretValues;
  }

  /** Schedules the cron functions of every live deployment; runs left `running` by a previous process are failed. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    const interrupted = this.#store.failInterruptedRuns("Interrupted: eserveless stopped while this run was going", this.#now());
    if (interrupted > 0) this.#log.warn({ interrupted }, "failed cron runs that a previous eserveless left running");
    const repositories = new Set(this.#store.liveFunctions().filter((fn) => fn.type === "cron").map((fn) => fn.repository));
    for (const repository of repositories) this.sync(repository);
  }

  /**
   * Makes a repository's schedules those of its live functions: new cron
   * functions are scheduled, removed ones stop (a run in progress finishes),
   * changed schedules or time zones are replaced. Runs in progress keep going.
   */
  sync(repository: string): void {
    if (this.#stopped) return;
    const repoKey = lower(repository);
    const jobs = this.#jobs.get(repoKey) ?? new Map<string, Job>();
    const wanted = new Map(this.#store.liveFunctions(repository).filter((fn) => fn.type === "cron").map((fn) => [lower(fn.name), fn]));

    for (const [name, job] of jobs) {
      if (wanted.has(name)) continue;
      job.cron.stop();
      jobs.delete(name);
      this.#log.info({ repository: job.fn.repository, function: job.fn.name, schedule: job.schedule }, "cron schedule removed");
    }
    for (const [name, fn] of wanted) {
      const { schedule, timezone } = cronSettings(fn);
      const previous = jobs.get(name);
      if (previous && previous.schedule === schedule && previous.timezone === timezone) {
        // Same timing: the timer stays; ticks read the live function, so they run the new image.
        previous.fn = fn;
        continue;
      }
      previous?.cron.stop();
      jobs.delete(name);
      try {
        const cron = new Cron(
          schedule,
          {
            timezone,
            mode: "5-or-6-parts",
            unref: true,
            catch: (error) => this.#log.error({ err: error, repository: fn.repository, function: fn.name }, "cron tick crashed"),
          },
          () => this.#tick(fn.repository, fn.name),
        );
        jobs.set(name, { fn, schedule, timezone, cron });
        this.#log.info({ repository: fn.repository, function: fn.name, schedule, timezone, nextRun: cron.nextRun()?.toISOString() ?? null }, "cron scheduled");
      } catch (error) {
        // The manifest validates expressions, so this is a stored spec croner no longer reads.
        this.#log.error({ err: error, repository: fn.repository, function: fn.name, schedule, timezone }, "cron schedule refused; the function does not run on schedule");
      }
    }
    if (jobs.size > 0) this.#jobs.set(repoKey, jobs);
    else this.#jobs.delete(repoKey);
  }

  /** The scheduled functions, of one repository or all, sorted by repository and name. */
  schedules(repository?: string): ScheduledFunction[] {
    const groups = repository === undefined ? [...this.#jobs.values()] : [this.#jobs.get(lower(repository)) ?? new Map<string, Job>()];
    return groups
      .flatMap((jobs) => [...jobs.values()])
      .map((job) => ({
        repository: job.fn.repository,
        function: job.fn.name,
        schedule: job.schedule,
        timezone: job.timezone,
        timeoutSeconds: cronSettings(job.fn).timeoutSeconds,
        deploymentId: job.fn.deploymentId,
        commit: job.fn.commit,
        nextRun: job.cron.nextRun(),
      }))
      .sort((a, b) => lower(a.repository).localeCompare(lower(b.repository)) || lower(a.function).localeCompare(lower(b.function)));
  }

  /** The run of a function in progress in this process, if any. */
  activeRun(repository: string, name: string, environment: string = PRODUCTION): CronRun | undefined {
    return this.#running.get(runKey(repository, name, environment))?.run;
  }

  /**
   * Starts a run of a live cron function of `environment` (production, or a
   * preview, whose cron functions run only this way) now; returns its record
   * (state `running`) without waiting for it. Throws 404 for an unknown or
   * http function and 409 while a run of it is in progress.
   */
  runNow(repository: string, name: string, environment: string = PRODUCTION): CronRun {
    if (this.#stopped) throw new EserveslessError("eserveless is shutting down; no run was started.", { status: 503, code: "shutting_down" });
    return this.#trigger(this.liveCronFunction(repository, name, environment), "manual");
  }

  /**
   * The live cron function `name` of `repository` in `environment`; throws a
   * 404 that says what is missing, or that the function is an http one.
   */
  liveCronFunction(repository: string, name: string, environment: string = PRODUCTION): LiveCronFunction {
    const fn = this.#store.liveFunction(repository, name, environment);
    if (!fn) {
      const deployed = this.#store.liveFunctions(repository, environment);
      const where = environment === PRODUCTION ? repository : `${repository}'s ${environment}`;
      throw new NotFoundError(
        deployed.length === 0
          ? `Nothing is deployed from ${where}, so it has no function "${name}".`
          : `${where} has no function "${name}" (it has: ${deployed.map((f) => `${f.name} (${f.type})`).join(", ")}).`,
        { code: "function_not_found" },
      );
    }
    if (fn.type !== "cron") {
      throw new NotFoundError(`"${fn.name}" of ${fn.repository} is an ${fn.type} function: only cron functions have runs.`, { code: "not_a_cron_function" });
    }
    return fn;
  }

  /** Resolves when no run is in progress. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running.values()].map((active) => active.done));
  }

  /** Stops every schedule and kills the runs in progress (recorded as failed), removing their containers. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const jobs of this.#jobs.values()) for (const job of jobs.values()) job.cron.stop();
    this.#jobs.clear();
    for (const active of this.#running.values()) active.abort.abort();
    await this.idle();
  }

  #tick(repository: string, name: string): void {
    if (this.#stopped) return;
    const fn = this.#store.liveFunction(repository, name);
    // A deployment removed or retyped it since; the sync that follows drops the job.
    if (!fn || fn.type !== "cron") return;
    this.#trigger(fn, "schedule");
  }

  #trigger(fn: LiveCronFunction, trigger: CronRun["trigger"]): CronRun {
    const key = runKey(fn.repository, fn.name, fn.environment);
    const base = { repository: fn.repository, environment: fn.environment, function: fn.name, deploymentId: fn.deploymentId, commit: fn.commit, trigger };
    const active = this.#running.get(key);
    if (active) {
      const seconds = Math.round((this.#now() - active.run.startedAt) / 1000);
      if (trigger === "manual") {
        throw new EserveslessError(`${fn.name} of ${fn.repository}${fn.environment === PRODUCTION ? "" : ` (${fn.environment})`} is already running (run ${active.run.id}, started ${seconds} s ago); a cron function runs once at a time.`, {
          status: 409,
          code: "run_in_progress",
        });
      }
      const skipped = this.#store.createRun({ ...base, state: "skipped", error: `Skipped: run ${active.run.id} was still running`, at: this.#now() });
      this.#log.child({ repository: fn.repository, environment: fn.environment, function: fn.name, run: skipped.id }).info({ running: active.run.id, runningForSeconds: seconds }, "cron tick skipped: the previous run is still going");
      return skipped;
    }
    const run = this.#store.createRun({ ...base, state: "running", at: this.#now() });
    const abort = new AbortController();
    const entry: ActiveRun = { run, abort, done: Promise.resolve() };
    this.#running.set(key, entry);
    entry.done = this.#execute(fn, run, abort.signal).finally(() => this.#running.delete(key));
    return run;
  }

  /** Runs one container to its end or its time limit, then records the result; never throws. */
  async #execute(fn: LiveCronFunction, run: CronRun, signal: AbortSignal): Promise<void> {
    const log = this.#log.child({ repository: fn.repository, environment: fn.environment, function: fn.name, run: run.id });
    let state: Exclude<CronRunState, "running" | "skipped"> = "failed";
    let exitCode: number | null = null;
    let error: string | null = null;
    let durationMs: number | null = null;
    let output = { text: "", truncated: false };
    let reservation: { release(): void } | undefined;
    try {
      // A preview's run gets `preview` secrets, never production's.
      const secrets = fn.spec.secrets.length ? this.#secretValues?.(fn.repository, fn.spec.secrets, fn.environment) : undefined;
      const settings = cronSettings(fn, secrets);
      // Refused when the server has no room: the run fails with the reason.
      reservation = this.#budget?.reserve(settings.memoryBytes ?? sandboxDefaults.memoryBytes);
      log.info({ trigger: run.trigger, deployment: fn.deploymentId, image: fn.image, timeoutSeconds: settings.timeoutSeconds }, "cron run started");
      const result = await this.#run({
        image: fn.image,
        name: `es-cron-${slug(fn.repository)}-${fn.environment === PRODUCTION ? "" : `${fn.environment}-`}${slug(fn.name)}-${run.id}`,
        env: settings.env,
        secretNames: Object.keys(secrets ?? {}),
        labels: {
          ...eserveslessLabels({ instance: this.#instance, repository: fn.repository, commit: fn.commit, deployment: fn.deploymentId, function: fn.name, environment: fn.environment }),
          [CRON_RUN_LABEL]: run.id,
        },
        // A preview's run joins the preview's network, never production's.
        network: await this.#networks.forProject(fn.repository, fn.environment),
        memoryBytes: settings.memoryBytes,
        nanoCpus: this.#nanoCpus,
        timeoutMs: settings.timeoutSeconds * 1000,
        signal,
        maxOutputBytes: MAX_RUN_OUTPUT_CHARS,
        log,
      });
      durationMs = result.durationMs;
      exitCode = result.exitCode;
      output = { text: result.output, truncated: result.truncated };
      if (result.reason === "timeout") {
        state = "timed_out";
        error = `Killed after its ${settings.timeoutSeconds} s timeout`;
      } else if (result.reason === "stopped") {
        error = "Killed: eserveless shut down during the run";
      } else if (exitCode === 0) {
        state = "succeeded";
      } else if (result.killed === "removed") {
        error = `Exited with code ${exitCode}: its container was removed from outside eserveless during the run`;
      } else if (result.killed === "out_of_memory") {
        error = `Killed for using more than its ${Math.round(settings.memoryBytes / 1024 ** 2)} MiB of memory`;
      } else {
        error = `Exited with code ${exitCode}`;
      }
    } catch (cause) {
      if (cause instanceof RunOnceError) output = cause.output;
      error = signal.aborted ? "Killed: eserveless shut down during the run" : `Could not run the container: ${(cause as Error).message}`;
      if (!signal.aborted) log.warn({ err: cause }, "cron run could not start");
    } finally {
      reservation?.release();
    }
    this.#store.finishRun(run.id, { state, exitCode, durationMs, error, output: output.text, outputTruncated: output.truncated, at: this.#now() });
    const summary = { state, exitCode, durationMs: durationMs === null ? null : Math.round(durationMs), error, outputBytes: Buffer.byteLength(output.text) };
    if (state === "succeeded") log.info(summary, "cron run succeeded");
    else log.warn(summary, `cron run ${state.replace("_", " ")}`);
  }
}
