"""Everything moltgen does with kustomize: the one kustomization reader (kustomization.py),
confinement (confine.py), the keyless KSOPS copy (ksops.py) and the engine that runs the real
kustomize (engine.py). `from moltgen import kustomize` is the engine."""

from moltgen.kustomize.engine import (BUILD_TIMEOUT_SECONDS, CHUNK, BudgetSpent, Deadline, build,
                                      build_all, build_each, build_groups_keyed, build_parts,
                                      build_parts_keyed, engine_command, legacy_order,
                                      split_documents, walk_memo)

__all__ = ["BUILD_TIMEOUT_SECONDS", "CHUNK", "BudgetSpent", "Deadline", "build", "build_all",
           "build_each", "build_groups_keyed", "build_parts", "build_parts_keyed",
           "engine_command", "legacy_order", "split_documents", "walk_memo"]
