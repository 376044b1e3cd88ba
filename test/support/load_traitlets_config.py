"""Loads a jupyterhub_config.py the way JupyterHub does, and prints what it configures as JSON.

JupyterHub's Application.load_config_file hands the file to traitlets' PyFileConfigLoader, which
executes it with get_config() in scope. Usage: python3 load_traitlets_config.py PATH
Sets are written as {"$set": [...]}, anything JSON cannot carry as {"$repr": "..."}.

With --unrecognised, it reads a JSON list of {"name", "path", "env"} on standard input, loads
each file with exactly that environment, and prints for each name the options no class of the hub
would read (a misspelt section or key): JupyterHub only logs a warning for those at start-up and
runs without the setting. One process for many files, as importing JupyterHub takes seconds. Run
it with the hub image's Python packages, so the classes are the image's.
"""

import json
import os
import sys

from traitlets.config import Configurable
from traitlets.config.loader import Config, LazyConfigValue, PyFileConfigLoader


def plain(value):
    if isinstance(value, Config):
        return {key: plain(v) for key, v in value.items()}
    if isinstance(value, LazyConfigValue):
        return {"$lazy": repr(value)}
    if isinstance(value, (set, frozenset)):
        return {"$set": sorted((plain(v) for v in value), key=repr)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(key): plain(v) for key, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return {"$repr": repr(value)}


def unrecognised(config):
    """`c.Section.key` settings that no configurable class of this hub has.

    The classes are JupyterHub's own list (the app, Spawner, Authenticator and every entry-point
    authenticator and spawner) plus the spawner, authenticator and proxy classes this config
    selects, with their base classes: a section applies to a class of that name or any subclass.
    """
    from jupyterhub.app import JupyterHub

    app = JupyterHub(config=config)
    selected = {app.spawner_class, app.authenticator_class, app.proxy_class}
    known = {}
    for cls in set(app.classes) | selected:
        for base in cls.mro():
            if isinstance(base, type) and issubclass(base, Configurable):
                known[base.__name__] = base
    problems = []
    for section, values in config.items():
        cls = known.get(section)
        if cls is None or not isinstance(values, Config):
            problems.append(f"c.{section}: no class of the hub is called {section}")
            continue
        options = cls.class_traits(config=True)
        problems += [f"c.{section}.{key}: {section} has no option {key}" for key in values if key not in options]
    return problems


def load(path):
    path = os.path.abspath(path)
    return PyFileConfigLoader(os.path.basename(path), path=os.path.dirname(path)).load_config()


def main():
    if sys.argv[1] == "--unrecognised":
        found = {}
        for item in json.load(sys.stdin):
            os.environ.clear()
            os.environ.update(item["env"])
            found[item["name"]] = unrecognised(load(item["path"]))
        json.dump(found, sys.stdout, sort_keys=True)
    else:
        json.dump(plain(load(sys.argv[1])), sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
