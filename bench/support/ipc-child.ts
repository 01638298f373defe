import { fork, type ChildProcess, type StdioOptions } from "node:child_process";

/** The environment variable that tells a bench file, forked from itself, which role its child plays. */
export const ROLE_VARIABLE = "ESERVELESS_BENCH_ROLE";

interface Call {
  id: number;
  command: string;
  arg: unknown;
}
type Reply = { id: number; value: unknown } | { id: number; error: string };

/**
 * The child side of a bench's server process: answers each command the
 * parent sends with its handler's result (or error). Ctrl-C reaches the whole
 * process group, so the parent decides when the child stops; a parent that
 * died without stopping it leaves it to `orphaned` (remove what it made), then
 * it exits.
 */
export function answerParent(handlers: Record<string, (arg: never) => unknown>, orphaned: () => unknown): void {
  process.on("SIGINT", () => {});
  process.on("message", (message: Call) => {
    void Promise.resolve()
      .then(() => handlers[message.command]!(message.arg as never))
      .then(
        (value) => process.send?.({ id: message.id, value: value ?? null } satisfies Reply),
        (error: unknown) => process.send?.({ id: message.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies Reply),
      );
  });
  process.on("disconnect", () => void Promise.resolve(orphaned()).finally(() => process.exit(1)));
}

/**
 * The parent side: `file` forked with ROLE_VARIABLE set to `role`, and its
 * commands called over IPC. A call pending when the child exits fails.
 */
export class IpcChild {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  readonly #exit: Promise<void>;
  #next = 0;
  #exited = false;

  constructor(
    readonly name: string,
    options: { file: string; role: string; execArgv: string[]; stdio: StdioOptions },
  ) {
    this.#child = fork(options.file, [], { env: { ...process.env, [ROLE_VARIABLE]: options.role }, execArgv: options.execArgv, stdio: options.stdio });
    this.#child.on("message", (reply: Reply) => {
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if ("error" in reply) pending?.reject(new Error(`${name}: ${reply.error}`));
      else pending?.resolve(reply.value);
    });
    this.#exit = new Promise((resolve) =>
      this.#child.once("exit", (code, signal) => {
        this.#exited = true;
        for (const pending of this.#pending.values()) pending.reject(new Error(`${name} exited (${code ?? signal})`));
        this.#pending.clear();
        resolve();
      }),
    );
  }

  /** Runs `command` in the child and resolves with what its handler returned. */
  call<T>(command: string, arg?: unknown): Promise<T> {
    if (this.#exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = ++this.#next;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#child.send({ id, command, arg } satisfies Call);
    });
  }

  get pid(): number {
    return this.#child.pid ?? 0;
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** Resolves once the child has exited. */
  whenExited(): Promise<void> {
    return this.#exit;
  }

  kill(): void {
    this.#child.kill("SIGKILL");
  }
}
