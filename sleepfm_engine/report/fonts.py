"""TrueType fonts for reports: DejaVu Sans from matplotlib's bundled fonts, embedded in the PDF.

The PDF base-14 fonts (Helvetica...) are never used: they are not embedded, and they cannot
print characters such as the em dash, "µ" or "×" on every viewer.
"""
from __future__ import annotations

from pathlib import Path

#: Font names registered with reportlab.
REGULAR = "DejaVuSans"
BOLD = "DejaVuSans-Bold"
ITALIC = "DejaVuSans-Oblique"
BOLD_ITALIC = "DejaVuSans-BoldOblique"
_FILES = {REGULAR: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf", ITALIC: "DejaVuSans-Oblique.ttf",
          BOLD_ITALIC: "DejaVuSans-BoldOblique.ttf"}
_registered = False


def font_dir() -> Path:
    """Folder of matplotlib's bundled TrueType fonts."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def register_fonts() -> None:
    """Register the DejaVu Sans family with reportlab (once per process).

    Raises
    ------
    FileNotFoundError
        If matplotlib's bundled fonts are missing (a broken matplotlib installation).
    """
    global _registered
    if _registered:
        return
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    folder = font_dir()
    for name, filename in _FILES.items():
        path = folder / filename
        if not path.is_file():
            raise FileNotFoundError(f"report font {path} is missing (matplotlib's bundled fonts)")
        pdfmetrics.registerFont(TTFont(name, str(path)))
    addMapping(REGULAR, 0, 0, REGULAR)
    addMapping(REGULAR, 1, 0, BOLD)
    addMapping(REGULAR, 0, 1, ITALIC)
    addMapping(REGULAR, 1, 1, BOLD_ITALIC)
    _registered = True
