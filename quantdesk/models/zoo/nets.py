"""Sequence models: ``lstm`` (seed B), ``transformer`` and ``cnn_lstm`` (seed C).

Each sees, for every stock and day, the window of its last ``seq_len`` rows
(days) of features, oldest first; a stock's first days are padded with the
training mean. One network serves every stock (seed B: per-stock models had
too little data). ``lstm`` on ``morning`` uses seed B's two inputs
(``open_ratio``, ``close_ratio``) and predicts its two outputs (``next_open``,
``next_close``); the others use every feature of the data set.

Training needs PyTorch (the ``ml`` extra); it is seeded (same data, same seed:
same weights), runs on the CPU, and with a parent version continues from the
parent's weights and scaling for ``incremental_epochs`` on the new rows only.
Predicting never needs PyTorch: the trained network is exported to ONNX and
served by ONNX Runtime (a main dependency), which is also faster (see
``benchmarks/bench_models.py``). Right after training, in the same process,
the PyTorch network answers until the model is saved or reloaded; the export
checks that both agree.

=====================  ====================================================
parameter              meaning (default)
=====================  ====================================================
``seq_len``            days in a window (``QUANTDESK_MODEL_SEQ_LEN``, 20)
``hidden``             hidden units (``lstm`` 16, the others 32); ``layers`` (1); ``heads`` (2,
                       transformer); ``channels``/``kernel`` (16/3, cnn_lstm)
``epochs``             full-training epochs (``QUANTDESK_MODEL_EPOCHS``, 20), more on
                       small data until ``min_steps`` optimiser steps (300) are made
``incremental_epochs`` epochs over the new rows when continuing (3)
``batch_size``/``lr``  Adam mini-batches (256, 1e-3)
``threads``            PyTorch and ONNX Runtime threads (1: steady on a shared machine;
                       0: the libraries' default)
=====================  ====================================================
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from quantdesk.errors import DependencyError, ModelError
from quantdesk.models.base import Model, Progress
from quantdesk.models.datasets.base import F64, I64, Dataset
from quantdesk.models.datasets.morning import SEED_B_FEATURES

F32 = npt.NDArray[np.float32]
ARCH_KEYS = ("seq_len", "hidden", "layers", "heads", "channels", "kernel")


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise DependencyError(
            "training a neural network needs PyTorch: pip install 'quantdesk[ml]'"
        ) from None
    return torch


class OnnxRunner:
    """One ONNX Runtime session over a network exported by :func:`torch_nets.export_onnx`."""

    def __init__(self, blob: bytes, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise DependencyError(
                "serving a neural network needs onnxruntime: pip install onnxruntime"
            ) from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(int(threads), 0)
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"the ONNX network does not load: {exc}") from None
        self.input = self.session.get_inputs()[0].name

    def run(self, windows: F32) -> F64:
        out = self.session.run(None, {self.input: windows})[0]
        return np.asarray(out, dtype=np.float64)


class SequenceModel(Model):
    """Base of the three networks (``arch`` picks the PyTorch module)."""

    kind = "sequence"
    incremental = True
    arch: ClassVar[str] = "lstm"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._net: Any = None
        self._onnx: bytes | None = None
        self._weights: bytes | None = None
        self._runner: OnnxRunner | None = None
        self.x_mean = np.zeros(0, dtype=np.float32)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            "seq_len": 20,
            "hidden": 32,
            "layers": 1,
            "heads": 2,
            "channels": 16,
            "kernel": 3,
            "epochs": 20,
            "incremental_epochs": 3,
            "min_steps": 300,
            "batch_size": 256,
            "lr": 1e-3,
            "threads": 1,
        }

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "seq_len": trial.suggest_int("seq_len", 5, 40, step=5),
            "hidden": trial.suggest_categorical("hidden", [16, 32, 64]),
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "epochs": trial.suggest_int("epochs", 5, 40, step=5),
        }

    @property
    def seq_len(self) -> int:
        return int(self.params["seq_len"])

    # -- windows ---------------------------------------------------------------

    def windows(self, data: Dataset, rows: I64) -> F32:
        """``(len(rows), seq_len, features)`` float32, padded with the training mean."""
        idx, valid = data.window_index(rows, self.seq_len)
        feats = data.x[:, self.feature_cols].astype(np.float32)
        out = feats[idx]
        out[~valid] = self.x_mean
        return out

    def predict_windows(self, windows: F32) -> F64:
        """Predictions for ready-made windows (the serving fast path)."""
        if self._net is not None:
            torch = _torch()
            with torch.no_grad():
                return np.asarray(self._net(torch.from_numpy(windows)).numpy(), dtype=np.float64)
        if self._runner is None:
            if self._onnx is None:
                raise ModelError(f"model {self.name} has no network")
            threads = int(self.params.get("threads", 1))
            self._runner = OnnxRunner(self._onnx, threads)
        return self._runner.run(np.ascontiguousarray(windows, dtype=np.float32))

    # -- training --------------------------------------------------------------

    def _fit(
        self, data: Dataset, rows: I64, parent: Model | None, progress: Progress | None
    ) -> None:
        torch = _torch()
        from quantdesk.models.zoo import torch_nets

        if int(self.params["threads"]) > 0:
            torch.set_num_threads(int(self.params["threads"]))
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        if isinstance(parent, SequenceModel):
            self.params.update({k: parent.params[k] for k in ARCH_KEYS})
        n_in, n_out = len(self.feature_cols), data.y.shape[1]
        net = torch_nets.build(self.arch, n_in, n_out, self.seq_len, self.params)
        if isinstance(parent, SequenceModel):
            torch_nets.load_weights(net, parent.weights_blob())
            epochs = int(self.params["incremental_epochs"])
        else:
            x = self.xs(data, rows)
            y = data.y[rows]
            net.x_mean.copy_(torch.from_numpy(x.mean(axis=0).astype(np.float32)))
            net.x_std.copy_(torch.from_numpy(np.maximum(x.std(axis=0), 1e-8).astype(np.float32)))
            net.y_mean.copy_(torch.from_numpy(y.mean(axis=0).astype(np.float32)))
            net.y_std.copy_(torch.from_numpy(np.maximum(y.std(axis=0), 1e-8).astype(np.float32)))
            # small data: at least ``min_steps`` optimiser steps, else the network stays at
            # its initial guess (the mean) and looks like a baseline
            per_epoch = -(-len(rows) // int(self.params["batch_size"]))
            need = -(-int(self.params["min_steps"]) // per_epoch)
            epochs = max(int(self.params["epochs"]), need)
        self.x_mean = net.x_mean.numpy().copy()
        feats = torch.from_numpy(data.x[:, self.feature_cols].astype(np.float32))
        idx_np, valid_np = data.window_index(rows, self.seq_len)
        idx, valid = torch.from_numpy(idx_np), torch.from_numpy(valid_np)
        target = (torch.from_numpy(data.y[rows].astype(np.float32)) - net.y_mean) / net.y_std
        pad = net.x_mean
        opt = torch.optim.Adam(net.parameters(), lr=float(self.params["lr"]))
        loss_fn = torch.nn.MSELoss()
        batch = int(self.params["batch_size"])
        n = len(rows)
        net.train()
        for epoch in range(epochs):
            order = torch.randperm(n, generator=gen)
            for lo in range(0, n, batch):
                b = order[lo : lo + batch]
                xb = feats[idx[b]]
                xb = torch.where(valid[b].unsqueeze(-1), xb, pad)
                opt.zero_grad()
                loss = loss_fn(net.scaled(xb), target[b])
                loss.backward()
                opt.step()
            if progress is not None:
                progress(epoch + 1, epochs)
        net.eval()
        self._net = net
        self._onnx = self._weights = None
        self._runner = None

    def _predict(self, data: Dataset, rows: I64) -> F64:
        return self.predict_windows(self.windows(data, rows))

    # -- state -----------------------------------------------------------------

    def weights_blob(self) -> bytes:
        """The network's weights (npz of the PyTorch state dict)."""
        if self._net is not None:
            from quantdesk.models.zoo import torch_nets

            return torch_nets.weights_to_npz(self._net)
        if self._weights is None:
            raise ModelError(f"model {self.name} has no weights")
        return self._weights

    def _state(self) -> dict[str, bytes]:
        if self._net is not None and self._onnx is None:
            from quantdesk.models.zoo import torch_nets

            self._onnx = torch_nets.export_onnx(self._net, self.seq_len, len(self.x_mean))
            self._weights = torch_nets.weights_to_npz(self._net)
            self._check_export()
        if self._onnx is None or self._weights is None:
            raise ModelError(f"model {self.name} has no network to save")
        buf = io.BytesIO()
        np.save(buf, self.x_mean)
        return {"net.onnx": self._onnx, "weights.npz": self._weights, "x_mean.npy": buf.getvalue()}

    def _check_export(self) -> None:
        """The exported graph must answer what the PyTorch network answers."""
        assert self._onnx is not None
        rng = np.random.default_rng(self.seed)
        sample = (self.x_mean + rng.normal(0, 0.01, (7, self.seq_len, len(self.x_mean)))).astype(
            np.float32
        )
        torch = _torch()
        with torch.no_grad():
            ref = self._net(torch.from_numpy(sample)).numpy()
        got = OnnxRunner(self._onnx).run(sample)
        if not np.allclose(got, ref, rtol=1e-4, atol=1e-6):
            raise ModelError(
                f"model {self.name}: the ONNX export disagrees with PyTorch"
                f" (max difference {np.abs(got - ref).max():.3g})"
            )

    def _restore(self, state: dict[str, bytes]) -> None:
        self._onnx = state["net.onnx"]
        self._weights = state["weights.npz"]
        self.x_mean = np.load(io.BytesIO(state["x_mean.npy"])).astype(np.float32)
        self._net = None
        self._runner = None

    def serve_from_onnx(self) -> None:
        """Drop the PyTorch network: predict through ONNX Runtime from now on."""
        if self._net is not None:
            self._state()
            self._net = None


class LSTM(SequenceModel):
    name = "lstm"
    arch = "lstm"
    default_features: ClassVar[dict[str, tuple[str, ...]]] = {"morning": SEED_B_FEATURES}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        # seed B's 2 -> 2 network is small: 16 hidden units serve 4,000 stocks in one
        # ONNX Runtime batch within the 20 ms target on one core (32 need about 21 ms)
        return {**super().defaults(), "hidden": 16}


class Transformer(SequenceModel):
    name = "transformer"
    arch = "transformer"


class CNNLSTM(SequenceModel):
    name = "cnn_lstm"
    arch = "cnn_lstm"
