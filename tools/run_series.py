"""Execute the notebook series in order with papermill, on this machine's device, with no internet needed.

    python tools/run_series.py --device cuda --tag h200          # the GPU run
    python tools/run_series.py --device cpu --quick              # CPU-safe defaults, as CI's nbdev-test uses

Executed copies go to _runs/<tag>/ (never over nbs/), the benchmark's results.json and results.csv to
results/<tag>/, and the charts to images/ (or --images). Each notebook gets the parameters it declares in its cell
tagged `parameters`; notebooks without one run as they are."""
import argparse, json, os, sys, time
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def declared_parameters(nb_path):
    "Names assigned in the notebook's `parameters` cell."
    nb = json.loads(Path(nb_path).read_text())
    for c in nb["cells"]:
        if "parameters" in c.get("metadata", {}).get("tags", []):
            src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            return {l.split("=")[0].strip() for l in src.splitlines() if "=" in l and not l.lstrip().startswith("#")}
    return set()

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--tag", default=None, help="name of this run (default: the device)")
    ap.add_argument("--model", default="distilbert-base-uncased")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 32])
    ap.add_argument("--seq-lens", type=int, nargs="+", default=[128])
    ap.add_argument("--engines", nargs="+", default=None)
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--images", default=None, help="folder for the charts (default: images/)")
    ap.add_argument("--only", nargs="+", default=None, help="run only these notebooks (names without .ipynb)")
    ap.add_argument("--quick", action="store_true", help="keep the notebooks' own small defaults (CI-sized)")
    a = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    import papermill as pm
    from transformer_opt.optimize import resolve_device
    device = resolve_device(a.device)
    tag = a.tag or device
    runs, results = root/"_runs"/tag, root/"results"/tag
    images = (Path(a.images) if a.images else root/"images").resolve()
    runs.mkdir(parents=True, exist_ok=True)
    params = dict(device=device, model_name=a.model, out_dir=str(results))
    if not a.quick:
        params.update(batch_sizes=a.batch_sizes, seq_lens=a.seq_lens, engines=a.engines,
                      iters=a.iters or (100 if device == "cuda" else 10), warmup=a.warmup or (10 if device == "cuda" else 1))
    params.update(results_json=str(results/"results.json"), images_dir=str(images))
    nbs = sorted(p for p in (root/"nbs").glob("[0-9]*.ipynb") if not a.only or p.stem in a.only)
    timings = {}
    for nb in nbs:
        decl = declared_parameters(nb)
        if nb.stem.endswith("_viz") and not (results/"results.json").exists():
            params_nb = {k: v for k, v in params.items() if k in decl and k != "results_json"}
        else: params_nb = {k: v for k, v in params.items() if k in decl}
        print(f"== {nb.name} {params_nb}", flush=True)
        t0 = time.time()
        try:
            pm.execute_notebook(str(nb), str(runs/nb.name), parameters=params_nb, cwd=str(root/"nbs"),
                                kernel_name="python3", language="python", progress_bar=False, log_output=False)
            status = "ok"
        except Exception as e:  # go on: later notebooks (the charts) still run on what was saved
            status = f"FAILED: {type(e).__name__}: {str(e).strip().splitlines()[-1][:300] if str(e).strip() else ''}"
        timings[nb.name] = dict(seconds=round(time.time() - t0, 1), status=status)
        print(f"   {status} in {timings[nb.name]['seconds']} s (executed copy: {runs/nb.name})", flush=True)
    (runs/"timings.json").write_text(json.dumps(timings, indent=1))
    print(f"executed notebooks: {runs}\nresults: {results}\ncharts: {images}")
    failed = [k for k, v in timings.items() if v["status"] != "ok"]
    print(f"{len(timings) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
