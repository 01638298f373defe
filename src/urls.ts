/** Local projects live under this owner in function URLs: /fn/local/<project>/<function>. */
export const LOCAL_OWNER = "local";

/** Where function URLs start on their host: `/fn/<owner>/<repo>/<function>`. */
export const FUNCTIONS_PATH = "/fn";

/** The stable URL of an http function: the same across deployments. */
export function functionUrl(publicUrl: string, repository: string, name: string): string {
  return `${publicUrl}${FUNCTIONS_PATH}/${repository}/${name}`;
}

/** The page of one deployment, linked from its commit status. */
export function deploymentUrl(publicUrl: string, id: string): string {
  return `${publicUrl}/deployments/${id}`;
}
