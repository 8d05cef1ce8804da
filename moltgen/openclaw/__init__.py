"""OpenClaw itself: its config schema per release, shipped as data (schema.py), and the
maintainer/test helper that installs a real release with Node.js and npm (install.py)."""
