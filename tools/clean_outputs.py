"""Clean the outputs stored in executed notebooks for readers (GitHub and the docs site show them).

    nbdev-test --save --n-workers 1 && python tools/clean_outputs.py nbs/*.ipynb && nbdev-clean   # the notebooks' outputs
    python tools/clean_outputs.py results/h200/notebooks/*.ipynb   # notebooks a GPU run executed (papermill)

Cleaning keeps what a reader learns from and drops what only the machine cared about: stderr lines that are library
logs or warnings (ONNX Runtime's coloured log lines, Python warnings raised inside site-packages, progress bars,
Ray's and transformers' loading chatter, and Ray's log lines relayed to stdout with their ids), ANSI colour codes,
papermill's notebook metadata (the run's input and output paths), and absolute paths (temporary folders become `<tmp>`,
the environment's packages `<site-packages>`, this repository `.`). Lines longer than 400 characters are wrapped. Images are kept; each is at most `--max-image-kb`.
Run `nbdev-clean` afterwards for the notebooks in nbs/ (CI checks that it leaves no diff).
"""
import argparse, base64, re, textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
NOISE = [re.compile(p) for p in (
    r"^\s*$",
    r"\[[WEI]:onnxruntime:",                       # ONNX Runtime's log lines
    r"site-packages/.*Warning:",                   # a warning raised inside a library
    r"^\s*warnings\.warn\(",                       # ... and the source line Python prints under it
    r"\d+%\|",                                     # tqdm progress bars
    r"^Loading weights",                           # transformers
    r"(WARNING|INFO) .*\.py:\d+ -- ",              # Ray's logging
    r"core_worker\.cc|raylet|\(raylet\)",          # Ray's C++ logs
    r"TqdmWarning|IProgress not found|from \.autonotebook import",
)]
RAY_RELAYED = re.compile(r"^\((raylet|[\w().,\s-]*pid=\d+)[^)]*\)")  # a Ray process's log line relayed to the driver's stdout
PATHS = [(re.compile(r"/tmp/[\w.-]+(/tmp\w+)?"), "<tmp>"),
         (re.compile(r"/[\w/.-]*/site-packages"), "<site-packages>"),
         (re.compile(re.escape(str(ROOT)) + r"/?"), "./")]


def clean_text(s: str, width: int = 400) -> str:
    "No colour codes, no absolute paths; a line longer than `width` characters is wrapped (at 200), never cut."
    s = ANSI.sub("", s)
    for rx, rep in PATHS: s = rx.sub(rep, s)
    return "".join(l if len(l) <= width else textwrap.fill(l.rstrip("\n"), 200, break_on_hyphens=False) + "\n"
                   for l in s.splitlines(keepends=True))


def clean_outputs(outputs: list, max_image_kb: int) -> list:
    keep = []
    for o in outputs:
        if o.get("output_type") == "stream":
            text = "".join(o["text"]) if isinstance(o["text"], list) else o["text"]
            if o.get("name") == "stderr":
                text = "".join(l for l in text.splitlines(keepends=True) if not any(rx.search(ANSI.sub("", l)) for rx in NOISE))
            text = "".join(l for l in text.splitlines(keepends=True) if not RAY_RELAYED.match(ANSI.sub("", l)))  # ids, pids
            text = clean_text(text)
            if text.strip(): keep.append({**o, "text": text})
            continue
        data = o.get("data")
        if data is not None:
            data = {k: v for k, v in data.items() if "widget" not in k}  # progress-bar widgets
            for k in ("text/plain", "text/html", "text/markdown"):
                if k in data: data[k] = clean_text("".join(data[k]) if isinstance(data[k], list) else data[k])
            png = data.get("image/png")
            if png and len(base64.b64decode("".join(png) if isinstance(png, list) else png)) > max_image_kb * 1024:
                raise SystemExit(f"an image of more than {max_image_kb} KB: make the figure smaller (figure.dpi)")
            if not data: continue
            o = {**o, "data": data}
        if o.get("output_type") == "error":
            o = {**o, "traceback": [clean_text(t) for t in o.get("traceback", [])]}
        keep.append(o)
    return keep


def clean_nb(nb, max_image_kb: int):
    for c in nb["cells"]:
        if c.get("cell_type") == "code":
            c["outputs"] = clean_outputs(c.get("outputs", []), max_image_kb)
            c.get("metadata", {}).pop("papermill", None); c.get("metadata", {}).pop("execution", None)
            if "injected-parameters" in c.get("metadata", {}).get("tags", []):  # papermill's cell: the run's own paths
                src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                c["source"] = clean_text(src)
    for k in ("papermill", "jupytext", "widgets"): nb.get("metadata", {}).pop(k, None)  # input/output paths, run times
    return nb


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("notebooks", nargs="+")
    p.add_argument("--max-image-kb", type=int, default=120)
    a = p.parse_args()
    from fastcore.nbio import read_nb, write_nb
    for path in map(lambda s: Path(s).resolve(), a.notebooks):
        write_nb(clean_nb(read_nb(path), a.max_image_kb), path)
        print("cleaned", path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__": main()
