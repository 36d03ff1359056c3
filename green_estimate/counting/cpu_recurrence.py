"""Counting a GRU or plain RNN (and a packed LSTM) for a CPU target as a CPU runs it.

ATen runs ``torch._VF.gru``, ``rnn_tanh`` and ``rnn_relu`` as a loop of cells (aten/src/ATen/native/
RNN.cpp, ``FullLayer``, ``FullBidirectionalLayer`` and, for packed sequences, ``PackedLayer`` and
``ReversedPackedLayer``). On a CPU tensor each layer first projects the whole sequence's input at
once — one GEMM of ``seq × batch`` rows, or of the packed rows — and then runs the cells on the
projected steps; on any other device, the meta device included, each cell projects its own step — one
thin GEMM of ``batch`` rows per time step. Counted on meta, a CPU step would then hold ``seq`` input
GEMMs (and their backward) that the CPU never runs, and calibration could not match its profiled
GEMMs one for one to the count. While counting for a CPU target, :func:`cpu_recurrence` puts a Python
copy of the CPU path in place of those functions for meta tensors; the ops it dispatches are
the ones ATen dispatches on a CPU tensor (tests/counting/test_cpu_recurrence.py counts both). An
LSTM a CPU runs as one oneDNN kernel each way (counting/regions.py), and it is left alone — unless
its input is packed or it has a projection (``proj_size``): such an LSTM a CPU runs as a loop of cells
too, and that one is copied (:func:`looped_lstm`). Real tensors take PyTorch's own path.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

CPU_LOOPED = ("gru", "rnn_tanh", "rnn_relu")  # torch._VF functions whose CPU path is copied here (and some lstm)


def _gru_cell(x_w: Any, h: Any, w_hh: Any, b_hh: Any, w_hr: Any = None) -> Any:
    """``GRUCell`` with ``pre_compute_input``: ``x_w`` is this step's already projected input."""
    import torch.nn.functional as F

    i_r, i_z, i_n = x_w.unsafe_chunk(3, 1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).unsafe_chunk(3, 1)
    reset = h_r.add_(i_r).sigmoid_()
    update = h_z.add_(i_z).sigmoid_()
    new = i_n.add(h_n.mul_(reset)).tanh_()
    return (h - new).mul_(update).add_(new)


def _lstm_cell(x_w: Any, hidden: tuple, w_hh: Any, b_hh: Any, w_hr: Any = None) -> tuple:
    """``LSTMCell`` with ``pre_compute_input``: the hidden state is ``(h, c)``, ``h`` projected by ``w_hr``
    when the LSTM has a projection (``matmul_hr``)."""
    import torch
    import torch.nn.functional as F

    h, c = hidden
    ingate, forgetgate, cellgate, outgate = F.linear(h, w_hh, b_hh).add_(x_w).unsafe_chunk(4, 1)
    ingate, forgetgate, cellgate, outgate = ingate.sigmoid_(), forgetgate.sigmoid_(), cellgate.tanh_(), outgate.sigmoid_()
    cy = (forgetgate * c).add_(ingate * cellgate)
    hy = outgate * cy.tanh()
    return (hy if w_hr is None else torch.matmul(hy, w_hr.t())), cy


def _out(hidden: Any) -> Any:
    """A step's output: the hidden state, or an LSTM's ``h``."""
    return hidden[0] if isinstance(hidden, tuple) else hidden


def _rows(hidden: Any, start: int, length: int) -> Any:
    """``hidden_slice``: rows of the hidden state (of both of an LSTM's)."""
    if isinstance(hidden, tuple):  # c before h: the order ATen's make_tuple evaluates them in (GCC: right to left)
        c = hidden[1].narrow(0, start, length)
        return hidden[0].narrow(0, start, length), c
    return hidden.narrow(0, start, length)


def _cat(hiddens: list) -> Any:
    """``hidden_concat``: hidden states stacked by rows (an LSTM's ``h`` and ``c`` apart)."""
    import torch

    if isinstance(hiddens[0], tuple):  # c before h, as in _rows
        c = torch.cat([x[1] for x in hiddens], 0)
        return torch.cat([x[0] for x in hiddens], 0), c
    return torch.cat(hiddens, 0)


def _simple_cell(nonlinearity: Callable[[Any], Any]) -> Callable[..., Any]:
    """``SimpleCell`` (``rnn_tanh``/``rnn_relu``) with ``pre_compute_input``."""
    import torch.nn.functional as F

    def cell(x_w: Any, h: Any, w_hh: Any, b_hh: Any, w_hr: Any = None) -> Any:
        return nonlinearity(F.linear(h, w_hh, b_hh).add_(x_w))

    return cell


