"""The report card's one-page picture (``report.png``), drawn from the result of ``worldsim.eval.report.report``."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_report(r: dict, path: Path) -> None:
    """Every part of the card ``r`` on one page at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from worldsim.utils.media import contact_sheet

    fig = plt.figure(figsize=(16, 18.5), dpi=80)
    grid = fig.add_gridspec(5, 3, height_ratios=[1, 1, 1, 1.2, 1])
    ax = fig.add_subplot(grid[0, 0])
    for policy, h in r.get("horizon", {}).items():
        x = np.arange(1, len(h["psnr"]) + 1)
        (line,) = ax.plot(x, h["psnr"], label=f"dream, {policy}")
        ax.plot(x, h["psnr_copy_last"], ls="--", color=line.get_color(), label=f"copy last, {policy}")
    if "still" in r:  # doing nothing: the dream against the still real world
        ax.plot(r["still"]["at"], r["still"]["dream_psnr"], "o-", color="k", label="dream, standing still")
    ax.set(title="PSNR vs horizon (held-out clips)", xlabel="step", ylabel="dB")
    if r.get("horizon") or "still" in r:
        ax.legend(fontsize=7)
    ax = fig.add_subplot(grid[0, 1])
    for policy, h in r.get("horizon", {}).items():
        x = np.arange(1, len(h["ssim"]) + 1)
        (line,) = ax.plot(x, h["ssim"], label=f"dream, {policy}")
        ax.plot(x, h["ssim_copy_last"], ls="--", color=line.get_color(), label=f"copy last, {policy}")
    ax.set(title="SSIM vs horizon", xlabel="step")
    if r.get("horizon"):
        ax.legend(fontsize=7)
    ax = fig.add_subplot(grid[0, 2])
    h = r.get("horizon", {}).get("random", {})
    if "idm_real" in h:
        cols = list(h["idm_real"])
        x = np.arange(len(cols))
        ax.bar(x - 0.2, [h["idm_real"][c]["all"] for c in cols], 0.4, label="real transitions (ceiling)")
        ax.bar(x + 0.2, [h["idm_dream"][c]["all"] for c in cols], 0.4, label="dream transitions")
        ax.set_xticks(x, ["movement", "camera", "interaction"][: len(cols)] if len(cols) == 3 else cols)
        ax.set(title="does it follow the actions: IDM accuracy", ylim=(0, 1))
        ax.legend(fontsize=7)
    else:
        ax.set_title("IDM: " + r["skipped"].get("idm", "skipped"), fontsize=8)
    if "long" in r:
        b = r["long"]["buckets"]
        x = [row["steps"][1] for row in b]
        for i, (metric, title) in enumerate((("sharpness_ratio", "sharpness / real"),
                                             ("colour_js", "colour-histogram JS vs real (bits)"),
                                             ("frechet", "feature Frechet distance vs real"))):  # fmt: skip
            ax = fig.add_subplot(grid[1, i])
            if metric not in b[0]["dream"]:
                ax.set_title("feature Frechet distance: " + r["skipped"].get("idm", "skipped"), fontsize=8)
                continue
            for name in ("dream", "real_other_seed", "real_blurred", "copy_first_frame"):
                if metric in b[0][name]:
                    ax.plot(x, [row[name][metric] for row in b], marker="o", label=name.replace("_", " "),
                            lw=2.5 if name == "dream" else 1)  # fmt: skip
            ax.set(title=f"does it stay a world: {title}", xlabel="step (64-step buckets)")
            ax.legend(fontsize=7)
    if "memory" in r:
        m = {k: v for k, v in r["memory"].items() if not k.startswith("_")}
        ax = fig.add_subplot(grid[2, 0:2])
        names = list(m)
        x = np.arange(len(names))
        for j, key in enumerate(("dream", "copy_baseline", "oracle_vae", "last_seen")):  # last seen: memory's best
            ax.bar(x + (j - 1.5) * 0.2, [m[n].get(key, {}).get("psnr") or 0 for n in names], 0.2,
                   label=key.replace("_", " "))  # fmt: skip
        ax.set_xticks(x, [n.replace("_", " ") for n in names], fontsize=8)
        ax.set(title="does it remember: the end frame against the real one", ylabel="PSNR (dB)")
        ax.legend(fontsize=7)
        ax = fig.add_subplot(grid[2, 2])
        for j, key in enumerate(("dream", "copy_baseline", "oracle_vae", "real")):
            ax.bar(x + (j - 1.5) * 0.2, [m[n][key]["class_agreement"] for n in names], 0.2, label=key)
        ax.set_xticks(x, [n.replace("_look_away", "").replace("_", "\n") for n in names], fontsize=7)
        ax.set(title="blocks still there: colour class = true block", ylim=(0, 1))
        ax.legend(fontsize=7)
    rows = []
    if "long" in r:
        real, dream = r["long"]["_frames"]
        picks = np.linspace(0, real.shape[1] - 1, 8).astype(int)
        for tag in ("worst", "best"):
            i = r["long"]["strips"][tag]
            rows.append(np.concatenate([real[i, picks], dream[i, picks]]))
    if rows:
        ax = fig.add_subplot(grid[3, 0:2])
        ax.imshow(contact_sheet(np.concatenate(rows), cols=8, scale=2))
        ax.set_title("long rollouts, worst then best start: real row over dream row, steps spread to the end")
        ax.axis("off")
    if "memory" in r:
        strips = r["memory"]["_strips"]
        ax = fig.add_subplot(grid[3, 2])
        ax.imshow(contact_sheet(np.concatenate(list(strips.values())), cols=3, scale=1))
        ax.set_title("memory probes: start | real end | dream end", fontsize=9)
        ax.axis("off")
    if "random_play" in r:
        _random_play(fig, grid, r["random_play"], contact_sheet)
    title = f"worldsim report card: {r['model']} ({r['sampler_steps']} sampler steps, seed {r['seed']})"
    if "rewards" in r:  # part 5 in numbers: precision / recall of the nonzero rewards

        def pr(where: str) -> str:
            s = r["rewards"][where]["reward"]
            return " / ".join("n/a" if v is None else f"{v:.2f}" for v in (s["precision"], s["recall"]))

        title += f"\ndoes it give the world's rewards: precision / recall real {pr('real')}, dream {pr('dream')}"
        held = r.get("held_break", {})
        if held.get("clips"):
            title += (f"; break held {held['hold']} steps on a log: return real {held['real_return']:.2f}, "
                      f"dream {held['dream_return']:.2f}")  # fmt: skip
    swim = r.get("swim", {})
    groups = [k for k in ("water", "land") if swim.get(k, {}).get("starts")]
    if groups:  # part 7 in numbers: the dream against copying where random play swims and where it walks
        title += f"\ndoes it swim: at step {swim['horizon']} the dream over copying the last frame " + ", ".join(
            f"{k} {swim[k]['psnr'][-1] - swim[k]['psnr_copy_last'][-1]:+.1f} dB ({swim[k]['starts']} starts)"
            for k in groups)  # fmt: skip
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.011 * (title.count("\n") + 1)))  # the title's lines above the panels
    fig.savefig(path)
    plt.close(fig)


