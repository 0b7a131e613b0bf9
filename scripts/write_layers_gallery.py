"""Write docs/layers.md: the layers and losses of real networks, derived and checked.

    python scripts/write_layers_gallery.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from layers_gallery import LAYERS, check_layer, markdown  # noqa: E402


def main() -> int:
    results = [r for layer in LAYERS for r in check_layer(layer)]
    out = ROOT / "docs" / "layers.md"
    out.write_text(markdown(results), encoding="utf-8")
    bad = [f"{r.layer.name} wrt {r.wrt}" for r in results if not (r.same and r.compiled)]
    print(f"{out}: {len(results)} gradients of {len(LAYERS)} layers; "
          f"{len(bad)} disagree{': ' + ', '.join(bad) if bad else ''}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
