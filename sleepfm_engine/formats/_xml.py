"""A tiny XML tree that remembers the line of every element, for error messages.

The standard ElementTree drops line numbers; expat gives them as it parses. Entities are not
expanded beyond expat's defaults (external entities are never fetched).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from ..errors import HypnogramError


@dataclass
class Node:
    """An XML element: tag (namespace prefix removed), attributes, text, children, line."""

    tag: str
    attrib: dict
    line: int
    text: str = ""
    children: list["Node"] = field(default_factory=list)

    def find(self, tag: str) -> "Node | None":
        """First child with this tag."""
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list["Node"]:
        """Children with this tag."""
        return [c for c in self.children if c.tag == tag]

    def findtext(self, tag: str) -> str | None:
        """Stripped text of the first child with this tag, or None."""
        child = self.find(tag)
        return None if child is None else child.text.strip()


def parse_xml(path: Path) -> Node:
    """Parse ``path`` into a :class:`Node` tree.

    Raises
    ------
    HypnogramError
        If the file cannot be read or is not well-formed XML (names the line).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HypnogramError(path, "no such file") from None
    if not data.strip():
        raise HypnogramError(path, "the file is empty")
    parser = expat.ParserCreate()
    stack: list[Node] = []
    root: list[Node] = []
    texts: list[list[str]] = []

    def start(tag, attrib):
        node = Node(tag.rsplit(":", 1)[-1], attrib, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)
        texts.append([])

    def end(tag):
        node = stack.pop()
        node.text = "".join(texts.pop())

    def chars(data):
        if texts:
            texts[-1].append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise HypnogramError(path, f"not well-formed XML: {expat.ErrorString(exc.code)}",
                             exc.lineno) from None
    except LookupError as exc:  # the XML declaration names an encoding Python does not know
        raise HypnogramError(path, f"unreadable XML: {exc}", parser.CurrentLineNumber) from None
    return root[0]
