import * as path from "node:path";
import { repoRoot } from "../lib/toolchain";
import { pythonEnvBin } from "../../test/support/pythonEnv";
import { images } from "../../versions/images";
import { dockerStacksImage, nginxImage, proxyImage, pythonImage } from "./imageStandIns";
import type { JourneyImages } from "./journeyStack";

/**
 * What stands in for each image the journey runs (versions/images.ts): the hub's and the
 * notebook image's venvs (scripts/setup.sh; the notebook image with its own start-up scripts),
 * configurable-http-proxy from the project's npm
 * dependencies, Debian's nginx. `dir` holds files made for them (the nginx image's nginx.conf).
 */
export function journeyImages(dir: string): JourneyImages {
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
