import * as pulumi from "@pulumi/pulumi";
import { deployJupyterHubNfs } from "./components/jupyterhubNfs";
import { readStackConfig } from "./stacks";
import { refuseDiskShrink } from "./stacks/diskShrink";

// The composition root: the whole deployment is components/jupyterhubNfs.ts, here with the stack's
// config. Pulumi runs an exported function as the program and takes its result as the stack outputs.
// Config is read and validated first, so bad config fails before any resource is registered.
// A smaller diskSize than the GCE disk has is refused next, still before any resource exists.
export = () => {
  const cfg = readStackConfig();
  return refuseDiskShrink(cfg, pulumi.getProject()).then(() => deployJupyterHubNfs(cfg));
};
