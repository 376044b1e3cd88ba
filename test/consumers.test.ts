/**
 * What we render, checked by the programs that will read it (issue 3, parts 1-3): every Kubernetes
 * object against the API server's OpenAPI schema, the file browser's nginx config under a real
 * nginx, and jupyterhub_config.py under traitlets' config loader. One test file, so that each stack
 * and variation is rendered once for all three (test/support/variations.ts caches per process).
 * Run one part alone with e.g. `node --import tsx --test test/consumers/nginx.ts`.
 */
import "./consumers/kubernetesSchema";
import "./consumers/nginx";
import "./consumers/hubConfigPython";
