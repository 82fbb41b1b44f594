"""Export a recorded tape (or a model's inference pass) to ONNX (optional extra ``[onnx]``: onnx + onnxruntime).

``export(model, path, example_input)`` records one eval-mode pass on a tape and translates its records;
``Tape.to_onnx(path)`` translates a tape recorded by hand. The translation reads only the tape's records
(``node.name``, ``node.attrs``, ``node.inputs``, ``node.output``, ``node.layer``): one function per op in
``translations.py``, registered by name in ``TRANSLATIONS``. onnx itself is imported on first use.
"""
from __future__ import annotations

from .builder import ExportError, export, to_onnx  # noqa: F401
from .translations import TRANSLATIONS, translates  # noqa: F401


def translated_ops() -> list[str]:
    """Names of the tape ops that have an ONNX translation, sorted."""
    return sorted(TRANSLATIONS)


__all__ = ["ExportError", "export", "to_onnx", "TRANSLATIONS", "translates", "translated_ops"]
