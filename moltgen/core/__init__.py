"""What every stage shares: errors with their locations (errors.py), bounded reads and the
atomic writer of reports (files.py), YAML in and out with positions (yamlio/), field paths,
quantities, shapes of untyped data, the terminal's escaping, progress, the machine's seal on
its own state (trust.py), plain pickles (packing.py), the one git runner (git.py) and what
changed since a revision (changes.py). It imports nothing else of moltgen."""
