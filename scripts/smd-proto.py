#!/usr/bin/python3
"""Try a model form on SMD in a minute, without touching the C model.

A numpy re-implementation of vg_mv's forecaster as `vigilctl eval smd` trains it (`epochs` passes
over a machine's train half, then the test half learned online; a tick whose own score is above
the gate is not learned), with switches for forms vg_mv does not have. Its inputs are the
normalised values a real run wrote with `--save-residuals`, so the normaliser is vg_mv's own. It
writes a residuals folder of the same format, which the real host score (vg_hscore, SPOT, the
burst gate) then ranks:

    vigilctl eval smd --save-residuals /tmp/r1 DATA        # once: vg_mv's normalised values
    scripts/smd-proto.py train /tmp/r1 /tmp/p1 --seed 1 [--form ci --window 64 ...]
    vigilctl eval smd --from-residuals /tmp/p1 DATA

Where it differs from vg_mv: every pass sees the normalised values of the saved (last) pass, where
vg_mv's first pass sees its normaliser still settling; the gate's running residual scale starts
from the first residual rather than the group's prior.

Two-pass training (`--clean-q`): a first run (or `--clean-from`, a run without it of the same seed)
ranks the train rows by an approximation of the host score on its residuals, and the model is
trained again from its initial weights without the top fraction of them (`--clean-k` rows either
side too; `--clean-mode`, `--clean-fit`). `--last-gate` lowers the score gate in the last
training pass only.

`mean DST SRC...` averages the residuals of several folders (an ensemble). Research only: the
build and the tests do not use it; it needs python3-numpy. docs/evaluation.md gives what it
measured. Its random initialisation is numpy's, so its figures are compared with its own
baseline over several seeds, not with the C model's to the digit.
"""
import argparse
import os
import struct
from multiprocessing import Pool

# One thread per process: the matrices are tiny, and a pool runs one machine per core.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
try:
    import numpy as np
except ImportError:
    raise SystemExit("smd-proto.py needs numpy: apt-get install python3-numpy")

MAGIC = b"VGRESID1"


def load(path):
    """Header bytes, metric count, train and test rows, array (rows, 2, m): residual, z."""
    with open(path, "rb") as f:
        head = f.read(32)
        if head[:8] != MAGIC:
            raise SystemExit(f"{path}: not a residuals file (write it with --save-residuals)")
        m = struct.unpack("<I", head[8:12])[0]
        nr, nt = struct.unpack("<QQ", head[16:32])
        a = np.fromfile(f, dtype=np.float32).reshape(nr + nt, 2, m)
    return head, m, nr, nt, a


def save(path, head, a):
    with open(path, "wb") as f:
        f.write(head)
        a.astype(np.float32).tofile(f)


def leaky(x):
    return np.where(x > 0, x, np.float32(0.01) * x)


class MLP:
    """Leaky-ReLU MLP on a batch of rows, Adam; He-uniform init, the output layer 10x smaller
    (as vg_mv's init_weights)."""

    def __init__(self, dims, seed, lr):
        rng = np.random.default_rng(seed)
        self.w, self.b = [], []
        for i in range(len(dims) - 1):
            a = np.sqrt(6.0 / dims[i]) * (0.1 if i == len(dims) - 2 else 1.0)
            self.w.append((rng.uniform(-1, 1, (dims[i], dims[i + 1])) * a).astype(np.float32))
            self.b.append(np.zeros(dims[i + 1], np.float32))
        self.params = [p for pair in zip(self.w, self.b) for p in pair]
        self.mom = [np.zeros_like(p) for p in self.params]
        self.vel = [np.zeros_like(p) for p in self.params]
        self.t, self.lr = 0, lr
        # Polyak averaging (--ema): shadow weights that follow the live ones at rate 1 - ema.
        self.ema = 0.0
        self.sw = [w.copy() for w in self.w]
        self.sb = [b.copy() for b in self.b]

    def forward(self, x, shadow=False):
        acts = [x]
        ws, bs = (self.sw, self.sb) if shadow else (self.w, self.b)
        for i, (w, b) in enumerate(zip(ws, bs)):
            x = x @ w + b
            if i < len(self.w) - 1:
                x = leaky(x)
            acts.append(x)
        return acts

    def backward(self, acts, dout):
        grads, dh = [], dout.astype(np.float32)
        for i in range(len(self.w) - 1, -1, -1):
            grads = [acts[i].T @ dh, dh.sum(0)] + grads
            if i > 0:
                dh = (dh @ self.w[i].T) * np.where(acts[i] > 0, 1.0, 0.01).astype(np.float32)
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-6
        bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
        for p, g, mo, ve in zip(self.params, grads, self.mom, self.vel):
            mo *= b1
            mo += (1 - b1) * g
            ve *= b2
            ve += (1 - b2) * g * g
            p -= self.lr * (mo / bc1) / (np.sqrt(ve / bc2) + eps)
        if self.ema:
            for sp, p in zip(self.sw + self.sb, self.w + self.b):
                sp *= self.ema
                sp += (1 - self.ema) * p


