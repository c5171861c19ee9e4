"""Lazy package attributes: public names that import their module on first use.

Packages whose modules pull in heavy dependencies (torch, scipy.signal) expose their API this way
so that importing the package, or the CLI listing its commands, stays fast.
"""
from __future__ import annotations

import importlib
from typing import Callable


def lazy_exports(package: str, namespace: dict, exports: dict[str, str]
                 ) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """Return ``(__getattr__, __dir__, __all__)`` for ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    namespace : dict
        The package's ``globals()``; a resolved name is cached there.
    exports : dict
        Public name → module (relative to the package) that defines it.
    """
    names = sorted(exports)

    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def __dir__():
        return list(names)

    return __getattr__, __dir__, names
