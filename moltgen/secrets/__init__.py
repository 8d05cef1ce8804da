"""Secrets: each environment's Secret, encrypted with SOPS to age recipients.

- sops.py       run the real sops (plaintext only through pipes), classify its failures
- age.py        create age identities where sops looks for them
- facts.py      what the encrypted file tells without a key (for CI and the policy rules)
- manifest.py   the plaintext Secret manifest and its header (only ever sent to sops)
- reconcile.py  the smallest sops operations that bring an existing file in line with the spec
- render.py     plan_secret_files and .sops.yaml, for `moltgen render`
- store.py      set / rotate / get / updatekeys on the files in a project
- commands.py   `moltgen secrets ...`
"""
