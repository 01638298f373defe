import { EserveslessError } from "../errors.js";

const GIB = 1024 ** 3;

/** What all function containers together may hold (ESERVELESS_MAX_CONTAINERS, ESERVELESS_MEMORY_BUDGET). */
export interface ContainerBudgetLimits {
  /** Most function containers at once, across projects. */
  maxContainers: number;
  /** Most memory, in bytes, that their limits add up to. */
  memoryBytes: number;
}

/** The budget of a server that sets none; config.ts takes its defaults from here. */
export const defaultContainerBudget: ContainerBudgetLimits = { maxContainers: 40, memoryBytes: 8 * GIB };

/** Seconds a refused start tells the caller to wait (Retry-After): idle containers are reaped within minutes. */
const RETRY_AFTER_SECONDS = 10;

/** A container start the budget refused; a 503 with Retry-After, the server's capacity and not the caller's fault. */
export class ContainerBudgetError extends EserveslessError {
  constructor(message: string) {
    super(message, { status: 503, blame: "system", code: "container_budget", headers: { "retry-after": String(RETRY_AFTER_SECONDS) } });
  }
}

/** Room taken in the budget by one container; give it back once the container is removed. */
export interface Reservation {
  /** Returns the room; calling it again does nothing. */
  release(): void;
}

/**
 * The server-wide budget of function containers: how many may exist at once
 * and how much memory their limits add up to. Every container start asks it
 * for room first ({@link reserve}) and gives it back when the container is
 * removed, so that no manifest, however many replicas it asks for, can take
 * the host's memory.
 */
export class ContainerBudget {
  #containers = 0;
  #memoryBytes = 0;

  constructor(readonly limits: ContainerBudgetLimits = defaultContainerBudget) {}

  /** Containers and memory reserved now. */
  get used(): { containers: number; memoryBytes: number } {
    return { containers: this.#containers, memoryBytes: this.#memoryBytes };
  }

  /**
   * Takes room for a container with a memory limit of `memoryBytes`, or
   * throws a {@link ContainerBudgetError} saying which limit is reached.
   * `force` takes it whatever the budget says: for containers that already
   * run (taken over after a restart), which must be counted.
   */
  reserve(memoryBytes: number, options: { force?: boolean } = {}): Reservation {
    if (!options.force) {
      const { maxContainers, memoryBytes: budget } = this.limits;
      if (this.#containers + 1 > maxContainers) {
        throw new ContainerBudgetError(
          `No room for another container: this server runs ${this.#containers} function containers, its maximum (ESERVELESS_MAX_CONTAINERS=${maxContainers}); ` +
            "retry once idle ones have stopped, or ask the operator to raise it",
        );
      }
      if (this.#memoryBytes + memoryBytes > budget) {
        throw new ContainerBudgetError(
          `No room for another container: it needs ${mib(memoryBytes)} MiB and the function containers already hold ${mib(this.#memoryBytes)} of the ${mib(budget)} MiB ` +
            "this server allows (ESERVELESS_MEMORY_BUDGET); retry once idle ones have stopped, or ask the operator to raise it",
        );
      }
    }
    this.#containers++;
    this.#memoryBytes += memoryBytes;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#containers--;
        this.#memoryBytes -= memoryBytes;
      },
    };
  }
}

const mib = (bytes: number) => Math.round(bytes / 1024 ** 2);