class Forecaster:
    """form joint: vg_mv's (the window of all m metrics -> the next tick of each, horizon H ticks
    ahead when H > 1, scored on the first); form ci: one shared MLP per metric (that metric's own
    window and a one-hot of its column -> its next value). loss cauchy: the joint model learns
    (delta^2 / 2) log(1 + (e / delta)^2) rather than Huber. hetero: the joint model also
    predicts a log scale per metric, loss Huber((y - mu) / sigma) + log sigma."""

    def __init__(self, m, o):
        self.m, self.o = m, o
        W, hid = o.window, [int(v) for v in o.hidden.split(",")]
        if o.form == "ci":
            self.eye = np.eye(m, dtype=np.float32)
            dims = [W + m] + hid + [1]
        else:
            dims = [(W + len(o.ctx)) * m] + hid + [m * (2 if o.hetero != "none" else o.horizon)]
        self.net = MLP(dims, o.seed, o.lr)
        self.net.ema = o.ema

    def rows(self, win, ctx):
        if self.o.form == "ci":
            return np.concatenate([win.T, self.eye], axis=1)
        return np.concatenate([win.reshape(-1), ctx.reshape(-1)])[None, :]

    def predict(self, acts):
        """mu (m), sigma (m) or None."""
        out, m = acts[-1], self.m
        if self.o.form == "ci":
            return out[:, 0], None
        if self.o.hetero != "none":
            return out[0, :m], np.exp(np.clip(out[0, m:], -4, 4))
        return out[0, :m], None

    def learn(self, acts, y):
        out, m, d = acts[-1], self.m, self.o.delta
        if self.o.form == "ci":
            dout = np.clip(out[:, 0] - y, -d, d)[:, None] / m
        elif self.o.hetero != "none":
            ls = out[0, m:]
            sig = np.exp(np.clip(ls, -4, 4))
            u = (out[0, :m] - y) / sig
            g = np.clip(u, -d, d)
            dls = np.where(np.abs(ls) < 4, 1.0 - g * u, 0.0)
            dout = np.concatenate([g / sig, dls])[None, :] / (2 * m)
        elif self.o.loss == "cauchy":
            # Redescending: the gradient falls back towards 0 beyond delta, so a large error
            # teaches the model less than a moderate one.
            e = out[0] - y
            dout = (e / (1 + (e / d) ** 2))[None, :] / y.size
        else:
            dout = np.clip(out[0] - y, -d, d)[None, :] / y.size
        self.net.backward(acts, dout)


