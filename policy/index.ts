import { PolicyPack } from "@pulumi/policy";
import { makePolicies } from "./rules";
import { parseStackConfig } from "./stackConfig";

// The engine starts the pack with the stack's config in PULUMI_CONFIG (see stackConfig.ts).
new PolicyPack("jupyterhub-nfs", {
  enforcementLevel: "mandatory",
  policies: makePolicies(parseStackConfig(process.env.PULUMI_CONFIG)),
});
