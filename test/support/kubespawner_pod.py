"""The pod KubeSpawner makes for a user's server from a jupyterhub_config.py, as JSON.

Loads the config the way JupyterHub does (traitlets' PyFileConfigLoader), builds the hub image's
KubeSpawner with it for a stand-in user (KubeSpawner's own test mode: no Kubernetes API, no hub),
then does what KubeSpawner's start does before it creates the pod: load_user_options(),
get_pod_manifest(), then the config's modify_pod_hook.

Usage: python3 kubespawner_pod.py, with a JSON list of {"config": PATH, "requests": [...]} on
standard input, each request {"user", "admin", "groups", "server", "options"} (groups: the user's
JupyterHub group names; options: the spawn request's body); one process for many configs, as
importing KubeSpawner takes a second or two. Prints, for each config, for each request, {"pod": ...}
as the API server would receive it, or {"error": "..."} when the spawn is refused; with profiles
configured, also "offered" (the slugs profile_list gives the user) and "form" (the spawn form's
HTML as KubeSpawner renders it for them). Run it with the
hub image's Python packages, and KUBECONFIG naming a kubeconfig (KubeSpawner loads one in its
constructor; building the pod sends no request).
"""

import asyncio
import json
import os
import sys
from types import SimpleNamespace

from jupyterhub.utils import maybe_future
from kubernetes_asyncio.client import ApiClient
from kubespawner import KubeSpawner
from traitlets.config.loader import PyFileConfigLoader


class StandInUser:
    """What KubeSpawner reads of JupyterHub's User while it builds the pod."""

    def __init__(self, name, admin, groups):
        self.name = name
        self.admin = admin
        self.id = 1
        self.url = f"/user/{name}/"
        # JupyterHub's User gives its ORM groups, each with a name.
        self.groups = [SimpleNamespace(name=g) for g in groups]


async def pod_for(config, request):
    spawner = KubeSpawner(
        config=config,
        user=StandInUser(request["user"], request["admin"], request.get("groups", [])),
        # JupyterHub's Spawner takes its server name from its database row.
        orm_spawner=SimpleNamespace(name=request.get("server", ""), server=None),
        _mock=True,
    )
    offer = {}
    if spawner.profile_list:
        # What the spawn form offers this user: profile_list may be a function of the spawner.
        profiles = await maybe_future(
            spawner.profile_list(spawner) if callable(spawner.profile_list) else spawner.profile_list
        )
        offer = {"offered": [p["slug"] for p in profiles], "form": await spawner.get_options_form()}
    try:
        # What a spawn request carries (the form's fields, a POST body), applied as start() does.
        spawner.user_options = request.get("options", {})
        await spawner.load_user_options()
        pod = await spawner.get_pod_manifest()
        if spawner.modify_pod_hook:
            pod = await maybe_future(spawner.modify_pod_hook(spawner, pod))
    except Exception as e:  # the spawn fails: KubeSpawner or the hook refused it
        return {"error": f"{type(e).__name__}: {e}", **offer}
    return {"pod": ApiClient().sanitize_for_serialization(pod), **offer}


def load(path):
    path = os.path.abspath(path)
    return PyFileConfigLoader(os.path.basename(path), path=os.path.dirname(path)).load_config()


async def main():
    results = []
    for item in json.load(sys.stdin):
        config = load(item["config"])
        results.append([await pod_for(config, r) for r in item["requests"]])
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
