/**
 * Kubernetes quantities as the program takes them from config (the schema has already checked
 * their form), turned into the numbers KubeSpawner and GCE want.
 */

/** "500m" -> 0.5, "2" -> 2: KubeSpawner takes CPU in cores. */
export function cpuCores(quantity: string): number {
  return quantity.endsWith("m") ? parseInt(quantity, 10) / 1000 : Number(quantity);
}

/** "2Gi" or "512Mi" -> bytes: KubeSpawner reads "2G" as 2 GiB, so we hand it an unambiguous number. */
export function bytes(quantity: string): number {
  const unit = quantity.endsWith("Gi") ? 1024 ** 3 : 1024 ** 2;
  return parseInt(quantity, 10) * unit;
}

/** "200Gi" -> 200, "1Ti" -> 1024: a GCE disk's size is whole GiB (the API calls them GB). */
export function diskGb(quantity: string): number {
  return parseInt(quantity, 10) * (quantity.endsWith("Ti") ? 1024 : 1);
}
