import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { images, type PythonImageName } from "../../versions/images";

const versionsDir = path.join(__dirname, "..", "..", "versions");

/** The file scripts/setup.sh writes into a venv once every package of its lock is installed. */
export const completeMarker = ".jupyterhub-nfs-complete";

/**
 * Where scripts/setup.sh keeps the venv of an image's Python lock:
 * `${XDG_CACHE_HOME:-$HOME/.cache}/jupyterhub-nfs-python/<image>-<key>`, the key being the first 16
 * hex digits of sha256(lock file, then versions/.python-version), so a changed lock or Python gets
 * a new venv. setup.sh computes the same key with `cat <lock> versions/.python-version | sha256sum`.
 */
export function pythonEnvDir(image: PythonImageName): string {
  const hash = createHash("sha256")
    .update(fs.readFileSync(path.join(versionsDir, images[image].programs.lock)))
    .update(fs.readFileSync(path.join(versionsDir, ".python-version")))
    .digest("hex")
    .slice(0, 16);
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(cache, "jupyterhub-nfs-python", `${image}-${hash}`);
}

/**
 * The bin folder of the venv that holds the image's programs (`jupyterhub`, `python`,
 * `jupyterhub-singleuser`...), installed from versions/<image>.lock. Throws, saying what to run,
 * when scripts/setup.sh has not made it for the current lock.
 */
export function pythonEnvBin(image: PythonImageName): string {
  const dir = pythonEnvDir(image);
  if (!fs.existsSync(path.join(dir, completeMarker))) {
    throw new Error(
      `no Python environment for the ${image} image at ${dir} (versions/${images[image].programs.lock} ` +
        "changed, or it was never made): run `bash scripts/setup.sh`",
    );
  }
  return path.join(dir, "bin");
}