def train_machine(job):
    src, dst, name, o = job
    head, m, nr, nt, a = load(f"{src}/{name}.resid")
    z = a[:, 1, :].copy()
    g = None
    if o.copula != "off":
        raw = np.concatenate([np.loadtxt(f"{o.data}/{part}/{name}.txt", delimiter=",", ndmin=2)
                              for part in ("train", "test")])
        if raw.shape != z.shape:
            raise SystemExit(f"{o.data}: {name} has {raw.shape} rows x metrics, {src} has "
                             f"{z.shape}: not the data set the residuals were written from")
        g = copula(raw, nr).astype(np.float32)
        if o.copula == "all":
            z = g
            a[:, 1, :] = g  # the host score's state term then reads these too
    def one_pass(suspect=None):
        """The forecaster trained over the train half and run over the test half; suspect (nr
        booleans, --clean): train rows that are neither learned as targets nor, with
        --clean-mode skip, learned from as inputs (impute: the window gets the forecast)."""
        f = Forecaster(m, o)
        W, H = o.window, o.horizon
        out = a.copy()
        r = np.zeros(m, np.float32)  # vg_k's running residual scale, for the gate
        win = np.zeros((W, m), np.float32)
        hist = []  # (window, context, target, score) of the last H ticks, for horizon > 1
        age = 0
        bias = np.zeros(m, np.float32)  # --bias: each metric's running forecast error
        # Slow context: exponential averages of the window's newest tick, one per --ctx length.
        rates = np.array([1.0 / n for n in o.ctx], np.float32)[:, None]
        ctx = np.zeros((len(o.ctx), m), np.float32)
        ticks = [(e, i) for e in range(o.epochs) for i in range(nr)]
        ticks += [(o.epochs, nr + i) for i in range(nt)]
        since = W  # ticks since a suspect one entered the window (--clean-mode skip)
        for e, i in ticks:
            y = z[i]
            sus = suspect is not None and e < o.epochs and suspect[i]
            # --last-gate: the last training pass learns only ticks scoring at most this.
            gate = o.last_gate if o.last_gate is not None and e == o.epochs - 1 else o.gate
            acts = f.net.forward(f.rows(win, ctx))
            if o.ema:
                mu, sig = f.predict(f.net.forward(f.rows(win, ctx), shadow=True))
            else:
                mu, sig = f.predict(acts)
            res = y - mu
            ares = np.abs(res)
            age += 1
            ar = max(0.01, 1.0 / (age + 4))
            score = np.sort(ares / (r + 0.05))[-3:].mean()
            r += ar * ((np.minimum(ares, 4 * r) if age > 1 else ares) - r)
            if o.bias:
                # Subtract the forecast's recent bias; learn it only on ticks that score low, so an
                # incident is not absorbed.
                res_raw = res
                res = res - bias
                if age > W + 1 and score <= o.bias_gate:
                    bias += o.bias * (res_raw - bias)
            if e >= o.epochs - 1:
                if sig is not None and o.hetero == "scaled":
                    res = res / sig
                elif sig is not None and o.hetero == "floor1":
                    res = res / np.maximum(sig, 1.0)
                out[i, 0, :] = res
            if H == 1:
                clean = not sus and (o.clean_mode != "skip" or since >= W)
                if age > W + 1 and score <= gate and clean:
                    f.learn(acts, y)
            else:
                # Learn the window of H ticks ago against the H ticks since: still causal.
                hist = (hist + [(win.copy(), ctx.copy(), y.copy(), score)])[-H:]
                if len(hist) == H and age > W + H and max(q[3] for q in hist) <= o.gate:
                    x = f.rows(hist[0][0], hist[0][1])
                    f.learn(f.net.forward(x), np.concatenate([q[2] for q in hist]))
            win[:-1] = win[1:]
            win[-1] = np.arcsinh(y) if o.inputs == "asinh" else np.clip(y, -10, 10)
            if o.copula == "inputs":
                win[-1] = np.clip(g[i], -10, 10)
            if sus and o.clean_mode == "impute":
                win[-1] = np.clip(mu, -10, 10)
            since = 0 if sus else since + 1
            if o.ctx_gate <= 0 or age <= W + 1 or score <= o.ctx_gate:
                ctx += rates * (win[-1] - ctx)
        return out

    if o.clean_q <= 0:
        out = one_pass()
    else:
        # Pass A: as without --clean (or read from --clean-from, that run's output); its last
        # training pass's residuals rank the train rows; pass B learns without the suspect ones.
        if o.clean_from:
            _, ma, nra, nta, pa = load(f"{o.clean_from}/{name}.resid")
            if (ma, nra, nta) != (m, nr, nt):
                raise SystemExit(f"{o.clean_from}: {name} is not of this data set")
        else:
            pa = one_pass()
        suspect, hs = suspects(pa[:nr, 0, :], z[:nr], o)
        out = one_pass(suspect)
        if o.clean_fit:
            # The host score's fit and calibration skip these rows (vg_hscore passes over a
            # metric whose error is not finite; a row of them is no sample).
            out[:nr][suspect] = np.nan
        print(f"{name}: {int(suspect.sum())} of {nr} train rows suspect (score above "
              f"{hs:.2f})", flush=True)
    save(f"{dst}/{name}.resid", head, out)
    return name