def _direction(cell: Callable[..., Any], x: Any, h: Any, weights: tuple, reverse: bool) -> tuple[Any, Any]:
    """One direction of one layer: the whole input projected at once, then the cells step by step."""
    import torch
    import torch.nn.functional as F

    w_ih, w_hh, b_ih, b_hh, w_hr = weights
    steps = F.linear(x, w_ih, b_ih).unbind(0)
    outputs = []
    for x_w in (reversed(steps) if reverse else steps):
        h = cell(x_w, h, w_hh, b_hh, w_hr)
        outputs.append(_out(h))
    if reverse:
        outputs.reverse()
    return torch.stack(outputs, 0), h


def _layers(direction: Callable[..., tuple[Any, Any]], x: Any, hiddens: list, params: list, has_biases: bool,
            num_layers: int, dropout: float, train: bool, bidirectional: bool, has_projections: bool = False
            ) -> tuple[Any, list]:
    """ATen's ``apply_layer_stack``: each layer's directions (``direction(x, h0, weights, reverse)``),
    their outputs concatenated, dropout between layers; the last output and every final hidden state."""
    import torch

    weights = _layer_weights(params, has_biases, has_projections)
    dirs = 2 if bidirectional else 1
    final = []
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            out, h = direction(x, hiddens[layer * dirs + d], weights[layer * dirs + d], d == 1)
            outs.append(out)
            final.append(h)
        x = torch.cat(outs, -1) if bidirectional else outs[0]
        if dropout != 0 and train and layer < num_layers - 1:
            x = torch.dropout(x, dropout, True)
    return x, final


