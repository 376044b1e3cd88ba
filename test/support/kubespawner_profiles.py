"""Runs KubeSpawner's own profile code on a jupyterhub_config.py, for users in given groups.

Reads JSON on standard input: {"config": PATH, "cases": [{"case", "user", "groups", "user_options"}],
"auth_models": [...]}. For each case it makes a KubeSpawner (the hub image's, with this config, for
a user whose JupyterHub groups are `groups`) and prints what the hub would get from it: the slugs
of profile_list(spawner), the spawn form's HTML, and, for `user_options` as a start request would
carry them, either the pod manifest (load_user_options, then get_pod_manifest, as KubeSpawner's
start does) or the error that refuses the start. Each auth model is passed through the config's
Authenticator.post_auth_hook, as JupyterHub does after a login. Prints JSON on standard output.

No Kubernetes API is called: KubeSpawner only needs a kubeconfig to exist (KUBECONFIG), and the
pod manifest is built, not created.
"""

import asyncio
import json
import os
import sys
from types import SimpleNamespace

from kubespawner import KubeSpawner
from traitlets.config.loader import PyFileConfigLoader


def load(path):
    path = os.path.abspath(path)
    return PyFileConfigLoader(os.path.basename(path), path=os.path.dirname(path)).load_config()


async def run_case(config, case):
    user = SimpleNamespace(
        name=case["user"],
        id=1,
        url=f"/user/{case['user']}/",
        escaped_name=case["user"],
        # What JupyterHub's User gives: its ORM groups, each with a name.
        groups=[SimpleNamespace(name=g) for g in case["groups"]],
    )
    spawner = KubeSpawner(config=config, user=user, _mock=True)
    profile_list = spawner.profile_list(spawner)
    result = {
        "offered": [p["slug"] for p in profile_list],
        "form": await spawner.get_options_form(),
        "pod": None,
        "error": None,
    }
    spawner.user_options = case["user_options"]
    try:
        await spawner.load_user_options()
        pod = await spawner.get_pod_manifest()
    except Exception as e:  # noqa: BLE001 - the refusal is the result
        result["error"] = f"{type(e).__name__}: {e}"
    else:
        result["pod"] = spawner.api.api_client.sanitize_for_serialization(pod)
    return result


async def main():
    request = json.load(sys.stdin)
    config = load(request["config"])
    cases = {case["case"]: await run_case(config, case) for case in request["cases"]}
    hook = config.Authenticator.get("post_auth_hook")
    post_auth = [hook(None, None, dict(model)) if hook else None for model in request["auth_models"]]
    json.dump({"cases": cases, "post_auth": post_auth}, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
