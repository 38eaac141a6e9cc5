"""jwtguard's pytest entry point: loaded by pytest in every run once jwtguard is installed, and inert until the run
asks for jwtguard's fixtures.

It imports nothing of jwtguard (an entry point loads before coverage starts, and before anything else a run needs)
and registers no fixture or hook that acts on its own. Only when the run names the plugin, `pytest -p jwtguard` (on
the command line or in `addopts`), does it load `jwtguard.pytest_plugin`, as `pytest_plugins =
["jwtguard.pytest_plugin"]` in the root `conftest.py` or `-p jwtguard.pytest_plugin` do directly.
"""

from __future__ import annotations

import pytest

#: The plugin's entry-point name, which `-p` names it by.
NAME = "jwtguard"


def pytest_configure(config: pytest.Config) -> None:
    if NAME in (config.getoption("plugins") or ()):
        config.pluginmanager.import_plugin("jwtguard.pytest_plugin")