def run_like_cpu(cell: Callable[..., Any], x: Any, hx: Any, params: list, has_biases: bool, num_layers: int,
                 dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> tuple[Any, Any]:
    """``torch._VF.gru``/``rnn_*`` (the unpacked-input overload) as ATen runs it on a CPU tensor."""
    import torch

    x = x.transpose(0, 1) if batch_first else x
    x, final = _layers(lambda x, h, w, rev: _direction(cell, x, h, w, rev), x, hx.unbind(0), params, has_biases,
                       num_layers, dropout, train, bidirectional)
    out = torch.stack(final, 0)
    if batch_first:
        x = x.transpose_(0, 1)
    return x, out


def _packed_direction(cell: Callable[..., Any], data: Any, sizes: list[int], h0: Any, weights: tuple,
                      reverse: bool) -> tuple[Any, Any]:
    """One direction of one layer over a packed sequence (``PackedLayer``/``ReversedPackedLayer``):
    the packed input projected at once, then the cells on each step's rows, the hidden state cut
    where sequences end (forward) or grown where they begin (reverse)."""
    import torch
    import torch.nn.functional as F

    w_ih, w_hh, b_ih, b_hh, w_hr = weights
    x_w = F.linear(data, w_ih, b_ih)
    outputs, finished = [], []
    if not reverse:
        offset, last, h = 0, sizes[0], h0
        for size in sizes:
            step = x_w.narrow(0, offset, size)  # before the hidden state is cut, as ATen does
            if last > size:
                finished.append(_rows(h, size, last - size))
                h = _rows(h, 0, size)
            h = cell(step, h, w_hh, b_hh, w_hr)
            outputs.append(_out(h))
            offset, last = offset + size, size
        finished.append(h)
        finished.reverse()
        return torch.cat(outputs, 0), _cat(finished)
    offset, last = data.shape[0], sizes[-1]
    h = _rows(h0, 0, last)
    for size in reversed(sizes):
        if size > last:
            h = _cat([h, _rows(h0, last, size - last)])
        h = cell(x_w.narrow(0, offset - size, size), h, w_hh, b_hh, w_hr)
        outputs.append(_out(h))
        offset, last = offset - size, size
    outputs.reverse()
    return torch.cat(outputs, 0), h


def _packed_layers(cell: Callable[..., Any], data: Any, batch_sizes: Any, hiddens: list, params: list,
                   has_biases: bool, num_layers: int, dropout: float, train: bool, bidirectional: bool,
                   has_projections: bool = False) -> tuple[Any, list]:
    """The stacked layers over a packed sequence: the last layer's packed output and each layer's
    and direction's final hidden state."""
    sizes = batch_sizes.tolist()  # no aten call (iterating the tensor would dispatch some)
    return _layers(lambda x, h, w, rev: _packed_direction(cell, x, sizes, h, w, rev), data, hiddens, params,
                   has_biases, num_layers, dropout, train, bidirectional, has_projections)


def run_packed_like_cpu(cell: Callable[..., Any], data: Any, batch_sizes: Any, hx: Any, params: list,
                        has_biases: bool, num_layers: int, dropout: float, train: bool,
                        bidirectional: bool) -> tuple[Any, Any]:
    """``torch._VF.gru``/``rnn_*`` on a packed sequence (``data``, ``batch_sizes``) as ATen runs it on
    a CPU tensor."""
    import torch

    data, final = _packed_layers(cell, data, batch_sizes, hx.unbind(0), params, has_biases, num_layers, dropout,
                                 train, bidirectional)
    return data, torch.stack(final, 0)


def _lstm_result(x: Any, final: list) -> tuple[Any, Any, Any]:
    """``_lstm_impl``'s return: the output, then every final ``h`` and every final ``c`` stacked (``c``'s
    stack first: GCC evaluates ``make_tuple``'s arguments right to left)."""
    import torch

    cy = torch.stack([c for _, c in final], 0)
    return x, torch.stack([h for h, _ in final], 0), cy


def run_lstm_like_cpu(x: Any, hx: list, params: list, has_biases: bool, num_layers: int, dropout: float,
                      train: bool, bidirectional: bool, batch_first: bool) -> tuple[Any, Any, Any]:
    """``torch._VF.lstm`` (the unpacked overload) of an LSTM with a projection as ATen runs it on a CPU
    tensor: a loop of cells, not the oneDNN kernel of one without."""
    x = x.transpose(0, 1) if batch_first else x
    hiddens = list(zip(hx[0].unbind(0), hx[1].unbind(0)))
    x, final = _layers(lambda x, h, w, rev: _direction(_lstm_cell, x, h, w, rev), x, hiddens, params, has_biases,
                       num_layers, dropout, train, bidirectional, _projected(hx))
    out, hy, cy = _lstm_result(x, final)
    return (out.transpose(0, 1) if batch_first else out), hy, cy


def run_packed_lstm_like_cpu(data: Any, batch_sizes: Any, hx: list, params: list, has_biases: bool,
                             num_layers: int, dropout: float, train: bool, bidirectional: bool) -> tuple[Any, Any, Any]:
    """``torch._VF.lstm`` on a packed sequence as ATen runs it on a CPU tensor: a loop of cells, not
    the oneDNN kernel of an unpacked LSTM."""
    hiddens = list(zip(hx[0].unbind(0), hx[1].unbind(0)))
    data, final = _packed_layers(_lstm_cell, data, batch_sizes, hiddens, params, has_biases, num_layers, dropout,
                                 train, bidirectional, _projected(hx))
    return _lstm_result(data, final)


def _projected(hx: Any) -> bool:
    """ATen's test for an LSTM with a projection: ``h`` and ``c`` of different sizes."""
    return hx[0].shape[2] != hx[1].shape[2]


def looped_lstm(args: tuple, kwargs: dict) -> bool:
    """Whether a ``torch._VF.lstm`` call is one a CPU runs as a loop of cells, which
    :func:`cpu_recurrence` copies on meta: the packed overload (data, batch_sizes, hx, params, ...), or
    an LSTM with a projection (``proj_size``)."""
    import torch

    if kwargs or len(args) != 9:
        return False
    if isinstance(args[1], torch.Tensor):  # packed: (data, batch_sizes, hx, ...)
        return True
    return _projected(args[1])


def _layer_weights(params: list, has_biases: bool, has_projections: bool = False) -> list[tuple]:
    """``(w_ih, w_hh, b_ih, b_hh, w_hr)`` of each layer and direction, in the order ``params`` lists them
    (``None`` for what the layer has not)."""
    per = (4 if has_biases else 2) + (1 if has_projections else 0)
    out = []
    for i in range(0, len(params), per):
        group = params[i:i + per]
        w_ih, w_hh = group[0], group[1]
        b_ih, b_hh = (group[2], group[3]) if has_biases else (None, None)
        out.append((w_ih, w_hh, b_ih, b_hh, group[-1] if has_projections else None))
    return out


@contextmanager
def cpu_recurrence(target: str) -> Iterator[None]:
    """While counting for a ``cpu`` target, GRUs, plain RNNs and packed or projected LSTMs on meta tensors
    run the CPU's path (see the module docstring); another target changes nothing. Everything is restored on
    exit."""
    import torch

    if target != "cpu":
        yield
        return
    cells = {"gru": _gru_cell, "rnn_tanh": _simple_cell(torch.tanh), "rnn_relu": _simple_cell(torch.relu)}
    saved = []

    def emulated(name: str, original: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            # on meta: the unpacked overload (input, hx, params, ...) and the packed one (data,
            # batch_sizes, hx, params, ...); real tensors run PyTorch's own path
            if name == "lstm":
                if looped_lstm(args, kwargs) and args[0].device.type == "meta":
                    packed = isinstance(args[1], torch.Tensor)
                    return (run_packed_lstm_like_cpu if packed else run_lstm_like_cpu)(*args)
                return original(*args, **kwargs)
            if kwargs or len(args) != 9 or args[0].device.type != "meta":
                return original(*args, **kwargs)
            if isinstance(args[2], (list, tuple)):
                return run_like_cpu(cells[name], *args)
            return run_packed_like_cpu(cells[name], *args)

        return call

    try:
        for name in (*CPU_LOOPED, "lstm"):
            had = name in vars(torch._VF)
            original = getattr(torch._VF, name)
            saved.append((name, had, original))
            setattr(torch._VF, name, emulated(name, original))
        yield
    finally:
        for name, had, original in reversed(saved):
            if had:
                setattr(torch._VF, name, original)
            else:
                delattr(torch._VF, name)
