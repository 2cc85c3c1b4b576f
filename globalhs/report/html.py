"""The report page: one self-contained HTML file beside its PNG figures (jinja2, autoescaped)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from globalhs.atomic import atomic_write

__all__ = ["Section", "write_html"]


@dataclass
class Section:
    """One part of the report: a title, optional figure (path relative to the page), text, a table
    (header row + rows) and notes on what was not available."""

    title: str
    figure: str | None = None
    text: str = ""
    table: list[list[str]] = field(default_factory=list)
    missing: str = ""


_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; border-bottom: 1px solid #ccc; margin-top: 2rem; }
img { max-width: 100%; } table { border-collapse: collapse; font-size: 0.9rem; }
td, th { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: right; }
th { background: #f4f4f4; } .missing { color: #a50; } .summary { font-weight: 600; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="summary">{{ summary }}</p>
<ul>{% for k, v in facts %}<li>{{ k }}: {{ v }}</li>{% endfor %}</ul>
{% for s in sections %}
<h2>{{ s.title }}</h2>
{% if s.text %}<p>{{ s.text }}</p>{% endif %}
{% if s.figure %}<img src="{{ s.figure }}" alt="{{ s.title }}">{% endif %}
{% if s.table %}<table><tr>{% for h in s.table[0] %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in s.table[1:] %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</table>{% endif %}
{% if s.missing %}<p class="missing">{{ s.missing }}</p>{% endif %}
{% endfor %}
</body></html>
""")


def write_html(path: Path, title: str, summary: str, facts: list[tuple[str, str]], sections: list[Section]) -> Path:
    """Render the page to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = _TEMPLATE.render(title=title, summary=summary, facts=facts, sections=sections)
    atomic_write(path, text)
    return path
