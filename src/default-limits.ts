const MIB = 1024 * 1024;

/**
 * The default size limits, each in one place: the server's (configuration,
 * unpacking commits, uploads, request bodies) and the CLI's, which checks a
 * folder before it uploads it. It imports nothing, so the CLI may import it.
 */
export const defaultLimits = {
  /** Bytes a commit, or an uploaded folder, may unpack to (ESERVELESS_MAX_SOURCE_BYTES). */
  sourceBytes: 200 * MIB,
  /** Tarball entries (files, links and folders) a commit may hold (ESERVELESS_MAX_SOURCE_FILES). */
  sourceFiles: 20_000,
  /** Bytes one file of a commit may have. */
  sourceFileBytes: 100 * MIB,
  /** Bytes a request body to a function may have (ESERVELESS_MAX_BODY_BYTES). */
  bodyBytes: 100 * MIB,
};
