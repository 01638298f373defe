/** The HTTP status of a failed Docker API call (dockerode sets `statusCode`); undefined for any other error. */
export const statusCode = (error: unknown): number | undefined => (error as { statusCode?: number } | undefined)?.statusCode;

/** What a failed call says, for a message of our own. */
export const errorMessage = (error: unknown): string => (error as Error | undefined)?.message ?? String(error);
