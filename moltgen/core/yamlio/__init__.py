"""The one place moltgen parses and writes YAML.

Parsing uses libyaml (the C scanner and composer) and then builds plain Python data from the
node graph ourselves, which lets us:
- remember where every value came from (`Document.locate`), for errors and findings;
- reject duplicate keys, which PyYAML silently overwrites;
- refuse alias bombs before expanding them (the expanded size is computed on the node graph,
  where an alias is just another reference to the same node);
- refuse inputs that are too large or too deeply nested, with a message instead of a crash.

Modules: loader (libyaml and the limits), document (Document and locating), parse (text to
Documents), stream (large files document by document), dump. A name with an underscore is
private to this package.
"""
