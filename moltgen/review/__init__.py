"""What changes, for a reviewer: the semantic diff of two builds (diff.py), a pull request's
rendered objects and findings base to head (base.py), and its report (report.py)."""
