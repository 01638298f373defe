/** The names the manifest may have at a project's root, in the order they are looked for. */
export const MANIFEST_FILES: readonly string[] = [".eserveless.yaml", ".eserveless.yml"];
