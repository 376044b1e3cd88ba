"""Loads a jupyterhub_config.py the way JupyterHub does, and prints what it configures as JSON.

JupyterHub's Application.load_config_file hands the file to traitlets' PyFileConfigLoader, which
executes it with get_config() in scope. Usage: python3 load_traitlets_config.py PATH
Sets are written as {"$set": [...]}, anything JSON cannot carry as {"$repr": "..."}.
"""

import json
import os
import sys

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


def main():
    path = os.path.abspath(sys.argv[1])
    loader = PyFileConfigLoader(os.path.basename(path), path=os.path.dirname(path))
    config = loader.load_config()
    json.dump(plain(config), sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
