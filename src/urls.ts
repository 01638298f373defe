/** Local projects live under this owner in function URLs: /fn/local/<project>/<function>. */
export const LOCAL_OWNER = "local";

/** Where function URLs start on their host: `/fn/<owner>/<repo>/<function>`. */
export const FUNCTIONS_PATH = "/fn";

/** The server's URLs: PUBLIC_URL, and ESERVELESS_FUNCTIONS_URL when functions have a host of their own. */
export interface ServerUrls {
  publicUrl: string;
  functionsUrl?: string | undefined;
}

/** The stable URL of an http function: the same across deployments, on the functions host when there is one. */
export function functionUrl(urls: ServerUrls, repository: string, name: string): string {
  return `${urls.functionsUrl ?? urls.publicUrl}${FUNCTIONS_PATH}/${repository}/${name}`;
}

/** The page of one deployment, linked from its commit status. */
export function deploymentUrl(publicUrl: string, id: string): string {
  return `${publicUrl}/deployments/${id}`;
}

/** A project's page on the dashboard. */
export function projectUrl(publicUrl: string, repository: string): string {
  return `${publicUrl}/dashboard/projects/${repository}`;
}

/** Where preview URLs start on the functions host: `/pr/<owner>/<repo>/<number>/<function>`. */
export const PREVIEWS_PATH = "/pr";

/** The environment of a pull request's preview. */
export function previewEnvironment(number: number): string {
  return `pr-${number}`;
}

/** The pull request number of a preview environment (`pr-12` → 12); undefined for production. */
export function previewNumber(environment: string): number | undefined {
  const match = /^pr-([1-9][0-9]{0,9})$/.exec(environment);
  return match ? Number(match[1]) : undefined;
}

/** The URL of an http function in `environment`: production's {@link functionUrl}, or the pull request's, stable for its life. */
export function environmentFunctionUrl(urls: ServerUrls, repository: string, environment: string, name: string): string {
  const number = previewNumber(environment);
  if (number === undefined) return functionUrl(urls, repository, name);
  return `${urls.functionsUrl ?? urls.publicUrl}${PREVIEWS_PATH}/${repository}/${number}/${name}`;
}

/** Why `name` is not an environment (`production` or `pr-<number>`), or undefined when it is one. */
export function environmentProblem(name: string): string | undefined {
  if (name === "production" || previewNumber(name) !== undefined) return undefined;
  return `${JSON.stringify(name.slice(0, 40))} is not an environment: use production, or pr-<number> for a pull request's preview`;
}

/** The page of a cron function's runs in `environment`; POST to it runs the function now there. */
export function cronRunsUrl(publicUrl: string, repository: string, name: string, environment = "production"): string {
  return `${publicUrl}/functions/${repository}/${name}/runs${environment === "production" ? "" : `?environment=${environment}`}`;
}

/** The command that runs a cron function of `environment` by hand, for messages. */
export function runByHandCommand(repository: string, name: string, environment = "production"): string {
  return `eserveless run ${repository}/${name}${environment === "production" ? "" : ` --env ${environment}`}`;
}
