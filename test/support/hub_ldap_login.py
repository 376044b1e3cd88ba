"""Logs users in the way the hub does, with the hub image's LDAPAuthenticator and JupyterHub.

Usage: python hub_ldap_login.py CONFIG [ROOT] < request.json

CONFIG is a jupyterhub_config.py, loaded with traitlets' PyFileConfigLoader as JupyterHub loads it.
ROOT, if given, is where the files the pod would see are materialised: an absolute
`LDAPAuthenticator.tls_kwargs["ca_certs_file"]` is read under it (the test cannot write to the
container's own paths, such as /etc, on this machine).

request.json: {"existing_users": [names], "logins": [{"username": ..., "password": ...}]}
- existing_users are handed to Authenticator.add_user, as JupyterHub does at start-up for every user
  already in its database;
- each login goes through Authenticator.get_authenticated_user, which JupyterHub's login handler
  calls: LDAPAuthenticator.authenticate (bind over the configured TLS), then the allow checks.

Prints JSON: [{"user": name or null, "error": "Type: message" or null}, ...] in the order given,
with "groups" too when the login's auth model carries them (the config's post_auth_hook, for
Authenticator.manage_groups: the groups JupyterHub then gives the user).
"""

import asyncio
import json
import logging
import os
import sys
import types

from ldapauthenticator import LDAPAuthenticator
from traitlets.config.loader import PyFileConfigLoader


def load(path, root):
    path = os.path.abspath(path)
    config = PyFileConfigLoader(os.path.basename(path), path=os.path.dirname(path)).load_config()
    kwargs = dict(config.LDAPAuthenticator.get("tls_kwargs", {}))
    ca = kwargs.get("ca_certs_file")
    if root and isinstance(ca, str) and os.path.isabs(ca):
        kwargs["ca_certs_file"] = os.path.join(root, ca.lstrip("/"))
        config.LDAPAuthenticator.tls_kwargs = kwargs
    return config


async def main():
    config = load(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    request = json.load(sys.stdin)
    log = logging.getLogger("hub-ldap-login")
    log.addHandler(logging.StreamHandler(sys.stderr))
    log.setLevel(logging.DEBUG)
    authenticator = LDAPAuthenticator(config=config, log=log)
    for name in request.get("existing_users", []):
        result = authenticator.add_user(types.SimpleNamespace(name=name))
        if asyncio.iscoroutine(result):
            await result
    results = []
    for login in request["logins"]:
        try:
            user = await authenticator.get_authenticated_user(None, dict(login))
            groups = {"groups": user["groups"]} if user and "groups" in user else {}
            results.append({"user": user["name"] if user else None, "error": None, **groups})
        except Exception as e:  # noqa: BLE001 - reported to the test, which expects some
            results.append({"user": None, "error": f"{type(e).__name__}: {e}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
