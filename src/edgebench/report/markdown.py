"""report.md: the lab's tables, reproduced from results.json alone.

The section functions take a results dict whose strings are already escaped for Markdown
(`escape.escape_tree`); `render` and `twin_page` do that once, at the entry.
"""

from __future__ import annotations

from edgebench.report.escape import escape_tree, shorten_md

FRAMEWORK_TITLES = {"tensorflow": "TensorFlow", "pytorch": "PyTorch", "jax": "JAX"}


def title(fw: str) -> str:
    return FRAMEWORK_TITLES.get(fw, fw)


def run_label(t: dict, r: dict) -> str:
    """A training's row name: the framework, plus its mode when the run is not eager-only."""
    modes = r.get("config", {}).get("modes", ["eager"])
    mode = t.get("mode", "eager")
    return title(t["framework"]) + ("" if modes == ["eager"] else f" ({mode})")


def _f(v, fmt: str, missing: str = "-") -> str:
    return missing if v is None else format(v, fmt)


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Cells are edgebench's own text or escaped values: nothing in them can split a row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell_message(text) -> str:
    """An error message in a table cell: shortened; results.json keeps it whole."""
    return shorten_md(str(text), 160)


def _message(text) -> str:
    """An error message in a bullet: whole unless very long."""
    return shorten_md(str(text), 1000)


def _mib(b) -> str:
    return "-" if b is None else f"{b / 2**20:.0f}"


def ci_text(s: dict | None, fmt: str = ".2f") -> str:
    if not s or s.get("mean") is None:
        return "-"
    if s.get("ci_low") is None:
        return f"{s['mean']:{fmt}} (n={s['n']})"
    return f"{s['mean']:{fmt}} [{s['ci_low']:{fmt}}, {s['ci_high']:{fmt}}]"


def table1_rows(r: dict) -> list[list[str]]:
    """Framework | Training Time (s) | 95% CI | Test Accuracy."""
    rows = []
    for t in r.get("trainings", []):
        if t["status"] == "ok":
            tt = (t.get("timing") or {}).get("train_time_s") or {}
            ci = f"[{tt['ci_low']:.2f}, {tt['ci_high']:.2f}] (n={tt['n']})" if tt.get("ci_low") is not None else \
                f"single run (n={tt.get('n', 1)})"
            rows.append([run_label(t, r), f"{t['train_time_s']:.2f}", ci, f"{t['test_accuracy']:.4f}"])
        else:
            rows.append([run_label(t, r), "-", "-", f"- ({t['status']})"])
    return rows


def comparison_sentences(r: dict) -> list[str]:
    out = []
    for c in r.get("timing_comparisons", []):
        a = run_label({"framework": c["a"], "mode": c.get("a_mode", "eager")}, r)
        b = run_label({"framework": c["b"], "mode": c.get("b_mode", "eager")}, r)
        if c.get("ci_low") is None:
            out.append(f"{a} vs {b}: {abs(c['diff']):.2f} s apart; one run each, so no confidence interval.")
            continue
        faster, slower = (b, a) if c["diff"] > 0 else (a, b)
        lo, hi = sorted((abs(c["ci_low"]), abs(c["ci_high"]))) if c["significant"] else (c["ci_low"], c["ci_high"])
        if c["significant"]:
            out.append(f"{faster} is faster than {slower} by {abs(c['diff']):.2f} s, 95% CI [{lo:.2f}, {hi:.2f}] "
                       f"(Welch t, p = {c['p_value']:.3g}).")
        else:
            out.append(f"{a} vs {b}: no significant difference ({c['diff']:+.2f} s, 95% CI "
                       f"[{c['ci_low']:.2f}, {c['ci_high']:.2f}], p = {c['p_value']:.2g}).")
    return out


