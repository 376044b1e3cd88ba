/**
 * The GPU types GKE offers, as GKE labels its GPU nodes with them (`cloud.google.com/gke-accelerator`)
 * and as `gcloud container node-pools create --accelerator type=...` takes them. A profile's
 * `gpuType` must be one of these: a pod whose node selector names another value never schedules.
 *
 * Source: Google Cloud, "GPU machine types" (https://cloud.google.com/compute/docs/gpus), which lists
 * each machine series with its GPU model name, as read in 2026: A4X Max nvidia-gb300, A4X
 * nvidia-gb200, A4 nvidia-b200, A3 Ultra nvidia-h200-141gb, A3 Mega nvidia-h100-mega-80gb, A3 High
 * and Edge nvidia-h100-80gb, A2 Ultra nvidia-a100-80gb, A2 Standard (A100 40GB), G4
 * nvidia-rtx-pro-6000, G2 nvidia-l4, and for N1 nvidia-tesla-t4, nvidia-tesla-p4, nvidia-tesla-v100,
 * nvidia-tesla-p100. The A100 40GB is `nvidia-tesla-a100` on GKE nodes (GKE's own GPU pages and
 * node selectors use that name; the Compute Engine page now calls it nvidia-a100-40gb). The `-vws`
 * names are NVIDIA RTX Virtual Workstation licences for VMs, not node labels; the K80 has reached its
 * end of support. Add a name here when Google adds a GPU.
 */
export const gkeAcceleratorTypes = [
  "nvidia-gb300",
  "nvidia-gb200",
  "nvidia-b200",
  "nvidia-h200-141gb",
  "nvidia-h100-mega-80gb",
  "nvidia-h100-80gb",
  "nvidia-a100-80gb",
  "nvidia-tesla-a100",
  "nvidia-rtx-pro-6000",
  "nvidia-l4",
  "nvidia-tesla-t4",
  "nvidia-tesla-p4",
  "nvidia-tesla-v100",
  "nvidia-tesla-p100",
] as const;

export type GkeAcceleratorType = (typeof gkeAcceleratorTypes)[number];
