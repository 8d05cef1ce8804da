"""A digest pins the tag it was written with (issue 21): a layer that changes the image's tag
or repository without a digest must not inherit the digest of a layer below.

A digest wins over the tag at pull time, so prod overriding only `image.tag` (2026.9.6) on a
base pinned to 2026.7.1-2 would run 2026.7.1-2 while its openclaw.json is validated against
2026.9.6. No registry is asked: the rule is about which layer wrote what, so the digest must
be written in the same layer as the tag it belongs to, and no layer above it may move the
repository or the tag (repeating the same value is no move). `digest: null` in an override drops the digest on purpose.
"""

from __future__ import annotations

from typing import Any

from moltgen.core.errors import Problem
from moltgen.core.yamlio.document import Document
from moltgen.spec.model import Image
from moltgen.spec.problems import Layer

DROP_HINT = "set image.digest here too, or `digest: null` to drop it"


def pin_problems(document: Document, layers: list[Layer]) -> list[Problem]:
    """The image fields of one target whose digest and tag (or repository) come from different
    layers. `layers` go from the file's top level (prefix ()) up to the target's own."""
    images = [_image_of(overrides) for _, overrides in layers]
    digest_at = _last_writer(images, "digest")
    if digest_at is None or not images[digest_at]["digest"]:
        return []  # no digest, or dropped on purpose
    digest_path = (*layers[digest_at][0], "image", "digest")
    tag_at = _last_writer(images[:digest_at + 1], "tag")
    tag = _value_at(images[:digest_at + 1], "tag")
    pinned = f"for tag {tag}" if tag else "with no tag"
    problems = []
    for field in ("repository", "tag"):
        above = _last_writer(images, field)
        if above is not None and above > digest_at \
                and images[above][field] != _value_at(images[:digest_at + 1], field):
            path = (*layers[above][0], "image", field)
            problems.append(Problem(
                f"overrides the {field} but keeps the digest set at line "
                f"{document.locate(digest_path).line} {pinned}, and the digest decides what "
                f"runs; {DROP_HINT}", document.locate(path), _dotted(path)))
    if tag and tag_at is not None and tag_at < digest_at:  # a dropped tag asks for none
        tag_path = (*layers[tag_at][0], "image", "tag")
        problems.append(Problem(
            f"sets a digest here but the tag comes from line {document.locate(tag_path).line} "
            f"({tag}); set image.tag here too, so the tag says which release the digest is",
            document.locate(digest_path), _dotted(digest_path)))
    return problems


def _image_of(overrides: Any) -> dict[str, Any]:
    # A layer or image that is not a mapping is validation's to report, not this module's.
    image = overrides.get("image") if isinstance(overrides, dict) else None
    return image if isinstance(image, dict) else {}


def _last_writer(images: list[dict[str, Any]], field: str) -> int | None:
    """The index of the highest layer that writes `field` (null included: it drops)."""
    return next((i for i in reversed(range(len(images))) if field in images[i]), None)


def _value_at(images: list[dict[str, Any]], field: str) -> Any:
    """The field as the layers give it (an override repeating it changes nothing)."""
    at = _last_writer(images, field)
    return images[at][field] if at is not None else Image.model_fields[field].default


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path)
