/** A GitHub repository, `owner/repo`. */
export const REPOSITORY_NAME = /^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/;

/** A local project's name, deployed as `local/<name>` (`?project=` of `POST /api/deployments`). */
export const PROJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
