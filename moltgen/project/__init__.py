"""Loading a project with its cross-checks: the spec read as data (moltgen.spec), the user's
own additions (additions.py) and each overlay's openclaw.json against its release's schema
(openclaw_config.py), both judged by what render makes of them (load.py). The only package
that joins spec and render: the spec never imports the renderer that imports it."""

from moltgen.project.load import load_project

__all__ = ["load_project"]