def _random_play(fig, grid, rp: dict, contact_sheet) -> None:
    """Part 6: sky share by the real camera's pitch band, brightness by third, and one start's frames."""
    ax = fig.add_subplot(grid[4, 0])
    bands = [b for b in rp["bands"] if rp["bands"][b]["all"]["frames"]]
    x = np.arange(len(bands))
    for j, w in enumerate(("real", "dream")):
        ax.bar(x + (j - 0.5) * 0.4, [rp["bands"][b]["all"][f"sky_{w}"] for b in bands], 0.4, label=w)
    ax.set_xticks(x, [f"{b} ({rp['bands'][b]['all']['frames']} frames)" for b in bands], fontsize=8)
    ax.set(title="random play: share of sky by the camera's pitch", ylim=(0, 1))
    ax.legend(fontsize=7)
    ax = fig.add_subplot(grid[4, 1])
    for w, v in rp["brightness_by_third"].items():
        ax.plot([1, 2, 3], v, "o-", label=w)
    ax.set(title=f"random play: mean brightness by third of {rp['steps']} steps", xticks=[1, 2, 3], ylim=(0, 255))
    ax.legend(fontsize=7)
    if "_frames" in rp:
        ax = fig.add_subplot(grid[4, 2])
        ax.imshow(contact_sheet(np.concatenate(rp["_frames"]), cols=len(rp["_frames"][0]), scale=1))
        ax.set_title("random play, one start: real row over dream row", fontsize=9)
        ax.axis("off")
