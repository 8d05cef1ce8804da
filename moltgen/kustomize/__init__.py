"""Everything moltgen does with kustomize, in the order a build goes: the one kustomization
reader (kustomization.py), confinement (confine.py), the keyless KSOPS copy (ksops.py), the
network namespace (netns.py), what a build reads (inputs.py) and the caches keyed by it
(buildcache.py, walkmemo.py), the engine that runs the real kustomize on one overlay
(engine.py), the batches that build many (batch.py), and the kustomize library's worker
processes that build offline overlays faster (library.py, libworker.py). Import the module you need: this
package itself holds nothing, so that importing the reader never loads the engine. A name
with an underscore is private to this package."""
