"""Reading and rebuilding skmmoe model files (zip archives) in tests, shared by
test_persistence.py and test_properties.py:
``from model_files import archive, read_members``."""

import hashlib
import io
import json
import zipfile


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
