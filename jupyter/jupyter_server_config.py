# Configuration of `make lab` (the Makefile sets JUPYTER_CONFIG_DIR to this folder), so a student
# who runs `make lab` and opens a notebook has nothing to dismiss. Nothing here touches ~/.jupyter.
import os

here = os.path.dirname(os.path.abspath(__file__))
# lab-settings/overrides.json: no "get Jupyter news?" prompt, no update check; every cell drawn
# (no windowing), so a reopened notebook shows all its figures at once.
c.LabApp.app_settings_dir = os.path.join(here, "lab-settings")
# What JupyterLab writes while it runs (open tabs, settings the student changes) stays out of git.
c.LabApp.workspaces_dir = os.path.join(here, "state", "workspaces")
c.LabApp.user_settings_dir = os.path.join(here, "state", "user-settings")
