# Draws the speed table of benchmarks/README.md as an SVG (run by markdown-exec).
import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

text = Path("benchmarks/README.md").read_text(encoding="utf-8")
table = text.split("<!-- speed:start -->")[1].split("<!-- speed:end -->")[0]
rows = [[c.strip() for c in line.strip().strip("|").split("|")]
        for line in table.splitlines() if line.startswith("|")]
header, body = rows[0], [r for r in rows[2:] if len(r) == len(rows[0])]
frameworks = [h for h in header if re.fullmatch(r"\w+ / matdiff", h)]
cases = [r[0] for r in body]


def number(cell):
    try:
        return float(cell.replace(",", ""))
    except ValueError:
        return float("nan")


plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "matdiff", "font.size": 9})
fig, ax = plt.subplots(figsize=(8, 0.32 * len(cases) * len(frameworks) / 2 + 1.2))
height = 0.8 / len(frameworks)
for k, name in enumerate(frameworks):
    col = header.index(name)
    ys = [i + (k - (len(frameworks) - 1) / 2) * height for i in range(len(cases))]
    ax.barh(ys, [number(r[col]) for r in body], height=height, label=name.split(" /")[0])
ax.axvline(1.0, color="black", linewidth=0.8)
ax.set_xscale("log")
ax.set_yticks(range(len(cases)), cases)
ax.invert_yaxis()
ax.set_xlabel("time of the framework / time of matdiff's compiled code")
ax.legend(loc="lower right")
fig.tight_layout()
buf = io.StringIO()
fig.savefig(buf, format="svg")
plt.close(fig)
print(buf.getvalue().split("?>", 1)[-1])
