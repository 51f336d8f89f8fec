"""A report as a list of blocks (headings, text, bullets, tables, figures), rendered as Markdown and as one
self-contained HTML page."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

from robostral.markdown import table


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Text:
    text: str  # inline markup: `code` and **bold** only


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Figure:
    alt: str
    path: str  # relative to the output folder


Block = Heading | Text | Bullets | Table | Figure


def render_markdown(blocks: list[Block]) -> str:
    """The blocks as Markdown, figures linked by their paths."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines.append("#" * block.level + " " + block.text)
        elif isinstance(block, Text):
            lines.append(block.text)
        elif isinstance(block, Bullets):
            lines += [f"- {item}" for item in block.items]
        elif isinstance(block, Table):
            lines.append(table(block.header, block.rows))
        elif isinstance(block, Figure):
            lines.append(f"![{block.alt}]({block.path})")
        lines.append("")
    return "\n".join(lines)


CSS = """body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f0f0f0; }
code { background: #f4f4f4; padding: 0 0.2em; }
img { max-width: 100%; }"""


def render_html(blocks: list[Block], out: Path, title: str) -> str:
    """One self-contained page: inline CSS, figures embedded as base64 PNG."""
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>",
             f"<style>\n{CSS}\n</style></head><body>"]
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Text):
            parts.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            parts.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_inline(cell)}</th>" for cell in block.header)
            body = "".join("<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>"
                           for row in block.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, Figure):
            data = base64.b64encode((Path(out) / block.path).read_bytes()).decode("ascii")
            parts.append(f"<p><img alt=\"{html.escape(block.alt)}\" src=\"data:image/png;base64,{data}\"></p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _inline(text: str) -> str:
    """Escape text for HTML, then turn `code` and **bold** into tags."""
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
