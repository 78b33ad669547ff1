"""The PyTorch networks behind the sequence models (imported only to train or export).

Each takes a batch of windows ``(batch, seq_len, features)`` of *raw* feature
values and returns raw target values ``(batch, targets)``: the standardisation
fitted on the first training run is part of the network (buffers), so the
exported ONNX graph needs nothing beside it and an incremental run keeps it.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn


class _Scaled(nn.Module):
    x_mean: torch.Tensor
    x_std: torch.Tensor
    y_mean: torch.Tensor
    y_std: torch.Tensor

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.register_buffer("x_mean", torch.zeros(n_in))
        self.register_buffer("x_std", torch.ones(n_in))
        self.register_buffer("y_mean", torch.zeros(n_out))
        self.register_buffer("y_std", torch.ones(n_out))

    def core(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def scaled(self, x: torch.Tensor) -> torch.Tensor:
        """Output in standard units (what training's loss compares)."""
        return self.core((x - self.x_mean) / self.x_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scaled(x) * self.y_std + self.y_mean


class LSTMNet(_Scaled):
    def __init__(self, n_in: int, n_out: int, hidden: int = 32, layers: int = 1) -> None:
        super().__init__(n_in, n_out)
        self.rnn = nn.LSTM(n_in, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, n_out)

    def core(self, z: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(z)
        return self.head(out[:, -1])


class TransformerNet(_Scaled):
    def __init__(
        self, n_in: int, n_out: int, seq_len: int, hidden: int = 32, heads: int = 2, layers: int = 1
    ) -> None:
        super().__init__(n_in, n_out)
        self.inp = nn.Linear(n_in, hidden)
        self.pos = nn.Parameter(torch.zeros(1, seq_len, hidden))
        layer = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(hidden, n_out)

    def core(self, z: torch.Tensor) -> torch.Tensor:
        h = self.inp(z) + self.pos
        return self.head(self.enc(h)[:, -1])


class CNNLSTMNet(_Scaled):
    def __init__(
        self, n_in: int, n_out: int, channels: int = 16, kernel: int = 3, hidden: int = 32
    ) -> None:
        super().__init__(n_in, n_out)
        self.conv = nn.Conv1d(n_in, channels, kernel, padding=kernel // 2)
        self.rnn = nn.LSTM(channels, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_out)

    def core(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(z.transpose(1, 2))).transpose(1, 2)
        out, _ = self.rnn(h)
        return self.head(out[:, -1])


def build(arch: str, n_in: int, n_out: int, seq_len: int, p: dict[str, Any]) -> _Scaled:
    hidden = int(p["hidden"])
    if arch == "lstm":
        return LSTMNet(n_in, n_out, hidden, int(p["layers"]))
    if arch == "transformer":
        return TransformerNet(n_in, n_out, seq_len, hidden, int(p["heads"]), int(p["layers"]))
    return CNNLSTMNet(n_in, n_out, int(p["channels"]), int(p["kernel"]), hidden)


def weights_to_npz(net: nn.Module) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: v.detach().cpu().numpy() for k, v in net.state_dict().items()})
    return buf.getvalue()


def load_weights(net: nn.Module, blob: bytes) -> None:
    with np.load(io.BytesIO(blob)) as z:
        net.load_state_dict({k: torch.from_numpy(z[k].copy()) for k in z.files})


def export_onnx(net: nn.Module, seq_len: int, n_in: int) -> bytes:
    """The network as an ONNX graph with a dynamic batch dimension (torch's dynamo exporter)."""
    net.eval()
    example = torch.zeros(2, seq_len, n_in)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                net,
                (example,),
                input_names=["x"],
                output_names=["y"],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
                dynamo=True,
                verbose=False,
            )
    finally:
        quiet.setLevel(level)
    assert program is not None
    blob: bytes = program.model_proto.SerializeToString()
    return blob
