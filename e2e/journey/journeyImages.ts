import * as fs from "node:fs";
import * as path from "node:path";
import { repoRoot } from "../lib/toolchain";
import { pythonEnvBin } from "../../test/support/pythonEnv";
import { images } from "../../versions/images";
import { dockerStacksImage, nginxImage, proxyImage, pythonImage } from "./imageStandIns";
import type { JourneyImages } from "./journeyStack";

/**
 * What stands in for each image the journey runs (versions/images.ts): the hub's and the
 * notebook image's venvs (scripts/setup.sh; the notebook image started through a stand-in for its start.sh),
 * configurable-http-proxy from the project's npm
 * dependencies, Debian's nginx. `dir` holds files made for them (the nginx image's nginx.conf).
 */
export function journeyImages(dir: string): JourneyImages {
  searchableByContainers(repoRoot);
  return {
    hub: pythonImage(images.hub.process, path.dirname(pythonEnvBin("hub")), "/home/jovyan"),
    singleuser: dockerStacksImage(
      images.singleuser.process,
      path.dirname(pythonEnvBin("singleuser")),
      path.join(dir, "singleuser"),
    ),
    proxy: proxyImage(images.proxy.process, path.join(repoRoot, "node_modules", ".bin")),
    fileBrowser: nginxImage(images.fileBrowser.process, path.join(dir, "nginx")),
    nfs: images.nfs.reference,
  };
}

/**
 * The containers run as their images' users (1000, 65534, 101) and read files of the repository
 * (the proxy's npm package, the start.sh stand-in): every folder above it must let other users
 * through, or the proxy cannot even load (a clone under a `mktemp -d` folder, mode 0700, did
 * that). Folders under /root are bind-mounted into the containers instead (containerProcess.ts).
 */
function searchableByContainers(folder: string): void {
  if (folder.startsWith("/root/")) return;
  for (let d = folder; ; d = path.dirname(d)) {
    const mode = fs.statSync(d).mode & 0o777;
    if ((mode & 0o001) === 0) {
      throw new Error(
        `${d} (mode ${mode.toString(8)}) does not let other users through: the journey's containers run as ` +
          `their images' users and read ${folder}; chmod o+x ${d}, or clone the repository elsewhere`,
      );
    }
    if (d === path.dirname(d)) return;
  }
}
