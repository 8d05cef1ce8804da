"""The typed spec (`moltgen.yaml`) as data: field types, models, the layer merge, located
errors and the editor schema. Loading with the cross-checks that need the renderer is
moltgen.project's."""
