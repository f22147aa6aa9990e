"""Reading and rebuilding skmmoe model files (zip archives) in tests, shared by
test_persistence.py and test_properties.py:
``from model_files import archive, read_members, skops_schema, skops_member``.

A model file's ``preprocessor.skops`` member is itself a zip (skops' format): a
``schema.json`` describing the objects, and ``.npy`` files of their numeric
arrays. ``skops_schema`` and ``skops_member`` take it apart and put it together
again, as a crafted file would be made."""

import hashlib
import io
import json
import zipfile

PREPROCESSOR = "preprocessor.skops"


def read_members(source) -> dict[str, bytes]:
    """Every member of a model file: a path, or the file's bytes."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    with zipfile.ZipFile(source) as zin:
        return {i.filename: zin.read(i.filename) for i in zin.infolist()}


def archive(
    members: dict[str, bytes], *, resign: bool, compression=zipfile.ZIP_STORED
) -> bytes:
    """A zip of ``members``; with ``resign``, checksums.json rewritten to match
    them, as a deliberately crafted file would be."""
    members = dict(members)
    if resign:
        members["checksums.json"] = json.dumps(
            {
                name: hashlib.sha256(data).hexdigest()
                for name, data in members.items()
                if name != "checksums.json"
            }
        ).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zout:
        for name, data in members.items():
            zout.writestr(name, data)
    return buffer.getvalue()


def skops_schema(data: bytes) -> tuple[dict, dict[str, bytes]]:
    """A skops member's schema.json, parsed, and its other members (the arrays)."""
    members = read_members(data)
    return json.loads(members.pop("schema.json")), members


def skops_member(
    schema: dict, arrays: dict[str, bytes], compression=zipfile.ZIP_STORED
) -> bytes:
    """A skops member made of ``schema`` and ``arrays``, as skops lays it out."""
    return archive(
        {**arrays, "schema.json": json.dumps(schema).encode()},
        resign=False,
        compression=compression,
    )
