"""What code a model folder would make Python import, checked before anything loads.

sentence-transformers builds a model from the module types its ``modules.json``
names, and for a *local* folder it imports a ``<file>.<Class>`` type from a
``.py`` file in that folder even with ``trust_remote_code=False``; a Dense
layer's ``activation_function`` is imported and called by name. A model
folder that comes with an index (or any folder a user did not write) could
therefore run its own code when loaded. :func:`check_model_code` accepts only
the classes of installed ``sentence_transformers`` / ``pylate`` / ``torch.nn``
and refuses everything else unless the caller opts in with
``trust_remote_code=True``.

>>> check_model_code("/no/such/folder", trust_remote_code=False)  # nothing to read: nothing runs
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, UnsafeModelError

# Module types imported from installed packages only: dotted paths of three parts
# or more (a two-part "file.Class" is looked up as a .py file in the folder).
_INSTALLED_MODULE = re.compile(r"^(sentence_transformers|pylate)(\.[A-Za-z_]\w*){2,}$")
_ACTIVATION = re.compile(r"^torch\.nn(\.[A-Za-z_]\w*)+$")
# A hub id: "name" or "owner/name", letters, digits, "-", "_", "."
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def looks_like_hub_id(name: str) -> bool:
    """True for a model hub id (``owner/name``) that is not also a path on this machine.

    >>> looks_like_hub_id("mixedbread-ai/mxbai-edge-colbert-v0-32m"), looks_like_hub_id("/models/x")
    (True, False)
    """
    return bool(HUB_ID.match(name)) and ".." not in name and not Path(name).expanduser().exists()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(
            f"cannot read {path} ({type(exc).__name__}); the model folder is damaged: "
            "download or save the model again"
        ) from exc


def code_the_folder_names(folder: str | Path) -> list[str]:
    """Everything in ``folder`` that would import code other than installed
    sentence-transformers / PyLate modules and ``torch.nn`` activations."""
    folder = Path(folder)
    found: list[str] = []
    modules_file = folder / "modules.json"
    module_dirs = [folder]
    if modules_file.is_file():
        modules = _read_json(modules_file)
        if not isinstance(modules, list):
            return [f"{modules_file} is not a list of modules"]
        for module in modules:
            kind = str(module.get("type", "")) if isinstance(module, dict) else repr(module)
            if not _INSTALLED_MODULE.match(kind):
                found.append(f"module type {kind!r} in {modules_file.name}")
            sub = str(module.get("path", "")) if isinstance(module, dict) else ""
            if Path(sub).is_absolute() or ".." in Path(sub).parts:
                found.append(f"module path {sub!r} outside the folder in {modules_file.name}")
            else:
                module_dirs.append(folder / sub)
    for directory in dict.fromkeys(module_dirs):
        config_file = directory / "config.json"
        if not config_file.is_file():
            continue
        config = _read_json(config_file)
        if not isinstance(config, dict):
            continue
        activation = config.get("activation_function")
        if activation is not None and not _ACTIVATION.match(str(activation)):
            found.append(f"activation_function {activation!r} in "
                         f"{config_file.relative_to(folder)}")
        if config.get("auto_map"):
            found.append(f"auto_map (custom model code) in {config_file.relative_to(folder)}")
    return found


def check_model_code(folder: str | Path, *, trust_remote_code: bool) -> None:
    """Refuse (UnsafeModelError, one line) a model folder that would import its own code,
    unless ``trust_remote_code``."""
    if trust_remote_code or not Path(folder).is_dir():
        return
    found = code_the_folder_names(folder)
    if found:
        raise UnsafeModelError(
            f"model folder {folder} would run code of its own when loaded ({found[0]}); "
            "load it only if you trust it: trust_remote_code=True (CLI: --trust-remote-code)"
        )
