"""Errors as a person reads them: one short, specific message, never a traceback.

The engine's own errors (:class:`~sleepfm_engine.errors.SleepFMError` and the ``ValueError``
family) already name the file and the problem; they are shown as they are. Anything else is a
bug: the dialog says what failed in one sentence and the traceback goes to the log.
"""
from __future__ import annotations

import logging
import sys

log = logging.getLogger("sleepfm_gui")


def describe_exception(exc: BaseException) -> str:
    """A readable one-paragraph description of ``exc`` for an error dialog.

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    str
        The engine's message for expected errors (bad files, bad settings); for an unexpected
        error, its type and message and a note that details are in the log.
    """
    from sleepfm_engine.errors import SleepFMError

    if isinstance(exc, SleepFMError) and str(exc):
        return str(exc)
    if isinstance(exc, MemoryError):
        return ("Not enough memory for this operation. Close other programs or use a smaller "
                "batch size, then try again.")
    if isinstance(exc, FileNotFoundError):
        name = exc.filename or str(exc)
        return f"{name}: file not found"
    if isinstance(exc, PermissionError):
        name = exc.filename or str(exc)
        return f"{name}: permission denied (the file or folder is not writable or readable)"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    if isinstance(exc, (ValueError, TypeError, KeyError)) and str(exc):
        text = str(exc)
        if isinstance(exc, KeyError) and len(text) >= 2 and text[0] == text[-1] == "'":
            text = text[1:-1]
        return text
    text = str(exc) or "no details"
    return (f"An unexpected error occurred ({type(exc).__name__}: {text}). "
            "This is a bug in SleepFM Studio; the details were written to the log.")


def log_exception(exc: BaseException, what: str = "") -> None:
    """Write the full traceback of ``exc`` to the log (never to the screen)."""
    log.error("%s failed", what or "operation", exc_info=(type(exc), exc, exc.__traceback__))


def _headless(parent) -> bool:
    """A window rendering for a script (``--screenshot``) must never wait on a dialog."""
    window = parent.window() if parent is not None and hasattr(parent, "window") else parent
    return bool(getattr(window, "headless", False))


def show_error(parent, title: str, message: str) -> None:
    """Show an error dialog (modal). Tests replace this function to capture the text.

    A headless window (``--screenshot``) writes the message to stderr instead.
    """
    from PySide6.QtWidgets import QMessageBox

    if _headless(parent):
        print(f"error: {title}: {message}", file=sys.stderr)
        return
    box = QMessageBox(QMessageBox.Critical, title, message, QMessageBox.Ok, parent)
    box.setTextInteractionFlags(box.textInteractionFlags())
    box.exec()


def show_warning(parent, title: str, message: str) -> None:
    """Show a warning dialog (modal). Tests replace this function to capture the text."""
    from PySide6.QtWidgets import QMessageBox

    if _headless(parent):
        print(f"warning: {title}: {message}", file=sys.stderr)
        return
    QMessageBox.warning(parent, title, message)


def report_exception(parent, title: str, exc: BaseException) -> str:
    """Log ``exc`` when it is unexpected, show its readable description, and return that text."""
    from sleepfm_engine.errors import SleepFMError

    if not isinstance(exc, (SleepFMError, OSError, ValueError, TypeError, KeyError, MemoryError)):
        log_exception(exc, title)
    text = describe_exception(exc)
    show_error(parent, title, text)
    return text
