import type { Octokit } from "@octokit/rest";
import { Readable } from "node:stream";
import { ReadableStream, type ReadableStreamDefaultReader } from "node:stream/web";
import { SourceError, UpstreamError } from "../errors.js";
import { githubError } from "./github-app.js";

/** Most bytes of a commit's compressed tarball downloaded from GitHub (ESERVELESS_MAX_TARBALL_BYTES): 100 MiB. */
export const DEFAULT_MAX_TARBALL_BYTES = 100 * 1024 * 1024;

/**
 * Starts downloading a commit's tarball through the REST API (GitHub answers with a 302 to
 * codeload, which fetch follows) and returns its body as a stream, never buffered whole: the
 * extractor reads it as it arrives. Refused before reading when the declared length is over
 * `maxBytes`; the stream fails as soon as more than `maxBytes` arrive. Destroying the stream
 * cancels the download.
 */
export async function downloadTarball(
  octokit: Octokit,
  input: { owner: string; repo: string; ref: string; signal?: AbortSignal; maxBytes?: number },
): Promise<Readable> {
  const maxBytes = input.maxBytes ?? DEFAULT_MAX_TARBALL_BYTES;
  const what = `${input.owner}/${input.repo}@${input.ref.slice(0, 7)}`;
  let response;
  try {
    response = await octokit.rest.repos.downloadTarballArchive({
      owner: input.owner,
      repo: input.repo,
      ref: input.ref,
      request: { signal: input.signal, parseSuccessResponseBody: false },
    });
  } catch (error) {
    throw githubError(error, `GitHub has no tarball of ${input.owner}/${input.repo}@${input.ref}; the App may have lost access to the repository.`);
  }
  const body: unknown = response.data;
  if (!(body instanceof ReadableStream)) {
    throw new UpstreamError(`GitHub answered the tarball download of ${what} without a body; try again`, { code: "github_error" });
  }
  const reader = (body as ReadableStream<Uint8Array>).getReader();
  const declared = Number(response.headers["content-length"]);
  if (declared > maxBytes) {
    await reader.cancel().catch(() => undefined);
    throw tarballTooLarge(what, maxBytes);
  }
  return cappedStream(reader, maxBytes, what);
}

/** The body as a Node stream that fails once more than `maxBytes` arrived, and cancels the download when destroyed. */
function cappedStream(reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number, what: string): Readable {
  let total = 0;
  return new Readable({
    // One read at a time, when the extractor asks for more: the download waits for the extraction.
    read() {
      reader.read().then(
        (next) => {
          if (next.done) return void this.push(null);
          total += next.value.byteLength;
          if (total > maxBytes) return void this.destroy(tarballTooLarge(what, maxBytes));
          this.push(next.value);
        },
        (error: unknown) => {
          this.destroy(new UpstreamError(`The download of the tarball of ${what} from GitHub broke off (${(error as Error).message}); push again or redeploy`, {
            code: "github_unreachable",
            cause: error,
          }));
        },
      );
    },
    destroy(error, callback) {
      reader.cancel().catch(() => undefined);
      callback(error);
    },
  });
}

function tarballTooLarge(what: string, maxBytes: number): SourceError {
  const mib = Math.round((maxBytes / (1024 * 1024)) * 10) / 10;
  return new SourceError(
    `Tarball over ${mib} MiB compressed (ESERVELESS_MAX_TARBALL_BYTES=${maxBytes}): GitHub's archive of ${what} is too large; ` +
      `shrink the repository (keep large files out of it) or raise ESERVELESS_MAX_TARBALL_BYTES`,
    { code: "tarball_too_large" },
  );
}