def suspects(res, z, o):
    """The train rows to leave out (--clean): the top clean_q of an approximation of vg_hscore's
    raw score on the train half (each metric's |residual| over its mean |residual|, floored at
    0.3, plus the state term, the part of z beyond 3 root-mean-square distances on its side;
    the mean of the top 3, averaged over 5 ticks centred on the row), widened by clean_k rows
    either side. Returns (mask, the score's threshold)."""
    fl = 0.3
    e = np.abs(res) / np.maximum(np.abs(res).mean(0), fl)
    if o.clean_state > 0:
        up = np.sqrt(np.where(z > 0, z * z, 0).sum(0) / np.maximum((z > 0).sum(0), 1))
        dn = np.sqrt(np.where(z < 0, z * z, 0).sum(0) / np.maximum((z < 0).sum(0), 1))
        up, dn = 3 * np.maximum(up, fl), 3 * np.maximum(dn, fl)
        e = e + o.clean_state * (np.maximum(z - up, 0) + np.maximum(-dn - z, 0))
    raw = np.sort(e, axis=1)[:, -3:].mean(1)
    raw = np.convolve(raw, np.ones(5) / 5, mode="same")
    thr = np.quantile(raw, 1 - o.clean_q)
    hit = raw >= thr
    mask = hit.copy()
    for d in range(1, o.clean_k + 1):
        mask[d:] |= hit[:-d]
        mask[:-d] |= hit[d:]
    return mask, thr


def copula(raw, nr, floor=0.01):
    """Each metric through its train rows' empirical distribution onto a standard normal: the
    inverse normal CDF of the value's mid-rank (ties share one). Beyond the train range, linear
    at the slope of the central part (median to the 0.01 / 0.99 quantile spans 2.33 units),
    at least 1 / floor units per raw unit, so a value never seen in training still counts."""
    from statistics import NormalDist
    inv = np.vectorize(NormalDist().inv_cdf)
    out = np.empty_like(raw)
    for j in range(raw.shape[1]):
        t = raw[:nr, j]
        vals, cnt = np.unique(t, return_counts=True)
        g = inv(np.clip((np.cumsum(cnt) - cnt / 2.0) / len(t), 1e-9, 1 - 1e-9))
        q01, q50, q99 = np.quantile(t, [0.01, 0.5, 0.99])
        x = raw[:, j]
        y = np.interp(x, vals, g)
        hi, lo = x > vals[-1], x < vals[0]
        y[hi] = g[-1] + (x[hi] - vals[-1]) / max((q99 - q50) / 2.326, floor)
        y[lo] = g[0] - (vals[0] - x[lo]) / max((q50 - q01) / 2.326, floor)
        out[:, j] = y
    return out