def speed_section(r: dict) -> list[str]:
    sl = r.get("speed_limit")
    ok = [t for t in r.get("trainings", []) if t.get("timing")]
    if not sl or not ok:
        return []
    peak = sl["gemm_peak"]
    cfg = r["config"]
    out = ["## How fast, and how sure", "",
           f"Each framework trained {cfg.get('repeats', 1)} times, each in a fresh process, in interleaved order; "
           "times are mean [95% confidence interval, Student t]. Steady epoch = mean of epochs 2 onwards "
           "(the first includes tracing or compilation).", ""]
    rows = []
    for t in ok:
        tm = t["timing"]
        eff = tm["efficiency"]
        acc = tm["test_accuracy"]
        rows.append([run_label(t, r), ci_text(tm["train_time_s"]), ci_text(tm["first_epoch_s"]),
                     ci_text(tm.get("first_epoch_excess_s")), ci_text(tm["steady_epoch_s"], ".3f"), f"{eff['gflops']:.1f}", f"{eff['fraction_of_peak'] * 100:.1f}%",
                     f"{eff['overhead_per_step_us']:.0f}",
                     f"{tm['steady_vs_flop_bound']:.1f}x / {tm['steady_vs_step_gemm_bound']:.1f}x"
                     if tm.get("steady_vs_step_gemm_bound") else "-", _mib(tm["peak_rss_bytes"]),
                     f"{acc['mean']:.4f}" + ("" if acc["identical"] else f" ({acc['min']:.4f}-{acc['max']:.4f})")])
    out.append(_table(["Framework", "Training time (s)", "First epoch (s)", "First-epoch excess: tracing, "
                       "compilation (s)", "Steady epoch (s)", "GFLOP/s (steady)",
                       "% of GEMM peak", "Overhead per step (us)",
                       "Steady epoch / FLOP bound / step-GEMM bound", "Peak RSS (MiB)",
                       "Test accuracy (range over repeats)"], rows))
    out += [""] + [f"- {s}" for s in comparison_sentences(r)]
    det = [(run_label(t, r), t.get("determinism") or {}) for t in ok]
    det = [(name, d) for name, d in det if d.get("repeats_compared", 0) > 1]
    if det:
        same = [n for n, d in det if d["bit_identical_weights"]]
        differ = [n for n, d in det if not d["bit_identical_weights"]]
        text = "- Determinism: final weights " + (
            f"bit-identical across the repeats for {', '.join(same)}" if same else "")
        if differ:
            text += ("; " if same else "") + f"not bit-identical for {', '.join(differ)} (thread scheduling changes " \
                                             "float summation order)"
        out.append(text + ". Same seed, data, thread count and machine; another thread count or CPU changes "
                          "the summation order, and then results are close, not identical.")
    bound = sl["train_flops_per_epoch"] * cfg["epochs"] / (peak["gflops"] * 1e9)
    f = sl["train_flops_per_sample"]
    out += ["", f"The speed limit: this machine's float32 GEMM peak is **{peak['gflops']:.1f} GFLOP/s** with "
            f"{peak['threads']} thread(s) ({peak['method']}; BLAS: "
            + ", ".join(f"{b['api']} {b['version']} {b['architecture']}" for b in peak["blas"]) + "). "
            f"Training costs {f['total']:,} matrix FLOPs per image (forward {f['forward']:,}, weight gradients "
            f"{f['weight_grad']:,}, input gradients {f['input_grad']:,}; bias, activation and optimizer work "
            f"left out), {sl['train_flops_per_epoch'] / 1e9:.2f} GFLOP per epoch: at peak, the "
            f"{cfg['epochs']}-epoch run would take **{bound:.2f} s**. Overhead per step = (steady epoch time "
            f"- FLOP-bound epoch time) / {sl['steps_per_epoch']} steps."]
    step = sl.get("step_gemm")
    if step:
        out[-1] += (f" A step's own matrix multiplies are small (batch {step['batch']}): timed at their real "
                    f"shapes ({step['method']}) they run at {step['gflops']:.1f} GFLOP/s, "
                    f"{step['step_s'] * 1e6:.0f} us a step, so an epoch cannot beat "
                    f"**{sl['step_gemm_bound_epoch_s']:.3f} s** with this BLAS (the step-GEMM bound), against "
                    f"{bound / cfg['epochs']:.3f} s at peak.")
        best = min(ok, key=lambda t: t["timing"].get("epoch_s_for_efficiency") or float("inf"))
        tm = best["timing"]
        if tm.get("steady_vs_flop_bound") and tm.get("epoch_s_for_efficiency"):
            out[-1] += (f" Fastest steady state: {run_label(best, r)}, {tm['epoch_s_for_efficiency']:.3f} s an epoch, "
                        f"{tm['steady_vs_flop_bound']:.1f}x the FLOP bound and {tm['steady_vs_step_gemm_bound']:.1f}x "
                        "the step-GEMM bound.")
    out.append("")
    return out


