/** Local projects live under this owner in function URLs: /fn/local/<project>/<function>. */
export const LOCAL_OWNER = "local";

/** The stable URL of an http function: the same across deployments. */
export function functionUrl(publicUrl: string, repository: string, name: string): string {
  return `${publicUrl}/fn/${repository}/${name}`;
}

/** The page of one deployment, linked from its commit status. */
export function deploymentUrl(publicUrl: string, id: string): string {
  return `${publicUrl}/deployments/${id}`;
}
