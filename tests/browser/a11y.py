"""axe-core in the browser tests: run the WCAG 2.2 A/AA rules and fail on serious or critical.

axe ships inside the PyPI package axe-playwright-python (its version is printed with any
failure). The script is evaluated through Playwright's DevTools channel, which the page's
Content-Security-Policy does not apply to, so the app's CSP stays as strict as in production.
"""

import re
from functools import cache
from pathlib import Path

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
BLOCKING = ("serious", "critical")


@cache
def axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


def axe_version() -> str:
    match = re.search(r"axe v([\d.]+)", axe_source()[:200])
    return match.group(1) if match else "?"


def violations(page, include=None, impacts=BLOCKING):
    """axe violations of the given impacts on the page (or inside the `include` selector).

    Waits for the page's load event first: a page still fetching its stylesheet shows
    unstyled markup (the skip link beside the brand), which is not what a user sees."""
    page.wait_for_load_state("load")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    options = {"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"]}
    result = page.evaluate(
        "([include, options]) => axe.run(include ? {include: [include]} : document, options)",
        [include, options])
    return [v for v in result["violations"] if v["impact"] in impacts]


def describe(found) -> str:
    lines = []
    for v in found:
        lines.append(f"{v['impact']}: {v['id']}: {v['help']}")
        for node in v["nodes"][:5]:
            summary = (node.get("failureSummary") or "").splitlines()[-1:]
            lines.append(f"    {node['target']}: {summary}")
    return "\n".join(lines)


def assert_accessible(page, where: str = "", include=None):
    """Zero serious or critical axe violations, in light and in dark colours."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        found = violations(page, include)
        assert not found, (f"axe {axe_version()} on {where or page.url} ({scheme}):\n"
                           + describe(found))
    page.emulate_media(color_scheme="light")