def artifact_label(a: dict) -> str:
    return f"{title(a['framework'])} -> {a['format']} {a['precision']}"


def verified(arts: list[dict]) -> list[dict]:
    return [a for a in arts if a["status"] == "ok" and "top1_agreement" in a]


def highlights(r: dict) -> dict:
    """Smallest, fastest and most accurate of the artifacts that stayed within tolerance."""
    good = [a for a in verified(r.get("artifacts", [])) if a.get("within_tolerance")]
    if not good:
        return {}
    out = {
        "smallest": min(good, key=lambda a: (a["size_bytes"], -a["test_accuracy"])),
        "most_accurate": max(good, key=lambda a: (a["test_accuracy"], -a["size_bytes"])),
    }
    timed = [a for a in good if a.get("latency_ms", {}).get("p50")]
    if timed:
        out["fastest"] = min(timed, key=lambda a: a["latency_ms"]["p50"])
    return out


def deployment_section(r: dict) -> list[str]:
    arts = r.get("artifacts", [])
    out = ["## Deployment matrix", ""]
    if not arts:
        return out + ["No exports.", ""]
    params = r.get("model", {}).get("parameter_count")
    fair = r.get("fairness", {})
    inf = fair.get("inference", {})
    if inf:
        out += [f"Every artifact runs on its own runtime over all {r['dataset']['test_samples']} test images "
                f"and is compared with the logits of the framework that produced it. Latency: {inf['latency']}, "
                f"{inf['threads']} inference thread(s). Throughput: {inf['throughput']}.", ""]
    rows = []
    checked = verified(arts)
    for a in arts:
        ok = a in checked
        lat = a.get("latency_ms", {}) if ok else {}
        thr = (a.get("throughput") or {}).get("images_per_s") if ok else None
        rows.append([
            artifact_label(a), a["runtime"],
            _f(a.get("size_bytes") and a["size_bytes"] / 1000, ".1f"),
            _f(a.get("size_bytes") and params and a["size_bytes"] / params, ".2f"),
            _f(a.get("test_accuracy") if ok else None, ".4f"),
            _f(a.get("accuracy_change") * 100 if ok else None, "+.2f"),
            f"{a['top1_agreement'] * 100:.2f}%" if ok else "-",
            _f(a.get("max_abs_diff") if ok else None, ".2e"),
            _f(lat.get("p50"), ".4f"), _f(lat.get("p99"), ".4f"),
            _f(thr, ",.0f"), _mib(a.get("peak_rss_bytes")) if ok else "-",
            ("yes" if a["within_tolerance"] else "**NO**") if ok else f"**{a['status']}**",
        ])
    out.append(_table(["Artifact", "Runtime", "Size (KB)", "Bytes/param", "Accuracy", "Change (pt)",
                       "Top-1 agreement", "Max abs logit diff", "p50 (ms)", "p99 (ms)",
                       "Throughput (img/s)", "Runtime process peak RSS (MiB)", "Within tolerance"], rows))
    out.append("")
    h = highlights(r)
    if h:
        def acc(a):
            return f"accuracy {a['test_accuracy']:.4f}, {a['size_bytes'] / 1000:.1f} KB"

        out += ["Of the artifacts within tolerance:", ""]
        out.append(f"- **smallest**: {artifact_label(h['smallest'])} ({acc(h['smallest'])});")
        if "fastest" in h:
            f = h["fastest"]
            out.append(f"- **fastest** (batch-1 p50): {artifact_label(f)} on {f['runtime']} "
                       f"({f['latency_ms']['p50'] * 1000:.1f} us);")
        out.append(f"- **most accurate**: {artifact_label(h['most_accurate'])} ({acc(h['most_accurate'])}).")
        out.append("")
    for a in arts:
        if a["status"] != "ok":
            out.append(f"- **{artifact_label(a)} {a['status']}**: {_message(a.get('error'))}")
    out += ["", "Tolerances (one table for every artifact of that precision):", ""]
    seen = {}
    for a in verified(arts):
        key = "int8" if a["precision"].startswith("int8") else a["precision"]
        seen.setdefault(key, a["tolerance"])
    def diff_bound(t):
        if t.get("max_abs_diff") is not None:
            return f"{t['max_abs_diff']:g}"
        return f"{t['max_diff_of_range'] * 100:g}% of logit range"

    out.append(_table(["Precision", "Max abs logit diff", "Min agreement", "Max accuracy drop (pt)", "Why"],
                      [[k, diff_bound(t), f"{t['min_agreement'] * 100:g}%",
                        f"{t['max_accuracy_drop'] * 100:g}", _cell_message(t.get("reason", ""))] for k, t in seen.items()]))
    out.append("")
    m = r.get("model", {})
    if m:
        out += ["### Model cost", "",
                f"{m['parameter_count']:,} parameters and {m['macs_per_sample']:,} multiply-accumulates per "
                "inference, computed from the layer sizes and checked against each exported graph:", ""]
        rows = []
        for a in verified(arts):
            g = a.get("graph")
            if g:
                match = g["parameters"] == m["parameter_count"] and g["macs_per_sample"] == m["macs_per_sample"]
                rows.append([artifact_label(a), f"{g['parameters']:,}", f"{g['macs_per_sample']:,}",
                             "yes" if match else "**NO**"])
            else:
                rows.append([artifact_label(a), "-", "-", _cell_message(a.get("graph_error") or "not inspectable")])
        out += [_table(["Artifact", "Parameters in graph", "MACs in graph", "Matches"], rows), ""]
    return out


