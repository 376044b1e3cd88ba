"""Logs users in through the hub image's JupyterHub and OAuthenticator, without a provider.

Usage: python hub_oauth_login.py CONFIG < request.json
The config is loaded as JupyterHub loads it, JupyterHub resolves its authenticator_class (an entry
point name such as "generic-oauth"), and that class is made with the config. The request names
traits to print and users: each is the user info a provider would answer its userinfo endpoint
with. Only the provider's HTTP exchange is replaced (the token request and the userinfo call);
from the user info on, OAuthenticator's own code runs: the username claim, the auth state,
manage_groups, then JupyterHub's get_authenticated_user (normalisation, allowed, admin), with the
config's allowed and admin users normalised first as the hub does at start-up. Prints
{"class", "traits", "logins": [{"user", "admin", "groups", "error", "folder"}]} as JSON.
"""

import asyncio
import json
import os
import sys

from jupyterhub.app import JupyterHub
from kubespawner.slugs import safe_slug
from tornado.web import HTTPError
from traitlets.config.loader import PyFileConfigLoader


def plain(value):
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


async def login(authenticator, user_info):
    token_info = {"access_token": "journey-token", "token_type": "Bearer", "scope": " ".join(authenticator.scope)}

    async def token_to_user(_token_info):
        return user_info

    async def authenticate(_handler, _data=None):
        return await authenticator._token_to_auth_model(token_info)

    authenticator.token_to_user = token_to_user
    authenticator.authenticate = authenticate
    try:
        model = await authenticator.get_authenticated_user(None, None)
    except HTTPError as e:
        return {"user": None, "admin": None, "groups": None, "error": f"{e.status_code} {e.log_message}"}
    if model is None:
        return {"user": None, "admin": None, "groups": None, "error": None}
    return {
        "user": model["name"],
        "admin": model.get("admin"),
        "groups": sorted(model["groups"]) if model.get("groups") is not None else None,
        "error": None,
        # The folder KubeSpawner's {username} expands to (_expand_user_properties: max_length 48).
        "folder": safe_slug(model["name"], max_length=48),
    }


async def main():
    path = os.path.abspath(sys.argv[1])
    request = json.load(sys.stdin)
    config = PyFileConfigLoader(os.path.basename(path), path=os.path.dirname(path)).load_config()
    cls = JupyterHub(config=config).authenticator_class
    authenticator = cls(config=config)
    # What JupyterHub.init_users (app.py) does with the config's names when the hub starts, before
    # any login: each normalised as a login name is, admins added to the allowed users.
    authenticator.admin_users = {authenticator.normalize_username(n) for n in authenticator.admin_users}
    authenticator.allowed_users = {authenticator.normalize_username(n) for n in authenticator.allowed_users}
    if authenticator.allowed_users and authenticator.admin_users:
        authenticator.allowed_users |= authenticator.admin_users
    out = {
        "class": cls.__name__,
        "traits": {name: plain(getattr(authenticator, name)) for name in request["traits"]},
        "logins": [await login(authenticator, info) for info in request["users"]],
    }
    json.dump(out, sys.stdout, sort_keys=True)


asyncio.run(main())
