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