def mcu_section(r: dict) -> list[str]:
    arts = [a for a in r.get("artifacts", []) if a.get("microcontroller")]
    if not arts:
        return []
    out = ["## On a microcontroller", "",
           "Each .tflite artifact is loaded in TensorFlow Lite Micro's interpreter (reference kernels). "
           "The arena is the smallest `arena_size` that loads and runs the model (bisection; one byte "
           "less fails), cross-checked with the total TFLM's recording allocator prints; the whole test "
           "set then runs inside that arena and is compared with the LiteRT run of the same file.", ""]
    rows = []
    for a in arts:
        m = a["microcontroller"]
        if m.get("status") != "ok":
            rows.append([artifact_label(a), _cell_message(f"{m.get('status')}: {m.get('reason', '')}"),
                         "-", "-", "-", "-", "-", "-"])
            continue
        io = m["io"]
        rows.append([
            artifact_label(a), "ok", f"{m['test_accuracy']:.4f} ({m['accuracy_change_vs_litert'] * 100:+.2f})",
            f"{m['agreement_with_litert'] * 100:.2f}%",
            f"{m['arena_bytes']:,}" + ("" if m.get("arena_minus_one_fails") else " (**minimum not confirmed**)"),
            _f(m.get("arena_reported_bytes"), ",") + (f" ({m['arena_above_reported_bytes']:+,} needed while preparing)"
                                                       if m.get("arena_above_reported_bytes") else ""),
            f"{io['input']['bytes']:,} / {io['output']['bytes']:,}",
            f"{m['flash_bytes']:,} (C source {m['c_array']['source_bytes'] / 1000:.0f} KB, "
            + ("compiles, bytes match" if m["c_array"].get("compiles") and m["c_array"].get("bytes_match")
               else f"compile check: {m['c_array'].get('compiles')}") + ")",
        ])
    out.append(_table(["Artifact", "TFLM", "Accuracy (change vs LiteRT, pt)", "Agreement with LiteRT",
                       "Arena (bytes, bisected)", "Arena reported by TFLM", "Input / output bytes",
                       "Flash: model bytes"], rows))
    out.append("")
    ok = [a for a in arts if a["microcontroller"].get("status") == "ok"]
    boards = r.get("boards", [])
    if ok and boards:
        out += ["### Does it fit?", "",
                "Fit = model bytes in flash and the arena in RAM; each cell gives the headroom left in KB "
                "(flash / RAM).", ""]
        rows = []
        for a in ok:
            row = [artifact_label(a)]
            for f in a["microcontroller"]["fit"]:
                verdict = "fits" if f["fits"] else "**no**"
                row.append(f"{verdict} ({f['flash_headroom_kb']:+.0f} / {f['ram_headroom_kb']:+.1f})")
            rows.append(row)
        out.append(_table(["Artifact"] + [f"{b['name']}: {b['flash_kb']:g} KB flash, {b['ram_kb']:g} KB RAM"
                                          for b in boards], rows))
        out += ["", f"Left out of the estimate: {r.get('boards_note', '')}.", "",
                "Board figures: " + "; ".join(f"{b['name']}: {b['source']}" for b in boards) + ".",
                "", "C arrays (`model_data.h`, `model_data.cc`, `README.md` with the arena to use): "
                + ", ".join(f"{a['microcontroller']['c_array']['dir']}/" for a in ok) + ".", ""]
    return out