def machines(src):
    return sorted(n[:-6] for n in os.listdir(src) if n.endswith(".resid"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a forecaster on SRC's normalised values, write DST")
    t.add_argument("src")
    t.add_argument("dst")
    t.add_argument("--form", choices=["joint", "ci"], default="joint")
    t.add_argument("--hetero", choices=["none", "scaled", "unscaled", "floor1"], default="none")
    t.add_argument("--inputs", choices=["clip", "asinh"], default="clip")
    t.add_argument("--horizon", type=int, default=1)
    t.add_argument("--window", type=int, default=8)
    t.add_argument("--ctx", default="", help="joint form: also feed exponential averages of the "
                   "inputs over these lengths in ticks, e.g. 16,64,256")
    t.add_argument("--ctx-gate", type=float, default=0, help="update those averages only on "
                   "ticks whose score is at most this (0: every tick)")
    t.add_argument("--copula", choices=["off", "inputs", "all"], default="off",
                   help="map each raw metric through its train rows' ranks onto a normal: as the "
                   "forecaster's inputs only, or everywhere (inputs, targets, the host score's "
                   "values); reads the raw data from --data")
    t.add_argument("--data", default="../shared/datasets/smd-dev",
                   help="the SMD folder the residuals were written from (for --copula)")
    t.add_argument("--ema", type=float, default=0.0, help="score with Polyak-averaged weights, "
                   "shadow += (1 - EMA) (live - shadow) per step (0: the live weights)")
    t.add_argument("--bias", type=float, default=0.0, help="subtract each metric's running "
                   "forecast error, learned at this rate (0: off)")
    t.add_argument("--bias-gate", type=float, default=3.0, help="learn that bias only on ticks "
                   "whose score is at most this")
    t.add_argument("--hidden", default="64,32")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--epochs", type=int, default=2)
    t.add_argument("--lr", type=float, default=3e-4)
    t.add_argument("--loss", choices=["huber", "cauchy"], default="huber")
    t.add_argument("--delta", type=float, default=3.0)
    t.add_argument("--gate", type=float, default=6.0)
    t.add_argument("--last-gate", type=float, default=None, help="the last training pass "
                   "learns only ticks scoring at most this (default: --gate)")
    t.add_argument("--clean-q", type=float, default=0.0, help="two passes: train, rank the "
                   "train rows by a host score of that run's residuals, train again (same seed) "
                   "without the top fraction CLEAN_Q of them (0: one pass)")
    t.add_argument("--clean-k", type=int, default=0, help="also leave out this many rows "
                   "either side of each")
    t.add_argument("--clean-mode", choices=["skip", "impute"], default="skip", help="skip: "
                   "learn neither a suspect row nor a window holding one; impute: a suspect row "
                   "is not learned, and the window gets its forecast in its place")
    t.add_argument("--clean-fit", action="store_true", help="also write the suspect train "
                   "rows as NaN, so the host score's error scales and calibration skip them")
    t.add_argument("--clean-state", type=float, default=1.0, help="weight of the state term "
                   "in the ranking score")
    t.add_argument("--clean-from", default="", help="pass A's output (a run without --clean, "
                   "same seed and options), rather than running it again")
    t.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    mn = sub.add_parser("mean", help="average the residuals of SRC folders into DST")
    mn.add_argument("dst")
    mn.add_argument("src", nargs="+")
    o = ap.parse_args()
    for src in o.src if o.cmd == "mean" else [o.src]:
        if not os.path.isdir(src) or not machines(src):
            ap.error(f"{src}: no *.resid files (write them with vigilctl eval smd --save-residuals)")
    os.makedirs(o.dst, exist_ok=True)
    if o.cmd == "mean":
        for name in machines(o.src[0]):
            got = [load(f"{s}/{name}.resid") for s in o.src]
            a = got[0][4].copy()
            a[:, 0, :] = np.mean([g[4][:, 0, :] for g in got], axis=0)
            save(f"{o.dst}/{name}.resid", got[0][0], a)
        return
    try:
        o.ctx = [float(v) for v in o.ctx.split(",")] if o.ctx else []
    except ValueError:
        ap.error(f"--ctx {o.ctx}: not a comma-separated list of lengths")
    if any(not n >= 1 for n in o.ctx):
        ap.error("--ctx: every length must be at least 1 tick")
    if not 0 <= o.ema < 1:
        ap.error(f"--ema {o.ema}: must be in [0, 1)")
    if not 0 <= o.bias <= 1:
        ap.error(f"--bias {o.bias}: must be in [0, 1]")
    if o.copula != "off" and not all(os.path.isdir(f"{o.data}/{p}") for p in ("train", "test")):
        ap.error(f"--data {o.data}: no train/ and test/ folders there (the SMD data set)")
    if o.form == "ci" and (o.hetero != "none" or o.horizon != 1 or o.loss != "huber" or o.ctx):
        ap.error("--form ci takes none of --hetero, --horizon, --loss and --ctx")
    if o.hetero != "none" and o.loss != "huber":
        ap.error("--hetero and --loss do not combine")
    if o.hetero != "none" and o.horizon != 1:
        ap.error("--hetero and --horizon do not combine")
    if not 0 <= o.clean_q < 1 or o.clean_k < 0:
        ap.error("--clean-q must be in [0, 1), --clean-k at least 0")
    if o.clean_q > 0 and o.horizon != 1:
        ap.error("--clean-q and --horizon do not combine")
    with Pool(o.jobs) as p:
        for name in p.imap_unordered(train_machine, [(o.src, o.dst, n, o) for n in machines(o.src)]):
            print(f"{name}: written", flush=True)


if __name__ == "__main__":
    main()
