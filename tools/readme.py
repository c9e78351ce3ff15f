"""Write README.md from nbs/index.ipynb without Quarto (nbdev's README builder needs Quarto).

Markdown cells are copied as they are; code cells become ```python blocks followed by their text output; cells whose
first lines carry `#| hide` are left out, cells with `#| echo: false` show their output only, other `#|` directive
lines are dropped, and links into ../ (from nbs/) are made relative to the repository's root.
`python tools/readme.py --check` exits 1 when README.md is out of date (CI runs it)."""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def cell_src(c): return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]

def render(nb):
    out = []
    for c in nb["cells"]:
        lines = cell_src(c).splitlines()
        dirs = [l for l in lines if l.startswith("#|")]
        if any(d.split()[1:2] == ["hide"] or d.replace(" ", "") == "#|hide" for d in dirs): continue
        body = "\n".join(l for l in lines if not l.startswith("#|")).strip()
        if c["cell_type"] == "markdown": out.append(body.replace("](../", "]("))  # notebook paths -> repo paths
        elif c["cell_type"] == "code" and body:
            if not any(d.replace(" ", "") == "#|echo:false" for d in dirs): out.append(f"```python\n{body}\n```")
            text = [("".join(o.get("text", "")) if o.get("name") == "stdout" else "") if o["output_type"] == "stream"
                    else "".join(o.get("data", {}).get("text/plain", "")) for o in c.get("outputs", [])]
            text = "".join(t for t in text if t).strip()
            if text: out.append(f"```\n{text}\n```")
    return "<!-- Generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file. -->\n\n" + \
           "\n\n".join(out) + "\n"

if __name__ == "__main__":
    txt = render(json.loads((root/"nbs"/"index.ipynb").read_text()))
    readme = root/"README.md"
    if "--check" in sys.argv:
        if not readme.exists() or readme.read_text() != txt:
            sys.exit("README.md is out of date with nbs/index.ipynb: run `python tools/readme.py`.")
    else: readme.write_text(txt)