def twin_section(r: dict) -> list[str]:
    tw = r.get("twin")
    if not tw:
        return []
    out = ["## Twin training: how far the frameworks drift apart", ""]
    if tw.get("status") != "ok":
        return out + [f"Twin report {tw.get('status')}: {_message(tw.get('reason'))}", ""]
    out += [f"Same initial weights, same batches, {tw['total_steps']} steps. {tw['method']}.", ""]
    rows = []
    for p in tw["pairs"]:
        name = " vs ".join(title(f) for f in p["pair"])
        for pt in p["points"]:
            rows.append([name, pt["at"], f"{pt['max_abs_weight_diff']:.2e}", f"{pt['weights_within_1e-5'] * 100:.2f}%",
                         f"{pt['max_abs_weight_change_from_init']:.2e}", f"{pt['max_abs_logit_diff']:.2e}",
                         f"{pt['top1_agreement'] * 100:.2f}%"])
    out.append(_table(["Pair", "After", "Max abs weight diff", "Weights within 1e-5", "Max weight change from init",
                       "Max abs logit diff (test set)", "Top-1 agreement"], rows))
    out.append("")
    for p in tw["pairs"]:
        out.append(f"- {' vs '.join(title(f) for f in p['pair'])}: the frameworks' own float32 test logits "
                   f"differ by at most {p['end_framework_logits_max_abs_diff']:.2e} at the end.")
    return out + [""]


def _img(plots: dict | None, key: str, alt: str) -> list[str]:
    return [f"![{alt}]({plots[key]})", ""] if plots and key in plots else []


def twin_page(r: dict) -> str:
    """twin.md: the twin section on a page of its own."""
    return "\n".join(["# edgebench twin training", ""] + twin_section(escape_tree(r)))


