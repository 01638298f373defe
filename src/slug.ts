/**
 * A name safe in Docker image repositories and container names: lower case,
 * runs of anything but letters and digits turned into "-", never empty.
 */
export function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "x";
}