def render(r: dict, plots: dict | None = None) -> str:
    """report.md from a results dict as read from results.json (escaped here, once)."""
    r = escape_tree(r)
    cfg = r.get("config", {})
    out = ["# edgebench report", ""]
    if not cfg:
        return "\n".join(out + ["(no results yet)"])
    opt = cfg["optimizer"]
    ds = r.get("dataset", {})
    hidden = " -> ".join(str(h) + " ReLU" for h in cfg["model"]["hidden"])
    folder = str(cfg.get("out") or "").rstrip("/").rsplit("/", 1)[-1]
    out += [
        f"Run status: **{r.get('status')}** · created {r.get('created_at')} · edgebench {r.get('edgebench_version')}"
        + (f" · run folder {folder}" if folder else ""),
        "",
        f"Network {cfg['model']['input_size']} -> {hidden} -> {cfg['model']['num_classes']} logits "
        f"({r['model']['parameter_count']:,} parameters), {opt['name'].capitalize()} "
        f"(lr {opt['learning_rate']:g}), batch {cfg['batch_size']}, {cfg['epochs']} epochs, "
        f"dataset {ds.get('name')} ({ds.get('train_samples')} train / {ds.get('test_samples')} test), "
        f"{cfg['threads']} threads, seed {cfg['seed']}.",
        "",
        "## Table 1: training",
        "",
        _table(["Framework", "Training Time (s)", "95% CI", "Test Accuracy"], table1_rows(r)),
        "",
        "Training time: mean over the repeats (see *How fast, and how sure*). Test accuracy: the model "
        "trained in repeat 1, the one exported below.",
        "",
    ]
    trainings = r.get("trainings", [])
    ok = [t for t in trainings if t["status"] == "ok"]
    if ok:
        out += ["Repeat 1 in detail:", ""]
        out.append(_table(
            ["Framework", "Test loss", "Peak RSS (MiB)", "First epoch (s)", "Later epochs, mean (s)"],
            [[run_label(t, r), f"{t['test_loss']:.4f}", _mib(t.get("peak_rss_bytes")),
              f"{t['epochs'][0]['time_s']:.2f}",
              _f(sum(e["time_s"] for e in t["epochs"][1:]) / (len(t["epochs"]) - 1)
                 if len(t["epochs"]) > 1 else None, ".2f")] for t in ok]))
        out += ["", "Per-epoch history (training loss and accuracy are running figures over the epoch):", ""]
        rows = []
        for t in ok:
            for e in t["epochs"]:
                rows.append([run_label(t, r), e["epoch"], f"{e['loss']:.4f}", f"{e['accuracy']:.4f}",
                             f"{e['time_s']:.2f}"])
        out += [_table(["Framework", "Epoch", "Loss", "Accuracy", "Time (s)"], rows), ""]
    out += _img(plots, "training_curves", "Training loss and accuracy per epoch")
    out += _img(plots, "confusion", "Confusion matrix of each framework on the test set")
    missing = [t for t in trainings if t["status"] != "ok"]
    for t in missing:
        out.append(f"- **{run_label(t, r)} {t['status']}**: {_message(t.get('error'))}")
    if missing:
        out.append("")

    speed = speed_section(r)
    out += speed + (_img(plots, "training_times", "Training time with 95% confidence intervals") if speed else [])
    out += twin_section(r)
    out += deployment_section(r)
    out += _img(plots, "size_vs_accuracy", "Artifact size vs accuracy")
    out += _img(plots, "latency", "Latency distribution of every artifact")
    out += mcu_section(r)
    fair = r.get("fairness", {})
    env = r.get("environment", {})
    pk = env.get("packages", {})
    out += ["## How this was measured", ""]
    if fair:
        out += [
            f"- **Same initial weights**: {fair['initial_weights']['scheme']}, made once in NumPy from seed "
            f"{fair['initial_weights']['seed']} ({fair['initial_weights']['file']}, SHA-256 "
            f"{fair['initial_weights']['sha256'][:16]}...) and loaded into every framework.",
            f"- **Same batches**: {fair['batch_order']['note']} ({fair['batch_order']['file']}, "
            f"shape {fair['batch_order']['shape']}).",
            f"- **Same optimizer**: {opt['name']} lr={opt['learning_rate']:g}, beta1={opt['beta1']:g}, "
            f"beta2={opt['beta2']:g}, epsilon={opt['epsilon']:g}, set explicitly in both frameworks. "
            + (fair["optimizer"]["epsilon_note"] if opt["name"] == "adam" else ""),
            f"- **Same loss**: {fair['loss']}; {fair['dtype']} everywhere.",
            f"- **Same threads**: {fair['threads']['count']} ({fair['threads']['how']}).",
            f"- **Isolation**: {fair['isolation']}; peak RSS is each child's own maximum.",
            f"- **Training time**: {fair['train_time']}. A single run: compare frameworks as a ratio "
            "within this run, not against figures from another day or machine.",
            f"- **Evaluation**: {fair['evaluation']}.",
            f"- **Dataset**: {ds.get('name')} from {ds.get('source')}, {ds.get('scaling')}; SHA-256 "
            + ("verified against the bundled SHA256SUMS." if ds.get("checksum_verified") else "recorded (no reference sums).")
        ]
    if env:
        out += [
            f"- **Machine**: {env.get('cpu_model')}, {env.get('usable_cores')} usable cores, "
            f"{_f(env.get('memory_bytes') and env['memory_bytes'] / 2**30, '.0f')} GiB; {env.get('platform')}; "
            f"Python {env.get('python')}.",
            "- **Packages**: " + ", ".join(f"{k} {v}" for k, v in pk.items()) + ".",
        ]
    if r.get("wall_time_s") is not None:
        spent = r.get("wall_time_breakdown_s") or {}
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in spent.items())
        out.append(f"- **End-to-end wall time** of this run: {r['wall_time_s']:.1f} s" + (f" ({parts})" if parts else "")
                   + "; results.json has the final figure, which includes writing the reports.")
    return "\n".join(out) + "\n"
